//! Handler-level tests of the sender's part in the conversation lifecycle: an accepted reply is
//! the conversation's first response (once, even when redelivered), `close_conversation` closes
//! it without a Graph call, and `request_rating` sends choices the processor recognises and
//! leaves a pending request on the conversation — all in the outcome's commit.

mod support;

use support::*;

use shared::conversation::{self, Entry};
use shared::rating::{self, RatingState};

/// The customer wrote `ago` seconds before now: a conversation is open (as the processor opens
/// it) and its message awaits an answer.
async fn customer_wrote(sender: &Sender, ago: i64) -> String {
    let current = sender
        .state
        .store
        .load_contact(PN, CONTACT_ID)
        .await
        .expect("the contact loads")
        .conversation
        .expect("a conversation record");
    let mut conv = current.record;
    let at = shared::now_ms() / 1000 - ago;
    conv.last_inbound_at = Some(at);
    conv.awaiting_reply = true;
    conversation::customer_message(
        &mut conv,
        at,
        "wamid.IN1",
        Some("wamid.IN1"),
        Entry::Organic,
    );
    let id = conv.open.as_ref().map(|o| o.conversation_id.clone());
    let commit = Commit {
        outbox: None,
        writes: vec![Write::Conversation(conv, Expect::Version(current.version))],
    };
    sender.state.store.commit(commit).await.expect("stored");
    id.expect("a conversation is open")
}

async fn conversation_record(sender: &Sender) -> ConversationRecord {
    sender
        .state
        .store
        .load_contact(PN, CONTACT_ID)
        .await
        .expect("the contact loads")
        .conversation
        .expect("the conversation is kept")
        .record
}

fn of_type(events: &[Value], kind: &str) -> Vec<Value> {
    events
        .iter()
        .filter(|e| e["type"] == kind)
        .cloned()
        .collect()
}

fn close(id: &str, extra: Value) -> Value {
    let mut c = json!({"command_id": id, "type": "close_conversation", "phone_number_id": PN,
                       "to": TO, "reason": "solved", "tags": ["billing", "refund"],
                       "actor": "agent-7"});
    if let (Some(c), Some(e)) = (c.as_object_mut(), extra.as_object()) {
        c.extend(e.clone());
    }
    c
}

fn rating_request(id: &str, extra: Value) -> Value {
    let mut c = json!({"command_id": id, "type": "request_rating", "phone_number_id": PN,
                       "to": TO, "question": "How did we do?"});
    if let (Some(c), Some(e)) = (c.as_object_mut(), extra.as_object()) {
        c.extend(e.clone());
    }
    c
}

// ---- first response -------------------------------------------------------------------------

#[tokio::test]
async fn an_accepted_reply_is_the_first_response_once_even_when_the_command_is_redelivered() {
    let sender = sender(vec![]);
    sender.knows_the_contact(true, false).await;
    let conversation_id = customer_wrote(&sender, 90).await;

    let reply = text("c-reply");
    assert!(failures(&sender.receives(vec![record(&reply)]).await).is_empty());
    assert!(failures(&sender.receives(vec![record(&reply)]).await).is_empty());
    assert!(failures(&sender.receives(vec![record(&text("c-second"))]).await).is_empty());

    assert_contract(&sender);
    let events = sender.events();
    let first = of_type(&events, "conversation.first_response");
    let ids: std::collections::HashSet<_> = first.iter().map(|e| e["event_id"].clone()).collect();
    assert_eq!(
        ids.len(),
        1,
        "one first response (republished with its id): {events:#?}"
    );
    let data = &first[0]["data"];
    assert_eq!(data["conversation_id"], conversation_id);
    assert_eq!(data["by"], "command");
    assert_eq!(data["command_id"], "c-reply");
    let seconds = data["response_seconds"].as_i64().unwrap_or(-1);
    assert!((90..=95).contains(&seconds), "response_seconds {seconds}");
    assert_eq!(sender.requests().len(), 2, "the redelivery sent nothing");
    let open = conversation_record(&sender).await.open.expect("still open");
    assert_eq!(open.messages_out, 2);
    assert_eq!(open.first_response_command_id.as_deref(), Some("c-reply"));
}

#[tokio::test]
async fn a_reply_when_no_conversation_is_open_is_no_first_response() {
    let sender = sender(vec![]);
    sender.knows_the_contact(true, false).await;
    sender.receives(vec![record(&text("c-reply"))]).await;
    assert_eq!(sender.only_event()["type"], "command.accepted");
}

// ---- close_conversation ---------------------------------------------------------------------

