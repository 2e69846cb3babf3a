//! [`LogNotifier`]: approval notices as log lines.

use super::{ApprovalNotice, BoxFuture, Notifier};

/// A log line per notice (the local server always has it).
pub struct LogNotifier;

impl Notifier for LogNotifier {
    fn notify<'a>(&'a self, notice: &'a ApprovalNotice) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            tracing::info!(request = %notice.request.id, pool = %notice.request.pool, seats_left = notice.seats_left, "approval needed");
        })
    }
}
