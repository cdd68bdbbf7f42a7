//! Retry: the one policy for trying an I/O step again. A transient failure
//! (throttling, 5xx, a body that broke off) is retried a bounded number of
//! times with exponential backoff, and every retry says what is retried,
//! why, and how long it waits, so no one waits in silence.

use crate::error::{Failure, FailureKind};
use std::time::Duration;

/// 200 ms, 400 ms, 800 ms, … capped at 10 s.
pub fn backoff(attempt: u32) -> Duration {
    Duration::from_millis((200u64 << attempt.min(6)).min(10_000))
}

/// Attempts left for one step. Use: run the step; on a failure, `again`
/// decides, logs and waits; loop while it says yes.
pub struct Retry {
    what: String,
    attempt: u32,
    max_attempts: u32,
}

impl Retry {
    /// `what` names the step in the log line ("download of db-1/audit/…").
    pub fn new(what: impl Into<String>, max_attempts: u32) -> Self {
        Retry { what: what.into(), attempt: 1, max_attempts: max_attempts.max(1) }
    }

    /// Whether to try again after `failure`: only a transient failure, only
    /// while attempts are left. If so, logs it and waits the backoff.
    pub async fn again(&mut self, failure: &Failure) -> bool {
        if failure.kind != FailureKind::Transient || self.attempt >= self.max_attempts {
            return false;
        }
        let wait = backoff(self.attempt);
        tracing::warn!(
            what = %self.what, attempt = self.attempt, of = self.max_attempts, wait_ms = wait.as_millis() as u64,
            error = %failure, "retrying after a transient failure"
        );
        self.attempt += 1;
        tokio::time::sleep(wait).await;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_is_capped() {
        assert!(backoff(1) < backoff(2));
        assert_eq!(backoff(30), Duration::from_millis(10_000));
    }

    #[tokio::test(start_paused = true)]
    async fn only_transient_failures_are_retried_and_only_so_often() {
        let mut retry = Retry::new("step", 3);
        assert!(!retry.again(&Failure::needs_person("denied")).await);
        assert!(retry.again(&Failure::transient("reset")).await);
        assert!(retry.again(&Failure::transient("reset")).await);
        assert!(!retry.again(&Failure::transient("reset")).await, "three attempts in all");
    }
}
