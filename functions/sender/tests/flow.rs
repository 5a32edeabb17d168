//! Handler-level tests of the sender's failure paths: the real handler over in-memory fakes (state
//! table, sender items, Graph API, visibility, event queue), so each test shows which outcome event
//! a command ends in, which Graph requests were made and how the SQS record was disposed of.
//! Every event the handler publishes is checked against the published schemas.

mod support;

use support::*;

// ---- checks that need no call ------------------------------------------------------------

#[tokio::test]
async fn a_command_with_four_buttons_is_rejected_as_over_the_limit_and_consumed_without_a_request()
{
    // Arrange
    let sender = sender(vec![]);
    let button = |id: &str| json!({"type": "reply", "reply": {"id": id, "title": id}});
    let command = json!({"command_id": "c-buttons", "type": "send_interactive",
        "phone_number_id": PN, "to": TO,
        "interactive": {"type": "button", "body": {"text": "pick one"},
            "action": {"buttons": [button("a"), button("b"), button("c"), button("d")]}}});

    // Act
    let response = sender.receives(vec![record(&command)]).await;

    // Assert
    assert!(failures(&response).is_empty(), "consumed, not retried");
    assert!(sender.requests().is_empty());
    assert!(sender.visibility_changes().is_empty());
    let event = sender.only_event();
    assert_eq!(event["type"], "command.rejected");
    assert_eq!(event["data"]["reason"], "limit_exceeded");
    assert_eq!(event["data"]["field"], "/interactive/action/buttons");
    assert_eq!(event["data"]["command_id"], "c-buttons");
    assert_eq!(event["data"]["command_type"], "send_interactive");
    assert_contract(&sender);
}

#[tokio::test]
async fn a_body_that_is_not_json_is_rejected_as_an_invalid_command_and_consumed() {
    // Arrange
    let sender = sender(vec![]);
    let mut garbage = record(&json!({"command_id": "c-garbage"}));
    garbage.body = Some("{not json".into());

    // Act
    let response = sender.receives(vec![garbage]).await;

    // Assert
    assert!(failures(&response).is_empty());
    assert!(sender.requests().is_empty());
    let event = sender.only_event();
    assert_eq!(event["type"], "command.rejected");
    assert_eq!(event["data"]["reason"], "invalid_command");
    assert_eq!(event["data"]["command_id"], Value::Null);
    // Nothing names a contact or a number, so the event's FIFO group is the events module's
    // "unknown" fallback, which `check_all`'s group rule does not know: check the body only.
    EventContract::load().check(&event);
}

#[tokio::test]
async fn a_phone_number_without_its_country_code_is_rejected_as_an_invalid_recipient_without_a_request(
) {
    // Arrange: a São Paulo mobile as a person types it at home, with no `+55`.
    let sender = sender(vec![]);
    let mut command = text("c-no-country");
    command["to"] = "(11) 98765-4321".into();

    // Act
    let response = sender.receives(vec![record(&command)]).await;

    // Assert
    assert!(failures(&response).is_empty(), "consumed, not retried");
    assert!(sender.requests().is_empty());
    let event = sender.only_event();
    assert_eq!(event["type"], "command.rejected");
    assert_eq!(event["data"]["reason"], "invalid_recipient");
    assert_eq!(event["data"]["field"], "/to");
    assert_eq!(event["data"]["command_id"], "c-no-country");
    EventContract::load().check(&event);
}

#[tokio::test]
async fn a_command_for_an_unknown_phone_number_id_is_rejected_without_a_request() {
    // Arrange
    let sender = sender(vec![]);
    let mut command = text("c-unknown-pn");
    command["phone_number_id"] = "999999999999999".into();

    // Act
    let response = sender.receives(vec![record(&command)]).await;

    // Assert
    assert!(failures(&response).is_empty());
    assert!(sender.requests().is_empty());
    let event = sender.only_event();
    assert_eq!(event["type"], "command.rejected");
    assert_eq!(event["data"]["reason"], "unknown_phone_number_id");
    assert_eq!(event["data"]["field"], "/phone_number_id");
    assert_contract(&sender);
}

#[tokio::test]
async fn a_text_to_a_contact_whose_window_is_closed_is_rejected_as_window_closed_without_a_request()
{
    // Arrange
    let sender = sender(vec![]);
    sender.knows_the_contact(false, false).await;

    // Act
    let response = sender.receives(vec![record(&text("c-closed"))]).await;

    // Assert
    assert!(failures(&response).is_empty());
    assert!(sender.requests().is_empty());
    let event = sender.only_event();
    assert_eq!(event["type"], "command.rejected");
    assert_eq!(event["data"]["reason"], "window_closed");
    assert_eq!(event["contact"]["id"], CONTACT_ID);
    assert_contract(&sender);
}

#[tokio::test]
async fn a_text_to_a_contact_whose_window_is_closed_sends_its_fallback_template_and_says_so() {
    // Arrange
    let sender = sender(vec![]);
    sender.knows_the_contact(false, false).await;
    let mut command = text("c-fallback");
    command["fallback_template"] =
        json!({"name": "reopen", "language": {"code": "pt_BR"}, "category": "utility"});

    // Act
    let response = sender.receives(vec![record(&command)]).await;

    // Assert
    assert!(failures(&response).is_empty());
    let requests = sender.requests();
    assert_eq!(requests.len(), 1, "only the template goes out");
    let body = &requests[0].1;
    assert_eq!(body["type"], "template");
    assert_eq!(body["template"]["name"], "reopen");
    assert!(
        body["template"].get("category").is_none(),
        "the declared category is not sent to Meta"
    );
    assert!(body.get("text").is_none());
    let event = sender.only_event();
    assert_eq!(event["type"], "command.accepted");
    assert_eq!(event["data"]["fallback_used"], true);
    assert_eq!(event["data"]["template"], "reopen");
    assert_eq!(event["data"]["wamid"], "wamid.OUT1");
    assert_contract(&sender);
}

#[tokio::test]
async fn a_text_meta_refuses_as_outside_the_window_is_replaced_by_its_fallback_template() {
    // Arrange
    let sender = sender(vec![Answer::Refused(131047)]);
    sender.knows_the_contact(true, false).await;
    let mut command = text("c-131047");
    command["fallback_template"] = json!({"name": "reopen", "language": {"code": "pt_BR"}});

    // Act
    let response = sender.receives(vec![record(&command)]).await;

    // Assert
    assert!(failures(&response).is_empty());
    let types: Vec<Value> = sender
        .requests()
        .iter()
        .map(|(_, b)| b["type"].clone())
        .collect();
    assert_eq!(types, vec![json!("text"), json!("template")]);
    let event = sender.only_event();
    assert_eq!(event["type"], "command.accepted");
    assert_eq!(event["data"]["fallback_used"], true);
    assert_eq!(event["data"]["wamid"], "wamid.OUT2");
    assert_contract(&sender);
}

#[tokio::test]
async fn a_template_declared_marketing_to_an_opted_out_contact_is_rejected_without_a_request() {
    // Arrange
    let sender = sender(vec![]);
    sender.knows_the_contact(true, true).await;
    let command = template("c-promo", "promo", Some("MARKETING"));

    // Act
    let response = sender.receives(vec![record(&command)]).await;

    // Assert
    assert!(failures(&response).is_empty());
    assert!(sender.requests().is_empty());
    let event = sender.only_event();
    assert_eq!(event["type"], "command.rejected");
    assert_eq!(event["data"]["reason"], "opted_out");
    assert_contract(&sender);
}

