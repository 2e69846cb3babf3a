//! The rules file: its TOML schema and the checks run once at start-up.
//!
//! A rules file that loads is a rules file that makes sense: every pool has
//! positive seats, a role that can hold its user type (fact sheet §7), known
//! ids, a valid username template, and the default pool exists. Problems are
//! all reported at once, each naming the pool and the field.
//!
//! ```toml
//! default_pool = "public"          # optional: where unmatched requests go
//!
//! [defaults]                       # optional: inherited by every pool
//! invitation = "email"             # "email" (AGOL e-mails a link) | "password"
//! username = "{email_local}_{pool}"
//!
//! [[pools]]
//! name = "acme"
//! seats = 150
//! role = "viewer"                  # a name (viewer, data editor, user, publisher) or a role id
//! user_type = "viewerUT"           # a userLicenseType id (case-sensitive)
//! groups = ["Partners", "Acme field data"]
//! [pools.match]
//! email_domains = ["acme.org", "*.acme.org"]
//! organizations = ["ACME Corp"]
//! pool_field = ["acme"]            # values of the request's `pool` field
//! [pools.alerts]                   # optional (see [`super::alerts`])
//! thresholds = [90, 100]           # % of the seats; [] silences the pool
//! ```
//!
//! `[alerts]` sets the usage alerts of every pool and of the
//! organization's user types ([`super::alerts`]).

use serde::Deserialize;

use crate::domain::compat::{self, Compat};
use crate::domain::{ApprovalMode, EmailIdentity, PoolId};

use crate::domain::Thresholds;

use super::alerts::{self, Alerts, AlertsFile, PoolAlertsSpec};
use super::lifecycle::{self, Lifecycle, LifecycleFile, LifecycleSpec};
use super::username::UsernameTemplate;

/// The file as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RulesFile {
    /// Pool for requests that match no other pool.
    pub default_pool: Option<String>,
    /// Values inherited by every pool.
    #[serde(default)]
    pub defaults: PoolDefaults,
    /// The pools, in priority order: the first that matches wins.
    #[serde(default)]
    pub pools: Vec<PoolSpec>,
    /// The `[sources.*]` section belongs to intake
    /// (`intake::sources::Sources`); the policy does not read it.
    #[serde(default)]
    pub sources: Option<toml::Table>,
    /// The whole file's lifecycle settings (`[lifecycle]`).
    #[serde(default)]
    pub lifecycle: LifecycleFile,
    /// Usage alerts (`[alerts]`): every pool's thresholds and the user
    /// types'.
    #[serde(default)]
    pub alerts: AlertsFile,
}

/// Settings a pool inherits unless it sets them itself.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PoolDefaults {
    /// `email` or `password`.
    pub invitation: Option<InvitationMode>,
    /// Username template.
    pub username: Option<String>,
    /// Role name or id.
    pub role: Option<String>,
    /// User type id.
    pub user_type: Option<String>,
    /// Group titles.
    pub groups: Option<Vec<String>>,
    /// `none` or `manual`.
    pub approval: Option<ApprovalMode>,
    /// Hold a seat while a request waits for approval.
    pub hold_seat: Option<bool>,
    /// Hours a pending or waitlisted request stays open.
    pub pending_expiry_hours: Option<u32>,
    /// Queue requests for a full pool instead of refusing them.
    pub waitlist: Option<bool>,
    /// Provision at once a request matched only by what the applicant
    /// declared (organization name, `pool` field); default false: such a
    /// request waits for approval.
    pub trust_declared: Option<bool>,
    /// How people are told apart by e-mail (`exact` or `fold_plus_tags`).
    pub email_identity: Option<EmailIdentity>,
    /// The seat's life after sign-up (`[defaults.lifecycle]`), key by key.
    pub lifecycle: Option<LifecycleSpec>,
}

