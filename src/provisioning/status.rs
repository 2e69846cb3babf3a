//! Seat status per pool: seats, used, reserved, free, and who holds them.
//! One read model for the `seats` command, the `GET /status` route and
//! the administrator's page.

use serde::Serialize;

use crate::domain::{RequestState, UnixMillis};
use crate::policy::{Pool, Rules};
use crate::seats::{ClaimState, ClaimStore, FailureLog, LedgerError, RequestStore};
use crate::telemetry::emf::{self, MetricLine, Unit};

/// One pool's seats.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PoolStatus {
    /// Pool name.
    pub pool: String,
    /// Seats in the rules file.
    pub seats: u32,
    /// Seats taken (the ledger's counter).
    pub used: u32,
    /// Claims still being set up.
    pub reserved: u32,
    /// Claims with a member.
    pub active: u32,
    /// Requests waiting for an approver.
    pub pending: u32,
    /// Requests waiting for a seat.
    pub waitlisted: u32,
    /// Seats left (`seats - used`, never negative).
    pub free: u32,
    /// Who holds the seats, oldest first.
    pub holders: Vec<SeatHolder>,
    /// The waitlist in order (position 1 is next).
    pub waitlist: Vec<Waiting>,
    /// Queued sign-ups whose member could not be created (their seats were
    /// given back), newest first; people who hold a seat again are left out.
    pub failed: Vec<FailedHolder>,
}

/// One person in a pool's waitlist.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Waiting {
    /// Place in line (1 = next).
    pub position: u32,
    /// The person (lower-cased e-mail).
    pub person: String,
    /// The request's id.
    pub request_id: String,
    /// Since when.
    pub since: UnixMillis,
}

/// A sign-up that failed after its seat was reserved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FailedHolder {
    /// The person (lower-cased e-mail).
    pub person: String,
    /// The delivery (`source:id`).
    pub delivery: String,
    /// Stable code.
    pub code: String,
    /// Why.
    pub message: String,
    /// When it was given up.
    pub at: UnixMillis,
}

/// One held seat.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SeatHolder {
    /// The person (lower-cased e-mail).
    pub person: String,
    /// Their ArcGIS username (intended, while reserved).
    pub username: Option<String>,
    /// `RESERVED` or `ACTIVE`.
    pub state: ClaimState,
    /// When the seat was reserved.
    pub since: UnixMillis,
}

/// The pools' numbers as metric lines (one per pool, dimension `Pool`):
/// what the scheduled run writes, so the dashboard draws each pool's use
/// without a call of its own.
pub fn metric_lines(pools: &[PoolStatus], now: UnixMillis) -> Vec<MetricLine> {
    pools
        .iter()
        .map(|p| {
            let percent = if p.seats == 0 {
                0.0
            } else {
                f64::from(p.used) * 100.0 / f64::from(p.seats)
            };
            MetricLine::at(now)
                .dimension("Pool", &p.pool)
                .metric(emf::SEATS, f64::from(p.seats), Unit::Count)
                .metric(emf::USED, f64::from(p.used), Unit::Count)
                .metric(emf::RESERVED, f64::from(p.reserved), Unit::Count)
                .metric(emf::ACTIVE, f64::from(p.active), Unit::Count)
                .metric(emf::PENDING, f64::from(p.pending), Unit::Count)
                .metric(emf::WAITLISTED, f64::from(p.waitlisted), Unit::Count)
                .metric(emf::FREE, f64::from(p.free), Unit::Count)
                .metric(emf::USED_PERCENT, percent, Unit::Percent)
        })
        .collect()
}

/// Reads every pool of the rules.
pub async fn pools<L: ClaimStore + RequestStore + FailureLog>(
    ledger: &L,
    rules: &Rules,
    now: UnixMillis,
) -> Result<Vec<PoolStatus>, LedgerError> {
    let mut out = Vec::with_capacity(rules.pools.len());
    for pool in &rules.pools {
        out.push(pool_status(ledger, pool, now).await?);
    }
    Ok(out)
}

