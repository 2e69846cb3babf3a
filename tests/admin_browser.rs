//! The administrator's page in a real headless browser: Debian's Chromium
//! driven through ChromeDriver (WebDriver, with `fantoccini`) against the
//! local server binary (`serve`: embedded SQLite store, the portal
//! simulator over HTTP). An administrator signs in, sees a pending request,
//! approves it, and sees the pool's counts change, its usage bar and its
//! sign-ups chart (SVG drawn by the server), then opens the pool's page and
//! its member list, extends the new member's seat and reclaims it now
//! through the confirmation page; screenshots are kept at
//! `<target dir>/test-artifacts/admin.png` (with `admin-pending.png` before
//! the decision, `admin-pool.png` of the pool's page, phone-sized
//! `admin-phone.png` and `admin-pool-phone.png`, `admin-pool-extended.png`,
//! `admin-reclaim-confirm.png` and `admin-pool-reclaimed.png`).
//!
//! Needs `chromium` and `chromedriver` on the PATH: `scripts/test.sh`
//! installs them with `scripts/browser-test-deps.sh`. Without them this
//! test fails (it never skips), saying so.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use agol_seat_broker::intake::signature::SigningKey;
use agol_seat_broker::portal::simulator::{self, SimAccount, SimulatorConfig};
use fantoccini::{Client, ClientBuilder, Locator};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

const BIN: &str = env!("CARGO_BIN_EXE_agol-seat-broker");
const WEBHOOK_SECRET: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
const ADMIN_SECRET: &str = "browser-test-admin-secret-0123";
const SIM_PASSWORD: &str = "Sim-Admin-Pass-42";

/// One pool behind an approver, holding no seat while a request waits, so
/// the approval visibly takes a seat; its seats end 180 days after
/// activation with the member deleted, so the member list offers extend
/// and reclaim.
const RULES: &str = r#"
[[pools]]
name = "partners"
seats = 3
role = "viewer"
user_type = "viewerUT"
groups = ["Project Atlas partners"]
approval = "manual"
hold_seat = false
[pools.match]
email_domains = ["example.org"]
[pools.lifecycle]
expires_after_days = 180
at_end = "delete"
"#;

/// The UTC day `days` from now, `yyyy-mm-dd`.
fn day_from_now(days: i64) -> String {
    chrono::DateTime::from_timestamp_millis(
        agol_seat_broker::clock::now_millis() + days * 86_400_000,
    )
    .unwrap()
    .format("%Y-%m-%d")
    .to_string()
}

/// The text of the flash message, once the page that shows it is there.
async fn flash_text(c: &Client) -> String {
    c.wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Id("flash"))
        .await
        .expect("a flash message")
        .text()
        .await
        .unwrap()
}

