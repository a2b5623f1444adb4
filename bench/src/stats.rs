//! Latency samples and what is reported of them: percentiles, throughput and the large/empty
//! ratios. Owns no I/O besides formatting; the drivers decide what to time.

use serde::Serialize;
use std::fmt;
use std::time::Duration;

/// The latencies of one measured operation, and the wall time they took together.
#[derive(Debug, Clone, Default)]
pub(crate) struct Samples {
    latencies: Vec<Duration>,
    errors: u64,
}

impl Samples {
    pub(crate) fn with_capacity(capacity: usize) -> Self {
        Self {
            latencies: Vec::with_capacity(capacity),
            errors: 0,
        }
    }

    pub(crate) fn record(&mut self, latency: Duration) {
        self.latencies.push(latency);
    }

    pub(crate) fn record_error(&mut self) {
        self.errors += 1;
    }

    /// Adds another set of samples of the same operation.
    pub(crate) fn merge(&mut self, other: Self) {
        self.latencies.extend(other.latencies);
        self.errors += other.errors;
    }

    /// Percentiles of the successful calls; `wall` turns the count into a throughput.
    pub(crate) fn summarize(&self, name: &str, wall: Duration) -> Summary {
        let mut sorted = self.latencies.clone();
        sorted.sort_unstable();
        let total: Duration = sorted.iter().sum();
        let count = sorted.len() as u64;
        let wall_secs = wall.as_secs_f64();
        Summary {
            name: name.to_owned(),
            count,
            errors: self.errors,
            wall_secs,
            throughput_per_sec: if wall_secs > 0.0 {
                count as f64 / wall_secs
            } else {
                0.0
            },
            mean_ms: if count > 0 {
                millis(total) / count as f64
            } else {
                0.0
            },
            p50_ms: millis(percentile(&sorted, 50.0)),
            p95_ms: millis(percentile(&sorted, 95.0)),
            p99_ms: millis(percentile(&sorted, 99.0)),
            max_ms: millis(sorted.last().copied().unwrap_or_default()),
        }
    }
}

fn millis(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

/// Nearest-rank percentile of sorted samples (zero when there are none).
pub(crate) fn percentile(sorted: &[Duration], pct: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((pct / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// What is reported of one operation.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Summary {
    pub(crate) name: String,
    pub(crate) count: u64,
    pub(crate) errors: u64,
    pub(crate) wall_secs: f64,
    pub(crate) throughput_per_sec: f64,
    pub(crate) mean_ms: f64,
    pub(crate) p50_ms: f64,
    pub(crate) p95_ms: f64,
    pub(crate) p99_ms: f64,
    pub(crate) max_ms: f64,
}

/// The same operation on a large and on an empty collection, measured in the same run.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Ratio {
    pub(crate) name: String,
    pub(crate) large: String,
    pub(crate) empty: String,
    pub(crate) p50: f64,
    pub(crate) p95: f64,
    pub(crate) p99: f64,
}

impl Ratio {
    pub(crate) fn of(name: &str, large: &Summary, empty: &Summary) -> Self {
        let ratio = |a: f64, b: f64| if b > 0.0 { a / b } else { f64::NAN };
        Self {
            name: name.to_owned(),
            large: large.name.clone(),
            empty: empty.name.clone(),
            p50: ratio(large.p50_ms, empty.p50_ms),
            p95: ratio(large.p95_ms, empty.p95_ms),
            p99: ratio(large.p99_ms, empty.p99_ms),
        }
    }
}

/// Everything one run measured, printed as a table or as JSON.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Report {
    pub(crate) target: String,
    pub(crate) users: usize,
    pub(crate) concurrency: usize,
    pub(crate) store: String,
    pub(crate) results: Vec<Summary>,
    pub(crate) ratios: Vec<Ratio>,
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "target: {}  users: {}  concurrency: {}  store: {}",
            self.target, self.users, self.concurrency, self.store
        )?;
        writeln!(
            f,
            "{:<44} {:>8} {:>6} {:>10} {:>9} {:>9} {:>9} {:>9}",
            "operation", "count", "errors", "ops/s", "p50 ms", "p95 ms", "p99 ms", "max ms"
        )?;
        for s in &self.results {
            writeln!(
                f,
                "{:<44} {:>8} {:>6} {:>10.1} {:>9.2} {:>9.2} {:>9.2} {:>9.2}",
                s.name,
                s.count,
                s.errors,
                s.throughput_per_sec,
                s.p50_ms,
                s.p95_ms,
                s.p99_ms,
                s.max_ms
            )?;
        }
        for r in &self.ratios {
            writeln!(
                f,
                "ratio {} ({} / {}): p50 {:.2}x  p95 {:.2}x  p99 {:.2}x",
                r.name, r.large, r.empty, r.p50, r.p95, r.p99
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(v: u64) -> Duration {
        Duration::from_millis(v)
    }

    #[test]
    fn nearest_rank_percentiles() {
        let sorted: Vec<Duration> = (1..=100).map(ms).collect();
        assert_eq!(percentile(&sorted, 50.0), ms(50));
        assert_eq!(percentile(&sorted, 95.0), ms(95));
        assert_eq!(percentile(&sorted, 99.0), ms(99));
        assert_eq!(percentile(&sorted, 100.0), ms(100));
        assert_eq!(percentile(&[ms(7)], 99.0), ms(7));
        assert_eq!(percentile(&[], 50.0), Duration::ZERO);
    }

    #[test]
    fn summary_counts_throughput_and_errors() {
        let mut samples = Samples::default();
        for v in [4, 1, 3, 2] {
            samples.record(ms(v));
        }
        samples.record_error();
        let summary = samples.summarize("op", Duration::from_secs(2));
        assert_eq!(summary.count, 4);
        assert_eq!(summary.errors, 1);
        assert!((summary.throughput_per_sec - 2.0).abs() < 1e-9);
        assert!((summary.p50_ms - 2.0).abs() < 1e-9);
        assert!((summary.max_ms - 4.0).abs() < 1e-9);
        assert!((summary.mean_ms - 2.5).abs() < 1e-9);
    }

    #[test]
    fn ratio_divides_large_by_empty() {
        let mut large = Samples::default();
        let mut empty = Samples::default();
        for v in 1..=10 {
            large.record(ms(v * 3));
            empty.record(ms(v));
        }
        let ratio = Ratio::of(
            "add",
            &large.summarize("large", Duration::from_secs(1)),
            &empty.summarize("empty", Duration::from_secs(1)),
        );
        assert!((ratio.p50 - 3.0).abs() < 1e-9);
        assert!((ratio.p99 - 3.0).abs() < 1e-9);
    }
}
