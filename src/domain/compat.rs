//! Role and user type identifiers and their compatibility (fact sheet §7).
//!
//! Used twice: by the rules-file check (refuse to start with a pool whose role
//! cannot hold its user type) and by the portal simulator (refuse such an
//! invitation like the real portal does). Keeping one table means the two can
//! never disagree.

/// Built-in and pre-built role ids, with the friendly names the rules file
/// and CSV files may use.
pub const KNOWN_ROLES: &[(&str, &str)] = &[
    ("org_admin", "Administrator"),
    ("org_publisher", "Publisher"),
    ("org_user", "User"),
    ("iAAAAAAAAAAAAAAA", "Viewer"),
    ("iBBBBBBBBBBBBBBB", "Data Editor"),
];

/// User type ids in current use, with their display names (renamed types keep
/// their old ids). Ids are case-sensitive.
pub const CURRENT_USER_TYPES: &[(&str, &str)] = &[
    ("creatorUT", "Creator"),
    ("viewerUT", "Viewer"),
    ("editorUT", "Contributor"),
    ("fieldWorkerUT", "Mobile Worker"),
    ("GISProfessionalBasicUT", "GIS Professional Basic"),
    ("GISProfessionalStdUT", "Professional"),
    ("GISProfessionalAdvUT", "Professional Plus"),
];

/// Legacy or add-on user type ids still found in organizations. Their role
/// compatibility is not documented, so only `Viewer` and `Data Editor` roles
/// are checked against them.
pub const LEGACY_USER_TYPES: &[&str] = &[
    "advancedUT",
    "basicUT",
    "standardUT",
    "liteUT",
    "storytellerUT",
    "insightsAnalystUT",
    "IndoorsUserUT",
];

/// User types that can hold roles with create/share privileges (User,
/// Publisher, Facilitator, Administrator).
const CREATOR_LEVEL: &[&str] = &[
    "creatorUT",
    "GISProfessionalBasicUT",
    "GISProfessionalStdUT",
    "GISProfessionalAdvUT",
];

/// Whether `id` is a user type id this crate knows (current or legacy).
pub fn is_known_user_type(id: &str) -> bool {
    CURRENT_USER_TYPES.iter().any(|(i, _)| *i == id) || LEGACY_USER_TYPES.contains(&id)
}

/// Resolves a role given by id or by (case-insensitive) name to its id:
/// `"viewer"` → `iAAAAAAAAAAAAAAA`, `"Publisher"` → `org_publisher`. Also
/// accepts `data_editor`/`data editor`. Returns `None` for anything else
/// (which may still be a custom role id; see [`looks_like_custom_role_id`]).
pub fn role_id_for(name_or_id: &str) -> Option<&'static str> {
    let wanted = name_or_id.trim();
    let norm = wanted.to_ascii_lowercase().replace(['_', '-'], " ");
    KNOWN_ROLES
        .iter()
        .find(|(id, name)| *id == wanted || name.to_ascii_lowercase() == norm)
        .map(|(id, _)| *id)
}

/// A custom role id is 16 letters/digits (the pre-built ones are `iAAA…`).
pub fn looks_like_custom_role_id(s: &str) -> bool {
    s.len() == 16 && s.chars().all(|c| c.is_ascii_alphanumeric())
}

/// The answer of the compatibility check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compat {
    /// Documented as compatible.
    Yes,
    /// Documented as incompatible.
    No,
    /// Not documented (custom role, legacy type): the portal decides.
    Unknown,
}

/// Whether a member with role `role_id` may hold user type `user_type`.
pub fn compatible(role_id: &str, user_type: &str) -> Compat {
    match role_id {
        // Viewer role: any user type.
        "iAAAAAAAAAAAAAAA" => Compat::Yes,
        // Data Editor: anything but the Viewer user type.
        "iBBBBBBBBBBBBBBB" => {
            if user_type == "viewerUT" {
                Compat::No
            } else {
                Compat::Yes
            }
        }
        "org_user" | "org_publisher" | "org_admin" => {
            if CREATOR_LEVEL.contains(&user_type) {
                Compat::Yes
            } else if LEGACY_USER_TYPES.contains(&user_type) {
                Compat::Unknown
            } else {
                Compat::No
            }
        }
        _ => Compat::Unknown,
    }
}

