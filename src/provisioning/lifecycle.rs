//! What the seat's life after sign-up calls for, today: which members to
//! warn that their seat ends, whose seat ends (expired) and whose is
//! reclaimed (idle), with the pool's end action: a [`LifecyclePlan`].
//!
//! [`plan_pool`] is pure: it reads the pool's [`Lifecycle`], its ACTIVE
//! claims and what the portal says of each member ([`MemberFacts`]);
//! [`read_plan`] reads those from the store and the portal (one member
//! listing for every pool). Neither changes anything. `agol-seat-broker reclaim --dry-run` prints it; carrying a plan
//! out goes through the claim state machine (a later change).
//!
//! The rules it follows:
//! - **Never touched**: organization administrators (`org_admin`, or a
//!   custom role with an administrative privilege), the broker's own
//!   account, the `[lifecycle] keep` list, and members the portal does not
//!   list (reconciliation's business, not expiry's): each is reported as
//!   skipped with the reason.
//! - **Expiry first**: a seat past its end is `Expired` even when also
//!   idle; within `warn_before_days` of its end it gets a `Warn`.
//! - **Idle seats**: `lastLogin` older than `reclaim_after_days_inactive`
//!   → `Inactive`; `lastLogin = -1` (never signed in) counts from the
//!   seat's activation, with `reclaim_never_signed_in_after_days` when set
//!   (an invitation never accepted), else the inactivity setting. A member
//!   whose `lastLogin` the portal did not give is skipped, never guessed.
//! - **Activation time**: the claim's first activation
//!   ([`Claim::activated_at`]); an administrator's extension
//!   (`extended_until`) replaces the pool's end.
//! - **Warned once per end**: a seat already warned (`warned_at`) is not
//!   warned again until an extension clears it.

use std::collections::HashMap;

use crate::domain::date::{DAY_MS, Day};
use crate::domain::{PoolId, UnixMillis};
use crate::policy::Rules;
use crate::policy::lifecycle::{Downgrade, EndAction, Lifecycle};
use crate::portal::{OrgAdmin, PortalError};
use crate::seats::{Claim, ClaimState, ClaimStore, LedgerError};

/// What the portal says of one member, as the plan needs it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MemberFacts {
    /// Username.
    pub username: String,
    /// `lastLogin`: epoch ms, `-1` never, `None` not given.
    pub last_login: Option<i64>,
    /// Whether the member is an organization administrator.
    pub admin: bool,
    /// Whether the member is disabled (it still holds its licence).
    pub disabled: bool,
}

/// Why a seat ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EndReason {
    /// Past its end (`expires_after_days`, `ends_on`).
    Expired {
        /// When it ended.
        ended_at: UnixMillis,
    },
    /// Not signed in for `days` (since `last_login`).
    Inactive {
        /// The last sign-in.
        last_login: UnixMillis,
        /// Whole days since.
        days: i64,
    },
    /// Never signed in, `days` after the seat's activation.
    NeverSignedIn {
        /// Whole days since activation.
        days: i64,
    },
    /// An administrator reclaimed it now.
    Reclaimed {
        /// Who (`admin:<name>`, `cli`).
        by: String,
    },
}

impl std::fmt::Display for EndReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            EndReason::Expired { ended_at } => {
                write!(f, "expired (ended {})", Day::of(ended_at - 1))
            }
            EndReason::Inactive { last_login, days } => write!(
                f,
                "idle: last signed in {} ({days} days ago)",
                Day::of(*last_login)
            ),
            EndReason::NeverSignedIn { days } => {
                write!(f, "never signed in ({days} days since the seat began)")
            }
            EndReason::Reclaimed { by } => write!(f, "reclaimed by {by}"),
        }
    }
}

/// What a plan does to one seat.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Tell the member the seat ends at `ends_at`.
    Warn {
        /// The seat's end.
        ends_at: UnixMillis,
    },
    /// End the seat with the pool's action.
    End {
        /// Why.
        reason: EndReason,
        /// The pool's end action.
        action: EndAction,
        /// With `Downgrade`: the target.
        downgrade_to: Option<Downgrade>,
    },
}

/// Why a seat is left alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Skip {
    /// An organization administrator.
    Administrator,
    /// The broker's own account.
    BrokerAccount,
    /// On the `[lifecycle] keep` list.
    Kept,
    /// The portal does not list the member (reconciliation settles it).
    NotInPortal,
    /// The portal gave no `lastLogin` and the seat has not expired.
    NoLastLogin,
    /// Disabled: it still holds its licence, so its seat stays held until
    /// the member is deleted in the portal (reconciliation then gives it
    /// back).
    Disabled,
}

