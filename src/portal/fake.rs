//! An in-process fake [`Portal`]: a map of members, no HTTP.
//!
//! For the workflow's unit tests and the overhead benchmark only. Anything
//! that must behave like ArcGIS Online is tested against the portal
//! simulator over real HTTP instead.
//!
//! The write operations keep the rules a caller must cope with: a role or
//! user type change that breaks the compatibility table (`compat`) is
//! refused with the same codes as the real client, and once seats are set
//! with [`FakePortal::set_purchased`], a type change needs a free seat.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Mutex;

use serde_json::{Map, Value};

use super::{
    BUILT_IN_ROLES, INCOMPATIBLE_ROLE, LicenseCounts, Member, NewMember, Portal, PortalError,
    ProfileUpdate, Role, USER_TYPE_REFUSED,
};
use crate::domain::Email;
use crate::domain::compat::{self, Compat};
use crate::domain::layer_url::{LayerUrl, globalid_literal};

/// The fake portal.
#[derive(Default)]
pub struct FakePortal {
    state: Mutex<FakeState>,
}

#[derive(Default)]
struct FakeState {
    org_id: String,
    members: HashMap<String, Member>,
    taken_elsewhere: HashSet<String>,
    /// `(id, title)` in creation order.
    groups: Vec<(String, String)>,
    /// Roles `portals/self/roles` would list (not the built-in ones).
    roles: Vec<Role>,
    /// Purchased seats per user type; empty = unlimited.
    purchased: HashMap<String, u64>,
    invite_failures: VecDeque<PortalError>,
    write_failures: VecDeque<PortalError>,
    read_failures: VecDeque<PortalError>,
    /// Hosted layer records by checked layer URL.
    layers: HashMap<String, Vec<Map<String, Value>>>,
    invites: u32,
    writes: Vec<String>,
    /// Whether `org_members` leaves `group_ids` empty, as ArcGIS Online's
    /// listing may (then only `group_members` tells who is in a group).
    listing_without_groups: bool,
    /// `group_members` of these group ids fails with this error, every time.
    group_member_failures: HashMap<String, PortalError>,
    /// How many `group_members` calls were made.
    group_member_reads: u32,
}

