//! The ArcGIS portal: where members are created.
//!
//! [`Portal`] is the port the provisioning workflow calls. Adapters:
//! [`arcgis::ArcGisPortal`] talks to ArcGIS Online over the sharing REST API
//! (`reqwest`); [`simulator`] is a stateful fake *portal server* (it speaks the
//! same REST API over real HTTP), so tests and the local demo exercise the real
//! client end to end. `compat` holds the role × user type rules both the rules
//! file check and the simulator enforce (fact sheet §7); `layer` checks the
//! hosted feature layer URLs records are re-read from.

pub mod arcgis;
pub mod fake;
pub mod simulator;
mod wire;

use std::future::Future;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// A member to create through `portals/self/invite`.
#[derive(Clone, Debug)]
pub struct NewMember {
    /// The exact username to create (already checked against the AGOL rules).
    pub username: String,
    /// E-mail address.
    pub email: String,
    /// Given name (may be empty).
    pub first_name: String,
    /// Family name (may be empty).
    pub last_name: String,
    /// Role id: `org_user`, `org_publisher`, `iAAAAAAAAAAAAAAA`, a custom id…
    pub role: String,
    /// User type id (`userLicenseType`), e.g. `creatorUT`.
    pub user_type: String,
    /// Group ids (already resolved from names).
    pub group_ids: Vec<String>,
    /// How the person gets in.
    pub invitation: Invitation,
}

/// How a new member obtains a password.
#[derive(Clone)]
pub enum Invitation {
    /// AGOL e-mails a link; the person sets a password. The member may show
    /// up as pending until they accept.
    Email,
    /// The account is created active with this password (never logged).
    Password(String),
}

impl std::fmt::Debug for Invitation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Invitation::Email => f.write_str("Email"),
            Invitation::Password(_) => f.write_str("Password(<redacted>)"),
        }
    }
}

/// A member as the portal reports it (`community/users/{username}`, or one
/// entry of `portals/self/users`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    /// Username.
    pub username: String,
    /// E-mail, when the caller may see it (admins can).
    pub email: Option<String>,
    /// The organization id the member belongs to (`orgId`); `None` for
    /// accounts of other organizations or public accounts.
    pub org_id: Option<String>,
    /// Base role (`org_user`, …) or custom role id (`roleId` wins when set).
    pub role: Option<String>,
    /// User type id.
    pub user_type: Option<String>,
    /// Group ids the member belongs to, when reported.
    pub group_ids: Vec<String>,
    /// Given name (`firstName`).
    #[serde(default)]
    pub first_name: Option<String>,
    /// Family name (`lastName`).
    #[serde(default)]
    pub last_name: Option<String>,
    /// Display name (`fullName`).
    #[serde(default)]
    pub full_name: Option<String>,
    /// Profile visibility (`access`): `public`, `org` or `private`.
    #[serde(default)]
    pub access: Option<String>,
    /// Esri access (the user JSON's `userType`): `arcgisonly` or `both`.
    /// Not to be confused with [`Member::user_type`], the licence.
    #[serde(default)]
    pub esri_access: Option<String>,
}

/// A role of the organization.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Role {
    /// `org_admin`, `org_publisher`, `org_user`, or a 16-character role id.
    pub id: String,
    /// Display name, e.g. "Viewer".
    pub name: String,
}

/// The built-in base roles, which `portals/self/roles` does not list
/// (fact sheet §6).
pub const BUILT_IN_ROLES: &[(&str, &str)] = &[
    ("org_admin", "Administrator"),
    ("org_publisher", "Publisher"),
    ("org_user", "User"),
];

/// `Rejected` code of a role change the portal refused without a reason
/// ([`Portal::update_role`]).
pub const INCOMPATIBLE_ROLE: &str = "incompatible_role";

/// `Rejected` code of a user type change the portal refused
/// ([`Portal::update_user_type`]).
pub const USER_TYPE_REFUSED: &str = "user_type_refused";

/// Profile fields to change with `community/users/<u>/update`; `None` =
/// leave as is.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProfileUpdate {
    /// New e-mail address (`email`).
    pub email: Option<String>,
    /// New given name (`firstName`).
    pub first_name: Option<String>,
    /// New family name (`lastName`).
    pub last_name: Option<String>,
    /// New display name (`fullname`).
    pub full_name: Option<String>,
    /// "public" | "org" | "private"
    pub access: Option<String>,
    /// Esri access: "arcgisonly" | "both"
    pub user_type: Option<String>,
}

impl ProfileUpdate {
    /// Whether no field is set (nothing to send).
    pub fn is_empty(&self) -> bool {
        self == &ProfileUpdate::default()
    }
}

/// Seats per user type: purchased (`subscriptionInfo.userLicenseTypes`) and
/// assigned (`users/counts?type=userLicenseType`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LicenseCounts {
    /// `(user type id, purchased, assigned)`.
    pub types: Vec<(String, u64, u64)>,
}

/// Portal failures, classified by what the caller should do.
#[derive(Debug, Clone, thiserror::Error)]
pub enum PortalError {
    /// Retryable trouble (5xx, 429, timeouts, connection errors) that lasted
    /// past the retry budget or the deadline. Try again later.
    #[error("portal unavailable: {0}")]
    Unavailable(String),
    /// The administrator credentials were refused, or a renewed token was
    /// refused again. Needs an operator.
    #[error("portal refused the administrator credentials: {0}")]
    Auth(String),
    /// `invite` answered with the username in `notInvited`: the portal refused
    /// this member and, as it does, gave no reason (name taken, no seat of the
    /// user type left, role × type mismatch, bad e-mail…).
    #[error("portal did not invite {username}")]
    NotInvited {
        /// The refused username.
        username: String,
    },
    /// The portal answered with an error object for a request it will not
    /// accept (unknown group, bad parameter). Permanent.
    #[error("portal rejected the request: {code} {message}")]
    Rejected {
        /// `messageCode` when present, else the numeric code.
        code: String,
        /// The portal's message.
        message: String,
    },
    /// The client itself is misconfigured (bad URL, plain http to a
    /// non-loopback host). Needs an operator; not retryable.
    #[error("portal client misconfigured: {0}")]
    Config(String),
    /// The answer was not the JSON we expect.
    #[error("unexpected answer from the portal: {0}")]
    Protocol(String),
}

