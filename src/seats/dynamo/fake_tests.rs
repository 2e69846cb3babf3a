//! Error-path tests of [`DynamoLedger`] against a scripted fake DynamoDB
//! endpoint over real HTTP.
//!
//! DynamoDB Local serialises transactions (it never reports a
//! `TransactionConflict`) and always returns the old item on a failed
//! condition, so the contract suite cannot reach the conflict retries or the
//! consistent-read fallbacks. Here a tiny axum server answers each request
//! with the next scripted response and records what was asked.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::post;
use serde_json::{Value, json};

use super::*;
use crate::domain::{ClaimKey, DeliveryKey, PoolId, RequestState};
use crate::seats::{
    AuditLog, ClaimState, ClaimStore, DeliveryBegin, DeliveryStore, LeaseHolder, RequestChange,
    RequestStore, Reservation, ReserveRequest, SignupRecord,
};

#[derive(Default)]
struct Script {
    responses: VecDeque<(StatusCode, Value)>,
    /// (X-Amz-Target without the service prefix, request body)
    requests: Vec<(String, Value)>,
}

type Shared = Arc<Mutex<Script>>;

async fn answer(
    State(script): State<Shared>,
    headers: HeaderMap,
    body: String,
) -> impl IntoResponse {
    let target = headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .trim_start_matches("DynamoDB_20120810.")
        .to_string();
    let mut script = script.lock().unwrap();
    script
        .requests
        .push((target, serde_json::from_str(&body).unwrap_or(Value::Null)));
    let (status, body) = script.responses.pop_front().unwrap_or((
        StatusCode::INTERNAL_SERVER_ERROR,
        json!({"message": "script ran out"}),
    ));
    (
        status,
        [(header::CONTENT_TYPE, "application/x-amz-json-1.0")],
        body.to_string(),
    )
}

