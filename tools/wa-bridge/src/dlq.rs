//! `dlq list` and `dlq redrive`: the dead-letter queues of the stack's queues (each queue's
//! `RedrivePolicy`), and moving a DLQ's messages back where they came from.

use std::collections::HashMap;
use std::io::{IsTerminal, Write};
use std::time::Duration;

use aws_sdk_sqs::config::retry::RetryConfig;
use aws_sdk_sqs::types::{
    DeleteMessageBatchRequestEntry, MessageSystemAttributeName, QueueAttributeName,
    SendMessageBatchRequestEntry,
};

use crate::error::CliError;
use crate::target::{Queue, Target};

/// One dead-letter queue and the queue it serves.
struct Dlq {
    name: String,
    url: String,
    arn: String,
    source_url: String,
}

pub async fn list(target: &Target) -> Result<(), CliError> {
    let dlqs = dead_letter_queues(target).await?;
    println!("{:<36} {:>8} {:>10}  source", "queue", "depth", "oldest");
    for dlq in &dlqs {
        let depth = depth(target, &dlq.url).await?;
        let oldest = match oldest_sent_ms(target, &dlq.url).await? {
            Some(sent) => age((shared::now_ms() - sent).max(0) / 1000),
            None => "-".to_owned(),
        };
        println!(
            "{:<36} {depth:>8} {oldest:>10}  {}",
            dlq.name,
            queue_name(&dlq.source_url)
        );
    }
    Ok(())
}

pub async fn redrive(target: &Target, queue: &str) -> Result<(), CliError> {
    let dlqs = dead_letter_queues(target).await?;
    let wanted = queue.trim();
    let dlq = dlqs
        .into_iter()
        .find(|d| {
            d.name == wanted
                || d.url == wanted
                || d.name.strip_prefix(target.prefix.as_str()) == Some(wanted)
        })
        .ok_or_else(|| CliError::DlqMissing(wanted.to_owned()))?;
    let total = depth(target, &dlq.url).await?;
    if total == 0 {
        println!("{}: nothing to move", dlq.name);
        return Ok(());
    }
    let no_retries = aws_sdk_sqs::config::Builder::default().retry_config(RetryConfig::disabled());
    let started = target
        .sqs
        .start_message_move_task()
        .source_arn(&dlq.arn)
        .customize()
        .config_override(no_retries)
        .send()
        .await;
    match started {
        Ok(_) => follow_move_task(target, &dlq, total).await,
        Err(err) if not_offered(&err) => move_by_copy(target, &dlq, total).await,
        Err(err) => Err(target.sqs_error("StartMessageMoveTask", err)),
    }
}

/// Whether the service does not implement `StartMessageMoveTask` (moto answers an HTML 500).
fn not_offered<R>(
    err: &aws_sdk_sqs::error::SdkError<
        aws_sdk_sqs::operation::start_message_move_task::StartMessageMoveTaskError,
        R,
    >,
) -> bool
where
    R: std::fmt::Debug,
{
    use aws_sdk_sqs::error::ProvideErrorMetadata;
    let Some(service) = err.as_service_error() else {
        return false;
    };
    match service.code() {
        Some(code) => matches!(
            code,
            "UnsupportedOperation"
                | "InvalidAction"
                | "NotImplemented"
                | "UnknownOperationException"
        ),
        None => matches!(err, aws_sdk_sqs::error::SdkError::ServiceError(_)),
    }
}

