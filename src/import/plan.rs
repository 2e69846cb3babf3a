//! One row → what the import will do with it: create a member, update the
//! fields that differ, leave it unchanged, or refuse it with a stable code.
//! The row's cells are checked first (`row`); this file plans.
//!
//! Pure: it reads the row and the snapshots taken before validation
//! ([`OrgView`], [`SeatView`]) and never the portal or the ledger, so the
//! validation pass and the execution pass reach the same decision for the
//! same row. Checks that span rows (duplicates, pool capacity) live in
//! `validate`.

use std::collections::{BTreeMap, HashMap};

use csv::StringRecord;
use sha2::{Digest, Sha256};

use crate::domain::EmailIdentity;
use crate::domain::compat::{self, Compat};
use crate::domain::{ApprovalMode, ClaimKey, DeliveryKey, Overrides, PoolId, SignupRequest};
use crate::policy::{Policy, Rules};
use crate::portal::ProfileUpdate;

use super::layout::{Column, Layout};
use super::org::{OrgView, SeatView};
use super::row::{RowError, RowSpec, parse_row, render_errors};

/// The base role a new Administrator is created with; promoted right after
/// (the portal refuses `org_admin` in an invitation, fact sheet §2).
pub const ADMIN_CREATED_AS: &str = "org_publisher";

/// What to do with a valid row.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// A new member, through the seat ledger.
    Create(Box<Create>),
    /// An existing member, only the fields that differ.
    Update(Box<Update>),
    /// Nothing differs.
    Unchanged {
        /// The member's username.
        username: String,
    },
    /// A row whose every cell is empty (spreadsheets leave them behind).
    Empty,
}

/// A member to create.
#[derive(Debug, Clone, PartialEq)]
pub struct Create {
    /// The sign-up handed to the workflow.
    pub request: SignupRequest,
    /// The row's values that win over the pool's.
    pub overrides: Overrides,
    /// `import:<file hash>:<row>`.
    pub delivery: DeliveryKey,
    /// Hash of the row's cells (a changed row under the same key is refused).
    pub payload_hash: String,
    /// The pool the rules chose.
    pub pool: PoolId,
    /// False when the person already holds a (reserved) claim in the pool,
    /// e.g. from an interrupted run: no new seat is counted.
    pub needs_seat: bool,
    /// Role Administrator: created as [`ADMIN_CREATED_AS`], then promoted.
    pub promote_to_admin: bool,
    /// Fields the invitation cannot carry, set right after creation.
    pub after: ProfileUpdate,
    /// Effective role and user type (for the report).
    pub role: String,
    /// Effective user type.
    pub user_type: String,
}

/// Changes to an existing member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Update {
    /// The member's username as the portal has it (never changed).
    pub username: String,
    /// The names of the changed fields, for the report.
    pub fields: Vec<&'static str>,
    /// E-mail, names, access, Esri access.
    pub profile: ProfileUpdate,
    /// New role id.
    pub role: Option<String>,
    /// New user type id.
    pub user_type: Option<String>,
    /// Apply the role before the user type (a lower role first; a higher
    /// user type before a higher role).
    pub role_first: bool,
    /// Groups to add, `(id, title)`.
    pub add_groups: Vec<(String, String)>,
    /// What happens in the ledger.
    pub seat: SeatChange,
    /// Seats kept under another e-mail than the member's new one, to move
    /// once the portal has it: `(claim key, claim id, new person key)`, the
    /// new key as the seat's pool tells people apart (`email_identity`).
    pub rekey: Vec<(ClaimKey, String, String)>,
    /// The member's e-mail after the update, lower-cased (the ledger's
    /// person key).
    pub person: String,
}

/// The ledger side of an update.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SeatChange {
    /// Nothing to do.
    None,
    /// The user type changes but the member holds no seat in the ledger
    /// (not managed by the broker): only the portal changes.
    Untracked,
    /// The user type changes, no pool of the new type accepts the person:
    /// the seat stays where it is.
    Stays {
        /// The pool that keeps the seat.
        pool: PoolId,
    },
    /// Move the seat: take one in `to` (unless `reserve` is false because
    /// the person already holds it), then give back every seat in `from`.
    Move {
        /// The pool whose user type the member gets.
        to: PoolId,
        /// Its capacity.
        to_capacity: u32,
        /// Whether a seat must be reserved in `to`.
        reserve: bool,
        /// Seats to give back once the portal has the new type:
        /// `(claim key, claim id)`.
        from: Vec<(ClaimKey, String)>,
        /// The person key for the new claim (lower-cased e-mail).
        person: String,
    },
}

