//! [`OrgAdmin`] for [`FakePortal`]: the organization's listings from the
//! member map, changes checked against the compatibility table and the
//! purchased seats, refused with the real client's codes, and the seat's
//! life after sign-up (disable, enable, delete, owned content as scripted,
//! notifications recorded).
//!
//! Every write is recorded (see [`FakePortal::writes`]) and may fail on
//! script; a scripted failure changes nothing.

use std::collections::HashMap;

use super::{FakeNotification, FakePortal, FakeState, rejected};
use crate::domain::Email;
use crate::domain::compat::{self, Compat};
use crate::portal::error::PortalError;
use crate::portal::members::Member;
use crate::portal::org::{
    Account, BUILT_IN_ROLES, INCOMPATIBLE_ROLE, LicenseCounts, OWNS_CONTENT, OrgAdmin,
    OwnedContent, ProfileUpdate, Role, USER_TYPE_REFUSED, built_in_roles,
};

pub(super) fn no_user() -> PortalError {
    rejected("400", "User does not exist or is inaccessible.")
}

impl FakeState {
    /// Records a write and pops a scripted failure, if any.
    pub(super) fn write(&mut self, what: String) -> Result<(), PortalError> {
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

    /// Seats of `user_type` held by members and pending invitations.
    fn assigned(&self, user_type: &str) -> u64 {
        self.members
            .values()
            .chain(self.invitations.values().map(|i| &i.member))
            .filter(|m| m.user_type.as_deref() == Some(user_type))
            .count() as u64
    }
}

impl OrgAdmin for FakePortal {
    async fn license_counts(&self) -> Result<LicenseCounts, PortalError> {
        let mut s = self.lock();
        if let Some(err) = s.license_count_failures.pop_front() {
            return Err(err);
        }
        let mut counts: HashMap<String, (u64, u64)> = HashMap::new();
        for (t, n) in &s.purchased {
            counts.entry(t.clone()).or_default().0 = *n;
        }
        // Pending invitations hold their seats too (fact sheet §2).
        for m in s
            .members
            .values()
            .chain(s.invitations.values().map(|i| &i.member))
        {
            counts
                .entry(m.user_type.clone().unwrap_or_default())
                .or_default()
                .1 += 1;
        }
        let mut types: Vec<_> = counts.into_iter().map(|(t, (p, a))| (t, p, a)).collect();
        types.sort();
        Ok(LicenseCounts { types })
    }

    /// A built-in administrator, `fake_admin`, always.
    async fn signed_in_account(&self) -> Result<Account, PortalError> {
        Ok(Account {
            username: "fake_admin".to_string(),
            role: Some("org_admin".to_string()),
            provider: Some("arcgis".to_string()),
            ..Account::default()
        })
    }

