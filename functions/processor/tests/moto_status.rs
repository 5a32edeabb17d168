//! The DynamoDB adapter's direct status path against the local AWS emulator (moto at
//! `AWS_ENDPOINT_URL`; `make test` starts it): a status recorded on its message with one
//! conditional `PutItem`, cleared with one `UpdateItem`, and applied end to end without an outbox
//! item. Resources come from `template.yaml` under a random prefix per test; the tests fail
//! (never skip) without moto.

use local_aws::{Clients, Model, Parameters};
use serde_json::json;
use serde_json::value::RawValue;
use shared::delivery::{apply_status, DeliveryStatus, StatusContext, StatusUpdate};
use shared::outbox::{Applied, OutboxError};
use shared::store::dynamo::DynamoStore;
use shared::store::unpublished::{StatusStore, Unpublished};
use shared::store::{Commit, Direction, Expect, MessageRecord, OutboxStore, ProcessorStore, Write};
use shared::testkit::RecordingSink;

const BUSINESS: &str = "106540352242922";
const T0: i64 = 1_764_500_000;

async fn store() -> DynamoStore {
    let prefix = format!("t{}-", &uuid::Uuid::new_v4().simple().to_string()[..10]);
    let model = Model::load(
        local_aws::workspace_template_path(),
        &Parameters::local().with("ResourcePrefix", prefix),
    )
    .expect("template.yaml loads");
    let clients = Clients::new(&local_aws::local_sdk_config().await);
    let provisioned = local_aws::provision(
        &model,
        &clients,
        &local_aws::one_value_for_each_secret(&model, "{}"),
    )
    .await
    .unwrap_or_else(|e| panic!("cannot provision on moto (is it running at AWS_ENDPOINT_URL? `make test` starts it): {e:?}"));
    DynamoStore::new(
        clients.dynamodb.clone(),
        provisioned.table_name("StateTable").unwrap(),
    )
}

fn message(wamid: &str, status: Option<DeliveryStatus>) -> MessageRecord {
    MessageRecord {
        wamid: wamid.into(),
        business: BUSINESS.into(),
        direction: Direction::Outbound,
        contact_id: None,
        message_type: "text".into(),
        timestamp: T0,
        status,
        status_at: None,
        command_id: Some("cmd-1".into()),
        template: None,
        raw: None,
        ttl: Some(T0 + 90 * 86_400),
    }
}

async fn sender_stores(store: &DynamoStore, wamid: &str) {
    let stored = store
        .commit(Commit {
            outbox: None,
            writes: vec![Write::Message(
                message(wamid, Some(DeliveryStatus::Sent)),
                Expect::Absent,
            )],
        })
        .await
        .unwrap();
    assert_eq!(stored, shared::store::CommitOutcome::Applied);
}

fn delivered(wamid: &str) -> StatusUpdate {
    let raw = json!({"id": wamid, "status": "delivered", "timestamp": T0.to_string(),
        "recipient_id": "5511987654321",
        "pricing": {"billable": true, "pricing_model": "PMP", "category": "service", "type": "regular"}})
    .to_string();
    StatusUpdate::parse(&RawValue::from_string(raw).unwrap(), T0).unwrap()
}

fn ctx() -> StatusContext {
    StatusContext {
        business: BUSINESS.into(),
        waba_id: None,
        now_ms: T0 * 1000,
        retention: Default::default(),
    }
}

#[tokio::test]
async fn a_status_is_recorded_with_its_mark_only_over_the_version_read() {
    let store = store().await;
    sender_stores(&store, "wamid.REC").await;
    let mut next = message("wamid.REC", Some(DeliveryStatus::Delivered));
    next.status_at = Some(T0 + 1);
    let mark = Unpublished::from([(DeliveryStatus::Delivered, Some(DeliveryStatus::Sent))]);

    assert!(
        !store.record_status(&next, &mark, 7).await.unwrap(),
        "stale version"
    );
    assert!(store.record_status(&next, &mark, 1).await.unwrap());
    assert!(
        !store.record_status(&next, &mark, 1).await.unwrap(),
        "moved on"
    );

    let state = store.load_message("wamid.REC").await.unwrap();
    let stored = state.message.unwrap();
    assert_eq!(stored.version, 2);
    assert_eq!(stored.record, next);
    assert_eq!(state.unpublished, mark);
}

#[tokio::test]
async fn clearing_removes_one_mark_and_moves_the_version_once() {
    let store = store().await;
    sender_stores(&store, "wamid.CLR").await;
    let next = message("wamid.CLR", Some(DeliveryStatus::Read));
    let marks = Unpublished::from([
        (DeliveryStatus::Delivered, Some(DeliveryStatus::Sent)),
        (DeliveryStatus::Read, Some(DeliveryStatus::Delivered)),
    ]);
    assert!(store.record_status(&next, &marks, 1).await.unwrap());

    store
        .clear_unpublished("wamid.CLR", DeliveryStatus::Delivered)
        .await
        .unwrap();
    store
        .clear_unpublished("wamid.CLR", DeliveryStatus::Delivered)
        .await
        .unwrap();

    let state = store.load_message("wamid.CLR").await.unwrap();
    assert_eq!(
        state.message.unwrap().version,
        3,
        "one move: the second clear found nothing"
    );
    assert_eq!(
        state.unpublished,
        Unpublished::from([(DeliveryStatus::Read, Some(DeliveryStatus::Delivered))])
    );
    store
        .clear_unpublished("wamid.CLR", DeliveryStatus::Read)
        .await
        .unwrap();
    assert!(store
        .load_message("wamid.CLR")
        .await
        .unwrap()
        .unpublished
        .is_empty());
}

#[tokio::test]
async fn clearing_a_message_not_stored_creates_nothing() {
    let store = store().await;
    store
        .clear_unpublished("wamid.NONE", DeliveryStatus::Sent)
        .await
        .unwrap();
    let state = store.load_message("wamid.NONE").await.unwrap();
    assert!(state.message.is_none());
    assert!(state.unpublished.is_empty());
}

#[tokio::test]
async fn a_status_applies_without_an_outbox_item_and_its_redelivery_republishes_once() {
    let store = store().await;
    sender_stores(&store, "wamid.E2E").await;
    let sink = RecordingSink::failing(1);

    let first = apply_status(&store, &sink, &ctx(), &delivered("wamid.E2E")).await;
    assert!(matches!(first, Err(OutboxError::Queue(_))), "{first:?}");
    let state = store.load_message("wamid.E2E").await.unwrap();
    assert_eq!(
        state.unpublished,
        Unpublished::from([(DeliveryStatus::Delivered, Some(DeliveryStatus::Sent))])
    );

    let again = apply_status(&store, &sink, &ctx(), &delivered("wamid.E2E"))
        .await
        .unwrap();
    let repeat = apply_status(&store, &sink, &ctx(), &delivered("wamid.E2E"))
        .await
        .unwrap();

    assert_eq!(again, Applied::Duplicate { republished: 1 });
    assert_eq!(repeat, Applied::Nothing);
    let events = sink.of_type("message.status");
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["data"]["previous_status"], "sent");
    let state = store.load_message("wamid.E2E").await.unwrap();
    assert!(state.unpublished.is_empty());
    assert_eq!(
        state.message.unwrap().record.status,
        Some(DeliveryStatus::Delivered)
    );
    assert!(store
        .load_outbox("status:wamid.E2E:delivered")
        .await
        .unwrap()
        .is_none());
}
