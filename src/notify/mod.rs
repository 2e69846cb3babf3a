//! Telling people: the notification port and its adapters.
//!
//! The workflow tells approvers about a new pending request through
//! [`Notifier`]s, with one-time approve/deny links from a [`LinkMaker`],
//! and tells the same channels about usage alerts ([`AlertNotice`]: a pool
//! or a user type crossing a threshold, reconciliation finding drift), so
//! an organization configures one place where the broker speaks to people.
//! Adapters, one per file:
//!
//! - [`webhook::WebhookNotifier`]: a Slack or Microsoft Teams incoming
//!   webhook (both take `{"text": …}`), or any endpoint that does. The URL is
//!   a secret.
//! - [`sns::SnsNotifier`]: an SNS topic (e-mail subscriptions) declared in
//!   `template.yaml`.
//! - [`log::LogNotifier`]: a log line (always on locally).
//! - [`links::LinkSigner`]: signs the one-time links and checks them when
//!   they come back.
//!
//! [`message`] is the text every channel sends. Failures are logged and never
//! block the sign-up: the request stays pending and visible on the
//! administrator's page.
//!
//! Applicants, who are not members yet, are told about their request by
//! mail: [`mail::Mailer`] (SES, SMTP, the log), with its own texts in
//! [`message::applicant_mail`].

pub mod links;
pub mod log;
pub mod mail;
pub mod message;
pub mod sns;
pub mod webhook;

use std::future::Future;
use std::pin::Pin;

use serde::Serialize;

use crate::domain::{AlertSubject, Crossing, RequestState, UnixMillis};

/// A boxed, sendable future (notifiers are used as trait objects).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A request as the administrator's page and the notifications show it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RequestView {
    /// Request id.
    pub id: String,
    /// Pool.
    pub pool: String,
    /// E-mail.
    pub email: String,
    /// Given name.
    pub first_name: Option<String>,
    /// Family name.
    pub last_name: Option<String>,
    /// Organization.
    pub organization: Option<String>,
    /// Role id it gets.
    pub role: String,
    /// User type it gets.
    pub user_type: String,
    /// Groups it gets.
    pub groups: Vec<String>,
    /// When it arrived.
    pub created_at: UnixMillis,
    /// When it expires.
    pub expires_at: UnixMillis,
    /// Its state.
    pub state: RequestState,
    /// Whether a seat is held for it.
    pub holds_seat: bool,
    /// Place in the waitlist (1 = next), for waitlisted requests.
    pub position: Option<usize>,
}

/// What approvers are told about a new pending request.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ApprovalNotice {
    /// The request.
    pub request: RequestView,
    /// Seats left in the pool after this request's hold.
    pub seats_left: u32,
    /// One-time signed link that approves (after a confirmation page).
    pub approve_url: Option<String>,
    /// One-time signed link that denies (after a confirmation page).
    pub deny_url: Option<String>,
    /// The administrator's page.
    pub admin_url: Option<String>,
}

/// A usage alert: what administrators are told when a pool or a user type
/// crosses a threshold, or reconciliation finds drift. Sent once per
/// crossing (`provisioning::alerts` decides when); the text is
/// [`message::alert_message`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum AlertNotice {
    /// A pool's seats used, or a user type's licences assigned, reached a
    /// threshold (`Crossing::Up`) or fell back under one
    /// (`Crossing::Down`).
    Usage {
        /// The pool or the user type.
        subject: AlertSubject,
        /// Seats used (a pool) or licences assigned (a user type).
        used: u64,
        /// The pool's seats or the user type's licences purchased.
        seats: u64,
        /// Which threshold, which way.
        crossing: Crossing,
    },
    /// Seat reconciliation found differences between the ledger and the
    /// organization.
    Drift {
        /// How many.
        differences: u64,
        /// A few of them in words, for the message (at most
        /// [`message::DRIFT_EXAMPLES`] are shown).
        examples: Vec<String>,
    },
    /// Seat reconciliation found no difference any more, after it had.
    DriftResolved,
}

/// Where approvers and administrators are told (SNS, a Slack/Teams
/// incoming webhook, the log).
pub trait Notifier: Send + Sync {
    /// Sends the notice; failures are logged by the adapter, never fatal.
    fn notify<'a>(&'a self, notice: &'a ApprovalNotice) -> BoxFuture<'a, ()>;

    /// Sends a usage alert; failures are logged by the adapter, never
    /// fatal (the alert is then not sent again: see
    /// `provisioning::alerts`).
    fn alert<'a>(&'a self, notice: &'a AlertNotice) -> BoxFuture<'a, ()>;
}

/// Makes the one-time approval links.
pub trait LinkMaker: Send + Sync {
    /// `(approve_url, deny_url)` for a request, valid until `expires_at`.
    fn links(&self, id: &str, expires_at: UnixMillis) -> (String, String);
    /// The administrator's page.
    fn admin_url(&self) -> String;
}
