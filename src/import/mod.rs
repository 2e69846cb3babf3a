//! Import users from a CSV file in the layout of the ArcGIS AdminTools
//! "Import Users from CSV" tool (see [`layout`] for the columns).
//!
//! # How an import runs
//!
//! 1. **Settle** (not in a dry run): seats an interrupted run of the same
//!    file left reserved are confirmed or released
//!    ([`Provisioner::settle_import`]).
//! 2. **Read the state once**: every member, role and group of the
//!    organization ([`org::OrgView`]) and every pool's usage and claims
//!    ([`org::SeatView`]).
//! 3. **Validate** the whole file, streaming ([`validate`]): per-row checks,
//!    duplicates, pool arithmetic. Each row is planned ([`plan`]): create,
//!    update (with the changed fields), unchanged, or error with a stable
//!    code. `--dry-run` stops here and writes the plan as the result file.
//!    A file with any refused row writes nothing (exit 2) unless `--partial`,
//!    which imports the valid rows and reports the others.
//! 4. **Write** ([`execute`]): the file is read again and the same plan
//!    carried out with bounded concurrency; new members go through the seat
//!    ledger and the provisioning workflow; results go to the result file in
//!    row order ([`report`]).
//!
//! Row numbers are 1-based **data rows**: row 1 is the first record after
//! the header, and a blank line is a row (an empty one, `skipped`), so row
//! N is the row a spreadsheet shows as N + 1. (They equal line numbers
//! minus one unless a quoted cell holds a line break.)

pub mod execute;
pub mod layout;
pub mod org;
pub mod plan;
pub mod report;
pub mod row;
pub mod validate;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::JoinSet;

use crate::clock::Clock;
use crate::config::WorkflowSettings;
use crate::ids::Ids;
use crate::policy::{Policy, Rules};
use crate::portal::{Portal, PortalError};
use crate::provisioning::{Provisioner, SettleError, Settled};
use crate::seats::{LedgerError, SeatLedger};

use execute::Executor;
use layout::HeaderError;
use org::{OrgView, SeatView};
use plan::{Action, Context, RowPlan};
use report::{Counts, Observer, ResultWriter, RowResult, outcome};
use validate::{Duplicates, Records, Validation, Validator};

/// How to import.
#[derive(Debug, Clone)]
pub struct ImportOptions {
    /// Validate and write the plan only.
    pub dry_run: bool,
    /// Import the valid rows of a file that has refused ones (a full pool
    /// gets exactly its free seats; the rest are reported `pool_full`).
    pub partial: bool,
    /// Put every new member in this pool instead of asking the rules.
    pub pool: Option<String>,
    /// Let rows create or promote organization administrators (`role` or
    /// `roleid` naming an administrator role); off, such rows are refused
    /// `admin_role_not_allowed`. (`--allow-admin-roles`;
    /// `IMPORT_ALLOW_ADMIN_ROLES=true` for the import function.)
    pub allow_admin_roles: bool,
    /// Rows written at the same time.
    pub concurrency: usize,
    /// How long one row keeps retrying while the portal is unavailable
    /// before it is reported `retry_later`.
    pub retry_budget: Duration,
    /// Shortest and longest pause of every worker after an "unavailable".
    pub backoff: (Duration, Duration),
    /// The workflow's tunables (deadline per portal call chain, lease…).
    pub workflow: WorkflowSettings,
    /// The process's clock.
    pub clock: Clock,
    /// The process's id source (claim ids of moved seats).
    pub ids: Ids,
}

impl Default for ImportOptions {
    fn default() -> Self {
        ImportOptions {
            dry_run: false,
            partial: false,
            pool: None,
            allow_admin_roles: false,
            concurrency: 8,
            retry_budget: Duration::from_secs(15 * 60),
            backoff: (Duration::from_millis(500), Duration::from_secs(30)),
            workflow: WorkflowSettings::default(),
            clock: Clock::system(),
            ids: Ids::random(),
        }
    }
}