/// SQS moves the messages; shows its progress until the task ends.
async fn follow_move_task(target: &Target, dlq: &Dlq, total: u64) -> Result<(), CliError> {
    let mut bar = Progress::new(&dlq.name, total);
    loop {
        let out = target
            .sqs
            .list_message_move_tasks()
            .source_arn(&dlq.arn)
            .max_results(1)
            .send()
            .await
            .map_err(|e| target.sqs_error("ListMessageMoveTasks", e))?;
        let Some(task) = out.results().first() else {
            return Err(CliError::Failed(format!(
                "the move task of {} vanished",
                dlq.name
            )));
        };
        let to_move = task
            .approximate_number_of_messages_to_move()
            .and_then(|n| u64::try_from(n).ok())
            .unwrap_or(total);
        let moved = u64::try_from(task.approximate_number_of_messages_moved()).unwrap_or(0);
        bar.total = to_move.max(moved);
        bar.show(moved);
        match task.status().unwrap_or("RUNNING") {
            "RUNNING" | "CANCELLING" => tokio::time::sleep(Duration::from_secs(1)).await,
            "COMPLETED" => {
                bar.finish(moved, &queue_name(&dlq.source_url));
                return Ok(());
            }
            other => {
                bar.finish(moved, &queue_name(&dlq.source_url));
                return Err(CliError::Failed(format!(
                    "the move task ended {other}: {}",
                    task.failure_reason().unwrap_or("no reason given")
                )));
            }
        }
    }
}

/// The move where SQS's task is not offered: receive, send to the source, delete what was sent.
async fn move_by_copy(target: &Target, dlq: &Dlq, total: u64) -> Result<(), CliError> {
    let fifo = dlq.name.ends_with(".fifo");
    let mut bar = Progress::new(&dlq.name, total);
    let mut moved = 0u64;
    let mut empty_receives = 0;
    while moved < total && empty_receives < 2 {
        let out = target
            .sqs
            .receive_message()
            .queue_url(&dlq.url)
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .visibility_timeout(60)
            .message_attribute_names("All")
            .message_system_attribute_names(MessageSystemAttributeName::All)
            .send()
            .await
            .map_err(|e| target.sqs_error("ReceiveMessage", e))?;
        let messages = out.messages();
        if messages.is_empty() {
            empty_receives += 1;
            continue;
        }
        empty_receives = 0;
        let mut entries = Vec::new();
        let mut receipts = HashMap::new();
        for (i, m) in messages.iter().enumerate() {
            let id = i.to_string();
            let mut entry = SendMessageBatchRequestEntry::builder()
                .id(&id)
                .message_body(m.body().unwrap_or_default())
                .set_message_attributes(m.message_attributes().cloned());
            if fifo {
                let group = m
                    .attributes()
                    .and_then(|a| a.get(&MessageSystemAttributeName::MessageGroupId))
                    .cloned();
                entry = entry
                    .set_message_group_id(group)
                    .message_deduplication_id(format!("redrive-{}", m.message_id().unwrap_or(&id)));
            }
            entries.push(entry.build().map_err(|e| CliError::Aws {
                operation: "SendMessageBatch",
                source: Box::new(e),
            })?);
            receipts.insert(id, m.receipt_handle().unwrap_or_default().to_owned());
        }
        let sent = target
            .sqs
            .send_message_batch()
            .queue_url(&dlq.source_url)
            .set_entries(Some(entries))
            .send()
            .await
            .map_err(|e| target.sqs_error("SendMessageBatch", e))?;
        if let Some(failed) = sent.failed().first() {
            bar.finish(moved, &queue_name(&dlq.source_url));
            return Err(CliError::Failed(format!(
                "{} refused a message ({}); it stays on {}",
                queue_name(&dlq.source_url),
                failed.code(),
                dlq.name
            )));
        }
        let deletes = sent
            .successful()
            .iter()
            .filter_map(|s| {
                DeleteMessageBatchRequestEntry::builder()
                    .id(s.id())
                    .set_receipt_handle(receipts.get(s.id()).cloned())
                    .build()
                    .ok()
            })
            .collect::<Vec<_>>();
        let count = deletes.len() as u64;
        target
            .sqs
            .delete_message_batch()
            .queue_url(&dlq.url)
            .set_entries(Some(deletes))
            .send()
            .await
            .map_err(|e| target.sqs_error("DeleteMessageBatch", e))?;
        moved += count;
        bar.show(moved);
    }
    bar.finish(moved, &queue_name(&dlq.source_url));
    Ok(())
}

