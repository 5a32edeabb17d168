//! Claim checks: a record naming a stored update is processed exactly as the update inline; a
//! missing object is retried (never dropped), an object that is not what its key names is poison.

mod common;

use common::{bodies, fixture, lambda_timeout, sqs_event, state, TestState};
use processor::ProcessError;
use shared::blob::keys;
use shared::blob::memory::MemoryBlobs;
use shared::blob::Blobs;
use shared::inbound::BufferedUpdate;
use shared::sqs_consumer::{Classify, FailureClass};

/// The webhook's reference for the first update of `fixture`, and the bytes it stores.
fn claim_checked(fixture_name: &str) -> (String, String, Vec<u8>) {
    let inline = bodies(&fixture(fixture_name)).remove(0);
    let update: BufferedUpdate<'_> = serde_json::from_str(&inline).expect("a buffered update");
    let bytes = update.update.get().as_bytes().to_vec();
    let key = keys::update(&bytes);
    let reference = serde_json::to_string(&update.by_reference(key.clone())).expect("json");
    (inline, reference, bytes)
}

async fn state_holding(key: &str, bytes: Vec<u8>) -> TestState {
    let blobs = MemoryBlobs::new("bucket");
    blobs
        .put(key, bytes, "application/json")
        .await
        .expect("put");
    let mut s = state();
    s.claims = Box::new(blobs);
    s
}

#[tokio::test]
async fn a_claim_checked_update_becomes_the_same_events_as_the_update_inline() {
    let (inline, reference, bytes) = claim_checked("text");
    assert!(reference.len() < inline.len() && !reference.contains("\"text\""));
    let key = keys::update(&bytes);

    let by_reference = state_holding(&key, bytes).await;
    let failed =
        processor::process_event(&by_reference, sqs_event(&[reference]), &lambda_timeout())
            .await
            .batch_item_failures;
    assert!(failed.is_empty(), "{failed:?}");

    let direct = state();
    let failed = processor::process_event(&direct, sqs_event(&[inline]), &lambda_timeout())
        .await
        .batch_item_failures;
    assert!(failed.is_empty(), "{failed:?}");

    let types = |s: &TestState| {
        s.events
            .events()
            .iter()
            .map(|e| {
                (
                    e["type"].clone(),
                    e["data"]["wamid"].clone(),
                    e["data"]["text"].clone(),
                )
            })
            .collect::<Vec<_>>()
    };
    assert!(!types(&direct).is_empty());
    assert_eq!(types(&by_reference), types(&direct));
}

#[tokio::test]
async fn a_claim_check_whose_object_is_missing_fails_its_record_as_retryable_and_sends_nothing() {
    let (_, reference, _) = claim_checked("text");
    let s = state();
    let response = processor::process_event(
        &s,
        sqs_event(std::slice::from_ref(&reference)),
        &lambda_timeout(),
    )
    .await;
    assert_eq!(
        response.batch_item_failures.len(),
        1,
        "back to the queue, then the DLQ"
    );
    assert!(s.events.events().is_empty());

    let mut record = aws_lambda_events::event::sqs::SqsMessage::default();
    record.body = Some(reference);
    let err = processor::process_record(&s, &record, shared::now_ms())
        .await
        .expect_err("no object");
    assert!(matches!(err, ProcessError::ClaimMissing), "{err}");
    assert_eq!(err.class(), FailureClass::Retryable);
}

#[tokio::test]
async fn an_object_that_is_not_what_its_key_names_is_poison() {
    let (_, reference, bytes) = claim_checked("text");
    let key = keys::update(&bytes);
    let s = state_holding(&key, b"{\"other\":true}".to_vec()).await;
    let mut record = aws_lambda_events::event::sqs::SqsMessage::default();
    record.body = Some(reference);
    let err = processor::process_record(&s, &record, shared::now_ms())
        .await
        .expect_err("corrupt");
    assert!(matches!(err, ProcessError::ClaimCorrupt), "{err}");
    assert_eq!(err.class(), FailureClass::Poison);
    assert!(s.events.events().is_empty());
}
