//! How long each item kind lives (DynamoDB TTL, attribute `ttl`, Unix seconds): the four
//! retention settings, one parser each, and the arithmetic every writer asks.
//!
//! Messages, parked statuses and outbox items live `RETENTION_DAYS` from their write. A
//! contact's profile, conversation and aliases live `CONTACT_RETENTION_DAYS` from the person's
//! last activity; the consent ledger `CONSENT_RETENTION_DAYS` (proof of consent); audit items
//! `AUDIT_RETENTION_DAYS`. Items written once but read on every message (the profile, the
//! aliases) are refreshed only when their TTL has fallen a refresh period behind (one write per
//! item per period, not one per message), and an alias always outlives its contact, so a
//! living contact is always found by its aliases (docs/data-model.md, "Retention").

use crate::config::{ConfigError, Env};
use crate::store::ContactRecord;

const DAY_SECS: i64 = 86_400;

/// Outbox items (the dedup markers) outlive Meta's 7 days of webhook retries.
const MIN_MARKER_SECS: i64 = 8 * DAY_SECS;

/// The longest refresh period: an item read on every message is rewritten at most this often.
const MAX_REFRESH_SECS: i64 = 7 * DAY_SECS;

/// The retention settings, read once at cold start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    /// `RETENTION_DAYS` (90): messages, parked statuses, outbox items.
    pub messages_days: u32,
    /// `CONTACT_RETENTION_DAYS` (365, at least `RETENTION_DAYS`): contact profile, conversation,
    /// aliases, from the person's last activity.
    pub contact_days: u32,
    /// `CONSENT_RETENTION_DAYS` (1825): consent ledger entries, and an opted-out contact (its
    /// opt-out must be honoured as long as it is kept as proof).
    pub consent_days: u32,
    /// `AUDIT_RETENTION_DAYS` (365): audit items.
    pub audit_days: u32,
}

impl Default for Retention {
    fn default() -> Self {
        Self {
            messages_days: DEFAULT_RETENTION_DAYS,
            contact_days: DEFAULT_CONTACT_RETENTION_DAYS,
            consent_days: DEFAULT_CONSENT_RETENTION_DAYS,
            audit_days: DEFAULT_AUDIT_RETENTION_DAYS,
        }
    }
}

pub const DEFAULT_RETENTION_DAYS: u32 = 90;
pub const DEFAULT_CONTACT_RETENTION_DAYS: u32 = 365;
pub const DEFAULT_CONSENT_RETENTION_DAYS: u32 = 1825;
pub const DEFAULT_AUDIT_RETENTION_DAYS: u32 = 365;

/// A number of days, at least 1.
fn days(env: &Env, name: &'static str, default: u32) -> Result<u32, ConfigError> {
    let days: u32 = env.parsed_or(name, default)?;
    if days == 0 {
        return Err(ConfigError::Invalid {
            name,
            value: "0".into(),
            reason: "must be at least 1".into(),
        });
    }
    Ok(days)
}

/// `RETENTION_DAYS`.
pub fn retention_days(env: &Env) -> Result<u32, ConfigError> {
    days(env, "RETENTION_DAYS", DEFAULT_RETENTION_DAYS)
}

/// `CONTACT_RETENTION_DAYS`: refused below `RETENTION_DAYS`, so a contact never goes before
/// the messages that name it.
pub fn contact_retention_days(env: &Env, messages_days: u32) -> Result<u32, ConfigError> {
    let contact = days(
        env,
        "CONTACT_RETENTION_DAYS",
        DEFAULT_CONTACT_RETENTION_DAYS.max(messages_days),
    )?;
    if contact < messages_days {
        return Err(ConfigError::Invalid {
            name: "CONTACT_RETENTION_DAYS",
            value: contact.to_string(),
            reason: format!("must be at least RETENTION_DAYS ({messages_days})"),
        });
    }
    Ok(contact)
}

/// `CONSENT_RETENTION_DAYS`.
pub fn consent_retention_days(env: &Env) -> Result<u32, ConfigError> {
    days(
        env,
        "CONSENT_RETENTION_DAYS",
        DEFAULT_CONSENT_RETENTION_DAYS,
    )
}

/// `AUDIT_RETENTION_DAYS`.
pub fn audit_retention_days(env: &Env) -> Result<u32, ConfigError> {
    days(env, "AUDIT_RETENTION_DAYS", DEFAULT_AUDIT_RETENTION_DAYS)
}

fn secs(days: u32) -> i64 {
    i64::from(days) * DAY_SECS
}

/// How long after its last write an item read on every message may go unwritten: a tenth of
/// its lifetime, at most 7 days.
fn refresh_secs(lifetime_secs: i64) -> i64 {
    (lifetime_secs / 10).min(MAX_REFRESH_SECS)
}

