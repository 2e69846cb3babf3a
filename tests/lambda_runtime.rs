//! The compiled `bootstrap-lambda` binary under the Lambda Runtime API: the
//! same protocol as AWS Lambda and `cargo lambda watch`. Configured the way
//! SAM configures it (environment variables, rules file), pointed at
//! DynamoDB Local and the portal simulator.

#[path = "support/runtime_api.rs"]
mod runtime_api;

use std::process::Stdio;
use std::time::Duration;

use tokio::io::AsyncBufReadExt as _;

use agol_seat_broker::portal::simulator::{self, SimAccount, SimulatorConfig};
use agol_seat_broker::seats::dynamo::{client_for_endpoint, create_table};
use runtime_api::{Reply, RuntimeApi, lambda_env};

const SIGNED_AT: i64 = 1_772_443_800;

#[tokio::test]
async fn the_lambda_binary_serves_recorded_events_through_the_runtime_api() {
    let endpoint = std::env::var("DYNAMODB_ENDPOINT")
        .expect("DYNAMODB_ENDPOINT is not set: run the tests with scripts/test.sh");
    let ddb = client_for_endpoint(Some(&endpoint)).await;
    let table = format!("lambda-{}", std::process::id());
    create_table(&ddb, &table).await.unwrap();
    let sim_cfg = SimulatorConfig {
        admin: SimAccount {
            username: "broker_admin".into(),
            password: "Sim-Admin-Pass-42".into(),
        },
        groups: vec!["Project Atlas partners".into()],
        ..SimulatorConfig::default()
    };
    let sim = simulator::spawn(sim_cfg).await.unwrap();
    let api = RuntimeApi::start().await;

    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_bootstrap-lambda"))
        .envs(lambda_env(&api.addr))
        .env("LEDGER_TABLE", &table)
        .env("DYNAMODB_ENDPOINT", &endpoint)
        .env("PORTAL_URL", sim.base_url())
        .env("RULES_PATH", "config/rules.toml")
        .env("ARCGIS_USERNAME", "broker_admin")
        .env("ARCGIS_PASSWORD", "Sim-Admin-Pass-42")
        .env(
            "STANDARD_WEBHOOK_SECRETS",
            "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD",
        )
        // The recorded events were signed at SIGNED_AT; widen the window so
        // they verify today (a test-only setting).
        .env(
            "WEBHOOK_TOLERANCE_SECS",
            (agol_seat_broker::clock::now_millis() / 1000 - SIGNED_AT + 3600).to_string(),
        )
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("the lambda binary starts");
    // Issue 14: metrics are EMF lines on standard output.
    let mut stdout = tokio::io::BufReader::new(child.stdout.take().expect("piped")).lines();

    let wait = Duration::from_secs(20);
    let signup = std::fs::read_to_string("events/standard-signup.apigw.json").unwrap();
    let Some(Reply::Response(id, v)) = api.invoke("req-1", &signup, wait).await else {
        panic!("no response to the sign-up event");
    };
    assert_eq!(id, "req-1");
    assert_eq!(v["statusCode"], 201, "{v}");
    let body: serde_json::Value = serde_json::from_str(v["body"].as_str().unwrap()).unwrap();
    assert_eq!(body["username"], "ana.lopez_water-board");
    assert!(sim.member("ana.lopez_water-board").is_some());

    let bad = std::fs::read_to_string("events/standard-bad-signature.apigw.json").unwrap();
    let Some(Reply::Response(_, v)) = api.invoke("req-2", &bad, wait).await else {
        panic!("no response to the tampered event");
    };
    assert_eq!(v["statusCode"], 401, "{v}");

    // The sign-up was counted, by pool and outcome, in the broker's
    // namespace, and the member's portal time measured.
    let mut seen = Vec::new();
    let found = tokio::time::timeout(Duration::from_secs(10), async {
        while let Ok(Some(line)) = stdout.next_line().await {
            let v: serde_json::Value =
                serde_json::from_str(&line).expect("stdout holds JSON lines only");
            seen.push(v.clone());
            if v.get("SignUps").is_some() {
                return Some(v);
            }
        }
        None
    })
    .await
    .ok()
    .flatten()
    .unwrap_or_else(|| panic!("no SignUps metric line: {seen:?}"));
    assert_eq!(
        found["_aws"]["CloudWatchMetrics"][0]["Namespace"],
        "AgolSeatBroker"
    );
    assert_eq!(
        (
            found["Pool"].as_str(),
            found["Code"].as_str(),
            found["SignUps"].as_f64()
        ),
        (Some("water-board"), Some("provisioned"), Some(1.0))
    );
    assert!(
        seen.iter()
            .any(|l| l["PortalMillis"].as_f64().is_some_and(|ms| ms > 0.0)),
        "{seen:?}"
    );

    child.kill().await.ok();
}