#[tokio::test]
async fn closing_an_unanswered_conversation_reports_it_closed_with_its_tags_and_abandoned() {
    let sender = sender(vec![]);
    sender.knows_the_contact(true, false).await;
    let conversation_id = customer_wrote(&sender, 600).await;

    let command = close("c-close", json!({}));
    assert!(failures(&sender.receives(vec![record(&command)]).await).is_empty());
    sender.receives(vec![record(&command)]).await;

    assert!(sender.requests().is_empty(), "a close calls no Graph API");
    assert_contract(&sender);
    let events = sender.events();
    let accepted = of_type(&events, "command.accepted");
    assert_eq!(accepted[0]["data"]["wamid"], Value::Null);
    assert_eq!(accepted[0]["data"]["conversation_id"], conversation_id);
    assert_eq!(accepted[0]["data"]["actor"], "agent-7");
    let closed = of_type(&events, "conversation.closed");
    assert_eq!(closed[0]["data"]["closed_by"], "crm");
    assert_eq!(closed[0]["data"]["reason"], "solved");
    assert_eq!(closed[0]["data"]["tags"], json!(["billing", "refund"]));
    assert_eq!(closed[0]["data"]["messages_in"], 1);
    let abandoned = of_type(&events, "conversation.abandoned");
    assert_eq!(abandoned[0]["data"]["unanswered_messages"], 1);
    for kind in [
        "command.accepted",
        "conversation.closed",
        "conversation.abandoned",
    ] {
        let ids: std::collections::HashSet<_> = of_type(&events, kind)
            .iter()
            .map(|e| e["event_id"].clone())
            .collect();
        assert_eq!(
            ids.len(),
            1,
            "{kind}: the redelivery repeats the same event"
        );
    }
    let conv = conversation_record(&sender).await;
    assert!(conv.open.is_none());
    assert_eq!(
        conv.last_conversation_id.as_deref(),
        Some(conversation_id.as_str())
    );
}

#[tokio::test]
async fn closing_an_answered_conversation_reports_no_abandonment() {
    let sender = sender(vec![]);
    sender.knows_the_contact(true, false).await;
    customer_wrote(&sender, 600).await;
    sender.receives(vec![record(&text("c-reply"))]).await;
    sender
        .receives(vec![record(&close("c-close", json!({})))])
        .await;
    let events = sender.events();
    assert_eq!(of_type(&events, "conversation.closed").len(), 1);
    assert!(of_type(&events, "conversation.abandoned").is_empty());
    assert_eq!(
        of_type(&events, "conversation.closed")[0]["data"]["messages_out"],
        1
    );
}

#[tokio::test]
async fn closing_when_nothing_is_open_or_another_conversation_is_named_is_rejected() {
    let sender = sender(vec![]);
    sender.knows_the_contact(true, false).await;
    sender
        .receives(vec![record(&close("c-none", json!({})))])
        .await;
    let rejected = sender.only_event();
    assert_eq!(rejected["type"], "command.rejected");
    assert_eq!(rejected["data"]["reason"], "no_open_conversation");

    customer_wrote(&sender, 60).await;
    let other = close(
        "c-other",
        json!({"conversation_id": "cv_000000000000000000000000"}),
    );
    sender.receives(vec![record(&other)]).await;
    let events = sender.events();
    let last = events.last().expect("an outcome");
    assert_eq!(last["data"]["reason"], "no_open_conversation");
    assert_eq!(last["data"]["field"], "/conversation_id");
    assert!(
        conversation_record(&sender).await.open.is_some(),
        "still open"
    );
    assert_contract(&sender);
}

#[tokio::test]
async fn a_close_naming_neither_the_contact_nor_the_conversation_is_invalid() {
    let sender = sender(vec![]);
    let mut command = close("c-nobody", json!({}));
    command.as_object_mut().map(|c| c.remove("to"));
    sender.receives(vec![record(&command)]).await;
    let event = sender.only_event();
    assert_eq!(event["data"]["reason"], "invalid_command");
    assert_eq!(event["data"]["field"], "/to");
}

// ---- request_rating -------------------------------------------------------------------------

#[tokio::test]
async fn a_rating_request_inside_the_window_sends_a_list_and_leaves_the_request_pending() {
    let sender = sender(vec![]);
    sender.knows_the_contact(true, false).await;
    let conversation_id = customer_wrote(&sender, 60).await;

    sender
        .receives(vec![record(&rating_request("c-rate", json!({})))])
        .await;

    let requests = sender.requests();
    assert_eq!(requests.len(), 1);
    let body = &requests[0].1;
    assert_eq!(body["type"], "interactive");
    assert_eq!(body["interactive"]["type"], "list");
    let rows = body["interactive"]["action"]["sections"][0]["rows"]
        .as_array()
        .expect("rows");
    assert_eq!(rows.len(), 5);
    let request_id = rating::request_id(PN, "c-rate");
    assert_eq!(
        rows.iter()
            .filter_map(|r| rating::parse_option_id(r["id"].as_str()?))
            .collect::<Vec<_>>(),
        (1..=5)
            .map(|s| (request_id.as_str(), s))
            .collect::<Vec<_>>()
    );
    assert_contract(&sender);
    let accepted = of_type(&sender.events(), "command.accepted");
    assert_eq!(accepted[0]["data"]["request_id"], request_id);
    match conversation_record(&sender).await.rating.map(|r| *r) {
        Some(RatingState::Pending {
            request_id: stored,
            conversation_id: rated,
            scale,
            command_id,
            ..
        }) => {
            assert_eq!(stored, request_id);
            assert_eq!(rated, conversation_id);
            assert_eq!(scale.to_string(), "1-5");
            assert_eq!(command_id, "c-rate");
        }
        other => panic!("expected a pending request, found {other:?}"),
    }
}

