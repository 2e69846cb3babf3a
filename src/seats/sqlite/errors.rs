//! How the SQLite ledger's operations fail: [`TxError`] inside a
//! transaction, [`sql_error`] to name an SQLite error for callers.
//!
//! Every other file of the adapter imports this one and it imports none of
//! them. Errors carry a short description only: never SQLite's own message,
//! which may quote SQL or row data.

use rusqlite::ErrorCode;

use crate::seats::error::LedgerError;

/// What an operation can fail with before it is named: an SQLite error or a
/// ledger error already decided.
pub(super) enum TxError {
    /// SQLite refused or failed; named by [`sql_error`] with the operation.
    Sql(rusqlite::Error),
    /// The answer is already a ledger error (corrupt data, claim not found).
    Ledger(LedgerError),
}

impl From<rusqlite::Error> for TxError {
    fn from(e: rusqlite::Error) -> Self {
        TxError::Sql(e)
    }
}

impl From<LedgerError> for TxError {
    fn from(e: LedgerError) -> Self {
        TxError::Ledger(e)
    }
}

impl TxError {
    /// The ledger error callers see from operation `op`.
    pub(super) fn into_ledger(self, op: &str) -> LedgerError {
        match self {
            TxError::Sql(e) => sql_error(op, &e),
            TxError::Ledger(e) => e,
        }
    }
}

/// Stored data that is not what this code wrote.
pub(super) fn corrupt(what: impl Into<String>) -> TxError {
    TxError::Ledger(LedgerError::Corrupt(what.into()))
}

/// Maps an SQLite error to a short [`LedgerError`]: a busy or failing store is
/// `Unavailable` (retry later), data that breaks the schema is `Corrupt`.
/// Never includes SQLite's own message, which may quote SQL.
pub(super) fn sql_error(op: &str, err: &rusqlite::Error) -> LedgerError {
    use rusqlite::Error as E;
    let unavailable = |what: &str| LedgerError::Unavailable(format!("{op}: {what}"));
    let corrupt = |what: &str| LedgerError::Corrupt(format!("{op}: {what}"));
    match err {
        E::SqliteFailure(e, _) => match e.code {
            ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked => {
                unavailable("the ledger file is locked by another writer")
            }
            ErrorCode::NotADatabase => corrupt("the file is not an SQLite database"),
            ErrorCode::DatabaseCorrupt => corrupt("the database file is malformed"),
            ErrorCode::ConstraintViolation | ErrorCode::TypeMismatch => {
                corrupt("stored data breaks the ledger's constraints")
            }
            ErrorCode::DiskFull => unavailable("the disk is full"),
            ErrorCode::SystemIoFailure => unavailable("disk I/O error"),
            ErrorCode::CannotOpen | ErrorCode::PermissionDenied | ErrorCode::ReadOnly => {
                unavailable("cannot open or write the ledger file")
            }
            other => unavailable(&format!("SQLite error {other:?}")),
        },
        E::FromSqlConversionFailure(..)
        | E::InvalidColumnType(..)
        | E::IntegralValueOutOfRange(..) => corrupt("a stored value has an unexpected type"),
        E::InvalidPath(_) | E::NulError(_) => unavailable("the ledger path is not usable"),
        _ => unavailable("SQLite call failed"),
    }
}
