use super::*;

const T: i64 = 1_750_000_000;
const BIZ: &str = "106540352242922";
const CONTACT: &str = "ct_000000000000000000000001";

fn record() -> ConversationRecord {
    ConversationRecord {
        business: BIZ.into(),
        contact_id: CONTACT.into(),
        ..ConversationRecord::default()
    }
}

fn opened(at: i64) -> ConversationRecord {
    let mut c = record();
    customer_message(
        &mut c,
        at,
        "wamid.FIRST",
        Some("wamid.FIRST"),
        Entry::Organic,
    );
    c
}

fn command(id: &str) -> AgentMessage {
    AgentMessage::Command {
        command_id: id.into(),
    }
}

fn crm_close() -> Close {
    Close {
        by: ClosedBy::Crm,
        reason: Some("solved".into()),
        tags: vec!["billing".into()],
    }
}

#[test]
fn a_customer_message_with_nothing_open_opens_a_conversation_once() {
    let mut c = record();
    let entry = Entry::Ad {
        referral: Some(serde_json::json!({"source_type": "ad", "ctwa_clid": "ARAk"})),
        ctwa_clid: Some("ARAk".into()),
    };
    let event = customer_message(&mut c, T, "wamid.A", Some("wamid.A"), entry.clone());
    let id = conversation_id(BIZ, CONTACT, "wamid.A");
    assert_eq!(
        event,
        Some(Lifecycle::Opened {
            conversation_id: id.clone(),
            opened_at: T,
            first_message_wamid: Some("wamid.A".into()),
            entry: entry.clone(),
        })
    );
    let open = c.open.clone().expect("open");
    assert_eq!((open.messages_in, open.unanswered), (1, 1));
    assert_eq!(open.first_unanswered_at, Some(T));
    assert_eq!(open.entry, entry);

    // The next message is counted in it, and opens nothing.
    let again = customer_message(&mut c, T + 60, "wamid.B", Some("wamid.B"), Entry::Organic);
    assert_eq!(again, None);
    let open = c.open.expect("still open");
    assert_eq!(open.conversation_id, id);
    assert_eq!((open.messages_in, open.unanswered), (2, 2));
    assert_eq!(open.first_unanswered_at, Some(T));
    assert_eq!(open.last_activity_at, T + 60);
    assert_eq!(open.entry, entry, "the entry is the opening message's");
}

#[test]
fn conversation_ids_differ_per_first_message_contact_and_number() {
    let a = conversation_id(BIZ, CONTACT, "wamid.A");
    assert_eq!(a, conversation_id(BIZ, CONTACT, "wamid.A"));
    assert_ne!(a, conversation_id(BIZ, CONTACT, "wamid.B"));
    assert_ne!(a, conversation_id(BIZ, "ct_2", "wamid.A"));
    assert_ne!(a, conversation_id("other", CONTACT, "wamid.A"));
    assert!(a.starts_with("cv_") && a.len() == 27);
}

#[test]
fn the_first_agent_message_is_the_first_response_and_answers_the_customer() {
    let mut c = opened(T);
    let first = agent_message(&mut c, T + 90, &command("cmd-1"));
    assert_eq!(
        first,
        Some(Lifecycle::FirstResponse {
            conversation_id: conversation_id(BIZ, CONTACT, "wamid.FIRST"),
            at: T + 90,
            response_seconds: 90,
            by: Responder::Command,
            command_id: Some("cmd-1".into()),
        })
    );
    let open = c.open.clone().expect("open");
    assert_eq!((open.messages_out, open.unanswered), (1, 0));
    assert_eq!(open.first_unanswered_at, None);
    assert_eq!(open.first_response_by, Some(Responder::Command));
    assert_eq!(c.last_outbound_at, Some(T + 90), "the window's state too");

    // A second one is counted, not a first response again.
    assert_eq!(agent_message(&mut c, T + 120, &AgentMessage::App), None);
    assert_eq!(c.open.expect("open").messages_out, 2);
}

#[test]
fn an_app_echo_answers_by_app_without_a_command() {
    let mut c = opened(T);
    let first = agent_message(&mut c, T + 5, &AgentMessage::App);
    assert!(matches!(
        first,
        Some(Lifecycle::FirstResponse {
            by: Responder::App,
            command_id: None,
            response_seconds: 5,
            ..
        })
    ));
}

#[test]
fn an_agent_message_with_no_open_conversation_or_older_than_it_is_not_a_response() {
    let mut c = record();
    assert_eq!(agent_message(&mut c, T, &command("cmd-1")), None);
    assert_eq!(c.open, None, "agents do not open conversations");
    assert_eq!(c.last_outbound_at, Some(T));

    let mut c = opened(T);
    assert_eq!(agent_message(&mut c, T - 1, &command("late")), None);
    let open = c.open.expect("open");
    assert_eq!((open.messages_out, open.unanswered), (0, 1));
    assert_eq!(open.first_response_at, None);
}

