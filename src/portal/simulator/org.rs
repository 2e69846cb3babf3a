//! [`Org`]: the simulated organization's fixed settings (they never change
//! after start) and its role rules: which roles exist, their base level, and
//! which user types a role may hold.
//!
//! No state and no HTTP: the rules here are read by `state` on every change.

use super::config::{RefusalStyle, SimRole, SimulatorConfig};
use crate::domain::compat::{self, Compat};
use crate::portal::PortalFlavour;

/// The role of the organization's new-member defaults
/// (`portals/self/userDefaultSettings`; `createUser` with
/// `applyDefaults=true` and no `role`).
pub(super) const DEFAULT_ROLE: &str = "org_user";

/// The user type of the organization's new-member defaults (as
/// [`DEFAULT_ROLE`]).
pub(super) const DEFAULT_USER_TYPE: &str = "creatorUT";

/// Base role ids (a member with one of these has no `roleId`).
const BASE_ROLES: &[&str] = &["org_admin", "org_publisher", "org_user"];

/// What every role may do: view and join (\[I\]: real privilege names,
/// a small sample of them).
const VIEW_PRIVILEGES: &[&str] = &[
    "portal:user:joinGroup",
    "portal:user:viewOrgGroups",
    "portal:user:viewOrgItems",
    "portal:user:viewOrgUsers",
];

/// What a role that creates, shares or edits adds (fact sheet §7: such a
/// role does not fit the Viewer user type).
const EDIT_PRIVILEGES: &[&str] = &["features:user:edit"];

/// What the User role adds.
const USER_PRIVILEGES: &[&str] = &[
    "features:user:edit",
    "portal:user:createGroup",
    "portal:user:createItem",
    "portal:user:shareToGroup",
    "portal:user:shareToOrg",
];

/// What the Publisher role adds.
const PUBLISHER_PRIVILEGES: &[&str] = &["portal:publisher:publishFeatures"];

/// Fixed organization settings (never change after start).
pub(super) struct Org {
    pub id: String,
    pub name: String,
    pub url_key: String,
    pub admin_username: String,
    pub token_max_lifetime_ms: i64,
    /// Pre-built Viewer and Data Editor plus the configured custom roles.
    pub roles: Vec<SimRole>,
    pub refusal_style: RefusalStyle,
    /// Whether an invite without a password leaves only a pending
    /// invitation (see [`SimulatorConfig::email_invitations_pending`]).
    pub email_invitations_pending: bool,
    /// How long a pending invitation lasts, in milliseconds.
    pub invitation_lifetime_ms: i64,
    /// ArcGIS Online or an ArcGIS Enterprise portal (see
    /// [`SimulatorConfig::flavour`]).
    pub flavour: PortalFlavour,
}

impl Org {
    pub fn from_config(cfg: &SimulatorConfig) -> Self {
        let prebuilt = [
            ("iAAAAAAAAAAAAAAA", "Viewer", "View data only.", true),
            (
                "iBBBBBBBBBBBBBBB",
                "Data Editor",
                "View and edit data.",
                false,
            ),
        ]
        .map(|(id, name, description, viewer_compatible)| SimRole {
            id: id.to_string(),
            name: name.to_string(),
            description: description.to_string(),
            base_role: "org_user".to_string(),
            viewer_compatible,
        });
        let mut roles: Vec<SimRole> = prebuilt.into_iter().collect();
        roles.extend(
            cfg.custom_roles
                .iter()
                .filter(|r| !roles.iter().any(|p| p.id == r.id))
                .cloned()
                .collect::<Vec<_>>(),
        );
        Org {
            id: cfg.org_id.clone(),
            name: cfg.org_name.clone(),
            url_key: cfg.url_key.clone(),
            admin_username: cfg.admin.username.clone(),
            token_max_lifetime_ms: i64::try_from(cfg.token_max_lifetime.as_millis())
                .unwrap_or(i64::MAX),
            roles,
            refusal_style: cfg.refusal_style,
            email_invitations_pending: cfg.email_invitations_pending,
            invitation_lifetime_ms: i64::try_from(cfg.invitation_lifetime.as_millis())
                .unwrap_or(i64::MAX),
            flavour: cfg.flavour,
        }
    }

    /// The base level of a role id (`org_user` for Viewer), or `None` when
    /// the organization has no such role.
    pub fn base_role<'a>(&'a self, role_id: &'a str) -> Option<&'a str> {
        if BASE_ROLES.contains(&role_id) {
            return Some(role_id);
        }
        self.roles
            .iter()
            .find(|r| r.id == role_id)
            .map(|r| r.base_role.as_str())
    }

    /// The privileges of a role (`privileges` of `portals/self/roles` and
    /// `community/self`): built from samples, so a custom role that does
    /// not fit the Viewer user type edits (`features:user:edit`) and one
    /// that does only views. Unknown roles have none.
    pub fn privileges(&self, role_id: &str) -> Vec<&'static str> {
        let mut out: Vec<&'static str> = VIEW_PRIVILEGES.to_vec();
        let extra: &[&[&str]] = match role_id {
            "org_admin" => &[
                USER_PRIVILEGES,
                PUBLISHER_PRIVILEGES,
                compat::BROKER_ADMIN_PRIVILEGES,
            ],
            "org_publisher" => &[USER_PRIVILEGES, PUBLISHER_PRIVILEGES],
            "org_user" => &[USER_PRIVILEGES],
            _ => match self.roles.iter().find(|r| r.id == role_id) {
                // A custom administrator role administers as the built-in
                // one does.
                Some(r) if r.base_role == "org_admin" => &[
                    USER_PRIVILEGES,
                    EDIT_PRIVILEGES,
                    compat::BROKER_ADMIN_PRIVILEGES,
                ],
                Some(r) if r.viewer_compatible => &[],
                Some(_) => &[EDIT_PRIVILEGES],
                None => return Vec::new(),
            },
        };
        for p in extra.iter().flat_map(|e| e.iter()) {
            if !out.contains(p) {
                out.push(p);
            }
        }
        out
    }

    /// Whether a member with role `role_id` may hold `user_type`: the §7
    /// table, and for custom roles their `viewer_compatible` flag.
    pub fn compatible(&self, role_id: &str, user_type: &str) -> Compat {
        match compat::compatible(role_id, user_type) {
            Compat::Unknown => match self.roles.iter().find(|r| r.id == role_id) {
                Some(r) if !r.viewer_compatible && user_type == "viewerUT" => Compat::No,
                _ => Compat::Unknown,
            },
            known => known,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn custom_roles_refuse_the_viewer_type_only_when_not_viewer_compatible() {
        let org = Org::from_config(&SimulatorConfig {
            custom_roles: vec![
                SimRole::new("rEaDeRrOlE000001", "Reader", true),
                SimRole::new("eDiToRrOlE000001", "Editor", false),
            ],
            ..SimulatorConfig::default()
        });
        assert_eq!(
            org.compatible("rEaDeRrOlE000001", "viewerUT"),
            Compat::Unknown
        );
        assert_eq!(org.compatible("eDiToRrOlE000001", "viewerUT"), Compat::No);
        assert_eq!(
            org.compatible("eDiToRrOlE000001", "editorUT"),
            Compat::Unknown
        );
        assert_eq!(org.compatible("iBBBBBBBBBBBBBBB", "viewerUT"), Compat::No);
        assert_eq!(org.compatible("org_user", "creatorUT"), Compat::Yes);
    }
}
