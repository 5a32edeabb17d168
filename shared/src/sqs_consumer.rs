//! Consuming an SQS batch: each record on its own, a bounded number at a time, partial failures
//! reported so only the failed records come back (and, after `maxReceiveCount`, go to the DLQ).
//! Records run within the invocation's deadline (`crate::budget`): none starts once the time left
//! cannot cover it, and one still running just before the deadline is stopped, so the invocation
//! answers in time and what finished is acknowledged.

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use futures::stream::{self, StreamExt};
use tokio::time::Instant;
use tracing::Instrument;

use crate::budget::{Deadline, RecordBudget};

/// How a record's failure should be treated; both are reported as batch item failures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureClass {
    /// The record can never succeed (undecodable): it redrives to the DLQ after the redrive count.
    Poison,
    /// A dependency failed: the next delivery may succeed.
    Retryable,
}

/// Errors a record handler returns say which class they are.
pub trait Classify: std::error::Error {
    fn class(&self) -> FailureClass;
}

/// What became of one record.
enum Ended {
    Done,
    Failed,
    /// Not started: the time left could not cover it.
    NotStarted,
    /// Stopped just before the deadline, as Lambda's timeout would have stopped it.
    Stopped,
}

/// Runs `handle` on every record with at most `concurrency` in flight, one tracing span per record
/// (with its message id), within `deadline`, and returns the ids of the records that failed or
/// did not run.
///
/// A record starts only while `budget` says the time left covers it (the batch's first record
/// always starts: no invocation could give it more time). A record still running one
/// [`FINISH_RESERVE`](crate::budget::FINISH_RESERVE) before the deadline is dropped, which is what
/// Lambda's timeout would do to the whole batch: `handle` must be safe to stop at any await (the
/// processor's commits are transactions with an outbox, so a redelivery finishes the work).
pub async fn process_batch<F, Fut, E>(
    event: SqsEvent,
    concurrency: usize,
    deadline: &Deadline,
    budget: &RecordBudget,
    handle: F,
) -> SqsBatchResponse
where
    F: Fn(SqsMessage) -> Fut,
    Fut: Future<Output = Result<(), E>>,
    E: Classify,
{
    let total = event.records.len();
    let started_one = AtomicBool::new(false);
    let stop_at = deadline.cutoff();
    let ended: Vec<(String, Ended)> = stream::iter(event.records)
        .map(|record| {
            let message_id = record.message_id.clone().unwrap_or_default();
            let receive_count = record
                .attributes
                .get("ApproximateReceiveCount")
                .cloned()
                .unwrap_or_default();
            let span = tracing::info_span!("record", message_id = %message_id, receive_count = %receive_count);
            let fut = handle(record);
            let started_one = &started_one;
            async move {
                let first = !started_one.swap(true, Ordering::Relaxed);
                if !first && !budget.covers_one_more(deadline) {
                    return (message_id, Ended::NotStarted);
                }
                let began = Instant::now();
                let outcome = tokio::time::timeout_at(stop_at, fut).await;
                // A stopped record says only "at least this long": left out, one such outlier
                // would otherwise hold every later invocation to one record.
                if outcome.is_ok() {
                    budget.observe(began.elapsed());
                }
                let ended = match outcome {
                    Ok(Ok(())) => Ended::Done,
                    Ok(Err(err)) => {
                        match err.class() {
                            FailureClass::Poison => tracing::error!(
                                error = %crate::telemetry::error_chain(&err),
                                "poison record; it will reach the DLQ after the redrive count"
                            ),
                            FailureClass::Retryable => tracing::warn!(
                                error = %crate::telemetry::error_chain(&err),
                                "record failed; SQS will redeliver it"
                            ),
                        }
                        Ended::Failed
                    }
                    Err(_) => {
                        tracing::warn!(
                            took_ms = u64::try_from(began.elapsed().as_millis()).unwrap_or(u64::MAX),
                            "record stopped before the invocation's deadline; SQS will redeliver it"
                        );
                        Ended::Stopped
                    }
                };
                (message_id, ended)
            }
            .instrument(span)
        })
        .buffer_unordered(concurrency.max(1))
        .collect()
        .await;
    let count = |want: fn(&Ended) -> bool| ended.iter().filter(|(_, e)| want(e)).count();
    let not_started = count(|e| matches!(e, Ended::NotStarted));
    let stopped = count(|e| matches!(e, Ended::Stopped));
    if not_started > 0 || stopped > 0 {
        tracing::warn!(
            not_started,
            stopped,
            total,
            per_record_ms = u64::try_from(budget.per_record().as_millis()).unwrap_or(u64::MAX),
            "the invocation's time left could not cover every record; the rest come back as batch item failures"
        );
    }
    // An empty id makes Lambda retry the whole batch, which is the only safe answer for a record
    // we cannot name.
    let failures: Vec<String> = ended
        .into_iter()
        .filter(|(_, e)| !matches!(e, Ended::Done))
        .map(|(id, _)| id)
        .collect();
    if !failures.is_empty() {
        tracing::warn!(
            failed = failures.len(),
            total,
            "batch finished with failures"
        );
    }
    let mut response = SqsBatchResponse::default();
    response.set_failures(failures);
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;
    use std::sync::Mutex;
    use std::time::Duration;

    #[derive(Debug, thiserror::Error)]
    #[error("bad {0:?}")]
    struct Bad(FailureClass);

    impl Classify for Bad {
        fn class(&self) -> FailureClass {
            self.0
        }
    }

    fn event(bodies: &[&str]) -> SqsEvent {
        let mut e = SqsEvent::default();
        e.records = bodies
            .iter()
            .enumerate()
            .map(|(i, b)| {
                let mut m = SqsMessage::default();
                m.message_id = Some(format!("m{i}"));
                m.body = Some((*b).to_owned());
                m
            })
            .collect();
        e
    }

    /// A deadline no test record comes near.
    fn roomy() -> (Deadline, RecordBudget) {
        (
            Deadline::after(Duration::from_secs(3600)),
            RecordBudget::new(Duration::from_millis(1)),
        )
    }

    fn ids(response: &SqsBatchResponse) -> Vec<String> {
        let mut ids: Vec<_> = response
            .batch_item_failures
            .iter()
            .map(|f| f.item_identifier.clone())
            .collect();
        ids.sort();
        ids
    }

    /// A handler whose record `mN` sleeps `sleeps[N]` and is then noted as finished.
    fn sleeper<'a>(
        sleeps: &'a [u64],
        finished: &'a Mutex<Vec<String>>,
    ) -> impl Fn(SqsMessage) -> std::pin::Pin<Box<dyn Future<Output = Result<(), Bad>> + 'a>> + 'a
    {
        move |r: SqsMessage| {
            let id = r.message_id.unwrap_or_default();
            let ms = id
                .trim_start_matches('m')
                .parse::<usize>()
                .ok()
                .and_then(|i| sleeps.get(i).copied())
                .unwrap_or(0);
            Box::pin(async move {
                tokio::time::sleep(Duration::from_millis(ms)).await;
                finished.lock().unwrap().push(id);
                Ok(())
            })
        }
    }

    #[tokio::test(start_paused = true)]
    async fn records_the_time_left_cannot_cover_are_not_started_and_come_back() {
        // Arrange: 10 s, 3 s per record (+1 s reserve), records of 2.5 s one at a time.
        let deadline = Deadline::after(Duration::from_secs(10));
        let budget = RecordBudget::new(Duration::from_secs(3));
        let finished = Mutex::new(Vec::new());
        let sleeps = [2500; 5];

        // Act
        let response = process_batch(
            event(&["a"; 5]),
            1,
            &deadline,
            &budget,
            sleeper(&sleeps, &finished),
        )
        .await;

        // Assert: m3 would start at 7.5 s with 2.5 s left, less than 3 s + 1 s.
        assert_eq!(ids(&response), ["m3", "m4"]);
        assert_eq!(*finished.lock().unwrap(), ["m0", "m1", "m2"]);
        assert!(deadline.remaining() > Duration::ZERO);
    }

    #[tokio::test(start_paused = true)]
    async fn a_slow_record_raises_the_budget_so_the_next_one_is_not_started() {
        // Arrange: a floor of 100 ms would start m1 at 6 s with 4 s left; m0's 6 s say otherwise.
        let deadline = Deadline::after(Duration::from_secs(10));
        let budget = RecordBudget::new(Duration::from_millis(100));
        let finished = Mutex::new(Vec::new());
        let sleeps = [6000, 100];

        // Act
        let response = process_batch(
            event(&["a"; 2]),
            1,
            &deadline,
            &budget,
            sleeper(&sleeps, &finished),
        )
        .await;

        // Assert
        assert_eq!(ids(&response), ["m1"]);
        assert_eq!(budget.per_record(), Duration::from_secs(6));
    }

    #[tokio::test(start_paused = true)]
    async fn the_first_record_starts_even_when_the_budget_exceeds_the_invocation() {
        let deadline = Deadline::after(Duration::from_secs(2));
        let budget = RecordBudget::new(Duration::from_secs(5));
        let finished = Mutex::new(Vec::new());
        let sleeps = [10, 10];

        let response = process_batch(
            event(&["a"; 2]),
            1,
            &deadline,
            &budget,
            sleeper(&sleeps, &finished),
        )
        .await;

        assert_eq!(ids(&response), ["m1"]);
        assert_eq!(*finished.lock().unwrap(), ["m0"]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_record_still_running_just_before_the_deadline_is_stopped_and_the_rest_kept() {
        // Arrange: m0 would take a minute; the invocation has 5 s.
        let deadline = Deadline::after(Duration::from_secs(5));
        let budget = RecordBudget::new(Duration::from_millis(10));
        let finished = Mutex::new(Vec::new());
        let sleeps = [60_000, 20, 20];

        // Act
        let response = process_batch(
            event(&["a"; 3]),
            3,
            &deadline,
            &budget,
            sleeper(&sleeps, &finished),
        )
        .await;

        // Assert: the batch answers one reserve before the deadline, with m1 and m2 done.
        assert_eq!(ids(&response), ["m0"]);
        let mut done = finished.lock().unwrap().clone();
        done.sort();
        assert_eq!(done, ["m1", "m2"]);
        assert_eq!(deadline.remaining(), crate::budget::FINISH_RESERVE);
        assert_eq!(
            budget.per_record(),
            Duration::from_millis(20),
            "the stopped record is not taken as a measure"
        );
    }

    #[tokio::test]
    async fn reports_only_the_records_that_failed() {
        let (deadline, budget) = roomy();
        let response = process_batch(
            event(&["ok", "poison", "ok", "retry"]),
            2,
            &deadline,
            &budget,
            |r| async move {
                match r.body.as_deref() {
                    Some("poison") => Err(Bad(FailureClass::Poison)),
                    Some("retry") => Err(Bad(FailureClass::Retryable)),
                    _ => Ok(()),
                }
            },
        )
        .await;
        assert_eq!(ids(&response), ["m1", "m3"]);
    }

    #[tokio::test]
    async fn never_runs_more_than_the_concurrency_limit() {
        let running = AtomicUsize::new(0);
        let peak = AtomicUsize::new(0);
        let bodies = vec!["x"; 20];
        let (deadline, budget) = roomy();
        process_batch(event(&bodies), 3, &deadline, &budget, |_| async {
            let now = running.fetch_add(1, Ordering::SeqCst) + 1;
            peak.fetch_max(now, Ordering::SeqCst);
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            running.fetch_sub(1, Ordering::SeqCst);
            Ok::<(), Bad>(())
        })
        .await;
        assert!(peak.load(Ordering::SeqCst) <= 3);
        assert!(peak.load(Ordering::SeqCst) > 1);
    }
}
