//! `contact show`: what the state table holds about one person on one business number, read
//! through the store's own read paths (aliases, contact and conversation) and its attribute
//! decoding (consent ledger, messages).

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use sender::command::Recipient;
use serde::de::DeserializeOwned;
use serde_json::{json, Value};
use shared::events::rfc3339;
use shared::identity::Identity;
use shared::store::dynamo::{from_attr, DynamoStore};
use shared::store::{
    keys, AliasRecord, ConsentRecord, ContactRecord, ConversationRecord, MessageRecord,
    ProcessorStore,
};
use shared::telemetry::{mask_phone, mask_wamid};

use crate::cli::ShowArgs;
use crate::error::CliError;
use crate::target::Target;

/// Everything `contact show` prints.
struct Shown {
    contact: ContactRecord,
    aliases: Vec<AliasRecord>,
    conversation: Option<ConversationRecord>,
    consent: Vec<ConsentRecord>,
    /// Newest first, at most `--messages`; with the item's sort key (`MESSAGE`, `EXTERNAL`).
    messages: Vec<(String, MessageRecord)>,
}

pub async fn show(target: &Target, args: ShowArgs) -> Result<(), CliError> {
    let business = target.business(args.from.as_deref())?;
    let store = DynamoStore::new(target.dynamodb.clone(), target.table.clone());
    let contact_id = find_contact_id(&store, &business, &args.who).await?;
    let state = store.load_contact(&business, &contact_id).await?;
    let Some(contact) = state.contact.map(|c| c.record) else {
        return Err(missing(&args.who, &business));
    };
    let identity = Identity::new(contact.wa_id.as_deref(), contact.user_id.as_deref());
    let aliases = store
        .find_aliases(&business, &identity.alias_keys())
        .await?
        .into_iter()
        .filter(|a| a.contact_id == contact.contact_id)
        .collect();
    let consent = consent_ledger(target, &business, &contact.contact_id).await?;
    let messages = if args.messages == 0 {
        Vec::new()
    } else {
        latest_messages(target, &contact.contact_id, args.messages).await?
    };
    let shown = Shown {
        contact,
        aliases,
        conversation: state.conversation.map(|c| c.record),
        consent,
        messages,
    };
    if args.json {
        println!("{}", as_json(&shown));
    } else {
        print!("{}", as_text(&shown, shared::now_ms() / 1000));
    }
    Ok(())
}

/// A contact id as given, or the one the identity's aliases point at (the processor's rules).
async fn find_contact_id(
    store: &DynamoStore,
    business: &str,
    who: &str,
) -> Result<String, CliError> {
    let who = who.trim();
    if who.starts_with("ct_") {
        return Ok(who.to_owned());
    }
    let identity = Recipient::parse(who)
        .ok_or_else(|| {
            CliError::Usage(
                "give a phone number with its country code, a business-scoped user id or a contact id (ct_…)".into(),
            )
        })?
        .identity();
    store
        .find_aliases(business, &identity.alias_keys())
        .await?
        .into_iter()
        .next()
        .map(|a| a.contact_id)
        .ok_or_else(|| missing(who, business))
}

fn missing(who: &str, business: &str) -> CliError {
    let who = match Recipient::parse(who) {
        Some(Recipient::Phone(w)) => mask_phone(&w.e164().unwrap_or_else(|| w.as_str().to_owned())),
        Some(r) => r.masked(),
        None => who.to_owned(),
    };
    CliError::ContactMissing {
        who,
        business: business.to_owned(),
    }
}

/// The contact's `CONSENT#…` items, oldest first (their sort key is time-ordered).
async fn consent_ledger(
    target: &Target,
    business: &str,
    contact_id: &str,
) -> Result<Vec<ConsentRecord>, CliError> {
    let mut out = Vec::new();
    let mut start = None;
    loop {
        let page = target
            .dynamodb
            .query()
            .table_name(&target.table)
            .key_condition_expression("pk = :pk AND begins_with(sk, :consent)")
            .expression_attribute_values(
                ":pk",
                AttributeValue::S(keys::contact_pk(business, contact_id)),
            )
            .expression_attribute_values(":consent", AttributeValue::S("CONSENT#".into()))
            .consistent_read(true)
            .set_exclusive_start_key(start.take())
            .send()
            .await
            .map_err(|e| target.dynamodb_error("Query", e))?;
        for item in page.items() {
            out.extend(decode::<ConsentRecord>(item));
        }
        match page.last_evaluated_key() {
            Some(k) if !k.is_empty() => start = Some(k.clone()),
            _ => return Ok(out),
        }
    }
}

