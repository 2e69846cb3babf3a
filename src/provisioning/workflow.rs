//! [`Provisioner`]: the workflow's one struct, holding the ports it drives,
//! the policy, the tunables, the clock and the id source.
//!
//! Its methods are spread over the files of `provisioning`, one concern
//! each (sign-up, jobs, approval, waitlist, recovery, queries); this file
//! holds only the struct, its wiring and the two helpers every concern
//! uses (the grant with overrides applied, the audit trail).

use std::sync::Arc;

use crate::clock::Clock;
use crate::config::WorkflowSettings;
use crate::domain::{ApprovalMode, ClaimKey, Overrides, SignupRequest, UnixMillis};
use crate::ids::Ids;
use crate::notify::mail::Mailer;
use crate::notify::{LinkMaker, Notifier};
use crate::policy::{Grant, Policy, Rejection};
use crate::portal::Portal;
use crate::seats::{AuditEvent, SeatLedger, SignInThrottle};

/// The approval step's outside connections.
#[derive(Clone, Default)]
pub struct ApprovalWiring {
    /// Where approvers are told.
    pub notifiers: Vec<Arc<dyn Notifier>>,
    /// Signed links, when a public URL and a link key are configured.
    pub links: Option<Arc<dyn LinkMaker>>,
    /// Where applicants are told what became of their request (approved,
    /// denied, waitlisted, admitted, lapsed); none: they are not told.
    pub mailer: Option<Arc<dyn Mailer>>,
}

/// Drives sign-ups, jobs, decisions and sweeps through the ports.
pub struct Provisioner<L, P> {
    pub(super) ledger: Arc<L>,
    pub(super) portal: Arc<P>,
    pub(super) policy: Arc<Policy>,
    pub(super) settings: WorkflowSettings,
    pub(super) approvals: ApprovalWiring,
    /// Where the workers and sweeps read the time (callers pass `now` in).
    pub(super) clock: Clock,
    /// Where claim ids, request ids and generated passwords come from.
    pub(super) ids: Ids,
    /// The organization's licence counts as last read for `/status`, and
    /// when (see `reconcile::Provisioner::license_check`).
    pub(super) licenses: LicenseCache,
}

/// Licence counts read at a time, or why they could not be read.
pub(super) type LicenseCache =
    Arc<std::sync::Mutex<Option<(UnixMillis, Result<crate::portal::LicenseCounts, String>)>>>;

impl<L: SeatLedger, P: Portal> Provisioner<L, P> {
    /// Wires the workflow, with the system clock and random ids (see
    /// [`Self::with_clock`], [`Self::with_ids`]) and no approval notices.
    pub fn new(
        ledger: Arc<L>,
        portal: Arc<P>,
        policy: Arc<Policy>,
        settings: WorkflowSettings,
    ) -> Self {
        Provisioner {
            ledger,
            portal,
            policy,
            settings,
            approvals: ApprovalWiring::default(),
            clock: Clock::system(),
            ids: Ids::random(),
            licenses: LicenseCache::default(),
        }
    }

    /// Connects the approval step to its notifiers and link maker.
    pub fn with_approvals(mut self, wiring: ApprovalWiring) -> Self {
        self.approvals = wiring;
        self
    }

    /// Reads the time from `clock` (the wiring passes the process's one
    /// clock; tests a manual one).
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// Draws ids and passwords from `ids`.
    pub fn with_ids(mut self, ids: Ids) -> Self {
        self.ids = ids;
        self
    }

    /// The clock the workflow's own loops (workers, sweeps) read.
    pub fn clock(&self) -> &Clock {
        &self.clock
    }

    /// The policy (its rules name the pools).
    pub fn policy(&self) -> &Arc<Policy> {
        &self.policy
    }

    /// The administrator's sign-in counts in the ledger (the sign-in
    /// throttle of `entrypoints/http/admin`). The one port the workflow
    /// hands to a route as it is: counting sign-in attempts changes no seat,
    /// request or member, so there is no rule of the workflow to apply.
    pub fn sign_ins(&self) -> &impl SignInThrottle {
        &*self.ledger
    }

    /// The policy's grant with the overrides applied.
    pub(super) fn grant_for(
        &self,
        req: &SignupRequest,
        overrides: &Overrides,
    ) -> Result<Grant, Rejection> {
        let mut grant = self.policy.grant(req)?;
        grant.apply(overrides);
        Ok(grant)
    }

    /// When a request closed at `now` may be deleted with its personal
    /// data: `now` plus the configured retention (saturating, so an absurd
    /// setting means "kept", never a time in the past).
    pub(super) fn closed_request_retained_until(&self, now: UnixMillis) -> UnixMillis {
        let retention =
            i64::try_from(self.settings.request_retention.as_millis()).unwrap_or(i64::MAX);
        now.saturating_add(retention)
    }

    /// The audit record of `action` on the claim `key` by `actor`.
    pub(super) fn audit_event(
        &self,
        actor: &str,
        action: &str,
        key: &ClaimKey,
        detail: String,
        now: UnixMillis,
    ) -> AuditEvent {
        AuditEvent {
            at: now,
            actor: actor.to_string(),
            action: action.to_string(),
            pool: Some(key.pool.to_string()),
            person: Some(key.person.clone()),
            detail,
        }
    }

    /// Appends to the audit trail; a failure is logged, never fatal.
    pub(super) async fn audit(
        &self,
        actor: &str,
        action: &str,
        key: &ClaimKey,
        detail: String,
        now: UnixMillis,
    ) {
        let event = self.audit_event(actor, action, key, detail, now);
        self.record_audit(&event).await;
    }

    /// Appends `event` to the audit trail; a failure is logged, never the
    /// caller's failure.
    pub(super) async fn record_audit(&self, event: &AuditEvent) {
        if let Err(e) = self.ledger.audit(event).await {
            tracing::warn!(action = %event.action, "audit trail: {e}");
        }
    }
}

/// The approval mode after a source's override.
pub(super) fn effective_approval(overrides: &Overrides, grant: &Grant) -> ApprovalMode {
    overrides.approval.unwrap_or(grant.approval)
}