impl SeatChange {
    /// The pool that gains a seat, if a new one is taken.
    pub fn new_seat(&self) -> Option<&PoolId> {
        match self {
            SeatChange::Move {
                to, reserve: true, ..
            } => Some(to),
            _ => None,
        }
    }
}

/// A row's plan: its 1-based data row number, the username as written, and
/// the action or the reasons it is refused.
#[derive(Debug, Clone, PartialEq)]
pub struct RowPlan {
    /// 1-based data row (the header is row 0).
    pub row: u64,
    /// The `username` cell as written.
    pub username: String,
    /// The `email` cell, lower-cased (for the duplicate check).
    pub email_key: String,
    /// What to do, or why not.
    pub action: Result<Action, Vec<RowError>>,
}

impl RowPlan {
    /// The report line of a plan (dry run): outcome and message.
    pub fn describe(&self) -> (&'static str, String) {
        match &self.action {
            Ok(Action::Create(c)) => (
                "create",
                format!(
                    "pool {}, role {}, user type {}{}",
                    c.pool,
                    c.role,
                    c.user_type,
                    if c.needs_seat {
                        ""
                    } else {
                        " (seat already reserved)"
                    }
                ),
            ),
            Ok(Action::Update(u)) => ("update", describe_update(u)),
            Ok(Action::Unchanged { .. }) => ("unchanged", String::new()),
            Ok(Action::Empty) => ("skipped", "empty row".to_string()),
            Err(errors) => ("error", render_errors(errors)),
        }
    }
}

/// `changes: email, role; seat moves to pool x`.
pub fn describe_update(u: &Update) -> String {
    let mut s = format!("changes: {}", u.fields.join(", "));
    match &u.seat {
        SeatChange::None => {}
        SeatChange::Untracked => {
            s.push_str("; the member holds no seat in the ledger, so no pool is counted")
        }
        SeatChange::Stays { pool } => s.push_str(&format!(
            "; the seat stays in pool {pool} (no pool of the new user type accepts this person)"
        )),
        SeatChange::Move { to, reserve, .. } => {
            if *reserve {
                s.push_str(&format!("; the seat moves to pool {to}"));
            } else {
                s.push_str(&format!("; seats outside pool {to} are given back"));
            }
        }
    }
    s
}

/// Everything a row is checked against; built once per import.
pub struct Context {
    /// Where the columns are.
    pub layout: Layout,
    /// The organization.
    pub org: OrgView,
    /// The ledger.
    pub seats: SeatView,
    /// The policy new members go through (one pool only with `--pool`).
    policy: Policy,
    /// Per user type: the rules restricted to pools of that type (where a
    /// member's seat goes when their user type changes).
    by_type: HashMap<String, Policy>,
    /// Every pool's user type.
    pool_types: HashMap<PoolId, String>,
    /// How every pool tells people apart by e-mail (its seats' person keys).
    pool_identities: HashMap<PoolId, EmailIdentity>,
    /// `--pool`.
    forced_pool: Option<String>,
    /// Short hash of the file's content, for delivery keys.
    pub file_hash: String,
    /// Rows may create or promote administrators
    /// ([`ImportOptions::allow_admin_roles`](super::ImportOptions::allow_admin_roles)).
    allow_admin_roles: bool,
}

impl Context {
    /// How `pool` tells people apart by e-mail (a pool the rules no longer
    /// name: exactly, as before the setting existed).
    fn email_identity(&self, pool: &PoolId) -> EmailIdentity {
        self.pool_identities.get(pool).copied().unwrap_or_default()
    }