/// The contact's messages, newest first: a filtered scan (the table has no per-contact index).
async fn latest_messages(
    target: &Target,
    contact_id: &str,
    limit: usize,
) -> Result<Vec<(String, MessageRecord)>, CliError> {
    let mut found = Vec::new();
    let mut start = None;
    loop {
        let page = target
            .dynamodb
            .scan()
            .table_name(&target.table)
            .filter_expression("begins_with(pk, :msg) AND contact_id = :contact")
            .expression_attribute_values(":msg", AttributeValue::S("MSG#".into()))
            .expression_attribute_values(":contact", AttributeValue::S(contact_id.to_owned()))
            .set_exclusive_start_key(start.take())
            .send()
            .await
            .map_err(|e| target.dynamodb_error("Scan", e))?;
        for item in page.items() {
            let sk = match item.get("sk") {
                Some(AttributeValue::S(s)) => s.clone(),
                _ => continue,
            };
            if let Some(m) = decode::<MessageRecord>(item) {
                found.push((sk, m));
            }
        }
        match page.last_evaluated_key() {
            Some(k) if !k.is_empty() => start = Some(k.clone()),
            _ => break,
        }
    }
    found.sort_by_key(|(_, m)| std::cmp::Reverse(m.timestamp));
    found.truncate(limit);
    Ok(found)
}

/// An item as its record type; one that does not fit is skipped (shown records stay readable).
fn decode<T: DeserializeOwned>(item: &HashMap<String, AttributeValue>) -> Option<T> {
    let value = Value::Object(
        item.iter()
            .map(|(k, v)| (k.clone(), from_attr(v)))
            .collect(),
    );
    serde_json::from_value(value).ok()
}

fn as_json(s: &Shown) -> Value {
    json!({
        "contact": s.contact,
        "aliases": s.aliases,
        "conversation": s.conversation,
        "consent": s.consent,
        "messages": s.messages.iter().map(|(sk, m)| {
            let mut v = serde_json::to_value(m).unwrap_or_default();
            v["item"] = sk.clone().into();
            v
        }).collect::<Vec<_>>(),
    })
}

fn time(unix: Option<i64>) -> String {
    unix.map_or_else(|| "-".to_owned(), rfc3339)
}

