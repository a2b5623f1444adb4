//! One child process: spawned with its stdout piped, its one JSON listening line read, its
//! output kept where the caller wants it, killed when dropped.

use anyhow::{Context, Result, anyhow, bail};
use std::collections::VecDeque;
use std::path::PathBuf;
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncBufRead, AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// Lines of output kept in memory per process; older lines are dropped.
const MEMORY_LINES: usize = 4000;
/// Lines shown when a process fails to start or a test fails while it runs.
const TAIL_LINES: usize = 80;

/// Where a process's output goes.
#[derive(Debug, Clone)]
pub enum Output {
    /// Kept in memory (the last 4,000 lines), shown when a test fails: tests.
    Memory,
    /// stderr written to this file: long runs whose logs are read afterwards.
    File(PathBuf),
    /// stderr shared with the launcher's own: a person watching a terminal.
    Inherit,
}

type Lines = Arc<Mutex<VecDeque<String>>>;

#[derive(Debug)]
enum Log {
    Memory(Lines),
    File(PathBuf),
    Inherit,
}

fn push(lines: &Lines, line: String) {
    let mut lines = lines
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if lines.len() == MEMORY_LINES {
        lines.pop_front();
    }
    lines.push_back(line);
}

/// The JSON line a binary prints on stdout once its listeners are bound, e.g.
/// `{"event":"listening","identity_addr":"127.0.0.1:50051",…}`.
#[derive(Debug, Clone)]
pub struct Listening(serde_json::Value);

impl Listening {
    /// A string field of the line, such as `addr` or `identity_addr`.
    pub fn field(&self, name: &str) -> Result<&str> {
        self.0
            .get(name)
            .and_then(|value| value.as_str())
            .ok_or_else(|| anyhow!("listening line {} has no {name}", self.0))
    }
}

/// A started binary. Dropping it kills the process.
#[derive(Debug)]
pub struct Process {
    name: &'static str,
    child: Child,
    log: Log,
}

impl Process {
    /// Spawns `command` and waits (at most `start_timeout`, migrations included) for its
    /// listening line. An error carries the end of the process's output.
    pub async fn spawn(
        name: &'static str,
        mut command: Command,
        output: Output,
        start_timeout: Duration,
    ) -> Result<(Self, Listening)> {
        let stderr = match &output {
            Output::Memory => Stdio::piped(),
            Output::File(path) => std::fs::File::create(path)
                .with_context(|| format!("creating {}", path.display()))?
                .into(),
            Output::Inherit => Stdio::inherit(),
        };
        command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .kill_on_drop(true);
        let mut child = command
            .spawn()
            .with_context(|| format!("starting {name}"))?;
        let log = match output {
            Output::Memory => {
                let lines = Lines::default();
                if let Some(stderr) = child.stderr.take() {
                    tokio::spawn(keep(BufReader::new(stderr), Some(lines.clone())));
                }
                Log::Memory(lines)
            }
            Output::File(path) => Log::File(path),
            Output::Inherit => Log::Inherit,
        };
        let stdout = child.stdout.take().context("stdout is piped")?;
        let mut process = Self { name, child, log };
        let mut stdout = BufReader::new(stdout).lines();
        let kept = match &process.log {
            Log::Memory(lines) => Some(lines.clone()),
            _ => None,
        };
        let found = tokio::time::timeout(start_timeout, async {
            while let Some(line) = stdout.next_line().await? {
                let listening = serde_json::from_str::<serde_json::Value>(&line)
                    .ok()
                    .filter(|value| {
                        value.get("event").and_then(|e| e.as_str()) == Some("listening")
                    });
                if let Some(kept) = &kept {
                    push(kept, line);
                }
                if let Some(value) = listening {
                    return Ok(Some(Listening(value)));
                }
            }
            Ok::<_, std::io::Error>(None)
        })
        .await;
        match found {
            Ok(Ok(Some(listening))) => {
                // keep reading stdout so the child never blocks on a full pipe
                tokio::spawn(keep(stdout.into_inner(), kept));
                Ok((process, listening))
            }
            Ok(Ok(None)) => {
                let status = match tokio::time::timeout(
                    Duration::from_secs(5),
                    process.child.wait(),
                )
                .await
                {
                    Ok(Ok(status)) => status.to_string(),
                    _ => "stdout closed, still running".to_owned(),
                };
                // let the stderr reader catch up with the last lines
                tokio::time::sleep(Duration::from_millis(100)).await;
                bail!(
                    "{name} stopped before printing its listening line ({status}); {}",
                    process.tail()
                )
            }
            Ok(Err(error)) => bail!("reading {name}'s output: {error}; {}", process.tail()),
            Err(_) => {
                let _ = process.child.start_kill();
                bail!(
                    "{name} printed no listening line within {start_timeout:?}; {}",
                    process.tail()
                )
            }
        }
    }