/// Every dead-letter queue the stack's queues name in their redrive policy.
async fn dead_letter_queues(target: &Target) -> Result<Vec<Dlq>, CliError> {
    let mut out = Vec::new();
    for q in Queue::ALL {
        let source_url = target.queue_url(q).await?;
        let Some(policy) = target
            .queue_attribute(&source_url, QueueAttributeName::RedrivePolicy)
            .await?
        else {
            continue;
        };
        let policy: serde_json::Value = serde_json::from_str(&policy).unwrap_or_default();
        let Some(arn) = policy["deadLetterTargetArn"].as_str() else {
            continue;
        };
        let name = arn.rsplit(':').next().unwrap_or(arn).to_owned();
        let url = target.queue_url_by_name(&name).await?;
        out.push(Dlq {
            name,
            url,
            arn: arn.to_owned(),
            source_url,
        });
    }
    Ok(out)
}

async fn depth(target: &Target, url: &str) -> Result<u64, CliError> {
    Ok(target
        .queue_attribute(url, QueueAttributeName::ApproximateNumberOfMessages)
        .await?
        .and_then(|v| v.parse().ok())
        .unwrap_or(0))
}

/// The oldest `SentTimestamp` among the messages one look (visibility 0) returns.
async fn oldest_sent_ms(target: &Target, url: &str) -> Result<Option<i64>, CliError> {
    let out = target
        .sqs
        .receive_message()
        .queue_url(url)
        .max_number_of_messages(10)
        .visibility_timeout(0)
        .message_system_attribute_names(MessageSystemAttributeName::SentTimestamp)
        .send()
        .await
        .map_err(|e| target.sqs_error("ReceiveMessage", e))?;
    Ok(out
        .messages()
        .iter()
        .filter_map(|m| {
            m.attributes()?
                .get(&MessageSystemAttributeName::SentTimestamp)?
                .parse::<i64>()
                .ok()
        })
        .min())
}

fn queue_name(url: &str) -> String {
    url.rsplit('/').next().unwrap_or(url).to_owned()
}

fn age(seconds: i64) -> String {
    match seconds {
        s if s < 120 => format!("{s}s"),
        s if s < 7_200 => format!("{}m", s / 60),
        s if s < 172_800 => format!("{}h", s / 3_600),
        s => format!("{}d", s / 86_400),
    }
}

/// A progress bar on stderr: redrawn in place on a terminal, one final line otherwise.
struct Progress {
    label: String,
    total: u64,
    live: bool,
}

impl Progress {
    const WIDTH: u64 = 30;

    fn new(label: &str, total: u64) -> Self {
        Self {
            label: label.to_owned(),
            total,
            live: std::io::stderr().is_terminal(),
        }
    }

    fn line(&self, done: u64) -> String {
        let filled = (done.min(self.total) * Self::WIDTH)
            .checked_div(self.total)
            .unwrap_or(Self::WIDTH);
        format!(
            "{} [{}{}] {done}/{}",
            self.label,
            "#".repeat(usize::try_from(filled).unwrap_or(0)),
            "-".repeat(usize::try_from(Self::WIDTH - filled).unwrap_or(0)),
            self.total
        )
    }

    fn show(&mut self, done: u64) {
        if self.live {
            eprint!("\r{}", self.line(done));
            std::io::stderr().flush().ok();
        }
    }

    fn finish(&mut self, done: u64, destination: &str) {
        if self.live {
            eprintln!("\r{}", self.line(done));
        } else {
            eprintln!("{}", self.line(done));
        }
        println!("moved {done} message(s) back to {destination}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bar_fills_in_proportion() {
        let bar = Progress {
            label: "inbound-dlq".into(),
            total: 4,
            live: false,
        };
        assert_eq!(
            bar.line(2),
            format!("inbound-dlq [{}{}] 2/4", "#".repeat(15), "-".repeat(15))
        );
        assert!(bar
            .line(9)
            .starts_with(&format!("inbound-dlq [{}]", "#".repeat(30))));
    }

    #[test]
    fn ages_read_in_the_largest_sensible_unit() {
        assert_eq!(age(59), "59s");
        assert_eq!(age(600), "10m");
        assert_eq!(age(7_200), "2h");
        assert_eq!(age(3 * 86_400), "3d");
    }
}
