//! The administrator's page's pictures, drawn on the server as inline SVG:
//! a usage bar per pool, sign-ups per day, and when a pool fills at the
//! recent rate.
//!
//! Why SVG from the server: the page allows no script at all (its
//! Content-Security-Policy), so a chart library in the browser is out, and
//! an inline `<svg>` is part of the document, not a resource the policy has
//! to allow. Why presentation attributes (`fill="…"`) and no `style`: the
//! policy allows only the page's one hashed stylesheet, never inline style
//! attributes.
//!
//! Everything here is pure: numbers in, an SVG string out, the same string
//! for the same numbers (no clock, no randomness, no ids that differ
//! between two charts), so the unit tests can check exact parts. Every text
//! that reaches the markup goes through [`esc`], labels and tooltips
//! included. Each chart is `role="img"` with an `aria-label` that says in
//! words what it shows, and every mark carries a `<title>` tooltip.

use std::fmt::Write as _;

use crate::domain::date::{DAY_MS, Day};
use crate::entrypoints::http::pages::esc;

/// Width of the usage bar's track, in SVG units (pixels at 100%).
pub const BAR_WIDTH: u32 = 200;
/// Height of the usage bar.
const BAR_HEIGHT: u32 = 20;
/// Room right of the bar for the percentage.
const BAR_LABEL: u32 = 48;

/// Colours, chosen to read on a light and a dark page alike.
const ACTIVE: &str = "#1a7f37";
const RESERVED: &str = "#b7791f";
const PENDING: &str = "#8250df";
const TRACK: &str = "#8884";
const COLUMN: &str = "#2f6fbf";

/// One pool's seats as the usage bar shows them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    /// Seats in the rules file.
    pub seats: u32,
    /// Seats taken (the ledger's counter): the percentage.
    pub used: u32,
    /// Seats held by a member.
    pub active: u32,
    /// Seats held while a member is being set up (or a request waits
    /// holding one).
    pub reserved: u32,
    /// Requests waiting for an approver that hold no seat yet: each takes a
    /// free seat when approved.
    pub pending: u32,
    /// Seats left.
    pub free: u32,
}

/// The four segments, left to right: active, reserved, pending (at most
/// the free seats), free (the rest).
fn segments(u: &Usage) -> [u32; 4] {
    let pending = u.pending.min(u.free);
    [u.active, u.reserved, pending, u.free - pending]
}

/// Splits `width` between `parts` in proportion to `total` (at least their
/// sum): each part ends where its running sum ends, rounded, so the widths
/// add up exactly and a part never gets more than its share plus one.
pub fn widths(parts: &[u32], total: u32, width: u32) -> Vec<u32> {
    let sum: u64 = parts.iter().map(|&p| u64::from(p)).sum();
    let total = u64::from(total).max(sum);
    if total == 0 {
        return vec![0; parts.len()];
    }
    let width = u64::from(width);
    let mut out = Vec::with_capacity(parts.len());
    let (mut cum, mut prev) = (0u64, 0u64);
    for &p in parts {
        cum += u64::from(p);
        let end = (cum * width + total / 2) / total;
        // Why u32::try_from with a fallback: end <= width, so it always
        // fits; the fallback only keeps this free of panics.
        out.push(u32::try_from(end - prev).unwrap_or(0));
        prev = end;
    }
    out
}

