//! CSV import end to end: the real ArcGIS client against the portal
//! simulator over HTTP, the embedded SQLite ledger (and DynamoDB Local for
//! one test), example files in `tests/fixtures/import/`, generated files for
//! the large and the overflow cases, and the command-line binary for exit
//! codes and an interrupted (kill -9) import.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use agol_seat_broker::clock::now_millis;
use agol_seat_broker::domain::PoolId;
use agol_seat_broker::import::report::{Quiet, outcome};
use agol_seat_broker::import::{self, ImportOptions, ImportSummary};
use agol_seat_broker::policy::Rules;
use agol_seat_broker::portal::arcgis::{ArcGisConfig, ArcGisPortal, Credentials};
use agol_seat_broker::portal::simulator::{
    self, Fault, FaultKind, MemberStatus, RunningSimulator, SimAccount, SimulatorConfig,
};
use agol_seat_broker::seats::sqlite::SqliteLedger;
use agol_seat_broker::seats::{ClaimState, ClaimStore};

const ADMIN: &str = "broker_admin";
const PASSWORD: &str = "Sim-Admin-Pass-42";
const BIN: &str = env!("CARGO_BIN_EXE_agol-seat-broker");

const RULES: &str = r#"
    [[pools]]
    name = "acme"
    seats = 20
    role = "viewer"
    user_type = "viewerUT"
    groups = ["Partners"]
    [pools.match]
    email_domains = ["acme.org"]

    [[pools]]
    name = "acme-creators"
    seats = 3
    role = "user"
    user_type = "creatorUT"
    groups = ["Partners"]
    [pools.match]
    email_domains = ["acme.org"]

    [[pools]]
    name = "city"
    seats = 5
    role = "data editor"
    user_type = "editorUT"
    invitation = "password"
    [pools.match]
    email_domains = ["city.example"]
"#;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/import")
        .join(name)
}

