//! The local runner plays Lambda's timeout: each invocation gets the deadline now + the
//! function's timeout, and one still running there is cancelled, counted and its batch left
//! unacknowledged, so its records come back after the queue's visibility timeout, as in AWS.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use local_runner::esm::{self, Mapping, SqsHandler, Timeouts};
use shared::budget::Deadline;

/// A function that takes `takes` per invocation and notes the time its deadline left it.
struct Slow {
    takes: Duration,
    time_left: Mutex<Vec<Duration>>,
}

impl SqsHandler for Slow {
    async fn call(
        &self,
        _event: SqsEvent,
        deadline: Deadline,
    ) -> Result<SqsBatchResponse, lambda_runtime::Error> {
        self.time_left.lock().unwrap().push(deadline.remaining());
        tokio::time::sleep(self.takes).await;
        Ok(SqsBatchResponse::default())
    }
}

/// A queue of its own (visibility timeout 2 s) holding one message, and a mapping to it.
async fn queue_with_one_message(sqs: &aws_sdk_sqs::Client, timeout: Duration) -> Mapping {
    let name = format!(
        "t{}-runner-timeouts",
        &uuid::Uuid::new_v4().simple().to_string()[..10]
    );
    let url = sqs
        .create_queue()
        .queue_name(&name)
        .attributes(
            aws_sdk_sqs::types::QueueAttributeName::VisibilityTimeout,
            "2",
        )
        .send()
        .await
        .expect("CreateQueue")
        .queue_url
        .expect("a queue URL");
    sqs.send_message()
        .queue_url(&url)
        .message_body("{}")
        .send()
        .await
        .expect("SendMessage");
    Mapping {
        name: format!("slow<-{name}"),
        function: "slow".into(),
        queue_arn: format!("arn:aws:sqs:us-east-1:123456789012:{name}"),
        queue_url: url,
        batch_size: 10,
        function_timeout: timeout,
        pollers: 1,
        region: "us-east-1".into(),
        timeouts: Timeouts::default(),
    }
}

async fn receive(sqs: &aws_sdk_sqs::Client, url: &str) -> Vec<aws_sdk_sqs::types::Message> {
    sqs.receive_message()
        .queue_url(url)
        .max_number_of_messages(10)
        .wait_time_seconds(1)
        .send()
        .await
        .expect("ReceiveMessage")
        .messages
        .unwrap_or_default()
}

#[tokio::test]
async fn an_invocation_past_its_timeout_is_cancelled_counted_and_its_batch_comes_back() {
    // Arrange: a 1 s timeout, a function that would take 30 s.
    let sqs = e2e_tests::sqs().await;
    let mapping = queue_with_one_message(&sqs, Duration::from_secs(1)).await;
    let slow = Slow {
        takes: Duration::from_secs(30),
        time_left: Mutex::new(Vec::new()),
    };
    let batch = receive(&sqs, &mapping.queue_url).await;
    assert_eq!(batch.len(), 1);

    // Act
    let began = Instant::now();
    let deleted = esm::invoke_once(&sqs, &mapping, &slow, batch).await;
    let took = began.elapsed();

    // Assert: cut at the timeout, not waited for; nothing acknowledged; counted once.
    assert_eq!(deleted, 0);
    assert!(took < Duration::from_secs(3), "cancelled at 1 s: {took:?}");
    assert_eq!(mapping.timeouts.of("slow"), 1);
    assert_eq!(mapping.timeouts.of("other"), 0);
    let again = receive(&sqs, &mapping.queue_url).await;
    let again = if again.is_empty() {
        tokio::time::sleep(Duration::from_secs(2)).await;
        receive(&sqs, &mapping.queue_url).await
    } else {
        again
    };
    assert_eq!(again.len(), 1, "back after the visibility timeout");
}

#[tokio::test]
async fn an_invocation_gets_now_plus_the_timeout_as_its_deadline_and_in_time_it_is_acknowledged() {
    // Arrange
    let sqs = e2e_tests::sqs().await;
    let mapping = queue_with_one_message(&sqs, Duration::from_secs(7)).await;
    let quick = Slow {
        takes: Duration::from_millis(10),
        time_left: Mutex::new(Vec::new()),
    };
    let batch = receive(&sqs, &mapping.queue_url).await;

    // Act
    let deleted = esm::invoke_once(&sqs, &mapping, &quick, batch).await;

    // Assert
    assert_eq!(deleted, 1);
    assert_eq!(mapping.timeouts.of("slow"), 0);
    let left = quick.time_left.lock().unwrap().clone();
    assert_eq!(left.len(), 1);
    assert!(
        left[0] <= Duration::from_secs(7) && left[0] > Duration::from_millis(6500),
        "{left:?}"
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(
        receive(&sqs, &mapping.queue_url).await.is_empty(),
        "deleted"
    );
}
