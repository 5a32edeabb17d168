//! SQS: visibility from the receive, batch entry counts, sizes in bytes, FIFO deduplication.

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_sqs::error::ProvideErrorMetadata;
use aws_sdk_sqs::types::{
    ChangeMessageVisibilityBatchRequestEntry, DeleteMessageBatchRequestEntry,
    MessageAttributeValue, QueueAttributeName, SendMessageBatchRequestEntry,
};

use crate::prefix;

const MIB: usize = 1_048_576;

async fn queue(sqs: &aws_sdk_sqs::Client, name: &str) -> String {
    let mut req = sqs.create_queue().queue_name(name);
    if name.ends_with(".fifo") {
        req = req.attributes(QueueAttributeName::FifoQueue, "true");
    }
    req.send()
        .await
        .expect("CreateQueue")
        .queue_url()
        .expect("queue url")
        .to_owned()
}

/// Sends one message and receives it; returns its receipt handle.
async fn send_and_receive(
    sqs: &aws_sdk_sqs::Client,
    url: &str,
    wait_before_receive: Duration,
) -> String {
    sqs.send_message()
        .queue_url(url)
        .message_body("m")
        .send()
        .await
        .expect("SendMessage");
    tokio::time::sleep(wait_before_receive).await;
    receive_one(sqs, url)
        .await
        .expect("the message is received")
}

async fn receive_one(sqs: &aws_sdk_sqs::Client, url: &str) -> Option<String> {
    let out = sqs
        .receive_message()
        .queue_url(url)
        .wait_time_seconds(1)
        .send()
        .await
        .expect("ReceiveMessage");
    out.messages()
        .first()
        .and_then(|m| m.receipt_handle())
        .map(str::to_owned)
}

#[tokio::test]
async fn twelve_hours_of_visibility_on_a_message_received_a_second_ago_is_refused() {
    let sqs = e2e_tests::sqs().await;
    let url = queue(&sqs, &format!("{}q", prefix())).await;
    let receipt = send_and_receive(&sqs, &url, Duration::ZERO).await;
    tokio::time::sleep(Duration::from_secs(1)).await;

    let err = sqs
        .change_message_visibility()
        .queue_url(&url)
        .receipt_handle(&receipt)
        .visibility_timeout(43_200)
        .send()
        .await
        .expect_err("12 h from now ends a second past 12 h from the receive")
        .into_service_error();

    assert_eq!(err.code(), Some("InvalidParameterValue"), "{err:?}");
    assert_eq!(
        err.message(),
        Some("Value 43200 for parameter VisibilityTimeout is invalid. Reason: Total VisibilityTimeout for the message is beyond the limit [43200 seconds].")
    );
}

#[tokio::test]
async fn the_twelve_hours_count_from_the_receive_not_from_the_send() {
    let sqs = e2e_tests::sqs().await;
    let url = queue(&sqs, &format!("{}q", prefix())).await;
    // Sent 3 s before it is received: 43,198 s from now is within 12 h of the receive
    // (moto alone counts from the send and refuses).
    let receipt = send_and_receive(&sqs, &url, Duration::from_secs(3)).await;

    sqs.change_message_visibility()
        .queue_url(&url)
        .receipt_handle(&receipt)
        .visibility_timeout(43_198)
        .send()
        .await
        .expect("within 12 h of the receive");
}

#[tokio::test]
async fn a_batch_visibility_change_beyond_the_limit_fails_that_entry_only() {
    let sqs = e2e_tests::sqs().await;
    let url = queue(&sqs, &format!("{}q", prefix())).await;
    let first = send_and_receive(&sqs, &url, Duration::ZERO).await;
    let second = send_and_receive(&sqs, &url, Duration::ZERO).await;
    tokio::time::sleep(Duration::from_secs(1)).await;

    let out = sqs
        .change_message_visibility_batch()
        .queue_url(&url)
        .entries(visibility_entry("ok", &first, 60))
        .entries(visibility_entry("beyond", &second, 43_200))
        .entries(visibility_entry("unknown", "not-a-receipt-handle", 60))
        .entries(visibility_entry("out-of-range", &second, 50_000))
        .send()
        .await
        .expect("the request succeeds; the entries fail one by one");

    let ok: Vec<&str> = out.successful().iter().map(|s| s.id()).collect();
    assert_eq!(ok, ["ok"]);
    let failed: HashMap<&str, (&str, Option<&str>)> = out
        .failed()
        .iter()
        .inspect(|f| assert!(f.sender_fault(), "{f:?}"))
        .map(|f| (f.id(), (f.code(), f.message())))
        .collect();
    assert_eq!(failed.len(), 3, "{failed:?}");
    assert_eq!(
        failed["beyond"],
        ("InvalidParameterValue", Some("Value 43200 for parameter VisibilityTimeout is invalid. Reason: Total VisibilityTimeout for the message is beyond the limit [43200 seconds]."))
    );
    assert_eq!(failed["unknown"].0, "ReceiptHandleIsInvalid");
    assert_eq!(failed["out-of-range"].0, "InvalidParameterValue");
}

