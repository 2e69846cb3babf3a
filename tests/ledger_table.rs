//! The DynamoDB ledger table for a local run (issue 15, item 6): what
//! `create_table` makes is what `template.yaml`'s `LedgerTable` declares
//! (key schema, attribute types, billing, TTL attribute); `init --store
//! dynamodb:T` creates it once and says so the second time, refuses a table
//! keyed otherwise with a stable code; `serve --create-table` then takes a
//! sign-up on it.
//!
//! Needs `DYNAMODB_ENDPOINT` (`scripts/test.sh` sets it; `source
//! /work/emu/env.sh` here); without it the tests fail, never pass silently.

use std::process::Stdio;
use std::time::Duration;

use agol_seat_broker::intake::signature::SigningKey;
use agol_seat_broker::seats::dynamo::{client_for_endpoint, create_table};
use agol_seat_broker::startup::ledger_table::LEDGER_KEY_SCHEMA;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
    TimeToLiveStatus,
};
use serde_yaml_ng::Value;
use tokio::io::{AsyncBufReadExt as _, BufReader};
use tokio::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_agol-seat-broker");
const SECRET: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";

fn endpoint() -> String {
    let e = std::env::var("DYNAMODB_ENDPOINT").unwrap_or_default();
    assert!(
        !e.is_empty(),
        "DYNAMODB_ENDPOINT is not set: run scripts/test.sh, or start DynamoDB Local \
         (scripts/dynamodb-local.sh start) and export DYNAMODB_ENDPOINT"
    );
    e
}

fn table_name(what: &str) -> String {
    format!(
        "ledger-table-{what}-{}-{}",
        std::process::id(),
        agol_seat_broker::clock::now_millis()
    )
}

fn ledger_table_in_template() -> Value {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/template.yaml"))
        .expect("template.yaml");
    let t: Value = serde_yaml_ng::from_str(&text).expect("template.yaml is YAML");
    t["Resources"]["LedgerTable"]["Properties"].clone()
}

