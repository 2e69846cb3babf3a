//! Serde shapes of the ArcGIS sharing REST JSON the client reads and writes
//! (fact sheet §2, §4, §5, §6, §7), and of a feature layer's `query` answer.
//!
//! Only shapes live here: no I/O, no classification of errors, no defaults
//! that carry meaning. Every field the portal may leave out is an `Option` or
//! defaults to empty, so an answer missing a field we do not need still
//! parses; the client decides what a missing field means.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// `{"error": {...}}`: the sharing API's error object (fact sheet §1).
#[derive(Debug, Default, Deserialize)]
pub(crate) struct ErrorObject {
    /// Numeric code; seen as a number, tolerated as a string.
    #[serde(default)]
    pub code: Option<Value>,
    /// Symbolic code such as `COM_0003`, when present.
    #[serde(default, rename = "messageCode")]
    pub message_code: Option<String>,
    /// Human-readable message.
    #[serde(default)]
    pub message: Option<String>,
    /// Extra lines, e.g. "Invalid username or password.".
    #[serde(default)]
    pub details: Option<Vec<Value>>,
}

/// `generateToken` answer (fact sheet §4A).
#[derive(Debug, Deserialize)]
pub(crate) struct TokenResponse {
    /// The token; absent only in a malformed answer.
    #[serde(default)]
    pub token: Option<String>,
    /// Expiry in epoch milliseconds.
    #[serde(default)]
    pub expires: Option<i64>,
}

/// The parts of `portals/self` the client reads.
#[derive(Debug, Deserialize)]
pub(crate) struct PortalSelf {
    /// The organization id.
    #[serde(default)]
    pub id: Option<String>,
    /// Subscription details (AGOL only).
    #[serde(default, rename = "subscriptionInfo")]
    pub subscription_info: Option<SubscriptionInfo>,
    /// `true` on an ArcGIS Enterprise portal, `false` on ArcGIS Online.
    #[serde(default, rename = "isPortal")]
    pub is_portal: Option<bool>,
}

/// `portaladmin/license` (fact sheet §5, Enterprise seats).
#[derive(Debug, Deserialize)]
pub(crate) struct EnterpriseLicense {
    /// Seats per user type.
    #[serde(default, rename = "userTypes")]
    pub user_types: Option<Vec<EnterpriseUserType>>,
}

/// One entry of `portaladmin/license.userTypes`.
#[derive(Debug, Deserialize)]
pub(crate) struct EnterpriseUserType {
    /// User type id.
    #[serde(default)]
    pub id: Option<String>,
    /// Seats licensed.
    #[serde(default, rename = "maximumRegisteredMembers")]
    pub maximum: Option<Value>,
    /// Seats assigned.
    #[serde(default, rename = "currentRegisteredMembers")]
    pub current: Option<Value>,
}

/// The admin API's answer (`{"status":"success", ...}`, fact sheet §1).
#[derive(Debug, Deserialize)]
pub(crate) struct AdminStatus {
    /// `success` when done.
    #[serde(default)]
    pub status: Option<String>,
}

/// `portals/self.subscriptionInfo`.
#[derive(Debug, Deserialize)]
pub(crate) struct SubscriptionInfo {
    /// Purchased seats per user type id; values are numbers (or null).
    #[serde(default, rename = "userLicenseTypes")]
    pub user_license_types: Option<HashMap<String, Value>>,
}

/// One page of `portals/self/users/counts`.
#[derive(Debug, Deserialize)]
pub(crate) struct CountsPage {
    /// `{key, count}` pairs.
    #[serde(default)]
    pub results: Vec<CountEntry>,
    /// Start of the next page, `-1` (or absent) at the end.
    #[serde(default, rename = "nextStart")]
    pub next_start: Option<i64>,
}

/// One `{key, count}` pair of a counts page.
#[derive(Debug, Deserialize)]
pub(crate) struct CountEntry {
    /// User type id.
    pub key: String,
    /// Members holding it.
    #[serde(default)]
    pub count: Option<Value>,
}

