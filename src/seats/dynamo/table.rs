//! Table administration for the DynamoDB ledger: [`create_table`] (tests and
//! local runs; deployed tables come from the SAM template) and
//! [`client_for_endpoint`] (a client for DynamoDB Local or for AWS).
//!
//! No ledger operation lives here, and nothing here reads or writes items.

use std::time::Duration;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::client::Waiters;
use aws_sdk_dynamodb::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_dynamodb::error::DisplayErrorContext;
use aws_sdk_dynamodb::operation::create_table::CreateTableError;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
    TimeToLiveSpecification,
};

use crate::seats::error::LedgerError;

use super::errors::{build_error, describe, store_error};
use super::item;

/// Creates the ledger table `name`: on-demand billing, key `pk` (S) + `sk`
/// (S), then TTL on `ttl`, as `template.yaml`'s `LedgerTable` (checked by
/// `tests/ledger_table.rs`; point-in-time recovery and encryption are the
/// deployed table's only). An existing table is accepted as is (its key
/// schema unchecked: `startup::ledger_table` checks it). For tests and local
/// runs (`init`, `serve --create-table`); deployed tables come from the SAM
/// template.
pub async fn create_table(client: &Client, name: &str) -> Result<(), LedgerError> {
    let attribute = |attr: &str| {
        AttributeDefinition::builder()
            .attribute_name(attr)
            .attribute_type(ScalarAttributeType::S)
            .build()
            .map_err(build_error)
    };
    let key = |attr: &str, kind: KeyType| {
        KeySchemaElement::builder()
            .attribute_name(attr)
            .key_type(kind)
            .build()
            .map_err(build_error)
    };
    let created = client
        .create_table()
        .table_name(name)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(attribute(item::PK)?)
        .attribute_definitions(attribute(item::SK)?)
        .key_schema(key(item::PK, KeyType::Hash)?)
        .key_schema(key(item::SK, KeyType::Range)?)
        .send()
        .await;
    if let Err(err) = created {
        let description = describe("CreateTable", &err);
        match err.into_service_error() {
            CreateTableError::ResourceInUseException(_) => {}
            other => return Err(store_error(description, &other)),
        }
    }
    client
        .wait_until_table_exists()
        .table_name(name)
        .wait(Duration::from_secs(120))
        .await
        .map_err(|_| LedgerError::Unavailable(format!("table {name} did not become active")))?;
    let ttl = TimeToLiveSpecification::builder()
        .attribute_name("ttl")
        .enabled(true)
        .build()
        .map_err(build_error)?;
    // Why ignore: TTL is housekeeping only (expiry is checked in code), and
    // some emulators lack UpdateTimeToLive or refuse it when already on.
    if let Err(err) = client
        .update_time_to_live()
        .table_name(name)
        .time_to_live_specification(ttl)
        .send()
        .await
    {
        tracing::debug!(error = %DisplayErrorContext(&err), "could not enable TTL; ignored");
    }
    Ok(())
}

/// A DynamoDB client. With an `endpoint` (DynamoDB Local) it needs no AWS
/// configuration at all: region `us-east-1` and static dummy credentials.
/// Without one it loads the usual AWS configuration (environment, profile,
/// Lambda role).
pub async fn client_for_endpoint(endpoint: Option<&str>) -> Client {
    match endpoint {
        Some(url) => {
            let conf = aws_sdk_dynamodb::Config::builder()
                .behavior_version(BehaviorVersion::latest())
                .region(Region::new("us-east-1"))
                .credentials_provider(Credentials::new(
                    "local",
                    "local",
                    None,
                    None,
                    "dynamodb-local",
                ))
                .endpoint_url(url)
                .build();
            Client::from_conf(conf)
        }
        None => Client::new(crate::config::aws_config().await),
    }
}