/// `n` and a noun, singular for one.
fn count(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// The share `part / whole` as a whole percentage, rounded down; `None`
/// without a whole.
pub fn percent(part: u32, whole: u32) -> Option<u64> {
    (whole > 0).then(|| u64::from(part) * 100 / u64::from(whole))
}

/// A pool's usage bar: active, reserved, pending and free segments over
/// the pool's seats, each with its number when there is room and a
/// tooltip, and the share of seats taken at the right.
pub fn usage_bar(pool: &str, u: &Usage) -> String {
    let seg = segments(u);
    let total = u.seats.max(seg.iter().sum());
    let w = widths(&seg, total, BAR_WIDTH);
    let pct = percent(u.used, u.seats);
    let label = match pct {
        Some(p) => format!(
            "Pool {pool}: {} of {} taken ({p}%): {} active, {} reserved, {}, {} free",
            u.used,
            count(u64::from(u.seats), "seat", "seats"),
            u.active,
            u.reserved,
            count(u64::from(u.pending), "request pending", "requests pending"),
            u.free
        ),
        None => format!("Pool {pool}: no seats"),
    };
    let mut s = format!(
        "<svg class=\"chart bar\" xmlns=\"http://www.w3.org/2000/svg\" role=\"img\" aria-label=\"{}\" \
viewBox=\"0 0 {vw} {BAR_HEIGHT}\" width=\"{vw}\" height=\"{BAR_HEIGHT}\" font-size=\"11\">\
<title>{}</title>\
<rect class=\"track\" x=\"0\" y=\"0\" width=\"{BAR_WIDTH}\" height=\"{BAR_HEIGHT}\" rx=\"3\" fill=\"{TRACK}\"/>",
        esc(&label),
        esc(&label),
        vw = BAR_WIDTH + BAR_LABEL,
    );
    let kinds = [
        ("active", ACTIVE, "active (a member holds the seat)"),
        ("reserved", RESERVED, "reserved (a member is being set up)"),
        (
            "pending",
            PENDING,
            "pending approval (takes a free seat if approved)",
        ),
        ("free", "none", "free"),
    ];
    let mut x = 0u32;
    for ((&n, &width), (class, fill, what)) in seg.iter().zip(&w).zip(kinds) {
        if n == 0 {
            continue;
        }
        let tip = format!("{n} {what}");
        let _ = write!(
            s,
            "<g class=\"seg {class}\"><title>{}</title>\
<rect x=\"{x}\" y=\"0\" width=\"{width}\" height=\"{BAR_HEIGHT}\" fill=\"{fill}\"/>",
            esc(&tip)
        );
        // A number only where it fits: about 7 units a digit, 3 each side.
        let digits = n.to_string();
        if width as usize >= digits.len() * 7 + 6 {
            let fill = if class == "free" {
                "currentColor"
            } else {
                "#fff"
            };
            let _ = write!(
                s,
                "<text x=\"{}\" y=\"14\" text-anchor=\"middle\" fill=\"{fill}\">{digits}</text>",
                x + width / 2
            );
        }
        s.push_str("</g>");
        x += width;
    }
    let pct = pct.map_or_else(|| "no seats".to_string(), |p| format!("{p}%"));
    let _ = write!(
        s,
        "<text class=\"pct\" x=\"{}\" y=\"14\" text-anchor=\"end\" fill=\"currentColor\">{}</text></svg>",
        BAR_WIDTH + BAR_LABEL - 2,
        esc(&pct)
    );
    s
}

/// Geometry of the sign-ups chart.
const COL: u32 = 10;
const LEFT: u32 = 30;
const TOP: u32 = 8;
const PLOT_H: u32 = 80;
const BOTTOM: u32 = 18;
/// The most days one chart draws.
pub const MAX_DAYS: usize = 366;

/// The smallest of 1, 2, 5, 10, 20, 50, … at or above `n` (at least 1):
/// the top of the scale.
pub fn nice_max(n: u32) -> u32 {
    let mut step: u32 = 1;
    loop {
        for m in [1u32, 2, 5] {
            let v = step.saturating_mul(m);
            if v >= n || v == u32::MAX {
                return v;
            }
        }
        step = step.saturating_mul(10);
    }
}

/// The day `n` days after `day` (before, when negative).
pub fn add_days(day: Day, n: i64) -> Day {
    Day::of(day.start().saturating_add(n.saturating_mul(DAY_MS)))
}

/// A day as the axis writes it: `12-16`.
fn short(day: Day) -> String {
    let (_, m, d) = day.civil();
    format!("{m:02}-{d:02}")
}

/// Sign-ups per day: one column a day, `counts` ending with `last_day`
/// (oldest first; at most [`MAX_DAYS`], the newest kept), a scale from 0 to
/// a round maximum, the first and last day under the axis, and each day's
/// date and count as its tooltip.
pub fn signups_chart(pool: &str, counts: &[u32], last_day: Day) -> String {
    let counts = &counts[counts.len().saturating_sub(MAX_DAYS)..];
    let n = counts.len() as u32;
    let first_day = add_days(last_day, 1 - i64::from(n.max(1)));
    let total: u64 = counts.iter().map(|&c| u64::from(c)).sum();
    let most = counts.iter().copied().max().unwrap_or(0);
    let top = nice_max(most);
    let (vw, vh) = (LEFT + n.max(1) * COL + 4, TOP + PLOT_H + BOTTOM);
    let base = TOP + PLOT_H;
    let label = format!(
        "Sign-ups per day in pool {pool}, {first_day} to {last_day}: {} in all, at most {most} in one day",
        total
    );
    let mut s = format!(
        "<svg class=\"chart signups\" xmlns=\"http://www.w3.org/2000/svg\" role=\"img\" aria-label=\"{}\" \
viewBox=\"0 0 {vw} {vh}\" width=\"{vw}\" height=\"{vh}\" font-size=\"10\">\
<title>{}</title>\
<line x1=\"{LEFT}\" y1=\"{TOP}\" x2=\"{}\" y2=\"{TOP}\" stroke=\"{TRACK}\"/>\
<line x1=\"{LEFT}\" y1=\"{base}\" x2=\"{}\" y2=\"{base}\" stroke=\"currentColor\"/>\
<text x=\"{}\" y=\"{}\" text-anchor=\"end\" fill=\"currentColor\">{top}</text>\
<text x=\"{}\" y=\"{}\" text-anchor=\"end\" fill=\"currentColor\">0</text>",
        esc(&label),
        esc(&label),
        vw - 4,
        vw - 4,
        LEFT - 4,
        TOP + 4,
        LEFT - 4,
        base,
    );
    for (i, &c) in counts.iter().enumerate() {
        let day = add_days(first_day, i as i64);
        let x = LEFT + i as u32 * COL;
        let h = (u64::from(c) * u64::from(PLOT_H) + u64::from(top) / 2) / u64::from(top);
        // A day with sign-ups is never drawn flat.
        let h = u32::try_from(h).unwrap_or(PLOT_H).max(u32::from(c > 0));
        let tip = format!("{day}: {}", count(u64::from(c), "sign-up", "sign-ups"));
        let _ = write!(
            s,
            "<g class=\"day\" data-day=\"{day}\" data-count=\"{c}\"><title>{}</title>\
<rect x=\"{x}\" y=\"{TOP}\" width=\"{COL}\" height=\"{PLOT_H}\" fill=\"transparent\"/>",
            esc(&tip)
        );
        if h > 0 {
            let _ = write!(
                s,
                "<rect class=\"col\" x=\"{}\" y=\"{}\" width=\"{}\" height=\"{h}\" fill=\"{COLUMN}\"/>",
                x + 1,
                base - h,
                COL - 2
            );
        }
        s.push_str("</g>");
    }
    let _ = write!(
        s,
        "<text x=\"{LEFT}\" y=\"{}\" fill=\"currentColor\">{}</text>\
<text x=\"{}\" y=\"{}\" text-anchor=\"end\" fill=\"currentColor\">{}</text>",
        vh - 4,
        short(first_day),
        vw - 4,
        vh - 4,
        short(last_day)
    );
    if total == 0 {
        let _ = write!(
            s,
            "<text class=\"empty\" x=\"{}\" y=\"{}\" text-anchor=\"middle\" fill=\"currentColor\">No sign-ups in these {}</text>",
            LEFT + n.max(1) * COL / 2,
            TOP + PLOT_H / 2,
            count(u64::from(n), "day", "days")
        );
    }
    s.push_str("</svg>");
    s
}

/// When a pool runs out of seats at the recent rate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Projection {
    /// The pool has no seats at all.
    NoSeats,
    /// No seat is free now.
    AlreadyFull,
    /// Nobody signed up in the recent window: no rate to project.
    NoRecentSignups {
        /// The window, in days.
        window: u32,
    },
    /// Full in about `days` days, on `on`.
    FullIn {
        /// Days from today, at least 1.
        days: u32,
        /// The day it fills.
        on: Day,
        /// Sign-ups in the window.
        signups: u64,
        /// The window, in days.
        window: u32,
    },
    /// At this rate the pool fills only after [`FAR_DAYS`] days.
    NotSoon {
        /// Sign-ups in the window.
        signups: u64,
        /// The window, in days.
        window: u32,
    },
}

