//! What the import knows about the organization and the ledger before it
//! looks at a single row: read once (members, roles, groups, claims, pool
//! usage), never per row.

use std::collections::HashMap;

use crate::domain::PoolId;
use crate::policy::Rules;
use crate::portal::{Member, Portal, PortalError, Role};
use crate::seats::{ClaimKey, ClaimState, LedgerError, SeatLedger};

/// The organization as the portal reported it when the import started.
#[derive(Debug, Clone, Default)]
pub struct OrgView {
    /// The organization id.
    pub org_id: String,
    /// Members by lower-cased username.
    members: HashMap<String, Member>,
    /// Role ids by lower-cased name.
    role_by_name: HashMap<String, String>,
    /// Role names by id.
    role_name: HashMap<String, String>,
    /// Group ids by lower-cased title, and the title as the portal spells it.
    groups: HashMap<String, (String, String)>,
    /// Licences left per user type (purchased − assigned), for the types
    /// the portal reports as purchased. Empty when it could not be read.
    licenses: HashMap<String, u64>,
}

impl OrgView {
    /// Reads members, roles and groups (three paged listings).
    pub async fn load<P: Portal>(portal: &P) -> Result<OrgView, PortalError> {
        let org_id = portal.org_id().await?;
        let members = portal.org_members().await?;
        let roles = portal.roles().await?;
        let groups = portal.group_titles().await?;
        let mut view = OrgView::new(org_id, members, roles, groups);
        // Licences are a courtesy check: an organization that does not
        // report them (ArcGIS Enterprise) is left to the portal to refuse.
        match portal.license_counts().await {
            Ok(counts) => view.set_licenses(
                counts
                    .types
                    .into_iter()
                    .filter(|(_, purchased, _)| *purchased > 0)
                    .map(|(t, purchased, assigned)| (t, purchased.saturating_sub(assigned))),
            ),
            Err(e) => tracing::warn!("licence counts not read, not checked: {e}"),
        }
        Ok(view)
    }

    /// Sets the licences left per user type.
    pub fn set_licenses(&mut self, left: impl IntoIterator<Item = (String, u64)>) {
        self.licenses = left.into_iter().collect();
    }

    /// Licences of `user_type` left in the organization, when known.
    pub fn licenses_left(&self, user_type: &str) -> Option<u64> {
        self.licenses.get(user_type).copied()
    }

    /// Builds a view from listings (tests, benchmarks).
    pub fn new(
        org_id: String,
        members: Vec<Member>,
        roles: Vec<Role>,
        groups: Vec<(String, String)>,
    ) -> OrgView {
        let mut view = OrgView {
            org_id,
            ..OrgView::default()
        };
        for m in members {
            view.members.insert(m.username.to_lowercase(), m);
        }
        for r in roles {
            view.role_by_name
                .entry(r.name.trim().to_lowercase())
                .or_insert_with(|| r.id.clone());
            view.role_name.insert(r.id, r.name);
        }
        for (id, title) in groups {
            view.groups
                .entry(title.trim().to_lowercase())
                .or_insert((id, title));
        }
        view
    }

    /// The member with this username (case-insensitive), if any.
    pub fn member(&self, username: &str) -> Option<&Member> {
        self.members.get(&username.to_lowercase())
    }

    /// Number of members read.
    pub fn member_count(&self) -> usize {
        self.members.len()
    }

    /// The id of the role with this name (case-insensitive).
    pub fn role_id_by_name(&self, name: &str) -> Option<&str> {
        self.role_by_name
            .get(&name.trim().to_lowercase())
            .map(String::as_str)
    }

    /// Whether the organization has a role with exactly this id.
    pub fn has_role_id(&self, id: &str) -> bool {
        self.role_name.contains_key(id)
    }

    /// A role's display name, or the id itself.
    pub fn role_label<'a>(&'a self, id: &'a str) -> &'a str {
        self.role_name.get(id).map(String::as_str).unwrap_or(id)
    }

    /// The id of the group with this title (case-insensitive).
    pub fn group_id(&self, title: &str) -> Option<&str> {
        self.groups
            .get(&title.trim().to_lowercase())
            .map(|(id, _)| id.as_str())
    }
}

/// One seat a person holds, as the ledger had it when the import started.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeldSeat {
    /// Pool and person.
    pub key: ClaimKey,
    /// The claim's id (needed to release it).
    pub claim_id: String,
    /// Reserved or active.
    pub state: ClaimState,
    /// Intended (reserved) or actual (active) username.
    pub username: Option<String>,
}

/// Seats per pool and who holds them.
#[derive(Debug, Clone, Default)]
pub struct SeatView {
    /// `(capacity, used)` per pool.
    usage: HashMap<PoolId, (u32, u32)>,
    /// Claims by person (lower-cased e-mail).
    by_person: HashMap<String, Vec<HeldSeat>>,
    /// Claims by lower-cased username (active and reserved).
    by_username: HashMap<String, Vec<HeldSeat>>,
}

impl SeatView {
    /// Reads every pool's usage and claims.
    pub async fn load<L: SeatLedger>(ledger: &L, rules: &Rules) -> Result<SeatView, LedgerError> {
        let mut view = SeatView::default();
        for pool in &rules.pools {
            let used = ledger.usage(&pool.id).await?.used;
            view.usage.insert(pool.id.clone(), (pool.seats, used));
            for c in ledger.claims(&pool.id).await? {
                view.add(HeldSeat {
                    key: c.key,
                    claim_id: c.claim_id,
                    state: c.state,
                    username: c.username,
                });
            }
        }
        Ok(view)
    }

    /// Builds a view by hand (tests, benchmarks).
    pub fn with_usage(usage: impl IntoIterator<Item = (PoolId, u32, u32)>) -> SeatView {
        SeatView {
            usage: usage.into_iter().map(|(p, c, u)| (p, (c, u))).collect(),
            ..SeatView::default()
        }
    }

    /// Records a held seat.
    pub fn add(&mut self, seat: HeldSeat) {
        if let Some(u) = &seat.username {
            self.by_username
                .entry(u.to_lowercase())
                .or_default()
                .push(seat.clone());
        }
        self.by_person
            .entry(seat.key.person.clone())
            .or_default()
            .push(seat);
    }

    /// Seats left in a pool (`capacity - used`, never negative).
    pub fn free(&self, pool: &PoolId) -> u32 {
        self.usage
            .get(pool)
            .map(|(cap, used)| cap.saturating_sub(*used))
            .unwrap_or(0)
    }

    /// `(capacity, used)` of a pool.
    pub fn usage(&self, pool: &PoolId) -> (u32, u32) {
        self.usage.get(pool).copied().unwrap_or((0, 0))
    }

    /// The claim of `person` in `pool`, if any.
    pub fn claim(&self, pool: &PoolId, person: &str) -> Option<&HeldSeat> {
        self.by_person
            .get(person)
            .and_then(|v| v.iter().find(|s| &s.key.pool == pool))
    }

    /// The seats held under a username (case-insensitive): a member's
    /// claims are recorded with the username they were confirmed under.
    pub fn seats_of(&self, username: &str) -> &[HeldSeat] {
        self.by_username
            .get(&username.to_lowercase())
            .map(Vec::as_slice)
            .unwrap_or_default()
    }
}
