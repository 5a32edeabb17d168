//! The events of a batch's records published together: each record's `send_all` waits a short
//! linger, then whichever call wakes first sends everything submitted meanwhile, packed into
//! requests of up to ten entries (an update's events never split from each other unless they are
//! more than ten), one request after the other so a group's messages keep their order. One
//! `SendMessageBatch` then carries the events of several records instead of one each: fewer calls
//! to pay for, and fewer against the FIFO queue's per-action quota (docs/scale.md).
//!
//! Each call still answers for its own messages: `Ok` once the request carrying them succeeded,
//! the request's error otherwise (which every call in that request shares), so the outbox marks
//! exactly what SQS accepted and an unpublished outbox is published again by the redelivery.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::oneshot;

use super::{MessageSink, OutboundMessage, QueueError, BATCH_ENTRIES};
use crate::config::{ConfigError, Env};

/// `PUBLISH_LINGER_MS`' usual default: short beside a record's commit, long enough for the
/// records committing alongside it to join its request.
pub const DEFAULT_LINGER: Duration = Duration::from_millis(10);

/// `PUBLISH_LINGER_MS` (whole milliseconds; 0 = only what is already waiting joins): how long a
/// record's events wait for other records' before they go out in one request, `default` when
/// unset (each function knows how far apart its records finish). The one parser of this setting.
pub fn linger(env: &Env, default: Duration) -> Result<Duration, ConfigError> {
    let default = u64::try_from(default.as_millis()).unwrap_or(u64::MAX);
    Ok(Duration::from_millis(
        env.parsed_or("PUBLISH_LINGER_MS", default)?,
    ))
}

/// A sink whose concurrent calls share requests (see the module).
pub struct Coalescing<Q> {
    inner: Q,
    linger: Duration,
    pending: Mutex<Vec<Submission>>,
}

/// One call's messages and where its outcome goes.
struct Submission {
    messages: Vec<OutboundMessage>,
    done: oneshot::Sender<Result<(), Arc<QueueError>>>,
}

impl<Q: MessageSink> Coalescing<Q> {
    /// Calls wait `linger` for others before sending (zero: only what is already pending joins).
    pub fn new(inner: Q, linger: Duration) -> Self {
        Self {
            inner,
            linger,
            pending: Mutex::new(Vec::new()),
        }
    }

    pub fn inner(&self) -> &Q {
        &self.inner
    }

    fn pending(&self) -> MutexGuard<'_, Vec<Submission>> {
        // A panic while holding the lock leaves a plain Vec behind: still usable.
        self.pending.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Sends `taken` in requests of whole submissions (up to ten entries each), in order.
    async fn flush(&self, taken: Vec<Submission>) {
        let mut chunk: Vec<Submission> = Vec::new();
        let mut entries = 0;
        for submission in taken {
            let n = submission.messages.len();
            if !chunk.is_empty() && entries + n > BATCH_ENTRIES {
                self.send_chunk(std::mem::take(&mut chunk)).await;
                entries = 0;
            }
            entries += n;
            chunk.push(submission);
        }
        if !chunk.is_empty() {
            self.send_chunk(chunk).await;
        }
    }

    async fn send_chunk(&self, chunk: Vec<Submission>) {
        let messages = chunk
            .iter()
            .flat_map(|s| s.messages.iter().cloned())
            .collect();
        let result = self.inner.send_all(messages).await.map_err(Arc::new);
        for submission in chunk {
            // The caller may be gone (stopped at the deadline): nobody left to tell.
            let _ = submission.done.send(result.clone());
        }
    }
}

