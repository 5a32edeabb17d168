//! The processor on whatever Meta might send: the body is split as the webhook would, and each
//! update goes through `process_update` (parsing, identity, window, consent, events) against the
//! in-memory table. The input is also tried as an inbound-queue record body (with the receive
//! time the webhook's clock would stamp).
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use processor::{process_update, Config, State};
use shared::inbound::{split, BufferedUpdate};
use shared::store::memory::MemoryStore;
use shared::testkit::RecordingSink;

const NOW_MS: i64 = 1_749_416_400_000;

fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("a current-thread runtime")
    })
}

fn state() -> State<MemoryStore, RecordingSink> {
    State {
        store: MemoryStore::new(),
        events: RecordingSink::default(),
        media: RecordingSink::default(),
        config: Config::default(),
        budget: Default::default(),
    }
}

fuzz_target!(|data: &[u8]| {
    runtime().block_on(async {
        if let Ok(items) = split(data, NOW_MS) {
            // One table for the whole body, as one batch would see it.
            let state = state();
            for item in &items {
                let _ = process_update(&state, item, NOW_MS).await;
            }
        }
        if let Ok(text) = std::str::from_utf8(data) {
            if let Ok(update) = serde_json::from_str::<BufferedUpdate<'_>>(text) {
                // The receive time is the webhook's own clock, not Meta's bytes.
                let update = BufferedUpdate {
                    received_at_ms: NOW_MS,
                    ..update
                };
                let _ = process_update(&state(), &update, NOW_MS).await;
            }
        }
    });
});
