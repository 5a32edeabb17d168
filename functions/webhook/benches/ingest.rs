//! The webhook's own work on a POST (verify + parse + split + build the SQS messages), without I/O.
//! Run: `cargo bench -p webhook --bench ingest`.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use shared::secrets::{MetaSecrets, SecretVersions};
use shared::testkit::text_batch;

fn secrets() -> SecretVersions {
    SecretVersions {
        current: MetaSecrets {
            app_secret: "bench-secret".to_owned().into(),
            verify_token: "v".to_owned().into(),
            access_token: "a".to_owned().into(),
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
        let header = shared::signature::sign(body.as_bytes(), &secrets.current.app_secret);
        group.throughput(Throughput::Bytes(body.len() as u64));
        group.bench_function(name, |b| {
            b.iter(|| {
                let out = webhook::prepare(&secrets, Some(&header), body.as_bytes(), 0);
                assert_eq!(out.map(|m| m.len()).unwrap_or(0), count);
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
