//! [`AdminSettings`]: the administrator's secret, the session key derived
//! from it, the cookie flags and the sign-in throttle: the per-process
//! bound here (one check at a time, a delay after a wrong secret, a bounded
//! queue), the counts in the store beside it (`throttle.rs`).

use std::sync::Arc;
use std::time::Duration;

use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::Response;

use super::session::{self, SESSION_COOKIE, Session, SessionKey};
use super::throttle::{ClientAddress, SignInLimits, retry_after_secs};
use crate::config::{ConfigError, Secret, Secrets};
use crate::domain::UnixMillis;
use crate::seats::{SignInAttempt, SignInSlot, SignInThrottle};

/// Administrator access, when configured.
#[derive(Clone)]
pub struct AdminSettings {
    /// The secret exchanged for a session.
    secret: Secret,
    /// Signs sessions and CSRF tokens.
    pub(super) key: SessionKey,
    /// Whether cookies carry `Secure`. Only the local server on a loopback
    /// address turns it off: it serves plain http, over which a browser
    /// would never send a `Secure` cookie back.
    pub secure_cookies: bool,
    /// How long a session lasts, in seconds.
    pub session_secs: i64,
    /// How long a wrong secret is answered late.
    pub failure_delay: Duration,
    /// How many sign-in attempts a window allows, counted in the store
    /// (see `throttle.rs`).
    pub sign_in_limits: SignInLimits,
    /// One secret check at a time in this process, so the delay of a wrong
    /// one also slows down guesses sent in parallel.
    gate: Arc<tokio::sync::Mutex<()>>,
    /// Checks waiting for the gate; beyond [`MAX_WAITING_SIGN_INS`] a
    /// sign-in is answered "busy" at once instead of queueing without end.
    waiting: Arc<std::sync::atomic::AtomicUsize>,
}

/// Most sign-ins one process lets wait for the secret check (each wrong
/// one holds it [`AdminSettings::failure_delay`]): a flood of guesses gets
/// 429 at once instead of an ever longer queue.
pub const MAX_WAITING_SIGN_INS: usize = 4;

/// What a secret check came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecretCheck {
    /// The administrator secret.
    Right,
    /// Not it (answered after the failure delay).
    Wrong,
    /// Too many checks waiting in this process: not checked; try again
    /// shortly.
    Busy,
    /// The window's attempts reached a limit (the address's, or all
    /// addresses' when `global`): not checked until the window ends, in
    /// `retry_after_secs`.
    Throttled {
        /// Seconds to the window's end (at least 1).
        retry_after_secs: u64,
        /// Whether the global limit was reached (else the address's).
        global: bool,
    },
    /// The attempt could not be counted in the store: not checked (a store
    /// failure must not open the gate).
    Unavailable,
}

impl std::fmt::Debug for AdminSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdminSettings")
            .field("secure_cookies", &self.secure_cookies)
            .field("session_secs", &self.session_secs)
            .finish_non_exhaustive()
    }
}

impl AdminSettings {
    /// Shortest administrator secret accepted (every secret's minimum).
    pub const MIN_SECRET_LEN: usize = crate::config::MIN_SECRET_CHARS;
    /// Default session length: a working day.
    pub const DEFAULT_SESSION_SECS: i64 = 8 * 3600;

    /// Settings for a secret. The session key is derived from
    /// `session_key` when given (`ADMIN_SESSION_KEY`), else from the secret
    /// itself, so changing the secret ends every session.
    pub fn new(
        secret: Secret,
        session_key: Option<&Secret>,
        secure_cookies: bool,
    ) -> Result<Self, ConfigError> {
        if secret.is_short() {
            return Err(ConfigError(format!(
                "the administrator secret (admin_secret / ADMIN_SECRET) must have at least {} characters",
                Self::MIN_SECRET_LEN
            )));
        }
        let key = match session_key.filter(|k| !k.expose().is_empty()) {
            Some(k) if k.is_short() => {
                return Err(ConfigError(format!(
                    "ADMIN_SESSION_KEY / admin_session_key must have at least {} characters",
                    Self::MIN_SECRET_LEN
                )));
            }
            Some(k) => SessionKey::derive(k.expose()),
            None => SessionKey::derive(secret.expose()),
        };
        Ok(AdminSettings {
            secret,
            key,
            secure_cookies,
            session_secs: Self::DEFAULT_SESSION_SECS,
            failure_delay: Duration::from_secs(1),
            sign_in_limits: SignInLimits::default(),
            gate: Arc::new(tokio::sync::Mutex::new(())),
            waiting: Arc::new(std::sync::atomic::AtomicUsize::new(0)),
        })
    }

