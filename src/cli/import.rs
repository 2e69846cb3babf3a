//! `agol-seat-broker import FILE.csv`: validate a CSV file in the AdminTools
//! "Import Users from CSV" layout, print the plan, then create and update the
//! members through the seat ledger and the portal client.
//!
//! Exit codes: 0 every row created, updated or unchanged; 1 some rows were
//! refused, failed or left for later (or the import could not run); 2 the
//! file is invalid and nothing was written.

use std::io::IsTerminal as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, anyhow, bail};
use clap::Args;

use crate::config::{Secrets, SecretsSource, WorkflowSettings, normalise_portal_url};
use crate::ids::Ids;
use crate::import::report::{Observer, RowResult, default_report_path, outcome};
use crate::import::{self, ImportOptions, ImportSummary};
use crate::policy::Rules;
use crate::portal::Portal;
use crate::portal::arcgis::ArcGisPortal;
use crate::portal::simulator::RunningSimulator;
use crate::seats::SeatLedger;
use crate::seats::dynamo::{DynamoLedger, client_for_endpoint};
use crate::seats::memory::MemoryLedger;
use crate::seats::sqlite::SqliteLedger;
use crate::startup;
use crate::startup::local::{Store, simulated_portal};

/// `--portal simulator`: the built-in, empty simulated organization.
const SIMULATOR: &str = "simulator";

/// Arguments of `import`.
#[derive(Debug, Args)]
pub struct ImportArgs {
    /// The CSV file (AdminTools layout: username, email, and optional
    /// fullName, firstName, lastName, role, roleid, level, userType, access,
    /// userLicenseTypeId, groups).
    pub file: PathBuf,
    /// The rules file (pools).
    #[arg(long, short, default_value = "config/rules.toml", env = "RULES_PATH")]
    pub config: PathBuf,
    /// Where seats are kept: `sqlite:<file>` or `dynamodb:<table>` (not
    /// used with `--portal simulator`).
    #[arg(long, default_value = "sqlite:data/ledger.db", env = "LEDGER_STORE")]
    pub store: String,
    /// DynamoDB endpoint override (DynamoDB Local), for `dynamodb:` stores.
    #[arg(long, env = "DYNAMODB_ENDPOINT")]
    pub dynamodb_endpoint: Option<String>,
    /// `simulator` (an empty simulated organization, to try a file out:
    /// its seats go to a throw-away store in memory, never to --store) or
    /// your organization's URL; a real portal takes the administrator's
    /// credentials from ARCGIS_USERNAME and ARCGIS_PASSWORD (or
    /// ARCGIS_PASSWORD_FILE).
    #[arg(long, default_value = "simulator", env = "PORTAL_URL")]
    pub portal: String,
    /// Validate and print the plan; write nothing but the result file.
    #[arg(long)]
    pub dry_run: bool,
    /// Import the valid rows even when others are refused; a full pool gets
    /// exactly its free seats and the rest are reported `pool_full`.
    #[arg(long)]
    pub partial: bool,
    /// Put every new member in this pool instead of asking the rules.
    #[arg(long)]
    pub pool: Option<String>,
    /// Let rows create or promote organization administrators (`role`
    /// Administrator, `roleid` org_admin, a custom role whose name says
    /// admin); without it such rows are refused (`admin_role_not_allowed`).
    #[arg(long)]
    pub allow_admin_roles: bool,
    /// Rows written at the same time.
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u16).range(1..=256))]
    pub concurrency: u16,
    /// The result file (default: `<file>.result.csv` beside the input).
    #[arg(long)]
    pub report: Option<PathBuf>,
    /// How long one row keeps retrying while the portal is unavailable,
    /// in seconds, before it is reported `retry_later`.
    #[arg(long, default_value_t = 900)]
    pub retry_budget_secs: u64,
    /// Print every row of the plan (by default: every row of small files,
    /// and the refused rows of large ones).
    #[arg(long, short)]
    pub verbose: bool,
}

