//! `simulate-portal`: the portal simulator alone, a fake ArcGIS Online
//! organization to point clients at.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;

use super::check_rules::load_rules;
use crate::portal::simulator::{self, SimAccount, SimulatorConfig};
use crate::startup::local::{all_groups, shutdown_signal};

#[derive(Debug, Args)]
pub(crate) struct SimulateArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8090")]
    listen: SocketAddr,
    /// Administrator username of the simulated organization.
    #[arg(long, default_value = "sim_admin")]
    admin_username: String,
    /// Its password.
    #[arg(
        long,
        env = "SIM_ADMIN_PASSWORD",
        hide_env_values = true,
        default_value = "sim-admin-pass1"
    )]
    admin_password: String,
    /// Create the groups named in this rules file.
    #[arg(long)]
    groups_from: Option<PathBuf>,
}

/// Serves the simulator until Ctrl-C.
pub(crate) async fn simulate(a: SimulateArgs) -> Result<()> {
    let groups = match &a.groups_from {
        Some(p) => all_groups(&load_rules(p)?),
        None => SimulatorConfig::default().groups,
    };
    let cfg = SimulatorConfig {
        admin: SimAccount {
            username: a.admin_username,
            password: a.admin_password,
        },
        groups,
        ..SimulatorConfig::default()
    };
    let listener = tokio::net::TcpListener::bind(a.listen)
        .await
        .with_context(|| format!("cannot listen on {}", a.listen))?;
    let addr = listener.local_addr()?;
    println!("portal simulator listening on http://{addr}/sharing/rest");
    println!("  control: http://{addr}/_sim/state, /_sim/faults, /_sim/expire-tokens");
    simulator::serve(cfg, listener, shutdown_signal()).await?;
    Ok(())
}
