//! The queue worker function (SAM `BuildProperties: Binary: worker-lambda`):
//! creates the members the Okta and Entra hooks queued, and sweeps stuck
//! reservations on a schedule, and (as `LifecycleFunction`) runs the seat's
//! life once a day. See `entrypoints::worker`. Needs the job
//! queue's URL (`JOB_QUEUE_URL`): the members it admits from a waitlist are
//! queued there.

use agol_seat_broker::entrypoints::worker;
use agol_seat_broker::{config::Settings, startup, telemetry};
use lambda_http::lambda_runtime::{self, LambdaEvent, service_fn};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    telemetry::init();
    let settings = match Settings::from_env() {
        Ok(s) => s,
        Err(e) => {
            tracing::error!("cannot start: {e}");
            return Err(e.into());
        }
    };
    let parts = match startup::worker_parts(&settings).await {
        Ok(p) => p,
        Err(e) => {
            tracing::error!("cannot start: {e}");
            return Err(e.into());
        }
    };
    let attempts = settings.worker_max_attempts;
    let timeout = settings.workflow.reservation_timeout;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| {
        let provisioner = parts.provisioner.clone();
        let jobs = parts.jobs.clone();
        let broker = parts.broker.clone();
        async move {
            worker::handle_event(provisioner, jobs, event.payload, attempts, timeout, &broker)
                .await
                .map_err(lambda_runtime::Error::from)
        }
    }))
    .await
}
