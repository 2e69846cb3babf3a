//! Carrying a lifecycle plan out ([`super::lifecycle`]): members warned,
//! seats ended in the portal with the pool's action and given back through
//! the claim state machine, the waitlist admitted, everything audited and
//! reported.
//!
//! The order per seat, and why:
//! - **Warn**: the portal e-mails the member, then the warning is recorded
//!   (`warned_at`). A notice the portal refused is not recorded, so the
//!   next run tries again.
//! - **End**: the member is told first (a deleted member can no longer be
//!   reached through the portal), then the portal action, then the seat:
//!   - `downgrade`: role first, then user type (the portal refuses a user
//!     type the current role does not fit); the licence is freed, so the
//!     seat is given back;
//!   - `delete`: the licence is freed, the seat given back; refused because
//!     the member owns content → disabled instead, and said so;
//!   - `disable` (chosen, or the fallback): the portal still counts a
//!     disabled member against its user type (fact sheet §6), so the seat
//!     stays held until the member is deleted; later plans skip it.
//!
//!   A portal call that fails or whose outcome was not seen leaves the
//!   claim ACTIVE: unknown is not failed, and every action here is safe to
//!   repeat on the next run (a downgraded member is downgraded again, a
//!   disabled one disabled again).
//! - Every transition expects the claim exactly as the plan read it, so
//!   an administrator's extension between the plan and the end wins; the
//!   claim is read again just before the portal action to keep that window
//!   small.
//! - Each pool that got seats back admits its waitlist.

use std::collections::BTreeSet;

use super::lifecycle::{EndReason, LifecyclePlan, PlanError, Planned, Skip, Step, read_plan};
use super::workflow::Provisioner;
use crate::domain::date::Day;
use crate::domain::{ClaimKey, UnixMillis};
use crate::policy::lifecycle::{Downgrade, EndAction};
use crate::portal::{OWNS_CONTENT, Portal, PortalError};
use crate::queue::JobSink;
use crate::seats::{Claim, ClaimState, SeatLedger};

/// The actor the scheduled run writes in the audit trail.
pub const SCHEDULE_ACTOR: &str = "system:lifecycle";

/// What was done to one seat.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Done {
    /// The member was told the seat ends at `ends_at`, and it is recorded.
    Warned {
        /// The seat's end.
        ends_at: UnixMillis,
    },
    /// Downgraded in the portal; the seat was given back.
    Downgraded {
        /// The role and user type given.
        to: Downgrade,
    },
    /// Deleted in the portal; the seat was given back.
    Deleted,
    /// Disabled in the portal; the seat stays held (the portal still counts
    /// the member).
    Disabled {
        /// Set when a deletion was refused because the member owns content.
        owns_content: bool,
    },
    /// Nothing changed: why (the portal refused or did not answer, the
    /// claim changed meanwhile, the store failed). The next run tries again.
    NotDone {
        /// What went wrong, for the administrator.
        why: String,
    },
}

impl Done {
    /// Whether the seat came back to its pool.
    pub fn seat_returned(&self) -> bool {
        matches!(self, Done::Downgraded { .. } | Done::Deleted)
    }
}

/// What carrying one seat's step out came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied {
    /// The seat and its step, as planned.
    pub planned: Planned<Step>,
    /// What happened.
    pub done: Done,
    /// Whether the member was told (a notice the portal refused is logged
    /// and reported, never fatal for an end).
    pub told: bool,
}

/// What a lifecycle run did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LifecycleReport {
    /// Each step carried out (or not), in plan order.
    pub applied: Vec<Applied>,
    /// Seats left alone, and why.
    pub skipped: Vec<Planned<Skip>>,
    /// People admitted from the waitlists into the seats given back.
    pub admitted: u32,
}

impl LifecycleReport {
    /// Seats given back to their pools.
    pub fn seats_returned(&self) -> usize {
        self.applied
            .iter()
            .filter(|a| a.done.seat_returned())
            .count()
    }
}

