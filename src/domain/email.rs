//! [`Email`]: an applicant's address, and the person key derived from it.

use std::fmt;

use serde::{Deserialize, Serialize};

/// An e-mail address as given by the applicant, trimmed, with a lower-cased
/// domain. [`Email::key`] is the fully lower-cased form used to identify a
/// person: one person, one seat.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Email(String);

/// How a pool tells people apart by their e-mail address (rules key
/// `email_identity`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EmailIdentity {
    /// The whole address, without regard to case (the default).
    #[default]
    Exact,
    /// As `Exact`, with the `+tag` of the local part ignored: sub-addresses
    /// deliver to one mailbox, so `ana+1@acme.org` and `ana+2@acme.org` get
    /// one seat between them. The member is still invited at the address
    /// as given.
    FoldPlusTags,
}

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

    /// The identity of a person as a pool counts people ([`EmailIdentity`]):
    /// [`Email::key`], with a `+tag` folded away when the pool says so
    /// (`Ana+x@acme.org` and `ana@acme.org` are one person, one seat).
    pub fn key_as(&self, identity: EmailIdentity) -> String {
        let key = self.key();
        match identity {
            EmailIdentity::Exact => key,
            EmailIdentity::FoldPlusTags => match key.rsplit_once('@') {
                // Why: a local part that is only a tag (`+x@…`) is left as
                // it is: folding it would leave an empty name.
                Some((local, domain)) => match local.split_once('+') {
                    Some((base, _)) if !base.is_empty() => format!("{base}@{domain}"),
                    _ => key,
                },
                None => key,
            },
        }
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

#[cfg(test)]
mod tests {

    #[test]
    fn plus_tags_fold_only_where_the_pool_says_so() {
        let e = Email::parse("Ana.Lopez+Project-7@ACME.org").unwrap();
        assert_eq!(
            e.key_as(EmailIdentity::Exact),
            "ana.lopez+project-7@acme.org"
        );
        assert_eq!(e.key_as(EmailIdentity::FoldPlusTags), "ana.lopez@acme.org");
        assert_eq!(e.key(), e.key_as(EmailIdentity::Exact));
        // Only the first `+` starts the tag; a bare tag is left alone.
        let two = Email::parse("a+b+c@acme.org").unwrap();
        assert_eq!(two.key_as(EmailIdentity::FoldPlusTags), "a@acme.org");
        let bare = Email::parse("+x@acme.org").unwrap();
        assert_eq!(bare.key_as(EmailIdentity::FoldPlusTags), "+x@acme.org");
        let plain = Email::parse("bo@acme.org").unwrap();
        assert_eq!(plain.key_as(EmailIdentity::FoldPlusTags), "bo@acme.org");
    }

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
}
