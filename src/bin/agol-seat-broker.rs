//! The `agol-seat-broker` command: `serve`, `demo`, `send`, `seats`,
//! `simulate-portal`, `check-rules`. See `cli`.

use clap::Parser as _;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    agol_seat_broker::telemetry::init();
    let cli = agol_seat_broker::cli::Cli::parse();
    match agol_seat_broker::cli::run(cli).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            if let Some(exit) = e.downcast_ref::<agol_seat_broker::cli::ExitWith>() {
                eprintln!("{}", exit.message);
                return std::process::ExitCode::from(exit.code);
            }
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
