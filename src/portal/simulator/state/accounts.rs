//! Accounts and tokens: `generateToken` (password check, lifetime cap,
//! sign-in time), who a token belongs to, and the password policy new
//! members must meet.
//!
//! Passwords are compared as SHA-256 digests and never kept or logged in
//! clear; tokens are random and forgotten when they expire or their account
//! is removed.

use rand::Rng;
use rand::distr::Alphanumeric;

use super::{Caller, State, TokenRec, sha256};
use crate::domain::UnixMillis;
use crate::portal::simulator::error::ApiError;
use crate::portal::simulator::org::Org;

/// Token lifetime when `generateToken` asks for none, in minutes (§4).
const DEFAULT_TOKEN_MINUTES: i64 = 60;

fn random_token() -> String {
    rand::rng()
        .sample_iter(&Alphanumeric)
        .take(64)
        .map(char::from)
        .collect()
}

/// The default password policy (fact sheet §8): 8+ characters, a letter and
/// a digit, not the username.
pub(super) fn password_acceptable(password: &str, username: &str) -> bool {
    password.chars().count() >= 8
        && password.chars().any(|c| c.is_alphabetic())
        && password.chars().any(|c| c.is_ascii_digit())
        && password != username
}

impl State {
    /// `generateToken`: checks the password, caps the lifetime, records the
    /// sign-in. Returns the token and its expiry (epoch ms).
    pub fn issue_token(
        &mut self,
        org: &Org,
        username: Option<&str>,
        password: Option<&str>,
        expiration_minutes: Option<i64>,
        now: UnixMillis,
    ) -> Result<(String, UnixMillis), ApiError> {
        let (Some(username), Some(password)) = (username, password) else {
            return Err(ApiError::bad_credentials());
        };
        // Pending members have no password, so they cannot sign in yet.
        if self.passwords.get(username) != Some(&sha256(password)) {
            return Err(ApiError::bad_credentials());
        }
        // Checked after the password, so a wrong guess learns nothing. The
        // portal's wording is not documented ([I]); the shape is that of
        // its bad-credentials answer, which a client treats the same way.
        if self.members.get(username).is_some_and(|m| m.disabled) {
            return Err(ApiError::new(400, "Unable to generate token.")
                .with_detail("This account has been disabled."));
        }
        let minutes = expiration_minutes
            .filter(|m| *m > 0)
            .unwrap_or(DEFAULT_TOKEN_MINUTES);
        let lifetime = minutes
            .saturating_mul(60_000)
            .min(org.token_max_lifetime_ms);
        let expires = now.saturating_add(lifetime);
        self.tokens.retain(|_, t| t.expires > now);
        let token = random_token();
        self.tokens.insert(
            token.clone(),
            TokenRec {
                username: username.to_string(),
                expires,
            },
        );
        if let Some(m) = self.members.get_mut(username) {
            m.last_login = now;
        }
        Ok((token, expires))
    }

    /// `community/users/<u>/reset` with `email=true` (fact sheet: not in
    /// it; the call is the Python API's `User.reset(reset_by_email=True)`,
    /// so [I]): the portal e-mails the member a link to choose a new
    /// password. Taken on the strict side: only an administrator or the
    /// member may ask, only for a member of this organization who holds a
    /// password (a pending e-mail invitation has none yet), and only by
    /// e-mail (`email` must be `true`: setting a password here is not
    /// simulated).
    pub fn reset_by_email(
        &mut self,
        caller: &Caller,
        username: &str,
        email: Option<&str>,
    ) -> Result<(), ApiError> {
        if !self.members.contains_key(username) {
            return Err(ApiError::no_user());
        }
        if !caller.admin && caller.username != username {
            return Err(ApiError::forbidden());
        }
        if !email.is_some_and(|e| e.eq_ignore_ascii_case("true")) {
            return Err(ApiError::new(400, "Unable to reset user.")
                .with_detail("Only a reset by e-mail (email=true) is simulated."));
        }
        if !self.passwords.contains_key(username) {
            return Err(ApiError::new(400, "Unable to reset user.")
                .with_detail("The account has no password to reset."));
        }
        *self.reset_emails.entry(username.to_string()).or_default() += 1;
        Ok(())
    }

    /// Who `token` belongs to; 498 when unknown, expired, or its account was
    /// removed or disabled.
    pub fn caller(&self, org: &Org, token: &str, now: UnixMillis) -> Result<Caller, ApiError> {
        let rec = self
            .tokens
            .get(token)
            .filter(|t| t.expires > now)
            .ok_or_else(ApiError::invalid_token)?;
        let admin = match self.members.get(&rec.username) {
            // Disabling drops a member's tokens; this covers any other way.
            Some(m) if m.disabled => return Err(ApiError::invalid_token()),
            Some(m) => org.base_role(&m.role) == Some("org_admin"),
            None if rec.username == org.admin_username => true,
            None => return Err(ApiError::invalid_token()),
        };
        Ok(Caller {
            username: rec.username.clone(),
            admin,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn password_policy_needs_a_letter_a_digit_and_eight_characters() {
        assert!(password_acceptable("S3cure-pass1", "jdoe_acme"));
        assert!(!password_acceptable("short1", "jdoe_acme"));
        assert!(!password_acceptable("lettersonly", "jdoe_acme"));
        assert!(!password_acceptable("jdoe_acme1", "jdoe_acme1"));
    }
}
