//! `reclaim --dry-run`: what expiry and reclaiming call for today, read from
//! the store and the organization's member list, printed and changed
//! nothing (see `provisioning::lifecycle`).
//!
//! Carrying the plan out (portal actions, seats given back through the
//! claim state machine, people told) is not built yet: without
//! `--dry-run` the command refuses, saying so, rather than pretend.

use anyhow::{Result, anyhow, bail};
use clap::Args;

use super::StoreArgs;
use super::check_rules::load_rules;
use crate::clock::Clock;
use crate::config::{Secrets, SecretsSource, WorkflowSettings, normalise_portal_url};
use crate::provisioning::lifecycle::{LifecyclePlan, read_plan, render};
use crate::seats::dynamo::{DynamoLedger, client_for_endpoint};
use crate::seats::sqlite::SqliteLedger;
use crate::startup;
use crate::startup::local::Store;

#[derive(Debug, Args)]
pub(crate) struct ReclaimArgs {
    #[command(flatten)]
    store: StoreArgs,
    /// Your organization's URL (`https://<org>.maps.arcgis.com`); the
    /// administrator's credentials come from ARCGIS_USERNAME and
    /// ARCGIS_PASSWORD (or ARCGIS_PASSWORD_FILE), as for `serve`.
    #[arg(long, env = "PORTAL_URL")]
    portal: String,
    /// Print the plan and change nothing (required for now).
    #[arg(long)]
    dry_run: bool,
    /// Machine-readable output.
    #[arg(long)]
    json: bool,
}

/// Prints the lifecycle plan.
pub(crate) async fn reclaim(a: ReclaimArgs) -> Result<()> {
    if !a.dry_run {
        bail!(
            "reclaim without --dry-run is not available yet: carrying the plan out (downgrade, disable or delete in the portal, the seat given back, the member told) comes next. Run `reclaim --dry-run` to see what it would do."
        );
    }
    let rules = load_rules(&a.store.config)?;
    let url = normalise_portal_url(&a.portal).map_err(|e| anyhow!("{e}"))?;
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
    let plan: LifecyclePlan = match a.store.store()? {
        Store::Sqlite(path) => {
            if !path.exists() {
                bail!(
                    "{} does not exist yet (no sign-up was handled with this store)",
                    path.display()
                );
            }
            let ledger =
                SqliteLedger::open(&path).map_err(|e| anyhow!("{}: {e}", path.display()))?;
            read_plan(&ledger, &portal, &rules, &broker, now).await
        }
        Store::Dynamo { table, endpoint } => {
            let ledger = DynamoLedger::new(client_for_endpoint(endpoint.as_deref()).await, table);
            read_plan(&ledger, &portal, &rules, &broker, now).await
        }
    }
    .map_err(|e| anyhow!("{e}"))?;
    if a.json {
        let steps: Vec<_> = plan
            .steps
            .iter()
            .map(|s| {
                serde_json::json!({
                    "pool": s.pool.as_str(),
                    "username": s.username,
                    "person": s.person,
                    "step": format!("{:?}", s.what),
                })
            })
            .collect();
        let skipped: Vec<_> = plan
            .skipped
            .iter()
            .map(|s| {
                serde_json::json!({
                    "pool": s.pool.as_str(),
                    "username": s.username,
                    "why": s.what.as_str(),
                })
            })
            .collect();
        println!(
            "{}",
            serde_json::to_string_pretty(
                &serde_json::json!({"dry_run": true, "steps": steps, "skipped": skipped})
            )?
        );
    } else {
        println!("Dry run: nothing is changed.");
        print!("{}", render(&plan));
    }
    Ok(())
}