/// The report as an administrator reads it, one line per seat.
pub fn render_report(report: &LifecycleReport) -> String {
    let mut out = String::new();
    for a in &report.applied {
        let p = &a.planned;
        let what = match &a.done {
            Done::Warned { ends_at } => format!("warned: the seat ends {}", end_day(*ends_at)),
            Done::Downgraded { to } => format!(
                "downgraded to role {} and user type {}; seat given back",
                to.role, to.user_type
            ),
            Done::Deleted => "deleted; seat given back".to_string(),
            Done::Disabled { owns_content: true } => {
                "disabled, not deleted: the member owns content; the seat stays held until it is moved and the member deleted".to_string()
            }
            Done::Disabled {
                owns_content: false,
            } => "disabled; the seat stays held while the portal counts the member".to_string(),
            Done::NotDone { why } => format!("NOT DONE ({why}): tried again on the next run"),
        };
        let reason = match &p.what {
            Step::End { reason, .. } => format!(" [{reason}]"),
            Step::Warn { .. } => String::new(),
        };
        let told = if a.told || matches!(a.done, Done::NotDone { .. }) {
            ""
        } else {
            " (the member was NOT told: the portal refused the notice)"
        };
        out.push_str(&format!(
            "{:<12} {:<24} {what}{reason}{told}\n",
            p.pool.as_str(),
            p.username
        ));
    }
    for s in &report.skipped {
        out.push_str(&format!(
            "{:<12} {:<24} skipped: {}\n",
            s.pool.as_str(),
            s.username,
            s.what.as_str()
        ));
    }
    if report.admitted > 0 {
        out.push_str(&format!(
            "{} waiting {} admitted into the seats given back.\n",
            report.admitted,
            if report.admitted == 1 {
                "person was"
            } else {
                "people were"
            }
        ));
    }
    if out.is_empty() {
        out.push_str("Nothing to do: no seat is due for a warning, an end or reclaiming.\n");
    }
    out
}

/// The last day of a seat ending at `ends_at` (exclusive).
fn end_day(ends_at: UnixMillis) -> Day {
    Day::of(ends_at.saturating_sub(1))
}

impl<L: SeatLedger, P: Portal> Provisioner<L, P> {
    /// Plans the seat's life today and carries the plan out (what the
    /// scheduled run and `reclaim` do). `broker` is the broker's own
    /// account, never touched.
    pub async fn run_lifecycle(
        &self,
        broker: &str,
        jobs: Option<&dyn JobSink>,
        actor: &str,
        now: UnixMillis,
    ) -> Result<LifecycleReport, PlanError> {
        let plan = read_plan(
            &*self.ledger,
            &*self.portal,
            self.policy.rules(),
            broker,
            now,
        )
        .await?;
        Ok(self.carry_out(plan, jobs, actor, now).await)
    }

    /// Carries `plan` out; see the module docs for the order and the
    /// guarantees. Never fails as a whole: each seat's outcome is in the
    /// report.
    pub async fn carry_out(
        &self,
        plan: LifecyclePlan,
        jobs: Option<&dyn JobSink>,
        actor: &str,
        now: UnixMillis,
    ) -> LifecycleReport {
        let mut report = LifecycleReport {
            skipped: plan.skipped,
            ..LifecycleReport::default()
        };
        let mut freed = BTreeSet::new();
        for planned in plan.steps {
            let (done, told) = match &planned.what {
                Step::Warn { ends_at } => self.warn(&planned, *ends_at, now).await,
                Step::End {
                    reason,
                    action,
                    downgrade_to,
                } => {
                    self.end(&planned, reason, *action, downgrade_to.as_ref())
                        .await
                }
            };
            self.audit_applied(&planned, &done, told, actor, now).await;
            if done.seat_returned() {
                freed.insert(planned.pool.clone());
            }
            report.applied.push(Applied {
                planned,
                done,
                told,
            });
        }
        for pool in freed {
            report.admitted += self.admit_waitlisted(&pool, jobs, now).await;
        }
        report
    }