/// Runs the command; exits the process with 1 or 2 when rows were refused.
pub async fn run(a: ImportArgs) -> Result<()> {
    let code = import(a).await?;
    if code != 0 {
        std::process::exit(i32::from(code));
    }
    Ok(())
}

async fn import(a: ImportArgs) -> Result<u8> {
    let rules = Rules::load(&a.config).map_err(|e| anyhow!("{}: {e}", a.config.display()))?;
    if !a.file.is_file() {
        bail!("{} is not a file", a.file.display());
    }
    let report = a
        .report
        .clone()
        .unwrap_or_else(|| default_report_path(&a.file));
    if same_file(&report, &a.file) {
        bail!("the result file would overwrite the input; pass another --report");
    }
    let opts = ImportOptions {
        dry_run: a.dry_run,
        partial: a.partial,
        pool: a.pool.clone(),
        allow_admin_roles: a.allow_admin_roles,
        concurrency: usize::from(a.concurrency),
        retry_budget: Duration::from_secs(a.retry_budget_secs),
        workflow: WorkflowSettings::default(),
        ..ImportOptions::default()
    };
    // One import of a file at a time on this machine: a second one would
    // take the first one's rows for a dead run's.
    let _lock = if a.dry_run {
        None
    } else {
        Some(lock_file(&a.file)?)
    };
    let observer = Arc::new(Printer::new(a.verbose, rules.clone()));
    let (portal, _sim) = portal(&a.portal, &rules, &opts.workflow, &opts.ids).await?;
    let summary = if a.portal == SIMULATOR {
        // The built-in simulator's members vanish when the command ends: a
        // seat kept in a lasting store would outlive its member and refuse
        // the next run of the file (`already_member`). Its seats go to a
        // throw-away store in memory instead, whatever --store says.
        println!(
            "Importing {} (portal simulator (built in, empty); store: a throw-away one in memory)",
            a.file.display()
        );
        println!(
            "The built-in simulator forgets its members when the command ends, so its seats go to a throw-away store, not to {}: nothing lasts. Name your organization with --portal URL to import for real.",
            a.store
        );
        go(
            Arc::new(MemoryLedger::new()),
            portal,
            &rules,
            &a.file,
            &report,
            &opts,
            observer.clone(),
        )
        .await?
    } else {
        println!(
            "Importing {} (store {}, portal {})",
            a.file.display(),
            a.store,
            a.portal
        );
        match Store::parse(&a.store, a.dynamodb_endpoint.clone()).map_err(|e| anyhow!("{e}"))? {
            Store::Sqlite(path) => {
                if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                    std::fs::create_dir_all(dir)?;
                }
                let ledger =
                    SqliteLedger::open(&path).map_err(|e| anyhow!("{}: {e}", path.display()))?;
                go(
                    Arc::new(ledger),
                    portal,
                    &rules,
                    &a.file,
                    &report,
                    &opts,
                    observer.clone(),
                )
                .await?
            }
            Store::Dynamo { table, endpoint } => {
                let client = client_for_endpoint(endpoint.as_deref()).await;
                let ledger = DynamoLedger::new(client, table);
                go(
                    Arc::new(ledger),
                    portal,
                    &rules,
                    &a.file,
                    &report,
                    &opts,
                    observer.clone(),
                )
                .await?
            }
        }
    };
    observer.finish_bar();
    print_summary(&summary, &opts, observer.elapsed());
    Ok(summary.exit_code())
}

async fn go<L: SeatLedger, P: Portal>(
    ledger: Arc<L>,
    portal: P,
    rules: &Rules,
    file: &Path,
    report: &Path,
    opts: &ImportOptions,
    observer: Arc<Printer>,
) -> Result<ImportSummary> {
    import::run(
        ledger,
        Arc::new(portal),
        rules,
        file,
        report,
        opts,
        observer,
    )
    .await
    .map_err(|e| anyhow!("{e}"))
}

