//! `simulate-portal --tls` (issue 15, item 2): the simulator over https with
//! a throw-away CA. A client trusting only that CA gets in, one without it
//! fails the handshake, the broker's own ArcGIS client (told of the CA)
//! signs in and invites, and the command prints how to trust the CA.

use std::process::Stdio;
use std::time::Duration;

use agol_seat_broker::portal::arcgis::{ArcGisConfig, ArcGisPortal, Credentials};
use agol_seat_broker::portal::simulator::{self, SimulatorConfig, SimulatorTls};
use agol_seat_broker::portal::{Invitation, Members as _, NewMember};
use tokio::io::{AsyncBufReadExt as _, BufReader};
use tokio::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_agol-seat-broker");

/// A reqwest client trusting only `pem`'s authorities (none if `None`).
fn client_trusting(pem: Option<&str>) -> reqwest::Client {
    let roots = match pem {
        Some(p) => reqwest::Certificate::from_pem_bundle(p.as_bytes()).expect("a PEM CA"),
        None => Vec::new(),
    };
    reqwest::Client::builder()
        .tls_certs_only(roots)
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client")
}

async fn generate_token(
    client: &reqwest::Client,
    base: &str,
) -> reqwest::Result<serde_json::Value> {
    client
        .post(format!("{base}/generateToken"))
        .form(&[
            ("username", "sim_admin"),
            ("password", "sim-admin-pass1"),
            ("client", "referer"),
            ("referer", "https://broker.test"),
            ("f", "json"),
        ])
        .send()
        .await?
        .json()
        .await
}

#[tokio::test]
async fn a_client_trusting_the_written_ca_signs_in_over_https_and_one_without_it_cannot() {
    let tls = SimulatorTls::generate().expect("certificates");
    let srv = simulator::spawn_tls(SimulatorConfig::default(), &tls)
        .await
        .expect("simulator starts");
    assert!(srv.base_url().starts_with("https://127.0.0.1:"));
    // The CA as a client reads it: from the file the command writes.
    let dir = std::env::temp_dir().join(format!("asb-tls-{}", std::process::id()));
    let ca_path = tls.write_ca(&dir).expect("written");
    let ca = std::fs::read_to_string(&ca_path).unwrap();
    assert!(ca.starts_with("-----BEGIN CERTIFICATE-----"));
    assert!(
        !ca.contains("PRIVATE KEY"),
        "only the certificate is written"
    );

    let trusted = generate_token(&client_trusting(Some(&ca)), &srv.base_url())
        .await
        .expect("the handshake succeeds");
    assert!(
        trusted["token"].as_str().is_some_and(|t| !t.is_empty()),
        "{trusted}"
    );

    // By name too: the certificate names localhost.
    let by_name = srv.base_url().replace("127.0.0.1", "localhost");
    let trusted = generate_token(&client_trusting(Some(&ca)), &by_name)
        .await
        .expect("localhost is in the certificate");
    assert!(trusted["token"].is_string(), "{trusted}");

    let untrusted = generate_token(&client_trusting(None), &srv.base_url()).await;
    let err = untrusted.expect_err("no CA, no handshake");
    assert!(err.is_connect(), "{err:?}");

    // Another run's CA is not this one's.
    let other = SimulatorTls::generate().expect("certificates");
    assert_ne!(other.ca_pem(), tls.ca_pem());
    let wrong = generate_token(&client_trusting(Some(other.ca_pem())), &srv.base_url()).await;
    assert!(wrong.is_err(), "a different CA is refused");

    srv.shutdown().await;
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test]
async fn the_brokers_client_trusting_the_ca_signs_in_and_invites_over_https() {
    let tls = SimulatorTls::generate().expect("certificates");
    let srv = simulator::spawn_tls(SimulatorConfig::default(), &tls)
        .await
        .expect("simulator starts");
    let mut cfg = ArcGisConfig::new(srv.base_url(), "https://broker.test");
    cfg.request_timeout = Duration::from_secs(5);
    cfg.deadline = Duration::from_secs(10);
    cfg.extra_root_pem = Some(tls.ca_pem().to_string());
    let client =
        ArcGisPortal::new(cfg, Credentials::new("sim_admin", "sim-admin-pass1")).expect("client");

    assert_eq!(client.org_id().await.unwrap(), srv.org_id());
    let groups = client
        .group_ids(&["Field Crews".to_string()])
        .await
        .expect("groups");
    client
        .invite(&NewMember {
            username: "tls_member".into(),
            email: "tls@example.test".into(),
            first_name: "Tee".into(),
            last_name: "Ls".into(),
            role: "iAAAAAAAAAAAAAAA".into(),
            user_type: "viewerUT".into(),
            group_ids: groups.into_iter().flatten().collect(),
            invitation: Invitation::Password("Tls-Member-Pass-1".into()),
        })
        .await
        .expect("invited over https");
    assert!(srv.member("tls_member").is_some());

    // Without the CA the same client cannot reach it.
    let mut plain = ArcGisConfig::new(srv.base_url(), "https://broker.test");
    plain.request_timeout = Duration::from_secs(2);
    plain.deadline = Duration::from_secs(3);
    plain.max_attempts = 1;
    let client =
        ArcGisPortal::new(plain, Credentials::new("sim_admin", "sim-admin-pass1")).expect("client");
    assert!(client.org_id().await.is_err());

    // A CA setting that is not a certificate is refused at construction.
    let mut bad = ArcGisConfig::new(srv.base_url(), "https://broker.test");
    bad.extra_root_pem = Some("not a certificate".into());
    assert!(ArcGisPortal::new(bad, Credentials::new("sim_admin", "sim-admin-pass1")).is_err());
    srv.shutdown().await;
}

