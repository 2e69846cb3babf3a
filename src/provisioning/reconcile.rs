//! Reconciliation (issue 14): the ledger compared with the organization,
//! and the ledger repaired where the portal changed behind the broker's
//! back.
//!
//! Why: the ledger is the broker's promise ("never more members than
//! seats"), but an administrator can delete a member, change a user type,
//! invite someone by hand, and an e-mail invitation can lapse unaccepted.
//! Each leaves the ledger holding seats for nobody, or the organization
//! using licences no pool counts. [`plan`] is pure: the claims of every pool,
//! the portal's members and pending invitations and its licence counts in,
//! a [`ReconcilePlan`] out, one [`Difference`] per finding with the
//! [`Action`] it calls for. [`read_plan`] reads those inputs;
//! [`Provisioner::apply_reconcile`] carries a plan out, only through the
//! claim state machine (`claims.rs`), and writes every difference to the
//! audit trail.
//!
//! The rules it follows:
//! - **Only ACTIVE claims are judged.** A RESERVED claim (in flight,
//!   queued, held for approval, outcome unknown) is the sweeper's or its
//!   job's; its intended username still counts as the broker's, so a member
//!   being created now is never "outside".
//! - **Member gone** (no member, no live pending invitation under the
//!   claim's username): the seat is released, expecting the claim exactly as
//!   read (id, ACTIVE, `updated_at`), and only after a second look-up of the
//!   member and of its invitation finds nothing (the paged listings are best
//!   effort against an organization that changes while they are read).
//! - **An invitation the portal still lists but whose expiry has passed**
//!   counts as gone: its seat is free in the portal, so it is freed here.
//! - **User type or role changed outside the broker**: reported only. The
//!   broker does not undo an administrator's decision, and the member still
//!   holds the pool's seat; the report says what to do.
//! - **Members and invitations outside the broker** (no claim names them):
//!   reported, or adopted into the first pool (rules order) whose
//!   `email_domains` match the member's e-mail and whose user type is the
//!   member's, when that pool says `[pools.reconcile] adopt = true`.
//!   Adoption takes a seat (reserve, then confirm), so a full pool is
//!   reported instead; administrators, disabled members, the broker's own
//!   account and people who already hold a claim in that pool are never
//!   adopted.
//! - **Licences** ([`capacity`]): per user type, the seats the pools
//!   promise against the licences purchased minus those assigned outside
//!   the broker. Over-promising is reported (here, in `check-rules` with a
//!   portal, and in `GET /status`), not enforced: how to share the shortfall
//!   between pools is the administrator's decision, and the portal refuses
//!   an invitation it has no licence for anyway (the seat is given back).
//!
//! Read order matters: the claims first, then the invitations, then the
//! members. A claim activated after the claims were read is not judged; an
//! invitation accepted between the two portal reads is seen as a member.
//!
//! Running it twice in a row changes nothing the second time: a released
//! claim is gone, an adopted member holds a claim, and what is only
//! reported changes nothing.

use std::collections::{BTreeMap, HashMap, HashSet};

use serde::Serialize;

use super::workflow::Provisioner;
use crate::domain::{ClaimKey, Email, PoolId, UnixMillis};
use crate::policy::{Pool, Rules};
use crate::portal::{
    LicenseCounts, Member, Members, OrgAdmin, PendingInvitation, Portal, PortalError,
};
use crate::seats::{AuditEvent, Claim, ClaimState, ClaimStore, LedgerError, Reservation};

/// The base role of organization administrators (a custom administrator
/// role shows its base level too: fact sheet §6, role fields).
const ORG_ADMIN: &str = "org_admin";

/// What the portal said when reconciliation read it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct OrgSnapshot {
    /// Every member (`portals/self/users`, all pages).
    pub members: Vec<Member>,
    /// Every pending invitation naming a username
    /// (`portals/self/invitations`, all pages).
    pub invitations: Vec<PendingInvitation>,
    /// Purchased and assigned licences per user type.
    pub licenses: LicenseCounts,
}

/// What a difference calls for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// The ACTIVE claim is released and its seat given back.
    Release,
    /// The member is adopted: a seat of the pool is reserved and confirmed
    /// under the member's username.
    Adopt,
    /// Nothing is changed; the difference is reported.
    Report,
}

impl Action {
    /// The word the report prints.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Release => "release",
            Action::Adopt => "adopt",
            Action::Report => "report",
        }
    }
}

/// What differs between the ledger and the organization.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Kind {
    /// An ACTIVE claim whose member is neither a member nor a pending
    /// invitation (deleted, or an e-mail invitation that lapsed unaccepted).
    MemberGone,
    /// An ACTIVE claim whose member is only a pending invitation that the
    /// portal still lists but whose expiry has passed.
    InvitationExpired {
        /// When it lapsed.
        expired_at: UnixMillis,
    },
    /// A member of a pool whose user type is no longer the pool's.
    UserTypeChanged {
        /// The pool's user type.
        expected: String,
        /// The member's.
        actual: String,
    },
    /// A member of a pool whose role is no longer the pool's.
    RoleChanged {
        /// The pool's role id.
        expected: String,
        /// The member's.
        actual: String,
    },
    /// A member no claim names.
    OutsideMember {
        /// The member's user type, when reported.
        user_type: Option<String>,
        /// The member's role, when reported.
        role: Option<String>,
    },
    /// A pending invitation no claim names: it holds a licence.
    OutsideInvitation {
        /// Its user type, when reported.
        user_type: Option<String>,
    },
}

