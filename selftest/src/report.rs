//! What the self-test prints: one line per step as it finishes (so an operator watching a slow
//! deployment sees progress), or one JSON array at the end for scripts.

use super::Dialect;
use crate::Format;
use serde_json::{Value, json};
use std::future::Future;
use std::io::{self, Write};
use std::time::{Duration, Instant};

/// Every step's name, so the human lines align without waiting for the last step.
pub(super) const STEP_NAMES: &[&str] = &[
    CONNECTION_TEST,
    CREATE_USER,
    FIND_USER,
    IMPORT_USERS,
    UPDATE_USER_PUT,
    UPDATE_USER_PATCH,
    UPDATE_USER,
    PUSH_GROUP,
    GROUP_MEMBERS,
    RENAME_GROUP,
    DEACTIVATE_USER,
    DELETE_USER,
    DELETE_GROUP,
    CLEAN_UP,
];
pub(super) const CONNECTION_TEST: &str = "connection test";
pub(super) const CREATE_USER: &str = "create user";
pub(super) const FIND_USER: &str = "find user";
pub(super) const IMPORT_USERS: &str = "import users";
pub(super) const UPDATE_USER_PUT: &str = "update user (PUT)";
pub(super) const UPDATE_USER_PATCH: &str = "update user (PATCH)";
pub(super) const UPDATE_USER: &str = "update user";
pub(super) const PUSH_GROUP: &str = "push group";
pub(super) const GROUP_MEMBERS: &str = "group members";
pub(super) const RENAME_GROUP: &str = "rename group";
pub(super) const DEACTIVATE_USER: &str = "deactivate user";
pub(super) const DELETE_USER: &str = "delete user";
pub(super) const DELETE_GROUP: &str = "delete group";
pub(super) const CLEAN_UP: &str = "clean up";

/// Why a step did not pass.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum StepError {
    Failed(Failure),
    /// It could not run: what it works on was not created.
    Skipped(String),
}

impl From<Failure> for StepError {
    fn from(failure: Failure) -> Self {
        Self::Failed(failure)
    }
}

pub(super) type StepResult = Result<(), StepError>;

/// One request that did not get the answer an identity provider needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Failure {
    /// `METHOD /path?query` relative to the base URL, query unencoded so it reads as sent.
    pub(super) request: String,
    /// The HTTP status, when an answer came.
    pub(super) status: Option<u16>,
    pub(super) problem: Problem,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Problem {
    /// An unexpected status; the server's `scimType: detail` or the start of its body.
    Status(String),
    /// The expected status, but the body is not what the provider relies on.
    Check(String),
    /// No answer: connection refused, TLS, timeout.
    Transport(String),
}

impl Failure {
    /// What follows the request on a `FAIL` line and in JSON's `error`.
    fn detail(&self) -> &str {
        match &self.problem {
            Problem::Status(detail) | Problem::Check(detail) | Problem::Transport(detail) => detail,
        }
    }

    /// The same failure with `note` after its detail (what clean-up left behind).
    pub(super) fn noting(mut self, note: &str) -> Self {
        match &mut self.problem {
            Problem::Status(detail) | Problem::Check(detail) | Problem::Transport(detail) => {
                detail.push_str(note);
            }
        }
        self
    }
}

impl std::fmt::Display for Failure {
    /// `PATCH /Users/… → 400 invalidValue: …`, `GET /Users → 200, but …`, `GET /Users → …`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if !self.request.is_empty() {
            write!(f, "{} → ", self.request)?;
        }
        match (&self.problem, self.status) {
            (Problem::Status(detail), Some(status)) => write!(f, "{status} {detail}"),
            (Problem::Check(detail), Some(status)) => write!(f, "{status}, but {detail}"),
            _ => f.write_str(self.detail()),
        }
    }
}

/// A finished step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Report {
    pub(super) dialect: Dialect,
    pub(super) step: &'static str,
    pub(super) outcome: StepResult,
    pub(super) elapsed: Duration,
}

impl Report {
    pub(super) fn passed(&self) -> bool {
        self.outcome.is_ok()
    }

    /// `ok   okta  create user          (123 ms)`, `FAIL entra deactivate user      PATCH …`.
    fn line(&self) -> String {
        let width = STEP_NAMES.iter().map(|name| name.len()).max().unwrap_or(0);
        let (status, tail) = match &self.outcome {
            Ok(()) => ("ok", format!("({} ms)", self.elapsed.as_millis())),
            Err(StepError::Failed(failure)) => ("FAIL", failure.to_string()),
            Err(StepError::Skipped(reason)) => ("skip", reason.clone()),
        };
        format!(
            "{status:<4} {:<5} {:<width$}  {tail}",
            self.dialect.name(),
            self.step
        )
    }