/// The administrative privileges the broker's own account needs: it lists
/// and looks up members and groups, invites, changes profiles, roles and
/// user types, adds to groups, disables and deletes. \[I\]: the fact sheet
/// only says "a role with admin privileges" (§4); these are the names
/// ArcGIS Online gives them. The built-in Administrator role has them all.
pub const BROKER_ADMIN_PRIVILEGES: &[&str] = &[
    "portal:admin:assignToGroups",
    "portal:admin:changeUserRoles",
    "portal:admin:deleteUsers",
    "portal:admin:disableUsers",
    "portal:admin:inviteUsers",
    "portal:admin:manageLicenses",
    "portal:admin:updateUsers",
    "portal:admin:viewGroups",
    "portal:admin:viewUsers",
];

/// Whether a privilege lets its holder create, share or edit (what the
/// Viewer user type may not have, fact sheet §7): a last part naming
/// create, share, edit or publish, or any publisher or administrator
/// privilege. Case-insensitive.
pub fn creates_shares_or_edits(privilege: &str) -> bool {
    let p = privilege.to_ascii_lowercase();
    let mut parts = p.split(':');
    let _area = parts.next();
    let level = parts.next().unwrap_or("");
    let what = parts.next().unwrap_or("");
    matches!(level, "publisher" | "admin")
        || ["create", "share", "edit", "publish"]
            .iter()
            .any(|w| what.contains(w))
}

/// Whether a custom role with these privileges may hold `user_type`, by
/// the only documented rule (fact sheet §7): the Viewer user type cannot
/// take a role that creates, shares or edits. Creator-level types take
/// any role; other types are not documented (`Unknown`).
pub fn privileges_fit(privileges: &[String], user_type: &str) -> Compat {
    if user_type == "viewerUT" {
        if privileges.iter().any(|p| creates_shares_or_edits(p)) {
            Compat::No
        } else {
            Compat::Yes
        }
    } else if CREATOR_LEVEL.contains(&user_type) {
        Compat::Yes
    } else {
        Compat::Unknown
    }
}

/// The rank of a role for ordering changes (higher = more privileges).
/// Unknown custom roles rank between Data Editor and User.
pub fn role_rank(role_id: &str) -> u8 {
    match role_id {
        "iAAAAAAAAAAAAAAA" => 0,
        "iBBBBBBBBBBBBBBB" => 1,
        "org_user" => 3,
        "org_publisher" => 4,
        "org_admin" => 5,
        _ => 2,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn viewer_role_fits_every_type_and_user_role_needs_creator_level() {
        assert_eq!(compatible("iAAAAAAAAAAAAAAA", "creatorUT"), Compat::Yes);
        assert_eq!(compatible("iBBBBBBBBBBBBBBB", "viewerUT"), Compat::No);
        assert_eq!(compatible("iBBBBBBBBBBBBBBB", "editorUT"), Compat::Yes);
        assert_eq!(compatible("org_user", "viewerUT"), Compat::No);
        assert_eq!(
            compatible("org_publisher", "GISProfessionalAdvUT"),
            Compat::Yes
        );
        assert_eq!(compatible("org_user", "basicUT"), Compat::Unknown);
        assert_eq!(compatible("abcdefgh12345678", "viewerUT"), Compat::Unknown);
    }

    #[test]
    fn a_custom_role_that_edits_does_not_fit_the_viewer_type() {
        let edits = vec![
            "portal:user:joinGroup".to_string(),
            "features:user:edit".into(),
        ];
        let views = vec!["portal:user:viewOrgItems".to_string()];
        assert_eq!(privileges_fit(&edits, "viewerUT"), Compat::No);
        assert_eq!(privileges_fit(&views, "viewerUT"), Compat::Yes);
        assert_eq!(privileges_fit(&edits, "creatorUT"), Compat::Yes);
        assert_eq!(privileges_fit(&edits, "editorUT"), Compat::Unknown);
        assert!(creates_shares_or_edits("portal:user:shareToGroup"));
        assert!(creates_shares_or_edits("portal:admin:viewUsers"));
        assert!(!creates_shares_or_edits("portal:user:viewOrgItems"));
        assert!(!creates_shares_or_edits(""));
    }

    #[test]
    fn roles_resolve_by_name_or_id() {
        assert_eq!(role_id_for("viewer"), Some("iAAAAAAAAAAAAAAA"));
        assert_eq!(role_id_for("Data Editor"), Some("iBBBBBBBBBBBBBBB"));
        assert_eq!(role_id_for("data_editor"), Some("iBBBBBBBBBBBBBBB"));
        assert_eq!(role_id_for("org_publisher"), Some("org_publisher"));
        assert_eq!(role_id_for("Facilitator"), None);
        assert!(!is_known_user_type("CreatorUT"), "ids are case-sensitive");
    }
}
