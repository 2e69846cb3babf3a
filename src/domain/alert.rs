//! Usage alerts as values: the [`Thresholds`] a pool or a user type is
//! watched at, the [`AlertSubject`] an alert is about, and [`evaluate`], the
//! pure rule that turns "the level recorded last time" and "the seats used
//! now" into the alert to send and the level to record.
//!
//! Why a pure function: "once per crossing" is a rule about two numbers
//! (the level last recorded, the use now), and every way it can go wrong
//! (a jump over several thresholds, a pool made larger, thresholds edited
//! between two runs) is a table of cases. Keeping it free of the store and
//! the clock lets those cases be tested exhaustively; the workflow
//! (`provisioning::alerts`) only reads, calls this, writes conditionally and
//! sends.
//!
//! The rule:
//!
//! - a subject's **level** is the highest threshold its use has reached
//!   (`used * 100 >= threshold * seats`, exact integer arithmetic), or none;
//! - the level going **up** sends one alert naming the highest threshold
//!   reached (79 % → 96 % with thresholds 80, 95, 100: one alert, "crossed
//!   95 %"); staying at or above it sends nothing (81 % → 82 %);
//! - the level going **down** sends one short note naming the lowest
//!   threshold the use is now under ("back under 80 %"), and records the
//!   lower level, so the next rise alerts again (81 → 70 → 81: two alerts
//!   and one note);
//! - no hysteresis: the scheduled run samples the use once per period and
//!   seats move one person at a time, so a pool sitting exactly on a line
//!   re-alerts only when a seat is really given back and taken again, which
//!   is what "again after it falls back" asks for; a dead band would hide
//!   such a real re-crossing.
//!
//! A recorded level that is not one of the thresholds (they were edited) is
//! read as the highest threshold at or below it, so editing the rules never
//! sends an alert by itself.

use std::fmt;

use serde::Serialize;

use super::pool::PoolId;

/// The thresholds a subject is watched at when the rules say nothing:
/// 80 %, 95 % and 100 % of its seats.
pub const DEFAULT_THRESHOLDS: [u8; 3] = [80, 95, 100];

/// Percentages of a subject's seats at which an alert is sent: each 1 to
/// 100, strictly ascending (so unique). Empty: never alerted.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Thresholds(Vec<u8>);

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds(DEFAULT_THRESHOLDS.to_vec())
    }
}

impl Thresholds {
    /// Checks thresholds as written in the rules file; the error says which
    /// value is wrong and why.
    pub fn parse(raw: &[i64]) -> Result<Thresholds, String> {
        let mut out: Vec<u8> = Vec::with_capacity(raw.len());
        for &t in raw {
            let Some(t) = u8::try_from(t).ok().filter(|t| (1..=100).contains(t)) else {
                return Err(format!(
                    "{t} is not a percentage from 1 to 100 (thresholds are whole percentages of the seats, e.g. [80, 95, 100])"
                ));
            };
            if let Some(&last) = out.last()
                && t <= last
            {
                return Err(format!(
                    "thresholds must be in ascending order without repeats, but {t} follows {last}"
                ));
            }
            out.push(t);
        }
        Ok(Thresholds(out))
    }

    /// No thresholds: the subject is never alerted.
    pub fn none() -> Thresholds {
        Thresholds(Vec::new())
    }

    /// Whether there are none (the subject is not watched).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The thresholds, ascending.
    pub fn as_slice(&self) -> &[u8] {
        &self.0
    }

    /// The highest threshold `used` of `seats` has reached, if any.
    fn reached(&self, used: u64, seats: u64) -> Option<u8> {
        let used = u128::from(used) * 100;
        self.0
            .iter()
            .rev()
            .copied()
            .find(|&t| used >= u128::from(t) * u128::from(seats))
    }

    /// A recorded level read against these thresholds: the highest one at
    /// or below it (see the module docs).
    fn normalise(&self, level: Option<u8>) -> Option<u8> {
        let level = level?;
        self.0.iter().rev().copied().find(|&t| t <= level)
    }
}