impl Retention {
    /// All four settings.
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let messages_days = retention_days(env)?;
        Ok(Self {
            messages_days,
            contact_days: contact_retention_days(env, messages_days)?,
            consent_days: consent_retention_days(env)?,
            audit_days: audit_retention_days(env)?,
        })
    }

    /// Lifetime of messages and parked statuses (seconds).
    pub fn message_secs(&self) -> i64 {
        secs(self.messages_days)
    }

    /// Lifetime of outbox items: the retention, but at least 8 days, so a dedup marker outlives
    /// Meta's 7 days of retries.
    pub fn marker_secs(&self) -> i64 {
        self.message_secs().max(MIN_MARKER_SECS)
    }

    /// TTL of a message or parked status written at `now_s`.
    pub fn message_ttl(&self, now_s: i64) -> i64 {
        now_s.saturating_add(self.message_secs())
    }

    /// TTL of an outbox item written at `now_s`.
    pub fn marker_ttl(&self, now_s: i64) -> i64 {
        now_s.saturating_add(self.marker_secs())
    }

    /// TTL of a conversation (and a conversation alias) written at `now_s`: every write of it
    /// is activity of the person or the business.
    pub fn conversation_ttl(&self, now_s: i64) -> i64 {
        now_s.saturating_add(secs(self.contact_days))
    }

    /// Lifetime of a contact seen at `now_s`: `CONTACT_RETENTION_DAYS`, or
    /// `CONSENT_RETENTION_DAYS` if longer while the person is opted out of marketing (the
    /// opt-out is honoured as long as it is kept as proof).
    fn contact_secs(&self, contact: &ContactRecord) -> i64 {
        let contact_secs = secs(self.contact_days);
        if contact.marketing_opt_out {
            contact_secs.max(secs(self.consent_days))
        } else {
            contact_secs
        }
    }

    /// TTL of a contact profile active at `now_s`.
    pub fn contact_ttl(&self, now_s: i64, contact: &ContactRecord) -> i64 {
        now_s.saturating_add(self.contact_secs(contact))
    }

    /// The TTL a profile written at `now_s` gets, or `None` when its stored one is recent
    /// enough (refreshed less than a refresh period ago) and nothing else changed: the caller
    /// then skips the write.
    pub fn refreshed_contact_ttl(&self, now_s: i64, contact: &ContactRecord) -> Option<i64> {
        let target = self.contact_ttl(now_s, contact);
        let fresh = contact
            .ttl
            .is_some_and(|t| t >= target - refresh_secs(self.contact_secs(contact)));
        (!fresh).then_some(target)
    }

    /// TTL of an identity alias of a contact whose profile expires at `contact_ttl`: a refresh
    /// period past it, so the alias outlives the contact and is rewritten at most once a period.
    pub fn alias_ttl(&self, contact_ttl: i64, contact: &ContactRecord) -> i64 {
        contact_ttl.saturating_add(refresh_secs(self.contact_secs(contact)))
    }

    /// Whether an alias stored with `alias_ttl` would go before a contact expiring at
    /// `contact_ttl` (or has no TTL): then it is rewritten with [`Retention::alias_ttl`].
    pub fn alias_is_stale(alias_ttl: Option<i64>, contact_ttl: i64) -> bool {
        alias_ttl.is_none_or(|t| t < contact_ttl)
    }

    /// TTL of a consent ledger entry recorded at `now_s`.
    pub fn consent_ttl(&self, now_s: i64) -> i64 {
        now_s.saturating_add(secs(self.consent_days))
    }

    /// TTL of an audit item written at `now_s`.
    pub fn audit_ttl(&self, now_s: i64) -> i64 {
        now_s.saturating_add(secs(self.audit_days))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn env(vars: &[(&str, &str)]) -> Env {
        Env::from_map(
            vars.iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect::<BTreeMap<_, _>>(),
        )
    }

    fn contact(opted_out: bool, ttl: Option<i64>) -> ContactRecord {
        ContactRecord {
            business: "pn".into(),
            contact_id: "ct_1".into(),
            wa_id: None,
            phone: None,
            user_id: None,
            parent_user_id: None,
            name: None,
            username: None,
            marketing_opt_out: opted_out,
            consent_at: None,
            created_at_ms: 0,
            updated_at_ms: 0,
            ttl,
        }
    }

    const NOW: i64 = 1_800_000_000;

    #[test]
    fn every_setting_has_its_default() {
        let r = Retention::from_env(&env(&[])).unwrap();
        assert_eq!(r, Retention::default());
        assert_eq!(
            (
                r.messages_days,
                r.contact_days,
                r.consent_days,
                r.audit_days
            ),
            (90, 365, 1825, 365)
        );
    }

    #[test]
    fn a_contact_retention_shorter_than_the_messages_is_refused() {
        let err = Retention::from_env(&env(&[
            ("RETENTION_DAYS", "30"),
            ("CONTACT_RETENTION_DAYS", "29"),
        ]))
        .unwrap_err();
        assert!(matches!(
            err,
            ConfigError::Invalid {
                name: "CONTACT_RETENTION_DAYS",
                ..
            }
        ));
        let equal = Retention::from_env(&env(&[
            ("RETENTION_DAYS", "30"),
            ("CONTACT_RETENTION_DAYS", "30"),
        ]))
        .unwrap();
        assert_eq!(equal.contact_days, 30);
    }

    #[test]
    fn an_unset_contact_retention_follows_a_longer_message_retention() {
        let r = Retention::from_env(&env(&[("RETENTION_DAYS", "400")])).unwrap();
        assert_eq!(r.contact_days, 400);
    }

    #[test]
    fn zero_negative_and_garbage_days_are_refused_by_name() {
        for name in [
            "RETENTION_DAYS",
            "CONTACT_RETENTION_DAYS",
            "CONSENT_RETENTION_DAYS",
            "AUDIT_RETENTION_DAYS",
        ] {
            for bad in ["0", "-1", "1.5", "forever"] {
                match Retention::from_env(&env(&[(name, bad)])) {
                    Err(ConfigError::Invalid { name: n, .. }) => assert_eq!(n, name, "{bad}"),
                    other => panic!("{name}={bad}: {other:?}"),
                }
            }
        }
    }

    #[test]
    fn each_kind_lives_its_setting_from_now() {
        let r = Retention {
            messages_days: 2,
            contact_days: 3,
            consent_days: 5,
            audit_days: 7,
        };
        assert_eq!(r.message_ttl(NOW), NOW + 2 * DAY_SECS);
        assert_eq!(r.marker_ttl(NOW), NOW + 8 * DAY_SECS, "at least 8 days");
        assert_eq!(r.conversation_ttl(NOW), NOW + 3 * DAY_SECS);
        assert_eq!(
            r.contact_ttl(NOW, &contact(false, None)),
            NOW + 3 * DAY_SECS
        );
        assert_eq!(r.consent_ttl(NOW), NOW + 5 * DAY_SECS);
        assert_eq!(r.audit_ttl(NOW), NOW + 7 * DAY_SECS);
        let long = Retention {
            messages_days: 30,
            ..r
        };
        assert_eq!(long.marker_ttl(NOW), NOW + 30 * DAY_SECS);
    }

    #[test]
    fn an_opted_out_contact_lives_as_long_as_its_proof() {
        let r = Retention::default();
        assert_eq!(
            r.contact_ttl(NOW, &contact(true, None)),
            NOW + 1825 * DAY_SECS
        );
        let short_consent = Retention {
            consent_days: 10,
            ..r
        };
        assert_eq!(
            short_consent.contact_ttl(NOW, &contact(true, None)),
            NOW + 365 * DAY_SECS,
            "never shorter than the contact retention"
        );
    }

    #[test]
    fn a_profile_is_rewritten_only_once_its_ttl_is_a_refresh_period_behind() {
        let r = Retention::default(); // 365 days: refresh period 7 days
        let target = NOW + 365 * DAY_SECS;
        assert_eq!(
            r.refreshed_contact_ttl(NOW, &contact(false, None)),
            Some(target)
        );
        let recent = contact(false, Some(target - 7 * DAY_SECS));
        assert_eq!(r.refreshed_contact_ttl(NOW, &recent), None);
        let old = contact(false, Some(target - 7 * DAY_SECS - 1));
        assert_eq!(r.refreshed_contact_ttl(NOW, &old), Some(target));
        // Opting out moves the target to the consent retention: rewritten at once.
        let opted_out = contact(true, Some(target));
        assert_eq!(
            r.refreshed_contact_ttl(NOW, &opted_out),
            Some(NOW + 1825 * DAY_SECS)
        );
    }

    #[test]
    fn a_short_retention_refreshes_every_tenth_of_it() {
        let r = Retention {
            messages_days: 1,
            contact_days: 1,
            ..Retention::default()
        };
        let target = NOW + DAY_SECS;
        let c = contact(false, Some(target - DAY_SECS / 10));
        assert_eq!(r.refreshed_contact_ttl(NOW, &c), None);
        let c = contact(false, Some(target - DAY_SECS / 10 - 1));
        assert_eq!(r.refreshed_contact_ttl(NOW, &c), Some(target));
    }

    #[test]
    fn an_alias_outlives_its_contact_and_is_rewritten_only_when_it_would_not() {
        let r = Retention::default();
        let c = contact(false, None);
        let contact_ttl = r.contact_ttl(NOW, &c);
        let alias_ttl = r.alias_ttl(contact_ttl, &c);
        assert_eq!(alias_ttl, contact_ttl + 7 * DAY_SECS);
        assert!(!Retention::alias_is_stale(Some(alias_ttl), contact_ttl));
        assert!(!Retention::alias_is_stale(Some(contact_ttl), contact_ttl));
        assert!(Retention::alias_is_stale(
            Some(contact_ttl - 1),
            contact_ttl
        ));
        assert!(Retention::alias_is_stale(None, contact_ttl));
    }

    #[test]
    fn ttls_saturate_instead_of_overflowing() {
        let r = Retention::default();
        assert_eq!(r.message_ttl(i64::MAX), i64::MAX);
        assert_eq!(r.alias_ttl(i64::MAX, &contact(false, None)), i64::MAX);
    }
}
