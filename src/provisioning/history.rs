//! Sign-ups over time, per pool: how many people got a new seat on each of
//! the last days, counted from the audit trail. What the administrator's
//! page draws and projects from.
//!
//! Why the audit trail: claims only tell who holds a seat *now*; a seat
//! given back (an import moving someone, a reclaim) would vanish from a
//! count built on them. The trail keeps every grant.
//!
//! Which events count: [`GRANTED`], the actions that mean a member was
//! created (or adopted) with a new seat. The other actions are steps on
//! the way (`request.created`, `request.approved`, `member.deferred`) or
//! the opposite (`seat.released`, `member.failed`), and counting them would
//! count one person several times. One (pool, person) counts once in a
//! window, on the first day it appears: the same grant may be recorded
//! twice (an approval whose member is created without a queue records
//! `member.created` from the job and from the decision).
//!
//! [`SignupHistory::count`] is pure; `Provisioner::signup_history` reads the
//! trail.

use std::collections::{BTreeMap, HashSet};

use crate::domain::date::{DAY_MS, Day};
use crate::seats::AuditEvent;

/// The audit actions that mean a new seat was granted.
pub const GRANTED: &[&str] = &["member.created"];

/// The most audit events read for one history; beyond, the history is
/// marked incomplete.
pub const HISTORY_CAP: usize = 20_000;

/// Sign-ups per pool and day over a window of days ending today.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignupHistory {
    /// The window's last day (today).
    pub last_day: Day,
    /// How many days the window holds.
    pub days: usize,
    /// Per pool, one count a day, oldest first.
    counts: BTreeMap<String, Vec<u32>>,
    /// False when the trail held more events than were read
    /// ([`HISTORY_CAP`]): the newest days then miss sign-ups.
    pub complete: bool,
}

impl SignupHistory {
    /// Counts the sign-ups among `events` on the `days` days ending with
    /// `last_day` (events outside them are ignored).
    pub fn count(events: &[AuditEvent], last_day: Day, days: usize, complete: bool) -> Self {
        let first = Self::first_of(last_day, days);
        let mut counts: BTreeMap<String, Vec<u32>> = BTreeMap::new();
        let mut seen: HashSet<(&str, &str)> = HashSet::new();
        for e in events {
            if !GRANTED.contains(&e.action.as_str()) {
                continue;
            }
            let Some(pool) = e.pool.as_deref() else {
                continue;
            };
            if e.at < first.start() || e.at >= last_day.end() {
                continue;
            }
            if let Some(person) = e.person.as_deref()
                && !seen.insert((pool, person))
            {
                continue;
            }
            // Why usize::try_from with a fallback: at >= first.start(),
            // so the index is never negative and is below `days`.
            let index = usize::try_from((e.at - first.start()) / DAY_MS).unwrap_or(usize::MAX);
            let row = counts
                .entry(pool.to_string())
                .or_insert_with(|| vec![0; days]);
            if let Some(c) = row.get_mut(index) {
                *c = c.saturating_add(1);
            }
        }
        SignupHistory {
            last_day,
            days,
            counts,
            complete,
        }
    }

    /// The first day of a window of `days` days ending with `last_day`.
    fn first_of(last_day: Day, days: usize) -> Day {
        let back = i64::try_from(days.saturating_sub(1)).unwrap_or(i64::MAX);
        Day::of(last_day.start().saturating_sub(back.saturating_mul(DAY_MS)))
    }

    /// The window's first day.
    pub fn first_day(&self) -> Day {
        Self::first_of(self.last_day, self.days)
    }

    /// A pool's counts, one a day, oldest first (zeros when nobody signed
    /// up).
    pub fn pool(&self, pool: &str) -> Vec<u32> {
        self.counts
            .get(pool)
            .cloned()
            .unwrap_or_else(|| vec![0; self.days])
    }

    /// A pool's sign-ups on the last `n` days of the window (the rate a
    /// projection uses).
    pub fn recent(&self, pool: &str, n: usize) -> Vec<u32> {
        let all = self.pool(pool);
        all[all.len().saturating_sub(n)..].to_vec()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(day: &str, hour: i64) -> i64 {
        Day::parse(day).unwrap().start() + hour * 3_600_000
    }

    fn event(at: i64, action: &str, pool: Option<&str>, person: &str) -> AuditEvent {
        AuditEvent {
            at,
            actor: "system".into(),
            action: action.into(),
            pool: pool.map(str::to_string),
            person: Some(person.into()),
            detail: String::new(),
        }
    }

    #[test]
    fn only_granted_seats_count_once_each_on_their_day() {
        let today = Day::parse("2026-12-16").unwrap();
        let events = [
            event(at("2026-12-16", 9), "member.created", Some("acme"), "a@x"),
            event(at("2026-12-16", 23), "member.created", Some("acme"), "b@x"),
            // The same grant recorded twice.
            event(at("2026-12-16", 23), "member.created", Some("acme"), "b@x"),
            event(at("2026-12-14", 0), "member.created", Some("acme"), "c@x"),
            event(at("2026-12-14", 1), "member.created", Some("city"), "c@x"),
            // Steps on the way and the opposite do not count.
            event(at("2026-12-15", 1), "request.created", Some("acme"), "d@x"),
            event(at("2026-12-15", 2), "request.approved", Some("acme"), "d@x"),
            event(at("2026-12-15", 3), "seat.released", Some("acme"), "e@x"),
            event(at("2026-12-15", 3), "member.deferred", Some("acme"), "f@x"),
            // Outside the window, or without a pool.
            event(at("2026-12-12", 23), "member.created", Some("acme"), "g@x"),
            event(at("2026-12-17", 0), "member.created", Some("acme"), "h@x"),
            event(at("2026-12-16", 1), "member.created", None, "i@x"),
        ];
        let h = SignupHistory::count(&events, today, 4, true);
        assert_eq!(h.first_day().to_string(), "2026-12-13");
        assert_eq!(h.pool("acme"), [0, 1, 0, 2]);
        assert_eq!(h.pool("city"), [0, 1, 0, 0]);
        assert_eq!(h.pool("nobody"), [0, 0, 0, 0]);
        assert_eq!(h.recent("acme", 2), [0, 2]);
        assert_eq!(h.recent("acme", 10), [0, 1, 0, 2]);
    }

    #[test]
    fn an_empty_window_counts_nothing() {
        let today = Day::parse("2026-12-16").unwrap();
        let events = [event(
            at("2026-12-16", 1),
            "member.created",
            Some("acme"),
            "a@x",
        )];
        let h = SignupHistory::count(&events, today, 0, true);
        assert!(h.pool("acme").is_empty());
        assert_eq!(h.first_day(), today);
    }
}
