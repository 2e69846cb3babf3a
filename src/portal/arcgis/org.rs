//! [`OrgAdmin`] for [`ArcGisPortal`]: the organization read whole (seats,
//! roles, members, groups, a group's members; every page) and the changes
//! to existing members (profile, role, user type, groups).
//!
//! Each listing reads every page through [`ArcGisPortal::read_pages`]; each
//! change is one request per member (per group for `addUsers`). It must not decide what to change (the import does) and
//! must not report a refusal as success: `success:false` and `status:false`
//! become the port's `Rejected` codes.

use std::collections::{BTreeMap, HashSet};

use serde_json::Value;

use super::members::member_from;
use super::paging::{MAX_MEMBER_PAGES, MAX_PAGES, Overflow};
use super::transport::Call;
use super::{ArcGisPortal, decode, entry_for, path_segment, succeeded};
use crate::portal::error::PortalError;
use crate::portal::members::{Member, Members};
use crate::portal::org::{
    INCOMPATIBLE_ROLE, LicenseCounts, OrgAdmin, ProfileUpdate, Role, USER_TYPE_REFUSED,
    built_in_roles,
};
use crate::portal::wire::{
    AddUsersResponse, CountsPage, GroupSearchPage, GroupUserListPage, OrgUsersPage, PortalSelf,
    RolesPage, SuccessResponse, UserResults,
};

impl OrgAdmin for ArcGisPortal {
    /// Purchased seats from `portals/self.subscriptionInfo.userLicenseTypes`,
    /// assigned seats from `portals/self/users/counts?type=userLicenseType`
    /// (all pages); every user type named by either, sorted by id.
    async fn license_counts(&self) -> Result<LicenseCounts, PortalError> {
        let v = self.call(Call::get(&["portals", "self"], vec![])).await?;
        let me: PortalSelf = decode(v, "portals/self")?;
        if let Some(id) = me.id.filter(|id| !id.is_empty()) {
            // Already set is fine: the id does not change.
            let _ = self.org_id.set(id);
        }
        let mut types: BTreeMap<String, (u64, u64)> = BTreeMap::new();
        let purchased = me
            .subscription_info
            .and_then(|s| s.user_license_types)
            .unwrap_or_default();
        for (id, n) in purchased {
            types.entry(id).or_default().0 = as_count(&n);
        }
        let assigned = self
            .read_pages(
                &["portals", "self", "users", "counts"],
                &[("type", "userLicenseType".into())],
                MAX_PAGES,
                Overflow::Stop,
                |v| {
                    let page: CountsPage = decode(v, "portals/self/users/counts")?;
                    Ok((page.results, page.next_start))
                },
            )
            .await?;
        for entry in assigned {
            let n = entry.count.as_ref().map(as_count).unwrap_or(0);
            let slot = &mut types.entry(entry.key).or_default().1;
            *slot = slot.saturating_add(n);
        }
        Ok(LicenseCounts {
            types: types
                .into_iter()
                .map(|(id, (purchased, assigned))| (id, purchased, assigned))
                .collect(),
        })
    }

    /// The built-in roles, then `portals/self/roles` (all pages). A listed
    /// role with a built-in id is not repeated.
    async fn roles(&self) -> Result<Vec<Role>, PortalError> {
        let mut roles: Vec<Role> = built_in_roles();
        let listed = self
            .read_pages(
                &["portals", "self", "roles"],
                &[],
                MAX_PAGES,
                Overflow::Fail,
                |v| {
                    let page: RolesPage = decode(v, "portals/self/roles")?;
                    Ok((page.roles, page.next_start))
                },
            )
            .await?;
        for r in listed {
            let Some(id) = r.id.filter(|id| !id.trim().is_empty()) else {
                continue;
            };
            if roles.iter().any(|known| known.id == id) {
                continue;
            }
            let name = r
                .name
                .filter(|n| !n.trim().is_empty())
                .unwrap_or_else(|| id.clone());
            roles.push(Role { id, name });
        }
        Ok(roles)
    }