#[tokio::test]
async fn an_opted_out_contact_whose_aliases_are_gone_is_still_found_by_its_deterministic_id() {
    // Arrange: the profile (its life lengthened by the opt-out) outlived its aliases.
    use shared::store::{Commit, ContactRecord, Expect, OutboxStore, Write};
    let sender = sender(vec![]);
    let id = shared::identity::Identity::new(Some(WA_ID), None)
        .new_contact_id(PN)
        .expect("an id");
    let now_ms = shared::now_ms();
    let contact = ContactRecord {
        business: PN.into(),
        contact_id: id,
        wa_id: Some(WA_ID.into()),
        phone: Some(format!("+{WA_ID}")),
        user_id: None,
        parent_user_id: None,
        name: None,
        username: None,
        marketing_opt_out: true,
        consent_at: Some(now_ms / 1000 - 600),
        created_at_ms: now_ms,
        updated_at_ms: now_ms,
        ttl: None,
    };
    let commit = Commit {
        outbox: None,
        writes: vec![Write::Contact(contact, Expect::Absent)],
    };
    sender.state.store.commit(commit).await.expect("stored");
    let command = template("c-promo-no-alias", "promo", Some("MARKETING"));

    // Act
    let response = sender.receives(vec![record(&command)]).await;

    // Assert
    assert!(failures(&response).is_empty());
    assert!(sender.requests().is_empty());
    let event = sender.only_event();
    assert_eq!(event["type"], "command.rejected");
    assert_eq!(event["data"]["reason"], "opted_out");
    assert_contract(&sender);
}

#[tokio::test]
async fn a_template_learned_as_marketing_to_an_opted_out_contact_is_rejected_without_a_request() {
    // Arrange
    let sender = sender(vec![]);
    sender.knows_the_contact(true, true).await;
    sender.learned_category("promo", "marketing").await;
    let command = template("c-learned", "promo", None);

    // Act
    let response = sender.receives(vec![record(&command)]).await;

    // Assert
    assert!(failures(&response).is_empty());
    assert!(sender.requests().is_empty());
    let event = sender.only_event();
    assert_eq!(event["type"], "command.rejected");
    assert_eq!(event["data"]["reason"], "opted_out");
    assert_contract(&sender);
}

#[tokio::test]
async fn a_utility_template_to_an_opted_out_contact_is_sent() {
    // Arrange
    let sender = sender(vec![]);
    sender.knows_the_contact(true, true).await;
    sender.learned_category("receipt", "utility").await;
    let command = template("c-receipt", "receipt", None);

    // Act
    let response = sender.receives(vec![record(&command)]).await;

    // Assert
    assert!(failures(&response).is_empty());
    assert_eq!(sender.requests().len(), 1);
    assert_eq!(sender.only_event()["type"], "command.accepted");
    assert_contract(&sender);
}

#[tokio::test]
async fn a_template_whose_category_was_never_learned_counts_as_marketing_for_an_opted_out_contact()
{
    // Arrange: no template update ever named `promo`, and the CRM declared nothing.
    let sender = sender(vec![]);
    sender.knows_the_contact(true, true).await;

    // Act
    let response = sender
        .receives(vec![record(&template("c-unknown", "promo", None))])
        .await;

    // Assert
    assert!(failures(&response).is_empty(), "consumed, not retried");
    assert!(sender.requests().is_empty(), "nothing sent");
    let event = sender.only_event();
    assert_eq!(event["type"], "command.rejected");
    assert_eq!(event["data"]["reason"], "opted_out");
    let message = event["data"]["message"].as_str().unwrap_or("");
    assert!(
        message.contains("never learned") && message.contains("counts as marketing"),
        "the message says why: {message}"
    );
    assert_contract(&sender);
}

#[tokio::test]
async fn a_category_declared_by_the_crm_cannot_make_a_template_less_strict_than_meta_says() {
    for (id, learned) in [
        ("c-declared-learned", Some("MARKETING")),
        ("c-declared-unknown", None),
    ] {
        // Arrange: the CRM declares `utility`; Meta says marketing, or nothing yet.
        let sender = sender(vec![]);
        sender.knows_the_contact(true, true).await;
        if let Some(category) = learned {
            sender.learned_category("promo", category).await;
        }

        // Act
        let response = sender
            .receives(vec![record(&template(id, "promo", Some("utility")))])
            .await;

        // Assert
        assert!(failures(&response).is_empty(), "{id}");
        assert!(sender.requests().is_empty(), "{id}: nothing sent");
        let event = sender.only_event();
        assert_eq!(event["type"], "command.rejected", "{id}");
        assert_eq!(event["data"]["reason"], "opted_out", "{id}");
        assert_contract(&sender);
    }
}

#[tokio::test]
async fn a_template_declared_marketing_is_marketing_even_if_meta_says_utility() {
    // Arrange
    let sender = sender(vec![]);
    sender.knows_the_contact(true, true).await;
    sender.learned_category("receipt", "UTILITY").await;

    // Act
    let response = sender
        .receives(vec![record(&template(
            "c-stricter",
            "receipt",
            Some("marketing"),
        ))])
        .await;

    // Assert
    assert!(failures(&response).is_empty());
    assert!(sender.requests().is_empty());
    let event = sender.only_event();
    assert_eq!(event["data"]["reason"], "opted_out");
    assert!(
        event["data"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("declared marketing")),
        "{event}"
    );
}

#[tokio::test]
async fn a_template_whose_category_was_never_learned_is_sent_to_a_contact_who_did_not_opt_out() {
    // Arrange
    let sender = sender(vec![]);
    sender.knows_the_contact(true, false).await;

    // Act
    let response = sender
        .receives(vec![record(&template("c-unknown-ok", "promo", None))])
        .await;

    // Assert
    assert!(failures(&response).is_empty());
    assert_eq!(sender.requests().len(), 1);
    assert_eq!(sender.only_event()["type"], "command.accepted");
    assert_contract(&sender);
}

// ---- Meta's refusals by class ------------------------------------------------------------

#[tokio::test]
async fn a_throughput_error_defers_the_record_with_backoff_and_publishes_nothing() {
    // Arrange
    let sender = sender(vec![Answer::Refused(130429)]);
    sender.knows_the_contact(true, false).await;

    // Act
    let response = sender.receives(vec![record(&text("c-130429"))]).await;

    // Assert
    assert_eq!(failures(&response), vec!["msg-c-130429".to_owned()]);
    let changes = sender.visibility_changes();
    assert_eq!(changes.len(), 1);
    assert_eq!(changes[0].0, "rh-c-130429");
    let delay = changes[0].1;
    assert!(
        delay >= Duration::from_secs(1) && delay <= Duration::from_secs(2),
        "first backoff is in the upper half of 2 s: {delay:?}"
    );
    assert_eq!(sender.requests().len(), 1);
    assert!(sender.events().is_empty(), "no failed event yet");
    let attempt = sender.attempt("c-130429").await;
    assert_eq!(attempt.state, AttemptState::Idle, "the claim is released");
    assert_eq!(attempt.retries, 1);
}

