//! What a customer's message writes and reads, and the failure paths of doing less: a new
//! contact's aliases and profile and an opened conversation's alias are puts ahead of the
//! transaction (`shared::store::Write::Ahead`), and a new message's partition is read only when
//! the transaction says it was stored before.

mod common;

use common::*;
use serde_json::Value;
use shared::store::{
    keys, AliasRecord, Commit, CommitOutcome, ContactState, MessageRecord, MessageState,
    OutboxRecord, OutboxStore, ProcessorStore, StoreError, Write,
};
use shared::{
    delivery::DeliveryStatus,
    store::unpublished::{StatusStore, Unpublished},
};

const PNID: &str = "106540352242922";
const WAMID: &str = "wamid.HBgNTEXTAA==";

fn items(state: &TestState, prefix: &str) -> Vec<(String, String, Value)> {
    state.store.scan_prefix(prefix)
}

fn stop() -> String {
    with(
        &fixture("text"),
        "Ol\\u00e1! Voc\\u00ea tem em azul? \\ud83d\\udc4b @loja https:\\/\\/ex.com\\/a",
        "STOP",
    )
}

#[tokio::test]
async fn a_crash_between_the_ahead_puts_and_the_transaction_is_completed_by_the_redelivery() {
    let state = state();
    state.store.fail_next_transactions(1);
    assert_eq!(run(&state, &fixture("text")).await, ["msg-0"]);

    // The derivations landed: both forms of the number and the conversation's alias point at
    // one contact, whose profile exists; nothing of the transaction did.
    let aliases = items(&state, "ALIAS#");
    assert_eq!(aliases.len(), 3, "{aliases:#?}");
    let contact_id = aliases[0].2["contact_id"].as_str().unwrap().to_owned();
    assert!(aliases
        .iter()
        .all(|(_, _, a)| a["contact_id"] == contact_id));
    assert!(aliases
        .iter()
        .any(|(pk, _, _)| pk.ends_with("#wa:5511987654321")));
    assert!(aliases
        .iter()
        .any(|(pk, _, _)| pk.ends_with("#wa:551187654321")));
    let contact_pk = keys::contact_pk(PNID, &contact_id);
    assert!(state.store.get(&contact_pk, keys::PROFILE).is_some());
    assert!(state.store.get(&contact_pk, keys::CONVERSATION).is_none());
    assert!(state
        .store
        .get(&keys::message_pk(WAMID), keys::MESSAGE)
        .is_none());
    assert!(state
        .store
        .load_outbox(&format!("msg:{WAMID}"))
        .await
        .unwrap()
        .is_none());
    assert!(state.events.events().is_empty());

    // The redelivery finds them and completes the message: one contact, its events once.
    assert!(run(&state, &fixture("text")).await.is_empty());
    assert!(run(&state, &fixture("text")).await.is_empty());
    let received = state.events.of_type("message.received");
    assert_eq!(received.len(), 1);
    assert_eq!(received[0]["contact"]["id"], contact_id.as_str());
    let opened = state.events.of_type("conversation.opened");
    assert_eq!(opened.len(), 1);
    let conversation = opened[0]["data"]["conversation_id"].as_str().unwrap();
    assert!(aliases
        .iter()
        .any(|(pk, _, _)| pk.ends_with(&format!("#conv:{conversation}"))));
    let stored = state.store.load_contact(PNID, &contact_id).await.unwrap();
    assert_eq!(
        stored.contact.unwrap().version,
        1,
        "the profile written once"
    );
    assert!(stored.conversation.is_some());
    assert_eq!(items(&state, "ALIAS#").len(), 3);
    Schemas::load().check_all(&state.events.messages());
}

