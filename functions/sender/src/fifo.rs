//! Consuming a FIFO batch: records of one message group run in order, groups run concurrently
//! (bounded). Once a record of a group fails or is deferred, it and every later record of the same
//! group are reported as failures, unprocessed, so SQS keeps the group's order.

use std::future::Future;
use std::time::Duration;

use aws_lambda_events::event::sqs::SqsMessage;
use futures::stream::{self, StreamExt};
use tracing::Instrument;

/// What became of one record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Disposition {
    /// Consumed: SQS may delete it.
    Done,
    /// Try again after this delay (its visibility timeout is set to it).
    Defer(Duration),
}

/// A record to report as a batch item failure, and when it should come back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failed {
    pub message_id: String,
    pub receipt_handle: Option<String>,
    pub delay: Duration,
}

/// Runs `handle` over the batch group by group; returns the records to report as failures.
pub async fn process<F, Fut>(records: Vec<SqsMessage>, concurrency: usize, handle: F) -> Vec<Failed>
where
    F: Fn(SqsMessage) -> Fut,
    Fut: Future<Output = Disposition>,
{
    let mut groups: Vec<(String, Vec<SqsMessage>)> = Vec::new();
    for record in records {
        let group = record
            .attributes
            .get("MessageGroupId")
            .cloned()
            .or_else(|| record.message_id.clone())
            .unwrap_or_default();
        match groups.iter_mut().find(|(g, _)| *g == group) {
            Some((_, list)) => list.push(record),
            None => groups.push((group, vec![record])),
        }
    }
    let handle = &handle;
    stream::iter(groups)
        .map(|(_, records)| async move {
            let mut failed = Vec::new();
            let mut blocked: Option<Duration> = None;
            for record in records {
                let message_id = record.message_id.clone().unwrap_or_default();
                let receipt_handle = record.receipt_handle.clone();
                let delay = match blocked {
                    Some(d) => Some(d),
                    None => {
                        let span = tracing::info_span!("record", message_id = %message_id);
                        match handle(record).instrument(span).await {
                            Disposition::Done => None,
                            Disposition::Defer(d) => Some(d),
                        }
                    }
                };
                if let Some(d) = delay {
                    blocked = Some(d);
                    failed.push(Failed {
                        message_id,
                        receipt_handle,
                        delay: d,
                    });
                }
            }
            failed
        })
        .buffer_unordered(concurrency.max(1))
        .flat_map(stream::iter)
        .collect()
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(id: &str, group: &str) -> SqsMessage {
        let mut m = SqsMessage::default();
        m.message_id = Some(id.to_owned());
        m.body = Some(id.to_owned());
        m.attributes.insert("MessageGroupId".into(), group.into());
        m
    }

    #[tokio::test]
    async fn a_deferred_record_fails_the_rest_of_its_group_but_not_other_groups() {
        let records = vec![
            record("a1", "a"),
            record("b1", "b"),
            record("a2", "a"),
            record("a3", "a"),
            record("b2", "b"),
        ];
        let seen = std::sync::Mutex::new(Vec::new());
        let failed = process(records, 4, |r| {
            let id = r.body.clone().unwrap_or_default();
            seen.lock().unwrap().push(id.clone());
            async move {
                if id == "a2" {
                    Disposition::Defer(Duration::from_secs(3))
                } else {
                    Disposition::Done
                }
            }
        })
        .await;
        let mut ids: Vec<_> = failed.iter().map(|f| f.message_id.as_str()).collect();
        ids.sort_unstable();
        assert_eq!(ids, ["a2", "a3"]);
        assert!(failed.iter().all(|f| f.delay == Duration::from_secs(3)));
        assert!(
            !seen.lock().unwrap().contains(&"a3".to_owned()),
            "a3 must not run after a2 failed"
        );
    }
}
