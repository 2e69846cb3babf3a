//! The deployed asynchronous path against a real SQS API (moto's server,
//! started by scripts/test.sh as SQS_ENDPOINT): the hook sends the job with
//! the production `SqsQueue`; this test plays Lambda's event source mapping
//! (receive, invoke the worker's batch handler, delete what it finished) so
//! the queue's own redrive policy decides when a message goes to the
//! dead-letter queue.

use std::sync::Arc;
use std::time::Duration;

use agol_seat_broker::clock::now_millis;
use agol_seat_broker::config::Secret;
use agol_seat_broker::domain::{PoolId, RequestState};
use agol_seat_broker::entrypoints::worker;
use agol_seat_broker::intake::FieldMap;
use agol_seat_broker::intake::sources::{Source, Sources};
use agol_seat_broker::portal::simulator::{Fault, FaultKind};
use agol_seat_broker::queue::sqs::SqsQueue;
use agol_seat_broker::seats::{FailureLog, RequestStore};
use aws_sdk_sqs::types::{MessageSystemAttributeName, QueueAttributeName};
use serde_json::{Value, json};

use crate::helpers::{Options, QueueMode, TestApp, signup, spawn_app, unique};

const SECRET: &str = "test-only-okta-registration-secret";
/// The template's `WorkerMaxAttempts`, small for the test.
const MAX_ATTEMPTS: u32 = 3;

const RULES: &str = r#"
    [[pools]]
    name = "partners"
    seats = 5
    role = "viewer"
    user_type = "viewerUT"
    groups = ["Partners"]
    [pools.match]
    email_domains = ["example.org"]
"#;

fn sqs_endpoint() -> String {
    std::env::var("SQS_ENDPOINT").unwrap_or_else(|_| {
        panic!(
            "SQS_ENDPOINT is not set: run the tests with scripts/test.sh (it starts a local SQS)"
        )
    })
}

struct Queues {
    client: aws_sdk_sqs::Client,
    jobs: String,
    dead: String,
}

async fn queues() -> Queues {
    let client = SqsQueue::client(Some(&sqs_endpoint())).await;
    let dead = client
        .create_queue()
        .queue_name(unique("dlq"))
        .send()
        .await
        .expect("dead-letter queue created")
        .queue_url
        .unwrap();
    let dead_arn = client
        .get_queue_attributes()
        .queue_url(&dead)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .unwrap()
        .attributes
        .unwrap()[&QueueAttributeName::QueueArn]
        .clone();
    let redrive =
        json!({"deadLetterTargetArn": dead_arn, "maxReceiveCount": MAX_ATTEMPTS.to_string()});
    let jobs = client
        .create_queue()
        .queue_name(unique("jobs"))
        .attributes(QueueAttributeName::RedrivePolicy, redrive.to_string())
        // Failed messages come back quickly.
        .attributes(QueueAttributeName::VisibilityTimeout, "1")
        .send()
        .await
        .expect("job queue created")
        .queue_url
        .unwrap();
    Queues { client, jobs, dead }
}

async fn app(q: &Queues) -> TestApp {
    app_with(q, RULES).await
}

async fn app_with(q: &Queues, rules: &'static str) -> TestApp {
    let mut sources = Sources::default();
    sources.insert(
        "okta_registration",
        Source {
            secrets: vec![Secret::new(SECRET)],
            fields: FieldMap::default(),
            header: None,
            ..Default::default()
        },
    );
    let mut o = Options {
        rules,
        sources,
        queue: QueueMode::Sink(Arc::new(SqsQueue::new(q.client.clone(), &q.jobs))),
        deadline: Duration::from_secs(2),
        ..Options::default()
    };
    o.sim.groups = vec!["Partners".into()];
    spawn_app(o).await
}

