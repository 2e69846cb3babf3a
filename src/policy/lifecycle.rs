//! The seat's life after sign-up, as the rules file sets it per pool
//! (`[pools.lifecycle]`, inherited key by key from `[defaults.lifecycle]`)
//! and for the whole file (`[lifecycle]`):
//!
//! ```toml
//! [lifecycle]
//! keep = ["lead_acme"]                 # members never touched (usernames)
//!
//! [pools.lifecycle]
//! expires_after_days = 180             # from activation
//! ends_on = "2027-06-30"               # and/or a fixed last day (UTC)
//! warn_before_days = 14                # the member is told this long before
//! at_end = "downgrade"                 # downgrade | disable | delete
//! downgrade_to = { role = "viewer", user_type = "viewerUT" }
//! reclaim_after_days_inactive = 60     # from the portal's lastLogin
//! reclaim_never_signed_in_after_days = 21   # lastLogin -1: from activation
//! ```
//!
//! What each action does to the organization's licences (AGOL counts a
//! disabled member against its user type, fact sheet and product context):
//! `downgrade` moves the member to another role and user type (role first,
//! the portal's order) and gives the pool's seat back; `delete` removes a
//! member who owns no content and gives it back, and only disables one who
//! does (reported); `disable` stops sign-in but keeps the licence, so the
//! pool's seat stays counted until an administrator deletes or downgrades.
//!
//! This file only reads and checks the settings; what happens to seats is
//! the workflow's (`provisioning::lifecycle`).

use serde::Deserialize;

use crate::domain::UnixMillis;
use crate::domain::compat::{self, Compat};
use crate::domain::date::{DAY_MS, Day};

/// The whole file's lifecycle settings (`[lifecycle]`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LifecycleFile {
    /// Usernames never warned, expired or reclaimed (besides
    /// administrators and the broker's own account, never touched anyway).
    #[serde(default)]
    pub keep: Vec<String>,
}

/// A pool's `[pools.lifecycle]` (or `[defaults.lifecycle]`) as written.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LifecycleSpec {
    /// Days from activation to the seat's end.
    pub expires_after_days: Option<u32>,
    /// The last day (UTC, `yyyy-mm-dd`) a seat of the pool lasts.
    pub ends_on: Option<String>,
    /// Days before the end the member is warned.
    pub warn_before_days: Option<u32>,
    /// What happens at the end (and on reclaiming).
    pub at_end: Option<EndAction>,
    /// The role and user type of `at_end = "downgrade"`.
    pub downgrade_to: Option<DowngradeSpec>,
    /// Days without a sign-in after which the seat is reclaimed.
    pub reclaim_after_days_inactive: Option<u32>,
    /// Days after activation a member who never signed in keeps the seat.
    pub reclaim_never_signed_in_after_days: Option<u32>,
}

impl LifecycleSpec {
    /// This spec with the keys it leaves unset taken from `defaults`.
    fn or(&self, defaults: &LifecycleSpec) -> LifecycleSpec {
        LifecycleSpec {
            expires_after_days: self.expires_after_days.or(defaults.expires_after_days),
            ends_on: self.ends_on.clone().or_else(|| defaults.ends_on.clone()),
            warn_before_days: self.warn_before_days.or(defaults.warn_before_days),
            at_end: self.at_end.or(defaults.at_end),
            downgrade_to: self
                .downgrade_to
                .clone()
                .or_else(|| defaults.downgrade_to.clone()),
            reclaim_after_days_inactive: self
                .reclaim_after_days_inactive
                .or(defaults.reclaim_after_days_inactive),
            reclaim_never_signed_in_after_days: self
                .reclaim_never_signed_in_after_days
                .or(defaults.reclaim_never_signed_in_after_days),
        }
    }
}

/// `downgrade_to` as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DowngradeSpec {
    /// Role name or id.
    pub role: String,
    /// User type id.
    pub user_type: String,
}

/// What happens to a member whose seat ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EndAction {
    /// Another role and user type (role first); the pool's seat is given
    /// back.
    Downgrade,
    /// Sign-in stopped; the licence, and so the pool's seat, stays counted.
    Disable,
    /// Removed when the member owns no content (the seat is given back);
    /// disabled and reported otherwise.
    Delete,
}

