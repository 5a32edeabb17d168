//! Integration tests against the local AWS emulator (moto at `AWS_ENDPOINT_URL`, default
//! http://127.0.0.1:4566): the DynamoDB adapter and the FIFO event queue, with resources created
//! from `template.yaml` under a random prefix per test. They fail (never skip) without moto;
//! `make test` starts it.

mod common;

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_sqs::types::{MessageSystemAttributeName, QueueAttributeName};
use common::*;
use local_aws::{Clients, Model, Parameters, Provisioned};
use processor::{Config, State};
use serde_json::Value;
use shared::queue::SqsSink;
use shared::store::dynamo::DynamoStore;
use shared::store::{
    keys, Commit, CommitOutcome, Direction, Expect, MessageRecord, OutboxStore, ProcessorStore,
    Write,
};

struct Env {
    clients: Clients,
    provisioned: Provisioned,
}

impl Env {
    async fn new() -> Self {
        let prefix = format!("t{}-", &uuid::Uuid::new_v4().simple().to_string()[..10]);
        let model = Model::load(
            local_aws::workspace_template_path(),
            &Parameters::local().with("ResourcePrefix", prefix),
        )
        .expect("template.yaml loads");
        let clients = Clients::new(&local_aws::local_sdk_config().await);
        let provisioned = local_aws::provision(&model, &clients, &local_aws::one_value_for_each_secret(&model, "{}"))
            .await
            .unwrap_or_else(|e| panic!("cannot provision on moto (is it running at AWS_ENDPOINT_URL or 127.0.0.1:4566? `make test` starts it): {e:?}"));
        Self {
            clients,
            provisioned,
        }
    }

    fn table(&self) -> String {
        self.provisioned
            .table_name("StateTable")
            .unwrap()
            .to_owned()
    }

    fn events_url(&self) -> String {
        self.provisioned
            .queue_url("CrmEventsQueue")
            .unwrap()
            .to_owned()
    }

    fn store(&self) -> DynamoStore {
        DynamoStore::new(self.clients.dynamodb.clone(), self.table())
    }

    fn live(&self) -> State<DynamoStore, SqsSink> {
        State {
            store: self.store(),
            events: SqsSink::new(self.clients.sqs.clone(), self.events_url()),
            media: SqsSink::new(
                self.clients.sqs.clone(),
                self.provisioned.queue_url("MediaQueue").unwrap(),
            ),
            config: Config::default(),
            budget: Default::default(),
            claims: Box::new(shared::blob::memory::MemoryBlobs::new("bucket")),
        }
    }

    fn with_sink(&self, sink: Sink) -> State<DynamoStore, Sink> {
        State {
            store: self.store(),
            events: sink,
            media: Sink::default(),
            config: Config::default(),
            budget: Default::default(),
            claims: Box::new(shared::blob::memory::MemoryBlobs::new("bucket")),
        }
    }

    /// Drains the CRM events queue: (body, type attribute, group id, dedup id).
    async fn drain_events(&self) -> Vec<(Value, String, String, String)> {
        let mut out = Vec::new();
        loop {
            let received = self
                .clients
                .sqs
                .receive_message()
                .queue_url(self.events_url())
                .max_number_of_messages(10)
                .message_attribute_names("All")
                .message_system_attribute_names(MessageSystemAttributeName::All)
                .send()
                .await
                .unwrap();
            let messages = received.messages();
            if messages.is_empty() {
                break;
            }
            for m in messages {
                let body: Value = serde_json::from_str(m.body().unwrap()).unwrap();
                let t = m
                    .message_attributes()
                    .and_then(|a| a.get("type"))
                    .and_then(|v| v.string_value())
                    .unwrap_or_default()
                    .to_owned();
                let attrs = m.attributes().cloned().unwrap_or_default();
                let get =
                    |k: MessageSystemAttributeName| attrs.get(&k).cloned().unwrap_or_default();
                out.push((
                    body,
                    t,
                    get(MessageSystemAttributeName::MessageGroupId),
                    get(MessageSystemAttributeName::MessageDeduplicationId),
                ));
                self.clients
                    .sqs
                    .delete_message()
                    .queue_url(self.events_url())
                    .receipt_handle(m.receipt_handle().unwrap())
                    .send()
                    .await
                    .unwrap();
            }
        }
        out
    }
}

fn outbound(wamid: &str, command_id: &str) -> Write {
    Write::Message(
        MessageRecord {
            wamid: wamid.into(),
            business: "106540352242922".into(),
            direction: Direction::Outbound,
            contact_id: None,
            message_type: "text".into(),
            timestamp: 1_749_416_300,
            status: None,
            status_at: None,
            command_id: Some(command_id.into()),
            template: None,
            raw: None,
            ttl: Some(1_900_000_000),
        },
        Expect::Absent,
    )
}

