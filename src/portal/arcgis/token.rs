//! The cached administrator token and when to renew it (fact sheet §4A).
//!
//! Holds the arithmetic only (lifetime, renewal margin, freshness); fetching
//! a token and single-flight renewal live in the client, which guards a
//! [`CachedToken`] slot with a `tokio::sync::Mutex`. Nothing here logs: the
//! token value must never be printed, so [`CachedToken`]'s `Debug` hides it.

use std::fmt;

use crate::domain::UnixMillis;

/// Largest renewal margin: renew at most five minutes before expiry.
const MAX_MARGIN_MS: i64 = 5 * 60 * 1000;

/// A token with its expiry and the moment we stop handing it out.
#[derive(Clone)]
pub(crate) struct CachedToken {
    /// The token itself (secret).
    pub value: String,
    /// Expiry as the portal reported it (epoch ms).
    pub expires: UnixMillis,
    /// From this moment on the token is renewed before use.
    pub refresh_at: UnixMillis,
}

impl CachedToken {
    /// A token received at `now` that expires at `expires`: renewed
    /// `min(5 min, lifetime / 10)` before it lapses, so a call never starts
    /// with a token about to expire mid-flight.
    pub fn new(value: String, expires: UnixMillis, now: UnixMillis) -> Self {
        let lifetime = expires.saturating_sub(now).max(0);
        let margin = (lifetime / 10).min(MAX_MARGIN_MS);
        CachedToken {
            value,
            expires,
            refresh_at: expires.saturating_sub(margin),
        }
    }

    /// Whether the token may still be handed out without renewal.
    pub fn fresh_at(&self, now: UnixMillis) -> bool {
        now < self.refresh_at
    }

    /// Whether the token has not expired yet (usable as a fallback when a
    /// renewal fails transiently).
    pub fn valid_at(&self, now: UnixMillis) -> bool {
        now < self.expires
    }
}

impl fmt::Debug for CachedToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CachedToken")
            .field("value", &"<redacted>")
            .field("expires", &self.expires)
            .field("refresh_at", &self.refresh_at)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: i64 = 60_000;

    #[test]
    fn an_hour_long_token_is_renewed_five_minutes_before_expiry() {
        let t = CachedToken::new("t".into(), 60 * MIN, 0);
        assert_eq!(t.refresh_at, 55 * MIN);
        assert!(t.fresh_at(54 * MIN));
        assert!(!t.fresh_at(55 * MIN));
        assert!(t.valid_at(59 * MIN));
    }

    #[test]
    fn a_short_token_is_renewed_a_tenth_of_its_life_early() {
        let t = CachedToken::new("t".into(), 10 * MIN, 0);
        assert_eq!(t.refresh_at, 9 * MIN);
    }

    #[test]
    fn a_token_already_expired_on_arrival_is_never_fresh() {
        let t = CachedToken::new("t".into(), 100, 200);
        assert!(!t.fresh_at(200));
        assert!(!t.valid_at(200));
    }

    #[test]
    fn debug_output_hides_the_token() {
        let t = CachedToken::new("s3cret-token".into(), 60 * MIN, 0);
        assert!(!format!("{t:?}").contains("s3cret-token"));
    }
}
