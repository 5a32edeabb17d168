//! Personal data under LGPD/GDPR: the keyed hash that replaces a person's identifiers in what is
//! kept after an erasure (the consent ledger as proof), and the audit of who asked for what.
//!
//! The hash is HMAC-SHA256 with a key only the bridge holds (Secrets Manager, [`SubjectKeys`]):
//! a plain hash of a phone number is reversed by trying every number, a keyed one is not. Both the
//! current and the previous key version are tried on lookup, so a rotation does not forget an
//! opt-out.

use hmac::{KeyInit, Mac};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::consent::{ConsentAction, ConsentSource};
use crate::identity::{phone_alias, user_alias, Identity};
use crate::secrets::{is_placeholder, SecretVersions, SecretsError};

type HmacSha256 = hmac::Hmac<Sha256>;

/// Shards of an audit day's partition, so many commands per second per business spread over
/// several partitions (docs/scale.md).
pub const AUDIT_SHARDS: u32 = 8;

/// The privacy secret: `{"hash_key": "…"}` (generated at stack creation).
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubjectKeys {
    pub hash_key: SecretString,
}

impl std::fmt::Debug for SubjectKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SubjectKeys([REDACTED])")
    }
}

impl SubjectKeys {
    /// The keyed hash of `basis` (`wa:<canonical digits>` or `uid:<user id>`) for `business`:
    /// `hs_` + 64 hex. `None` when the key is unset or a placeholder.
    pub fn hash(&self, business: &str, basis: &str) -> Option<String> {
        let key = self.hash_key.expose_secret();
        if is_placeholder(key) {
            return None;
        }
        let mut mac = <HmacSha256 as KeyInit>::new_from_slice(key.as_bytes()).ok()?;
        mac.update(format!("{business}\n{basis}").as_bytes());
        Some(format!("hs_{}", hex::encode(mac.finalize().into_bytes())))
    }
}

/// The bases of a person's keyed hashes: their canonical number and their user id, as the
/// contact id is derived (`shared::identity`), so every form of the number hashes alike.
pub fn subject_bases(identity: &Identity) -> Vec<String> {
    let mut out: Vec<String> = identity
        .wa_id
        .iter()
        .map(|w| phone_alias(&w.canonical()))
        .collect();
    out.extend(identity.user_id.iter().map(|u| user_alias(u.as_str())));
    out
}

/// The hashes of `bases` under the current key (first) and the previous one, if any.
pub fn subject_hashes(
    keys: &SecretVersions<SubjectKeys>,
    business: &str,
    bases: &[String],
) -> Result<Vec<String>, SecretsError> {
    let current: Vec<String> = bases
        .iter()
        .filter_map(|b| keys.current.value.hash(business, b))
        .collect();
    if current.is_empty() && !bases.is_empty() {
        return Err(SecretsError::Unset {
            what: "hash_key of the privacy secret",
        });
    }
    let mut out = current;
    if let Some(previous) = &keys.previous {
        for h in bases
            .iter()
            .filter_map(|b| previous.value.hash(business, b))
        {
            if !out.contains(&h) {
                out.push(h);
            }
        }
    }
    Ok(out)
}

/// Keys of what an erasure keeps and of the audit.
pub mod keys {
    /// Partition of the consent ledger kept for an erased person, named by their keyed hash.
    pub fn erased_pk(business: &str, subject: &str) -> String {
        format!("ERASED#{business}#{subject}")
    }

    /// One audit item: partition `AUDIT#<business>#<yyyy-mm-dd>#<shard>`, sort key
    /// `<at_ms:013>#<command_id>`.
    pub fn audit(business: &str, at_ms: i64, command_id: &str) -> (String, String) {
        let shard = command_id.bytes().fold(0u32, |acc, b| {
            acc.wrapping_mul(31).wrapping_add(u32::from(b))
        }) % super::AUDIT_SHARDS;
        let day = crate::events::rfc3339(at_ms / 1000);
        let day = day.get(..10).unwrap_or("1970-01-01");
        (
            format!("AUDIT#{business}#{day}#{shard}"),
            format!("{at_ms:013}#{command_id}"),
        )
    }

    /// An erasure's progress while it pages through the contact's items (`CMD#<id>`).
    pub fn erasure(command_id: &str) -> (String, String) {
        (format!("CMD#{command_id}"), "ERASURE".into())
    }
}

/// A consent decision kept after its person was erased: the decision and its time, no
/// identifier (the partition is the keyed hash), no words, no wamid.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HashedConsent {
    pub business: String,
    pub subject: String,
    pub action: ConsentAction,
    pub source: ConsentSource,
    pub category: String,
    /// Meta time of the decision (Unix seconds).
    pub occurred_at: i64,
    /// The original entry's id (a hash of its update key), so a repeated erasure rewrites it.
    pub entry_id: String,
    pub recorded_at_ms: i64,
    /// DynamoDB TTL (Unix seconds): the original entry's, `CONSENT_RETENTION_DAYS` after it was
    /// recorded; the proof goes when the decision would have.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl: Option<i64>,
}