/// One finding and what it calls for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Difference {
    /// What differs.
    #[serde(flatten)]
    pub kind: Kind,
    /// What is done about it.
    pub action: Action,
    /// The pool concerned: the claim's, or the pool adopting the member.
    pub pool: Option<PoolId>,
    /// The member's username.
    pub username: String,
    /// The person key (lower-cased e-mail) of the claim, or the one an
    /// adoption creates; `None` when unknown.
    pub person: Option<String>,
    /// The ACTIVE claim as read (for a release: what the transition
    /// expects).
    #[serde(skip)]
    pub claim: Option<Claim>,
    /// Why, in a sentence for the administrator.
    pub detail: String,
}

/// Licences of one user type against what the pools promise.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TypeCapacity {
    /// The user type id.
    pub user_type: String,
    /// The pools of this type, in rules order.
    pub pools: Vec<String>,
    /// Seats the pools promise (their `seats`, summed).
    pub promised: u64,
    /// Licences purchased.
    pub purchased: u64,
    /// Licences assigned (members and pending invitations).
    pub assigned: u64,
    /// Of those, held by the broker's members.
    pub broker_held: u64,
    /// Assigned outside the broker (`assigned - broker_held`).
    pub outside: u64,
    /// What the pools can have at most (`purchased - outside`, never
    /// negative).
    pub available: u64,
}

impl TypeCapacity {
    /// Whether the pools promise more than the organization can give.
    pub fn over_promised(&self) -> bool {
        self.promised > self.available
    }

    /// The warning line `check-rules`, `/status` and the report print.
    pub fn warning(&self) -> Option<String> {
        self.over_promised().then(|| {
            format!(
                "pools {} promise {} seats of user type {} but the organization has {} (purchased {} minus {} assigned outside the broker)",
                self.pools.join(", "),
                self.promised,
                self.user_type,
                self.available,
                self.purchased,
                self.outside
            )
        })
    }
}

/// Everything reconciliation found.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ReconcilePlan {
    /// The differences: claims in rules order of their pools, then members
    /// outside the broker, then invitations outside it, each by username.
    pub differences: Vec<Difference>,
    /// Licences per user type of the pools, in rules order.
    pub capacity: Vec<TypeCapacity>,
}

impl ReconcilePlan {
    /// The differences that change something (release, adopt).
    pub fn actions(&self) -> impl Iterator<Item = &Difference> {
        self.differences
            .iter()
            .filter(|d| d.action != Action::Report)
    }
}

/// Licences per user type of the pools: what each type's pools promise
/// against `purchased - (assigned - broker_held)`. `broker_held` is, per
/// user type, how many of the assigned licences the broker's members hold
/// (reconciliation counts them from the member list; `/status` and
/// `check-rules` from the ACTIVE claims of the type's pools). A user type
/// the portal does not list has no licence.
pub fn capacity(
    rules: &Rules,
    licenses: &LicenseCounts,
    broker_held: &BTreeMap<String, u64>,
) -> Vec<TypeCapacity> {
    let mut out: Vec<TypeCapacity> = Vec::new();
    for pool in &rules.pools {
        if let Some(t) = out.iter_mut().find(|t| t.user_type == pool.user_type) {
            t.pools.push(pool.id.to_string());
            t.promised = t.promised.saturating_add(u64::from(pool.seats));
            continue;
        }
        let (purchased, assigned) = licenses
            .types
            .iter()
            .find(|(id, _, _)| *id == pool.user_type)
            .map(|(_, p, a)| (*p, *a))
            .unwrap_or((0, 0));
        let held = broker_held
            .get(&pool.user_type)
            .copied()
            .unwrap_or(0)
            .min(assigned);
        let outside = assigned - held;
        out.push(TypeCapacity {
            user_type: pool.user_type.clone(),
            pools: vec![pool.id.to_string()],
            promised: u64::from(pool.seats),
            purchased,
            assigned,
            broker_held: held,
            outside,
            available: purchased.saturating_sub(outside),
        });
    }
    out
}

/// The ACTIVE claims of the pools of each user type: the broker's share of
/// the assigned licences when no member list was read (`/status`,
/// `check-rules`). `active` is `(pool, ACTIVE claims)`.
pub fn active_by_type<'a>(
    rules: &Rules,
    active: impl IntoIterator<Item = (&'a str, u32)>,
) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    for (pool, n) in active {
        if let Some(p) = rules.pool(pool) {
            *out.entry(p.user_type.clone()).or_insert(0u64) += u64::from(n);
        }
    }
    out
}