/// Starts a fake endpoint answering `responses` in order; returns a ledger on
/// it and the shared script.
async fn fake(responses: Vec<(StatusCode, Value)>, max_attempts: u32) -> (DynamoLedger, Shared) {
    let script: Shared = Arc::new(Mutex::new(Script {
        responses: responses.into(),
        requests: Vec::new(),
    }));
    let app = Router::new()
        .route("/", post(answer))
        .with_state(script.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    let client = client_for_endpoint(Some(&url)).await;
    let ledger = DynamoLedger::new(client, "ledger").with_conflict_retry(ConflictRetry {
        max_attempts,
        base_delay: Duration::from_millis(1),
        max_delay: Duration::from_millis(2),
        max_elapsed: Duration::from_secs(10),
    });
    (ledger, script)
}

fn cancelled_with(reasons: Value) -> (StatusCode, Value) {
    (
        StatusCode::BAD_REQUEST,
        json!({
            "__type": "com.amazonaws.dynamodb.v20120810#TransactionCanceledException",
            "Message": "Transaction cancelled",
            "CancellationReasons": reasons,
        }),
    )
}

fn conflict() -> (StatusCode, Value) {
    cancelled_with(json!([{"Code": "None"}, {"Code": "TransactionConflict"}]))
}

fn ok(body: Value) -> (StatusCode, Value) {
    (StatusCode::OK, body)
}

fn claim_key_() -> ClaimKey {
    ClaimKey {
        pool: PoolId::parse("acme").unwrap(),
        person: "ana@example.org".into(),
    }
}

async fn reserve_ana(ledger: &DynamoLedger) -> Result<Reservation, LedgerError> {
    ledger
        .reserve(ReserveRequest {
            key: &claim_key_(),
            capacity: 10,
            delivery: "standard:d-1",
            claim_id: "c-new",
            username: "ana_acme",
            now: 1_000,
            hold: crate::seats::Hold::InFlight,
        })
        .await
}

fn stored_claim_json() -> Value {
    json!({
        "pk": {"S": "POOL#acme"}, "sk": {"S": "CLAIM#ana@example.org"},
        "claim_id": {"S": "c-old"}, "state": {"S": "ACTIVE"}, "username": {"S": "ana_acme"},
        "delivery": {"S": "standard:d-0"}, "reserved_at": {"N": "500"},
        "updated_at": {"N": "600"}, "pool": {"S": "acme"}, "person": {"S": "ana@example.org"}
    })
}

fn targets(script: &Shared) -> Vec<String> {
    script
        .lock()
        .unwrap()
        .requests
        .iter()
        .map(|(t, _)| t.clone())
        .collect()
}

#[tokio::test]
async fn transaction_conflicts_are_retried_and_counted_until_the_reservation_succeeds() {
    let (ledger, script) = fake(vec![conflict(), conflict(), ok(json!({}))], 5).await;

    let answer = reserve_ana(&ledger).await.unwrap();

    let Reservation::Reserved(claim) = answer else {
        panic!("expected Reserved, got {answer:?}");
    };
    assert_eq!(claim.claim_id, "c-new");
    assert_eq!(ledger.conflicts_retried(), 2);
    assert_eq!(targets(&script), vec!["TransactWriteItems"; 3]);
    // The request is one transaction: the counter update, then the claim put.
    let script = script.lock().unwrap();
    let items = &script.requests[0].1["TransactItems"];
    assert_eq!(items[0]["Update"]["Key"]["sk"]["S"], "COUNTER");
    assert_eq!(
        items[0]["Update"]["ConditionExpression"],
        "attribute_not_exists(#used) OR #used < :cap"
    );
    assert_eq!(items[1]["Put"]["Item"]["sk"]["S"], "CLAIM#ana@example.org");
    assert_eq!(
        items[1]["Put"]["ReturnValuesOnConditionCheckFailure"],
        "ALL_OLD"
    );
}

#[tokio::test]
async fn conflicts_past_the_retry_budget_are_unavailable() {
    let (ledger, script) = fake(vec![conflict(), conflict(), conflict()], 3).await;

    let answer = reserve_ana(&ledger).await;

    assert!(
        matches!(answer, Err(LedgerError::Unavailable(_))),
        "{answer:?}"
    );
    assert_eq!(targets(&script).len(), 3);
    assert_eq!(ledger.conflicts_retried(), 2);
}

#[tokio::test]
async fn a_claim_refusal_without_the_old_item_falls_back_to_a_consistent_read() {
    let (ledger, script) = fake(
        vec![
            cancelled_with(json!([{"Code": "None"}, {"Code": "ConditionalCheckFailed"}])),
            ok(json!({"Item": stored_claim_json()})),
        ],
        5,
    )
    .await;

    let answer = reserve_ana(&ledger).await.unwrap();

    let Reservation::AlreadyHeld(existing) = answer else {
        panic!("expected AlreadyHeld, got {answer:?}");
    };
    assert_eq!(existing.claim_id, "c-old");
    assert_eq!(existing.state, ClaimState::Active);
    assert_eq!(existing.username.as_deref(), Some("ana_acme"));
    assert_eq!(targets(&script), vec!["TransactWriteItems", "GetItem"]);
    assert_eq!(script.lock().unwrap().requests[1].1["ConsistentRead"], true);
}

#[tokio::test]
async fn a_claim_refusal_wins_over_a_full_pool() {
    let (ledger, _) = fake(
        vec![cancelled_with(json!([
            {"Code": "ConditionalCheckFailed", "Item": {"used": {"N": "10"}}},
            {"Code": "ConditionalCheckFailed", "Item": stored_claim_json()}
        ]))],
        5,
    )
    .await;

    let answer = reserve_ana(&ledger).await.unwrap();

    assert!(
        matches!(&answer, Reservation::AlreadyHeld(c) if c.claim_id == "c-old"),
        "{answer:?}"
    );
}

#[tokio::test]
async fn a_counter_refusal_without_the_old_item_reads_the_counter() {
    let (ledger, script) = fake(
        vec![
            cancelled_with(json!([{"Code": "ConditionalCheckFailed"}, {"Code": "None"}])),
            ok(json!({"Item": {"pk": {"S": "POOL#acme"}, "sk": {"S": "COUNTER"}, "used": {"N": "7"}}})),
        ],
        5,
    )
    .await;

    let answer = reserve_ana(&ledger).await.unwrap();

    assert_eq!(answer, Reservation::PoolFull { used: 7 });
    assert_eq!(targets(&script), vec!["TransactWriteItems", "GetItem"]);
}

#[tokio::test]
async fn other_cancellations_and_service_errors_are_unavailable_with_a_short_description() {
    let (ledger, _) = fake(
        vec![
            cancelled_with(json!([{"Code": "None"}, {"Code": "ThrottlingError"}])),
            (
                StatusCode::BAD_REQUEST,
                json!({
                    "__type": "com.amazonaws.dynamodb.v20120810#ResourceNotFoundException",
                    "message": "Requested resource not found: Table: ledger not found"
                }),
            ),
        ],
        5,
    )
    .await;

    let throttled = reserve_ana(&ledger).await;
    let missing = reserve_ana(&ledger).await;

    assert_eq!(
        throttled.unwrap_err().to_string(),
        "seat store unavailable: reservation transaction cancelled: [None, ThrottlingError]"
    );
    assert_eq!(
        missing.unwrap_err().to_string(),
        "seat store unavailable: DynamoDB TransactWriteItems: ResourceNotFoundException"
    );
    assert_eq!(ledger.conflicts_retried(), 0);
}

#[tokio::test]
async fn a_stored_claim_that_is_not_ours_is_reported_corrupt() {
    let mut broken = stored_claim_json();
    broken["state"] = json!({"S": "HALF_DONE"});
    let (ledger, _) = fake(
        vec![cancelled_with(json!([
            {"Code": "None"},
            {"Code": "ConditionalCheckFailed", "Item": broken}
        ]))],
        5,
    )
    .await;

    let answer = reserve_ana(&ledger).await;

    assert!(matches!(answer, Err(LedgerError::Corrupt(_))), "{answer:?}");
}

#[tokio::test]
async fn a_release_conflict_is_retried_and_a_missing_claim_gives_false() {
    let (ledger, script) = fake(
        vec![
            cancelled_with(json!([{"Code": "TransactionConflict"}, {"Code": "None"}])),
            cancelled_with(json!([{"Code": "ConditionalCheckFailed"}, {"Code": "None"}])),
        ],
        5,
    )
    .await;

    let released = ledger.release(&claim_key_(), "c-1").await.unwrap();

    assert!(!released);
    assert_eq!(ledger.conflicts_retried(), 1);
    let script = script.lock().unwrap();
    let items = &script.requests[0].1["TransactItems"];
    // Only the claim's own reservation, still RESERVED, gives a seat back.
    let condition = items[0]["Delete"]["ConditionExpression"].as_str().unwrap();
    assert!(
        condition.starts_with("#claim_id = :cid AND "),
        "{condition}"
    );
    assert!(condition.contains("#state = :reserved"), "{condition}");
    assert!(!condition.contains(":active_state"), "{condition}");
    assert_eq!(items[1]["Update"]["ConditionExpression"], "#used > :zero");
}

#[tokio::test]
async fn a_delivery_refusal_without_the_old_item_reads_the_record() {
    let (ledger, script) = fake(
        vec![
            (
                StatusCode::BAD_REQUEST,
                json!({
                    "__type": "com.amazonaws.dynamodb.v20120810#ConditionalCheckFailedException",
                    "message": "The conditional request failed"
                }),
            ),
            ok(json!({"Item": {
                "pk": {"S": "DELIVERY#standard#d-1"}, "sk": {"S": "DELIVERY"},
                "status": {"S": "COMPLETE"}, "payload_hash": {"S": "h"},
                "lease_until": {"N": "100"}, "outcome": {"S": "{\"ok\":true}"},
                "retain_until": {"N": "10000"}
            }})),
        ],
        5,
    )
    .await;
    let key = DeliveryKey {
        source: "standard".into(),
        id: "d-1".into(),
    };

    let answer = ledger
        .begin_delivery(&key, "a1", "h", 1_000, 500)
        .await
        .unwrap();

    assert_eq!(answer, DeliveryBegin::Completed("{\"ok\":true}".into()));
    assert_eq!(targets(&script), vec!["PutItem", "GetItem"]);
    let put = &script.lock().unwrap().requests[0].1;
    assert_eq!(put["Item"]["lease_until"]["N"], "1500");
    assert_eq!(put["Item"]["status"]["S"], "IN_PROGRESS");
}

fn condition_failed(item: Option<Value>) -> (StatusCode, Value) {
    let mut body = json!({
        "__type": "com.amazonaws.dynamodb.v20120810#ConditionalCheckFailedException",
        "message": "The conditional request failed"
    });
    if let Some(item) = item {
        body["Item"] = item;
    }
    (StatusCode::BAD_REQUEST, body)
}

fn delivery_d1() -> DeliveryKey {
    DeliveryKey {
        source: "standard".into(),
        id: "d-1".into(),
    }
}

#[tokio::test]
async fn a_lease_put_retried_after_a_lost_reply_finds_its_own_attempt_and_is_started_without_a_read()
 {
    // The first put "succeeded" but its reply was lost (a 500 here, which
    // the SDK retries); the retry's condition fails against our own lease.
    let own_lease = json!({
        "pk": {"S": "DELIVERY#standard#d-1"}, "sk": {"S": "DELIVERY"},
        "status": {"S": "IN_PROGRESS"}, "payload_hash": {"S": "h"},
        "attempt": {"S": "a1"}, "lease_until": {"N": "1500"}
    });
    let (ledger, script) = fake(
        vec![
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                json!({
                    "__type": "com.amazonaws.dynamodb.v20120810#InternalServerError",
                    "message": "reply lost"
                }),
            ),
            condition_failed(Some(own_lease.clone())),
            condition_failed(Some(own_lease)),
        ],
        5,
    )
    .await;

    let ours = ledger
        .begin_delivery(&delivery_d1(), "a1", "h", 1_000, 500)
        .await
        .unwrap();
    let theirs = ledger
        .begin_delivery(&delivery_d1(), "a2", "h", 1_001, 500)
        .await
        .unwrap();

    assert_eq!(ours, DeliveryBegin::Started);
    assert_eq!(theirs, DeliveryBegin::InProgress);
    assert_eq!(targets(&script), vec!["PutItem", "PutItem", "PutItem"]);
    let script = script.lock().unwrap();
    let put = &script.requests[0].1;
    assert_eq!(put["Item"]["attempt"]["S"], "a1");
    assert_eq!(put["ReturnValuesOnConditionCheckFailure"], "ALL_OLD");
}

