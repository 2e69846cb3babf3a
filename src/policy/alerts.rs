//! Usage alerts as the rules file sets them: the whole file's `[alerts]`
//! and a pool's own `[pools.alerts]`.
//!
//! ```toml
//! [alerts]
//! thresholds = [80, 95, 100]             # % of a pool's seats (the default)
//! user_type_thresholds = [90, 100]       # % of a user type's purchased licences
//!                                        # (default: `thresholds`; [] stops reading them)
//!
//! [[pools]]
//! name = "acme"
//! # …
//! [pools.alerts]
//! thresholds = [95, 100]                 # this pool's own; [] silences it
//! ```
//!
//! Why the settings live with the rules: a pool's seats are there, and a
//! threshold is a fraction of them; `check-rules` then refuses a threshold
//! out of 1..=100, out of order or repeated, naming the section. What is
//! done with them (when alerts are sent, where the levels are kept) is the
//! workflow's (`provisioning::alerts`); the crossing rule is
//! [`crate::domain::alert`].

use serde::Deserialize;

use crate::domain::Thresholds;

/// The whole file's `[alerts]` as written.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertsFile {
    /// Percentages of a pool's seats (every pool's unless it sets its
    /// own); default 80, 95, 100.
    pub thresholds: Option<Vec<i64>>,
    /// Percentages of a user type's purchased licences; default: the
    /// pools' `thresholds`. Empty: user types are not watched (and the
    /// organization's licence counts are never read for it).
    pub user_type_thresholds: Option<Vec<i64>>,
}

/// A pool's `[pools.alerts]` as written.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PoolAlertsSpec {
    /// Percentages of this pool's seats; empty silences the pool.
    pub thresholds: Option<Vec<i64>>,
}

/// The whole file's alert settings, checked.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Alerts {
    /// The thresholds of a pool that sets none of its own.
    pub pools: Thresholds,
    /// The thresholds of the organization's user types (empty: not
    /// watched).
    pub user_types: Thresholds,
}

/// Checks `[alerts]`; a bad list is one problem naming its key, and the
/// default stands in for it so the other checks carry on.
pub fn resolve_file(file: &AlertsFile, problems: &mut Vec<String>) -> Alerts {
    let pools =
        check("[alerts] thresholds", file.thresholds.as_deref(), problems).unwrap_or_default();
    let user_types = check(
        "[alerts] user_type_thresholds",
        file.user_type_thresholds.as_deref(),
        problems,
    )
    .unwrap_or_else(|| pools.clone());
    Alerts { pools, user_types }
}

/// A pool's thresholds: its own `[pools.alerts] thresholds`, else the
/// file's.
pub fn resolve_pool(
    at: &str,
    spec: Option<&PoolAlertsSpec>,
    file: &Alerts,
    problems: &mut Vec<String>,
) -> Thresholds {
    let own = spec.and_then(|s| s.thresholds.as_deref());
    check(&format!("{at}: [pools.alerts] thresholds"), own, problems)
        .unwrap_or_else(|| file.pools.clone())
}

/// `raw` checked; `None` when absent or wrong (a problem is recorded).
fn check(what: &str, raw: Option<&[i64]>, problems: &mut Vec<String>) -> Option<Thresholds> {
    match Thresholds::parse(raw?) {
        Ok(t) => Some(t),
        Err(e) => {
            problems.push(format!("{what}: {e}"));
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absent_settings_are_the_defaults_and_user_types_follow_the_pools() {
        let mut problems = Vec::new();
        let file = resolve_file(&AlertsFile::default(), &mut problems);
        assert_eq!(file.pools, Thresholds::default());
        assert_eq!(file.user_types, Thresholds::default());
        let own = AlertsFile {
            thresholds: Some(vec![50]),
            user_type_thresholds: None,
        };
        let file = resolve_file(&own, &mut problems);
        assert_eq!(file.user_types.as_slice(), [50]);
        assert_eq!(
            resolve_pool("pool \"a\"", None, &file, &mut problems).as_slice(),
            [50]
        );
        let silent = PoolAlertsSpec {
            thresholds: Some(vec![]),
        };
        assert!(resolve_pool("pool \"a\"", Some(&silent), &file, &mut problems).is_empty());
        assert!(problems.is_empty(), "{problems:?}");
    }

    #[test]
    fn a_bad_list_is_a_problem_naming_where_it_is() {
        let mut problems = Vec::new();
        let file = AlertsFile {
            thresholds: Some(vec![80, 120]),
            user_type_thresholds: Some(vec![95, 95]),
        };
        resolve_file(&file, &mut problems);
        let spec = PoolAlertsSpec {
            thresholds: Some(vec![0]),
        };
        resolve_pool(
            "pool \"acme\"",
            Some(&spec),
            &Alerts::default(),
            &mut problems,
        );
        assert_eq!(problems.len(), 3, "{problems:?}");
        assert!(problems[0].starts_with("[alerts] thresholds: 120 is not a percentage"));
        assert!(
            problems[1].starts_with(
                "[alerts] user_type_thresholds: thresholds must be in ascending order"
            )
        );
        assert!(problems[2].starts_with("pool \"acme\": [pools.alerts] thresholds: 0 is not"));
    }
}
