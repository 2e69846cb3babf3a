//! [`SignInThrottle`] on SQLite: the administrator's sign-in attempts per
//! window, one row per client address and one in all (address `''`).
//!
//! Taking a slot reads both counts and raises both (`INSERT … ON CONFLICT
//! DO UPDATE`) in ONE `BEGIN IMMEDIATE` transaction, so the check and the
//! count cannot be split by another writer, of this process or of another
//! one opening the same file. Only the `sign_ins` table; this file must not
//! touch seats, counters, claims, requests or the audit trail.

use rusqlite::{OptionalExtension, Transaction, params};

use crate::domain::UnixMillis;
use crate::seats::error::LedgerError;
use crate::seats::sign_ins::{SignInAttempt, SignInCounts, SignInSlot, SignInThrottle};

use super::SqliteLedger;
use super::errors::{TxError, corrupt};

/// The address of the row counting every address's attempts. Never a
/// client's: the page keys clients by their address or `unknown`.
const ALL: &str = "";

/// The attempts of `address` counted in `window`, 0 when none.
fn attempts(
    conn: &rusqlite::Connection,
    window: UnixMillis,
    address: &str,
) -> Result<u32, TxError> {
    let n: Option<i64> = conn
        .prepare_cached("SELECT attempts FROM sign_ins WHERE window_start = ?1 AND address = ?2")?
        .query_row(params![window, address], |row| row.get(0))
        .optional()?;
    u32::try_from(n.unwrap_or(0)).map_err(|_| corrupt("a sign-in count is out of range"))
}

/// Raises the attempts of `address` in the attempt's window by one.
fn count(tx: &Transaction<'_>, attempt: &SignInAttempt<'_>, address: &str) -> Result<(), TxError> {
    tx.prepare_cached(
        "INSERT INTO sign_ins (window_start, address, attempts, until) VALUES (?1, ?2, 1, ?3) \
         ON CONFLICT (window_start, address) DO UPDATE SET attempts = attempts + 1, \
         until = max(until, excluded.until)",
    )?
    .execute(params![attempt.window, address, attempt.until])?;
    Ok(())
}

impl SignInThrottle for SqliteLedger {
    async fn take_sign_in(&self, attempt: &SignInAttempt<'_>) -> Result<SignInSlot, LedgerError> {
        let address = attempt.address.to_string();
        let (window, until, per_address, global) = (
            attempt.window,
            attempt.until,
            attempt.per_address,
            attempt.global,
        );
        self.write("take_sign_in", move |tx| {
            if attempts(tx, window, ALL)? >= global {
                return Ok(SignInSlot::GlobalLimit);
            }
            if attempts(tx, window, &address)? >= per_address {
                return Ok(SignInSlot::AddressLimit);
            }
            let attempt = SignInAttempt {
                window,
                until,
                address: &address,
                per_address,
                global,
            };
            count(tx, &attempt, ALL)?;
            count(tx, &attempt, &address)?;
            Ok(SignInSlot::Taken)
        })
        .await
    }

    async fn give_back_sign_in(
        &self,
        window: UnixMillis,
        address: &str,
    ) -> Result<(), LedgerError> {
        let address = address.to_string();
        self.write("give_back_sign_in", move |tx| {
            if attempts(tx, window, &address)? == 0 || attempts(tx, window, ALL)? == 0 {
                return Ok(());
            }
            tx.prepare_cached(
                "UPDATE sign_ins SET attempts = attempts - 1 \
                 WHERE window_start = ?1 AND address IN (?2, ?3)",
            )?
            .execute(params![window, address, ALL])?;
            Ok(())
        })
        .await
    }

    async fn sign_in_counts(
        &self,
        window: UnixMillis,
        address: &str,
    ) -> Result<SignInCounts, LedgerError> {
        let address = address.to_string();
        self.run("sign_in_counts", move |conn| {
            Ok(SignInCounts {
                address: attempts(conn, window, &address)?,
                global: attempts(conn, window, ALL)?,
            })
        })
        .await
    }
}