/// `community/users/{username}`.
#[derive(Debug, Deserialize)]
pub(crate) struct UserJson {
    /// Username as the portal spells it.
    #[serde(default)]
    pub username: Option<String>,
    /// E-mail (visible to admins).
    #[serde(default)]
    pub email: Option<String>,
    /// Organization id.
    #[serde(default, rename = "orgId")]
    pub org_id: Option<String>,
    /// Base role level (`org_admin`, `org_publisher`, `org_user`).
    #[serde(default)]
    pub role: Option<String>,
    /// Custom role id, when the member has one.
    #[serde(default, rename = "roleId")]
    pub role_id: Option<String>,
    /// User type id.
    #[serde(default, rename = "userLicenseTypeId")]
    pub user_license_type_id: Option<String>,
    /// Groups the member belongs to.
    #[serde(default)]
    pub groups: Vec<GroupRef>,
    /// Given name.
    #[serde(default, rename = "firstName")]
    pub first_name: Option<String>,
    /// Family name.
    #[serde(default, rename = "lastName")]
    pub last_name: Option<String>,
    /// Display name.
    #[serde(default, rename = "fullName")]
    pub full_name: Option<String>,
    /// Profile visibility: `public`, `org`, `private`.
    #[serde(default)]
    pub access: Option<String>,
    /// Esri access: `arcgisonly` or `both` (not the licence).
    #[serde(default, rename = "userType")]
    pub user_type: Option<String>,
    /// Last sign-in, epoch ms; `-1` = never (a number; tolerated as a
    /// numeric string).
    #[serde(default, rename = "lastLogin")]
    pub last_login: Option<Value>,
    /// Creation time, epoch ms (a number; tolerated as a numeric string).
    #[serde(default)]
    pub created: Option<Value>,
    /// Whether the account is disabled (a boolean; tolerated as a string).
    #[serde(default)]
    pub disabled: Option<Value>,
}

/// One page of `portals/self/users`.
#[derive(Debug, Deserialize)]
pub(crate) struct OrgUsersPage {
    /// Members on this page.
    #[serde(default)]
    pub users: Vec<UserJson>,
    /// Start of the next page, `-1` (or absent) at the end.
    #[serde(default, rename = "nextStart")]
    pub next_start: Option<i64>,
}

/// One page of `portals/self/roles`.
#[derive(Debug, Deserialize)]
pub(crate) struct RolesPage {
    /// Roles on this page.
    #[serde(default)]
    pub roles: Vec<RoleJson>,
    /// Start of the next page, `-1` (or absent) at the end.
    #[serde(default, rename = "nextStart")]
    pub next_start: Option<i64>,
}

/// One role of `portals/self/roles`.
#[derive(Debug, Deserialize)]
pub(crate) struct RoleJson {
    /// Role id.
    #[serde(default)]
    pub id: Option<String>,
    /// Display name.
    #[serde(default)]
    pub name: Option<String>,
    /// Privileges, when asked for with `returnPrivileges=true`.
    #[serde(default)]
    pub privileges: Option<Vec<String>>,
}

/// `community/self`: the signed-in account.
#[derive(Debug, Deserialize)]
pub(crate) struct SelfJson {
    /// Username.
    #[serde(default)]
    pub username: Option<String>,
    /// Base role level.
    #[serde(default)]
    pub role: Option<String>,
    /// Custom role id.
    #[serde(default, rename = "roleId")]
    pub role_id: Option<String>,
    /// `arcgis` or `enterprise`.
    #[serde(default)]
    pub provider: Option<String>,
    /// Set for SAML/OIDC accounts.
    #[serde(default, rename = "idpUsername")]
    pub idp_username: Option<String>,
    /// The account's privileges.
    #[serde(default)]
    pub privileges: Option<Vec<String>>,
}

/// `{"success": bool}` answers (`updateUserRole`, `community/users/<u>/update`).
#[derive(Debug, Deserialize)]
pub(crate) struct SuccessResponse {
    /// Whether the change was made.
    #[serde(default)]
    pub success: Option<bool>,
}

/// `{"success": bool}` or admin-style `{"status": "success"}` answers
/// (`community/users/<u>/disable` and `/enable`: the Python API accepts
/// both).
#[derive(Debug, Deserialize)]
pub(crate) struct SuccessOrStatus {
    /// Whether the change was made.
    #[serde(default)]
    pub success: Option<bool>,
    /// `success` when the change was made (admin style).
    #[serde(default)]
    pub status: Option<String>,
}

