//! Telling applicants what became of their request, by mail.
//!
//! Each change of a request's state that the applicant should hear about
//! (approved, denied, waitlisted with their place in line, admitted from
//! the waitlist, lapsed) calls [`Provisioner::tell_applicant`] right after
//! the ledger accepted the change, so one change makes one mail: the
//! transitions are single-use conditional writes, and a double click or a
//! replay that changes nothing mails nothing.
//!
//! A mail never fails nor undoes the workflow: a failure is logged (the
//! request's id, never the address) and the workflow carries on. It is
//! awaited, bounded by [`MAIL_TIMEOUT`], rather than spawned: a Lambda
//! freezes after answering, and a spawned send would leave with the next
//! invocation, or never.

use std::time::Duration;

use super::requests::RequestPayload;
use super::workflow::Provisioner;
use crate::notify::mail::{ApplicantEvent, ApplicantNotice, Invitation};
use crate::notify::message::applicant_mail;
use crate::policy::InvitationMode;
use crate::portal::Portal;
use crate::seats::{SeatLedger, SignupRecord};

/// The longest the workflow waits for one applicant's mail.
pub(super) const MAIL_TIMEOUT: Duration = Duration::from_secs(8);

impl<L: SeatLedger, P: Portal> Provisioner<L, P> {
    /// Mails the applicant of `record` about `event`, when a mailer is
    /// wired; see the module's docs.
    pub(super) async fn tell_applicant(&self, record: &SignupRecord, event: ApplicantEvent) {
        let Some(mailer) = &self.approvals.mailer else {
            return;
        };
        let Ok(payload) = serde_json::from_str::<RequestPayload>(&record.payload) else {
            tracing::warn!(request = %record.id, "applicant not told: the request's data is unreadable");
            return;
        };
        let kind = event.kind();
        let notice = ApplicantNotice {
            request_id: record.id.clone(),
            pool: record.key.pool.to_string(),
            first_name: payload.request.first_name.clone(),
            event,
        };
        let mail = applicant_mail(payload.request.email.as_str(), &notice);
        match tokio::time::timeout(MAIL_TIMEOUT, mailer.send(&mail)).await {
            Ok(Ok(())) => {
                tracing::info!(request = %record.id, pool = %record.key.pool, mail = kind, "applicant told")
            }
            Ok(Err(e)) => {
                tracing::warn!(request = %record.id, pool = %record.key.pool, mail = kind, "applicant not told: {e}")
            }
            Err(_) => tracing::warn!(
                request = %record.id,
                pool = %record.key.pool,
                mail = kind,
                "applicant not told: the mail took longer than {} s",
                MAIL_TIMEOUT.as_secs()
            ),
        }
    }

    /// How the pool of `record` lets an approved applicant in (an e-mail
    /// invitation unless the pool makes accounts with a password).
    pub(super) fn invitation_of(&self, record: &SignupRecord) -> Invitation {
        match self
            .policy
            .rules()
            .pool(record.key.pool.as_str())
            .map(|p| p.invitation)
        {
            Some(InvitationMode::Password) => Invitation::PasswordReset,
            Some(InvitationMode::Sso) => Invitation::SingleSignOn,
            Some(InvitationMode::Email) | None => Invitation::Email,
        }
    }
}
