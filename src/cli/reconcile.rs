//! `reconcile [--dry-run] [--json]`: the ledger compared with the
//! organization's members, pending invitations and licence counts, and
//! repaired (see `provisioning::reconcile`): claims whose member is gone
//! released, members created outside the broker reported or adopted, user
//! type changes and over-promised licences reported. Every difference and
//! what was done goes to the report printed here and to the audit trail.
//!
//! On either store, like `reclaim`. `--dry-run` prints the plan and changes
//! nothing (no audit record either). A difference that failed (store or
//! portal) makes the command exit non-zero after the others were done: run
//! it again.

use std::sync::Arc;

use anyhow::{Result, anyhow, bail};
use clap::Args;

use super::StoreArgs;
use super::check_rules::load_rules;
use super::open::{Opened, admin_portal, existing_sqlite};
use crate::clock::Clock;
use crate::config::WorkflowSettings;
use crate::policy::{Policy, Rules};
use crate::portal::arcgis::ArcGisPortal;
use crate::provisioning::Provisioner;
use crate::provisioning::reconcile::{Applied, Outcome, ReconcilePlan, render};
use crate::seats::SeatLedger;
use crate::seats::dynamo::{DynamoLedger, client_for_endpoint};
use crate::startup::local::Store;

/// Who the audit trail names for reconciliation's changes.
const ACTOR: &str = "reconcile";

#[derive(Debug, Args)]
pub(crate) struct ReconcileArgs {
    #[command(flatten)]
    store: StoreArgs,
    /// Your organization's URL (`https://<org>.maps.arcgis.com`); the
    /// administrator's credentials come from ARCGIS_USERNAME and
    /// ARCGIS_PASSWORD (or ARCGIS_PASSWORD_FILE), as for `serve`.
    #[arg(long, env = "PORTAL_URL")]
    portal: String,
    /// Print what would be done and change nothing.
    #[arg(long)]
    dry_run: bool,
    /// Machine-readable output.
    #[arg(long)]
    json: bool,
}

/// Reconciles the store with the organization and prints the report.
pub(crate) async fn reconcile(a: ReconcileArgs) -> Result<()> {
    let rules = load_rules(&a.store.config)?;
    let Opened { portal, broker, .. } = admin_portal(&a.portal).await?;
    let (plan, applied) = match a.store.store()? {
        Store::Sqlite(path) => {
            let ledger = existing_sqlite(&path)?;
            run(ledger, portal, rules, &broker, a.dry_run).await?
        }
        Store::Dynamo { table, endpoint } => {
            let ledger = DynamoLedger::new(client_for_endpoint(endpoint.as_deref()).await, table);
            run(ledger, portal, rules, &broker, a.dry_run).await?
        }
    };
    let failed = applied
        .iter()
        .flatten()
        .filter(|x| matches!(x.outcome, Outcome::Failed(_)))
        .count();
    if a.json {
        let warnings: Vec<String> = plan.capacity.iter().filter_map(|t| t.warning()).collect();
        let differences = match &applied {
            Some(applied) => serde_json::to_value(applied)?,
            None => serde_json::to_value(&plan.differences)?,
        };
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "dry_run": a.dry_run,
                "changes": plan.actions().count(),
                "differences": differences,
                "licenses": plan.capacity,
                "warnings": warnings,
            }))?
        );
    } else {
        if a.dry_run {
            println!("Dry run: nothing is changed.");
        }
        print!("{}", render(&plan, applied.as_deref()));
    }
    if failed > 0 {
        bail!("{failed} difference(s) could not be repaired (see above); run reconcile again");
    }
    Ok(())
}

/// Plans with `ledger`, and applies unless `dry_run`.
async fn run<L: SeatLedger>(
    ledger: L,
    portal: ArcGisPortal,
    rules: Rules,
    broker: &str,
    dry_run: bool,
) -> Result<(ReconcilePlan, Option<Vec<Applied>>)> {
    let clock = Clock::system();
    let provisioner = Provisioner::new(
        Arc::new(ledger),
        Arc::new(portal),
        Arc::new(Policy::new(rules)),
        WorkflowSettings::default(),
    )
    .with_clock(clock.clone());
    let plan = provisioner
        .reconcile_plan(broker, clock.now())
        .await
        .map_err(|e| anyhow!("{} ({})", e, e.code()))?;
    if dry_run {
        return Ok((plan, None));
    }
    let applied = provisioner.apply_reconcile(&plan, ACTOR, clock.now()).await;
    Ok((plan, Some(applied)))
}
