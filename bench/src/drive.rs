//! The load loop shared by every scenario: run `count` operations with bounded concurrency and
//! time each one, or time operations one after another for clean latencies.

use crate::stats::Samples;
use futures::StreamExt;
use std::future::Future;
use std::time::{Duration, Instant};

/// What one operation returns: its own latency (the driver may exclude untimed set-up work).
pub(crate) type Timed<T> = anyhow::Result<(T, Duration)>;

/// Runs `op(0..count)` with at most `concurrency` in flight; returns the outputs by index (None
/// for failures), the samples, and the wall time of the whole batch.
pub(crate) async fn concurrent<T, F, Fut>(
    count: usize,
    concurrency: usize,
    op: F,
) -> (Vec<Option<T>>, Samples, Duration)
where
    F: Fn(usize) -> Fut,
    Fut: Future<Output = Timed<T>>,
{
    let started = Instant::now();
    let mut outputs: Vec<Option<T>> = (0..count).map(|_| None).collect();
    let mut samples = Samples::with_capacity(count);
    let mut first_error: Option<String> = None;
    let mut stream = futures::stream::iter(0..count)
        .map(|i| {
            let fut = op(i);
            async move { (i, fut.await) }
        })
        .buffer_unordered(concurrency.max(1));
    let mut done = 0usize;
    let progress_every = (count / 10).max(1);
    while let Some((i, outcome)) = stream.next().await {
        match outcome {
            Ok((value, latency)) => {
                samples.record(latency);
                outputs[i] = Some(value);
            }
            Err(error) => {
                samples.record_error();
                if first_error.is_none() {
                    eprintln!("first error: {error:#}");
                    first_error = Some(error.to_string());
                }
            }
        }
        done += 1;
        if count >= 10_000 && done.is_multiple_of(progress_every) {
            eprintln!("  {done}/{count}");
        }
    }
    (outputs, samples, started.elapsed())
}

/// Times `op` once.
pub(crate) async fn timed<T, Fut>(fut: Fut) -> Timed<T>
where
    Fut: Future<Output = anyhow::Result<T>>,
{
    let started = Instant::now();
    let value = fut.await?;
    Ok((value, started.elapsed()))
}

/// Retries a call that failed for a transient reason (the store was busy), with a short backoff;
/// used while seeding so a few busy errors do not leave holes in the data set.
pub(crate) async fn retry_transient<T, F, Fut>(mut call: F) -> Result<T, tonic::Status>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, tonic::Status>>,
{
    let mut delay = Duration::from_millis(20);
    for _ in 0..5 {
        match call().await {
            Err(status)
                if matches!(
                    status.code(),
                    tonic::Code::Unavailable
                        | tonic::Code::Aborted
                        | tonic::Code::ResourceExhausted
                ) =>
            {
                tokio::time::sleep(delay).await;
                delay *= 2;
            }
            other => return other,
        }
    }
    call().await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn concurrent_keeps_outputs_by_index_and_counts_errors() {
        let (outputs, samples, _) = concurrent(20, 4, |i| async move {
            if i % 5 == 0 {
                anyhow::bail!("failure {i}");
            }
            Ok((i * 2, Duration::from_millis(1)))
        })
        .await;
        let summary = samples.summarize("x", Duration::from_secs(1));
        assert_eq!(summary.count, 16);
        assert_eq!(summary.errors, 4);
        assert_eq!(outputs[3], Some(6));
        assert_eq!(outputs[5], None);
    }

    #[tokio::test]
    async fn retry_gives_up_on_permanent_errors_at_once() {
        let calls = std::sync::atomic::AtomicUsize::new(0);
        let outcome: Result<(), _> = retry_transient(|| {
            calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            async { Err(tonic::Status::already_exists("taken")) }
        })
        .await;
        assert_eq!(outcome.unwrap_err().code(), tonic::Code::AlreadyExists);
        assert_eq!(calls.load(std::sync::atomic::Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn retry_retries_transient_errors() {
        let calls = std::sync::atomic::AtomicUsize::new(0);
        let outcome = retry_transient(|| {
            let n = calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            async move {
                if n < 2 {
                    Err(tonic::Status::unavailable("busy"))
                } else {
                    Ok(n)
                }
            }
        })
        .await;
        assert_eq!(outcome.unwrap(), 2);
    }
}
