//! Port and SQS adapter for putting messages on a queue, all or nothing from the caller's view.
//!
//! Batches of up to 10 entries (and at most 1 MiB) go out with `SendMessageBatch`, a bounded
//! number concurrently; entries SQS rejects as transient are retried; anything still unsent makes
//! the whole call fail so the caller can answer "retry" (the webhook answers 5xx to Meta).

pub mod coalesce;

use std::collections::BTreeMap;
use std::future::Future;

use aws_sdk_sqs::types::{MessageAttributeValue, SendMessageBatchRequestEntry};
use futures::stream::{self, StreamExt, TryStreamExt};

/// One message to put on a queue.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct OutboundMessage {
    pub body: String,
    /// FIFO queues only: ordering group.
    pub group_id: Option<String>,
    /// FIFO queues only: SQS drops a repeat with the same id within 5 minutes.
    pub dedup_id: Option<String>,
    /// String message attributes (consumers filter on them without parsing the body).
    pub attributes: Vec<(String, String)>,
}

impl OutboundMessage {
    pub fn new(body: impl Into<String>) -> Self {
        Self {
            body: body.into(),
            ..Self::default()
        }
    }
}

/// Why messages could not all be enqueued.
#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    #[error("SendMessageBatch to {queue_url} failed")]
    Send {
        queue_url: String,
        #[source]
        source: Box<aws_sdk_sqs::Error>,
    },
    #[error("{failed} of {total} messages were not accepted by {queue_url} (first: {first_code})")]
    Rejected {
        queue_url: String,
        failed: usize,
        total: usize,
        first_code: String,
    },
    #[error("message of {size} bytes is over the queue's limit of {limit} bytes")]
    TooLarge { size: usize, limit: usize },
    #[error("could not build the SQS request")]
    Build(#[source] aws_sdk_sqs::error::BuildError),
    /// The request these messages shared with other records' failed ([`coalesce`]).
    #[error("the request carrying these messages failed")]
    Shared(#[source] std::sync::Arc<QueueError>),
    /// The call sending these messages with others' was stopped before it answered.
    #[error("the call sending these messages was stopped")]
    Abandoned,
}

/// Port: put every message on the queue, or fail.
pub trait MessageSink: Send + Sync {
    fn send_all(
        &self,
        messages: Vec<OutboundMessage>,
    ) -> impl Future<Output = Result<(), QueueError>> + Send;
}

/// SQS's cap on one message and on a `SendMessageBatch` (1 MiB since August 2025, was 256 KiB),
/// counted as body plus attribute names, types and values. A larger message is refused here
/// (`TooLarge`); the webhook sends an update that large by reference instead (claim check).
pub const MESSAGE_BYTES: usize = 1024 * 1024;
/// A batch's cap: the same figure.
pub const BATCH_BYTES: usize = MESSAGE_BYTES;
pub(crate) const BATCH_ENTRIES: usize = 10;
const CONCURRENT_BATCHES: usize = 8;
const ATTEMPTS: usize = 3;

/// Adapter: one SQS queue.
#[derive(Clone)]
pub struct SqsSink {
    client: aws_sdk_sqs::Client,
    queue_url: String,
}

impl SqsSink {
    pub fn new(client: aws_sdk_sqs::Client, queue_url: impl Into<String>) -> Self {
        Self {
            client,
            queue_url: queue_url.into(),
        }
    }

    pub fn queue_url(&self) -> &str {
        &self.queue_url
    }

    /// Sends one batch, retrying the entries SQS failed as transient (sender_fault = false).
    /// Entries go in the order given: a FIFO queue orders a group's messages of one batch as the
    /// request lists them (an update's events, e.g. `message.received` then
    /// `conversation.opened`).
    async fn send_batch(&self, batch: Vec<(usize, OutboundMessage)>) -> Result<(), QueueError> {
        let mut pending: BTreeMap<usize, OutboundMessage> = batch.into_iter().collect();
        let total = pending.len();
        let mut last_code = String::new();
        for attempt in 0..ATTEMPTS {
            if attempt > 0 {
                tokio::time::sleep(std::time::Duration::from_millis(50 << attempt)).await;
            }
            let entries = pending
                .iter()
                .map(|(i, m)| entry(&i.to_string(), m))
                .collect::<Result<Vec<_>, _>>()
                .map_err(QueueError::Build)?;
            let out = self
                .client
                .send_message_batch()
                .queue_url(&self.queue_url)
                .set_entries(Some(entries))
                .send()
                .await
                .map_err(|e| QueueError::Send {
                    queue_url: self.queue_url.clone(),
                    source: Box::new(e.into()),
                })?;
            for ok in out.successful() {
                if let Ok(i) = ok.id().parse::<usize>() {
                    pending.remove(&i);
                }
            }
            if pending.is_empty() {
                return Ok(());
            }
            let failed = out.failed();
            if let Some(f) = failed.first() {
                last_code = f.code().to_owned();
            }
            if failed.iter().any(|f| f.sender_fault()) {
                break; // a malformed entry will not get better by retrying
            }
        }
        Err(QueueError::Rejected {
            queue_url: self.queue_url.clone(),
            failed: pending.len(),
            total,
            first_code: last_code,
        })
    }
}

fn entry(
    id: &str,
    m: &OutboundMessage,
) -> Result<SendMessageBatchRequestEntry, aws_sdk_sqs::error::BuildError> {
    let mut b = SendMessageBatchRequestEntry::builder()
        .id(id)
        .message_body(&m.body)
        .set_message_group_id(m.group_id.clone())
        .set_message_deduplication_id(m.dedup_id.clone());
    for (k, v) in &m.attributes {
        b = b.message_attributes(
            k,
            MessageAttributeValue::builder()
                .data_type("String")
                .string_value(v)
                .build()?,
        );
    }
    b.build()
}

/// A message's size as SQS counts it: body, and each attribute's name, type (`String`) and value.
pub fn size(m: &OutboundMessage) -> usize {
    m.body.len()
        + m.attributes
            .iter()
            .map(|(k, v)| k.len() + "String".len() + v.len())
            .sum::<usize>()
}

/// Groups messages into SendMessageBatch-sized chunks: ≤10 entries and ≤1 MiB each.
pub fn chunk(
    messages: Vec<OutboundMessage>,
) -> Result<Vec<Vec<(usize, OutboundMessage)>>, QueueError> {
    let mut batches = Vec::new();
    let mut current: Vec<(usize, OutboundMessage)> = Vec::new();
    let mut bytes = 0;
    for (i, m) in messages.into_iter().enumerate() {
        let size = size(&m);
        if size > MESSAGE_BYTES {
            return Err(QueueError::TooLarge {
                size,
                limit: MESSAGE_BYTES,
            });
        }
        if current.len() == BATCH_ENTRIES || bytes + size > BATCH_BYTES {
            batches.push(std::mem::take(&mut current));
            bytes = 0;
        }
        bytes += size;
        current.push((i, m));
    }
    if !current.is_empty() {
        batches.push(current);
    }
    Ok(batches)
}

impl MessageSink for SqsSink {
    async fn send_all(&self, messages: Vec<OutboundMessage>) -> Result<(), QueueError> {
        let batches = chunk(messages)?;
        stream::iter(batches)
            .map(|b| self.send_batch(b))
            .buffer_unordered(CONCURRENT_BATCHES)
            .try_collect::<Vec<()>>()
            .await
            .map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_by_ten_entries() {
        let msgs: Vec<_> = (0..25)
            .map(|i| OutboundMessage::new(i.to_string()))
            .collect();
        let sizes: Vec<_> = chunk(msgs).unwrap().iter().map(Vec::len).collect();
        assert_eq!(sizes, vec![10, 10, 5]);
    }

    #[test]
    fn chunks_by_bytes_before_ten_entries() {
        let msgs: Vec<_> = (0..4)
            .map(|_| OutboundMessage::new("x".repeat(400 * 1024)))
            .collect();
        let sizes: Vec<_> = chunk(msgs).unwrap().iter().map(Vec::len).collect();
        assert_eq!(sizes, vec![2, 2]);
    }

    #[test]
    fn refuses_a_message_over_the_limit() {
        let msgs = vec![OutboundMessage::new("x".repeat(MESSAGE_BYTES + 1))];
        assert!(matches!(chunk(msgs), Err(QueueError::TooLarge { .. })));
        let at_the_limit = vec![OutboundMessage::new("x".repeat(MESSAGE_BYTES))];
        assert_eq!(chunk(at_the_limit).map(|b| b.len()).ok(), Some(1));
    }

    #[test]
    fn keeps_every_message_exactly_once() {
        let msgs: Vec<_> = (0..1000)
            .map(|i| OutboundMessage::new("y".repeat(i % 700)))
            .collect();
        let mut seen: Vec<usize> = chunk(msgs)
            .unwrap()
            .into_iter()
            .flatten()
            .map(|(i, _)| i)
            .collect();
        seen.sort_unstable();
        assert_eq!(seen, (0..1000).collect::<Vec<_>>());
    }
}
