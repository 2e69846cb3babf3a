//! The `agol-seat-broker` command: `serve`, `demo`, `send`, `seats`,
//! `simulate-portal`, `check-rules`. See `entrypoints::cli`.

use clap::Parser as _;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    agol_seat_broker::telemetry::init();
    let cli = agol_seat_broker::entrypoints::cli::Cli::parse();
    match agol_seat_broker::entrypoints::cli::run(cli).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
