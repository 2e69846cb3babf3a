//! `agol-seat-broker check-rules`: check a rules file and print its pools.

use std::path::Path;

use anyhow::{Result, anyhow};

use crate::policy::Rules;

/// Loads and checks a rules file, logging its warnings.
pub fn load_rules(path: &Path) -> Result<Rules> {
    let rules = Rules::load(path).map_err(|e| anyhow!("{}: {e}", path.display()))?;
    for w in &rules.warnings {
        tracing::warn!("rules: {w}");
    }
    Ok(rules)
}

/// Checks the file and prints its pools and warnings.
pub fn check_rules(path: &Path) -> Result<()> {
    let rules = load_rules(path)?;
    println!("{} is valid: {} pool(s)", path.display(), rules.pools.len());
    for (i, p) in rules.pools.iter().enumerate() {
        let default = if rules.default_pool == Some(i) {
            " (default)"
        } else {
            ""
        };
        println!(
            "  {}{default}: {} seats, role {}, user type {}, groups [{}], {:?} invitation, alerts at {}",
            p.id,
            p.seats,
            p.role,
            p.user_type,
            p.groups.join(", "),
            p.invitation,
            p.alert_thresholds
        );
    }
    println!(
        "  user type alerts at {} of the licences purchased",
        rules.alerts.user_types
    );
    for w in &rules.warnings {
        println!("  warning: {w}");
    }
    Ok(())
}
