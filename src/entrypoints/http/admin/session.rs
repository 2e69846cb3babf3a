//! Administrator sessions without server-side state: a cookie signed with
//! HMAC-SHA256, CSRF tokens bound to the session, and the login's own
//! signed double-submit token.
//!
//! The session cookie holds `name|expiry|sid|mac`, where `mac` is the
//! HMAC-SHA256 of `name|expiry|sid` under the server's session key and
//! `sid` is a random session id. A form's CSRF token is the HMAC of `sid`
//! under the same key (with its own label), so a token is worth nothing
//! without the cookie it was made for, and a cookie is worth nothing without
//! the page that holds its token. Nothing here reads the clock: `now` is
//! passed in.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::domain::UnixMillis;
use crate::ids::Ids;

type HmacSha256 = Hmac<Sha256>;

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "asb_admin";
/// The login form's cookie (a random nonce the form's token is bound to).
pub const LOGIN_COOKIE: &str = "asb_admin_login";
/// How long a login form stays usable, in seconds.
pub const LOGIN_FORM_SECS: i64 = 15 * 60;
/// Longest accepted administrator name.
pub const MAX_NAME_LEN: usize = 64;

/// Labels keep the MACs of the different uses of one key apart.
const LABEL_KEY: &[u8] = b"agol-seat-broker admin session key v1";
const LABEL_SESSION: &[u8] = b"session";
const LABEL_CSRF: &[u8] = b"csrf";
const LABEL_LOGIN: &[u8] = b"login";

/// The server's key for sessions and CSRF tokens. Never printed.
#[derive(Clone)]
pub struct SessionKey([u8; 32]);

impl std::fmt::Debug for SessionKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SessionKey(<redacted>)")
    }
}

impl SessionKey {
    /// Derives the key from a secret (the administrator secret, or a
    /// separate `ADMIN_SESSION_KEY`): HMAC-SHA256 of a fixed label keyed
    /// with the secret. Changing the secret ends every session.
    pub fn derive(secret: &str) -> Self {
        let mut mac = hmac(secret.as_bytes());
        mac.update(LABEL_KEY);
        SessionKey(mac.finalize().into_bytes().into())
    }

    /// The HMAC of `parts` joined by `|`, after a label.
    fn mac(&self, label: &[u8], parts: &[&str]) -> HmacSha256 {
        let mut mac = hmac(&self.0);
        mac.update(label);
        for p in parts {
            mac.update(b"|");
            mac.update(p.as_bytes());
        }
        mac
    }

    fn sign(&self, label: &[u8], parts: &[&str]) -> String {
        B64URL.encode(self.mac(label, parts).finalize().into_bytes())
    }

    /// Constant-time check of a base64url MAC.
    fn verify(&self, label: &[u8], parts: &[&str], presented: &str) -> bool {
        match B64URL.decode(presented) {
            // verify_slice compares in constant time.
            Ok(tag) => self.mac(label, parts).verify_slice(&tag).is_ok(),
            Err(_) => false,
        }
    }

    /// A login form's token for the nonce in its cookie, issued at `now`:
    /// `<issued seconds>.<tag over nonce and issued>`.
    pub fn login_token(&self, nonce: &str, now: UnixMillis) -> String {
        let issued = now.div_euclid(1000).to_string();
        format!("{issued}.{}", self.sign(LABEL_LOGIN, &[nonce, &issued]))
    }

    /// Whether a login form's token belongs to the nonce in its cookie and
    /// was issued less than [`LOGIN_FORM_SECS`] ago (issue 13: the token
    /// used to be valid for ever, whatever the cookie's lifetime).
    pub fn login_token_ok(&self, nonce: &str, token: &str, now: UnixMillis) -> bool {
        let Some((issued, tag)) = token.split_once('.') else {
            return false;
        };
        let Ok(issued_secs) = issued.parse::<i64>() else {
            return false;
        };
        let age = now.div_euclid(1000).saturating_sub(issued_secs);
        !nonce.is_empty()
            && (0..=LOGIN_FORM_SECS).contains(&age)
            && self.verify(LABEL_LOGIN, &[nonce, issued], tag)
    }
}

