//! A pool's member list as the administrator's page shows it: who holds a
//! seat, in which state, since when, until when, and when they last signed
//! in. Read-only; the actions on a row (extend, reclaim now) are the
//! workflow's, elsewhere.
//!
//! [`rows`] is pure: the pool's claims, its lifecycle and (when read) the
//! portal's last sign-ins in, one [`MemberRow`] per claim out.
//! `Provisioner::pool_detail` reads them.
//!
//! Where each column comes from:
//! - **activated**: the claim's first activation ([`Claim::activated_at`],
//!   as `provisioning::lifecycle` reads it).
//! - **seat ends**: the pool's lifecycle, `Lifecycle::ends_at` from the
//!   activation, or the administrator's extension; none without a
//!   lifecycle or for a seat not yet active.
//! - **last sign-in**: the portal's `lastLogin`, only when asked for: it
//!   takes one listing of the whole organization, too slow for every load
//!   of the page.

use std::collections::HashMap;

use crate::domain::UnixMillis;
use crate::policy::lifecycle::Lifecycle;
use crate::seats::{Claim, Stage};

/// What the page knows of a member's last sign-in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LastSignIn {
    /// The portal was not asked (the default: it costs a listing of the
    /// organization).
    NotRead,
    /// The portal says the member never signed in.
    Never,
    /// The last sign-in.
    At(UnixMillis),
    /// The portal lists the member without saying.
    NotGiven,
    /// The portal does not list this username (not created yet, removed,
    /// or renamed).
    NotListed,
}

/// One seat of the pool.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberRow {
    /// The person (lower-cased e-mail).
    pub person: String,
    /// Their ArcGIS username (intended, while reserved).
    pub username: Option<String>,
    /// Where the claim is in its life.
    pub stage: Stage,
    /// When the seat was reserved.
    pub reserved_at: UnixMillis,
    /// When the seat became active (`None` while reserved).
    pub activated_at: Option<UnixMillis>,
    /// When the seat ends under the pool's lifecycle (`None`: it does not,
    /// or it is not active yet).
    pub ends_at: Option<UnixMillis>,
    /// The last sign-in, as far as known.
    pub last_sign_in: LastSignIn,
}

/// When a claim's seat became active; `None` while it is reserved.
pub fn activated_at(claim: &Claim) -> Option<UnixMillis> {
    claim.activated_at()
}

/// One row per claim, by person. `sign_ins`: the portal's `lastLogin` by
/// lower-cased username (`Some(-1)` never, `None` not given), when it was
/// read.
pub fn rows(
    claims: &[Claim],
    lifecycle: Option<&Lifecycle>,
    sign_ins: Option<&HashMap<String, Option<i64>>>,
) -> Vec<MemberRow> {
    let mut out: Vec<MemberRow> = claims
        .iter()
        .map(|c| {
            let activated = activated_at(c);
            let ends_at = match (lifecycle, activated) {
                (Some(lc), Some(at)) => lc.ends_at(at, c.extended_until),
                _ => None,
            };
            let last_sign_in = match (sign_ins, c.username.as_deref()) {
                (None, _) => LastSignIn::NotRead,
                (Some(_), None) => LastSignIn::NotListed,
                (Some(map), Some(u)) => match map.get(&u.to_lowercase()) {
                    None => LastSignIn::NotListed,
                    Some(None) => LastSignIn::NotGiven,
                    Some(Some(ms)) if *ms < 0 => LastSignIn::Never,
                    Some(Some(ms)) => LastSignIn::At(*ms),
                },
            };
            MemberRow {
                person: c.key.person.clone(),
                username: c.username.clone(),
                stage: c.stage(),
                reserved_at: c.reserved_at,
                activated_at: activated,
                ends_at,
                last_sign_in,
            }
        })
        .collect();
    out.sort_by(|a, b| a.person.cmp(&b.person));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::date::DAY_MS;
    use crate::domain::{ClaimKey, PoolId};
    use crate::policy::lifecycle::EndAction;
    use crate::seats::{ClaimState, Hold, ReserveRequest};

    const NOW: UnixMillis = 1_790_000_000_000;

    /// A claim as the store makes it, moved to ACTIVE `activated` when
    /// given (built through the store's own constructor, so new claim
    /// fields need no change here).
    fn claim(person: &str, reserved: UnixMillis, activated: Option<UnixMillis>) -> Claim {
        let key = ClaimKey {
            pool: PoolId::parse("acme").unwrap(),
            person: person.into(),
        };
        let username = format!("{}_acme", person.split('@').next().unwrap_or(""));
        let mut c = ReserveRequest {
            key: &key,
            capacity: 10,
            delivery: "standard:x",
            claim_id: "c1",
            username: &username,
            hold: Hold::Queued,
            now: reserved,
        }
        .reserved_claim();
        if let Some(at) = activated {
            c.state = ClaimState::Active;
            c.hold = None;
            c.updated_at = at;
            c.activated_at = Some(at);
        }
        c
    }

    fn lifecycle(days: u32) -> Lifecycle {
        Lifecycle {
            expires_after_days: Some(days),
            ends_at: None,
            ends_on: None,
            warn_before_days: 0,
            at_end: EndAction::Downgrade,
            downgrade_to: None,
            reclaim_after_days_inactive: None,
            reclaim_never_signed_in_after_days: None,
        }
    }

    #[test]
    fn active_seats_end_by_the_pool_lifecycle_from_their_activation() {
        let claims = [
            claim("bo@acme.org", NOW - 10 * DAY_MS, Some(NOW - 9 * DAY_MS)),
            claim("ana@acme.org", NOW - DAY_MS, None),
        ];
        let rows = rows(&claims, Some(&lifecycle(30)), None);
        assert_eq!(rows[0].person, "ana@acme.org", "by person");
        assert_eq!(rows[0].stage, Stage::Reserved(Hold::Queued));
        assert_eq!((rows[0].activated_at, rows[0].ends_at), (None, None));
        assert_eq!(rows[1].activated_at, Some(NOW - 9 * DAY_MS));
        assert_eq!(rows[1].ends_at, Some(NOW + 21 * DAY_MS));
        assert_eq!(rows[1].last_sign_in, LastSignIn::NotRead);
        // Without a lifecycle a seat does not end.
        let rows = super::rows(&claims, None, None);
        assert_eq!(rows[1].ends_at, None);
    }

    #[test]
    fn last_sign_ins_come_from_the_portal_by_username_in_any_case() {
        let claims = [
            claim("ana@acme.org", NOW, Some(NOW)),
            claim("bo@acme.org", NOW, Some(NOW)),
            claim("cy@acme.org", NOW, Some(NOW)),
            claim("di@acme.org", NOW, Some(NOW)),
        ];
        let portal: HashMap<String, Option<i64>> = [
            ("ana_acme".to_string(), Some(NOW - 5)),
            ("bo_acme".to_string(), Some(-1)),
            ("cy_acme".to_string(), None),
        ]
        .into_iter()
        .collect();
        let rows = rows(&claims, None, Some(&portal));
        let seen: Vec<LastSignIn> = rows.iter().map(|r| r.last_sign_in).collect();
        assert_eq!(
            seen,
            [
                LastSignIn::At(NOW - 5),
                LastSignIn::Never,
                LastSignIn::NotGiven,
                LastSignIn::NotListed
            ]
        );
    }
}
