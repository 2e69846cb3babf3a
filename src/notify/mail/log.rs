//! [`LogMailer`]: applicants' mail as log lines, so a local server with no
//! mail server still shows what would have been sent. The address is
//! personal data and logs travel further than mail: it is masked, and the
//! body (which may quote an approver's reason) is left out.

use super::{BoxFuture, Mail, MailError, Mailer, mask_address};

/// A log line per mail: the masked recipient and the subject.
pub struct LogMailer;

impl Mailer for LogMailer {
    fn send<'a>(&'a self, mail: &'a Mail) -> BoxFuture<'a, Result<(), MailError>> {
        Box::pin(async move {
            tracing::info!(to = %mask_address(&mail.to), subject = %mail.subject, "applicant mail (MAIL_CHANNEL=log: not sent)");
            Ok(())
        })
    }
}
