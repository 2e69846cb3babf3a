//! `simulate-portal`: the portal simulator alone, a fake ArcGIS Online
//! organization (or, with `--flavour enterprise`, an ArcGIS Enterprise
//! portal with its admin API under `/portaladmin`) to point clients at.
//!
//! Plain http by default (the broker accepts it on loopback). `--tls` serves
//! https with a throw-away CA made for the run (see
//! `portal::simulator::tls`), because Esri's own clients expect https: the
//! CA certificate goes to `--tls-dir`, and the start prints how Python, Node
//! and the broker are told to trust it.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow};
use clap::Args;

use super::check_rules::load_rules;
use crate::portal::PortalFlavour;
use crate::portal::simulator::{self, SimAccount, SimulatorConfig, SimulatorTls};
use crate::startup::local::{all_groups, shutdown_signal};
use crate::startup::parts::PORTAL_CA_FILE;

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
    /// Serve https with a throw-away certificate authority made for this
    /// run (its certificate is written to --tls-dir; its key never leaves
    /// memory).
    #[arg(long)]
    tls: bool,
    /// With --tls: the directory the CA certificate (`ca.pem`) is written to.
    #[arg(long, default_value = ".simulator-tls", requires = "tls")]
    tls_dir: PathBuf,
    /// Which portal to play: `online` (ArcGIS Online) or `enterprise` (an
    /// ArcGIS Enterprise portal, with its admin API under /portaladmin).
    #[arg(long, default_value = "online")]
    flavour: PortalFlavour,
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
        flavour: a.flavour,
        ..SimulatorConfig::default()
    };
    let listener = tokio::net::TcpListener::bind(a.listen)
        .await
        .with_context(|| format!("cannot listen on {}", a.listen))?;
    let addr = listener.local_addr()?;
    if !a.tls {
        println!("portal simulator listening on http://{addr}/sharing/rest");
        println!("{}", flavour_lines("http", addr, a.flavour));
        println!("  control: http://{addr}/_sim/state, /_sim/faults, /_sim/expire-tokens");
        simulator::serve(cfg, listener, shutdown_signal()).await?;
        return Ok(());
    }
    let tls = SimulatorTls::generate().map_err(|e| anyhow!("[{}] {e}", e.code()))?;
    let written = tls
        .write_ca(&a.tls_dir)
        .map_err(|e| anyhow!("[{}] {e}", e.code()))?;
    let ca = std::fs::canonicalize(&written).unwrap_or(written);
    println!("{}", trust_instructions(addr, &ca, a.flavour));
    simulator::serve_tls(cfg, listener, &tls, shutdown_signal()).await?;
    Ok(())
}

/// The start's line naming the flavour, and for an ArcGIS Enterprise portal
/// a second one with its admin API's root.
fn flavour_lines(scheme: &str, addr: SocketAddr, flavour: PortalFlavour) -> String {
    match flavour {
        PortalFlavour::Online => "  flavour: online (ArcGIS Online; no /portaladmin)".to_string(),
        PortalFlavour::Enterprise => format!(
            "  flavour: enterprise (an ArcGIS Enterprise portal)\n  admin: {scheme}://{addr}/portaladmin"
        ),
    }
}

/// What `simulate-portal --tls` prints: where it listens, its flavour, and
/// how each client is told to trust the CA at `ca`.
fn trust_instructions(addr: SocketAddr, ca: &Path, flavour: PortalFlavour) -> String {
    let ca = ca.display();
    format!(
        "portal simulator listening on https://{addr}/sharing/rest
{flavour}
  control: https://{addr}/_sim/state, /_sim/faults, /_sim/expire-tokens
  TLS: a throw-away CA made for this run signed the certificate for localhost, 127.0.0.1 and ::1
  CA certificate: {ca}
  trust it (this run only; a restart makes a new CA):
    Python (requests, ArcGIS API for Python): REQUESTS_CA_BUNDLE={ca} SSL_CERT_FILE={ca}
    Node (ArcGIS REST JS):                    NODE_EXTRA_CA_CERTS={ca}
    agol-seat-broker (serve, check-rules, import): {env}={ca} --portal https://{addr}
    curl:                                     curl --cacert {ca} https://{addr}/sharing/rest/info?f=json",
        env = PORTAL_CA_FILE,
        flavour = flavour_lines("https", addr, flavour),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_instructions_name_the_ca_for_every_client() {
        let text = trust_instructions(
            "127.0.0.1:8443".parse().unwrap(),
            Path::new("/t/ca.pem"),
            PortalFlavour::Online,
        );
        assert!(text.contains("listening on https://127.0.0.1:8443/sharing/rest"));
        assert!(text.contains("flavour: online"), "{text}");
        for needle in [
            "REQUESTS_CA_BUNDLE=/t/ca.pem",
            "SSL_CERT_FILE=/t/ca.pem",
            "NODE_EXTRA_CA_CERTS=/t/ca.pem",
            "PORTAL_CA_FILE=/t/ca.pem",
        ] {
            assert!(text.contains(needle), "{needle} in {text}");
        }
    }

    #[test]
    fn an_enterprise_start_names_its_admin_root() {
        let addr = "127.0.0.1:8090".parse().unwrap();
        let text = flavour_lines("http", addr, PortalFlavour::Enterprise);
        assert!(text.contains("flavour: enterprise"), "{text}");
        assert!(
            text.contains("admin: http://127.0.0.1:8090/portaladmin"),
            "{text}"
        );
        let tls = trust_instructions(addr, Path::new("/t/ca.pem"), PortalFlavour::Enterprise);
        assert!(
            tls.contains("admin: https://127.0.0.1:8090/portaladmin"),
            "{tls}"
        );
        assert!(!flavour_lines("http", addr, PortalFlavour::Online).contains("admin:"));
    }
}