/// One pool as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PoolSpec {
    /// Pool name (a key-safe identifier).
    pub name: String,
    /// Seats the pool may hold at most.
    pub seats: i64,
    /// Role name or id.
    pub role: Option<String>,
    /// User type id (`userLicenseType`).
    pub user_type: Option<String>,
    /// Group titles to add the member to.
    pub groups: Option<Vec<String>>,
    /// How the member gets a password.
    pub invitation: Option<InvitationMode>,
    /// Username template.
    pub username: Option<String>,
    /// `manual`: a person approves each sign-up first (default `none`).
    pub approval: Option<ApprovalMode>,
    /// With approval: hold a seat while the request waits (default true),
    /// so an approval never finds the pool full.
    pub hold_seat: Option<bool>,
    /// Hours a pending or waitlisted request stays open (default 168).
    pub pending_expiry_hours: Option<u32>,
    /// A request for a full pool waits in line (default false: refused).
    pub waitlist: Option<bool>,
    /// Provision at once a request matched only by its organization name
    /// or `pool` field, which the applicant types (default false: such a
    /// request waits for approval).
    pub trust_declared: Option<bool>,
    /// How people are told apart by e-mail: `exact` (default) or
    /// `fold_plus_tags` (`ana+1@x` and `ana+2@x` are one person, one seat).
    pub email_identity: Option<EmailIdentity>,
    /// The seat's life after sign-up (`[pools.lifecycle]`): expiry,
    /// reclaiming idle seats (see [`super::lifecycle`]).
    pub lifecycle: Option<LifecycleSpec>,
    /// What reconciliation may do in this pool (`[pools.reconcile]`).
    pub reconcile: Option<ReconcileSpec>,
    /// This pool's usage alerts (`[pools.alerts]`): its own thresholds.
    pub alerts: Option<PoolAlertsSpec>,
    /// Which requests belong here.
    #[serde(default, rename = "match")]
    pub matcher: MatchSpec,
}

/// `[pools.reconcile]`: what `agol-seat-broker reconcile` may do in the
/// pool beyond repairing the ledger.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReconcileSpec {
    /// Adopt members created outside the broker whose e-mail domain matches
    /// the pool's `email_domains` and whose user type is the pool's: each
    /// takes one of the pool's seats (default false: they are only
    /// reported). Administrators and the broker's own account are never
    /// adopted.
    #[serde(default)]
    pub adopt: bool,
}

/// Matching criteria; any one matching is enough.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MatchSpec {
    /// E-mail domains; `*.example.org` also matches sub-domains.
    #[serde(default)]
    pub email_domains: Vec<String>,
    /// Organization names (case and spacing ignored).
    #[serde(default)]
    pub organizations: Vec<String>,
    /// Values of the request's explicit `pool` field (case ignored).
    #[serde(default)]
    pub pool_field: Vec<String>,
}

/// How a new member gets in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum InvitationMode {
    /// AGOL e-mails an invitation link; the person sets the password.
    Email,
    /// The account is created active with a generated strong password that
    /// is never stored, shown or sent; the portal then e-mails the person a
    /// link to choose their own (`community/users/<u>/reset`). Costs one
    /// more portal call than `Email`.
    Password,
    /// Single sign-on (`invitation = "sso"`): the account is pre-created
    /// for the organization's SAML or OpenID Connect identity provider
    /// (`provider=enterprise`), with the person's e-mail address as its
    /// `idpUsername`; the person signs in through the identity provider and
    /// never has a portal password. The same one portal call as `Email` on
    /// ArcGIS Online (fact sheet §2, `targetUserProvider`); on ArcGIS
    /// Enterprise `createUser` (fact sheet §3).
    Sso,
}

/// Default lifetime of a pending or waitlisted request.
pub const DEFAULT_PENDING_EXPIRY_HOURS: u32 = 168;

