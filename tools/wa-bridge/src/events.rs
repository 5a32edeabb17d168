//! `events tail`: `crm-events.fifo` read as a CRM reads it, one readable line per event (time,
//! type, contact masked, the gist) or the event's JSON.

use std::io::Write;
use std::time::{Duration, Instant};

use aws_sdk_sqs::types::{
    ChangeMessageVisibilityBatchRequestEntry, DeleteMessageBatchRequestEntry,
};
use sender::command::Recipient;
use serde_json::Value;
use shared::identity::WaId;
use shared::telemetry::{mask_phone, mask_wamid};

use crate::cli::TailArgs;
use crate::error::CliError;
use crate::target::{Queue, Target};

/// Longest text shown in a readable line, in characters.
const GIST_CHARS: usize = 80;

pub async fn tail(target: &Target, args: TailArgs) -> Result<(), CliError> {
    let url = target.queue_url(Queue::CrmEvents).await?;
    let contact = args.contact.as_deref().map(ContactFilter::new);
    let deadline = args
        .seconds
        .map(|s| Instant::now() + Duration::from_secs(s));
    let mut printed = 0usize;
    loop {
        let want = args
            .max
            .map_or(10, |m| m.saturating_sub(printed).clamp(1, 10));
        let mut receive = target
            .sqs
            .receive_message()
            .queue_url(&url)
            .max_number_of_messages(i32::try_from(want).unwrap_or(10))
            .message_attribute_names("All")
            .wait_time_seconds(if args.peek { 1 } else { 2 });
        if args.peek {
            receive = receive.visibility_timeout(0);
        }
        let out = receive
            .send()
            .await
            .map_err(|e| target.sqs_error("ReceiveMessage", e))?;
        let mut done = Vec::new();
        let mut release = Vec::new();
        for (i, message) in out.messages().iter().enumerate() {
            let body = message.body().unwrap_or_default();
            let event: Option<Value> = serde_json::from_str(body).ok();
            let wanted = match &event {
                Some(e) => {
                    args.kind.as_deref().is_none_or(|k| e["type"] == k)
                        && contact.as_ref().is_none_or(|c| c.matches(e))
                }
                // Not JSON: shown as it is unless a filter asks for something it cannot match.
                None => args.kind.is_none() && contact.is_none(),
            };
            let within_max = args.max.is_none_or(|m| printed < m);
            if wanted && within_max {
                match &event {
                    Some(e) if !args.json => println!("{}", readable(e)),
                    _ => println!("{body}"),
                }
                printed += 1;
            }
            // Past --max: released at once for the next reader, not consumed.
            if !within_max {
                release.push(
                    ChangeMessageVisibilityBatchRequestEntry::builder()
                        .id(i.to_string())
                        .set_receipt_handle(message.receipt_handle().map(str::to_owned))
                        .visibility_timeout(0)
                        .build()
                        .map_err(|e| CliError::Aws {
                            operation: "ChangeMessageVisibilityBatch",
                            source: Box::new(e),
                        })?,
                );
            } else {
                done.push(
                    DeleteMessageBatchRequestEntry::builder()
                        .id(i.to_string())
                        .set_receipt_handle(message.receipt_handle().map(str::to_owned))
                        .build()
                        .map_err(|e| CliError::Aws {
                            operation: "DeleteMessageBatch",
                            source: Box::new(e),
                        })?,
                );
            }
        }
        // Printed lines reach the terminal (or pipe) before their events are deleted.
        std::io::stdout().flush().ok();
        if !args.peek && !done.is_empty() {
            target
                .sqs
                .delete_message_batch()
                .queue_url(&url)
                .set_entries(Some(done))
                .send()
                .await
                .map_err(|e| target.sqs_error("DeleteMessageBatch", e))?;
        }
        if !args.peek && !release.is_empty() {
            target
                .sqs
                .change_message_visibility_batch()
                .queue_url(&url)
                .set_entries(Some(release))
                .send()
                .await
                .map_err(|e| target.sqs_error("ChangeMessageVisibilityBatch", e))?;
        }
        let finished = args.peek
            || args.max.is_some_and(|m| printed >= m)
            || deadline.is_some_and(|d| Instant::now() >= d);
        if finished {
            return Ok(());
        }
    }
}

