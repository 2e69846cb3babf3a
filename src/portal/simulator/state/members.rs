//! Members: whether a username is taken (by a member, an account elsewhere,
//! a pending or lapsed invitation), seeding, `portals/self/invite`
//! (every rule of fact sheet §10.3), profile updates, removal,
//! `checkUsernames` suggestions, and the user JSON (`community/users/<u>`
//! and the org listing's entries).
//!
//! A refused invitation gets no reason on the wire (the portal gives none);
//! the reason is only logged at debug level, never with a password.

use serde_json::{Map, Value, json};

use super::accounts::password_acceptable;
use super::{Caller, ProfileChange, State, sha256};
use crate::domain::compat::Compat;
use crate::domain::{Email, UnixMillis, Username};
use crate::portal::simulator::error::ApiError;
use crate::portal::simulator::lists::split_list;
use crate::portal::simulator::member::{MemberStatus, SimMember};
use crate::portal::simulator::org::Org;

/// Values of `access` the portal accepts.
const ACCESS_VALUES: &[&str] = &["public", "org", "private"];
/// Values of `userType` (Esri access) the portal accepts.
const ESRI_ACCESS_VALUES: &[&str] = &["arcgisonly", "both"];

fn update_refused(detail: &str) -> ApiError {
    // No documented wording; the shape is the sharing API's (fact sheet §1).
    ApiError::new(400, "Unable to update user.").with_detail(detail)
}

/// A string field of a JSON object.
fn str_field<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str)
}

/// Group ids of an invitation: a comma string (what PY sends) or an array.
fn group_list(v: Option<&Value>) -> Vec<String> {
    match v {
        Some(Value::String(s)) => split_list(s),
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(Value::as_str)
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect(),
        _ => Vec::new(),
    }
}

impl State {
    /// Usernames are unique across all of ArcGIS Online (§8); uniqueness is
    /// taken to be case-insensitive (an assumption: sign-in is
    /// case-sensitive, uniqueness is not documented). A pending invitation's
    /// username is taken, and so is a lapsed one's (§2: not simply reused)
    /// and a deleted member's (§6: `checkUsernames` shows deleted names as
    /// not free).
    pub fn is_taken(&self, username: &str) -> bool {
        let lc = username.to_lowercase();
        self.taken_elsewhere.contains(&lc)
            || self.members.keys().any(|k| k.to_lowercase() == lc)
            || self.is_invited(username)
            || self.is_lapsed_name(username)
            || self.is_deleted_name(username)
    }

    pub fn seed_member(&mut self, member: SimMember) -> bool {
        if self.is_taken(&member.username) {
            return false;
        }
        self.members.insert(member.username.clone(), member);
        true
    }

    /// `portals/self/invite`. Returns `notInvited`. An unknown group id in
    /// any invitation refuses the whole request before anything is created.
    pub fn invite(
        &mut self,
        org: &Org,
        list: &Value,
        refuse_all: bool,
        now: UnixMillis,
    ) -> Result<Vec<String>, ApiError> {
        let Some(invitations) = list.get("invitations").and_then(Value::as_array) else {
            return Err(ApiError::new(400, "Unable to invite users.")
                .with_detail("'invitationList' must hold an 'invitations' array."));
        };
        for inv in invitations {
            if group_list(inv.get("groups"))
                .iter()
                .any(|g| self.group(g).is_none())
            {
                return Err(ApiError::no_group());
            }
        }
        let mut not_invited = Vec::new();
        for inv in invitations {
            let username = str_field(inv, "username").unwrap_or_default().to_string();
            if refuse_all {
                not_invited.push(username);
                continue;
            }
            match self.admit(org, inv, now) {
                // Why: which of the two outcomes ArcGIS Online has for an
                // invite without a password is the fact sheet's open
                // question; the organization's setting picks one.
                Ok((member, None))
                    if org.email_invitations_pending && member.provider != "enterprise" =>
                {
                    self.hold_invitation(org, member, now);
                }
                Ok((member, password)) => {
                    if let Some(p) = password {
                        self.passwords.insert(member.username.clone(), p);
                    }
                    self.members.insert(member.username.clone(), member);
                }
                Err(reason) => {
                    // The portal gives no reason; the log does, for debugging.
                    tracing::debug!(%username, reason, "simulator: not invited");
                    not_invited.push(username);
                }
            }
        }
        Ok(not_invited)
    }