impl Skip {
    /// What the plan prints.
    pub fn as_str(self) -> &'static str {
        match self {
            Skip::Administrator => "an organization administrator: never touched",
            Skip::BrokerAccount => "the broker's own account: never touched",
            Skip::Kept => "on the [lifecycle] keep list",
            Skip::NotInPortal => "not in the portal's member list: left to reconciliation",
            Skip::NoLastLogin => "the portal gave no last sign-in: not reclaimed",
            Skip::Disabled => {
                "disabled: it still holds its licence, so the seat stays held until the member is deleted"
            }
        }
    }
}

/// One seat in a plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Planned<T> {
    /// The pool.
    pub pool: PoolId,
    /// The claim's person key.
    pub person: String,
    /// The claim's id (what a transition must name).
    pub claim_id: String,
    /// The member's username.
    pub username: String,
    /// The claim as read: what carrying the step out expects to find.
    pub claim: Claim,
    /// The step or the skip.
    pub what: T,
}

/// What the seat's life calls for now.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LifecyclePlan {
    /// Warnings and ends, pool by pool in rules order, then by username.
    pub steps: Vec<Planned<Step>>,
    /// Seats a rule would reach but that are left alone, and why.
    pub skipped: Vec<Planned<Skip>>,
}

/// Who is never touched: the broker's account and the keep list (both
/// lower-cased usernames).
#[derive(Debug, Clone, Default)]
pub struct Untouchable<'a> {
    /// The broker's own username.
    pub broker: &'a str,
    /// `[lifecycle] keep`.
    pub keep: &'a [String],
}