impl fmt::Display for Thresholds {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self.0.iter().map(|t| format!("{t} %")).collect();
        if parts.is_empty() {
            f.write_str("none")
        } else {
            f.write_str(&parts.join(", "))
        }
    }
}

/// What an alert is about. Its [`AlertSubject::key`] is where its level is
/// recorded in the ledger.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(tag = "kind", content = "id", rename_all = "snake_case")]
pub enum AlertSubject {
    /// A pool of the rules: its seats are the rules' `seats`.
    Pool(PoolId),
    /// A user type of the organization: its seats are the licences
    /// purchased, its use the licences assigned.
    UserType(UserTypeId),
    /// Seat reconciliation (the ledger against the organization): its
    /// level is whether drift was found on the last run.
    Reconciliation,
}

impl AlertSubject {
    /// The key its level is recorded under: `pool:<name>`,
    /// `usertype:<id>` or `reconciliation`.
    pub fn key(&self) -> String {
        match self {
            AlertSubject::Pool(p) => format!("pool:{p}"),
            AlertSubject::UserType(t) => format!("usertype:{t}"),
            AlertSubject::Reconciliation => "reconciliation".to_string(),
        }
    }
}

/// A user type id as the portal reports it (`creatorUT`, `viewerUT`, …),
/// checked so it can be part of a storage key and of a message: 1 to 64
/// characters, none of them a control character or whitespace.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct UserTypeId(String);

impl UserTypeId {
    /// Checks an id read from the portal.
    pub fn parse(raw: &str) -> Result<UserTypeId, String> {
        let ok = !raw.is_empty()
            && raw.chars().count() <= 64
            && !raw.chars().any(|c| c.is_control() || c.is_whitespace());
        if ok {
            Ok(UserTypeId(raw.to_string()))
        } else {
            Err(
                "a user type id must be 1-64 characters without spaces or control characters"
                    .into(),
            )
        }
    }

    /// The id.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for UserTypeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Which way a subject's level moved.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "direction", content = "threshold", rename_all = "snake_case")]
pub enum Crossing {
    /// The use reached this threshold (the highest one reached, when it
    /// jumped over several).
    Up(u8),
    /// The use fell under this threshold (the lowest one it is now under,
    /// when it fell past several).
    Down(u8),
}

/// What [`evaluate`] found: the message to send and the level to record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Evaluation {
    /// The crossing to tell people about.
    pub crossing: Crossing,
    /// The level to record in place of the one read (`None`: under every
    /// threshold).
    pub level: Option<u8>,
}

/// The use of a subject in whole per cent, rounded down (so a subject
/// that reached a threshold never reads below it, and one under it never
/// reads at it); `None` without seats.
pub fn percent(used: u64, seats: u64) -> Option<u64> {
    if seats == 0 {
        return None;
    }
    u64::try_from(u128::from(used) * 100 / u128::from(seats)).ok()
}

