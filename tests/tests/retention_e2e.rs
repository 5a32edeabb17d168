//! End-to-end through the runner and simulator: every item kind the bridge writes has its TTL.
//! The real code paths write one of each (customer messages with a user id and a stop word, a
//! template's category, a reply with its attempt, clocks and statuses, a parked status, an echo,
//! a deferred template); then the whole table is scanned and each item is matched against
//! [`KINDS`] — key pattern → the setting that bounds its `ttl`. An item of no listed kind fails
//! the test, so a kind added later without a TTL (or without a line here) is caught. Then the
//! person writes again half a year later, by phone only: the profile's TTL moves, and every
//! alias — the user id's too — still outlives it, so no alias can go first and split them.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use e2e_tests::{
    customer_writes, deliver_statuses, of_type, send_commands, start_stack_with, CrmEvents,
    RunningStack,
};
use serde_json::json;

const PN: &str = "106540352242922";
const BUSINESS: &str = "15550783881";
const ANA: &str = "5511987650091";
const ANA_UID: &str = "BR.13491208655302749001";
const BRUNO: &str = "5511987650092";
/// Opts out, then is erased: what an erasure keeps must have its TTL too.
const CARLA: &str = "5511987650093";
const PATIENCE: Duration = Duration::from_secs(120);
const DAY: i64 = 86_400;

/// The settings this stack runs with: distinct, so a TTL from the wrong one shows.
const RETENTION_DAYS: i64 = 30;
const CONTACT_RETENTION_DAYS: i64 = 200;
const CONSENT_RETENTION_DAYS: i64 = 1500;
const AUDIT_RETENTION_DAYS: i64 = 400;
/// An alias outlives its contact by one refresh period (a tenth of the lifetime, at most 7 days).
const ALIAS_MARGIN_DAYS: i64 = 7;

/// How long an item of a kind may live, counted from the scan.
#[derive(Debug, Clone, Copy)]
enum Lifetime {
    /// At most this many days.
    Days(i64),
    /// `CONTACT_RETENTION_DAYS` plus `extra`, or `CONSENT_RETENTION_DAYS` plus `extra` for an
    /// opted-out contact (its opt-out is honoured as long as its proof is kept).
    Contact { extra: i64 },
    /// Holds no personal data: may live forever (a TTL is not required).
    Forever,
}

/// One item kind: `pk` starts with `pk`, `sk` starts with `sk`, and (for aliases) the alias
/// part of `pk` starts with `alias`.
struct Kind {
    name: &'static str,
    pk: &'static str,
    sk: &'static str,
    alias: Option<&'static str>,
    lifetime: Lifetime,
    /// Written only in a state the flow does not reach (an erasure short of time): checked when
    /// found, not required to be seen.
    transient: bool,
}