    /// The settings the secrets call for: `None` (the page is off) when no
    /// administrator secret is configured, or when it (or the session key)
    /// is too short: then only `/admin` is switched off, with an error in
    /// the log naming the setting, and the broker still starts (issue 13:
    /// a short secret used to abort the whole start).
    pub fn from_secrets(
        secrets: &Secrets,
        secure_cookies: bool,
    ) -> Result<Option<Self>, ConfigError> {
        match secrets
            .admin_secret
            .as_ref()
            .filter(|s| !s.expose().is_empty())
        {
            None => Ok(None),
            Some(secret) => match Self::new(
                secret.clone(),
                secrets.admin_session_key.as_ref(),
                secure_cookies,
            ) {
                Ok(settings) => Ok(Some(settings)),
                Err(e) => {
                    tracing::error!("the administrator's page /admin is switched off: {e}");
                    Ok(None)
                }
            },
        }
    }

    /// Whether `presented`, sent from `from` at `now`, is the secret.
    ///
    /// In this process checks run one at a time, a wrong secret is answered
    /// after [`Self::failure_delay`], and no more than
    /// [`MAX_WAITING_SIGN_INS`] wait their turn (issue 13: the queue was
    /// unbounded, so a flood of guesses kept the administrator waiting).
    /// Then the attempt is counted in the store `counts`, shared by every
    /// process, before the secret is compared: beyond the window's limits it
    /// is not compared ([`SecretCheck::Throttled`]), nor when the store
    /// fails ([`SecretCheck::Unavailable`]). The right secret's count is
    /// given back. Never logs the secret.
    pub(super) async fn check_secret(
        &self,
        counts: &impl SignInThrottle,
        from: &ClientAddress,
        presented: &str,
        now: UnixMillis,
    ) -> SecretCheck {
        use std::sync::atomic::Ordering;
        if self.waiting.fetch_add(1, Ordering::SeqCst) >= MAX_WAITING_SIGN_INS {
            self.waiting.fetch_sub(1, Ordering::SeqCst);
            return SecretCheck::Busy;
        }
        let turn = self.gate.lock().await;
        self.waiting.fetch_sub(1, Ordering::SeqCst);
        let check = self.counted_check(counts, from, presented, now).await;
        drop(turn);
        check
    }

    /// The check once this process's turn has come: count, then compare.
    async fn counted_check(
        &self,
        counts: &impl SignInThrottle,
        from: &ClientAddress,
        presented: &str,
        now: UnixMillis,
    ) -> SecretCheck {
        let limits = &self.sign_in_limits;
        let (window, until) = limits.window_at(now);
        let attempt = SignInAttempt {
            window,
            until,
            address: from.as_str(),
            per_address: limits.per_address,
            global: limits.global,
        };
        match counts.take_sign_in(&attempt).await {
            Ok(SignInSlot::Taken) => {}
            Ok(limit) => {
                return SecretCheck::Throttled {
                    retry_after_secs: retry_after_secs(now, until),
                    global: limit == SignInSlot::GlobalLimit,
                };
            }
            Err(e) => {
                tracing::error!(address = %from, "admin sign-in attempt not counted: {e}");
                return SecretCheck::Unavailable;
            }
        }
        let ok =
            crate::intake::static_secret_matches(presented, std::slice::from_ref(&self.secret));
        if ok {
            // Why give it back: the counts bound guesses, and the right
            // secret is none; left counted, the administrator's own
            // sign-ins would use up the address's limit.
            if let Err(e) = counts.give_back_sign_in(window, from.as_str()).await {
                tracing::warn!(address = %from, "a right sign-in's count not given back: {e}");
            }
            return SecretCheck::Right;
        }
        tokio::time::sleep(self.failure_delay).await;
        SecretCheck::Wrong
    }