#[tokio::test]
async fn a_misconfigured_lambda_fails_its_cold_start_with_a_clear_message() {
    let api = RuntimeApi::start().await;
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_bootstrap-lambda"))
        .envs(lambda_env(&api.addr))
        .env("LEDGER_TABLE", "t")
        .env("PORTAL_URL", "https://acme.maps.arcgis.com")
        .env(
            "RULES_TOML",
            "[[pools]]\nname = \"a\"\nseats = 0\nrole = \"user\"\nuser_type = \"viewerUT\"\n",
        )
        .env("ARCGIS_USERNAME", "admin")
        .env("ARCGIS_PASSWORD", "not-logged-anywhere-99")
        .env(
            "STANDARD_WEBHOOK_SECRETS",
            "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD",
        )
        .output();
    let out = tokio::time::timeout(Duration::from_secs(20), out)
        .await
        .expect("exits")
        .expect("runs");
    assert!(!out.status.success());
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(log.contains("seats must be a positive"), "{log}");
    assert!(log.contains("cannot hold user type viewerUT"), "{log}");
    assert!(!log.contains("not-logged-anywhere-99"), "{log}");
}

#[tokio::test]
async fn the_worker_binary_completes_queued_members_and_sweeps_on_schedule() {
    use agol_seat_broker::clock::now_millis;
    use agol_seat_broker::domain::{ClaimKey, DeliveryKey, Email, PoolId, SignupRequest};
    use agol_seat_broker::queue::Job;
    use agol_seat_broker::seats::dynamo::DynamoLedger;
    use agol_seat_broker::seats::{ClaimState, ClaimStore, Reservation, ReserveRequest};

    let endpoint = std::env::var("DYNAMODB_ENDPOINT")
        .expect("DYNAMODB_ENDPOINT is not set: run the tests with scripts/test.sh");
    let ddb = client_for_endpoint(Some(&endpoint)).await;
    let table = format!("worker-{}", std::process::id());
    create_table(&ddb, &table).await.unwrap();
    let ledger = DynamoLedger::new(ddb, &table);
    let sim = simulator::spawn(SimulatorConfig {
        admin: SimAccount {
            username: "broker_admin".into(),
            password: "Sim-Admin-Pass-42".into(),
        },
        groups: vec!["Project Atlas partners".into()],
        ..SimulatorConfig::default()
    })
    .await
    .unwrap();

    // What the hook did: a RESERVED claim and the job describing it.
    let key = ClaimKey {
        pool: PoolId::parse("water-board").unwrap(),
        person: "ana.lopez@example.org".into(),
    };
    let now = now_millis();
    let Reservation::Reserved(claim) = ledger
        .reserve(ReserveRequest {
            key: &key,
            capacity: 150,
            delivery: "okta-registration:evt-1",
            claim_id: "claim-1",
            username: "ana.lopez_water-board",
            now,
            hold: agol_seat_broker::seats::Hold::InFlight,
        })
        .await
        .unwrap()
    else {
        panic!("reserved");
    };
    let job = Job {
        delivery: DeliveryKey {
            source: "okta-registration".into(),
            id: "evt-1".into(),
        },
        request: SignupRequest {
            email: Email::parse("ana.lopez@example.org").unwrap(),
            first_name: Some("Ana".into()),
            last_name: Some("Lopez".into()),
            username: None,
            organization: None,
            pool: None,
            attributes: Default::default(),
        },
        overrides: Default::default(),
        claim: key.clone(),
        claim_id: claim.claim_id,
        accepted_at: now,
    };

    // The job queue the worker consumes, where it queues the members it
    // admits from a waitlist.
    let (sqs_endpoint, queue_url) = job_queue(&format!("worker-{}", std::process::id())).await;
    let api = RuntimeApi::start().await;
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_worker-lambda"))
        .envs(lambda_env(&api.addr))
        .env("LEDGER_TABLE", &table)
        .env("DYNAMODB_ENDPOINT", &endpoint)
        .env("PORTAL_URL", sim.base_url())
        .env("RULES_PATH", "config/rules.toml")
        .env("ARCGIS_USERNAME", "broker_admin")
        .env("ARCGIS_PASSWORD", "Sim-Admin-Pass-42")
        .env("WORKER_MAX_ATTEMPTS", "3")
        .env("SQS_ENDPOINT", &sqs_endpoint)
        .env("JOB_QUEUE_URL", &queue_url)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("the worker binary starts");

    let wait = Duration::from_secs(20);
    let event = serde_json::json!({"Records": [
        {"messageId": "m-1", "receiptHandle": "r-1", "body": serde_json::to_string(&job).unwrap(),
         "attributes": {"ApproximateReceiveCount": "1"}, "messageAttributes": {},
         "eventSource": "aws:sqs", "awsRegion": "eu-west-1"},
        {"messageId": "m-2", "receiptHandle": "r-2", "body": "not a job",
         "attributes": {"ApproximateReceiveCount": "1"}, "messageAttributes": {},
         "eventSource": "aws:sqs", "awsRegion": "eu-west-1"}
    ]});
    let Some(Reply::Response(_, v)) = api.invoke("w-1", &event.to_string(), wait).await else {
        panic!("no response to the SQS batch");
    };
    // The job is done; the unreadable message goes back (and on to the DLQ).
    assert_eq!(
        v,
        serde_json::json!({"batchItemFailures": [{"itemIdentifier": "m-2"}]})
    );
    assert!(sim.member("ana.lopez_water-board").is_some());
    let claim = ledger.claim(&key).await.unwrap().unwrap();
    assert_eq!(claim.state, ClaimState::Active);

    // The schedule's event: a sweep report.
    let scheduled = serde_json::json!({"version": "0", "id": "x", "detail-type": "Scheduled Event",
        "source": "aws.events", "time": "2026-03-02T09:30:00Z", "detail": {}});
    let Some(Reply::Response(_, v)) = api.invoke("w-2", &scheduled.to_string(), wait).await else {
        panic!("no response to the scheduled event");
    };
    assert_eq!(
        v,
        serde_json::json!({"adopted": 0, "released": 0, "kept": 0})
    );
    child.kill().await.ok();
}

