//! The one source of fresh ids and secrets: claim ids, request ids,
//! delivery attempt tokens, generated passwords and random tokens.
//!
//! Production draws from the operating system's generator
//! ([`Ids::random`]); tests may pass a seeded one ([`Ids::seeded`]) so a run
//! can be repeated exactly. Nothing else in the workflow draws random
//! numbers for an id. (Retry jitter in the adapters is not an id and stays
//! with them.)
//!
//! Generated passwords follow the default AGOL policy (fact sheet §8:
//! letters and digits, no weak runs) and the usual tightened org policies
//! (upper, lower, digit and symbol each present). They are never logged or
//! stored here.

use std::fmt;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use rand::rngs::StdRng;
use rand::seq::{IndexedRandom, SliceRandom};
use rand::{Rng, RngCore, SeedableRng};

use crate::domain::UnixMillis;

/// Length of a generated password.
pub const GENERATED_PASSWORD_LEN: usize = 20;

const UPPER: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ";
const LOWER: &[u8] = b"abcdefghijkmnopqrstuvwxyz";
const DIGIT: &[u8] = b"23456789";
/// Symbols that need no escaping in forms, JSON or shells.
const SYMBOL: &[u8] = b"!#%*+-=?@_~";
const CLASSES: [&[u8]; 4] = [UPPER, LOWER, DIGIT, SYMBOL];

/// Where fresh ids come from. Cheap to clone; clones share the source.
#[derive(Clone)]
pub struct Ids {
    source: Source,
}

#[derive(Clone)]
enum Source {
    /// The thread-local generator seeded by the operating system.
    System,
    /// A seeded generator, shared by every clone (tests).
    Seeded(Arc<Mutex<StdRng>>),
}

impl Default for Ids {
    fn default() -> Self {
        Ids::random()
    }
}

impl fmt::Debug for Ids {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self.source {
            Source::System => "Ids(random)",
            Source::Seeded(_) => "Ids(seeded)",
        })
    }
}

impl Ids {
    /// Ids from the operating system's generator (production).
    pub fn random() -> Self {
        Ids {
            source: Source::System,
        }
    }

    /// Ids from a generator seeded with `seed`: the same sequence every run.
    pub fn seeded(seed: u64) -> Self {
        Ids {
            source: Source::Seeded(Arc::new(Mutex::new(StdRng::seed_from_u64(seed)))),
        }
    }

    fn with_rng<T>(&self, f: impl FnOnce(&mut dyn RngCore) -> T) -> T {
        match &self.source {
            Source::System => f(&mut rand::rng()),
            Source::Seeded(rng) => {
                let mut guard = rng.lock().unwrap_or_else(|p| p.into_inner());
                f(&mut *guard)
            }
        }
    }

    /// `n` random bytes.
    pub fn bytes(&self, n: usize) -> Vec<u8> {
        let mut out = vec![0u8; n];
        self.with_rng(|rng| rng.fill_bytes(&mut out));
        out
    }

    /// `n` random bytes as lower-case hex.
    pub fn hex(&self, n: usize) -> String {
        hex(&self.bytes(n))
    }

    /// `n` random bytes in standard base64 (for secrets written to files).
    pub fn base64(&self, n: usize) -> String {
        base64::engine::general_purpose::STANDARD.encode(self.bytes(n))
    }

    /// A fresh claim id: 128 random bits as hex. A release or confirmation
    /// must name it, so it cannot be guessed or reused.
    pub fn claim_id(&self) -> String {
        self.hex(16)
    }

    /// A fresh delivery attempt token: 128 random bits as hex, drawn once
    /// per run of a delivery and stored with its lease, so the store tells
    /// that run's own repeated calls from another run's.
    pub fn delivery_attempt(&self) -> String {
        self.hex(16)
    }

    /// A request id that sorts in arrival order within this process (time,
    /// then a process-wide counter), followed by 64 random bits so it cannot
    /// be guessed. The waitlist is ordered by (created_at, id).
    pub fn request_id(&self, now: UnixMillis) -> String {
        static SEQ: AtomicU32 = AtomicU32::new(0);
        let seq = SEQ.fetch_add(1, Ordering::Relaxed);
        format!("{:011x}{:08x}{}", now.max(0), seq, self.hex(8))
    }