    /// Checks one invitation against the rules (fact sheet §10.3) and builds
    /// the member it creates.
    fn admit(
        &self,
        org: &Org,
        inv: &Value,
        now: UnixMillis,
    ) -> Result<(SimMember, Option<[u8; 32]>), &'static str> {
        let raw_username = str_field(inv, "username").ok_or("no username")?;
        let username = Username::parse(raw_username).map_err(|_| "invalid username")?;
        if self.is_taken(username.as_str()) {
            return Err("username taken");
        }
        let email = str_field(inv, "email")
            .and_then(|e| Email::parse(e).ok())
            .ok_or("invalid e-mail")?;
        let role = str_field(inv, "role").ok_or("no role")?;
        if org.base_role(role).is_none() {
            return Err("unknown role");
        }
        // Fact sheet §2: create cannot assign org_admin directly.
        if role == "org_admin" {
            return Err("org_admin cannot be assigned at creation");
        }
        let user_type = str_field(inv, "userLicenseType").ok_or("no user type")?;
        if !self.is_known_type(user_type) {
            return Err("unknown user type");
        }
        if org.compatible(role, user_type) == Compat::No {
            return Err("role incompatible with user type");
        }
        if self.assigned(user_type) >= self.purchased(user_type) {
            return Err("no seat left for the user type");
        }
        // A SAML/OIDC account pre-created for the identity provider (fact
        // sheet §2, conditional keys): `targetUserProvider=enterprise` with
        // its `idpUsername`; it has no password and is active at once.
        let provider = str_field(inv, "targetUserProvider")
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .unwrap_or("arcgis");
        let idp_username = match provider {
            "arcgis" => None,
            "enterprise" => match str_field(inv, "idpUsername").map(str::trim) {
                Some(idp) if !idp.is_empty() => Some(idp.to_string()),
                _ => return Err("an enterprise account needs its idpUsername"),
            },
            _ => return Err("unknown targetUserProvider"),
        };
        let password = match str_field(inv, "password").filter(|p| !p.is_empty()) {
            Some(_) if idp_username.is_some() => {
                return Err("an enterprise account has no password");
            }
            Some(p) if !password_acceptable(p, username.as_str()) => {
                return Err("password breaks the password policy");
            }
            Some(p) => Some(sha256(p)),
            None => None,
        };
        let mut group_ids: Vec<String> = Vec::new();
        for g in group_list(inv.get("groups")) {
            if !group_ids.contains(&g) {
                group_ids.push(g);
            }
        }
        let first_name = str_field(inv, "firstname").unwrap_or_default().trim();
        let last_name = str_field(inv, "lastname").unwrap_or_default().trim();
        let full_name = str_field(inv, "fullname")
            .map(str::trim)
            .filter(|f| !f.is_empty())
            .map(String::from)
            .unwrap_or_else(|| format!("{first_name} {last_name}").trim().to_string());
        // `userType` (Esri access) is only seen in third-party traffic
        // (fact sheet §2, [I]): honoured when valid, never a reason to refuse.
        let esri_access = str_field(inv, "userType")
            .filter(|t| ESRI_ACCESS_VALUES.contains(t))
            .unwrap_or("arcgisonly");
        let member = SimMember {
            username: username.as_str().to_string(),
            email: email.as_str().to_string(),
            first_name: first_name.to_string(),
            last_name: last_name.to_string(),
            role: role.to_string(),
            user_type: user_type.to_string(),
            group_ids,
            status: if password.is_some() || idp_username.is_some() {
                MemberStatus::Active
            } else {
                MemberStatus::Pending
            },
            last_login: -1,
            created: now,
            full_name,
            access: "org".to_string(),
            esri_access: esri_access.to_string(),
            disabled: false,
            provider: provider.to_string(),
            idp_username,
            description: String::new(),
        };
        Ok((member, password))
    }

    /// `community/users/<u>/update` by `caller` (an administrator, or the
    /// member itself): checks every field first, then applies them all, so
    /// a refused request changes nothing. Changing first or last name
    /// without `fullname` sets the full name to "first last".
    pub fn update_user(
        &mut self,
        caller: &Caller,
        username: &str,
        change: &ProfileChange,
    ) -> Result<(), ApiError> {
        if !self.members.contains_key(username) {
            return Err(ApiError::no_user());
        }
        if !caller.admin && caller.username != username {
            return Err(ApiError::forbidden());
        }
        if let Some(a) = &change.access
            && !ACCESS_VALUES.contains(&a.as_str())
        {
            return Err(update_refused(&format!(
                "Invalid access '{a}': must be public, org or private."
            )));
        }
        if let Some(t) = &change.esri_access
            && !ESRI_ACCESS_VALUES.contains(&t.as_str())
        {
            return Err(update_refused(&format!(
                "Invalid userType '{t}': must be arcgisonly or both."
            )));
        }
        let email = match &change.email {
            Some(e) => Some(
                Email::parse(e)
                    .map_err(|_| update_refused("Invalid email address."))?
                    .as_str()
                    .to_string(),
            ),
            None => None,
        };
        let Some(m) = self.members.get_mut(username) else {
            return Err(ApiError::no_user());
        };
        if let Some(e) = email {
            m.email = e;
        }
        if let Some(f) = &change.first_name {
            m.first_name = f.trim().to_string();
        }
        if let Some(l) = &change.last_name {
            m.last_name = l.trim().to_string();
        }
        match &change.full_name {
            Some(f) => m.full_name = f.trim().to_string(),
            None if change.first_name.is_some() || change.last_name.is_some() => {
                m.full_name = format!("{} {}", m.first_name, m.last_name)
                    .trim()
                    .to_string();
            }
            None => {}
        }
        if let Some(a) = &change.access {
            m.access = a.clone();
        }
        if let Some(t) = &change.esri_access {
            m.esri_access = t.clone();
        }
        Ok(())
    }

    /// `portals/self/removeUsers`: frees the seats; returns `notRemoved`
    /// (unknown users, and the caller itself).
    pub fn remove_users(&mut self, caller: &str, users: &[String]) -> Vec<String> {
        let mut not_removed = Vec::new();
        for u in users {
            if u == caller || self.members.remove(u).is_none() {
                not_removed.push(u.clone());
                continue;
            }
            self.passwords.remove(u);
            self.tokens.retain(|_, t| t.username != *u);
        }
        not_removed
    }

    /// `community/checkUsernames`: the name itself when free, else the name
    /// followed by the first free number.
    pub fn suggest(&self, requested: &str) -> String {
        if !self.is_taken(requested) {
            return requested.to_string();
        }
        (1u64..)
            .map(|n| format!("{requested}{n}"))
            .find(|c| !self.is_taken(c))
            .unwrap_or_else(|| requested.to_string())
    }

    /// One entry of the `portals/self/users` listing: the user JSON without
    /// `groups`. Whether ArcGIS Online lists each member's groups there is
    /// not established (fact sheet mark \[I\]); the simulator takes the
    /// strict side, so a client that needs group membership must read it
    /// per group (`community/groups/<gid>/userList`).
    pub fn org_list_user_json(&self, org: &Org, m: &SimMember) -> Value {
        let mut u = self.user_json(org, m, true);
        if let Some(obj) = u.as_object_mut() {
            obj.remove("groups");
        }
        u
    }

    /// The user JSON of `community/users/{u}` (fact sheet §6): `role` is the
    /// base level, `roleId` the role id when it is not a base role;
    /// `groups` the groups the member belongs to or owns (an owner is in its
    /// group), each with its `owner`; `lastLogin` (`-1` = never), `created`
    /// and `disabled` as ArcGIS Online's user JSON carries them; `provider`
    /// (`arcgis` or `enterprise`), with `idpUsername` for an `enterprise`
    /// account and `description` when there is one.
    pub fn user_json(&self, org: &Org, m: &SimMember, show_email: bool) -> Value {
        let base = org.base_role(&m.role).unwrap_or("org_user");
        let full_name = if m.full_name.trim().is_empty() {
            format!("{} {}", m.first_name, m.last_name)
                .trim()
                .to_string()
        } else {
            m.full_name.clone()
        };
        let owned = self
            .groups
            .iter()
            .filter(|g| g.owner == m.username && !m.group_ids.contains(&g.id));
        let groups: Vec<Value> = m
            .group_ids
            .iter()
            .filter_map(|id| self.group(id))
            .chain(owned)
            .map(|g| json!({ "id": g.id, "title": g.title, "owner": g.owner }))
            .collect();
        let mut u = Map::new();
        u.insert("username".into(), json!(m.username));
        u.insert("fullName".into(), json!(full_name));
        u.insert("firstName".into(), json!(m.first_name));
        u.insert("lastName".into(), json!(m.last_name));
        if show_email {
            u.insert("email".into(), json!(m.email));
        }
        u.insert("orgId".into(), json!(org.id));
        u.insert("role".into(), json!(base));
        if base != m.role {
            u.insert("roleId".into(), json!(m.role));
        }
        u.insert("userLicenseTypeId".into(), json!(m.user_type));
        u.insert("userType".into(), json!(m.esri_access));
        u.insert("access".into(), json!(m.access));
        u.insert("groups".into(), Value::Array(groups));
        u.insert("lastLogin".into(), json!(m.last_login));
        u.insert("created".into(), json!(m.created));
        u.insert("modified".into(), json!(m.created));
        u.insert("provider".into(), json!(m.provider));
        if let Some(idp) = &m.idp_username {
            u.insert("idpUsername".into(), json!(idp));
        }
        if !m.description.is_empty() {
            u.insert("description".into(), json!(m.description));
        }
        u.insert("disabled".into(), json!(m.disabled));
        Value::Object(u)
    }
}