/// The readable form: phone numbers masked, no names, no message text.
fn as_text(s: &Shown, now: i64) -> String {
    let c = &s.contact;
    let mut out = String::new();
    let mut line = |l: String| {
        out.push_str(&l);
        out.push('\n');
    };
    line(format!(
        "contact    {} (business {})",
        c.contact_id, c.business
    ));
    line(format!(
        "  phone    {}",
        c.phone
            .as_deref()
            .map_or_else(|| "-".to_owned(), mask_phone)
    ));
    line(format!(
        "  user id  {}",
        c.user_id.as_deref().unwrap_or("-")
    ));
    if let Some(parent) = &c.parent_user_id {
        line(format!("  parent   {parent}"));
    }
    line(format!(
        "  aliases  {}",
        if s.aliases.is_empty() {
            "-".to_owned()
        } else {
            s.aliases
                .iter()
                .map(|a| mask_alias(&a.alias))
                .collect::<Vec<_>>()
                .join(", ")
        }
    ));
    match &s.conversation {
        None => line("window     never opened (the customer has not written)".into()),
        Some(w) => {
            let state = match (w.window_expires_at, w.window_closed_at) {
                (_, Some(closed)) => format!("closed by Meta (131047) at {}", rfc3339(closed)),
                (Some(e), None) if e > now => {
                    format!("open, {} left", duration(e - now))
                }
                (Some(_), None) => "closed".to_owned(),
                (None, None) => "never opened".to_owned(),
            };
            line(format!("window     {state}"));
            line(format!("  expires_at        {}", time(w.window_expires_at)));
            line(format!("  awaiting_reply    {}", w.awaiting_reply));
            line(format!("  last_inbound_at   {}", time(w.last_inbound_at)));
            line(format!("  last_outbound_at  {}", time(w.last_outbound_at)));
            if !w.alerted_leads.is_empty() {
                line(format!("  alerted_leads     {:?}", w.alerted_leads));
            }
        }
    }
    line(format!(
        "consent    marketing {}{}",
        if c.marketing_opt_out {
            "opted out"
        } else {
            "allowed"
        },
        c.consent_at
            .map(|t| format!(" (decided {})", rfc3339(t)))
            .unwrap_or_default()
    ));
    for e in &s.consent {
        line(format!(
            "  {}  {:?} via {:?} ({})",
            rfc3339(e.occurred_at),
            e.action,
            e.source,
            e.category
        ));
    }
    line(format!("messages   {} latest", s.messages.len()));
    for (sk, m) in &s.messages {
        let direction = match m.direction {
            shared::store::Direction::Inbound => "in ",
            shared::store::Direction::Outbound => "out",
        };
        let status = m.status.map_or("-", |st| st.as_str());
        let mut l = format!(
            "  {}  {direction} {:<12} {:<10} {}",
            rfc3339(m.timestamp),
            m.message_type,
            status,
            mask_wamid(&m.wamid)
        );
        if let Some(id) = &m.command_id {
            l.push_str(&format!(" command_id={id}"));
        }
        if sk == keys::EXTERNAL {
            l.push_str(" (sent outside the bridge)");
        }
        line(l);
    }
    out
}

/// `wa:5511987654321` → `wa:55119****4321`; user-id aliases as they are.
fn mask_alias(alias: &str) -> String {
    match alias.strip_prefix("wa:") {
        Some(digits) => format!("wa:{}", mask_phone(digits)),
        None => alias.to_owned(),
    }
}

fn duration(seconds: i64) -> String {
    format!("{}h{:02}m", seconds / 3600, (seconds % 3600) / 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shown() -> Shown {
        Shown {
            contact: ContactRecord {
                business: "106540352242922".into(),
                contact_id: "ct_0123".into(),
                wa_id: Some("5511987654321".into()),
                phone: Some("+5511987654321".into()),
                user_id: None,
                parent_user_id: Some("BR.ENT.99".into()),
                username: None,
                name: Some("João".into()),
                marketing_opt_out: false,
                consent_at: None,
                created_at_ms: 0,
                updated_at_ms: 0,
                ttl: None,
            },
            aliases: vec![AliasRecord {
                business: "106540352242922".into(),
                alias: "wa:5511987654321".into(),
                contact_id: "ct_0123".into(),
                ttl: None,
            }],
            conversation: Some(ConversationRecord {
                window_expires_at: Some(1_000 + 3_600 * 23 + 60 * 5),
                awaiting_reply: true,
                last_inbound_at: Some(1_000 - 3_600 + 300),
                ..ConversationRecord::default()
            }),
            consent: Vec::new(),
            messages: Vec::new(),
        }
    }

    #[test]
    fn the_readable_form_shows_the_open_window_and_masks_the_person() {
        let text = as_text(&shown(), 1_000);
        assert!(text.contains("open, 23h05m left"), "{text}");
        assert!(text.contains("awaiting_reply    true"), "{text}");
        assert!(text.contains("wa:55119****4321"), "{text}");
        assert!(!text.contains("5511987654321"), "{text}");
        assert!(!text.contains("João"), "{text}");
        assert!(text.contains("parent   BR.ENT.99"), "{text}");
    }

    #[test]
    fn a_window_past_its_expiry_reads_closed() {
        let text = as_text(&shown(), 1_000 + 3_600 * 24);
        assert!(text.contains("window     closed\n"), "{text}");
    }
}
