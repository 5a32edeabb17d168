//! Meta's timestamps are untrusted: one before 2009 or more than a day after the webhook received
//! the update is replaced by the receive time, in the window and in the events.

mod common;

use common::*;
use serde_json::Value;
use shared::events::rfc3339;
use shared::store::{
    keys, Commit, Direction, Expect, MessageRecord, OutboxStore, ProcessorStore, Write,
};

const PNID: &str = "106540352242922";
const OUTBOUND: &str = "wamid.HBgNOUTBOUNDAA==";
const RECEIVED_AT: i64 = RECEIVED_AT_MS / 1000;
/// 2009-01-01T00:00:00Z.
const EARLIEST: i64 = 1_230_768_000;
const DAY: i64 = 86_400;

fn text_at(ts: i64) -> String {
    with(
        &fixture("text"),
        "\"timestamp\":\"1749416383\"",
        &format!("\"timestamp\":\"{ts}\""),
    )
}

fn delivered_at(ts: i64) -> String {
    with(
        &fixture("status-delivered"),
        "\"timestamp\":\"1749416383\"",
        &format!("\"timestamp\":\"{ts}\""),
    )
}

/// The one `message.received` and the window it opened.
async fn received(ts: i64) -> (Value, Option<i64>) {
    let state = state();
    assert!(run(&state, &text_at(ts)).await.is_empty());
    let event = state.events.of_type("message.received")[0].clone();
    let contact_id = event["contact"]["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let conv = state
        .store
        .load_contact(PNID, &contact_id)
        .await
        .unwrap()
        .conversation
        .unwrap()
        .record;
    Schemas::load().check_all(&state.events.messages());
    (event, conv.window_expires_at)
}

/// The one `message.status` for a stored outbound message, and the status time stored with it.
async fn status(ts: i64) -> (Value, Option<i64>) {
    let state = state();
    let outcome = state
        .store
        .commit(Commit {
            outbox: None,
            writes: vec![Write::Message(
                MessageRecord {
                    wamid: OUTBOUND.into(),
                    business: PNID.into(),
                    direction: Direction::Outbound,
                    contact_id: None,
                    message_type: "text".into(),
                    timestamp: 1_230_000_000,
                    status: None,
                    status_at: None,
                    command_id: Some("cmd-1".into()),
                    template: None,
                    raw: None,
                    ttl: None,
                },
                Expect::Absent,
            )],
        })
        .await
        .unwrap();
    assert_eq!(outcome, shared::store::CommitOutcome::Applied);
    assert!(run(&state, &delivered_at(ts)).await.is_empty());
    let stored = state
        .store
        .get(&keys::message_pk(OUTBOUND), keys::MESSAGE)
        .unwrap_or_default();
    let event = state.events.of_type("message.status")[0].clone();
    Schemas::load().check_all(&state.events.messages());
    (event, stored["status_at"].as_i64())
}

#[tokio::test]
async fn a_message_timestamp_before_2009_is_replaced_by_the_receive_time() {
    let (event, window) = received(EARLIEST - 1).await;
    assert_eq!(event["occurred_at"], rfc3339(RECEIVED_AT));
    assert_eq!(event["data"]["timestamp"], rfc3339(RECEIVED_AT));
    assert_eq!(window, Some(RECEIVED_AT + DAY));
}

#[tokio::test]
async fn a_message_timestamp_more_than_a_day_ahead_is_replaced_by_the_receive_time() {
    let (event, window) = received(RECEIVED_AT + DAY + 1).await;
    assert_eq!(event["occurred_at"], rfc3339(RECEIVED_AT));
    assert_eq!(event["data"]["timestamp"], rfc3339(RECEIVED_AT));
    assert_eq!(window, Some(RECEIVED_AT + DAY));
}

#[tokio::test]
async fn a_message_timestamp_on_either_bound_is_kept() {
    let (event, window) = received(EARLIEST).await;
    assert_eq!(event["data"]["timestamp"], rfc3339(EARLIEST));
    assert_eq!(window, Some(EARLIEST + DAY));
    let (event, window) = received(RECEIVED_AT + DAY).await;
    assert_eq!(event["occurred_at"], rfc3339(RECEIVED_AT + DAY));
    assert_eq!(window, Some(RECEIVED_AT + 2 * DAY));
}

#[tokio::test]
async fn a_message_timestamp_far_beyond_any_date_is_replaced_not_overflowed() {
    let (event, window) = received(i64::MAX).await;
    assert_eq!(event["data"]["timestamp"], rfc3339(RECEIVED_AT));
    assert_eq!(window, Some(RECEIVED_AT + DAY));
}

#[tokio::test]
async fn a_status_timestamp_before_2009_is_replaced_by_the_receive_time() {
    let (event, stored) = status(EARLIEST - 1).await;
    assert_eq!(event["occurred_at"], rfc3339(RECEIVED_AT));
    assert_eq!(event["data"]["timestamp"], rfc3339(RECEIVED_AT));
    assert_eq!(stored, Some(RECEIVED_AT));
}

#[tokio::test]
async fn a_status_timestamp_more_than_a_day_ahead_is_replaced_by_the_receive_time() {
    let (event, stored) = status(RECEIVED_AT + DAY + 1).await;
    assert_eq!(event["occurred_at"], rfc3339(RECEIVED_AT));
    assert_eq!(event["data"]["timestamp"], rfc3339(RECEIVED_AT));
    assert_eq!(stored, Some(RECEIVED_AT));
}

#[tokio::test]
async fn a_status_timestamp_on_either_bound_is_kept() {
    let (event, stored) = status(EARLIEST).await;
    assert_eq!(event["data"]["timestamp"], rfc3339(EARLIEST));
    assert_eq!(stored, Some(EARLIEST));
    let (event, stored) = status(RECEIVED_AT + DAY).await;
    assert_eq!(event["occurred_at"], rfc3339(RECEIVED_AT + DAY));
    assert_eq!(stored, Some(RECEIVED_AT + DAY));
}