#[tokio::test]
async fn a_message_posted_three_times_reaches_the_fifo_queue_once_with_its_type_and_group() {
    let env = Env::new().await;
    let state = env.live();
    for _ in 0..3 {
        assert!(run(&state, &fixture("text")).await.is_empty());
    }
    let events = env.drain_events().await;
    let types: Vec<&str> = events.iter().map(|(_, t, _, _)| t.as_str()).collect();
    assert_eq!(types, ["message.received", "conversation.opened"]);
    for (body, _, group, dedup) in &events {
        assert_eq!(group, body["contact"]["id"].as_str().unwrap());
        assert_eq!(dedup, body["event_id"].as_str().unwrap());
        Schemas::load().check(body);
    }
    let (body, _, _, _) = &events[0];
    let v: Value = serde_json::from_str(&fixture("text")).unwrap();
    assert_eq!(
        body["data"]["original"],
        v["entry"][0]["changes"][0]["value"]["messages"][0]
    );
    Schemas::load().check(body);
}

#[tokio::test]
async fn every_fixture_goes_through_dynamodb_into_schema_valid_events() {
    let env = Env::new().await;
    let state = env.live();
    env.store()
        .commit(Commit {
            outbox: None,
            writes: vec![outbound("wamid.HBgNOUTBOUNDAA==", "cmd-1")],
        })
        .await
        .unwrap();
    for name in fixture_names() {
        assert!(run(&state, &fixture(&name)).await.is_empty(), "{name}");
    }
    let events = env.drain_events().await;
    let schemas = Schemas::load();
    for (body, t, _, _) in &events {
        assert_eq!(body["type"].as_str(), Some(t.as_str()));
        schemas.check(body);
    }
    // Fixtures share wamids (and statuses end at failed), so duplicates collapse; every kind
    // of event still comes through.
    let mut types: Vec<&str> = events.iter().map(|(_, t, _, _)| t.as_str()).collect();
    types.sort_unstable();
    types.dedup();
    assert_eq!(
        types,
        [
            "account.update",
            "call.connected",
            "call.status",
            "call.terminated",
            "contact.number_changed",
            "contact.opted_out",
            "contact.synced",
            "contact.user_id_changed",
            "conversation.first_response",
            "conversation.opened",
            "group.lifecycle_update",
            "group.participants_update",
            "group.settings_update",
            "group.status_update",
            "history.message",
            "message.echo",
            "message.received",
            "message.status",
            "phone_number.quality",
            "template.category_changed",
            "template.quality",
            "template.status",
            "whatsapp.error",
        ]
    );
}

#[tokio::test]
async fn the_crash_window_is_closed_with_dynamodb_too() {
    let env = Env::new().await;
    let state = env.with_sink(Sink::failing(1));
    assert_eq!(run(&state, &fixture("text")).await, ["msg-0"]);
    assert!(state.events.events().is_empty());
    assert!(run(&state, &fixture("text")).await.is_empty());
    assert!(run(&state, &fixture("text")).await.is_empty());
    assert_eq!(state.events.of_type("message.received").len(), 1);
    let outbox = state
        .store
        .load_outbox("msg:wamid.HBgNTEXTAA==")
        .await
        .unwrap()
        .unwrap();
    assert!(outbox.published);
    assert_eq!(
        state.events.events()[0]["event_id"],
        outbox.events[0].event_id.as_str()
    );
}

#[tokio::test]
async fn shuffled_statuses_settle_on_read_in_dynamodb() {
    let env = Env::new().await;
    let state = env.with_sink(Sink::default());
    run(
        &state,
        &with(&fixture("status-read"), "1749416383", "1749416390"),
    )
    .await; // parked
    state
        .store
        .commit(Commit {
            outbox: None,
            writes: vec![outbound("wamid.HBgNOUTBOUNDAA==", "cmd-3")],
        })
        .await
        .unwrap();
    run(&state, &fixture("status-sent")).await;
    run(&state, &fixture("status-delivered")).await;
    let statuses: Vec<_> = state
        .events
        .of_type("message.status")
        .iter()
        .map(|e| e["data"]["status"].clone())
        .collect();
    assert_eq!(statuses, ["sent", "read"]);
    let stored = state
        .store
        .load_message("wamid.HBgNOUTBOUNDAA==")
        .await
        .unwrap();
    assert_eq!(
        stored.message.unwrap().record.status,
        Some(shared::delivery::DeliveryStatus::Read)
    );
    assert!(stored.parked.is_empty());
}

