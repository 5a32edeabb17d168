//! Late answers: "the next `times` sends to `to` are answered `after_ms` late". The message is
//! accepted when it arrives and its status webhooks go out on their own schedule, so they can
//! reach the bridge before the sender has Meta's answer — which happens with Meta whenever an
//! answer is slow, and is when a status must wait for the sender's store.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// The longest delay a rule may ask for: past the sender's Graph timeout a late answer is a
/// timeout, which faults already play.
pub const MAX_AFTER_MS: u64 = 60_000;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LateAnswer {
    /// A recipient (phone digits or user id) or `*`, matched as faults match.
    pub to: String,
    pub after_ms: u64,
    #[serde(default = "one")]
    pub times: u32,
}

fn one() -> u32 {
    1
}

/// Why a late-answer rule was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LateAnswerError {
    #[error("to must be a recipient or *")]
    EmptyTarget,
    #[error("after_ms must be between 1 and {MAX_AFTER_MS}")]
    Delay,
    #[error("times must be at least 1")]
    ZeroTimes,
}

impl LateAnswer {
    pub fn check(&self) -> Result<(), LateAnswerError> {
        if self.to.trim().is_empty() {
            return Err(LateAnswerError::EmptyTarget);
        }
        if !(1..=MAX_AFTER_MS).contains(&self.after_ms) {
            return Err(LateAnswerError::Delay);
        }
        if self.times == 0 {
            return Err(LateAnswerError::ZeroTimes);
        }
        Ok(())
    }
}

/// Uses the oldest rule matching `keys` once (dropping it when used up); its delay.
pub(crate) fn take(rules: &mut Vec<LateAnswer>, keys: &[&str]) -> Option<Duration> {
    let pos = rules
        .iter()
        .position(|r| crate::sim::targets(&r.to, keys))?;
    let rule = rules.get_mut(pos)?;
    rule.times -= 1;
    let after = Duration::from_millis(rule.after_ms);
    if rule.times == 0 {
        rules.remove(pos);
    }
    Some(after)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(to: &str, times: u32) -> LateAnswer {
        LateAnswer {
            to: to.into(),
            after_ms: 250,
            times,
        }
    }

    #[test]
    fn a_rule_is_used_times_then_dropped_and_only_for_its_recipient() {
        let mut rules = vec![rule("5511987650001", 2)];
        assert_eq!(take(&mut rules, &["5511987650002"]), None);
        assert_eq!(
            take(&mut rules, &["5511987650001"]),
            Some(Duration::from_millis(250))
        );
        assert_eq!(rules.len(), 1);
        assert!(take(&mut rules, &["+55 11 98765-0001", "5511987650001"]).is_some());
        assert!(rules.is_empty());
        assert_eq!(take(&mut rules, &["5511987650001"]), None);
    }

    #[test]
    fn checks_target_delay_and_times() {
        assert_eq!(rule("*", 1).check(), Ok(()));
        assert_eq!(rule(" ", 1).check(), Err(LateAnswerError::EmptyTarget));
        assert_eq!(rule("*", 0).check(), Err(LateAnswerError::ZeroTimes));
        let mut long = rule("*", 1);
        long.after_ms = MAX_AFTER_MS + 1;
        assert_eq!(long.check(), Err(LateAnswerError::Delay));
    }
}