/// Every item kind of the state table. Add a line with each new kind.
const KINDS: &[Kind] = &[
    Kind {
        name: "contact profile",
        pk: "CONTACT#",
        sk: "PROFILE",
        alias: None,
        transient: false,
        lifetime: Lifetime::Contact { extra: 0 },
    },
    Kind {
        name: "conversation",
        pk: "CONTACT#",
        sk: "CONVERSATION",
        alias: None,
        transient: false,
        lifetime: Lifetime::Days(CONTACT_RETENTION_DAYS),
    },
    Kind {
        name: "consent ledger entry",
        pk: "CONTACT#",
        sk: "CONSENT#",
        alias: None,
        transient: false,
        lifetime: Lifetime::Days(CONSENT_RETENTION_DAYS),
    },
    Kind {
        name: "phone alias",
        pk: "ALIAS#",
        sk: "ALIAS",
        alias: Some("wa:"),
        transient: false,
        lifetime: Lifetime::Contact {
            extra: ALIAS_MARGIN_DAYS,
        },
    },
    Kind {
        name: "user id alias",
        pk: "ALIAS#",
        sk: "ALIAS",
        alias: Some("uid:"),
        transient: false,
        lifetime: Lifetime::Contact {
            extra: ALIAS_MARGIN_DAYS,
        },
    },
    Kind {
        name: "conversation alias",
        pk: "ALIAS#",
        sk: "ALIAS",
        alias: Some("conv:"),
        transient: false,
        lifetime: Lifetime::Days(CONTACT_RETENTION_DAYS),
    },
    Kind {
        name: "message",
        pk: "MSG#",
        sk: "MESSAGE",
        alias: None,
        transient: false,
        lifetime: Lifetime::Days(RETENTION_DAYS),
    },
    Kind {
        name: "parked status",
        pk: "MSG#",
        sk: "PARKED#",
        alias: None,
        transient: false,
        lifetime: Lifetime::Days(RETENTION_DAYS),
    },
    Kind {
        name: "external message",
        pk: "MSG#",
        sk: "EXTERNAL",
        alias: None,
        transient: false,
        lifetime: Lifetime::Days(RETENTION_DAYS),
    },
    Kind {
        name: "outbox",
        pk: "OUTBOX#",
        sk: "OUTBOX",
        alias: None,
        transient: false,
        lifetime: Lifetime::Days(RETENTION_DAYS),
    },
    Kind {
        name: "scheduled command",
        // Due (here a day away) + 7 days.
        pk: "CMD#",
        sk: "SCHEDULED",
        alias: None,
        transient: false,
        lifetime: Lifetime::Days(1 + 7),
    },
    Kind {
        name: "send attempt",
        pk: "CMD#",
        sk: "ATTEMPT",
        alias: None,
        transient: false,
        lifetime: Lifetime::Days(5),
    },
    Kind {
        name: "send clock or waiting line",
        pk: "RATE#",
        sk: "",
        alias: None,
        transient: false,
        lifetime: Lifetime::Days(1 + 1),
    },
    Kind {
        name: "pair-rate bucket",
        pk: "PAIR#",
        sk: "PAIR",
        alias: None,
        transient: false,
        lifetime: Lifetime::Days(1 + 1),
    },
    Kind {
        name: "audit",
        pk: "AUDIT#",
        sk: "",
        alias: None,
        transient: false,
        lifetime: Lifetime::Days(AUDIT_RETENTION_DAYS),
    },
    Kind {
        name: "kept consent entry",
        pk: "ERASED#",
        sk: "CONSENT#",
        alias: None,
        transient: false,
        lifetime: Lifetime::Days(CONSENT_RETENTION_DAYS),
    },
    Kind {
        name: "erasure progress",
        pk: "CMD#",
        sk: "ERASURE",
        alias: None,
        transient: true,
        lifetime: Lifetime::Days(7),
    },
    Kind {
        name: "template category",
        pk: "TEMPLATE#",
        sk: "CATEGORY",
        alias: None,
        transient: false,
        lifetime: Lifetime::Forever,
    },
];

fn kind_of(pk: &str, sk: &str) -> Option<&'static Kind> {
    KINDS.iter().find(|k| {
        pk.starts_with(k.pk)
            && sk.starts_with(k.sk)
            && k.alias.is_none_or(|a| {
                // ALIAS#<biz>#<alias>: the business never holds '#'.
                pk.splitn(3, '#').nth(2).is_some_and(|x| x.starts_with(a))
            })
    })
}

type Item = std::collections::HashMap<String, AttributeValue>;

fn s<'a>(item: &'a Item, name: &str) -> &'a str {
    match item.get(name) {
        Some(AttributeValue::S(v)) => v,
        _ => "",
    }
}

fn ttl(item: &Item) -> Option<i64> {
    match item.get("ttl") {
        Some(AttributeValue::N(n)) => n.parse().ok(),
        _ => None,
    }
}

