//! Measures the throughput limiter against DynamoDB (the emulator at `AWS_ENDPOINT_URL`, or AWS):
//! `WORKERS` concurrent senders reserve slots for `MESSAGES` messages to one phone number at
//! `RATE`/s. Prints the call latency, the admitted rate and the busiest sliding second of the
//! reserved send times, which must not exceed `RATE`.
//!
//! `AWS_ENDPOINT_URL=http://127.0.0.1:4566 AWS_REGION=us-east-1 AWS_ACCESS_KEY_ID=test \
//!  AWS_SECRET_ACCESS_KEY=test cargo bench -p sender --bench limiter`

use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
};
use sender::limiter::{Limiter, Limits};
use sender::store::{DynamoSenderStore, SenderStore};

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[tokio::main]
async fn main() {
    if std::env::var("AWS_ENDPOINT_URL").is_err() && std::env::var("AWS_PROFILE").is_err() {
        panic!("set AWS_ENDPOINT_URL (moto) or AWS credentials: the limiter is measured against DynamoDB");
    }
    let rate = env_or("RATE", 80) as u32;
    let workers = env_or("WORKERS", 20);
    let messages = env_or("MESSAGES", 400);
    let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let client = aws_sdk_dynamodb::Client::new(&sdk);
    let table = format!(
        "limiter-bench-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    );
    client
        .create_table()
        .table_name(&table)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(attr("pk"))
        .attribute_definitions(attr("sk"))
        .key_schema(key("pk", KeyType::Hash))
        .key_schema(key("sk", KeyType::Range))
        .send()
        .await
        .expect("CreateTable on the emulator");
    let store = Arc::new(DynamoSenderStore::new(client.clone(), &table));
    let limits = Limits::new(rate, 40, Duration::from_secs(6), Duration::from_secs(5));
    println!(
        "limiter bench: rate {rate}/s ({} per 100 ms slot, sustained {}/s), {workers} workers, {messages} messages",
        limits.per_slot,
        limits.sustained_per_second()
    );
    let limiter = Arc::new(Limiter::new(limits));

    // Latency of one slot increment, uncontended.
    let mut lat = Vec::new();
    for i in 0..50 {
        let t = Instant::now();
        store
            .take_slot("bench-lat", i, 1000, 0)
            .await
            .expect("UpdateItem");
        lat.push(t.elapsed());
    }
    lat.sort_unstable();
    println!(
        "take_slot latency: p50 {:?}, p99 {:?}",
        lat[lat.len() / 2],
        lat[lat.len() * 99 / 100]
    );

    let remaining = Arc::new(std::sync::atomic::AtomicUsize::new(messages));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..workers {
        let (store, limiter, remaining) = (store.clone(), limiter.clone(), remaining.clone());
        tasks.push(tokio::spawn(async move {
            let mut sends = Vec::new();
            let mut deferred = 0;
            loop {
                let left = remaining.load(std::sync::atomic::Ordering::SeqCst);
                if left == 0
                    || remaining
                        .compare_exchange(
                            left,
                            left - 1,
                            std::sync::atomic::Ordering::SeqCst,
                            std::sync::atomic::Ordering::SeqCst,
                        )
                        .is_err()
                {
                    if left == 0 {
                        break;
                    }
                    continue;
                }
                loop {
                    match limiter.reserve_now(store.as_ref(), "bench-pn").await {
                        Ok(Some(at)) => {
                            let now = shared::now_ms();
                            if at > now {
                                tokio::time::sleep(Duration::from_millis((at - now) as u64)).await;
                            }
                            sends.push(shared::now_ms());
                            break;
                        }
                        Ok(None) => {
                            deferred += 1;
                            tokio::time::sleep(Duration::from_millis(500)).await;
                        }
                        Err(e) => panic!("DynamoDB: {e}"),
                    }
                }
            }
            (sends, deferred)
        }));
    }
    let mut sends = Vec::new();
    let mut deferred = 0;
    for t in tasks {
        let (s, d) = t.await.expect("worker");
        sends.extend(s);
        deferred += d;
    }
    let elapsed = started.elapsed();
    sends.sort_unstable();
    let peak = (0..sends.len())
        .map(|i| {
            sends[i..]
                .iter()
                .take_while(|t| **t < sends[i] + 1000)
                .count()
        })
        .max()
        .unwrap_or(0);
    println!(
        "admitted {} in {:.2} s = {:.1}/s; busiest sliding second {peak} (limit {rate}); {deferred} deferrals past the horizon",
        sends.len(),
        elapsed.as_secs_f64(),
        sends.len() as f64 / elapsed.as_secs_f64()
    );
    let _ = client.delete_table().table_name(&table).send().await;
    assert!(
        peak <= rate as usize,
        "the limiter let {peak} through in one second"
    );
}

fn attr(name: &str) -> AttributeDefinition {
    AttributeDefinition::builder()
        .attribute_name(name)
        .attribute_type(ScalarAttributeType::S)
        .build()
        .expect("attribute")
}

fn key(name: &str, kind: KeyType) -> KeySchemaElement {
    KeySchemaElement::builder()
        .attribute_name(name)
        .key_type(kind)
        .build()
        .expect("key")
}
