//! Which sharing API operation a path names ([`Endpoint`]): operation
//! names compared without regard to case, usernames and group ids in the
//! path kept exactly (percent-decoded).
//!
//! Pure: no state, no parameters, no tokens.

/// The sharing API operations the simulator knows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Endpoint {
    /// `sharing/rest` itself: the version (no token needed).
    Root,
    /// `sharing/rest/info`: where tokens come from (no token needed).
    Info,
    /// `portals/languages` (no token needed).
    Languages,
    /// `portals/regions` (no token needed).
    Regions,
    GenerateToken,
    /// `portals/self/users/search`: the organization's members by query.
    UserSearch,
    /// `community/users`: users by query (the organization's, here).
    CommunityUserSearch,
    /// `community/users/<u>/userLicenseType` (the username).
    CommunityUserLicenseType(String),
    /// `portals/self/userDefaultSettings`.
    UserDefaultSettings,
    /// `portals/self/purchases`: the organization's listings (none here).
    Purchases,
    /// `portals/self/appBundles`: add-on licence bundles (none here).
    AppBundles,
    /// `community/groups/<gid>` (the group id).
    Group(String),
    /// `community/groups/<gid>/users` (the group id).
    GroupUsers(String),
    PortalSelf,
    UserLicenseTypes,
    UserCounts,
    Roles,
    OrgUsers,
    /// `portals/self/invitations`: the pending invitations, paged.
    Invitations,
    Invite,
    UpdateLicenseType,
    UpdateRole,
    RemoveUsers,
    /// `community/self`: the caller's own account, with its privileges.
    CommunitySelf,
    CommunityUser(String),
    UpdateUser(String),
    /// `community/users/<u>/reset` (the username).
    ResetUser(String),
    /// `community/users/<u>/disable` (the username).
    DisableUser(String),
    /// `community/users/<u>/enable` (the username).
    EnableUser(String),
    /// `community/users/<u>/delete` (the username).
    DeleteUser(String),
    /// `content/users/<u>`: the member's items (the username).
    UserContent(String),
    /// `portals/self/createNotification`.
    CreateNotification,
    CheckUsernames,
    GroupSearch,
    AddUsers(String),
    /// `community/groups/<gid>/userList` (the group id).
    GroupUserList(String),
    /// A hosted layer's `query` (the layer's key).
    FeatureQuery(String),
    Unknown,
}