/// A pool after checking: everything resolved to portal ids.
#[derive(Debug, Clone)]
pub struct Pool {
    /// Pool name.
    pub id: PoolId,
    /// Seat count.
    pub seats: u32,
    /// Role id.
    pub role: String,
    /// User type id.
    pub user_type: String,
    /// Group titles.
    pub groups: Vec<String>,
    /// Invitation mode.
    pub invitation: InvitationMode,
    /// Username template.
    pub username: UsernameTemplate,
    /// Lower-cased domains; a leading `*.` allows sub-domains.
    pub email_domains: Vec<String>,
    /// Normalised organization names.
    pub organizations: Vec<String>,
    /// Lower-cased pool-field values.
    pub pool_field: Vec<String>,
    /// Approval mode.
    pub approval: ApprovalMode,
    /// Hold a seat while pending.
    pub hold_seat: bool,
    /// How long a pending or waitlisted request stays open.
    pub pending_expiry: std::time::Duration,
    /// Queue requests for a full pool.
    pub waitlist: bool,
    /// Provision requests matched only by what the applicant declared
    /// (organization, `pool` field) without approval.
    pub trust_declared: bool,
    /// How people are told apart by e-mail (the claim's person key).
    pub email_identity: EmailIdentity,
    /// Expiry and reclaiming (`None`: seats last until released).
    pub lifecycle: Option<Lifecycle>,
    /// Reconciliation adopts members made outside the broker that fit the
    /// pool (`[pools.reconcile] adopt`).
    pub adopt_outside: bool,
    /// The percentages of the seats at which an alert is sent (empty:
    /// never).
    pub alert_thresholds: Thresholds,
}

/// A rules file that loaded and passed every check.
#[derive(Debug, Clone)]
pub struct Rules {
    /// Pools in priority order.
    pub pools: Vec<Pool>,
    /// Index into `pools` of the default pool.
    pub default_pool: Option<usize>,
    /// Things that are allowed but worth an operator's look (undocumented
    /// role × type combinations, unreachable pools).
    pub warnings: Vec<String>,
    /// Lower-cased usernames the lifecycle never touches (`[lifecycle]
    /// keep`).
    pub keep: Vec<String>,
    /// The file's alert settings (`[alerts]`); each pool's own thresholds
    /// are in [`Pool::alert_thresholds`].
    pub alerts: Alerts,
}

/// A rules file that cannot be used; lists every problem found.
#[derive(Debug, Clone, thiserror::Error)]
#[error("the rules file is not usable:\n  - {}", .problems.join("\n  - "))]
pub struct RulesError {
    /// One line per problem.
    pub problems: Vec<String>,
}

/// Default username template: the e-mail's local part and the pool, like
/// AGOL's own `<name>_<urlkey>` SAML usernames.
pub const DEFAULT_USERNAME_TEMPLATE: &str = "{email_local}_{pool}";

impl Rules {
    /// Parses and checks TOML text.
    pub fn from_toml(text: &str) -> Result<Rules, RulesError> {
        let file: RulesFile = toml::from_str(text).map_err(|e| RulesError {
            problems: vec![e.to_string().trim().replace('\n', "\n    ")],
        })?;
        Rules::check(file)
    }

    /// Reads and checks a rules file from disk.
    pub fn load(path: &std::path::Path) -> Result<Rules, RulesError> {
        let text = std::fs::read_to_string(path).map_err(|e| RulesError {
            problems: vec![format!("cannot read {}: {e}", path.display())],
        })?;
        Rules::from_toml(&text)
    }

