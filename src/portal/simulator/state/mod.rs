//! The simulated organization's mutable state ([`State`]) and the
//! vocabulary its operations share with the HTTP layer ([`Caller`],
//! [`ProfileChange`], [`NewAccount`]).
//!
//! Plain synchronous bookkeeping: no HTTP, no async, no clock reads (`now` is
//! passed in). The caller holds the simulator's mutex around every call, so
//! each operation is atomic; that is the whole concurrency story.
//!
//! This file holds the data and how it starts; the portal's rules are in
//! one file per concern, each adding methods to [`State`]: `accounts`
//! (passwords, tokens, who is calling), `members` (invitations, profiles,
//! removal, the user JSON), `lifecycle` (disabling, enabling and deleting
//! one member), `enterprise_users` (portaladmin `createUser`), `content`
//! (members' items), `notifications`
//! (`createNotification`), `invitations` (pending invitations: listing,
//! acceptance, lapse), `groups` (search, membership), `licenses` (seats per
//! user type, user type and role changes), `faults` (injected faults and
//! request counts).

mod accounts;
mod content;
mod enterprise_users;
mod faults;
mod groups;
mod invitations;
mod licenses;
mod lifecycle;
mod members;
mod notifications;

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::config::SimulatorConfig;
use super::content::SimItem;
use super::fault::Fault;
use super::layers::Layers;
use super::member::{MemberStatus, SimInvitation, SimMember};
use super::notification::SimNotification;
use super::org::Org;
use crate::domain::UnixMillis;

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

/// The fields of portaladmin `security/users/createUser` (fact sheet §3),
/// as sent; `None` = not sent. Holds a password in clear, so it has no
/// `Debug`.
#[derive(Clone, Default)]
pub(super) struct NewAccount {
    pub username: Option<String>,
    pub password: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub email: Option<String>,
    pub role: Option<String>,
    /// `userLicenseTypeId` (not the invitation's `userLicenseType`).
    pub user_type: Option<String>,
    pub provider: Option<String>,
    pub idp_username: Option<String>,
    pub description: Option<String>,
    pub apply_defaults: Option<String>,
}

/// A group of the organization.
#[derive(Debug, Clone)]
pub(super) struct Group {
    pub id: String,
    pub title: String,
    pub owner: String,
}

/// An issued token: whose it is and until when (epoch ms).
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
    /// Pending invitations by exact username (see
    /// [`SimulatorConfig::email_invitations_pending`]).
    pub invitations: BTreeMap<String, SimInvitation>,
    /// Lower-cased usernames of lapsed invitations: not reused (fact sheet
    /// §2).
    lapsed_names: BTreeSet<String>,
    pub faults: Vec<Fault>,
    /// Request counts by lower-cased path below `/sharing/rest/` (or, for
    /// a hosted layer, its lower-cased path).
    requests: BTreeMap<String, u64>,
    /// Hosted feature layers and their records.
    pub layers: Layers,
    /// Password-reset e-mails sent, by exact username
    /// (`community/users/<u>/reset` with `email=true`).
    pub reset_emails: BTreeMap<String, u32>,
    /// Lower-cased usernames of members deleted with
    /// `community/users/<u>/delete`: not reused.
    deleted_names: BTreeSet<String>,
    /// Members' items, oldest first.
    items: Vec<SimItem>,
    /// How many items were ever added (their ids' sequence).
    item_seq: u64,
    /// Notifications sent, oldest first, one per recipient.
    pub notifications: Vec<SimNotification>,
}

/// The digest passwords are kept as.
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

impl State {
    /// The organization at start: seats, groups (owned by the
    /// administrator), the administrator and the optional non-administrator
    /// account, created at `now`.
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
            invitations: BTreeMap::new(),
            lapsed_names: BTreeSet::new(),
            faults: Vec::new(),
            requests: BTreeMap::new(),
            layers: Layers::default(),
            reset_emails: BTreeMap::new(),
            deleted_names: BTreeSet::new(),
            items: Vec::new(),
            item_seq: 0,
            notifications: Vec::new(),
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
            disabled: false,
            provider: "arcgis".to_string(),
            idp_username: None,
            description: String::new(),
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

    /// The `GET /_sim/state` document (the flavour, pending invitations,
    /// items and notifications included).
    pub fn snapshot_json(&self, org: &Org) -> Value {
        json!({
            "flavour": org.flavour,
            "orgId": org.id,
            "members": self.members.values().collect::<Vec<_>>(),
            "invitations": self.invitations.values().collect::<Vec<_>>(),
            "purchased": self.purchased,
            "assigned": self.assigned_map(),
            "groups": self.groups.iter().map(|g| json!({"id": g.id, "title": g.title, "owner": g.owner})).collect::<Vec<_>>(),
            "items": self.items,
            "notifications": self.notifications,
            "requests": self.requests,
            "reset_emails": self.reset_emails,
            "faults": self.faults,
            "layers": self.layers.counts(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn group_ids_are_32_hex_characters_and_stable() {
        let a = group_id("org1", "Field Crews");
        assert_eq!(a.len(), 32);
        assert!(a.chars().all(|c| c.is_ascii_hexdigit()));
        assert_eq!(a, group_id("org1", "Field Crews"));
        assert_ne!(a, group_id("org2", "Field Crews"));
    }
}
