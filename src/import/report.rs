//! The result file (`row,outcome,username,message`, one line per data row,
//! in file order; or, when the header line is unusable, one line per header
//! problem as row 0) and the counts the command prints and turns into an exit
//! code.
//!
//! Every cell is written through [`neutralise`]: a cell a spreadsheet would
//! read as a formula gets a leading single quote (OWASP, CSV injection), so
//! a refused row's username cannot run in the administrator's spreadsheet.
//!
//! Rows finish out of order under concurrency; [`ResultWriter`] holds the
//! early ones until the rows before them are done, so the file is written
//! as it goes, in order, and holds at most the rows in flight plus those
//! finished behind a slow one.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::{BufWriter, Write as _};
use std::path::{Path, PathBuf};

/// Row outcomes, as written in the result file.
pub mod outcome {
    /// Dry run: the row would create a member.
    pub const CREATE: &str = "create";
    /// Dry run: the row would update a member.
    pub const UPDATE: &str = "update";
    /// The member was created.
    pub const CREATED: &str = "created";
    /// The member was updated.
    pub const UPDATED: &str = "updated";
    /// Nothing to change (also: done by an earlier run).
    pub const UNCHANGED: &str = "unchanged";
    /// Refused at validation; the message starts with the code.
    pub const ERROR: &str = "error";
    /// The portal or the ledger refused the change; the message says what.
    pub const FAILED: &str = "failed";
    /// The portal stayed unavailable past the retry budget: run the file
    /// again later.
    pub const RETRY_LATER: &str = "retry_later";
    /// Not attempted (an empty row, or a file with errors).
    pub const SKIPPED: &str = "skipped";
}

/// One line of the result file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowResult {
    /// 1-based data row.
    pub row: u64,
    /// One of [`outcome`].
    pub outcome: &'static str,
    /// The row's username (as the portal has it, when known).
    pub username: String,
    /// Codes and details; never secrets.
    pub message: String,
}

impl RowResult {
    /// A result.
    pub fn new(
        row: u64,
        outcome: &'static str,
        username: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        RowResult {
            row,
            outcome,
            username: username.into(),
            message: message.into(),
        }
    }
}

/// How many rows ended how.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counts {
    /// Per outcome.
    pub by_outcome: BTreeMap<&'static str, u64>,
}

impl Counts {
    /// Counts one row.
    pub fn add(&mut self, outcome: &'static str) {
        *self.by_outcome.entry(outcome).or_default() += 1;
    }

    /// Rows with this outcome.
    pub fn get(&self, outcome: &str) -> u64 {
        self.by_outcome.get(outcome).copied().unwrap_or(0)
    }

    /// Rows that did not end well (error, failed, retry later).
    pub fn not_done(&self) -> u64 {
        self.get(outcome::ERROR) + self.get(outcome::FAILED) + self.get(outcome::RETRY_LATER)
    }

    /// `created 3, updated 1, unchanged 10`.
    pub fn summary(&self) -> String {
        if self.by_outcome.is_empty() {
            return "no rows".into();
        }
        self.by_outcome
            .iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// The default result file: `<input stem>.result.csv` beside the input.
pub fn default_report_path(input: &Path) -> PathBuf {
    let stem = input
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "import".into());
    input.with_file_name(format!("{stem}.result.csv"))
}

/// A cell as the result file writes it: one that starts with `=`, `+`, `-`,
/// `@`, a tab or a carriage return (which a spreadsheet may run as a
/// formula) gets a leading single quote, as OWASP advises against CSV
/// injection; any other cell is written as is.
pub fn neutralise(cell: &str) -> Cow<'_, str> {
    match cell.as_bytes().first() {
        Some(b'=' | b'+' | b'-' | b'@' | b'\t' | b'\r') => Cow::Owned(format!("'{cell}")),
        _ => Cow::Borrowed(cell),
    }
}

/// Writes result lines in row order as rows finish.
pub struct ResultWriter {
    out: csv::Writer<BufWriter<File>>,
    pending: HashMap<u64, RowResult>,
    next: u64,
    /// Counts of the rows written.
    pub counts: Counts,
    since_flush: u32,
}

impl ResultWriter {
    /// Creates (truncates) the file and writes the header.
    pub fn create(path: &Path) -> std::io::Result<ResultWriter> {
        let file = File::create(path)?;
        let mut out = csv::Writer::from_writer(BufWriter::new(file));
        out.write_record(["row", "outcome", "username", "message"])
            .map_err(std::io::Error::other)?;
        Ok(ResultWriter {
            out,
            pending: HashMap::new(),
            next: 1,
            counts: Counts::default(),
            since_flush: 0,
        })
    }