#[test]
fn a_customer_message_in_the_same_second_as_an_answer_still_waits() {
    let mut c = opened(T);
    agent_message(&mut c, T + 10, &AgentMessage::App);
    customer_message(&mut c, T + 10, "wamid.B", Some("wamid.B"), Entry::Organic);
    let open = c.open.clone().expect("open");
    assert_eq!(
        (open.unanswered, open.first_unanswered_at),
        (1, Some(T + 10))
    );
    // An answer in that same second does not answer it either…
    agent_message(&mut c, T + 10, &AgentMessage::App);
    assert_eq!(c.open.clone().expect("open").unanswered, 1);
    // …a later one does.
    agent_message(&mut c, T + 11, &AgentMessage::App);
    assert_eq!(c.open.expect("open").unanswered, 0);
}

#[test]
fn a_late_customer_message_older_than_a_known_answer_is_counted_but_answered() {
    let mut c = opened(T);
    agent_message(&mut c, T + 100, &AgentMessage::App);
    customer_message(&mut c, T + 50, "wamid.B", Some("wamid.B"), Entry::Organic);
    let open = c.open.expect("open");
    assert_eq!((open.messages_in, open.unanswered), (2, 0));
    assert_eq!(open.last_activity_at, T + 100, "activity never moves back");
}

#[test]
fn closing_reports_counts_and_duration_then_a_new_message_opens_a_new_conversation() {
    let mut c = opened(T);
    agent_message(&mut c, T + 30, &command("cmd-1"));
    customer_message(&mut c, T + 40, "wamid.B", Some("wamid.B"), Entry::Organic);
    agent_message(&mut c, T + 50, &command("cmd-2"));
    let first_id = c.open.clone().expect("open").conversation_id;
    let events = close(&mut c, T + 600, crm_close());
    assert_eq!(
        events,
        vec![Lifecycle::Closed {
            conversation_id: first_id.clone(),
            closed_at: T + 600,
            closed_by: ClosedBy::Crm,
            reason: Some("solved".into()),
            tags: vec!["billing".into()],
            duration_seconds: 600,
            messages_in: 2,
            messages_out: 2,
        }]
    );
    assert_eq!(c.open, None);
    assert_eq!(close(&mut c, T + 700, crm_close()), vec![], "nothing open");

    let reopened = customer_message(&mut c, T + 800, "wamid.C", Some("wamid.C"), Entry::Organic);
    let Some(Lifecycle::Opened {
        conversation_id, ..
    }) = reopened
    else {
        panic!("a new conversation: {reopened:?}")
    };
    assert_ne!(conversation_id, first_id);
}

#[test]
fn closing_an_unanswered_conversation_also_abandons_it() {
    let mut c = opened(T);
    customer_message(&mut c, T + 20, "wamid.B", Some("wamid.B"), Entry::Organic);
    let events = close(
        &mut c,
        T + 1000,
        Close {
            by: ClosedBy::Idle,
            reason: None,
            tags: vec![],
        },
    );
    assert_eq!(events.len(), 2);
    assert_eq!(
        events.get(1),
        Some(&Lifecycle::Abandoned {
            conversation_id: conversation_id(BIZ, CONTACT, "wamid.FIRST"),
            at: T + 1000,
            waited_seconds: 1000,
            unanswered_messages: 2,
        })
    );
}

#[test]
fn a_window_expiring_on_a_waiting_customer_abandons_once_and_the_close_does_not_repeat_it() {
    let mut c = opened(T);
    let expiry = T + 86_400;
    let abandoned = window_expired(&mut c, expiry);
    assert!(matches!(
        abandoned,
        Some(Lifecycle::Abandoned {
            waited_seconds: 86_400,
            unanswered_messages: 1,
            ..
        })
    ));
    assert!(c.open.clone().expect("still open").abandoned);
    assert_eq!(window_expired(&mut c, expiry), None);
    let closing = close(&mut c, expiry + 60, crm_close());
    assert_eq!(closing.len(), 1, "closed only: {closing:?}");
}

#[test]
fn an_answered_conversation_is_not_abandoned() {
    let mut c = opened(T);
    agent_message(&mut c, T + 1, &AgentMessage::App);
    assert_eq!(window_expired(&mut c, T + 86_400), None);
    assert!(!c.open.clone().expect("open").abandoned);
    assert_eq!(close(&mut c, T + 90_000, crm_close()).len(), 1);
    assert_eq!(window_expired(&mut record(), T), None, "nothing open");
}

