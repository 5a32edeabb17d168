//! `send text|template`: one CRM command on `crm-commands.fifo` as a CRM puts it (group = the
//! recipient, deduplication id = `command_id`), then its outcome.
//!
//! The outcome is read from the command's outbox record (`cmd:<command_id>`), which holds the
//! very event the sender publishes: waiting consumes nothing from `crm-events.fifo`, so the CRM
//! (or `events tail`) still gets every event.

use std::time::{Duration, Instant};

use serde_json::{json, Value};
use shared::queue::{MessageSink, OutboundMessage, SqsSink};
use shared::store::dynamo::DynamoStore;
use shared::store::OutboxStore;

use crate::cli::{SendArgs, SendCommand};
use crate::error::CliError;
use crate::events::readable;
use crate::target::{Queue, Target};

const POLL: Duration = Duration::from_millis(250);

pub async fn run(target: &Target, command: SendCommand) -> Result<(), CliError> {
    let (common, body) = match command {
        SendCommand::Text {
            common,
            body,
            preview_url,
        } => {
            let mut text = json!({ "body": body });
            if preview_url {
                text["preview_url"] = true.into();
            }
            (common, json!({ "type": "send_text", "text": text }))
        }
        SendCommand::Template {
            common,
            name,
            lang,
            params,
        } => {
            let mut template = json!({ "name": name, "language": { "code": lang } });
            if !params.is_empty() {
                let parameters: Vec<Value> = params
                    .into_iter()
                    .map(|p| json!({ "type": "text", "text": p }))
                    .collect();
                template["components"] = json!([{ "type": "body", "parameters": parameters }]);
            }
            (
                common,
                json!({ "type": "send_template", "template": template }),
            )
        }
    };
    let command = build(target, &common, body)?;
    let command_id = command["command_id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    enqueue(target, &common.to, &command).await?;
    if common.no_wait {
        println!("enqueued {command_id}");
        return Ok(());
    }
    let event = wait_for_outcome(target, &command_id, common.timeout).await?;
    if common.json {
        println!("{event}");
    } else {
        println!("{}", readable(&event));
    }
    match event["type"].as_str() {
        Some("command.accepted") => Ok(()),
        other => Err(CliError::Failed(format!(
            "command {command_id} ended as {}",
            other.unwrap_or("an event without a type")
        ))),
    }
}

/// The command's JSON: the envelope (fresh `command_id` unless given) plus the type's object.
fn build(target: &Target, common: &SendArgs, mut body: Value) -> Result<Value, CliError> {
    let command_id = match &common.command_id {
        Some(id) => id.clone(),
        None => format!("wa-bridge-{}", uuid::Uuid::new_v4().simple()),
    };
    body["command_id"] = command_id.into();
    body["phone_number_id"] = target.business(common.from.as_deref())?.into();
    body["to"] = common.to.clone().into();
    Ok(body)
}

async fn enqueue(target: &Target, to: &str, command: &Value) -> Result<(), CliError> {
    let url = target.queue_url(Queue::CrmCommands).await?;
    let sink = SqsSink::new(target.sqs.clone(), url);
    sink.send_all(vec![OutboundMessage {
        body: command.to_string(),
        group_id: Some(group_of(to)),
        dedup_id: command["command_id"].as_str().map(str::to_owned),
        attributes: Vec::new(),
    }])
    .await?;
    Ok(())
}

/// The FIFO group of a recipient: one per person whatever the format written (`wa:<canonical
/// digits>` or `uid:<user id>`); SQS allows only letters, digits and punctuation in it, so an
/// unreadable `to` (the sender rejects it) keeps just those.
fn group_of(to: &str) -> String {
    match sender::command::Recipient::parse(to) {
        Some(r) => r.rate_key(),
        None => {
            let kept: String = to
                .chars()
                .filter(char::is_ascii_graphic)
                .take(128)
                .collect();
            if kept.is_empty() {
                "invalid-recipient".to_owned()
            } else {
                kept
            }
        }
    }
}

/// Polls the outbox until the outcome is there; prints each deferral met on the way.
async fn wait_for_outcome(
    target: &Target,
    command_id: &str,
    timeout_s: u64,
) -> Result<Value, CliError> {
    let store = DynamoStore::new(target.dynamodb.clone(), target.table.clone());
    let deadline = Instant::now() + Duration::from_secs(timeout_s);
    let mut deferrals = 0u32;
    loop {
        if let Some(event) = outbox_event(&store, &format!("cmd:{command_id}")).await? {
            return Ok(event);
        }
        let next = format!("cmd:{command_id}#deferred:{}", deferrals + 1);
        if let Some(event) = outbox_event(&store, &next).await? {
            deferrals += 1;
            eprintln!("{}", readable(&event));
        }
        if Instant::now() >= deadline {
            return Err(CliError::Timeout {
                command_id: command_id.to_owned(),
                seconds: timeout_s,
            });
        }
        tokio::time::sleep(POLL).await;
    }
}

/// The first event of an outbox record, parsed.
async fn outbox_event(store: &DynamoStore, key: &str) -> Result<Option<Value>, CliError> {
    let Some(record) = store.load_outbox(key).await? else {
        return Ok(None);
    };
    Ok(record
        .events
        .first()
        .and_then(|e| serde_json::from_str(&e.body).ok()))
}

#[cfg(test)]
mod tests {
    use super::group_of;

    #[test]
    fn every_format_of_one_number_shares_one_group_of_characters_sqs_allows() {
        assert_eq!(group_of("+55 11 98765-4321"), "wa:5511987654321");
        assert_eq!(group_of("5511987654321"), "wa:5511987654321");
        assert_eq!(
            group_of("US.13491208655302741918"),
            "uid:US.13491208655302741918"
        );
        assert_eq!(group_of("(11) 98765 4321"), "(11)987654321");
        assert_eq!(group_of("  "), "invalid-recipient");
    }
}