#[tokio::test]
async fn finish_and_abandon_are_conditioned_on_the_attempt_and_say_whether_they_wrote() {
    let (ledger, script) = fake(
        vec![
            condition_failed(None),
            ok(json!({})),
            condition_failed(None),
            ok(json!({})),
        ],
        5,
    )
    .await;
    let key = delivery_d1();

    let finished_by_other = ledger
        .finish_delivery(&key, "a2", "{}", 1_000, 9_000)
        .await
        .unwrap();
    let finished = ledger
        .finish_delivery(&key, "a1", "{}", 1_000, 9_000)
        .await
        .unwrap();
    let abandoned_by_other = ledger
        .abandon_delivery(&key, LeaseHolder::Attempt("a2"))
        .await
        .unwrap();
    let abandoned_by_anyone = ledger
        .abandon_delivery(&key, LeaseHolder::Any)
        .await
        .unwrap();

    assert_eq!(
        (
            finished_by_other,
            finished,
            abandoned_by_other,
            abandoned_by_anyone
        ),
        (false, true, false, true)
    );
    let script = script.lock().unwrap();
    let [finish, _, abandon, abandon_any] = &script.requests[..] else {
        panic!("four requests expected: {:?}", script.requests);
    };
    assert_eq!(finish.0, "UpdateItem");
    assert_eq!(finish.1["ConditionExpression"], "#attempt = :attempt");
    assert_eq!(finish.1["ExpressionAttributeValues"][":attempt"]["S"], "a2");
    assert_eq!(abandon.0, "DeleteItem");
    assert_eq!(
        abandon.1["ConditionExpression"],
        "#status = :in_progress AND #attempt = :attempt"
    );
    assert_eq!(
        abandon.1["ExpressionAttributeValues"][":attempt"]["S"],
        "a2"
    );
    assert_eq!(
        abandon_any.1["ConditionExpression"],
        "#status = :in_progress"
    );
    assert!(abandon_any.1["ExpressionAttributeValues"][":attempt"].is_null());
}