    /// Builds the context. `forced_pool` must name a pool of `rules`.
    pub fn new(
        layout: Layout,
        org: OrgView,
        seats: SeatView,
        rules: &Rules,
        forced_pool: Option<&str>,
        file_hash: String,
    ) -> Result<Context, String> {
        let policy = match forced_pool {
            None => Policy::new(rules.clone()),
            Some(name) => Policy::new(only_pool(rules, name)?),
        };
        let mut by_type = HashMap::new();
        let mut types: Vec<&str> = rules.pools.iter().map(|p| p.user_type.as_str()).collect();
        types.sort_unstable();
        types.dedup();
        for t in types {
            let forced_fits = forced_pool
                .and_then(|f| rules.pool(f))
                .is_some_and(|p| p.user_type == t);
            let restricted = if forced_fits {
                only_pool(rules, forced_pool.unwrap_or_default())?
            } else {
                restrict(rules, |p| p.user_type == t)
            };
            by_type.insert(t.to_string(), Policy::new(restricted));
        }
        Ok(Context {
            layout,
            org,
            seats,
            policy,
            by_type,
            pool_types: rules
                .pools
                .iter()
                .map(|p| (p.id.clone(), p.user_type.clone()))
                .collect(),
            pool_identities: rules
                .pools
                .iter()
                .map(|p| (p.id.clone(), p.email_identity))
                .collect(),
            forced_pool: forced_pool.map(str::to_string),
            file_hash,
            allow_admin_roles: false,
        })
    }

    /// Lets rows create or promote organization administrators (refused by
    /// default: `admin_role_not_allowed`).
    pub fn with_admin_roles(mut self, allow: bool) -> Self {
        self.allow_admin_roles = allow;
        self
    }

    /// The policy new members go through.
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// Checks one record and decides what to do with it.
    pub fn plan(&self, row: u64, record: &StringRecord) -> RowPlan {
        let l = &self.layout;
        let username = l.get(record, Column::Username).unwrap_or("").to_string();
        let email_key = l.get(record, Column::Email).unwrap_or("").to_lowercase();
        let action = self
            .parse(record)
            .and_then(|spec| self.plan_row(row, record, spec));
        RowPlan {
            row,
            username,
            email_key,
            action,
        }
    }

    /// Per-row checks of the cells ([`parse_row`] against this import's
    /// layout and organization).
    pub fn parse(&self, record: &StringRecord) -> Result<RowSpec, Vec<RowError>> {
        parse_row(&self.layout, &self.org, record)
    }

    /// New member or existing one, and what changes.
    fn plan_row(
        &self,
        row: u64,
        record: &StringRecord,
        spec: RowSpec,
    ) -> Result<Action, Vec<RowError>> {
        match self.org.member(spec.username.as_str()) {
            Some(_) => self.update(spec),
            None => self.create(row, record, spec),
        }
    }

    fn create(
        &self,
        row: u64,
        record: &StringRecord,
        spec: RowSpec,
    ) -> Result<Action, Vec<RowError>> {
        let request = SignupRequest {
            email: spec.email.clone(),
            first_name: spec.first_name.clone(),
            last_name: spec.last_name.clone(),
            username: Some(spec.username.clone()),
            organization: None,
            pool: self.forced_pool.clone(),
            attributes: BTreeMap::new(),
        };
        // A row that names its user type goes to a pool of that type when
        // one accepts the person (so a seat is always counted in a pool of
        // the member's type); otherwise the rules decide as for a sign-up.
        let typed = match (&self.forced_pool, &spec.user_type) {
            (None, Some(t)) => self.by_type.get(t).and_then(|p| p.grant(&request).ok()),
            _ => None,
        };
        let grant = match typed {
            Some(d) => Ok(d),
            None => self.policy.grant(&request),
        }
        .map_err(|_| {
            vec![RowError::new(
                "no_matching_pool",
                format!(
                    "no pool of the rules accepts {} (e-mail domain); name one with --pool",
                    spec.email
                ),
            )]
        })?;
        let mut errors = Vec::new();
        if let Some(asked) = &spec.role {
            errors.extend(self.admin_refused(asked));
        }
        let role = spec.role.clone().unwrap_or_else(|| grant.role.clone());
        let user_type = spec
            .user_type
            .clone()
            .unwrap_or_else(|| grant.user_type.clone());
        if compat::compatible(&role, &user_type) == Compat::No {
            errors.push(incompatible(&self.org, &role, &user_type));
        }
        let group_titles = match &spec.groups {
            Some(g) => g.iter().map(|(_, t)| t.clone()).collect(),
            None => {
                // The pool's groups must exist too, or every creation fails.
                let missing: Vec<String> = grant
                    .groups
                    .iter()
                    .filter(|g| self.org.group_id(g).is_none())
                    .map(|g| format!("{g:?}"))
                    .collect();
                if !missing.is_empty() {
                    errors.push(RowError::new(
                        "unknown_group",
                        format!(
                            "pool {}'s group {} does not exist in the organization",
                            grant.pool,
                            missing.join(", ")
                        ),
                    ));
                }
                grant.groups.clone()
            }
        };
        let needs_seat = match self
            .seats
            .claim(&grant.pool, &grant.person_key(&spec.email))
        {
            None => true,
            Some(held) if held.state == crate::seats::ClaimState::Reserved => false,
            Some(held) => {
                errors.push(RowError::new(
                    "already_member",
                    format!(
                        "{} already holds a seat in pool {} as {}",
                        spec.email.key(),
                        grant.pool,
                        held.username.as_deref().unwrap_or("?")
                    ),
                ));
                false
            }
        };
        if !errors.is_empty() {
            return Err(errors);
        }
        let promote_to_admin = role == "org_admin";
        let after = ProfileUpdate {
            full_name: spec.full_name.clone(),
            access: spec.access.clone(),
            user_type: spec.esri_access.clone(),
            ..ProfileUpdate::default()
        };
        Ok(Action::Create(Box::new(Create {
            overrides: Overrides {
                role: Some(if promote_to_admin {
                    ADMIN_CREATED_AS.to_string()
                } else {
                    role.clone()
                }),
                user_type: Some(user_type.clone()),
                groups: Some(group_titles),
                exact_username: true,
                // The administrator's file is the approval.
                approval: Some(ApprovalMode::None),
            },
            delivery: DeliveryKey {
                source: "import".into(),
                id: format!("{}:{row}", self.file_hash),
            },
            payload_hash: record_hash(record),
            pool: grant.pool,
            needs_seat,
            promote_to_admin,
            after,
            role: self.org.role_label(&role).to_string(),
            user_type,
            request,
        })))
    }

