//! A file that keeps the local worker's jobs across a crash.
//!
//! SQS keeps a queued job through anything; the local server's channel does
//! not. Without a journal, a server killed with jobs pending leaves RESERVED
//! claims that the next start releases (their members were never created),
//! although the senders were told "accepted": those sign-ups are lost. With
//! one, a job is written (SQLite, `synchronous = FULL`) before the route
//! answers and deleted when the worker is done with it (created, refused for
//! good, or given up), and the next start queues what is left again before
//! settling the other reservations.
//!
//! The file is SQLite, one table `jobs(claim_id PRIMARY KEY, job, queued_at)`
//! with the job as JSON, kept beside the embedded store (`<store>-jobs`) and
//! protected by the same one-server-per-store lock. Running a job twice is
//! harmless (completion is idempotent), so a crash between the worker's end
//! and the delete costs nothing but a replay.

use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};

use rusqlite::{Connection, params};

use crate::queue::{Job, QueueError};

/// `PRAGMA application_id` of a journal file ("AGSJ").
const APPLICATION_ID: i32 = 0x4147_534A;

/// The jobs journal. Cheap to clone.
#[derive(Clone)]
pub struct Journal {
    conn: Arc<Mutex<Connection>>,
}

impl std::fmt::Debug for Journal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Journal")
    }
}

impl Journal {
    /// Opens (or creates) the journal at `path`. A file that is not a
    /// journal is refused and left as it is.
    pub fn open(path: &Path) -> Result<Journal, QueueError> {
        let fail = |e: rusqlite::Error| QueueError(format!("jobs journal {}: {e}", path.display()));
        let conn = Connection::open(path).map_err(fail)?;
        conn.busy_timeout(std::time::Duration::from_secs(5))
            .map_err(fail)?;
        let app_id: i32 = conn
            .pragma_query_value(None, "application_id", |r| r.get(0))
            .map_err(fail)?;
        let tables: i64 = conn
            .query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get(0))
            .map_err(fail)?;
        if app_id != APPLICATION_ID && (app_id != 0 || tables != 0) {
            return Err(QueueError(format!(
                "{} is not an agol-seat-broker jobs journal",
                path.display()
            )));
        }
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(fail)?;
        conn.pragma_update(None, "synchronous", "FULL")
            .map_err(fail)?;
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS jobs (
                 claim_id  TEXT PRIMARY KEY NOT NULL,
                 job       TEXT NOT NULL,
                 queued_at INTEGER NOT NULL
             );",
        )
        .map_err(fail)?;
        conn.pragma_update(None, "application_id", APPLICATION_ID)
            .map_err(fail)?;
        Ok(Journal {
            conn: Arc::new(Mutex::new(conn)),
        })
    }

    /// Writes `job` (replacing an earlier copy of the same reservation).
    pub async fn put(&self, job: &Job) -> Result<(), QueueError> {
        let json = serde_json::to_string(job).map_err(|e| QueueError(e.to_string()))?;
        let (claim_id, at) = (job.claim_id.clone(), job.accepted_at);
        self.run(move |c| {
            c.execute(
                "INSERT OR REPLACE INTO jobs (claim_id, job, queued_at) VALUES (?1, ?2, ?3)",
                params![claim_id, json, at],
            )
            .map(drop)
        })
        .await
    }

    /// Forgets the job of reservation `claim_id` (done or given up).
    pub async fn remove(&self, claim_id: &str) -> Result<(), QueueError> {
        let claim_id = claim_id.to_string();
        self.run(move |c| {
            c.execute("DELETE FROM jobs WHERE claim_id = ?1", params![claim_id])
                .map(drop)
        })
        .await
    }

    /// The jobs left by a previous run, oldest first. A row that no longer
    /// parses (written by another version) is logged and dropped: its
    /// reservation is settled by the start-up sweep like any other.
    pub async fn pending(&self) -> Result<Vec<Job>, QueueError> {
        let rows: Vec<(String, String)> = self
            .run(|c| {
                let mut stmt =
                    c.prepare("SELECT claim_id, job FROM jobs ORDER BY queued_at, claim_id")?;
                let rows = stmt
                    .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(rows)
            })
            .await?;
        let mut jobs = Vec::with_capacity(rows.len());
        for (claim_id, json) in rows {
            match serde_json::from_str::<Job>(&json) {
                Ok(job) => jobs.push(job),
                Err(e) => {
                    tracing::warn!(claim = %claim_id, "jobs journal: unreadable job dropped: {e}");
                    self.remove(&claim_id).await?;
                }
            }
        }
        Ok(jobs)
    }

    async fn run<T, F>(&self, work: F) -> Result<T, QueueError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    {
        let runtime = tokio::runtime::Handle::try_current()
            .map_err(|_| QueueError("jobs journal: no tokio runtime".into()))?;
        let conn = self.conn.clone();
        runtime
            .spawn_blocking(move || work(&lock(&conn)))
            .await
            .map_err(|_| QueueError("jobs journal: the worker task failed".into()))?
            .map_err(|e| QueueError(format!("jobs journal: {e}")))
    }
}

fn lock(conn: &Mutex<Connection>) -> MutexGuard<'_, Connection> {
    match conn.lock() {
        Ok(g) => g,
        Err(poisoned) => poisoned.into_inner(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{ClaimKey, DeliveryKey, PoolId};

    fn job(claim_id: &str, at: i64) -> Job {
        Job {
            delivery: DeliveryKey {
                source: "standard".into(),
                id: claim_id.into(),
            },
            request: crate::intake::standard::parse(
                br#"{"email":"ana@acme.org","first_name":"Ana","last_name":"Lopez","organization":"Acme"}"#,
            )
            .unwrap(),
            overrides: Default::default(),
            claim: ClaimKey {
                pool: PoolId::parse("acme").unwrap(),
                person: "ana@acme.org".into(),
            },
            claim_id: claim_id.into(),
            accepted_at: at,
        }
    }

    #[tokio::test]
    async fn jobs_survive_reopening_until_removed_and_foreign_files_are_refused() {
        let dir = std::env::temp_dir().join(format!(
            "agsb-journal-{}-{}",
            std::process::id(),
            crate::clock::now_millis()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("store-jobs");
        {
            let j = Journal::open(&path).unwrap();
            j.put(&job("c2", 20)).await.unwrap();
            j.put(&job("c1", 10)).await.unwrap();
            j.put(&job("c3", 30)).await.unwrap();
            j.remove("c3").await.unwrap();
        }
        let j = Journal::open(&path).unwrap();
        let left: Vec<String> = j
            .pending()
            .await
            .unwrap()
            .into_iter()
            .map(|j| j.claim_id)
            .collect();
        assert_eq!(left, ["c1", "c2"], "oldest first, the removed one gone");
        assert_eq!(j.pending().await.unwrap()[0], job("c1", 10));

        let foreign = dir.join("foreign.sqlite");
        Connection::open(&foreign)
            .unwrap()
            .execute_batch("CREATE TABLE t (x);")
            .unwrap();
        let err = Journal::open(&foreign).unwrap_err();
        assert!(
            err.to_string()
                .contains("not an agol-seat-broker jobs journal")
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
