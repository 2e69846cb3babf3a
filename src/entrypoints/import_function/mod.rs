//! The import without a terminal: a Lambda function triggered when a CSV file
//! is uploaded to the import bucket (`s3:ObjectCreated:*` under a prefix).
//! It runs the same import as the command (DynamoDB ledger, ArcGIS client)
//! and writes the result file beside the upload as `<key>.result.csv`.
//!
//! - Only `*.csv` keys under the prefix are imported; `*.result.csv` keys
//!   (its own output, which lands under the same prefix and would trigger it
//!   again) are skipped. A key ending in `.dry-run.csv` is validated only.
//! - The function runs one invocation at a time (reserved concurrency 1 in
//!   `template.yaml`), which is what lets an import resume a run of the same
//!   file that died (a timeout): S3 retries the event, and the retry finishes
//!   the rows the first attempt did not.
//! - An object whose import could not run (the portal or the ledger could
//!   not be read) fails the invocation, so S3's retries apply; rows that
//!   failed are in the result file and do not.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use aws_lambda_events::event::s3::S3Event;
use serde::Serialize;

use crate::import::report::{Observer, RowResult};
use crate::import::{ImportOptions, run};
use crate::policy::Rules;
use crate::portal::Portal;
use crate::seats::SeatLedger;

pub use objects::{Objects, S3Objects};

pub mod objects;

/// Suffix of the result files (never imported).
pub const RESULT_SUFFIX: &str = ".result.csv";
/// Suffix of files that are only validated.
pub const DRY_RUN_SUFFIX: &str = ".dry-run.csv";

/// The function's state, built once per cold start.
pub struct ImportFunction<L, P, O> {
    /// The seat ledger.
    pub ledger: Arc<L>,
    /// The portal.
    pub portal: Arc<P>,
    /// The rules.
    pub rules: Rules,
    /// Where uploads are read and results written.
    pub objects: O,
    /// Only keys under this prefix are imported (`IMPORT_PREFIX`).
    pub prefix: String,
    /// Import options (`IMPORT_CONCURRENCY`, `IMPORT_PARTIAL`,
    /// `IMPORT_RETRY_BUDGET_SECS`, `IMPORT_ALLOW_ADMIN_ROLES`), with the
    /// process's clock and ids.
    pub options: ImportOptions,
    /// Scratch directory for the downloaded file and the result (`/tmp`).
    pub work_dir: PathBuf,
}

/// What happened to one object of the event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ObjectReport {
    /// Bucket.
    pub bucket: String,
    /// Key (decoded).
    pub key: String,
    /// `imported`, `validated` (dry run) or `skipped`.
    pub status: &'static str,
    /// Why it was skipped.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Where the result file was written.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub result_key: Option<String>,
    /// The command's exit code for this file (0, 1 or 2).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<u8>,
    /// Rows per outcome.
    pub rows: BTreeMap<String, u64>,
}

impl<L: SeatLedger, P: Portal, O: Objects> ImportFunction<L, P, O> {
    /// Handles one S3 event (usually one record).
    pub async fn handle(&self, event: S3Event) -> Result<Vec<ObjectReport>, String> {
        let mut out = Vec::new();
        for record in event.records {
            let bucket = record.s3.bucket.name.clone().unwrap_or_default();
            let key = decode_key(record.s3.object.key.as_deref().unwrap_or_default());
            let skip = |reason: &str| ObjectReport {
                bucket: bucket.clone(),
                key: key.clone(),
                status: "skipped",
                reason: Some(reason.to_string()),
                result_key: None,
                exit_code: None,
                rows: BTreeMap::new(),
            };
            let created = record
                .event_name
                .as_deref()
                .is_some_and(|n| n.starts_with("ObjectCreated:"));
            let lower = key.to_ascii_lowercase();
            let report = if !created {
                skip("not an ObjectCreated event")
            } else if bucket.is_empty() || key.is_empty() {
                skip("no bucket or key in the event")
            } else if !key.starts_with(&self.prefix) {
                skip("outside the import prefix")
            } else if lower.ends_with(RESULT_SUFFIX) {
                skip("a result file (written by this function)")
            } else if !lower.ends_with(".csv") {
                skip("not a .csv file")
            } else {
                self.import(&bucket, &key, lower.ends_with(DRY_RUN_SUFFIX))
                    .await?
            };
            tracing::info!(
                bucket = %report.bucket,
                key = %report.key,
                status = report.status,
                reason = report.reason.as_deref().unwrap_or(""),
                exit_code = report.exit_code.unwrap_or(0),
                rows = ?report.rows,
                "import object handled"
            );
            out.push(report);
        }
        Ok(out)
    }

