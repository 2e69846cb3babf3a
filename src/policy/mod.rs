//! Policy: which pool a sign-up belongs to and what it gets there.
//!
//! Pure functions over a checked [`rules::Rules`] and a
//! [`crate::domain::SignupRequest`]: no I/O, no clock. The first pool (in file
//! order) any of whose criteria match wins; otherwise the default pool, if
//! any; otherwise the request is rejected, never provisioned.

pub mod alerts;
pub mod lifecycle;
pub mod rules;
pub mod username;

use crate::domain::{ClaimKey, Email, EmailIdentity, Overrides, PoolId, SignupRequest, Username};

pub use rules::{InvitationMode, Pool, Rules, RulesError};

use crate::domain::ApprovalMode;

/// What a sign-up gets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    /// The pool whose seat it takes.
    pub pool: PoolId,
    /// The pool's seat count.
    pub capacity: u32,
    /// Role id.
    pub role: String,
    /// User type id.
    pub user_type: String,
    /// Group titles.
    pub groups: Vec<String>,
    /// Invitation mode.
    pub invitation: InvitationMode,
    /// The first username candidate (see [`username::candidate`]).
    pub username: Username,
    /// Why this pool was chosen (for logs and the audit trail).
    pub matched_by: MatchReason,
    /// Whether a person approves first.
    pub approval: ApprovalMode,
    /// With approval: hold a seat while pending.
    pub hold_seat: bool,
    /// How long a pending or waitlisted request stays open.
    pub pending_expiry: std::time::Duration,
    /// Queue the request when the pool is full.
    pub waitlist: bool,
    /// How the pool tells people apart by e-mail.
    pub email_identity: EmailIdentity,
}

impl Grant {
    /// The person key of `email` in this grant's pool
    /// ([`Email::key_as`] with the pool's [`EmailIdentity`]): what claims,
    /// requests, adoption and the sweeper all compare.
    pub fn person_key(&self, email: &Email) -> String {
        email.key_as(self.email_identity)
    }

    /// The claim key of `email` in this grant's pool.
    pub fn claim_key(&self, email: &Email) -> ClaimKey {
        ClaimKey {
            pool: self.pool.clone(),
            person: self.person_key(email),
        }
    }

    /// Applies what a sender's configuration or a CSV row overrides: the
    /// role, user type and groups it names win over the pool's.
    pub fn apply(&mut self, overrides: &Overrides) {
        if let Some(r) = &overrides.role {
            self.role = r.clone();
        }
        if let Some(t) = &overrides.user_type {
            self.user_type = t.clone();
        }
        if let Some(g) = &overrides.groups {
            self.groups = g.clone();
        }
    }
}

/// Which criterion selected the pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MatchReason {
    /// The request's explicit `pool` field.
    PoolField,
    /// The e-mail domain.
    EmailDomain,
    /// The organization name.
    Organization,
    /// Nothing matched; the default pool took it.
    Default,
}

/// Why a sign-up gets nothing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    /// No pool matched and there is no default pool.
    #[error("no pool accepts this request")]
    NoMatchingPool,
}

/// The loaded rules, ready to decide.
#[derive(Debug, Clone)]
pub struct Policy {
    rules: Rules,
}

impl Policy {
    /// Wraps checked rules.
    pub fn new(rules: Rules) -> Self {
        Policy { rules }
    }

    /// The rules.
    pub fn rules(&self) -> &Rules {
        &self.rules
    }

    /// Decides the pool and grants for a request.
    pub fn grant(&self, req: &SignupRequest) -> Result<Grant, Rejection> {
        let (pool, why) = self.select(req).ok_or(Rejection::NoMatchingPool)?;
        let username = match &req.username {
            Some(u) => u.clone(),
            // Why: in a pool that folds `+tag`s the name is made from the
            // folded address too, so every tag of one person derives the
            // same username (and finds the same member).
            None if pool.email_identity != EmailIdentity::Exact => {
                let mut folded = req.clone();
                if let Ok(e) = Email::parse(&req.email.key_as(pool.email_identity)) {
                    folded.email = e;
                }
                pool.username.render(&folded, pool.id.as_str())
            }
            None => pool.username.render(req, pool.id.as_str()),
        };
        Ok(Grant {
            pool: pool.id.clone(),
            capacity: pool.seats,
            role: pool.role.clone(),
            user_type: pool.user_type.clone(),
            groups: pool.groups.clone(),
            invitation: pool.invitation,
            username,
            matched_by: why,
            approval: match (pool.approval, why) {
                // What the applicant declares (an organization name, a
                // `pool` field) is not proof of belonging: unless the rules
                // trust it, a person approves first (issue 13).
                (ApprovalMode::None, MatchReason::Organization | MatchReason::PoolField)
                    if !pool.trust_declared =>
                {
                    ApprovalMode::Manual
                }
                (mode, _) => mode,
            },
            hold_seat: pool.hold_seat,
            pending_expiry: pool.pending_expiry,
            waitlist: pool.waitlist,
            email_identity: pool.email_identity,
        })
    }

    fn select(&self, req: &SignupRequest) -> Option<(&Pool, MatchReason)> {
        let wanted_pool = req.pool.as_deref().map(str::to_lowercase);
        let domain = req.email.domain();
        let org = req.organization.as_deref().map(rules::normalise_org);
        for pool in &self.rules.pools {
            // Within a pool the e-mail domain is named first: of the reasons
            // that select the same pool, the one the applicant cannot just
            // type decides whether approval is needed.
            if pool.email_domains.iter().any(|d| domain_matches(d, domain)) {
                return Some((pool, MatchReason::EmailDomain));
            }
            if let Some(w) = &wanted_pool
                && pool.pool_field.iter().any(|p| p == w)
            {
                return Some((pool, MatchReason::PoolField));
            }
            if let Some(o) = &org
                && pool.organizations.iter().any(|p| p == o)
            {
                return Some((pool, MatchReason::Organization));
            }
        }
        self.rules
            .default_pool
            .and_then(|i| self.rules.pools.get(i))
            .map(|p| (p, MatchReason::Default))
    }
}

