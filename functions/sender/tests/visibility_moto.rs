//! The sender's visibility changes against the local moto, which enforces SQS's rule that a
//! message's visibility ends at most 12 h after its receive.

use std::time::Duration;

use sender::visibility::{allowed, SqsVisibility, Visibility, MAX_VISIBILITY, RECEIVE_ALLOWANCE};

#[tokio::test]
async fn the_longest_deferral_the_handler_asks_for_is_accepted_by_sqs() {
    let sqs = aws_sdk_sqs::Client::new(&local_aws::local_sdk_config().await);
    let name = format!(
        "v{}-commands",
        &uuid::Uuid::new_v4().simple().to_string()[..10]
    );
    let url = sqs
        .create_queue()
        .queue_name(name)
        .send()
        .await
        .expect("CreateQueue")
        .queue_url()
        .expect("queue url")
        .to_owned();
    sqs.send_message()
        .queue_url(&url)
        .message_body("{}")
        .send()
        .await
        .expect("SendMessage");
    let received = sqs
        .receive_message()
        .queue_url(&url)
        .wait_time_seconds(1)
        .send()
        .await
        .expect("ReceiveMessage");
    let receipt = received
        .messages()
        .first()
        .and_then(|m| m.receipt_handle())
        .expect("the message is received")
        .to_owned();
    // The handler defers at the end of its invocation, some time after the receive.
    tokio::time::sleep(Duration::from_secs(1)).await;

    // What the handler asks for a 12 h wait one second into its invocation.
    let asked = allowed(MAX_VISIBILITY, Duration::from_secs(1) + RECEIVE_ALLOWANCE);
    let result = SqsVisibility::new(sqs, &url)
        .defer(vec![(receipt, asked)])
        .await;

    assert!(result.is_ok(), "{result:?}");
}
