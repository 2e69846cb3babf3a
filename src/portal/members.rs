//! [`Members`]: the port the provisioning workflow calls to create one
//! member, with its vocabulary ([`NewMember`], [`Invitation`], [`Member`]).
//!
//! Only the contract lives here: no HTTP, no JSON shapes (those are the
//! adapters'), and nothing about seats or pools.

use std::future::Future;

use serde::{Deserialize, Serialize};

use super::error::PortalError;

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

/// Members of the organization, one at a time: what the provisioning
/// workflow needs to create a member (and the import, to read one back).
pub trait Members: Send + Sync {
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
}
