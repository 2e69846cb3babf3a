//! The pre-flight check against the real organization (issue 15, item 5):
//! whether a rules file can work there before the broker goes live.
//!
//! A rules file that loads is only consistent with itself: whether its
//! roles, user types and groups exist in the organization, whether the
//! broker's account may administer members, and whether the pools promise
//! more seats than the organization has licences, only the organization
//! can say. [`check`] takes what the portal answered ([`OrgFacts`], read by
//! `check-rules --portal`) and returns [`Finding`]s in an administrator's
//! words, grouped per pool. It is pure: no I/O, nothing changed, so every
//! finding is unit-tested here.
//!
//! Where the fact sheet leaves a doubt, the check takes the stricter side
//! and says so:
//! - a custom administrator role counts only when the portal reports the
//!   privileges the broker needs ([`compat::BROKER_ADMIN_PRIVILEGES`]);
//! - a user type purchased `0` times counts as none (what `0` means is
//!   \[I\], fact sheet §5);
//! - without the store, the broker is taken to hold no seats, so every
//!   assigned licence counts as assigned outside it.

use serde::Serialize;

use super::reconcile::TypeCapacity;
use crate::domain::compat::{self, Compat};
use crate::policy::Rules;
use crate::portal::{Account, LicenseCounts, PortalFlavour, Role};

/// What the organization answered, read once by the caller. `None` in a
/// field: that listing could not be read (the reason is in
/// [`OrgFacts::unreadable`]), and the checks needing it are skipped.
#[derive(Debug, Clone, Default)]
pub struct OrgFacts {
    /// The account the broker signed in as (`community/self`).
    pub account: Account,
    /// Every role: built-in ones and `portals/self/roles`.
    pub roles: Option<Vec<Role>>,
    /// Purchased and assigned licences per user type.
    pub licenses: Option<LicenseCounts>,
    /// Each group title the pools name, with the id it resolved to (`None`:
    /// no such group).
    pub groups: Option<Vec<(String, Option<String>)>>,
    /// Licences per user type of the pools (reconciliation's count).
    pub capacity: Option<Vec<TypeCapacity>>,
    /// Whether the broker's claims were read from a store; `false`: counted
    /// as holding none.
    pub store_read: bool,
    /// `(what, why)` of each listing the portal refused to give.
    pub unreadable: Vec<(String, String)>,
    /// The kind of portal the broker is configured for (`PORTAL_FLAVOUR`,
    /// or what the URL implies).
    pub configured: PortalFlavour,
    /// The kind the portal says it is (`portals/self.isPortal`); `None`:
    /// not reported.
    pub reported: Option<PortalFlavour>,
}

/// Whether a finding stops the broker from going live.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// Must be fixed: the broker would fail or over-promise.
    Problem,
    /// Worth a look; the check cannot tell (the portal decides).
    Note,
}

/// What a finding is about, a stable name for machines (`--json`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// The portal refused the broker's credentials.
    SignInRefused,
    /// The broker's account is a SAML/OIDC one, or its kind is unreported.
    NotBuiltIn,
    /// The broker's account is not an administrator (or a custom
    /// administrator role whose privileges cannot be confirmed).
    NotAdministrator,
    /// The portal refused to list something the check needs.
    Unreadable,
    /// A pool's (or its downgrade's) role does not exist.
    UnknownRole,
    /// A role cannot hold the user type (or it is not documented).
    RoleDoesNotFit,
    /// The organization has no licences of a user type.
    NoLicences,
    /// A group the pool adds members to does not exist.
    MissingGroup,
    /// The pools promise more seats of a user type than are available.
    OverPromised,
    /// How the licences were counted.
    Counting,
    /// The broker is configured for ArcGIS Online and the portal is an
    /// ArcGIS Enterprise portal, or the other way round.
    WrongFlavour,
}

/// One thing found, in an administrator's words.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// Must be fixed, or worth a look.
    pub severity: Severity,
    /// What it is about.
    pub kind: Kind,
    /// The pool it belongs to; `None` for the account and the licences.
    pub pool: Option<String>,
    /// The sentence to print: what is wrong and what to do.
    pub message: String,
}

impl Finding {
    fn problem(kind: Kind, pool: Option<&str>, message: String) -> Self {
        Finding {
            severity: Severity::Problem,
            kind,
            pool: pool.map(str::to_string),
            message,
        }
    }