#[tokio::test]
async fn a_throughput_error_past_the_maximum_age_fails_the_command_as_retries_exhausted() {
    // Arrange
    let mut sender = sender(vec![Answer::Refused(130429)]);
    sender.state.config.retry_base = Duration::from_secs(10);
    sender.knows_the_contact(true, false).await;
    // 3 s inside its hour: it is sent, and the backoff (5–10 s) would end past the deadline.
    let old = record_aged(&text("c-old"), Duration::from_secs(3597));

    // Act
    let response = sender.receives(vec![old]).await;

    // Assert
    assert!(failures(&response).is_empty());
    assert!(sender.visibility_changes().is_empty());
    assert_eq!(sender.requests().len(), 1);
    let event = sender.only_event();
    assert_eq!(event["type"], "command.failed");
    assert_eq!(event["data"]["reason"], "retries_exhausted");
    assert_eq!(event["data"]["code"], 130429);
    assert_contract(&sender);
}

#[tokio::test]
async fn a_pair_rate_error_backs_that_recipient_off_without_failing_the_command() {
    // Arrange
    let sender = sender(vec![Answer::Refused(131056)]);
    sender.knows_the_contact(true, false).await;

    // Act
    let response = sender.receives(vec![record(&text("c-pair"))]).await;
    let next = sender.receives(vec![record(&text("c-pair-next"))]).await;

    // Assert
    assert_eq!(failures(&response), vec!["msg-c-pair".to_owned()]);
    let changes = sender.visibility_changes();
    assert_eq!(
        changes.first(),
        Some(&("rh-c-pair".to_owned(), Duration::from_secs(4))),
        "4^1 s for the first 131056"
    );
    assert!(sender.events().is_empty());
    assert_eq!(sender.attempt("c-pair").await.pair_hits, 1);
    assert_eq!(
        failures(&next),
        vec!["msg-c-pair-next".to_owned()],
        "the next command to the same recipient waits too"
    );
    assert_eq!(sender.requests().len(), 1, "and makes no request");
}

#[tokio::test]
async fn a_marketing_cap_error_defers_the_command_for_a_day_without_failing_it() {
    // Arrange
    let sender = sender(vec![Answer::Refused(131049)]);
    sender.knows_the_contact(true, false).await;
    let command = template("c-cap", "promo", Some("marketing"));
    let before = shared::now_ms();

    // The CRM lets this campaign live two days, so the day's wait is worth it.
    let mut command = command;
    command["expires_at"] = shared::events::rfc3339(before / 1000 + 2 * 86_400).into();

    // Act
    let response = sender.receives(vec![record(&command)]).await;
    let redelivered = sender.receives(vec![record(&command)]).await;

    // Assert
    assert_scheduled(
        &sender,
        &response,
        "c-cap",
        "marketing_cap",
        Duration::from_secs(86_400),
    );
    assert_eq!(sender.only_event()["data"]["code"], 131049);
    let not_before = sender.attempt("c-cap").await.not_before_ms.unwrap_or(0);
    let day_ms = 24 * 3600 * 1000;
    assert!(
        not_before >= before + day_ms && not_before <= shared::now_ms() + day_ms,
        "not before 24 h from now: {not_before}"
    );
    assert!(
        failures(&redelivered).is_empty(),
        "an early redelivery (the CRM sending it again) is consumed"
    );
    assert_eq!(
        sender.requests().len(),
        1,
        "an early redelivery sends nothing"
    );
    assert_eq!(
        sender.events().len(),
        1,
        "and publishes no second command.deferred"
    );
}

#[tokio::test]
async fn a_marketing_cap_error_past_the_commands_deadline_fails_it_with_metas_code() {
    // Arrange: the default maximum age (an hour) is shorter than Meta's day.
    let sender = sender(vec![Answer::Refused(131049)]);
    sender.knows_the_contact(true, false).await;

    // Act
    let response = sender
        .receives(vec![record(&template(
            "c-cap-1h",
            "promo",
            Some("marketing"),
        ))])
        .await;

    // Assert
    assert!(failures(&response).is_empty());
    let event = sender.only_event();
    assert_eq!(event["type"], "command.failed");
    assert_eq!(event["data"]["reason"], "expired");
    assert_eq!(event["data"]["code"], 131049);
    assert!(sender
        .state
        .store
        .get("CMD#c-cap-1h", "SCHEDULED")
        .is_none());
    assert_contract(&sender);
}

#[tokio::test]
async fn a_short_wait_after_many_receives_leaves_the_queue_instead_of_reaching_the_dlq() {
    // Arrange: the command has been deferred in its group 60 times already.
    let sender = sender(vec![Answer::Refused(130429)]);
    sender.knows_the_contact(true, false).await;
    let mut worn = record(&text("c-worn"));
    worn.attributes
        .insert("ApproximateReceiveCount".into(), "60".into());

    // Act
    let response = sender.receives(vec![worn]).await;

    // Assert: the backoff (1–2 s) is waited out of the queue.
    assert!(failures(&response).is_empty());
    assert!(sender.visibility_changes().is_empty());
    let event = sender.only_event();
    assert_eq!(event["type"], "command.deferred");
    assert_eq!(event["data"]["reason"], "retry");
    assert_eq!(event["data"]["code"], 130429);
    assert!(sender.state.store.get("CMD#c-worn", "SCHEDULED").is_some());
    assert_contract(&sender);
}

#[tokio::test]
async fn a_command_past_its_expires_at_fails_as_expired_without_a_request() {
    // Arrange
    let sender = sender(vec![]);
    sender.knows_the_contact(true, false).await;
    let mut command = text("c-late");
    command["expires_at"] = "2026-01-01T00:00:00-03:00".into();

    // Act
    let response = sender.receives(vec![record(&command)]).await;

    // Assert
    assert!(failures(&response).is_empty());
    assert!(sender.requests().is_empty());
    let event = sender.only_event();
    assert_eq!(event["type"], "command.failed");
    assert_eq!(event["data"]["reason"], "expired");
    assert_contract(&sender);
}

#[tokio::test]
async fn an_expires_at_that_is_not_a_date_time_rejects_the_command() {
    // Arrange
    let sender = sender(vec![]);
    sender.knows_the_contact(true, false).await;
    let mut command = text("c-bad-expiry");
    command["expires_at"] = "tomorrow at noon".into();

    // Act
    let response = sender.receives(vec![record(&command)]).await;

    // Assert
    assert!(failures(&response).is_empty());
    assert!(sender.requests().is_empty());
    let event = sender.only_event();
    assert_eq!(event["type"], "command.rejected");
    assert_eq!(event["data"]["reason"], "invalid_command");
    assert_eq!(event["data"]["field"], "/expires_at");
    assert_contract(&sender);
}

