//! A customer's media message queues its copy on `MediaQueue` (one `MediaJob`), after its
//! `message.received` was published, and again when a redelivery finds the commit applied.

mod common;

use common::*;
use serde_json::Value;
use shared::media::MediaJob;

fn jobs(state: &TestState) -> Vec<MediaJob> {
    state
        .media
        .messages()
        .iter()
        .map(|m| serde_json::from_str(&m.body).expect("a media job"))
        .collect()
}

#[tokio::test]
async fn an_image_queues_one_copy_with_what_the_webhook_said_of_it() {
    let state = state();
    assert!(run(&state, &fixture("image")).await.is_empty());

    assert_eq!(
        jobs(&state),
        [MediaJob {
            wamid: "wamid.HBgNIMAGEAA==".into(),
            business: "106540352242922".into(),
            media_id: "1037543291543636".into(),
            message_type: "image".into(),
            mime_type: Some("image/jpeg".into()),
            sha256: Some("HgbLfGa3PIFUDBSE7dsFT8BVsJ0g8XnBd3RZGUjGtJg=".into()),
        }]
    );
    assert_eq!(state.events.of_type("message.received").len(), 1);
}

#[tokio::test]
async fn every_media_type_queues_its_copy_and_other_messages_none() {
    for (name, media_type) in [
        ("video", "video"),
        ("audio", "audio"),
        ("document", "document"),
        ("sticker", "sticker"),
    ] {
        let state = state();
        assert!(run(&state, &fixture(name)).await.is_empty(), "{name}");
        let queued = jobs(&state);
        assert_eq!(queued.len(), 1, "{name}");
        assert_eq!(queued[0].message_type, media_type);
        assert!(!queued[0].media_id.is_empty());
    }
    for name in ["text", "location", "reaction", "status-read"] {
        let state = state();
        assert!(run(&state, &fixture(name)).await.is_empty(), "{name}");
        assert!(jobs(&state).is_empty(), "{name}");
    }
}

#[tokio::test]
async fn a_media_message_without_a_media_id_queues_nothing() {
    let state = state();
    let body = with(&fixture("image"), r#""id":"1037543291543636","#, "");
    assert!(run(&state, &body).await.is_empty());
    assert!(jobs(&state).is_empty());
    assert_eq!(state.events.of_type("message.received").len(), 1);
}

#[tokio::test]
async fn a_failed_queue_send_fails_the_record_and_its_redelivery_queues_the_copy() {
    let mut state = state();
    state.media = Sink::failing(1);
    assert_eq!(run(&state, &fixture("image")).await, ["msg-0"]);
    // The commit applied and its events went out before the copy was queued.
    assert_eq!(state.events.of_type("message.received").len(), 1);
    assert!(jobs(&state).is_empty());

    assert!(run(&state, &fixture("image")).await.is_empty());
    assert_eq!(jobs(&state).len(), 1);
    assert_eq!(state.events.of_type("message.received").len(), 1);
}

#[tokio::test]
async fn a_duplicate_of_a_copied_message_queues_the_copy_again_for_the_media_function_to_skip() {
    let state = state();
    assert!(run(&state, &fixture("image")).await.is_empty());
    assert!(run(&state, &fixture("image")).await.is_empty());
    let queued = jobs(&state);
    assert_eq!(queued.len(), 2);
    assert_eq!(queued[0], queued[1]);
    let received: Vec<Value> = state.events.of_type("message.received");
    assert_eq!(received.len(), 1);
}