impl Pool {
    /// Whether the domain of `email` is one of the pool's `email_domains`
    /// (the one criterion a member of the portal can be matched by: it has
    /// no sign-up's organization name or `pool` field).
    pub fn matches_email_domain(&self, email: &Email) -> bool {
        self.email_domains
            .iter()
            .any(|d| domain_matches(d, email.domain()))
    }
}

/// `acme.org` matches exactly; `*.acme.org` matches `acme.org` and any
/// sub-domain of it.
fn domain_matches(pattern: &str, domain: &str) -> bool {
    match pattern.strip_prefix("*.") {
        Some(base) => domain == base || domain.ends_with(&format!(".{base}")),
        None => domain == pattern,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Email;

    fn policy() -> Policy {
        Policy::new(
            Rules::from_toml(
                r#"
                [[pools]]
                name = "acme"
                seats = 5
                role = "viewer"
                user_type = "viewerUT"
                groups = ["Partners"]
                [pools.match]
                email_domains = ["*.acme.org"]
                organizations = ["ACME  Corp"]
                [[pools]]
                name = "water"
                seats = 3
                role = "data editor"
                user_type = "editorUT"
                [pools.match]
                pool_field = ["Water"]
                email_domains = ["water.example"]
                "#,
            )
            .unwrap(),
        )
    }

    fn req(email: &str, org: Option<&str>, pool: Option<&str>) -> SignupRequest {
        SignupRequest {
            email: Email::parse(email).unwrap(),
            first_name: None,
            last_name: None,
            username: None,
            organization: org.map(str::to_string),
            pool: pool.map(str::to_string),
            attributes: Default::default(),
        }
    }

    /// Issue 13: an organization name or `pool` field is what the
    /// applicant types; a pool reached only through it waits for approval
    /// unless the rules trust it. The e-mail domain of the same pool wins.
    #[test]
    fn a_pool_reached_only_by_what_the_applicant_declares_needs_approval() {
        let p = policy();
        let by = |email: &str, org: Option<&str>, pool: Option<&str>| {
            let g = p.grant(&req(email, org, pool)).unwrap();
            (g.pool.to_string(), g.matched_by, g.approval)
        };
        assert_eq!(
            by("eve@gmail.com", Some("ACME corp"), None),
            (
                "acme".into(),
                MatchReason::Organization,
                ApprovalMode::Manual
            )
        );
        assert_eq!(
            by("eve@gmail.com", None, Some("water")),
            ("water".into(), MatchReason::PoolField, ApprovalMode::Manual)
        );
        assert_eq!(
            by("ana@eu.acme.org", Some("ACME corp"), None),
            ("acme".into(), MatchReason::EmailDomain, ApprovalMode::None)
        );
        assert_eq!(
            by("bo@water.example", None, Some("water")),
            ("water".into(), MatchReason::EmailDomain, ApprovalMode::None)
        );

        let trusting = Policy::new(
            Rules::from_toml(
                r#"
                [defaults]
                trust_declared = true
                [[pools]]
                name = "acme"
                seats = 5
                role = "viewer"
                user_type = "viewerUT"
                [pools.match]
                organizations = ["ACME Corp"]
                "#,
            )
            .unwrap(),
        );
        assert!(
            trusting.rules().warnings.is_empty(),
            "{:?}",
            trusting.rules().warnings
        );
        let g = trusting
            .grant(&req("eve@gmail.com", Some("acme corp"), None))
            .unwrap();
        assert_eq!(g.approval, ApprovalMode::None);
        // check-rules says which pools wait for approval this way.
        let warned = &p.rules().warnings;
        assert!(
            warned
                .iter()
                .any(|w| w.contains("acme") && w.contains("trust_declared")),
            "{warned:?}"
        );
    }

    #[test]
    fn domains_organizations_and_pool_field_select_pools() {
        let p = policy();
        let d = p.grant(&req("ana@field.acme.org", None, None)).unwrap();
        assert_eq!(
            (d.pool.as_str(), d.matched_by),
            ("acme", MatchReason::EmailDomain)
        );
        assert_eq!(d.username.as_str(), "ana_acme");
        let d = p
            .grant(&req("bo@gmail.com", Some("acme corp"), None))
            .unwrap();
        assert_eq!(
            (d.pool.as_str(), d.matched_by),
            ("acme", MatchReason::Organization)
        );
        let d = p.grant(&req("bo@gmail.com", None, Some("WATER"))).unwrap();
        assert_eq!(
            (d.pool.as_str(), d.role.as_str()),
            ("water", "iBBBBBBBBBBBBBBB")
        );
    }

    #[test]
    fn first_matching_pool_wins() {
        // Matches acme by organization and water by pool field: acme is first.
        let d = policy()
            .grant(&req("x@water.example", Some("ACME Corp"), None))
            .unwrap();
        assert_eq!(d.pool.as_str(), "acme");
    }

    #[test]
    fn unmatched_requests_are_rejected_without_a_default() {
        assert_eq!(
            policy().grant(&req("who@nowhere.net", None, Some("other"))),
            Err(Rejection::NoMatchingPool)
        );
    }

    #[test]
    fn lookalike_domains_do_not_match() {
        assert!(policy().grant(&req("x@evilacme.org", None, None)).is_err());
    }
}