#[tokio::test]
async fn a_new_profile_that_records_an_opt_out_stays_in_the_transaction_with_its_ledger_entry() {
    let state = state();
    state.store.fail_next_transactions(1);
    assert_eq!(run(&state, &stop()).await, ["msg-0"]);
    let aliases = items(&state, "ALIAS#");
    assert!(!aliases.is_empty());
    let contact_id = aliases[0].2["contact_id"].as_str().unwrap().to_owned();
    assert!(
        items(&state, &keys::contact_pk(PNID, &contact_id)).is_empty(),
        "no profile saying opted out without its ledger entry"
    );

    assert!(run(&state, &stop()).await.is_empty());
    let contact = state.store.load_contact(PNID, &contact_id).await.unwrap();
    assert!(contact.contact.unwrap().record.marketing_opt_out);
    let ledger = items(&state, &keys::contact_pk(PNID, &contact_id));
    assert_eq!(
        ledger
            .iter()
            .filter(|(_, sk, _)| sk.starts_with("CONSENT#"))
            .count(),
        1
    );
    assert_eq!(state.events.of_type("contact.opted_out").len(), 1);
}

#[tokio::test]
async fn a_message_stored_before_whose_marker_expired_changes_nothing_and_sends_nothing() {
    let state = state();
    assert!(run(&state, &fixture("text")).await.is_empty());
    let (before, events) = (state.store.scan_prefix(""), state.events.events().len());
    // The marker's TTL ran out (it lives shorter than the message).
    let outbox_pk = keys::outbox_pk(&format!("msg:{WAMID}"));
    let expired = Commit {
        outbox: None,
        writes: vec![Write::Delete {
            pk: outbox_pk.clone(),
            sk: keys::OUTBOX.into(),
        }],
    };
    assert_eq!(
        state.store.commit(expired).await.unwrap(),
        CommitOutcome::Applied
    );

    assert!(run(&state, &fixture("text")).await.is_empty());
    assert_eq!(state.events.events().len(), events);
    let after: Vec<_> = state.store.scan_prefix("");
    let without_marker: Vec<_> = before
        .into_iter()
        .filter(|(pk, _, _)| *pk != outbox_pk)
        .collect();
    assert_eq!(after, without_marker);
}

/// The in-memory table, counting the reads of a message's partition.
#[derive(Default)]
struct CountingStore {
    inner: shared::store::memory::MemoryStore,
    message_reads: std::sync::atomic::AtomicUsize,
}

impl OutboxStore for CountingStore {
    async fn load_outbox(&self, key: &str) -> Result<Option<OutboxRecord>, StoreError> {
        self.inner.load_outbox(key).await
    }
    async fn commit(&self, commit: Commit) -> Result<CommitOutcome, StoreError> {
        self.inner.commit(commit).await
    }
    async fn mark_published(&self, key: &str) -> Result<(), StoreError> {
        self.inner.mark_published(key).await
    }
}

impl StatusStore for CountingStore {
    async fn record_status(
        &self,
        message: &MessageRecord,
        unpublished: &Unpublished,
        version: u64,
    ) -> Result<bool, StoreError> {
        self.inner
            .record_status(message, unpublished, version)
            .await
    }
    async fn clear_unpublished(
        &self,
        wamid: &str,
        status: DeliveryStatus,
    ) -> Result<(), StoreError> {
        self.inner.clear_unpublished(wamid, status).await
    }
}

impl ProcessorStore for CountingStore {
    async fn find_aliases(
        &self,
        business: &str,
        aliases: &[String],
    ) -> Result<Vec<AliasRecord>, StoreError> {
        self.inner.find_aliases(business, aliases).await
    }
    async fn load_contact(
        &self,
        business: &str,
        contact_id: &str,
    ) -> Result<ContactState, StoreError> {
        self.inner.load_contact(business, contact_id).await
    }
    async fn load_message(&self, wamid: &str) -> Result<MessageState, StoreError> {
        self.message_reads
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        self.inner.load_message(wamid).await
    }
}

#[tokio::test]
async fn a_new_message_is_stored_without_reading_its_partition_first() {
    let state = processor::State {
        store: CountingStore::default(),
        events: Sink::default(),
        media: Sink::default(),
        config: processor::Config::default(),
        budget: Default::default(),
        claims: Box::new(shared::blob::memory::MemoryBlobs::new("bucket")),
    };
    assert!(run(&state, &fixture("text")).await.is_empty());
    assert_eq!(state.events.of_type("message.received").len(), 1);
    assert_eq!(
        state
            .store
            .message_reads
            .load(std::sync::atomic::Ordering::SeqCst),
        0
    );
}