    fn note(kind: Kind, pool: Option<&str>, message: String) -> Self {
        Finding {
            severity: Severity::Note,
            ..Finding::problem(kind, pool, message)
        }
    }

    /// The portal refused the broker's sign-in as `username` (the portal's
    /// reason is not repeated: it may echo what was sent).
    pub fn sign_in_refused(username: &str) -> Self {
        Finding::problem(
            Kind::SignInRefused,
            None,
            format!(
                "the portal refused to sign in as '{username}': check ARCGIS_USERNAME and ARCGIS_PASSWORD (a built-in ArcGIS account, not a SAML/OIDC one) and the portal URL"
            ),
        )
    }
}

/// Everything the check found, the account's findings first, then each
/// pool's in rules order, then the licences'.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Preflight {
    /// The findings.
    pub findings: Vec<Finding>,
}

impl Preflight {
    /// How many findings must be fixed.
    pub fn problems(&self) -> usize {
        self.findings
            .iter()
            .filter(|f| f.severity == Severity::Problem)
            .count()
    }

    /// Whether nothing must be fixed (notes allowed).
    pub fn is_clean(&self) -> bool {
        self.problems() == 0
    }

    /// The findings of one pool (`Some`), or of none (`None`: the account
    /// and the licences).
    pub fn of_pool<'a>(&'a self, pool: Option<&'a str>) -> impl Iterator<Item = &'a Finding> {
        self.findings
            .iter()
            .filter(move |f| f.pool.as_deref() == pool)
    }

    /// The one-line summary: how many problems and notes.
    pub fn summary(&self) -> String {
        let problems = self.problems();
        let notes = self.findings.len() - problems;
        if problems == 0 {
            format!(
                "no problems found ({notes} note(s)): the organization is ready for these rules"
            )
        } else {
            format!(
                "{problems} problem(s) and {notes} note(s): fix the problems before the broker goes live"
            )
        }
    }
}

/// Checks the rules against the organization. Pure: see the module docs.
pub fn check(rules: &Rules, org: &OrgFacts) -> Preflight {
    let mut out = Vec::new();
    account(&org.account, &mut out);
    if let Some(reported) = org.reported.filter(|r| *r != org.configured) {
        out.push(Finding::problem(
            Kind::WrongFlavour,
            None,
            format!(
                "the broker is set up for {} but the portal says it is {}: set PORTAL_FLAVOUR={} (members are created differently on each)",
                flavour_name(org.configured),
                flavour_name(reported),
                reported
            ),
        ));
    }
    for (what, why) in &org.unreadable {
        out.push(Finding::problem(
            Kind::Unreadable,
            None,
            format!(
                "the portal would not list {what} for '{}' ({why}), so the checks that need it were skipped",
                org.account.username
            ),
        ));
    }
    for pool in &rules.pools {
        let id = pool.id.to_string();
        let at = Some(id.as_str());
        role_and_type(org, at, "", &pool.role, &pool.user_type, &mut out);
        if let Some(groups) = &org.groups {
            for title in &pool.groups {
                let found = groups.iter().any(|(t, gid)| t == title && gid.is_some());
                if !found {
                    out.push(Finding::problem(
                        Kind::MissingGroup,
                        at,
                        format!(
                            "group '{title}' does not exist in the organization; create it or fix the name"
                        ),
                    ));
                }
            }
        }
        if let Some(d) = pool
            .lifecycle
            .as_ref()
            .and_then(|l| l.downgrade_to.as_ref())
        {
            role_and_type(org, at, "downgrade_to: ", &d.role, &d.user_type, &mut out);
        }
    }
    licences(org, &mut out);
    Preflight { findings: out }
}

/// A flavour in an administrator's words.
fn flavour_name(f: PortalFlavour) -> &'static str {
    match f {
        PortalFlavour::Online => "ArcGIS Online",
        PortalFlavour::Enterprise => "an ArcGIS Enterprise portal",
    }
}