    /// Tells the member, then records the warning.
    async fn warn(&self, p: &Planned<Step>, ends_at: UnixMillis, now: UnixMillis) -> (Done, bool) {
        let (subject, message) = warning_text(p, ends_at);
        if let Err(e) = self
            .portal
            .send_notification(std::slice::from_ref(&p.username), &subject, &message)
            .await
        {
            tracing::warn!(pool = %p.pool, username = %p.username, "expiry warning not sent: {e}");
            return (
                Done::NotDone {
                    why: format!("the portal did not send the warning: {}", short(&e)),
                },
                false,
            );
        }
        match self.record_warning(&p.claim, now).await {
            Ok(true) => (Done::Warned { ends_at }, true),
            Ok(false) => (
                Done::NotDone {
                    why: "warned, but the seat changed meanwhile (extended or ended)".into(),
                },
                true,
            ),
            Err(e) => {
                tracing::error!("lifecycle: recording a warning: {e}");
                (
                    Done::NotDone {
                        why: "warned, but the store did not record it".into(),
                    },
                    true,
                )
            }
        }
    }

    /// Ends one seat: the member told, the portal action, the seat.
    async fn end(
        &self,
        p: &Planned<Step>,
        reason: &EndReason,
        action: EndAction,
        downgrade_to: Option<&Downgrade>,
    ) -> (Done, bool) {
        // The claim again, just before acting: an extension or another run
        // since the plan wins.
        match self.ledger.claim(&p.claim.key).await {
            Ok(Some(c)) if c == p.claim => {}
            Ok(_) => {
                return (
                    Done::NotDone {
                        why: "the seat changed since the plan (extended, ended or moved)".into(),
                    },
                    false,
                );
            }
            Err(e) => {
                tracing::error!("lifecycle: reading a claim: {e}");
                return (
                    Done::NotDone {
                        why: "the store could not be read".into(),
                    },
                    false,
                );
            }
        }
        let (subject, message) = end_text(p, reason, action);
        let told = match self
            .portal
            .send_notification(std::slice::from_ref(&p.username), &subject, &message)
            .await
        {
            Ok(()) => true,
            Err(e) => {
                tracing::warn!(pool = %p.pool, username = %p.username, "end notice not sent: {e}");
                false
            }
        };
        let acted = match (action, downgrade_to) {
            (EndAction::Downgrade, Some(to)) => self.downgrade(&p.username, to).await,
            (EndAction::Downgrade, None) => Err("no downgrade target in the rules".to_string()),
            (EndAction::Delete, _) => self.delete_or_disable(&p.username).await,
            (EndAction::Disable, _) => self
                .portal
                .disable(&p.username)
                .await
                .map(|()| Done::Disabled {
                    owns_content: false,
                })
                .map_err(|e| format!("the portal did not disable the member: {}", short(&e))),
        };
        let done = match acted {
            Ok(done) if done.seat_returned() => match self.end_claim(&p.claim).await {
                Ok(true) => done,
                Ok(false) => Done::NotDone {
                    why: "ended in the portal, but the seat changed meanwhile: check the member"
                        .into(),
                },
                Err(e) => {
                    tracing::error!("lifecycle: giving a seat back: {e}");
                    Done::NotDone {
                        why: "ended in the portal, but the store did not give the seat back (the next run does)".into(),
                    }
                }
            },
            Ok(done) => done,
            Err(why) => Done::NotDone { why },
        };
        (done, told)
    }

