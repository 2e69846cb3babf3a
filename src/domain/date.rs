//! Calendar days in UTC: [`Day`], the date a rule names (`ends_on`) or a
//! trail groups by, and the arithmetic between days and [`UnixMillis`].
//!
//! Proleptic Gregorian, Howard Hinnant's `days_from_civil` /
//! `civil_from_days`; no time zones (every day here is a UTC day).

use std::fmt;

use super::UnixMillis;

/// Milliseconds in a day.
pub const DAY_MS: i64 = 86_400_000;

/// One UTC calendar day.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Day {
    /// Days since 1970-01-01.
    days: i64,
}

impl Day {
    /// Parses `yyyy-mm-dd` (a real date: `2027-02-30` is refused).
    pub fn parse(raw: &str) -> Result<Day, String> {
        let bad = || format!("{raw:?} is not a date (yyyy-mm-dd)");
        let mut parts = raw.trim().splitn(3, '-');
        let (Some(y), Some(m), Some(d)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(bad());
        };
        if y.len() != 4 || m.len() != 2 || d.len() != 2 {
            return Err(bad());
        }
        let (Ok(y), Ok(m), Ok(d)) = (y.parse::<i64>(), m.parse::<u32>(), d.parse::<u32>()) else {
            return Err(bad());
        };
        if !(1..=12).contains(&m) || d == 0 || d > days_in_month(y, m) {
            return Err(bad());
        }
        Ok(Day {
            days: days_from_civil(y, m, d),
        })
    }

    /// The UTC day a time falls on.
    pub fn of(at: UnixMillis) -> Day {
        Day {
            days: at.div_euclid(DAY_MS),
        }
    }

    /// The first millisecond of the day (00:00 UTC).
    pub fn start(self) -> UnixMillis {
        self.days.saturating_mul(DAY_MS)
    }

    /// The first millisecond after the day (00:00 UTC of the next day).
    pub fn end(self) -> UnixMillis {
        self.days.saturating_add(1).saturating_mul(DAY_MS)
    }

    /// `(year, month, day)`.
    pub fn civil(self) -> (i64, u32, u32) {
        civil_from_days(self.days)
    }
}

impl fmt::Display for Day {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (y, m, d) = self.civil();
        write!(f, "{y:04}-{m:02}-{d:02}")
    }
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        2 if is_leap(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a civil date.
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = i64::from(m);
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The civil date of a day number (days since 1970-01-01).
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_round_trip_and_bound_a_utc_day() {
        let d = Day::parse("2027-06-30").unwrap();
        assert_eq!(d.to_string(), "2027-06-30");
        assert_eq!(Day::of(d.start()), d);
        assert_eq!(Day::of(d.end() - 1), d);
        assert_eq!(d.end() - d.start(), DAY_MS);
        assert_eq!(Day::parse("1970-01-01").unwrap().start(), 0);
        assert_eq!(Day::parse("2024-02-29").unwrap().civil(), (2024, 2, 29));
        // 2026-12-03 00:00 UTC
        assert_eq!(Day::parse("2026-12-03").unwrap().start(), 1_796_256_000_000);
        for day in -800_000..800_000i64 {
            let (y, m, dd) = civil_from_days(day);
            assert_eq!(days_from_civil(y, m, dd), day);
        }
    }

    #[test]
    fn only_real_dates_parse() {
        for bad in [
            "2027-02-29",
            "2027-13-01",
            "2027-00-10",
            "2027-6-30",
            "27-06-30",
            "",
            "2027-06-31",
            "2027/06/30",
            "2027-06-3x",
        ] {
            assert!(Day::parse(bad).is_err(), "{bad}");
        }
        assert!(Day::parse(" 2028-02-29 ").is_ok());
    }
}
