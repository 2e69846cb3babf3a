//! The S3-triggered import function's handler, fed a recorded S3
//! `ObjectCreated` event, with a local directory standing in for the bucket,
//! the DynamoDB ledger on DynamoDB Local and the portal simulator over HTTP.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use agol_seat_broker::clock::now_millis;
use agol_seat_broker::domain::PoolId;
use agol_seat_broker::entrypoints::import_function::ImportFunction;
use agol_seat_broker::entrypoints::import_function::objects::LocalObjects;
use agol_seat_broker::import::ImportOptions;
use agol_seat_broker::policy::Rules;
use agol_seat_broker::portal::arcgis::{ArcGisConfig, ArcGisPortal, Credentials};
use agol_seat_broker::portal::simulator::{self, SimAccount, SimulatorConfig};
use agol_seat_broker::seats::ClaimStore;
use agol_seat_broker::seats::dynamo::{DynamoLedger, client_for_endpoint, create_table};
use aws_lambda_events::event::s3::S3Event;

const RULES: &str = r#"
    [[pools]]
    name = "partners"
    seats = 10
    role = "viewer"
    user_type = "viewerUT"
    groups = ["Partners"]
    [pools.match]
    email_domains = ["acme.org"]
"#;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/import")
        .join(name)
}

fn event_for(key: &str) -> S3Event {
    let text = std::fs::read_to_string(fixture("s3-put-event.json")).unwrap();
    let mut v: serde_json::Value = serde_json::from_str(&text).unwrap();
    v["Records"][0]["s3"]["object"]["key"] = key.into();
    serde_json::from_value(v).unwrap()
}

#[tokio::test]
async fn an_uploaded_csv_is_imported_and_its_result_written_beside_it_once() {
    let endpoint = std::env::var("DYNAMODB_ENDPOINT")
        .expect("DYNAMODB_ENDPOINT is not set: run the tests with scripts/test.sh");
    let ddb = client_for_endpoint(Some(&endpoint)).await;
    let table = format!("import-lambda-{}-{}", std::process::id(), now_millis());
    create_table(&ddb, &table).await.unwrap();
    let sim = simulator::spawn(SimulatorConfig {
        admin: SimAccount {
            username: "broker_admin".into(),
            password: "Sim-Admin-Pass-42".into(),
        },
        admin_user_type: None,
        groups: vec!["Partners".into()],
        ..SimulatorConfig::default()
    })
    .await
    .unwrap();
    let mut cfg = ArcGisConfig::new(sim.base_url(), "import-lambda-tests");
    cfg.base_backoff = Duration::from_millis(10);
    let root = std::env::temp_dir().join(format!("asb-s3-{}-{}", std::process::id(), now_millis()));
    let bucket_dir = root.join("agol-imports/imports");
    std::fs::create_dir_all(&bucket_dir).unwrap();
    std::fs::write(
        bucket_dir.join("May partners.csv"),
        "username,email,firstName,lastName,groups\n\
         ana_partner,ana@acme.org,Ana,Lopez,Partners\n\
         bo_partner,bo@acme.org,Bo,Berg,\n",
    )
    .unwrap();
    let ledger = Arc::new(DynamoLedger::new(ddb.clone(), &table));
    let function = ImportFunction {
        ledger: ledger.clone(),
        portal: Arc::new(
            ArcGisPortal::new(cfg, Credentials::new("broker_admin", "Sim-Admin-Pass-42")).unwrap(),
        ),
        rules: Rules::from_toml(RULES).unwrap(),
        objects: LocalObjects::new(&root),
        prefix: "imports/".into(),
        options: ImportOptions::default(),
        work_dir: root.clone(),
    };

    // The recorded event: key URL-encoded, as S3 sends it.
    let reports = function
        .handle(event_for("imports/May+partners.csv"))
        .await
        .unwrap();

    assert_eq!(reports.len(), 1);
    assert_eq!(reports[0].status, "imported", "{reports:?}");
    assert_eq!(reports[0].key, "imports/May partners.csv");
    assert_eq!(reports[0].exit_code, Some(0));
    assert_eq!(reports[0].rows.get("created"), Some(&2));
    let result = bucket_dir.join("May partners.csv.result.csv");
    let text = std::fs::read_to_string(&result).unwrap();
    assert!(text.starts_with("row,outcome,username,message\n"), "{text}");
    assert!(text.contains("1,created,ana_partner,"), "{text}");
    assert!(sim.member("ana_partner").is_some() && sim.member("bo_partner").is_some());
    let pool = PoolId::parse("partners").unwrap();
    assert_eq!(ledger.usage(&pool).await.unwrap().used, 2);

    // Its own result file lands under the prefix and triggers it again:
    // skipped, nothing read or written.
    let again = function
        .handle(event_for("imports/May+partners.csv.result.csv"))
        .await
        .unwrap();
    assert_eq!(again[0].status, "skipped");
    assert!(
        !bucket_dir
            .join("May partners.csv.result.csv.result.csv")
            .exists()
    );
    // Outside the prefix, or not a CSV: skipped.
    for key in ["elsewhere/x.csv", "imports/readme.txt"] {
        assert_eq!(
            function.handle(event_for(key)).await.unwrap()[0].status,
            "skipped"
        );
    }

    // S3 delivers an event twice now and then: the second run changes nothing.
    let invites = sim.request_count("invite");
    let twice = function
        .handle(event_for("imports/May+partners.csv"))
        .await
        .unwrap();
    assert_eq!(twice[0].rows.get("unchanged"), Some(&2), "{twice:?}");
    assert_eq!(sim.request_count("invite"), invites);
    assert_eq!(ledger.usage(&pool).await.unwrap().used, 2);

    // A `.dry-run.csv` upload is validated only.
    std::fs::write(
        bucket_dir.join("check.dry-run.csv"),
        "username,email\ncy_partner,cy@acme.org\n",
    )
    .unwrap();
    let dry = function
        .handle(event_for("imports/check.dry-run.csv"))
        .await
        .unwrap();
    assert_eq!(dry[0].status, "validated");
    assert_eq!(dry[0].rows.get("create"), Some(&1));
    assert!(sim.member("cy_partner").is_none());

    let _ = ddb.delete_table().table_name(&table).send().await;
    std::fs::remove_dir_all(&root).ok();
}
