//! Members made by an ArcGIS Enterprise portal's administrator:
//! portaladmin `security/users/createUser` (fact sheet §3), every rule of
//! it, and the seats per user type its `license` resource reports (§5).
//!
//! The member exists at once, active, with no groups (groups are added
//! afterwards with `addUsers`). It counts against the same seats as an
//! invitation: members and pending invitations of its user type against
//! those purchased. Refusals are the admin API's (codes and wording in
//! [`crate::portal::simulator::portaladmin`]); a refused request changes
//! nothing. Passwords are kept as digests and never logged.

use super::accounts::password_acceptable;
use super::{NewAccount, State, sha256};
use crate::domain::compat::Compat;
use crate::domain::{Email, UnixMillis, Username};
use crate::portal::simulator::error::ApiError;
use crate::portal::simulator::member::{MemberStatus, SimMember};
use crate::portal::simulator::org::{DEFAULT_ROLE, DEFAULT_USER_TYPE, Org};
use crate::portal::simulator::portaladmin::{
    EMAIL_INVALID, PARAMETER_INVALID, PARAMETER_REQUIRED, PASSWORD_POLICY, ROLE_OR_TYPE_INVALID,
    USER_EXISTS, USER_TYPE_UNRECOGNIZED, USER_TYPES_EXCEEDED, USERNAME_INVALID,
};

/// Shortest username an ArcGIS Enterprise portal accepts.
const USERNAME_MIN: usize = 6;
/// Longest username an ArcGIS Enterprise portal accepts (its documentation;
/// ArcGIS Online allows 128).
const USERNAME_MAX: usize = 24;

/// A field's value when it was sent and is not blank.
fn given(value: &Option<String>) -> Option<&str> {
    value.as_deref().filter(|v| !v.trim().is_empty())
}

/// A field that must be sent and not be blank.
fn required<'a>(value: &'a Option<String>, field: &str) -> Result<&'a str, ApiError> {
    given(value).ok_or_else(|| {
        ApiError::new(400, PARAMETER_REQUIRED).with_detail(&format!("'{field}' must be specified."))
    })
}

/// The Enterprise username rule: 6 to 24 characters, then the rules both
/// portals share (letters, digits, `.`, `_`, `@`, `-`; no symbol first or
/// last).
fn check_username(raw: &str) -> Result<(), ApiError> {
    let refused = |why: &str| ApiError::new(400, USERNAME_INVALID).with_detail(why);
    let n = raw.chars().count();
    if !(USERNAME_MIN..=USERNAME_MAX).contains(&n) {
        return Err(refused("The username must be 6 to 24 characters long."));
    }
    if !raw.chars().all(Username::allowed_char) {
        return Err(refused(
            "Only letters, digits, '.', '_', '@' and '-' are allowed in a username.",
        ));
    }
    let is_symbol = |c: char| matches!(c, '.' | '_' | '@' | '-');
    if raw.starts_with(is_symbol) || raw.ends_with(is_symbol) {
        return Err(refused(
            "A username must not begin or end with '.', '_', '@' or '-'.",
        ));
    }
    Ok(())
}

/// Where the account signs in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Provider {
    /// A built-in account with a password.
    ArcGis,
    /// An account of the portal's SAML or OIDC identity provider.
    Enterprise,
}

impl Provider {
    fn parse(value: Option<&str>) -> Result<Self, ApiError> {
        match value.map(str::trim) {
            None | Some("") | Some("arcgis") => Ok(Provider::ArcGis),
            Some("enterprise") => Ok(Provider::Enterprise),
            Some(_) => Err(ApiError::new(400, PARAMETER_INVALID)
                .with_detail("'provider' must be arcgis or enterprise.")),
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Provider::ArcGis => "arcgis",
            Provider::Enterprise => "enterprise",
        }
    }
}

/// `applyDefaults`: absent or blank is `false`.
fn apply_defaults(value: Option<&str>) -> Result<bool, ApiError> {
    match value.map(str::trim) {
        None | Some("") => Ok(false),
        Some(v) if v.eq_ignore_ascii_case("true") => Ok(true),
        Some(v) if v.eq_ignore_ascii_case("false") => Ok(false),
        Some(_) => Err(ApiError::new(400, PARAMETER_INVALID)
            .with_detail("'applyDefaults' must be true or false.")),
    }
}