fn stored_request_json(state: &str, rev: u64) -> Value {
    json!({
        "pk": {"S": "REQ#r1"}, "sk": {"S": "REQUEST"},
        "id": {"S": "r1"}, "pool": {"S": "acme"}, "person": {"S": "ana@example.org"},
        "delivery": {"S": "okta:e-1"}, "payload": {"S": "{}"}, "state": {"S": state},
        "created_at": {"N": "1000"}, "expires_at": {"N": "9000"}, "rev": {"N": rev.to_string()}
    })
}

fn sample_request(id: &str) -> SignupRecord {
    SignupRecord {
        id: id.into(),
        key: claim_key_(),
        delivery: "okta:e-1".into(),
        payload: "{}".into(),
        state: RequestState::Pending,
        claim_id: None,
        created_at: 1_000,
        expires_at: 9_000,
        decided_at: None,
        decided_by: None,
        reason: None,
        retain_until: None,
    }
}

#[tokio::test]
async fn a_decision_is_one_transaction_moving_the_listing_and_freeing_the_guard_and_conflicts_are_retried()
 {
    let (ledger, script) = fake(
        vec![
            ok(json!({"Item": stored_request_json("PENDING", 0)})),
            cancelled_with(json!([
                {"Code": "None"}, {"Code": "TransactionConflict"}, {"Code": "None"}, {"Code": "None"}
            ])),
            ok(json!({"Item": stored_request_json("PENDING", 0)})),
            ok(json!({})),
        ],
        5,
    )
    .await;
    let change = RequestChange {
        at: 2_000,
        by: Some("admin:root".into()),
        reason: Some("no".into()),
        claim_id: None,
        retain_until: Some(86_402_000_001),
    };

    let answer = ledger
        .transition_request("r1", RequestState::Pending, RequestState::Denied, &change)
        .await
        .unwrap()
        .expect("changed");

    assert_eq!(answer.state, RequestState::Denied);
    assert_eq!(answer.decided_at, Some(2_000));
    assert_eq!(ledger.conflicts_retried(), 1);
    assert_eq!(
        targets(&script),
        vec![
            "GetItem",
            "TransactWriteItems",
            "GetItem",
            "TransactWriteItems"
        ]
    );
    let script = script.lock().unwrap();
    assert_eq!(script.requests[0].1["ConsistentRead"], true);
    let items = &script.requests[3].1["TransactItems"];
    assert_eq!(items[0]["Put"]["Item"]["pk"]["S"], "REQ#r1");
    assert_eq!(items[0]["Put"]["Item"]["rev"]["N"], "1");
    assert_eq!(
        items[0]["Put"]["ConditionExpression"],
        "#state = :from AND #rev = :rev"
    );
    assert_eq!(
        items[1]["Put"]["Item"]["sk"]["S"],
        "RQ#DENIED#0000000001000#r1"
    );
    // The closed request and its listing item both expire by TTL, in
    // seconds rounded up.
    for put in [&items[0]["Put"]["Item"], &items[1]["Put"]["Item"]] {
        assert_eq!(put["retain_until"]["N"], "86402000001");
        assert_eq!(put["ttl"]["N"], "86402001");
    }
    assert_eq!(
        items[2]["Delete"]["Key"]["sk"]["S"],
        "RQ#PENDING#0000000001000#r1"
    );
    assert_eq!(items[3]["Delete"]["Key"]["sk"]["S"], "OPEN#ana@example.org");
    assert_eq!(
        items[3]["Delete"]["ConditionExpression"],
        "attribute_not_exists(#pk) OR #request_id = :id"
    );
}