impl FakePortal {
    /// A fake organization with this id and these group titles (ids
    /// `g-<title>`), and the pre-built Viewer and Data Editor roles.
    pub fn new(org_id: &str, groups: &[&str]) -> Self {
        let fake = FakePortal::default();
        {
            let mut s = fake.lock();
            s.org_id = org_id.to_string();
            for g in groups {
                s.groups.push((format!("g-{g}"), g.to_string()));
            }
            s.roles = [
                ("iAAAAAAAAAAAAAAA", "Viewer"),
                ("iBBBBBBBBBBBBBBB", "Data Editor"),
            ]
            .iter()
            .map(|(id, name)| Role {
                id: id.to_string(),
                name: name.to_string(),
            })
            .collect();
        }
        fake
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, FakeState> {
        // A poisoned lock only means another test thread panicked; the data
        // is still usable for a fake.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Marks a username as taken by another organization.
    pub fn take_elsewhere(&self, username: &str) {
        self.lock().taken_elsewhere.insert(username.to_string());
    }

    /// The next invite fails with `err` (queue several for several).
    pub fn fail_next_invite(&self, err: PortalError) {
        self.lock().invite_failures.push_back(err);
    }

    /// The next write (`update_profile`, `update_role`, `update_user_type`,
    /// `add_to_groups`) fails with `err` and changes nothing (queue several
    /// for several).
    pub fn fail_next_write(&self, err: PortalError) {
        self.lock().write_failures.push_back(err);
    }

    /// The next [`Portal::feature_by_globalid`] fails with `err` (queue
    /// several for several).
    pub fn fail_next_read(&self, err: PortalError) {
        self.lock().read_failures.push_back(err);
    }

    /// Adds a record to a hosted layer (`layer_url` as configured) and
    /// returns its new global id (`{UPPER}`), also set as its `globalid`
    /// attribute. Panics on a layer URL [`LayerUrl::parse`] refuses: a
    /// test's mistake.
    pub fn put_feature(&self, layer_url: &str, mut attributes: Map<String, Value>) -> String {
        // ok: test support only; a bad URL is the test's own mistake.
        let layer = LayerUrl::parse(layer_url).expect("a valid layer URL");
        let mut s = self.lock();
        let records = s.layers.entry(layer.as_str().to_string()).or_default();
        let n = records.len() + 1;
        let id = format!("{{{:08X}-0000-4000-8000-{:012X}}}", n, n);
        attributes.insert("globalid".into(), Value::from(id.clone()));
        attributes.insert("objectid".into(), Value::from(n));
        records.push(attributes);
        id
    }

    /// Adds a member directly (as if created earlier).
    pub fn add_member(&self, m: Member) {
        self.lock().members.insert(m.username.clone(), m);
    }

    /// Adds a custom role (listed by [`Portal::roles`]; compatible with every
    /// user type, as the simulator's default custom role).
    pub fn add_role(&self, id: &str, name: &str) {
        let mut s = self.lock();
        if !s.roles.iter().any(|r| r.id == id) {
            s.roles.push(Role {
                id: id.to_string(),
                name: name.to_string(),
            });
        }
    }

    /// Sets the purchased seats of a user type. From the first call on,
    /// [`Portal::update_user_type`] needs a free seat (a type never set has
    /// none) and [`Portal::license_counts`] reports these numbers.
    pub fn set_purchased(&self, user_type: &str, seats: u64) {
        self.lock().purchased.insert(user_type.to_string(), seats);
    }

    /// From now on [`Portal::org_members`] reports no member's groups (the
    /// strict reading of the org listing); [`Portal::group_members`] still
    /// does.
    pub fn list_members_without_groups(&self) {
        self.lock().listing_without_groups = true;
    }

    /// Every [`Portal::group_members`] of `group_id` fails with `err`.
    pub fn fail_group_members(&self, group_id: &str, err: PortalError) {
        self.lock()
            .group_member_failures
            .insert(group_id.to_string(), err);
    }

    /// How many [`Portal::group_members`] calls were made.
    pub fn group_member_reads(&self) -> u32 {
        self.lock().group_member_reads
    }

    /// All members.
    pub fn members(&self) -> Vec<Member> {
        self.lock().members.values().cloned().collect()
    }

    /// How many invites were attempted.
    pub fn invites(&self) -> u32 {
        self.lock().invites
    }

    /// Every write attempted, in order, e.g. `update_role ana_acme
    /// iAAAAAAAAAAAAAAA`, `update_user_type ana_acme viewerUT`,
    /// `update_profile ana_acme`, `add_to_groups ana_acme g-Crew,g-Office`.
    pub fn writes(&self) -> Vec<String> {
        self.lock().writes.clone()
    }
}

fn rejected(code: &str, message: impl Into<String>) -> PortalError {
    PortalError::Rejected {
        code: code.to_string(),
        message: message.into(),
    }
}

fn no_user() -> PortalError {
    rejected("400", "User does not exist or is inaccessible.")
}

impl FakeState {
    /// Records a write and pops a scripted failure, if any.
    fn write(&mut self, what: String) -> Result<(), PortalError> {
        self.writes.push(what);
        match self.write_failures.pop_front() {
            Some(err) => Err(err),
            None => Ok(()),
        }
    }

    fn role_known(&self, role_id: &str) -> bool {
        BUILT_IN_ROLES.iter().any(|(id, _)| *id == role_id)
            || self.roles.iter().any(|r| r.id == role_id)
    }

    fn assigned(&self, user_type: &str) -> u64 {
        self.members
            .values()
            .filter(|m| m.user_type.as_deref() == Some(user_type))
            .count() as u64
    }
}

impl Portal for FakePortal {
    async fn org_id(&self) -> Result<String, PortalError> {
        Ok(self.lock().org_id.clone())
    }

    async fn member(&self, username: &str) -> Result<Option<Member>, PortalError> {
        Ok(self.lock().members.get(username).cloned())
    }

    async fn username_available(&self, username: &str) -> Result<bool, PortalError> {
        let s = self.lock();
        Ok(!s.members.contains_key(username) && !s.taken_elsewhere.contains(username))
    }

    async fn group_ids(&self, names: &[String]) -> Result<Vec<Option<String>>, PortalError> {
        let s = self.lock();
        Ok(names
            .iter()
            .map(|n| {
                let wanted = n.trim().to_lowercase();
                s.groups
                    .iter()
                    .find(|(_, title)| title.to_lowercase() == wanted)
                    .map(|(id, _)| id.clone())
            })
            .collect())
    }

    async fn invite(&self, m: &NewMember) -> Result<(), PortalError> {
        let mut s = self.lock();
        s.invites += 1;
        if let Some(err) = s.invite_failures.pop_front() {
            return Err(err);
        }
        if s.members.contains_key(&m.username) || s.taken_elsewhere.contains(&m.username) {
            return Err(PortalError::NotInvited {
                username: m.username.clone(),
            });
        }
        let org_id = s.org_id.clone();
        let full_name = format!("{} {}", m.first_name.trim(), m.last_name.trim())
            .trim()
            .to_string();
        let non_empty = |v: &str| Some(v.trim().to_string()).filter(|v| !v.is_empty());
        s.members.insert(
            m.username.clone(),
            Member {
                username: m.username.clone(),
                email: Some(m.email.clone()),
                org_id: Some(org_id),
                role: Some(m.role.clone()),
                user_type: Some(m.user_type.clone()),
                group_ids: m.group_ids.clone(),
                first_name: non_empty(&m.first_name),
                last_name: non_empty(&m.last_name),
                full_name: non_empty(&full_name),
                // The simulator's defaults for a new member.
                access: Some("org".into()),
                esri_access: Some("arcgisonly".into()),
            },
        );
        Ok(())
    }

    async fn license_counts(&self) -> Result<LicenseCounts, PortalError> {
        let s = self.lock();
        let mut counts: HashMap<String, (u64, u64)> = HashMap::new();
        for (t, n) in &s.purchased {
            counts.entry(t.clone()).or_default().0 = *n;
        }
        for m in s.members.values() {
            counts
                .entry(m.user_type.clone().unwrap_or_default())
                .or_default()
                .1 += 1;
        }
        let mut types: Vec<_> = counts.into_iter().map(|(t, (p, a))| (t, p, a)).collect();
        types.sort();
        Ok(LicenseCounts { types })
    }

    async fn roles(&self) -> Result<Vec<Role>, PortalError> {
        let s = self.lock();
        let mut roles: Vec<Role> = BUILT_IN_ROLES
            .iter()
            .map(|(id, name)| Role {
                id: id.to_string(),
                name: name.to_string(),
            })
            .collect();
        roles.extend(s.roles.iter().cloned());
        Ok(roles)
    }

    async fn org_members(&self) -> Result<Vec<Member>, PortalError> {
        let s = self.lock();
        let mut members: Vec<Member> = s.members.values().cloned().collect();
        members.sort_by(|a, b| a.username.cmp(&b.username));
        if s.listing_without_groups {
            for m in &mut members {
                m.group_ids.clear();
            }
        }
        Ok(members)
    }

    /// Members whose `group_ids` hold the id, sorted; an unknown id is
    /// `Rejected` `COM_0003`, as the portal answers.
    async fn group_members(&self, group_id: &str) -> Result<Vec<String>, PortalError> {
        let mut s = self.lock();
        s.group_member_reads += 1;
        if let Some(err) = s.group_member_failures.get(group_id) {
            return Err(err.clone());
        }
        if !s.groups.iter().any(|(id, _)| id == group_id) {
            return Err(rejected(
                "COM_0003",
                "Group does not exist or is inaccessible.",
            ));
        }
        let mut names: Vec<String> = s
            .members
            .values()
            .filter(|m| m.group_ids.iter().any(|g| g == group_id))
            .map(|m| m.username.clone())
            .collect();
        names.sort();
        Ok(names)
    }

    async fn group_titles(&self) -> Result<Vec<(String, String)>, PortalError> {
        Ok(self.lock().groups.clone())
    }

    async fn update_profile(
        &self,
        username: &str,
        update: &ProfileUpdate,
    ) -> Result<(), PortalError> {
        if update.is_empty() {
            return Ok(());
        }
        let mut s = self.lock();
        s.write(format!("update_profile {username}"))?;
        if let Some(a) = update.access.as_deref()
            && !matches!(a, "public" | "org" | "private")
        {
            return Err(rejected("400", format!("invalid access {a:?}")));
        }
        if let Some(t) = update.user_type.as_deref()
            && !matches!(t, "arcgisonly" | "both")
        {
            return Err(rejected("400", format!("invalid userType {t:?}")));
        }
        let email = match update.email.as_deref() {
            Some(e) => Some(
                Email::parse(e)
                    .map_err(|_| rejected("400", "invalid e-mail address"))?
                    .as_str()
                    .to_string(),
            ),
            None => None,
        };
        let m = s.members.get_mut(username).ok_or_else(no_user)?;
        if let Some(e) = email {
            m.email = Some(e);
        }
        let set = |slot: &mut Option<String>, v: &Option<String>| {
            if let Some(v) = v {
                *slot = Some(v.trim().to_string()).filter(|v| !v.is_empty());
            }
        };
        set(&mut m.first_name, &update.first_name);
        set(&mut m.last_name, &update.last_name);
        set(&mut m.full_name, &update.full_name);
        set(&mut m.access, &update.access);
        set(&mut m.esri_access, &update.user_type);
        Ok(())
    }

    async fn update_role(&self, username: &str, role_id: &str) -> Result<(), PortalError> {
        let mut s = self.lock();
        s.write(format!("update_role {username} {role_id}"))?;
        if !s.role_known(role_id) {
            return Err(rejected("400", format!("Invalid role {role_id}.")));
        }
        let m = s.members.get_mut(username).ok_or_else(no_user)?;
        let user_type = m.user_type.clone().unwrap_or_default();
        if compat::compatible(role_id, &user_type) == Compat::No {
            return Err(rejected(
                INCOMPATIBLE_ROLE,
                format!("role {role_id} does not fit user type {user_type}"),
            ));
        }
        m.role = Some(role_id.to_string());
        Ok(())
    }

    async fn update_user_type(&self, username: &str, user_type: &str) -> Result<(), PortalError> {
        let mut s = self.lock();
        s.write(format!("update_user_type {username} {user_type}"))?;
        if !compat::is_known_user_type(user_type) && !s.purchased.contains_key(user_type) {
            return Err(rejected("400", "Unrecognized user license type id."));
        }
        let seat_free = s.purchased.is_empty()
            || s.assigned(user_type) < s.purchased.get(user_type).copied().unwrap_or(0);
        let m = s.members.get_mut(username).ok_or_else(no_user)?;
        if m.user_type.as_deref() == Some(user_type) {
            return Ok(());
        }
        let role = m.role.clone().unwrap_or_default();
        if compat::compatible(&role, user_type) == Compat::No {
            return Err(rejected(
                USER_TYPE_REFUSED,
                format!("user type {user_type} does not fit role {role}"),
            ));
        }
        if !seat_free {
            return Err(rejected(
                USER_TYPE_REFUSED,
                format!("no seat of {user_type} left"),
            ));
        }
        m.user_type = Some(user_type.to_string());
        Ok(())
    }

    async fn add_to_groups(
        &self,
        username: &str,
        group_ids: &[String],
    ) -> Result<Vec<String>, PortalError> {
        let mut s = self.lock();
        s.write(format!("add_to_groups {username} {}", group_ids.join(",")))?;
        let mut not_added = Vec::new();
        for gid in group_ids {
            if !s.groups.iter().any(|(id, _)| id == gid) {
                return Err(rejected(
                    "COM_0003",
                    "Group does not exist or is inaccessible.",
                ));
            }
            match s.members.get_mut(username) {
                Some(m) => {
                    if !m.group_ids.contains(gid) {
                        m.group_ids.push(gid.clone());
                    }
                }
                None => not_added.push(gid.clone()),
            }
        }
        Ok(not_added)
    }

    async fn feature_by_globalid(
        &self,
        layer_url: &str,
        globalid: &str,
    ) -> Result<Option<Map<String, Value>>, PortalError> {
        // Same refusals as the real client, before anything is looked up.
        let layer = LayerUrl::parse(layer_url).map_err(PortalError::Config)?;
        let Some(wanted) = globalid_literal(globalid) else {
            return Err(rejected("invalid_argument", "the global id is not a GUID"));
        };
        let mut s = self.lock();
        if let Some(err) = s.read_failures.pop_front() {
            return Err(err);
        }
        Ok(s.layers.get(layer.as_str()).and_then(|records| {
            records
                .iter()
                .find(|r| {
                    r.get("globalid")
                        .and_then(Value::as_str)
                        .and_then(globalid_literal)
                        .is_some_and(|id| id == wanted)
                })
                .cloned()
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(username: &str, role: &str, user_type: &str) -> Member {
        Member {
            username: username.into(),
            role: Some(role.into()),
            user_type: Some(user_type.into()),
            ..Member::default()
        }
    }

    fn code_of(e: PortalError) -> String {
        match e {
            PortalError::Rejected { code, .. } => code,
            other => panic!("expected Rejected, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn role_and_type_changes_follow_the_compatibility_table_and_the_seats() {
        let fake = FakePortal::new("org1", &["Crew"]);
        fake.add_member(member("viewer_one", "iAAAAAAAAAAAAAAA", "viewerUT"));
        fake.add_member(member("viewer_two", "iAAAAAAAAAAAAAAA", "viewerUT"));
        fake.set_purchased("creatorUT", 1);
        fake.set_purchased("viewerUT", 5);

        let role = fake.update_role("viewer_one", "org_user").await;
        fake.update_user_type("viewer_one", "creatorUT")
            .await
            .unwrap();
        let no_seat = fake.update_user_type("viewer_two", "creatorUT").await;
        fake.update_role("viewer_one", "org_user").await.unwrap();

        assert_eq!(code_of(role.unwrap_err()), INCOMPATIBLE_ROLE);
        assert_eq!(code_of(no_seat.unwrap_err()), USER_TYPE_REFUSED);
        let one = fake.member("viewer_one").await.unwrap().unwrap();
        assert_eq!(one.role.as_deref(), Some("org_user"));
        assert_eq!(one.user_type.as_deref(), Some("creatorUT"));
        assert_eq!(
            fake.writes(),
            [
                "update_role viewer_one org_user",
                "update_user_type viewer_one creatorUT",
                "update_user_type viewer_two creatorUT",
                "update_role viewer_one org_user",
            ]
        );
        let counts = fake.license_counts().await.unwrap();
        assert!(counts.types.contains(&("creatorUT".into(), 1, 1)));
    }

    #[tokio::test]
    async fn profiles_groups_roles_and_scripted_failures() {
        let fake = FakePortal::new("org1", &["Crew", "Office"]);
        fake.add_role("cUsToMrOlE000001", "Custom");
        fake.add_member(member("jdoe_acme", "iAAAAAAAAAAAAAAA", "viewerUT"));
        fake.fail_next_write(PortalError::Unavailable("down".into()));

        let failed = fake
            .update_profile(
                "jdoe_acme",
                &ProfileUpdate {
                    access: Some("private".into()),
                    ..ProfileUpdate::default()
                },
            )
            .await;
        fake.update_profile(
            "jdoe_acme",
            &ProfileUpdate {
                full_name: Some("Jane Doe".into()),
                user_type: Some("both".into()),
                ..ProfileUpdate::default()
            },
        )
        .await
        .unwrap();
        let bad = fake
            .update_profile(
                "jdoe_acme",
                &ProfileUpdate {
                    access: Some("everyone".into()),
                    ..ProfileUpdate::default()
                },
            )
            .await;
        let not_added = fake
            .add_to_groups("ghost_user", &["g-Crew".into()])
            .await
            .unwrap();
        fake.add_to_groups("jdoe_acme", &["g-Crew".into(), "g-Crew".into()])
            .await
            .unwrap();
        let unknown = fake.add_to_groups("jdoe_acme", &["g-Nope".into()]).await;

        assert!(failed.unwrap_err().is_transient());
        assert_eq!(code_of(bad.unwrap_err()), "400");
        assert_eq!(not_added, ["g-Crew"]);
        assert_eq!(code_of(unknown.unwrap_err()), "COM_0003");
        let m = fake.member("jdoe_acme").await.unwrap().unwrap();
        assert_eq!(m.access, None, "the failed write changed nothing");
        assert_eq!(m.full_name.as_deref(), Some("Jane Doe"));
        assert_eq!(m.esri_access.as_deref(), Some("both"));
        assert_eq!(m.group_ids, ["g-Crew"]);
        let roles: Vec<String> = fake
            .roles()
            .await
            .unwrap()
            .into_iter()
            .map(|r| r.id)
            .collect();
        assert_eq!(
            roles,
            [
                "org_admin",
                "org_publisher",
                "org_user",
                "iAAAAAAAAAAAAAAA",
                "iBBBBBBBBBBBBBBB",
                "cUsToMrOlE000001"
            ]
        );
        assert_eq!(
            fake.group_titles().await.unwrap(),
            [
                ("g-Crew".to_string(), "Crew".to_string()),
                ("g-Office".to_string(), "Office".to_string())
            ]
        );
        assert_eq!(fake.org_members().await.unwrap().len(), 1);
    }
}
