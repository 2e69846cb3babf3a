//! [`AlertLevels`] on SQLite: one row per subject in `alert_levels`
//! (version 8), `level` NULL when the subject fell back under every
//! threshold.
//!
//! Moving a level reads the row and writes it in ONE `BEGIN IMMEDIATE`
//! transaction, so the check on the level read and the write cannot be
//! split by another writer, of this process or of another one opening the
//! same file. Only the `alert_levels` table; this file must not touch
//! seats, counters, claims, requests or the audit trail.

use rusqlite::{OptionalExtension, params};

use crate::domain::{AlertSubject, UnixMillis};
use crate::seats::alert_levels::AlertLevels;
use crate::seats::error::LedgerError;

use super::SqliteLedger;
use super::errors::{TxError, corrupt};

/// The level stored for `subject` (`None` without a row or with NULL).
fn level(conn: &rusqlite::Connection, subject: &str) -> Result<Option<u8>, TxError> {
    let found: Option<Option<i64>> = conn
        .prepare_cached("SELECT level FROM alert_levels WHERE subject = ?1")?
        .query_row(params![subject], |row| row.get(0))
        .optional()?;
    match found.flatten() {
        None => Ok(None),
        Some(n) => u8::try_from(n)
            .map(Some)
            .map_err(|_| corrupt("an alert level is out of range")),
    }
}

impl AlertLevels for SqliteLedger {
    async fn alert_level(&self, subject: &AlertSubject) -> Result<Option<u8>, LedgerError> {
        let subject = subject.key();
        self.run("alert_level", move |conn| level(conn, &subject))
            .await
    }

    async fn set_alert_level(
        &self,
        subject: &AlertSubject,
        expected: Option<u8>,
        new: Option<u8>,
        now: UnixMillis,
    ) -> Result<bool, LedgerError> {
        let subject = subject.key();
        self.write("set_alert_level", move |tx| {
            if level(tx, &subject)? != expected {
                return Ok(false);
            }
            tx.prepare_cached(
                "INSERT INTO alert_levels (subject, level, updated_at) VALUES (?1, ?2, ?3) \
                 ON CONFLICT (subject) DO UPDATE SET level = excluded.level, \
                 updated_at = excluded.updated_at",
            )?
            .execute(params![subject, new.map(i64::from), now])?;
            Ok(true)
        })
        .await
    }
}
