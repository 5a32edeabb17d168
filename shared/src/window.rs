//! The 24-hour customer-service window and the alerts before it closes: pure rules shared by the
//! processor (which opens a window and arms its first alert) and window-alerts (which sends them).
//!
//! An alert is one (conversation, `window_expires_at`, lead) — lead 0 being the close itself
//! (`window.expired`). A conversation records the leads alerted for its current window in
//! `alerted_leads` and when it next needs attention in `due_at` (the sparse `due-index`).
//! Sending is two writes so that a crash between them is found again: the commit that records an
//! alert keeps `due_at` at that alert's deadline (still due), and only once the event is on the
//! queue is `due_at` moved on ("re-armed"). A newer inbound message replaces the window, clears
//! `alerted_leads` and re-arms, so nothing planned for the old deadline can commit.

use crate::store::{keys, ConversationRecord, Expect, Versioned};

/// The customer-service window: every inbound message, and every call the customer places,
/// opens or extends it to 24 h.
pub const WINDOW_SECS: i64 = 24 * 3600;

/// The lead times (minutes before the close) at which the CRM is warned, largest first, each
/// once, each within the window (1..=1439).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertLeads(Vec<u32>);

/// `ALERT_LEAD_MINUTES` could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("expected a comma list of minutes between 1 and 1439, got {0:?}")]
pub struct LeadsError(pub String);

impl AlertLeads {
    /// `ALERT_LEAD_MINUTES`'s default.
    pub const DEFAULT: &'static str = "60,15";

    /// Parses a comma list such as `60,15` (order and repeats do not matter).
    pub fn parse(list: &str) -> Result<Self, LeadsError> {
        let mut leads = list
            .split(',')
            .map(|m| m.trim().parse::<u32>())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|_| LeadsError(list.to_owned()))?;
        if leads.is_empty() || leads.iter().any(|m| *m == 0 || *m >= 24 * 60) {
            return Err(LeadsError(list.to_owned()));
        }
        leads.sort_unstable_by(|a, b| b.cmp(a));
        leads.dedup();
        Ok(Self(leads))
    }

    /// Largest first.
    pub fn minutes(&self) -> &[u32] {
        &self.0
    }

    /// Where a window closing at `expires_at` is first due: its largest lead's deadline.
    pub fn first_due(&self, expires_at: i64) -> i64 {
        self.0
            .first()
            .map_or(expires_at, |m| Alert::Expiring(*m).deadline(expires_at))
    }

    /// Where the window is due after `alert` was sent: the next smaller lead, then the close;
    /// `None` (out of the index) after the close.
    pub fn due_after(&self, alert: Alert, expires_at: i64) -> Option<i64> {
        match alert {
            Alert::Expired => None,
            Alert::Expiring(sent) => Some(
                self.0
                    .iter()
                    .find(|m| **m < sent)
                    .map_or(expires_at, |m| Alert::Expiring(*m).deadline(expires_at)),
            ),
        }
    }
}

impl Default for AlertLeads {
    fn default() -> Self {
        Self(vec![60, 15])
    }
}

/// One alert of a window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Alert {
    /// `window.expiring`, this many minutes before the close.
    Expiring(u32),
    /// `window.expired`.
    Expired,
}

impl Alert {
    /// How `alerted_leads` records it (0 = expired).
    pub fn from_lead(minutes: u32) -> Self {
        if minutes == 0 {
            Self::Expired
        } else {
            Self::Expiring(minutes)
        }
    }

    pub fn lead_minutes(self) -> u32 {
        match self {
            Self::Expiring(m) => m,
            Self::Expired => 0,
        }
    }

    /// When it is due (Unix seconds).
    pub fn deadline(self, expires_at: i64) -> i64 {
        expires_at - i64::from(self.lead_minutes()) * 60
    }

    /// Its outbox key, which also seeds its `event_id`: the same alert of the same window always
    /// has the same id, so concurrent runs collide on it and a retry republishes it unchanged.
    pub fn update_key(self, business: &str, contact_id: &str, expires_at: i64) -> String {
        format!(
            "alert:{business}:{contact_id}:{expires_at}:{}",
            self.lead_minutes()
        )
    }
}

