//! [`Members`] for [`ArcGisPortal`]: the organization id, one user by name,
//! the username check, group titles to ids (cached), the invitation, and
//! pending invitations (`portals/self/invitations`).
//!
//! Each operation is one request (or one paged search) through the
//! authenticated call; this file must not retry a refused invitation (the
//! workflow resolves `notInvited` by looking the member up) and must never
//! let the invitation's password reach an error or a log.

use tokio::time::Instant;
use tracing::debug;

use serde_json::Value;

use super::enterprise::ENTERPRISE_MAX_USERNAME;
use super::paging::{MAX_MEMBER_PAGES, MAX_PAGES, Overflow};
use super::transport::Call;
use super::{ArcGisPortal, decode, entry_for, scrub_error, succeeded};
use crate::domain::UnixMillis;
use crate::portal::PortalFlavour;
use crate::portal::error::PortalError;
use crate::portal::members::{Invitation, Member, Members, NewMember, PendingInvitation};
use crate::portal::wire::{
    CheckUsernames, GroupSearchPage, InvitationJson, InvitationList, InvitationsPage,
    InviteResponse, PendingInvitationJson, PortalSelf, SuccessResponse, UserJson,
};

/// Path of the organization's pending invitations (fact sheet §2).
const INVITATIONS: &[&str] = &["portals", "self", "invitations"];

impl Members for ArcGisPortal {
    /// 24 on an ArcGIS Enterprise portal, 128 on ArcGIS Online.
    fn max_username_len(&self) -> usize {
        match self.flavour {
            PortalFlavour::Online => crate::domain::Username::MAX_LEN,
            PortalFlavour::Enterprise => ENTERPRISE_MAX_USERNAME,
        }
    }

    /// On an Enterprise portal, the titles resolved to ids (cached) and
    /// `addUsers` per group (see `enterprise.rs`); nothing on
    /// ArcGIS Online.
    async fn add_adopted_to_groups(&self, username: &str, group_names: &[String]) {
        if self.flavour != PortalFlavour::Enterprise || group_names.is_empty() {
            return;
        }
        match self.group_ids(group_names).await {
            Ok(ids) => {
                let ids: Vec<String> = ids.into_iter().flatten().collect();
                self.join_groups(username, &ids).await;
            }
            Err(e) => tracing::warn!(
                username,
                "the adopted member's groups could not be resolved; add it to them by hand: {e}"
            ),
        }
    }

    /// `portals/self.id`, read once and cached.
    async fn org_id(&self) -> Result<String, PortalError> {
        self.org_id
            .get_or_try_init(|| async {
                let v = self.call(Call::get(&["portals", "self"], vec![])).await?;
                let me: PortalSelf = decode(v, "portals/self")?;
                me.id
                    .filter(|id| !id.is_empty())
                    .ok_or_else(|| PortalError::Protocol("portals/self has no id".into()))
            })
            .await
            .cloned()
    }

    /// `community/users/{username}`; the "User does not exist or is
    /// inaccessible." error (any code) is `Ok(None)`.
    async fn member(&self, username: &str) -> Result<Option<Member>, PortalError> {
        // Why: `.`/`..` segments would be dropped from the URL and address
        // another resource; no such user can exist anyway.
        if matches!(username, "" | "." | "..") {
            return Ok(None);
        }
        let call = Call::get(&["community", "users", username], vec![]);
        let v = match self.call(call).await {
            Ok(v) => v,
            Err(PortalError::Rejected { message, .. }) if is_missing_user(&message) => {
                return Ok(None);
            }
            Err(e) => return Err(e),
        };
        let user: UserJson = decode(v, "community/users")?;
        member_from(user, "community/users").map(Some)
    }