async fn scan(stack: &RunningStack) -> Vec<Item> {
    let table = stack.provisioned.table_name("StateTable").expect("table");
    let ddb = aws_sdk_dynamodb::Client::new(&local_aws::local_sdk_config().await);
    let mut items = Vec::new();
    let mut start = None;
    loop {
        let out = ddb
            .scan()
            .table_name(table)
            .consistent_read(true)
            .set_exclusive_start_key(start.take())
            .send()
            .await
            .expect("Scan");
        items.extend(out.items().iter().cloned());
        match out.last_evaluated_key() {
            Some(k) if !k.is_empty() => start = Some(k.clone()),
            _ => break,
        }
    }
    items
}

/// Checks every item against [`KINDS`]; returns the kinds seen. `now` is the functions' clock.
fn check_every_item(items: &[Item], now: i64) -> BTreeSet<&'static str> {
    // Opted-out contacts, by partition: their profile and aliases live the consent retention.
    let opted_out: BTreeSet<String> = items
        .iter()
        .filter(|i| s(i, "sk") == "PROFILE")
        .filter(|i| matches!(i.get("marketing_opt_out"), Some(AttributeValue::Bool(true))))
        .map(|i| s(i, "contact_id").to_owned())
        .collect();
    // A write made just before the scan, on a clock a little ahead, is still within its bound.
    let slack = 600;
    let mut seen = BTreeSet::new();
    let mut problems = Vec::new();
    for item in items {
        let (pk, sk) = (s(item, "pk"), s(item, "sk"));
        let Some(kind) = kind_of(pk, sk) else {
            problems.push(format!("{pk} | {sk}: matches no item kind in KINDS"));
            continue;
        };
        seen.insert(kind.name);
        let days = match kind.lifetime {
            Lifetime::Forever => continue,
            Lifetime::Days(d) => d,
            Lifetime::Contact { extra } => {
                let base = if opted_out.contains(s(item, "contact_id")) {
                    CONSENT_RETENTION_DAYS
                } else {
                    CONTACT_RETENTION_DAYS
                };
                base + extra
            }
        };
        match ttl(item) {
            None => problems.push(format!("{pk} | {sk} ({}): no numeric ttl", kind.name)),
            Some(t) if t <= now => problems.push(format!(
                "{pk} | {sk} ({}): ttl {t} is not in the future ({now})",
                kind.name
            )),
            Some(t) if t > now + days * DAY + slack => problems.push(format!(
                "{pk} | {sk} ({}): ttl {} days away, more than {days}",
                kind.name,
                (t - now) / DAY
            )),
            Some(_) => {}
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    seen
}

async fn echo_posted(stack: &RunningStack, to: &str, wamid: &str, at: i64) {
    let value = json!({
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": BUSINESS, "phone_number_id": PN},
        "message_echoes": [{"from": BUSINESS, "to": to, "id": wamid, "timestamp": at.to_string(),
                            "type": "text", "text": {"body": "Enviado pelo app"}}]
    });
    e2e_tests::meta_posts(stack, "smb_message_echoes", value).await;
}

#[tokio::test]
async fn every_item_the_bridge_writes_has_a_ttl_within_its_setting_and_aliases_outlive_their_contact(
) {
    let stack = start_stack_with(&[], |o| {
        for (k, v) in [
            ("RETENTION_DAYS", RETENTION_DAYS),
            ("CONTACT_RETENTION_DAYS", CONTACT_RETENTION_DAYS),
            ("CONSENT_RETENTION_DAYS", CONSENT_RETENTION_DAYS),
            ("AUDIT_RETENTION_DAYS", AUDIT_RETENTION_DAYS),
            // A status of an unknown message stays parked for the scan.
            ("EXTERNAL_STATUS_PARK_SECONDS", 3600),
        ] {
            o.function_env.insert(k.into(), v.to_string());
        }
    })
    .await;
    let crm = CrmEvents::of(&stack).await;

    // Arrange: two customers write (one by phone and user id, one to stop marketing), Meta
    // reports a template's category, a status of a message nobody stored arrives, the business
    // answers from the app.
    customer_writes(
        &stack,
        json!({"from": ANA, "name": "Ana", "text": "Oi!", "user_id": ANA_UID}),
    )
    .await;
    customer_writes(
        &stack,
        json!({"from": BRUNO, "name": "Bruno", "text": "PARAR"}),
    )
    .await;
    customer_writes(
        &stack,
        json!({"from": CARLA, "name": "Carla", "text": "PARAR"}),
    )
    .await;
    let mut first = crm.until("contact.opted_out", 2, PATIENCE).await;
    e2e_tests::meta_posts(
        &stack,
        "message_template_status_update",
        json!({"event": "APPROVED", "message_template_id": 594_425_479_261_597_i64,
               "message_template_name": "promo_retencao", "message_template_language": "pt_BR",
               "reason": "NONE", "message_template_category": "MARKETING"}),
    )
    .await;
    let now_s = stack.now_ms() / 1000;
    deliver_statuses(
        &stack,
        json!([{"id": "wamid.RETENTIONPARKED==", "status": "delivered",
                "timestamp": now_s.to_string(), "recipient_id": ANA}]),
    )
    .await;
    echo_posted(&stack, ANA, "wamid.RETENTIONECHO==", now_s).await;
    first.extend(crm.until("message.echo", 1, PATIENCE).await);
    assert_eq!(of_type(&first, "message.received").len(), 3, "{first:#?}");
    assert_eq!(of_type(&first, "contact.opted_out").len(), 2, "{first:#?}");
    let ana_id = of_type(&first, "message.received")
        .iter()
        .find(|e| e["contact"]["wa_id"] == ANA)
        .map(|e| e["contact"]["id"].as_str().unwrap_or_default().to_owned())
        .expect("Ana's message.received");

    // Act: the CRM answers Ana (sent, with statuses) and sends a marketing template that meets
    // her marketing cap (deferred a day).
    stack
        .simulator
        .add_fault(serde_json::from_value(json!({"to": ANA, "code": 131049, "times": 1})).unwrap())
        .unwrap();
    send_commands(
        &stack,
        &[
            json!({"command_id": "cmd-ret-promo", "type": "send_template", "phone_number_id": PN,
                 "to": format!("+{ANA}"),
                 "template": {"name": "promo_retencao", "language": {"code": "pt_BR"}},
                 "expires_at": shared::events::rfc3339(now_s + 3 * DAY)}),
        ],
    )
    .await;
    crm.until("command.deferred", 1, PATIENCE).await;
    send_commands(
        &stack,
        &[
            json!({"command_id": "cmd-ret-reply", "type": "send_text", "phone_number_id": PN,
                 "to": format!("+{ANA}"), "text": {"body": "Olá, Ana!"}, "actor": "agent-7"}),
        ],
    )
    .await;
    let sent = crm.until("message.status", 3, PATIENCE).await;
    assert_eq!(of_type(&sent, "command.accepted").len(), 1, "{sent:#?}");
    send_commands(
        &stack,
        &[
            json!({"command_id": "cmd-ret-erase", "type": "erase_contact", "phone_number_id": PN,
                 "to": format!("+{CARLA}"), "actor": "dpo-1", "reason": "DSR-9"}),
        ],
    )
    .await;
    crm.until("contact.erased", 1, PATIENCE).await;

    // Assert: every item has its TTL, and every kind was written.
    let now = stack.now_ms() / 1000;
    let seen = check_every_item(&scan(&stack).await, now);
    let expected: BTreeSet<&str> = KINDS
        .iter()
        .filter(|k| !k.transient)
        .map(|k| k.name)
        .collect();
    assert_eq!(
        seen, expected,
        "the flow above writes an item of every kind"
    );

    // Act 2: half a year later Ana writes again, by phone only (no user id).
    stack
        .travel_in_time(Duration::from_secs(180 * 86_400))
        .expect("the functions' clock moves");
    let later = stack.now_ms() / 1000;
    customer_writes(
        &stack,
        json!({"from": ANA, "name": "Ana", "text": "Voltei", "timestamp": later}),
    )
    .await;
    let again = crm.until("message.received", 1, PATIENCE).await;
    let again = of_type(&again, "message.received");
    assert_eq!(again.len(), 1);
    assert_eq!(again[0]["contact"]["id"], ana_id.as_str(), "one person");

    // Assert 2: her profile lives from now, and each of her aliases past it.
    let items = scan(&stack).await;
    let profile_ttl = items
        .iter()
        .find(|i| s(i, "sk") == "PROFILE" && s(i, "contact_id") == ana_id)
        .and_then(ttl)
        .expect("Ana's profile with a ttl");
    assert!(
        profile_ttl >= later + CONTACT_RETENTION_DAYS * DAY - 600,
        "the profile's TTL moved with her activity: {} days left",
        (profile_ttl - later) / DAY
    );
    let aliases: BTreeMap<String, i64> = items
        .iter()
        .filter(|i| s(i, "sk") == "ALIAS" && s(i, "contact_id") == ana_id)
        .filter(|i| !s(i, "alias").starts_with("conv:"))
        .map(|i| (s(i, "alias").to_owned(), ttl(i).unwrap_or(0)))
        .collect();
    assert!(
        aliases.contains_key(&format!("uid:{ANA_UID}")) && aliases.len() >= 2,
        "{aliases:?}"
    );
    for (alias, t) in &aliases {
        assert!(
            *t >= profile_ttl,
            "alias {alias} would go {} s before the contact",
            profile_ttl - t
        );
    }
    stack.shutdown().await;
}

#[tokio::test]
async fn a_person_whose_phone_aliases_are_gone_is_found_again_by_the_deterministic_contact_id() {
    let stack = start_stack_with(&[], |_| {}).await;
    let crm = CrmEvents::of(&stack).await;
    customer_writes(&stack, json!({"from": ANA, "name": "Ana", "text": "Oi!"})).await;
    let first = crm.until("message.received", 1, PATIENCE).await;
    let first = of_type(&first, "message.received");
    let ana_id = first[0]["contact"]["id"]
        .as_str()
        .expect("contact id")
        .to_owned();

    // Her aliases go (as an expired TTL would take them); her profile stays.
    let table = stack.provisioned.table_name("StateTable").expect("table");
    let ddb = aws_sdk_dynamodb::Client::new(&local_aws::local_sdk_config().await);
    let gone: Vec<Item> = scan(&stack)
        .await
        .into_iter()
        .filter(|i| s(i, "sk") == "ALIAS" && s(i, "alias").starts_with("wa:"))
        .collect();
    assert!(!gone.is_empty());
    for item in &gone {
        ddb.delete_item()
            .table_name(table)
            .key("pk", AttributeValue::S(s(item, "pk").to_owned()))
            .key("sk", AttributeValue::S("ALIAS".into()))
            .send()
            .await
            .expect("DeleteItem");
    }

    customer_writes(
        &stack,
        json!({"from": ANA, "name": "Ana", "text": "De novo"}),
    )
    .await;
    let again = crm.until("message.received", 1, PATIENCE).await;
    let again = of_type(&again, "message.received");
    assert_eq!(again.len(), 1);
    assert_eq!(
        again[0]["contact"]["id"],
        ana_id.as_str(),
        "the same contact"
    );
    let items = scan(&stack).await;
    let profiles = items.iter().filter(|i| s(i, "sk") == "PROFILE").count();
    assert_eq!(profiles, 1, "no second contact");
    let restored = items
        .iter()
        .filter(|i| s(i, "sk") == "ALIAS" && s(i, "alias").starts_with("wa:"))
        .filter(|i| s(i, "contact_id") == ana_id && ttl(i).is_some())
        .count();
    assert_eq!(restored, gone.len(), "her aliases are back, with a TTL");
    stack.shutdown().await;
}
