//! The lifecycle events `shared::conversation` builds match the published schemas, whatever
//! the entry, the responder or the closer, so the schemas cannot drift from the builders.

use shared::conversation::{self, AgentMessage, Close, ClosedBy, Entry};
use shared::events::ContactRef;
use shared::store::ConversationRecord;

const T: i64 = 1_764_489_600;

fn record() -> ConversationRecord {
    ConversationRecord {
        business: "106540352242922".into(),
        contact_id: "ct_0123456789abcdef01234567".into(),
        ..ConversationRecord::default()
    }
}

fn contact() -> ContactRef {
    ContactRef {
        id: "ct_0123456789abcdef01234567".into(),
        wa_id: Some("5511987654321".into()),
        phone: Some("+5511987654321".into()),
        ..ContactRef::default()
    }
}

#[test]
fn every_lifecycle_event_matches_its_schema() {
    let contract = shared::contract::EventContract::load();
    let entries = [
        Entry::Organic,
        Entry::Ad {
            referral: Some(serde_json::json!({"source_type": "ad", "ctwa_clid": "ARAk"})),
            ctwa_clid: Some("ARAk".into()),
        },
        Entry::Ad {
            referral: None,
            ctwa_clid: None,
        },
        Entry::TemplateReply {
            wamid: "wamid.T".into(),
            command_id: None,
        },
    ];
    let mut built = Vec::new();
    for (i, entry) in entries.into_iter().enumerate() {
        let mut c = record();
        let wamid = format!("wamid.{i}");
        built.extend(conversation::customer_message(
            &mut c,
            T,
            &wamid,
            Some(&wamid),
            entry,
        ));
        let by = if i % 2 == 0 {
            AgentMessage::App
        } else {
            AgentMessage::Command {
                command_id: "cmd-1".into(),
            }
        };
        if i < 2 {
            built.extend(conversation::agent_message(&mut c, T + 60, &by));
        }
        conversation::customer_message(&mut c, T + 90, "wamid.x", Some("wamid.x"), Entry::Organic);
        if i == 3 {
            built.extend(conversation::window_expired(&mut c, T + 86_400));
        }
        let close = Close {
            by: if i % 2 == 0 {
                ClosedBy::Crm
            } else {
                ClosedBy::Idle
            },
            reason: (i % 2 == 0).then(|| "solved".to_owned()),
            tags: vec!["vip".into()],
        };
        built.extend(conversation::close(&mut c, T + 90_000, close));
    }
    built.push(conversation::Lifecycle::Rated {
        conversation_id: conversation::conversation_id("b", "c", "w"),
        at: T,
        score: 4,
        scale: "1-5".into(),
        comment: Some("rápido".into()),
        rated_wamid: "wamid.R".into(),
    });
    built.push(conversation::Lifecycle::RatingCommented {
        conversation_id: conversation::conversation_id("b", "c", "w"),
        at: T + 30,
        score: 4,
        scale: "1-5".into(),
        comment: "rápido".into(),
        comment_wamid: "wamid.C".into(),
        rated_wamid: "wamid.R".into(),
    });
    let mut types = std::collections::BTreeSet::new();
    for event in &built {
        let pending = event.event("106540352242922", contact()).expect("event");
        let value: serde_json::Value = serde_json::from_str(&pending.body).expect("JSON");
        contract.check(&value);
        types.insert(pending.event_type);
    }
    assert_eq!(
        types.into_iter().collect::<Vec<_>>(),
        [
            "conversation.abandoned",
            "conversation.closed",
            "conversation.first_response",
            "conversation.opened",
            "conversation.rated",
            "conversation.rating_commented"
        ]
    );
}
