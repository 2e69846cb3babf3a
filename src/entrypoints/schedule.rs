//! The periodic work of a long-running local server, the counterpart of the
//! scheduled worker Lambda (`entrypoints::worker`): every minute, settle the
//! reservations that stayed stuck longer than the reservation timeout
//! (queued jobs touch theirs on every attempt, so only abandoned ones get
//! this old), expire the requests past their time, and send the usage
//! alerts due (`provisioning::alerts`); and once a day (UTC), the first time
//! a minute after the start, run the seat's life (expiry, warnings, idle
//! seats), as `template.yaml`'s `LifecycleFunction` does.

use std::sync::Arc;
use std::time::Duration;

use crate::domain::date::Day;
use crate::portal::Portal;
use crate::provisioning::Provisioner;
use crate::queue::JobSink;
use crate::seats::SeatLedger;

/// How often the local server sweeps.
pub const SWEEP_EVERY: Duration = Duration::from_secs(60);

/// Sweeps and expires every [`SWEEP_EVERY`] (the first time one period
/// after the start, which has its own start-up sweep), and runs the
/// lifecycle once per UTC day, for ever; abort the task to stop it.
/// Admissions from the waitlist go to `jobs`; `broker` is the broker's own
/// account, which the lifecycle never touches.
pub async fn run<L: SeatLedger, P: Portal>(
    provisioner: Arc<Provisioner<L, P>>,
    jobs: Option<Arc<dyn JobSink>>,
    reservation_timeout: Duration,
    broker: String,
) {
    let mut tick = tokio::time::interval(SWEEP_EVERY);
    tick.tick().await;
    let mut lifecycle_day = None;
    loop {
        tick.tick().await;
        let clock = provisioner.clock();
        let today = Day::of(clock.now());
        if lifecycle_day != Some(today) {
            lifecycle_day = Some(today);
            // A failure is logged; tomorrow's run tries again.
            let _ = super::worker::run_lifecycle(&provisioner, jobs.as_deref(), &broker).await;
        }
        provisioner
            .sweep(clock.now(), reservation_timeout, &[])
            .await;
        provisioner
            .expire_requests(jobs.as_deref(), clock.now())
            .await;
        // Written only with METRICS=emf on a local server.
        super::worker::emit_pool_metrics(&provisioner, clock.now()).await;
        let alerts = provisioner.check_alerts(clock.now()).await;
        tracing::debug!(?alerts, "seat alerts checked");
    }
}
