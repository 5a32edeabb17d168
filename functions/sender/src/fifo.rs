//! Consuming a FIFO batch: records of one message group run in order, groups run concurrently
//! (bounded). Once a record of a group fails or is deferred, it and every later record of the same
//! group are reported as failures, unprocessed, so SQS keeps the group's order. A record starts
//! only while the invocation's time left covers it (`shared::budget`), and one still running one
//! reserve before the deadline is stopped unless it has [committed](RecordTime::commit) (a
//! claimed send must reach its outcome; its own cut-off, `crate::budget::start_send`, keeps it in
//! time). Either comes back after [`NOT_STARTED_DELAY`], to a fresh invocation.

use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use aws_lambda_events::event::sqs::SqsMessage;
use futures::stream::{self, StreamExt};
use shared::budget::Deadline;
use tokio::time::Instant;
use tracing::Instrument;

use crate::budget::Budgets;

/// When a record the time left could not cover comes back. Short, because it waits for nothing
/// but a fresh invocation; reporting it without a visibility change would hold its message group
/// for the queue's whole visibility timeout (minutes).
pub const NOT_STARTED_DELAY: Duration = Duration::from_secs(1);

/// What became of one record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Disposition {
    /// Consumed: SQS may delete it.
    Done,
    /// Try again after this delay (its visibility timeout is set to it).
    Defer(Duration),
}

/// One record's view of the invocation's time: the deadline, and whether the record has reached
/// work that must not be stopped.
#[derive(Debug)]
pub struct RecordTime {
    deadline: Deadline,
    began: Instant,
    measured_outcome: Duration,
    committed_at: OnceLock<Instant>,
}

impl RecordTime {
    /// A record beginning now; `measured_outcome`: how long records lately needed once committed.
    pub fn new(deadline: Deadline, measured_outcome: Duration) -> Self {
        Self {
            deadline,
            began: Instant::now(),
            measured_outcome,
            committed_at: OnceLock::new(),
        }
    }

    pub fn deadline(&self) -> &Deadline {
        &self.deadline
    }

    /// How long the record should expect to need once committed: what was measured lately, or
    /// what the record took so far if longer. A command's outcome makes about as many store calls
    /// as the checks before its claim, so their time is the freshest reading of the store's speed,
    /// even in an environment's first invocation (nothing measured yet).
    pub fn outcome_estimate(&self) -> Duration {
        self.measured_outcome.max(self.elapsed())
    }

    /// How long records lately needed once committed (the first half of
    /// [`outcome_estimate`](Self::outcome_estimate)).
    pub fn measured_outcome(&self) -> Duration {
        self.measured_outcome
    }

    /// How long this record has run so far (the second half).
    pub fn elapsed(&self) -> Duration {
        self.began.elapsed()
    }

    /// From now on the consumer lets the record run to its end (it must end before the deadline
    /// by its own budget), and measures how long that took.
    pub fn commit(&self) {
        let _ = self.committed_at.set(Instant::now());
    }

    fn committed_for(&self) -> Option<Duration> {
        self.committed_at.get().map(Instant::elapsed)
    }
}

/// A record to report as a batch item failure, and when it should come back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failed {
    pub message_id: String,
    pub receipt_handle: Option<String>,
    pub delay: Duration,
}