/// One page of `content/users/<u>` (or of one of its folders): the items
/// of the folder and, at the root, the user's folders. The fact sheet
/// names none of it; the keys are those Esri's REST JS client types
/// (`IUserContentResponse`: `total`, `start`, `num`, `nextStart`, `items`,
/// `folders`).
#[derive(Debug, Deserialize)]
pub(crate) struct UserContentPage {
    /// Items in this folder, all pages together, when reported.
    #[serde(default)]
    pub total: Option<Value>,
    /// Items on this page (only counted).
    #[serde(default)]
    pub items: Vec<Value>,
    /// The user's folders (root listing only).
    #[serde(default)]
    pub folders: Vec<FolderJson>,
    /// Start of the next page, `-1` (or absent) at the end.
    #[serde(default, rename = "nextStart")]
    pub next_start: Option<i64>,
}

/// One folder of a user's content.
#[derive(Debug, Deserialize)]
pub(crate) struct FolderJson {
    /// Folder id (the path segment of its listing).
    #[serde(default)]
    pub id: Option<String>,
}

/// `portals/self/updateUserLicenseType` answer.
#[derive(Debug, Deserialize)]
pub(crate) struct UserResults {
    /// One entry per user.
    #[serde(default)]
    pub results: Vec<UserResult>,
}

/// One `{username, status}` entry.
#[derive(Debug, Deserialize)]
pub(crate) struct UserResult {
    /// The user.
    #[serde(default)]
    pub username: Option<String>,
    /// Whether the change was made.
    #[serde(default)]
    pub status: Option<bool>,
}

/// `community/groups/<gid>/addUsers` answer.
#[derive(Debug, Deserialize)]
pub(crate) struct AddUsersResponse {
    /// Usernames that were not added, without a reason.
    #[serde(default, rename = "notAdded")]
    pub not_added: Option<Vec<String>>,
}

/// A group as listed in a user or a search result.
#[derive(Debug, Deserialize)]
pub(crate) struct GroupRef {
    /// Group id.
    #[serde(default)]
    pub id: Option<String>,
    /// Group title (search results).
    #[serde(default)]
    pub title: Option<String>,
    /// Owning organization, when the portal reports it.
    #[serde(default, rename = "orgId")]
    pub org_id: Option<String>,
    /// The group's owner (username), when reported.
    #[serde(default)]
    pub owner: Option<String>,
}

/// One page of `community/groups/<gid>/userList`: the owner on every page,
/// and admins and members in `users`.
#[derive(Debug, Deserialize)]
pub(crate) struct GroupUserListPage {
    /// The group's owner.
    #[serde(default)]
    pub owner: Option<UserName>,
    /// Admins and members on this page.
    #[serde(default)]
    pub users: Vec<UserName>,
    /// Start of the next page, `-1` (or absent) at the end.
    #[serde(default, rename = "nextStart")]
    pub next_start: Option<i64>,
}

/// An entry that names a user (`{username, memberType, joined}`); only the
/// username is read.
#[derive(Debug, Deserialize)]
pub(crate) struct UserName {
    /// Username.
    #[serde(default)]
    pub username: Option<String>,
}

/// One page of `community/groups`.
#[derive(Debug, Deserialize)]
pub(crate) struct GroupSearchPage {
    /// Hits on this page.
    #[serde(default)]
    pub results: Vec<GroupRef>,
    /// Start of the next page, `-1` (or absent) at the end.
    #[serde(default, rename = "nextStart")]
    pub next_start: Option<i64>,
}

/// `community/checkUsernames`.
#[derive(Debug, Deserialize)]
pub(crate) struct CheckUsernames {
    /// One entry per requested name; may be empty.
    pub usernames: Vec<UsernameCheck>,
}

/// One `{requested, suggested}` pair.
#[derive(Debug, Deserialize)]
pub(crate) struct UsernameCheck {
    /// The name asked about.
    #[serde(default)]
    pub requested: Option<String>,
    /// The portal's proposal: equal to `requested` when that name is free.
    #[serde(default)]
    pub suggested: Option<String>,
}

/// `portals/self/invite` answer.
#[derive(Debug, Deserialize)]
pub(crate) struct InviteResponse {
    /// Whether the request as a whole was accepted.
    #[serde(default)]
    pub success: Option<bool>,
    /// Usernames the portal refused, without a reason.
    #[serde(default, rename = "notInvited")]
    pub not_invited: Option<Vec<String>>,
}