/// The broker's own account: built-in, and an administrator.
fn account(a: &Account, out: &mut Vec<Finding>) {
    let who = &a.username;
    let provider = a.provider.as_deref().map(str::to_ascii_lowercase);
    if provider.as_deref() == Some("enterprise") || a.idp_username.is_some() {
        out.push(Finding::problem(
            Kind::NotBuiltIn,
            None,
            format!(
                "the broker signs in as '{who}', a SAML/OIDC (enterprise) account; it needs a built-in ArcGIS account with a password: create one and set ARCGIS_USERNAME and ARCGIS_PASSWORD to it"
            ),
        ));
    } else if provider.is_none() {
        out.push(Finding::note(
            Kind::NotBuiltIn,
            None,
            format!(
                "the portal did not say what kind of account '{who}' is; it signed in with a password, which only built-in accounts can"
            ),
        ));
    }
    let custom = a.role_id.as_deref().filter(|r| *r != "org_admin");
    let base = a.role.as_deref();
    match (base, custom) {
        (Some("org_admin"), None) => {}
        (Some("org_admin"), Some(role_id)) => {
            let missing: Vec<&str> = match &a.privileges {
                Some(have) => compat::BROKER_ADMIN_PRIVILEGES
                    .iter()
                    .copied()
                    .filter(|p| !have.iter().any(|h| h == p))
                    .collect(),
                None => compat::BROKER_ADMIN_PRIVILEGES.to_vec(),
            };
            if a.privileges.is_none() {
                out.push(Finding::problem(
                    Kind::NotAdministrator,
                    None,
                    format!(
                        "the broker's account '{who}' has the custom administrator role {role_id} and the portal did not report its privileges, so the check cannot confirm it may invite members and change their roles, user types and groups; give '{who}' the built-in Administrator role (the stricter reading)"
                    ),
                ));
            } else if !missing.is_empty() {
                out.push(Finding::problem(
                    Kind::NotAdministrator,
                    None,
                    format!(
                        "the broker's account '{who}' has the custom administrator role {role_id}, which lacks {}; give '{who}' the built-in Administrator role or add those privileges",
                        missing.join(", ")
                    ),
                ));
            }
        }
        _ => {
            let role = custom.or(base).unwrap_or("none reported");
            out.push(Finding::problem(
                Kind::NotAdministrator,
                None,
                format!(
                    "the broker's account '{who}' has role {}, not Administrator: it could not invite members or change their roles, user types and groups; give '{who}' the Administrator role",
                    role_label(role, None)
                ),
            ));
        }
    }
}

/// A role and user type (a pool's, or its downgrade's when `what` says
/// so): the role exists, the type has licences, and the two fit.
fn role_and_type(
    org: &OrgFacts,
    pool: Option<&str>,
    what: &str,
    role_id: &str,
    user_type: &str,
    out: &mut Vec<Finding>,
) {
    let role = org
        .roles
        .as_ref()
        .map(|roles| roles.iter().find(|r| r.id == role_id));
    let label = role_label(role_id, role.flatten());
    let type_label = type_label(user_type);
    if let Some(None) = role {
        out.push(Finding::problem(
            Kind::UnknownRole,
            pool,
            format!(
                "{what}role {label} does not exist in the organization; create the custom role or fix the role id in the rules"
            ),
        ));
    }
    if let Some(licenses) = &org.licenses {
        let purchased = licenses
            .types
            .iter()
            .find(|(t, _, _)| t == user_type)
            .map(|(_, p, _)| *p);
        match purchased {
            None => out.push(Finding::problem(
                Kind::NoLicences,
                pool,
                format!(
                    "{what}the organization has no licences of user type {type_label}; buy some or choose another user type"
                ),
            )),
            Some(0) => out.push(Finding::problem(
                Kind::NoLicences,
                pool,
                format!(
                    "{what}the organization has 0 licences of user type {type_label} purchased; buy some or choose another user type"
                ),
            )),
            Some(_) => {}
        }
    }
    let fit = match compat::compatible(role_id, user_type) {
        Compat::Unknown => role
            .flatten()
            .and_then(|r| r.privileges.as_ref())
            .map(|privileges| compat::privileges_fit(privileges, user_type)),
        known => Some(known),
    };
    match fit {
        Some(Compat::Yes) => {}
        Some(Compat::No) => out.push(Finding::problem(
            Kind::RoleDoesNotFit,
            pool,
            format!(
                "{what}role {label} cannot hold user type {type_label} (a Viewer user type cannot take a role that creates, shares or edits); the portal would refuse every member; choose a role that fits or another user type"
            ),
        )),
        Some(Compat::Unknown) => out.push(Finding::note(
            Kind::RoleDoesNotFit,
            pool,
            format!(
                "{what}whether role {label} fits user type {type_label} is not documented; the portal decides when the first member is created"
            ),
        )),
        // The role is missing (reported above) or its privileges unknown.
        None if matches!(role, Some(None)) => {}
        None => out.push(Finding::note(
            Kind::RoleDoesNotFit,
            pool,
            format!(
                "{what}the portal did not report the privileges of role {label}, so whether it fits user type {type_label} cannot be checked; the portal decides"
            ),
        )),
    }
}

