//! An ArcGIS Enterprise portal's admin API (`<webadaptor>/portaladmin`) for
//! [`ArcGisPortal`]: creating a built-in or identity-provider account with
//! `security/users/createUser` (fact sheet §3) and reading the licences
//! from `license` (§5).
//!
//! The admin API answers `{"status":"success"}` or, inside HTTP 200,
//! `{"status":"error","messages":[…],"code":n}` (§1), which the transport
//! already classifies; its POSTs carry the token in the body. `createUser`
//! takes no groups: they are added afterwards with `addUsers`, as the
//! Python API does. Like the invitation, a refused username is reported as
//! [`PortalError::NotInvited`], so the workflow looks the name up (a lost
//! reply to an earlier attempt, or someone else's account) before it moves
//! on; the password never reaches an error or a log.

use std::collections::BTreeMap;

use serde_json::Value;
use url::Url;

use super::transport::Call;
use super::{ArcGisPortal, decode, scrub_error};
use crate::portal::error::PortalError;
use crate::portal::members::{Invitation, NewMember};
use crate::portal::org::{LicenseCounts, OrgAdmin};
use crate::portal::wire::{AdminStatus, EnterpriseLicense};

/// The longest username `createUser` accepts (Enterprise documentation:
/// 6–24 characters; the fact sheet's §3 and §8 mark it as the stricter,
/// older rule — taken here, see docs/portal-doubts.md).
pub(crate) const ENTERPRISE_MAX_USERNAME: usize = 24;

/// What the member's description says about who made the account.
const DESCRIPTION: &str = "Created by agol-seat-broker";

/// The admin API root beside a sharing root: `…/sharing/rest` →
/// `…/portaladmin`; `None` when the root does not end in `sharing/rest`.
pub(super) fn admin_root(sharing: &Url) -> Option<Url> {
    let segments: Vec<&str> = sharing.path_segments()?.filter(|s| !s.is_empty()).collect();
    let n = segments.len();
    if n < 2
        || !segments[n - 2].eq_ignore_ascii_case("sharing")
        || !segments[n - 1].eq_ignore_ascii_case("rest")
    {
        return None;
    }
    let mut admin = sharing.clone();
    {
        let mut path = admin.path_segments_mut().ok()?;
        path.clear();
        path.extend(&segments[..n - 2]);
        path.push("portaladmin");
    }
    Some(admin)
}

impl ArcGisPortal {
    /// The admin API root; a configuration error on an ArcGIS Online client.
    fn admin(&self) -> Result<Url, PortalError> {
        self.admin_root.clone().ok_or_else(|| {
            PortalError::Config("ArcGIS Online has no portaladmin API (PORTAL_FLAVOUR)".into())
        })
    }

    /// `POST portaladmin/security/users/createUser` (fact sheet §3) for an
    /// account with a password (`provider=arcgis`) or for the identity
    /// provider (`provider=enterprise`, `idpUsername`), then its groups
    /// with `addUsers` ([`Self::join_groups`]). A refusal naming the
    /// username as taken is [`PortalError::NotInvited`]; every other
    /// refusal (no seat of the user type left, a role the user type cannot
    /// hold, an unknown user type) is `Rejected` with the portal's words.
    pub(super) async fn create_user(&self, member: &NewMember) -> Result<(), PortalError> {
        let username = member.username.trim();
        let email = member.email.trim();
        // Why: createUser requires both names; a sign-up may carry neither.
        let fallback = email.split('@').next().unwrap_or(username);
        let first = non_empty_or(member.first_name.trim(), fallback);
        let last = non_empty_or(member.last_name.trim(), fallback);
        let mut params: Vec<(&'static str, String)> = vec![
            ("username", username.to_string()),
            ("firstname", first.to_string()),
            ("lastname", last.to_string()),
            ("email", email.to_string()),
            ("role", member.role.clone()),
            ("userLicenseTypeId", member.user_type.clone()),
            ("description", DESCRIPTION.to_string()),
        ];
        let mut secrets: Vec<&str> = Vec::new();
        match &member.invitation {
            Invitation::Password(p) => {
                params.push(("provider", "arcgis".into()));
                params.push(("password", p.clone()));
                secrets.push(p.as_str());
            }
            Invitation::Sso { idp_username } => {
                params.push(("provider", "enterprise".into()));
                params.push(("idpUsername", idp_username.trim().to_string()));
            }
            Invitation::Email => {
                return Err(PortalError::Config(
                    "createUser cannot send an e-mail invitation; use the invite operation".into(),
                ));
            }
        }
        let call = Call::admin_post(self.admin()?, &["security", "users", "createUser"], params);
        let answer = match self.call(call).await {
            Ok(v) => v,
            Err(PortalError::Rejected { message, .. }) if names_a_taken_user(&message) => {
                return Err(PortalError::NotInvited {
                    username: username.to_string(),
                });
            }
            Err(e) => return Err(scrub_error(e, &secrets)),
        };
        let status: AdminStatus = decode(answer, "portaladmin/security/users/createUser")?;
        if !status
            .status
            .as_deref()
            .is_some_and(|s| s.eq_ignore_ascii_case("success"))
        {
            return Err(PortalError::Protocol(
                "portaladmin/security/users/createUser answered without status success".into(),
            ));
        }
        self.join_groups(username, &member.group_ids).await;
        Ok(())
    }