    /// Role first, then user type: the portal refuses a user type the
    /// current role does not fit. A change whose answer was lost is looked
    /// up: the member as the portal shows it settles it.
    async fn downgrade(&self, username: &str, to: &Downgrade) -> Result<Done, String> {
        let looked_up = |e: PortalError, what: &'static str| async move {
            if matches!(e, PortalError::Unanswered(_))
                && let Ok(Some(m)) = self.portal.member(username).await
                && m.role.as_deref() == Some(to.role.as_str())
                && (what == "role" || m.user_type.as_deref() == Some(to.user_type.as_str()))
            {
                return Ok(());
            }
            Err(format!(
                "the portal did not change the {what}: {}",
                short(&e)
            ))
        };
        if let Err(e) = self.portal.update_role(username, &to.role).await {
            looked_up(e, "role").await?;
        }
        if let Err(e) = self.portal.update_user_type(username, &to.user_type).await {
            looked_up(e, "user type").await?;
        }
        Ok(Done::Downgraded { to: to.clone() })
    }

    /// Deletes the member; disables it instead when it owns content. A
    /// deletion whose answer was lost is looked up: a member no longer
    /// there was deleted.
    async fn delete_or_disable(&self, username: &str) -> Result<Done, String> {
        match self.portal.delete_member(username).await {
            Ok(()) => Ok(Done::Deleted),
            Err(PortalError::Unanswered(e)) => match self.portal.member(username).await {
                Ok(None) => Ok(Done::Deleted),
                Ok(Some(_)) => Err(
                    "the portal did not answer the deletion, and the member is still there".into(),
                ),
                Err(_) => Err(format!(
                    "the portal did not delete the member: {}",
                    short(&PortalError::Unanswered(e))
                )),
            },
            Err(PortalError::Rejected { code, .. }) if code == OWNS_CONTENT => self
                .portal
                .disable(username)
                .await
                .map(|()| Done::Disabled { owns_content: true })
                .map_err(|e| {
                    format!(
                        "owns content, so not deleted, and the portal did not disable it: {}",
                        short(&e)
                    )
                }),
            Err(e) => Err(format!(
                "the portal did not delete the member: {}",
                short(&e)
            )),
        }
    }

    /// One audit event per seat: what was done, why, and whether the
    /// member was told.
    async fn audit_applied(
        &self,
        p: &Planned<Step>,
        done: &Done,
        told: bool,
        actor: &str,
        now: UnixMillis,
    ) {
        let action = match done {
            Done::Warned { .. } => "seat.warned",
            Done::Downgraded { .. } => "seat.downgraded",
            Done::Deleted => "seat.deleted",
            Done::Disabled { .. } => "seat.disabled",
            Done::NotDone { .. } => "seat.end_failed",
        };
        let why = match &p.what {
            Step::Warn { ends_at } => format!("ends {}", end_day(*ends_at)),
            Step::End { reason, .. } => reason.to_string(),
        };
        let result = match done {
            Done::NotDone { why } => why.clone(),
            Done::Disabled { owns_content: true } => "owns content: disabled, not deleted".into(),
            d if d.seat_returned() => "seat given back".into(),
            _ => String::new(),
        };
        let told = if told { "told" } else { "not told" };
        let detail = [format!("{} ({why})", p.username), result, told.to_string()]
            .into_iter()
            .filter(|part| !part.is_empty())
            .collect::<Vec<_>>()
            .join("; ");
        self.audit(actor, action, &p.claim.key, detail, now).await;
    }
}

/// Why an administrator's action on one seat was refused; each has a
/// stable code for the admin page and the CLI.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SeatActionError {
    /// No claim for that person in that pool.
    #[error("no seat for that person in that pool")]
    NotFound,
    /// The claim is not ACTIVE (its member is still being created, or
    /// waits for approval).
    #[error("the seat is not active yet")]
    NotActive,
    /// The claim changed between the read and the write: try again.
    #[error("the seat changed meanwhile: try again")]
    Changed,
    /// The pool has no lifecycle, so no end action to reclaim with.
    #[error("pool {0} has no [pools.lifecycle] at_end action to reclaim with")]
    NoLifecycle(String),
    /// The new end is not in the future.
    #[error("the new end must be in the future")]
    EndInPast,
    /// The seat belongs to someone the lifecycle never touches: the
    /// broker's own account, an administrator, or a member on the
    /// `[lifecycle] keep` list (the reason says which).
    #[error("{0}: never reclaimed")]
    Protected(String),
    /// The portal could not say whether the member may be reclaimed.
    #[error("the portal is unavailable")]
    PortalUnavailable,
    /// The store failed.
    #[error("the store is unavailable")]
    Store,
}