    fn json(&self) -> Value {
        let mut step = json!({
            "dialect": self.dialect.name(),
            "step": self.step,
            "durationMs": u64::try_from(self.elapsed.as_millis()).unwrap_or(u64::MAX),
        });
        match &self.outcome {
            Ok(()) => step["result"] = json!("ok"),
            Err(StepError::Failed(failure)) => {
                step["result"] = json!("fail");
                step["request"] = if failure.request.is_empty() {
                    Value::Null
                } else {
                    json!(failure.request)
                };
                step["httpStatus"] = json!(failure.status);
                step["error"] = json!(failure.detail());
            }
            Err(StepError::Skipped(reason)) => {
                step["result"] = json!("skip");
                step["error"] = json!(reason);
            }
        }
        step
    }
}

/// How a run went, for the exit status and the message on stderr.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Summary {
    pub(super) steps: usize,
    pub(super) failed: usize,
    pub(super) skipped: usize,
}

/// Runs steps, times them and prints what they did.
pub(super) struct Reporter<'a, W: Write> {
    format: Format,
    out: &'a mut W,
    reports: Vec<Report>,
    /// The step under way: when Ctrl-C drops it, it is still reported.
    running: Option<(Dialect, &'static str, Instant)>,
}

impl<'a, W: Write> Reporter<'a, W> {
    pub(super) fn new(format: Format, out: &'a mut W) -> Self {
        Self {
            format,
            out,
            reports: Vec::new(),
            running: None,
        }
    }

    /// Runs one step; true when it passed.
    pub(super) async fn step(
        &mut self,
        dialect: Dialect,
        step: &'static str,
        run: impl Future<Output = StepResult>,
    ) -> io::Result<bool> {
        let started = Instant::now();
        self.running = Some((dialect, step, started));
        let outcome = run.await;
        self.running = None;
        self.record(Report {
            dialect,
            step,
            outcome,
            elapsed: started.elapsed(),
        })
    }

    /// Prints a human line at once (flushed, for progress); true when the step passed.
    pub(super) fn record(&mut self, report: Report) -> io::Result<bool> {
        if self.format == Format::Human {
            writeln!(self.out, "{}", report.line())?;
            self.out.flush()?;
        }
        let passed = report.passed();
        self.reports.push(report);
        Ok(passed)
    }

    /// Reports the step Ctrl-C interrupted, if one was under way.
    pub(super) fn interrupted(&mut self) -> io::Result<()> {
        if let Some((dialect, step, started)) = self.running.take() {
            let interrupted = Failure {
                request: String::new(),
                status: None,
                problem: Problem::Transport("interrupted".into()),
            };
            self.record(Report {
                dialect,
                step,
                outcome: Err(interrupted.into()),
                elapsed: started.elapsed(),
            })?;
        }
        Ok(())
    }

