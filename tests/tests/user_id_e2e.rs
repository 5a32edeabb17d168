//! End-to-end through the runner and simulator: identity by business-scoped user id. A person
//! known only by user id changes it and stays the same contact, still opted out; Meta reporting
//! the change again (or both ways) says nothing new; a phone and a user id of one person stay
//! one contact; an authentication template never goes to a user id.

use std::time::Duration;

use e2e_tests::{
    customer_writes, meta_posts, of_type, send_commands, start_stack, CrmEvents, RunningStack,
};
use serde_json::{json, Value};

const PN: &str = "106540352242922";
const PATIENCE: Duration = Duration::from_secs(120);

fn now_secs(stack: &RunningStack) -> String {
    (stack.now_ms() / 1000).to_string()
}

/// A `messages` change value as Meta sends it.
fn messages(contacts: Value, message: Value) -> Value {
    let mut value = json!({"messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550783881", "phone_number_id": PN},
        "messages": [message]});
    if !contacts.is_null() {
        value["contacts"] = contacts;
    }
    value
}

/// A username user (no number shared) writes `text`.
fn user_id_writes(stack: &RunningStack, user_id: &str, wamid: &str, text: &str) -> Value {
    messages(
        json!([{"profile": {"name": "Ana", "username": "@ana.compras"}, "user_id": user_id}]),
        json!({"from_user_id": user_id, "id": wamid, "timestamp": now_secs(stack),
               "type": "text", "text": {"body": text}}),
    )
}

/// Meta's `system` notice that `old` is now `new`.
fn user_id_changed(stack: &RunningStack, old: &str, new: &str, wamid: &str) -> Value {
    messages(
        Value::Null,
        json!({"from_user_id": old, "id": wamid, "timestamp": now_secs(stack), "type": "system",
               "system": {"body": format!("User Ana changed from {old} to {new}"),
                          "user_id": new, "type": "user_changed_user_id"}}),
    )
}

/// Meta approved template `name` in `category`.
async fn approved(stack: &RunningStack, crm: &CrmEvents, name: &str, category: &str, n: usize) {
    meta_posts(
        stack,
        "message_template_status_update",
        json!({"event": "APPROVED", "message_template_id": 594_425_479_261_596_i64,
               "message_template_name": name, "message_template_language": "pt_BR",
               "reason": "NONE", "message_template_category": category}),
    )
    .await;
    crm.until("template.status", n, PATIENCE).await;
}

fn template(id: &str, to: &str, name: &str) -> Value {
    json!({"command_id": id, "type": "send_template", "phone_number_id": PN, "to": to,
           "template": {"name": name, "language": {"code": "pt_BR"}}})
}

fn contact_id(event: &Value) -> &str {
    event["contact"]["id"].as_str().unwrap_or_default()
}

#[tokio::test]
async fn a_person_known_only_by_user_id_changes_it_and_stays_one_contact_still_opted_out() {
    const OLD: &str = "BR.13491208655302741001";
    const NEW: &str = "BR.20871635530274191001";
    let stack = start_stack(&[]).await;
    let crm = CrmEvents::of(&stack).await;
    meta_posts(
        &stack,
        "messages",
        user_id_writes(&stack, OLD, "wamid.E2EUID1==", "PARAR"),
    )
    .await;
    let opted = crm.until("contact.opted_out", 1, PATIENCE).await;
    let opted = of_type(&opted, "contact.opted_out");
    assert_eq!(opted.len(), 1, "{opted:#?}");
    let id = contact_id(opted[0]).to_owned();
    assert_eq!(
        opted[0]["contact"]["phone"],
        Value::Null,
        "known only by user id"
    );

    meta_posts(
        &stack,
        "messages",
        user_id_changed(&stack, OLD, NEW, "wamid.E2EUIDSYS=="),
    )
    .await;
    let changed = crm.until("contact.user_id_changed", 1, PATIENCE).await;
    let changed = of_type(&changed, "contact.user_id_changed");
    assert_eq!(changed.len(), 1, "{changed:#?}");
    assert_eq!(contact_id(changed[0]), id, "same contact.id");
    assert_eq!(changed[0]["data"]["previous_user_id"], OLD);
    assert_eq!(changed[0]["data"]["user_id"], NEW);
    assert_eq!(changed[0]["contact"]["user_id"], NEW);
    assert_eq!(changed[0]["contact"]["username"], "@ana.compras");

    // Meta says it again, and through the user_id_update field: nothing new.
    meta_posts(
        &stack,
        "messages",
        user_id_changed(&stack, OLD, NEW, "wamid.E2EUIDSYS=="),
    )
    .await;
    meta_posts(
        &stack,
        "user_id_update",
        json!({"messaging_product": "whatsapp",
               "metadata": {"display_phone_number": "15550783881", "phone_number_id": PN},
               "contacts": [{"profile": {"name": "Ana"}}],
               "user_id_update": [{"detail": "User id for Ana has been updated.",
                                   "user_id": {"previous": OLD, "current": NEW},
                                   "timestamp": now_secs(&stack)}]}),
    )
    .await;

    // A marketing template to them, by their new user id, is still refused.
    approved(&stack, &crm, "promo_uid", "MARKETING", 1).await;
    send_commands(&stack, &[template("cmd-uid-promo", NEW, "promo_uid")]).await;
    let events = crm.until("command.rejected", 1, PATIENCE).await;
    let rejected = of_type(&events, "command.rejected");
    assert_eq!(rejected.len(), 1, "{events:#?}");
    assert_eq!(rejected[0]["data"]["command_id"], "cmd-uid-promo");
    assert_eq!(rejected[0]["data"]["reason"], "opted_out");
    assert_eq!(
        contact_id(rejected[0]),
        id,
        "the same contact, consent and all"
    );
    assert!(
        of_type(&events, "contact.user_id_changed").is_empty(),
        "the repeated reports said nothing new: {events:#?}"
    );
    assert!(
        stack.simulator.requests().is_empty(),
        "nothing reached Meta"
    );
    stack.shutdown().await;
}