impl EndAction {
    /// The spelling in the rules file.
    pub fn as_str(self) -> &'static str {
        match self {
            EndAction::Downgrade => "downgrade",
            EndAction::Disable => "disable",
            EndAction::Delete => "delete",
        }
    }
}

/// The role and user type a downgrade gives, resolved to portal ids.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Downgrade {
    /// Role id.
    pub role: String,
    /// User type id.
    pub user_type: String,
}

/// A pool's checked lifecycle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lifecycle {
    /// Days from activation to the end.
    pub expires_after_days: Option<u32>,
    /// The end of the last day (UTC) any seat of the pool lasts.
    pub ends_at: Option<UnixMillis>,
    /// The last day as written (for messages).
    pub ends_on: Option<Day>,
    /// Days before the end the member is warned (0: not warned).
    pub warn_before_days: u32,
    /// What happens at the end.
    pub at_end: EndAction,
    /// With `Downgrade`: the target.
    pub downgrade_to: Option<Downgrade>,
    /// Days without a sign-in before the seat is reclaimed.
    pub reclaim_after_days_inactive: Option<u32>,
    /// Days after activation a never-signed-in member keeps the seat.
    pub reclaim_never_signed_in_after_days: Option<u32>,
}

impl Lifecycle {
    /// When a seat activated at `activated_at` ends: the earlier of its
    /// `expires_after_days` and the pool's `ends_on`, unless extended to
    /// `extended_until`. `None`: it does not end.
    pub fn ends_at(
        &self,
        activated_at: UnixMillis,
        extended_until: Option<UnixMillis>,
    ) -> Option<UnixMillis> {
        if let Some(until) = extended_until {
            return Some(until);
        }
        let after = self
            .expires_after_days
            .map(|d| activated_at.saturating_add(i64::from(d).saturating_mul(DAY_MS)));
        match (after, self.ends_at) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Whether anything ever happens to a seat of the pool.
    pub fn is_set(&self) -> bool {
        self.expires_after_days.is_some()
            || self.ends_at.is_some()
            || self.reclaim_after_days_inactive.is_some()
            || self.reclaim_never_signed_in_after_days.is_some()
    }
}

/// Checks a pool's lifecycle (`spec` over `defaults`) for a pool of
/// `user_type`; `None` when nothing is set. Problems and warnings name the
/// pool (`at`).
pub fn resolve(
    at: &str,
    spec: Option<&LifecycleSpec>,
    defaults: Option<&LifecycleSpec>,
    user_type: Option<&str>,
    problems: &mut Vec<String>,
    warnings: &mut Vec<String>,
) -> Option<Lifecycle> {
    let empty = LifecycleSpec::default();
    let s = spec.unwrap_or(&empty).or(defaults.unwrap_or(&empty));
    let positive = |what: &str, v: Option<u32>, problems: &mut Vec<String>| {
        if v == Some(0) {
            problems.push(format!("{at}: lifecycle {what} must be at least 1"));
        }
    };
    positive("expires_after_days", s.expires_after_days, problems);
    positive(
        "reclaim_after_days_inactive",
        s.reclaim_after_days_inactive,
        problems,
    );
    positive(
        "reclaim_never_signed_in_after_days",
        s.reclaim_never_signed_in_after_days,
        problems,
    );
    let ends_on = match s.ends_on.as_deref().map(Day::parse) {
        None => None,
        Some(Ok(day)) => Some(day),
        Some(Err(e)) => {
            problems.push(format!("{at}: lifecycle ends_on: {e}"));
            None
        }
    };
    let ends = s.expires_after_days.is_some() || ends_on.is_some();
    let reclaims =
        s.reclaim_after_days_inactive.is_some() || s.reclaim_never_signed_in_after_days.is_some();
    if !ends && !reclaims {
        if s.at_end.is_some() || s.downgrade_to.is_some() || s.warn_before_days.is_some() {
            warnings.push(format!(
                "{at}: lifecycle has no expires_after_days, ends_on or reclaim_* setting, so its other keys do nothing"
            ));
        }
        return None;
    }
    let Some(at_end) = s.at_end else {
        problems.push(format!(
            "{at}: lifecycle needs at_end (downgrade, disable or delete): what happens when a seat ends or is reclaimed"
        ));
        return None;
    };
    if !ends && s.warn_before_days.is_some() {
        warnings.push(format!(
            "{at}: lifecycle warn_before_days does nothing without expires_after_days or ends_on"
        ));
    }
    if let (Some(w), Some(e)) = (s.warn_before_days, s.expires_after_days)
        && w >= e
    {
        problems.push(format!(
            "{at}: lifecycle warn_before_days ({w}) must be shorter than expires_after_days ({e})"
        ));
    }
    if at_end == EndAction::Disable {
        warnings.push(format!(
            "{at}: lifecycle at_end = \"disable\" keeps the licence assigned (ArcGIS Online counts disabled members), so the pool's seat is not given back; use downgrade or delete to free it"
        ));
    }
    let downgrade_to = match (at_end, &s.downgrade_to) {
        (EndAction::Downgrade, None) => {
            problems.push(format!(
                "{at}: lifecycle at_end = \"downgrade\" needs downgrade_to = {{ role = …, user_type = … }}"
            ));
            None
        }
        (EndAction::Downgrade, Some(d)) => downgrade(at, d, user_type, problems),
        (_, Some(_)) => {
            warnings.push(format!(
                "{at}: lifecycle downgrade_to is only used with at_end = \"downgrade\""
            ));
            None
        }
        (_, None) => None,
    };
    Some(Lifecycle {
        expires_after_days: s.expires_after_days,
        ends_at: ends_on.map(Day::end),
        ends_on,
        warn_before_days: s.warn_before_days.unwrap_or(0),
        at_end,
        downgrade_to,
        reclaim_after_days_inactive: s.reclaim_after_days_inactive,
        reclaim_never_signed_in_after_days: s.reclaim_never_signed_in_after_days,
    })
}

/// Checks `downgrade_to`: a known role (not Administrator) and user type
/// that fit together, and a user type other than the pool's (a downgrade
/// to the same type would free nothing).
fn downgrade(
    at: &str,
    d: &DowngradeSpec,
    pool_type: Option<&str>,
    problems: &mut Vec<String>,
) -> Option<Downgrade> {
    let role = match compat::role_id_for(&d.role) {
        Some("org_admin") => None,
        Some(id) => Some(id.to_string()),
        None if compat::looks_like_custom_role_id(&d.role) => Some(d.role.clone()),
        None => None,
    };
    let Some(role) = role else {
        problems.push(format!(
            "{at}: lifecycle downgrade_to.role {:?} is not a role a member can be given (viewer, data editor, user, publisher, or a custom role id)",
            d.role
        ));
        return None;
    };
    if !compat::is_known_user_type(&d.user_type) {
        problems.push(format!(
            "{at}: lifecycle downgrade_to.user_type {:?} is unknown (ids are case-sensitive)",
            d.user_type
        ));
        return None;
    }
    if pool_type == Some(d.user_type.as_str()) {
        problems.push(format!(
            "{at}: lifecycle downgrade_to.user_type is the pool's own ({}), so a downgrade would free no licence",
            d.user_type
        ));
        return None;
    }
    if compat::compatible(&role, &d.user_type) == Compat::No {
        problems.push(format!(
            "{at}: lifecycle downgrade_to: role {} cannot hold user type {}",
            d.role, d.user_type
        ));
        return None;
    }
    Some(Downgrade {
        role,
        user_type: d.user_type.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::Rules;

    fn rules(lifecycle: &str) -> Result<Rules, crate::policy::rules::RulesError> {
        Rules::from_toml(&format!(
            r#"
            [lifecycle]
            keep = ["Lead_Acme", " "]
            [[pools]]
            name = "acme"
            seats = 5
            role = "publisher"
            user_type = "creatorUT"
            [pools.match]
            email_domains = ["acme.org"]
            [pools.lifecycle]
            {lifecycle}
            "#
        ))
    }

    #[test]
    fn a_full_lifecycle_resolves_to_ids_and_the_earlier_end() {
        let r = rules(
            r#"expires_after_days = 180
            ends_on = "2027-06-30"
            warn_before_days = 14
            at_end = "downgrade"
            downgrade_to = { role = "viewer", user_type = "viewerUT" }
            reclaim_after_days_inactive = 60
            reclaim_never_signed_in_after_days = 21"#,
        )
        .unwrap();
        assert_eq!(r.keep, ["lead_acme"]);
        let lc = r.pools[0].lifecycle.clone().expect("set");
        assert_eq!(lc.at_end, EndAction::Downgrade);
        assert_eq!(
            lc.downgrade_to,
            Some(Downgrade {
                role: "iAAAAAAAAAAAAAAA".into(),
                user_type: "viewerUT".into()
            })
        );
        let june_30 = Day::parse("2027-06-30").unwrap();
        assert_eq!(lc.ends_at, Some(june_30.end()));
        // Activated on 2027-03-01: 180 days would pass June 30.
        let march = Day::parse("2027-03-01").unwrap().start();
        assert_eq!(lc.ends_at(march, None), Some(june_30.end()));
        // Activated on 2026-12-03: 180 days come first.
        let dec = Day::parse("2026-12-03").unwrap().start();
        assert_eq!(lc.ends_at(dec, None), Some(dec + 180 * DAY_MS));
        // An extension wins over both.
        assert_eq!(
            lc.ends_at(dec, Some(june_30.end() + 5)),
            Some(june_30.end() + 5)
        );
    }

    #[test]
    fn defaults_fill_the_keys_a_pool_leaves_unset_and_no_lifecycle_is_none() {
        let r = Rules::from_toml(
            r#"
            [defaults.lifecycle]
            expires_after_days = 30
            at_end = "delete"
            [[pools]]
            name = "a"
            seats = 1
            role = "viewer"
            user_type = "viewerUT"
            [pools.match]
            email_domains = ["a.org"]
            [pools.lifecycle]
            expires_after_days = 90
            "#,
        )
        .unwrap();
        let lc = r.pools[0].lifecycle.clone().unwrap();
        assert_eq!(
            (lc.expires_after_days, lc.at_end),
            (Some(90), EndAction::Delete)
        );
        let none = rules("").unwrap();
        assert!(none.pools[0].lifecycle.is_none());
    }

    #[test]
    fn every_unusable_setting_is_named() {
        for (text, wanted) in [
            ("expires_after_days = 30", "needs at_end"),
            (
                "expires_after_days = 0\nat_end = \"delete\"",
                "expires_after_days must be at least 1",
            ),
            ("ends_on = \"2027-02-30\"\nat_end = \"delete\"", "ends_on"),
            (
                "expires_after_days = 30\nat_end = \"downgrade\"",
                "needs downgrade_to",
            ),
            (
                "expires_after_days = 30\nat_end = \"downgrade\"\ndowngrade_to = { role = \"viewer\", user_type = \"creatorUT\" }",
                "the pool's own",
            ),
            (
                "expires_after_days = 30\nat_end = \"downgrade\"\ndowngrade_to = { role = \"publisher\", user_type = \"viewerUT\" }",
                "cannot hold user type",
            ),
            (
                "expires_after_days = 30\nat_end = \"downgrade\"\ndowngrade_to = { role = \"administrator\", user_type = \"viewerUT\" }",
                "not a role a member can be given",
            ),
            (
                "expires_after_days = 30\nat_end = \"downgrade\"\ndowngrade_to = { role = \"viewer\", user_type = \"viewerut\" }",
                "unknown",
            ),
            (
                "expires_after_days = 10\nwarn_before_days = 10\nat_end = \"delete\"",
                "shorter than",
            ),
            ("expires_after_days = 10\nat_end = \"archive\"", "archive"),
            ("expires_after_day = 10", "expires_after_day"),
        ] {
            let err = rules(text).expect_err(text).to_string();
            assert!(err.contains(wanted), "{text}: {err}");
        }
    }

    #[test]
    fn settings_that_do_nothing_or_keep_the_licence_are_warned_about() {
        let r = rules("at_end = \"delete\"").unwrap();
        assert!(r.pools[0].lifecycle.is_none());
        assert!(
            r.warnings.iter().any(|w| w.contains("do nothing")),
            "{:?}",
            r.warnings
        );
        let r = rules("reclaim_after_days_inactive = 30\nat_end = \"disable\"").unwrap();
        assert!(
            r.warnings
                .iter()
                .any(|w| w.contains("counts disabled members")),
            "{:?}",
            r.warnings
        );
        assert!(r.pools[0].lifecycle.is_some());
    }
}