/// One page of `portals/self/invitations` (fact sheet §2, "Pending
/// invitations": `{total, nextStart, invitations:[...]}`).
#[derive(Debug, Deserialize)]
pub(crate) struct InvitationsPage {
    /// Invitations on this page. Deliberately not defaulted: an answer
    /// without the list is not "no invitations" (that would send the
    /// workflow on to a second account), it is an answer we do not know.
    pub invitations: Vec<PendingInvitationJson>,
    /// Start of the next page, `-1` (or absent) at the end.
    #[serde(default, rename = "nextStart")]
    pub next_start: Option<i64>,
}

/// One entry of `portals/self/invitations`. The fact sheet names no field
/// of it; the keys are those of the portal's invitation object as Esri's
/// REST JS client types it (`IInvitation`: `id`, `username`, `email`,
/// `role`, `created`, `expiration`, times in epoch ms), plus the invite
/// request's own `userLicenseType` (unconfirmed). Esri's Python API reads
/// none of them (it returns the entries as they come).
#[derive(Debug, Deserialize)]
pub(crate) struct PendingInvitationJson {
    /// Invitation id (a string; tolerated as a number).
    #[serde(default)]
    pub id: Option<Value>,
    /// The reserved username; absent for `inviteByEmail` invitations.
    #[serde(default)]
    pub username: Option<String>,
    /// The invited address.
    #[serde(default)]
    pub email: Option<String>,
    /// Role id.
    #[serde(default)]
    pub role: Option<String>,
    /// User type id (unconfirmed key).
    #[serde(default, rename = "userLicenseType")]
    pub user_license_type: Option<String>,
    /// When it was sent, epoch ms.
    #[serde(default)]
    pub created: Option<Value>,
    /// When it lapses, epoch ms.
    #[serde(default)]
    pub expiration: Option<Value>,
}

/// The `invitationList` form field, serialized to a JSON string.
#[derive(Debug, Serialize)]
pub(crate) struct InvitationList<'a> {
    /// Exactly one invitation per request (fact sheet §9).
    pub invitations: Vec<InvitationJson<'a>>,
    /// Always empty: no app licences.
    pub apps: Vec<String>,
    /// Always empty: no app bundles.
    #[serde(rename = "appBundles")]
    pub app_bundles: Vec<String>,
}

/// One invitation, with the keys the Python API sends (fact sheet §2).
#[derive(Debug, Serialize)]
pub(crate) struct InvitationJson<'a> {
    /// Exact username to create.
    pub username: &'a str,
    /// Given name.
    pub firstname: &'a str,
    /// Family name.
    pub lastname: &'a str,
    /// "first last".
    pub fullname: String,
    /// E-mail address.
    pub email: &'a str,
    /// Role id.
    pub role: &'a str,
    /// User type id.
    #[serde(rename = "userLicenseType")]
    pub user_license_type: &'a str,
    /// Group ids, comma-separated (may be empty).
    pub groups: String,
    /// Credits; `-1` is "no limit".
    #[serde(rename = "userCreditAssignment")]
    pub user_credit_assignment: i64,
    /// Only for invitations that set a password.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password: Option<&'a str>,
    /// `enterprise` for an account pre-created for the organization's
    /// identity provider (fact sheet §2, conditional keys).
    #[serde(rename = "targetUserProvider", skip_serializing_if = "Option::is_none")]
    pub target_user_provider: Option<&'a str>,
    /// The identity provider's username of such an account.
    #[serde(rename = "idpUsername", skip_serializing_if = "Option::is_none")]
    pub idp_username: Option<&'a str>,
}

/// A feature layer's `query` answer (a feature set). Only the parts the
/// client reads.
#[derive(Debug, Deserialize)]
pub(crate) struct FeatureSet {
    /// The name of the layer's global id field (`GlobalID`, `globalid`…).
    #[serde(default, rename = "globalIdFieldName")]
    pub global_id_field_name: Option<String>,
    /// The records; absent only in an answer that is not a feature set.
    #[serde(default)]
    pub features: Option<Vec<FeatureJson>>,
}

/// One record of a feature set.
#[derive(Debug, Deserialize)]
pub(crate) struct FeatureJson {
    /// Field name → value.
    #[serde(default)]
    pub attributes: Option<serde_json::Map<String, Value>>,
}