/// The ArcGIS client for the organization, or for a simulator started here.
async fn portal(
    choice: &str,
    rules: &Rules,
    workflow: &WorkflowSettings,
    ids: &Ids,
) -> Result<(ArcGisPortal, Option<RunningSimulator>)> {
    if choice != SIMULATOR {
        let url = normalise_portal_url(choice).map_err(|e| anyhow!("{e}"))?;
        let secrets = Secrets::load(&SecretsSource::Environment)
            .await
            .map_err(|e| anyhow!("{e}"))?;
        let p = startup::arcgis_portal(&url, "agol-seat-broker", &secrets, workflow)
            .map_err(|e| anyhow!("{e}"))?;
        return Ok((p, None));
    }
    let (p, running) = simulated_portal(rules, workflow, ids, |_| {})
        .await
        .map_err(|e| anyhow!("{e}"))?;
    Ok((p, Some(running)))
}

fn same_file(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(x), Ok(y)) => x == y,
        _ => false,
    }
}

/// An exclusive lock per file content, released by the OS when the process
/// ends (even on kill -9).
fn lock_file(input: &Path) -> Result<std::fs::File> {
    let hash = import::validate::file_hash(input)
        .with_context(|| format!("cannot read {}", input.display()))?;
    let path = std::env::temp_dir().join(format!("agol-seat-broker-import-{hash}.lock"));
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .with_context(|| format!("cannot open {}", path.display()))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => bail!(
            "another import of this file is running on this machine (lock {})",
            path.display()
        ),
        Err(std::fs::TryLockError::Error(e)) => {
            Err(e).with_context(|| format!("cannot lock {}", path.display()))
        }
    }
}

/// Rows of the plan printed in full when the file is this small.
const SMALL_FILE_ROWS: u64 = 200;
/// Refused rows printed at most (all of them are in the result file).
const MAX_PRINTED_ERRORS: u64 = 50;

/// Prints the plan and the progress: a bar on a terminal, a line every few
/// seconds otherwise.
struct Printer {
    verbose: bool,
    /// The rules (each pool's seats, in the plan's summary).
    rules: Rules,
    started: Instant,
    printed_errors: AtomicU64,
    planned: AtomicU64,
    done: AtomicU64,
    total: AtomicU64,
    bar: Mutex<Option<indicatif::ProgressBar>>,
    last_line: Mutex<Instant>,
}

impl Printer {
    fn new(verbose: bool, rules: Rules) -> Self {
        Printer {
            verbose,
            rules,
            started: Instant::now(),
            printed_errors: AtomicU64::new(0),
            planned: AtomicU64::new(0),
            done: AtomicU64::new(0),
            total: AtomicU64::new(0),
            bar: Mutex::new(None),
            last_line: Mutex::new(Instant::now()),
        }
    }

    fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    fn finish_bar(&self) {
        if let Some(bar) = self.bar.lock().unwrap_or_else(|p| p.into_inner()).take() {
            bar.finish_and_clear();
        }
    }

    fn line(&self, r: &RowResult) -> String {
        let msg = if r.message.is_empty() {
            String::new()
        } else {
            format!("  {}", r.message)
        };
        format!("row {:<6} {:<11} {:<20}{msg}", r.row, r.outcome, r.username)
    }
}

impl Observer for Printer {
    fn planned(&self, r: &RowResult) {
        let n = self.planned.fetch_add(1, Ordering::Relaxed) + 1;
        if r.outcome == outcome::ERROR {
            let k = self.printed_errors.fetch_add(1, Ordering::Relaxed);
            if self.verbose || k < MAX_PRINTED_ERRORS {
                println!("{}", self.line(r));
            } else if k == MAX_PRINTED_ERRORS {
                println!("… more refused rows: see the result file");
            }
        } else if self.verbose || n <= SMALL_FILE_ROWS {
            println!("{}", self.line(r));
        }
    }

    fn validated(&self, s: &ImportSummary) {
        print_plan(s, &self.rules);
    }