/// What a due conversation needs next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Nothing; its `due_at` is right (an index entry read before another run moved it).
    Wait,
    /// Commit this alert (recorded, `due_at` held at its deadline), publish it, re-arm.
    Send(Alert),
    /// This alert was committed but not re-armed (the run stopped): publish it, re-arm.
    Finish(Alert),
    /// Move `due_at` without alerting (`None` = leave the index).
    Rearm(Option<i64>),
}

/// The next step for `conv`'s alerts at `now` (Unix seconds), alerts alone (window-alerts asks
/// `crate::due::next_step`, which adds the conversation's own deadlines).
///
/// Leads are alerted largest first and a sent lead supersedes the larger ones, so a run after a
/// gap sends only the most recent due lead (not "60 minutes left" with 10 left), and once the
/// window has closed only `window.expired`.
pub fn next_step(conv: &ConversationRecord, leads: &AlertLeads, now: i64) -> Step {
    if let Some(step) = alert_action(conv, leads, now) {
        return step;
    }
    let next = alert_due(conv, leads);
    if conv.due_at == next && conv.due_bucket.is_some() == next.is_some() {
        Step::Wait
    } else {
        Step::Rearm(next)
    }
}

/// The alert `conv` needs at `now`: one committed but not re-armed ([`Step::Finish`]) before
/// anything else, else the latest one due ([`Step::Send`]); `None` when no alert is due. A
/// window Meta reported closed (`window_closed_at`) gets no further alerts.
pub fn alert_action(conv: &ConversationRecord, leads: &AlertLeads, now: i64) -> Option<Step> {
    let expires = conv.window_expires_at?;
    let last = last_alert(conv);
    if let (Some(last), Some(due)) = (last, conv.due_at) {
        if due <= last.deadline(expires) {
            return Some(Step::Finish(last));
        }
    }
    if conv.window_closed_at.is_some() {
        return None;
    }
    let target = if now >= expires {
        (last != Some(Alert::Expired)).then_some(Alert::Expired)
    } else {
        leads
            .minutes()
            .iter()
            .copied()
            .filter(|m| last.is_none_or(|l| *m < l.lead_minutes()))
            .filter(|m| Alert::Expiring(*m).deadline(expires) <= now)
            .min()
            .map(Alert::Expiring)
    };
    target.map(Step::Send)
}

/// When the window's next alert is due as things stand (`None`: no window, all sent, or Meta
/// reported it closed).
pub fn alert_due(conv: &ConversationRecord, leads: &AlertLeads) -> Option<i64> {
    let expires = conv.window_expires_at?;
    if conv.window_closed_at.is_some() {
        return None;
    }
    match last_alert(conv) {
        Some(l) => leads.due_after(l, expires),
        None => Some(leads.first_due(expires)),
    }
}

/// The last alert recorded for the current window (the smallest lead; 0 = expired).
pub fn last_alert(conv: &ConversationRecord) -> Option<Alert> {
    conv.alerted_leads
        .iter()
        .min()
        .copied()
        .map(Alert::from_lead)
}

/// An inbound contact from the customer (a message, or a call they placed) at `at` (Unix
/// seconds): the conversation with its window opened or extended to `at` + 24 h and `due_at`
/// armed for what is due first ([`crate::due::next_due`]), with the condition its write needs. `None`
/// when the conversation already saw an inbound contact this recent (arrival order does not
/// matter: the newest timestamp wins). `inbound_wamid` is the message's id (`None` for a call).
pub fn opened_by_inbound(
    current: Option<Versioned<ConversationRecord>>,
    business: &str,
    contact_id: &str,
    at: i64,
    inbound_wamid: Option<&str>,
    due: &crate::due::DuePolicy,
) -> Option<(ConversationRecord, Expect)> {
    let (mut conv, expect) = match current {
        Some(v) => (v.record, Expect::Version(v.version)),
        None => (
            ConversationRecord {
                business: business.to_owned(),
                contact_id: contact_id.to_owned(),
                ..ConversationRecord::default()
            },
            Expect::Absent,
        ),
    };
    if conv.last_inbound_at.is_some_and(|last| last >= at) {
        return None;
    }
    let expires = at + WINDOW_SECS;
    conv.last_inbound_at = Some(at);
    conv.last_inbound_wamid = inbound_wamid.map(str::to_owned);
    conv.window_expires_at = Some(expires);
    if conv.window_closed_at.is_some_and(|closed| closed < at) {
        conv.window_closed_at = None;
    }
    conv.awaiting_reply = conv.last_outbound_at.is_none_or(|out| out <= at);
    conv.alerted_leads.clear();
    let next = due.next_due(&conv);
    conv.due_bucket = next.map(|_| keys::due_bucket(contact_id));
    conv.due_at = next;
    Some((conv, expect))
}