    fn update(&self, spec: RowSpec) -> Result<Action, Vec<RowError>> {
        let Some(m) = self.org.member(spec.username.as_str()) else {
            return Err(vec![RowError::new("internal", "member vanished")]);
        };
        let mut fields = Vec::new();
        let mut profile = ProfileUpdate::default();
        let differs = |new: &Option<String>, old: &Option<String>| match new {
            Some(n) => old.as_deref() != Some(n.as_str()),
            None => false,
        };
        let email_key = spec.email.key();
        if m.email.as_deref().map(str::to_lowercase).as_deref() != Some(email_key.as_str()) {
            fields.push("email");
            profile.email = Some(spec.email.as_str().to_string());
        }
        if differs(&spec.first_name, &m.first_name) {
            fields.push("firstName");
            profile.first_name = spec.first_name.clone();
        }
        if differs(&spec.last_name, &m.last_name) {
            fields.push("lastName");
            profile.last_name = spec.last_name.clone();
        }
        if differs(&spec.full_name, &m.full_name) {
            fields.push("fullName");
            profile.full_name = spec.full_name.clone();
        }
        if differs(&spec.access, &m.access) {
            fields.push("access");
            profile.access = spec.access.clone();
        }
        if differs(&spec.esri_access, &m.esri_access) {
            fields.push("userType");
            profile.user_type = spec.esri_access.clone();
        }
        let old_role = m.role.clone().unwrap_or_default();
        let old_type = m.user_type.clone().unwrap_or_default();
        let role = spec.role.clone().filter(|r| *r != old_role);
        if let Some(refused) = role.as_deref().and_then(|r| self.admin_refused(r)) {
            return Err(vec![refused]);
        }
        let user_type = spec.user_type.clone().filter(|t| *t != old_type);
        if role.is_some() {
            fields.push("role");
        }
        if user_type.is_some() {
            fields.push("userLicenseTypeId");
        }
        let new_role = role.clone().unwrap_or_else(|| old_role.clone());
        let new_type = user_type.clone().unwrap_or_else(|| old_type.clone());
        if (role.is_some() || user_type.is_some())
            && compat::compatible(&new_role, &new_type) == Compat::No
        {
            return Err(vec![incompatible(&self.org, &new_role, &new_type)]);
        }
        let role_first = match (&role, &user_type) {
            (Some(r), Some(t)) => role_goes_first(&old_role, &old_type, r, t),
            _ => true,
        };
        let add_groups: Vec<(String, String)> = spec
            .groups
            .iter()
            .flatten()
            .filter(|(id, _)| !m.group_ids.contains(id))
            .cloned()
            .collect();
        if !add_groups.is_empty() {
            fields.push("groups");
        }
        let seat = self.seat_change(m, &spec, &new_type, user_type.is_some())?;
        if matches!(seat, SeatChange::Move { .. }) && user_type.is_none() {
            fields.push("seat");
        }
        // Seats follow the e-mail (the ledger's person key), so a sign-up
        // under the new e-mail finds the seat instead of taking a second one.
        // Seats a move gives back are left to it.
        let released: Vec<&str> = match &seat {
            SeatChange::Move { from, .. } => from.iter().map(|(_, id)| id.as_str()).collect(),
            _ => Vec::new(),
        };
        let rekey: Vec<(ClaimKey, String, String)> = self
            .seats
            .seats_of(&m.username)
            .iter()
            .map(|h| (h, spec.email.key_as(self.email_identity(&h.key.pool))))
            .filter(|(h, person)| {
                &h.key.person != person && !released.contains(&h.claim_id.as_str())
            })
            .map(|(h, person)| (h.key.clone(), h.claim_id.clone(), person))
            .collect();
        // A seat can only follow the e-mail to where the person has none:
        // otherwise one person would hold two accounts. Refused before
        // anything is written; the administrator releases one first.
        for (key, id, person) in &rekey {
            if let Some(other) = self
                .seats
                .claim(&key.pool, person)
                .filter(|o| &o.claim_id != id)
            {
                return Err(vec![RowError::new(
                    "email_holds_seat",
                    format!(
                        "{person} already holds a seat in pool {} as {}: moving {}'s seat to it would give one person two accounts; release one first",
                        key.pool,
                        other.username.as_deref().unwrap_or("a reservation"),
                        m.username
                    ),
                )]);
            }
        }
        // (With the e-mail itself changing, the move goes without saying;
        // without, an earlier run changed the portal but not the ledger.)
        if !rekey.is_empty() && !fields.contains(&"email") && !fields.contains(&"seat") {
            fields.push("seat");
        }
        if fields.is_empty() {
            return Ok(Action::Unchanged {
                username: m.username.clone(),
            });
        }
        Ok(Action::Update(Box::new(Update {
            username: m.username.clone(),
            fields,
            profile,
            role,
            user_type,
            role_first,
            add_groups,
            seat,
            rekey,
            person: email_key,
        })))
    }