    /// `community/checkUsernames`: free when the suggestion equals the
    /// request; an empty answer (seen for deleted names) means taken. When
    /// the endpoint refuses the request, falls back to [`Members::member`]
    /// (best effort: a user of another org may be invisible there).
    async fn username_available(&self, username: &str) -> Result<bool, PortalError> {
        let call = Call::get(
            &["community", "checkUsernames"],
            vec![("usernames", username.to_string())],
        );
        let checked = match self.call(call).await {
            Ok(v) => decode::<CheckUsernames>(v, "community/checkUsernames"),
            Err(e) => Err(e),
        };
        match checked {
            Ok(c) => {
                let entry = entry_for(&c.usernames, username, |e| e.requested.as_deref());
                Ok(entry.is_some_and(|e| {
                    e.suggested.as_deref() == Some(e.requested.as_deref().unwrap_or(username))
                }))
            }
            Err(e) if e.is_transient() || matches!(e, PortalError::Auth(_)) => Err(e),
            Err(e) => {
                debug!(error = %e, "checkUsernames unusable; falling back to a user lookup");
                Ok(self.member(username).await?.is_none())
            }
        }
    }

    /// Searches `community/groups` for each title within the organization
    /// (all pages), keeping exact case-insensitive title matches. Resolved
    /// ids are cached for `group_cache_ttl`. Two groups with the same title
    /// are refused as `Rejected { code: "AMBIGUOUS_GROUP" }` rather than
    /// guessed.
    async fn group_ids(&self, names: &[String]) -> Result<Vec<Option<String>>, PortalError> {
        let mut out = Vec::with_capacity(names.len());
        let mut org: Option<String> = None;
        for name in names {
            let title = name.trim();
            if title.is_empty() {
                out.push(None);
                continue;
            }
            let key = title.to_lowercase();
            let cached = {
                let cache = self.groups.lock().await;
                cache
                    .get(&key)
                    .filter(|(_, at)| at.elapsed() < self.group_cache_ttl)
                    .map(|(id, _)| id.clone())
            };
            if let Some(id) = cached {
                out.push(Some(id));
                continue;
            }
            let org_id = match &org {
                Some(o) => o.clone(),
                None => {
                    let o = self.org_id().await?;
                    org = Some(o.clone());
                    o
                }
            };
            let id = self.find_group(title, &org_id).await?;
            if let Some(id) = &id {
                self.groups
                    .lock()
                    .await
                    .insert(key, (id.clone(), Instant::now()));
            }
            out.push(id);
        }
        Ok(out)
    }

    /// `POST portals/self/invite` with one invitation (fact sheet §2).
    ///
    /// Not idempotent: if an attempt reached the portal but its answer was
    /// lost (timeout, 5xx) and the retry goes through, the retry comes back
    /// with the username in `notInvited` (the name is now taken) and this
    /// returns [`PortalError::NotInvited`]. The workflow resolves that by
    /// looking the member up with [`Members::member`].
    ///
    /// On an ArcGIS Enterprise portal only e-mail invitations go this way:
    /// an account with a password or for the identity provider is made by
    /// `createUser` (see `enterprise.rs`).
    async fn invite(&self, member: &NewMember) -> Result<(), PortalError> {
        if self.flavour == PortalFlavour::Enterprise
            && !matches!(member.invitation, Invitation::Email)
        {
            return self.create_user(member).await;
        }
        let first = member.first_name.trim();
        let last = member.last_name.trim();
        let fullname = [first, last]
            .iter()
            .filter(|s| !s.is_empty())
            .copied()
            .collect::<Vec<_>>()
            .join(" ");
        let password = match &member.invitation {
            Invitation::Email | Invitation::Sso { .. } => None,
            Invitation::Password(p) => Some(p.as_str()),
        };
        let idp_username = match &member.invitation {
            Invitation::Sso { idp_username } => Some(idp_username.trim()),
            Invitation::Email | Invitation::Password(_) => None,
        };
        let list = InvitationList {
            invitations: vec![InvitationJson {
                username: &member.username,
                firstname: first,
                lastname: last,
                fullname,
                email: member.email.trim(),
                role: &member.role,
                user_license_type: &member.user_type,
                groups: member.group_ids.join(","),
                user_credit_assignment: -1,
                password,
                target_user_provider: idp_username.map(|_| "enterprise"),
                idp_username,
            }],
            apps: Vec::new(),
            app_bundles: Vec::new(),
        };
        let json = serde_json::to_string(&list)
            .map_err(|_| PortalError::Protocol("the invitation could not be encoded".into()))?;
        let call = Call::post(
            &["portals", "self", "invite"],
            vec![("invitationList", json)],
        );
        let secrets: Vec<&str> = password.into_iter().collect();
        let v = match self.call(call).await {
            Ok(v) => v,
            Err(e) => return Err(scrub_error(e, &secrets)),
        };
        let answer: InviteResponse = decode(v, "portals/self/invite")?;
        let refused = answer
            .not_invited
            .as_deref()
            .unwrap_or_default()
            .iter()
            .any(|u| u.eq_ignore_ascii_case(&member.username));
        if refused {
            return Err(PortalError::NotInvited {
                username: member.username.clone(),
            });
        }
        succeeded(answer.success, "portals/self/invite", || {
            PortalError::Rejected {
                code: "INVITE_FAILED".into(),
                message: "portals/self/invite answered success:false".into(),
            }
        })
    }