impl SeatActionError {
    /// The stable code.
    pub fn code(&self) -> &'static str {
        match self {
            SeatActionError::NotFound => "seat_not_found",
            SeatActionError::NotActive => "seat_not_active",
            SeatActionError::Changed => "seat_changed",
            SeatActionError::NoLifecycle(_) => "no_lifecycle",
            SeatActionError::EndInPast => "end_in_past",
            SeatActionError::Store => "store_unavailable",
            SeatActionError::Protected(_) => "seat_protected",
            SeatActionError::PortalUnavailable => "portal_unavailable",
        }
    }
}

impl<L: SeatLedger, P: Portal> Provisioner<L, P> {
    /// Refuses a reclaim the daily run would never make (the plan's
    /// `Skip`s): a member on the `[lifecycle] keep` list (no portal call),
    /// the broker's own account (`community/self`), or an administrator
    /// (the member's role is `org_admin`, or a custom role with an
    /// administrative privilege: `portals/self/roles` read only then). A
    /// member the portal does not know is left to the reclaim itself.
    async fn never_reclaimed(&self, username: &str) -> Result<(), SeatActionError> {
        let lower = username.to_lowercase();
        if self.policy.rules().keep.contains(&lower) {
            return Err(SeatActionError::Protected(format!(
                "{username} is on the [lifecycle] keep list"
            )));
        }
        let unavailable = |e: PortalError| {
            tracing::warn!("reclaim now: the portal could not say who {username} is: {e}");
            SeatActionError::PortalUnavailable
        };
        let broker = self.portal.signed_in_account().await.map_err(unavailable)?;
        if broker.username.eq_ignore_ascii_case(username) {
            return Err(SeatActionError::Protected(format!(
                "{username} is the broker's own account"
            )));
        }
        let Some(member) = self.portal.member(username).await.map_err(unavailable)? else {
            return Ok(());
        };
        let role = member.role.unwrap_or_default();
        let admin = role == "org_admin"
            || (!role.starts_with("org_")
                && !role.is_empty()
                && self
                    .portal
                    .roles()
                    .await
                    .map_err(unavailable)?
                    .iter()
                    .any(|r| {
                        r.id == role && r.privileges.iter().flatten().any(|p| p.contains(":admin:"))
                    }));
        if admin {
            return Err(SeatActionError::Protected(format!(
                "{username} is an organization administrator"
            )));
        }
        Ok(())
    }

    /// The ACTIVE claim of `key`, or why not.
    async fn active_claim(&self, key: &ClaimKey) -> Result<Claim, SeatActionError> {
        match self.ledger.claim(key).await {
            Ok(Some(c)) if c.state == ClaimState::Active => Ok(c),
            Ok(Some(_)) => Err(SeatActionError::NotActive),
            Ok(None) => Err(SeatActionError::NotFound),
            Err(e) => {
                tracing::error!("seat action: reading a claim: {e}");
                Err(SeatActionError::Store)
            }
        }
    }