/// Reads one pool (the administrator's page of a pool).
pub async fn pool_status<L: ClaimStore + RequestStore + FailureLog>(
    ledger: &L,
    pool: &Pool,
    now: UnixMillis,
) -> Result<PoolStatus, LedgerError> {
    let usage = ledger.usage(&pool.id).await?;
    let mut claims = ledger.claims(&pool.id).await?;
    let pending = ledger
        .requests(&pool.id, RequestState::Pending)
        .await?
        .len() as u32;
    let waitlist: Vec<Waiting> = ledger
        .requests(&pool.id, RequestState::Waitlisted)
        .await?
        .into_iter()
        .enumerate()
        .map(|(i, r)| Waiting {
            position: i as u32 + 1,
            person: r.key.person,
            request_id: r.id,
            since: r.created_at,
        })
        .collect();
    let failed = ledger
        .failures(&pool.id, now)
        .await?
        .into_iter()
        .filter(|f| !claims.iter().any(|c| c.key.person == f.key.person))
        .map(|f| FailedHolder {
            person: f.key.person,
            delivery: f.delivery,
            code: f.code,
            message: f.message,
            at: f.at,
        })
        .collect();
    claims.sort_by_key(|c| c.reserved_at);
    let reserved = claims
        .iter()
        .filter(|c| c.state == ClaimState::Reserved)
        .count() as u32;
    Ok(PoolStatus {
        pool: pool.id.to_string(),
        seats: pool.seats,
        used: usage.used,
        reserved,
        active: claims.len() as u32 - reserved,
        pending,
        waitlisted: waitlist.len() as u32,
        waitlist,
        free: pool.seats.saturating_sub(usage.used),
        holders: claims
            .into_iter()
            .map(|c| SeatHolder {
                person: c.key.person,
                username: c.username,
                state: c.state,
                since: c.reserved_at,
            })
            .collect(),
        failed,
    })
}

/// A plain-text table for terminals: one summary line per pool, then its
/// holders (unless `summary_only`).
pub fn render(pools: &[PoolStatus], summary_only: bool) -> String {
    let mut s = format!(
        "{:<24} {:>7} {:>7} {:>9} {:>8} {:>10} {:>7}\n",
        "POOL", "SEATS", "USED", "RESERVED", "PENDING", "WAITLISTED", "FREE"
    );
    for p in pools {
        s.push_str(&format!(
            "{:<24} {:>7} {:>7} {:>9} {:>8} {:>10} {:>7}\n",
            p.pool, p.seats, p.used, p.reserved, p.pending, p.waitlisted, p.free
        ));
        if !summary_only {
            for h in &p.holders {
                s.push_str(&format!(
                    "    {:<8} {:<40} {}\n",
                    h.state.as_str(),
                    h.username.as_deref().unwrap_or("-"),
                    h.person
                ));
            }
            for w in &p.waitlist {
                s.push_str(&format!(
                    "    {:<8} {:<40} {}\n",
                    format!("WAIT #{}", w.position),
                    w.request_id,
                    w.person
                ));
            }
            for f in &p.failed {
                s.push_str(&format!(
                    "    {:<8} {:<40} {} ({})\n",
                    "FAILED", f.code, f.person, f.message
                ));
            }
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_pool_becomes_one_metric_line_with_its_use_as_a_percentage() {
        let pool = |name: &str, seats: u32, used: u32| PoolStatus {
            pool: name.into(),
            seats,
            used,
            reserved: 1,
            active: used - 1,
            pending: 2,
            waitlisted: 3,
            free: seats - used,
            holders: Vec::new(),
            waitlist: Vec::new(),
            failed: Vec::new(),
        };
        let lines = metric_lines(&[pool("acme", 150, 120), pool("city", 5, 5)], 7);
        assert_eq!(lines.len(), 2);
        let acme = lines[0].to_json();
        assert_eq!(acme["Pool"], "acme");
        assert_eq!(
            acme["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
            serde_json::json!([["Pool"]])
        );
        assert_eq!(
            (
                acme["Seats"].as_f64(),
                acme["Used"].as_f64(),
                acme["Free"].as_f64(),
                acme["UsedPercent"].as_f64()
            ),
            (Some(150.0), Some(120.0), Some(30.0), Some(80.0))
        );
        assert_eq!(
            (
                acme["Reserved"].as_f64(),
                acme["Active"].as_f64(),
                acme["Pending"].as_f64(),
                acme["Waitlisted"].as_f64()
            ),
            (Some(1.0), Some(119.0), Some(2.0), Some(3.0))
        );
        assert_eq!(lines[1].to_json()["UsedPercent"].as_f64(), Some(100.0));
    }
}
