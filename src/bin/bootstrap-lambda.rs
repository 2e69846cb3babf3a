//! The Lambda function (SAM `BuildProperties: Binary: bootstrap-lambda`).
//!
//! Builds the app once per cold start from the environment, then serves API
//! Gateway HTTP API, REST API and Function URL events through the same
//! router as the local server. A configuration error fails the cold start
//! with a clear log line instead of serving a broken function.

use agol_seat_broker::{config::Settings, startup, telemetry};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    telemetry::init();
    let app = match Settings::from_env() {
        Ok(settings) => startup::lambda_app(&settings).await,
        Err(e) => Err(e),
    };
    let app = match app {
        Ok(app) => app,
        Err(e) => {
            tracing::error!("cannot start: {e}");
            return Err(e.into());
        }
    };
    lambda_http::run(app).await
}
