//! The DynamoDB ledger's retrying engine: the [`ConflictRetry`] budget, what
//! one attempt came to ([`Step`]), and the loop that runs attempts until one
//! is done, with full-jitter backoff.
//!
//! It knows nothing of the table or the operations: an attempt is any
//! future answering a [`Step`]. It must not talk to DynamoDB itself.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use rand::Rng;

use crate::seats::error::LedgerError;

/// The retry budget for transaction conflicts (and for single-item writes
/// refused because a transaction holds the item). Backoff is "full jitter":
/// before retry `k` (1-based) sleep a random time in
/// `[0, min(max_delay, base_delay * 2^(k-1))]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConflictRetry {
    /// Attempts in all, the first included; at least 1.
    pub max_attempts: u32,
    /// Backoff bound before the first retry.
    pub base_delay: Duration,
    /// Largest backoff bound.
    pub max_delay: Duration,
    /// No retry starts once this much time has passed since the first
    /// attempt.
    pub max_elapsed: Duration,
}

impl Default for ConflictRetry {
    /// Sized for a Lambda answering a webhook: about 10 tries within 5 s.
    fn default() -> Self {
        ConflictRetry {
            max_attempts: 10,
            base_delay: Duration::from_millis(20),
            max_delay: Duration::from_secs(1),
            max_elapsed: Duration::from_secs(5),
        }
    }
}

impl ConflictRetry {
    /// A random delay before retry number `retry` (1-based).
    fn delay(&self, retry: u32) -> Duration {
        let exp = retry.saturating_sub(1).min(20);
        let bound = self
            .base_delay
            .saturating_mul(1u32 << exp)
            .min(self.max_delay);
        let micros = u64::try_from(bound.as_micros()).unwrap_or(u64::MAX);
        Duration::from_micros(rand::rng().random_range(0..=micros))
    }
}

/// What one attempt of a retried operation came to.
pub(super) enum Step<T> {
    /// Finished with this answer.
    Done(T),
    /// Refused because of a concurrent transaction: retry, and count it.
    Conflict,
    /// The item changed between the write and the read explaining its
    /// refusal: retry without counting a conflict.
    Raced,
}

/// Runs `attempt` until it is done, retrying conflicts and races within
/// `budget`; every conflict retried is counted in `conflicts_retried`.
pub(super) async fn retrying<T, F, Fut>(
    budget: &ConflictRetry,
    conflicts_retried: &AtomicU64,
    what: &str,
    mut attempt: F,
) -> Result<T, LedgerError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Step<T>, LedgerError>>,
{
    let started = Instant::now();
    let mut tries: u32 = 0;
    loop {
        tries += 1;
        let conflict = match attempt().await? {
            Step::Done(answer) => return Ok(answer),
            Step::Conflict => true,
            Step::Raced => false,
        };
        if tries >= budget.max_attempts.max(1) || started.elapsed() >= budget.max_elapsed {
            tracing::warn!(
                operation = what,
                tries,
                "giving up after repeated conflicts"
            );
            return Err(LedgerError::Unavailable(format!(
                "{what}: still conflicting after {tries} attempts"
            )));
        }
        if conflict {
            conflicts_retried.fetch_add(1, Ordering::Relaxed);
        }
        tokio::time::sleep(budget.delay(tries)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_stays_within_its_bound() {
        let retry = ConflictRetry {
            max_attempts: 5,
            base_delay: Duration::from_millis(10),
            max_delay: Duration::from_millis(40),
            max_elapsed: Duration::from_secs(1),
        };
        for k in 1..50 {
            assert!(retry.delay(k) <= Duration::from_millis(40));
        }
        assert!(retry.delay(1) <= Duration::from_millis(10));
    }
}