    fn start(&self, total: u64) {
        self.total.store(total, Ordering::Relaxed);
        if std::io::stdout().is_terminal() {
            let bar = indicatif::ProgressBar::with_draw_target(
                Some(total),
                indicatif::ProgressDrawTarget::stdout(),
            );
            bar.set_style(
                indicatif::ProgressStyle::with_template(
                    "{elapsed_precise} [{bar:40}] {pos}/{len} rows  {per_sec}  eta {eta}  {msg}",
                )
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
                .progress_chars("=> "),
            );
            *self.bar.lock().unwrap_or_else(|p| p.into_inner()) = Some(bar);
        } else {
            println!("Writing {total} rows…");
        }
    }

    fn finished(&self, _r: &RowResult) {
        let done = self.done.fetch_add(1, Ordering::Relaxed) + 1;
        if let Some(bar) = &*self.bar.lock().unwrap_or_else(|p| p.into_inner()) {
            bar.set_position(done);
            return;
        }
        let total = self.total.load(Ordering::Relaxed);
        let mut last = self.last_line.lock().unwrap_or_else(|p| p.into_inner());
        if last.elapsed() >= Duration::from_secs(5) || done == total {
            *last = Instant::now();
            println!("progress: {done}/{total} rows");
        }
    }

    fn slowed(&self, pause: Duration) {
        let msg = format!("the portal is busy: pausing {:.1} s", pause.as_secs_f64());
        match &*self.bar.lock().unwrap_or_else(|p| p.into_inner()) {
            Some(bar) => bar.set_message(msg),
            None => println!("{msg}"),
        }
    }
}

/// The plan's summary, once the file is validated and before anything is
/// written.
fn print_plan(s: &ImportSummary, rules: &Rules) {
    let v = &s.validation;
    if s.settled.confirmed + s.settled.released > 0 {
        println!(
            "Resumed an interrupted run of this file: {} seat(s) confirmed, {} released.",
            s.settled.confirmed, s.settled.released
        );
    }
    let mut codes: Vec<String> = v.codes.iter().map(|(c, n)| format!("{c} {n}")).collect();
    if codes.is_empty() {
        codes.push("none".into());
    }
    println!(
        "Plan for {} rows ({} members read): create {}, update {}, unchanged {}, refused {} ({}){}",
        v.rows,
        s.members_read,
        v.creates,
        v.updates,
        v.unchanged,
        v.refused.len(),
        codes.join(", "),
        if v.empty > 0 {
            format!(", empty {}", v.empty)
        } else {
            String::new()
        }
    );
    for (pool, ask) in &v.pools {
        let seats = rules.pool(pool.as_str()).map(|p| p.seats).unwrap_or(0);
        println!(
            "  pool {pool}: {seats} seats, {} free; {} new asked{}",
            ask.free,
            ask.asked,
            if ask.refused > 0 {
                format!(", {} refused (pool_full)", ask.refused)
            } else {
                String::new()
            }
        );
    }
}

/// How the import ended, and where the result file is.
fn print_summary(s: &ImportSummary, opts: &ImportOptions, elapsed: Duration) {
    if !s.header_errors.is_empty() {
        println!(
            "Error: the file cannot be imported, the header line cannot be used: nothing was written."
        );
        for e in &s.header_errors {
            println!("header  {}: {}", e.code, e.message);
        }
        println!(
            "Result file: {} (row 0 = the header line)",
            s.report.display()
        );
        return;
    }
    let v = &s.validation;
    if opts.dry_run {
        println!("Dry run: nothing was written.");
    } else if !s.wrote {
        println!(
            "Nothing was written: {} row(s) are refused. Fix them, or run with --partial to import the {} valid row(s).",
            v.refused.len(),
            v.creates + v.updates + v.unchanged
        );
    } else {
        println!(
            "Done in {:.1} s: {}{}",
            elapsed.as_secs_f64(),
            s.results.summary(),
            if s.pauses > 0 {
                format!(" (the portal was busy: paused {} time(s))", s.pauses)
            } else {
                String::new()
            }
        );
    }
    println!(
        "Result file: {} (row = data row; row 1 is the line after the header)",
        s.report.display()
    );
}