#[tokio::test]
async fn a_decision_beaten_by_another_answers_none_from_the_returned_item() {
    let (ledger, script) = fake(
        vec![
            ok(json!({"Item": stored_request_json("PENDING", 0)})),
            cancelled_with(json!([
                {"Code": "ConditionalCheckFailed", "Item": stored_request_json("APPROVED", 1)},
                {"Code": "None"}, {"Code": "None"}, {"Code": "None"}
            ])),
        ],
        5,
    )
    .await;

    let answer = ledger
        .transition_request(
            "r1",
            RequestState::Pending,
            RequestState::Approved,
            &RequestChange::default(),
        )
        .await
        .unwrap();

    assert_eq!(answer, None);
    assert_eq!(targets(&script), vec!["GetItem", "TransactWriteItems"]);
}

#[tokio::test]
async fn a_guard_refusal_without_the_old_item_reads_the_guard_then_its_request() {
    let (ledger, script) = fake(
        vec![
            cancelled_with(json!([
                {"Code": "None"}, {"Code": "None"}, {"Code": "ConditionalCheckFailed"}
            ])),
            ok(json!({"Item": {
                "pk": {"S": "POOL#acme"}, "sk": {"S": "OPEN#ana@example.org"},
                "request_id": {"S": "r1"}
            }})),
            ok(json!({"Item": stored_request_json("WAITLISTED", 2)})),
        ],
        5,
    )
    .await;

    let answer = ledger.create_request(&sample_request("r2")).await.unwrap();

    let existing = answer.expect("the open request is returned");
    assert_eq!(existing.id, "r1");
    assert_eq!(existing.state, RequestState::Waitlisted);
    assert_eq!(
        targets(&script),
        vec!["TransactWriteItems", "GetItem", "GetItem"]
    );
    let script = script.lock().unwrap();
    let items = &script.requests[0].1["TransactItems"];
    assert_eq!(items[0]["Put"]["Item"]["pk"]["S"], "REQ#r2");
    assert_eq!(
        items[1]["Put"]["Item"]["sk"]["S"],
        "RQ#PENDING#0000000001000#r2"
    );
    assert_eq!(items[2]["Put"]["Item"]["sk"]["S"], "OPEN#ana@example.org");
    assert_eq!(script.requests[2].1["Key"]["pk"]["S"], "REQ#r1");
}