#[test]
fn idle_close_counts_from_the_last_message_either_way() {
    let idle = IdleTimeout::default();
    assert_eq!(idle.close_at(&record()), None);
    let mut c = opened(T);
    assert_eq!(idle.close_at(&c), Some(T + 86_400));
    agent_message(&mut c, T + 500, &AgentMessage::App);
    assert_eq!(idle.close_at(&c), Some(T + 500 + 86_400));
    let short = IdleTimeout::from_minutes(30).expect("valid");
    assert_eq!(short.close_at(&c), Some(T + 500 + 1800));
}

#[test]
fn parses_the_idle_setting_and_refuses_nonsense() {
    assert_eq!("1440".parse::<IdleTimeout>(), Ok(IdleTimeout::default()));
    assert_eq!(
        " 30 ".parse::<IdleTimeout>().map(IdleTimeout::secs),
        Ok(1800)
    );
    for bad in ["0", "-5", "x", "1.5", "525601"] {
        assert!(bad.parse::<IdleTimeout>().is_err(), "{bad:?} accepted");
    }
    let env = Env::from_map([("CONVERSATION_IDLE_MINUTES".to_owned(), "abc".to_owned())].into());
    assert!(matches!(
        IdleTimeout::from_env(&env),
        Err(ConfigError::Invalid {
            name: "CONVERSATION_IDLE_MINUTES",
            ..
        })
    ));
    assert_eq!(
        IdleTimeout::from_env(&Env::from_map(Default::default())).ok(),
        Some(IdleTimeout::default())
    );
}

#[test]
fn event_ids_depend_on_the_conversation_and_the_type_only() {
    let mut a = opened(T);
    let mut b = opened(T);
    let ea = agent_message(&mut a, T + 10, &command("cmd-1")).expect("first response");
    let eb = agent_message(&mut b, T + 99, &AgentMessage::App).expect("first response");
    let contact = ContactRef {
        id: CONTACT.into(),
        ..ContactRef::default()
    };
    let pa = ea.event(BIZ, contact.clone()).expect("event");
    let pb = eb.event(BIZ, contact.clone()).expect("event");
    assert_eq!(pa.event_id, pb.event_id, "whoever emits it, one id");
    assert_eq!(pa.group_id, CONTACT, "ordered with the contact's messages");
    assert_eq!(pa.event_type, "conversation.first_response");
    let closed = close(&mut a, T + 20, crm_close());
    let pc = closed
        .first()
        .expect("closed")
        .event(BIZ, contact)
        .expect("event");
    assert_ne!(pc.event_id, pa.event_id);
}

#[test]
fn event_data_carries_the_entry_and_nulls_for_what_does_not_apply() {
    let opened = Lifecycle::Opened {
        conversation_id: "cv_1".into(),
        opened_at: T,
        first_message_wamid: Some("wamid.A".into()),
        entry: Entry::TemplateReply {
            wamid: "wamid.T".into(),
            command_id: Some("cmd-t".into()),
        },
    };
    let d = Value::Object(opened.data());
    assert_eq!(d["entry"], "template_reply");
    assert_eq!(d["template_reply_to"]["wamid"], "wamid.T");
    assert_eq!(d["template_reply_to"]["command_id"], "cmd-t");
    assert_eq!(d["referral"], Value::Null);
    assert_eq!(d["ctwa_clid"], Value::Null);
    assert_eq!(d["opened_at"], events::rfc3339(T));

    let closed = Lifecycle::Closed {
        conversation_id: "cv_1".into(),
        closed_at: T,
        closed_by: ClosedBy::Idle,
        reason: None,
        tags: vec![],
        duration_seconds: 5,
        messages_in: 1,
        messages_out: 0,
    };
    let d = Value::Object(closed.data());
    assert_eq!(d["closed_by"], "idle");
    assert_eq!(d["reason"], Value::Null);
    assert_eq!(d["tags"], serde_json::json!([]));
}

#[test]
fn the_open_conversation_round_trips_through_the_record_s_serde_form() {
    let mut c = opened(T);
    c.open.as_mut().expect("open").entry = Entry::Ad {
        referral: Some(serde_json::json!({"source_url": "https://fb.me/x"})),
        ctwa_clid: None,
    };
    agent_message(&mut c, T + 3, &command("cmd-1"));
    let json = serde_json::to_value(&c).expect("serialise");
    assert_eq!(json["open"]["entry"]["kind"], "ad");
    let back: ConversationRecord = serde_json::from_value(json).expect("deserialise");
    assert_eq!(back, c);
    // A record written before conversations existed reads as "none open".
    let old: ConversationRecord =
        serde_json::from_value(serde_json::json!({"business": BIZ, "contact_id": CONTACT}))
            .expect("old record");
    assert_eq!(old.open, None);
}