/// What a plan needs of the store and the portal failed to read.
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    /// The store could not be read.
    #[error("cannot read the store: {0}")]
    Store(#[from] LedgerError),
    /// The portal's member list could not be read.
    #[error("cannot read the organization's members: {0}")]
    Portal(#[from] PortalError),
}

/// Reads every pool with a lifecycle (its claims) and the organization's
/// members (once, all pages), and plans: what `reclaim --dry-run` prints.
/// Changes nothing. No pool with a lifecycle: an empty plan, and no portal
/// call.
pub async fn read_plan<L: ClaimStore, P: OrgAdmin>(
    ledger: &L,
    portal: &P,
    rules: &Rules,
    broker: &str,
    now: UnixMillis,
) -> Result<LifecyclePlan, PlanError> {
    let mut plan = LifecyclePlan::default();
    let pools: Vec<(&PoolId, &Lifecycle)> = rules
        .pools
        .iter()
        .filter_map(|p| p.lifecycle.as_ref().map(|lc| (&p.id, lc)))
        .collect();
    if pools.is_empty() {
        return Ok(plan);
    }
    let listed = portal.org_members().await?;
    // A member's `role` is its custom role's id when it has one (the client
    // keeps `roleId` over the base level), so an administrator with a
    // custom administrator role is known by that role's privileges: read
    // once, and only when some member has a custom role.
    let custom = listed
        .iter()
        .any(|m| m.role.as_deref().is_some_and(|r| !r.starts_with("org_")));
    let admin_roles: Vec<String> = if custom {
        portal
            .roles()
            .await?
            .into_iter()
            .filter(|r| r.privileges.iter().flatten().any(|p| p.contains(":admin:")))
            .map(|r| r.id)
            .collect()
    } else {
        Vec::new()
    };
    let members: HashMap<String, MemberFacts> = listed
        .into_iter()
        .map(|m| {
            let role = m.role.as_deref().unwrap_or_default();
            let facts = MemberFacts {
                username: m.username.clone(),
                last_login: m.last_login,
                admin: role == "org_admin" || admin_roles.iter().any(|r| r == role),
                disabled: m.disabled == Some(true),
            };
            (m.username.to_lowercase(), facts)
        })
        .collect();
    let who = Untouchable {
        broker,
        keep: &rules.keep,
    };
    for (pool, lc) in pools {
        let claims = ledger.claims(pool).await?;
        plan_pool(pool, lc, &claims, &members, &who, now, &mut plan);
    }
    Ok(plan)
}

/// The plan as an administrator reads it, one line per seat.
pub fn render(plan: &LifecyclePlan) -> String {
    let mut out = String::new();
    if plan.steps.is_empty() && plan.skipped.is_empty() {
        out.push_str("Nothing to do: no seat is due for a warning, an end or reclaiming.\n");
        return out;
    }
    for s in &plan.steps {
        let what = match &s.what {
            Step::Warn { ends_at } => {
                format!("warn: the seat ends {}", Day::of(ends_at.saturating_sub(1)))
            }
            Step::End {
                reason,
                action,
                downgrade_to,
            } => match (action, downgrade_to) {
                (EndAction::Downgrade, Some(d)) => format!(
                    "downgrade to role {} and user type {} ({reason}); the seat is given back",
                    d.role, d.user_type
                ),
                (EndAction::Disable, _) => {
                    format!("disable ({reason}); the licence stays assigned")
                }
                (action, _) => format!("{} ({reason})", action.as_str()),
            },
        };
        out.push_str(&format!(
            "{:<12} {:<24} {what}\n",
            s.pool.as_str(),
            s.username
        ));
    }
    for s in &plan.skipped {
        out.push_str(&format!(
            "{:<12} {:<24} skipped: {}\n",
            s.pool.as_str(),
            s.username,
            s.what.as_str()
        ));
    }
    out
}

/// Whole days from `from` to `to` (never negative).
fn days_between(from: UnixMillis, to: UnixMillis) -> i64 {
    to.saturating_sub(from).max(0) / DAY_MS
}

/// The plan for one pool's ACTIVE claims at `now`; `members` by lower-cased
/// username.
pub fn plan_pool(
    pool: &PoolId,
    lc: &Lifecycle,
    claims: &[Claim],
    members: &HashMap<String, MemberFacts>,
    who: &Untouchable<'_>,
    now: UnixMillis,
    plan: &mut LifecyclePlan,
) {
    let mut active: Vec<&Claim> = claims
        .iter()
        .filter(|c| c.state == ClaimState::Active && &c.key.pool == pool)
        .collect();
    active.sort_by(|a, b| a.username.cmp(&b.username));
    for claim in active {
        let Some(username) = claim.username.clone() else {
            continue;
        };
        let lower = username.to_lowercase();
        let step = step_for(lc, claim, members.get(&lower), now);
        let skip = if lower == who.broker.to_lowercase() {
            Some(Skip::BrokerAccount)
        } else if who.keep.contains(&lower) {
            Some(Skip::Kept)
        } else {
            match members.get(&lower) {
                None => Some(Skip::NotInPortal),
                Some(m) if m.admin => Some(Skip::Administrator),
                Some(m) if m.disabled => Some(Skip::Disabled),
                Some(_) => None,
            }
        };
        match (step, skip) {
            (Ok(None), _) => {}
            (Ok(Some(_)) | Err(_), Some(skip)) | (Err(skip), None) => {
                plan.skipped.push(planned(claim, &username, skip))
            }
            (Ok(Some(step)), None) => plan.steps.push(planned(claim, &username, step)),
        }
    }
}

/// A step or skip for `claim`'s seat.
fn planned<T>(claim: &Claim, username: &str, what: T) -> Planned<T> {
    Planned {
        pool: claim.key.pool.clone(),
        person: claim.key.person.clone(),
        claim_id: claim.claim_id.clone(),
        username: username.to_string(),
        claim: claim.clone(),
        what,
    }
}

/// The step an ACTIVE `claim`'s seat calls for, `Ok(None)` when none,
/// `Err` when a reclaim rule cannot be judged.
fn step_for(
    lc: &Lifecycle,
    claim: &Claim,
    member: Option<&MemberFacts>,
    now: UnixMillis,
) -> Result<Option<Step>, Skip> {
    let activated_at = claim.activated_at().unwrap_or(claim.updated_at);
    let ends_at = lc.ends_at(activated_at, claim.extended_until);
    let end = |reason| Step::End {
        reason,
        action: lc.at_end,
        downgrade_to: lc.downgrade_to.clone(),
    };
    if let Some(ends_at) = ends_at
        && now >= ends_at
    {
        return Ok(Some(end(EndReason::Expired { ended_at: ends_at })));
    }
    let inactive = lc.reclaim_after_days_inactive.map(i64::from);
    let never = lc
        .reclaim_never_signed_in_after_days
        .map(i64::from)
        .or(inactive);
    if inactive.is_some() || never.is_some() {
        match member.and_then(|m| m.last_login) {
            Some(-1) => {
                let days = days_between(activated_at, now);
                if never.is_some_and(|n| days >= n) {
                    return Ok(Some(end(EndReason::NeverSignedIn { days })));
                }
            }
            Some(last) => {
                let days = days_between(last, now);
                if inactive.is_some_and(|n| days >= n) {
                    return Ok(Some(end(EndReason::Inactive {
                        last_login: last,
                        days,
                    })));
                }
            }
            None if member.is_some() => return Err(Skip::NoLastLogin),
            None => {}
        }
    }
    if let Some(ends_at) = ends_at
        && claim.warned_at.is_none()
    {
        let warn = i64::from(lc.warn_before_days).saturating_mul(DAY_MS);
        if warn > 0 && now >= ends_at.saturating_sub(warn) {
            return Ok(Some(Step::Warn { ends_at }));
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ClaimKey;
    use crate::policy::Rules;

    const NOW: UnixMillis = 1_796_256_000_000; // 2026-12-03 00:00 UTC

    fn lifecycle(text: &str) -> Lifecycle {
        let r = Rules::from_toml(&format!(
            r#"
            [[pools]]
            name = "acme"
            seats = 5
            role = "publisher"
            user_type = "creatorUT"
            [pools.match]
            email_domains = ["acme.org"]
            [pools.lifecycle]
            {text}
            "#
        ))
        .unwrap();
        r.pools[0].lifecycle.clone().unwrap()
    }

    fn active(user: &str, activated_days_ago: i64) -> Claim {
        Claim {
            key: ClaimKey {
                pool: PoolId::parse("acme").unwrap(),
                person: format!("{user}@acme.org"),
            },
            claim_id: format!("c-{user}"),
            state: ClaimState::Active,
            hold: None,
            username: Some(format!("{user}_acme")),
            delivery: "standard:x".into(),
            reserved_at: NOW - activated_days_ago * DAY_MS,
            updated_at: NOW - activated_days_ago * DAY_MS,
            activated_at: Some(NOW - activated_days_ago * DAY_MS),
            extended_until: None,
            warned_at: None,
        }
    }

    fn member(user: &str, last_login: Option<i64>) -> (String, MemberFacts) {
        (
            format!("{user}_acme"),
            MemberFacts {
                username: format!("{user}_acme"),
                last_login,
                admin: false,
                disabled: false,
            },
        )
    }

    fn plan(lc: &Lifecycle, claims: &[Claim], members: &[(String, MemberFacts)]) -> LifecyclePlan {
        let members: HashMap<String, MemberFacts> = members.iter().cloned().collect();
        let keep = vec!["kept_acme".to_string()];
        let mut p = LifecyclePlan::default();
        plan_pool(
            &PoolId::parse("acme").unwrap(),
            lc,
            claims,
            &members,
            &Untouchable {
                broker: "Broker_Admin",
                keep: &keep,
            },
            NOW,
            &mut p,
        );
        p
    }

    fn summary(p: &LifecyclePlan) -> Vec<(String, String)> {
        p.steps
            .iter()
            .map(|s| {
                let what = match &s.what {
                    Step::Warn { ends_at } => format!("warn {}", Day::of(ends_at - 1)),
                    Step::End { reason, action, .. } => format!("{} {reason}", action.as_str()),
                };
                (s.username.clone(), what)
            })
            .chain(
                p.skipped
                    .iter()
                    .map(|s| (s.username.clone(), format!("skip: {}", s.what.as_str()))),
            )
            .collect()
    }

    #[test]
    fn expiry_ends_seats_past_their_end_and_warns_within_the_window() {
        let lc = lifecycle("expires_after_days = 90\nwarn_before_days = 14\nat_end = \"delete\"");
        let claims = [
            active("old", 91),
            active("edge", 90),
            active("soon", 80),
            active("new", 10),
        ];
        let members = [
            member("old", Some(NOW)),
            member("edge", Some(NOW)),
            member("soon", Some(NOW)),
            member("new", Some(NOW)),
        ];
        let s = summary(&plan(&lc, &claims, &members));
        assert_eq!(
            s,
            [
                (
                    "edge_acme".into(),
                    "delete expired (ended 2026-12-02)".into()
                ),
                (
                    "old_acme".into(),
                    "delete expired (ended 2026-12-01)".into()
                ),
                ("soon_acme".into(), "warn 2026-12-12".into()),
            ]
        );
    }

    #[test]
    fn an_extension_moves_the_end_a_warned_seat_is_not_warned_again_and_old_claims_read_their_update()
     {
        let lc = lifecycle("expires_after_days = 90\nwarn_before_days = 14\nat_end = \"disable\"");
        let mut extended = active("extended", 120);
        extended.extended_until = Some(NOW + 30 * DAY_MS);
        let mut extended_soon = active("ext_soon", 120);
        extended_soon.extended_until = Some(NOW + 3 * DAY_MS);
        let mut warned = active("warned", 80);
        warned.warned_at = Some(NOW - DAY_MS);
        // Stored before activations were recorded: `updated_at` is the
        // activation.
        let mut legacy = active("legacy", 95);
        legacy.activated_at = None;
        // Activated long ago, touched (warned) yesterday: the activation
        // counts, not the last change.
        let mut touched = active("touched", 95);
        touched.updated_at = NOW - DAY_MS;
        touched.warned_at = Some(NOW - DAY_MS);
        let claims = [extended, extended_soon, warned, legacy, touched];
        let members: Vec<_> = ["extended", "ext_soon", "warned", "legacy", "touched"]
            .iter()
            .map(|u| member(u, Some(NOW)))
            .collect();
        assert_eq!(
            summary(&plan(&lc, &claims, &members)),
            [
                ("ext_soon_acme".into(), "warn 2026-12-05".into()),
                (
                    "legacy_acme".into(),
                    "disable expired (ended 2026-11-27)".into()
                ),
                (
                    "touched_acme".into(),
                    "disable expired (ended 2026-11-27)".into()
                ),
            ]
        );
    }

    #[test]
    fn idle_and_never_signed_in_seats_are_reclaimed_by_their_own_settings() {
        let lc = lifecycle(
            "reclaim_after_days_inactive = 60\nreclaim_never_signed_in_after_days = 21\nat_end = \"downgrade\"\ndowngrade_to = { role = \"viewer\", user_type = \"viewerUT\" }",
        );
        let claims = [
            active("idle", 200),
            active("busy", 200),
            active("never", 22),
            active("fresh", 20),
            active("unknown", 200),
        ];
        let members = [
            member("idle", Some(NOW - 61 * DAY_MS)),
            member("busy", Some(NOW - 59 * DAY_MS)),
            member("never", Some(-1)),
            member("fresh", Some(-1)),
            member("unknown", None),
        ];
        let p = plan(&lc, &claims, &members);
        assert_eq!(
            summary(&p),
            [
                (
                    "idle_acme".into(),
                    "downgrade idle: last signed in 2026-10-03 (61 days ago)".into()
                ),
                (
                    "never_acme".into(),
                    "downgrade never signed in (22 days since the seat began)".into()
                ),
                (
                    "unknown_acme".into(),
                    "skip: the portal gave no last sign-in: not reclaimed".into()
                ),
            ]
        );
        match &p.steps[0].what {
            Step::End { downgrade_to, .. } => assert_eq!(
                downgrade_to.as_ref().map(|d| d.user_type.as_str()),
                Some("viewerUT")
            ),
            other => panic!("{other:?}"),
        }
        // Without its own setting, never signing in counts as idle from
        // the activation.
        let lc = lifecycle("reclaim_after_days_inactive = 60\nat_end = \"delete\"");
        let s = summary(&plan(
            &lc,
            &[active("never", 61), active("fresh", 22)],
            &[member("never", Some(-1)), member("fresh", Some(-1))],
        ));
        assert_eq!(
            s,
            [(
                "never_acme".into(),
                "delete never signed in (61 days since the seat began)".into()
            )]
        );
    }

    #[test]
    fn a_disabled_member_keeps_its_seat_held_and_is_neither_warned_nor_ended_again() {
        let lc = lifecycle("expires_after_days = 30\nwarn_before_days = 7\nat_end = \"disable\"");
        let mut off = member("off", Some(NOW));
        off.1.disabled = true;
        let mut soon = member("soon", Some(NOW));
        soon.1.disabled = true;
        let s = summary(&plan(
            &lc,
            &[active("off", 31), active("soon", 25)],
            &[off, soon],
        ));
        let skip = format!("skip: {}", Skip::Disabled.as_str());
        assert_eq!(
            s,
            [
                ("off_acme".into(), skip.clone()),
                ("soon_acme".into(), skip)
            ]
        );
    }

    #[test]
    fn administrators_the_broker_the_keep_list_and_unlisted_members_are_never_touched() {
        let lc = lifecycle("expires_after_days = 30\nat_end = \"delete\"");
        let mut admin = member("boss", Some(NOW));
        admin.1.admin = true;
        let claims = [
            active("boss", 31),
            active("kept", 31),
            active("gone", 31),
            {
                let mut c = active("broker", 31);
                c.username = Some("broker_admin".into());
                c
            },
            {
                let mut r = active("pending", 31);
                r.state = ClaimState::Reserved;
                r
            },
        ];
        let members = [
            admin,
            member("kept", Some(NOW)),
            member("broker", Some(NOW)),
        ];
        let p = plan(&lc, &claims, &members);
        assert!(p.steps.is_empty(), "{:?}", p.steps);
        let skipped: Vec<(&str, Skip)> = p
            .skipped
            .iter()
            .map(|s| (s.username.as_str(), s.what))
            .collect();
        assert_eq!(
            skipped,
            [
                ("boss_acme", Skip::Administrator),
                ("broker_admin", Skip::BrokerAccount),
                ("gone_acme", Skip::NotInPortal),
                ("kept_acme", Skip::Kept),
            ]
        );
    }

    /// The plan read from a store and a portal: the member listing's
    /// `lastLogin` decides, an administrator is left alone, and a store
    /// without lifecycle pools costs no portal call.
    #[tokio::test]
    async fn the_plan_reads_the_claims_and_the_portals_member_list() {
        use crate::portal::Member;
        use crate::portal::fake::FakePortal;
        use crate::seats::memory::MemoryLedger;
        use crate::seats::{Change, Expect, ReserveRequest, Stage};

        let rules = Rules::from_toml(
            r#"
            [[pools]]
            name = "acme"
            seats = 5
            role = "viewer"
            user_type = "viewerUT"
            [pools.match]
            email_domains = ["acme.org"]
            [pools.lifecycle]
            reclaim_after_days_inactive = 30
            at_end = "delete"
            "#,
        )
        .unwrap();
        let ledger = MemoryLedger::new();
        let portal = FakePortal::new("org1", &[]);
        for (user, last_login, role) in [
            ("ana", NOW - 40 * DAY_MS, "iAAAAAAAAAAAAAAA"),
            ("bo", NOW - 5 * DAY_MS, "iAAAAAAAAAAAAAAA"),
            ("cy", NOW - 400 * DAY_MS, "org_admin"),
        ] {
            let key = ClaimKey {
                pool: PoolId::parse("acme").unwrap(),
                person: format!("{user}@acme.org"),
            };
            let username = format!("{user}_acme");
            ledger
                .reserve(ReserveRequest {
                    key: &key,
                    capacity: 5,
                    delivery: "standard:x",
                    claim_id: &format!("c-{user}"),
                    username: &username,
                    now: NOW - 100 * DAY_MS,
                    hold: crate::seats::Hold::InFlight,
                })
                .await
                .unwrap();
            let id = format!("c-{user}");
            ledger
                .transition(
                    &key,
                    Expect::new(&id, &[Stage::Reserved(crate::seats::Hold::InFlight)]),
                    Change::Activate {
                        username: &username,
                    },
                    NOW - 100 * DAY_MS,
                )
                .await
                .unwrap();
            portal.add_member(Member {
                username: username.clone(),
                org_id: Some("org1".into()),
                role: Some(role.into()),
                last_login: Some(last_login),
                ..Member::default()
            });
        }

        let plan = read_plan(&ledger, &portal, &rules, "broker_admin", NOW)
            .await
            .unwrap();

        let steps: Vec<&str> = plan.steps.iter().map(|s| s.username.as_str()).collect();
        assert_eq!(steps, ["ana_acme"]);
        assert!(matches!(
            plan.steps[0].what,
            Step::End {
                reason: EndReason::Inactive { days: 40, .. },
                action: EndAction::Delete,
                ..
            }
        ));
        assert_eq!(plan.skipped.len(), 1);
        assert_eq!(plan.skipped[0].what, Skip::Administrator);
        let text = render(&plan);
        assert!(text.contains("ana_acme"), "{text}");
        assert!(text.contains("delete (idle: last signed in"), "{text}");
        assert!(
            text.contains("cy_acme") && text.contains("never touched"),
            "{text}"
        );

        // No pool with a lifecycle: nothing read from the portal.
        let plain = Rules::from_toml(
            "[[pools]]\nname = \"acme\"\nseats = 5\nrole = \"viewer\"\nuser_type = \"viewerUT\"\n[pools.match]\nemail_domains = [\"acme.org\"]\n",
        )
        .unwrap();
        portal.fail_next_read(PortalError::Unavailable("must not be called".into()));
        let empty = read_plan(&ledger, &portal, &plain, "broker_admin", NOW)
            .await
            .unwrap();
        assert_eq!(empty, LifecyclePlan::default());
        assert!(render(&empty).starts_with("Nothing to do"));
    }
}
