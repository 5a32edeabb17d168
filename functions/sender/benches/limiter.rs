//! Measures the throughput limiter against DynamoDB (the emulator at `AWS_ENDPOINT_URL`, or AWS):
//! `WORKERS` concurrent records spread over `INSTANCES` limiters (as many sender instances, each
//! with its own memory, sharing one table) send `MESSAGES` messages to one phone number at
//! `RATE`/s. Each record waits in `Limiter::admit_now` and counts as sent when it returns. Prints the
//! store's round trip, the sustained rate, the busiest sliding second of the send times (which
//! must not exceed `RATE`) and the limiter's DynamoDB writes per send.
//!
//! `infra/scripts/with-moto.sh 4566 cargo bench -p sender --bench limiter`

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
};
use sender::limiter::throughput::{Clock, SystemClock};
use sender::limiter::{Limiter, Limits};
use sender::store::{ClockTake, SenderStore};
use shared::store::dynamo::DynamoStore;

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
    let workers = env_or("WORKERS", 50).max(1);
    let instances = env_or("INSTANCES", 5).clamp(1, workers);
    let messages = env_or("MESSAGES", 5000);
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
    let store = Arc::new(DynamoStore::new(client.clone(), &table));
    let limits = Limits::new(rate, 40, Duration::from_secs(6), Duration::from_secs(5));
    println!(
        "limiter bench: rate {rate}/s (send clock allows {:.1}/s), {workers} workers over {instances} instances, {messages} messages",
        limits.sustained_per_second()
    );
    let limiters: Vec<Arc<Limiter>> = (0..instances)
        .map(|_| Arc::new(Limiter::new(limits.clone())))
        .collect();

    // Round trip of one clock write, uncontended (a fresh clock each time).
    let mut lat = Vec::new();
    for i in 0..50 {
        let t = Instant::now();
        let take = ClockTake::Restart {
            now_us: 0,
            start_us: 0,
        };
        store
            .take_send_span(&format!("bench-lat-{i}"), take, 1)
            .await
            .expect("UpdateItem")
            .expect("a fresh clock restarts");
        lat.push(t.elapsed());
    }
    lat.sort_unstable();
    println!(
        "clock write latency: p50 {:?}, p99 {:?}",
        lat[lat.len() / 2],
        lat[lat.len() * 99 / 100]
    );

    let remaining = Arc::new(AtomicUsize::new(messages));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for w in 0..workers {
        let limiter = limiters[w % instances].clone();
        let (store, remaining) = (store.clone(), remaining.clone());
        tasks.push(tokio::spawn(async move {
            let clock = SystemClock;
            let mut sends = Vec::new();
            let mut deferred = 0;
            while remaining
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                .is_ok()
            {
                loop {
                    match limiter.admit_now(store.as_ref(), "bench-pn").await {
                        Ok(true) => {
                            sends.push(clock.now_us());
                            break;
                        }
                        Ok(false) => {
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
                .take_while(|t| **t < sends[i] + 1_000_000)
                .count()
        })
        .max()
        .unwrap_or(0);
    let sustained = match (sends.first(), sends.last()) {
        (Some(first), Some(last)) if last > first => {
            (sends.len() - 1) as f64 * 1e6 / (last - first) as f64
        }
        _ => 0.0,
    };
    let writes: u64 = limiters.iter().map(|l| l.throughput_writes()).sum();
    let dropped: u64 = limiters.iter().map(|l| l.throughput_dropped()).sum();
    println!(
        "sent {} in {:.2} s: sustained {sustained:.1}/s (first to last send, {:.1} % of {rate}), {:.1}/s overall; busiest sliding second {peak} (limit {rate})",
        sends.len(),
        elapsed.as_secs_f64(),
        sustained * 100.0 / f64::from(rate),
        sends.len() as f64 / elapsed.as_secs_f64()
    );
    println!(
        "DynamoDB: {writes} clock writes = {:.3} per send; {dropped} reserved times dropped as late; {deferred} deferrals past the horizon",
        writes as f64 / sends.len().max(1) as f64
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
