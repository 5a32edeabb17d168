//! The sender's time budgets, from the invocation's deadline (`shared::budget`): when a send may
//! still be claimed, and how long a redelivery treats a claim as possibly in flight.

use std::time::Duration;

use shared::budget::{Deadline, RecordBudget, FINISH_RESERVE};

use crate::fifo::RecordTime;
use crate::Config;

/// How far the wall clocks of two execution environments may disagree: a claim's `started_at_ms`
/// was read on another machine's clock.
pub const CLOCK_ALLOWANCE: Duration = Duration::from_secs(1);

/// The sender's measured budgets, kept across the invocations of one execution environment.
#[derive(Debug)]
pub struct Budgets {
    /// One command, start to end.
    pub record: RecordBudget,
    /// From a send's claim to the command's end: the Graph call(s) as they went and the outcome
    /// commit, at least `OUTCOME_COMMIT_SECONDS`. Measured for the same reason as a record: the
    /// commit is store calls, as slow as the store is now.
    pub outcome: RecordBudget,
}

impl Budgets {
    pub fn new(config: &Config) -> Self {
        Self {
            record: RecordBudget::new(config.min_record_budget),
            outcome: RecordBudget::new(config.outcome_commit),
        }
    }
}

/// What a claimed send may still need: the call to Meta, a second one (the fallback template after
/// Meta says the window closed, or the re-send after re-reading a refused token), each up to
/// the Graph timeout, then the outcome commit (`outcome`: measured, at least the configured
/// figure), and the handler's own ending.
pub fn send_budget(config: &Config, outcome: Duration) -> Duration {
    config.graph_timeout * 2 + outcome + FINISH_RESERVE
}

/// A send is claimed only while the time left covers [`send_budget`], so Lambda's timeout never
/// cuts a send between its claim and its outcome (which would leave it "maybe sent").
pub fn may_claim(config: &Config, deadline: &Deadline, outcome: Duration) -> bool {
    deadline.remaining() >= send_budget(config, outcome)
}

/// Whether this command may claim a send now ([`may_claim`]); if so it is committed: from here
/// the consumer lets it run to its outcome rather than stop it at the deadline.
pub fn start_send(config: &Config, time: &RecordTime) -> bool {
    let ok = may_claim(config, time.deadline(), time.outcome_estimate());
    if ok {
        time.commit();
    }
    ok
}

/// How much longer from now a send may still be claimed ([`may_claim`] holds until then), or
/// `None` if it may not be now. The rate limiter hands a command a send time within it or takes
/// nothing from the shared limits, so a command deferred for lack of time has spent neither its
/// recipient's pair token nor a send time. The outcome estimate includes the time the record
/// has run, which grows while it waits: the window leaves room for that growth too.
pub fn claim_window(config: &Config, time: &RecordTime) -> Option<Duration> {
    let room = time
        .deadline()
        .remaining()
        .checked_sub(config.graph_timeout * 2 + FINISH_RESERVE)?;
    let by_measured = room.checked_sub(time.measured_outcome())?;
    let by_elapsed = room.checked_sub(time.elapsed())? / 2;
    Some(by_measured.min(by_elapsed))
}

