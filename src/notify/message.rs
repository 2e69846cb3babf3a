//! The text of an approval notice, the same on every channel (plain text
//! with the links; no secrets).

use super::ApprovalNotice;

/// The message approvers read (plain text with the links; no secrets).
pub fn message(n: &ApprovalNotice) -> String {
    let r = &n.request;
    let name = [r.first_name.as_deref(), r.last_name.as_deref()]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(" ");
    let mut text = format!(
        "Access request for pool {pool}: {name}{sep}{email}{org}\nGets: role {role}, user type {ut}{groups}\nSeats left in {pool}: {left}\nRequest {id} expires at {exp} (UTC).",
        pool = r.pool,
        name = name,
        sep = if name.is_empty() { "" } else { " " },
        email = format_args!("<{}>", r.email),
        org = r
            .organization
            .as_deref()
            .map(|o| format!(" ({o})"))
            .unwrap_or_default(),
        role = r.role,
        ut = r.user_type,
        groups = if r.groups.is_empty() {
            String::new()
        } else {
            format!(", groups {}", r.groups.join(", "))
        },
        left = n.seats_left,
        id = r.id,
        exp = utc(r.expires_at),
    );
    if let (Some(a), Some(d)) = (&n.approve_url, &n.deny_url) {
        text.push_str(&format!("\nApprove: {a}\nDeny: {d}"));
    }
    if let Some(admin) = &n.admin_url {
        text.push_str(&format!("\nAll requests: {admin}"));
    }
    text
}

pub(crate) fn utc(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}",
        rem / 3600,
        (rem % 3600) / 60
    )
}

/// Days since 1970-01-01 to a civil date (Howard Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_utc_civil_dates() {
        assert_eq!(utc(0), "1970-01-01 00:00");
        assert_eq!(utc(1_772_443_800_000), "2026-03-02 09:30");
        assert_eq!(utc(951_782_400_000), "2000-02-29 00:00");
    }
}