/// What an import did.
#[derive(Debug, Clone, Default)]
pub struct ImportSummary {
    /// Header problems (the file was not read further).
    pub header_errors: Vec<HeaderError>,
    /// The validation pass.
    pub validation: Validation,
    /// Rows per outcome, as written to the result file.
    pub results: Counts,
    /// Seats of an interrupted run that were settled first.
    pub settled: Settled,
    /// Whether the writing pass ran.
    pub wrote: bool,
    /// How often the portal made the import pause.
    pub pauses: u64,
    /// The result file.
    pub report: PathBuf,
    /// Organization members read before validating.
    pub members_read: usize,
}

impl ImportSummary {
    /// 0: every row created, updated or unchanged; 1: some rows refused,
    /// failed or left for later; 2: the file is invalid and nothing was
    /// written.
    pub fn exit_code(&self) -> u8 {
        if !self.header_errors.is_empty() || (!self.wrote && self.validation.has_errors()) {
            2
        } else if self.results.not_done() > 0 || self.validation.has_errors() {
            1
        } else {
            0
        }
    }
}

/// An import that could not run at all.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// Bad options (an unknown `--pool`).
    #[error("{0}")]
    Options(String),
    /// The input or result file.
    #[error("{path}: {source}")]
    Io {
        /// Which file.
        path: PathBuf,
        /// What went wrong.
        source: std::io::Error,
    },
    /// The organization could not be read.
    #[error("cannot read the organization: {0}")]
    Portal(#[from] PortalError),
    /// The ledger could not be read.
    #[error("cannot read the seat ledger: {0}")]
    Ledger(#[from] LedgerError),
    /// A task of the import itself failed (a bug).
    #[error("internal error: {0}")]
    Internal(String),
    /// Settling an interrupted run failed.
    #[error("cannot settle the seats of an interrupted run: {0}")]
    Settle(#[from] SettleError),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> ImportError + '_ {
    move |source| ImportError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Imports `input`, writing the result file to `report`.
pub async fn run<L: SeatLedger, P: Portal>(
    ledger: Arc<L>,
    portal: Arc<P>,
    rules: &Rules,
    input: &Path,
    report: &Path,
    opts: &ImportOptions,
    observer: Arc<dyn Observer>,
) -> Result<ImportSummary, ImportError> {
    if let Some(p) = &opts.pool
        && rules.pool(p).is_none()
    {
        return Err(ImportError::Options(format!(
            "--pool {p:?} is not a pool of the rules"
        )));
    }
    let mut summary = ImportSummary {
        report: report.to_path_buf(),
        ..ImportSummary::default()
    };
    let hash_of = input.to_path_buf();
    let file_hash = tokio::task::spawn_blocking(move || validate::file_hash(&hash_of))
        .await
        .map_err(|e| ImportError::Internal(format!("hashing task failed: {e}")))?
        .map_err(io(input))?;
    let mut reader = validate::open(input).map_err(io(input))?;
    let layout = match validate::read_layout(&mut reader) {
        Ok(l) => l,
        Err(errors) => {
            // The result file says why (row 0: the header line).
            ResultWriter::create(report)
                .and_then(|mut w| {
                    w.header_errors(&errors)?;
                    w.finish()
                })
                .map_err(io(report))?;
            summary.header_errors = errors;
            return Ok(summary);
        }
    };
    drop(reader);

    // The workflow over every pool: settles an interrupted run's seats and
    // moves the seats of updated members.
    let workflow = Arc::new(
        Provisioner::new(
            ledger.clone(),
            portal.clone(),
            Arc::new(Policy::new(rules.clone())),
            opts.workflow.clone(),
        )
        .with_clock(opts.clock.clone())
        .with_ids(opts.ids.clone()),
    );
    if !opts.dry_run {
        summary.settled = workflow.settle_import(&file_hash, opts.clock.now()).await?;
    }
    // Group membership is read per group only when the file can ask for
    // groups; an import without the column makes no such calls.
    let org = OrgView::load(&*portal, layout.has(layout::Column::Groups)).await?;
    summary.members_read = org.member_count();
    let seats = SeatView::load(&*ledger, rules).await?;
    let ctx = Arc::new(
        Context::new(
            layout,
            org,
            seats,
            rules,
            opts.pool.as_deref(),
            file_hash.clone(),
        )
        .map_err(ImportError::Options)?
        .with_admin_roles(opts.allow_admin_roles),
    );

    // Pass 1: validate. A dry run writes the plan as its result file.
    let dry = opts.dry_run;
    summary.validation = {
        let (ctx, input, report, observer) = (
            ctx.clone(),
            input.to_path_buf(),
            report.to_path_buf(),
            observer.clone(),
        );
        tokio::task::spawn_blocking(move || {
            let mut writer = if dry {
                Some(ResultWriter::create(&report).map_err(io(&report))?)
            } else {
                None
            };
            let v = validation_pass(&ctx, &input, |plan| {
                let (o, m) = plan.describe();
                let line = RowResult::new(plan.row, o, &plan.username, m);
                observer.planned(&line);
                if let Some(w) = &mut writer {
                    w.push(line)?;
                }
                Ok(())
            })
            .map_err(io(&input))?;
            if let Some(w) = writer {
                w.finish().map_err(io(&report))?;
            }
            Ok::<_, ImportError>(v)
        })
        .await
        .map_err(|e| ImportError::Internal(format!("validation task failed: {e}")))??
    };
    observer.validated(&summary);
    if opts.dry_run {
        summary.results = plan_counts(&summary.validation);
        return Ok(summary);
    }
    if summary.validation.has_errors() && !opts.partial {
        // Nothing is written: the result file says why, row by row.
        let (ctx, input, report) = (ctx.clone(), input.to_path_buf(), report.to_path_buf());
        summary.results = tokio::task::spawn_blocking(move || {
            let mut w = ResultWriter::create(&report).map_err(io(&report))?;
            validation_pass(&ctx, &input, |plan| {
                let (o, m) = plan.describe();
                let line = if o == outcome::ERROR || o == outcome::SKIPPED {
                    RowResult::new(plan.row, o, &plan.username, m)
                } else {
                    let m = if m.is_empty() {
                        o.to_string()
                    } else {
                        format!("{o}: {m}")
                    };
                    RowResult::new(
                        plan.row,
                        outcome::SKIPPED,
                        &plan.username,
                        format!("not imported because other rows have errors (would {m})"),
                    )
                };
                w.push(line)
            })
            .map_err(io(&input))?;
            w.finish().map_err(io(&report))
        })
        .await
        .map_err(|e| ImportError::Internal(format!("report task failed: {e}")))??;
        return Ok(summary);
    }

    // Pass 2: write.
    summary.wrote = true;
    let executor = Arc::new(Executor::new(
        ledger,
        portal,
        workflow,
        rules,
        &opts.workflow,
        (opts.clock.clone(), opts.ids.clone()),
        opts.backoff,
        opts.retry_budget,
        file_hash,
        observer.clone(),
    ));
    let mut writer = ResultWriter::create(report).map_err(io(report))?;
    let total = summary.validation.rows;
    observer.start(total);
    let concurrency = opts.concurrency.max(1);
    let (tx, mut rx) = mpsc::channel::<Work>(concurrency * 4);
    let reader = {
        let (ctx, input) = (ctx.clone(), input.to_path_buf());
        tokio::task::spawn_blocking(move || {
            validation_pass(&ctx, &input, |plan| {
                let work = match plan.action {
                    Ok(Action::Unchanged { username }) => {
                        Work::Done(RowResult::new(plan.row, outcome::UNCHANGED, username, ""))
                    }
                    Ok(Action::Empty) => {
                        Work::Done(RowResult::new(plan.row, outcome::SKIPPED, "", "empty row"))
                    }
                    Ok(action) => Work::Do(plan.row, action),
                    Err(errors) => Work::Done(RowResult::new(
                        plan.row,
                        outcome::ERROR,
                        plan.username,
                        row::render_errors(&errors),
                    )),
                };
                // A closed channel means the writer gave up; stop reading.
                tx.blocking_send(work)
                    .map_err(|_| std::io::Error::other("import stopped"))
            })
        })
    };
    let mut inflight: JoinSet<RowResult> = JoinSet::new();
    let mut reading = true;
    let finish = |writer: &mut ResultWriter, r: RowResult| {
        observer.finished(&r);
        writer.push(r).map_err(io(report))
    };
    while reading || !inflight.is_empty() {
        tokio::select! {
            biased;
            Some(done) = inflight.join_next(), if !inflight.is_empty() => {
                let r = done.map_err(|e| ImportError::Internal(format!("a row's task failed: {e}")))?;
                finish(&mut writer, r)?;
            }
            work = rx.recv(), if reading && inflight.len() < concurrency => match work {
                None => reading = false,
                Some(Work::Done(r)) => finish(&mut writer, r)?,
                Some(Work::Do(row, action)) => {
                    let ex = executor.clone();
                    inflight.spawn(async move {
                        match action {
                            Action::Create(c) => ex.create(row, &c).await,
                            Action::Update(u) => ex.update(row, &u).await,
                            Action::Unchanged { username } => {
                                RowResult::new(row, outcome::UNCHANGED, username, "")
                            }
                            Action::Empty => RowResult::new(row, outcome::SKIPPED, "", "empty row"),
                        }
                    });
                }
            },
        }
    }
    let read = reader
        .await
        .map_err(|e| ImportError::Internal(format!("reading task failed: {e}")))?;
    read.map_err(io(input))?;
    summary.results = writer.finish().map_err(io(report))?;
    summary.pauses = executor.pauses();
    observer.done();
    Ok(summary)
}

/// A dry run's counts, from the validation.
fn plan_counts(v: &Validation) -> Counts {
    let mut c = Counts::default();
    for (o, n) in [
        (outcome::CREATE, v.creates),
        (outcome::UPDATE, v.updates),
        (outcome::UNCHANGED, v.unchanged),
        (outcome::ERROR, v.refused.len() as u64),
        (outcome::SKIPPED, v.empty),
    ] {
        if n > 0 {
            c.by_outcome.insert(o, n);
        }
    }
    c
}

/// A row for the writers: already decided, or to carry out.
enum Work {
    Done(RowResult),
    Do(u64, Action),
}

/// Reads the file, streaming (a first read for the duplicates, then the
/// planning one), and hands every planned row (empty rows as `skipped`) to
/// `each`, in order. Deterministic: the same file against
/// the same context gives the same plans, which is what lets the writing
/// pass re-read the file instead of keeping the plan in memory.
pub fn validation_pass(
    ctx: &Context,
    input: &Path,
    mut each: impl FnMut(RowPlan) -> std::io::Result<()>,
) -> std::io::Result<Validation> {
    let records = || -> std::io::Result<_> {
        let mut reader = validate::open(input)?;
        let width = reader
            .byte_headers()
            .map(|h| h.len())
            .map_err(std::io::Error::other)?;
        Ok(Records::new(reader, width))
    };
    // A first read finds the duplicates, so the first row of one is
    // refused too.
    let duplicates = Duplicates::scan(&ctx.layout, records()?).map_err(std::io::Error::other)?;
    let mut v = Validator::new(ctx, duplicates);
    for item in records()? {
        let (row, record) = item.map_err(std::io::Error::other)?;
        each(v.check(row, record))?;
    }
    Ok(v.result)
}
