//! Backing a record off: its visibility timeout is set to the delay before it is reported as a
//! batch failure, so SQS hands it back then (and holds its FIFO group until then). The sender
//! backs off commands; the media function backs off copies whose download failed.

use std::future::Future;
use std::time::Duration;

use aws_sdk_sqs::types::ChangeMessageVisibilityBatchRequestEntry;
use rand::Rng;

/// SQS's maximum visibility timeout (12 h), counted from the message's receive: a change made
/// later may only ask for what is left of it.
pub const MAX_VISIBILITY: Duration = Duration::from_secs(12 * 3600);

/// How long before an invocation starts its records may have been received: the event source
/// mapping's batching window (at most 300 s) plus delivery.
pub const RECEIVE_ALLOWANCE: Duration = Duration::from_secs(310);

/// The longest visibility SQS accepts for a record received at most `since_receive` ago.
pub fn allowed(delay: Duration, since_receive: Duration) -> Duration {
    delay.min(MAX_VISIBILITY.saturating_sub(since_receive))
}

/// Why a visibility change failed (the records still come back, after the queue's timeout).
#[derive(Debug, thiserror::Error)]
pub enum VisibilityError {
    #[error("ChangeMessageVisibilityBatch on {queue_url} failed")]
    Change {
        queue_url: String,
        #[source]
        source: Box<aws_sdk_sqs::Error>,
    },
    #[error("{0} visibility changes were refused")]
    Refused(usize),
    #[error("could not build the SQS request")]
    Build(#[source] aws_sdk_sqs::error::BuildError),
}

/// Port: set the visibility timeout of received messages.
pub trait Visibility: Send + Sync {
    fn defer(
        &self,
        entries: Vec<(String, Duration)>,
    ) -> impl Future<Output = Result<(), VisibilityError>> + Send;
}

/// Adapter: one queue (the sender's commands queue, the media function's queue).
#[derive(Clone)]
pub struct SqsVisibility {
    client: aws_sdk_sqs::Client,
    queue_url: String,
}

impl SqsVisibility {
    pub fn new(client: aws_sdk_sqs::Client, queue_url: impl Into<String>) -> Self {
        Self {
            client,
            queue_url: queue_url.into(),
        }
    }
}

impl Visibility for SqsVisibility {
    async fn defer(&self, entries: Vec<(String, Duration)>) -> Result<(), VisibilityError> {
        let mut refused = 0;
        for chunk in entries.chunks(10) {
            let batch = chunk
                .iter()
                .enumerate()
                .map(|(i, (receipt, delay))| {
                    ChangeMessageVisibilityBatchRequestEntry::builder()
                        .id(i.to_string())
                        .receipt_handle(receipt)
                        .visibility_timeout(seconds(*delay))
                        .build()
                })
                .collect::<Result<Vec<_>, _>>()
                .map_err(VisibilityError::Build)?;
            let out = self
                .client
                .change_message_visibility_batch()
                .queue_url(&self.queue_url)
                .set_entries(Some(batch))
                .send()
                .await
                .map_err(|e| VisibilityError::Change {
                    queue_url: self.queue_url.clone(),
                    source: Box::new(e.into()),
                })?;
            refused += out.failed().len();
        }
        if refused > 0 {
            return Err(VisibilityError::Refused(refused));
        }
        Ok(())
    }
}

/// Whole seconds for SQS, at least 1 and at most 12 h.
pub fn seconds(delay: Duration) -> i32 {
    let s = delay.min(MAX_VISIBILITY).as_secs_f64().ceil() as i32;
    s.max(1)
}

/// Exponential backoff with jitter: `base * 2^retries`, capped, then a random point in its
/// upper half (so retries spread out but never come back sooner than half the step).
pub fn backoff(retries: u32, base: Duration, cap: Duration) -> Duration {
    let step = base.saturating_mul(1u32 << retries.min(16)).min(cap);
    let half = step / 2;
    let jitter = rand::rng().random_range(0..=half.as_millis().max(1) as u64);
    half + Duration::from_millis(jitter)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_with_jitter_and_stays_under_the_cap() {
        for retries in 0..20 {
            let d = backoff(retries, Duration::from_secs(2), Duration::from_secs(300));
            let step =
                Duration::from_secs(2 * (1 << retries.min(16))).min(Duration::from_secs(300));
            assert!(
                d >= step / 2 && d <= step + Duration::from_millis(1),
                "{retries}: {d:?}"
            );
        }
    }

    #[test]
    fn a_visibility_change_never_asks_beyond_12_hours_from_the_receive() {
        let since = Duration::from_secs(1) + RECEIVE_ALLOWANCE;
        let asked = allowed(Duration::from_secs(43_200), since);
        assert!(
            Duration::from_secs(u64::try_from(seconds(asked)).unwrap()) + since <= MAX_VISIBILITY,
            "{asked:?}"
        );
        assert_eq!(
            allowed(Duration::from_secs(30), since),
            Duration::from_secs(30)
        );
        assert_eq!(
            allowed(Duration::from_secs(60), Duration::from_secs(50_000)),
            Duration::ZERO
        );
    }

    #[test]
    fn visibility_is_whole_seconds_between_1_and_12_hours() {
        assert_eq!(seconds(Duration::from_millis(10)), 1);
        assert_eq!(seconds(Duration::from_millis(1500)), 2);
        assert_eq!(seconds(Duration::from_secs(86_400)), 43_200);
    }
}