/// Projections beyond this many days (about five years) are not dated.
pub const FAR_DAYS: u64 = 1826;

/// When `free` seats run out if sign-ups go on at the rate of `recent`
/// (one count a day, the newest last): `free` divided by the mean a day,
/// rounded up, counted from `today`.
pub fn project(seats: u32, free: u32, recent: &[u32], today: Day) -> Projection {
    if seats == 0 {
        return Projection::NoSeats;
    }
    if free == 0 {
        return Projection::AlreadyFull;
    }
    let window = u32::try_from(recent.len()).unwrap_or(u32::MAX);
    let signups: u64 = recent.iter().map(|&c| u64::from(c)).sum();
    if signups == 0 {
        return Projection::NoRecentSignups { window };
    }
    // free / (signups / window), rounded up, in whole numbers.
    let days = (u64::from(free) * u64::from(window)).div_ceil(signups);
    if days > FAR_DAYS {
        return Projection::NotSoon { signups, window };
    }
    // Why the fallbacks: days <= FAR_DAYS, so both always fit.
    let days = u32::try_from(days).unwrap_or(u32::MAX).max(1);
    Projection::FullIn {
        days,
        on: add_days(today, i64::from(days)),
        signups,
        window,
    }
}

impl Projection {
    /// The short form, for a table cell: `full in ~12 days`.
    pub fn short(&self) -> String {
        match *self {
            Projection::NoSeats => "no seats".into(),
            Projection::AlreadyFull => "already full".into(),
            Projection::NoRecentSignups { .. } => "no recent sign-ups".into(),
            Projection::FullIn { days, .. } => {
                format!("full in ~{}", count(u64::from(days), "day", "days"))
            }
            Projection::NotSoon { .. } => "not full for years".into(),
        }
    }

