//! Making the DynamoDB ledger table for a local run (`init --store
//! dynamodb:T`, `serve --create-table`; issue 15, item 6), so `--store
//! dynamodb:` works against DynamoDB Local without a separate script.
//!
//! Deployed tables come from `template.yaml`'s `LedgerTable`; the table is
//! made here by [`create_table`], whose key schema, billing and TTL
//! attribute `tests/template.rs` compares with the template's. What this
//! adds is the check of a table that is already there: the ledger's items
//! only fit a table keyed `pk` (HASH, string) + `sk` (RANGE, string), so a
//! table keyed otherwise is refused (`table_key_schema_mismatch`) instead of
//! failing on the first write. Running it twice is fine: the second run says
//! the table exists (and switches its TTL on if it was off).

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::DisplayErrorContext;
use aws_sdk_dynamodb::operation::describe_table::DescribeTableError;
use aws_sdk_dynamodb::types::{KeyType, ScalarAttributeType, TableDescription};

use crate::seats::dynamo::create_table;

/// The ledger's key: partition key `pk`, sort key `sk`, both strings (as
/// `template.yaml`'s `LedgerTable` and [`create_table`] make it).
pub const LEDGER_KEY_SCHEMA: [(&str, &str); 2] = [("pk", "HASH"), ("sk", "RANGE")];

/// What [`ensure_ledger_table`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TableReady {
    /// The table was made now.
    Created,
    /// It was there already, with the ledger's key schema.
    AlreadyExisted,
}

/// Why the ledger table could not be made ready.
#[derive(Debug, thiserror::Error)]
pub enum TableInitError {
    /// A table of that name exists with another key schema.
    #[error(
        "table {table} exists with key schema {found}, but the ledger needs pk (HASH, S) + sk (RANGE, S): choose another table name or delete that table"
    )]
    KeySchemaMismatch {
        /// The table.
        table: String,
        /// Its key schema, e.g. `id (HASH, S)`.
        found: String,
    },
    /// DynamoDB could not be reached or refused the call.
    #[error("DynamoDB: {0}")]
    Unavailable(String),
}

impl TableInitError {
    /// The stable code of this error.
    pub fn code(&self) -> &'static str {
        match self {
            TableInitError::KeySchemaMismatch { .. } => "table_key_schema_mismatch",
            TableInitError::Unavailable(_) => "table_unavailable",
        }
    }
}

/// The table's key schema as `name (HASH, S), name (RANGE, S)`.
fn key_schema_of(table: &TableDescription) -> Vec<(String, String, String)> {
    table
        .key_schema()
        .iter()
        .map(|k| {
            let name = k.attribute_name().to_string();
            let kind = match k.key_type() {
                KeyType::Hash => "HASH".to_string(),
                KeyType::Range => "RANGE".to_string(),
                other => other.as_str().to_string(),
            };
            let attr_type = table
                .attribute_definitions()
                .iter()
                .find(|d| d.attribute_name() == name)
                .map(|d| match d.attribute_type() {
                    ScalarAttributeType::S => "S".to_string(),
                    other => other.as_str().to_string(),
                })
                .unwrap_or_else(|| "?".to_string());
            (name, kind, attr_type)
        })
        .collect()
}

/// Refuses `table`'s description unless it is keyed like the ledger.
fn check_key_schema(name: &str, table: &TableDescription) -> Result<(), TableInitError> {
    let found = key_schema_of(table);
    let expected = LEDGER_KEY_SCHEMA
        .iter()
        .map(|(n, k)| (n.to_string(), k.to_string(), "S".to_string()))
        .collect::<Vec<_>>();
    if found == expected {
        return Ok(());
    }
    let shown = found
        .iter()
        .map(|(n, k, t)| format!("{n} ({k}, {t})"))
        .collect::<Vec<_>>()
        .join(" + ");
    Err(TableInitError::KeySchemaMismatch {
        table: name.to_string(),
        found: if shown.is_empty() {
            "(none)".into()
        } else {
            shown
        },
    })
}

/// The table's description, or `None` when there is no such table.
async fn describe(client: &Client, name: &str) -> Result<Option<TableDescription>, TableInitError> {
    match client.describe_table().table_name(name).send().await {
        Ok(out) => Ok(out.table),
        Err(err) => {
            let text = DisplayErrorContext(&err).to_string();
            match err.into_service_error() {
                DescribeTableError::ResourceNotFoundException(_) => Ok(None),
                _ => Err(TableInitError::Unavailable(format!(
                    "DescribeTable {name}: {text}"
                ))),
            }
        }
    }
}

/// Makes the ledger table `name` ready: created with the template's key
/// schema, on-demand billing and TTL on `ttl` when missing; accepted when it
/// is there with the ledger's key schema; refused otherwise.
pub async fn ensure_ledger_table(
    client: &Client,
    name: &str,
) -> Result<TableReady, TableInitError> {
    let existed = match describe(client, name).await? {
        Some(table) => {
            check_key_schema(name, &table)?;
            true
        }
        None => false,
    };
    // Creates it, or (already there) waits until it is active and switches
    // TTL on.
    create_table(client, name)
        .await
        .map_err(|e| TableInitError::Unavailable(e.to_string()))?;
    if existed {
        return Ok(TableReady::AlreadyExisted);
    }
    // Another process may have made it in between, keyed otherwise.
    match describe(client, name).await? {
        Some(table) => check_key_schema(name, &table)?,
        None => {
            return Err(TableInitError::Unavailable(format!(
                "table {name} is not there after CreateTable"
            )));
        }
    }
    Ok(TableReady::Created)
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_dynamodb::types::{AttributeDefinition, KeySchemaElement};

    fn table(keys: &[(&str, KeyType, ScalarAttributeType)]) -> TableDescription {
        let mut t = TableDescription::builder();
        for (name, kind, attr) in keys {
            t = t
                .key_schema(
                    KeySchemaElement::builder()
                        .attribute_name(*name)
                        .key_type(kind.clone())
                        .build()
                        .unwrap(),
                )
                .attribute_definitions(
                    AttributeDefinition::builder()
                        .attribute_name(*name)
                        .attribute_type(attr.clone())
                        .build()
                        .unwrap(),
                );
        }
        t.build()
    }

    #[test]
    fn only_the_ledgers_key_schema_is_accepted() {
        let s = ScalarAttributeType::S;
        let ledger = table(&[
            ("pk", KeyType::Hash, s.clone()),
            ("sk", KeyType::Range, s.clone()),
        ]);
        assert!(check_key_schema("t", &ledger).is_ok());

        let hash_only = table(&[("id", KeyType::Hash, s.clone())]);
        let err = check_key_schema("t", &hash_only).unwrap_err();
        assert_eq!(err.code(), "table_key_schema_mismatch");
        assert!(err.to_string().contains("id (HASH, S)"), "{err}");

        let numeric = table(&[
            ("pk", KeyType::Hash, s),
            ("sk", KeyType::Range, ScalarAttributeType::N),
        ]);
        assert!(check_key_schema("t", &numeric).is_err());
    }
}