#[tokio::test]
async fn an_authentication_template_to_a_user_id_is_rejected_before_meta_and_a_utility_one_goes_by_recipient(
) {
    const UID: &str = "BR.13491208655302741002";
    let stack = start_stack(&[]).await;
    let crm = CrmEvents::of(&stack).await;
    meta_posts(
        &stack,
        "messages",
        user_id_writes(&stack, UID, "wamid.E2EUID2==", "oi"),
    )
    .await;
    crm.until("message.received", 1, PATIENCE).await;
    approved(&stack, &crm, "codigo_acesso", "AUTHENTICATION", 1).await;
    approved(&stack, &crm, "pedido_enviado", "UTILITY", 1).await;

    send_commands(&stack, &[template("cmd-uid-otp", UID, "codigo_acesso")]).await;
    let events = crm.until("command.rejected", 1, PATIENCE).await;
    let rejected = of_type(&events, "command.rejected");
    assert_eq!(rejected.len(), 1, "{events:#?}");
    assert_eq!(rejected[0]["data"]["reason"], "authentication_to_user_id");
    let message = rejected[0]["data"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("131062"), "{message}");
    assert!(stack.simulator.requests().is_empty(), "no Graph call");

    send_commands(
        &stack,
        &[template("cmd-uid-utility", UID, "pedido_enviado")],
    )
    .await;
    let events = crm.until("command.accepted", 1, PATIENCE).await;
    assert_eq!(of_type(&events, "command.accepted").len(), 1, "{events:#?}");
    let requests = stack.simulator.requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].body["recipient"], UID);
    assert!(requests[0].body.get("to").is_none());
    stack.shutdown().await;
}

#[tokio::test]
async fn a_phone_and_a_user_id_of_one_person_stay_one_contact_through_a_user_id_update() {
    const OLD: &str = "BR.13491208655302741003";
    const NEW: &str = "BR.20871635530274191003";
    const PHONE: &str = "5511987650077";
    let stack = start_stack(&[]).await;
    let crm = CrmEvents::of(&stack).await;
    // Known by phone; then Meta sends phone and user id together; then the user id alone.
    customer_writes(&stack, json!({"from": PHONE, "name": "Rui", "text": "oi"})).await;
    customer_writes(
        &stack,
        json!({"from": PHONE, "name": "Rui", "text": "tudo bem?", "user_id": OLD}),
    )
    .await;
    crm.until("message.received", 2, PATIENCE).await;
    meta_posts(
        &stack,
        "messages",
        user_id_writes(&stack, OLD, "wamid.E2EUID3==", "e aí"),
    )
    .await;
    let first = crm.until("message.received", 1, PATIENCE).await;
    let alone = of_type(&first, "message.received");
    assert_eq!(alone.len(), 1, "{first:#?}");
    assert_eq!(
        alone[0]["contact"]["phone"],
        format!("+{PHONE}"),
        "one contact"
    );
    assert_eq!(alone[0]["contact"]["username"], "@ana.compras");
    let id = contact_id(alone[0]).to_owned();

    meta_posts(
        &stack,
        "user_id_update",
        json!({"messaging_product": "whatsapp",
               "metadata": {"display_phone_number": "15550783881", "phone_number_id": PN},
               "contacts": [{"profile": {"name": "Rui"}, "wa_id": PHONE}],
               "user_id_update": [{"wa_id": PHONE, "detail": "User id for Rui has been updated.",
                                   "user_id": {"previous": OLD, "current": NEW},
                                   "parent_user_id": {"previous": "BR.ENT.1", "current": "BR.ENT.2"},
                                   "timestamp": now_secs(&stack)}]}),
    )
    .await;
    let changed = crm.until("contact.user_id_changed", 1, PATIENCE).await;
    let changed = of_type(&changed, "contact.user_id_changed");
    assert_eq!(changed.len(), 1);
    assert_eq!(contact_id(changed[0]), id);
    assert_eq!(changed[0]["data"]["wamid"], Value::Null);
    assert_eq!(changed[0]["contact"]["parent_user_id"], "BR.ENT.2");

    meta_posts(
        &stack,
        "messages",
        user_id_writes(&stack, NEW, "wamid.E2EUID4==", "voltei"),
    )
    .await;
    let after = crm.until("message.received", 1, PATIENCE).await;
    let after = of_type(&after, "message.received");
    assert_eq!(after.len(), 1);
    assert_eq!(
        contact_id(after[0]),
        id,
        "the new user id alone finds the contact"
    );
    stack.shutdown().await;
}