/// HMAC accepts keys of any length, so `new_from_slice` cannot fail; the
/// fallback only exists so that no `expect` is needed.
fn hmac(key: &[u8]) -> HmacSha256 {
    match HmacSha256::new_from_slice(key) {
        Ok(m) => m,
        Err(_) => HmacSha256::new(&Default::default()),
    }
}

/// A signed-in administrator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// The name given at login; decisions are recorded as `admin:<name>`.
    pub name: String,
    /// End of the session, Unix seconds.
    pub expires: i64,
    /// Random session id (hex); CSRF tokens are bound to it.
    pub id: String,
}

impl Session {
    /// A fresh session for `name` lasting `ttl_secs` from `now`, with a
    /// random id from `ids`.
    pub fn new(name: &str, now: UnixMillis, ttl_secs: i64, ids: &Ids) -> Self {
        Session {
            name: name.to_string(),
            expires: now.div_euclid(1000) + ttl_secs,
            id: ids.hex(16),
        }
    }

    /// The cookie value: `name|expiry|sid|mac`.
    pub fn encode(&self, key: &SessionKey) -> String {
        let expires = self.expires.to_string();
        let parts = [self.name.as_str(), expires.as_str(), self.id.as_str()];
        format!(
            "{}|{}|{}|{}",
            self.name,
            expires,
            self.id,
            key.sign(LABEL_SESSION, &parts)
        )
    }

    /// Reads a cookie value: `None` unless its MAC is right, it has not
    /// expired at `now`, and its fields are well formed.
    pub fn decode(value: &str, key: &SessionKey, now: UnixMillis) -> Option<Session> {
        let mut it = value.split('|');
        let (name, expires, id, mac) = (it.next()?, it.next()?, it.next()?, it.next()?);
        if it.next().is_some() || !key.verify(LABEL_SESSION, &[name, expires, id], mac) {
            return None;
        }
        let expires: i64 = expires.parse().ok()?;
        if expires <= now.div_euclid(1000) || valid_name(name).is_err() {
            return None;
        }
        Some(Session {
            name: name.to_string(),
            expires,
            id: id.to_string(),
        })
    }

    /// The CSRF token every form of this session carries.
    pub fn csrf_token(&self, key: &SessionKey) -> String {
        key.sign(LABEL_CSRF, &[&self.id])
    }

    /// Whether a form's CSRF token was made for this session.
    pub fn csrf_ok(&self, key: &SessionKey, presented: &str) -> bool {
        key.verify(LABEL_CSRF, &[&self.id], presented)
    }
}

/// Checks an administrator's name: 1 to 64 letters, digits, `.`, `_`, `-`
/// or `@` (it ends up in the audit trail as `admin:<name>` and in the
/// cookie, so nothing else is let in).
pub fn valid_name(name: &str) -> Result<(), &'static str> {
    if name.is_empty() {
        return Err("Enter your name: decisions are recorded under it.");
    }
    if name.len() > MAX_NAME_LEN
        || !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b'@'))
    {
        return Err("A name has at most 64 letters, digits, '.', '_', '-' or '@'.");
    }
    Ok(())
}

/// The value of cookie `name` in the request's `Cookie` headers.
pub fn cookie<'a>(headers: &'a http::HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim())
}