    /// A row asking for an administrator role (`org_admin`, or a custom
    /// role whose name says admin: the role's privileges are not read), when
    /// the run does not allow it: a file in the import bucket must not be
    /// able to make organization administrators.
    fn admin_refused(&self, role: &str) -> Option<RowError> {
        if self.allow_admin_roles || !is_admin_role(&self.org, role) {
            return None;
        }
        Some(RowError::new(
            "admin_role_not_allowed",
            format!(
                "role {} makes an organization administrator: an import gives administrator roles only when run with --allow-admin-roles (IMPORT_ALLOW_ADMIN_ROLES=true for the import function)",
                self.org.role_label(role)
            ),
        ))
    }

    /// Where the member's seat must be once their user type is `new_type`.
    fn seat_change(
        &self,
        m: &crate::portal::Member,
        spec: &RowSpec,
        new_type: &str,
        type_changes: bool,
    ) -> Result<SeatChange, Vec<RowError>> {
        let held = self.seats.seats_of(&m.username);
        if held.is_empty() {
            return Ok(if type_changes {
                SeatChange::Untracked
            } else {
                SeatChange::None
            });
        }
        let pool_type = |p: &PoolId| self.pool_types.get(p).map(String::as_str).unwrap_or("");
        let in_type: Vec<_> = held
            .iter()
            .filter(|s| pool_type(&s.key.pool) == new_type)
            .collect();
        let others: Vec<(ClaimKey, String)> = held
            .iter()
            .filter(|s| pool_type(&s.key.pool) != new_type)
            .map(|s| (s.key.clone(), s.claim_id.clone()))
            .collect();
        if let Some(kept) = in_type.first() {
            // Already holds a seat of the right type (an interrupted move):
            // give back the others.
            if others.is_empty() {
                return Ok(SeatChange::None);
            }
            let (cap, _) = self.seats.usage(&kept.key.pool);
            return Ok(SeatChange::Move {
                to: kept.key.pool.clone(),
                to_capacity: cap,
                reserve: false,
                from: others,
                person: kept.key.person.clone(),
            });
        }
        if !type_changes {
            // The member's type does not match any pool they hold a seat in,
            // and the file does not change it: leave the ledger alone.
            return Ok(SeatChange::None);
        }
        let request = SignupRequest {
            email: spec.email.clone(),
            first_name: m.first_name.clone(),
            last_name: m.last_name.clone(),
            username: Some(spec.username.clone()),
            organization: None,
            pool: self.forced_pool.clone(),
            attributes: BTreeMap::new(),
        };
        let Some(target) = self
            .by_type
            .get(new_type)
            .and_then(|p| p.grant(&request).ok())
        else {
            return Ok(SeatChange::Stays {
                pool: held[0].key.pool.clone(),
            });
        };
        let person = target.person_key(&spec.email);
        Ok(SeatChange::Move {
            to: target.pool,
            to_capacity: target.capacity,
            reserve: true,
            from: others,
            // The new seat is the person's under their (new) e-mail.
            person,
        })
    }
}

