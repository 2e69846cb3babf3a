//! [`SimMember`]: a member of the simulated organization as tests seed and
//! inspect it, and its [`MemberStatus`]; [`SimInvitation`]: a pending
//! invitation and the member it becomes.
//!
//! Plain data: the rules members and invitations must follow are in
//! `state`.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::config::INVITATION_LIFETIME;
use crate::domain::UnixMillis;

/// Whether a member can sign in yet.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MemberStatus {
    /// Created with a password (or a built-in account).
    Active,
    /// Invited by e-mail without a password: visible, holds its seat (only
    /// while [`SimulatorConfig::email_invitations_pending`] is off; with it
    /// on, such an invite is a [`SimInvitation`] instead).
    ///
    /// [`SimulatorConfig::email_invitations_pending`]: crate::portal::simulator::SimulatorConfig::email_invitations_pending
    Pending,
}

/// A member of the simulated organization, as the tests inspect it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SimMember {
    /// Username, exactly as created.
    pub username: String,
    /// E-mail address.
    pub email: String,
    /// Given name.
    pub first_name: String,
    /// Family name.
    pub last_name: String,
    /// Role id: `org_user`, `org_publisher`, `org_admin` or a role id.
    pub role: String,
    /// User type id.
    pub user_type: String,
    /// Ids of the groups the member belongs to.
    pub group_ids: Vec<String>,
    /// Active or pending.
    pub status: MemberStatus,
    /// Epoch ms of the last sign-in; `-1` = never.
    pub last_login: UnixMillis,
    /// Epoch ms of creation.
    pub created: UnixMillis,
    /// Display name (`fullName`); empty = "first last".
    #[serde(default)]
    pub full_name: String,
    /// Profile visibility (`access`): `public`, `org` or `private`.
    #[serde(default = "default_access")]
    pub access: String,
    /// Esri access (the user JSON's `userType`): `arcgisonly` or `both`.
    #[serde(default = "default_esri_access")]
    pub esri_access: String,
    /// Disabled (`community/users/<u>/disable`): cannot sign in, still
    /// holds its seat.
    #[serde(default)]
    pub disabled: bool,
    /// Where the account signs in: `arcgis` (a built-in account with a
    /// password; every invited member) or `enterprise` (SAML or OIDC; only
    /// `createUser` of an ArcGIS Enterprise portal makes one). The user
    /// JSON's `provider`.
    #[serde(default = "default_provider")]
    pub provider: String,
    /// The account's name at the identity provider (`provider` =
    /// `enterprise` only): the user JSON's `idpUsername`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idp_username: Option<String>,
    /// The profile's description (`createUser`'s `description`); shown in
    /// the user JSON when not empty.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
}

fn default_access() -> String {
    "org".to_string()
}

fn default_esri_access() -> String {
    "arcgisonly".to_string()
}

fn default_provider() -> String {
    "arcgis".to_string()
}

impl SimMember {
    /// An active member with this role and user type and the defaults of a
    /// new member: e-mail `<username>@example.com`, first name "Test", last
    /// name the username, no groups, access `org`, Esri access `arcgisonly`,
    /// never signed in, created at 0, not disabled, provider `arcgis`, no
    /// description. Change fields with struct update
    /// syntax, then [`PortalSimulator::seed_member`] it.
    ///
    /// [`PortalSimulator::seed_member`]: crate::portal::simulator::PortalSimulator::seed_member
    pub fn new(username: &str, role: &str, user_type: &str) -> Self {
        SimMember {
            username: username.to_string(),
            email: format!("{username}@example.com"),
            first_name: "Test".to_string(),
            last_name: username.to_string(),
            role: role.to_string(),
            user_type: user_type.to_string(),
            group_ids: Vec::new(),
            status: MemberStatus::Active,
            last_login: -1,
            created: 0,
            full_name: String::new(),
            access: default_access(),
            esri_access: default_esri_access(),
            disabled: false,
            provider: default_provider(),
            idp_username: None,
            description: String::new(),
        }
    }
}

/// A pending invitation of the simulated organization: someone invited by
/// e-mail (no password) who has not accepted yet. It is not a member
/// (`community/users` does not know it) but holds a seat of its user type
/// and its username until it is accepted or lapses.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SimInvitation {
    /// Invitation id: 32 lower-case hex characters.
    pub id: String,
    /// The member it becomes on acceptance: username, e-mail, names, role,
    /// user type, groups, Esri access. Acceptance makes it
    /// [`MemberStatus::Active`], created at the time of acceptance.
    pub member: SimMember,
    /// When it was sent (epoch ms).
    pub created: UnixMillis,
    /// When it lapses (epoch ms): from then on it is gone, its seat is free,
    /// and its username stays unavailable.
    pub expires: UnixMillis,
}

impl SimInvitation {
    /// An invitation sent at `created` to `<username>@example.com` for a
    /// member with this role and user type and [`SimMember::new`]'s other
    /// defaults, lapsing 14 days later. Change fields with struct update
    /// syntax, then [`PortalSimulator::seed_invitation`] it.
    ///
    /// [`PortalSimulator::seed_invitation`]: crate::portal::simulator::PortalSimulator::seed_invitation
    pub fn new(username: &str, role: &str, user_type: &str, created: UnixMillis) -> Self {
        let lifetime = i64::try_from(INVITATION_LIFETIME.as_millis()).unwrap_or(i64::MAX);
        SimInvitation {
            id: invitation_id(username, created),
            member: SimMember::new(username, role, user_type),
            created,
            expires: created.saturating_add(lifetime),
        }
    }

    /// The username it reserves.
    pub fn username(&self) -> &str {
        &self.member.username
    }
}

/// An invitation id: 32 lower-case hex characters derived from the username
/// and the time it was sent (a live invitation's username is unique).
pub(super) fn invitation_id(username: &str, created: UnixMillis) -> String {
    Sha256::digest(format!("invitation/{username}/{created}").as_bytes())
        .iter()
        .take(16)
        .map(|b| format!("{b:02x}"))
        .collect()
}
