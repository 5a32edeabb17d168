//! An in-memory state table with the same conditions and all-or-nothing commits as the DynamoDB
//! adapter, for handler tests (here and in the functions built on this data model).

use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use serde::de::DeserializeOwned;
use serde_json::Value;

use super::{
    ahead_put, keys, split_ahead, write_body, write_key, AliasRecord, Commit, CommitOutcome,
    ContactState, Expect, MessageState, OutboxRecord, OutboxStore, ProcessorStore, StoreError,
    Versioned, Write,
};

mod due;
mod items;
mod parked;
mod personal;
mod scheduled;
mod unpublished;

#[derive(Debug, Clone)]
struct Stored {
    value: Value,
    version: Option<u64>,
}

/// The fake table: `(pk, sk)` → JSON record.
#[derive(Debug, Default)]
pub struct MemoryStore {
    items: Mutex<BTreeMap<(String, String), Stored>>,
    /// Commits still to refuse, as a throttled or failing table would (see `fail_next_commits`).
    failing_commits: AtomicUsize,
    /// Transactions still to refuse after their commit's ahead puts landed
    /// (see `fail_next_transactions`).
    failing_transactions: AtomicUsize,
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<(String, String), Stored>> {
        // A panic in another test thread must not hide this store's contents.
        self.items.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The next `n` commits fail with a store error and change nothing, so a test can show what
    /// a handler does when its transaction is refused after the rest of its work.
    pub fn fail_next_commits(&self, n: usize) {
        self.failing_commits.store(n, Ordering::SeqCst);
    }

    /// The next `n` commits write their [`Write::Ahead`] puts, then fail with a store error
    /// before their transaction: a crash between the two, as DynamoDB may leave it.
    pub fn fail_next_transactions(&self, n: usize) {
        self.failing_transactions.store(n, Ordering::SeqCst);
    }

    /// Consumes one injected fault (`fail_next_commits`): commits and batch writes fail alike.
    fn fail_if_injected(&self) -> Result<(), StoreError> {
        if self
            .failing_commits
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
        {
            return Err(StoreError::Unstorable {
                key: "commit".into(),
                reason: "injected fault: the write was refused".into(),
            });
        }
        Ok(())
    }

    /// One item's record, for assertions.
    pub fn get(&self, pk: &str, sk: &str) -> Option<Value> {
        self.lock()
            .get(&(pk.to_owned(), sk.to_owned()))
            .map(|s| s.value.clone())
    }

    /// Every `(pk, sk, record)` whose pk starts with `prefix`, in key order.
    pub fn scan_prefix(&self, prefix: &str) -> Vec<(String, String, Value)> {
        self.lock()
            .iter()
            .filter(|((pk, _), _)| pk.starts_with(prefix))
            .map(|((pk, sk), s)| (pk.clone(), sk.clone(), s.value.clone()))
            .collect()
    }

    fn versioned<T: DeserializeOwned>(
        items: &BTreeMap<(String, String), Stored>,
        pk: String,
        sk: &str,
    ) -> Result<Option<Versioned<T>>, StoreError> {
        let key = (pk, sk.to_owned());
        match items.get(&key) {
            None => Ok(None),
            Some(s) => {
                let record = serde_json::from_value(s.value.clone()).map_err(|source| {
                    StoreError::Corrupt {
                        key: crate::redact::item_key(&key.0, &key.1),
                        source: source.into(),
                    }
                })?;
                Ok(Some(Versioned {
                    record,
                    version: s.version.unwrap_or(0),
                }))
            }
        }
    }
}

fn holds(items: &BTreeMap<(String, String), Stored>, write: &Write) -> bool {
    let key = write_key(write);
    let current = items.get(&key);
    let expect = |e: &Expect| match (e, current) {
        (Expect::Absent, None) => true,
        (Expect::Version(v), Some(s)) => s.version == Some(*v),
        _ => false,
    };
    let points_at = |contact: &str| {
        current.is_none_or(|s| s.value.get("contact_id").and_then(Value::as_str) == Some(contact))
    };
    match write {
        Write::Contact(_, e)
        | Write::Conversation(_, e)
        | Write::Message(_, e)
        | Write::ExternalMessage(_, e) => expect(e),
        Write::Alias { record, replace } => *replace || points_at(&record.contact_id),
        Write::RemoveAlias(record) => points_at(&record.contact_id),
        Write::Consent(_) | Write::TemplateCategory(_) | Write::Schedule(_) | Write::Audit(_) => {
            true
        }
        Write::Park(p) => {
            !items.contains_key(&(keys::message_pk(&p.wamid), keys::MESSAGE.to_owned()))
        }
        Write::Unpark { .. } | Write::Delete { .. } => current.is_some(),
        Write::Ahead(inner) => holds(items, inner),
    }
}

fn new_version(write: &Write) -> Option<u64> {
    match write {
        Write::Contact(_, e)
        | Write::Conversation(_, e)
        | Write::Message(_, e)
        | Write::ExternalMessage(_, e) => Some(match e {
            Expect::Absent => 1,
            Expect::Version(v) => v + 1,
        }),
        Write::Ahead(inner) => new_version(inner),
        _ => None,
    }
}

/// Applies one write that holds: its record put (with its next version) or its item removed.
fn apply(items: &mut BTreeMap<(String, String), Stored>, write: &Write) -> Result<(), StoreError> {
    let key = write_key(write);
    match write_body(write).map_err(|source| StoreError::Corrupt {
        key: crate::redact::item_key(&key.0, &key.1),
        source: source.into(),
    })? {
        Some(value) => {
            items.insert(
                key,
                Stored {
                    value,
                    version: new_version(write),
                },
            );
        }
        None => {
            items.remove(&key);
        }
    }
    Ok(())
}

impl OutboxStore for MemoryStore {
    async fn load_outbox(&self, update_key: &str) -> Result<Option<OutboxRecord>, StoreError> {
        let items = self.lock();
        Ok(Self::versioned(&items, keys::outbox_pk(update_key), keys::OUTBOX)?.map(|v| v.record))
    }

