//! `agol-seat-broker check-rules`: check a rules file and print its pools;
//! with `--portal`, also whether the pools promise more seats of a user
//! type than the organization has licences for (purchased minus those
//! assigned outside the broker): a warning per such user type, counted as
//! `reconcile` counts it (the store's claims against the member list; a
//! missing SQLite file holds none). The rules file alone cannot know it.

use std::path::Path;

use anyhow::{Result, anyhow};

use crate::clock::Clock;
use crate::config::{Secrets, SecretsSource, WorkflowSettings, normalise_portal_url};
use crate::policy::Rules;
use crate::provisioning::reconcile::{TypeCapacity, read_plan};
use crate::seats::dynamo::{DynamoLedger, client_for_endpoint};
use crate::seats::memory::MemoryLedger;
use crate::seats::sqlite::SqliteLedger;
use crate::startup;
use crate::startup::local::Store;

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

/// [`check_rules`], then the pools' seats against the organization's
/// licences at `portal`.
pub async fn check_rules_with_portal(path: &Path, portal: &str, store: Store) -> Result<()> {
    check_rules(path)?;
    let rules = load_rules(path)?;
    let url = normalise_portal_url(portal).map_err(|e| anyhow!("{e}"))?;
    let secrets = Secrets::load(&SecretsSource::Environment)
        .await
        .map_err(|e| anyhow!("{e}"))?;
    let portal = startup::arcgis_portal(
        &url,
        "agol-seat-broker",
        &secrets,
        &WorkflowSettings::default(),
    )
    .map_err(|e| anyhow!("{e}"))?;
    let broker = secrets.arcgis_username.clone();
    let now = Clock::system().now();
    let plan = match store {
        Store::Sqlite(path) if !path.exists() => {
            read_plan(&MemoryLedger::new(), &portal, &rules, &broker, now).await
        }
        Store::Sqlite(path) => {
            let ledger =
                SqliteLedger::open(&path).map_err(|e| anyhow!("{}: {e}", path.display()))?;
            read_plan(&ledger, &portal, &rules, &broker, now).await
        }
        Store::Dynamo { table, endpoint } => {
            let ledger = DynamoLedger::new(client_for_endpoint(endpoint.as_deref()).await, table);
            read_plan(&ledger, &portal, &rules, &broker, now).await
        }
    }
    .map_err(|e| anyhow!("{e} ({})", e.code()))?;
    let types = plan.capacity;
    println!("licences at {url}:");
    for t in &types {
        println!(
            "  {}: pools promise {}, the organization has {} (purchased {}, assigned outside the broker {})",
            t.user_type, t.promised, t.available, t.purchased, t.outside
        );
    }
    for w in types.iter().filter_map(TypeCapacity::warning) {
        println!("  warning: {w}");
    }
    Ok(())
}
