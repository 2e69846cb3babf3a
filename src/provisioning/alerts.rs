//! Usage alerts: after each scheduled run, every pool's seats used and
//! every user type's licences assigned are compared with their thresholds,
//! and the notification channels are told once per crossing; seat
//! reconciliation reports drift the same way ([`drift_alert`]).
//!
//! Why here and why like this:
//!
//! - **once per crossing, across runs and processes.** The level a subject
//!   was last alerted at is kept in the ledger ([`AlertLevels`]). A run
//!   reads it, asks the pure rule ([`crate::domain::alert::evaluate`]) what
//!   to say, and moves the level with a conditional write on the level it
//!   read; only a run whose write wins sends. Two workers evaluating at
//!   once (two Lambda invocations, two local servers on one SQLite file)
//!   therefore send one alert. The price is "at most once": a channel that
//!   fails after the write loses that alert (logged), rather than
//!   repeating it every run.
//! - **cheap.** Pools cost one ledger read each (the counter) plus one read
//!   of the level, and a write only on a crossing; user types cost ONE
//!   `license_counts` call per run, skipped when `[alerts]
//!   user_type_thresholds = []`. Whatever fails (the store, the portal) is
//!   logged and skips that subject or the user types, never the run.
//! - **the same channels** as approval notices ([`Notifier::alert`]), so an
//!   organization configures its Slack/Teams webhook or SNS topic once.
//!
//! # For reconciliation
//!
//! Call [`Provisioner::report_drift`] (or [`drift_alert`] with a ledger and
//! the notifiers, where no workflow is at hand) after every reconciliation
//! run, with the [`Drift`] it found, including none: the channels are told
//! once when drift appears ("Reconciliation found drift: N differences …",
//! with up to ten examples), and once when a later run finds none ("… no
//! drift any more"); the same drift found run after run is not repeated.

use std::sync::Arc;

use serde::Serialize;

use crate::domain::alert::evaluate;
use crate::domain::{AlertSubject, Thresholds, UnixMillis, UserTypeId};
use crate::notify::{AlertNotice, Notifier};
use crate::portal::Portal;
use crate::seats::{AlertLevels, LedgerError, SeatLedger};

use super::workflow::Provisioner;

/// What one evaluation of the alerts came to (logged by the scheduled run).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct AlertReport {
    /// Subjects compared with their thresholds (pools and user types).
    pub checked: u32,
    /// Alerts sent (crossings up and notes of falling back).
    pub sent: u32,
    /// Crossings another run had already recorded (and sent).
    pub sent_elsewhere: u32,
    /// Subjects skipped because the store could not be read or written.
    pub failed: u32,
    /// Whether the user types were skipped because the portal's licence
    /// counts could not be read.
    pub user_types_unavailable: bool,
}

/// What reconciliation found, for [`drift_alert`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Drift {
    /// How many differences between the ledger and the organization
    /// (0: they agree).
    pub differences: u64,
    /// A few of them in words ("ana_acme holds a seat of pool acme but is
    /// not a member"), shown in the alert (the first ten); never secrets.
    pub examples: Vec<String>,
}

/// What one subject's evaluation came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Alerted {
    /// Nothing crossed: nothing written, nothing sent.
    Nothing,
    /// The level moved and the alert went to every channel.
    Sent,
    /// Another run moved the level first (and sent the alert): nothing
    /// sent here.
    SentElsewhere,
}

/// Evaluates one subject now using `used` of `seats` against `thresholds`:
/// reads its level, and when the use crossed a threshold moves the level
/// conditionally and, when that write won, tells every notifier.
pub async fn alert_on<L: AlertLevels>(
    ledger: &L,
    notifiers: &[Arc<dyn Notifier>],
    subject: &AlertSubject,
    thresholds: &Thresholds,
    used: u64,
    seats: u64,
    now: UnixMillis,
) -> Result<Alerted, LedgerError> {
    let last = ledger.alert_level(subject).await?;
    let Some(found) = evaluate(thresholds, last, used, seats) else {
        return Ok(Alerted::Nothing);
    };
    if !ledger
        .set_alert_level(subject, last, found.level, now)
        .await?
    {
        return Ok(Alerted::SentElsewhere);
    }
    let notice = AlertNotice::Usage {
        subject: subject.clone(),
        used,
        seats,
        crossing: found.crossing,
    };
    send(notifiers, &notice).await;
    Ok(Alerted::Sent)
}