/// Decodes `%XX` escapes of one path segment.
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let Some(b) = std::str::from_utf8(&bytes[i + 1..i + 3])
                .ok()
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(b);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Maps a path below `/sharing/rest/` to an operation. Operation names are
/// case-insensitive (PY sends `updateuserrole`); usernames and group ids in
/// the path are not. `portals/<orgId>` is an alias of `portals/self`.
pub(super) fn route(path: &str, org_id: &str) -> Endpoint {
    let segs: Vec<String> = path
        .split('/')
        .filter(|s| !s.is_empty())
        .map(percent_decode)
        .collect();
    let lc: Vec<String> = segs.iter().map(|s| s.to_ascii_lowercase()).collect();
    let lc: Vec<&str> = lc.iter().map(String::as_str).collect();
    let is_self = |s: &str| s == "self" || s.eq_ignore_ascii_case(org_id);
    match lc.as_slice() {
        [] => Endpoint::Root,
        ["info"] => Endpoint::Info,
        ["portals", "languages"] => Endpoint::Languages,
        ["portals", "regions"] => Endpoint::Regions,
        ["generatetoken"] => Endpoint::GenerateToken,
        ["portals", p, "users", "search"] if is_self(p) => Endpoint::UserSearch,
        ["portals", p, "userdefaultsettings"] if is_self(p) => Endpoint::UserDefaultSettings,
        ["portals", p, "purchases"] if is_self(p) => Endpoint::Purchases,
        ["portals", p, "appbundles"] if is_self(p) => Endpoint::AppBundles,
        ["community", "users"] => Endpoint::CommunityUserSearch,
        ["community", "users", _, "userlicensetype"] => {
            Endpoint::CommunityUserLicenseType(segs[2].clone())
        }
        ["community", "groups", _] => Endpoint::Group(segs[2].clone()),
        ["community", "groups", _, "users"] => Endpoint::GroupUsers(segs[2].clone()),
        ["portals", p] if is_self(p) => Endpoint::PortalSelf,
        ["portals", p, "userlicensetypes"] if is_self(p) => Endpoint::UserLicenseTypes,
        ["portals", p, "users", "counts"] if is_self(p) => Endpoint::UserCounts,
        ["portals", p, "roles"] if is_self(p) => Endpoint::Roles,
        ["portals", p, "users"] if is_self(p) => Endpoint::OrgUsers,
        ["portals", p, "invite"] if is_self(p) => Endpoint::Invite,
        ["portals", p, "invitations"] if is_self(p) => Endpoint::Invitations,
        ["portals", p, "updateuserlicensetype"] if is_self(p) => Endpoint::UpdateLicenseType,
        ["portals", p, "updateuserrole"] if is_self(p) => Endpoint::UpdateRole,
        ["portals", p, "removeusers"] if is_self(p) => Endpoint::RemoveUsers,
        ["portals", p, "createnotification"] if is_self(p) => Endpoint::CreateNotification,
        ["community", "self"] => Endpoint::CommunitySelf,
        ["community", "users", _] => Endpoint::CommunityUser(segs[2].clone()),
        ["community", "users", _, "update"] => Endpoint::UpdateUser(segs[2].clone()),
        ["community", "users", _, "reset"] => Endpoint::ResetUser(segs[2].clone()),
        ["community", "users", _, "disable"] => Endpoint::DisableUser(segs[2].clone()),
        ["community", "users", _, "enable"] => Endpoint::EnableUser(segs[2].clone()),
        ["community", "users", _, "delete"] => Endpoint::DeleteUser(segs[2].clone()),
        ["content", "users", _] => Endpoint::UserContent(segs[2].clone()),
        ["community", "checkusernames"] => Endpoint::CheckUsernames,
        ["community", "groups"] => Endpoint::GroupSearch,
        ["community", "groups", _, "addusers"] => Endpoint::AddUsers(segs[2].clone()),
        ["community", "groups", _, "userlist"] => Endpoint::GroupUserList(segs[2].clone()),
        _ => Endpoint::Unknown,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_are_case_insensitive_on_operation_names_only() {
        assert_eq!(
            route("portals/self/updateuserrole", "ORG"),
            Endpoint::UpdateRole
        );
        assert_eq!(
            route("portals/self/updateUserRole", "ORG"),
            Endpoint::UpdateRole
        );
        assert_eq!(route("portals/ORG/invite", "ORG"), Endpoint::Invite);
        assert_eq!(route("", "ORG"), Endpoint::Root);
        assert_eq!(route("Info", "ORG"), Endpoint::Info);
        assert_eq!(route("community/self", "ORG"), Endpoint::CommunitySelf);
        assert_eq!(
            route("portals/self/users/search", "ORG"),
            Endpoint::UserSearch
        );
        assert_eq!(
            route("community/groups/abc/users", "ORG"),
            Endpoint::GroupUsers("abc".into())
        );
        assert_eq!(
            route("community/groups/abc", "ORG"),
            Endpoint::Group("abc".into())
        );
        assert_eq!(
            route("portals/self/Invitations", "ORG"),
            Endpoint::Invitations
        );
        assert_eq!(route("portals/other/invite", "ORG"), Endpoint::Unknown);
        assert_eq!(
            route("community/users/Ana.Lopez%40x.org", "ORG"),
            Endpoint::CommunityUser("Ana.Lopez@x.org".into())
        );
        assert_eq!(
            route("community/groups/abc/addUsers", "ORG"),
            Endpoint::AddUsers("abc".into())
        );
        assert_eq!(
            route("community/groups/abc/userList", "ORG"),
            Endpoint::GroupUserList("abc".into())
        );
        assert_eq!(
            route("community/users/jdoe_acme/update", "ORG"),
            Endpoint::UpdateUser("jdoe_acme".into())
        );
        assert_eq!(
            route("community/users/Jdoe_Acme/Disable", "ORG"),
            Endpoint::DisableUser("Jdoe_Acme".into())
        );
        assert_eq!(
            route("community/users/jdoe_acme/enable", "ORG"),
            Endpoint::EnableUser("jdoe_acme".into())
        );
        assert_eq!(
            route("community/users/jdoe_acme/delete", "ORG"),
            Endpoint::DeleteUser("jdoe_acme".into())
        );
        assert_eq!(
            route("content/users/jdoe_acme", "ORG"),
            Endpoint::UserContent("jdoe_acme".into())
        );
        assert_eq!(
            route("content/users/jdoe_acme/someFolderId", "ORG"),
            Endpoint::Unknown
        );
        assert_eq!(
            route("portals/ORG/createNotification", "ORG"),
            Endpoint::CreateNotification
        );
    }

    #[test]
    fn percent_decoding_leaves_broken_escapes_alone() {
        assert_eq!(percent_decode("a%40b"), "a@b");
        assert_eq!(percent_decode("a%4"), "a%4");
        assert_eq!(percent_decode("%zz"), "%zz");
    }
}
