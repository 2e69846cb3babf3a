//! Esri's own clients drive the portal simulator (issue 15): the ArcGIS
//! REST JS script `scripts/esri-clients/rest-js.mjs` (pinned by its lock
//! file; `scripts/test.sh` installs it) signs in, reads the organization,
//! searches, creates a member, changes its role then its user type, adds
//! it to a group, disables, enables and deletes it, through the simulator
//! over HTTP. Every operation must work, and the simulator must show the
//! result.

use std::path::Path;
use std::process::Stdio;

use agol_seat_broker::portal::simulator::{self, SimAccount, SimulatorConfig};

#[tokio::test]
async fn esris_rest_js_client_drives_the_simulator_end_to_end() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/esri-clients");
    assert!(
        dir.join("node_modules/@esri/arcgis-rest-portal").is_dir(),
        "Esri's REST JS client is not installed: run scripts/test.sh, or `npm ci` in {}",
        dir.display()
    );
    let sim = simulator::spawn(SimulatorConfig {
        admin: SimAccount {
            username: "sim_admin".into(),
            password: "Sim-Admin-Pass-42".into(),
        },
        groups: vec!["Field Crews".into()],
        ..SimulatorConfig::default()
    })
    .await
    .unwrap();
    let out = tokio::process::Command::new("node")
        .current_dir(&dir)
        .args([
            "rest-js.mjs",
            &sim.base_url(),
            "sim_admin",
            "Sim-Admin-Pass-42",
        ])
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
