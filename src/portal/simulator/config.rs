//! What the simulated organization starts with: [`SimulatorConfig`] and
//! its parts ([`SimAccount`], [`SimRole`], [`RefusalStyle`]), with the
//! defaults tests and the demo rely on.
//!
//! Plain data (serde for the CLI's JSON file): no rules, no state. Passwords
//! given here are never logged (`SimAccount`'s `Debug` hides them).

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::duration_ms;
use crate::portal::PortalFlavour;

/// A built-in account of the simulated portal (the administrator, or the one
/// non-administrator account used to test 403 answers).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SimAccount {
    /// Username (sign-in is case-sensitive).
    pub username: String,
    /// Password, checked by `generateToken`.
    pub password: String,
}

impl std::fmt::Debug for SimAccount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimAccount")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .finish()
    }
}

/// A custom role of the organization, listed by `portals/self/roles`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SimRole {
    /// 16-character role id.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Description.
    pub description: String,
    /// The base level the user JSON shows as `role` (`org_user`,
    /// `org_publisher` or `org_admin`); the id itself is shown as `roleId`.
    pub base_role: String,
    /// Whether members with the Viewer user type may hold it. The portal
    /// decides by the role's privileges (fact sheet §7: Viewer user types
    /// cannot take a role with create, share or edit privileges); here it is
    /// this flag: `false` refuses `viewerUT`, every other combination is
    /// accepted. Absent in JSON = `true`.
    #[serde(default = "yes")]
    pub viewer_compatible: bool,
}

fn yes() -> bool {
    true
}

impl SimRole {
    /// A custom role based on `org_user`, described by its name.
    pub fn new(id: &str, name: &str, viewer_compatible: bool) -> Self {
        SimRole {
            id: id.to_string(),
            name: name.to_string(),
            description: name.to_string(),
            base_role: "org_user".to_string(),
            viewer_compatible,
        }
    }
}

/// How `updateUserLicenseType` and `updateUserRole` report a refused change.
/// The real portal's behaviour is unknown (fact sheet §10.5).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RefusalStyle {
    /// `{"results":[{"username":"u","status":false}]}` /
    /// `{"success":false}`; accepted changes in the same request still apply.
    #[default]
    StatusFalse,
    /// An HTTP 200 error object (code 400) and no change at all.
    ErrorObject,
}

/// Everything the simulated organization starts with.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct SimulatorConfig {
    /// Organization id (`portals/self.id`, `orgId` of members); `portals/<id>`
    /// is accepted as an alias of `portals/self`.
    pub org_id: String,
    /// Organization name.
    pub org_name: String,
    /// `urlKey` (the `<key>.maps.arcgis.com` part).
    pub url_key: String,
    /// The administrator account. Its tokens may do everything.
    pub admin: SimAccount,
    /// When set, the administrator is also an org member (role `org_admin`)
    /// holding a seat of this user type, as in a real organization: it is
    /// listed, counted in `assigned`, and visible in `community/users`.
    /// `None`: the account only signs in (its name still counts as taken).
    pub admin_user_type: Option<String>,
    /// An optional non-administrator account (a member with role `org_user`
    /// and user type `creatorUT`, holding a seat); its tokens get 403
    /// `GWM_0003` on administrative operations.
    pub non_admin: Option<SimAccount>,
    /// Longest token lifetime, whatever `generateToken` asks for (the org's
    /// `maxTokenExpirationMinutes`). Serialized as milliseconds.
    #[serde(with = "duration_ms")]
    pub token_max_lifetime: Duration,
    /// Seats purchased per user type id (`subscriptionInfo.userLicenseTypes`).
    pub purchased: BTreeMap<String, u64>,
    /// Group titles; each id is derived from org id and title (32 hex
    /// characters, stable across restarts). Owned by the administrator.
    pub groups: Vec<String>,
    /// Custom roles, listed with the pre-built Viewer and Data Editor roles.
    /// Compatibility of a custom role with a user type follows its
    /// [`SimRole::viewer_compatible`] flag only.
    pub custom_roles: Vec<SimRole>,
    /// Usernames that belong to accounts of other organizations: taken for
    /// `invite` and `checkUsernames`, invisible to `community/users`.
    pub taken_elsewhere: Vec<String>,
    /// How refused type or role changes are reported.
    pub refusal_style: RefusalStyle,
    /// What an invite without `password` leaves behind, the fact sheet's
    /// open question (§2). `false` (the default): a member at once, visible
    /// in `community/users` with status pending. `true`: only a pending
    /// invitation, listed by `portals/self/invitations` but unknown to
    /// `community/users` and the org listing, that holds its seat and its
    /// username until it is accepted or lapses.
    pub email_invitations_pending: bool,
    /// How long a pending invitation lasts before it lapses (ArcGIS Online:
    /// 14 days, fact sheet §2). Serialized as milliseconds.
    #[serde(with = "duration_ms")]
    pub invitation_lifetime: Duration,
    /// Which kind of portal it plays. [`PortalFlavour::Online`] (the
    /// default): ArcGIS Online, with no `/portaladmin` (HTTP 404 there).
    /// [`PortalFlavour::Enterprise`]: an ArcGIS Enterprise portal:
    /// `portals/self` says `isPortal: true` and `portalMode: singletenant`
    /// and carries no licence counts, which the admin API under
    /// `/portaladmin` reports instead (`license`), where members are
    /// created (`security/users/createUser`). The sharing API is the same
    /// in both.
    pub flavour: PortalFlavour,
}

/// How long an e-mail invitation lasts in ArcGIS Online (fact sheet §2).
pub const INVITATION_LIFETIME: Duration = Duration::from_secs(14 * 24 * 60 * 60);

impl Default for SimulatorConfig {
    fn default() -> Self {
        let purchased = [
            ("creatorUT", 100),
            ("viewerUT", 1000),
            ("editorUT", 200),
            ("fieldWorkerUT", 100),
            ("GISProfessionalBasicUT", 5),
            ("GISProfessionalStdUT", 5),
            ("GISProfessionalAdvUT", 5),
        ]
        .into_iter()
        .map(|(t, n)| (t.to_string(), n))
        .collect();
        SimulatorConfig {
            org_id: "SiMuLaTeDoRg0001".to_string(),
            org_name: "Simulated Organization".to_string(),
            url_key: "simorg".to_string(),
            admin: SimAccount {
                username: "sim_admin".to_string(),
                password: "sim-admin-pass1".to_string(),
            },
            admin_user_type: Some("creatorUT".to_string()),
            non_admin: None,
            token_max_lifetime: Duration::from_secs(60 * 60),
            purchased,
            groups: vec![
                "Field Crews".to_string(),
                "Water Partners".to_string(),
                "Training".to_string(),
            ],
            custom_roles: vec![SimRole {
                id: "fIeLdTeChRoLe001".to_string(),
                name: "Field Technician".to_string(),
                description: "Collects data in the field".to_string(),
                base_role: "org_user".to_string(),
                // Edits data, so not for Viewer user types.
                viewer_compatible: false,
            }],
            taken_elsewhere: vec!["jsmith_gis".to_string(), "taken_elsewhere".to_string()],
            refusal_style: RefusalStyle::StatusFalse,
            email_invitations_pending: false,
            invitation_lifetime: INVITATION_LIFETIME,
            flavour: PortalFlavour::Online,
        }
    }
}
