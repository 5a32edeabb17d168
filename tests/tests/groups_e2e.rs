//! End-to-end through the runner and simulator: a participant's signed group message becomes
//! `message.received` with the group and the participant as contact and opens no window (a
//! free-form text to the participant is refused as `window_closed`); a status of a message sent
//! to a group reaches the CRM with the group; each group field posted twice is one `group.*`
//! event.

use std::time::Duration;

use e2e_tests::{
    deliver_statuses, meta_posts, of_type, send_commands, start_stack_with, CrmEvents, RunningStack,
};
use serde_json::{json, Value};

const PN: &str = "106540352242922";
const GROUP: &str = "Y2FwaV9ncm91cDoxNTU1MDc4Mzg4MToxMjAzNjM0MDQ2OTQyMzM4MjA=";
const PATIENCE: Duration = Duration::from_secs(120);
/// A short park time: the group's status is of a message this stack never sent.
const PARK_SECS: u64 = 3;

async fn stack() -> RunningStack {
    start_stack_with(&[], |o| {
        o.simulated_statuses = false;
        o.function_env
            .insert("EXTERNAL_STATUS_PARK_SECONDS".into(), PARK_SECS.to_string());
    })
    .await
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}

fn metadata() -> Value {
    json!({"display_phone_number": "15550783881", "phone_number_id": PN})
}

#[tokio::test]
async fn a_group_message_is_the_participant_s_with_the_group_and_opens_no_window() {
    let stack = stack().await;
    let crm = CrmEvents::of(&stack).await;
    let participant = "5511987650110";
    let message = json!({"messaging_product": "whatsapp", "metadata": metadata(),
        "contacts": [{"profile": {"name": "Bia"}, "wa_id": participant}],
        "messages": [{"from": participant, "group_id": GROUP, "id": "wamid.GROUPE2E01==",
                      "timestamp": now().to_string(), "type": "text",
                      "text": {"body": "Bom dia, grupo!"}}]});
    meta_posts(&stack, "messages", message.clone()).await;
    meta_posts(&stack, "messages", message).await; // Meta retries: still one event
    let events = crm.until("message.received", 1, PATIENCE).await;
    let received = of_type(&events, "message.received");
    assert_eq!(received.len(), 1, "{events:#?}");
    assert_eq!(received[0]["data"]["group"]["id"], GROUP);
    assert_eq!(received[0]["contact"]["phone"], format!("+{participant}"));

    // No window opened: a free-form text to the participant is refused before any send.
    send_commands(
        &stack,
        &[
            json!({"command_id": "cmd-to-participant", "type": "send_text",
                 "phone_number_id": PN, "to": format!("+{participant}"),
                 "text": {"body": "Olá Bia"}}),
        ],
    )
    .await;
    let events = crm.until("command.rejected", 1, PATIENCE).await;
    let rejected = of_type(&events, "command.rejected");
    assert_eq!(rejected.len(), 1, "{events:#?}");
    assert_eq!(rejected[0]["data"]["reason"], "window_closed");
    assert!(of_type(&events, "window.expiring").is_empty());
    stack.shutdown().await;
}

#[tokio::test]
async fn a_group_s_status_and_each_group_field_reach_the_crm_once() {
    let stack = stack().await;
    let crm = CrmEvents::of(&stack).await;
    let t = now().to_string();
    deliver_statuses(
        &stack,
        json!([{"id": "wamid.TOGROUP01==", "status": "sent", "timestamp": t,
                "recipient_id": GROUP, "recipient_type": "group",
                "pricing": {"billable": true, "pricing_model": "PMP", "category": "group_utility",
                            "type": "regular"}}]),
    )
    .await;
    let entry = |extra: Value| {
        let mut g = json!({"timestamp": t, "group_id": GROUP});
        if let (Some(g), Some(extra)) = (g.as_object_mut(), extra.as_object()) {
            g.extend(extra.clone());
        }
        json!({"messaging_product": "whatsapp", "metadata": metadata(), "groups": [g]})
    };
    let changes = [
        (
            "group_lifecycle_update",
            entry(json!({"type": "group_create", "request_id": "req-e2e-1",
                         "subject": "Clientes VIP", "invite_link": "https://chat.whatsapp.com/E2E"})),
        ),
        (
            "group_participants_update",
            entry(
                json!({"type": "group_participants_add", "reason": "invite_link",
                         "added_participants": [{"wa_id": "5511987650111"}]}),
            ),
        ),
        (
            "group_settings_update",
            entry(
                json!({"type": "group_settings_update", "request_id": "req-e2e-2",
                         "group_subject": {"text": "Clientes VIP 2026", "update_successful": true}}),
            ),
        ),
        (
            "group_status_update",
            entry(json!({"type": "group_suspend"})),
        ),
    ];
    for (field, value) in &changes {
        meta_posts(&stack, field, value.clone()).await;
        meta_posts(&stack, field, value.clone()).await;
    }
    let events = crm.until("group.status_update", 1, PATIENCE).await;
    let mut events = events;
    events.extend(
        crm.until("message.status", 1, Duration::from_secs(PARK_SECS + 60))
            .await,
    );
    for (field, _) in &changes {
        let event_type = format!("group.{}", field.trim_start_matches("group_"));
        let seen = of_type(&events, &event_type);
        assert_eq!(seen.len(), 1, "{event_type}: {events:#?}");
        assert_eq!(seen[0]["data"]["group_id"], GROUP);
        assert_eq!(seen[0]["phone_number_id"], PN);
    }
    assert_eq!(
        of_type(&events, "group.status_update")[0]["data"]["suspended"],
        true
    );
    let statuses = of_type(&events, "message.status");
    assert_eq!(statuses.len(), 1, "{events:#?}");
    assert_eq!(statuses[0]["data"]["group"]["id"], GROUP);
    assert_eq!(statuses[0]["data"]["origin"], "external");
    assert_eq!(statuses[0]["data"]["pricing"]["category"], "group_utility");
    assert_eq!(statuses[0]["contact"], Value::Null);
    stack.shutdown().await;
}
