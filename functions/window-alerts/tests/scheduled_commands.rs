//! The tick's second duty against the in-memory state table: scheduled commands go back on the
//! commands queue once due — in their own FIFO group, deduplicated by command and deferral,
//! carrying their deferral count and first sight — and not before; a failed put-back loses
//! nothing; a later deferral of the same command is not deleted by an earlier one's release.

use shared::store::memory::MemoryStore;
use shared::store::scheduled::{self, ScheduledCommand, DEFERRAL_ATTRIBUTE, FIRST_SEEN_ATTRIBUTE};
use shared::store::{Commit, OutboxStore, Write};
use shared::testkit::RecordingSink;
use window_alerts::commands::release_due;

const T0: i64 = 1_790_000_000;

fn scheduled(id: &str, deferral: u32, due_at: i64) -> ScheduledCommand {
    ScheduledCommand {
        command_id: id.into(),
        body: format!(r#"{{"command_id":"{id}","type":"send_template"}}"#),
        group_id: "wa:5511987654321".into(),
        deferral,
        reason: "marketing_cap".into(),
        not_before_ms: due_at * 1000,
        first_seen_ms: (T0 - 100) * 1000,
        due_bucket: scheduled::due_bucket(id),
        due_at,
        ttl: due_at + 86_400,
    }
}

async fn schedule(store: &MemoryStore, command: ScheduledCommand) {
    store
        .commit(Commit {
            outbox: None,
            writes: vec![Write::Schedule(command)],
        })
        .await
        .expect("commit");
}

#[tokio::test]
async fn a_due_command_goes_back_in_its_group_with_its_deferral_and_first_sight_once() {
    // Arrange
    let store = MemoryStore::new();
    let queue = RecordingSink::default();
    schedule(&store, scheduled("c-due", 1, T0)).await;
    schedule(&store, scheduled("c-later", 2, T0 + 60)).await;

    // Act
    let early = release_due(&store, &queue, T0 - 1, 100).await.expect("run");
    let due = release_due(&store, &queue, T0, 100).await.expect("run");
    let again = release_due(&store, &queue, T0 + 1, 100).await.expect("run");

    // Assert
    assert_eq!((early, due, again), (0, 1, 0));
    let sent = queue.messages();
    assert_eq!(sent.len(), 1);
    let m = &sent[0];
    assert_eq!(m.body, r#"{"command_id":"c-due","type":"send_template"}"#);
    assert_eq!(m.group_id.as_deref(), Some("wa:5511987654321"));
    assert_eq!(m.dedup_id.as_deref(), Some("c-due#1"));
    assert!(m
        .attributes
        .contains(&(DEFERRAL_ATTRIBUTE.to_owned(), "1".to_owned())));
    assert!(m.attributes.contains(&(
        FIRST_SEEN_ATTRIBUTE.to_owned(),
        ((T0 - 100) * 1000).to_string()
    )));
    assert!(store.get("CMD#c-due", "SCHEDULED").is_none(), "released");
    assert!(
        store.get("CMD#c-later", "SCHEDULED").is_some(),
        "not due yet"
    );
}

#[tokio::test]
async fn a_put_back_that_fails_keeps_the_command_for_the_next_run() {
    // Arrange
    let store = MemoryStore::new();
    let queue = RecordingSink::failing(1);
    schedule(&store, scheduled("c-kept", 1, T0)).await;

    // Act
    let failed = release_due(&store, &queue, T0, 100).await;
    let next = release_due(&store, &queue, T0 + 60, 100)
        .await
        .expect("run");

    // Assert
    assert!(failed.is_err());
    assert_eq!(next, 1);
    assert_eq!(queue.messages().len(), 1);
    assert!(store.get("CMD#c-kept", "SCHEDULED").is_none());
}

#[tokio::test]
async fn releasing_an_earlier_deferral_keeps_a_later_one_of_the_same_command() {
    // Arrange: deferral 1 is put back, and before its item is deleted the sender has already
    // scheduled the command again (deferral 2).
    let store = MemoryStore::new();
    schedule(&store, scheduled("c-twice", 2, T0 + 3600)).await;

    // Act
    let deleted = shared::store::scheduled::ScheduleStore::release(&store, "c-twice", 1)
        .await
        .expect("release");

    // Assert
    assert!(!deleted);
    let kept = store.get("CMD#c-twice", "SCHEDULED").expect("kept");
    assert_eq!(kept["deferral"], 2);
}

#[tokio::test]
async fn many_due_commands_are_all_put_back_across_pages_and_buckets() {
    // Arrange
    let store = MemoryStore::new();
    let queue = RecordingSink::default();
    for i in 0..57 {
        schedule(&store, scheduled(&format!("c-{i}"), 1, T0 - i)).await;
    }

    // Act
    let released = release_due(&store, &queue, T0, 5).await.expect("run");

    // Assert
    assert_eq!(released, 57);
    let mut ids: Vec<_> = queue
        .messages()
        .iter()
        .filter_map(|m| m.dedup_id.clone())
        .collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 57);
}
