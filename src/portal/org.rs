//! [`OrgAdmin`]: the port the CSV import calls to read the whole
//! organization once and to change existing members, and the seat's life
//! after sign-up (issue 14: disable, enable, delete, owned content,
//! notifications), and the account the broker signed in as ([`Account`],
//! for the pre-flight check), with its vocabulary ([`Role`], [`ProfileUpdate`],
//! [`LicenseCounts`], [`OwnedContent`], the refusal codes).
//!
//! Only the contract lives here: no HTTP, no JSON shapes, and no import
//! logic (what to change is the caller's decision).

use std::future::Future;

use serde::{Deserialize, Serialize};

use super::error::PortalError;
use super::members::Member;

/// A role of the organization.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Role {
    /// `org_admin`, `org_publisher`, `org_user`, or a 16-character role id.
    pub id: String,
    /// Display name, e.g. "Viewer".
    pub name: String,
    /// The role's privileges (`portals/self/roles?returnPrivileges=true`),
    /// e.g. `features:user:edit`; `None` when the portal did not say (the
    /// built-in roles, an older portal). What decides whether a custom role
    /// fits a user type (fact sheet §7).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub privileges: Option<Vec<String>>,
}

/// The built-in base roles, which `portals/self/roles` does not list
/// (fact sheet §6).
pub const BUILT_IN_ROLES: &[(&str, &str)] = &[
    ("org_admin", "Administrator"),
    ("org_publisher", "Publisher"),
    ("org_user", "User"),
];

/// [`BUILT_IN_ROLES`] as roles, in that order: what [`OrgAdmin::roles`]
/// starts with in every adapter.
pub(crate) fn built_in_roles() -> Vec<Role> {
    BUILT_IN_ROLES
        .iter()
        .map(|(id, name)| Role {
            id: id.to_string(),
            name: name.to_string(),
            privileges: None,
        })
        .collect()
}

/// `Rejected` code of a role change the portal refused without a reason
/// ([`OrgAdmin::update_role`]).
pub const INCOMPATIBLE_ROLE: &str = "incompatible_role";

/// `Rejected` code of a user type change the portal refused
/// ([`OrgAdmin::update_user_type`]).
pub const USER_TYPE_REFUSED: &str = "user_type_refused";

/// `Rejected` code of a deletion the portal refused because the member
/// still owns items or groups ([`OrgAdmin::delete_member`]); the caller
/// may disable the member instead.
pub const OWNS_CONTENT: &str = "owns_content";

/// What a member owns that keeps the portal from deleting it
/// ([`OrgAdmin::owned_content`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OwnedContent {
    /// Items the member owns, in every folder.
    pub items: u64,
    /// Groups the member owns.
    pub groups: u64,
}

impl OwnedContent {
    /// Whether the member owns nothing (a deletion would not be refused
    /// for content).
    pub fn is_empty(&self) -> bool {
        self.items == 0 && self.groups == 0
    }
}

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

/// The account the broker signed in as, as `community/self` describes it:
/// what the pre-flight check needs to tell whether it may administer the
/// organization's members.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Account {
    /// Username as the portal spells it.
    pub username: String,
    /// Base role level (`role`: `org_admin`, `org_publisher`, `org_user`).
    pub role: Option<String>,
    /// Custom role id (`roleId`), when the account has a custom role; a
    /// custom administrator role shows `role: org_admin` plus this.
    pub role_id: Option<String>,
    /// `provider`: `arcgis` for a built-in account, `enterprise` for a
    /// SAML/OIDC one (fact sheet §3); `None` when not reported.
    pub provider: Option<String>,
    /// `idpUsername`: set only for SAML/OIDC accounts.
    pub idp_username: Option<String>,
    /// The account's privileges (`privileges`), when reported.
    pub privileges: Option<Vec<String>>,
}

/// Seats per user type: purchased (`subscriptionInfo.userLicenseTypes`) and
/// assigned (`users/counts?type=userLicenseType`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LicenseCounts {
    /// `(user type id, purchased, assigned)`.
    pub types: Vec<(String, u64, u64)>,
}

/// The organization as a whole: bulk listings read once per job, and the
/// changes an administrator makes to existing members.
pub trait OrgAdmin: Send + Sync {
    /// Purchased and assigned seats per user type (reconciliation).
    fn license_counts(&self) -> impl Future<Output = Result<LicenseCounts, PortalError>> + Send;

    /// The account the broker signed in as (`GET community/self`). A
    /// refused sign-in → [`PortalError::Auth`].
    fn signed_in_account(&self) -> impl Future<Output = Result<Account, PortalError>> + Send;

    /// The kind of portal this is, as it says itself (`portals/self`:
    /// `isPortal` is `true` on ArcGIS Enterprise); `Ok(None)` when it does
    /// not say (the default, for adapters that cannot tell).
    fn reported_flavour(
        &self,
    ) -> impl Future<Output = Result<Option<crate::domain::PortalFlavour>, PortalError>> + Send
    {
        async { Ok(None) }
    }

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

    /// Disables a member (`POST community/users/<u>/disable`; fact sheet
    /// §6 "Disable / enable one", \[D\] docs, \[V\] Python API): it can no
    /// longer sign in, and still holds its seat of its user type (ArcGIS
    /// Online counts disabled members). Success is `{"success":true}` or
    /// `{"status":"success"}` (the Python API accepts both). Disabling a
    /// disabled member is not an error.
    fn disable(&self, username: &str) -> impl Future<Output = Result<(), PortalError>> + Send;

    /// Enables a disabled member again (`POST community/users/<u>/enable`;
    /// fact sheet §6, \[D\]/\[V\] as [`OrgAdmin::disable`]), with the same
    /// answers.
    fn enable(&self, username: &str) -> impl Future<Output = Result<(), PortalError>> + Send;

    /// Deletes a member (`POST community/users/<u>/delete`; fact sheet §6
    /// "Delete one", \[D\] docs, \[V\] Python API), which frees its seat. The
    /// portal refuses (an error in an HTTP 200 body) while the member owns
    /// items or groups: that refusal → `Rejected { code: "owns_content" }`
    /// ([`OWNS_CONTENT`]), so the caller can disable the member instead.
    fn delete_member(&self, username: &str)
    -> impl Future<Output = Result<(), PortalError>> + Send;

    /// What the member owns: items in every folder (`GET
    /// content/users/<u>`, then each folder) and the groups it owns (its
    /// `community/users/<u>` groups whose `owner` is the member). For a
    /// dry-run plan that says "would be disabled, not deleted: owns 3
    /// items". A member that does not exist is `Rejected`.
    fn owned_content(
        &self,
        username: &str,
    ) -> impl Future<Output = Result<OwnedContent, PortalError>> + Send;

    /// E-mails members of the organization through the portal (`POST
    /// portals/self/createNotification`, `notificationChannelType=email`,
    /// `subject`, `message`, `users` as a comma list), 25 usernames per
    /// request. Not in the fact sheet, so \[I\]: the call is the one the
    /// Python API's `gis.users.send_notification` (portal 6.4 and later)
    /// and Esri REST JS's `createOrgNotification` (which batches by 25)
    /// send. Done when every batch answers `{"success":true}`; a failing
    /// batch stops the rest (the batches before it were sent). No
    /// username → nothing is sent.
    fn send_notification(
        &self,
        usernames: &[String],
        subject: &str,
        message: &str,
    ) -> impl Future<Output = Result<(), PortalError>> + Send;
}
