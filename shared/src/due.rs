//! What is due next for a contact's conversation record, in one place: the window's alerts
//! (`crate::window`) and the helpdesk conversation's idle close (`crate::conversation`) share
//! the record's one `due-index` entry, `due_at` = the earlier of the two.
//!
//! Writers that make something due earlier (a customer message) arm `due_at`; writers that only
//! push deadlines later (an agent's answer, a close) may leave it: an entry due early costs the
//! schedule one read, which finds nothing to do and re-arms. A `due_at` at or before the deadline
//! of the last alert recorded means "that alert was committed and not re-armed" (see
//! `crate::window`), so the armed value is never put there otherwise.

use crate::config::{ConfigError, Env};
use crate::conversation::IdleTimeout;
use crate::store::{keys, ConversationRecord};
use crate::window::{self, Alert, AlertLeads};

/// The settings that decide deadlines: `ALERT_LEAD_MINUTES` and `CONVERSATION_IDLE_MINUTES`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DuePolicy {
    pub leads: AlertLeads,
    pub idle: IdleTimeout,
}

impl DuePolicy {
    /// The one reader of both settings (the processor arms, window-alerts acts).
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let raw: String = env.parsed_or("ALERT_LEAD_MINUTES", AlertLeads::DEFAULT.to_owned())?;
        let leads = AlertLeads::parse(&raw).map_err(|e| ConfigError::Invalid {
            name: "ALERT_LEAD_MINUTES",
            value: raw.clone(),
            reason: e.to_string(),
        })?;
        Ok(Self {
            leads,
            idle: IdleTimeout::from_env(env)?,
        })
    }

    /// When `conv` next needs the schedule (`None`: never, it can leave the index).
    pub fn next_due(&self, conv: &ConversationRecord) -> Option<i64> {
        let alert = window::alert_due(conv, &self.leads);
        let idle = self.idle.close_at(conv);
        let due = match (alert, idle) {
            (Some(a), Some(i)) => Some(a.min(i)),
            (a, i) => a.or(i),
        }?;
        // Never where a held alert would be read (see the module docs): a deadline that early
        // is already past, so one second later is as due.
        let floor = conv
            .window_expires_at
            .zip(window::last_alert(conv))
            .map(|(expires, last)| last.deadline(expires) + 1);
        let due = floor.map_or(due, |f| due.max(f));
        // Events the schedule committed and has not seen published keep the entry where it
        // was held (due), whoever re-arms the record meanwhile.
        Some(match (&conv.unpublished, conv.due_at) {
            (Some(_), Some(held)) => due.min(held),
            _ => due,
        })
    }

    /// Arms `conv` for what became due earlier: `due_at` moves to [`Self::next_due`] when that
    /// is earlier (or nothing was armed), never later (a later `due_at` may hold an alert).
    pub fn arm_earlier(&self, conv: &mut ConversationRecord) {
        let Some(next) = self.next_due(conv) else {
            return;
        };
        if conv.due_at.is_none_or(|d| next < d) || conv.due_bucket.is_none() {
            conv.due_at = Some(conv.due_at.map_or(next, |d| d.min(next)));
            conv.due_bucket = Some(keys::due_bucket(&conv.contact_id));
        }
    }

    /// The next step for `conv` at `now` (Unix seconds).
    pub fn next_step(&self, conv: &ConversationRecord, now: i64) -> Step {
        if let Some(key) = &conv.unpublished {
            return Step::Publish(key.clone());
        }
        if let Some(step) = window::alert_action(conv, &self.leads, now) {
            return match step {
                window::Step::Finish(alert) => Step::Finish(alert),
                window::Step::Send(alert) => Step::Send(alert),
                // alert_action answers Finish or Send only.
                window::Step::Wait | window::Step::Rearm(_) => Step::Wait,
            };
        }
        if let Some(at) = self.idle.close_at(conv).filter(|at| *at <= now) {
            return Step::IdleClose { at };
        }
        let next = self.next_due(conv);
        if conv.due_at == next && conv.due_bucket.is_some() == next.is_some() {
            Step::Wait
        } else {
            Step::Rearm(next)
        }
    }
}