#[tokio::test]
async fn commits_report_duplicates_and_conflicts() {
    let env = Env::new().await;
    let store = env.store();
    let outbox = shared::outbox::outbox("k1", vec![], 0, 1_900_000_000);
    let first = Commit {
        outbox: Some(outbox.clone()),
        writes: vec![outbound("wamid.A", "c")],
    };
    assert_eq!(
        store.commit(first.clone()).await.unwrap(),
        CommitOutcome::Applied
    );
    assert_eq!(store.commit(first).await.unwrap(), CommitOutcome::Duplicate);
    let again = Commit {
        outbox: None,
        writes: vec![outbound("wamid.A", "c")],
    };
    assert_eq!(store.commit(again).await.unwrap(), CommitOutcome::Conflict);
    let stored = store
        .load_message("wamid.A")
        .await
        .unwrap()
        .message
        .unwrap();
    assert_eq!(stored.version, 1);
    assert_eq!(stored.record.command_id.as_deref(), Some("c"));
}

#[tokio::test]
async fn a_user_id_change_moves_the_aliases_in_one_dynamodb_transaction_once() {
    let env = Env::new().await;
    let state = env.with_sink(Sink::default());
    run(&state, &fixture("text-bsuid-only")).await;
    for name in [
        "system-user-id-changed",
        "system-user-id-changed",
        "user-id-update",
    ] {
        assert!(run(&state, &fixture(name)).await.is_empty(), "{name}");
    }
    let changed = state.events.of_type("contact.user_id_changed");
    assert_eq!(changed.len(), 1);
    let contact_id = changed[0]["contact"]["id"].as_str().unwrap();
    let found = env
        .store()
        .find_aliases(
            "106540352242922",
            &[
                "uid:BR.13491208655302741918".to_owned(),
                "uid:BR.20871635530274191849".to_owned(),
            ],
        )
        .await
        .unwrap();
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].alias, "uid:BR.20871635530274191849");
    assert_eq!(found[0].contact_id, contact_id);
    let contact = env
        .store()
        .load_contact("106540352242922", contact_id)
        .await
        .unwrap();
    let record = contact.contact.unwrap().record;
    assert_eq!(record.user_id.as_deref(), Some("BR.20871635530274191849"));
    assert_eq!(
        record.parent_user_id.as_deref(),
        Some("BR.ENT.20871635530274191849")
    );
}