/// Matches an event's contact by id, user id or phone number (any format, identity rules).
struct ContactFilter {
    raw: String,
    canonical: Option<String>,
}

impl ContactFilter {
    fn new(raw: &str) -> Self {
        let canonical = match Recipient::parse(raw) {
            Some(Recipient::Phone(w)) => Some(w.canonical()),
            _ => None,
        };
        Self {
            raw: raw.trim().to_owned(),
            canonical,
        }
    }

    fn matches(&self, event: &Value) -> bool {
        let contact = &event["contact"];
        if contact["id"] == self.raw.as_str() || contact["user_id"] == self.raw.as_str() {
            return true;
        }
        let Some(want) = &self.canonical else {
            return false;
        };
        ["wa_id", "phone"].iter().any(|field| {
            contact[field]
                .as_str()
                .and_then(WaId::parse)
                .is_some_and(|w| &w.canonical() == want)
        })
    }
}

/// One line: `<occurred_at>  <type>  <contact, masked>  <gist>`.
pub fn readable(event: &Value) -> String {
    let kind = event["type"].as_str().unwrap_or("?");
    format!(
        "{}  {kind:<20} {:<16} {}",
        event["occurred_at"].as_str().unwrap_or("-"),
        contact(&event["contact"]),
        gist(kind, &event["data"]),
    )
}

/// The contact as a person reading over the operator's shoulder may see it.
fn contact(c: &Value) -> String {
    if let Some(phone) = c["phone"].as_str().or_else(|| c["wa_id"].as_str()) {
        return mask_phone(phone);
    }
    if let Some(uid) = c["user_id"].as_str() {
        return uid.to_owned();
    }
    c["id"].as_str().unwrap_or("-").to_owned()
}

fn gist(kind: &str, d: &Value) -> String {
    let mut parts: Vec<String> = Vec::new();
    let field = |parts: &mut Vec<String>, name: &str, value: &Value| match value {
        Value::Null => {}
        Value::String(s) => parts.push(format!("{name}={s}")),
        other => parts.push(format!("{name}={other}")),
    };
    match kind {
        "message.received" => {
            field(&mut parts, "type", &d["type"]);
            if let Some(text) = d["text"].as_str() {
                parts.push(format!("\"{}\"", shorten(text)));
            }
            if let Some(media) = d["media"]["kind"].as_str() {
                parts.push(format!("media={media}"));
            }
        }
        "message.status" => {
            field(&mut parts, "status", &d["status"]);
            field(&mut parts, "command_id", &d["command_id"]);
            field(&mut parts, "origin", &d["origin"]);
            if let Some(w) = d["wamid"].as_str() {
                parts.push(mask_wamid(w));
            }
            for e in d["errors"].as_array().into_iter().flatten() {
                field(&mut parts, "error", &e["code"]);
            }
        }
        "command.accepted" => {
            field(&mut parts, "command_id", &d["command_id"]);
            field(&mut parts, "command_type", &d["command_type"]);
            if let Some(w) = d["wamid"].as_str() {
                parts.push(mask_wamid(w));
            }
            if d["fallback_used"] == true {
                parts.push("fallback_used".into());
            }
        }
        "command.rejected" | "command.failed" => {
            field(&mut parts, "command_id", &d["command_id"]);
            field(&mut parts, "reason", &d["reason"]);
            field(&mut parts, "code", &d["code"]);
            field(&mut parts, "field", &d["field"]);
            if let Some(m) = d["message"].as_str().or_else(|| d["title"].as_str()) {
                parts.push(format!("\"{}\"", shorten(m)));
            }
        }
        "command.deferred" => {
            field(&mut parts, "command_id", &d["command_id"]);
            field(&mut parts, "reason", &d["reason"]);
            field(&mut parts, "not_before", &d["not_before"]);
            field(&mut parts, "attempt", &d["attempt"]);
        }
        "window.expiring" | "window.expired" => {
            field(&mut parts, "expires_at", &d["expires_at"]);
            field(&mut parts, "lead_minutes", &d["lead_minutes"]);
            field(&mut parts, "awaiting_reply", &d["awaiting_reply"]);
        }
        "contact.opted_out" | "contact.opted_in" => {
            field(&mut parts, "source", &d["source"]);
            field(&mut parts, "effective", &d["effective"]);
        }
        "contact.number_changed" => {
            if let Some(p) = d["phone"].as_str() {
                parts.push(format!("now {}", mask_phone(p)));
            }
        }
        k if k.starts_with("call.") => {
            field(&mut parts, "direction", &d["direction"]);
            field(&mut parts, "status", &d["status"]);
            field(&mut parts, "duration", &d["duration"]);
        }
        _ => {
            field(&mut parts, "field", &d["field"]);
            field(&mut parts, "event", &d["event"]);
            field(
                &mut parts,
                "message_template_name",
                &d["message_template_name"],
            );
        }
    }
    parts.join(" ")
}