    /// `portals/self/users`, all pages of 100. A member listed twice (the
    /// list shifted between pages) is kept once.
    async fn org_members(&self) -> Result<Vec<Member>, PortalError> {
        let users = self
            .read_pages(
                &["portals", "self", "users"],
                &[],
                MAX_MEMBER_PAGES,
                Overflow::Fail,
                |v| {
                    let page: OrgUsersPage = decode(v, "portals/self/users")?;
                    Ok((page.users, page.next_start))
                },
            )
            .await?;
        let mut members: Vec<Member> = Vec::with_capacity(users.len());
        let mut seen = HashSet::new();
        for user in users {
            let m = member_from(user, "portals/self/users")?;
            if seen.insert(m.username.clone()) {
                members.push(m);
            }
        }
        Ok(members)
    }

    /// `community/groups?q=orgid:<id>`, all pages, keeping groups of this
    /// organization with an id and a title, each once.
    async fn group_titles(&self) -> Result<Vec<(String, String)>, PortalError> {
        let org = self.org_id().await?;
        let groups = self
            .read_pages(
                &["community", "groups"],
                &[("q", format!("orgid:{org}"))],
                MAX_PAGES,
                Overflow::Fail,
                |v| {
                    let page: GroupSearchPage = decode(v, "community/groups")?;
                    Ok((page.results, page.next_start))
                },
            )
            .await?;
        let mut out: Vec<(String, String)> = Vec::with_capacity(groups.len());
        for g in groups {
            if g.org_id.as_deref().is_some_and(|o| o != org) {
                continue;
            }
            let (Some(id), Some(title)) = (
                g.id.filter(|id| !id.is_empty()),
                g.title.filter(|t| !t.trim().is_empty()),
            ) else {
                continue;
            };
            if !out.iter().any(|(known, _)| *known == id) {
                out.push((id, title));
            }
        }
        Ok(out)
    }

    /// `GET community/groups/<gid>/userList` (the paged operation; the older
    /// `community/groups/<gid>/users` is deprecated in ArcGIS Online), all
    /// pages of 100: the owner (sent on every page) first, then admins and
    /// members, each once.
    async fn group_members(&self, group_id: &str) -> Result<Vec<String>, PortalError> {
        let gid = path_segment(group_id.trim(), "group id")?;
        let mut owner: Option<String> = None;
        let users = self
            .read_pages(
                &["community", "groups", gid, "userList"],
                &[],
                MAX_MEMBER_PAGES,
                Overflow::Fail,
                |v| {
                    let page: GroupUserListPage = decode(v, "community/groups/userList")?;
                    if owner.is_none() {
                        owner = page.owner.and_then(|o| o.username);
                    }
                    Ok((page.users, page.next_start))
                },
            )
            .await?;
        let mut out: Vec<String> = Vec::with_capacity(users.len() + 1);
        let names = owner
            .into_iter()
            .chain(users.into_iter().filter_map(|u| u.username));
        for name in names {
            let name = name.trim();
            if !name.is_empty() && !out.iter().any(|known| known == name) {
                out.push(name.to_string());
            }
        }
        Ok(out)
    }

