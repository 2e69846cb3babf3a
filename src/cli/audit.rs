//! `agol-seat-broker audit --since <date>`: the audit trail as JSON lines,
//! oldest first, read page by page from any store.

use std::io::Write;

use anyhow::{anyhow, bail};
use clap::Args;
use serde::Serialize;

use super::StoreArgs;
use crate::domain::UnixMillis;
use crate::seats::dynamo::{DynamoLedger, client_for_endpoint};
use crate::seats::sqlite::SqliteLedger;
use crate::seats::{AuditEvent, AuditLog, LedgerError};
use crate::startup::local::Store;

#[derive(Debug, Args)]
pub(crate) struct AuditArgs {
    #[command(flatten)]
    store: StoreArgs,
    /// Events from this time on: a date (2026-11-01, midnight UTC) or an
    /// RFC 3339 time (2026-11-01T09:30:00Z).
    #[arg(long, value_parser = parse_since)]
    since: i64,
}

/// Writes the trail since `--since` to stdout.
pub(crate) async fn audit(a: AuditArgs) -> anyhow::Result<()> {
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let written = match a.store.store()? {
        Store::Sqlite(path) => {
            if !path.exists() {
                bail!(
                    "{} does not exist (no store was written there)",
                    path.display()
                );
            }
            let ledger =
                SqliteLedger::open(&path).map_err(|e| anyhow!("{}: {e}", path.display()))?;
            export(&ledger, a.since, &mut out).await
        }
        Store::Dynamo { table, endpoint } => {
            let ledger = DynamoLedger::new(client_for_endpoint(endpoint.as_deref()).await, table);
            export(&ledger, a.since, &mut out).await
        }
    };
    let written = written.map_err(|e| anyhow!("{e}"))?;
    std::io::Write::flush(&mut out)?;
    tracing::debug!("{written} audit event(s) written");
    Ok(())
}

/// Events read per call to the ledger.
const PAGE: usize = 1000;

/// Parses `--since`: a date (`2026-11-01`, midnight UTC) or an RFC 3339
/// time (`2026-11-01T09:30:00Z`, `2026-11-01T10:30:00+01:00`).
pub fn parse_since(raw: &str) -> Result<UnixMillis, String> {
    let s = raw.trim();
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(s) {
        return Ok(t.timestamp_millis());
    }
    if let Ok(d) = chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d")
        && let Some(t) = d.and_hms_opt(0, 0, 0)
    {
        return Ok(t.and_utc().timestamp_millis());
    }
    let hint = if s.contains('T')
        && chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S").is_ok()
    {
        " (add Z or an offset such as +01:00: the time zone must be explicit)"
    } else {
        ""
    };
    Err(format!(
        "expected a date such as 2026-11-01 (midnight UTC) or an RFC 3339 time such as 2026-11-01T09:30:00Z, got {raw:?}{hint}"
    ))
}

/// One output line: the event with its time also in RFC 3339.
#[derive(Serialize)]
struct Line<'a> {
    time: String,
    #[serde(flatten)]
    event: &'a AuditEvent,
}

/// Writes every event with `at >= since` to `out`, one JSON object per
/// line, oldest first; returns how many.
///
/// The ledger returns at most a page from a starting time, oldest first, so
/// the next page starts at the last time seen and skips the events of that
/// time already written (ties come back in the same order every time).
pub async fn export<L: AuditLog>(
    ledger: &L,
    since: UnixMillis,
    out: &mut impl Write,
) -> Result<usize, ExportError> {
    let (mut since, mut skip, mut written) = (since, 0usize, 0usize);
    loop {
        let limit = skip + PAGE;
        let events = ledger.audit_since(since, limit).await?;
        for event in events.iter().skip(skip) {
            let time = chrono::DateTime::from_timestamp_millis(event.at)
                .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
                .unwrap_or_default();
            serde_json::to_writer(&mut *out, &Line { time, event })?;
            out.write_all(b"\n")?;
            written += 1;
        }
        let Some(last) = events.last() else {
            return Ok(written);
        };
        if events.len() < limit {
            return Ok(written);
        }
        let same_time = events.iter().rev().take_while(|e| e.at == last.at).count();
        // Why: when the whole page shares one time, the next read starts at
        // that same time and must skip everything written so far.
        skip = if last.at == since {
            events.len()
        } else {
            same_time
        };
        since = last.at;
    }
}

/// Why the export stopped.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// The ledger could not be read.
    #[error("cannot read the audit trail: {0}")]
    Ledger(#[from] LedgerError),
    /// The output could not be written (a closed pipe, a full disk).
    #[error("cannot write the output: {0}")]
    Output(#[from] std::io::Error),
    /// An event could not be serialised.
    #[error("cannot write an event: {0}")]
    Json(#[from] serde_json::Error),
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::seats::memory::MemoryLedger;

    #[test]
    fn dates_and_rfc3339_times_parse() {
        assert_eq!(parse_since("1970-01-02"), Ok(86_400_000));
        assert_eq!(parse_since("1970-01-01T00:00:01Z"), Ok(1000));
        assert_eq!(parse_since("1970-01-01T01:00:01.5+01:00"), Ok(1500));
        assert_eq!(
            parse_since(" 2026-11-01 "),
            parse_since("2026-11-01T00:00:00Z")
        );
    }

    #[test]
    fn bad_dates_are_explained() {
        for bad in ["yesterday", "2026-13-01", "01/11/2026", ""] {
            let e = parse_since(bad).unwrap_err();
            assert!(e.contains("2026-11-01T09:30:00Z"), "{e}");
        }
        let e = parse_since("2026-11-01T09:30:00").unwrap_err();
        assert!(e.contains("time zone must be explicit"), "{e}");
    }

    fn event(at: UnixMillis, n: usize) -> AuditEvent {
        AuditEvent {
            at,
            actor: "system".into(),
            action: "test".into(),
            pool: None,
            person: None,
            detail: format!("#{n}"),
        }
    }

    #[tokio::test]
    async fn every_event_since_is_written_once_in_order_across_pages() {
        let ledger = MemoryLedger::new();
        // More than two pages, with runs of equal times across page ends,
        // and one time shared by more events than a page holds.
        let mut n = 0;
        for at in 0..1500 {
            for _ in 0..(1 + (at % 3) as usize) {
                ledger.audit(&event(1000 + at / 2, n)).await.unwrap();
                n += 1;
            }
        }
        for _ in 0..2500 {
            ledger.audit(&event(5000, n)).await.unwrap();
            n += 1;
        }
        ledger.audit(&event(999, n)).await.unwrap();

        let mut out = Vec::new();
        let written = export(&ledger, 1000, &mut out).await.unwrap();
        let lines: Vec<serde_json::Value> = String::from_utf8(out)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(written, n, "all but the one before `since`");
        assert_eq!(lines.len(), n);
        let details: Vec<&str> = lines
            .iter()
            .map(|l| l["detail"].as_str().unwrap())
            .collect();
        let expected: Vec<String> = (0..n).map(|i| format!("#{i}")).collect();
        assert_eq!(details, expected);
        assert_eq!(lines[0]["time"], "1970-01-01T00:00:01.000Z");
        assert_eq!(lines[0]["actor"], "system");
    }

    #[tokio::test]
    async fn an_empty_trail_writes_nothing() {
        let mut out = Vec::new();
        assert_eq!(export(&MemoryLedger::new(), 0, &mut out).await.unwrap(), 0);
        assert!(out.is_empty());
    }
}
