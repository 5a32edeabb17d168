//! End-to-end through the runner, the simulator and moto (DynamoDB and S3): a person's data is
//! exported (the presigned URL serves their messages and media keys) and erased (a scan of the
//! whole table and bucket finds no form of their number, their name or wa_id; the consent ledger
//! is kept under a keyed hash, so a marketing template to them is still refused; their next
//! message starts a contact from scratch). Failures: an unknown person is rejected, a DynamoDB
//! fault during the erasure is audited as a failed attempt and the erasure finishes after it.

use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use e2e_tests::faults::{self, AwsError, Target};
use e2e_tests::{customer_writes, of_type, send_commands, start_stack, CrmEvents, RunningStack};
use serde_json::{json, Value};
use shared::store::dynamo::from_attr;

const PN: &str = "106540352242922";
const PATIENCE: Duration = Duration::from_secs(120);

/// The forms of the person's identity that must be gone after the erasure.
fn forms(digits: &str) -> Vec<String> {
    let without_ninth = format!("{}{}", &digits[..4], &digits[5..]);
    vec![
        digits.to_owned(),
        without_ninth,
        format!("+{digits}"),
        "Joana Privada".to_owned(),
        USER_ID.to_owned(),
    ]
}

/// Joana's business-scoped user id (Meta sends it beside the number since 2026).
const USER_ID: &str = "BR.10293847560192837465";

/// Every item of the stack's table, as JSON (pk, sk and attributes).
async fn scan_table(stack: &RunningStack) -> Vec<Value> {
    let client = aws_sdk_dynamodb::Client::new(&local_aws::local_sdk_config().await);
    let table = stack
        .provisioned
        .table_name("StateTable")
        .expect("state table")
        .to_owned();
    let mut items = Vec::new();
    let mut start = None;
    loop {
        let out = client
            .scan()
            .table_name(&table)
            .set_exclusive_start_key(start.take())
            .send()
            .await
            .expect("Scan");
        items.extend(out.items().iter().map(readable));
        match out.last_evaluated_key() {
            Some(k) if !k.is_empty() => start = Some(k.clone()),
            _ => break,
        }
    }
    items
}

/// An item as JSON with its binary attributes inflated: an outbox item holds its events
/// deflated (`events_z`), and a scan for a person's data must read them too.
fn readable(item: &std::collections::HashMap<String, AttributeValue>) -> Value {
    Value::Object(
        item.iter()
            .map(|(k, v)| match v {
                AttributeValue::B(blob) => {
                    let mut text = String::new();
                    std::io::Read::read_to_string(
                        &mut flate2::read::DeflateDecoder::new(blob.as_ref()),
                        &mut text,
                    )
                    .expect("a binary attribute is deflated text");
                    (k.clone(), Value::String(text))
                }
                _ => (k.clone(), from_attr(v)),
            })
            .collect(),
    )
}

/// An S3 client on the local moto, path-style (a local endpoint has no per-bucket hosts).
async fn s3() -> aws_sdk_s3::Client {
    let config = local_aws::local_sdk_config().await;
    aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&config)
            .force_path_style(true)
            .build(),
    )
}

/// Every object of the stack's bucket: key and body.
async fn scan_bucket(stack: &RunningStack) -> Vec<(String, String)> {
    let client = s3().await;
    let bucket = stack.provisioned.bucket_name("DataBucket").expect("bucket");
    let listed = client
        .list_objects_v2()
        .bucket(bucket)
        .send()
        .await
        .expect("ListObjectsV2");
    let mut out = Vec::new();
    for object in listed.contents() {
        let key = object.key().unwrap_or_default().to_owned();
        let body = client
            .get_object()
            .bucket(bucket)
            .key(&key)
            .send()
            .await
            .expect("GetObject")
            .body
            .collect()
            .await
            .expect("object body")
            .into_bytes();
        out.push((key, String::from_utf8_lossy(&body).into_owned()));
    }
    out
}

/// A media object where the media copy puts it (`shared::blob::keys::media`).
async fn media_stored(stack: &RunningStack, contact_id: &str, wamid: &str) -> String {
    let key = shared::blob::keys::media(PN, contact_id, wamid);
    s3().await
        .put_object()
        .bucket(stack.provisioned.bucket_name("DataBucket").expect("bucket"))
        .key(&key)
        .body(b"\xff\xd8\xff photo of Joana Privada".to_vec().into())
        .content_type("image/jpeg")
        .send()
        .await
        .expect("PutObject");
    key
}

fn holding(items: &[Value], forms: &[String]) -> Vec<String> {
    items
        .iter()
        .map(Value::to_string)
        .filter(|text| forms.iter().any(|f| text.contains(f.as_str())))
        .collect()
}

