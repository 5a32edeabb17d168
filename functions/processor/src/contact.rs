//! Finding (or creating) the one contact an identity belongs to, as part of a plan.

use std::collections::BTreeMap;

use shared::identity::{phone_alias, user_alias, Identity, UserId, WaId};
use shared::retention::Retention;
use shared::store::{
    AliasRecord, ContactRecord, ConversationRecord, Expect, ProcessorStore, StoreError, Versioned,
    Write,
};

/// A contact as read (or about to be created) plus the alias writes that make every form of the
/// identity find it. Mutate `record`; [`Resolved::writes`] turns the changes into writes.
#[derive(Debug, Clone)]
pub(crate) struct Resolved {
    pub record: ContactRecord,
    original: Option<Versioned<ContactRecord>>,
    pub conversation: Option<Versioned<ConversationRecord>>,
    aliases: BTreeMap<String, Write>,
    /// The stored aliases found pointing at this contact: rewritten when they would go before
    /// it (`shared::retention`).
    own_aliases: Vec<AliasRecord>,
    retention: Retention,
}

impl Resolved {
    /// Looks the identity up by every alias; a miss creates a contact with a deterministic id
    /// (or finds the contact of that id whose aliases are gone). `None` when the identity is
    /// empty (nothing to key a contact on).
    pub async fn find<S: ProcessorStore>(
        store: &S,
        business: &str,
        identity: &Identity,
        name: Option<&str>,
        now_ms: i64,
        retention: &Retention,
    ) -> Result<Option<Self>, StoreError> {
        let keys = identity.alias_keys();
        if keys.is_empty() {
            return Ok(None);
        }
        let found = store.find_aliases(business, &keys).await?;
        // By user id first, phone second (Meta's rule): the user id is the one key a person
        // who hides their number always arrives with.
        let by_user_id = found.iter().find(|a| a.alias.starts_with("uid:"));
        let contact_id = match by_user_id.or(found.first()) {
            Some(a) => {
                if found.iter().any(|b| b.contact_id != a.contact_id) {
                    tracing::warn!(
                        business,
                        "identity matches several contacts; keeping the user id's"
                    );
                }
                a.contact_id.clone()
            }
            None => match identity.new_contact_id(business) {
                Some(id) => id,
                None => return Ok(None),
            },
        };
        let state = store.load_contact(business, &contact_id).await?;
        let record = match &state.contact {
            Some(c) => c.record.clone(),
            None => ContactRecord {
                business: business.to_owned(),
                contact_id: contact_id.clone(),
                wa_id: None,
                phone: None,
                user_id: None,
                parent_user_id: None,
                name: None,
                username: None,
                marketing_opt_out: false,
                consent_at: None,
                created_at_ms: now_ms,
                updated_at_ms: now_ms,
                ttl: None,
            },
        };
        let mut own_aliases: Vec<AliasRecord> = found
            .iter()
            .filter(|a| a.contact_id == contact_id)
            .cloned()
            .collect();
        if state.contact.is_some()
            && retention
                .refreshed_contact_ttl(now_ms / 1000, &record)
                .is_some()
        {
            // The profile's TTL moves now (once a refresh period): so must every alias of the
            // contact, also those this identity does not carry (the user id of a message that
            // came by phone), or one could go first and split the person in two.
            let others: Vec<String> = own_alias_keys(&record)
                .into_iter()
                .filter(|k| !keys.contains(k))
                .collect();
            if !others.is_empty() {
                let more = store.find_aliases(business, &others).await?;
                own_aliases.extend(more.into_iter().filter(|a| a.contact_id == contact_id));
            }
        }
        let mut resolved = Self {
            record,
            original: state.contact,
            conversation: state.conversation,
            aliases: BTreeMap::new(),
            own_aliases,
            retention: *retention,
        };
        // Add what this identity brings: aliases that are missing, fields the contact lacks.
        for key in keys {
            if !found.iter().any(|a| a.alias == key) {
                resolved.add_alias(key, false);
            }
        }
        // The wa_id last received is the one to reply to.
        if let Some(wa) = &identity.wa_id {
            resolved.record.wa_id = Some(wa.as_str().to_owned());
            resolved.record.phone = wa.e164();
        }
        if let Some(uid) = &identity.user_id {
            if resolved.record.user_id.as_deref() != Some(uid.as_str()) {
                resolved.record.user_id = Some(uid.as_str().to_owned());
            }
        }
        if let Some(name) = name.filter(|n| !n.trim().is_empty()) {
            if resolved.record.name.as_deref() != Some(name) {
                resolved.record.name = Some(name.to_owned());
            }
        }
        Ok(Some(resolved))
    }

    fn add_alias(&mut self, alias: String, replace: bool) {
        let record = AliasRecord {
            business: self.record.business.clone(),
            alias: alias.clone(),
            contact_id: self.record.contact_id.clone(),
            ttl: None, // set by `writes`, from the contact's
        };
        self.aliases.insert(alias, Write::Alias { record, replace });
    }

    /// Moves the contact to a new number (`system` `user_changed_number`): the old number's
    /// aliases are removed, the new number's point here.
    pub fn change_number(&mut self, old: Option<&WaId>, new: &WaId) {
        for variant in old.map(WaId::variants).unwrap_or_default() {
            let alias = phone_alias(&variant);
            let record = AliasRecord {
                business: self.record.business.clone(),
                alias: alias.clone(),
                contact_id: self.record.contact_id.clone(),
                ttl: None,
            };
            self.aliases.insert(alias, Write::RemoveAlias(record));
        }
        for variant in new.variants() {
            self.add_alias(phone_alias(&variant), true);
        }
        self.record.wa_id = Some(new.as_str().to_owned());
        self.record.phone = new.e164();
    }