    /// The sentence: `full in ~12 days, around 2026-12-16 (at 23 sign-ups
    /// in the last 14 days)`.
    pub fn sentence(&self) -> String {
        match *self {
            Projection::NoSeats => "This pool has no seats.".into(),
            Projection::AlreadyFull => "Already full: no seat is free.".into(),
            Projection::NoRecentSignups { window } => format!(
                "No sign-ups in the last {}: no projection.",
                count(u64::from(window), "day", "days")
            ),
            Projection::FullIn {
                days,
                on,
                signups,
                window,
            } => format!(
                "Full in ~{}, around {on}, at the recent rate ({} in the last {}).",
                count(u64::from(days), "day", "days"),
                count(signups, "sign-up", "sign-ups"),
                count(u64::from(window), "day", "days")
            ),
            Projection::NotSoon { signups, window } => format!(
                "Not full for years at the recent rate ({} in the last {}).",
                count(signups, "sign-up", "sign-ups"),
                count(u64::from(window), "day", "days")
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(s: &str) -> Day {
        Day::parse(s).unwrap()
    }

    fn usage(seats: u32, active: u32, reserved: u32, pending: u32) -> Usage {
        let used = active + reserved;
        Usage {
            seats,
            used,
            active,
            reserved,
            pending,
            free: seats.saturating_sub(used),
        }
    }

    /// The `width` attribute of the `<rect>` of segment `class`.
    fn seg_width(svg: &str, class: &str) -> Option<u32> {
        let at = svg.find(&format!("class=\"seg {class}\""))?;
        let rest = &svg[at..];
        let w = rest.find("<rect")? + rest[rest.find("<rect")?..].find(" width=\"")? + 8;
        rest[w..w + rest[w..].find('"')?].parse().ok()
    }

    #[test]
    fn widths_are_proportional_and_add_up_exactly() {
        assert_eq!(widths(&[1, 1, 1, 0], 3, 200), [67, 66, 67, 0]);
        assert_eq!(widths(&[50, 0, 0, 50], 100, 200), [100, 0, 0, 100]);
        assert_eq!(widths(&[1, 2, 3, 4], 10, 200).iter().sum::<u32>(), 200);
        // A total above the parts' sum leaves the rest of the track empty.
        assert_eq!(widths(&[5, 0], 10, 200), [100, 0]);
        // Parts above the total are scaled to their own sum.
        assert_eq!(widths(&[15, 5], 10, 200), [150, 50]);
        assert_eq!(widths(&[0, 0], 0, 200), [0, 0]);
        assert_eq!(widths(&[u32::MAX, u32::MAX], 0, 200), [100, 100]);
    }

    #[test]
    fn the_usage_bar_draws_each_segment_in_proportion_with_its_number() {
        let svg = usage_bar("acme", &usage(50, 20, 5, 3));
        // 20 + 5 + 3 + 22 = 50 seats over 200 units: 4 units a seat.
        assert_eq!(seg_width(&svg, "active"), Some(80));
        assert_eq!(seg_width(&svg, "reserved"), Some(20));
        assert_eq!(seg_width(&svg, "pending"), Some(12));
        assert_eq!(seg_width(&svg, "free"), Some(88));
        assert!(svg.starts_with("<svg class=\"chart bar\""));
        assert!(svg.contains("role=\"img\""));
        assert!(svg.contains(
            "aria-label=\"Pool acme: 25 of 50 seats taken (50%): 20 active, 5 reserved, 3 requests pending, 25 free\""
        ));
        assert!(svg.contains("<title>20 active (a member holds the seat)</title>"));
        assert!(svg.contains(">20</text>") && svg.contains(">50%</text>"));
        // The pending segment is drawn on free seats: 3 of the 25.
        assert!(svg.contains("<title>22 free</title>"));
        assert!(!svg.contains("<script") && !svg.contains("style="));
    }

    #[test]
    fn narrow_segments_keep_their_tooltip_but_not_their_number() {
        let svg = usage_bar("big", &usage(1000, 990, 2, 0));
        assert_eq!(seg_width(&svg, "reserved"), Some(0));
        assert!(svg.contains("<title>2 reserved"));
        assert!(!svg.contains(">2</text>"));
        assert!(svg.contains(">99%</text>"));
    }

    #[test]
    fn a_full_an_empty_and_a_seatless_pool() {
        let full = usage_bar("p", &usage(10, 10, 0, 4));
        assert_eq!(seg_width(&full, "active"), Some(200));
        assert_eq!(seg_width(&full, "pending"), None, "no free seat to take");
        assert!(full.contains(">100%</text>"));
        let empty = usage_bar("p", &usage(10, 0, 0, 0));
        assert_eq!(seg_width(&empty, "free"), Some(200));
        assert!(empty.contains(">0%</text>"));
        let none = usage_bar("p", &usage(0, 0, 0, 2));
        assert!(none.contains("aria-label=\"Pool p: no seats\""));
        assert!(none.contains(">no seats</text>"));
        assert!(!none.contains("class=\"seg"));
        // More members than seats (the rules lowered): scaled, not spilled.
        let over = usage_bar("p", &usage(10, 15, 0, 0));
        assert_eq!(seg_width(&over, "active"), Some(200));
        assert!(over.contains(">150%</text>"));
    }

    #[test]
    fn chart_text_is_escaped() {
        let svg = usage_bar("<b>\"x\"</b>", &usage(1, 0, 0, 0));
        assert!(svg.contains("Pool &lt;b&gt;&quot;x&quot;&lt;/b&gt;"));
        assert!(!svg.contains("<b>"));
        let svg = signups_chart("a&b", &[1], day("2026-01-01"));
        assert!(svg.contains("pool a&amp;b"));
    }

    #[test]
    fn round_scale_tops() {
        let tops: Vec<u32> = [0, 1, 2, 3, 5, 6, 11, 20, 21, 99, 101]
            .iter()
            .map(|&n| nice_max(n))
            .collect();
        assert_eq!(tops, [1, 1, 2, 5, 5, 10, 20, 20, 50, 100, 200]);
        assert_eq!(nice_max(u32::MAX), u32::MAX);
    }

    #[test]
    fn the_signups_chart_has_a_column_a_day_scaled_to_a_round_top() {
        let mut counts = vec![0u32; 30];
        counts[29] = 4;
        counts[0] = 1;
        counts[10] = 2;
        let svg = signups_chart("acme", &counts, day("2026-12-16"));
        assert_eq!(svg.matches("<g class=\"day\"").count(), 30);
        assert_eq!(svg.matches("class=\"col\"").count(), 3);
        // Top 5: 4 sign-ups are 64 of 80 units, 1 is 16.
        assert!(svg.contains(
            "data-day=\"2026-12-16\" data-count=\"4\"><title>2026-12-16: 4 sign-ups</title>"
        ));
        assert!(svg.contains("y=\"24\" width=\"8\" height=\"64\""), "{svg}");
        assert!(svg.contains("<title>2026-11-17: 1 sign-up</title>"));
        assert!(svg.contains("height=\"16\""));
        assert!(svg.contains(">5</text>"));
        assert!(svg.contains(">11-17</text>") && svg.contains(">12-16</text>"));
        assert!(svg.contains(
            "aria-label=\"Sign-ups per day in pool acme, 2026-11-17 to 2026-12-16: 7 in all, at most 4 in one day\""
        ));
        assert!(!svg.contains("class=\"empty\""));
    }

    #[test]
    fn a_chart_without_sign_ups_says_so() {
        let svg = signups_chart("acme", &[0; 30], day("2026-03-01"));
        assert!(svg.contains(">No sign-ups in these 30 days</text>"));
        assert_eq!(svg.matches("class=\"col\"").count(), 0);
        assert!(svg.contains(">1</text>"), "the scale still has a top");
        // Across the end of February.
        assert!(svg.contains(">01-31</text>") && svg.contains(">03-01</text>"));
        let none = signups_chart("acme", &[], day("2026-03-01"));
        assert!(none.contains("No sign-ups in these 0 days"));
        // A huge count draws a full-height column, nothing beyond.
        let big = signups_chart("acme", &[u32::MAX, 1], day("2026-03-01"));
        assert!(big.contains("y=\"8\" width=\"8\" height=\"80\""));
    }

    #[test]
    fn projections_divide_the_free_seats_by_the_recent_rate() {
        let today = day("2026-12-04");
        // 14 sign-ups in 14 days: one a day; 12 free seats: 12 days.
        assert_eq!(
            project(50, 12, &[1; 14], today),
            Projection::FullIn {
                days: 12,
                on: day("2026-12-16"),
                signups: 14,
                window: 14
            }
        );
        // 3 in 14 days, 10 free: 140 / 3 = 46.7, rounded up.
        let p = project(50, 10, &[0, 0, 1, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0], today);
        assert_eq!(
            p,
            Projection::FullIn {
                days: 47,
                on: day("2027-01-20"),
                signups: 3,
                window: 14
            }
        );
        assert_eq!(p.short(), "full in ~47 days");
        assert_eq!(
            p.sentence(),
            "Full in ~47 days, around 2027-01-20, at the recent rate (3 sign-ups in the last 14 days)."
        );
        // Faster than a seat a day: never "in 0 days".
        let p = project(50, 1, &[30; 14], today);
        assert_eq!(p.short(), "full in ~1 day");
        assert!(p.sentence().contains("around 2026-12-05"));
    }

    #[test]
    fn no_projection_without_a_rate_a_free_seat_or_seats() {
        let today = day("2026-12-04");
        let quiet = project(50, 12, &[0; 14], today);
        assert_eq!(quiet, Projection::NoRecentSignups { window: 14 });
        assert_eq!(
            quiet.sentence(),
            "No sign-ups in the last 14 days: no projection."
        );
        assert_eq!(project(50, 0, &[3; 14], today), Projection::AlreadyFull);
        assert_eq!(project(50, 0, &[3; 14], today).short(), "already full");
        assert_eq!(project(0, 0, &[3; 14], today), Projection::NoSeats);
        assert_eq!(
            project(50, 12, &[], today),
            Projection::NoRecentSignups { window: 0 }
        );
        let slow = project(u32::MAX, u32::MAX, &[1], today);
        assert!(matches!(slow, Projection::NotSoon { signups: 1, .. }));
        assert_eq!(slow.short(), "not full for years");
    }
}
