//! The simulated organization and the portal's rules applied to it: members,
//! seats, groups, tokens, injected faults, request counts.
//!
//! Plain synchronous bookkeeping: no HTTP, no async, no clock reads (`now` is
//! passed in). The caller holds the simulator's mutex around every call, so
//! each operation is atomic; that is the whole concurrency story.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use rand::Rng;
use rand::distr::Alphanumeric;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use super::layers::Layers;
use super::{Fault, FaultKind, MemberStatus, RefusalStyle, SimMember, SimRole, SimulatorConfig};
use crate::domain::compat::{self, Compat};
use crate::domain::{Email, UnixMillis, Username};

/// Base role ids (a member with one of these has no `roleId`).
const BASE_ROLES: &[&str] = &["org_admin", "org_publisher", "org_user"];
/// Most names one `addUsers` request may carry (fact sheet §6, §9).
const MAX_ADD_USERS: usize = 25;
/// Most groups one user may belong to (fact sheet §9).
const MAX_GROUPS_PER_USER: usize = 512;
/// Largest page any list returns (fact sheet §9).
const MAX_PAGE: i64 = 100;
/// Token lifetime when `generateToken` asks for none, in minutes (§4).
const DEFAULT_TOKEN_MINUTES: i64 = 60;

/// An error object, answered as HTTP 200 `{"error":{…}}` (fact sheet §1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct ApiError {
    pub code: i64,
    pub message_code: Option<String>,
    pub message: String,
    pub details: Vec<String>,
}

impl ApiError {
    pub fn new(code: i64, message: &str) -> Self {
        ApiError {
            code,
            message_code: None,
            message: message.to_string(),
            details: Vec::new(),
        }
    }

    pub fn with_code(mut self, message_code: &str) -> Self {
        self.message_code = Some(message_code.to_string());
        self
    }

    pub fn with_detail(mut self, detail: &str) -> Self {
        self.details.push(detail.to_string());
        self
    }

    /// `{"error":{"code","messageCode"?,"message","details"}}`.
    pub fn to_json(&self) -> Value {
        let mut e = Map::new();
        e.insert("code".into(), json!(self.code));
        if let Some(mc) = &self.message_code {
            e.insert("messageCode".into(), json!(mc));
        }
        e.insert("message".into(), json!(self.message));
        e.insert("details".into(), json!(self.details));
        json!({ "error": e })
    }

    pub fn invalid_token() -> Self {
        ApiError::new(498, "Invalid token.")
    }

    pub fn token_required() -> Self {
        ApiError::new(499, "Token Required").with_code("GWM_0003")
    }

    pub fn forbidden() -> Self {
        ApiError::new(
            403,
            "You do not have permissions to access this resource or perform this operation.",
        )
        .with_code("GWM_0003")
    }

    pub fn no_user() -> Self {
        ApiError::new(400, "User does not exist or is inaccessible.")
    }

    pub fn no_group() -> Self {
        ApiError::new(400, "Group does not exist or is inaccessible.").with_code("COM_0003")
    }

    pub fn bad_credentials() -> Self {
        ApiError::new(400, "Unable to generate token.").with_detail("Invalid username or password.")
    }

    pub fn missing(param: &str) -> Self {
        ApiError::new(400, "Unable to complete operation.")
            .with_detail(&format!("'{param}' must be specified."))
    }
}

/// Why a role or type change was refused (reported per [`RefusalStyle`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Refusal {
    NotMember,
    UnknownType,
    UnknownRole,
    Incompatible,
    NoSeat,
}

impl Refusal {
    fn error(self) -> ApiError {
        match self {
            Refusal::NotMember => ApiError::no_user(),
            Refusal::UnknownType => ApiError::new(400, "Unrecognized user license type id."),
            Refusal::UnknownRole => ApiError::new(400, "Invalid role."),
            // No documented wording (fact sheet §1).
            Refusal::Incompatible => ApiError::new(
                400,
                "The user type is not compatible with the member's role.",
            ),
            Refusal::NoSeat => ApiError::new(
                400,
                "The number of user types assigned exceeds the number of user types available.",
            ),
        }
    }
}