    /// Adds a member that exists to its groups (`addUsers`, one request per
    /// group). The account holds its seat either way, so a refusal or an
    /// outage is logged for the administrator, never returned: giving the
    /// seat back would leave a member without one.
    pub(super) async fn join_groups(&self, username: &str, group_ids: &[String]) {
        if group_ids.is_empty() {
            return;
        }
        match self.add_to_groups(username, group_ids).await {
            Ok(not_added) if not_added.is_empty() => {}
            Ok(not_added) => tracing::warn!(
                username,
                groups = %not_added.join(","),
                "the member was created but the portal did not add it to these groups; add it by hand"
            ),
            Err(e) => tracing::warn!(
                username,
                groups = %group_ids.join(","),
                "the member was created but adding it to its groups failed; add it by hand: {e}"
            ),
        }
    }

    /// Licensed and assigned seats per user type from
    /// `portaladmin/license` (fact sheet §5): `userTypes[].id`,
    /// `maximumRegisteredMembers`, `currentRegisteredMembers`.
    pub(super) async fn enterprise_license_counts(&self) -> Result<LicenseCounts, PortalError> {
        let call = Call::admin_post(self.admin()?, &["license"], vec![]);
        let v = self.call(call).await?;
        let license: EnterpriseLicense = decode(v, "portaladmin/license")?;
        let entries = license.user_types.ok_or_else(|| {
            PortalError::Protocol("portaladmin/license answered without userTypes".into())
        })?;
        let mut types: BTreeMap<String, (u64, u64)> = BTreeMap::new();
        for t in entries {
            let Some(id) = t.id.filter(|id| !id.trim().is_empty()) else {
                continue;
            };
            let slot = types.entry(id).or_default();
            slot.0 = slot.0.saturating_add(count(t.maximum.as_ref()));
            slot.1 = slot.1.saturating_add(count(t.current.as_ref()));
        }
        Ok(LicenseCounts {
            types: types
                .into_iter()
                .map(|(id, (licensed, assigned))| (id, licensed, assigned))
                .collect(),
        })
    }
}

/// `value` unless it is empty, else `fallback`.
fn non_empty_or<'a>(value: &'a str, fallback: &'a str) -> &'a str {
    if value.is_empty() { fallback } else { value }
}

/// Whether a createUser refusal says the username is taken ("User 'x'
/// already exists." and its variants).
fn names_a_taken_user(message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    m.contains("already exists") || m.contains("already taken") || m.contains("not available")
}

/// A seat count given as a number or numeric string; anything else is 0.
fn count(v: Option<&Value>) -> u64 {
    match v {
        Some(Value::Number(n)) => n.as_u64().unwrap_or(0),
        Some(Value::String(s)) => s.trim().parse().unwrap_or(0),
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_admin_root_is_the_sibling_of_the_sharing_root() {
        let at = |s: &str| admin_root(&Url::parse(s).unwrap()).map(|u| u.to_string());
        assert_eq!(
            at("https://gis.example.org/portal/sharing/rest").as_deref(),
            Some("https://gis.example.org/portal/portaladmin")
        );
        assert_eq!(
            at("https://gis.example.org:7443/arcgis/sharing/rest/").as_deref(),
            Some("https://gis.example.org:7443/arcgis/portaladmin")
        );
        assert_eq!(
            at("http://127.0.0.1:8090/sharing/rest").as_deref(),
            Some("http://127.0.0.1:8090/portaladmin")
        );
        assert_eq!(at("https://gis.example.org/portal"), None);
    }

    #[test]
    fn taken_usernames_are_recognised_in_the_admin_apis_words() {
        assert!(names_a_taken_user("User 'jdoe_water' already exists."));
        assert!(!names_a_taken_user(
            "The number of user types assigned exceeds the number of user types available."
        ));
    }
}