/// Who is never adopted or released by reconciliation: the broker's own
/// account (lower-cased username).
#[derive(Debug, Clone, Copy)]
pub struct Context<'a> {
    /// The broker's own username.
    pub broker: &'a str,
    /// The time the portal was read.
    pub now: UnixMillis,
}

/// The plan: `claims` are every claim of the rules' pools, read before the
/// portal (`org`). Pure.
pub fn plan(rules: &Rules, claims: &[Claim], org: &OrgSnapshot, cx: Context<'_>) -> ReconcilePlan {
    let broker = cx.broker.to_lowercase();
    let members: HashMap<String, &Member> = org
        .members
        .iter()
        .map(|m| (m.username.to_lowercase(), m))
        .collect();
    let invitations: HashMap<String, &PendingInvitation> = org
        .invitations
        .iter()
        .map(|i| (i.username.to_lowercase(), i))
        .collect();
    // Every username a claim names (an ACTIVE member's, a RESERVED claim's
    // intended one): the broker's.
    let held: HashSet<String> = claims
        .iter()
        .filter_map(|c| c.username.as_deref())
        .map(str::to_lowercase)
        .collect();
    let mut out = ReconcilePlan::default();
    // Broker-held licences per user type, counted from the members.
    let mut broker_held: BTreeMap<String, u64> = BTreeMap::new();

    for pool in &rules.pools {
        let mut active: Vec<&Claim> = claims
            .iter()
            .filter(|c| c.state == ClaimState::Active && c.key.pool == pool.id)
            .collect();
        active.sort_by(|a, b| a.username.cmp(&b.username));
        for claim in active {
            let Some(username) = claim.username.clone() else {
                continue;
            };
            let lower = username.to_lowercase();
            if lower == broker {
                continue;
            }
            let diff = |kind: Kind, action: Action, detail: String| Difference {
                kind,
                action,
                pool: Some(pool.id.clone()),
                username: username.clone(),
                person: Some(claim.key.person.clone()),
                claim: Some(claim.clone()),
                detail,
            };
            match (members.get(&lower), invitations.get(&lower)) {
                (Some(m), _) => {
                    let user_type = m.user_type.as_deref();
                    if let Some(t) = user_type {
                        *broker_held.entry(t.to_string()).or_insert(0) += 1;
                    }
                    if let Some(actual) = user_type.filter(|t| *t != pool.user_type) {
                        out.differences.push(diff(
                            Kind::UserTypeChanged {
                                expected: pool.user_type.clone(),
                                actual: actual.to_string(),
                            },
                            Action::Report,
                            format!(
                                "user type changed outside the broker from {} to {actual}: the member keeps the pool's seat and uses a {actual} licence; change it back in the portal, or let the import move the member to a pool of {actual}",
                                pool.user_type
                            ),
                        ));
                    }
                    if let Some(actual) = m.role.as_deref().filter(|r| *r != pool.role) {
                        let detail = if actual == ORG_ADMIN {
                            "made an administrator outside the broker: the member keeps the pool's seat; reconciliation and the lifecycle never touch administrators".to_string()
                        } else {
                            format!(
                                "role changed outside the broker from {} to {actual}: reported only",
                                pool.role
                            )
                        };
                        out.differences.push(diff(
                            Kind::RoleChanged {
                                expected: pool.role.clone(),
                                actual: actual.to_string(),
                            },
                            Action::Report,
                            detail,
                        ));
                    }
                }
                (None, Some(inv)) if inv.expired_at(cx.now) => {
                    out.differences.push(diff(
                        Kind::InvitationExpired {
                            expired_at: inv.expires.unwrap_or(cx.now),
                        },
                        Action::Release,
                        "the e-mail invitation lapsed unaccepted: the seat is given back".into(),
                    ));
                }
                (None, Some(inv)) => {
                    if let Some(t) = &inv.user_type {
                        *broker_held.entry(t.clone()).or_insert(0) += 1;
                    }
                }
                (None, None) => out.differences.push(diff(
                    Kind::MemberGone,
                    Action::Release,
                    "no member and no pending invitation (deleted, or an invitation that lapsed unaccepted): the seat is given back".into(),
                )),
            }
        }
    }

    // Members no claim names, by username.
    let mut outside: Vec<&Member> = org
        .members
        .iter()
        .filter(|m| {
            let lower = m.username.to_lowercase();
            !held.contains(&lower) && lower != broker
        })
        .collect();
    outside.sort_by(|a, b| a.username.cmp(&b.username));
    // Seats taken per pool, and adoptions planned so far.
    let mut used: HashMap<&PoolId, u64> = HashMap::new();
    for c in claims {
        *used.entry(&c.key.pool).or_insert(0) += 1;
    }
    let mut persons: HashSet<(&PoolId, String)> = claims
        .iter()
        .map(|c| (&c.key.pool, c.key.person.clone()))
        .collect();
    for m in outside {
        let (action, pool, person, detail) = adoption(rules, m, &mut used, &mut persons);
        if action == Action::Adopt
            && let Some(t) = &m.user_type
        {
            *broker_held.entry(t.clone()).or_insert(0) += 1;
        }
        out.differences.push(Difference {
            kind: Kind::OutsideMember {
                user_type: m.user_type.clone(),
                role: m.role.clone(),
            },
            action,
            pool,
            username: m.username.clone(),
            person,
            claim: None,
            detail,
        });
    }

    let mut loose: Vec<&PendingInvitation> = org
        .invitations
        .iter()
        .filter(|i| !i.expired_at(cx.now) && !held.contains(&i.username.to_lowercase()))
        .collect();
    loose.sort_by(|a, b| a.username.cmp(&b.username));
    for inv in loose {
        out.differences.push(Difference {
            kind: Kind::OutsideInvitation {
                user_type: inv.user_type.clone(),
            },
            action: Action::Report,
            pool: None,
            username: inv.username.clone(),
            person: inv.email.as_deref().map(str::to_lowercase),
            claim: None,
            detail: "a pending invitation sent outside the broker: it holds a licence until it is accepted or lapses".into(),
        });
    }

    out.capacity = capacity(rules, &org.licenses, &broker_held);
    out
}

