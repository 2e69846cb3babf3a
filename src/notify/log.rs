//! [`LogNotifier`]: approval notices and usage alerts as log lines, so a
//! local server with no channel configured still shows them.

use super::message::{Markup, alert_message};
use super::{AlertNotice, ApprovalNotice, BoxFuture, Notifier};

/// A log line per notice (the local server always has it).
pub struct LogNotifier;

impl Notifier for LogNotifier {
    fn notify<'a>(&'a self, notice: &'a ApprovalNotice) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            tracing::info!(request = %notice.request.id, pool = %notice.request.pool, seats_left = notice.seats_left, "approval needed");
        })
    }

    fn alert<'a>(&'a self, notice: &'a AlertNotice) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            tracing::warn!(alert = %alert_message(notice, Markup::Plain), "seat alert");
        })
    }
}
