//! Esri's own clients drive the portal simulator (issue 15): the ArcGIS
//! REST JS script `scripts/esri-clients/rest-js.mjs` (pinned by its lock
//! file; `scripts/test.sh` installs it) signs in, reads the organization,
//! searches, creates a member, changes its role then its user type, adds
//! it to a group, disables, enables and deletes it, through the simulator
//! over HTTP. Every operation must work, and the simulator must show the
//! result.

use std::path::Path;
use std::process::Stdio;

use agol_seat_broker::portal::simulator::{self, SimAccount, SimulatorConfig, SimulatorTls};

/// Runs the REST JS script against `sim` (trusting `ca` when given) and
/// checks every operation worked and left nothing behind.
async fn drive(sim: &simulator::RunningSimulator, ca: Option<&Path>) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/esri-clients");
    assert!(
        dir.join("node_modules/@esri/arcgis-rest-portal").is_dir(),
        "Esri's REST JS client is not installed: run scripts/test.sh, or `npm ci` in {}",
        dir.display()
    );
    let mut node = tokio::process::Command::new("node");
    node.current_dir(&dir).args([
        "rest-js.mjs",
        &sim.base_url(),
        "sim_admin",
        "Sim-Admin-Pass-42",
    ]);
    match ca {
        Some(ca) => node.env("NODE_EXTRA_CA_CERTS", ca),
        None => node.env_remove("NODE_EXTRA_CA_CERTS"),
    };
    let out = node
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .await
        .expect("node runs");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && text.contains("every operation worked"),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for op in [
        "sign in",
        "community/self",
        "portals/self/users/search",
        "portals/self/invite",
        "updateUserRole",
        "updateUserLicenseType",
        "addUsers",
        "community/groups/<id>/users",
        "disable",
        "delete",
    ] {
        assert!(
            text.lines().any(|l| l.starts_with("ok") && l.contains(op)),
            "{op} not done: {text}"
        );
    }
    // What the script made and removed: the member is gone, the simulator
    // saw the calls.
    assert!(
        sim.members()
            .iter()
            .all(|m| !m.username.starts_with("restjs_"))
    );
    assert_eq!(sim.request_count("portals/self/invite"), 1);
    assert!(sim.request_count("community/self") >= 1);
}

fn config() -> SimulatorConfig {
    SimulatorConfig {
        admin: SimAccount {
            username: "sim_admin".into(),
            password: "Sim-Admin-Pass-42".into(),
        },
        groups: vec!["Field Crews".into()],
        ..SimulatorConfig::default()
    }
}

#[tokio::test]
async fn esris_rest_js_client_drives_the_simulator_end_to_end() {
    let sim = simulator::spawn(config()).await.unwrap();
    drive(&sim, None).await;
}

/// Over https, as Esri's clients expect, trusting the simulator's
/// throw-away CA the way `simulate-portal --tls` tells Node users to
/// (`NODE_EXTRA_CA_CERTS`); `info` then names an https token service.
#[tokio::test]
async fn esris_rest_js_client_drives_the_simulator_over_https() {
    let tls = SimulatorTls::generate().expect("certificates");
    let sim = simulator::spawn_tls(config(), &tls).await.unwrap();
    let dir = std::env::temp_dir().join(format!("asb-esri-tls-{}", std::process::id()));
    let ca = tls.write_ca(&dir).expect("CA written");
    drive(&sim, Some(&ca)).await;
    let info: serde_json::Value = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(tls.ca_pem().as_bytes()).unwrap())
        .build()
        .unwrap()
        .get(format!("{}/info?f=json", sim.base_url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        info["authInfo"]["tokenServicesUrl"]
            .as_str()
            .is_some_and(|u| u.starts_with("https://")),
        "{info}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
