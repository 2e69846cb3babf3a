//! [`PoolId`]: a seat pool's name, and [`ClaimKey`]: one person in one pool.

use std::fmt;

use serde::{Deserialize, Serialize};

/// The name of a seat pool (a partner, a department) from the rules file.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct PoolId(String);

impl PoolId {
    /// Pool names are short identifiers: letters, digits, `-`, `_`, `.`, 1–64
    /// characters, so they can be embedded in storage keys unambiguously.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let ok = !raw.is_empty()
            && raw.len() <= 64
            && raw
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
        if ok {
            Ok(PoolId(raw.to_string()))
        } else {
            Err(format!(
                "pool name {raw:?} must be 1-64 characters of letters, digits, '-', '_' or '.'"
            ))
        }
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for PoolId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Identifies a claim: one person in one pool.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ClaimKey {
    /// The pool the seat belongs to.
    pub pool: PoolId,
    /// The person: their lower-cased e-mail address ([`super::Email::key`]).
    pub person: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pool_names_are_key_safe() {
        assert!(PoolId::parse("acme-water_2").is_ok());
        assert!(PoolId::parse("has#hash").is_err());
        assert!(PoolId::parse("").is_err());
    }
}
