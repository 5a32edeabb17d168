//! Plays the SQS event source mapping: receives batches from a queue, invokes the function with
//! them as an `SqsEvent` (the function's deadline is the Runtime API's: now + its `Timeout`),
//! deletes what succeeded and leaves `batchItemFailures` (or the whole batch, if the invocation
//! failed or timed out) to reappear after the visibility timeout. Redrive to the DLQ is the
//! queue's own (moto counts receives like SQS does).

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::time::Duration;

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage, SqsMessageAttribute};
use aws_sdk_sqs::types::{DeleteMessageBatchRequestEntry, MessageSystemAttributeName};
use tokio::sync::watch;

use crate::environment::InvokeError;

/// A function that consumes SQS batches: the compiled function behind the Runtime API
/// ([`crate::function::Function`]), which enforces its timeout.
pub trait SqsHandler: Send + Sync + 'static {
    fn call(
        &self,
        event: SqsEvent,
    ) -> impl Future<Output = Result<SqsBatchResponse, InvokeError>> + Send;
}

/// One mapping: which queue feeds which function, and how.
#[derive(Debug, Clone)]
pub struct Mapping {
    pub name: String,
    pub queue_url: String,
    pub queue_arn: String,
    pub batch_size: i32,
    /// Concurrent pollers, each invoking the function with its own batch (Lambda starts five
    /// for an SQS event source and scales from there).
    pub pollers: usize,
    pub region: String,
}

/// Runs the mapping's pollers until `shutdown` flips to true.
pub async fn run<H: SqsHandler>(
    sqs: aws_sdk_sqs::Client,
    mapping: Mapping,
    handler: std::sync::Arc<H>,
    shutdown: watch::Receiver<bool>,
) {
    tracing::info!(mapping = %mapping.name, queue = %mapping.queue_url, pollers = mapping.pollers, "event source mapping started");
    let mapping = std::sync::Arc::new(mapping);
    let pollers: Vec<_> = (0..mapping.pollers.max(1))
        .map(|_| {
            tokio::spawn(poll(
                sqs.clone(),
                mapping.clone(),
                handler.clone(),
                shutdown.clone(),
            ))
        })
        .collect();
    for poller in pollers {
        let _ = poller.await;
    }
    tracing::info!(mapping = %mapping.name, "event source mapping stopped");
}

async fn poll<H: SqsHandler>(
    sqs: aws_sdk_sqs::Client,
    mapping: std::sync::Arc<Mapping>,
    handler: std::sync::Arc<H>,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        if *shutdown.borrow() {
            break;
        }
        let received = tokio::select! {
            r = receive(&sqs, &mapping) => r,
            _ = shutdown.changed() => break,
        };
        let messages = match received {
            Ok(m) => m,
            Err(err) => {
                tracing::warn!(mapping = %mapping.name, error = %err, "receive failed; retrying");
                tokio::time::sleep(Duration::from_millis(500)).await;
                continue;
            }
        };
        if messages.is_empty() {
            continue;
        }
        invoke_once(&sqs, &mapping, handler.as_ref(), messages).await;
    }
}

async fn receive(
    sqs: &aws_sdk_sqs::Client,
    m: &Mapping,
) -> Result<Vec<aws_sdk_sqs::types::Message>, aws_sdk_sqs::Error> {
    let out = sqs
        .receive_message()
        .queue_url(&m.queue_url)
        .max_number_of_messages(m.batch_size.clamp(1, 10))
        .wait_time_seconds(1)
        .message_system_attribute_names(MessageSystemAttributeName::All)
        .message_attribute_names("All")
        .send()
        .await?;
    Ok(out.messages.unwrap_or_default())
}

/// One invocation: build the event, call, delete what succeeded. Returns how many were deleted.
pub async fn invoke_once<H: SqsHandler>(
    sqs: &aws_sdk_sqs::Client,
    mapping: &Mapping,
    handler: &H,
    messages: Vec<aws_sdk_sqs::types::Message>,
) -> usize {
    crate::inputs::sqs_records(&mapping.name, &messages);
    let mut event = SqsEvent::default();
    event.records = messages.iter().map(|m| to_record(m, mapping)).collect();
    let failed: HashSet<String> = match handler.call(event).await {
        Ok(resp) => resp
            .batch_item_failures
            .into_iter()
            .map(|f| f.item_identifier)
            .collect(),
        Err(err @ InvokeError::TimedOut { .. }) => {
            tracing::error!(
                mapping = %mapping.name,
                error = %err,
                records = messages.len(),
                "invocation timed out; its whole batch comes back after the queue's visibility timeout"
            );
            return 0;
        }
        Err(err) => {
            tracing::warn!(mapping = %mapping.name, error = %err, "invocation failed; whole batch will be retried");
            return 0;
        }
    };
    let entries: Vec<_> = messages
        .iter()
        .enumerate()
        .filter(|(_, m)| m.message_id().is_some_and(|id| !failed.contains(id)))
        .filter_map(|(i, m)| {
            DeleteMessageBatchRequestEntry::builder()
                .id(i.to_string())
                .set_receipt_handle(m.receipt_handle.clone())
                .build()
                .ok()
        })
        .collect();
    let count = entries.len();
    if count > 0 {
        if let Err(err) = sqs
            .delete_message_batch()
            .queue_url(&mapping.queue_url)
            .set_entries(Some(entries))
            .send()
            .await
        {
            tracing::warn!(mapping = %mapping.name, error = %aws_sdk_sqs::Error::from(err), "delete failed; messages will be redelivered");
            return 0;
        }
    }
    count
}

fn to_record(m: &aws_sdk_sqs::types::Message, mapping: &Mapping) -> SqsMessage {
    let mut record = SqsMessage::default();
    record.message_id = m.message_id.clone();
    record.receipt_handle = m.receipt_handle.clone();
    record.body = m.body.clone();
    record.md5_of_body = m.md5_of_body.clone();
    record.md5_of_message_attributes = m.md5_of_message_attributes.clone();
    record.attributes = m
        .attributes
        .as_ref()
        .map(|a| {
            a.iter()
                .map(|(k, v)| (k.as_str().to_owned(), v.clone()))
                .collect()
        })
        .unwrap_or_default();
    record.message_attributes = m
        .message_attributes
        .as_ref()
        .map(|attrs| {
            attrs
                .iter()
                .map(|(k, v)| {
                    let mut a = SqsMessageAttribute::default();
                    a.string_value = v.string_value.clone();
                    a.data_type = Some(v.data_type.clone());
                    (k.clone(), a)
                })
                .collect::<HashMap<_, _>>()
        })
        .unwrap_or_default();
    record.event_source = Some("aws:sqs".to_owned());
    record.event_source_arn = Some(mapping.queue_arn.clone());
    record.aws_region = Some(mapping.region.clone());
    record
}