    async fn commit(&self, commit: Commit) -> Result<CommitOutcome, StoreError> {
        self.fail_if_injected()?;
        let mut items = self.lock();
        let mut touched = HashSet::new();
        let outbox_key = commit
            .outbox
            .as_ref()
            .map(|o| (keys::outbox_pk(&o.key), keys::OUTBOX.to_owned()));
        for key in outbox_key
            .iter()
            .cloned()
            .chain(commit.writes.iter().map(write_key))
        {
            if !touched.insert(key.clone()) {
                return Err(StoreError::Unstorable {
                    key: crate::redact::item_key(&key.0, &key.1),
                    reason: "one commit touches the item twice".into(),
                });
            }
        }
        // As DynamoDB: the ahead puts land one by one (those whose condition holds), before the
        // transaction and whatever becomes of it.
        let (ahead, writes) = split_ahead(&commit.writes);
        let mut refused = false;
        for put in ahead {
            let put = ahead_put(put)?;
            if holds(&items, put) {
                apply(&mut items, put)?;
            } else {
                refused = true;
            }
        }
        if refused {
            return Ok(CommitOutcome::Conflict);
        }
        if self
            .failing_transactions
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
        {
            return Err(StoreError::Unstorable {
                key: "commit".into(),
                reason: "injected fault: the transaction was refused".into(),
            });
        }
        if let Some(key) = &outbox_key {
            if items.contains_key(key) {
                return Ok(CommitOutcome::Duplicate);
            }
        }
        if !writes.iter().all(|w| holds(&items, w)) {
            return Ok(CommitOutcome::Conflict);
        }
        if let (Some(key), Some(outbox)) = (outbox_key, &commit.outbox) {
            let value = serde_json::to_value(outbox).map_err(|source| StoreError::Corrupt {
                key: crate::redact::item_key(&key.0, &key.1),
                source: source.into(),
            })?;
            items.insert(
                key,
                Stored {
                    value,
                    version: None,
                },
            );
        }
        for write in writes {
            apply(&mut items, write)?;
        }
        Ok(CommitOutcome::Applied)
    }

    async fn mark_published(&self, update_key: &str) -> Result<(), StoreError> {
        let mut items = self.lock();
        let key = (keys::outbox_pk(update_key), keys::OUTBOX.to_owned());
        if let Some(Value::Object(map)) = items.get_mut(&key).map(|s| &mut s.value) {
            map.insert("published".into(), Value::Bool(true));
        }
        Ok(())
    }
}

impl ProcessorStore for MemoryStore {
    async fn find_aliases(
        &self,
        business: &str,
        aliases: &[String],
    ) -> Result<Vec<AliasRecord>, StoreError> {
        let items = self.lock();
        let mut found = Vec::new();
        for alias in aliases {
            if let Some(v) = Self::versioned::<AliasRecord>(
                &items,
                keys::alias_pk(business, alias),
                keys::ALIAS,
            )? {
                found.push(v.record);
            }
        }
        Ok(found)
    }

    async fn load_contact(
        &self,
        business: &str,
        contact_id: &str,
    ) -> Result<ContactState, StoreError> {
        let items = self.lock();
        let pk = keys::contact_pk(business, contact_id);
        Ok(ContactState {
            contact: Self::versioned(&items, pk.clone(), keys::PROFILE)?,
            conversation: Self::versioned(&items, pk, keys::CONVERSATION)?,
        })
    }

    async fn load_message(&self, wamid: &str) -> Result<MessageState, StoreError> {
        let items = self.lock();
        let pk = keys::message_pk(wamid);
        let message = Self::versioned(&items, pk.clone(), keys::MESSAGE)?;
        let unpublished = match items.get(&(pk.clone(), keys::MESSAGE.to_owned())) {
            Some(stored) => unpublished::unpublished_of(&pk, &stored.value)?,
            None => Default::default(),
        };
        let external = Self::versioned(&items, pk.clone(), keys::EXTERNAL)?;
        let mut parked = Vec::new();
        for ((item_pk, sk), stored) in items.range((pk.clone(), String::new())..) {
            if *item_pk != pk {
                break;
            }
            if sk.starts_with("PARKED#") {
                parked.push(
                    serde_json::from_value(stored.value.clone()).map_err(|source| {
                        StoreError::Corrupt {
                            key: crate::redact::item_key(item_pk, sk),
                            source: source.into(),
                        }
                    })?,
                );
            }
        }
        Ok(MessageState {
            message,
            external,
            parked,
            unpublished,
        })
    }
}