#[tokio::test]
async fn an_undeliverable_recipient_fails_the_command_with_metas_code_title_and_details() {
    // Arrange
    let sender = sender(vec![Answer::Refused(131026)]);
    sender.knows_the_contact(true, false).await;

    // Act
    let response = sender.receives(vec![record(&text("c-131026"))]).await;

    // Assert
    assert!(failures(&response).is_empty());
    assert_eq!(sender.requests().len(), 1);
    let event = sender.only_event();
    assert_eq!(event["type"], "command.failed");
    assert_eq!(event["data"]["reason"], "meta_error");
    assert_eq!(event["data"]["code"], 131026);
    assert_eq!(event["data"]["title"], "Meta error 131026");
    assert_eq!(event["data"]["details"], "details of 131026");
    assert_eq!(event["data"]["fbtrace_id"], "AzTrace");
    assert_contract(&sender);
}

#[tokio::test]
async fn a_refused_access_token_is_re_read_once_and_the_command_stays_queued() {
    // Arrange
    let sender = sender(vec![Answer::Refused(190), Answer::Refused(190)]);
    sender.knows_the_contact(true, false).await;

    // Act
    let response = sender.receives(vec![record(&text("c-190"))]).await;

    // Assert
    assert_scheduled(
        &sender,
        &response,
        "c-190",
        "credentials",
        Duration::from_secs(300),
    );
    assert_eq!(sender.requests().len(), 2, "one retry after the re-read");
    assert_eq!(
        sender.secret_reads.load(Ordering::SeqCst),
        2,
        "the first read and exactly one re-read"
    );
    assert_eq!(sender.attempt("c-190").await.state, AttemptState::Idle);
}

#[tokio::test]
async fn an_unset_access_token_is_re_read_once_and_the_command_stays_queued_unsent() {
    for secret in [
        r#"{"access_token":""}"#,
        r#"{"access_token":"set-me"}"#,
        r#"{"access_token":"token","access_tokens":{"106540352242922":"set-me"}}"#,
        r#"{"access_tokens":{"999":"token"}}"#,
    ] {
        // Arrange
        let sender = sender_with_secret(secret, vec![]);
        sender.knows_the_contact(true, false).await;

        // Act
        let response = sender.receives(vec![record(&text("c-unset"))]).await;

        // Assert: waits CREDENTIAL_RETRY_SECONDS out of the queue, like a refused token.
        assert_scheduled(
            &sender,
            &response,
            "c-unset",
            "credentials",
            Duration::from_secs(300),
        );
        assert!(sender.requests().is_empty(), "nothing sent: {secret}");
        assert_eq!(sender.secret_reads.load(Ordering::SeqCst), 2, "{secret}");
        assert_eq!(sender.attempt("c-unset").await.state, AttemptState::Idle);
    }
}

