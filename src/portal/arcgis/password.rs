//! Random initial passwords for members created with
//! [`Invitation::Password`](crate::portal::Invitation::Password).
//!
//! Only generation: the password is never logged or stored here. The shape
//! satisfies the default AGOL policy (fact sheet §8: letters and digits, no
//! weak runs) and the usual tightened org policies (upper, lower, digit and
//! symbol each present).

use rand::Rng;
use rand::seq::{IndexedRandom, SliceRandom};

/// Length of a generated password.
pub const GENERATED_PASSWORD_LEN: usize = 20;

const UPPER: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ";
const LOWER: &[u8] = b"abcdefghijkmnopqrstuvwxyz";
const DIGIT: &[u8] = b"23456789";
/// Symbols that need no escaping in forms, JSON or shells.
const SYMBOL: &[u8] = b"!#%*+-=?@_~";
const CLASSES: [&[u8]; 4] = [UPPER, LOWER, DIGIT, SYMBOL];

/// A strong random password: [`GENERATED_PASSWORD_LEN`] characters with at
/// least one upper-case letter, lower-case letter, digit and symbol, no
/// character repeated next to itself and no neighbours adjacent in ASCII
/// (so no `aa`, `ab`, `12` or `21`, hence no runs of any kind).
pub fn generated_password() -> String {
    let mut rng = rand::rng();
    // One slot per class guarantees each class appears; the rest is random.
    let mut classes: Vec<usize> = (0..CLASSES.len()).collect();
    while classes.len() < GENERATED_PASSWORD_LEN {
        classes.push(rng.random_range(0..CLASSES.len()));
    }
    classes.shuffle(&mut rng);

    let mut out: Vec<u8> = Vec::with_capacity(GENERATED_PASSWORD_LEN);
    for class in classes {
        let set = CLASSES[class % CLASSES.len()];
        let prev = out.last().copied();
        // Why: excluding the previous byte and its ASCII neighbours rules out
        // repeats and ascending/descending sequences.
        let allowed: Vec<u8> = set
            .iter()
            .copied()
            .filter(|c| prev.is_none_or(|p| c.abs_diff(p) > 1))
            .collect();
        // Every class has at least eight members, so at most three are
        // excluded and `allowed` is never empty; fall back to the class's
        // first member anyway rather than panicking.
        let c = allowed.choose(&mut rng).copied().unwrap_or(set[0]);
        out.push(c);
    }
    out.into_iter().map(char::from).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_passwords_have_every_class_and_no_runs() {
        for _ in 0..500 {
            let p = generated_password();
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
        assert_ne!(generated_password(), generated_password());
    }
}