/// Tells the channels about reconciliation's drift once per episode (see
/// the module docs): when drift is found and the last run found none, and
/// when none is found and the last run found some. The level of
/// [`AlertSubject::Reconciliation`] records which (1: drift), moved by the
/// same conditional write as a pool's.
pub async fn drift_alert<L: AlertLevels>(
    ledger: &L,
    notifiers: &[Arc<dyn Notifier>],
    drift: &Drift,
    now: UnixMillis,
) -> Result<Alerted, LedgerError> {
    let subject = AlertSubject::Reconciliation;
    let last = ledger.alert_level(&subject).await?;
    let found = drift.differences > 0;
    let (new, notice) = match (found, last) {
        (true, None) => (
            Some(1),
            AlertNotice::Drift {
                differences: drift.differences,
                examples: drift.examples.clone(),
            },
        ),
        (false, Some(_)) => (None, AlertNotice::DriftResolved),
        _ => return Ok(Alerted::Nothing),
    };
    if !ledger.set_alert_level(&subject, last, new, now).await? {
        return Ok(Alerted::SentElsewhere);
    }
    send(notifiers, &notice).await;
    Ok(Alerted::Sent)
}

/// Sends to every channel in turn (each logs its own failure).
async fn send(notifiers: &[Arc<dyn Notifier>], notice: &AlertNotice) {
    for n in notifiers {
        n.alert(notice).await;
    }
}

impl AlertReport {
    fn count(&mut self, subject: &AlertSubject, answer: Result<Alerted, LedgerError>) {
        self.checked += 1;
        match answer {
            Ok(Alerted::Nothing) => {}
            Ok(Alerted::Sent) => self.sent += 1,
            Ok(Alerted::SentElsewhere) => self.sent_elsewhere += 1,
            Err(e) => {
                self.failed += 1;
                tracing::warn!(subject = %subject.key(), "seat alert skipped: {e}");
            }
        }
    }
}

impl<L: SeatLedger, P: Portal> Provisioner<L, P> {
    /// Compares every pool (seats used against the rules' seats) and, when
    /// user types are watched, every user type the organization bought
    /// (licences assigned against purchased, one `license_counts` call)
    /// with their thresholds, and sends the alerts due (see the module
    /// docs). Never fails: what cannot be read is logged and counted.
    pub async fn check_alerts(&self, now: UnixMillis) -> AlertReport {
        let mut report = AlertReport::default();
        let rules = self.policy.rules();
        let notifiers = &self.approvals.notifiers;
        for pool in &rules.pools {
            if pool.alert_thresholds.is_empty() {
                continue;
            }
            let subject = AlertSubject::Pool(pool.id.clone());
            let answer = match self.ledger.usage(&pool.id).await {
                Ok(usage) => {
                    alert_on(
                        &*self.ledger,
                        notifiers,
                        &subject,
                        &pool.alert_thresholds,
                        u64::from(usage.used),
                        u64::from(pool.seats),
                        now,
                    )
                    .await
                }
                Err(e) => Err(e),
            };
            report.count(&subject, answer);
        }
        let thresholds = &rules.alerts.user_types;
        if thresholds.is_empty() {
            return report;
        }
        let counts = match self.portal.license_counts().await {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(
                    "user type alerts skipped: the licence counts could not be read: {e}"
                );
                report.user_types_unavailable = true;
                return report;
            }
        };
        for (id, purchased, assigned) in counts.types {
            // A type none of which was bought has no percentage; members
            // without a type are listed under "".
            if purchased == 0 {
                continue;
            }
            let Ok(id) = UserTypeId::parse(&id) else {
                tracing::warn!(
                    "user type alert skipped: the portal reported an unusable user type id"
                );
                continue;
            };
            let subject = AlertSubject::UserType(id);
            let answer = alert_on(
                &*self.ledger,
                notifiers,
                &subject,
                thresholds,
                assigned,
                purchased,
                now,
            )
            .await;
            report.count(&subject, answer);
        }
        report
    }

    /// Reconciliation's report of drift, told once per episode through the
    /// notification channels ([`drift_alert`] over this workflow's ledger
    /// and notifiers). A store failure is returned, nothing sent.
    pub async fn report_drift(
        &self,
        drift: &Drift,
        now: UnixMillis,
    ) -> Result<Alerted, LedgerError> {
        drift_alert(&*self.ledger, &self.approvals.notifiers, drift, now).await
    }
}