#[tokio::test]
async fn the_audit_trail_is_read_day_by_day_from_the_day_markers() {
    let event = |at: i64| {
        json!({
            "pk": {"S": "AUDIT#x"}, "sk": {"S": format!("{at:013}#00")},
            "at": {"N": at.to_string()}, "actor": {"S": "system"},
            "action": {"S": "request.created"}, "detail": {"S": ""}
        })
    };
    let (ledger, script) = fake(
        vec![
            ok(json!({"Items": [
                {"pk": {"S": "AUDIT_DAYS"}, "sk": {"S": "1970-01-01"}},
                {"pk": {"S": "AUDIT_DAYS"}, "sk": {"S": "1970-01-03"}}
            ]})),
            ok(json!({"Items": [event(5)]})),
            ok(json!({"Items": [event(2 * 86_400_000), event(2 * 86_400_000 + 1)]})),
        ],
        5,
    )
    .await;

    let events = ledger.audit_since(5, 2).await.unwrap();

    assert_eq!(
        events.iter().map(|e| e.at).collect::<Vec<_>>(),
        vec![5, 2 * 86_400_000]
    );
    assert_eq!(targets(&script), vec!["Query"; 3]);
    let script = script.lock().unwrap();
    assert_eq!(
        script.requests[0].1["ExpressionAttributeValues"][":sk"]["S"],
        "1970-01-01"
    );
    assert_eq!(
        script.requests[1].1["ExpressionAttributeValues"][":pk"]["S"],
        "AUDIT#1970-01-01"
    );
    assert_eq!(script.requests[1].1["Limit"], 2);
    assert_eq!(
        script.requests[2].1["ExpressionAttributeValues"][":pk"]["S"],
        "AUDIT#1970-01-03"
    );
    assert_eq!(script.requests[2].1["Limit"], 1);
}

