//! The webhook's own work on a POST (verify + parse + split + build the SQS messages), without I/O.
//! Run: `cargo bench -p webhook --bench ingest`.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use shared::secrets::{AppCredentials, SecretVersions, Version};
use shared::testkit::text_batch;

fn secrets() -> SecretVersions<AppCredentials> {
    SecretVersions {
        current: Version {
            value: AppCredentials {
                app_secret: "bench-secret".to_owned().into(),
                verify_token: "v".to_owned().into(),
            },
            created_ms: Some(0),
        },
        previous: None,
    }
}

fn bench(c: &mut Criterion) {
    let secrets = secrets();
    let mut group = c.benchmark_group("webhook_prepare");
    // ~1 KB per update: 1000 updates make a ~1 MB POST, Meta's largest batch.
    for (name, count) in [("1_update", 1usize), ("1000_updates", 1000)] {
        let body = text_batch(count, 900);
        let header = shared::signature::sign(body.as_bytes(), &secrets.current.value.app_secret);
        group.throughput(Throughput::Bytes(body.len() as u64));
        group.bench_function(name, |b| {
            b.iter(|| {
                let out = webhook::prepare(
                    &secrets,
                    std::time::Duration::from_secs(3600),
                    Some(&header),
                    body.as_bytes(),
                    0,
                );
                assert_eq!(out.map(|m| m.messages.len()).unwrap_or(0), count);
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