/// Whether to change the role before the user type: a lower role goes
/// first (so the member never holds a role their new, lower type cannot
/// carry); otherwise the higher user type goes first. When the rank rule's
/// intermediate state is documented as incompatible, the other order is
/// taken.
pub fn role_goes_first(old_role: &str, old_type: &str, new_role: &str, new_type: &str) -> bool {
    let role_first_ok = compat::compatible(new_role, old_type) != Compat::No;
    let type_first_ok = compat::compatible(old_role, new_type) != Compat::No;
    match (role_first_ok, type_first_ok) {
        (true, false) => true,
        (false, true) => false,
        _ => compat::role_rank(new_role) < compat::role_rank(old_role),
    }
}

/// Whether a role id is an administrator role: the built-in
/// Administrator (`org_admin`), or a custom role whose name says so
/// ("admin" in any case; custom roles built on the Administrator template
/// usually are, and the listing does not carry their privileges).
pub fn is_admin_role(org: &OrgView, role_id: &str) -> bool {
    role_id == "org_admin"
        || org
            .role_label(role_id)
            .to_ascii_lowercase()
            .contains("admin")
}

fn incompatible(org: &OrgView, role: &str, user_type: &str) -> RowError {
    RowError::new(
        "incompatible_role",
        format!(
            "role {} cannot hold user type {user_type} (Viewer fits every type; Data Editor every type but viewerUT; User, Publisher and Administrator need creatorUT or a GIS Professional type)",
            org.role_label(role)
        ),
    )
}

/// The rules with only the pools `keep` accepts; the default pool is kept
/// when it is one of them.
fn restrict(rules: &Rules, keep: impl Fn(&crate::policy::Pool) -> bool) -> Rules {
    let mut pools = Vec::new();
    let mut default_pool = None;
    for (i, p) in rules.pools.iter().enumerate() {
        if keep(p) {
            if rules.default_pool == Some(i) {
                default_pool = Some(pools.len());
            }
            pools.push(p.clone());
        }
    }
    Rules {
        pools,
        default_pool,
        warnings: Vec::new(),
        keep: rules.keep.clone(),
        alerts: rules.alerts.clone(),
    }
}

