//! `agol-seat-broker check-rules`: check a rules file and print its pools;
//! with `--portal`, the pre-flight check against the organization (issue
//! 15): sign-in, the broker's own account, every pool's role, user type and
//! groups, and whether the pools promise more seats of a user type than the
//! organization has licences for, counted as `reconcile` counts it (the
//! store's claims against the member list; no store or a missing SQLite
//! file: none). The rules file alone cannot know any of it.
//!
//! This file only reads the portal (and the store) and prints; what is
//! wrong is decided by [`preflight::check`], which is pure. Exit codes: 0
//! clean (notes allowed), 2 something to fix, 1 the check could not run
//! (unreadable rules file, portal unreachable).

use std::path::Path;

use anyhow::{Result, anyhow};

use super::ExitWith;
use super::open::{Opened, admin_portal};
use crate::clock::Clock;
use crate::policy::Rules;
use crate::portal::arcgis::ArcGisPortal;
use crate::portal::{Account, Members, OrgAdmin, PortalError};
use crate::provisioning::preflight::{self, Finding, OrgFacts, Preflight, Severity};
use crate::provisioning::reconcile::{ReconcileError, read_plan};
use crate::seats::dynamo::{DynamoLedger, client_for_endpoint};
use crate::seats::memory::MemoryLedger;
use crate::seats::sqlite::SqliteLedger;
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

/// The pre-flight check: [`check_rules`] (unless `json`), then the rules
/// against the organization at `portal` ([`preflight::check`]), printed
/// per pool with a summary. Reads only: nothing is written to the portal
/// or the store. Findings to fix → [`ExitWith`] code 2 (after printing);
/// a portal that cannot be reached → an error (exit 1).
pub async fn check_rules_with_portal(
    path: &Path,
    portal: &str,
    store: Option<Store>,
    json: bool,
) -> Result<()> {
    let rules = if json {
        load_rules(path)?
    } else {
        check_rules(path)?;
        load_rules(path)?
    };
    let Opened {
        portal,
        url,
        broker,
    } = admin_portal(portal).await?;
    let report = match portal.signed_in_account().await {
        Ok(account) => {
            let facts = read_facts(&portal, &rules, account, store).await?;
            preflight::check(&rules, &facts)
        }
        Err(PortalError::Auth(_)) => Preflight {
            findings: vec![Finding::sign_in_refused(&broker)],
        },
        Err(e) => return Err(anyhow!("cannot reach the portal at {url}: {e}")),
    };
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_report(&url, &rules, &report);
    }
    if report.is_clean() {
        Ok(())
    } else {
        Err(ExitWith {
            code: 2,
            message: format!(
                "check-rules: {} problem(s) found at {url}",
                report.problems()
            ),
        }
        .into())
    }
}

/// Everything the check needs, read from the portal (and the store's
/// claims, when given). A listing the portal refuses (`Rejected`, e.g. 403
/// for a non-administrator) is recorded as unreadable; any other failure
/// ends the command.
async fn read_facts(
    portal: &ArcGisPortal,
    rules: &Rules,
    account: Account,
    store: Option<Store>,
) -> Result<OrgFacts> {
    let mut unreadable = Vec::new();
    let mut refused = |what: &str, e: PortalError| -> Result<()> {
        match e {
            PortalError::Rejected { code, message } => {
                unreadable.push((what.to_string(), format!("{code} {message}")));
                Ok(())
            }
            e => Err(anyhow!("cannot read {what}: {e}")),
        }
    };
    let roles = match portal.roles().await {
        Ok(r) => Some(r),
        Err(e) => refused("the roles", e).map(|()| None)?,
    };
    let licenses = match portal.license_counts().await {
        Ok(l) => Some(l),
        Err(e) => refused("the licences", e).map(|()| None)?,
    };
    let mut titles: Vec<String> = Vec::new();
    for t in rules.pools.iter().flat_map(|p| &p.groups) {
        if !titles.contains(t) {
            titles.push(t.clone());
        }
    }
    let reported = match portal.reported_flavour().await {
        Ok(f) => f,
        Err(e) => refused("the organization (portals/self)", e).map(|()| None)?,
    };
    let groups = match portal.group_ids(&titles).await {
        Ok(ids) => Some(titles.into_iter().zip(ids).collect()),
        Err(e) => refused("the groups", e).map(|()| None)?,
    };
    let broker = account.username.clone();
    let now = Clock::system().now();
    let store_read = store.is_some();
    let plan = match store {
        None => read_plan(&MemoryLedger::new(), portal, rules, &broker, now).await,
        Some(Store::Sqlite(path)) if !path.exists() => {
            read_plan(&MemoryLedger::new(), portal, rules, &broker, now).await
        }
        Some(Store::Sqlite(path)) => {
            let ledger =
                SqliteLedger::open(&path).map_err(|e| anyhow!("{}: {e}", path.display()))?;
            read_plan(&ledger, portal, rules, &broker, now).await
        }
        Some(Store::Dynamo { table, endpoint }) => {
            let ledger = DynamoLedger::new(client_for_endpoint(endpoint.as_deref()).await, table);
            read_plan(&ledger, portal, rules, &broker, now).await
        }
    };
    let capacity = match plan {
        Ok(plan) => Some(plan.capacity),
        Err(ReconcileError::Portal(e)) => {
            refused("the members and invitations", e).map(|()| None)?
        }
        Err(e) => return Err(anyhow!("{e} ({})", e.code())),
    };
    Ok(OrgFacts {
        account,
        roles,
        licenses,
        groups,
        capacity,
        store_read,
        unreadable,
        configured: portal.flavour(),
        reported,
    })
}

/// The findings as an administrator reads them: the account, each pool,
/// the licences, then the summary.
fn print_report(url: &str, rules: &Rules, report: &Preflight) {
    println!("pre-flight check against {url}:");
    let line = |f: &Finding| {
        let tag = match f.severity {
            Severity::Problem => "problem",
            Severity::Note => "note",
        };
        println!("    {tag}: {}", f.message);
    };
    let general: Vec<&Finding> = report.of_pool(None).collect();
    println!(
        "  account and licences:{}",
        if general.is_empty() { " ok" } else { "" }
    );
    general.into_iter().for_each(line);
    for pool in &rules.pools {
        let id = pool.id.to_string();
        let found: Vec<&Finding> = report.of_pool(Some(&id)).collect();
        println!("  pool {id}:{}", if found.is_empty() { " ok" } else { "" });
        found.into_iter().for_each(line);
    }
    println!("{}", report.summary());
}
