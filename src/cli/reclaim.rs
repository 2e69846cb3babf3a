//! `reclaim` and `extend`: the seat's life after sign-up from the command
//! line, on either store (see `provisioning::lifecycle` for the plan and
//! `provisioning::reclaim` for carrying it out).
//!
//! - `reclaim --dry-run` prints what expiry and reclaiming call for today
//!   and changes nothing;
//! - `reclaim` carries it out (the same code the scheduled run uses):
//!   members warned and ended in the portal, seats given back, the
//!   waitlist admitted, a report printed;
//! - `extend --pool P --email E --until 2027-03-31` (or `--days 30`) moves
//!   one seat's end, audited as the operator (`cli:<login>`).

use std::sync::Arc;

use anyhow::{Result, anyhow, bail};
use clap::Args;

use super::StoreArgs;
use super::check_rules::load_rules;
use super::open::{Opened, admin_portal, existing_sqlite};
use crate::clock::Clock;
use crate::config::WorkflowSettings;
use crate::domain::date::{DAY_MS, Day};
use crate::domain::{Email, UnixMillis};
use crate::policy::{Policy, Rules};
use crate::portal::arcgis::ArcGisPortal;
use crate::provisioning::Provisioner;
use crate::provisioning::lifecycle::{LifecyclePlan, read_plan, render};
use crate::provisioning::reclaim::{LifecycleReport, render_report};
use crate::seats::SeatLedger;
use crate::seats::dynamo::{DynamoLedger, client_for_endpoint};
use crate::startup::local::Store;

/// The portal the lifecycle commands talk to.
#[derive(Debug, Args)]
pub(crate) struct PortalArgs {
    /// Your organization's URL (`https://<org>.maps.arcgis.com`); the
    /// administrator's credentials come from ARCGIS_USERNAME and
    /// ARCGIS_PASSWORD (or ARCGIS_PASSWORD_FILE), as for `serve`.
    #[arg(long, env = "PORTAL_URL")]
    portal: String,
}

#[derive(Debug, Args)]
pub(crate) struct ReclaimArgs {
    #[command(flatten)]
    store: StoreArgs,
    #[command(flatten)]
    portal: PortalArgs,
    /// Print the plan and change nothing.
    #[arg(long)]
    dry_run: bool,
    /// Machine-readable output.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
pub(crate) struct ExtendArgs {
    #[command(flatten)]
    store: StoreArgs,
    #[command(flatten)]
    portal: PortalArgs,
    /// The seat's pool.
    #[arg(long)]
    pool: String,
    /// The member's e-mail (as they signed up).
    #[arg(long)]
    email: String,
    /// The seat's new last day (UTC), `YYYY-MM-DD`.
    #[arg(long, conflicts_with = "days", required_unless_present = "days")]
    until: Option<String>,
    /// The seat's new end, this many days from now.
    #[arg(long)]
    days: Option<u32>,
}

/// What a lifecycle command does once the store and the portal are open.
enum Job {
    Plan,
    Carry,
    Extend {
        email: Email,
        pool: String,
        until: UnixMillis,
    },
}

/// What it came to.
enum Done {
    Plan(LifecyclePlan),
    Report(LifecycleReport),
    Extended(crate::seats::Claim),
}

/// Opens the store and the portal, and runs `job`.
async fn run(store: &StoreArgs, portal: &PortalArgs, job: Job) -> Result<Done> {
    let rules = load_rules(&store.config)?;
    let Opened { portal, broker, .. } = admin_portal(&portal.portal).await?;
    match store.store()? {
        Store::Sqlite(path) => {
            let ledger = existing_sqlite(&path)?;
            on(ledger, portal, rules, &broker, job).await
        }
        Store::Dynamo { table, endpoint } => {
            let ledger = DynamoLedger::new(client_for_endpoint(endpoint.as_deref()).await, table);
            on(ledger, portal, rules, &broker, job).await
        }
    }
}

async fn on<L: SeatLedger + 'static>(
    ledger: L,
    portal: ArcGisPortal,
    rules: Rules,
    broker: &str,
    job: Job,
) -> Result<Done> {
    let now = Clock::system().now();
    if let Job::Plan = job {
        return read_plan(&ledger, &portal, &rules, broker, now)
            .await
            .map(Done::Plan)
            .map_err(|e| anyhow!("{e}"));
    }
    let p = Provisioner::new(
        Arc::new(ledger),
        Arc::new(portal),
        Arc::new(Policy::new(rules)),
        WorkflowSettings::default(),
    );
    let actor = format!("cli:{}", operator());
    match job {
        Job::Plan => bail!("the plan is read without a workflow"),
        Job::Carry => p
            .run_lifecycle(broker, None, &actor, now)
            .await
            .map(Done::Report)
            .map_err(|e| anyhow!("{e}")),
        Job::Extend { email, pool, until } => {
            let Some(grant_pool) = p.policy().rules().pool(&pool) else {
                bail!("no pool named {pool} in the rules");
            };
            let key = crate::domain::ClaimKey {
                pool: grant_pool.id.clone(),
                person: email.key_as(grant_pool.email_identity),
            };
            p.extend_seat(&key, until, &actor, now)
                .await
                .map(Done::Extended)
                .map_err(|e| anyhow!("{} ({})", e, e.code()))
        }
    }
}