    /// `POST community/users/<u>/reset` with `email=true`: the portal
    /// e-mails the member a reset link. An answer without `success: true`
    /// is a refusal.
    async fn send_password_reset(&self, username: &str) -> Result<(), PortalError> {
        let user = username.trim();
        let call = Call::post(
            &["community", "users", user, "reset"],
            vec![("email", "true".to_string())],
        );
        let v = self.call(call).await?;
        let answer: SuccessResponse = decode(v, "community/users/reset")?;
        succeeded(answer.success, "community/users/reset", || {
            PortalError::Rejected {
                code: "RESET_FAILED".into(),
                message: "community/users/reset answered success:false".into(),
            }
        })
    }

    /// `GET portals/self/invitations`, page by page (100 each), until a page
    /// holds an entry whose `username` equals `username` without regard to
    /// ASCII case (an exact match on that page wins). There is no
    /// documented filter by username, so none is sent.
    async fn invitation(&self, username: &str) -> Result<Option<PendingInvitation>, PortalError> {
        let wanted = username.trim();
        // Why: no invitation can reserve an empty name; asking would read
        // every page for nothing.
        if wanted.is_empty() {
            return Ok(None);
        }
        self.find_in_pages(INVITATIONS, &[], MAX_MEMBER_PAGES, |v| {
            let page: InvitationsPage = decode(v, "portals/self/invitations")?;
            let mut on_page: Vec<PendingInvitation> = page
                .invitations
                .into_iter()
                .filter_map(pending_from)
                .filter(|i| i.username.eq_ignore_ascii_case(wanted))
                .collect();
            let exact = on_page.iter().position(|i| i.username == wanted);
            let found = match exact {
                Some(at) => Some(on_page.swap_remove(at)),
                None => on_page.into_iter().next(),
            };
            Ok((found, page.next_start))
        })
        .await
    }

    /// `GET portals/self/invitations`, every page of 100. An invitation
    /// listed twice (the list shifted between pages) is kept once.
    async fn invitations(&self) -> Result<Vec<PendingInvitation>, PortalError> {
        let entries = self
            .read_pages(INVITATIONS, &[], MAX_MEMBER_PAGES, Overflow::Fail, |v| {
                let page: InvitationsPage = decode(v, "portals/self/invitations")?;
                Ok((page.invitations, page.next_start))
            })
            .await?;
        let mut out: Vec<PendingInvitation> = Vec::with_capacity(entries.len());
        for inv in entries.into_iter().filter_map(pending_from) {
            if !out
                .iter()
                .any(|known| known.username.eq_ignore_ascii_case(&inv.username))
            {
                out.push(inv);
            }
        }
        Ok(out)
    }
}

impl ArcGisPortal {
    /// Looks a group title up within the organization, reading every page.
    async fn find_group(&self, title: &str, org: &str) -> Result<Option<String>, PortalError> {
        let escaped = title.replace('\\', "\\\\").replace('"', "\\\"");
        let q = format!("title:\"{escaped}\" AND orgid:{org}");
        let wanted = title.to_lowercase();
        let pages = self
            .read_pages(
                &["community", "groups"],
                &[("q", q)],
                MAX_PAGES,
                Overflow::Stop,
                |v| {
                    let page: GroupSearchPage = decode(v, "community/groups")?;
                    Ok((page.results, page.next_start))
                },
            )
            .await?;
        let mut found: Vec<String> = Vec::new();
        for g in pages {
            // Why: the search is fuzzy (tokenised, prefix-matching); only
            // the exact title in our own organization counts.
            let title_matches = g
                .title
                .as_deref()
                .is_some_and(|t| t.trim().to_lowercase() == wanted);
            let in_org = g.org_id.as_deref().is_none_or(|o| o == org);
            if let Some(id) = g.id.filter(|id| !id.is_empty())
                && title_matches
                && in_org
                && !found.contains(&id)
            {
                found.push(id);
            }
        }
        match found.len() {
            0 => Ok(None),
            1 => Ok(found.pop()),
            n => Err(PortalError::Rejected {
                code: "AMBIGUOUS_GROUP".into(),
                message: format!(
                    "{n} groups in the organization are titled {title:?} ({}); rename one or configure the id",
                    found.join(", ")
                ),
            }),
        }
    }
}