/// The alert for a subject with `thresholds`, whose level recorded last is
/// `last`, now using `used` of `seats`; `None` when nothing is to be sent
/// or recorded (see the module docs for the rule).
///
/// A subject without seats (a user type none of which was purchased) is
/// never alerted: there is no percentage to speak of, and the level is
/// left as it is.
pub fn evaluate(
    thresholds: &Thresholds,
    last: Option<u8>,
    used: u64,
    seats: u64,
) -> Option<Evaluation> {
    if seats == 0 {
        return None;
    }
    let now = thresholds.reached(used, seats);
    let was = thresholds.normalise(last);
    match (now, was) {
        (Some(n), Some(w)) if n > w => Some(Evaluation {
            crossing: Crossing::Up(n),
            level: Some(n),
        }),
        (Some(n), None) => Some(Evaluation {
            crossing: Crossing::Up(n),
            level: Some(n),
        }),
        (now, Some(w)) if now.is_none_or(|n| n < w) => {
            // The lowest threshold above the level now: the one the use is
            // just under. It exists, as `w` is one and lies above.
            let under = thresholds
                .as_slice()
                .iter()
                .copied()
                .find(|&t| now.is_none_or(|n| t > n))
                .unwrap_or(w);
            Some(Evaluation {
                crossing: Crossing::Down(under),
                level: now,
            })
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn default() -> Thresholds {
        Thresholds::default()
    }

    /// Runs a subject of 100 seats through `uses` (per cent), recording the
    /// level as the workflow does; returns the crossings sent.
    fn run(thresholds: &Thresholds, uses: &[u64]) -> Vec<Crossing> {
        let mut level = None;
        let mut sent = Vec::new();
        for &used in uses {
            if let Some(e) = evaluate(thresholds, level, used, 100) {
                sent.push(e.crossing);
                level = e.level;
            }
        }
        sent
    }

    #[test]
    fn a_crossing_alerts_once_and_staying_above_is_silent() {
        assert_eq!(run(&default(), &[79, 81, 82, 85, 80]), [Crossing::Up(80)]);
    }

    #[test]
    fn up_down_and_up_again_alerts_twice_with_a_note_between() {
        assert_eq!(
            run(&default(), &[79, 81, 70, 81]),
            [Crossing::Up(80), Crossing::Down(80), Crossing::Up(80)]
        );
    }

    #[test]
    fn a_jump_over_several_thresholds_is_one_alert_naming_the_highest() {
        assert_eq!(run(&default(), &[10, 96]), [Crossing::Up(95)]);
        assert_eq!(run(&default(), &[0, 100]), [Crossing::Up(100)]);
        // Then each further threshold once.
        assert_eq!(
            run(&default(), &[81, 96, 100, 100]),
            [Crossing::Up(80), Crossing::Up(95), Crossing::Up(100)]
        );
    }

    #[test]
    fn a_fall_past_several_thresholds_is_one_note_naming_the_lowest() {
        assert_eq!(
            run(&default(), &[100, 50]),
            [Crossing::Up(100), Crossing::Down(80)]
        );
        // Falling one step keeps the lower level: no alert at 90, one when
        // 95 is reached again.
        assert_eq!(
            run(&default(), &[96, 90, 91, 95]),
            [Crossing::Up(95), Crossing::Down(95), Crossing::Up(95)]
        );
    }

    #[test]
    fn thresholds_compare_exactly_on_seats_not_rounded_percentages() {
        let t = default();
        // 4 of 5 is exactly 80 %.
        assert_eq!(
            evaluate(&t, None, 4, 5).map(|e| e.crossing),
            Some(Crossing::Up(80))
        );
        // 79.9 % (799 of 1000) is not 80 %.
        assert_eq!(evaluate(&t, None, 799, 1000), None);
        // 949 of 1000 is at 80 %, not 95 %.
        assert_eq!(
            evaluate(&t, None, 949, 1000).map(|e| e.level),
            Some(Some(80))
        );
        // Over-full (a pool shrunk under its members) is at 100 %.
        assert_eq!(
            evaluate(&t, None, 60, 50).map(|e| e.crossing),
            Some(Crossing::Up(100))
        );
    }

    #[test]
    fn a_capacity_change_moves_the_level_like_use_does() {
        let t = default();
        // 40 of 50 = 80 %: crossed.
        let e = evaluate(&t, None, 40, 50).unwrap();
        assert_eq!(e.crossing, Crossing::Up(80));
        // The pool is made 100 seats: 40 % is back under 80.
        let e = evaluate(&t, e.level, 40, 100).unwrap();
        assert_eq!((e.crossing, e.level), (Crossing::Down(80), None));
        // Shrunk to 40 seats: full at once, one alert naming 100.
        let e = evaluate(&t, e.level, 40, 40).unwrap();
        assert_eq!((e.crossing, e.level), (Crossing::Up(100), Some(100)));
        // Unchanged: nothing.
        assert_eq!(evaluate(&t, e.level, 40, 40), None);
    }

    #[test]
    fn no_seats_or_no_thresholds_never_alert() {
        assert_eq!(evaluate(&default(), None, 5, 0), None);
        assert_eq!(evaluate(&default(), Some(95), 0, 0), None);
        assert_eq!(evaluate(&Thresholds::none(), None, 100, 100), None);
        // A subject whose thresholds were emptied is silent whatever was
        // recorded (the workflow does not even read it).
        assert_eq!(evaluate(&Thresholds::none(), Some(80), 100, 100), None);
    }

    #[test]
    fn a_recorded_level_is_read_against_edited_thresholds_without_an_alert() {
        let edited = Thresholds::parse(&[90, 100]).unwrap();
        // Recorded 95 under [80, 95, 100]; now [90, 100] at 96 %: still at
        // 90, nothing to say.
        assert_eq!(evaluate(&edited, Some(95), 96, 100), None);
        // Recorded 80, now [90, 100] at 85 %: no threshold reached and none
        // was (80 reads as none): nothing.
        assert_eq!(evaluate(&edited, Some(80), 85, 100), None);
        // Recorded 95, falling to 85 %: under 90.
        let e = evaluate(&edited, Some(95), 85, 100).unwrap();
        assert_eq!((e.crossing, e.level), (Crossing::Down(90), None));
    }

    #[test]
    fn every_recorded_level_and_use_gives_a_consistent_answer() {
        // No panic, and the answer always agrees with the use: an Up names
        // a threshold reached, a Down one not reached, and the new level is
        // exactly the highest reached.
        let t = default();
        for last in [
            None,
            Some(1),
            Some(79),
            Some(80),
            Some(95),
            Some(100),
            Some(255),
        ] {
            for used in 0..=60u64 {
                let Some(e) = evaluate(&t, last, used, 50) else {
                    continue;
                };
                assert_eq!(e.level, t.reached(used, 50), "{last:?} {used}");
                match e.crossing {
                    Crossing::Up(x) => assert!(used * 100 >= u64::from(x) * 50),
                    Crossing::Down(x) => assert!(used * 100 < u64::from(x) * 50),
                }
            }
        }
        assert_eq!(
            evaluate(&t, None, u64::MAX, 1).map(|e| e.level),
            Some(Some(100))
        );
    }

    #[test]
    fn thresholds_are_checked() {
        assert_eq!(Thresholds::parse(&[80, 95, 100]).unwrap(), default());
        assert!(Thresholds::parse(&[]).unwrap().is_empty());
        for bad in [&[0][..], &[101], &[-5], &[80, 80], &[95, 80], &[i64::MAX]] {
            assert!(Thresholds::parse(bad).is_err(), "{bad:?}");
        }
        assert!(
            Thresholds::parse(&[95, 80])
                .unwrap_err()
                .contains("80 follows 95")
        );
        assert_eq!(default().to_string(), "80 %, 95 %, 100 %");
    }

    #[test]
    fn percentages_round_down() {
        assert_eq!(percent(48, 50), Some(96));
        assert_eq!(percent(2, 3), Some(66));
        assert_eq!(percent(1, 0), None);
    }

    #[test]
    fn subjects_have_distinct_keys_and_user_type_ids_are_checked() {
        let pool = AlertSubject::Pool(PoolId::parse("acme").unwrap());
        let ut = AlertSubject::UserType(UserTypeId::parse("creatorUT").unwrap());
        assert_eq!(pool.key(), "pool:acme");
        assert_eq!(ut.key(), "usertype:creatorUT");
        assert_eq!(AlertSubject::Reconciliation.key(), "reconciliation");
        assert!(UserTypeId::parse("").is_err());
        assert!(UserTypeId::parse("a b").is_err());
        assert!(UserTypeId::parse(&"x".repeat(65)).is_err());
    }
}