/// What a due conversation record needs next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Nothing; its `due_at` is right.
    Wait,
    /// Events the schedule committed under this outbox key were not seen published: publish
    /// them, then re-arm (clearing `unpublished`).
    Publish(String),
    /// Publish an alert committed earlier, then re-arm.
    Finish(Alert),
    /// Commit this alert (with `conversation.abandoned` when the window expired on a waiting
    /// customer), publish it, re-arm.
    Send(Alert),
    /// Close the open conversation as idle at `at` (its deadline).
    IdleClose { at: i64 },
    /// Move `due_at` (`None` = leave the index).
    Rearm(Option<i64>),
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conversation::{self, AgentMessage, Entry};

    const T: i64 = 1_750_000_000;

    fn policy(idle_minutes: u32) -> DuePolicy {
        DuePolicy {
            leads: AlertLeads::default(),
            idle: IdleTimeout::from_minutes(idle_minutes).expect("valid"),
        }
    }

    /// A customer wrote at `T`: window, first alert and conversation, armed as the processor does.
    fn written(p: &DuePolicy) -> ConversationRecord {
        let (mut c, _) = window::opened_by_inbound(None, "b", "ct_1", T, Some("wamid.A"), p)
            .expect("a new window");
        conversation::customer_message(&mut c, T, "wamid.A", Some("wamid.A"), Entry::Organic);
        p.arm_earlier(&mut c);
        c
    }

    #[test]
    fn due_is_the_earlier_of_the_next_alert_and_the_idle_close() {
        let p = policy(1440);
        let c = written(&p);
        assert_eq!(
            c.due_at,
            Some(T + 86_400 - 3600),
            "the 60-minute alert first"
        );
        let p = policy(30);
        let c = written(&p);
        assert_eq!(c.due_at, Some(T + 1800), "a 30-minute idle close first");
        assert!(c.due_bucket.is_some());
    }

    #[test]
    fn an_idle_conversation_is_closed_when_no_alert_is_due() {
        let p = policy(30);
        let c = written(&p);
        assert_eq!(p.next_step(&c, T + 1799), Step::Wait);
        assert_eq!(p.next_step(&c, T + 1800), Step::IdleClose { at: T + 1800 });
        // An answer moves the close later; the early entry is re-armed, not acted on.
        let mut answered = c.clone();
        conversation::agent_message(&mut answered, T + 600, &AgentMessage::App);
        assert_eq!(
            p.next_step(&answered, T + 1800),
            Step::Rearm(Some(T + 600 + 1800))
        );
    }

    #[test]
    fn alerts_go_before_the_idle_close_and_expiry_before_the_close_at_the_same_second() {
        let p = policy(1440);
        let mut c = written(&p);
        c.alerted_leads = vec![60, 15];
        c.due_at = Some(T + 86_400);
        assert_eq!(
            p.next_step(&c, T + 86_400),
            Step::Send(Alert::Expired),
            "the window expires (and abandons) first"
        );
        c.alerted_leads.push(0);
        c.due_at = p.next_due(&c);
        assert_eq!(
            c.due_at,
            Some(T + 86_401),
            "never at the held alert's deadline"
        );
        assert_eq!(
            p.next_step(&c, T + 86_401),
            Step::IdleClose { at: T + 86_400 }
        );
    }

    #[test]
    fn a_held_alert_is_finished_first_and_arming_never_releases_it() {
        let p = policy(30);
        let mut c = written(&p);
        c.alerted_leads = vec![60];
        c.due_at = Some(T + 86_400 - 3600); // committed, not re-armed
        assert_eq!(
            p.next_step(&c, T + 90_000),
            Step::Finish(Alert::Expiring(60))
        );
        // A late customer message in the old conversation arms "earlier" only, and a
        // deadline before the held one is floored past it: the hold stays.
        p.arm_earlier(&mut c);
        assert_eq!(c.due_at, Some(T + 86_400 - 3600));
        assert_eq!(p.next_due(&c), Some(T + 86_400 - 3599));
    }

    #[test]
    fn unpublished_lifecycle_events_are_published_before_anything_else() {
        let p = policy(30);
        let mut c = written(&p);
        c.unpublished = Some("idle-close:cv_1".into());
        assert_eq!(
            p.next_step(&c, T + 99_999),
            Step::Publish("idle-close:cv_1".into())
        );
    }

    #[test]
    fn a_customer_writing_while_an_idle_close_is_unpublished_keeps_it_due() {
        let p = policy(30);
        let mut c = written(&p);
        conversation::close(
            &mut c,
            T + 1800,
            conversation::Close {
                by: conversation::ClosedBy::Idle,
                reason: None,
                tags: vec![],
            },
        );
        c.unpublished = Some("idle-close:cv_1".into());
        c.due_at = Some(T + 1800);
        let current = crate::store::Versioned {
            record: c,
            version: 3,
        };
        let (after, _) =
            window::opened_by_inbound(Some(current), "b", "ct_1", T + 2000, Some("wamid.B"), &p)
                .expect("a newer message");
        assert_eq!(after.due_at, Some(T + 1800), "still due for the publish");
        assert_eq!(
            p.next_step(&after, T + 2001),
            Step::Publish("idle-close:cv_1".into())
        );
    }

    #[test]
    fn a_record_with_nothing_ahead_leaves_the_index() {
        let p = policy(1440);
        let mut c = written(&p);
        c.open = None;
        c.alerted_leads = vec![60, 15, 0];
        c.due_at = Some(T + 86_401);
        assert_eq!(p.next_due(&c), None);
        assert_eq!(p.next_step(&c, T + 90_000), Step::Rearm(None));
        // A window Meta closed early alerts no more, but the open conversation still closes.
        let mut closed = written(&p);
        closed.window_closed_at = Some(T + 10);
        assert_eq!(p.next_due(&closed), Some(T + 86_400));
    }

    #[test]
    fn reads_both_settings_once() {
        let env = Env::from_map(
            [
                ("ALERT_LEAD_MINUTES".to_owned(), "30".to_owned()),
                ("CONVERSATION_IDLE_MINUTES".to_owned(), "90".to_owned()),
            ]
            .into(),
        );
        let p = DuePolicy::from_env(&env).expect("valid");
        assert_eq!(p.leads.minutes(), &[30]);
        assert_eq!(p.idle.secs(), 5400);
        let bad = Env::from_map([("ALERT_LEAD_MINUTES".to_owned(), "0".to_owned())].into());
        assert!(matches!(
            DuePolicy::from_env(&bad),
            Err(ConfigError::Invalid {
                name: "ALERT_LEAD_MINUTES",
                ..
            })
        ));
    }
}
