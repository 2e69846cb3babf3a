//! Validated value types shared by every layer.
//!
//! Each type can only be built through a parsing constructor, so a value that
//! exists is a value that is valid ("parse, don't validate"). Nothing here does
//! I/O.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Milliseconds since the Unix epoch. Time is always passed in, never read
/// inside domain code, so tests control it.
pub type UnixMillis = i64;

/// Reads the wall clock. Only entry points call this; everything below takes
/// `now` as an argument.
pub fn now_millis() -> UnixMillis {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// An e-mail address as given by the applicant, trimmed, with a lower-cased
/// domain. [`Email::key`] is the fully lower-cased form used to identify a
/// person: one person, one seat.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Email(String);

/// Why an e-mail address was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid e-mail address: {0}")]
pub struct InvalidEmail(&'static str);

impl Email {
    /// Parses an address. Deliberately simpler than RFC 5322: one `@`, a
    /// non-empty local part without spaces or control characters, a domain
    /// with at least one dot made of letters, digits, `-` and `.`.
    pub fn parse(raw: &str) -> Result<Self, InvalidEmail> {
        let s = raw.trim();
        if s.is_empty() {
            return Err(InvalidEmail("empty"));
        }
        if s.len() > 254 {
            return Err(InvalidEmail("longer than 254 characters"));
        }
        let (local, domain) = s.rsplit_once('@').ok_or(InvalidEmail("no '@'"))?;
        if local.is_empty() || local.len() > 64 {
            return Err(InvalidEmail(
                "local part empty or longer than 64 characters",
            ));
        }
        if local
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == '@' || c == '"')
        {
            return Err(InvalidEmail("local part has a forbidden character"));
        }
        if !domain.contains('.')
            || domain.starts_with(['.', '-'])
            || domain.ends_with(['.', '-'])
            || domain.contains("..")
            || !domain
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
        {
            return Err(InvalidEmail("domain is not a valid host name"));
        }
        Ok(Email(format!("{local}@{}", domain.to_ascii_lowercase())))
    }

    /// The address as given (domain lower-cased).
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The identity of a person: the whole address lower-cased.
    pub fn key(&self) -> String {
        self.0.to_lowercase()
    }

    /// The part before the `@`.
    pub fn local_part(&self) -> &str {
        self.0.rsplit_once('@').map(|(l, _)| l).unwrap_or(&self.0)
    }

    /// The lower-cased domain after the `@`.
    pub fn domain(&self) -> &str {
        self.0.rsplit_once('@').map(|(_, d)| d).unwrap_or("")
    }
}

impl TryFrom<String> for Email {
    type Error = InvalidEmail;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Email::parse(&s)
    }
}

impl From<Email> for String {
    fn from(e: Email) -> String {
        e.0
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

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

/// Identifies one delivery of one webhook by one sender: the idempotency key.
/// Retries of the same delivery carry the same key.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct DeliveryKey {
    /// Which intake adapter received it (`standard`, `okta`, …), so two
    /// senders' ids can never collide.
    pub source: String,
    /// The sender's own id for the delivery (`webhook-id`, event uuid, …).
    pub id: String,
}

impl DeliveryKey {
    /// Longest delivery id accepted; longer ids are refused at intake.
    pub const MAX_ID_LEN: usize = 256;

    /// The key as one string, `source:id`.
    pub fn as_string(&self) -> String {
        format!("{}:{}", self.source, self.id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn email_keeps_local_case_and_lowers_domain() {
        let e = Email::parse("  Ana.Lopez@Example.ORG ").unwrap();
        assert_eq!(e.as_str(), "Ana.Lopez@example.org");
        assert_eq!(e.key(), "ana.lopez@example.org");
        assert_eq!(e.local_part(), "Ana.Lopez");
        assert_eq!(e.domain(), "example.org");
    }

    #[test]
    fn email_rejects_garbage() {
        for bad in [
            "",
            "no-at",
            "a@b",
            "@x.org",
            "a b@x.org",
            "a@-x.org",
            "a@x..org",
            "a@x.org.",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad} should be refused");
        }
    }

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

    #[test]
    fn pool_names_are_key_safe() {
        assert!(PoolId::parse("acme-water_2").is_ok());
        assert!(PoolId::parse("has#hash").is_err());
        assert!(PoolId::parse("").is_err());
    }
}