    /// Runs every check on a parsed file.
    pub fn check(file: RulesFile) -> Result<Rules, RulesError> {
        let mut problems = Vec::new();
        let mut warnings = Vec::new();
        let mut pools: Vec<Pool> = Vec::new();
        if file.pools.is_empty() {
            problems.push("no [[pools]] defined".to_string());
        }
        let d = &file.defaults;
        let file_alerts = alerts::resolve_file(&file.alerts, &mut problems);
        for spec in &file.pools {
            let at = format!("pool {:?}", spec.name);
            let id = match PoolId::parse(&spec.name) {
                Ok(id) => Some(id),
                Err(e) => {
                    problems.push(e);
                    None
                }
            };
            if pools.iter().any(|p| p.id.as_str() == spec.name) {
                problems.push(format!("{at}: defined twice"));
            }
            let seats = match u32::try_from(spec.seats) {
                Ok(n) if n > 0 => n,
                _ => {
                    problems.push(format!(
                        "{at}: seats must be a positive whole number (got {})",
                        spec.seats
                    ));
                    0
                }
            };
            let role_raw = spec.role.clone().or_else(|| d.role.clone());
            let role = match role_raw.as_deref() {
                None => {
                    problems.push(format!(
                        "{at}: no role (set `role` on the pool or in [defaults])"
                    ));
                    None
                }
                Some("org_admin") | Some("Administrator") | Some("administrator") => {
                    problems.push(format!(
                        "{at}: role Administrator cannot be given at creation (the portal refuses it); give a lower role and promote by hand"
                    ));
                    None
                }
                Some(r) => match compat::role_id_for(r) {
                    Some(id) => Some(id.to_string()),
                    None if compat::looks_like_custom_role_id(r) => Some(r.to_string()),
                    None => {
                        problems.push(format!(
                            "{at}: unknown role {r:?} (use viewer, data editor, user, publisher, or a 16-character custom role id)"
                        ));
                        None
                    }
                },
            };
            let user_type = match spec.user_type.clone().or_else(|| d.user_type.clone()) {
                None => {
                    problems.push(format!(
                        "{at}: no user_type (set `user_type` on the pool or in [defaults])"
                    ));
                    None
                }
                Some(t) if compat::is_known_user_type(&t) => Some(t),
                Some(t) => {
                    let hint = compat::CURRENT_USER_TYPES
                        .iter()
                        .map(|(id, _)| *id)
                        .chain(compat::LEGACY_USER_TYPES.iter().copied())
                        .find(|id| id.eq_ignore_ascii_case(&t))
                        .map(|id| format!(" (ids are case-sensitive: did you mean {id:?}?)"))
                        .unwrap_or_default();
                    problems.push(format!("{at}: unknown user_type {t:?}{hint}"));
                    None
                }
            };
            if let (Some(role), Some(ut)) = (&role, &user_type) {
                match compat::compatible(role, ut) {
                    Compat::Yes => {}
                    Compat::No => problems.push(format!(
                        "{at}: role {} cannot hold user type {ut} (Viewer fits every type; Data Editor every type but viewerUT; User and Publisher need creatorUT or a GIS Professional type)",
                        role_name(role)
                    )),
                    Compat::Unknown => warnings.push(format!(
                        "{at}: role {} with user type {ut} is not documented; the portal will decide",
                        role_name(role)
                    )),
                }
            }
            let template_raw = spec
                .username
                .clone()
                .or_else(|| d.username.clone())
                .unwrap_or_else(|| DEFAULT_USERNAME_TEMPLATE.to_string());
            let template = match UsernameTemplate::parse(&template_raw) {
                Ok(t) => Some(t),
                Err(e) => {
                    problems.push(format!("{at}: username template: {e}"));
                    None
                }
            };
            let groups: Vec<String> = spec
                .groups
                .clone()
                .or_else(|| d.groups.clone())
                .unwrap_or_default()
                .into_iter()
                .map(|g| g.trim().to_string())
                .collect();
            if groups.iter().any(String::is_empty) {
                problems.push(format!("{at}: a group name is empty"));
            }
            let mut email_domains = Vec::new();
            for dom in &spec.matcher.email_domains {
                let dom = dom.trim().to_ascii_lowercase();
                let bare = dom.strip_prefix("*.").unwrap_or(&dom);
                if bare.is_empty()
                    || !bare.contains('.')
                    || bare.contains('@')
                    || bare.contains('*')
                {
                    problems.push(format!("{at}: {dom:?} is not an e-mail domain"));
                }
                email_domains.push(dom);
            }
            let expiry_hours = spec
                .pending_expiry_hours
                .or(d.pending_expiry_hours)
                .unwrap_or(DEFAULT_PENDING_EXPIRY_HOURS);
            if expiry_hours == 0 {
                problems.push(format!("{at}: pending_expiry_hours must be at least 1"));
            }
            let m = &spec.matcher;
            let matches_nothing =
                m.email_domains.is_empty() && m.organizations.is_empty() && m.pool_field.is_empty();
            if matches_nothing && file.default_pool.as_deref() != Some(&spec.name) {
                warnings.push(format!(
                    "{at}: has no [pools.match] criteria and is not the default pool, so no sign-up can reach it"
                ));
            }
            let approval = spec.approval.or(d.approval).unwrap_or_default();
            let trust_declared = spec.trust_declared.or(d.trust_declared).unwrap_or(false);
            let declared = !m.organizations.is_empty() || !m.pool_field.is_empty();
            if declared && approval == ApprovalMode::None && !trust_declared {
                warnings.push(format!(
                    "{at}: a request matched only by its organization name or pool field (what the applicant types) waits for approval; set trust_declared = true to provision such requests at once"
                ));
            }
            let lifecycle = lifecycle::resolve(
                &at,
                spec.lifecycle.as_ref(),
                d.lifecycle.as_ref(),
                user_type.as_deref(),
                &mut problems,
                &mut warnings,
            );
            let adopt_outside = spec.reconcile.as_ref().is_some_and(|r| r.adopt);
            if adopt_outside && spec.matcher.email_domains.is_empty() {
                problems.push(format!(
                    "{at}: [pools.reconcile] adopt = true needs [pools.match] email_domains (a member is adopted by the domain of its e-mail)"
                ));
            }
            let alert_thresholds =
                alerts::resolve_pool(&at, spec.alerts.as_ref(), &file_alerts, &mut problems);
            if let (Some(id), Some(role), Some(user_type), Some(username)) =
                (id, role, user_type, template)
            {
                pools.push(Pool {
                    id,
                    seats,
                    role,
                    user_type,
                    groups,
                    invitation: spec
                        .invitation
                        .or(d.invitation)
                        .unwrap_or(InvitationMode::Email),
                    username,
                    email_domains,
                    organizations: m.organizations.iter().map(|o| normalise_org(o)).collect(),
                    pool_field: m
                        .pool_field
                        .iter()
                        .map(|p| p.trim().to_lowercase())
                        .collect(),
                    approval,
                    trust_declared,
                    hold_seat: spec.hold_seat.or(d.hold_seat).unwrap_or(true),
                    pending_expiry: std::time::Duration::from_secs(u64::from(expiry_hours) * 3600),
                    waitlist: spec.waitlist.or(d.waitlist).unwrap_or(false),
                    email_identity: spec.email_identity.or(d.email_identity).unwrap_or_default(),
                    lifecycle,
                    adopt_outside,
                    alert_thresholds,
                });
            }
        }
        let default_pool = match &file.default_pool {
            None => None,
            Some(name) => match file.pools.iter().position(|p| &p.name == name) {
                Some(i) => Some(i),
                None => {
                    problems.push(format!("default_pool {name:?} is not a defined pool"));
                    None
                }
            },
        };
        if !problems.is_empty() {
            return Err(RulesError { problems });
        }
        Ok(Rules {
            pools,
            default_pool,
            warnings,
            keep: file
                .lifecycle
                .keep
                .iter()
                .map(|u| u.trim().to_lowercase())
                .filter(|u| !u.is_empty())
                .collect(),
            alerts: file_alerts,
        })
    }