/// The rules with one pool, which takes every request (`--pool`, and the
/// workflow of each pool during the import).
pub fn only_pool(rules: &Rules, name: &str) -> Result<Rules, String> {
    let pool = rules.pool(name).ok_or_else(|| {
        format!(
            "--pool {name:?} is not a pool of the rules (pools: {})",
            rules
                .pools
                .iter()
                .map(|p| p.id.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )
    })?;
    Ok(Rules {
        pools: vec![pool.clone()],
        default_pool: Some(0),
        warnings: Vec::new(),
        keep: rules.keep.clone(),
        alerts: rules.alerts.clone(),
    })
}

/// SHA-256 of a row's cells (unit-separated), hex, 32 characters.
pub fn record_hash(record: &StringRecord) -> String {
    let mut h = Sha256::new();
    for cell in record {
        h.update(cell.as_bytes());
        h.update([0x1f]);
    }
    hex32(&h.finalize())
}

pub(crate) fn hex32(bytes: &[u8]) -> String {
    bytes.iter().take(16).map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::portal::{Member, Role};

    const RULES: &str = r#"
        [[pools]]
        name = "viewers"
        seats = 10
        role = "viewer"
        user_type = "viewerUT"
        [pools.match]
        email_domains = ["acme.org"]
        [[pools]]
        name = "creators"
        seats = 2
        role = "user"
        user_type = "creatorUT"
        [pools.match]
        email_domains = ["acme.org"]
    "#;

    fn ctx(header: &[&str], members: Vec<Member>) -> Context {
        let rules = Rules::from_toml(RULES).unwrap();
        let roles = [
            ("org_admin", "Administrator"),
            ("org_publisher", "Publisher"),
            ("org_user", "User"),
            ("iAAAAAAAAAAAAAAA", "Viewer"),
            ("iBBBBBBBBBBBBBBB", "Data Editor"),
        ]
        .map(|(id, name)| Role {
            id: id.into(),
            name: name.into(),
            privileges: None,
        })
        .to_vec();
        let org = OrgView::new(
            "ORG".into(),
            members,
            roles,
            vec![("g1".into(), "Partners".into())],
        );
        let layout = Layout::from_header(&StringRecord::from(header.to_vec())).unwrap();
        Context::new(layout, org, SeatView::default(), &rules, None, "h".into()).unwrap()
    }

    fn row(cells: &[&str]) -> StringRecord {
        StringRecord::from(cells.to_vec())
    }

    /// Issue 13: a file cannot make an administrator (create one, or
    /// promote a member) unless the run allows it explicitly.
    #[test]
    fn administrator_roles_are_refused_unless_the_run_allows_them() {
        let m = Member {
            username: "Ana_Acme".into(),
            email: Some("ana@acme.org".into()),
            org_id: Some("ORG".into()),
            role: Some("org_publisher".into()),
            user_type: Some("creatorUT".into()),
            ..Member::default()
        };
        let header = ["username", "email", "role", "roleid", "userLicenseTypeId"];
        let mut refused = ctx(&header, vec![m.clone()]);
        refused.org = OrgView::new(
            "ORG".into(),
            vec![m.clone()],
            [
                ("org_admin", "Administrator"),
                ("org_publisher", "Publisher"),
                ("iAAAAAAAAAAAAAAA", "Viewer"),
                ("cUsToMaDmInRoLe1", "GIS Admins"),
            ]
            .map(|(id, name)| Role {
                id: id.into(),
                name: name.into(),
                privileges: None,
            })
            .to_vec(),
            vec![],
        );
        let codes = |c: &Context, cells: &[&str]| match c.plan(1, &row(cells)).action {
            Ok(Action::Create(cr)) => format!("create {}", cr.promote_to_admin),
            Ok(Action::Update(u)) => format!("update {:?}", u.role),
            Ok(other) => format!("{other:?}"),
            Err(e) => e.iter().map(|e| e.code).collect::<Vec<_>>().join(","),
        };
        let rows: [&[&str]; 5] = [
            &["new_admin", "n@acme.org", "Administrator", "", "creatorUT"],
            &["new_admin", "n@acme.org", "", "org_admin", "creatorUT"],
            &["new_admin", "n@acme.org", "GIS Admins", "", "creatorUT"],
            &["ana_acme", "ana@acme.org", "Administrator", "", ""],
            &["new_viewer", "v@acme.org", "Viewer", "", ""],
        ];
        let got: Vec<String> = rows.iter().map(|r| codes(&refused, r)).collect();
        assert_eq!(
            got,
            [
                "admin_role_not_allowed",
                "admin_role_not_allowed",
                "admin_role_not_allowed",
                "admin_role_not_allowed",
                "create false",
            ]
        );
        let msg = refused.plan(1, &row(rows[0])).action.unwrap_err()[0]
            .message
            .clone();
        assert!(
            msg.contains("--allow-admin-roles") && msg.contains("IMPORT_ALLOW_ADMIN_ROLES"),
            "{msg}"
        );
        // An existing administrator named as one changes nothing.
        let admin = Member {
            role: Some("org_admin".into()),
            ..m.clone()
        };
        let mut same = ctx(&header, vec![admin.clone()]);
        same.org = OrgView::new(
            "ORG".into(),
            vec![admin],
            vec![Role {
                id: "org_admin".into(),
                name: "Administrator".into(),
                privileges: None,
            }],
            vec![],
        );
        assert_eq!(
            codes(
                &same,
                &["ana_acme", "ana@acme.org", "Administrator", "", ""]
            ),
            "Unchanged { username: \"Ana_Acme\" }"
        );

        let allowed = Context {
            allow_admin_roles: true,
            ..refused
        };
        let got: Vec<String> = rows.iter().map(|r| codes(&allowed, r)).collect();
        assert_eq!(
            got,
            [
                "create true",
                "create true",
                "create false",
                "update Some(\"org_admin\")",
                "create false",
            ]
        );
    }

    #[test]
    fn a_lower_role_goes_before_a_lower_type_and_a_higher_type_before_a_higher_role() {
        // Publisher + Creator → Viewer + viewerUT: the role first.
        assert!(role_goes_first(
            "org_publisher",
            "creatorUT",
            "iAAAAAAAAAAAAAAA",
            "viewerUT"
        ));
        // Viewer + viewerUT → Publisher + Creator: the type first.
        assert!(!role_goes_first(
            "iAAAAAAAAAAAAAAA",
            "viewerUT",
            "org_publisher",
            "creatorUT"
        ));
        // Data Editor + editorUT → User + Creator: the type first.
        assert!(!role_goes_first(
            "iBBBBBBBBBBBBBBB",
            "editorUT",
            "org_user",
            "creatorUT"
        ));
    }

    #[test]
    fn a_row_naming_a_user_type_lands_in_a_pool_of_that_type() {
        let c = ctx(&["username", "email", "userLicenseTypeId"], vec![]);
        let plan = |cells: &[&str]| match c.plan(1, &row(cells)).action {
            Ok(Action::Create(cr)) => (cr.pool.to_string(), cr.user_type, cr.role),
            other => panic!("{other:?}"),
        };
        assert_eq!(
            plan(&["maker_acme", "m@acme.org", "creatorUT"]),
            ("creators".into(), "creatorUT".into(), "User".into())
        );
        assert_eq!(
            plan(&["viewer_acme", "v@acme.org", ""]),
            ("viewers".into(), "viewerUT".into(), "Viewer".into())
        );
        // No pool of that type: the rules decide, the row's type wins.
        assert_eq!(
            plan(&["editor_acme", "e@acme.org", "editorUT"]).0,
            "viewers"
        );
    }

    #[test]
    fn level_alone_names_a_type_and_must_agree_with_the_type_id() {
        let c = ctx(&["username", "email", "level", "userLicenseTypeId"], vec![]);
        let spec = c.parse(&row(&["lvl_user", "l@acme.org", "2", ""])).unwrap();
        assert_eq!(spec.user_type.as_deref(), Some("creatorUT"));
        let spec = c
            .parse(&row(&[
                "lvl_user",
                "l@acme.org",
                "2",
                "GISProfessionalStdUT",
            ]))
            .unwrap();
        assert_eq!(spec.user_type.as_deref(), Some("GISProfessionalStdUT"));
        let err = c
            .parse(&row(&["lvl_user", "l@acme.org", "2", "viewerUT"]))
            .unwrap_err();
        assert_eq!(err[0].code, "user_type_conflict");
    }

    #[test]
    fn an_existing_member_gets_only_what_differs() {
        let m = Member {
            username: "Ana_Acme".into(),
            email: Some("ana@acme.org".into()),
            org_id: Some("ORG".into()),
            role: Some("iAAAAAAAAAAAAAAA".into()),
            user_type: Some("viewerUT".into()),
            group_ids: vec!["g1".into()],
            first_name: Some("Ana".into()),
            last_name: Some("Lopez".into()),
            full_name: Some("Ana Lopez".into()),
            access: Some("org".into()),
            esri_access: Some("arcgisonly".into()),
            last_login: Some(-1),
            created: Some(1_700_000_000_000),
            disabled: Some(false),
        };
        let c = ctx(
            &["username", "email", "firstName", "role", "access", "groups"],
            vec![m],
        );
        let same = c.plan(
            1,
            &row(&[
                "ana_acme",
                "ANA@acme.org",
                "Ana",
                "Viewer",
                "org",
                "Partners",
            ]),
        );
        assert_eq!(
            same.action,
            Ok(Action::Unchanged {
                username: "Ana_Acme".into()
            }),
            "usernames and e-mails compare without case"
        );
        match c
            .plan(
                1,
                &row(&["ana_acme", "ana@acme.org", "Anna", "", "private", ""]),
            )
            .action
        {
            Ok(Action::Update(u)) => {
                assert_eq!(u.fields, ["firstName", "access"]);
                assert_eq!(u.username, "Ana_Acme");
                assert_eq!(u.seat, SeatChange::None);
            }
            other => panic!("{other:?}"),
        }
        // Role User cannot hold the member's viewerUT.
        let err = c
            .plan(1, &row(&["ana_acme", "ana@acme.org", "", "User", "", ""]))
            .action
            .unwrap_err();
        assert_eq!(err[0].code, "incompatible_role");
    }
}