fn visibility_entry(
    id: &str,
    receipt: &str,
    seconds: i32,
) -> ChangeMessageVisibilityBatchRequestEntry {
    ChangeMessageVisibilityBatchRequestEntry::builder()
        .id(id)
        .receipt_handle(receipt)
        .visibility_timeout(seconds)
        .build()
        .expect("entry")
}

#[tokio::test]
async fn every_batch_action_takes_at_most_ten_entries() {
    let sqs = e2e_tests::sqs().await;
    let url = queue(&sqs, &format!("{}q", prefix())).await;
    let receipt = send_and_receive(&sqs, &url, Duration::ZERO).await;

    let err = sqs
        .change_message_visibility_batch()
        .queue_url(&url)
        .set_entries(Some(
            (0..11)
                .map(|i| visibility_entry(&format!("e{i}"), &receipt, 30))
                .collect(),
        ))
        .send()
        .await
        .expect_err("11 entries")
        .into_service_error();
    assert!(err.is_too_many_entries_in_batch_request(), "{err:?}");

    let err = sqs
        .delete_message_batch()
        .queue_url(&url)
        .set_entries(Some(
            (0..11)
                .map(|i| {
                    DeleteMessageBatchRequestEntry::builder()
                        .id(format!("e{i}"))
                        .receipt_handle(format!("{receipt}{i}"))
                        .build()
                        .expect("entry")
                })
                .collect(),
        ))
        .send()
        .await
        .expect_err("11 entries")
        .into_service_error();
    assert!(err.is_too_many_entries_in_batch_request(), "{err:?}");

    let err = sqs
        .send_message_batch()
        .queue_url(&url)
        .set_entries(Some(
            (0..11).map(|i| send_entry(&format!("e{i}"), "x")).collect(),
        ))
        .send()
        .await
        .expect_err("11 entries")
        .into_service_error();
    assert!(err.is_too_many_entries_in_batch_request(), "{err:?}");
}

fn send_entry(id: &str, body: &str) -> SendMessageBatchRequestEntry {
    SendMessageBatchRequestEntry::builder()
        .id(id)
        .message_body(body)
        .build()
        .expect("entry")
}

#[tokio::test]
async fn a_message_is_at_most_one_mib_in_utf8_bytes_attributes_included() {
    let sqs = e2e_tests::sqs().await;
    let url = queue(&sqs, &format!("{}q", prefix())).await;

    sqs.send_message()
        .queue_url(&url)
        .message_body("x".repeat(MIB))
        .send()
        .await
        .expect("exactly 1 MiB is allowed");

    // 600,000 characters, 1,200,000 bytes (moto alone counts characters).
    let multibyte = "é".repeat(600_000);
    // 1 MiB of body plus an attribute.
    let with_attribute = sqs
        .send_message()
        .queue_url(&url)
        .message_body("x".repeat(MIB - 4))
        .message_attributes(
            "type",
            MessageAttributeValue::builder()
                .data_type("String")
                .string_value("message.received")
                .build()
                .expect("attribute"),
        )
        .send()
        .await;
    let multibyte = sqs
        .send_message()
        .queue_url(&url)
        .message_body(multibyte)
        .send()
        .await;

    for result in [with_attribute.map(|_| ()), multibyte.map(|_| ())] {
        let err = result.expect_err("over 1 MiB").into_service_error();
        assert_eq!(err.code(), Some("InvalidParameterValue"), "{err:?}");
        assert_eq!(
            err.message(),
            Some("One or more parameters are invalid. Reason: Message must be shorter than 1048576 bytes.")
        );
    }
}