impl HashedConsent {
    pub fn sort_key(&self) -> String {
        crate::store::keys::consent_sk(self.occurred_at, &self.entry_id)
    }
}

/// Who asked for what, and how it ended. Holds no phone number, name or message text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditRecord {
    pub business: String,
    pub command_id: String,
    pub command_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor: Option<String>,
    /// The outcome event's type (`command.accepted`, `contact.erased`, …) or `failed_attempt`.
    pub outcome: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// erase/export: the keyed hash of the person (never their number).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    pub at_ms: i64,
    /// `AUDIT_RETENTION_DAYS` past `at_ms` (Unix seconds).
    pub ttl: i64,
}

impl AuditRecord {
    pub fn key(&self) -> (String, String) {
        keys::audit(&self.business, self.at_ms, &self.command_id)
    }
}

/// An export's id: derived from the command, so a redelivery rewrites the same object.
pub fn export_id(command_id: &str) -> String {
    format!(
        "ex_{}",
        hex::encode(
            Sha256::digest(command_id.as_bytes())
                .get(..12)
                .unwrap_or_default()
        )
    )
}

/// Whether a consent ledger (newest decision last) leaves the person opted out.
pub fn opted_out_by(ledger: &[HashedConsent]) -> Option<(bool, i64)> {
    ledger
        .iter()
        .max_by_key(|e| (e.occurred_at, e.recorded_at_ms))
        .map(|e| (e.action == ConsentAction::OptOut, e.occurred_at))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secrets::Version;

    fn keys(k: &str) -> SubjectKeys {
        SubjectKeys {
            hash_key: SecretString::from(k.to_owned()),
        }
    }

    #[test]
    fn every_form_of_a_number_hashes_alike_and_only_with_the_key() {
        let a = subject_bases(&Identity::new(Some("5511987654321"), None));
        let b = subject_bases(&Identity::new(Some("551187654321"), None));
        assert_eq!(a, b);
        let h = keys("k1").hash("pn", &a[0]).unwrap();
        assert!(h.starts_with("hs_") && h.len() == 67);
        assert_ne!(Some(h.clone()), keys("k2").hash("pn", &a[0]));
        assert_ne!(Some(h.clone()), keys("k1").hash("other", &a[0]));
        assert!(!h.contains("987654321"));
        assert_eq!(keys("set-me").hash("pn", &a[0]), None);
    }

    #[test]
    fn the_previous_key_is_tried_too_and_an_unset_key_is_an_error() {
        let versions = SecretVersions {
            current: Version {
                value: keys("new"),
                created_ms: None,
            },
            previous: Some(Version {
                value: keys("old"),
                created_ms: None,
            }),
        };
        let bases = vec!["wa:5511987654321".to_owned()];
        let hashes = subject_hashes(&versions, "pn", &bases).unwrap();
        assert_eq!(hashes.len(), 2);
        assert_eq!(Some(hashes[1].clone()), keys("old").hash("pn", &bases[0]));
        let unset = SecretVersions {
            current: Version {
                value: keys(""),
                created_ms: None,
            },
            previous: None,
        };
        assert!(matches!(
            subject_hashes(&unset, "pn", &bases),
            Err(SecretsError::Unset { .. })
        ));
    }

    #[test]
    fn audit_keys_spread_a_day_over_shards() {
        let shards: std::collections::HashSet<String> = (0..100)
            .map(|i| keys::audit("pn", 1_790_000_000_000, &format!("c-{i}")).0)
            .collect();
        assert_eq!(shards.len(), AUDIT_SHARDS as usize);
        let (pk, sk) = keys::audit("pn", 1_790_000_000_000, "c-1");
        assert!(pk.starts_with("AUDIT#pn#2026-"), "{pk}");
        assert!(sk.ends_with("#c-1"));
    }

    #[test]
    fn the_newest_decision_decides() {
        let entry = |action, at| HashedConsent {
            business: "pn".into(),
            subject: "hs_x".into(),
            action,
            source: ConsentSource::Keyword,
            category: "marketing".into(),
            occurred_at: at,
            entry_id: format!("e{at}"),
            recorded_at_ms: 0,
            ttl: None,
        };
        assert_eq!(opted_out_by(&[]), None);
        assert_eq!(
            opted_out_by(&[
                entry(ConsentAction::OptIn, 5),
                entry(ConsentAction::OptOut, 9)
            ]),
            Some((true, 9))
        );
        assert_eq!(
            opted_out_by(&[
                entry(ConsentAction::OptIn, 10),
                entry(ConsentAction::OptOut, 9)
            ]),
            Some((false, 10))
        );
    }
}