    /// `POST community/users/<u>/update` with only the set fields
    /// (`email`, `firstName`, `lastName`, `fullname`, `access`, `userType`).
    /// Idempotent, so the transport's retries are safe.
    async fn update_profile(
        &self,
        username: &str,
        update: &ProfileUpdate,
    ) -> Result<(), PortalError> {
        let user = path_segment(username, "username")?;
        let fields: [(&'static str, &Option<String>); 6] = [
            ("email", &update.email),
            ("firstName", &update.first_name),
            ("lastName", &update.last_name),
            ("fullname", &update.full_name),
            ("access", &update.access),
            ("userType", &update.user_type),
        ];
        let params: Vec<(&'static str, String)> = fields
            .into_iter()
            .filter_map(|(k, v)| v.as_deref().map(|v| (k, v.trim().to_string())))
            .collect();
        if params.is_empty() {
            return Ok(());
        }
        let v = self
            .call(Call::post(&["community", "users", user, "update"], params))
            .await?;
        let answer: SuccessResponse = decode(v, "community/users/update")?;
        succeeded(answer.success, "community/users/update", || {
            PortalError::Rejected {
                code: "UPDATE_FAILED".into(),
                message: format!("community/users/{username}/update answered success:false"),
            }
        })
    }

    /// `POST portals/self/updateUserRole` (`user`, `role`).
    async fn update_role(&self, username: &str, role_id: &str) -> Result<(), PortalError> {
        let call = Call::post(
            &["portals", "self", "updateUserRole"],
            vec![
                ("user", username.to_string()),
                ("role", role_id.to_string()),
            ],
        );
        let v = self.call(call).await?;
        let answer: SuccessResponse = decode(v, "portals/self/updateUserRole")?;
        succeeded(answer.success, "portals/self/updateUserRole", || {
            PortalError::Rejected {
                code: INCOMPATIBLE_ROLE.into(),
                message: format!(
                    "the portal refused role {role_id} for {username} without a reason \
                     (usually a role that does not fit the member's user type)"
                ),
            }
        })
    }

    /// `POST portals/self/updateUserLicenseType` with `users` as a JSON
    /// list, as the Python API sends it (fact sheet §0, §6).
    async fn update_user_type(&self, username: &str, user_type: &str) -> Result<(), PortalError> {
        let users = serde_json::to_string(&[username])
            .map_err(|_| PortalError::Protocol("the user list could not be encoded".into()))?;
        let call = Call::post(
            &["portals", "self", "updateUserLicenseType"],
            vec![("users", users), ("userLicenseType", user_type.to_string())],
        );
        let v = self.call(call).await?;
        let answer: UserResults = decode(v, "portals/self/updateUserLicenseType")?;
        let entry = entry_for(&answer.results, username, |r| r.username.as_deref());
        match entry.and_then(|e| e.status) {
            Some(true) => Ok(()),
            Some(false) => Err(PortalError::Rejected {
                code: USER_TYPE_REFUSED.into(),
                message: format!(
                    "the portal refused user type {user_type} for {username} without a reason \
                     (no purchased seat of it left, or it does not fit the member's role)"
                ),
            }),
            None => Err(PortalError::Protocol(format!(
                "portals/self/updateUserLicenseType answered without a status for {username}"
            ))),
        }
    }

    /// `POST community/groups/<gid>/addUsers` (`users=<username>`) per
    /// group, each distinct id once, in order.
    async fn add_to_groups(
        &self,
        username: &str,
        group_ids: &[String],
    ) -> Result<Vec<String>, PortalError> {
        let mut not_added = Vec::new();
        let mut done: Vec<&str> = Vec::with_capacity(group_ids.len());
        for gid in group_ids {
            let gid = gid.trim();
            if gid.is_empty() || done.contains(&gid) {
                continue;
            }
            done.push(gid);
            let segment = path_segment(gid, "group id")?;
            let call = Call::post(
                &["community", "groups", segment, "addUsers"],
                vec![("users", username.to_string())],
            );
            let v = self.call(call).await?;
            let answer: AddUsersResponse = decode(v, "community/groups/addUsers")?;
            let refused = answer
                .not_added
                .unwrap_or_default()
                .iter()
                .any(|u| u.eq_ignore_ascii_case(username));
            if refused {
                not_added.push(gid.to_string());
            }
        }
        Ok(not_added)
    }
}

/// A seat count given as a number (or numeric string); anything else is 0.
fn as_count(v: &Value) -> u64 {
    v.as_u64()
        .or_else(|| v.as_f64().filter(|f| *f >= 0.0).map(|f| f as u64))
        .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
        .unwrap_or(0)
}
