//! One tally per invocation: commits add to it, the end of the invocation writes it as a few
//! EMF documents (one per business number and per template / pricing dimension set), instead of
//! a line per message — CloudWatch bills EMF by the byte ingested.
//!
//! The tally lives in a task-local of the invocation's future (a Lambda environment runs one
//! invocation at a time; a batch's records are polled within that future, never spawned), so no
//! port or signature carries it and no global state outlives the invocation.

use std::cell::RefCell;
use std::future::Future;

use super::business::Tally;

tokio::task_local! {
    static TALLY: RefCell<Tally>;
}

/// Runs `invocation` (the whole of one Lambda invocation of `function`) and then writes the
/// business metrics its commits counted, whatever it returned.
pub async fn scope<F: Future>(function: &str, invocation: F) -> F::Output {
    let (output, tally) = tallied(invocation).await;
    write(&tally, Some(function));
    output
}

/// Runs `work` with a tally of its own and returns what its commits counted (instead of
/// writing it): [`scope`]'s core, and how tests see what a flow counts.
pub async fn tallied<F: Future>(work: F) -> (F::Output, Tally) {
    TALLY
        .scope(RefCell::new(Tally::default()), async {
            let output = work.await;
            (output, TALLY.with(RefCell::take))
        })
        .await
}

/// Counts a committed tally in the current invocation's; outside one (a test calling a flow
/// directly, a tool) it is written at once rather than lost.
pub fn record(tally: Tally) {
    if tally.is_empty() {
        return;
    }
    let mut pending = Some(tally);
    // No scope: `try_with` fails and the tally is still pending.
    let _ = TALLY.try_with(|t| {
        if let Some(tally) = pending.take() {
            t.borrow_mut().merge(tally);
        }
    });
    if let Some(tally) = pending {
        write(&tally, None);
    }
}

fn write(tally: &Tally, function: Option<&str>) {
    if tally.is_empty() {
        return;
    }
    let docs = tally.documents(function.unwrap_or("unscoped"), crate::now_ms());
    super::write_lines(&docs);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::PendingEvent;

    fn received(number: &str) -> Tally {
        Tally::of(&[PendingEvent {
            event_id: "ev_1".into(),
            event_type: "message.received".into(),
            group_id: "c".into(),
            body: format!(
                r#"{{"type":"message.received","phone_number_id":"{number}","data":{{}}}}"#
            ),
        }])
    }

    #[tokio::test]
    async fn commits_of_one_invocation_add_up_in_its_tally() {
        let ((), seen) = tallied(async {
            record(received("111"));
            record(received("111"));
            record(received("222"));
        })
        .await;
        let mut expected = received("111");
        expected.merge(received("111"));
        expected.merge(received("222"));
        assert_eq!(seen, expected);
    }

    #[tokio::test]
    async fn concurrent_records_of_one_batch_share_the_invocation_s_tally() {
        use futures::StreamExt;
        let (_, seen) = tallied(
            futures::stream::iter(0..5)
                .map(|i| async move {
                    tokio::task::yield_now().await;
                    record(received(if i % 2 == 0 { "111" } else { "222" }));
                })
                .buffer_unordered(3)
                .collect::<Vec<_>>(),
        )
        .await;
        let docs = seen.documents("processor", 1);
        let counts: Vec<(String, u64)> = docs
            .iter()
            .map(|d| {
                (
                    d["phone_number_id"].as_str().unwrap_or_default().to_owned(),
                    d["MessagesIn"].as_u64().unwrap_or_default(),
                )
            })
            .collect();
        assert_eq!(counts, vec![("111".into(), 3), ("222".into(), 2)]);
    }

    #[tokio::test]
    async fn the_scope_returns_the_invocation_s_output() {
        let out = scope("processor", async {
            record(received("111"));
            42
        })
        .await;
        assert_eq!(out, 42);
    }
}
