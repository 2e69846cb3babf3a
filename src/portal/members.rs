//! [`Members`]: the port the provisioning workflow calls to create one
//! member, with its vocabulary ([`NewMember`], [`Invitation`], [`Member`],
//! [`PendingInvitation`]).
//!
//! Only the contract lives here: no HTTP, no JSON shapes (those are the
//! adapters'), and nothing about seats or pools.

use std::future::Future;

use serde::{Deserialize, Serialize};

use super::error::PortalError;
use crate::domain::UnixMillis;

/// A member to create: through `portals/self/invite` on ArcGIS Online,
/// `portaladmin/security/users/createUser` on ArcGIS Enterprise.
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
    /// AGOL e-mails a link; the person sets a password. Until they accept,
    /// the portal may hold only a pending invitation, which
    /// [`Members::member`] does not find and [`Members::invitation`] does
    /// (fact sheet §2, open question).
    Email,
    /// The account is created active with this password (never logged).
    Password(String),
    /// The account is pre-created for the organization's SAML or OpenID
    /// Connect identity provider (`provider=enterprise`): the person signs
    /// in there, under `idp_username` (the identity provider's name for
    /// them, usually the e-mail address), and has no portal password.
    Sso {
        /// The identity provider's username (`idpUsername`).
        idp_username: String,
    },
}

impl std::fmt::Debug for Invitation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Invitation::Email => f.write_str("Email"),
            Invitation::Password(_) => f.write_str("Password(<redacted>)"),
            Invitation::Sso { idp_username } => f
                .debug_struct("Sso")
                .field("idp_username", idp_username)
                .finish(),
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
    /// Last sign-in (the user JSON's `lastLogin`), epoch ms: `Some(-1)` =
    /// never signed in (fact sheet §6), `None` = the portal did not say.
    #[serde(default)]
    pub last_login: Option<UnixMillis>,
    /// When the account was created (`created`), epoch ms; `None` = not
    /// reported.
    #[serde(default)]
    pub created: Option<UnixMillis>,
    /// Whether the account is disabled (`disabled`): it cannot sign in but
    /// still holds its seat. `None` = not reported.
    #[serde(default)]
    pub disabled: Option<bool>,
}

/// An invitation to join the organization that nobody has accepted yet, as
/// `portals/self/invitations` lists it (fact sheet §2, "Pending
/// invitations").
///
/// It holds a seat of its user type and its username until it is accepted
/// (then it is a [`Member`]) or expires (14 days after it was sent);
/// `community/users/<username>` does not show it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingInvitation {
    /// The invitation's id (`id`), which names it in
    /// `portals/self/invitations/<id>/delete`; `None` when not reported.
    pub id: Option<String>,
    /// The username the invitation reserves, as the portal spells it.
    pub username: String,
    /// The invited e-mail address, when reported.
    pub email: Option<String>,
    /// Role id the member will have, when reported.
    pub role: Option<String>,
    /// User type id the member will have, when reported.
    pub user_type: Option<String>,
    /// When the invitation was sent (epoch ms), when reported.
    pub created: Option<UnixMillis>,
    /// When the invitation lapses (epoch ms), when reported.
    pub expires: Option<UnixMillis>,
}

impl PendingInvitation {
    /// Whether the invitation has lapsed at `now`: its expiry is known and
    /// not after `now`. An unknown expiry is never lapsed.
    pub fn expired_at(&self, now: UnixMillis) -> bool {
        self.expires.is_some_and(|e| e <= now)
    }
}

/// Members of the organization, one at a time: what the provisioning
/// workflow needs to create a member (and the import, to read one back).
pub trait Members: Send + Sync {
    /// The longest username this portal accepts: 128 characters on ArcGIS
    /// Online (fact sheet §8), 24 on an ArcGIS Enterprise portal (its
    /// `createUser` documentation; the stricter side of the fact sheet's
    /// §3). Username candidates are cut to it.
    fn max_username_len(&self) -> usize {
        crate::domain::Username::MAX_LEN
    }

    /// Puts a member that an earlier attempt created, and this one adopts
    /// (its reply was lost), into the groups titled `group_names`, where
    /// creation does that in
    /// a second step (ArcGIS Enterprise: `createUser` takes no groups, so a
    /// lost reply may have come before them). Nothing to do on ArcGIS
    /// Online, whose invitation carries the groups: the default. Never
    /// fails: the member exists and keeps its seat; trouble is logged.
    fn add_adopted_to_groups(
        &self,
        username: &str,
        group_names: &[String],
    ) -> impl Future<Output = ()> + Send {
        let _ = (username, group_names);
        async {}
    }

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

    /// Asks the portal to e-mail the member a link to choose a new password
    /// (`POST community/users/<u>/reset` with `email=true`, as the Python
    /// API's `User.reset(reset_by_email=True)` does; not in the fact sheet,
    /// so \[I\]). How a member created with a generated password
    /// ([`Invitation::Password`]) gets in: the password itself is never
    /// stored, shown or sent. Built-in accounts only.
    fn send_password_reset(
        &self,
        username: &str,
    ) -> impl Future<Output = Result<(), PortalError>> + Send;

    /// The pending invitation that reserves `username` (compared without
    /// regard to ASCII case); `Ok(None)` when there is none. The workflow
    /// asks after [`Members::member`] found nobody: an e-mail invitation
    /// whose reply was lost may have left only this behind, and the person
    /// must not get a second account under the next candidate name.
    ///
    /// Reads `GET portals/self/invitations` (administrator token) in pages
    /// of 100 from the first, and stops at the page holding the username.
    /// The API offers no filter by username, so the cost is one request per
    /// page read: up to ⌈n/100⌉ for n pending invitations, at least one, and
    /// all of them when there is no such invitation. A page that fails fails
    /// the whole look-up (never `Ok(None)`).
    ///
    /// Best effort against a listing that changes while it is read (an
    /// invitation accepted or lapsed between two pages shifts the rest):
    /// look the member up again after this returns `None`. Invitations sent
    /// with `inviteByEmail` (the person picks the name) carry no username
    /// and never match.
    fn invitation(
        &self,
        username: &str,
    ) -> impl Future<Output = Result<Option<PendingInvitation>, PortalError>> + Send;

    /// Every pending invitation that names a username
    /// (`GET portals/self/invitations`, all pages of 100: ⌈n/100⌉ requests,
    /// at least one), each once, in the portal's order; for reconciling
    /// seats held by invitations nobody accepted. Invitations without a
    /// username (`inviteByEmail`) are left out.
    fn invitations(
        &self,
    ) -> impl Future<Output = Result<Vec<PendingInvitation>, PortalError>> + Send;
}
