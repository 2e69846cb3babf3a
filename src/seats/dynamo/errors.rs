//! How the DynamoDB ledger reads failures: the SDK's errors mapped to short,
//! secret-free [`LedgerError`]s, the two refusals of a single-item write
//! that operations branch on ([`Written`]), and the cancellation reasons of
//! a transaction.
//!
//! Only failures nobody branches on are logged (with the SDK's full error
//! chain, never returned to callers). This file must not talk to DynamoDB.

use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::delete_item::DeleteItemError;
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::CancellationReason;

use crate::seats::error::LedgerError;

use super::item::Item;
use super::retry::Step;

/// The cancellation-reason code of a failed condition.
const CONDITION_FAILED: &str = "ConditionalCheckFailed";
/// The cancellation-reason code of a conflict with another transaction.
const TRANSACTION_CONFLICT: &str = "TransactionConflict";

fn reason_code(reasons: &[CancellationReason], index: usize) -> Option<&str> {
    reasons.get(index).and_then(|r| r.code())
}

/// Whether operation `index` of a cancelled transaction failed its condition.
pub(super) fn cancelled_by_condition(reasons: &[CancellationReason], index: usize) -> bool {
    reason_code(reasons, index) == Some(CONDITION_FAILED)
}

/// Whether a cancelled transaction met another one.
pub(super) fn conflicted(reasons: &[CancellationReason]) -> bool {
    reasons
        .iter()
        .any(|r| r.code() == Some(TRANSACTION_CONFLICT))
}

/// The item operation `index` of a cancelled transaction found, when
/// DynamoDB returned it.
pub(super) fn reason_item(reasons: &[CancellationReason], index: usize) -> Option<&Item> {
    reasons
        .get(index)
        .and_then(|r| r.item())
        .filter(|found| !found.is_empty())
}

/// A cancelled transaction nobody branches on: "try later", logged.
pub(super) fn cancelled(what: &str, reasons: &[CancellationReason]) -> LedgerError {
    let codes: Vec<&str> = reasons.iter().map(|r| r.code().unwrap_or("None")).collect();
    tracing::warn!(operation = what, reasons = ?codes, "DynamoDB transaction cancelled");
    LedgerError::Unavailable(format!(
        "{what} transaction cancelled: [{}]",
        codes.join(", ")
    ))
}

/// A short, secret-free description of an SDK failure for callers. Computed
/// before the error is matched; only failures (not refused conditions) are
/// logged, by [`store_error`] or [`unavailable`].
pub(super) fn describe<E, R>(operation: &str, err: &SdkError<E, R>) -> String
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    let what = match err {
        SdkError::ServiceError(e) => e.err().code().unwrap_or("unrecognised service error"),
        SdkError::TimeoutError(_) => "timed out",
        SdkError::DispatchFailure(_) => "could not reach the store",
        SdkError::ResponseError(_) => "unreadable response",
        SdkError::ConstructionFailure(_) => "request could not be built",
        _ => "failed",
    };
    format!("DynamoDB {operation}: {what}")
}

/// A failure nobody branches on (throttling, timeouts, a missing table):
/// "try later" for the caller, the full error chain for the log.
pub(super) fn store_error(description: String, err: &dyn std::error::Error) -> LedgerError {
    tracing::warn!(error = %DisplayErrorContext(err), "{description}");
    LedgerError::Unavailable(description)
}

/// [`store_error`] for a failed SDK call described by [`describe`].
pub(super) fn unavailable<E, R>(operation: &str, err: &SdkError<E, R>) -> LedgerError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    store_error(describe(operation, err), err)
}

/// A request the SDK could not build (a bug): logged, "try later".
pub(super) fn build_error(err: aws_sdk_dynamodb::error::BuildError) -> LedgerError {
    tracing::error!(error = %err, "DynamoDB request could not be built");
    LedgerError::Unavailable("DynamoDB request could not be built".into())
}

/// What a conditional single-item write (PutItem, UpdateItem, DeleteItem)
/// came to.
pub(super) enum Written<O> {
    /// Written; the SDK's answer.
    Done(O),
    /// Its condition was false: nothing written. The item as it was, when
    /// DynamoDB returned it.
    ConditionFailed(Option<Item>),
    /// A transaction holds the item: retry.
    Conflict,
}

/// The service errors of the single-item writes, read the same way.
pub(super) trait SingleWriteError:
    ProvideErrorMetadata + std::error::Error + Sized + 'static
{
    /// The service error of a failed call (an "unhandled" one when the call
    /// failed before the service answered).
    fn of(err: SdkError<Self>) -> Self;
    /// Whether a transaction holds the item.
    fn is_conflict(&self) -> bool;
    /// The item as it was (when returned) if the condition was false, else
    /// the error back.
    fn condition_failed(self) -> Result<Option<Item>, Self>;
}

macro_rules! single_write_error {
    ($($error:ident),+) => {$(
        impl SingleWriteError for $error {
            fn of(err: SdkError<Self>) -> Self {
                err.into_service_error()
            }
            fn is_conflict(&self) -> bool {
                matches!(self, $error::TransactionConflictException(_))
            }
            fn condition_failed(self) -> Result<Option<Item>, Self> {
                match self {
                    $error::ConditionalCheckFailedException(e) => Ok(e.item),
                    other => Err(other),
                }
            }
        }
    )+};
}

single_write_error!(PutItemError, UpdateItemError, DeleteItemError);

/// Reads the answer of a conditional single-item write: done, refused by
/// its condition, or a conflict; any other failure is "try later" (logged).
pub(super) fn conditional_write<O, E: SingleWriteError>(
    operation: &str,
    sent: Result<O, SdkError<E>>,
) -> Result<Written<O>, LedgerError> {
    let err = match sent {
        Ok(out) => return Ok(Written::Done(out)),
        Err(err) => err,
    };
    let description = describe(operation, &err);
    let err = E::of(err);
    if err.is_conflict() {
        return Ok(Written::Conflict);
    }
    match err.condition_failed() {
        Ok(old) => Ok(Written::ConditionFailed(old)),
        Err(other) => Err(store_error(description, &other)),
    }
}

/// Reads the answer of an unconditional single-item write: done or a
/// conflict (retry); any other failure is "try later" (logged).
pub(super) fn plain_write<O, E: SingleWriteError>(
    operation: &str,
    sent: Result<O, SdkError<E>>,
) -> Result<Step<()>, LedgerError> {
    let err = match sent {
        Ok(_) => return Ok(Step::Done(())),
        Err(err) => err,
    };
    let description = describe(operation, &err);
    let err = E::of(err);
    if err.is_conflict() {
        return Ok(Step::Conflict);
    }
    Err(store_error(description, &err))
}