/// Whether an outside member is adopted, and into which pool: `(action,
/// pool, person, why)`. Counts the seat and the person when it is.
fn adoption<'r>(
    rules: &'r Rules,
    m: &Member,
    used: &mut HashMap<&'r PoolId, u64>,
    persons: &mut HashSet<(&'r PoolId, String)>,
) -> (Action, Option<PoolId>, Option<String>, String) {
    let report = |pool: Option<&Pool>, person: Option<String>, why: String| {
        (Action::Report, pool.map(|p| p.id.clone()), person, why)
    };
    let outside = "created outside the broker";
    if m.role.as_deref() == Some(ORG_ADMIN) {
        return report(
            None,
            None,
            format!("{outside}; an administrator: never adopted"),
        );
    }
    let Some(email) = m.email.as_deref().and_then(|e| Email::parse(e).ok()) else {
        return report(
            None,
            None,
            format!("{outside}; the portal gave no usable e-mail, so no pool can be matched"),
        );
    };
    let user_type = m.user_type.as_deref().unwrap_or_default();
    let Some(pool) = rules
        .pools
        .iter()
        .find(|p| p.user_type == user_type && p.matches_email_domain(&email))
    else {
        return report(
            None,
            Some(email.key()),
            format!("{outside}; no pool has both its e-mail domain and its user type"),
        );
    };
    let person = email.key_as(pool.email_identity);
    if !pool.adopt_outside {
        return report(
            Some(pool),
            Some(person),
            format!(
                "{outside}; fits pool {} (set [pools.reconcile] adopt = true to adopt such members)",
                pool.id
            ),
        );
    }
    if m.disabled == Some(true) {
        return report(
            Some(pool),
            Some(person),
            format!("{outside}; disabled: not adopted"),
        );
    }
    if persons.contains(&(&pool.id, person.clone())) {
        return report(
            Some(pool),
            Some(person),
            format!(
                "{outside}; the person already holds a seat of pool {} under another username: a second account",
                pool.id
            ),
        );
    }
    let taken = used.entry(&pool.id).or_insert(0);
    if *taken >= u64::from(pool.seats) {
        return report(
            Some(pool),
            Some(person),
            format!(
                "{outside}; fits pool {}, which is full: not adopted",
                pool.id
            ),
        );
    }
    *taken += 1;
    persons.insert((&pool.id, person.clone()));
    (
        Action::Adopt,
        Some(pool.id.clone()),
        Some(person),
        format!(
            "{outside}; adopted into pool {}: takes one of its seats",
            pool.id
        ),
    )
}

/// What reading the inputs of a plan failed on.
#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    /// The store could not be read.
    #[error("cannot read the store: {0}")]
    Store(#[from] LedgerError),
    /// The portal could not be read.
    #[error("cannot read the organization: {0}")]
    Portal(#[from] PortalError),
}

impl ReconcileError {
    /// A stable code for the error.
    pub fn code(&self) -> &'static str {
        match self {
            ReconcileError::Store(_) => "store_unavailable",
            ReconcileError::Portal(_) => "portal_unavailable",
        }
    }
}

/// Every claim of the rules' pools, then the organization (invitations,
/// members, licences) in that order (see the module docs), then the plan.
/// Changes nothing.
pub async fn read_plan<L: ClaimStore, P: Members + OrgAdmin>(
    ledger: &L,
    portal: &P,
    rules: &Rules,
    broker: &str,
    now: UnixMillis,
) -> Result<ReconcilePlan, ReconcileError> {
    let mut claims = Vec::new();
    for pool in &rules.pools {
        claims.extend(ledger.claims(&pool.id).await?);
    }
    let invitations = portal.invitations().await?;
    let members = portal.org_members().await?;
    let licenses = portal.license_counts().await?;
    let org = OrgSnapshot {
        members,
        invitations,
        licenses,
    };
    Ok(plan(rules, &claims, &org, Context { broker, now }))
}

/// What became of one difference.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Reported; nothing to change.
    Reported,
    /// Carried out.
    Done,
    /// Not carried out, and why (the claim moved on, the member reappeared,
    /// the pool filled up).
    Skipped(String),
    /// Failed (store or portal): a next run tries again.
    Failed(String),
}

