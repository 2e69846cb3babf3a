//! The import function (SAM `BuildProperties: Binary: import-lambda`):
//! imports a CSV file uploaded to the import bucket and writes
//! `<key>.result.csv` beside it. See `entrypoints::import_function`.

use agol_seat_broker::{config::Settings, startup, telemetry};
use aws_lambda_events::event::s3::S3Event;
use lambda_http::lambda_runtime::{self, LambdaEvent, service_fn};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    telemetry::init();
    let function = match Settings::from_env() {
        Ok(settings) => startup::import_function(&settings).await,
        Err(e) => Err(e),
    };
    let function = match function {
        Ok(f) => std::sync::Arc::new(f),
        Err(e) => {
            tracing::error!("cannot start: {e}");
            return Err(e.into());
        }
    };
    lambda_runtime::run(service_fn(move |event: LambdaEvent<S3Event>| {
        let function = function.clone();
        async move {
            function
                .handle(event.payload)
                .await
                .map_err(lambda_runtime::Error::from)
        }
    }))
    .await
}
