//! Telling applicants: the mail port and its adapters.
//!
//! Approvers and administrators are told through [`super::Notifier`]s;
//! members through the portal's own notifications. Applicants are neither:
//! until their request is approved they are not in the organization, so
//! the decision on their request (approved, denied, waitlisted with their
//! place in line, admitted from the waitlist, lapsed) reaches them by mail
//! ([`ApplicantNotice`], whose text is [`super::message::applicant_mail`]).
//!
//! Adapters, one per file, chosen by `MAIL_CHANNEL` (`config::mail`):
//!
//! - [`ses::SesMailer`]: Amazon SES v2 `SendEmail` (the deployed channel).
//! - [`smtp::SmtpMailer`]: any SMTP server, STARTTLS or TLS (rustls), or a
//!   local catcher in plain text.
//! - [`log::LogMailer`]: a log line with the address masked (the local
//!   default).
//!
//! A mailer answers whether the mail left; the workflow logs a failure and
//! carries on (a decision is never undone, nor retried, for a mail). An
//! address is personal data: errors and logs show it masked
//! ([`mask_address`], [`mask_addresses`]), and no adapter logs a
//! credential.

pub mod log;
pub mod ses;
pub mod smtp;

use serde::Serialize;

use super::BoxFuture;
use crate::domain::UnixMillis;

/// One plain-text mail to one person.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Mail {
    /// The recipient's address.
    pub to: String,
    /// The subject (one line).
    pub subject: String,
    /// The body, plain text.
    pub text: String,
}

/// Why a mail did not leave. The text names no address unmasked and no
/// credential.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct MailError(pub String);

impl MailError {
    /// An error whose text has its addresses masked first.
    pub fn masked(text: impl AsRef<str>) -> Self {
        MailError(mask_addresses(text.as_ref()))
    }
}

/// Sends mail to applicants (SES, SMTP, the log).
pub trait Mailer: Send + Sync {
    /// Sends `mail`; `Err` when it did not leave (the caller logs it).
    fn send<'a>(&'a self, mail: &'a Mail) -> BoxFuture<'a, Result<(), MailError>>;
}

/// How an approved applicant gets into the organization: what the
/// approval mail tells them to look out for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Invitation {
    /// ArcGIS Online e-mails an invitation to accept.
    Email,
    /// The account is made at once and ArcGIS Online e-mails a link to
    /// choose the password (a `password` pool).
    PasswordReset,
    /// The account is made for the organization's identity provider: the
    /// person signs in with their organization's account (an `sso` pool).
    SingleSignOn,
}

/// What happened to an applicant's request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ApplicantEvent {
    /// Approved (by an approver, or admitted from the waitlist of a pool
    /// without approval): the member is being made.
    Approved {
        /// What ArcGIS Online sends them next.
        invitation: Invitation,
    },
    /// Denied by an approver.
    Denied {
        /// The approver's comment, if they gave one.
        reason: Option<String>,
    },
    /// The pool is full: the request waits in line.
    Waitlisted {
        /// Place in line (1 = next); 0 when it could not be read.
        position: u32,
        /// When the request lapses if no seat frees.
        until: UnixMillis,
    },
    /// A seat freed and the request left the waitlist for approval.
    AwaitingApproval {
        /// When the request lapses if nobody decides.
        until: UnixMillis,
    },
    /// The request lapsed before a decision or a free seat.
    Expired {
        /// It was waiting in line (rather than for a decision).
        waitlisted: bool,
    },
}

impl ApplicantEvent {
    /// A short name for logs (`approved`, `denied`, …).
    pub fn kind(&self) -> &'static str {
        match self {
            ApplicantEvent::Approved { .. } => "approved",
            ApplicantEvent::Denied { .. } => "denied",
            ApplicantEvent::Waitlisted { .. } => "waitlisted",
            ApplicantEvent::AwaitingApproval { .. } => "awaiting_approval",
            ApplicantEvent::Expired { .. } => "expired",
        }
    }
}

/// What an applicant is told about their request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ApplicantNotice {
    /// The request's id (quoted as the reference).
    pub request_id: String,
    /// The pool asked for.
    pub pool: String,
    /// The applicant's given name, for the greeting.
    pub first_name: Option<String>,
    /// What happened.
    pub event: ApplicantEvent,
}

/// `ana.lopez@acme.org` as `a***@acme.org`: enough to tell two mails apart
/// in a log, not enough to name the person. The domain (an organization)
/// is kept.
pub fn mask_address(address: &str) -> String {
    match address.rsplit_once('@') {
        Some((local, domain)) => {
            let first: String = local.chars().take(1).collect();
            format!("{first}***@{domain}")
        }
        None => "***".to_string(),
    }
}

/// Every address in `text` masked as [`mask_address`] does: for error
/// texts from a server or an SDK, which may quote the recipient.
pub fn mask_addresses(text: &str) -> String {
    let local_char = |c: char| c.is_alphanumeric() || "._%+-'!#$&*=?^`{|}~/".contains(c);
    let domain_char = |c: char| c.is_alphanumeric() || c == '.' || c == '-';
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    // Start of the pending run of local-part characters in `chars`.
    let mut run_start = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '@' && i > run_start && chars.get(i + 1).is_some_and(|&d| domain_char(d)) {
            // `out` holds the local part at its end: keep its first char.
            let local_len = i - run_start;
            for _ in 0..local_len {
                out.pop();
            }
            out.push(chars[run_start]);
            out.push_str("***@");
            i += 1;
            while i < chars.len() && domain_char(chars[i]) {
                out.push(chars[i]);
                i += 1;
            }
            run_start = i;
            continue;
        }
        out.push(c);
        i += 1;
        if !local_char(c) {
            run_start = i;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_masked_alone_and_inside_texts() {
        assert_eq!(mask_address("ana.lopez@acme.org"), "a***@acme.org");
        assert_eq!(mask_address("nobody"), "***");
        assert_eq!(
            mask_addresses(
                "550 5.1.1 <ana.lopez@acme.org>: unknown; identities failed: bo+x@b.org, cy@c.org."
            ),
            "550 5.1.1 <a***@acme.org>: unknown; identities failed: b***@b.org, c***@c.org."
        );
        assert_eq!(mask_addresses("no address @ here"), "no address @ here");
        assert_eq!(
            MailError::masked("to élodie@exämple.org").0,
            "to é***@exämple.org"
        );
    }
}