fn scratch(name: &str) -> PathBuf {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    let d = std::env::temp_dir().join(format!(
        "asb-import-{name}-{}-{}-{}",
        std::process::id(),
        now_millis(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn sim_config() -> SimulatorConfig {
    SimulatorConfig {
        admin: SimAccount {
            username: ADMIN.into(),
            password: PASSWORD.into(),
        },
        // Only the import's members are listed.
        admin_user_type: None,
        groups: vec!["Partners".into(), "Field data".into(), "Training".into()],
        ..SimulatorConfig::default()
    }
}

fn client(sim: &RunningSimulator) -> ArcGisPortal {
    let mut cfg = ArcGisConfig::new(sim.base_url(), "import-tests");
    cfg.request_timeout = Duration::from_secs(5);
    cfg.max_attempts = 2;
    cfg.base_backoff = Duration::from_millis(10);
    cfg.max_backoff = Duration::from_millis(50);
    ArcGisPortal::new(cfg, Credentials::new(ADMIN, PASSWORD)).unwrap()
}

struct Env {
    sim: RunningSimulator,
    portal: Arc<ArcGisPortal>,
    ledger: Arc<SqliteLedger>,
    rules: Rules,
    dir: PathBuf,
}

async fn env(name: &str, rules: &str, sim: SimulatorConfig) -> Env {
    let dir = scratch(name);
    let sim = simulator::spawn(sim).await.unwrap();
    Env {
        portal: Arc::new(client(&sim)),
        sim,
        ledger: Arc::new(SqliteLedger::open(dir.join("ledger.db")).unwrap()),
        rules: Rules::from_toml(rules).unwrap(),
        dir,
    }
}

fn opts() -> ImportOptions {
    ImportOptions {
        // all-columns.csv makes an Administrator; refusing one by default
        // has a test of its own.
        allow_admin_roles: true,
        backoff: (Duration::from_millis(20), Duration::from_millis(200)),
        retry_budget: Duration::from_secs(30),
        ..ImportOptions::default()
    }
}

impl Env {
    async fn import(&self, file: &Path, opts: &ImportOptions) -> (ImportSummary, Vec<Line>) {
        let report = self.dir.join(format!(
            "{}.result.csv",
            file.file_stem().unwrap().to_string_lossy()
        ));
        let s = import::run(
            self.ledger.clone(),
            self.portal.clone(),
            &self.rules,
            file,
            &report,
            opts,
            Arc::new(Quiet),
        )
        .await
        .expect("the import runs");
        (s, read_results(&report))
    }

    async fn used(&self, pool: &str) -> u32 {
        self.ledger
            .usage(&PoolId::parse(pool).unwrap())
            .await
            .unwrap()
            .used
    }

    async fn holders(&self, pool: &str) -> Vec<String> {
        let mut v: Vec<String> = self
            .ledger
            .claims(&PoolId::parse(pool).unwrap())
            .await
            .unwrap()
            .into_iter()
            .inspect(|c| assert_eq!(c.state, ClaimState::Active, "{c:?}"))
            .filter_map(|c| c.username)
            .collect();
        v.sort();
        v
    }

    fn write(&self, name: &str, text: &str) -> PathBuf {
        let p = self.dir.join(name);
        std::fs::write(&p, text).unwrap();
        p
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Line {
    row: u64,
    outcome: String,
    username: String,
    message: String,
}

fn read_results(path: &Path) -> Vec<Line> {
    let mut r = csv::Reader::from_path(path).unwrap();
    assert_eq!(
        r.headers().unwrap(),
        vec!["row", "outcome", "username", "message"]
    );
    r.records()
        .map(|rec| {
            let rec = rec.unwrap();
            Line {
                row: rec[0].parse().unwrap(),
                outcome: rec[1].to_string(),
                username: rec[2].to_string(),
                message: rec[3].to_string(),
            }
        })
        .collect()
}

fn outcomes(lines: &[Line]) -> BTreeMap<String, usize> {
    let mut m = BTreeMap::new();
    for l in lines {
        *m.entry(l.outcome.clone()).or_default() += 1;
    }
    m
}

fn all(lines: &[Line], o: &str) -> bool {
    lines.iter().all(|l| l.outcome == o)
}

#[tokio::test]
async fn every_column_is_applied_and_a_rerun_reports_everything_unchanged() {
    let e = env("columns", RULES, sim_config()).await;
    let file = fixture("all-columns.csv");

    let (s, lines) = e.import(&file, &opts()).await;

    assert_eq!(s.exit_code(), 0, "{lines:#?}");
    assert!(all(&lines, outcome::CREATED), "{lines:#?}");
    assert_eq!(lines.len(), 6);
    let partners = e.sim.group_id("Partners").unwrap();
    let field = e.sim.group_id("Field data").unwrap();
    let training = e.sim.group_id("Training").unwrap();

    let ana = e.sim.member("ana.lopez_acme").expect("ana created");
    assert_eq!(ana.email, "Ana.Lopez@acme.org");
    assert_eq!(
        (ana.first_name.as_str(), ana.last_name.as_str()),
        ("Ana", "López")
    );
    assert_eq!(ana.full_name, "Ana María López");
    assert_eq!(
        (ana.role.as_str(), ana.user_type.as_str()),
        ("iAAAAAAAAAAAAAAA", "viewerUT")
    );
    assert_eq!(ana.group_ids, vec![partners.clone(), field.clone()]);
    assert_eq!(
        (ana.access.as_str(), ana.esri_access.as_str()),
        ("org", "arcgisonly")
    );
    assert_eq!(ana.status, MemberStatus::Pending, "e-mail invitation");

    let bo = e.sim.member("bo_builder").unwrap();
    assert_eq!(
        (bo.role.as_str(), bo.user_type.as_str()),
        ("org_publisher", "creatorUT")
    );
    assert_eq!(bo.group_ids, vec![training]);
    assert_eq!(
        (bo.access.as_str(), bo.esri_access.as_str()),
        ("public", "both")
    );
    assert_eq!(bo.full_name, "Bo the Builder");

    let cy = e.sim.member("cy_editor").unwrap();
    assert_eq!(
        (cy.role.as_str(), cy.user_type.as_str()),
        ("iBBBBBBBBBBBBBBB", "editorUT")
    );
    assert_eq!(cy.access, "private");
    assert_eq!(
        cy.status,
        MemberStatus::Active,
        "the city pool sets a password"
    );
    assert!(cy.group_ids.is_empty(), "the city pool has no groups");

    let dee = e.sim.member("dee_admin").unwrap();
    assert_eq!(
        (dee.role.as_str(), dee.user_type.as_str()),
        ("org_admin", "GISProfessionalAdvUT"),
        "created below Administrator, then promoted"
    );
    let eve = e.sim.member("eve_field").unwrap();
    assert_eq!(
        (eve.role.as_str(), eve.user_type.as_str()),
        ("fIeLdTeChRoLe001", "fieldWorkerUT")
    );
    let fay = e.sim.member("fay_default").unwrap();
    assert_eq!(
        (fay.role.as_str(), fay.user_type.as_str()),
        ("iAAAAAAAAAAAAAAA", "viewerUT"),
        "no role or type in the row: the pool's"
    );
    assert_eq!(fay.group_ids, vec![partners]);

    // Seats: creatorUT rows go to the creators' pool, the rest by the rules.
    assert_eq!(
        e.holders("acme").await,
        ["ana.lopez_acme", "dee_admin", "eve_field", "fay_default"]
    );
    assert_eq!(e.holders("acme-creators").await, ["bo_builder"]);
    assert_eq!(e.holders("city").await, ["cy_editor"]);
    assert_eq!(e.used("acme").await, 4);

    // The same file again: nothing to do. The org listing carries no
    // groups (strict simulator); membership comes from each group's
    // userList, so no group is added again.
    let invites = e.sim.request_count("invite");
    let adds = e.sim.request_count("addUsers");
    let user_lists = e.sim.request_count("userList");
    let (s, lines) = e.import(&file, &opts()).await;
    assert_eq!(s.exit_code(), 0);
    assert!(all(&lines, outcome::UNCHANGED), "{lines:#?}");
    assert_eq!(e.sim.request_count("invite"), invites);
    assert_eq!(e.sim.request_count("addUsers"), adds);
    assert!(
        e.sim.request_count("userList") > user_lists,
        "group members read per group"
    );
    assert_eq!(e.used("acme").await, 4);
    std::fs::remove_dir_all(&e.dir).ok();
}

#[tokio::test]
async fn every_error_class_is_reported_per_row_and_nothing_is_written() {
    let e = env("errors", RULES, sim_config()).await;
    let file = fixture("errors.csv");

    let (s, lines) = e.import(&file, &opts()).await;

    assert_eq!(s.exit_code(), 2, "{lines:#?}");
    assert!(!s.wrote);
    assert!(e.sim.members().is_empty(), "nothing was written");
    assert_eq!(e.used("acme").await, 0);
    let code = |row: u64| -> String {
        let l = lines.iter().find(|l| l.row == row).unwrap();
        l.message.split(':').next().unwrap().to_string()
    };
    let expected = [
        (2, "invalid_username"),
        (3, "invalid_email"),
        (4, "role_conflict"),
        (5, "user_type_conflict"),
        (6, "unknown_role"),
        (7, "unknown_role"),
        (8, "incompatible_role"),
        (9, "unknown_group"),
        (10, "duplicate_username"),
        (11, "duplicate_email"),
        (12, "no_matching_pool"),
        (13, "invalid_level"),
        (14, "unknown_user_type"),
        (15, "invalid_value"),
        (16, "invalid_row"),
        (17, "invalid_value"),
    ];
    for (row, c) in expected {
        let l = lines.iter().find(|l| l.row == row).unwrap();
        assert_eq!(l.outcome, outcome::ERROR, "{l:?}");
        assert_eq!(code(row), c, "{l:?}");
    }
    assert_eq!(lines.len(), 18, "one line per data row: {lines:#?}");
    assert_eq!(lines[0].outcome, outcome::SKIPPED);
    assert!(lines[0].message.contains("would create"), "{:?}", lines[0]);
    assert_eq!(
        (lines[17].outcome.as_str(), lines[17].message.as_str()),
        (outcome::SKIPPED, "empty row")
    );
    assert!(
        lines[8].message.contains("\"No Such Group\""),
        "{:?}",
        lines[8]
    );
    // Both rows of a duplicate are refused, each naming the other.
    assert!(lines[9].message.contains("row 4"), "{:?}", lines[9]);
    assert!(
        lines[3].message.contains("duplicate_username") && lines[3].message.contains("row 10"),
        "{:?}",
        lines[3]
    );
    assert!(
        lines[4].message.contains("duplicate_email") && lines[4].message.contains("row 11"),
        "{:?}",
        lines[4]
    );
    assert!(
        lines[13].message.contains("did you mean \"creatorUT\""),
        "{:?}",
        lines[13]
    );

    // --partial imports the one valid row and reports the rest.
    let (s, lines) = e
        .import(
            &file,
            &ImportOptions {
                partial: true,
                ..opts()
            },
        )
        .await;
    assert_eq!(s.exit_code(), 1);
    assert_eq!(lines[0].outcome, outcome::CREATED, "{:?}", lines[0]);
    assert_eq!(outcomes(&lines)[outcome::ERROR], 16);
    assert_eq!(e.sim.members().len(), 1);
    std::fs::remove_dir_all(&e.dir).ok();
}

#[tokio::test]
async fn header_errors_name_the_header_and_refuse_the_file() {
    let e = env("headers", RULES, sim_config()).await;
    let (s, lines) = e.import(&fixture("unknown-header.csv"), &opts()).await;
    assert_eq!(s.exit_code(), 2);
    // Issue 13: the result file says why, one line per header problem, as
    // row 0 (the header line).
    let got: Vec<(u64, &str, &str)> = lines
        .iter()
        .map(|l| (l.row, l.outcome.as_str(), l.username.as_str()))
        .collect();
    assert_eq!(got, [(0, outcome::ERROR, ""), (0, outcome::ERROR, "")]);
    assert!(
        lines[0].message.starts_with("unknown_header: ") && lines[0].message.contains("nickname"),
        "{lines:#?}"
    );
    assert!(
        lines[1].message.contains("did you mean \"role\""),
        "{lines:#?}"
    );
    let errs: Vec<_> = s
        .header_errors
        .iter()
        .map(|h| (h.code, h.header.clone().unwrap_or_default()))
        .collect();
    assert_eq!(
        errs,
        [
            ("unknown_header", "nickname".to_string()),
            ("unknown_header", "Role".to_string())
        ]
    );
    assert!(s.header_errors[1].message.contains("did you mean \"role\""));

    let (s, _) = e.import(&fixture("missing-header.csv"), &opts()).await;
    assert_eq!(s.exit_code(), 2);
    assert_eq!(s.header_errors[0].code, "missing_header");
    assert_eq!(s.header_errors[0].header.as_deref(), Some("email"));
    assert!(e.sim.members().is_empty());
    std::fs::remove_dir_all(&e.dir).ok();
}

#[tokio::test]
async fn a_dry_run_writes_the_plan_and_nothing_else() {
    let e = env("dry", RULES, sim_config()).await;
    let (s, lines) = e
        .import(
            &fixture("all-columns.csv"),
            &ImportOptions {
                dry_run: true,
                ..opts()
            },
        )
        .await;
    assert_eq!(s.exit_code(), 0);
    assert!(all(&lines, outcome::CREATE), "{lines:#?}");
    assert!(
        lines[1].message.contains("pool acme-creators"),
        "{:?}",
        lines[1]
    );
    assert!(e.sim.members().is_empty());
    assert_eq!(e.used("acme").await + e.used("acme-creators").await, 0);
    assert_eq!(e.sim.request_count("invite"), 0);
    std::fs::remove_dir_all(&e.dir).ok();
}

/// Issue 13: a refused row's cells reach the result file neutralised
/// (OWASP CSV injection): a spreadsheet opening it runs no formula.
#[tokio::test]
async fn cells_starting_like_a_formula_are_neutralised_in_the_result_file() {
    let e = env("injection", RULES, sim_config()).await;
    let file = e.write(
        "formula.csv",
        "username,email\n\"=HYPERLINK(\"\"http://evil.example\"\",\"\"x\"\")\",f1@acme.org\n@SUM(1+1),f2@acme.org\n-2+3_user,f3@acme.org\n+cmd_user,f4@acme.org\n",
    );
    let (s, lines) = e.import(&file, &opts()).await;
    assert_eq!(s.exit_code(), 2, "{lines:#?}");
    assert!(all(&lines, outcome::ERROR), "{lines:#?}");
    let usernames: Vec<&str> = lines.iter().map(|l| l.username.as_str()).collect();
    assert_eq!(
        usernames,
        [
            "'=HYPERLINK(\"http://evil.example\",\"x\")",
            "'@SUM(1+1)",
            "'-2+3_user",
            "'+cmd_user"
        ]
    );
    assert!(
        lines
            .iter()
            .all(|l| l.message.starts_with("invalid_username")),
        "{lines:#?}"
    );
    assert!(e.sim.members().is_empty());
    std::fs::remove_dir_all(&e.dir).ok();
}

/// Issue 13: a blank line is reported as a skipped row, so the rows after
/// it keep the numbers a spreadsheet shows.
#[tokio::test]
async fn a_blank_line_is_a_skipped_row_and_later_rows_keep_their_numbers() {
    let e = env("blank", RULES, sim_config()).await;
    let file = e.write(
        "blank.csv",
        "username,email\nrow_one_acme,one@acme.org\n\nbad,two@acme.org\n\r\nrow_five_acme,five@acme.org\n",
    );
    let (s, lines) = e.import(&file, &opts()).await;
    assert_eq!(s.exit_code(), 2, "{lines:#?}");
    let got: Vec<(u64, &str, &str)> = lines
        .iter()
        .map(|l| (l.row, l.outcome.as_str(), l.username.as_str()))
        .collect();
    assert_eq!(
        got,
        [
            (1, outcome::SKIPPED, "row_one_acme"),
            (2, outcome::SKIPPED, ""),
            (3, outcome::ERROR, "bad"),
            (4, outcome::SKIPPED, ""),
            (5, outcome::SKIPPED, "row_five_acme"),
        ]
    );
    assert_eq!(lines[1].message, "empty row");
    assert_eq!(s.validation.empty, 2);
    std::fs::remove_dir_all(&e.dir).ok();
}

/// Issue 13: a username or e-mail on two rows refuses both rows (not only
/// the second), each naming the other; --partial creates neither.
#[tokio::test]
async fn both_rows_of_a_duplicate_are_refused_even_with_partial() {
    let e = env("dups", RULES, sim_config()).await;
    let file = e.write(
        "dups.csv",
        "username,email\ntwice_acme,a@acme.org\nonce_acme,b@acme.org\ntwice_acme,c@acme.org\nmail_one_acme,same@acme.org\nmail_two_acme,SAME@acme.org\n",
    );
    let (s, lines) = e
        .import(
            &file,
            &ImportOptions {
                partial: true,
                ..opts()
            },
        )
        .await;
    assert_eq!(s.exit_code(), 1, "{lines:#?}");
    let got: Vec<(u64, &str, &str)> = lines
        .iter()
        .map(|l| {
            let m = if l.outcome == outcome::ERROR {
                l.message.as_str()
            } else {
                ""
            };
            (l.row, l.outcome.as_str(), m)
        })
        .collect();
    assert_eq!(
        got,
        [
            (
                1,
                outcome::ERROR,
                "duplicate_username: username \"twice_acme\" is also on row 3"
            ),
            (2, outcome::CREATED, ""),
            (
                3,
                outcome::ERROR,
                "duplicate_username: username \"twice_acme\" is also on row 1"
            ),
            (
                4,
                outcome::ERROR,
                "duplicate_email: e-mail \"same@acme.org\" is also on row 5"
            ),
            (
                5,
                outcome::ERROR,
                "duplicate_email: e-mail \"same@acme.org\" is also on row 4"
            ),
        ],
        "{lines:#?}"
    );
    let members: Vec<String> = e.sim.members().into_iter().map(|m| m.username).collect();
    assert_eq!(members, ["once_acme"]);
    assert_eq!(e.used("acme").await, 1);
    std::fs::remove_dir_all(&e.dir).ok();
}

/// Issue 13: a file cannot make an administrator unless the run says so
/// (`allow_admin_roles`: `--allow-admin-roles`, `IMPORT_ALLOW_ADMIN_ROLES`):
/// by default the row is refused with a stable code and nothing is written.
#[tokio::test]
async fn an_administrator_row_is_refused_unless_the_run_allows_it() {
    let e = env("admins", RULES, sim_config()).await;
    let file = fixture("all-columns.csv");
    let (s, lines) = e
        .import(
            &file,
            &ImportOptions {
                allow_admin_roles: false,
                ..opts()
            },
        )
        .await;
    assert_eq!(s.exit_code(), 2, "{lines:#?}");
    let refused: Vec<(u64, &str)> = lines
        .iter()
        .filter(|l| l.outcome == outcome::ERROR)
        .map(|l| (l.row, l.username.as_str()))
        .collect();
    assert_eq!(refused, [(4, "dee_admin")], "{lines:#?}");
    assert!(
        lines[3].message.starts_with("admin_role_not_allowed: "),
        "{:?}",
        lines[3]
    );
    assert!(e.sim.members().is_empty(), "nothing was written");

    // With --partial the other rows are imported, the administrator is not.
    let (s, lines) = e
        .import(
            &file,
            &ImportOptions {
                allow_admin_roles: false,
                partial: true,
                ..opts()
            },
        )
        .await;
    assert_eq!(s.exit_code(), 1, "{lines:#?}");
    assert_eq!(e.sim.members().len(), 5);
    assert!(e.sim.member("dee_admin").is_none());
    assert!(
        e.sim.members().iter().all(|m| m.role != "org_admin"),
        "no administrator made"
    );

    // Allowed explicitly: created, then promoted.
    let (s, lines) = e.import(&file, &opts()).await;
    assert_eq!(s.exit_code(), 0, "{lines:#?}");
    assert_eq!(e.sim.member("dee_admin").unwrap().role, "org_admin");
    std::fs::remove_dir_all(&e.dir).ok();
}

#[tokio::test]
async fn an_update_file_changes_only_the_given_fields_and_moves_seats() {
    let e = env("update", RULES, sim_config()).await;
    let (s, _) = e.import(&fixture("all-columns.csv"), &opts()).await;
    assert_eq!(s.exit_code(), 0);
    let before: BTreeMap<String, _> = e
        .sim
        .members()
        .into_iter()
        .map(|m| (m.username.clone(), m))
        .collect();
    let file = fixture("update.csv");

    let (s, lines) = e.import(&file, &opts()).await;

    assert_eq!(s.exit_code(), 0, "{lines:#?}");
    let msg = |u: &str| {
        let l = lines.iter().find(|l| l.username == u).unwrap();
        (l.outcome.clone(), l.message.clone())
    };
    assert_eq!(
        msg("ana.lopez_acme"),
        ("updated".into(), "changes: email".into())
    );
    assert!(
        msg("bo_builder")
            .1
            .starts_with("changes: firstName, role, userLicenseTypeId")
    );
    assert_eq!(msg("eve_field").0, outcome::UNCHANGED);
    // Only the given fields changed.
    let ana = e.sim.member("ana.lopez_acme").unwrap();
    assert_eq!(ana.email, "ana.new@acme.org");
    let mut expect = before["ana.lopez_acme"].clone();
    expect.email = ana.email.clone();
    assert_eq!(ana, expect);
    let bo = e.sim.member("bo_builder").unwrap();
    let mut expect = before["bo_builder"].clone();
    expect.first_name = "Robert".into();
    // The portal derives the full name from a new first name.
    expect.full_name = "Robert Builder".into();
    expect.role = "iAAAAAAAAAAAAAAA".into();
    expect.user_type = "viewerUT".into();
    assert_eq!(
        bo, expect,
        "lower role first, then lower type; the rest kept"
    );
    let fay = e.sim.member("fay_default").unwrap();
    assert_eq!(
        (fay.role.as_str(), fay.user_type.as_str()),
        ("org_publisher", "creatorUT"),
        "higher type first, then higher role"
    );
    let cy = e.sim.member("cy_editor").unwrap();
    assert_eq!(cy.access, "public");
    assert_eq!(cy.group_ids, vec![e.sim.group_id("Partners").unwrap()]);
    assert_eq!(e.sim.member("eve_field").unwrap(), before["eve_field"]);
    // The seats followed the user types.
    assert_eq!(
        e.holders("acme").await,
        ["ana.lopez_acme", "bo_builder", "dee_admin", "eve_field"]
    );
    assert_eq!(e.holders("acme-creators").await, ["fay_default"]);
    assert_eq!(e.used("acme").await, 4);
    assert_eq!(e.used("acme-creators").await, 1);
    // Ana's seat followed her e-mail: a sign-up under the new one finds it.
    let acme = PoolId::parse("acme").unwrap();
    let ana_seat = e
        .ledger
        .claims(&acme)
        .await
        .unwrap()
        .into_iter()
        .find(|c| c.username.as_deref() == Some("ana.lopez_acme"))
        .unwrap();
    assert_eq!(ana_seat.key.person, "ana.new@acme.org");
    let again = e
        .ledger
        .reserve(agol_seat_broker::seats::ReserveRequest {
            key: &ana_seat.key,
            capacity: 10,
            delivery: "standard:late-signup",
            claim_id: "c-late",
            username: "ana.new_acme",
            now: 0,
            hold: agol_seat_broker::seats::Hold::InFlight,
        })
        .await
        .unwrap();
    assert!(
        matches!(again, agol_seat_broker::seats::Reservation::AlreadyHeld(ref c) if c.claim_id == ana_seat.claim_id),
        "{again:?}"
    );
    assert_eq!(e.used("acme").await, 4);

    let (s, lines) = e.import(&file, &opts()).await;
    assert_eq!(s.exit_code(), 0);
    assert!(all(&lines, outcome::UNCHANGED), "{lines:#?}");
    std::fs::remove_dir_all(&e.dir).ok();
}

fn creators_file(n: usize) -> String {
    let mut s = String::from("username,email,userLicenseTypeId,role\n");
    for i in 0..n {
        s.push_str(&format!(
            "maker{i:03}_acme,maker{i}@acme.org,creatorUT,User\n"
        ));
    }
    s
}

#[tokio::test]
async fn a_file_without_a_groups_column_reads_no_group_member_lists() {
    let e = env("nogroups", RULES, sim_config()).await;
    let file = e.write("two.csv", &creators_file(2));

    let (first, _) = e.import(&file, &opts()).await;
    let (again, lines) = e.import(&file, &opts()).await;

    assert_eq!(first.exit_code(), 0);
    assert_eq!(again.exit_code(), 0);
    assert!(all(&lines, outcome::UNCHANGED), "{lines:#?}");
    assert_eq!(e.sim.request_count("userList"), 0);
    std::fs::remove_dir_all(&e.dir).ok();
}

#[tokio::test]
async fn an_overflowing_file_is_refused_or_with_partial_fills_the_free_seats_exactly() {
    let e = env("overflow", RULES, sim_config()).await;
    // One seat of the creators' pool is already taken.
    let first = e.write("one.csv", &creators_file(1));
    assert_eq!(e.import(&first, &opts()).await.0.exit_code(), 0);
    let file = e.write("eight.csv", &creators_file(8));

    let (s, lines) = e.import(&file, &opts()).await;
    assert_eq!(s.exit_code(), 2);
    assert_eq!(
        lines[0].outcome,
        outcome::SKIPPED,
        "maker000 exists: unchanged"
    );
    assert!(lines[0].message.contains("unchanged"), "{:?}", lines[0]);
    let full: Vec<_> = lines
        .iter()
        .filter(|l| l.message.starts_with("pool_full"))
        .map(|l| l.row)
        .collect();
    assert_eq!(full, [4, 5, 6, 7, 8], "2 free seats: rows 2 and 3 fit");
    assert_eq!(e.used("acme-creators").await, 1);
    assert_eq!(e.sim.assigned("creatorUT"), 1);

    let (s, lines) = e
        .import(
            &file,
            &ImportOptions {
                partial: true,
                concurrency: 8,
                ..opts()
            },
        )
        .await;
    assert_eq!(s.exit_code(), 1);
    let o = outcomes(&lines);
    assert_eq!(
        (o["unchanged"], o["created"], o["error"]),
        (1, 2, 5),
        "{lines:#?}"
    );
    assert_eq!(e.used("acme-creators").await, 3, "never oversold");
    assert_eq!(e.sim.assigned("creatorUT"), 3);
    assert_eq!(e.holders("acme-creators").await.len(), 3);
    std::fs::remove_dir_all(&e.dir).ok();
}

#[tokio::test]
async fn a_pool_with_approval_and_a_waitlist_takes_the_file_as_the_administrator_s_decision() {
    let rules = RULES.replace(
        "invitation = \"password\"",
        "invitation = \"password\"\n    approval = \"manual\"\n    waitlist = true",
    );
    let e = env("approval", &rules, sim_config()).await;
    let mut text = String::from("username,email\n");
    for i in 0..7 {
        text.push_str(&format!("clerk{i}_city,clerk{i}@city.example\n"));
    }
    let file = e.write("clerks.csv", &text);
    let (s, lines) = e
        .import(
            &file,
            &ImportOptions {
                partial: true,
                ..opts()
            },
        )
        .await;
    assert_eq!(s.exit_code(), 1);
    let o = outcomes(&lines);
    assert_eq!((o["created"], o["error"]), (5, 2), "{lines:#?}");
    assert!(lines[5].message.starts_with("pool_full"), "{lines:#?}");
    assert_eq!(e.used("city").await, 5);
    assert_eq!(
        e.sim.members().len(),
        5,
        "created at once, no pending request"
    );
    std::fs::remove_dir_all(&e.dir).ok();
}

#[tokio::test]
async fn rows_past_the_organization_s_licences_are_refused_at_validation() {
    let e = env("licences", RULES, sim_config()).await;
    e.sim.set_purchased("editorUT", 1);
    let file = e.write(
        "city.csv",
        "username,email\ncity_one,one@city.example\ncity_two,two@city.example\n",
    );
    let (s, lines) = e.import(&file, &opts()).await;
    assert_eq!(s.exit_code(), 2);
    assert_eq!(lines[0].outcome, outcome::SKIPPED);
    assert!(
        lines[1]
            .message
            .starts_with("no_license: the organization has 1 editorUT"),
        "{lines:?}"
    );
    assert!(e.sim.members().is_empty());
    std::fs::remove_dir_all(&e.dir).ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_generated_rows_are_created_once_each() {
    const N: usize = 10_000;
    let rules = r#"
        [[pools]]
        name = "bulk"
        seats = 12000
        role = "viewer"
        user_type = "viewerUT"
        [pools.match]
        email_domains = ["bulk.example"]
    "#;
    let mut cfg = sim_config();
    cfg.purchased.insert("viewerUT".into(), 20_000);
    let e = env("10k", rules, cfg).await;
    let mut text = String::from("username,email,firstName,lastName\n");
    for i in 0..N {
        text.push_str(&format!(
            "person{i:05}_bulk,person{i}@bulk.example,Person,Number {i}\n"
        ));
    }
    let file = e.write("bulk.csv", &text);
    let started = std::time::Instant::now();

    let (s, lines) = e
        .import(
            &file,
            &ImportOptions {
                concurrency: 32,
                ..opts()
            },
        )
        .await;

    eprintln!("10 000 rows imported in {:?}", started.elapsed());
    assert_eq!(s.exit_code(), 0);
    assert_eq!(lines.len(), N);
    assert!(lines.iter().enumerate().all(|(i, l)| l.row == i as u64 + 1));
    assert!(all(&lines, outcome::CREATED));
    assert_eq!(e.sim.members().len(), N);
    assert_eq!(e.sim.request_count("invite"), N as u64);
    // One portal call per new member (issue 12): the invitation, no
    // username look-up; the rest is the load before (organization,
    // licences, roles, groups, the member listing) and the token.
    let others = e.sim.request_count("") - N as u64;
    eprintln!("portal requests besides the invitations: {others}");
    assert!(others <= 20, "{others} requests besides {N} invitations");
    assert_eq!(e.used("bulk").await, N as u32);
    std::fs::remove_dir_all(&e.dir).ok();
}

#[tokio::test]
async fn a_busy_portal_slows_the_import_down_instead_of_failing_it() {
    let e = env("busy", RULES, sim_config()).await;
    // Every request answers 503 for a while (more than the client's own
    // retries), then 429s.
    e.sim.inject(Fault {
        endpoint: Some("invite".into()),
        kind: FaultKind::HttpStatus(503),
        times: Some(6),
    });
    e.sim.inject(Fault {
        endpoint: Some("invite".into()),
        kind: FaultKind::TooManyRequests {
            retry_after_secs: 0,
        },
        times: Some(4),
    });
    let (s, lines) = e.import(&fixture("all-columns.csv"), &opts()).await;
    assert_eq!(s.exit_code(), 0, "{lines:#?}");
    assert!(all(&lines, outcome::CREATED), "{lines:#?}");
    assert!(s.pauses > 0, "the import paused");
    assert_eq!(e.sim.members().len(), 6);
    assert_eq!(e.used("acme").await, 4);
    std::fs::remove_dir_all(&e.dir).ok();
}

#[tokio::test]
async fn a_row_gives_up_as_retry_later_when_the_portal_stays_down() {
    let e = env("down", RULES, sim_config()).await;
    e.sim.inject(Fault {
        endpoint: Some("invite".into()),
        kind: FaultKind::HttpStatus(503),
        times: None,
    });
    let file = e.write("one.csv", "username,email\nsolo_user,solo@acme.org\n");
    let (s, lines) = e
        .import(
            &file,
            &ImportOptions {
                retry_budget: Duration::from_millis(300),
                ..opts()
            },
        )
        .await;
    assert_eq!(s.exit_code(), 1);
    assert_eq!(lines[0].outcome, outcome::RETRY_LATER, "{lines:?}");
    assert_eq!(e.used("acme").await, 0, "the seat was given back");

    e.sim.clear_faults();
    let (s, lines) = e.import(&file, &opts()).await;
    assert_eq!(s.exit_code(), 0);
    assert_eq!(lines[0].outcome, outcome::CREATED, "{lines:?}");
    assert_eq!(e.used("acme").await, 1);
    std::fs::remove_dir_all(&e.dir).ok();
}

#[tokio::test]
async fn the_import_runs_on_dynamodb_local_too() {
    use agol_seat_broker::seats::dynamo::{DynamoLedger, client_for_endpoint, create_table};
    let endpoint = std::env::var("DYNAMODB_ENDPOINT")
        .expect("DYNAMODB_ENDPOINT is not set: run the tests with scripts/test.sh");
    let ddb = client_for_endpoint(Some(&endpoint)).await;
    let table = format!("import-{}-{}", std::process::id(), now_millis());
    create_table(&ddb, &table).await.unwrap();
    let ledger = Arc::new(DynamoLedger::new(ddb.clone(), &table));
    let sim = simulator::spawn(sim_config()).await.unwrap();
    let portal = Arc::new(client(&sim));
    let rules = Rules::from_toml(RULES).unwrap();
    let dir = scratch("dynamo");
    let report = dir.join("result.csv");
    let file = fixture("all-columns.csv");
    let options = opts();
    let run = || {
        import::run(
            ledger.clone(),
            portal.clone(),
            &rules,
            &file,
            &report,
            &options,
            Arc::new(Quiet),
        )
    };
    let s = run().await.unwrap();
    assert_eq!(s.exit_code(), 0);
    assert!(all(&read_results(&report), outcome::CREATED));
    let used = |p: &'static str| {
        let l = ledger.clone();
        async move { l.usage(&PoolId::parse(p).unwrap()).await.unwrap().used }
    };
    assert_eq!(used("acme").await, 4);
    assert_eq!(used("acme-creators").await, 1);
    let s = run().await.unwrap();
    assert_eq!(s.exit_code(), 0);
    assert!(all(&read_results(&report), outcome::UNCHANGED));
    assert_eq!(sim.members().len(), 6);
    let _ = ddb.delete_table().table_name(&table).send().await;
    std::fs::remove_dir_all(&dir).ok();
}

// ----- the command-line binary -----

async fn cli(args: &[&str]) -> (i32, String) {
    let out = tokio::process::Command::new(BIN)
        .args(args)
        .env("ARCGIS_USERNAME", ADMIN)
        .env("ARCGIS_PASSWORD", PASSWORD)
        .output()
        .await
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    (out.status.code().unwrap_or(-1), text)
}

#[tokio::test]
async fn the_command_prints_the_plan_and_exits_with_the_documented_codes() {
    let e = env("cli", RULES, sim_config()).await;
    let rules = e.write("rules.toml", RULES);
    let store = format!("sqlite:{}", e.dir.join("cli.db").display());
    let base = |file: &Path| -> Vec<String> {
        vec![
            "import".into(),
            file.display().to_string(),
            "--config".into(),
            rules.display().to_string(),
            "--store".into(),
            store.clone(),
            "--portal".into(),
            e.sim.base_url(),
        ]
    };
    let errors = e.dir.join("errors.csv");
    std::fs::copy(fixture("errors.csv"), &errors).unwrap();
    let args = base(&errors);
    let (code, out) = cli(&args.iter().map(String::as_str).collect::<Vec<_>>()).await;
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("row 2      error"), "{out}");
    assert!(out.contains("Nothing was written"), "{out}");
    assert!(e.dir.join("errors.result.csv").exists());

    let good = e.dir.join("good.csv");
    std::fs::copy(fixture("all-columns.csv"), &good).unwrap();
    let mut args = base(&good);
    args.push("--dry-run".into());
    // all-columns.csv makes an Administrator: refused unless allowed.
    let (code, out) = cli(&args.iter().map(String::as_str).collect::<Vec<_>>()).await;
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("admin_role_not_allowed"), "{out}");
    args.push("--allow-admin-roles".into());
    let (code, out) = cli(&args.iter().map(String::as_str).collect::<Vec<_>>()).await;
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("create"), "{out}");
    assert!(out.contains("Dry run: nothing was written."), "{out}");
    assert!(e.sim.members().is_empty());

    let mut args = base(&good);
    args.push("--allow-admin-roles".into());
    let (code, out) = cli(&args.iter().map(String::as_str).collect::<Vec<_>>()).await;
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("created 6"), "{out}");
    assert_eq!(e.sim.members().len(), 6);
    std::fs::remove_dir_all(&e.dir).ok();
}

/// Issue 13: a header error is a clear error, exit 2, and the command names
/// the result file, which says why.
#[tokio::test]
async fn the_command_reports_a_header_error_and_names_the_result_file() {
    let e = env("cli-header", RULES, sim_config()).await;
    let rules = e.write("rules.toml", RULES);
    let file = e.dir.join("headers.csv");
    std::fs::copy(fixture("unknown-header.csv"), &file).unwrap();
    let store = format!("sqlite:{}", e.dir.join("cli.db").display());
    let (code, out) = cli(&[
        "import",
        file.to_str().unwrap(),
        "--config",
        rules.to_str().unwrap(),
        "--store",
        &store,
        "--portal",
        &e.sim.base_url(),
    ])
    .await;
    assert_eq!(code, 2, "{out}");
    assert!(
        out.contains("the header line cannot be used: nothing was written"),
        "{out}"
    );
    assert!(out.contains("unknown_header"), "{out}");
    let report = e.dir.join("headers.result.csv");
    assert!(
        out.contains(&format!("Result file: {}", report.display())),
        "{out}"
    );
    let lines = read_results(&report);
    assert!(
        !lines.is_empty()
            && lines
                .iter()
                .all(|l| l.row == 0 && l.outcome == outcome::ERROR),
        "{lines:#?}"
    );
    assert!(e.sim.members().is_empty());
    std::fs::remove_dir_all(&e.dir).ok();
}

/// Issue 13: the plan's summary is printed once validated, before the
/// writes start, not after them.
#[tokio::test]
async fn the_command_prints_the_plan_summary_before_writing() {
    let e = env("cli-plan", RULES, sim_config()).await;
    let rules = e.write("rules.toml", RULES);
    let file = e.write(
        "plan.csv",
        "username,email\nplan_one_acme,p1@acme.org\nplan_two_acme,p2@acme.org\n",
    );
    let store = format!("sqlite:{}", e.dir.join("cli.db").display());
    let (code, out) = cli(&[
        "import",
        file.to_str().unwrap(),
        "--config",
        rules.to_str().unwrap(),
        "--store",
        &store,
        "--portal",
        &e.sim.base_url(),
    ])
    .await;
    assert_eq!(code, 0, "{out}");
    let at = |needle: &str| {
        out.find(needle)
            .unwrap_or_else(|| panic!("{needle:?} not in {out}"))
    };
    assert!(at("Plan for 2 rows") < at("Writing 2 rows"), "{out}");
    assert!(at("pool acme: 20 seats") < at("Writing 2 rows"), "{out}");
    assert!(at("Writing 2 rows") < at("created 2"), "{out}");
    assert_eq!(out.matches("Plan for").count(), 1, "{out}");
    assert_eq!(e.sim.members().len(), 2);
    std::fs::remove_dir_all(&e.dir).ok();
}

/// Issue 13: logs written to a stderr that is not a terminal (a file, a
/// pipe, CI) carry no ANSI colour codes.
#[tokio::test]
async fn logs_to_a_stderr_that_is_not_a_terminal_have_no_colour_codes() {
    let e = env("cli-ansi", RULES, sim_config()).await;
    let rules = e.write("rules.toml", RULES);
    let file = e.write("ansi.csv", "username,email\nansi_one_acme,a1@acme.org\n");
    let store = format!("sqlite:{}", e.dir.join("cli.db").display());
    let out = tokio::process::Command::new(BIN)
        .args([
            "import",
            file.to_str().unwrap(),
            "--config",
            rules.to_str().unwrap(),
            "--store",
            &store,
            "--portal",
            &e.sim.base_url(),
        ])
        .env("ARCGIS_USERNAME", ADMIN)
        .env("ARCGIS_PASSWORD", PASSWORD)
        .env("RUST_LOG", "debug")
        .env_remove("LOG_FORMAT")
        .env_remove("AWS_LAMBDA_FUNCTION_NAME")
        .output()
        .await
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("DEBUG"), "logs were written: {stderr}");
    assert!(!stderr.contains('\u{1b}'), "no colour codes: {stderr:?}");
    std::fs::remove_dir_all(&e.dir).ok();
}

/// Issue 13: an import against the built-in simulator (the default
/// `--portal`), whose members vanish with the command, keeps its seats in
/// a throw-away store: the named store is left alone, says so, and the
/// same file runs again.
#[tokio::test]
async fn an_import_against_the_built_in_simulator_leaves_the_store_alone() {
    let dir = scratch("cli-sim");
    let rules = dir.join("rules.toml");
    std::fs::write(&rules, RULES).unwrap();
    let file = dir.join("sim.csv");
    std::fs::write(&file, "username,email\nsim_one_acme,s1@acme.org\n").unwrap();
    let db = dir.join("real.db");
    let store = format!("sqlite:{}", db.display());
    let args = [
        "import",
        file.to_str().unwrap(),
        "--config",
        rules.to_str().unwrap(),
        "--store",
        &store,
        "--portal",
        "simulator",
    ];
    for run in 0..2 {
        let (code, out) = cli(&args).await;
        assert_eq!(code, 0, "run {run}: {out}");
        assert!(out.contains("created 1"), "run {run}: {out}");
        assert!(out.contains("throw-away"), "run {run}: {out}");
        assert!(out.contains(&store), "names the store left alone: {out}");
    }
    assert!(!db.exists(), "the named store was not written");
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_import_killed_half_way_and_restarted_creates_each_user_once() {
    const N: usize = 60;
    let e = env("kill", RULES, {
        let mut c = sim_config();
        c.purchased.insert("viewerUT".into(), 1000);
        c
    })
    .await;
    let rules_text = RULES.replace("seats = 20", "seats = 100");
    let rules = e.write("rules.toml", &rules_text);
    let mut text = String::from("username,email,firstName\n");
    for i in 0..N {
        text.push_str(&format!("killme{i:02}_acme,killme{i}@acme.org,K{i}\n"));
    }
    let file = e.write("kill.csv", &text);
    let db = e.dir.join("kill.db");
    let store = format!("sqlite:{}", db.display());
    let args = [
        "import",
        file.to_str().unwrap(),
        "--config",
        rules.to_str().unwrap(),
        "--store",
        &store,
        "--portal",
        &e.sim.base_url(),
        "--concurrency",
        "4",
    ];
    // Slow invites: many rows are in flight when the process dies.
    e.sim.inject(Fault {
        endpoint: Some("invite".into()),
        kind: FaultKind::Delay(Duration::from_millis(120)),
        times: None,
    });
    let mut child = tokio::process::Command::new(BIN)
        .args(args)
        .env("ARCGIS_USERNAME", ADMIN)
        .env("ARCGIS_PASSWORD", PASSWORD)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    // kill -9 once a third of the members exist.
    tokio::time::timeout(Duration::from_secs(60), async {
        while e.sim.members().len() < N / 3 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("the import makes progress");
    child.start_kill().unwrap();
    child.wait().await.unwrap();
    // Let invites the dead process had sent finish at the portal.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let created_before = e.sim.members().len();
    assert!(created_before < N, "the kill came too late");
    let pool = PoolId::parse("acme").unwrap();
    let dangling = e
        .ledger_at(&db)
        .claims(&pool)
        .await
        .unwrap()
        .into_iter()
        .filter(|c| c.state == ClaimState::Reserved)
        .count();
    eprintln!("killed with {created_before} members created, {dangling} seats reserved");

    e.sim.clear_faults();
    let (code, out) = cli(&args).await;
    assert_eq!(code, 0, "{out}");
    let members = e.sim.members();
    assert_eq!(members.len(), N);
    let mut names: Vec<String> = members.iter().map(|m| m.username.clone()).collect();
    names.sort();
    let expected: Vec<String> = (0..N).map(|i| format!("killme{i:02}_acme")).collect();
    assert_eq!(
        names, expected,
        "each row's member, under its own name, once"
    );
    // An invite the kill cut off mid-request is counted by the simulator but
    // never processed (the connection closed), so it is sent again; at most
    // the rows in flight (--concurrency 4) are.
    let invites = e.sim.request_count("invite");
    assert!(
        (N as u64..=N as u64 + 4).contains(&invites),
        "{invites} invites"
    );
    let ledger = e.ledger_at(&db);
    let claims = ledger.claims(&pool).await.unwrap();
    assert_eq!(claims.len(), N);
    assert!(claims.iter().all(|c| c.state == ClaimState::Active));
    assert_eq!(ledger.usage(&pool).await.unwrap().used as usize, N);
    let lines = read_results(&e.dir.join("kill.result.csv"));
    let o = outcomes(&lines);
    assert_eq!(
        o.get("created").copied().unwrap_or(0) + o.get("unchanged").copied().unwrap_or(0),
        N,
        "{o:?}"
    );
    assert!(o.get("unchanged").copied().unwrap_or(0) >= created_before);
    std::fs::remove_dir_all(&e.dir).ok();
}

impl Env {
    fn ledger_at(&self, db: &Path) -> SqliteLedger {
        SqliteLedger::open(db).unwrap()
    }
}
