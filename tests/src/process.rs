//! One child process of a stack: spawned with piped output, its listening line read from
//! stdout, its logs kept in memory so a failing test can show them, killed when dropped.

use std::collections::VecDeque;
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, ChildStdout, Command};

/// How long a binary may take to print its listening line (migrations included).
const START_TIMEOUT: Duration = Duration::from_secs(60);
/// Lines of output kept per process; older lines are dropped.
const LOG_LINES: usize = 4000;
/// Lines shown when a test fails while the process is alive.
const LOG_LINES_ON_FAILURE: usize = 80;

type Log = Arc<Mutex<VecDeque<String>>>;

fn push(log: &Log, line: String) {
    let mut log = log.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    if log.len() == LOG_LINES {
        log.pop_front();
    }
    log.push_back(line);
}

pub(crate) struct Process {
    name: &'static str,
    child: Child,
    log: Log,
}

impl std::fmt::Debug for Process {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Process")
            .field("name", &self.name)
            .field("pid", &self.child.id())
            .finish_non_exhaustive()
    }
}

impl Process {
    /// Spawns `command` and waits for its `{"event":"listening",…}` line on stdout.
    ///
    /// Panics with the process's output when it exits or stays silent too long.
    pub(crate) async fn spawn(
        name: &'static str,
        mut command: Command,
    ) -> (Self, serde_json::Value) {
        command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let mut child = command
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
        let log: Log = Arc::default();
        let stderr = child.stderr.take().expect("stderr is piped");
        let stderr_log = log.clone();
        let stderr_task = tokio::spawn(async move {
            let mut lines = BufReader::new(stderr).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                push(&stderr_log, line);
            }
        });
        let stdout = child.stdout.take().expect("stdout is piped");
        let mut lines = BufReader::new(stdout).lines();
        let found = tokio::time::timeout(START_TIMEOUT, listening_line(&mut lines, &log)).await;
        let mut process = Self { name, child, log };
        match found {
            Ok(Some(line)) => {
                let stdout_log = process.log.clone();
                tokio::spawn(async move {
                    while let Ok(Some(line)) = lines.next_line().await {
                        push(&stdout_log, line);
                    }
                });
                (process, line)
            }
            Ok(None) => {
                let waited =
                    tokio::time::timeout(Duration::from_secs(5), process.child.wait()).await;
                let status = match waited {
                    Ok(Ok(status)) => status.to_string(),
                    _ => "stdout closed, still running".to_owned(),
                };
                let _ = tokio::time::timeout(Duration::from_secs(2), stderr_task).await;
                let output = process.log_tail(LOG_LINES);
                let output = if output.is_empty() {
                    "(none)".to_owned()
                } else {
                    output
                };
                panic!(
                    "{name} stopped before printing its listening line ({status}); output:\n{output}"
                );
            }
            Err(_) => {
                let _ = process.child.start_kill();
                let _ = tokio::time::timeout(Duration::from_secs(2), stderr_task).await;
                panic!(
                    "{name} printed no listening line within {START_TIMEOUT:?}; output:\n{}",
                    process.log_tail(LOG_LINES)
                );
            }
        }
    }

    /// The last `lines` lines the process wrote (stderr and stdout interleaved as read).
    pub(crate) fn log_tail(&self, lines: usize) -> String {
        let log = self
            .log
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let skip = log.len().saturating_sub(lines);
        log.iter()
            .skip(skip)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// Everything kept of the process's output, for assertions on logs.
    pub(crate) fn log_lines(&self) -> Vec<String> {
        let log = self
            .log
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        log.iter().cloned().collect()
    }

    pub(crate) fn id(&self) -> Option<u32> {
        self.child.id()
    }

    /// Sends SIGTERM and waits for the exit status (panics after `timeout`).
    pub(crate) async fn terminate(&mut self, timeout: Duration) -> ExitStatus {
        let pid = self.child.id().expect("process is still running");
        // `kill` the command, not libc: the workspace forbids unsafe code
        let sent = Command::new("kill")
            .arg("-TERM")
            .arg(pid.to_string())
            .status()
            .await
            .expect("run kill");
        assert!(sent.success(), "kill -TERM {pid} failed: {sent}");
        match tokio::time::timeout(timeout, self.child.wait()).await {
            Ok(status) => status.expect("wait for child"),
            Err(_) => panic!(
                "{} did not exit within {timeout:?} of SIGTERM; output:\n{}",
                self.name,
                self.log_tail(LOG_LINES_ON_FAILURE)
            ),
        }
    }

    /// Kills the process at once and waits for it.
    pub(crate) async fn kill(&mut self) {
        let _ = self.child.kill().await;
    }
}

async fn listening_line(
    lines: &mut tokio::io::Lines<BufReader<ChildStdout>>,
    log: &Log,
) -> Option<serde_json::Value> {
    while let Ok(Some(line)) = lines.next_line().await {
        if let Ok(value) = serde_json::from_str::<serde_json::Value>(&line)
            && value.get("event").and_then(|e| e.as_str()) == Some("listening")
        {
            push(log, line);
            return Some(value);
        }
        push(log, line);
    }
    None
}

impl Drop for Process {
    fn drop(&mut self) {
        // libtest captures this on the failing test's thread and prints it with the failure
        if std::thread::panicking() {
            eprintln!(
                "----- last output of {} (pid {:?}) -----\n{}\n----- end of {} output -----",
                self.name,
                self.child.id(),
                self.log_tail(LOG_LINES_ON_FAILURE),
                self.name
            );
        }
        let _ = self.child.start_kill();
    }
}