#[tokio::test]
async fn a_restricted_account_keeps_the_command_queued_without_re_reading_the_secret() {
    // Arrange
    let sender = sender(vec![Answer::Refused(368)]);
    sender.knows_the_contact(true, false).await;

    // Act
    let response = sender.receives(vec![record(&text("c-368"))]).await;

    // Assert
    assert_scheduled(
        &sender,
        &response,
        "c-368",
        "account",
        Duration::from_secs(300),
    );
    assert_eq!(sender.requests().len(), 1);
    assert_eq!(sender.secret_reads.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn an_unreachable_graph_api_releases_the_claim_and_retries_with_backoff() {
    // Arrange
    let sender = sender(vec![Answer::Unreachable]);
    sender.knows_the_contact(true, false).await;
    let command = text("c-unreachable");

    // Act
    let first = sender.receives(vec![record(&command)]).await;
    let redelivered = sender.receives(vec![record(&command)]).await;

    // Assert
    assert_eq!(failures(&first), vec!["msg-c-unreachable".to_owned()]);
    let delay = sender.visibility_changes().first().map(|(_, d)| *d);
    assert!(
        delay.is_some_and(|d| d >= Duration::from_secs(1) && d <= Duration::from_secs(2)),
        "first backoff: {delay:?}"
    );
    assert!(
        failures(&redelivered).is_empty(),
        "nothing was sent, so the redelivery may send"
    );
    assert_eq!(sender.requests().len(), 2);
    assert_eq!(sender.only_event()["type"], "command.accepted");
    assert_contract(&sender);
}

#[tokio::test]
async fn a_token_accepted_after_re_reading_the_secret_sends_the_command() {
    // Arrange
    let sender = sender(vec![Answer::Refused(190)]);
    sender.knows_the_contact(true, false).await;

    // Act
    let response = sender.receives(vec![record(&text("c-190-ok"))]).await;

    // Assert
    assert!(failures(&response).is_empty());
    assert_eq!(sender.requests().len(), 2);
    assert_eq!(sender.secret_reads.load(Ordering::SeqCst), 2);
    assert_eq!(sender.only_event()["type"], "command.accepted");
    assert_contract(&sender);
}

// ---- once ----------------------------------------------------------------------------------

#[tokio::test]
async fn an_agents_reply_clears_awaiting_reply_so_a_later_window_alert_says_so() {
    // Arrange
    let sender = sender(vec![]);
    sender.knows_the_contact(true, false).await;

    // Act
    sender.receives(vec![record(&text("c-reply"))]).await;

    // Assert
    assert_eq!(sender.only_event()["type"], "command.accepted");
    let conversation = sender
        .state
        .store
        .load_contact(PN, CONTACT_ID)
        .await
        .expect("the contact loads")
        .conversation
        .expect("the conversation is kept")
        .record;
    assert!(!conversation.awaiting_reply);
    assert!(conversation.last_outbound_at.is_some());
}

#[tokio::test]
async fn the_same_command_processed_twice_is_sent_once_and_its_outcome_repeated_with_the_same_event_id(
) {
    // Arrange
    let sender = sender(vec![]);
    sender.knows_the_contact(true, false).await;
    let command = text("c-twice");

    // Act
    sender.receives(vec![record(&command)]).await;
    let again = sender.receives(vec![record(&command)]).await;

    // Assert
    assert!(failures(&again).is_empty());
    assert_eq!(sender.requests().len(), 1);
    let events = sender.events();
    assert_eq!(events.len(), 2);
    assert_eq!(events[0]["type"], "command.accepted");
    assert_eq!(
        events[0], events[1],
        "the very same event, event_id included"
    );
    assert_contract(&sender);
}

#[tokio::test]
async fn a_send_whose_answer_is_lost_fails_as_outcome_unknown_and_is_never_sent_again() {
    // Arrange
    let sender = sender(vec![Answer::Lost]);
    sender.knows_the_contact(true, false).await;
    let command = text("c-lost");

    // Act
    let first = sender.receives(vec![record(&command)]).await;
    let redelivered = sender.receives(vec![record(&command)]).await;

    // Assert
    assert!(failures(&first).is_empty());
    assert!(failures(&redelivered).is_empty());
    assert_eq!(sender.requests().len(), 1, "never a second request");
    let events = sender.events();
    assert_eq!(events.len(), 2);
    assert_eq!(events[0]["type"], "command.failed");
    assert_eq!(events[0]["data"]["reason"], "outcome_unknown");
    assert_eq!(events[0]["data"]["code"], Value::Null);
    assert_eq!(events[0]["event_id"], events[1]["event_id"]);
    assert_contract(&sender);
}

#[tokio::test]
async fn a_claim_left_sending_past_its_lease_ends_as_outcome_unknown_without_a_request() {
    // Arrange
    let sender = sender(vec![]);
    sender.knows_the_contact(true, false).await;
    let long_ago = shared::now_ms() - 3600 * 1000;
    let crashed = Attempt {
        command_id: "c-crashed".into(),
        state: AttemptState::Sending,
        started_at_ms: long_ago,
        first_seen_ms: long_ago,
        retries: 0,
        pair_hits: 0,
        cap_hits: 0,
        not_before_ms: None,
        last_error: None,
        accepted: None,
        ttl: long_ago / 1000 + 86_400,
    };
    assert!(sender
        .state
        .sender_store
        .save_attempt(&crashed, Expect::Absent)
        .await
        .expect("the sender store answers"));

    // Act
    let response = sender.receives(vec![record(&text("c-crashed"))]).await;

    // Assert
    assert!(failures(&response).is_empty());
    assert!(sender.requests().is_empty());
    let event = sender.only_event();
    assert_eq!(event["type"], "command.failed");
    assert_eq!(event["data"]["reason"], "outcome_unknown");
    assert_contract(&sender);
}

#[tokio::test]
async fn a_claim_still_within_its_lease_defers_the_redelivery_without_a_request() {
    // Arrange
    let sender = sender(vec![]);
    sender.knows_the_contact(true, false).await;
    let now = shared::now_ms();
    let in_flight = Attempt {
        command_id: "c-in-flight".into(),
        state: AttemptState::Sending,
        started_at_ms: now,
        first_seen_ms: now,
        retries: 0,
        pair_hits: 0,
        cap_hits: 0,
        not_before_ms: None,
        last_error: None,
        accepted: None,
        ttl: now / 1000 + 86_400,
    };
    assert!(sender
        .state
        .sender_store
        .save_attempt(&in_flight, Expect::Absent)
        .await
        .expect("the sender store answers"));

    // Act
    let response = sender.receives(vec![record(&text("c-in-flight"))]).await;

    // Assert
    assert_eq!(failures(&response), vec!["msg-c-in-flight".to_owned()]);
    let delay = sender.visibility_changes().first().map(|(_, d)| *d);
    assert!(
        delay.is_some_and(|d| d > Duration::from_secs(30) && d <= Duration::from_secs(40)),
        "waits out the rest of the lease: {delay:?}"
    );
    assert!(sender.requests().is_empty());
    assert!(sender.events().is_empty());
}

/// A `Sending` attempt claimed `age` ago by an invocation that never finished.
async fn claimed_ago(sender: &Sender, command_id: &str, age: Duration) {
    let started = shared::now_ms() - i64::try_from(age.as_millis()).expect("a short age");
    let claim = Attempt {
        command_id: command_id.into(),
        state: AttemptState::Sending,
        started_at_ms: started,
        first_seen_ms: started,
        retries: 0,
        pair_hits: 0,
        cap_hits: 0,
        not_before_ms: None,
        last_error: None,
        accepted: None,
        ttl: started / 1000 + 86_400,
    };
    assert!(sender
        .state
        .sender_store
        .save_attempt(&claim, Expect::Absent)
        .await
        .expect("the sender store answers"));
}

#[tokio::test]
async fn the_lease_of_a_claim_is_as_long_as_the_invocation_the_deadline_describes() {
    // Arrange: two claims made 45 s ago, read by invocations of 30 s and of 60 s.
    let sender = sender(vec![]);
    sender.knows_the_contact(true, false).await;
    claimed_ago(&sender, "c-short", Duration::from_secs(45)).await;
    claimed_ago(&sender, "c-long", Duration::from_secs(45)).await;

    // Act
    let short = sender
        .receives_within(vec![record(&text("c-short"))], Duration::from_secs(30))
        .await;
    let long = sender
        .receives_within(vec![record(&text("c-long"))], Duration::from_secs(60))
        .await;

    // Assert: a 30 s invocation cannot still be sending after 45 s; a 60 s one may be.
    assert!(failures(&short).is_empty());
    assert_eq!(sender.only_event()["data"]["reason"], "outcome_unknown");
    assert_eq!(failures(&long), vec!["msg-c-long".to_owned()]);
    let delay = sender.visibility_changes().first().map(|(_, d)| *d);
    assert!(
        delay.is_some_and(|d| d > Duration::from_secs(14) && d <= Duration::from_secs(16)),
        "waits out the rest of 60 s + the clock allowance: {delay:?}"
    );
    assert!(sender.requests().is_empty());
}

#[tokio::test]
async fn no_send_is_claimed_when_the_time_left_cannot_cover_two_graph_calls_and_the_commit() {
    // Arrange: Graph timeout 10 s and commit 5 s: a send needs 2 × 10 + 5 + 1 = 26 s.
    let sender = sender(vec![]);
    sender.knows_the_contact(true, false).await;

    // Act
    let late = sender
        .receives_within(vec![record(&text("c-late"))], Duration::from_secs(25))
        .await;
    let claims_after_late = sender.state.sender_store.load_attempt("c-late").await;
    let in_time = sender
        .receives_within(vec![record(&text("c-late"))], Duration::from_secs(27))
        .await;

    // Assert
    assert_eq!(failures(&late), vec!["msg-c-late".to_owned()]);
    assert!(
        claims_after_late
            .expect("the sender store answers")
            .is_none(),
        "nothing was claimed"
    );
    assert_eq!(
        sender.visibility_changes().first().map(|(_, d)| *d),
        Some(Duration::from_secs(1)),
        "back in a moment, to an invocation with time"
    );
    assert!(failures(&in_time).is_empty());
    assert_eq!(sender.requests().len(), 1);
    assert_eq!(sender.only_event()["type"], "command.accepted");
}

/// The limiter's writes so far: pair-rate bucket writes and send-clock moves.
fn limiter_takes(sender: &Sender) -> (usize, u64) {
    (
        sender.state.sender_store.pair_saves.load(Ordering::SeqCst),
        sender.state.limiter.throughput_writes(),
    )
}

#[tokio::test]
async fn a_command_deferred_for_lack_of_time_takes_its_pair_token_and_send_time_once() {
    // Arrange: 25 s left cannot cover a send (26 s), 27 s can.
    let sender = sender(vec![]);
    sender.knows_the_contact(true, false).await;

    // Act
    let late = sender
        .receives_within(vec![record(&text("c-once"))], Duration::from_secs(25))
        .await;
    let after_late = limiter_takes(&sender);
    let in_time = sender
        .receives_within(vec![record(&text("c-once"))], Duration::from_secs(27))
        .await;

    // Assert
    assert_eq!(failures(&late), vec!["msg-c-once".to_owned()]);
    assert_eq!(after_late, (0, 0), "the deferred delivery took nothing");
    assert!(failures(&in_time).is_empty());
    assert_eq!(sender.requests().len(), 1);
    assert_eq!(
        limiter_takes(&sender),
        (1, 1),
        "one pair token and one send time for one send"
    );
}

#[tokio::test(start_paused = true)]
async fn a_send_time_past_the_last_moment_to_claim_is_given_back_and_used_by_the_next_delivery() {
    // Arrange: 26.02 s left: a send may still be claimed for 20 ms, and the number's idle clock
    // restarts ~30 ms ahead (twice the store's first-guess round trip).
    let sender = sender(vec![]);
    sender.knows_the_contact(true, false).await;

    // Act
    let late = sender
        .receives_within(vec![record(&text("c-back"))], Duration::from_millis(26_020))
        .await;
    let after_late = limiter_takes(&sender);
    let in_time = sender.receives(vec![record(&text("c-back"))]).await;

    // Assert
    assert_eq!(failures(&late), vec!["msg-c-back".to_owned()]);
    assert_eq!(
        after_late,
        (0, 1),
        "no pair token taken; the clock moved once, for a time this instance keeps"
    );
    assert!(failures(&in_time).is_empty());
    assert_eq!(sender.only_event()["type"], "command.accepted");
    assert_eq!(
        limiter_takes(&sender),
        (1, 1),
        "the time given back is the one sent on"
    );
}

#[tokio::test(start_paused = true)]
async fn a_send_admitted_within_the_claim_window_is_claimed_however_late_the_machine_woke_it() {
    // Arrange: 26.05 s left (a send needs 26 s): the idle clock's first time, ~30 ms ahead, is
    // within the window; the token's write then takes 40 ms, as on a busy machine.
    let sender = sender(vec![]);
    sender.knows_the_contact(true, false).await;
    *sender.state.sender_store.pair_save_delay.lock().unwrap() = Duration::from_millis(40);

    // Act
    let response = sender
        .receives_within(
            vec![record(&text("c-woke-late"))],
            Duration::from_millis(26_050),
        )
        .await;

    // Assert
    assert!(failures(&response).is_empty(), "sent on the time it holds");
    assert_eq!(sender.requests().len(), 1);
    assert_eq!(sender.only_event()["type"], "command.accepted");
    assert_eq!(limiter_takes(&sender), (1, 1));
}

#[tokio::test]
async fn a_503_without_metas_error_body_releases_the_claim_and_retries_with_backoff() {
    // Arrange
    let sender = sender(vec![Answer::NotProcessed(503)]);
    sender.knows_the_contact(true, false).await;
    let command = text("c-503");

    // Act
    let first = sender.receives(vec![record(&command)]).await;
    let attempt = sender.attempt("c-503").await;
    let redelivered = sender.receives(vec![record(&command)]).await;

    // Assert
    assert_eq!(failures(&first), vec!["msg-c-503".to_owned()]);
    assert_eq!(attempt.state, AttemptState::Idle, "nothing was sent");
    assert_eq!(attempt.retries, 1);
    let delay = sender.visibility_changes().first().map(|(_, d)| *d);
    assert!(
        delay.is_some_and(|d| d >= Duration::from_secs(1) && d <= Duration::from_secs(2)),
        "first backoff: {delay:?}"
    );
    assert!(failures(&redelivered).is_empty());
    assert_eq!(sender.requests().len(), 2);
    assert_eq!(sender.only_event()["type"], "command.accepted");
    assert_contract(&sender);
}

#[tokio::test]
async fn a_502_past_the_maximum_age_fails_the_command_as_retries_exhausted_naming_the_status() {
    // Arrange
    // Backoffs of 30–60 s, so the next try of a command 25 s short of its hour comes too late;
    // the 25 s leave room for a slow machine between building the record and handling it.
    let mut sender = sender(vec![Answer::NotProcessed(502)]);
    sender.state.config.retry_base = Duration::from_secs(60);
    sender.knows_the_contact(true, false).await;

    // Act
    let response = sender
        .receives(vec![record_aged(&text("c-502"), Duration::from_secs(3575))])
        .await;

    // Assert
    assert!(failures(&response).is_empty());
    let event = sender.only_event();
    assert_eq!(event["type"], "command.failed");
    assert_eq!(event["data"]["reason"], "retries_exhausted");
    assert!(
        event["data"]["title"]
            .as_str()
            .is_some_and(|t| t.contains("502")),
        "{event}"
    );
    assert_contract(&sender);
}

#[tokio::test]
async fn a_conversation_the_customer_moved_on_while_meta_answered_is_read_again_for_the_outcome() {
    // Arrange: Meta answers only once the customer has written again (the processor's write).
    let sender = sender(vec![]);
    sender.knows_the_contact(true, false).await;
    let (reached, meta_answering) = tokio::sync::oneshot::channel();
    let (resume, resumed) = tokio::sync::oneshot::channel();
    *sender.state.graph.pause.lock().unwrap() = Some(Pause {
        reached,
        resume: resumed,
    });
    let written_again = shared::now_ms() / 1000 - 1;
    let customer_writes = async {
        meta_answering.await.expect("the send reached Meta");
        let conv = sender
            .state
            .store
            .load_contact(PN, CONTACT_ID)
            .await
            .expect("the store answers")
            .conversation
            .expect("the conversation");
        let mut moved = conv.record;
        moved.last_inbound_at = Some(written_again);
        let commit = Commit {
            outbox: None,
            writes: vec![Write::Conversation(moved, Expect::Version(conv.version))],
        };
        sender.state.store.commit(commit).await.expect("stored");
        resume.send(()).expect("the send waits");
    };

    // Act
    let (response, ()) = tokio::join!(
        sender.receives(vec![record(&text("c-moved"))]),
        customer_writes
    );

    // Assert
    assert!(failures(&response).is_empty());
    assert_eq!(sender.only_event()["type"], "command.accepted");
    let conversation = sender.conversation().await;
    assert_eq!(
        conversation.last_inbound_at,
        Some(written_again),
        "the customer's write is kept"
    );
    assert!(conversation.last_outbound_at.is_some(), "and the reply's");
}

#[tokio::test]
async fn a_spam_or_portfolio_limit_keeps_the_command_queued_like_an_account_restriction() {
    for code in [131048, 131064] {
        // Arrange
        let sender = sender(vec![Answer::Refused(code)]);
        sender.knows_the_contact(true, false).await;
        let id = format!("c-{code}");

        // Act
        let response = sender.receives(vec![record(&text(&id))]).await;

        // Assert
        assert_scheduled(&sender, &response, &id, "account", Duration::from_secs(300));
        assert_eq!(sender.only_event()["data"]["code"], code);
        assert_eq!(sender.requests().len(), 1, "{code}: no second call");
        assert_eq!(sender.secret_reads.load(Ordering::SeqCst), 1, "{code}");
        assert_eq!(sender.attempt(&id).await.state, AttemptState::Idle);
    }
}

#[tokio::test]
async fn a_request_or_product_refusal_fails_the_command_with_its_code() {
    for code in [131062, 131063, 130472, 131037, 137000] {
        // Arrange
        let sender = sender(vec![Answer::Refused(code)]);
        sender.knows_the_contact(true, false).await;
        let id = format!("c-{code}");

        // Act
        let response = sender.receives(vec![record(&text(&id))]).await;

        // Assert
        assert!(failures(&response).is_empty(), "{code}");
        assert_eq!(sender.requests().len(), 1, "{code}: never retried");
        let event = sender.only_event();
        assert_eq!(event["type"], "command.failed", "{code}");
        assert_eq!(event["data"]["reason"], "meta_error", "{code}");
        assert_eq!(event["data"]["code"], code);
        assert_contract(&sender);
    }
}

// ---- a send Meta accepted is never reported lost -----------------------------------------

/// Meta's status object for `wamid`, as the processor receives it.
fn status(wamid: &str, status: &str) -> Box<serde_json::value::RawValue> {
    let object = json!({"id": wamid, "status": status, "timestamp": (shared::now_ms() / 1000).to_string(),
        "recipient_id": WA_ID, "biz_opaque_callback_data": "c-any"});
    serde_json::value::RawValue::from_string(object.to_string()).expect("a JSON object")
}

impl Sender {
    /// A status reaches the processor: stored on its message, or parked while there is none.
    async fn status_arrives(&self, wamid: &str, value: &str) {
        let update = StatusUpdate::parse(&status(wamid, value), shared::now_ms() / 1000)
            .expect("a valid status");
        let ctx = StatusContext {
            business: PN.into(),
            waba_id: None,
            now_ms: shared::now_ms(),
            retention: shared::retention::Retention::default(),
        };
        apply_status(&self.state.store, &self.state.events, &ctx, &update)
            .await
            .expect("the status is stored or parked");
    }

    /// The outbound message item, if stored.
    fn message(&self, wamid: &str) -> Option<Value> {
        self.state
            .store
            .get(&keys::message_pk(wamid), keys::MESSAGE)
    }

    async fn conversation(&self) -> ConversationRecord {
        self.state
            .store
            .load_contact(PN, CONTACT_ID)
            .await
            .expect("the contact loads")
            .conversation
            .expect("the conversation is kept")
            .record
    }
}

#[tokio::test]
async fn a_send_meta_accepted_whose_outcome_commit_failed_is_accepted_with_its_wamid_on_redelivery()
{
    // Within the lease and long after it: the wamid on the claim decides, not the clock.
    for aged in [false, true] {
        // Arrange
        let sender = sender(vec![]);
        sender.knows_the_contact(true, false).await;
        let command = text("c-commit-lost");
        sender.state.store.fail_next_commits(1);

        // Act
        let first = sender.receives(vec![record(&command)]).await;
        let claim = sender.attempt("c-commit-lost").await;
        if aged {
            sender
                .age_claim("c-commit-lost", Duration::from_secs(3600))
                .await;
        }
        let redelivered = sender.receives(vec![record(&command)]).await;

        // Assert
        assert_eq!(
            failures(&first),
            vec!["msg-c-commit-lost".to_owned()],
            "{aged}"
        );
        assert_eq!(
            claim.accepted.as_ref().and_then(|a| a.wamid.as_deref()),
            Some("wamid.OUT1"),
            "{aged}: the wamid is on the claim before the outcome commit"
        );
        assert!(failures(&redelivered).is_empty(), "{aged}");
        assert_eq!(sender.requests().len(), 1, "{aged}: never a second send");
        let event = sender.only_event();
        assert_eq!(event["type"], "command.accepted", "{aged}");
        assert_eq!(event["data"]["wamid"], "wamid.OUT1");
        assert_eq!(event["data"]["command_id"], "c-commit-lost");
        assert_eq!(event["data"]["to"], format!("+{WA_ID}"));
        assert_eq!(event["data"]["wa_id"], WA_ID);
        assert_eq!(event["data"]["message_type"], "text");
        let message = sender.message("wamid.OUT1").expect("the message is stored");
        assert_eq!(message["command_id"], "c-commit-lost");
        assert_eq!(message["direction"], "outbound");
        let conversation = sender.conversation().await;
        assert!(!conversation.awaiting_reply, "{aged}");
        assert!(conversation.last_outbound_at.is_some());
        assert_contract(&sender);
    }
}

#[tokio::test]
async fn a_redelivery_of_an_accepted_send_is_accepted_even_if_the_window_closed_and_the_contact_opted_out(
) {
    // Arrange: the template went out; before the redelivery the contact opts out and the
    // window closes, which would refuse a new send but cannot undo this one.
    let sender = sender(vec![]);
    sender.knows_the_contact(true, false).await;
    let command = template("c-sent-before", "promo", Some("marketing"));
    sender.state.store.fail_next_commits(1);
    sender.receives(vec![record(&command)]).await;
    let now_ms = shared::now_ms();
    let current = sender
        .state
        .store
        .load_contact(PN, CONTACT_ID)
        .await
        .expect("the contact loads");
    let (profile, conversation) = (
        current.contact.expect("a contact"),
        current.conversation.expect("a conversation"),
    );
    let mut opted_out = profile.record.clone();
    opted_out.marketing_opt_out = true;
    let mut closed = conversation.record.clone();
    closed.window_expires_at = Some(now_ms / 1000 - 60);
    sender
        .state
        .store
        .commit(Commit {
            outbox: None,
            writes: vec![
                Write::Contact(opted_out, Expect::Version(profile.version)),
                Write::Conversation(closed, Expect::Version(conversation.version)),
            ],
        })
        .await
        .expect("the contact changes");

    // Act
    let redelivered = sender.receives(vec![record(&command)]).await;

    // Assert
    assert!(failures(&redelivered).is_empty());
    assert_eq!(sender.requests().len(), 1);
    let event = sender.only_event();
    assert_eq!(event["type"], "command.accepted");
    assert_eq!(event["data"]["wamid"], "wamid.OUT1");
    assert_contract(&sender);
}

#[tokio::test]
async fn statuses_parked_while_the_outcome_commit_failed_reach_the_crm_when_the_redelivery_accepts()
{
    // Arrange
    let sender = sender(vec![]);
    sender.knows_the_contact(true, false).await;
    let command = text("c-parked");
    sender.state.store.fail_next_commits(1);
    sender.receives(vec![record(&command)]).await;
    // Meta delivers while the message is not stored: the processor parks the status.
    sender.status_arrives("wamid.OUT1", "delivered").await;
    assert!(sender.events().is_empty(), "parked, not published");

    // Act
    let redelivered = sender.receives(vec![record(&command)]).await;

    // Assert
    assert!(failures(&redelivered).is_empty());
    let events = sender.events();
    let types: Vec<&str> = events.iter().filter_map(|e| e["type"].as_str()).collect();
    assert_eq!(types, ["command.accepted", "message.status"], "{events:#?}");
    assert_eq!(events[1]["data"]["status"], "delivered");
    assert_eq!(events[1]["data"]["wamid"], "wamid.OUT1");
    assert_eq!(events[1]["data"]["command_id"], "c-parked");
    let message = sender.message("wamid.OUT1").expect("stored");
    assert_eq!(message["status"], "delivered");
    assert_contract(&sender);
}

#[tokio::test]
async fn an_accepted_outcome_published_again_applies_the_statuses_still_parked() {
    // Arrange: the status arrives before the answer is recorded (parked); the outcome commits
    // but its publication fails, so nothing after it ran.
    let mut sender = sender(vec![]);
    sender.state.events = RecordingSink::failing(1);
    sender.knows_the_contact(true, false).await;
    sender.status_arrives("wamid.OUT1", "read").await;
    let command = text("c-repeat-parked");
    let first = sender.receives(vec![record(&command)]).await;
    assert_eq!(failures(&first), vec!["msg-c-repeat-parked".to_owned()]);
    assert!(sender.events().is_empty());

    // Act: the redelivery finds the outcome in the outbox.
    let redelivered = sender.receives(vec![record(&command)]).await;

    // Assert
    assert!(failures(&redelivered).is_empty());
    assert_eq!(sender.requests().len(), 1);
    let events = sender.events();
    let types: Vec<&str> = events.iter().filter_map(|e| e["type"].as_str()).collect();
    assert_eq!(types, ["command.accepted", "message.status"], "{events:#?}");
    assert_eq!(events[1]["data"]["status"], "read");
    assert_eq!(events[1]["data"]["command_id"], "c-repeat-parked");
    assert_contract(&sender);
}

#[tokio::test]
async fn a_claim_that_cannot_take_metas_answer_still_records_the_acceptance() {
    // The claim is written, then the write of the wamid is refused, or finds the claim changed.
    for fault in [SaveFault::Error, SaveFault::Conflict] {
        // Arrange
        let sender = sender(vec![]);
        sender.knows_the_contact(true, false).await;
        sender.state.sender_store.fail_attempt_saves(1, 1, fault);

        // Act
        let response = sender.receives(vec![record(&text("c-no-claim"))]).await;

        // Assert
        assert!(failures(&response).is_empty(), "{fault:?}");
        assert_eq!(sender.requests().len(), 1, "{fault:?}");
        assert!(
            sender.attempt("c-no-claim").await.accepted.is_none(),
            "{fault:?}: the answer did not reach the claim"
        );
        let event = sender.only_event();
        assert_eq!(event["type"], "command.accepted", "{fault:?}");
        assert_eq!(event["data"]["wamid"], "wamid.OUT1");
        assert!(sender.message("wamid.OUT1").is_some(), "{fault:?}");
        assert_contract(&sender);
    }
}

#[tokio::test]
async fn a_visibility_change_that_cannot_end_before_the_deadline_is_given_up_so_the_batch_answers()
{
    // Arrange: 2.5 s left, too little to claim a send (deferred 1 s); SQS takes 20 s to answer.
    let sender = sender(vec![]);
    sender.knows_the_contact(true, false).await;
    *sender.state.visibility.answers_after.lock().unwrap() = Duration::from_secs(20);
    let began = std::time::Instant::now();

    // Act
    let response = sender
        .receives_within(
            vec![record(&text("c-slow-sqs"))],
            Duration::from_millis(2500),
        )
        .await;

    // Assert: answered before the deadline, the command reported (it comes back either way).
    assert!(
        began.elapsed() < Duration::from_millis(2500),
        "{:?}",
        began.elapsed()
    );
    assert_eq!(failures(&response), vec!["msg-c-slow-sqs".to_owned()]);
    assert!(
        sender.visibility_changes().is_empty(),
        "the change was given up"
    );
    assert!(sender.requests().is_empty());
}

// ---- business-scoped user ids ------------------------------------------------------------

const USER_ID: &str = "BR.13491208655302741918";

fn template_to_user_id(id: &str, name: &str, category: Option<&str>) -> Value {
    let mut command = template(id, name, category);
    command["to"] = USER_ID.into();
    command
}

#[tokio::test]
async fn an_authentication_template_to_a_user_id_is_rejected_without_a_request() {
    // Arrange: one declared authentication by the CRM, one Meta categorised so.
    let sender = sender(vec![]);
    sender.learned_category("otp", "authentication").await;
    let declared = template_to_user_id("c-auth-declared", "codigo", Some("AUTHENTICATION"));
    let learned = template_to_user_id("c-auth-learned", "otp", None);

    // Act
    let response = sender
        .receives(vec![record(&declared), record(&learned)])
        .await;

    // Assert
    assert!(failures(&response).is_empty(), "consumed, not retried");
    assert!(sender.requests().is_empty(), "nothing sent to Meta");
    let events = sender.events();
    assert_eq!(events.len(), 2, "{events:#?}");
    for event in &events {
        assert_eq!(event["type"], "command.rejected");
        assert_eq!(event["data"]["reason"], "authentication_to_user_id");
        let message = event["data"]["message"].as_str().unwrap_or("");
        assert!(
            message.contains("131062"),
            "the message says why: {message}"
        );
    }
    assert_contract(&sender);
}

#[tokio::test]
async fn a_utility_template_to_a_user_id_goes_out_with_recipient() {
    // Arrange
    let sender = sender(vec![]);
    sender.learned_category("receipt", "utility").await;

    // Act
    let response = sender
        .receives(vec![record(&template_to_user_id("c-uid", "receipt", None))])
        .await;

    // Assert
    assert!(failures(&response).is_empty());
    let requests = sender.requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].1["recipient"], USER_ID);
    assert!(requests[0].1.get("to").is_none());
    assert_eq!(sender.only_event()["type"], "command.accepted");
    assert_contract(&sender);
}