    /// Looks a pool up by name.
    pub fn pool(&self, name: &str) -> Option<&Pool> {
        self.pools.iter().find(|p| p.id.as_str() == name)
    }
}

/// Organization names compare case-insensitively with spacing collapsed.
pub fn normalise_org(s: &str) -> String {
    s.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

fn role_name(id: &str) -> String {
    compat::KNOWN_ROLES
        .iter()
        .find(|(i, _)| *i == id)
        .map(|(_, n)| (*n).to_string())
        .unwrap_or_else(|| id.to_string())
}

#[cfg(test)]
mod tests {

    /// Issue 13: `email_identity` per pool, inherited from `[defaults]`;
    /// an unknown value is refused.
    #[test]
    fn email_identity_is_per_pool_with_a_default() {
        let text = r#"
            [defaults]
            email_identity = "fold_plus_tags"
            [[pools]]
            name = "a"
            seats = 1
            role = "viewer"
            user_type = "viewerUT"
            [pools.match]
            email_domains = ["a.org"]
            [[pools]]
            name = "b"
            seats = 1
            role = "viewer"
            user_type = "viewerUT"
            email_identity = "exact"
            [pools.match]
            email_domains = ["b.org"]
        "#;
        let r = Rules::from_toml(text).unwrap();
        assert_eq!(r.pools[0].email_identity, EmailIdentity::FoldPlusTags);
        assert_eq!(r.pools[1].email_identity, EmailIdentity::Exact);
        let plain =
            Rules::from_toml(&text.replace("email_identity = \"fold_plus_tags\"", "")).unwrap();
        assert_eq!(plain.pools[0].email_identity, EmailIdentity::Exact);
        let bad = Rules::from_toml(&text.replace("\"exact\"", "\"gmail\""));
        assert!(bad.is_err());
    }

    use super::*;

    const GOOD: &str = r#"
        default_pool = "public"
        [defaults]
        invitation = "email"
        [[pools]]
        name = "acme"
        seats = 150
        role = "viewer"
        user_type = "viewerUT"
        groups = ["Partners"]
        [pools.match]
        email_domains = ["acme.org", "*.acme.org"]
        [[pools]]
        name = "public"
        seats = 10
        role = "user"
        user_type = "creatorUT"
        invitation = "password"
    "#;

    #[test]
    fn a_good_file_loads_with_roles_resolved() {
        let r = Rules::from_toml(GOOD).unwrap();
        assert_eq!(r.pools.len(), 2);
        assert_eq!(r.pools[0].role, "iAAAAAAAAAAAAAAA");
        assert_eq!(r.pools[1].role, "org_user");
        assert_eq!(r.pools[1].invitation, InvitationMode::Password);
        assert_eq!(r.default_pool, Some(1));
    }

    #[test]
    fn alert_thresholds_default_to_80_95_100_and_a_pool_may_set_or_silence_its_own() {
        let r = Rules::from_toml(GOOD).unwrap();
        assert_eq!(r.pools[0].alert_thresholds, Thresholds::default());
        assert_eq!(r.alerts.user_types, Thresholds::default());
        let text = format!(
            "{GOOD}\n[pools.alerts]\nthresholds = []\n[alerts]\nthresholds = [50, 100]\nuser_type_thresholds = []\n"
        );
        let r = Rules::from_toml(&text).unwrap();
        assert_eq!(r.pools[0].alert_thresholds.as_slice(), [50, 100]);
        assert!(r.pools[1].alert_thresholds.is_empty());
        assert!(r.alerts.user_types.is_empty());
    }

    #[test]
    fn bad_alert_thresholds_refuse_to_start_naming_the_section() {
        let text = format!(
            "{GOOD}\n[pools.alerts]\nthresholds = [95, 80]\n[alerts]\nthresholds = [80, 101]\n"
        );
        let s = Rules::from_toml(&text).unwrap_err().to_string();
        assert!(
            s.contains("[alerts] thresholds: 101 is not a percentage from 1 to 100"),
            "{s}"
        );
        assert!(
            s.contains("[pools.alerts] thresholds: thresholds must be in ascending order without repeats, but 80 follows 95"),
            "{s}"
        );
        let s = Rules::from_toml(&format!("{GOOD}\n[alerts]\nthreshold = [80]\n"))
            .unwrap_err()
            .to_string();
        assert!(s.contains("unknown field `threshold`"), "{s}");
    }

    #[test]
    fn incompatible_role_and_type_refuse_to_start() {
        let text = GOOD.replace(r#"role = "viewer""#, r#"role = "user""#);
        let err = Rules::from_toml(&text).unwrap_err();
        assert!(
            err.to_string().contains("cannot hold user type viewerUT"),
            "{err}"
        );
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let text = r#"
            default_pool = "nope"
            [[pools]]
            name = "a"
            seats = 0
            role = "wizard"
            user_type = "CreatorUT"
        "#;
        let err = Rules::from_toml(text).unwrap_err();
        let s = err.to_string();
        assert!(s.contains("seats must be a positive"), "{s}");
        assert!(s.contains("unknown role \"wizard\""), "{s}");
        assert!(s.contains("did you mean \"creatorUT\""), "{s}");
        assert!(s.contains("default_pool \"nope\""), "{s}");
    }

    #[test]
    fn typos_in_keys_are_caught() {
        let text = GOOD.replace("seats = 150", "seat = 150");
        let err = Rules::from_toml(&text).unwrap_err();
        assert!(err.to_string().contains("seat"), "{err}");
    }

    #[test]
    fn administrator_role_and_negative_seats_are_refused() {
        let text = GOOD
            .replace(r#"role = "user""#, r#"role = "org_admin""#)
            .replace("seats = 150", "seats = -3");
        let s = Rules::from_toml(&text).unwrap_err().to_string();
        assert!(s.contains("Administrator cannot be given"), "{s}");
        assert!(s.contains("got -3"), "{s}");
    }
}
