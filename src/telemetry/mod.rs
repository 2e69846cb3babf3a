//! Logging set-up: JSON lines in Lambda (CloudWatch parses them), compact
//! human lines locally, coloured only when stderr is a terminal (a file, a
//! pipe or CI gets plain text). `RUST_LOG` overrides the level (default
//! `info`). Metrics go out as log lines too ([`emf`]).

pub mod emf;

use std::io::IsTerminal as _;

use tracing_subscriber::EnvFilter;

/// Installs the global subscriber once; later calls are ignored.
pub fn init() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let in_lambda = std::env::var_os("AWS_LAMBDA_FUNCTION_NAME").is_some();
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    let _ = if in_lambda || std::env::var("LOG_FORMAT").as_deref() == Ok("json") {
        builder
            .json()
            .with_current_span(false)
            .without_time()
            .try_init()
    } else {
        builder.compact().try_init()
    };
}