/// A fresh queue on the local SQS (`SQS_ENDPOINT`): its endpoint and URL.
async fn job_queue(name: &str) -> (String, String) {
    let endpoint = std::env::var("SQS_ENDPOINT")
        .expect("SQS_ENDPOINT is not set: run the tests with scripts/test.sh");
    let client = agol_seat_broker::queue::sqs::SqsQueue::client(Some(&endpoint)).await;
    let url = client
        .create_queue()
        .queue_name(name)
        .send()
        .await
        .expect("queue created")
        .queue_url
        .expect("queue url");
    (endpoint, url)
}

/// Issue 11, defect 10: without the job queue the worker would create the
/// members it admits from a waitlist inline, once, with no retry; it refuses
/// to start instead, naming the setting.
#[tokio::test]
async fn a_worker_without_its_job_queue_fails_its_cold_start() {
    let api = RuntimeApi::start().await;
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_worker-lambda"))
        .envs(lambda_env(&api.addr))
        .env("LEDGER_TABLE", "t")
        .env("PORTAL_URL", "https://acme.maps.arcgis.com")
        .env("RULES_PATH", "config/rules.toml")
        .env("ARCGIS_USERNAME", "admin")
        .env("ARCGIS_PASSWORD", "not-logged-anywhere-99")
        .env_remove("JOB_QUEUE_URL")
        .output();
    let out = tokio::time::timeout(Duration::from_secs(20), out)
        .await
        .expect("exits")
        .expect("runs");
    assert!(!out.status.success());
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(log.contains("job_queue_missing"), "{log}");
    assert!(log.contains("JOB_QUEUE_URL"), "{log}");
    assert!(!log.contains("not-logged-anywhere-99"), "{log}");
}

/// Issue 11, defect 11: a portal deadline that leaves no room for the
/// look-up after it and the ledger's writes within the function's timeout
/// refuses the cold start, with its stable code, before anything is read.
#[tokio::test]
async fn a_function_whose_portal_deadline_outlasts_its_timeout_fails_its_cold_start() {
    let cases = [
        (env!("CARGO_BIN_EXE_bootstrap-lambda"), "20", None),
        (env!("CARGO_BIN_EXE_worker-lambda"), "47", Some("60")),
    ];
    for (binary, deadline, timeout) in cases {
        let api = RuntimeApi::start().await;
        let mut cmd = tokio::process::Command::new(binary);
        cmd.envs(lambda_env(&api.addr))
            .env("LEDGER_TABLE", "t")
            .env("PORTAL_URL", "https://acme.maps.arcgis.com")
            .env("RULES_PATH", "config/rules.toml")
            .env("ARCGIS_USERNAME", "admin")
            .env("ARCGIS_PASSWORD", "not-logged-anywhere-99")
            .env("JOB_QUEUE_URL", "http://127.0.0.1:9/queue/jobs")
            .env("PORTAL_DEADLINE_SECS", deadline)
            .env("LEASE_SECS", "120");
        match timeout {
            Some(t) => cmd.env("FUNCTION_TIMEOUT_SECS", t),
            None => cmd.env_remove("FUNCTION_TIMEOUT_SECS"),
        };
        let out = tokio::time::timeout(Duration::from_secs(20), cmd.output())
            .await
            .expect("exits")
            .expect("runs");
        assert!(!out.status.success(), "{binary}");
        let log = String::from_utf8_lossy(&out.stderr);
        assert!(log.contains("portal_deadline_too_long"), "{binary}: {log}");
        assert!(log.contains("PORTAL_DEADLINE_SECS"), "{binary}: {log}");
        assert!(!log.contains("not-logged-anywhere-99"), "{binary}: {log}");
    }
}