fn the<'a>(events: &'a [Value], kind: &str, command_id: &str) -> &'a Value {
    of_type(events, kind)
        .into_iter()
        .find(|e| e["data"]["command_id"] == command_id)
        .unwrap_or_else(|| panic!("no {kind} for {command_id}: {events:#?}"))
}

#[tokio::test]
async fn an_exported_then_erased_person_leaves_only_the_hashed_ledger_and_comes_back_anew() {
    let stack = start_stack(&[]).await;
    let crm = CrmEvents::of(&stack).await;
    let phone = "5511987650141";
    let forms = forms(phone);

    // The person writes, then says stop; an agent answers (the simulator sends statuses).
    customer_writes(
        &stack,
        json!({"from": phone, "name": "Joana Privada", "text": "Oi, meu pedido 42?", "user_id": USER_ID}),
    )
    .await;
    customer_writes(
        &stack,
        json!({"from": phone, "name": "Joana Privada", "text": "PARE"}),
    )
    .await;
    let events = crm.until("contact.opted_out", 1, PATIENCE).await;
    let contact_id = of_type(&events, "contact.opted_out")[0]["contact"]["id"]
        .as_str()
        .expect("a contact id")
        .to_owned();
    let first_wamid = of_type(&events, "message.received")[0]["data"]["wamid"]
        .as_str()
        .expect("a wamid")
        .to_owned();
    send_commands(
        &stack,
        &[
            json!({"command_id": "e2e-priv-reply", "type": "send_text", "phone_number_id": PN,
                 "to": phone, "text": {"body": "Olá Joana, já vejo"}, "actor": "agent-7"}),
        ],
    )
    .await;
    let events = crm.until("message.status", 3, PATIENCE).await;
    assert_eq!(
        the(&events, "command.accepted", "e2e-priv-reply")["data"]["actor"],
        "agent-7"
    );
    let media_key = media_stored(&stack, &contact_id, &first_wamid).await;

    // Export: the URL serves the person's messages and media keys.
    send_commands(
        &stack,
        &[
            json!({"command_id": "e2e-priv-export", "type": "export_contact", "phone_number_id": PN, "to": phone,
                 "contact_id": contact_id, "actor": "dpo-42"}),
        ],
    )
    .await;
    let events = crm.until("contact.exported", 1, PATIENCE).await;
    let exported = the(&events, "contact.exported", "e2e-priv-export");
    let url = exported["data"]["url"].as_str().expect("a url");
    let document: Value = reqwest::get(url)
        .await
        .expect("the presigned URL answers")
        .error_for_status()
        .expect("the presigned URL serves the document")
        .json()
        .await
        .expect("a JSON document");
    assert_eq!(document["contact_id"], contact_id.as_str());
    assert_eq!(document["contact"]["name"], "Joana Privada");
    let messages = document["messages"].as_array().expect("messages");
    assert_eq!(messages.len(), 3, "two inbound, one outbound: {document:#}");
    assert!(messages.iter().any(|m| m["wamid"] == first_wamid.as_str()));
    assert_eq!(document["media"][0]["key"], media_key.as_str());

    // Before: the scan sees every form the person is held by (so "none left" below can fail).
    let before = scan_table(&stack).await;
    for form in &forms {
        assert!(
            !holding(&before, std::slice::from_ref(form)).is_empty(),
            "{form} is held before the erasure"
        );
    }

    // Erase, naming the person by another form of the number.
    send_commands(
        &stack,
        &[
            json!({"command_id": "e2e-priv-erase", "type": "erase_contact", "phone_number_id": PN,
                 "to": "+55 11 8765-0141", "actor": "dpo-42", "reason": "DSR-311"}),
        ],
    )
    .await;
    let events = crm.until("contact.erased", 1, PATIENCE).await;
    let erased = the(&events, "contact.erased", "e2e-priv-erase");
    assert_eq!(erased["contact"]["id"], contact_id.as_str());
    assert!(
        erased["data"]["items_removed"].as_u64().unwrap_or(0) >= 10,
        "{erased:#}"
    );
    assert_eq!(
        erased["data"]["objects_removed"], 2,
        "the media and the export"
    );
    assert_eq!(erased["data"]["consent_entries_kept"], 1);
    let subject = erased["data"]["subject"]
        .as_str()
        .expect("a subject")
        .to_owned();

    let items = scan_table(&stack).await;
    assert_eq!(holding(&items, &forms), Vec::<String>::new());
    let left: Vec<(&Value, &Value)> = items
        .iter()
        .filter(|i| i["contact_id"] == contact_id.as_str())
        .map(|i| (&i["pk"], &i["sk"]))
        .collect();
    assert!(left.is_empty(), "no item of the contact is left: {left:?}");
    let kept: Vec<&Value> = items
        .iter()
        .filter(|i| i["pk"] == format!("ERASED#{PN}#{subject}"))
        .collect();
    assert_eq!(kept.len(), 1, "the opt-out, under the keyed hash");
    let audit: Vec<&Value> = items
        .iter()
        .filter(|i| i["pk"].as_str().is_some_and(|p| p.starts_with("AUDIT#")))
        .collect();
    assert_eq!(audit.len(), 3, "reply, export, erase: {audit:#?}");
    let objects = scan_bucket(&stack).await;
    assert!(
        objects.iter().all(|(k, body)| !k.contains(&contact_id)
            && forms.iter().all(|f| !body.contains(f.as_str()))),
        "{objects:?}"
    );

    // Marketing to the erased person who had opted out is still refused; utility goes.
    send_commands(
        &stack,
        &[json!({"command_id": "e2e-priv-promo", "type": "send_template", "phone_number_id": PN,
                 "to": phone, "template": {"name": "promo_black_friday", "language": {"code": "pt_BR"},
                 "category": "MARKETING"}})],
    )
    .await;
    let events = crm.until("command.rejected", 1, PATIENCE).await;
    assert_eq!(
        the(&events, "command.rejected", "e2e-priv-promo")["data"]["reason"],
        "opted_out"
    );

    // Their next message starts a contact from scratch: a new conversation, no old messages.
    let erased_at_ms = stack.now_ms();
    customer_writes(
        &stack,
        json!({"from": phone, "name": "Jo", "text": "Oi de novo"}),
    )
    .await;
    let events = crm.until("conversation.opened", 1, PATIENCE).await;
    let received = of_type(&events, "message.received");
    assert_eq!(received.len(), 1, "{events:#?}");
    assert_eq!(received[0]["contact"]["name"], "Jo");
    let items = scan_table(&stack).await;
    let profile = items
        .iter()
        .find(|i| i["sk"] == "PROFILE" && i["contact_id"] == contact_id.as_str())
        .expect("a new profile");
    assert!(profile["created_at_ms"].as_i64().unwrap_or(0) >= erased_at_ms - 1000);
    let messages = items
        .iter()
        .filter(|i| i["sk"] == "MESSAGE" && i["contact_id"] == contact_id.as_str())
        .count();
    assert_eq!(messages, 1, "only the new message");
    assert!(
        !holding(&items, &forms[..1]).is_empty(),
        "the new contact has the number again"
    );
    stack.shutdown().await;
}

