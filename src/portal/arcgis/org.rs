//! [`OrgAdmin`] for [`ArcGisPortal`]: the organization read whole (seats,
//! roles, members, groups, a group's members; every page), the changes
//! to existing members (profile, role, user type, groups), and the seat's
//! life after sign-up (disable, enable, delete, owned content, e-mail
//! notifications).
//!
//! Each listing reads every page through [`ArcGisPortal::read_pages`]; each
//! change is one request per member (per group for `addUsers`, per 25
//! usernames for notifications). It must not decide what to change (the
//! import and the workflow do) and must not report a refusal as success:
//! `success:false` and `status:false` become the port's `Rejected` codes.

use std::collections::{BTreeMap, HashSet};

use serde_json::Value;

use super::members::{is_missing_user, member_from};
use super::paging::{MAX_MEMBER_PAGES, MAX_PAGES, Overflow};
use super::transport::Call;
use super::{ArcGisPortal, decode, entry_for, path_segment, succeeded};
use crate::portal::PortalFlavour;
use crate::portal::error::PortalError;
use crate::portal::members::{Member, Members};
use crate::portal::org::{
    Account, INCOMPATIBLE_ROLE, LicenseCounts, OWNS_CONTENT, OrgAdmin, OwnedContent, ProfileUpdate,
    Role, USER_TYPE_REFUSED, built_in_roles,
};
use crate::portal::wire::{
    AddUsersResponse, CountsPage, GroupSearchPage, GroupUserListPage, OrgUsersPage, PortalSelf,
    RolesPage, SelfJson, SuccessOrStatus, SuccessResponse, UserContentPage, UserJson, UserResults,
};

/// Most usernames one `portals/self/createNotification` request names:
/// Esri REST JS's `createOrgNotification` sends 25 per request (\[I\]).
const NOTIFICATION_BATCH: usize = 25;

/// Path of the organization's notification operation.
const CREATE_NOTIFICATION: &[&str] = &["portals", "self", "createNotification"];