#[tokio::test]
async fn the_conversation_is_found_through_the_due_index_without_a_scan() {
    let env = Env::new().await;
    let state = env.with_sink(Sink::default());
    run(&state, &fixture("text")).await;
    let contact_id = state.events.of_type("message.received")[0]["contact"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let bucket = keys::due_bucket(&contact_id);
    let found = env
        .clients
        .dynamodb
        .query()
        .table_name(env.table())
        .index_name("due-index")
        .key_condition_expression("due_bucket = :b AND due_at <= :now")
        .expression_attribute_values(":b", AttributeValue::S(bucket))
        .expression_attribute_values(
            ":now",
            AttributeValue::N((1_749_416_383i64 + 86_400).to_string()),
        )
        .send()
        .await
        .unwrap();
    let items: Vec<HashMap<String, AttributeValue>> = found.items().to_vec();
    assert_eq!(items.len(), 1);
    assert_eq!(
        items[0].get("due_at"),
        Some(&AttributeValue::N(
            (1_749_416_383i64 + 86_400 - 3600).to_string()
        ))
    );
    assert_eq!(
        items[0].get("sk"),
        Some(&AttributeValue::S(keys::CONVERSATION.into()))
    );
}

#[tokio::test]
async fn a_poison_record_ends_in_the_dlq_after_the_redrive_count_without_blocking_others() {
    let env = Env::new().await;
    let state = env.live();
    let inbound = env
        .provisioned
        .queue_url("InboundQueue")
        .unwrap()
        .to_owned();
    let dlq = env.provisioned.queue_url("InboundDLQ").unwrap().to_owned();
    let sqs = &env.clients.sqs;
    for body in ["not an update".to_owned()]
        .into_iter()
        .chain(bodies(&fixture("text")))
    {
        sqs.send_message()
            .queue_url(&inbound)
            .message_body(body)
            .send()
            .await
            .unwrap();
    }
    // Play the event source mapping: receive, process, delete successes, release failures.
    for _ in 0..8 {
        let received = sqs
            .receive_message()
            .queue_url(&inbound)
            .max_number_of_messages(10)
            .message_system_attribute_names(MessageSystemAttributeName::All)
            .send()
            .await
            .unwrap();
        if received.messages().is_empty() {
            continue;
        }
        let mut event = aws_lambda_events::event::sqs::SqsEvent::default();
        let mut handles = HashMap::new();
        for m in received.messages() {
            let mut r = aws_lambda_events::event::sqs::SqsMessage::default();
            r.message_id = m.message_id().map(str::to_owned);
            r.body = m.body().map(str::to_owned);
            handles.insert(
                r.message_id.clone().unwrap(),
                m.receipt_handle().unwrap().to_owned(),
            );
            event.records.push(r);
        }
        let response = processor::process_event(&state, event, &common::lambda_timeout()).await;
        let failed: Vec<_> = response
            .batch_item_failures
            .iter()
            .map(|f| f.item_identifier.clone())
            .collect();
        for (id, handle) in handles {
            if failed.contains(&id) {
                sqs.change_message_visibility()
                    .queue_url(&inbound)
                    .receipt_handle(handle)
                    .visibility_timeout(0)
                    .send()
                    .await
                    .unwrap();
            } else {
                sqs.delete_message()
                    .queue_url(&inbound)
                    .receipt_handle(handle)
                    .send()
                    .await
                    .unwrap();
            }
        }
    }
    let in_dlq = sqs
        .get_queue_attributes()
        .queue_url(&dlq)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
        .send()
        .await
        .unwrap();
    let count = in_dlq
        .attributes()
        .and_then(|a| a.get(&QueueAttributeName::ApproximateNumberOfMessages))
        .cloned();
    assert_eq!(count.as_deref(), Some("1"));
    let types: Vec<_> = env
        .drain_events()
        .await
        .into_iter()
        .map(|(_, t, _, _)| t)
        .collect();
    assert_eq!(
        types,
        ["message.received", "conversation.opened"],
        "the good record's, once"
    );
}

fn alias(name: &str, contact_id: &str) -> Write {
    Write::Alias {
        record: shared::store::AliasRecord {
            business: "106540352242922".into(),
            alias: name.into(),
            contact_id: contact_id.into(),
            ttl: Some(1_900_000_000),
        },
        replace: false,
    }
}

fn ahead(write: Write) -> Write {
    Write::Ahead(Box::new(write))
}

/// A [`Write::Ahead`] put lands before its commit's transaction and stays when the transaction
/// is refused; one whose condition fails is a conflict; only plain puts may go ahead. The same
/// on both adapters.
async fn ahead_puts_land_first<S: ProcessorStore>(store: &S) {
    let stored = Commit {
        outbox: None,
        writes: vec![outbound("wamid.A", "c")],
    };
    assert_eq!(store.commit(stored).await.unwrap(), CommitOutcome::Applied);

    // The transaction is refused (wamid.A exists): the ahead alias stays.
    let refused = Commit {
        outbox: None,
        writes: vec![ahead(alias("wa:1", "ct_x")), outbound("wamid.A", "c")],
    };
    assert_eq!(
        store.commit(refused).await.unwrap(),
        CommitOutcome::Conflict
    );
    let found = |names: &[&str]| {
        let names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
        async move { store.find_aliases("106540352242922", &names).await.unwrap() }
    };
    let one = found(&["wa:1"]).await;
    assert_eq!(one.len(), 1);
    assert_eq!(one[0].contact_id, "ct_x");

    // Pointing at another contact: refused, nothing of the commit written.
    let stolen = Commit {
        outbox: None,
        writes: vec![ahead(alias("wa:1", "ct_y")), outbound("wamid.B", "c")],
    };
    assert_eq!(store.commit(stolen).await.unwrap(), CommitOutcome::Conflict);
    assert_eq!(found(&["wa:1"]).await[0].contact_id, "ct_x");
    assert!(store
        .load_message("wamid.B")
        .await
        .unwrap()
        .message
        .is_none());

    // Again pointing at its contact (a redelivery): the commit applies.
    let again = Commit {
        outbox: Some(shared::outbox::outbox("k-ahead", vec![], 0, 1_900_000_000)),
        writes: vec![
            ahead(alias("wa:1", "ct_x")),
            ahead(alias("wa:2", "ct_x")),
            outbound("wamid.B", "c"),
        ],
    };
    assert_eq!(store.commit(again).await.unwrap(), CommitOutcome::Applied);
    assert_eq!(found(&["wa:1", "wa:2"]).await.len(), 2);
    assert!(store
        .load_message("wamid.B")
        .await
        .unwrap()
        .message
        .is_some());

    // A delete cannot go ahead.
    let delete = Commit {
        outbox: None,
        writes: vec![ahead(Write::RemoveAlias(shared::store::AliasRecord {
            business: "106540352242922".into(),
            alias: "wa:1".into(),
            contact_id: "ct_x".into(),
            ttl: None,
        }))],
    };
    assert!(store.commit(delete).await.is_err());
    assert_eq!(found(&["wa:1"]).await.len(), 1);
}

#[tokio::test]
async fn ahead_puts_land_before_the_dynamodb_transaction_and_a_refused_one_is_a_conflict() {
    let env = Env::new().await;
    ahead_puts_land_first(&env.store()).await;
}

#[tokio::test]
async fn ahead_puts_land_before_the_in_memory_transaction_and_a_refused_one_is_a_conflict() {
    ahead_puts_land_first(&shared::store::memory::MemoryStore::new()).await;
}