/// Issue 11, defect 12: a rekey deleted the old claim on its id alone and
/// put back the claim as it had read it, overwriting a change made in
/// between (a claim activated meanwhile went back to RESERVED). The delete
/// now expects the claim exactly as read; when it changed, the rekey reads
/// again and moves the claim as it is now.
#[tokio::test]
async fn a_rekey_moves_the_claim_as_read_and_reads_again_when_it_changed_meanwhile() {
    let reserved = json!({
        "pk": {"S": "POOL#acme"}, "sk": {"S": "CLAIM#ana@example.org"},
        "claim_id": {"S": "c-old"}, "state": {"S": "RESERVED"}, "hold": {"S": "QUEUED"},
        "username": {"S": "ana_acme"}, "delivery": {"S": "standard:d-0"},
        "reserved_at": {"N": "500"}, "updated_at": {"N": "500"},
        "pool": {"S": "acme"}, "person": {"S": "ana@example.org"}
    });
    let (ledger, script) = fake(
        vec![
            ok(json!({"Item": reserved})),
            // Activated between the read and the move.
            cancelled_with(json!([{"Code": "ConditionalCheckFailed"}, {"Code": "None"}])),
            ok(json!({"Item": stored_claim_json()})),
            ok(json!({})),
        ],
        5,
    )
    .await;

    let moved = ledger
        .rekey(&claim_key_(), "c-old", "ana@new.example.org", 900)
        .await
        .unwrap();

    let crate::seats::Rekey::Moved(claim) = moved else {
        panic!("{moved:?}")
    };
    assert_eq!(claim.state, ClaimState::Active, "the change made meanwhile");
    assert_eq!(claim.key.person, "ana@new.example.org");
    let script = script.lock().unwrap();
    let first = &script.requests[1].1["TransactItems"][0]["Delete"];
    let condition = first["ConditionExpression"].as_str().unwrap();
    for part in [
        "#claim_id = :cid",
        "#state = :state",
        "#updated_at = :ver",
        "#hold = :hold",
    ] {
        assert!(condition.contains(part), "{condition}");
    }
    assert_eq!(first["ExpressionAttributeValues"][":ver"]["N"], "500");
    let second = &script.requests[3].1["TransactItems"];
    assert_eq!(
        second[0]["Delete"]["ExpressionAttributeValues"][":ver"]["N"],
        "600"
    );
    assert!(
        second[0]["Delete"]["ConditionExpression"]
            .as_str()
            .unwrap()
            .contains("attribute_not_exists(#hold)")
    );
    assert_eq!(second[1]["Put"]["Item"]["state"]["S"], "ACTIVE");
}
