//! The ArcGIS portal: where members are created.
//!
//! [`Portal`] is the port the provisioning workflow calls. Adapters:
//! [`arcgis::ArcGisPortal`] talks to ArcGIS Online over the sharing REST API
//! (`reqwest`); [`simulator`] is a stateful fake *portal server* (it speaks the
//! same REST API over real HTTP), so tests and the local demo exercise the real
//! client end to end. `compat` holds the role × user type rules both the rules
//! file check and the simulator enforce (fact sheet §7).

pub mod arcgis;
pub mod compat;
pub mod fake;
pub mod simulator;
mod wire;

use std::future::Future;

use serde::{Deserialize, Serialize};

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

/// A member as the portal reports it (`community/users/{username}`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
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
}