    /// An administrator moves the end of the seat of `key` to `until`
    /// (the end of that instant; callers pass the end of a day): recorded
    /// on the claim, audited with the previous end, and the member will be
    /// warned again before the new one.
    pub async fn extend_seat(
        &self,
        key: &ClaimKey,
        until: UnixMillis,
        actor: &str,
        now: UnixMillis,
    ) -> Result<Claim, SeatActionError> {
        if until <= now {
            return Err(SeatActionError::EndInPast);
        }
        let read = self.active_claim(key).await?;
        let previous = self
            .policy
            .rules()
            .pool(key.pool.as_str())
            .and_then(|p| p.lifecycle.as_ref())
            .and_then(|lc| {
                lc.ends_at(
                    read.activated_at().unwrap_or(read.updated_at),
                    read.extended_until,
                )
            });
        let extended = match self.extend_claim(&read, until, now).await {
            Ok(Some(c)) => c,
            Ok(None) => return Err(SeatActionError::Changed),
            Err(e) => {
                tracing::error!("seat action: extending: {e}");
                return Err(SeatActionError::Store);
            }
        };
        let was = previous.map_or("no end".to_string(), |e| format!("was {}", end_day(e)));
        let detail = format!(
            "{} extended until {} ({was})",
            read.username.as_deref().unwrap_or("?"),
            end_day(until)
        );
        self.audit(actor, "seat.extended", key, detail, now).await;
        Ok(extended)
    }

    /// An administrator ends the seat of `key` now, with its pool's end
    /// action, exactly as the scheduled run would (the member told, the
    /// portal action, the seat given back, the waitlist admitted).
    pub async fn reclaim_seat_now(
        &self,
        key: &ClaimKey,
        jobs: Option<&dyn JobSink>,
        actor: &str,
        now: UnixMillis,
    ) -> Result<LifecycleReport, SeatActionError> {
        let lc = self
            .policy
            .rules()
            .pool(key.pool.as_str())
            .and_then(|p| p.lifecycle.clone())
            .ok_or_else(|| SeatActionError::NoLifecycle(key.pool.to_string()))?;
        let read = self.active_claim(key).await?;
        let username = read.username.clone().unwrap_or_default();
        self.never_reclaimed(&username).await?;
        let step = Planned {
            pool: key.pool.clone(),
            person: key.person.clone(),
            claim_id: read.claim_id.clone(),
            username,
            claim: read,
            what: Step::End {
                reason: EndReason::Reclaimed {
                    by: actor.to_string(),
                },
                action: lc.at_end,
                downgrade_to: lc.downgrade_to.clone(),
            },
        };
        let plan = LifecyclePlan {
            steps: vec![step],
            skipped: Vec::new(),
        };
        Ok(self.carry_out(plan, jobs, actor, now).await)
    }
}

/// A portal error in a few words (the portal's own text can be long; the
/// full error is in the log).
fn short(e: &PortalError) -> String {
    match e {
        PortalError::Unavailable(_) => "unavailable".into(),
        PortalError::Unanswered(_) => "no answer (it may have been done)".into(),
        PortalError::Auth(_) => "the administrator's credentials were refused".into(),
        PortalError::NotInvited { .. } => "refused".into(),
        PortalError::Rejected { code, .. } => format!("refused ({code})"),
        PortalError::Config(_) => "misconfigured".into(),
        PortalError::Protocol(_) => "an unexpected answer".into(),
    }
}

/// The warning's subject and text.
pub fn warning_text(p: &Planned<Step>, ends_at: UnixMillis) -> (String, String) {
    (
        format!(
            "Your ArcGIS Online access ({}) ends on {}",
            p.pool,
            end_day(ends_at)
        ),
        format!(
            "Hello,\n\nyour ArcGIS Online account {} ({}) has access until the end of {} (UTC). After that it is ended as the project's rules say.\n\nIf you still need it, ask the project's administrator to extend it.",
            p.username,
            p.pool,
            end_day(ends_at)
        ),
    )
}

/// The end notice's subject and text.
pub fn end_text(p: &Planned<Step>, reason: &EndReason, action: EndAction) -> (String, String) {
    let what = match action {
        EndAction::Downgrade => "changed to a lower access level",
        EndAction::Disable => "disabled",
        EndAction::Delete => "removed (or disabled if you own content)",
    };
    (
        format!("Your ArcGIS Online access ({}) has ended", p.pool),
        format!(
            "Hello,\n\nyour ArcGIS Online account {} ({}) is being {what}: {reason}.\n\nIf you still need access, sign up again or ask the project's administrator.",
            p.username, p.pool
        ),
    )
}
