//! [`Username`]: a name the portal accepts (fact sheet §8).

use std::fmt;

use serde::{Deserialize, Serialize};

/// An ArcGIS Online username that satisfies the portal's rules (fact sheet
/// §8): 6–128 characters of ASCII letters, digits, `.`, `_`, `@` and `-`, not
/// beginning or ending with one of the symbols.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Username(String);

/// Why a username breaks the portal's rules.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid username {name:?}: {reason}")]
pub struct InvalidUsername {
    /// The rejected name.
    pub name: String,
    /// Which rule it breaks.
    pub reason: &'static str,
}

impl Username {
    /// Shortest username the portal accepts.
    pub const MIN_LEN: usize = 6;
    /// Longest username the portal accepts.
    pub const MAX_LEN: usize = 128;

    /// Checks a candidate against the AGOL username rules.
    pub fn parse(raw: &str) -> Result<Self, InvalidUsername> {
        let err = |reason| InvalidUsername {
            name: raw.to_string(),
            reason,
        };
        if raw.len() < Self::MIN_LEN || raw.len() > Self::MAX_LEN {
            return Err(err("must be 6 to 128 characters"));
        }
        if !raw.chars().all(Self::allowed_char) {
            return Err(err(
                "only letters, digits, '.', '_', '@' and '-' are allowed",
            ));
        }
        let is_symbol = |c: char| matches!(c, '.' | '_' | '@' | '-');
        if raw.starts_with(is_symbol) || raw.ends_with(is_symbol) {
            return Err(err("must not begin or end with '.', '_', '@' or '-'"));
        }
        Ok(Username(raw.to_string()))
    }

    /// Whether `c` may appear in a username at all.
    pub fn allowed_char(c: char) -> bool {
        c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '@' | '-')
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Username {
    type Error = InvalidUsername;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Username::parse(&s)
    }
}

impl From<Username> for String {
    fn from(u: Username) -> String {
        u.0
    }
}

impl fmt::Display for Username {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn username_rules_follow_the_fact_sheet() {
        assert!(Username::parse("jdoe_acme").is_ok());
        assert!(Username::parse("ana.lopez@example.org").is_ok());
        assert!(Username::parse("a-b-c-d").is_ok());
        for bad in [
            "short",
            "_leading",
            "trailing.",
            "has space",
            "émile_x",
            &"x".repeat(129),
        ] {
            assert!(Username::parse(bad).is_err(), "{bad} should be refused");
        }
    }
}