fn shorten(text: &str) -> String {
    let one_line: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if one_line.chars().count() <= GIST_CHARS {
        return one_line;
    }
    let mut short: String = one_line.chars().take(GIST_CHARS - 1).collect();
    short.push('…');
    short
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn received() -> Value {
        json!({"event_id":"ev_1","type":"message.received","occurred_at":"2025-06-08T20:59:43Z",
               "contact":{"id":"ct_1","wa_id":"5511987654321","phone":"+5511987654321","user_id":null,"name":"João"},
               "data":{"type":"text","text":"Olá! Tem em azul?","wamid":"wamid.HBgNTEXTAA=="}})
    }

    #[test]
    fn a_readable_line_masks_the_phone_and_leaves_the_name_out() {
        let line = readable(&received());
        assert!(line.contains("+55119****4321"), "{line}");
        assert!(line.contains("message.received"), "{line}");
        assert!(line.contains("\"Olá! Tem em azul?\""), "{line}");
        assert!(!line.contains("5511987654321"), "{line}");
        assert!(!line.contains("João"), "{line}");
    }

    #[test]
    fn an_outcome_line_names_the_command_and_masks_the_wamid() {
        let line = readable(&json!({"type":"command.accepted","occurred_at":"t",
            "contact":{"id":"ct_1","phone":"+5511987654321"},
            "data":{"command_id":"reply-1","command_type":"send_text","wamid":"wamid.HBgNNTUxMTk4NzY1NDMyMRUCABEYEjQ2"}}));
        assert!(line.contains("command_id=reply-1"), "{line}");
        assert!(line.contains("wamid.…"), "{line}");
        assert!(!line.contains("NTUxMTk4NzY1NDMyMRUCABEYEjQ2"), "{line}");
    }

    #[test]
    fn a_long_or_multiline_text_is_cut_to_one_short_line() {
        let text = format!("first\nsecond {}", "x".repeat(200));
        let short = shorten(&text);
        assert!(!short.contains('\n'));
        assert_eq!(short.chars().count(), GIST_CHARS);
    }

    #[test]
    fn the_contact_filter_takes_any_phone_format_the_id_or_the_user_id() {
        let e = received();
        assert!(ContactFilter::new("+55 11 98765-4321").matches(&e));
        assert!(
            ContactFilter::new("551187654321").matches(&e),
            "Brazil without the ninth digit"
        );
        assert!(ContactFilter::new("ct_1").matches(&e));
        assert!(!ContactFilter::new("+55 11 98765-0000").matches(&e));
        assert!(!ContactFilter::new("ct_2").matches(&e));
    }
}
