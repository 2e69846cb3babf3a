//! What the import knows about the organization and the ledger before it
//! looks at a single row: read once (members, roles, groups, claims, pool
//! usage), never per row.

use std::collections::HashMap;

use crate::domain::{ClaimKey, PoolId};
use crate::policy::Rules;
use crate::portal::{Member, Members, OrgAdmin, PortalError, Role};
use crate::seats::{ClaimState, ClaimStore, LedgerError};

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
    /// Reads members, roles and groups (three paged listings). With
    /// `group_members` (the file has a `groups` column), also reads each
    /// group's members ([`OrgAdmin::group_members`], one group after the
    /// other) and adds the group to each member's `group_ids`: the org
    /// listing is not known to carry them, and without them every re-run
    /// would report `groups` as changed.
    ///
    /// A group whose members the portal refuses to list (`Rejected`: 403
    /// for a group the administrator cannot see, `COM_0003`) is logged and
    /// skipped; adding a member to it is then attempted, which is harmless
    /// (`addUsers` is idempotent). Any other failure (transient, auth,
    /// protocol) fails the load, like the other listings.
    pub async fn load<P: Members + OrgAdmin>(
        portal: &P,
        group_members: bool,
    ) -> Result<OrgView, PortalError> {
        let org_id = portal.org_id().await?;
        let members = portal.org_members().await?;
        let roles = portal.roles().await?;
        let groups = portal.group_titles().await?;
        let group_ids: Vec<String> = groups.iter().map(|(id, _)| id.clone()).collect();
        let mut view = OrgView::new(org_id, members, roles, groups);
        if group_members {
            // Sequential: `futures` is not a dependency, and an organization
            // has far fewer groups than members.
            for gid in &group_ids {
                match portal.group_members(gid).await {
                    Ok(usernames) => view.add_group_members(gid, &usernames),
                    Err(PortalError::Rejected { code, message }) => tracing::warn!(
                        group = %gid,
                        "group members not readable ({code} {message}); adds to it are attempted"
                    ),
                    Err(e) => return Err(e),
                }
            }
        }
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

    /// Records that these usernames belong to `group_id`: the group is
    /// added to each known member's `group_ids` (a union with what the
    /// listing gave, each id once). Usernames that are not members of the
    /// organization (a group may hold outside accounts) are ignored.
    pub fn add_group_members(&mut self, group_id: &str, usernames: &[String]) {
        for name in usernames {
            if let Some(m) = self.members.get_mut(&name.to_lowercase())
                && !m.group_ids.iter().any(|g| g == group_id)
            {
                m.group_ids.push(group_id.to_string());
            }
        }
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
    pub async fn load<L: ClaimStore>(ledger: &L, rules: &Rules) -> Result<SeatView, LedgerError> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::portal::fake::FakePortal;

    fn member(username: &str, group_ids: &[&str]) -> Member {
        Member {
            username: username.to_string(),
            role: Some("org_user".into()),
            user_type: Some("creatorUT".into()),
            group_ids: group_ids.iter().map(|g| g.to_string()).collect(),
            ..Member::default()
        }
    }

    #[test]
    fn group_members_are_added_to_what_the_listing_gave_each_once() {
        // Arrange: the listing knew Ana is in Crew, nothing else.
        let mut view = OrgView::new(
            "ORG".into(),
            vec![member("Ana_Acme", &["g-Crew"]), member("bo_acme", &[])],
            vec![],
            vec![
                ("g-Crew".into(), "Crew".into()),
                ("g-Office".into(), "Office".into()),
            ],
        );

        // Act: group lists name members in any case, and outsiders.
        view.add_group_members("g-Crew", &["ana_acme".into(), "bo_acme".into()]);
        view.add_group_members("g-Office", &["ANA_ACME".into(), "stranger".into()]);

        // Assert
        assert_eq!(
            view.member("ana_acme").unwrap().group_ids,
            ["g-Crew", "g-Office"]
        );
        assert_eq!(view.member("bo_acme").unwrap().group_ids, ["g-Crew"]);
        assert!(view.member("stranger").is_none());
    }

    #[tokio::test]
    async fn load_reads_group_members_only_when_asked_and_skips_refused_groups() {
        // Arrange: a listing without groups; Office cannot be listed (403).
        let fake = FakePortal::new("ORG", &["Crew", "Office", "Field"]);
        fake.add_member(member("ana_acme", &["g-Crew", "g-Office"]));
        fake.add_member(member("bo_acme", &["g-Field"]));
        fake.list_members_without_groups();
        fake.fail_group_members(
            "g-Office",
            PortalError::Rejected {
                code: "GWM_0003".into(),
                message: "You do not have permissions to access this resource.".into(),
            },
        );

        // Act
        let without = OrgView::load(&fake, false).await.unwrap();
        let reads_without = fake.group_member_reads();
        let with = OrgView::load(&fake, true).await.unwrap();

        // Assert
        assert_eq!(reads_without, 0, "no groups column, no userList calls");
        assert!(without.member("ana_acme").unwrap().group_ids.is_empty());
        assert_eq!(fake.group_member_reads(), 3, "one read per group");
        assert_eq!(with.member("ana_acme").unwrap().group_ids, ["g-Crew"]);
        assert_eq!(with.member("bo_acme").unwrap().group_ids, ["g-Field"]);
    }

    #[tokio::test]
    async fn a_transient_failure_reading_a_group_fails_the_load() {
        let fake = FakePortal::new("ORG", &["Crew"]);
        fake.add_member(member("ana_acme", &["g-Crew"]));
        fake.fail_group_members("g-Crew", PortalError::Unavailable("HTTP 503".into()));

        let err = OrgView::load(&fake, true).await.unwrap_err();

        assert!(err.is_transient(), "{err:?}");
        assert!(OrgView::load(&fake, false).await.is_ok());
    }
}