/// Runs `handle` over the batch group by group within `deadline`; returns the records to report
/// as failures. The batch's first record always starts: no invocation could give it more time.
pub async fn process<F, Fut>(
    records: Vec<SqsMessage>,
    concurrency: usize,
    deadline: &Deadline,
    budgets: &Budgets,
    handle: F,
) -> Vec<Failed>
where
    F: Fn(SqsMessage, Arc<RecordTime>) -> Fut,
    Fut: Future<Output = Disposition>,
{
    let mut groups: Vec<(String, Vec<SqsMessage>)> = Vec::new();
    for record in records {
        let group = record
            .attributes
            .get("MessageGroupId")
            .cloned()
            .or_else(|| record.message_id.clone())
            .unwrap_or_default();
        match groups.iter_mut().find(|(g, _)| *g == group) {
            Some((_, list)) => list.push(record),
            None => groups.push((group, vec![record])),
        }
    }
    let handle = &handle;
    let started_one = &AtomicBool::new(false);
    let not_started = &AtomicUsize::new(0);
    let stopped = &AtomicUsize::new(0);
    let stop_at = deadline.cutoff();
    let budget = &budgets.record;
    let failed: Vec<Failed> = stream::iter(groups)
        .map(|(_, records)| async move {
            let mut failed = Vec::new();
            let mut blocked: Option<Duration> = None;
            for record in records {
                let message_id = record.message_id.clone().unwrap_or_default();
                let receipt_handle = record.receipt_handle.clone();
                let first = !started_one.swap(true, Ordering::Relaxed);
                let delay = match blocked {
                    Some(d) => Some(d),
                    None if !first && !budget.covers_one_more(deadline) => {
                        not_started.fetch_add(1, Ordering::Relaxed);
                        Some(NOT_STARTED_DELAY)
                    }
                    None => {
                        let span = tracing::info_span!("record", message_id = %message_id);
                        let time =
                            Arc::new(RecordTime::new(*deadline, budgets.outcome.per_record()));
                        let began = Instant::now();
                        let run = handle(record, Arc::clone(&time)).instrument(span);
                        tokio::pin!(run);
                        let disposition = tokio::select! {
                            d = &mut run => Some(d),
                            () = tokio::time::sleep_until(stop_at) => {
                                if time.committed_for().is_some() { Some(run.await) } else { None }
                            }
                        };
                        if disposition.is_some() {
                            // A stopped command says only "at least this long" (as in
                            // `shared::sqs_consumer`).
                            budget.observe(began.elapsed());
                        }
                        if let Some(took) = time.committed_for() {
                            budgets.outcome.observe(took);
                        }
                        match disposition {
                            Some(Disposition::Done) => None,
                            Some(Disposition::Defer(d)) => Some(d),
                            None => {
                                stopped.fetch_add(1, Ordering::Relaxed);
                                Some(NOT_STARTED_DELAY)
                            }
                        }
                    }
                };
                if let Some(d) = delay {
                    blocked = Some(d);
                    failed.push(Failed {
                        message_id,
                        receipt_handle,
                        delay: d,
                    });
                }
            }
            failed
        })
        .buffer_unordered(concurrency.max(1))
        .flat_map(stream::iter)
        .collect()
        .await;
    let not_started = not_started.load(Ordering::Relaxed);
    let stopped = stopped.load(Ordering::Relaxed);
    if not_started > 0 || stopped > 0 {
        tracing::warn!(
            not_started,
            stopped,
            per_record_ms = u64::try_from(budget.per_record().as_millis()).unwrap_or(u64::MAX),
            "the invocation's time left could not cover every command; the rest come back in a moment"
        );
    }
    failed
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(id: &str, group: &str) -> SqsMessage {
        let mut m = SqsMessage::default();
        m.message_id = Some(id.to_owned());
        m.body = Some(id.to_owned());
        m.attributes.insert("MessageGroupId".into(), group.into());
        m
    }

    fn budgets(record: Duration) -> Budgets {
        Budgets {
            record: shared::budget::RecordBudget::new(record),
            outcome: shared::budget::RecordBudget::new(Duration::from_secs(1)),
        }
    }

    fn roomy() -> Deadline {
        Deadline::after(Duration::from_secs(3600))
    }

    #[tokio::test(start_paused = true)]
    async fn commands_the_time_left_cannot_cover_come_back_soon_and_hold_the_rest_of_their_group() {
        // Arrange: 10 s left, at least 3 s a record (+1 s reserve); a's take 4 s, b1 takes 1 s.
        let deadline = Deadline::after(Duration::from_secs(10));
        let budget = budgets(Duration::from_secs(3));
        let records = vec![
            record("a1", "a"),
            record("b1", "b"),
            record("a2", "a"),
            record("a3", "a"),
            record("a4", "a"),
        ];
        let finished = std::sync::Mutex::new(Vec::new());

        // Act
        let failed = process(records, 2, &deadline, &budget, |r, _| {
            let id = r.body.clone().unwrap_or_default();
            let finished = &finished;
            async move {
                let secs = if id.starts_with('a') { 4 } else { 1 };
                tokio::time::sleep(Duration::from_secs(secs)).await;
                finished.lock().unwrap().push(id);
                Disposition::Done
            }
        })
        .await;

        // Assert: a3 would start at 8 s with 2 s left, less than a's measured 4 s + 1 s.
        let ids: Vec<_> = failed.iter().map(|f| f.message_id.as_str()).collect();
        assert_eq!(ids, ["a3", "a4"]);
        assert!(failed.iter().all(|f| f.delay == NOT_STARTED_DELAY));
        let mut done = finished.lock().unwrap().clone();
        done.sort();
        assert_eq!(done, ["a1", "a2", "b1"]);
        assert!(deadline.remaining() >= Duration::from_secs(2));
    }

    #[tokio::test(start_paused = true)]
    async fn the_first_command_of_a_batch_starts_even_when_its_budget_exceeds_the_invocation() {
        let deadline = Deadline::after(Duration::from_secs(2));
        let budget = budgets(Duration::from_secs(5));
        let records = vec![record("a1", "a"), record("b1", "b")];

        let failed = process(records, 1, &deadline, &budget, |_, _| async {
            Disposition::Done
        })
        .await;

        let ids: Vec<_> = failed.iter().map(|f| f.message_id.as_str()).collect();
        assert_eq!(ids, ["b1"]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_command_still_running_before_the_deadline_is_stopped_unless_it_committed() {
        // Arrange: 10 s; group a would take a minute before committing, group b commits at
        // once and then takes 8.5 s (its own budget said it would end in time).
        let deadline = Deadline::after(Duration::from_secs(10));
        let budget = budgets(Duration::from_millis(10));
        let records = vec![record("a1", "a"), record("a2", "a"), record("b1", "b")];
        let finished = std::sync::Mutex::new(Vec::new());

        // Act
        let failed = process(records, 2, &deadline, &budget, |r, time| {
            let id = r.body.clone().unwrap_or_default();
            let finished = &finished;
            async move {
                if id == "b1" {
                    time.commit();
                    tokio::time::sleep(Duration::from_millis(8500)).await;
                } else {
                    tokio::time::sleep(Duration::from_secs(60)).await;
                }
                finished.lock().unwrap().push(id);
                Disposition::Done
            }
        })
        .await;

        // Assert: a1 stopped at 9 s, a2 held behind it; b1 ran to its end.
        let ids: Vec<_> = failed.iter().map(|f| f.message_id.as_str()).collect();
        assert_eq!(ids, ["a1", "a2"]);
        assert!(failed.iter().all(|f| f.delay == NOT_STARTED_DELAY));
        assert_eq!(*finished.lock().unwrap(), ["b1"]);
        assert_eq!(deadline.remaining(), shared::budget::FINISH_RESERVE);
        assert_eq!(
            budget.record.per_record(),
            Duration::from_millis(8500),
            "only b1, which ended, is measured"
        );
        assert_eq!(
            budget.outcome.per_record(),
            Duration::from_millis(8500),
            "b1's time from its commit is measured"
        );
    }

    #[tokio::test]
    async fn a_deferred_record_fails_the_rest_of_its_group_but_not_other_groups() {
        let records = vec![
            record("a1", "a"),
            record("b1", "b"),
            record("a2", "a"),
            record("a3", "a"),
            record("b2", "b"),
        ];
        let seen = std::sync::Mutex::new(Vec::new());
        let failed = process(
            records,
            4,
            &roomy(),
            &budgets(Duration::from_secs(1)),
            |r, _| {
                let id = r.body.clone().unwrap_or_default();
                seen.lock().unwrap().push(id.clone());
                async move {
                    if id == "a2" {
                        Disposition::Defer(Duration::from_secs(3))
                    } else {
                        Disposition::Done
                    }
                }
            },
        )
        .await;
        let mut ids: Vec<_> = failed.iter().map(|f| f.message_id.as_str()).collect();
        ids.sort_unstable();
        assert_eq!(ids, ["a2", "a3"]);
        assert!(failed.iter().all(|f| f.delay == Duration::from_secs(3)));
        assert!(
            !seen.lock().unwrap().contains(&"a3".to_owned()),
            "a3 must not run after a2 failed"
        );
    }
}