    async fn import(&self, bucket: &str, key: &str, dry_run: bool) -> Result<ObjectReport, String> {
        let id = format!("{}-{}", std::process::id(), self.options.clock.now());
        let input = self.work_dir.join(format!("import-{id}.csv"));
        let result = self.work_dir.join(format!("import-{id}{RESULT_SUFFIX}"));
        let cleanup = || {
            let _ = std::fs::remove_file(&input);
            let _ = std::fs::remove_file(&result);
        };
        self.objects.download(bucket, key, &input).await?;
        let options = ImportOptions {
            dry_run,
            ..self.options.clone()
        };
        let observer = Arc::new(LogProgress::default());
        let summary = run(
            self.ledger.clone(),
            self.portal.clone(),
            &self.rules,
            &input,
            &result,
            &options,
            observer,
        )
        .await;
        let summary = match summary {
            Ok(s) => s,
            Err(e) => {
                cleanup();
                return Err(format!(
                    "s3://{bucket}/{key}: the import could not run: {e}"
                ));
            }
        };
        let result_key = format!("{key}{RESULT_SUFFIX}");
        let uploaded = self.objects.upload(bucket, &result_key, &result).await;
        cleanup();
        uploaded?;
        let mut rows: BTreeMap<String, u64> = summary
            .results
            .by_outcome
            .iter()
            .map(|(k, v)| (k.to_string(), *v))
            .collect();
        for h in &summary.header_errors {
            *rows.entry(format!("header {}", h.code)).or_default() += 1;
        }
        Ok(ObjectReport {
            bucket: bucket.to_string(),
            key: key.to_string(),
            status: if dry_run { "validated" } else { "imported" },
            reason: None,
            result_key: Some(result_key),
            exit_code: Some(summary.exit_code()),
            rows,
        })
    }
}

/// Logs progress every 500 rows (CloudWatch has no terminal).
#[derive(Default)]
struct LogProgress {
    total: AtomicU64,
    done: AtomicU64,
}

impl Observer for LogProgress {
    fn validated(&self, s: &crate::import::ImportSummary) {
        let v = &s.validation;
        tracing::info!(
            rows = v.rows,
            create = v.creates,
            update = v.updates,
            unchanged = v.unchanged,
            refused = v.refused.len() as u64,
            empty = v.empty,
            "plan"
        );
    }

    fn start(&self, total: u64) {
        self.total.store(total, Ordering::Relaxed);
        tracing::info!(rows = total, "writing");
    }

    fn finished(&self, _row: &RowResult) {
        let done = self.done.fetch_add(1, Ordering::Relaxed) + 1;
        if done.is_multiple_of(500) {
            tracing::info!(done, total = self.total.load(Ordering::Relaxed), "progress");
        }
    }

    fn slowed(&self, pause: Duration) {
        tracing::warn!(
            pause_ms = pause.as_millis() as u64,
            "the portal is busy: pausing"
        );
    }
}

/// S3 event keys are URL-encoded, spaces as `+`.
pub fn decode_key(raw: &str) -> String {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3])
                    .ok()
                    .and_then(|h| u8::from_str_radix(h, 16).ok());
                match hex {
                    Some(b) => {
                        out.push(b);
                        i += 3;
                        continue;
                    }
                    None => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_url_decoded() {
        assert_eq!(
            decode_key("imports/new+users%2C+May.csv"),
            "imports/new users, May.csv"
        );
        assert_eq!(decode_key("a%2"), "a%2");
        assert_eq!(decode_key("a%zz"), "a%zz");
        assert_eq!(decode_key("%C3%A9t%C3%A9.csv"), "été.csv");
    }
}