/// How long after its claim a `Sending` attempt may still be in flight: no claim outlives the
/// invocation that made it, and that invocation lasted at most as long as this one may (same
/// function, same timeout, read from the deadline rather than copied from the template).
pub fn send_lease(deadline: &Deadline) -> Duration {
    deadline.length() + CLOCK_ALLOWANCE
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn config_for(graph_timeout: u64, commit: u64) -> Config {
        config(graph_timeout, commit)
    }

    fn config(graph_timeout: u64, commit: u64) -> Config {
        let env = shared::config::Env::from_map(BTreeMap::from(
            [
                ("PHONE_NUMBER_IDS", "106540352242922"),
                ("TABLE_NAME", "t"),
                ("CRM_EVENTS_QUEUE_URL", "e"),
                ("COMMANDS_QUEUE_URL", "c"),
                ("SECRET_ID", "s"),
                ("DATA_BUCKET", "d"),
                ("GRAPH_API_BASE_URL", "http://graph.invalid"),
                ("GRAPH_API_VERSION", "v23.0"),
                ("GRAPH_TIMEOUT_SECONDS", &graph_timeout.to_string()),
                ("OUTCOME_COMMIT_SECONDS", &commit.to_string()),
                ("DATA_BUCKET", "data"),
                ("PRIVACY_SECRET_ID", "privacy"),
            ]
            .map(|(k, v)| (k.to_owned(), v.to_owned())),
        ));
        Config::from_env(&env).expect("a valid sender environment")
    }

    #[test]
    fn a_send_budgets_two_graph_calls_the_commit_and_the_reserve() {
        let config = config(10, 5);
        let budgets = Budgets::new(&config);
        let outcome = budgets.outcome.per_record();
        assert_eq!(send_budget(&config, outcome), Duration::from_secs(26));
        let config = config_for(3, 2);
        assert_eq!(
            send_budget(&config, Budgets::new(&config).outcome.per_record()),
            Duration::from_secs(9)
        );
    }

    #[test]
    fn a_commit_measured_slower_than_configured_widens_the_send_budget() {
        let config = config(10, 2);
        let budgets = Budgets::new(&config);
        budgets.outcome.observe(Duration::from_millis(4500));
        assert_eq!(
            send_budget(&config, budgets.outcome.per_record()),
            Duration::from_millis(25_500)
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_send_is_claimed_only_while_the_time_left_covers_its_budget() {
        let config = config(10, 5);
        let time = RecordTime::new(
            Deadline::after(Duration::from_secs(30)),
            Duration::from_secs(5),
        );
        assert!(may_claim(&config, time.deadline(), Duration::from_secs(5)));
        tokio::time::sleep(Duration::from_secs(4)).await; // 26 s left
        assert!(start_send(&config, &time), "26 s cover 10 + 10 + 5 + 1");
        tokio::time::sleep(Duration::from_millis(1)).await;
        let late = RecordTime::new(*time.deadline(), Duration::from_secs(5));
        assert!(!start_send(&config, &late));
    }

    #[tokio::test(start_paused = true)]
    async fn a_command_whose_checks_were_slower_than_the_commit_floor_keeps_as_long_for_its_commit()
    {
        // Arrange: Graph 1 s, commit floor 1 s, 15 s; the checks before the claim took 8.4 s.
        let config = config(1, 1);
        let time = RecordTime::new(
            Deadline::after(Duration::from_secs(15)),
            Duration::from_secs(1),
        );
        tokio::time::sleep(Duration::from_millis(8400)).await;

        // Act / Assert: 6.6 s left would cover 1 + 1 + 1 + 1 s, not 1 + 1 + 8.4 + 1 s.
        assert_eq!(time.outcome_estimate(), Duration::from_millis(8400));
        assert!(!start_send(&config, &time));
    }

    #[tokio::test(start_paused = true)]
    async fn a_send_may_be_claimed_exactly_as_long_as_the_claim_window_says() {
        // Arrange: Graph 10 s, commit floor 5 s: 26 s needed; 29 s left, 1 s run already.
        let config = config(10, 5);
        let deadline = Deadline::after(Duration::from_secs(31));
        tokio::time::sleep(Duration::from_secs(1)).await;
        let time = RecordTime::new(deadline, Duration::from_secs(5));
        tokio::time::sleep(Duration::from_secs(1)).await;

        // Act
        let window = claim_window(&config, &time);

        // Assert: 29 − 21 = 8 s of room, of which the commit's 5 s leave 3 s.
        assert_eq!(window, Some(Duration::from_secs(3)));
        tokio::time::sleep(Duration::from_secs(3)).await;
        assert!(may_claim(&config, time.deadline(), time.outcome_estimate()));
        tokio::time::sleep(Duration::from_millis(1)).await;
        assert!(!may_claim(
            &config,
            time.deadline(),
            time.outcome_estimate()
        ));
        assert_eq!(claim_window(&config, &time), None);
    }

    #[tokio::test(start_paused = true)]
    async fn a_record_that_ran_long_may_wait_only_half_the_room_left_for_its_claim() {
        // Arrange: Graph 1 s, commit floor 1 s, 20 s; the checks took 6 s: 14 s left.
        let config = config(1, 1);
        let time = RecordTime::new(
            Deadline::after(Duration::from_secs(20)),
            Duration::from_secs(1),
        );
        tokio::time::sleep(Duration::from_secs(6)).await;

        // Act: 14 − 3 = 11 s of room; each second waited adds a second to the estimate too.
        let window = claim_window(&config, &time);

        // Assert
        assert_eq!(window, Some(Duration::from_millis(2500)));
        tokio::time::sleep(Duration::from_millis(2500)).await;
        assert!(may_claim(&config, time.deadline(), time.outcome_estimate()));
        tokio::time::sleep(Duration::from_millis(1)).await;
        assert!(!may_claim(
            &config,
            time.deadline(),
            time.outcome_estimate()
        ));
    }

    #[tokio::test(start_paused = true)]
    async fn the_lease_is_the_whole_invocation_plus_the_clock_allowance_however_late_it_is_read() {
        let deadline = Deadline::after(Duration::from_secs(30));
        tokio::time::sleep(Duration::from_secs(20)).await;
        assert_eq!(send_lease(&deadline), Duration::from_secs(31));
        assert_eq!(
            send_lease(&Deadline::after(Duration::from_secs(900))),
            Duration::from_secs(901)
        );
    }
}