async fn register(app: &TestApp, email: &str, event_id: &str) -> Value {
    let body = std::fs::read_to_string("events/okta-registration-signup.body.json")
        .unwrap()
        .replace("ana.lopez@example.org", email)
        .replace("RgT9xA1b2C", event_id);
    app.http
        .post(format!("{}/hooks/okta/registration", app.url))
        .header("authorization", SECRET)
        .body(body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// One poll of Lambda's event source mapping: receive up to 5 messages,
/// hand them to the worker as an SQS event, delete those it did not report
/// as failed. Returns how many were received.
async fn poll_once(app: &TestApp, q: &Queues) -> usize {
    let out = q
        .client
        .receive_message()
        .queue_url(&q.jobs)
        .max_number_of_messages(5)
        .wait_time_seconds(1)
        .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
        .send()
        .await
        .expect("receive");
    let messages = out.messages.unwrap_or_default();
    if messages.is_empty() {
        return 0;
    }
    let records: Vec<Value> = messages
        .iter()
        .map(|m| {
            let count = m
                .attributes
                .as_ref()
                .and_then(|a| a.get(&MessageSystemAttributeName::ApproximateReceiveCount))
                .cloned()
                .unwrap_or_else(|| "1".into());
            json!({
                "messageId": m.message_id, "receiptHandle": m.receipt_handle, "body": m.body,
                "attributes": {"ApproximateReceiveCount": count},
                "messageAttributes": {}, "eventSource": "aws:sqs", "awsRegion": "us-east-1"
            })
        })
        .collect();
    let event = serde_json::from_value(json!({"Records": records})).expect("an SQS event");
    // The worker function queues on the queue it consumes (JOB_QUEUE_URL).
    let jobs = Arc::new(SqsQueue::new(q.client.clone(), &q.jobs));
    let reply =
        worker::handle_batch(app.state.provisioner.clone(), jobs, event, MAX_ATTEMPTS).await;
    let failed: Vec<String> = reply
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.clone())
        .collect();
    for m in &messages {
        if !failed.contains(m.message_id.as_ref().unwrap()) {
            q.client
                .delete_message()
                .queue_url(&q.jobs)
                .receipt_handle(m.receipt_handle.as_ref().unwrap())
                .send()
                .await
                .expect("delete");
        }
    }
    messages.len()
}

async fn dead_letters(q: &Queues) -> Vec<String> {
    q.client
        .receive_message()
        .queue_url(&q.dead)
        .max_number_of_messages(10)
        .send()
        .await
        .expect("receive")
        .messages
        .unwrap_or_default()
        .into_iter()
        .filter_map(|m| m.body)
        .collect()
}

#[tokio::test]
async fn members_queued_through_sqs_are_created_and_a_lasting_failure_ends_in_the_dead_letter_queue()
 {
    let q = queues().await;
    let app = app(&q).await;

    // A sign-up: the hook answers ALLOW, the worker creates the member.
    let v = register(&app, "ana@example.org", "evt-ana").await;
    assert_eq!(v["commands"][0]["value"]["registration"], "ALLOW", "{v}");
    assert!(
        app.sim.members().is_empty(),
        "nothing created before the worker runs"
    );
    assert_eq!(poll_once(&app, &q).await, 1);
    assert!(app.sim.member("ana_partners").is_some());
    assert_eq!(app.active_claims("partners").await, 1);
    assert_eq!(poll_once(&app, &q).await, 0, "the finished job was deleted");

    // The portal fails for good: the job is retried MAX_ATTEMPTS times; the
    // last attempt gives the seat back, and the queue dead-letters it.
    app.sim.inject(Fault {
        endpoint: Some("invite".into()),
        kind: FaultKind::HttpStatus(500),
        times: None,
    });
    let v = register(&app, "bo@example.org", "evt-bo").await;
    assert_eq!(v["commands"][0]["value"]["registration"], "ALLOW", "{v}");
    assert_eq!(
        app.used("partners").await,
        2,
        "the seat is held while retried"
    );
    let mut dead = vec![];
    for _ in 0..30 {
        poll_once(&app, &q).await;
        dead = dead_letters(&q).await;
        if !dead.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    assert_eq!(dead.len(), 1, "the message is in the dead-letter queue");
    let job: Value = serde_json::from_str(&dead[0]).unwrap();
    assert_eq!(job["request"]["email"], "bo@example.org");
    assert_eq!(app.used("partners").await, 1, "the seat was released");
    assert!(app.sim.member("bo_partners").is_none());
    let failures = app
        .ledger
        .failures(&PoolId::parse("partners").unwrap(), now_millis())
        .await
        .unwrap();
    assert_eq!(failures.len(), 1);
    assert_eq!(failures[0].key.person, "bo@example.org");
}

/// One seat, a waitlist, no approval: a freed seat goes straight to the
/// first in line.
const WAITLIST_RULES: &str = r#"
    [[pools]]
    name = "partners"
    seats = 1
    role = "viewer"
    user_type = "viewerUT"
    groups = ["Partners"]
    waitlist = true
    [pools.match]
    email_domains = ["example.org"]
"#;

/// Issue 11, defect 10: a seat the worker gave back admitted the next in
/// line with no queue, so the admitted member was created inline, once; a
/// transient portal failure then left the request APPROVED with no member
/// (and its seat for the sweeper to free). The admission now queues a job on
/// the worker's own queue, and the queue's retry creates the member.
#[tokio::test]
async fn a_member_the_worker_admits_from_the_waitlist_is_created_by_a_retried_job() {
    let q = queues().await;
    let app = app_with(&q, WAITLIST_RULES).await;
    let pool = PoolId::parse("partners").unwrap();

    // Ana's hook takes the one seat (her member queued); Bo waits in line.
    let v = register(&app, "ana@example.org", "evt-ana").await;
    assert_eq!(v["commands"][0]["value"]["registration"], "ALLOW", "{v}");
    let res = app.post_signup("msg_bo", &signup("bo@example.org")).await;
    assert_eq!(res.status(), 202);
    let v: Value = res.json().await.unwrap();
    assert_eq!(v["status"], "waitlisted", "{v}");

    // The portal refuses Ana for good, then fails Bo's first invitation
    // (every try of the client's retry budget): a transient failure.
    app.sim.inject(Fault {
        endpoint: Some("invite".into()),
        kind: FaultKind::ErrorBody {
            code: 400,
            message_code: None,
            message: "Invalid user type".into(),
        },
        times: Some(1),
    });
    app.sim.inject(Fault {
        endpoint: Some("invite".into()),
        kind: FaultKind::HttpStatus(503),
        times: Some(3),
    });

    // Ana's job gives her seat back; Bo is admitted and his member queued.
    assert_eq!(poll_once(&app, &q).await, 1);
    assert!(app.sim.member("ana_partners").is_none());
    let approved = app
        .ledger
        .requests(&pool, RequestState::Approved)
        .await
        .unwrap();
    assert_eq!(approved.len(), 1);
    assert_eq!(approved[0].key.person, "bo@example.org");
    assert_eq!(app.used("partners").await, 1, "the seat is Bo's now");

    // Bo's job: the first attempt fails, the queue delivers it again.
    for _ in 0..30 {
        if app.sim.member("bo_partners").is_some() {
            break;
        }
        poll_once(&app, &q).await;
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(
        app.sim.member("bo_partners").is_some(),
        "the admitted member is created by the retried job"
    );
    assert_eq!(app.active_claims("partners").await, 1);
    assert_eq!(app.used("partners").await, 1);
    assert!(dead_letters(&q).await.is_empty());
    assert_eq!(poll_once(&app, &q).await, 0, "the finished job was deleted");
}