/// One difference and what became of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Applied {
    /// The difference.
    #[serde(flatten)]
    pub difference: Difference,
    /// What became of it.
    pub outcome: Outcome,
}

impl<L: crate::seats::SeatLedger, P: Portal> Provisioner<L, P> {
    /// Reads and plans ([`read_plan`]) with this workflow's ledger, portal
    /// and rules. Changes nothing.
    pub async fn reconcile_plan(
        &self,
        broker: &str,
        now: UnixMillis,
    ) -> Result<ReconcilePlan, ReconcileError> {
        read_plan(
            &*self.ledger,
            &*self.portal,
            self.policy.rules(),
            broker,
            now,
        )
        .await
    }

    /// Reads, plans and carries the plan out (the scheduled run), admits
    /// the waitlists of the pools that got seats back (through `jobs`),
    /// then tells the notification channels when the ledger and the
    /// organization disagree (once when drift appears, a note when it is
    /// gone; see [`Provisioner::report_drift`]).
    pub async fn run_reconcile(
        &self,
        broker: &str,
        jobs: Option<&dyn crate::queue::JobSink>,
        actor: &str,
        now: UnixMillis,
    ) -> Result<(ReconcilePlan, Vec<Applied>), ReconcileError> {
        let plan = self.reconcile_plan(broker, now).await?;
        let applied = self.apply_reconcile(&plan, actor, now).await;
        // A seat given back admits the pool's waitlist.
        let freed: std::collections::BTreeSet<&PoolId> = applied
            .iter()
            .filter(|a| a.outcome == Outcome::Done && a.difference.action == Action::Release)
            .filter_map(|a| a.difference.pool.as_ref())
            .collect();
        for pool in freed {
            self.admit_waitlisted(pool, jobs, now).await;
        }
        let drift = super::alerts::Drift {
            differences: plan.differences.len() as u64,
            examples: plan
                .differences
                .iter()
                .take(10)
                .map(|d| format!("{}: {}", d.username, d.detail))
                .collect(),
        };
        if let Err(e) = self.report_drift(&drift, now).await {
            tracing::warn!("reconcile: the drift alert's level could not be kept: {e}");
        }
        Ok((plan, applied))
    }

    /// Carries `plan` out: releases and adoptions through the claim state
    /// machine, every difference (and every over-promised user type) written
    /// to the audit trail as `actor`. One failing difference does not stop
    /// the others.
    pub async fn apply_reconcile(
        &self,
        plan: &ReconcilePlan,
        actor: &str,
        now: UnixMillis,
    ) -> Vec<Applied> {
        let mut out = Vec::with_capacity(plan.differences.len());
        for d in &plan.differences {
            let outcome = match d.action {
                Action::Report => Outcome::Reported,
                Action::Release => self.release_gone(d).await,
                Action::Adopt => self.adopt(d, now).await,
            };
            let (action, detail) = match &outcome {
                Outcome::Reported => ("reconcile.reported", d.detail.clone()),
                Outcome::Done => (
                    match d.action {
                        Action::Adopt => "reconcile.adopted",
                        _ => "reconcile.released",
                    },
                    d.detail.clone(),
                ),
                Outcome::Skipped(why) => (
                    "reconcile.skipped",
                    format!("{}; not done: {why}", d.detail),
                ),
                Outcome::Failed(why) => {
                    ("reconcile.failed", format!("{}; failed: {why}", d.detail))
                }
            };
            self.record_audit(&AuditEvent {
                at: now,
                actor: actor.to_string(),
                action: action.to_string(),
                pool: d.pool.as_ref().map(|p| p.to_string()),
                person: d.person.clone(),
                detail: format!("{} ({}): {detail}", d.username, kind_name(&d.kind)),
            })
            .await;
            out.push(Applied {
                difference: d.clone(),
                outcome,
            });
        }
        for t in &plan.capacity {
            if let Some(w) = t.warning() {
                self.record_audit(&AuditEvent {
                    at: now,
                    actor: actor.to_string(),
                    action: "reconcile.over_promised".into(),
                    pool: None,
                    person: None,
                    detail: w,
                })
                .await;
            }
        }
        out
    }

    /// Releases the ACTIVE claim of a member that is gone, after looking
    /// the member and its invitation up once more.
    async fn release_gone(&self, d: &Difference) -> Outcome {
        let Some(claim) = &d.claim else {
            return Outcome::Skipped("no claim was read".into());
        };
        match self.portal.member(&d.username).await {
            Ok(Some(_)) => return Outcome::Skipped("the member exists on a second look".into()),
            Ok(None) => {}
            Err(e) => return Outcome::Failed(format!("member look-up: {e}")),
        }
        match self.portal.invitation(&d.username).await {
            Ok(Some(inv)) if !inv.expired_at(self.clock.now()) => {
                return Outcome::Skipped("a pending invitation exists on a second look".into());
            }
            Ok(_) => {}
            Err(e) => return Outcome::Failed(format!("invitation look-up: {e}")),
        }
        match self.end_claim(claim).await {
            Ok(true) => Outcome::Done,
            Ok(false) => Outcome::Skipped("the claim changed since it was read".into()),
            Err(e) => Outcome::Failed(e.to_string()),
        }
    }