impl<Q: MessageSink> MessageSink for Coalescing<Q> {
    async fn send_all(&self, messages: Vec<OutboundMessage>) -> Result<(), QueueError> {
        if messages.is_empty() {
            return Ok(());
        }
        let (done, outcome) = oneshot::channel();
        let full = {
            let mut pending = self.pending();
            pending.push(Submission { messages, done });
            pending.iter().map(|s| s.messages.len()).sum::<usize>() >= BATCH_ENTRIES
        };
        if !full && !self.linger.is_zero() {
            tokio::time::sleep(self.linger).await;
        }
        let taken = std::mem::take(&mut *self.pending());
        if !taken.is_empty() {
            self.flush(taken).await;
        }
        match outcome.await {
            Ok(result) => result.map_err(QueueError::Shared),
            // The call sending ours was stopped before it answered.
            Err(_) => Err(QueueError::Abandoned),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::RecordingSink;

    /// Counts the requests the inner sink received, and their sizes.
    #[derive(Default)]
    struct Requests {
        sink: RecordingSink,
        sizes: Mutex<Vec<usize>>,
    }

    impl MessageSink for Requests {
        async fn send_all(&self, messages: Vec<OutboundMessage>) -> Result<(), QueueError> {
            self.sizes.lock().unwrap().push(messages.len());
            self.sink.send_all(messages).await
        }
    }

    fn messages(record: usize, n: usize) -> Vec<OutboundMessage> {
        (0..n)
            .map(|i| OutboundMessage::new(format!("{record}.{i}")))
            .collect()
    }

    fn bodies(sink: &RecordingSink) -> Vec<String> {
        sink.messages().into_iter().map(|m| m.body).collect()
    }

    #[test]
    fn the_linger_is_the_default_given_or_whole_milliseconds() {
        let linger = |v: &str| {
            let map = [("PUBLISH_LINGER_MS".to_owned(), v.to_owned())]
                .into_iter()
                .filter(|(_, v)| !v.is_empty())
                .collect();
            linger(&Env::from_map(map), DEFAULT_LINGER)
        };
        assert_eq!(linger("").ok(), Some(Duration::from_millis(10)));
        assert_eq!(linger("0").ok(), Some(Duration::ZERO));
        assert_eq!(linger("25").ok(), Some(Duration::from_millis(25)));
        for bad in ["-1", "1.5", "soon"] {
            assert!(linger(bad).is_err(), "{bad}");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn concurrent_records_share_one_request_and_each_hears_its_outcome() {
        let sink = Coalescing::new(Requests::default(), Duration::from_millis(10));
        let results =
            futures::future::join_all((0..4).map(|r| sink.send_all(messages(r, 2)))).await;
        assert!(results.iter().all(Result::is_ok));
        assert_eq!(*sink.inner().sizes.lock().unwrap(), vec![8]);
        assert_eq!(
            bodies(&sink.inner().sink),
            ["0.0", "0.1", "1.0", "1.1", "2.0", "2.1", "3.0", "3.1"]
        );
    }

    #[tokio::test(start_paused = true)]
    async fn requests_hold_whole_records_up_to_ten_entries_in_submission_order() {
        let sink = Coalescing::new(Requests::default(), Duration::from_millis(10));
        let results = futures::future::join_all([
            sink.send_all(messages(0, 4)),
            sink.send_all(messages(1, 4)),
            sink.send_all(messages(2, 4)),
            sink.send_all(messages(3, 12)),
        ])
        .await;
        assert!(results.iter().all(Result::is_ok));
        assert_eq!(*sink.inner().sizes.lock().unwrap(), vec![8, 4, 12]);
        let sent = bodies(&sink.inner().sink);
        assert_eq!(sent.first().map(String::as_str), Some("0.0"));
        assert_eq!(sent.get(8).map(String::as_str), Some("2.0"));
        assert_eq!(sent.len(), 24);
    }

    #[tokio::test(start_paused = true)]
    async fn a_failed_request_fails_every_record_in_it_and_only_those() {
        let sink = Coalescing::new(
            Requests {
                sink: RecordingSink::failing(1),
                ..Requests::default()
            },
            Duration::from_millis(10),
        );
        let results = futures::future::join_all([
            sink.send_all(messages(0, 6)),
            sink.send_all(messages(1, 4)),
            sink.send_all(messages(2, 3)),
        ])
        .await;
        assert!(matches!(results[0], Err(QueueError::Shared(_))));
        assert!(matches!(results[1], Err(QueueError::Shared(_))));
        assert!(results[2].is_ok());
        assert_eq!(bodies(&sink.inner().sink), ["2.0", "2.1", "2.2"]);
    }

    #[tokio::test(start_paused = true)]
    async fn ten_pending_entries_go_at_once_without_the_linger() {
        let sink = Coalescing::new(Requests::default(), Duration::from_secs(3600));
        let started = tokio::time::Instant::now();
        let result = sink.send_all(messages(0, 10)).await;
        assert!(result.is_ok());
        assert_eq!(started.elapsed(), Duration::ZERO);
    }

    #[tokio::test(start_paused = true)]
    async fn a_record_whose_sender_was_stopped_fails_instead_of_waiting_forever() {
        let sink = Coalescing::new(Requests::default(), Duration::from_millis(10));
        let (done, outcome) = oneshot::channel();
        sink.pending().push(Submission {
            messages: messages(0, 1),
            done,
        });
        // The call that took it (to send it) is dropped before it answers.
        drop(std::mem::take(&mut *sink.pending()));
        assert!(outcome.await.is_err());
        let alone = sink.send_all(messages(1, 1)).await;
        assert!(alone.is_ok());
    }
}
