//! [`SmtpMailer`]: applicants' mail through an SMTP server (`lettre`, over
//! tokio and rustls: no OpenSSL), for a broker outside AWS or one that
//! sends through the organization's own relay.
//!
//! `smtp://` insists on STARTTLS (a server that does not offer it gets no
//! credentials and no mail: no silent downgrade), `smtps://` speaks TLS from
//! the first byte, and `tls=none` is for a local catcher such as Mailpit.
//! One connection per mail: applicants' mail is rare, and a pooled
//! connection would go stale in a frozen Lambda. The password never leaves
//! [`Secret`] except into the SMTP AUTH exchange; errors carry the server's
//! reply with addresses masked.

use std::time::Duration;

use lettre::message::Mailbox;
use lettre::message::header::ContentType;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use super::{BoxFuture, Mail, MailError, Mailer};
use crate::config::Secret;
use crate::config::mail::{SmtpSettings, SmtpTls};

/// How long one mail may take, connection to `QUIT`.
const SMTP_TIMEOUT: Duration = Duration::from_secs(10);

/// Sends through one SMTP server.
pub struct SmtpMailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl SmtpMailer {
    /// A mailer for `server`, sending as `from`; `password` is used when
    /// the server's settings name a user but carry none (the secret's
    /// `smtp_password`). Errors name the problem with a stable code, never
    /// a credential.
    pub fn new(
        server: &SmtpSettings,
        from: &str,
        password: Option<&Secret>,
    ) -> Result<SmtpMailer, String> {
        let from: Mailbox = from.parse().map_err(|_| {
            "mail_from_invalid: MAIL_FROM is not an address lettre accepts".to_string()
        })?;
        let tls = |host: &str| {
            TlsParameters::new(host.to_string())
                .map_err(|e| format!("smtp_tls_invalid: TLS set-up for the SMTP server: {e}"))
        };
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&server.host)
            .port(server.port)
            .timeout(Some(SMTP_TIMEOUT))
            .tls(match server.tls {
                SmtpTls::StartTls => Tls::Required(tls(&server.host)?),
                SmtpTls::Implicit => Tls::Wrapper(tls(&server.host)?),
                SmtpTls::None => Tls::None,
            });
        if let Some(user) = &server.username {
            let Some(password) = server.password.as_ref().or(password) else {
                return Err("smtp_password_missing: SMTP_URL names a user but no password is set (in the URL, the secret's smtp_password, or SMTP_PASSWORD)".into());
            };
            builder = builder.credentials(Credentials::new(
                user.clone(),
                password.expose().to_string(),
            ));
        }
        Ok(SmtpMailer {
            transport: builder.build(),
            from,
        })
    }
}

impl Mailer for SmtpMailer {
    fn send<'a>(&'a self, mail: &'a Mail) -> BoxFuture<'a, Result<(), MailError>> {
        Box::pin(async move {
            let to: Mailbox = mail
                .to
                .parse()
                .map_err(|_| MailError("the recipient is not a valid address".into()))?;
            let message = Message::builder()
                .from(self.from.clone())
                .to(to)
                .subject(mail.subject.as_str())
                .header(ContentType::TEXT_PLAIN)
                .body(mail.text.clone())
                .map_err(|e| MailError::masked(format!("the mail could not be built: {e}")))?;
            self.transport
                .send(message)
                .await
                .map(|_| ())
                .map_err(|e| MailError::masked(format!("SMTP: {e}")))
        })
    }
}

#[cfg(test)]
#[path = "smtp_tests.rs"]
mod tests;