/// Fixed organization settings (never change after start).
pub(super) struct Org {
    pub id: String,
    pub name: String,
    pub url_key: String,
    pub admin_username: String,
    pub token_max_lifetime_ms: i64,
    /// Pre-built Viewer and Data Editor plus the configured custom roles.
    pub roles: Vec<SimRole>,
    pub refusal_style: RefusalStyle,
}

impl Org {
    pub fn from_config(cfg: &SimulatorConfig) -> Self {
        let prebuilt = [
            ("iAAAAAAAAAAAAAAA", "Viewer", "View data only.", true),
            (
                "iBBBBBBBBBBBBBBB",
                "Data Editor",
                "View and edit data.",
                false,
            ),
        ]
        .map(|(id, name, description, viewer_compatible)| SimRole {
            id: id.to_string(),
            name: name.to_string(),
            description: description.to_string(),
            base_role: "org_user".to_string(),
            viewer_compatible,
        });
        let mut roles: Vec<SimRole> = prebuilt.into_iter().collect();
        roles.extend(
            cfg.custom_roles
                .iter()
                .filter(|r| !roles.iter().any(|p| p.id == r.id))
                .cloned()
                .collect::<Vec<_>>(),
        );
        Org {
            id: cfg.org_id.clone(),
            name: cfg.org_name.clone(),
            url_key: cfg.url_key.clone(),
            admin_username: cfg.admin.username.clone(),
            token_max_lifetime_ms: i64::try_from(cfg.token_max_lifetime.as_millis())
                .unwrap_or(i64::MAX),
            roles,
            refusal_style: cfg.refusal_style,
        }
    }

    /// The base level of a role id (`org_user` for Viewer), or `None` when
    /// the organization has no such role.
    pub fn base_role<'a>(&'a self, role_id: &'a str) -> Option<&'a str> {
        if BASE_ROLES.contains(&role_id) {
            return Some(role_id);
        }
        self.roles
            .iter()
            .find(|r| r.id == role_id)
            .map(|r| r.base_role.as_str())
    }

    /// Whether a member with role `role_id` may hold `user_type`: the §7
    /// table, and for custom roles their `viewer_compatible` flag.
    pub fn compatible(&self, role_id: &str, user_type: &str) -> Compat {
        match compat::compatible(role_id, user_type) {
            Compat::Unknown => match self.roles.iter().find(|r| r.id == role_id) {
                Some(r) if !r.viewer_compatible && user_type == "viewerUT" => Compat::No,
                _ => Compat::Unknown,
            },
            known => known,
        }
    }
}

/// Profile fields of `community/users/<u>/update`; `None` = unchanged.
#[derive(Debug, Clone, Default)]
pub(super) struct ProfileChange {
    pub email: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub full_name: Option<String>,
    pub access: Option<String>,
    pub esri_access: Option<String>,
}

/// Values of `access` the portal accepts.
const ACCESS_VALUES: &[&str] = &["public", "org", "private"];
/// Values of `userType` (Esri access) the portal accepts.
const ESRI_ACCESS_VALUES: &[&str] = &["arcgisonly", "both"];

fn update_refused(detail: &str) -> ApiError {
    // No documented wording; the shape is the sharing API's (fact sheet §1).
    ApiError::new(400, "Unable to update user.").with_detail(detail)
}

/// A group of the organization.
#[derive(Debug, Clone)]
pub(super) struct Group {
    pub id: String,
    pub title: String,
    pub owner: String,
}

pub(super) struct TokenRec {
    username: String,
    expires: UnixMillis,
}

/// Who a valid token belongs to.
#[derive(Debug, Clone)]
pub(super) struct Caller {
    pub username: String,
    pub admin: bool,
}

/// The mutable organization.
pub(super) struct State {
    /// Members by exact username.
    pub members: BTreeMap<String, SimMember>,
    /// SHA-256 of each password-holding account's password.
    passwords: HashMap<String, [u8; 32]>,
    pub tokens: HashMap<String, TokenRec>,
    purchased: BTreeMap<String, u64>,
    pub groups: Vec<Group>,
    /// Lower-cased names of accounts outside the organization.
    pub taken_elsewhere: BTreeSet<String>,
    pub faults: Vec<Fault>,
    /// Request counts by lower-cased path below `/sharing/rest/` (or, for
    /// a hosted layer, its lower-cased path).
    requests: BTreeMap<String, u64>,
    /// Hosted feature layers and their records.
    pub layers: Layers,
}