/// The port's view of a user JSON (`community/users/<u>`, an entry of
/// `portals/self/users`). Empty strings count as absent.
pub(super) fn member_from(user: UserJson, what: &str) -> Result<Member, PortalError> {
    let non_empty = |s: Option<String>| s.filter(|s| !s.trim().is_empty());
    let username = non_empty(user.username)
        .ok_or_else(|| PortalError::Protocol(format!("{what} answered without a username")))?;
    Ok(Member {
        username,
        email: non_empty(user.email),
        org_id: non_empty(user.org_id),
        // Why: `roleId` carries a custom role; `role` is then only the
        // base level (fact sheet §6).
        role: non_empty(user.role_id).or(non_empty(user.role)),
        user_type: non_empty(user.user_license_type_id),
        group_ids: user
            .groups
            .into_iter()
            .filter_map(|g| non_empty(g.id))
            .collect(),
        first_name: non_empty(user.first_name),
        last_name: non_empty(user.last_name),
        full_name: non_empty(user.full_name),
        access: non_empty(user.access),
        esri_access: non_empty(user.user_type),
        // Why not `epoch_ms`: `-1` means "never signed in" here (fact
        // sheet §6) and must survive.
        last_login: integer(user.last_login.as_ref()),
        created: integer(user.created.as_ref()),
        disabled: flag(user.disabled.as_ref()),
    })
}

/// A whole number given as a number or a numeric string (`-1` included);
/// anything else is unknown.
fn integer(v: Option<&Value>) -> Option<i64> {
    match v? {
        Value::Number(n) => n
            .as_i64()
            .or_else(|| n.as_f64().filter(|f| f.is_finite()).map(|f| f as i64)),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// A boolean given as `true`/`false` or as a string spelling one; anything
/// else is unknown.
fn flag(v: Option<&Value>) -> Option<bool> {
    match v? {
        Value::Bool(b) => Some(*b),
        Value::String(s) if s.trim().eq_ignore_ascii_case("true") => Some(true),
        Value::String(s) if s.trim().eq_ignore_ascii_case("false") => Some(false),
        _ => None,
    }
}

/// The port's view of one `portals/self/invitations` entry; `None` for an
/// entry without a username (an `inviteByEmail` invitation, where the
/// person picks the name: it cannot be the one we look for). Empty strings
/// count as absent.
fn pending_from(inv: PendingInvitationJson) -> Option<PendingInvitation> {
    let non_empty = |s: Option<String>| s.map(|s| s.trim().to_string()).filter(|s| !s.is_empty());
    let username = non_empty(inv.username)?;
    let id = match inv.id {
        Some(Value::String(s)) => non_empty(Some(s)),
        Some(Value::Number(n)) => Some(n.to_string()),
        _ => None,
    };
    Some(PendingInvitation {
        id,
        username,
        email: non_empty(inv.email),
        role: non_empty(inv.role),
        user_type: non_empty(inv.user_license_type),
        created: epoch_ms(inv.created.as_ref()),
        expires: epoch_ms(inv.expiration.as_ref()),
    })
}

/// An epoch-milliseconds time: a positive integer (or a string holding
/// one); anything else, `0` and `-1` included, is unknown.
fn epoch_ms(v: Option<&Value>) -> Option<UnixMillis> {
    let ms = match v? {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }?;
    (ms > 0).then_some(ms)
}

/// Whether a portal message is the "User does not exist or is
/// inaccessible." error (its code varies).
pub(super) fn is_missing_user(message: &str) -> bool {
    message
        .to_ascii_lowercase()
        .contains("does not exist or is inaccessible")
}