/// Who runs the command, for the audit trail.
fn operator() -> String {
    std::env::var("USER")
        .or_else(|_| std::env::var("USERNAME"))
        .unwrap_or_else(|_| "operator".into())
}

/// `reclaim`: the plan (`--dry-run`), or carried out.
pub(crate) async fn reclaim(a: ReclaimArgs) -> Result<()> {
    let job = if a.dry_run { Job::Plan } else { Job::Carry };
    match run(&a.store, &a.portal, job).await? {
        Done::Plan(plan) => print_plan(&plan, a.json),
        Done::Report(report) => print_report(&report, a.json),
        Done::Extended(_) => bail!("reclaim does not extend"),
    }
}

/// `extend`: moves one seat's end.
pub(crate) async fn extend(a: ExtendArgs) -> Result<()> {
    let email = Email::parse(&a.email).map_err(|e| anyhow!("--email: {e}"))?;
    let now = Clock::system().now();
    let until = match (&a.until, a.days) {
        (Some(day), _) => Day::parse(day).map_err(|e| anyhow!("--until: {e}"))?.end(),
        (None, Some(days)) => now + i64::from(days) * DAY_MS,
        (None, None) => bail!("give --until YYYY-MM-DD or --days N"),
    };
    let job = Job::Extend {
        email,
        pool: a.pool.clone(),
        until,
    };
    match run(&a.store, &a.portal, job).await? {
        Done::Extended(claim) => {
            println!(
                "{} in {}: extended until {} (UTC).",
                claim.username.as_deref().unwrap_or(&claim.key.person),
                claim.key.pool,
                Day::of(until.saturating_sub(1))
            );
            Ok(())
        }
        _ => bail!("extend answered something else"),
    }
}

fn print_report(report: &LifecycleReport, json: bool) -> Result<()> {
    if json {
        let applied: Vec<_> = report
            .applied
            .iter()
            .map(|a| {
                serde_json::json!({
                    "pool": a.planned.pool.as_str(),
                    "username": a.planned.username,
                    "person": a.planned.person,
                    "step": format!("{:?}", a.planned.what),
                    "done": format!("{:?}", a.done),
                    "seat_returned": a.done.seat_returned(),
                    "told": a.told,
                })
            })
            .collect();
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "dry_run": false,
                "applied": applied,
                "skipped": report.skipped.iter().map(|s| serde_json::json!({
                    "pool": s.pool.as_str(), "username": s.username, "why": s.what.as_str(),
                })).collect::<Vec<_>>(),
                "admitted": report.admitted,
            }))?
        );
    } else {
        print!("{}", render_report(report));
    }
    Ok(())
}

fn print_plan(plan: &LifecyclePlan, json: bool) -> Result<()> {
    if json {
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
        print!("{}", render(plan));
    }
    Ok(())
}
