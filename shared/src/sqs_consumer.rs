//! Consuming an SQS batch: each record on its own, a bounded number at a time, partial failures
//! reported so only the failed records come back (and, after `maxReceiveCount`, go to the DLQ).

use std::future::Future;

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use futures::stream::{self, StreamExt};
use tracing::Instrument;

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

/// Runs `handle` on every record with at most `concurrency` in flight, one tracing span per record
/// (with its message id), and returns the ids of the records that failed.
pub async fn process_batch<F, Fut, E>(
    event: SqsEvent,
    concurrency: usize,
    handle: F,
) -> SqsBatchResponse
where
    F: Fn(SqsMessage) -> Fut,
    Fut: Future<Output = Result<(), E>>,
    E: Classify,
{
    let total = event.records.len();
    let failures: Vec<String> = stream::iter(event.records)
        .map(|record| {
            let message_id = record.message_id.clone().unwrap_or_default();
            let receive_count = record
                .attributes
                .get("ApproximateReceiveCount")
                .cloned()
                .unwrap_or_default();
            let span = tracing::info_span!("record", message_id = %message_id, receive_count = %receive_count);
            let fut = handle(record);
            async move {
                match fut.await {
                    Ok(()) => None,
                    Err(err) => {
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
                        // An empty id makes Lambda retry the whole batch, which is the only
                        // safe answer for a record we cannot name.
                        Some(message_id)
                    }
                }
            }
            .instrument(span)
        })
        .buffer_unordered(concurrency.max(1))
        .filter_map(|failed| async move { failed })
        .collect()
        .await;
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
    use std::sync::atomic::{AtomicUsize, Ordering};

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

    #[tokio::test]
    async fn reports_only_the_records_that_failed() {
        let response = process_batch(event(&["ok", "poison", "ok", "retry"]), 2, |r| async move {
            match r.body.as_deref() {
                Some("poison") => Err(Bad(FailureClass::Poison)),
                Some("retry") => Err(Bad(FailureClass::Retryable)),
                _ => Ok(()),
            }
        })
        .await;
        let mut ids: Vec<_> = response
            .batch_item_failures
            .iter()
            .map(|f| f.item_identifier.clone())
            .collect();
        ids.sort();
        assert_eq!(ids, ["m1", "m3"]);
    }

    #[tokio::test]
    async fn never_runs_more_than_the_concurrency_limit() {
        let running = AtomicUsize::new(0);
        let peak = AtomicUsize::new(0);
        let bodies = vec!["x"; 20];
        process_batch(event(&bodies), 3, |_| async {
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