    /// Adopts a member: a seat reserved for the person and confirmed under
    /// the member's username (given back if the confirmation fails).
    async fn adopt(&self, d: &Difference, now: UnixMillis) -> Outcome {
        let (Some(pool), Some(person)) = (&d.pool, &d.person) else {
            return Outcome::Skipped("no pool or person".into());
        };
        let Some(capacity) = self.policy.rules().pool(pool.as_str()).map(|p| p.seats) else {
            return Outcome::Skipped(format!("pool {pool} is not in the rules"));
        };
        let key = ClaimKey {
            pool: pool.clone(),
            person: person.clone(),
        };
        let delivery = format!("reconcile:{}", d.username);
        match self
            .reserve_seat_for(&key, capacity, &delivery, &d.username, now)
            .await
        {
            Ok(Reservation::Reserved(c)) => {
                match self.confirm_seat(&key, &c.claim_id, &d.username, now).await {
                    Ok(_) => Outcome::Done,
                    Err(e) => {
                        let _ = self.release_seat(&key, &c.claim_id).await;
                        Outcome::Failed(format!("confirming the seat: {e}"))
                    }
                }
            }
            Ok(Reservation::PoolFull { used }) => {
                Outcome::Skipped(format!("pool {pool} is full ({used} seats used)"))
            }
            Ok(Reservation::AlreadyHeld(c)) => Outcome::Skipped(format!(
                "the person already holds a claim in pool {pool} ({})",
                c.username.unwrap_or_default()
            )),
            Err(e) => Outcome::Failed(e.to_string()),
        }
    }
}

/// How long `/status` reuses the licence counts it read.
pub const LICENSES_FRESH_MS: UnixMillis = 10 * 60 * 1000;
/// How long `/status` waits before asking again after a failed read.
pub const LICENSES_RETRY_MS: UnixMillis = 60 * 1000;

/// The licence check `/status` shows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LicenseCheck {
    /// When the licence counts were read (epoch ms); `None` when they
    /// could not be.
    pub checked_at: Option<UnixMillis>,
    /// Per user type of the pools.
    pub types: Vec<TypeCapacity>,
    /// One line per over-promised user type.
    pub warnings: Vec<String>,
    /// Why the counts could not be read (`portal_unavailable: ...`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl<L: crate::seats::SeatLedger, P: Portal> Provisioner<L, P> {
    /// Licences per user type against what the pools promise, for
    /// `/status`: the counts come from the portal at most once every
    /// [`LICENSES_FRESH_MS`] (after a failure, every [`LICENSES_RETRY_MS`]),
    /// the broker's share from `active` (`(pool, ACTIVE claims)`, which
    /// `/status` has read anyway). A portal that cannot be read leaves the
    /// check empty with the reason; it never fails the caller.
    pub async fn license_check<'a>(
        &self,
        active: impl IntoIterator<Item = (&'a str, u32)>,
        now: UnixMillis,
    ) -> LicenseCheck {
        let cached = self
            .licenses
            .lock()
            .ok()
            .and_then(|c| c.clone())
            .filter(|(at, r)| {
                let ttl = if r.is_ok() {
                    LICENSES_FRESH_MS
                } else {
                    LICENSES_RETRY_MS
                };
                now.saturating_sub(*at) < ttl
            });
        let (at, counts) = match cached {
            Some(hit) => hit,
            None => {
                let read = self
                    .portal
                    .license_counts()
                    .await
                    .map_err(|e| format!("portal_unavailable: {e}"));
                if let Ok(mut c) = self.licenses.lock() {
                    *c = Some((now, read.clone()));
                }
                (now, read)
            }
        };
        match counts {
            Ok(counts) => {
                let rules = self.policy.rules();
                let types = capacity(rules, &counts, &active_by_type(rules, active));
                LicenseCheck {
                    checked_at: Some(at),
                    warnings: types.iter().filter_map(TypeCapacity::warning).collect(),
                    types,
                    error: None,
                }
            }
            Err(e) => LicenseCheck {
                checked_at: None,
                types: Vec::new(),
                warnings: Vec::new(),
                error: Some(e),
            },
        }
    }
}

/// The kind's name as the report and the trail print it.
pub fn kind_name(kind: &Kind) -> &'static str {
    match kind {
        Kind::MemberGone => "member gone",
        Kind::InvitationExpired { .. } => "invitation expired",
        Kind::UserTypeChanged { .. } => "user type changed",
        Kind::RoleChanged { .. } => "role changed",
        Kind::OutsideMember { .. } => "member outside the broker",
        Kind::OutsideInvitation { .. } => "invitation outside the broker",
    }
}