/// An agent's message at `at` (Unix seconds), sent through the bridge or typed in the WhatsApp
/// Business app (an echo): the customer no longer waits, unless they wrote again at or after
/// it. The window is the customer's to open: it is neither opened nor extended.
pub fn answered_by_agent(conv: &mut ConversationRecord, at: i64) {
    conv.last_outbound_at = Some(conv.last_outbound_at.map_or(at, |t| t.max(at)));
    conv.awaiting_reply = conv.awaiting_reply && conv.last_inbound_at.is_some_and(|i| i >= at);
}

#[cfg(test)]
mod tests {
    use super::*;

    const E: i64 = 1_750_000_000;

    fn conv(alerted: &[u32], due_at: Option<i64>) -> ConversationRecord {
        ConversationRecord {
            business: "106540352242922".into(),
            contact_id: "ct_000000000000000000000001".into(),
            window_expires_at: Some(E),
            alerted_leads: alerted.to_vec(),
            due_bucket: due_at.map(|_| "DUE#1".into()),
            due_at,
            ..ConversationRecord::default()
        }
    }

    fn leads() -> AlertLeads {
        AlertLeads::default()
    }

    #[test]
    fn parses_lead_lists_largest_first_without_repeats() {
        assert_eq!(AlertLeads::parse("15, 60,15").unwrap().minutes(), &[60, 15]);
        assert_eq!(AlertLeads::parse(AlertLeads::DEFAULT).unwrap(), leads());
        for bad in ["", "0", "60,x", "1440", "-5"] {
            assert!(AlertLeads::parse(bad).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn a_fresh_window_waits_until_its_largest_lead() {
        let c = conv(&[], Some(E - 3600));
        assert_eq!(next_step(&c, &leads(), E - 3601), Step::Wait);
        assert_eq!(
            next_step(&c, &leads(), E - 3600),
            Step::Send(Alert::Expiring(60))
        );
    }

    #[test]
    fn sends_the_leads_then_the_close_in_order() {
        let c = conv(&[60], Some(E - 900));
        assert_eq!(next_step(&c, &leads(), E - 901), Step::Wait);
        assert_eq!(
            next_step(&c, &leads(), E - 900),
            Step::Send(Alert::Expiring(15))
        );
        let c = conv(&[60, 15], Some(E));
        assert_eq!(next_step(&c, &leads(), E - 1), Step::Wait);
        assert_eq!(next_step(&c, &leads(), E), Step::Send(Alert::Expired));
        let c = conv(&[60, 15, 0], None);
        assert_eq!(next_step(&c, &leads(), E + 86_400), Step::Wait);
    }

    #[test]
    fn a_late_run_sends_only_the_most_recent_lead() {
        let c = conv(&[], Some(E - 3600));
        assert_eq!(
            next_step(&c, &leads(), E - 600),
            Step::Send(Alert::Expiring(15))
        );
        // …and after it, the larger lead is superseded: next is the close.
        assert_eq!(leads().due_after(Alert::Expiring(15), E), Some(E));
    }

    #[test]
    fn after_the_close_only_expired_is_sent() {
        for alerted in [&[][..], &[60][..], &[60, 15][..]] {
            let due = alerted.iter().min().map_or(E - 3600, |m| {
                leads().due_after(Alert::Expiring(*m), E).unwrap()
            });
            let c = conv(alerted, Some(due));
            assert_eq!(next_step(&c, &leads(), E + 600), Step::Send(Alert::Expired));
        }
    }

    #[test]
    fn a_recorded_alert_not_yet_rearmed_is_finished_not_resent() {
        let c = conv(&[60], Some(E - 3600));
        assert_eq!(
            next_step(&c, &leads(), E - 3000),
            Step::Finish(Alert::Expiring(60))
        );
        // Even after the close: the committed event still goes out before anything else.
        assert_eq!(
            next_step(&c, &leads(), E + 60),
            Step::Finish(Alert::Expiring(60))
        );
        let c = conv(&[60, 15, 0], Some(E));
        assert_eq!(
            next_step(&c, &leads(), E + 60),
            Step::Finish(Alert::Expired)
        );
    }

    #[test]
    fn rearms_an_entry_armed_elsewhere_or_left_without_a_window() {
        // Armed for a lead this configuration does not have.
        let c = conv(&[], Some(E - 7200));
        assert_eq!(
            next_step(&c, &leads(), E - 5000),
            Step::Rearm(Some(E - 3600))
        );
        let mut c = conv(&[], Some(E));
        c.window_expires_at = None;
        assert_eq!(next_step(&c, &leads(), E), Step::Rearm(None));
    }

    #[test]
    fn an_agents_answer_clears_awaiting_reply_and_leaves_the_window_alone() {
        let mut c = conv(&[60], Some(E - 900));
        c.last_inbound_at = Some(E - 86_400);
        c.awaiting_reply = true;
        let before = c.clone();
        answered_by_agent(&mut c, E - 3000);
        assert!(!c.awaiting_reply);
        assert_eq!(c.last_outbound_at, Some(E - 3000));
        assert_eq!(
            (c.window_expires_at, c.due_at, c.alerted_leads.clone()),
            (
                before.window_expires_at,
                before.due_at,
                before.alerted_leads.clone()
            )
        );
        // An older answer arriving late neither moves last_outbound_at back nor matters.
        answered_by_agent(&mut c, E - 5000);
        assert_eq!(c.last_outbound_at, Some(E - 3000));
    }

    #[test]
    fn an_answer_older_than_the_customers_last_message_leaves_them_waiting() {
        let mut c = conv(&[], Some(E - 3600));
        c.last_inbound_at = Some(E - 80_000);
        c.awaiting_reply = true;
        answered_by_agent(&mut c, E - 80_000);
        assert!(
            c.awaiting_reply,
            "same second: the customer's message counts as after"
        );
        answered_by_agent(&mut c, E - 80_001);
        assert!(c.awaiting_reply);
        answered_by_agent(&mut c, E - 79_999);
        assert!(!c.awaiting_reply);
    }

    #[test]
    fn alert_keys_differ_per_window_and_lead() {
        let a = Alert::Expiring(60).update_key("b", "c", E);
        assert_ne!(a, Alert::Expiring(15).update_key("b", "c", E));
        assert_ne!(a, Alert::Expiring(60).update_key("b", "c", E + 1));
        assert_ne!(a, Alert::Expired.update_key("b", "c", E));
        assert_eq!(Alert::from_lead(0), Alert::Expired);
        assert_eq!(Alert::Expired.deadline(E), E);
    }

    #[test]
    fn a_window_meta_reported_closed_gets_no_more_alerts_but_finishes_a_held_one() {
        let mut c = conv(&[], Some(E - 3600));
        c.window_closed_at = Some(E - 5000);
        assert_eq!(alert_action(&c, &leads(), E + 60), None);
        assert_eq!(alert_due(&c, &leads()), None);
        assert_eq!(next_step(&c, &leads(), E + 60), Step::Rearm(None));
        let mut held = conv(&[60], Some(E - 3600));
        held.window_closed_at = Some(E - 3000);
        assert_eq!(
            alert_action(&held, &leads(), E - 2000),
            Some(Step::Finish(Alert::Expiring(60)))
        );
    }
}