impl PortalError {
    /// Whether retrying the same call later may succeed.
    pub fn is_transient(&self) -> bool {
        matches!(self, PortalError::Unavailable(_))
    }
}

/// The portal port.
pub trait Portal: Send + Sync + 'static {
    /// The organization id of the administrator's portal (`portals/self.id`).
    fn org_id(&self) -> impl Future<Output = Result<String, PortalError>> + Send;

    /// Looks a user up by username; `Ok(None)` when it does not exist or is
    /// not visible.
    fn member(
        &self,
        username: &str,
    ) -> impl Future<Output = Result<Option<Member>, PortalError>> + Send;

    /// Whether nobody in all of ArcGIS Online has this username
    /// (`community/checkUsernames`, best effort).
    fn username_available(
        &self,
        username: &str,
    ) -> impl Future<Output = Result<bool, PortalError>> + Send;

    /// Resolves group titles to ids within the organization. The result is in
    /// the order of `names`; `None` for a name with no group.
    fn group_ids(
        &self,
        names: &[String],
    ) -> impl Future<Output = Result<Vec<Option<String>>, PortalError>> + Send;

    /// Creates one member with `portals/self/invite` (one invitation per
    /// request, so `notInvited` names exactly this person).
    fn invite(&self, member: &NewMember) -> impl Future<Output = Result<(), PortalError>> + Send;

    /// Purchased and assigned seats per user type (reconciliation).
    fn license_counts(&self) -> impl Future<Output = Result<LicenseCounts, PortalError>> + Send;

    /// Every role a member can be given: the built-in `org_admin`,
    /// `org_publisher` and `org_user` first, then `portals/self/roles` (all
    /// pages: Viewer, Data Editor and the custom roles).
    fn roles(&self) -> impl Future<Output = Result<Vec<Role>, PortalError>> + Send;

    /// Every member of the organization (`portals/self/users`, all pages of
    /// 100), so a bulk job reads the org once instead of once per person.
    fn org_members(&self) -> impl Future<Output = Result<Vec<Member>, PortalError>> + Send;

    /// Every group of the organization as `(id, title)` (`community/groups`
    /// with `q=orgid:<id>`, all pages).
    fn group_titles(
        &self,
    ) -> impl Future<Output = Result<Vec<(String, String)>, PortalError>> + Send;

    /// Usernames of a group's owner, admins and members
    /// (`community/groups/<gid>/userList`, all pages). The org member
    /// listing is not known to carry each member's groups, so this is how a
    /// bulk job learns who is in a group. A group the caller may not see →
    /// [`PortalError::Rejected`] (403 `GWM_0003`, or `COM_0003` for an
    /// unknown or inaccessible group).
    fn group_members(
        &self,
        group_id: &str,
    ) -> impl Future<Output = Result<Vec<String>, PortalError>> + Send;

    /// Changes the set fields of a member's profile
    /// (`community/users/<u>/update`). Nothing is sent when no field is set.
    /// An error object → [`PortalError::Rejected`].
    fn update_profile(
        &self,
        username: &str,
        update: &ProfileUpdate,
    ) -> impl Future<Output = Result<(), PortalError>> + Send;

    /// Gives a member another role (`portals/self/updateUserRole`). A refusal
    /// without a reason (`success:false`, e.g. the role does not fit the
    /// member's user type) → `Rejected { code: "incompatible_role" }`.
    fn update_role(
        &self,
        username: &str,
        role_id: &str,
    ) -> impl Future<Output = Result<(), PortalError>> + Send;

    /// Gives a member another user type (`portals/self/updateUserLicenseType`).
    /// `status:false` (no seat of that type left, or it does not fit the
    /// role) → `Rejected { code: "user_type_refused" }`.
    fn update_user_type(
        &self,
        username: &str,
        user_type: &str,
    ) -> impl Future<Output = Result<(), PortalError>> + Send;

    /// Adds a member to each group (`community/groups/<gid>/addUsers`, one
    /// request per group). Returns the group ids whose answer listed the
    /// member in `notAdded`. An unknown group id is an error
    /// (`Rejected`, `COM_0003`); groups before it were already processed.
    fn add_to_groups(
        &self,
        username: &str,
        group_ids: &[String],
    ) -> impl Future<Output = Result<Vec<String>, PortalError>> + Send;

    /// One record of a hosted feature layer by its global id, with the
    /// broker's token: `GET {layer_url}/query?where=GlobalID='{GUID}'
    /// &outFields=*&returnGeometry=false&f=json`. Returns its attributes,
    /// `Ok(None)` when no record has that id.
    ///
    /// `layer_url` must come from the configuration, never from a payload
    /// (the token travels to it); it is checked again with
    /// [`crate::domain::LayerUrl::parse`]. `globalid` must be a GUID (any case, with
    /// or without braces); anything else is refused before a request is
    /// sent, so the `where` clause cannot be injected.
    fn feature_by_globalid(
        &self,
        layer_url: &str,
        globalid: &str,
    ) -> impl Future<Output = Result<Option<Map<String, Value>>, PortalError>> + Send;
}