#[tokio::test]
async fn an_authentication_template_to_a_phone_number_is_sent() {
    // Arrange
    let sender = sender(vec![]);
    sender.learned_category("otp", "authentication").await;

    // Act
    let response = sender
        .receives(vec![record(&template("c-otp-phone", "otp", None))])
        .await;

    // Assert
    assert!(failures(&response).is_empty());
    assert_eq!(sender.requests().len(), 1);
    assert_eq!(sender.only_event()["type"], "command.accepted");
    assert_contract(&sender);
}

// ---- send_media by key ---------------------------------------------------------------------

const MEDIA_KEY: &str = "media/106540352242922/ct_0123456789abcdef01234567/1e06cb7c66b73c81540c1484eddb054fc055b09d20f179c17774591948c6b498";

#[tokio::test]
async fn media_by_key_reaches_meta_as_a_presigned_link_valid_media_link_minutes() {
    // Arrange
    let sender = sender(vec![]);
    sender.knows_the_contact(true, false).await;
    let command = json!({"command_id": "c-photo", "type": "send_media", "phone_number_id": PN,
        "to": TO, "image": {"key": MEDIA_KEY, "caption": "your photo"}});

    // Act
    let response = sender.receives(vec![record(&command)]).await;

    // Assert
    assert!(failures(&response).is_empty());
    let requests = sender.requests();
    assert_eq!(requests.len(), 1);
    let image = &requests[0].1["image"];
    assert_eq!(
        image["link"],
        format!("memory://data/{MEDIA_KEY}?expires=900")
    );
    assert!(image.get("key").is_none(), "{image}");
    assert_eq!(image["caption"], "your photo");
    assert_eq!(sender.only_event()["type"], "command.accepted");
    assert_contract(&sender);
}

#[tokio::test]
async fn media_by_a_key_outside_media_is_rejected_without_a_request() {
    // Arrange
    let sender = sender(vec![]);
    sender.knows_the_contact(true, false).await;
    let command = json!({"command_id": "c-export", "type": "send_media", "phone_number_id": PN,
        "to": TO, "document": {"key": "exports/106540352242922/ct_0123456789abcdef01234567/x.json"}});

    // Act
    let response = sender.receives(vec![record(&command)]).await;

    // Assert
    assert!(failures(&response).is_empty());
    assert!(sender.requests().is_empty());
    let event = sender.only_event();
    assert_eq!(event["type"], "command.rejected");
    assert_eq!(event["data"]["reason"], "invalid_command");
    assert_contract(&sender);
}