    /// What Meta tells about the person besides the keys: the parent user id (linked business
    /// portfolios) and the username, kept when given (never cleared by an update without them).
    pub fn learn(&mut self, parent_user_id: Option<&str>, username: Option<&str>) {
        if let Some(parent) = parent_user_id.and_then(UserId::parse) {
            self.record.parent_user_id = Some(parent.as_str().to_owned());
        }
        if let Some(username) = username.filter(|u| !u.trim().is_empty()) {
            self.record.username = Some(username.to_owned());
        }
    }

    /// Moves the contact to a new business-scoped user id (`system` `user_changed_user_id`,
    /// `user_id_update`, a number change): every old id's alias that still points here is
    /// removed, the new one points here (even if it pointed elsewhere: the id is this person's
    /// now). The contact id, conversation and consent ledger stay where they are.
    pub fn change_user_id(&mut self, old: &[&UserId], new: &UserId, new_parent: Option<&UserId>) {
        let known: Vec<UserId> = [
            self.record.user_id.as_deref(),
            self.stored().and_then(|s| s.user_id.as_deref()),
        ]
        .into_iter()
        .flatten()
        .filter_map(UserId::parse)
        .collect();
        for old in old.iter().copied().chain(&known) {
            if old == new {
                continue;
            }
            let alias = user_alias(old.as_str());
            let record = AliasRecord {
                business: self.record.business.clone(),
                alias: alias.clone(),
                contact_id: self.record.contact_id.clone(),
                ttl: None,
            };
            self.aliases.insert(alias, Write::RemoveAlias(record));
        }
        self.add_alias(user_alias(new.as_str()), true);
        self.record.user_id = Some(new.as_str().to_owned());
        if let Some(parent) = new_parent {
            self.record.parent_user_id = Some(parent.as_str().to_owned());
        }
    }

    /// The contact as it was stored before this plan (`None` for a brand-new one).
    pub fn stored(&self) -> Option<&ContactRecord> {
        self.original.as_ref().map(|v| &v.record)
    }

    pub fn is_new(&self) -> bool {
        self.original.is_none()
    }

    /// The contact write (if it changed, or its TTL is a refresh period behind) and the alias
    /// writes: new aliases, and stored ones that would go before the contact, with a TTL past
    /// the contact's (`shared::retention`).
    pub fn writes(&self, now_ms: i64) -> Vec<Write> {
        let now_s = now_ms / 1000;
        let mut record = self.record.clone();
        let contact = match &self.original {
            None => {
                record.ttl = Some(self.retention.contact_ttl(now_s, &record));
                let put = Write::Contact(record.clone(), Expect::Absent);
                // What the update says of a new person is a derivation: ahead of the transaction
                // (`Write::Ahead`). A consent decision stays in it, beside its ledger entry.
                let consent = record.marketing_opt_out || record.consent_at.is_some();
                Some(if consent { put } else { ahead(put) })
            }
            Some(v) => {
                let changed = v.record != self.record;
                let refreshed = self.retention.refreshed_contact_ttl(now_s, &record);
                if changed || refreshed.is_some() {
                    record.ttl = Some(self.retention.contact_ttl(now_s, &record));
                    if changed {
                        record.updated_at_ms = now_ms;
                    }
                    Some(Write::Contact(record.clone(), Expect::Version(v.version)))
                } else {
                    None
                }
            }
        };
        let contact_ttl = record
            .ttl
            .unwrap_or_else(|| self.retention.contact_ttl(now_s, &record));
        let alias_ttl = self.retention.alias_ttl(contact_ttl, &record);
        let mut out: Vec<Write> = self
            .aliases
            .values()
            // Removing an alias nobody created is a no-op; skip it for a brand-new contact.
            .filter(|w| !(self.is_new() && matches!(w, Write::RemoveAlias(_))))
            .cloned()
            .map(|w| match w {
                Write::Alias {
                    mut record,
                    replace,
                } => {
                    record.ttl = Some(alias_ttl);
                    let put = Write::Alias { record, replace };
                    // A new contact's alias maps a form of the identity to the contact it
                    // resolved to, absent or already pointing there: a redelivery resolves the
                    // same and writes it the same, so it goes ahead of the transaction.
                    if self.is_new() && !replace {
                        ahead(put)
                    } else {
                        put
                    }
                }
                other => other,
            })
            .collect();
        for alias in &self.own_aliases {
            if !self.aliases.contains_key(&alias.alias)
                && Retention::alias_is_stale(alias.ttl, contact_ttl)
            {
                let mut record = alias.clone();
                record.ttl = Some(alias_ttl);
                // Still "absent or pointing here": an alias is never stolen by a refresh.
                out.push(Write::Alias {
                    record,
                    replace: false,
                });
            }
        }
        out.extend(contact);
        out
    }
}

/// `write` as a put ahead of its commit's transaction (one write unit per KB, not two).
pub(crate) fn ahead(write: Write) -> Write {
    Write::Ahead(Box::new(write))
}

/// Every alias a contact is known by: its number's variants and its user id.
fn own_alias_keys(contact: &ContactRecord) -> Vec<String> {
    let mut keys: Vec<String> = contact
        .wa_id
        .as_deref()
        .and_then(WaId::parse)
        .map(|wa| wa.variants().iter().map(|v| phone_alias(v)).collect())
        .unwrap_or_default();
    keys.extend(contact.user_id.as_deref().map(user_alias));
    keys
}
