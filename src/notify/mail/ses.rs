//! [`SesMailer`]: applicants' mail through Amazon SES (v2 `SendEmail`),
//! the deployed channel: the function's role may send from the one
//! verified identity `template.yaml` names, and nothing else.
//!
//! SES's error messages can quote the recipient (an unverified address in
//! the sandbox): they are logged with every address masked.

use aws_sdk_sesv2::error::{DisplayErrorContext, ProvideErrorMetadata};
use aws_sdk_sesv2::types::{Body, Content, Destination, EmailContent, Message};

use super::{BoxFuture, Mail, MailError, Mailer};

/// Sends through SES, with the default AWS configuration (region and
/// credentials from the default chain).
pub struct SesMailer {
    client: aws_sdk_sesv2::Client,
    from: String,
}

impl SesMailer {
    /// A mailer sending as `from` (an SES-verified address, or one of a
    /// verified domain; `Name <address>` allowed).
    pub async fn new(from: impl Into<String>) -> Self {
        SesMailer {
            client: aws_sdk_sesv2::Client::new(crate::config::aws_config().await),
            from: from.into(),
        }
    }
}

/// UTF-8 text for SES.
fn utf8(text: &str) -> Result<Content, MailError> {
    Content::builder()
        .data(text)
        .charset("UTF-8")
        .build()
        .map_err(|e| MailError(format!("SES message: {e}")))
}

impl Mailer for SesMailer {
    fn send<'a>(&'a self, mail: &'a Mail) -> BoxFuture<'a, Result<(), MailError>> {
        Box::pin(async move {
            let message = Message::builder()
                .subject(utf8(&mail.subject)?)
                .body(Body::builder().text(utf8(&mail.text)?).build())
                .build();
            let result = self
                .client
                .send_email()
                .from_email_address(&self.from)
                .destination(Destination::builder().to_addresses(&mail.to).build())
                .content(EmailContent::builder().simple(message).build())
                .send()
                .await;
            match result {
                Ok(_) => Ok(()),
                Err(e) => Err(match e.as_service_error() {
                    Some(service) => MailError::masked(format!(
                        "SES refused the mail: {} {}",
                        service.code().unwrap_or("error"),
                        service.message().unwrap_or_default()
                    )),
                    None => MailError::masked(format!("SES: {}", DisplayErrorContext(&e))),
                }),
            }
        })
    }
}