/// A `Set-Cookie` value: HttpOnly, SameSite=Strict, Path=/admin, and Secure
/// unless `secure` is false (plain http on loopback only).
pub fn set_cookie(name: &str, value: &str, max_age_secs: i64, secure: bool) -> String {
    format!(
        "{name}={value}; Path=/admin; Max-Age={max_age_secs}; HttpOnly; SameSite=Strict{}",
        if secure { "; Secure" } else { "" }
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: UnixMillis = 1_790_000_000_000;

    fn key() -> SessionKey {
        SessionKey::derive("an administrator secret, long enough")
    }

    #[test]
    fn a_session_survives_its_cookie_and_nothing_else_does() {
        let s = Session::new("ana", NOW, 3600, &Ids::random());
        let value = s.encode(&key());
        assert_eq!(Session::decode(&value, &key(), NOW), Some(s.clone()));

        // Another key (another secret), a changed name or expiry, a truncated
        // or extended value: all refused.
        let other = SessionKey::derive("another administrator secret");
        assert_eq!(Session::decode(&value, &other, NOW), None);
        let forged = value.replacen("ana|", "bob|", 1);
        assert_eq!(Session::decode(&forged, &key(), NOW), None);
        let later = value.replacen(&s.expires.to_string(), &(s.expires + 3600).to_string(), 1);
        assert_eq!(Session::decode(&later, &key(), NOW), None);
        assert_eq!(
            Session::decode(&value[..value.len() - 2], &key(), NOW),
            None
        );
        assert_eq!(Session::decode(&format!("{value}|x"), &key(), NOW), None);
        assert_eq!(Session::decode("", &key(), NOW), None);
        assert_eq!(Session::decode("|||", &key(), NOW), None);
    }

    #[test]
    fn a_session_ends_at_its_expiry() {
        let s = Session::new("ana", NOW, 60, &Ids::random());
        let value = s.encode(&key());
        assert!(Session::decode(&value, &key(), NOW + 59_000).is_some());
        assert!(Session::decode(&value, &key(), NOW + 60_000).is_none());
    }

    #[test]
    fn csrf_tokens_are_bound_to_their_session() {
        let a = Session::new("ana", NOW, 3600, &Ids::random());
        let b = Session::new("ana", NOW, 3600, &Ids::random());
        assert_ne!(a.id, b.id);
        let token = a.csrf_token(&key());
        assert!(a.csrf_ok(&key(), &token));
        assert!(!b.csrf_ok(&key(), &token), "another session's token");
        assert!(!a.csrf_ok(&key(), ""));
        assert!(!a.csrf_ok(&key(), "not base64!"));
        assert!(!a.csrf_ok(&SessionKey::derive("other secret"), &token));
        // The session's own MAC is not a CSRF token.
        let cookie_mac = a.encode(&key()).rsplit('|').next().unwrap().to_string();
        assert!(!a.csrf_ok(&key(), &cookie_mac));
    }

    #[test]
    fn login_tokens_expire_with_their_form() {
        // Issue 13: the sign-in form's token never expired.
        let token = key().login_token("n1", 1_000_000);
        let at = |secs: i64| key().login_token_ok("n1", &token, 1_000_000 + secs * 1000);
        assert!(at(0) && at(LOGIN_FORM_SECS));
        assert!(!at(LOGIN_FORM_SECS + 1), "expired");
        assert!(!at(-5), "issued in the future");
        let tag_only = token.split_once('.').unwrap().1;
        assert!(!key().login_token_ok("n1", tag_only, 1_000_000));
        // The issue time is inside what is signed.
        let (_, tag) = token.split_once('.').unwrap();
        let moved = format!("{}.{tag}", 1_000_000 / 1000 + 600);
        assert!(!key().login_token_ok("n1", &moved, 1_000_000 + 600_000));
    }

    #[test]
    fn login_tokens_are_bound_to_their_nonce() {
        let token = key().login_token("n1", 0);
        assert!(key().login_token_ok("n1", &token, 0));
        assert!(!key().login_token_ok("n2", &token, 0));
        assert!(!key().login_token_ok("", &key().login_token("", 0), 0));
    }

    #[test]
    fn names_are_plain() {
        assert!(valid_name("ana.lopez@city").is_ok());
        for bad in ["", "a|b", "a b", "<script>", "é", &"x".repeat(65)] {
            assert!(valid_name(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn cookies_are_found_among_others() {
        let mut h = http::HeaderMap::new();
        h.append(http::header::COOKIE, "a=1; asb_admin=v|1".parse().unwrap());
        h.append(http::header::COOKIE, "asb_admin_login=n".parse().unwrap());
        assert_eq!(cookie(&h, SESSION_COOKIE), Some("v|1"));
        assert_eq!(cookie(&h, LOGIN_COOKIE), Some("n"));
        assert_eq!(cookie(&h, "b"), None);
    }

    #[test]
    fn cookie_flags() {
        assert_eq!(
            set_cookie("c", "v", 60, true),
            "c=v; Path=/admin; Max-Age=60; HttpOnly; SameSite=Strict; Secure"
        );
        assert!(!set_cookie("c", "v", 60, false).contains("Secure"));
    }
}