    async fn roles(&self) -> Result<Vec<Role>, PortalError> {
        let s = self.lock();
        let mut roles: Vec<Role> = built_in_roles();
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

    async fn disable(&self, username: &str) -> Result<(), PortalError> {
        let mut s = self.lock();
        s.write(format!("disable {username}"))?;
        let m = s.members.get_mut(username).ok_or_else(no_user)?;
        m.disabled = Some(true);
        Ok(())
    }

    async fn enable(&self, username: &str) -> Result<(), PortalError> {
        let mut s = self.lock();
        s.write(format!("enable {username}"))?;
        let m = s.members.get_mut(username).ok_or_else(no_user)?;
        m.disabled = Some(false);
        Ok(())
    }

    /// Refused with `owns_content` while the scripted content is not
    /// empty; otherwise the member is gone (its seat free) and its name
    /// stays taken, as the simulator keeps a deleted member's name.
    async fn delete_member(&self, username: &str) -> Result<(), PortalError> {
        let mut s = self.lock();
        s.write(format!("delete_member {username}"))?;
        if !s.members.contains_key(username) {
            return Err(no_user());
        }
        let owned = s.owned.get(username).copied().unwrap_or_default();
        if !owned.is_empty() {
            return Err(rejected(
                OWNS_CONTENT,
                format!(
                    "{username} owns {} items and {} groups",
                    owned.items, owned.groups
                ),
            ));
        }
        s.members.remove(username);
        s.taken_elsewhere.insert(username.to_string());
        Ok(())
    }

    async fn owned_content(&self, username: &str) -> Result<OwnedContent, PortalError> {
        let s = self.lock();
        if !s.members.contains_key(username) {
            return Err(no_user());
        }
        Ok(s.owned.get(username).copied().unwrap_or_default())
    }

    /// Recorded once per call; a username that is no member refuses the
    /// whole call (nothing recorded), as the simulator does.
    async fn send_notification(
        &self,
        usernames: &[String],
        subject: &str,
        message: &str,
    ) -> Result<(), PortalError> {
        let mut names: Vec<String> = Vec::new();
        for u in usernames.iter().map(|u| u.trim()) {
            if !u.is_empty() && !names.iter().any(|n| n == u) {
                names.push(u.to_string());
            }
        }
        if names.is_empty() {
            return Ok(());
        }
        let mut s = self.lock();
        s.write(format!("send_notification {}", names.join(",")))?;
        if let Some(unknown) = names.iter().find(|n| !s.members.contains_key(*n)) {
            return Err(rejected(
                "400",
                format!("User '{unknown}' does not exist or is not a member of the organization."),
            ));
        }
        s.notifications.push(FakeNotification {
            usernames: names,
            subject: subject.to_string(),
            message: message.to_string(),
        });
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::portal::members::Members;

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
    async fn disable_enable_delete_and_notifications_follow_the_script() {
        // Arrange: one member owns an item, one owns nothing.
        let fake = FakePortal::new("org1", &[]);
        fake.add_member(member("ana_acme", "iAAAAAAAAAAAAAAA", "viewerUT"));
        fake.add_member(member("bo_acme", "iAAAAAAAAAAAAAAA", "viewerUT"));
        fake.set_owned_content(
            "ana_acme",
            OwnedContent {
                items: 1,
                groups: 0,
            },
        );
        fake.fail_next_write(PortalError::Unavailable("down".into()));

        // Act
        let failed = fake.disable("ana_acme").await;
        fake.disable("ana_acme").await.unwrap();
        let disabled = fake.member("ana_acme").await.unwrap().unwrap().disabled;
        fake.enable("ana_acme").await.unwrap();
        let owns = fake.delete_member("ana_acme").await;
        let owned = fake.owned_content("ana_acme").await.unwrap();
        fake.delete_member("bo_acme").await.unwrap();
        let ghost = fake.owned_content("bo_acme").await;
        let unknown = fake
            .send_notification(&["ana_acme".into(), "bo_acme".into()], "S", "M")
            .await;
        fake.send_notification(&[" ana_acme ".into(), "ana_acme".into()], "Seat", "Hello")
            .await
            .unwrap();
        fake.send_notification(&[], "Nobody", "Nothing")
            .await
            .unwrap();

        // Assert
        assert!(failed.unwrap_err().is_transient());
        assert_eq!(disabled, Some(true));
        let ana = fake.member("ana_acme").await.unwrap().unwrap();
        assert_eq!(ana.disabled, Some(false), "enabled again; still a member");
        assert_eq!(code_of(owns.unwrap_err()), OWNS_CONTENT);
        assert_eq!(owned.items, 1);
        assert!(fake.member("bo_acme").await.unwrap().is_none());
        assert!(
            !fake.username_available("bo_acme").await.unwrap(),
            "name kept"
        );
        assert_eq!(code_of(ghost.unwrap_err()), "400");
        assert_eq!(code_of(unknown.unwrap_err()), "400");
        assert_eq!(
            fake.notifications(),
            [FakeNotification {
                usernames: vec!["ana_acme".into()],
                subject: "Seat".into(),
                message: "Hello".into(),
            }]
        );
        assert_eq!(
            fake.writes(),
            [
                "disable ana_acme",
                "disable ana_acme",
                "enable ana_acme",
                "delete_member ana_acme",
                "delete_member bo_acme",
                "send_notification ana_acme,bo_acme",
                "send_notification ana_acme",
            ]
        );
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
