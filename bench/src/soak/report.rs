//! What a soak run reports, and the problems that fail it.

use super::load::Ledger;
use serde::Serialize;
use std::time::{Duration, Instant};

/// One fault: when it was done and when every organization was served again.
pub(super) struct Recovery {
    pub(super) fault: &'static str,
    pub(super) at: Instant,
    pub(super) recovered: Instant,
}

#[derive(Debug, Serialize)]
pub(super) struct FaultReport {
    pub(super) fault: &'static str,
    pub(super) recovered_ms: u64,
}

#[derive(Debug, Serialize)]
pub(super) struct Report {
    pub(super) seconds: f64,
    pub(super) tenants: usize,
    pub(super) writers: usize,
    pub(super) faults: Vec<FaultReport>,
    pub(super) requests: u64,
    pub(super) retries: u64,
    pub(super) writes_acknowledged: u64,
    pub(super) writes_lost: u64,
    pub(super) lost_examples: Vec<String>,
    pub(super) duplicates: u64,
    /// Creates that committed though the writer never got their answer (allowed).
    pub(super) committed_unacknowledged: u64,
    pub(super) resolved_conflicts: u64,
    pub(super) stale_reads: u64,
    pub(super) unexpected: Vec<String>,
    pub(super) failures_during_faults: u64,
    pub(super) failures_after_recovery: u64,
    pub(super) failure_examples_after_recovery: Vec<String>,
    pub(super) unresolved: u64,
    pub(super) feed_changes: u64,
    pub(super) feed_gaps: u64,
    pub(super) max_recovery_ms: u64,
}

impl Report {
    pub(super) fn new(
        tenants: usize,
        workers: usize,
        elapsed: Duration,
        recoveries: &[Recovery],
    ) -> Self {
        let faults: Vec<FaultReport> = recoveries
            .iter()
            .map(|r| FaultReport {
                fault: r.fault,
                recovered_ms: (r.recovered - r.at).as_millis() as u64,
            })
            .collect();
        Self {
            seconds: elapsed.as_secs_f64(),
            tenants,
            writers: tenants * workers,
            max_recovery_ms: faults.iter().map(|f| f.recovered_ms).max().unwrap_or(0),
            faults,
            requests: 0,
            retries: 0,
            writes_acknowledged: 0,
            writes_lost: 0,
            lost_examples: Vec::new(),
            duplicates: 0,
            committed_unacknowledged: 0,
            resolved_conflicts: 0,
            stale_reads: 0,
            unexpected: Vec::new(),
            failures_during_faults: 0,
            failures_after_recovery: 0,
            failure_examples_after_recovery: Vec::new(),
            unresolved: 0,
            feed_changes: 0,
            feed_gaps: 0,
        }
    }

    pub(super) fn lost(&mut self, what: String) {
        self.writes_lost += 1;
        if self.lost_examples.len() < 10 {
            self.lost_examples.push(what);
        }
    }

    /// Adds one writer's counts. A failed attempt is explained by a fault when it was in flight
    /// at some moment between the fault and the recovery; any other is a failure after recovery.
    pub(super) fn count(&mut self, ledger: &Ledger, recoveries: &[Recovery]) {
        self.requests += ledger.requests;
        self.retries += ledger.retries;
        self.writes_acknowledged += ledger.acknowledged;
        self.resolved_conflicts += ledger.resolved_conflicts;
        self.stale_reads += ledger.stale_reads;
        self.unresolved += ledger.unresolved;
        self.unexpected.extend(ledger.unexpected.iter().cloned());
        for (sent, seen, what) in &ledger.failures {
            let explained = recoveries
                .iter()
                .any(|r| *sent <= r.recovered && *seen >= r.at);
            if explained {
                self.failures_during_faults += 1;
            } else {
                self.failures_after_recovery += 1;
                if self.failure_examples_after_recovery.len() < 10 {
                    self.failure_examples_after_recovery.push(what.clone());
                }
            }
        }
    }

    pub(super) fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        let mut check = |count: u64, what: &str| {
            if count > 0 {
                problems.push(format!("{count} {what}"));
            }
        };
        check(self.writes_lost, "writes lost");
        check(self.duplicates, "duplicates");
        check(self.failures_after_recovery, "failures after recovery");
        check(self.stale_reads, "stale reads");
        check(self.feed_gaps, "feed gaps");
        check(self.unresolved, "requests never answered");
        check(self.unexpected.len() as u64, "unexpected answers");
        if self.faults.is_empty() {
            problems.push("no fault was injected (the run is too short)".into());
        }
        problems
    }

    pub(super) fn render(&self) -> String {
        let mut out = String::new();
        let mut line = |text: String| {
            out.push_str(&text);
            out.push('\n');
        };
        line(format!(
            "soak: {:.0} s, {} organizations, {} writers, {} faults",
            self.seconds,
            self.tenants,
            self.writers,
            self.faults.len()
        ));
        for fault in &self.faults {
            line(format!(
                "  {:<24} recovered in {:>6} ms",
                fault.fault, fault.recovered_ms
            ));
        }
        line(format!(
            "requests sent               {:>8} ({} retries)",
            self.requests, self.retries
        ));
        line(format!(
            "writes acknowledged         {:>8}",
            self.writes_acknowledged
        ));
        line(format!(
            "writes lost                 {:>8}",
            self.writes_lost
        ));
        line(format!(
            "duplicates                  {:>8}",
            self.duplicates
        ));
        line(format!(
            "failures during faults      {:>8}",
            self.failures_during_faults
        ));
        line(format!(
            "failures after recovery     {:>8}",
            self.failures_after_recovery
        ));
        line(format!(
            "time to recover (max)       {:>8} ms",
            self.max_recovery_ms
        ));
        line(format!(
            "retried creates found by filter after 409 {}",
            self.resolved_conflicts
        ));
        line(format!(
            "committed, answer lost      {:>8}",
            self.committed_unacknowledged
        ));
        line(format!(
            "stale reads                 {:>8}",
            self.stale_reads
        ));
        line(format!(
            "feed changes {} , gaps {}",
            self.feed_changes, self.feed_gaps
        ));
        line(format!(
            "never answered              {:>8}",
            self.unresolved
        ));
        for example in self
            .lost_examples
            .iter()
            .chain(&self.failure_examples_after_recovery)
            .chain(self.unexpected.iter().take(10))
        {
            line(format!("  ! {example}"));
        }
        out
    }
}