    /// The last `lines` lines the process wrote (stderr and stdout interleaved as read, or its
    /// log file); empty when its output went to the terminal.
    pub fn log_tail(&self, lines: usize) -> String {
        let all = self.log_lines();
        all[all.len().saturating_sub(lines)..].join("\n")
    }

    /// Everything kept of the process's output, for assertions on logs.
    pub fn log_lines(&self) -> Vec<String> {
        match &self.log {
            Log::Memory(lines) => lines
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .iter()
                .cloned()
                .collect(),
            Log::File(path) => std::fs::read_to_string(path)
                .unwrap_or_default()
                .lines()
                .map(str::to_owned)
                .collect(),
            Log::Inherit => Vec::new(),
        }
    }

    /// The end of the output, introduced by where it came from.
    fn tail(&self) -> String {
        let source = match &self.log {
            Log::File(path) => format!(" ({})", path.display()),
            _ => String::new(),
        };
        let tail = self.log_tail(TAIL_LINES);
        let tail = if tail.is_empty() { "(none)" } else { &tail };
        format!("last output of {}{source}:\n{tail}", self.name)
    }

    pub fn name(&self) -> &'static str {
        self.name
    }

    pub fn id(&self) -> Option<u32> {
        self.child.id()
    }

    /// Sends SIGTERM and waits for the exit status, at most `timeout`.
    pub async fn terminate(&mut self, timeout: Duration) -> Result<ExitStatus> {
        let pid = self
            .child
            .id()
            .with_context(|| format!("{} is not running", self.name))?;
        // the `kill` command, not libc: the workspace forbids unsafe code
        let sent = Command::new("kill")
            .arg("-TERM")
            .arg(pid.to_string())
            .status()
            .await
            .context("running kill")?;
        if !sent.success() {
            bail!("kill -TERM {pid} failed: {sent}");
        }
        match tokio::time::timeout(timeout, self.child.wait()).await {
            Ok(status) => Ok(status?),
            Err(_) => bail!(
                "{} did not exit within {timeout:?} of SIGTERM; {}",
                self.name,
                self.tail()
            ),
        }
    }

    /// SIGKILL, and wait until the process is gone.
    pub async fn kill(&mut self) {
        let _ = self.child.kill().await;
    }

    /// Waits for the process to exit by itself.
    pub async fn wait(&mut self) -> std::io::Result<ExitStatus> {
        self.child.wait().await
    }
}

/// Reads `reader` to its end, keeping its lines in `lines` when given.
async fn keep(reader: impl AsyncBufRead + Unpin, lines: Option<Lines>) {
    let mut reader = reader.lines();
    while let Ok(Some(line)) = reader.next_line().await {
        if let Some(lines) = &lines {
            push(lines, line);
        }
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        // libtest captures this on the failing test's thread and prints it with the failure
        if std::thread::panicking() && matches!(self.log, Log::Memory(_)) {
            eprintln!(
                "----- {} (pid {:?}) -----\n{}\n----- end of {} output -----",
                self.tail(),
                self.child.id(),
                self.name,
                self.name
            );
        }
        let _ = self.child.start_kill();
    }
}