#[tokio::test]
async fn a_queue_with_a_smaller_maximum_counts_it_in_bytes_too() {
    let sqs = e2e_tests::sqs().await;
    let url = sqs
        .create_queue()
        .queue_name(format!("{}q", prefix()))
        .attributes(QueueAttributeName::MaximumMessageSize, "1024")
        .send()
        .await
        .expect("CreateQueue")
        .queue_url()
        .expect("queue url")
        .to_owned();

    sqs.send_message()
        .queue_url(&url)
        .message_body("x".repeat(1024))
        .send()
        .await
        .expect("exactly the queue's maximum");
    // 600 characters, 1,200 bytes.
    let err = sqs
        .send_message()
        .queue_url(&url)
        .message_body("é".repeat(600))
        .send()
        .await
        .expect_err("over the queue's maximum in bytes")
        .into_service_error();
    assert_eq!(
        err.message(),
        Some(
            "One or more parameters are invalid. Reason: Message must be shorter than 1024 bytes."
        )
    );
}

#[tokio::test]
async fn a_send_batch_is_at_most_one_mib_in_total() {
    let sqs = e2e_tests::sqs().await;
    let url = queue(&sqs, &format!("{}q", prefix())).await;
    // Two entries of 600,000 bytes (300,000 characters each).
    let half = "é".repeat(300_000);

    let err = sqs
        .send_message_batch()
        .queue_url(&url)
        .entries(send_entry("a", &half))
        .entries(send_entry("b", &half))
        .send()
        .await
        .expect_err("1,200,000 bytes in one batch")
        .into_service_error();

    assert!(err.is_batch_request_too_long(), "{err:?}");
    assert_eq!(
        e2e_tests::depth(&sqs, &url).await,
        0,
        "nothing was enqueued"
    );
}

#[tokio::test]
async fn a_fifo_deduplication_id_is_remembered_after_its_message_was_deleted() {
    let sqs = e2e_tests::sqs().await;
    let url = queue(&sqs, &format!("{}q.fifo", prefix())).await;
    let send = || {
        sqs.send_message()
            .queue_url(&url)
            .message_body("command")
            .message_group_id("g")
            .message_deduplication_id("command-1")
            .send()
    };
    send().await.expect("first send");
    let receipt = receive_one(&sqs, &url).await.expect("delivered once");
    sqs.delete_message()
        .queue_url(&url)
        .receipt_handle(receipt)
        .send()
        .await
        .expect("DeleteMessage");

    send().await.expect("a duplicate is accepted, as SQS does");

    assert_eq!(
        receive_one(&sqs, &url).await,
        None,
        "but not delivered within 5 minutes"
    );
}

#[tokio::test]
async fn a_deduplication_id_scoped_to_the_message_group_is_remembered_per_group() {
    let sqs = e2e_tests::sqs().await;
    let url = sqs
        .create_queue()
        .queue_name(format!("{}q.fifo", prefix()))
        .attributes(QueueAttributeName::FifoQueue, "true")
        .attributes(QueueAttributeName::DeduplicationScope, "messageGroup")
        .attributes(QueueAttributeName::FifoThroughputLimit, "perMessageGroupId")
        .send()
        .await
        .expect("CreateQueue")
        .queue_url()
        .expect("queue url")
        .to_owned();
    let mut delivered = Vec::new();
    for group in ["a", "b", "a"] {
        sqs.send_message()
            .queue_url(&url)
            .message_body(group)
            .message_group_id(group)
            .message_deduplication_id("same-id")
            .send()
            .await
            .expect("accepted");
        let out = sqs
            .receive_message()
            .queue_url(&url)
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .send()
            .await
            .expect("ReceiveMessage");
        for m in out.messages() {
            delivered.push(m.body().unwrap_or_default().to_owned());
            sqs.delete_message()
                .queue_url(&url)
                .set_receipt_handle(m.receipt_handle().map(str::to_owned))
                .send()
                .await
                .expect("DeleteMessage");
        }
    }

    assert_eq!(delivered, ["a", "b"], "the repeat in group a is dropped");
}