/// The report as an administrator reads it: one line per difference (with
/// its outcome when carried out), then the licence warnings.
pub fn render(plan: &ReconcilePlan, applied: Option<&[Applied]>) -> String {
    let mut out = String::new();
    if plan.differences.is_empty() {
        out.push_str("The ledger and the organization agree: nothing to do.\n");
    }
    for (i, d) in plan.differences.iter().enumerate() {
        let outcome = match applied.and_then(|a| a.get(i)).map(|a| &a.outcome) {
            None | Some(Outcome::Reported) => String::new(),
            Some(Outcome::Done) => " [done]".into(),
            Some(Outcome::Skipped(why)) => format!(" [not done: {why}]"),
            Some(Outcome::Failed(why)) => format!(" [FAILED: {why}]"),
        };
        out.push_str(&format!(
            "{:<8} {:<12} {:<24} {}: {}{outcome}\n",
            d.action.as_str(),
            d.pool.as_ref().map(|p| p.as_str()).unwrap_or("-"),
            d.username,
            kind_name(&d.kind),
            d.detail
        ));
    }
    for t in &plan.capacity {
        if let Some(w) = t.warning() {
            out.push_str(&format!("warning: {w}\n"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::seats::Hold;

    const NOW: UnixMillis = 1_796_256_000_000;
    const VIEWER: &str = "iAAAAAAAAAAAAAAA";

    fn rules(acme_seats: u32) -> Rules {
        Rules::from_toml(&format!(
            r#"
            [[pools]]
            name = "acme"
            seats = {acme_seats}
            role = "viewer"
            user_type = "viewerUT"
            [pools.match]
            email_domains = ["acme.org"]
            [pools.reconcile]
            adopt = true

            [[pools]]
            name = "city"
            seats = 3
            role = "viewer"
            user_type = "creatorUT"
            [pools.match]
            email_domains = ["city.gov"]
            "#
        ))
        .unwrap()
    }

    fn claim(pool: &str, user: &str, domain: &str, state: ClaimState) -> Claim {
        Claim {
            key: ClaimKey {
                pool: PoolId::parse(pool).unwrap(),
                person: format!("{user}@{domain}"),
            },
            claim_id: format!("c-{user}"),
            state,
            hold: (state == ClaimState::Reserved).then_some(Hold::Unknown),
            username: Some(format!("{user}_{pool}")),
            delivery: "standard:x".into(),
            reserved_at: NOW - 1000,
            updated_at: NOW - 1000,
            activated_at: (state == ClaimState::Active).then_some(NOW - 1000),
            extended_until: None,
            warned_at: None,
        }
    }

    fn member(username: &str, email: &str, user_type: &str, role: &str) -> Member {
        Member {
            username: username.into(),
            email: Some(email.into()),
            role: Some(role.into()),
            user_type: Some(user_type.into()),
            ..Member::default()
        }
    }

    fn invitation(username: &str, user_type: &str, expires: UnixMillis) -> PendingInvitation {
        PendingInvitation {
            username: username.into(),
            user_type: Some(user_type.into()),
            expires: Some(expires),
            ..PendingInvitation::default()
        }
    }

    fn licenses(types: &[(&str, u64, u64)]) -> LicenseCounts {
        LicenseCounts {
            types: types
                .iter()
                .map(|(t, p, a)| (t.to_string(), *p, *a))
                .collect(),
        }
    }

    fn cx() -> Context<'static> {
        Context {
            broker: "Broker_Admin",
            now: NOW,
        }
    }

    fn summary(p: &ReconcilePlan) -> Vec<(String, &'static str, &'static str)> {
        p.differences
            .iter()
            .map(|d| (d.username.clone(), kind_name(&d.kind), d.action.as_str()))
            .collect()
    }

    #[test]
    fn each_kind_of_drift_gets_its_action() {
        let claims = [
            claim("acme", "ok", "acme.org", ClaimState::Active),
            claim("acme", "gone", "acme.org", ClaimState::Active),
            claim("acme", "lapsed", "acme.org", ClaimState::Active),
            claim("acme", "waiting", "acme.org", ClaimState::Active),
            claim("acme", "retyped", "acme.org", ClaimState::Active),
            // Settled by the sweeper, never here; its username is the
            // broker's even though the member exists.
            claim("acme", "inflight", "acme.org", ClaimState::Reserved),
            claim("acme", "unseen", "acme.org", ClaimState::Reserved),
        ];
        let org = OrgSnapshot {
            members: vec![
                member("ok_acme", "ok@acme.org", "viewerUT", VIEWER),
                member("retyped_acme", "retyped@acme.org", "creatorUT", VIEWER),
                member("inflight_acme", "inflight@acme.org", "viewerUT", VIEWER),
                member("hand_made", "Hand@Acme.org", "viewerUT", VIEWER),
                member("boss", "boss@acme.org", "creatorUT", ORG_ADMIN),
                member("broker_admin", "it@acme.org", "creatorUT", ORG_ADMIN),
                member("mayor", "mayor@city.gov", "creatorUT", "org_publisher"),
                member("stranger", "x@elsewhere.net", "viewerUT", VIEWER),
            ],
            invitations: vec![
                invitation("lapsed_acme", "viewerUT", NOW - 1),
                invitation("waiting_acme", "viewerUT", NOW + 1000),
                invitation("byhand", "creatorUT", NOW + 1000),
            ],
            licenses: licenses(&[("viewerUT", 10, 6), ("creatorUT", 5, 4)]),
        };
        let p = plan(&rules(10), &claims, &org, cx());
        assert_eq!(
            summary(&p),
            [
                ("gone_acme".into(), "member gone", "release"),
                ("lapsed_acme".into(), "invitation expired", "release"),
                ("retyped_acme".into(), "user type changed", "report"),
                ("boss".into(), "member outside the broker", "report"),
                ("hand_made".into(), "member outside the broker", "adopt"),
                ("mayor".into(), "member outside the broker", "report"),
                ("stranger".into(), "member outside the broker", "report"),
                ("byhand".into(), "invitation outside the broker", "report"),
            ]
        );
        let adopt = &p.differences[4];
        assert_eq!(adopt.pool.as_ref().unwrap().as_str(), "acme");
        assert_eq!(adopt.person.as_deref(), Some("hand@acme.org"));
        assert!(p.differences[3].detail.contains("administrator"));
        assert!(p.differences[5].detail.contains("fits pool city"));
        assert!(p.differences[5].detail.contains("adopt = true"));
        let release = &p.differences[0];
        assert_eq!(release.claim.as_ref().unwrap().claim_id, "c-gone");
        assert_eq!(p.actions().count(), 3);
    }

    #[test]
    fn adoption_never_overfills_a_pool_nor_gives_one_person_two_seats() {
        let claims = [claim("acme", "ana", "acme.org", ClaimState::Active)];
        let org = OrgSnapshot {
            members: vec![
                member("ana_acme", "ana@acme.org", "viewerUT", VIEWER),
                member("ana_second", "ANA@acme.org", "viewerUT", VIEWER),
                member("bo_x", "bo@acme.org", "viewerUT", VIEWER),
                member("cy_x", "cy@acme.org", "viewerUT", VIEWER),
                Member {
                    disabled: Some(true),
                    ..member("dee_x", "dee@acme.org", "viewerUT", VIEWER)
                },
            ],
            ..OrgSnapshot::default()
        };
        let p = plan(&rules(2), &claims, &org, cx());
        let got: Vec<(&str, Action)> = p
            .differences
            .iter()
            .map(|d| (d.username.as_str(), d.action))
            .collect();
        assert_eq!(
            got,
            [
                ("ana_second", Action::Report),
                ("bo_x", Action::Adopt),
                ("cy_x", Action::Report),
                ("dee_x", Action::Report),
            ]
        );
        assert!(p.differences[0].detail.contains("second account"));
        assert!(p.differences[2].detail.contains("full"));
        assert!(p.differences[3].detail.contains("disabled"));
    }

    #[test]
    fn a_ledger_that_agrees_plans_nothing() {
        let claims = [claim("acme", "ok", "acme.org", ClaimState::Active)];
        let org = OrgSnapshot {
            members: vec![member("OK_acme", "ok@acme.org", "viewerUT", VIEWER)],
            licenses: licenses(&[("viewerUT", 10, 1), ("creatorUT", 3, 0)]),
            ..OrgSnapshot::default()
        };
        let p = plan(&rules(10), &claims, &org, cx());
        assert!(p.differences.is_empty(), "{:?}", p.differences);
        assert!(p.capacity.iter().all(|t| !t.over_promised()));
        assert!(render(&p, None).starts_with("The ledger and the organization agree"));
    }

    #[test]
    fn pools_promising_more_than_the_licences_left_are_flagged() {
        // viewerUT: 10 purchased, 7 assigned of which 1 is the broker's:
        // 6 outside, so 4 left for a pool promising 10.
        let claims = [claim("acme", "ok", "acme.org", ClaimState::Active)];
        let mut members = vec![member("ok_acme", "ok@acme.org", "viewerUT", VIEWER)];
        for i in 0..6 {
            members.push(member(
                &format!("other{i}"),
                &format!("o{i}@else.net"),
                "viewerUT",
                VIEWER,
            ));
        }
        let org = OrgSnapshot {
            members,
            licenses: licenses(&[("viewerUT", 10, 7)]),
            ..OrgSnapshot::default()
        };
        let p = plan(&rules(10), &claims, &org, cx());
        let viewer = &p.capacity[0];
        assert_eq!(
            (viewer.outside, viewer.available, viewer.promised),
            (6, 4, 10)
        );
        assert!(viewer.over_promised());
        let w = viewer.warning().unwrap();
        assert!(w.contains("promise 10 seats of user type viewerUT but the organization has 4"));
        // creatorUT is not purchased at all: the city pool's 3 are over.
        assert_eq!(p.capacity[1].available, 0);
        assert!(p.capacity[1].over_promised());
        assert!(render(&p, None).contains("warning: pools city"));
        // The claim-count form used by /status agrees.
        let held = active_by_type(&rules(10), [("acme", 1), ("city", 0), ("nope", 5)]);
        let c = capacity(&rules(10), &org.licenses, &held);
        assert_eq!(c[0].available, 4);
    }
}
