//! The one clock: where every part of the broker reads the time.
//!
//! The system clock in production; tests pass one they move by hand
//! ([`Clock::manual`]), so expiry, leases, token renewal and the seat
//! lifecycle are tested without sleeping. Code below the entry points takes
//! `now` as an argument; the entry points, the workers and the portal client
//! read it from the [`Clock`] they were wired with.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use crate::domain::UnixMillis;

/// Reads the wall clock (milliseconds since the Unix epoch). Only
/// [`Clock::system`] and the command line's own messages call it.
pub fn now_millis() -> UnixMillis {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// A source of the current time. Cheap to clone; every clone reads the same
/// source.
#[derive(Clone)]
pub struct Clock(Arc<dyn Fn() -> UnixMillis + Send + Sync>);

impl Clock {
    /// The wall clock ([`now_millis`]).
    pub fn system() -> Self {
        Clock(Arc::new(now_millis))
    }

    /// A clock that reads `f`.
    pub fn from_fn(f: impl Fn() -> UnixMillis + Send + Sync + 'static) -> Self {
        Clock(Arc::new(f))
    }

    /// A clock that stands at `start` until its [`ManualTime`] moves it.
    pub fn manual(start: UnixMillis) -> (Self, ManualTime) {
        let time = ManualTime(Arc::new(AtomicI64::new(start)));
        let read = time.clone();
        (Clock::from_fn(move || read.now()), time)
    }

    /// The current time in epoch milliseconds.
    pub fn now(&self) -> UnixMillis {
        (self.0)()
    }
}

impl Default for Clock {
    fn default() -> Self {
        Clock::system()
    }
}

impl fmt::Debug for Clock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Clock")
    }
}

/// The hand of a [`Clock::manual`]: sets or advances its time.
#[derive(Clone, Debug)]
pub struct ManualTime(Arc<AtomicI64>);

impl ManualTime {
    /// The time the clock shows.
    pub fn now(&self) -> UnixMillis {
        self.0.load(Ordering::SeqCst)
    }

    /// Moves the clock to `at`.
    pub fn set(&self, at: UnixMillis) {
        self.0.store(at, Ordering::SeqCst);
    }

    /// Moves the clock forward by `ms`.
    pub fn advance(&self, ms: i64) {
        self.0.fetch_add(ms, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manual_clock_moves_only_when_told() {
        let (clock, hand) = Clock::manual(1_000);
        let copy = clock.clone();
        assert_eq!(clock.now(), 1_000);
        hand.advance(500);
        assert_eq!(copy.now(), 1_500);
        hand.set(10);
        assert_eq!(clock.now(), 10);
    }
}
