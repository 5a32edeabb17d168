//! [`PersonalDataStore`] in memory: `contact-index` is every item with that top-level
//! `contact_id`, in key order (as the GSI would list them, without its delay).

use serde_json::Value;

use super::{MemoryStore, Stored};
use crate::store::personal::{ItemKey, KeyPage, PersonalDataStore};
use crate::store::StoreError;

impl PersonalDataStore for MemoryStore {
    async fn contact_keys(
        &self,
        contact_id: &str,
        after: Option<ItemKey>,
        limit: usize,
    ) -> Result<KeyPage, StoreError> {
        let items = self.lock();
        let mut keys: Vec<ItemKey> = items
            .iter()
            .filter(|(_, s)| s.value.get("contact_id").and_then(Value::as_str) == Some(contact_id))
            .map(|((pk, sk), _)| ItemKey::new(pk.clone(), sk.clone()))
            .filter(|k| after.as_ref().is_none_or(|a| k > a))
            .collect();
        let limit = limit.max(1);
        let next = (keys.len() > limit).then(|| keys[limit - 1].clone());
        keys.truncate(limit);
        Ok(KeyPage { keys, next })
    }

    async fn read_partition(&self, pk: &str) -> Result<Vec<Value>, StoreError> {
        let keys: Vec<ItemKey> = self
            .lock()
            .range((pk.to_owned(), String::new())..)
            .take_while(|((p, _), _)| p == pk)
            .map(|((p, s), _)| ItemKey::new(p.clone(), s.clone()))
            .collect();
        self.read_items(&keys).await
    }

    async fn read_items(&self, keys: &[ItemKey]) -> Result<Vec<Value>, StoreError> {
        let items = self.lock();
        Ok(keys
            .iter()
            .filter_map(|k| {
                let stored = items.get(&(k.pk.clone(), k.sk.clone()))?;
                let mut value = stored.value.clone();
                if let Value::Object(map) = &mut value {
                    map.insert("pk".into(), k.pk.clone().into());
                    map.insert("sk".into(), k.sk.clone().into());
                }
                Some(value)
            })
            .collect())
    }

    async fn put_items(&self, puts: &[(ItemKey, Value)]) -> Result<(), StoreError> {
        self.fail_if_injected()?;
        let mut items = self.lock();
        for (k, value) in puts {
            items.insert(
                (k.pk.clone(), k.sk.clone()),
                Stored {
                    value: value.clone(),
                    version: None,
                },
            );
        }
        Ok(())
    }

    async fn delete_items(&self, keys: &[ItemKey]) -> Result<(), StoreError> {
        self.fail_if_injected()?;
        let mut items = self.lock();
        for k in keys {
            items.remove(&(k.pk.clone(), k.sk.clone()));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::{EventSource, EventType};
    use crate::store::{Commit, OutboxStore};
    use serde_json::json;

    fn key(pk: &str, sk: &str) -> ItemKey {
        ItemKey::new(pk, sk)
    }

    #[tokio::test]
    async fn the_index_lists_a_contacts_items_in_pages_and_nothing_of_others() {
        let store = MemoryStore::new();
        let mut puts = Vec::new();
        for i in 0..5 {
            puts.push((
                key(&format!("MSG#w{i}"), "MESSAGE"),
                json!({"contact_id": "ct_a", "wamid": format!("w{i}")}),
            ));
        }
        puts.push((key("MSG#x", "MESSAGE"), json!({"contact_id": "ct_b"})));
        puts.push((key("MSG#w1", "PARKED#read"), json!({"wamid": "w1"})));
        store.put_items(&puts).await.unwrap();
        let first = store.contact_keys("ct_a", None, 3).await.unwrap();
        assert_eq!(first.keys.len(), 3);
        let second = store.contact_keys("ct_a", first.next, 3).await.unwrap();
        assert_eq!(second.keys.len(), 2);
        assert_eq!(second.next, None);
        let partition = store.read_partition("MSG#w1").await.unwrap();
        assert_eq!(partition.len(), 2, "the message and its parked status");
        assert_eq!(
            ItemKey::of(&partition[1]),
            Some(key("MSG#w1", "PARKED#read"))
        );
        store
            .delete_items(&[key("MSG#w1", "MESSAGE"), key("MSG#gone", "MESSAGE")])
            .await
            .unwrap();
        assert_eq!(
            store
                .contact_keys("ct_a", None, 10)
                .await
                .unwrap()
                .keys
                .len(),
            4
        );
    }

    #[tokio::test]
    async fn an_outbox_of_a_contacts_events_is_in_the_contacts_index() {
        let store = MemoryStore::new();
        let source = EventSource {
            update_key: "msg:w1".into(),
            phone_number_id: Some("pn".into()),
            waba_id: None,
        };
        let about = crate::events::ContactRef {
            id: "ct_a".into(),
            ..Default::default()
        };
        let event = source
            .event(
                EventType::MessageReceived,
                0,
                0,
                Some(about),
                crate::events::data(serde_json::Map::new()).unwrap(),
            )
            .unwrap();
        let lone = source
            .event(
                EventType::TemplateStatus,
                1,
                0,
                None,
                crate::events::data(serde_json::Map::new()).unwrap(),
            )
            .unwrap();
        for (k, events) in [("msg:w1", vec![event]), ("change:t", vec![lone])] {
            let commit = Commit {
                outbox: Some(crate::outbox::outbox(k, events, 0, 1)),
                writes: Vec::new(),
            };
            store.commit(commit).await.unwrap();
        }
        let page = store.contact_keys("ct_a", None, 10).await.unwrap();
        assert_eq!(page.keys, vec![key("OUTBOX#msg:w1", "OUTBOX")]);
    }
}