    /// The valid session of a request, if any.
    pub(super) fn session(&self, headers: &HeaderMap, now: UnixMillis) -> Option<Session> {
        session::cookie(headers, SESSION_COOKIE).and_then(|v| Session::decode(v, &self.key, now))
    }

    /// Adds a `Set-Cookie` with the page's flags to a response.
    pub(super) fn add_cookie(&self, r: &mut Response, name: &str, value: &str, max_age_secs: i64) {
        let cookie = session::set_cookie(name, value, max_age_secs, self.secure_cookies);
        // Names and values are our own (hex, base64url, checked names), so
        // they always make a valid header.
        if let Ok(v) = HeaderValue::from_str(&cookie) {
            r.headers_mut().append(header::SET_COOKIE, v);
        }
    }
}

#[cfg(test)]
mod short_secret_tests {
    use super::*;
    use crate::seats::memory::MemoryLedger;

    /// 2100-01-01T00:00:00Z, the start of a window.
    const T0: UnixMillis = 4_102_444_800_000;

    /// Issue 13: a short administrator secret switches `/admin` off (with
    /// a log line) instead of aborting the broker's start.
    #[test]
    fn a_short_admin_secret_switches_the_page_off_and_the_start_goes_on() {
        let short = Secrets {
            admin_secret: Some(Secret::new("too-short")),
            ..Secrets::default()
        };
        assert!(matches!(
            AdminSettings::from_secrets(&short, true),
            Ok(None)
        ));
        let short_key = Secrets {
            admin_secret: Some(Secret::new("a-long-enough-admin-secret")),
            admin_session_key: Some(Secret::new("short-key")),
            ..Secrets::default()
        };
        assert!(matches!(
            AdminSettings::from_secrets(&short_key, true),
            Ok(None)
        ));
        let fine = Secrets {
            admin_secret: Some(Secret::new("a-long-enough-admin-secret")),
            ..Secrets::default()
        };
        assert!(matches!(
            AdminSettings::from_secrets(&fine, true),
            Ok(Some(_))
        ));
    }

    /// Issue 13: a flood of wrong guesses queued without bound behind the
    /// one-at-a-time check, so the administrator waited for all of them.
    /// Beyond a few waiting, a check answers Busy at once.
    #[tokio::test]
    async fn a_flood_of_guesses_is_answered_busy_instead_of_queueing_for_ever() {
        let mut admin =
            AdminSettings::new(Secret::new("a-long-enough-admin-secret"), None, true).unwrap();
        admin.failure_delay = Duration::from_millis(100);
        let admin = Arc::new(admin);
        let store = Arc::new(MemoryLedger::new());
        let from = ClientAddress::from_ip([192, 0, 2, 1].into());
        let mut guesses = tokio::task::JoinSet::new();
        for _ in 0..12 {
            let (a, store, from) = (admin.clone(), store.clone(), from.clone());
            guesses.spawn(async move { a.check_secret(&*store, &from, "wrong-guess", T0).await });
        }
        let mut busy = 0;
        while let Some(r) = guesses.join_next().await {
            match r.unwrap() {
                SecretCheck::Busy => busy += 1,
                SecretCheck::Wrong => {}
                other => panic!("a wrong guess came to {other:?}"),
            }
        }
        assert!(busy >= 12 - MAX_WAITING_SIGN_INS - 1, "busy {busy}");
        assert_eq!(
            admin
                .check_secret(&*store, &from, "a-long-enough-admin-secret", T0)
                .await,
            SecretCheck::Right
        );
    }
}