/// `(name, HASH|RANGE)` pairs of a template key schema.
fn template_keys(props: &Value) -> Vec<(String, String)> {
    props["KeySchema"]
        .as_sequence()
        .expect("KeySchema")
        .iter()
        .map(|k| {
            (
                k["AttributeName"].as_str().unwrap().to_string(),
                k["KeyType"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[test]
fn the_templates_ledger_table_is_keyed_as_init_checks() {
    let props = ledger_table_in_template();
    let expected: Vec<(String, String)> = LEDGER_KEY_SCHEMA
        .iter()
        .map(|(n, k)| (n.to_string(), k.to_string()))
        .collect();
    assert_eq!(template_keys(&props), expected);
}

#[tokio::test]
async fn create_table_makes_the_templates_ledger_table() {
    let props = ledger_table_in_template();
    let client = client_for_endpoint(Some(&endpoint())).await;
    let name = table_name("template");
    create_table(&client, &name).await.expect("created");

    let table = client
        .describe_table()
        .table_name(&name)
        .send()
        .await
        .expect("described")
        .table
        .expect("a table");
    let keys: Vec<(String, String)> = table
        .key_schema()
        .iter()
        .map(|k| {
            (
                k.attribute_name().to_string(),
                k.key_type().as_str().to_string(),
            )
        })
        .collect();
    assert_eq!(keys, template_keys(&props), "key schema");

    let mut made: Vec<(String, String)> = table
        .attribute_definitions()
        .iter()
        .map(|d| {
            (
                d.attribute_name().to_string(),
                d.attribute_type().as_str().to_string(),
            )
        })
        .collect();
    made.sort();
    let mut declared: Vec<(String, String)> = props["AttributeDefinitions"]
        .as_sequence()
        .expect("AttributeDefinitions")
        .iter()
        .map(|d| {
            (
                d["AttributeName"].as_str().unwrap().to_string(),
                d["AttributeType"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    declared.sort();
    assert_eq!(made, declared, "attribute definitions");

    let billing = table
        .billing_mode_summary()
        .and_then(|b| b.billing_mode())
        .map(|b| b.as_str().to_string());
    assert_eq!(
        billing.as_deref(),
        props["BillingMode"].as_str(),
        "billing mode"
    );

    let ttl = client
        .describe_time_to_live()
        .table_name(&name)
        .send()
        .await
        .expect("TTL described")
        .time_to_live_description
        .expect("a TTL description");
    assert_eq!(
        ttl.attribute_name(),
        props["TimeToLiveSpecification"]["AttributeName"].as_str(),
        "TTL attribute"
    );
    assert_eq!(
        props["TimeToLiveSpecification"]["Enabled"].as_bool(),
        Some(true)
    );
    assert!(
        matches!(
            ttl.time_to_live_status(),
            Some(TimeToLiveStatus::Enabled | TimeToLiveStatus::Enabling)
        ),
        "{ttl:?}"
    );

    client.delete_table().table_name(&name).send().await.ok();
}

async fn init(table: &str, endpoint: &str) -> (bool, String) {
    let out = Command::new(BIN)
        .args([
            "init",
            "--store",
            &format!("dynamodb:{table}"),
            "--dynamodb-endpoint",
            endpoint,
        ])
        .env_remove("LEDGER_STORE")
        .output()
        .await
        .expect("runs");
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), text)
}

#[tokio::test]
async fn init_creates_the_table_once_and_refuses_one_keyed_otherwise() {
    let endpoint = endpoint();
    let name = table_name("init");

    let (ok, out) = init(&name, &endpoint).await;
    assert!(ok, "{out}");
    assert!(out.contains("created"), "{out}");
    let (ok, out) = init(&name, &endpoint).await;
    assert!(ok, "{out}");
    assert!(out.contains("already exists"), "{out}");

    // A table of the same name keyed `id` only is not the ledger's.
    let client = client_for_endpoint(Some(&endpoint)).await;
    let foreign = table_name("foreign");
    client
        .create_table()
        .table_name(&foreign)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name("id")
                .attribute_type(ScalarAttributeType::S)
                .build()
                .unwrap(),
        )
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name("id")
                .key_type(KeyType::Hash)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .expect("a foreign table");
    let (ok, out) = init(&foreign, &endpoint).await;
    assert!(!ok, "{out}");
    assert!(out.contains("table_key_schema_mismatch"), "{out}");
    assert!(out.contains("id (HASH, S)"), "{out}");

    for t in [name, foreign] {
        client.delete_table().table_name(&t).send().await.ok();
    }
}

#[tokio::test]
async fn serve_with_create_table_takes_a_sign_up_on_a_new_dynamodb_table() {
    let endpoint = endpoint();
    let name = table_name("serve");
    let mut child = Command::new(BIN)
        .args([
            "serve",
            "--create-table",
            "--store",
            &format!("dynamodb:{name}"),
            "--dynamodb-endpoint",
            &endpoint,
            "--portal",
            "simulator",
            "--listen",
            "127.0.0.1:0",
        ])
        .env("STANDARD_WEBHOOK_SECRETS", SECRET)
        .env_remove("LEDGER_STORE")
        .env_remove("PORTAL_URL")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .expect("the binary starts");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut seen = Vec::new();
    let addr = tokio::time::timeout(Duration::from_secs(60), async {
        while let Ok(Some(line)) = lines.next_line().await {
            if let Some(rest) = line.split("listening on http://").nth(1) {
                return rest.trim().to_string();
            }
            seen.push(line);
        }
        panic!("the server exited before listening: {seen:?}");
    })
    .await
    .expect("the server listens within 60 s");
    assert!(
        seen.iter()
            .any(|l| l.contains(&name) && l.contains("created")),
        "{seen:?}"
    );
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });

    let key = SigningKey::parse(SECRET).unwrap();
    let body = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/events/standard-signup.body.json"
    ))
    .unwrap();
    let ts = agol_seat_broker::clock::now_millis() / 1000;
    let res = reqwest::Client::new()
        .post(format!("http://{addr}/webhooks/standard"))
        .header("webhook-id", "msg_create_table")
        .header("webhook-timestamp", ts.to_string())
        .header("webhook-signature", key.sign("msg_create_table", ts, &body))
        .body(body)
        .timeout(Duration::from_secs(30))
        .send()
        .await
        .expect("answered");
    let status = res.status().as_u16();
    let text = res.text().await.unwrap_or_default();
    assert_eq!(status, 201, "{text}");
    assert!(text.contains("\"provisioned\""), "{text}");

    child.kill().await.ok();
    let client = client_for_endpoint(Some(&endpoint)).await;
    client.delete_table().table_name(&name).send().await.ok();
}