#[tokio::test]
async fn simulate_portal_tls_prints_where_it_listens_and_how_to_trust_its_ca() {
    let dir = std::env::temp_dir().join(format!("asb-tls-cli-{}", std::process::id()));
    let tls_dir = dir.join("tls");
    let mut child = Command::new(BIN)
        .args([
            "simulate-portal",
            "--tls",
            "--listen",
            "127.0.0.1:0",
            "--tls-dir",
        ])
        .arg(&tls_dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .expect("the binary starts");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut printed = Vec::new();
    tokio::time::timeout(Duration::from_secs(30), async {
        while let Ok(Some(line)) = lines.next_line().await {
            let done = line.contains("curl");
            printed.push(line);
            if done {
                return;
            }
        }
        panic!("the simulator exited early: {printed:?}");
    })
    .await
    .expect("the instructions within 30 s");
    let text = printed.join("\n");

    let base = text
        .split("listening on ")
        .nth(1)
        .and_then(|rest| rest.lines().next())
        .expect("the listening line")
        .trim()
        .to_string();
    assert!(base.starts_with("https://127.0.0.1:"), "{text}");
    assert!(
        !base.ends_with(":0/sharing/rest"),
        "the actual port: {text}"
    );
    let ca_path = std::fs::canonicalize(tls_dir.join("ca.pem")).expect("the CA is written");
    let ca_shown = ca_path.display().to_string();
    for needle in [
        format!("CA certificate: {ca_shown}"),
        format!("REQUESTS_CA_BUNDLE={ca_shown}"),
        format!("SSL_CERT_FILE={ca_shown}"),
        format!("NODE_EXTRA_CA_CERTS={ca_shown}"),
        format!("PORTAL_CA_FILE={ca_shown}"),
    ] {
        assert!(text.contains(&needle), "{needle} in:\n{text}");
    }

    // And the printed URL answers a client trusting the printed file.
    let ca = std::fs::read_to_string(&ca_path).unwrap();
    let answer = generate_token(&client_trusting(Some(&ca)), &base)
        .await
        .expect("https with the written CA");
    assert!(answer["token"].is_string(), "{answer}");

    child.kill().await.ok();
    std::fs::remove_dir_all(&dir).ok();
}

/// Runs `program args…` with `envs`; its stdout, or why it failed.
async fn run_tool(program: &str, args: &[&str], envs: &[(&str, &str)]) -> Result<String, String> {
    let out = Command::new(program)
        .args(args)
        .env_remove("NODE_EXTRA_CA_CERTS")
        .env_remove("SSL_CERT_FILE")
        .envs(envs.iter().copied())
        .output()
        .await
        .map_err(|e| format!("{program} cannot run: {e}"))?;
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    if out.status.success() {
        Ok(stdout)
    } else {
        Err(format!(
            "{program}: {stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

/// Python's `ssl` (strict X.509 checks, as Python 3.13 does by default)
/// and Node (`NODE_EXTRA_CA_CERTS`, as the printed instructions say) both
/// accept the certificate when told to trust the CA. Both tools are on CI's
/// machine (`.ci/run` needs them).
#[tokio::test]
async fn python_and_node_accept_the_certificate_when_told_to_trust_the_ca() {
    let tls = SimulatorTls::generate().expect("certificates");
    let srv = simulator::spawn_tls(SimulatorConfig::default(), &tls)
        .await
        .expect("simulator starts");
    let dir = std::env::temp_dir().join(format!("asb-tls-tools-{}", std::process::id()));
    let ca = tls.write_ca(&dir).expect("written");
    let ca = ca.to_str().unwrap();
    let url = format!("{}/portals/self?f=json", srv.base_url());
    let by_name = url.replace("127.0.0.1", "localhost");

    let python = r#"
import ssl, sys, urllib.request
ctx = ssl.create_default_context(cafile=sys.argv[1])
ctx.verify_flags |= ssl.VERIFY_X509_STRICT
for url in sys.argv[2:]:
    print(urllib.request.urlopen(url, context=ctx).read().decode()[:40])
"#;
    let out = run_tool("python3", &["-c", python, ca, &url, &by_name], &[])
        .await
        .expect("python trusts the CA");
    assert!(out.contains("error") || out.contains('{'), "{out}");

    let node = "fetch(process.argv[1]).then(r => r.text()).then(t => console.log(t.slice(0, 40)))\
                .catch(e => { console.error(e.cause || e); process.exit(1) })";
    let out = run_tool(
        "node",
        &["-e", node, &by_name],
        &[("NODE_EXTRA_CA_CERTS", ca)],
    )
    .await
    .expect("node trusts the CA");
    assert!(out.contains('{'), "{out}");
    // Without it, Node refuses.
    assert!(
        run_tool("node", &["-e", node, &by_name], &[])
            .await
            .is_err()
    );

    srv.shutdown().await;
    std::fs::remove_dir_all(&dir).ok();
}

/// The broker's commands trust the CA named by `PORTAL_CA_FILE` (what the
/// printed instructions say): `check-rules --portal` reads the licences
/// over https with it, and cannot connect without it.
#[tokio::test]
async fn the_broker_trusts_the_ca_named_by_portal_ca_file() {
    let tls = SimulatorTls::generate().expect("certificates");
    let srv = simulator::spawn_tls(SimulatorConfig::default(), &tls)
        .await
        .expect("simulator starts");
    let dir = std::env::temp_dir().join(format!("asb-tls-env-{}", std::process::id()));
    let ca = tls.write_ca(&dir).expect("written");
    let store = format!("sqlite:{}", dir.join("none.db").display());
    let check = |ca: Option<&std::path::Path>| {
        let mut cmd = Command::new(BIN);
        cmd.args(["check-rules", "config/rules.toml", "--portal"])
            .arg(srv.root_url())
            .args(["--store", &store])
            .env("ARCGIS_USERNAME", "sim_admin")
            .env("ARCGIS_PASSWORD", "sim-admin-pass1")
            .env_remove("LEDGER_STORE")
            .env_remove("PORTAL_CA_FILE")
            .env_remove("SSL_CERT_FILE");
        if let Some(ca) = ca {
            cmd.env("PORTAL_CA_FILE", ca);
        }
        cmd.output()
    };

    // With the CA the pre-flight check runs to its end over https (exit 2:
    // the sample rules name groups this simulator does not have), reading
    // the licences.
    let out = check(Some(&ca)).await.expect("runs");
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(2),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains("pre-flight check against https://") && text.contains("the organization has"),
        "{text}"
    );

    // Without it, the check cannot run at all (exit 1).
    let out = check(None).await.expect("runs");
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(text.contains("cannot reach the portal"), "{text}");

    srv.shutdown().await;
    std::fs::remove_dir_all(&dir).ok();
}