impl State {
    /// portaladmin `security/users/createUser` at `now`. Checks, in this
    /// order: the required fields and their form (`username`, `firstname`,
    /// `lastname`, `email`, `provider`, then `password` for `arcgis` or
    /// `idpUsername` for `enterprise`, `role` and `userLicenseTypeId`,
    /// which `applyDefaults=true` fills from the new-member defaults when
    /// absent); then that the username is free, the user type known, the
    /// role known and compatible with the type, and a seat of the type
    /// left. Returns the username as created.
    pub fn create_user(
        &mut self,
        org: &Org,
        req: &NewAccount,
        now: UnixMillis,
    ) -> Result<String, ApiError> {
        let username = required(&req.username, "username")?;
        check_username(username)?;
        let first_name = required(&req.first_name, "firstname")?.trim();
        let last_name = required(&req.last_name, "lastname")?.trim();
        let email = Email::parse(required(&req.email, "email")?)
            .map_err(|_| ApiError::new(400, EMAIL_INVALID))?;
        let provider = Provider::parse(req.provider.as_deref())?;
        // `enterprise` accounts sign in at their identity provider: a
        // password sent with one is ignored (fact sheet §3).
        let (password, idp_username) = match provider {
            Provider::ArcGis => {
                let password = required(&req.password, "password")?;
                if !password_acceptable(password, username) {
                    return Err(ApiError::new(400, PASSWORD_POLICY).with_detail(
                        "At least 8 characters, with a letter and a digit, and not the username.",
                    ));
                }
                (Some(sha256(password)), None)
            }
            Provider::Enterprise => {
                let idp = required(&req.idp_username, "idpUsername")?;
                (None, Some(idp.trim().to_string()))
            }
        };
        let defaults = apply_defaults(req.apply_defaults.as_deref())?;
        let role = match given(&req.role) {
            Some(r) => r.trim(),
            None if defaults => DEFAULT_ROLE,
            None => required(&req.role, "role")?,
        };
        let user_type = match given(&req.user_type) {
            Some(t) => t.trim(),
            None if defaults => DEFAULT_USER_TYPE,
            None => required(&req.user_type, "userLicenseTypeId")?,
        };
        if self.is_taken(username) {
            return Err(ApiError::new(
                409,
                &USER_EXISTS.replace("{username}", username),
            ));
        }
        if !self.is_known_type(user_type) {
            return Err(ApiError::new(400, USER_TYPE_UNRECOGNIZED));
        }
        if org.base_role(role).is_none() || org.compatible(role, user_type) == Compat::No {
            return Err(ApiError::new(400, ROLE_OR_TYPE_INVALID));
        }
        if self.assigned(user_type) >= self.purchased(user_type) {
            return Err(ApiError::new(400, USER_TYPES_EXCEEDED));
        }
        let member = SimMember {
            email: email.as_str().to_string(),
            first_name: first_name.to_string(),
            last_name: last_name.to_string(),
            full_name: format!("{first_name} {last_name}"),
            status: MemberStatus::Active,
            last_login: -1,
            created: now,
            provider: provider.as_str().to_string(),
            idp_username,
            description: given(&req.description)
                .map(|d| d.trim().to_string())
                .unwrap_or_default(),
            ..SimMember::new(username, role, user_type)
        };
        if let Some(digest) = password {
            self.passwords.insert(username.to_string(), digest);
        }
        self.members.insert(username.to_string(), member);
        Ok(username.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enterprise_usernames_are_6_to_24_characters_without_outer_symbols() {
        assert!(check_username("jdoe_acme").is_ok());
        assert!(check_username("a.b@c-d_e1").is_ok());
        assert!(check_username(&"a".repeat(24)).is_ok());
        for bad in [
            "short",
            &"a".repeat(25),
            "_jdoe_acme",
            "jdoe_acme.",
            "jdoe acme",
            "DOM\\jdoe",
        ] {
            let e = check_username(bad).expect_err(bad);
            assert_eq!(e.message, USERNAME_INVALID, "{bad}");
            assert_eq!(e.details.len(), 1, "{bad}");
        }
    }

    #[test]
    fn provider_and_apply_defaults_take_only_their_values() {
        assert_eq!(Provider::parse(None).ok(), Some(Provider::ArcGis));
        assert_eq!(
            Provider::parse(Some("enterprise")).ok(),
            Some(Provider::Enterprise)
        );
        assert!(Provider::parse(Some("saml")).is_err());
        assert_eq!(apply_defaults(Some("TRUE")).ok(), Some(true));
        assert_eq!(apply_defaults(None).ok(), Some(false));
        assert!(apply_defaults(Some("yes")).is_err());
    }
}
