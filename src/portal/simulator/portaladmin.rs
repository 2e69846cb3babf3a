//! The wire contract of the simulated ArcGIS Enterprise admin API
//! (`/portaladmin`, fact sheet §1, §3, §5): the wording of every refusal,
//! as consts that tests and the client's documentation refer to.
//!
//! Every refusal is answered as HTTP 200
//! `{"status":"error","messages":[<one of these>, <details>…],"code":<int>}`:
//! `messages[0]` is always one of the consts below (with `{username}` or
//! `{resource}` filled in where the const has it), further entries say
//! which field or rule. Marks as in the fact sheet: \[D\] the wording is
//! Esri's, \[I\] it is the simulator's own (no documented text was found).
//!
//! Plain data: no rules (those are `state`'s), no HTTP (that is `http`'s).

/// No token in the POST body (or, for a GET, the query string): code 499.
/// The `X-Esri-Authorization` header does not count under `/portaladmin`
/// (fact sheet §3: "Admin API POSTs must carry the token in the body").
/// Code \[V\], wording \[I\].
pub const TOKEN_REQUIRED: &str = "Token Required.";

/// A token unknown, expired, or of an account removed or disabled: code
/// 498. Code \[V\], wording \[I\].
pub const INVALID_TOKEN: &str = "Invalid token.";

/// A valid token of an account that does not administer the organization:
/// code 403. \[D\]
pub const FORBIDDEN: &str =
    "You do not have permissions to access this resource or perform this operation.";

/// An operation that changes something (`createUser`) sent as a GET: code
/// 405. \[I\]
pub const POST_REQUIRED: &str = "This operation is only supported via POST.";

/// A path under `/portaladmin` the simulator does not serve: code 404;
/// `{resource}` is the path below `/portaladmin/`. \[I\] (ArcGIS Server's
/// admin API words it so.)
pub const RESOURCE_NOT_FOUND: &str =
    "Could not find resource or operation '{resource}' on the system.";

/// A required `createUser` field missing or blank: code 400; the next
/// message is `'<field>' must be specified.` \[I\]
pub const PARAMETER_REQUIRED: &str = "A required parameter is missing.";

/// A field with a value outside those allowed (`provider` other than
/// `arcgis` or `enterprise`, `applyDefaults` other than `true` or
/// `false`): code 400; the next message names the field and its values.
/// \[I\]
pub const PARAMETER_INVALID: &str = "Invalid parameter value.";

/// A username breaking ArcGIS Enterprise's rule: 6 to 24 characters
/// (Enterprise documentation; stricter than ArcGIS Online's 128), only
/// letters, digits, `.`, `_`, `@` and `-`, no symbol first or last: code
/// 400; the next message says which part. \[I\]
pub const USERNAME_INVALID: &str = "Invalid username.";

/// A username already taken (by a member, a pending or lapsed invitation,
/// a deleted member, or an account elsewhere; any case): code 409;
/// `{username}` is the name as requested. \[I\] (the ArcGIS API for
/// Python's own pre-check says "User `<u>` already exists").
pub const USER_EXISTS: &str = "User '{username}' already exists.";

/// `provider=arcgis` with a password that breaks the password policy (the
/// one invitations meet: 8 or more characters, a letter and a digit, not
/// the username): code 400. \[I\]
pub const PASSWORD_POLICY: &str = "The password does not meet the password policy.";

/// An `email` that is not an address: code 400. \[I\]
pub const EMAIL_INVALID: &str = "Invalid email address.";

/// A `userLicenseTypeId` the portal does not know (ids are
/// case-sensitive): code 400. \[D\]
pub const USER_TYPE_UNRECOGNIZED: &str = "Unrecognized user license type id";

/// A `role` the organization does not have, or one the user type cannot
/// hold (the role × user type rules of invitations and `updateUserRole`):
/// code 400. \[D\]
pub const ROLE_OR_TYPE_INVALID: &str =
    "Invalid values for role and/or user license type parameters.";

/// No seat left of the user type (members and pending invitations of the
/// type against those licensed): code 400. \[D\]
pub const USER_TYPES_EXCEEDED: &str =
    "The number of user types assigned exceeds the number of user types available.";

/// The version the root document (`GET /portaladmin/`) reports.
pub const CURRENT_VERSION: &str = "11.3";

/// When every user type's licence expires in `GET /portaladmin/license`
/// (epoch ms: 2100-01-01T00:00:00Z; the simulator's licences never run
/// out).
pub const LICENSE_EXPIRATION_MS: i64 = 4_102_444_800_000;