/// Over-promise per user type (only for types the organization has).
fn licences(org: &OrgFacts, out: &mut Vec<Finding>) {
    let Some(capacity) = &org.capacity else {
        return;
    };
    if !org.store_read {
        out.push(Finding::note(
            Kind::Counting,
            None,
            "no --store given: counted as if the broker held no seats, so every assigned licence counts as assigned outside it (the stricter count)".to_string(),
        ));
    }
    for t in capacity.iter().filter(|t| t.purchased > 0) {
        if let Some(w) = t.warning() {
            out.push(Finding::problem(
                Kind::OverPromised,
                None,
                format!("{w}; lower the pools' seats or buy more licences"),
            ));
        }
    }
}

/// "Field Technician (fIeLdTeChRoLe001)", or the id alone.
fn role_label(role_id: &str, role: Option<&Role>) -> String {
    let known = compat::KNOWN_ROLES
        .iter()
        .find(|(id, _)| *id == role_id)
        .map(|(_, n)| *n);
    match role.map(|r| r.name.as_str()).or(known) {
        Some(name) if name != role_id => format!("'{name}' ({role_id})"),
        _ => role_id.to_string(),
    }
}

/// "Viewer (viewerUT)", or the id alone.
fn type_label(user_type: &str) -> String {
    match compat::CURRENT_USER_TYPES
        .iter()
        .find(|(id, _)| *id == user_type)
    {
        Some((id, name)) => format!("{name} ({id})"),
        None => user_type.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::portal::BUILT_IN_ROLES;
    use crate::provisioning::reconcile::capacity;
    use std::collections::BTreeMap;

    const RULES: &str = r#"
        [[pools]]
        name = "acme"
        seats = 10
        role = "viewer"
        user_type = "viewerUT"
        groups = ["Field Crews"]
        [pools.match]
        email_domains = ["acme.example"]

        [[pools]]
        name = "staff"
        seats = 5
        role = "user"
        user_type = "creatorUT"
        [pools.match]
        email_domains = ["staff.example"]
    "#;

    fn rules(text: &str) -> Rules {
        match Rules::from_toml(text) {
            Ok(r) => r,
            Err(e) => panic!("{e}"),
        }
    }

    fn admin() -> Account {
        Account {
            username: "broker_admin".into(),
            role: Some("org_admin".into()),
            provider: Some("arcgis".into()),
            ..Account::default()
        }
    }

    fn role(id: &str, name: &str, privileges: Option<&[&str]>) -> Role {
        Role {
            id: id.into(),
            name: name.into(),
            privileges: privileges.map(|p| p.iter().map(|s| s.to_string()).collect()),
        }
    }

    /// An organization where `RULES` is fine.
    fn good_org(rules: &Rules) -> OrgFacts {
        let mut roles: Vec<Role> = BUILT_IN_ROLES
            .iter()
            .map(|(id, n)| role(id, n, None))
            .collect();
        roles.push(role(
            "iAAAAAAAAAAAAAAA",
            "Viewer",
            Some(&["portal:user:viewOrgItems"]),
        ));
        roles.push(role(
            "fIeLdTeChRoLe001",
            "Field Technician",
            Some(&["portal:user:viewOrgItems", "features:user:edit"]),
        ));
        let licenses = LicenseCounts {
            types: vec![
                ("viewerUT".into(), 100, 3),
                ("creatorUT".into(), 10, 2),
                ("editorUT".into(), 0, 0),
            ],
        };
        OrgFacts {
            account: admin(),
            roles: Some(roles),
            capacity: Some(capacity(rules, &licenses, &BTreeMap::new())),
            licenses: Some(licenses),
            groups: Some(vec![("Field Crews".into(), Some("g1".into()))]),
            store_read: true,
            unreadable: vec![],
            configured: PortalFlavour::Online,
            reported: Some(PortalFlavour::Online),
        }
    }

    #[test]
    fn a_portal_of_the_other_flavour_is_a_problem_and_an_unreported_one_is_not() {
        let r = rules(RULES);
        let mut org = good_org(&r);
        org.reported = Some(PortalFlavour::Enterprise);
        let p = check(&r, &org);
        assert_eq!(
            kinds(&p),
            vec![(Severity::Problem, Kind::WrongFlavour, None)]
        );
        assert!(p.findings[0].message.contains("PORTAL_FLAVOUR=enterprise"));
        org.reported = None;
        assert!(check(&r, &org).findings.is_empty());
    }

    fn kinds(p: &Preflight) -> Vec<(Severity, Kind, Option<String>)> {
        p.findings
            .iter()
            .map(|f| (f.severity, f.kind, f.pool.clone()))
            .collect()
    }

    #[test]
    fn a_fitting_organization_has_no_findings() {
        let r = rules(RULES);
        let p = check(&r, &good_org(&r));
        assert_eq!(p.findings, vec![]);
        assert!(p.is_clean());
        assert!(
            p.summary().starts_with("no problems found"),
            "{}",
            p.summary()
        );
    }

    #[test]
    fn a_missing_group_is_named_with_its_pool() {
        let r = rules(RULES);
        let mut org = good_org(&r);
        org.groups = Some(vec![("Field Crews".into(), None)]);
        let p = check(&r, &org);
        assert_eq!(
            kinds(&p),
            vec![(Severity::Problem, Kind::MissingGroup, Some("acme".into()))]
        );
        assert_eq!(
            p.findings[0].message,
            "group 'Field Crews' does not exist in the organization; create it or fix the name"
        );
        assert!(!p.is_clean());
        assert_eq!(p.of_pool(Some("acme")).count(), 1);
    }

    #[test]
    fn a_custom_role_that_edits_cannot_hold_the_viewer_type() {
        let r = rules(&RULES.replace(r#"role = "viewer""#, r#"role = "fIeLdTeChRoLe001""#));
        let p = check(&r, &good_org(&r));
        assert_eq!(
            kinds(&p),
            vec![(Severity::Problem, Kind::RoleDoesNotFit, Some("acme".into()))]
        );
        assert!(
            p.findings[0].message.contains(
                "role 'Field Technician' (fIeLdTeChRoLe001) cannot hold user type Viewer (viewerUT)"
            ),
            "{}",
            p.findings[0].message
        );
    }

    #[test]
    fn a_custom_role_without_reported_privileges_is_a_note() {
        let r = rules(&RULES.replace(r#"role = "viewer""#, r#"role = "fIeLdTeChRoLe001""#));
        let mut org = good_org(&r);
        if let Some(roles) = org.roles.as_mut() {
            for x in roles.iter_mut() {
                x.privileges = None;
            }
        }
        let p = check(&r, &org);
        assert_eq!(
            kinds(&p),
            vec![(Severity::Note, Kind::RoleDoesNotFit, Some("acme".into()))]
        );
        assert!(p.is_clean());
    }

    #[test]
    fn a_role_the_organization_does_not_have_is_reported() {
        let r = rules(&RULES.replace(r#"role = "viewer""#, r#"role = "NoSuChRoLe000001""#));
        let p = check(&r, &good_org(&r));
        assert_eq!(
            kinds(&p),
            vec![(Severity::Problem, Kind::UnknownRole, Some("acme".into()))]
        );
        assert!(
            p.findings[0]
                .message
                .contains("NoSuChRoLe000001 does not exist")
        );
    }

    #[test]
    fn a_user_type_without_licences_is_reported_missing_or_zero() {
        let r = rules(&RULES.replace(
            r#"user_type = "creatorUT""#,
            r#"user_type = "GISProfessionalAdvUT""#,
        ));
        let p = check(&r, &good_org(&r));
        assert_eq!(
            kinds(&p),
            vec![(Severity::Problem, Kind::NoLicences, Some("staff".into()))]
        );
        assert!(
            p.findings[0]
                .message
                .contains("no licences of user type Professional Plus")
        );

        let r = rules(&RULES.replace(
            r#"role = "user"
        user_type = "creatorUT""#,
            r#"role = "viewer"
        user_type = "editorUT""#,
        ));
        let p = check(&r, &good_org(&r));
        assert_eq!(
            kinds(&p),
            vec![(Severity::Problem, Kind::NoLicences, Some("staff".into()))]
        );
        assert!(
            p.findings[0].message.contains("0 licences"),
            "{}",
            p.findings[0].message
        );
    }

    #[test]
    fn pools_that_promise_more_than_the_licences_are_reported_per_user_type() {
        let r = rules(&RULES.replace("seats = 5", "seats = 9"));
        let p = check(&r, &good_org(&r));
        assert_eq!(
            kinds(&p),
            vec![(Severity::Problem, Kind::OverPromised, None)]
        );
        assert!(
            p.findings[0]
                .message
                .contains("promise 9 seats of user type creatorUT but the organization has 8"),
            "{}",
            p.findings[0].message
        );
    }

    #[test]
    fn without_the_store_the_count_is_said_to_be_the_stricter_one() {
        let r = rules(RULES);
        let mut org = good_org(&r);
        org.store_read = false;
        let p = check(&r, &org);
        assert_eq!(kinds(&p), vec![(Severity::Note, Kind::Counting, None)]);
        assert!(p.is_clean());
    }

    #[test]
    fn the_downgrade_target_is_checked_too() {
        let text = format!(
            "{RULES}\n[pools.lifecycle]\nexpires_after_days = 30\nat_end = \"downgrade\"\ndowngrade_to = {{ role = \"viewer\", user_type = \"fieldWorkerUT\" }}\n"
        );
        let r = rules(&text);
        assert!(
            r.pools[1].lifecycle.is_some(),
            "the fixture sets a lifecycle"
        );
        let p = check(&r, &good_org(&r));
        assert_eq!(
            kinds(&p),
            vec![(Severity::Problem, Kind::NoLicences, Some("staff".into()))]
        );
        assert!(
            p.findings[0].message.starts_with(
                "downgrade_to: the organization has no licences of user type Mobile Worker"
            ),
            "{}",
            p.findings[0].message
        );
    }

    #[test]
    fn the_broker_account_must_be_a_built_in_administrator() {
        let r = rules(RULES);
        let mut org = good_org(&r);
        org.account.role = Some("org_user".into());
        let p = check(&r, &org);
        assert_eq!(
            kinds(&p),
            vec![(Severity::Problem, Kind::NotAdministrator, None)]
        );
        assert!(
            p.findings[0]
                .message
                .contains("has role 'User' (org_user), not Administrator"),
            "{}",
            p.findings[0].message
        );

        let mut org = good_org(&r);
        org.account.provider = Some("enterprise".into());
        org.account.idp_username = Some("broker@idp".into());
        let p = check(&r, &org);
        assert_eq!(kinds(&p), vec![(Severity::Problem, Kind::NotBuiltIn, None)]);

        let mut org = good_org(&r);
        org.account.provider = None;
        assert_eq!(
            kinds(&check(&r, &org)),
            vec![(Severity::Note, Kind::NotBuiltIn, None)]
        );
    }

    #[test]
    fn a_custom_administrator_role_needs_its_privileges_reported_and_complete() {
        let r = rules(RULES);
        let mut org = good_org(&r);
        org.account.role_id = Some("cUsToMaDmInRoLe1".into());
        let p = check(&r, &org);
        assert_eq!(
            kinds(&p),
            vec![(Severity::Problem, Kind::NotAdministrator, None)]
        );
        assert!(
            p.findings[0]
                .message
                .contains("did not report its privileges")
        );

        org.account.privileges = Some(vec!["portal:admin:viewUsers".into()]);
        let p = check(&r, &org);
        assert!(
            p.findings[0]
                .message
                .contains("lacks portal:admin:assignToGroups"),
            "{}",
            p.findings[0].message
        );

        org.account.privileges = Some(
            compat::BROKER_ADMIN_PRIVILEGES
                .iter()
                .map(|s| s.to_string())
                .collect(),
        );
        assert!(check(&r, &org).findings.is_empty());
    }

    #[test]
    fn an_unreadable_listing_is_a_problem_and_its_checks_are_skipped() {
        let r = rules(RULES);
        let mut org = good_org(&r);
        org.groups = None;
        org.unreadable = vec![("the groups".into(), "403 GWM_0003".into())];
        let p = check(&r, &org);
        assert_eq!(kinds(&p), vec![(Severity::Problem, Kind::Unreadable, None)]);
        assert_eq!(Finding::sign_in_refused("x").kind, Kind::SignInRefused);
    }
}