    /// A strong random password: [`GENERATED_PASSWORD_LEN`] characters with
    /// at least one upper-case letter, lower-case letter, digit and symbol,
    /// no character repeated next to itself and no neighbours adjacent in
    /// ASCII (so no `aa`, `ab`, `12` or `21`, hence no runs of any kind).
    pub fn password(&self) -> String {
        self.with_rng(|rng| {
            // One slot per class guarantees each class appears; the rest is random.
            let mut classes: Vec<usize> = (0..CLASSES.len()).collect();
            while classes.len() < GENERATED_PASSWORD_LEN {
                classes.push(rng.random_range(0..CLASSES.len()));
            }
            classes.shuffle(&mut *rng);

            let mut out: Vec<u8> = Vec::with_capacity(GENERATED_PASSWORD_LEN);
            for class in classes {
                let set = CLASSES[class % CLASSES.len()];
                let prev = out.last().copied();
                // Why: excluding the previous byte and its ASCII neighbours
                // rules out repeats and ascending/descending sequences.
                let allowed: Vec<u8> = set
                    .iter()
                    .copied()
                    .filter(|c| prev.is_none_or(|p| c.abs_diff(p) > 1))
                    .collect();
                // Every class has at least eight members, so at most three
                // are excluded and `allowed` is never empty; fall back to the
                // class's first member anyway rather than panicking.
                let c = allowed.choose(&mut *rng).copied().unwrap_or(set[0]);
                out.push(c);
            }
            out.into_iter().map(char::from).collect()
        })
    }
}

/// Lower-case hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The 32 bytes of a hex-encoded HMAC-SHA256 (64 hex digits, either case),
/// or `None` for anything else: a malformed signature is a wrong one.
pub fn unhex_mac(s: &str) -> Option<Vec<u8>> {
    if s.len() != 64 || !s.is_ascii() {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_passwords_have_every_class_and_no_runs() {
        let ids = Ids::random();
        for _ in 0..500 {
            let p = ids.password();
            assert_eq!(p.len(), GENERATED_PASSWORD_LEN);
            assert!(p.chars().any(|c| c.is_ascii_uppercase()), "{p}");
            assert!(p.chars().any(|c| c.is_ascii_lowercase()), "{p}");
            assert!(p.chars().any(|c| c.is_ascii_digit()), "{p}");
            assert!(p.bytes().any(|c| SYMBOL.contains(&c)), "{p}");
            let b = p.as_bytes();
            assert!(b.windows(2).all(|w| w[0].abs_diff(w[1]) > 1), "{p}");
        }
    }

    #[test]
    fn generated_passwords_differ() {
        let ids = Ids::random();
        assert_ne!(ids.password(), ids.password());
    }

    #[test]
    fn seeded_ids_repeat_and_random_ones_do_not() {
        let (a, b) = (Ids::seeded(7), Ids::seeded(7));
        assert_eq!(a.claim_id(), b.claim_id());
        assert_eq!(a.password(), b.password());
        assert_eq!(a.claim_id().len(), 32);
        assert_ne!(Ids::random().claim_id(), Ids::random().claim_id());
    }

    #[test]
    fn delivery_attempts_differ_per_run_and_repeat_with_the_seed() {
        let (a, b) = (Ids::seeded(7), Ids::seeded(7));
        let first = a.delivery_attempt();
        assert_eq!(first, b.delivery_attempt());
        assert_eq!(first.len(), 32);
        assert_ne!(first, a.delivery_attempt());
    }

    #[test]
    fn request_ids_sort_by_time_then_arrival() {
        let ids = Ids::seeded(1);
        let first = ids.request_id(5_000);
        let second = ids.request_id(5_000);
        let later = ids.request_id(6_000);
        assert!(first < second && second < later, "{first} {second} {later}");
        assert_eq!(first.len(), 11 + 8 + 16);
    }
}