impl OrgAdmin for ArcGisPortal {
    /// Purchased seats from `portals/self.subscriptionInfo.userLicenseTypes`,
    /// assigned seats from `portals/self/users/counts?type=userLicenseType`
    /// (all pages); every user type named by either, sorted by id. On an
    /// Enterprise portal both from `portaladmin/license`.
    async fn license_counts(&self) -> Result<LicenseCounts, PortalError> {
        if self.flavour == PortalFlavour::Enterprise {
            return self.enterprise_license_counts().await;
        }
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

    /// `portals/self.isPortal`: `true` → Enterprise, `false` → Online.
    async fn reported_flavour(&self) -> Result<Option<PortalFlavour>, PortalError> {
        let v = self.call(Call::get(&["portals", "self"], vec![])).await?;
        let me: PortalSelf = decode(v, "portals/self")?;
        Ok(me.is_portal.map(|p| {
            if p {
                PortalFlavour::Enterprise
            } else {
                PortalFlavour::Online
            }
        }))
    }

    /// `community/self`, the account the token belongs to. Empty strings
    /// count as not reported.
    async fn signed_in_account(&self) -> Result<Account, PortalError> {
        let v = self.call(Call::get(&["community", "self"], vec![])).await?;
        let me: SelfJson = decode(v, "community/self")?;
        let non_empty = |s: Option<String>| s.filter(|s| !s.trim().is_empty());
        let username = non_empty(me.username)
            .ok_or_else(|| PortalError::Protocol("community/self has no username".into()))?;
        Ok(Account {
            username,
            role: non_empty(me.role),
            role_id: non_empty(me.role_id),
            provider: non_empty(me.provider),
            idp_username: non_empty(me.idp_username),
            privileges: me.privileges,
        })
    }

    /// The built-in roles, then `portals/self/roles` (all pages, with
    /// `returnPrivileges=true`). A listed role with a built-in id is not
    /// repeated.
    async fn roles(&self) -> Result<Vec<Role>, PortalError> {
        let mut roles: Vec<Role> = built_in_roles();
        let listed = self
            .read_pages(
                &["portals", "self", "roles"],
                &[("returnPrivileges", "true".to_string())],
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
            roles.push(Role {
                id,
                name,
                privileges: r.privileges,
            });
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

    /// `POST community/users/<u>/disable` without parameters. Idempotent,
    /// so the transport's retries are safe.
    async fn disable(&self, username: &str) -> Result<(), PortalError> {
        self.switch_user(username, "disable").await
    }

    /// `POST community/users/<u>/enable` without parameters. Idempotent.
    async fn enable(&self, username: &str) -> Result<(), PortalError> {
        self.switch_user(username, "enable").await
    }

    /// `POST community/users/<u>/delete` without parameters; done on
    /// `success:true`. A refusal (an error object, or `success:false`) is
    /// `owns_content` when its text speaks of owned items, groups or
    /// content, or else when [`OrgAdmin::owned_content`] then finds the
    /// member owning something; any other refusal passes through as the
    /// portal gave it ("does not exist" and 403 without that second look).
    ///
    /// Retried like every call: a deletion carried out whose answer was
    /// lost comes back from the retry as "does not exist" (`Rejected`);
    /// [`Members::member`] settles it.
    async fn delete_member(&self, username: &str) -> Result<(), PortalError> {
        const WHAT: &str = "community/users/delete";
        let user = path_segment(username.trim(), "username")?;
        let call = Call::post(&["community", "users", user, "delete"], vec![]);
        let (code, message) = match self.call(call).await {
            Ok(v) => {
                let answer: SuccessResponse = decode(v, WHAT)?;
                match answer.success {
                    Some(true) => return Ok(()),
                    Some(false) => (
                        "DELETE_FAILED".to_string(),
                        format!("community/users/{user}/delete answered success:false"),
                    ),
                    None => {
                        return Err(PortalError::Protocol(format!(
                            "{WHAT} answered without success"
                        )));
                    }
                }
            }
            Err(PortalError::Rejected { code, message }) => (code, message),
            Err(e) => return Err(e),
        };
        let owns = |message: String| PortalError::Rejected {
            code: OWNS_CONTENT.into(),
            message,
        };
        if speaks_of_owned_content(&message) {
            return Err(owns(format!(
                "the portal refused to delete {user}: {message}"
            )));
        }
        if is_missing_user(&message) || code == "403" || code == "GWM_0003" {
            return Err(PortalError::Rejected { code, message });
        }
        // Why a second look: the portal's wording of this refusal is not
        // documented (fact sheet §6 gives only its cause), so a refusal in
        // other words is checked against what the member owns.
        match self.owned_content(user).await {
            Ok(owned) if !owned.is_empty() => Err(owns(format!(
                "the portal refused to delete {user}, who owns {} items and {} groups ({code} {message})",
                owned.items, owned.groups
            ))),
            _ => Err(PortalError::Rejected { code, message }),
        }
    }

    /// `GET community/users/<u>` (the groups whose `owner` is the member,
    /// each once), then `GET content/users/<u>` and `GET
    /// content/users/<u>/<folder id>` for each folder it lists. A folder's
    /// items are its first page's `total`, or, when an answer has no
    /// `total`, the `items` of every page counted. Why every folder: the
    /// root listing's `total` is taken to count the root folder only (\[I\];
    /// the Python API's `User.items(folder=…)` reads one folder at a time,
    /// and its `delete` checks nothing itself: it leaves the refusal to the
    /// portal).
    async fn owned_content(&self, username: &str) -> Result<OwnedContent, PortalError> {
        let user = path_segment(username.trim(), "username")?;
        let v = self
            .call(Call::get(&["community", "users", user], vec![]))
            .await?;
        let me: UserJson = decode(v, "community/users")?;
        let mut owned_groups: Vec<Option<String>> = Vec::new();
        for g in me.groups {
            let mine = g
                .owner
                .as_deref()
                .is_some_and(|o| o.trim().eq_ignore_ascii_case(user));
            let id = g.id.filter(|id| !id.trim().is_empty());
            if mine && (id.is_none() || !owned_groups.contains(&id)) {
                owned_groups.push(id);
            }
        }
        let (mut items, folders) = self.count_items(&["content", "users", user]).await?;
        for folder in &folders {
            let (n, _) = self
                .count_items(&["content", "users", user, folder])
                .await?;
            items = items.saturating_add(n);
        }
        Ok(OwnedContent {
            items,
            groups: owned_groups.len() as u64,
        })
    }

    /// `POST portals/self/createNotification` per 25 usernames (trimmed,
    /// empty ones dropped, each once), with `notificationChannelType=email`,
    /// `subject`, `message` and `users` (a comma list). Not idempotent: a
    /// batch retried after a lost answer may e-mail its members twice.
    async fn send_notification(
        &self,
        usernames: &[String],
        subject: &str,
        message: &str,
    ) -> Result<(), PortalError> {
        const WHAT: &str = "portals/self/createNotification";
        let mut seen = HashSet::new();
        let names: Vec<&str> = usernames
            .iter()
            .map(|u| u.trim())
            .filter(|u| !u.is_empty() && seen.insert(*u))
            .collect();
        let batches = names.len().div_ceil(NOTIFICATION_BATCH);
        for (i, batch) in names.chunks(NOTIFICATION_BATCH).enumerate() {
            let call = Call::post(
                CREATE_NOTIFICATION,
                vec![
                    ("notificationChannelType", "email".to_string()),
                    ("subject", subject.to_string()),
                    ("message", message.to_string()),
                    ("users", batch.join(",")),
                ],
            );
            let sent = match self.call(call).await {
                Ok(v) => decode::<SuccessResponse>(v, WHAT).and_then(|answer| {
                    succeeded(answer.success, WHAT, || PortalError::Rejected {
                        code: "NOTIFICATION_FAILED".into(),
                        message: format!("{WHAT} answered success:false"),
                    })
                }),
                Err(e) => Err(e),
            };
            sent.map_err(|e| in_batch(e, i, batches))?;
        }
        Ok(())
    }
}

impl ArcGisPortal {
    /// `POST community/users/<u>/<op>` (`disable` or `enable`) without
    /// parameters: done on `success:true` or `status:"success"`.
    async fn switch_user(&self, username: &str, op: &'static str) -> Result<(), PortalError> {
        let user = path_segment(username.trim(), "username")?;
        let what = format!("community/users/{op}");
        let v = self
            .call(Call::post(&["community", "users", user, op], vec![]))
            .await?;
        let answer: SuccessOrStatus = decode(v, &what)?;
        let by_status = answer
            .status
            .as_deref()
            .map(|s| s.trim().eq_ignore_ascii_case("success"));
        succeeded(answer.success.or(by_status), &what, || {
            PortalError::Rejected {
                code: format!("{}_FAILED", op.to_ascii_uppercase()),
                message: format!("community/users/{user}/{op} answered without success"),
            }
        })
    }

    /// Items in one folder of a user's content (`segments`: the root
    /// listing or a folder's) and the folder ids the listing names: the
    /// first page's `total` when it has one, else every page read
    /// (`Overflow` past [`MAX_MEMBER_PAGES`] is an error) and its `items`
    /// counted.
    async fn count_items(&self, segments: &[&str]) -> Result<(u64, Vec<String>), PortalError> {
        let mut counted: u64 = 0;
        let mut folders: Vec<String> = Vec::new();
        let total = self
            .find_in_pages(segments, &[], MAX_MEMBER_PAGES, |v| {
                let page: UserContentPage = decode(v, "content/users")?;
                for f in page.folders {
                    let Some(id) = f.id.map(|id| id.trim().to_string()) else {
                        continue;
                    };
                    // Why: such an id cannot name a folder's path segment.
                    if matches!(id.as_str(), "" | "." | "..") || folders.contains(&id) {
                        continue;
                    }
                    folders.push(id);
                }
                if let Some(total) = page.total.as_ref().and_then(as_total) {
                    return Ok((Some(total), None));
                }
                counted = counted.saturating_add(page.items.len() as u64);
                Ok((None, page.next_start))
            })
            .await?;
        Ok((total.unwrap_or(counted), folders))
    }
}

/// Whether a refusal's text speaks of owned items, groups or content: a
/// word of the `own` family and one of `item`, `group`, `content`.
fn speaks_of_owned_content(message: &str) -> bool {
    let lower = message.to_ascii_lowercase();
    let words: Vec<&str> = lower
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .collect();
    let owning = words.iter().any(|w| {
        matches!(
            *w,
            "own" | "owns" | "owned" | "owner" | "owning" | "ownership"
        )
    });
    let what = words
        .iter()
        .any(|w| w.starts_with("item") || w.starts_with("group") || w.starts_with("content"));
    owning && what
}

/// Says which batch of `batches` failed (the `index`-th, 0-based) and that
/// the ones before it were sent; a single batch is left as it is.
fn in_batch(e: PortalError, index: usize, batches: usize) -> PortalError {
    if batches <= 1 {
        return e;
    }
    let note = |m: String| {
        format!(
            "{m} (notification batch {} of {batches}; the {index} before it were sent)",
            index + 1
        )
    };
    match e {
        PortalError::Unavailable(m) => PortalError::Unavailable(note(m)),
        PortalError::Unanswered(m) => PortalError::Unanswered(note(m)),
        PortalError::Protocol(m) => PortalError::Protocol(note(m)),
        PortalError::Rejected { code, message } => PortalError::Rejected {
            code,
            message: note(message),
        },
        other => other,
    }
}

/// A count given as a non-negative number (or numeric string); anything
/// else is unknown.
fn as_total(v: &Value) -> Option<u64> {
    v.as_u64()
        .or_else(|| {
            v.as_f64()
                .filter(|f| f.is_finite() && *f >= 0.0)
                .map(|f| f as u64)
        })
        .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
}

/// A seat count given as a number (or numeric string); anything else is 0.
fn as_count(v: &Value) -> u64 {
    as_total(v).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owned_content_is_recognised_by_whole_words_only() {
        assert!(speaks_of_owned_content(
            "User 'ana_acme' owns 3 items and 1 group; reassign them first."
        ));
        assert!(speaks_of_owned_content(
            "Unable to delete user. (The user has content. Transfer ownership first.)"
        ));
        assert!(!speaks_of_owned_content("Unknown item."));
        assert!(!speaks_of_owned_content(
            "User does not exist or is inaccessible."
        ));
    }

    #[test]
    fn counts_read_numbers_and_numeric_strings_and_nothing_else() {
        assert_eq!(as_total(&serde_json::json!(3)), Some(3));
        assert_eq!(as_total(&serde_json::json!("12")), Some(12));
        assert_eq!(as_total(&serde_json::json!(-1)), None);
        assert_eq!(as_total(&serde_json::json!(null)), None);
        assert_eq!(as_count(&serde_json::json!("x")), 0);
    }

    #[test]
    fn a_failed_batch_says_which_one_it_was() {
        let e = in_batch(PortalError::Unavailable("HTTP 503".into()), 2, 3);
        assert!(e.to_string().contains("batch 3 of 3"), "{e}");
        let alone = in_batch(PortalError::Unavailable("HTTP 503".into()), 0, 1);
        assert_eq!(alone.to_string(), "portal unavailable: HTTP 503");
    }
}