fn sha256(s: &str) -> [u8; 32] {
    Sha256::digest(s.as_bytes()).into()
}

/// Group id: 32 lower-case hex characters derived from org id and title.
fn group_id(org_id: &str, title: &str) -> String {
    Sha256::digest(format!("{org_id}/{title}").as_bytes())
        .iter()
        .take(16)
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn random_token() -> String {
    rand::rng()
        .sample_iter(&Alphanumeric)
        .take(64)
        .map(char::from)
        .collect()
}

/// Whether a request path (lower-cased, below `/sharing/rest/`) ends with
/// `suffix` on whole segments. An empty suffix matches everything.
pub(super) fn path_matches(path_lc: &str, suffix: &str) -> bool {
    let s = suffix.trim_matches('/').to_ascii_lowercase();
    let s = s.strip_prefix("sharing/rest/").unwrap_or(&s);
    s.is_empty() || path_lc == s || path_lc.ends_with(&format!("/{s}"))
}

/// The default password policy (fact sheet §8): 8+ characters, a letter and
/// a digit, not the username.
fn password_acceptable(password: &str, username: &str) -> bool {
    password.chars().count() >= 8
        && password.chars().any(|c| c.is_alphabetic())
        && password.chars().any(|c| c.is_ascii_digit())
        && password != username
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

/// A list parameter: a JSON array of strings or a comma list (fact sheet §0).
pub(super) fn split_list(raw: &str) -> Vec<String> {
    let t = raw.trim();
    if t.starts_with('[')
        && let Ok(items) = serde_json::from_str::<Vec<String>>(t)
    {
        return items
            .into_iter()
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect();
    }
    t.split(',')
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect()
}

/// One page of `items`: 1-based `start`, `num` capped at 100. Returns the
/// slice, the effective start and `nextStart` (-1 at the end).
pub(super) fn page<T>(
    items: &[T],
    start: Option<i64>,
    num: Option<i64>,
    default_num: i64,
) -> (&[T], i64, i64) {
    let start = start.unwrap_or(1).max(1);
    let num = num.unwrap_or(default_num).clamp(0, MAX_PAGE);
    let from = usize::try_from(start - 1).unwrap_or(usize::MAX);
    if from >= items.len() {
        return (&[], start, -1);
    }
    let to = from
        .saturating_add(usize::try_from(num).unwrap_or(0))
        .min(items.len());
    let next = if to < items.len() {
        i64::try_from(to).map(|t| t + 1).unwrap_or(-1)
    } else {
        -1
    };
    (&items[from..to], start, next)
}

/// Splits a search query into tokens, keeping quoted phrases together and
/// dropping the quotes and parentheses.
fn query_tokens(q: &str) -> Vec<String> {
    let mut tokens = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    for c in q.chars() {
        match c {
            '"' => quoted = !quoted,
            '(' | ')' if !quoted => {}
            c if c.is_whitespace() && !quoted => {
                if !cur.is_empty() {
                    tokens.push(std::mem::take(&mut cur));
                }
            }
            c => cur.push(c),
        }
    }
    if !cur.is_empty() {
        tokens.push(cur);
    }
    tokens
}

impl State {
    pub fn new(cfg: &SimulatorConfig, org: &Org, now: UnixMillis) -> Self {
        let mut st = State {
            members: BTreeMap::new(),
            passwords: HashMap::new(),
            tokens: HashMap::new(),
            purchased: cfg
                .purchased
                .iter()
                .filter(|(_, n)| **n > 0)
                .map(|(t, n)| (t.clone(), *n))
                .collect(),
            groups: Vec::new(),
            taken_elsewhere: cfg
                .taken_elsewhere
                .iter()
                .map(|u| u.to_lowercase())
                .collect(),
            faults: Vec::new(),
            requests: BTreeMap::new(),
            layers: Layers::default(),
        };
        for title in &cfg.groups {
            if st.groups.iter().any(|g| g.title == *title) {
                continue;
            }
            st.groups.push(Group {
                id: group_id(&org.id, title),
                title: title.clone(),
                owner: org.admin_username.clone(),
            });
        }
        let seeded = |username: &str, role: &str, user_type: &str| SimMember {
            username: username.to_string(),
            email: format!("{username}@{}.example.com", cfg.url_key),
            first_name: String::new(),
            last_name: username.to_string(),
            role: role.to_string(),
            user_type: user_type.to_string(),
            group_ids: Vec::new(),
            status: MemberStatus::Active,
            last_login: -1,
            created: now,
            full_name: username.to_string(),
            access: "org".to_string(),
            esri_access: "arcgisonly".to_string(),
        };
        st.passwords
            .insert(cfg.admin.username.clone(), sha256(&cfg.admin.password));
        match &cfg.admin_user_type {
            Some(t) => {
                st.members.insert(
                    cfg.admin.username.clone(),
                    seeded(&cfg.admin.username, "org_admin", t),
                );
            }
            None => {
                st.taken_elsewhere.insert(cfg.admin.username.to_lowercase());
            }
        }
        if let Some(acc) = &cfg.non_admin
            && acc.username != cfg.admin.username
        {
            st.passwords
                .insert(acc.username.clone(), sha256(&acc.password));
            st.members.insert(
                acc.username.clone(),
                seeded(&acc.username, "org_user", "creatorUT"),
            );
        }
        st
    }

    // ----- seats -----

    pub fn assigned(&self, user_type: &str) -> u64 {
        self.members
            .values()
            .filter(|m| m.user_type == user_type)
            .count() as u64
    }

    pub fn purchased(&self, user_type: &str) -> u64 {
        self.purchased.get(user_type).copied().unwrap_or(0)
    }

    pub fn set_purchased(&mut self, user_type: &str, seats: u64) {
        if seats == 0 {
            self.purchased.remove(user_type);
        } else {
            self.purchased.insert(user_type.to_string(), seats);
        }
    }

    pub fn purchased_map(&self) -> &BTreeMap<String, u64> {
        &self.purchased
    }

    /// Assigned seats per user type, only types with members.
    pub fn assigned_map(&self) -> BTreeMap<String, u64> {
        let mut out = BTreeMap::new();
        for m in self.members.values() {
            *out.entry(m.user_type.clone()).or_insert(0) += 1;
        }
        out
    }

    fn is_known_type(&self, user_type: &str) -> bool {
        compat::is_known_user_type(user_type) || self.purchased.contains_key(user_type)
    }

    /// Usernames are unique across all of ArcGIS Online (§8); uniqueness is
    /// taken to be case-insensitive (an assumption: sign-in is
    /// case-sensitive, uniqueness is not documented).
    pub fn is_taken(&self, username: &str) -> bool {
        let lc = username.to_lowercase();
        self.taken_elsewhere.contains(&lc) || self.members.keys().any(|k| k.to_lowercase() == lc)
    }

    pub fn group(&self, id: &str) -> Option<&Group> {
        self.groups.iter().find(|g| g.id == id)
    }

    pub fn seed_member(&mut self, member: SimMember) -> bool {
        if self.is_taken(&member.username) {
            return false;
        }
        self.members.insert(member.username.clone(), member);
        true
    }

    // ----- tokens -----

    /// `generateToken`: checks the password, caps the lifetime, records the
    /// sign-in. Returns the token and its expiry (epoch ms).
    pub fn issue_token(
        &mut self,
        org: &Org,
        username: Option<&str>,
        password: Option<&str>,
        expiration_minutes: Option<i64>,
        now: UnixMillis,
    ) -> Result<(String, UnixMillis), ApiError> {
        let (Some(username), Some(password)) = (username, password) else {
            return Err(ApiError::bad_credentials());
        };
        // Pending members have no password, so they cannot sign in yet.
        if self.passwords.get(username) != Some(&sha256(password)) {
            return Err(ApiError::bad_credentials());
        }
        let minutes = expiration_minutes
            .filter(|m| *m > 0)
            .unwrap_or(DEFAULT_TOKEN_MINUTES);
        let lifetime = minutes
            .saturating_mul(60_000)
            .min(org.token_max_lifetime_ms);
        let expires = now.saturating_add(lifetime);
        self.tokens.retain(|_, t| t.expires > now);
        let token = random_token();
        self.tokens.insert(
            token.clone(),
            TokenRec {
                username: username.to_string(),
                expires,
            },
        );
        if let Some(m) = self.members.get_mut(username) {
            m.last_login = now;
        }
        Ok((token, expires))
    }

    /// Who `token` belongs to; 498 when unknown, expired, or its account was
    /// removed.
    pub fn caller(&self, org: &Org, token: &str, now: UnixMillis) -> Result<Caller, ApiError> {
        let rec = self
            .tokens
            .get(token)
            .filter(|t| t.expires > now)
            .ok_or_else(ApiError::invalid_token)?;
        let admin = match self.members.get(&rec.username) {
            Some(m) => org.base_role(&m.role) == Some("org_admin"),
            None if rec.username == org.admin_username => true,
            None => return Err(ApiError::invalid_token()),
        };
        Ok(Caller {
            username: rec.username.clone(),
            admin,
        })
    }

    // ----- faults and counters -----

    pub fn inject(&mut self, fault: Fault) {
        if fault.times != Some(0) {
            self.faults.push(fault);
        }
    }

    /// Records one request to `path_lc`.
    pub fn count_request(&mut self, path_lc: &str) {
        *self.requests.entry(path_lc.to_string()).or_insert(0) += 1;
    }

    pub fn request_count(&self, suffix: &str) -> u64 {
        self.requests
            .iter()
            .filter(|(p, _)| path_matches(p, suffix))
            .map(|(_, n)| *n)
            .sum()
    }

    /// The first fault that applies to this request, counting down its
    /// `times`. `NotInvited` faults only apply to invite requests.
    pub fn take_fault(&mut self, path_lc: &str, is_invite: bool) -> Option<FaultKind> {
        let idx = self.faults.iter().position(|f| {
            f.endpoint
                .as_deref()
                .is_none_or(|ep| path_matches(path_lc, ep))
                && (is_invite || f.kind != FaultKind::NotInvited)
        })?;
        let kind = self.faults[idx].kind.clone();
        if let Some(times) = self.faults[idx].times.as_mut() {
            *times = times.saturating_sub(1);
            if *times == 0 {
                self.faults.remove(idx);
            }
        }
        Some(kind)
    }

    // ----- members -----

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
        let password = match str_field(inv, "password").filter(|p| !p.is_empty()) {
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
            status: if password.is_some() {
                MemberStatus::Active
            } else {
                MemberStatus::Pending
            },
            last_login: -1,
            created: now,
            full_name,
            access: "org".to_string(),
            esri_access: esri_access.to_string(),
        };
        Ok((member, password))
    }

    /// `community/groups/{gid}/addUsers`. Returns `notAdded`.
    pub fn add_users(&mut self, group_id: &str, names: &[String]) -> Result<Vec<String>, ApiError> {
        if self.group(group_id).is_none() {
            return Err(ApiError::no_group());
        }
        if names.len() > MAX_ADD_USERS {
            return Err(
                ApiError::new(400, "Unable to add users to the group.").with_detail(&format!(
                    "A maximum of {MAX_ADD_USERS} users can be added in one request."
                )),
            );
        }
        let mut not_added = Vec::new();
        for name in names {
            match self.members.get_mut(name) {
                Some(m) if m.group_ids.iter().any(|g| g == group_id) => {}
                Some(m) if m.group_ids.len() < MAX_GROUPS_PER_USER => {
                    m.group_ids.push(group_id.to_string());
                }
                _ => not_added.push(name.clone()),
            }
        }
        Ok(not_added)
    }

    /// `portals/self/updateUserLicenseType`: `(username, status)` per user.
    /// With [`RefusalStyle::ErrorObject`] any refusal undoes the request.
    pub fn update_license_type(
        &mut self,
        org: &Org,
        users: &[String],
        user_type: &str,
    ) -> Result<Vec<(String, bool)>, ApiError> {
        let before = self.members.clone();
        let mut results = Vec::new();
        let mut first_refusal = None;
        for u in users {
            let outcome = self.change_type(org, u, user_type);
            if let Err(r) = outcome {
                first_refusal.get_or_insert(r);
            }
            results.push((u.clone(), outcome.is_ok()));
        }
        match (org.refusal_style, first_refusal) {
            (RefusalStyle::ErrorObject, Some(r)) => {
                self.members = before;
                Err(r.error())
            }
            _ => Ok(results),
        }
    }

    fn change_type(&mut self, org: &Org, username: &str, user_type: &str) -> Result<(), Refusal> {
        if !self.is_known_type(user_type) {
            return Err(Refusal::UnknownType);
        }
        let seat_free = self.assigned(user_type) < self.purchased(user_type);
        let m = self.members.get_mut(username).ok_or(Refusal::NotMember)?;
        if m.user_type == user_type {
            return Ok(());
        }
        if org.compatible(&m.role, user_type) == Compat::No {
            return Err(Refusal::Incompatible);
        }
        if !seat_free {
            return Err(Refusal::NoSeat);
        }
        m.user_type = user_type.to_string();
        Ok(())
    }

    /// `portals/self/updateUserRole`: `Ok(success)`, or the error object with
    /// [`RefusalStyle::ErrorObject`].
    pub fn update_role(&mut self, org: &Org, username: &str, role: &str) -> Result<bool, ApiError> {
        let outcome = if org.base_role(role).is_none() {
            Err(Refusal::UnknownRole)
        } else {
            match self.members.get_mut(username) {
                None => Err(Refusal::NotMember),
                Some(m) if org.compatible(role, &m.user_type) == Compat::No => {
                    Err(Refusal::Incompatible)
                }
                Some(m) => {
                    m.role = role.to_string();
                    Ok(())
                }
            }
        };
        match (outcome, org.refusal_style) {
            (Ok(()), _) => Ok(true),
            (Err(_), RefusalStyle::StatusFalse) => Ok(false),
            (Err(r), RefusalStyle::ErrorObject) => Err(r.error()),
        }
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

    /// `community/groups` search: every token must match. `title:` is a
    /// case-insensitive substring, `orgid:`/`id:`/`owner:` are exact, a bare
    /// word matches the title, `AND`/`OR` are ignored, other fields are
    /// ignored.
    pub fn search_groups(&self, org: &Org, q: &str) -> Vec<&Group> {
        let tokens: Vec<String> = query_tokens(q)
            .into_iter()
            .filter(|t| !matches!(t.as_str(), "AND" | "OR"))
            .collect();
        self.groups
            .iter()
            .filter(|g| {
                tokens.iter().all(|t| {
                    let (field, value) = match t.split_once(':') {
                        Some((f, v)) => (f.to_ascii_lowercase(), v),
                        None => ("title".to_string(), t.as_str()),
                    };
                    let value = value.trim_matches('*').to_lowercase();
                    match field.as_str() {
                        "title" => g.title.to_lowercase().contains(&value),
                        "orgid" => org.id.to_lowercase() == value,
                        "id" => g.id == value,
                        "owner" => g.owner.to_lowercase() == value,
                        _ => true,
                    }
                })
            })
            .collect()
    }

    pub fn group_json(&self, org: &Org, g: &Group) -> Value {
        json!({
            "id": g.id,
            "title": g.title,
            "owner": g.owner,
            "orgId": org.id,
            "access": "org",
        })
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

    /// `community/groups/{gid}/userList`: the owner as `{username,
    /// memberType}` and every other member as `{username, memberType,
    /// joined}`, sorted by username. The organization's administrators, the
    /// owner and the group's members may read it; anyone else gets 403. An
    /// unknown group is `COM_0003`.
    pub fn group_user_list(
        &self,
        group_id: &str,
        caller: &Caller,
    ) -> Result<(Value, Vec<Value>), ApiError> {
        let g = self.group(group_id).ok_or_else(ApiError::no_group)?;
        let in_group = |m: &SimMember| m.group_ids.iter().any(|id| id == group_id);
        let may_read = caller.admin
            || caller.username == g.owner
            || self.members.get(&caller.username).is_some_and(in_group);
        if !may_read {
            return Err(ApiError::forbidden());
        }
        let owner = json!({ "username": g.owner, "memberType": "owner" });
        // Members are kept by username (a BTreeMap), so this is sorted.
        let users = self
            .members
            .values()
            .filter(|m| in_group(m) && m.username != g.owner)
            .map(|m| json!({ "username": m.username, "memberType": "member", "joined": m.created }))
            .collect();
        Ok((owner, users))
    }

    /// The user JSON of `community/users/{u}` (fact sheet §6): `role` is the
    /// base level, `roleId` the role id when it is not a base role.
    pub fn user_json(&self, org: &Org, m: &SimMember, show_email: bool) -> Value {
        let base = org.base_role(&m.role).unwrap_or("org_user");
        let full_name = if m.full_name.trim().is_empty() {
            format!("{} {}", m.first_name, m.last_name)
                .trim()
                .to_string()
        } else {
            m.full_name.clone()
        };
        let groups: Vec<Value> = m
            .group_ids
            .iter()
            .filter_map(|id| self.group(id))
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
        u.insert("provider".into(), json!("arcgis"));
        u.insert("disabled".into(), json!(false));
        Value::Object(u)
    }

    pub fn snapshot_json(&self, org: &Org) -> Value {
        json!({
            "orgId": org.id,
            "members": self.members.values().collect::<Vec<_>>(),
            "purchased": self.purchased,
            "assigned": self.assigned_map(),
            "groups": self.groups.iter().map(|g| json!({"id": g.id, "title": g.title})).collect::<Vec<_>>(),
            "requests": self.requests,
            "faults": self.faults,
            "layers": self.layers.counts(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_are_read_from_comma_strings_and_json_arrays() {
        assert_eq!(split_list(" a, b ,,c "), vec!["a", "b", "c"]);
        assert_eq!(split_list(r#"["a","b"]"#), vec!["a", "b"]);
        assert!(split_list("").is_empty());
    }

    #[test]
    fn paging_reports_next_start_and_minus_one_at_the_end() {
        let items: Vec<u32> = (1..=25).collect();
        let (p, s, next) = page(&items, None, Some(10), 10);
        assert_eq!((p.len(), s, next), (10, 1, 11));
        let (p, _, next) = page(&items, Some(21), Some(10), 10);
        assert_eq!((p, next), (&items[20..], -1));
        let (p, _, next) = page(&items, Some(99), None, 10);
        assert_eq!((p.len(), next), (0, -1));
        let (p, _, _) = page(&items, None, Some(1000), 10);
        assert_eq!(p.len(), 25, "capped at 100 but only 25 exist");
    }

    #[test]
    fn path_suffixes_match_whole_segments_only() {
        assert!(path_matches("portals/self/invite", "invite"));
        assert!(path_matches(
            "portals/self/invite",
            "/sharing/rest/portals/self/invite"
        ));
        assert!(path_matches(
            "portals/self/updateuserrole",
            "updateUserRole"
        ));
        assert!(!path_matches("portals/self/removeusers", "users"));
        assert!(path_matches("portals/self/users", "users"));
        assert!(path_matches("anything", ""));
    }

    #[test]
    fn query_tokens_keep_quoted_titles_together() {
        assert_eq!(
            query_tokens(r#"title:"Field Crews" AND (orgid:ABC)"#),
            vec!["title:Field Crews", "AND", "orgid:ABC"]
        );
    }

    #[test]
    fn group_ids_are_32_hex_characters_and_stable() {
        let a = group_id("org1", "Field Crews");
        assert_eq!(a.len(), 32);
        assert!(a.chars().all(|c| c.is_ascii_hexdigit()));
        assert_eq!(a, group_id("org1", "Field Crews"));
        assert_ne!(a, group_id("org2", "Field Crews"));
    }

    #[test]
    fn custom_roles_refuse_the_viewer_type_only_when_not_viewer_compatible() {
        let org = Org::from_config(&SimulatorConfig {
            custom_roles: vec![
                SimRole::new("rEaDeRrOlE000001", "Reader", true),
                SimRole::new("eDiToRrOlE000001", "Editor", false),
            ],
            ..SimulatorConfig::default()
        });
        assert_eq!(
            org.compatible("rEaDeRrOlE000001", "viewerUT"),
            Compat::Unknown
        );
        assert_eq!(org.compatible("eDiToRrOlE000001", "viewerUT"), Compat::No);
        assert_eq!(
            org.compatible("eDiToRrOlE000001", "editorUT"),
            Compat::Unknown
        );
        assert_eq!(org.compatible("iBBBBBBBBBBBBBBB", "viewerUT"), Compat::No);
        assert_eq!(org.compatible("org_user", "creatorUT"), Compat::Yes);
    }

    #[test]
    fn password_policy_needs_a_letter_a_digit_and_eight_characters() {
        assert!(password_acceptable("S3cure-pass1", "jdoe_acme"));
        assert!(!password_acceptable("short1", "jdoe_acme"));
        assert!(!password_acceptable("lettersonly", "jdoe_acme"));
        assert!(!password_acceptable("jdoe_acme1", "jdoe_acme1"));
    }
}