/// The first of `names` found on the PATH (or named by the variable `env`).
fn executable(env: &str, names: &[&str]) -> Option<PathBuf> {
    if let Some(p) = std::env::var_os(env).map(PathBuf::from) {
        return p.is_file().then_some(p);
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .flat_map(|dir| names.iter().map(move |n| dir.join(n)))
        .find(|p| p.is_file())
}

fn browser_tools() -> (PathBuf, PathBuf) {
    let browser = executable("CHROMIUM", &["chromium", "chromium-browser"]);
    let driver = executable("CHROMEDRIVER", &["chromedriver"]);
    let missing: Vec<&str> = [
        ("chromium", browser.is_none()),
        ("chromedriver", driver.is_none()),
    ]
    .into_iter()
    .filter_map(|(name, gone)| gone.then_some(name))
    .collect();
    match (browser, driver) {
        (Some(browser), Some(driver)) => (browser, driver),
        _ => panic!(
            "the headless-browser test needs Chromium and ChromeDriver ({} not found): \
             run scripts/browser-test-deps.sh (scripts/test.sh runs it), \
             or point CHROMIUM / CHROMEDRIVER at them",
            missing.join(" and ")
        ),
    }
}

fn temp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!(
        "asb-{name}-{}-{}",
        std::process::id(),
        agol_seat_broker::clock::now_millis()
    ));
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Where screenshots are kept: `test-artifacts/` in the target directory.
fn artifacts() -> PathBuf {
    let tmp = Path::new(env!("CARGO_TARGET_TMPDIR"));
    let dir = tmp.parent().unwrap_or(tmp).join("test-artifacts");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Starts the server binary and waits for its "listening on" line.
async fn start_broker(dir: &Path, portal: &str) -> (Child, String) {
    let rules = dir.join("rules.toml");
    std::fs::write(&rules, RULES).unwrap();
    let store = format!("sqlite:{}", dir.join("ledger.db").display());
    let mut child = Command::new(BIN)
        .args(["serve", "--config"])
        .arg(&rules)
        .args([
            "--store",
            &store,
            "--portal",
            portal,
            "--listen",
            "127.0.0.1:0",
        ])
        .envs([
            ("ARCGIS_USERNAME", "broker_admin"),
            ("ARCGIS_PASSWORD", SIM_PASSWORD),
            ("STANDARD_WEBHOOK_SECRETS", WEBHOOK_SECRET),
            ("ADMIN_SECRET", ADMIN_SECRET),
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .expect("the broker starts");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let addr = tokio::time::timeout(Duration::from_secs(30), async {
        while let Ok(Some(line)) = lines.next_line().await {
            if let Some(rest) = line.split("listening on http://").nth(1) {
                return rest.trim().to_string();
            }
        }
        panic!("the broker exited before listening");
    })
    .await
    .expect("the broker listens within 30 s");
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    (child, addr)
}

/// Starts ChromeDriver on a free loopback port and waits until it answers.
async fn start_driver(driver: &Path) -> (Child, String) {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let child = Command::new(driver)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("chromedriver starts");
    let url = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    for _ in 0..100 {
        if let Ok(r) = http.get(format!("{url}/status")).send().await
            && r.status().is_success()
        {
            return (child, url);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("chromedriver did not answer on {url}");
}

/// A headless Chromium session: no sandbox (tests may run as root), a fresh
/// profile, and none of the background connections a closed network refuses.
async fn browser(driver_url: &str, chromium: &Path, profile: &Path) -> Client {
    let caps = serde_json::json!({
        "browserName": "chrome",
        "goog:chromeOptions": {
            "binary": chromium,
            "args": [
                "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-quic", "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--window-size=1280,1100",
                format!("--user-data-dir={}", profile.display()),
            ],
        },
    });
    let serde_json::Value::Object(caps) = caps else {
        unreachable!()
    };
    ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(caps)
        .connect(driver_url)
        .await
        .expect("a Chromium session starts")
}

async fn signup(addr: &str, id: &str, body: serde_json::Value) -> u16 {
    let key = SigningKey::parse(WEBHOOK_SECRET).unwrap();
    let body = serde_json::to_vec(&body).unwrap();
    let ts = agol_seat_broker::clock::now_millis() / 1000;
    reqwest::Client::new()
        .post(format!("http://{addr}/webhooks/standard"))
        .header("content-type", "application/json")
        .header("webhook-id", id)
        .header("webhook-timestamp", ts.to_string())
        .header("webhook-signature", key.sign(id, ts, &body))
        .body(body)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// Waits until a click's navigation has reached `path` (a WebDriver click
/// may return before the next page is there).
async fn arrive(c: &Client, base: &str, path: &str) {
    let url = url::Url::parse(&format!("{base}{path}")).unwrap();
    if let Err(e) = c
        .wait()
        .at_most(Duration::from_secs(10))
        .for_url(&url)
        .await
    {
        panic!(
            "the browser did not reach {path} (at {:?}): {e}",
            c.current_url().await.map(|u| u.to_string())
        );
    }
}

/// The text of a pool's count cell (`pending`, `used`, `free`, …).
async fn count(c: &Client, pool: &str, column: &str) -> String {
    c.find(Locator::Css(&format!("#pool-{pool} td.{column}")))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

#[tokio::test]
async fn an_administrator_approves_a_request_in_a_real_browser() {
    let (chromium, driver) = browser_tools();
    let dir = temp_dir("admin-browser");
    let sim = simulator::spawn(SimulatorConfig {
        admin: SimAccount {
            username: "broker_admin".into(),
            password: SIM_PASSWORD.into(),
        },
        admin_user_type: None,
        groups: vec!["Project Atlas partners".into()],
        ..SimulatorConfig::default()
    })
    .await
    .unwrap();
    let (_broker, addr) = start_broker(&dir, &sim.base_url()).await;
    let (_driver, driver_url) = start_driver(&driver).await;

    // A sign-up that needs an approver.
    let status = signup(
        &addr,
        "msg_browser_1",
        serde_json::json!({"email": "ana.lopez@example.org", "first_name": "Ana",
                           "last_name": "López", "organization": "Example <Water> Board"}),
    )
    .await;
    assert_eq!(status, 202, "the sign-up waits for approval");

    let c = browser(&driver_url, &chromium, &dir.join("profile")).await;
    let base = format!("http://{addr}");

    // Not signed in: the page sends the browser to the sign-in form.
    c.goto(&format!("{base}/admin")).await.unwrap();
    assert_eq!(c.current_url().await.unwrap().path(), "/admin/login");
    c.find(Locator::Id("name"))
        .await
        .unwrap()
        .send_keys("ana.admin")
        .await
        .unwrap();
    c.find(Locator::Id("secret"))
        .await
        .unwrap()
        .send_keys(ADMIN_SECRET)
        .await
        .unwrap();
    c.find(Locator::Id("login"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();

    // Signed in: the pending request and the pool's counts.
    arrive(&c, &base, "/admin").await;
    assert_eq!(
        c.find(Locator::Id("who"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
        "ana.admin"
    );
    let row = c
        .find(Locator::Css("#pending tbody tr"))
        .await
        .expect("a pending request is listed");
    let text = row.text().await.unwrap();
    assert!(text.contains("ana.lopez@example.org"), "{text}");
    assert!(
        text.contains("Ana López") && text.contains("Example <Water> Board"),
        "{text}"
    );
    assert_eq!(count(&c, "partners", "pending").await, "1");
    assert_eq!(count(&c, "partners", "used").await, "0");
    assert_eq!(count(&c, "partners", "free").await, "3");

    let shots = artifacts();
    std::fs::write(
        shots.join("admin-pending.png"),
        c.screenshot().await.unwrap(),
    )
    .unwrap();

    // Approve it with a comment.
    row.find(Locator::Css("input[name=comment]"))
        .await
        .unwrap()
        .send_keys("partner confirmed by phone")
        .await
        .unwrap();
    row.find(Locator::Css("button[value=approve]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let flash = c
        .wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Id("flash"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(flash.starts_with("Approved"), "{flash}");

    // The member is created by the server's worker: reload until the seat
    // is taken by an active member.
    let mut settled = false;
    for _ in 0..50 {
        if count(&c, "partners", "used").await == "1"
            && count(&c, "partners", "reserved").await == "0"
        {
            settled = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
        c.goto(&format!("{base}/admin")).await.unwrap();
    }
    assert!(settled, "the approved member took a seat");
    assert_eq!(count(&c, "partners", "pending").await, "0");
    assert_eq!(count(&c, "partners", "free").await, "2");
    assert!(
        c.find_all(Locator::Css("#pending tbody tr"))
            .await
            .unwrap()
            .is_empty(),
        "nothing left to decide"
    );
    let audit = c
        .find(Locator::Id("audit"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(audit.contains("admin:ana.admin"), "{audit}");
    let member = sim
        .members()
        .into_iter()
        .find(|m| m.email == "ana.lopez@example.org")
        .expect("the member exists in the portal");
    assert_eq!(member.user_type, "viewerUT");

    // The pictures: the pool's usage bar and today's column of sign-ups.
    let bar = c
        .find(Locator::Css("#pool-partners svg.bar[role=img]"))
        .await
        .expect("a usage bar in the pool's row");
    let label = bar.attr("aria-label").await.unwrap().unwrap_or_default();
    assert!(
        label.starts_with("Pool partners: 1 of 3 seats taken"),
        "{label}"
    );
    assert!(
        !c.find_all(Locator::Css("#pool-partners svg.bar g.seg.active"))
            .await
            .unwrap()
            .is_empty(),
        "an active segment"
    );
    let days = c
        .find_all(Locator::Css("#signups-partners svg.signups g.day"))
        .await
        .unwrap();
    assert_eq!(days.len(), 30, "a column a day");
    let today = chrono::DateTime::from_timestamp_millis(agol_seat_broker::clock::now_millis())
        .unwrap()
        .format("%Y-%m-%d")
        .to_string();
    let yesterday =
        chrono::DateTime::from_timestamp_millis(agol_seat_broker::clock::now_millis() - 86_400_000)
            .unwrap()
            .format("%Y-%m-%d")
            .to_string();
    // The sign-up's day: today, or yesterday on a run across midnight. The
    // worker writes the member's audit event (what the chart counts) just
    // after the claim turns ACTIVE: reload until it is there.
    let mut counted = false;
    for attempt in 0..50 {
        if attempt > 0 {
            tokio::time::sleep(Duration::from_millis(200)).await;
            c.goto(&format!("{base}/admin")).await.unwrap();
        }
        if c.find(Locator::Css("#signups-partners g.day[data-count='1']"))
            .await
            .is_ok()
        {
            break;
        }
    }
    for day in [&today, &yesterday] {
        if let Ok(col) = c
            .find(Locator::Css(&format!(
                "#signups-partners g.day[data-day='{day}'][data-count='1'] rect.col"
            )))
            .await
        {
            let height: f64 = col
                .attr("height")
                .await
                .unwrap()
                .and_then(|h| h.parse().ok())
                .unwrap_or(0.0);
            assert!(height > 0.0, "the column is drawn");
            counted = true;
        }
    }
    assert!(counted, "the member's sign-up is counted");
    let projection = c
        .find(Locator::Css("#signups-partners .projection"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(projection.starts_with("Full in ~"), "{projection}");
    std::fs::write(shots.join("admin.png"), c.screenshot().await.unwrap()).unwrap();

    // The pool's own page: its member list.
    c.find(Locator::Css(
        "#pool-partners a[href='/admin/pools/partners']",
    ))
    .await
    .unwrap()
    .click()
    .await
    .unwrap();
    arrive(&c, &base, "/admin/pools/partners").await;
    assert!(
        c.find(Locator::Css("#usage svg.bar[role=img]"))
            .await
            .is_ok()
    );
    assert!(c.find(Locator::Css("#signups svg.signups")).await.is_ok());
    let rows = c.find_all(Locator::Css("#members tbody tr")).await.unwrap();
    assert_eq!(rows.len(), 1, "one seat, one row");
    let text = rows[0].text().await.unwrap();
    assert!(
        text.contains("ana.lopez@example.org") && text.contains(&member.username),
        "{text}"
    );
    assert_eq!(
        rows[0]
            .find(Locator::Css("td.state"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
        "active"
    );
    assert!(
        rows[0].find(Locator::Css("td.actions")).await.is_ok(),
        "the actions cell is there"
    );
    // Last sign-ins only when asked for: one listing of the organization.
    c.find(Locator::Id("read-signins"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    arrive(&c, &base, "/admin/pools/partners?signins=1").await;
    let signed_in = c
        .find(Locator::Css("#members tbody tr td.signin"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(
        signed_in, "never",
        "the simulator's new member never signed in"
    );
    std::fs::write(shots.join("admin-pool.png"), c.screenshot().await.unwrap()).unwrap();

    // On a phone-sized screen the page does not overflow sideways: wide
    // tables scroll inside their own box.
    c.set_window_size(390, 844).await.unwrap();
    c.goto(&format!("{base}/admin")).await.unwrap();
    let overflow = c
        .execute(
            "return document.documentElement.scrollWidth - document.documentElement.clientWidth;",
            vec![],
        )
        .await
        .unwrap();
    assert!(
        overflow.as_i64().unwrap_or(1) <= 0,
        "page wider than the phone: {overflow}"
    );
    std::fs::write(shots.join("admin-phone.png"), c.screenshot().await.unwrap()).unwrap();
    c.goto(&format!("{base}/admin/pools/partners"))
        .await
        .unwrap();
    let overflow = c
        .execute(
            "return document.documentElement.scrollWidth - document.documentElement.clientWidth;",
            vec![],
        )
        .await
        .unwrap();
    assert!(
        overflow.as_i64().unwrap_or(1) <= 0,
        "pool page wider than the phone: {overflow}"
    );
    std::fs::write(
        shots.join("admin-pool-phone.png"),
        c.screenshot().await.unwrap(),
    )
    .unwrap();

    // Back on a desktop-sized screen: extend the member's seat. The form
    // is filled in with 30 days past the current end (180 days after the
    // activation today, or yesterday on a run across midnight).
    c.set_window_size(1280, 1100).await.unwrap();
    c.goto(&format!("{base}/admin/pools/partners"))
        .await
        .unwrap();
    let row = c.find(Locator::Css("#members tbody tr")).await.unwrap();
    let until = row
        .find(Locator::Css("form.extend input[name=until]"))
        .await
        .expect("a date to extend to")
        .prop("value")
        .await
        .unwrap()
        .unwrap_or_default();
    assert!(
        until == day_from_now(210) || until == day_from_now(209),
        "{until}"
    );
    row.find(Locator::Css("form.extend button[type=submit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let day_after = chrono::NaiveDate::parse_from_str(&until, "%Y-%m-%d")
        .unwrap()
        .succ_opt()
        .unwrap()
        .format("%Y-%m-%d")
        .to_string();
    let text = flash_text(&c).await;
    assert_eq!(
        text,
        format!("Extended: the seat's last day is now {until}; it ends at {day_after} 00:00 UTC.")
    );
    let ends = c
        .find(Locator::Css("#members tbody tr td.ends"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        ends.starts_with(&format!("{day_after} 00:00 UTC")),
        "{ends}"
    );
    std::fs::write(
        shots.join("admin-pool-extended.png"),
        c.screenshot().await.unwrap(),
    )
    .unwrap();

    // Reclaim it now: first a confirmation page that changes nothing.
    c.find(Locator::Css("#members tbody tr a.reclaim"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    arrive(
        &c,
        &base,
        "/admin/pools/partners/members/ana.lopez%40example.org/reclaim",
    )
    .await;
    let what = c
        .find(Locator::Id("what-happens"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(what.contains("then deleted"), "{what}");
    assert!(
        sim.member(&member.username).is_some(),
        "the confirmation page changes nothing"
    );
    std::fs::write(
        shots.join("admin-reclaim-confirm.png"),
        c.screenshot().await.unwrap(),
    )
    .unwrap();
    c.find(Locator::Id("confirm-reclaim"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let text = flash_text(&c).await;
    assert!(
        text.starts_with(
            "Reclaimed: the member was deleted in ArcGIS Online and the seat given back to the pool."
        ),
        "{text}"
    );
    let members = c
        .find(Locator::Id("members"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        members.contains("Nobody holds a seat in this pool."),
        "{members}"
    );
    assert!(
        c.find(Locator::Css("#usage p"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
            .contains("3 free"),
        "the seat is back"
    );
    assert!(
        sim.member(&member.username).is_none(),
        "deleted in the portal"
    );
    std::fs::write(
        shots.join("admin-pool-reclaimed.png"),
        c.screenshot().await.unwrap(),
    )
    .unwrap();

    // Signing out ends the session in this browser.
    c.find(Locator::Id("logout"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    arrive(&c, &base, "/admin/login").await;
    c.goto(&format!("{base}/admin")).await.unwrap();
    assert_eq!(c.current_url().await.unwrap().path(), "/admin/login");

    c.close().await.unwrap();

    // The same decision in the exported audit trail, oldest first.
    let store = format!("sqlite:{}", dir.join("ledger.db").display());
    // Since yesterday (UTC), so a run across midnight still finds it all.
    let since =
        chrono::DateTime::from_timestamp_millis(agol_seat_broker::clock::now_millis() - 86_400_000)
            .unwrap()
            .format("%Y-%m-%d")
            .to_string();
    let out = Command::new(BIN)
        .args(["audit", "--since", &since, "--store", &store])
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let events: Vec<serde_json::Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
        .collect();
    let actions: Vec<&str> = events
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    let created = actions
        .iter()
        .position(|a| *a == "request.created")
        .unwrap();
    let approved = actions
        .iter()
        .position(|a| *a == "request.approved")
        .unwrap();
    assert!(created < approved, "{actions:?}");
    assert_eq!(events[approved]["actor"], "admin:ana.admin");
    assert_eq!(events[approved]["detail"], "partner confirmed by phone");
    let extended = actions.iter().position(|a| *a == "seat.extended").unwrap();
    let deleted = actions.iter().position(|a| *a == "seat.deleted").unwrap();
    assert!(approved < extended && extended < deleted, "{actions:?}");
    assert_eq!(events[extended]["actor"], "admin:ana.admin");
    assert_eq!(events[deleted]["actor"], "admin:ana.admin");
    let bad = Command::new(BIN)
        .args(["audit", "--since", "last tuesday", "--store", &store])
        .output()
        .await
        .unwrap();
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("RFC 3339"));

    std::fs::remove_dir_all(&dir).ok();
}