    /// Adds a finished row; writes it and any rows it was holding back.
    pub fn push(&mut self, r: RowResult) -> std::io::Result<()> {
        self.pending.insert(r.row, r);
        while let Some(r) = self.pending.remove(&self.next) {
            self.counts.add(r.outcome);
            let row = r.row.to_string();
            self.out
                .write_record(
                    [row.as_str(), r.outcome, &r.username, &r.message]
                        .map(|cell| neutralise(cell).into_owned()),
                )
                .map_err(std::io::Error::other)?;
            self.next += 1;
            self.since_flush += 1;
        }
        // Flushed every few hundred lines so an interrupted import leaves
        // a useful partial file behind.
        if self.since_flush >= 256 {
            self.out.flush()?;
            self.since_flush = 0;
        }
        Ok(())
    }

    /// Writes why the file cannot be imported at all: one `error` line per
    /// header problem, as row 0 (the header line), the message starting
    /// with the code. Not counted as rows.
    pub fn header_errors(&mut self, errors: &[super::layout::HeaderError]) -> std::io::Result<()> {
        for e in errors {
            let message = format!("{}: {}", e.code, e.message);
            self.out
                .write_record(
                    ["0", outcome::ERROR, "", &message].map(|cell| neutralise(cell).into_owned()),
                )
                .map_err(std::io::Error::other)?;
        }
        Ok(())
    }

    /// Rows finished but held back behind an unfinished one.
    pub fn held_back(&self) -> usize {
        self.pending.len()
    }

    /// Writes whatever is left (there should be nothing) and flushes.
    pub fn finish(mut self) -> std::io::Result<Counts> {
        let mut rest: Vec<u64> = self.pending.keys().copied().collect();
        rest.sort_unstable();
        for row in rest {
            if let Some(r) = self.pending.remove(&row) {
                self.next = row;
                self.push(r)?;
            }
        }
        self.out.flush()?;
        let mut inner = self.out.into_inner().map_err(|e| e.into_error())?;
        inner.flush()?;
        inner.get_ref().sync_all()?;
        Ok(self.counts)
    }
}

/// What the command shows while it works: the plan, then progress.
pub trait Observer: Send + Sync {
    /// A row planned by the validation pass (outcome and message as in the
    /// dry-run result file).
    fn planned(&self, _row: &RowResult) {}
    /// The validation pass is done (the plan's totals are in
    /// `summary.validation`); called before anything is written, and in a
    /// dry run too.
    fn validated(&self, _summary: &super::ImportSummary) {}
    /// Writing starts; `total` rows will be reported.
    fn start(&self, _total: u64) {}
    /// A row finished.
    fn finished(&self, _row: &RowResult) {}
    /// The portal answered "unavailable": the import slows down.
    fn slowed(&self, _pause: std::time::Duration) {}
    /// All rows are done.
    fn done(&self) {}
}

/// An observer that shows nothing.
pub struct Quiet;

impl Observer for Quiet {}

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue 13: a cell a spreadsheet would run as a formula (OWASP CSV
    /// injection: `=`, `+`, `-`, `@`, tab, carriage return first) is
    /// written with a leading single quote, in every cell.
    #[test]
    fn cells_a_spreadsheet_would_run_as_formulas_get_a_leading_quote() {
        let dir = std::env::temp_dir().join(format!(
            "asb-report-injection-{}-{}",
            std::process::id(),
            crate::clock::now_millis()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("r.csv");
        let mut w = ResultWriter::create(&path).unwrap();
        for (row, username, message) in [
            (1, "=HYPERLINK(\"http://x\",\"y\")", "-2+3"),
            (2, "+cmd", "@SUM(A1)"),
            (3, "\tx", "\rx"),
            (4, "ana_acme", "invalid_username: username \"=1\""),
            (5, "", ""),
        ] {
            w.push(RowResult::new(row, outcome::ERROR, username, message))
                .unwrap();
        }
        w.finish().unwrap();
        let mut r = csv::Reader::from_path(&path).unwrap();
        let rows: Vec<Vec<String>> = r
            .records()
            .map(|rec| rec.unwrap().iter().map(str::to_string).collect())
            .collect();
        let cells = |i: usize| (rows[i][2].as_str(), rows[i][3].as_str());
        assert_eq!(cells(0), ("'=HYPERLINK(\"http://x\",\"y\")", "'-2+3"));
        assert_eq!(cells(1), ("'+cmd", "'@SUM(A1)"));
        assert_eq!(cells(2), ("'\tx", "'\rx"));
        assert_eq!(
            cells(3),
            ("ana_acme", "invalid_username: username \"=1\""),
            "only the first character counts"
        );
        assert_eq!(cells(4), ("", ""));
        assert!(rows.iter().all(|r| !r[0].starts_with('\'')));
        std::fs::remove_dir_all(&dir).ok();
    }
}