    /// Prints the JSON array (JSON mode); counts what passed and what did not.
    pub(super) fn finish(self) -> io::Result<Summary> {
        if self.format == Format::Json {
            let steps: Vec<Value> = self.reports.iter().map(Report::json).collect();
            serde_json::to_writer_pretty(&mut *self.out, &steps)?;
            writeln!(self.out)?;
        }
        let count = |wanted: fn(&StepResult) -> bool| {
            self.reports.iter().filter(|r| wanted(&r.outcome)).count()
        };
        Ok(Summary {
            steps: self.reports.len(),
            failed: count(|outcome| matches!(outcome, Err(StepError::Failed(_)))),
            skipped: count(|outcome| matches!(outcome, Err(StepError::Skipped(_)))),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(dialect: Dialect, step: &'static str, outcome: StepResult) -> Report {
        Report {
            dialect,
            step,
            outcome,
            elapsed: Duration::from_millis(123),
        }
    }

    fn patch_failure() -> Failure {
        Failure {
            request: "PATCH /Users/0190-ab".into(),
            status: Some(400),
            problem: Problem::Status("invalidValue: active must be a boolean".into()),
        }
    }

    #[test]
    fn a_passed_step_shows_its_time() {
        let line = report(Dialect::Okta, CREATE_USER, Ok(())).line();
        assert_eq!(line, "ok   okta  create user          (123 ms)");
        assert!(line.starts_with("ok   okta  create user  "));
    }

    #[test]
    fn a_failed_step_shows_the_request_the_status_and_the_servers_detail() {
        let line = report(Dialect::Entra, DEACTIVATE_USER, Err(patch_failure().into())).line();
        assert_eq!(
            line,
            "FAIL entra deactivate user      PATCH /Users/0190-ab → 400 invalidValue: active must be a boolean"
        );
    }

    #[test]
    fn a_failed_check_and_a_transport_error_read_differently() {
        let check = Failure {
            request: "GET /Users?filter=userName eq \"a\"".into(),
            status: Some(200),
            problem: Problem::Check("totalResults is 1, not 0".into()),
        };
        assert_eq!(
            check.to_string(),
            "GET /Users?filter=userName eq \"a\" → 200, but totalResults is 1, not 0"
        );
        let transport = Failure {
            request: "GET /ServiceProviderConfig".into(),
            status: None,
            problem: Problem::Transport("no answer within 30 s".into()),
        };
        assert_eq!(
            transport.to_string(),
            "GET /ServiceProviderConfig → no answer within 30 s"
        );
    }

    #[test]
    fn a_skipped_step_says_why() {
        let line = report(
            Dialect::Okta,
            RENAME_GROUP,
            Err(StepError::Skipped("no group: push group failed".into())),
        )
        .line();
        assert_eq!(
            line,
            "skip okta  rename group         no group: push group failed"
        );
    }

    #[test]
    fn human_lines_are_aligned_and_printed_as_steps_finish() {
        let mut out = Vec::new();
        let mut reporter = Reporter::new(Format::Human, &mut out);
        assert!(
            reporter
                .record(report(Dialect::Okta, CONNECTION_TEST, Ok(())))
                .unwrap()
        );
        assert!(
            !reporter
                .record(report(
                    Dialect::Entra,
                    UPDATE_USER_PATCH,
                    Err(patch_failure().into())
                ))
                .unwrap()
        );
        assert_eq!(
            reporter.finish().unwrap(),
            Summary {
                steps: 2,
                failed: 1,
                skipped: 0
            }
        );
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2, "{text}");
        // the detail starts in the same column whatever the step
        let column = |line: &str, marker: &str| line.find(marker).unwrap();
        assert_eq!(column(lines[0], "(123 ms)"), column(lines[1], "PATCH /"));
    }

    #[test]
    fn json_is_one_array_printed_at_the_end() {
        let mut out = Vec::new();
        let mut reporter = Reporter::new(Format::Json, &mut out);
        reporter
            .record(report(Dialect::Okta, CREATE_USER, Ok(())))
            .unwrap();
        reporter
            .record(report(
                Dialect::Entra,
                DEACTIVATE_USER,
                Err(patch_failure().into()),
            ))
            .unwrap();
        reporter
            .record(report(
                Dialect::Entra,
                DELETE_USER,
                Err(StepError::Skipped("no user".into())),
            ))
            .unwrap();
        assert_eq!(
            reporter.finish().unwrap(),
            Summary {
                steps: 3,
                failed: 1,
                skipped: 1
            }
        );
        let value: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(
            value,
            json!([
                { "dialect": "okta", "step": "create user", "result": "ok", "durationMs": 123 },
                {
                    "dialect": "entra", "step": "deactivate user", "result": "fail",
                    "durationMs": 123, "request": "PATCH /Users/0190-ab", "httpStatus": 400,
                    "error": "invalidValue: active must be a boolean"
                },
                {
                    "dialect": "entra", "step": "delete user", "result": "skip",
                    "durationMs": 123, "error": "no user"
                }
            ])
        );
    }

    #[tokio::test]
    async fn a_step_is_timed_and_recorded() {
        let mut out = Vec::new();
        let mut reporter = Reporter::new(Format::Human, &mut out);
        let passed = reporter
            .step(Dialect::Entra, FIND_USER, async { Ok(()) })
            .await
            .unwrap();
        assert!(passed);
        let failed = reporter
            .step(Dialect::Entra, FIND_USER, async {
                Err(patch_failure().into())
            })
            .await
            .unwrap();
        assert!(!failed);
        // a step dropped half-way (Ctrl-C) is reported as interrupted
        let pending = reporter.step(Dialect::Okta, CREATE_USER, std::future::pending());
        assert!(
            tokio::time::timeout(Duration::from_millis(1), pending)
                .await
                .is_err()
        );
        reporter.interrupted().unwrap();
        // nothing under way: nothing more to report
        reporter.interrupted().unwrap();
        assert_eq!(reporter.finish().unwrap().failed, 2);
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3, "{text}");
        assert!(lines[0].starts_with("ok   entra find user"), "{text}");
        assert!(lines[1].starts_with("FAIL entra find user"), "{text}");
        assert_eq!(lines[2], "FAIL okta  create user          interrupted");
    }
}