#[tokio::test]
async fn a_rating_of_three_is_sent_as_reply_buttons_and_rates_the_conversation_closed_last() {
    let sender = sender(vec![]);
    sender.knows_the_contact(true, false).await;
    let conversation_id = customer_wrote(&sender, 60).await;
    sender
        .receives(vec![record(&close("c-close", json!({})))])
        .await;

    sender
        .receives(vec![record(&rating_request(
            "c-rate",
            json!({"scale": "1-3"}),
        ))])
        .await;

    let body = &sender.requests()[0].1;
    assert_eq!(body["interactive"]["type"], "button");
    assert_eq!(
        body["interactive"]["action"]["buttons"]
            .as_array()
            .map(Vec::len),
        Some(3)
    );
    assert!(matches!(
        conversation_record(&sender).await.rating.map(|r| *r),
        Some(RatingState::Pending { conversation_id: ref c, .. }) if *c == conversation_id
    ));
}

#[tokio::test]
async fn a_rating_request_outside_the_window_sends_its_template_and_without_one_is_rejected() {
    let sender = sender(vec![]);
    sender.knows_the_contact(false, false).await;
    customer_wrote(&sender, 60).await;

    sender
        .receives(vec![record(&rating_request("c-bare", json!({})))])
        .await;
    assert_eq!(sender.only_event()["data"]["reason"], "window_closed");
    assert!(sender.requests().is_empty());

    let template = json!({"template": {"name": "csat_survey", "language": {"code": "pt_BR"}}});
    sender
        .receives(vec![record(&rating_request("c-template", template))])
        .await;
    let requests = sender.requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].1["type"], "template");
    assert_eq!(requests[0].1["template"]["name"], "csat_survey");
    let accepted = of_type(&sender.events(), "command.accepted");
    assert_eq!(accepted[0]["data"]["fallback_used"], true);
    assert!(matches!(
        conversation_record(&sender).await.rating.map(|r| *r),
        Some(RatingState::Pending { .. })
    ));
    assert_contract(&sender);
}

#[tokio::test]
async fn a_rating_request_with_no_conversation_to_rate_is_rejected_without_a_request() {
    let sender = sender(vec![]);
    sender.knows_the_contact(true, false).await;
    sender
        .receives(vec![record(&rating_request("c-rate", json!({})))])
        .await;
    assert_eq!(sender.only_event()["data"]["reason"], "no_conversation");

    customer_wrote(&sender, 60).await;
    let elsewhere = json!({"conversation_id": "cv_000000000000000000000000"});
    sender
        .receives(vec![record(&rating_request("c-named", elsewhere))])
        .await;
    let events = sender.events();
    assert_eq!(
        events.last().map(|e| e["data"]["reason"].clone()),
        Some(json!("no_conversation"))
    );
    assert!(sender.requests().is_empty());
    assert_contract(&sender);
}

#[tokio::test]
async fn a_close_naming_only_the_conversation_finds_it_through_its_alias() {
    let sender = sender(vec![]);
    sender.knows_the_contact(true, false).await;
    let conversation_id = customer_wrote(&sender, 60).await;
    // As the processor's opening leaves it.
    let alias = Write::Alias {
        record: AliasRecord {
            business: PN.into(),
            alias: conversation::alias(&conversation_id),
            contact_id: CONTACT_ID.into(),
            ttl: None,
        },
        replace: false,
    };
    let commit = Commit {
        outbox: None,
        writes: vec![alias],
    };
    sender.state.store.commit(commit).await.expect("stored");
    let by_id = |id: &str, conversation: &str| {
        let mut command = close(id, json!({"conversation_id": conversation}));
        command.as_object_mut().map(|c| c.remove("to"));
        command
    };

    sender
        .receives(vec![record(&by_id(
            "c-unknown",
            "cv_000000000000000000000000",
        ))])
        .await;
    sender
        .receives(vec![record(&by_id("c-by-id", &conversation_id))])
        .await;

    assert_contract(&sender);
    let events = sender.events();
    assert_eq!(events[0]["data"]["reason"], "no_open_conversation");
    assert_eq!(events[0]["data"]["field"], "/conversation_id");
    let closed = of_type(&events, "conversation.closed");
    assert_eq!(closed.len(), 1, "{events:#?}");
    assert_eq!(closed[0]["data"]["conversation_id"], conversation_id);
    assert_eq!(closed[0]["contact"]["id"], CONTACT_ID);
    let accepted = of_type(&events, "command.accepted");
    assert_eq!(accepted[0]["data"]["wa_id"], WA_ID);
    assert!(conversation_record(&sender).await.open.is_none());
}