#[tokio::test]
async fn an_unknown_person_is_rejected_and_a_table_fault_is_audited_then_the_erasure_finishes() {
    let stack = start_stack(&[]).await;
    let crm = CrmEvents::of(&stack).await;
    let phone = "5511987650142";
    customer_writes(
        &stack,
        json!({"from": phone, "name": "Joana Privada", "text": "Oi"}),
    )
    .await;
    crm.until("message.received", 1, PATIENCE).await;

    send_commands(
        &stack,
        &[
            json!({"command_id": "e2e-priv-unknown", "type": "erase_contact", "phone_number_id": PN,
                 "to": "+1 650 555 1234", "actor": "dpo-42", "reason": "DSR-1"}),
        ],
    )
    .await;
    let events = crm.until("command.rejected", 1, PATIENCE).await;
    let rejected = the(&events, "command.rejected", "e2e-priv-unknown");
    assert_eq!(rejected["data"]["reason"], "unknown_contact");
    assert_eq!(rejected["contact"], Value::Null);

    // Every batch write of this stack's table fails (past the SDK's retries) a few times.
    let table = stack
        .provisioned
        .table_name("StateTable")
        .expect("state table")
        .to_owned();
    faults::inject(
        Target::dynamodb(Some("BatchWriteItem"), &table),
        &AwsError::dynamodb_internal(),
        3,
    )
    .await;
    send_commands(
        &stack,
        &[
            json!({"command_id": "e2e-priv-erase2", "type": "erase_contact", "phone_number_id": PN,
                 "to": phone, "actor": "dpo-42", "reason": "DSR-2"}),
        ],
    )
    .await;
    let events = crm.until("contact.erased", 1, PATIENCE).await;
    assert_eq!(
        of_type(&events, "contact.erased").len(),
        1,
        "finished once after the fault: {events:#?}"
    );
    let items = scan_table(&stack).await;
    let outcomes: Vec<&str> = items
        .iter()
        .filter(|i| {
            i["command_id"] == "e2e-priv-erase2"
                && i["pk"].as_str().is_some_and(|p| p.starts_with("AUDIT#"))
        })
        .filter_map(|i| i["outcome"].as_str())
        .collect();
    assert!(outcomes.contains(&"failed_attempt"), "{outcomes:?}");
    assert!(outcomes.contains(&"contact.erased"), "{outcomes:?}");
    assert_eq!(holding(&items, &forms(phone)), Vec::<String>::new());
    faults::clear(&table).await;
    stack.shutdown().await;
}
