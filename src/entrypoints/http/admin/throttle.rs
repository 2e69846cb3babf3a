//! The administrator's sign-in throttle in the store: [`SignInLimits`]
//! (how many attempts a window allows) and [`ClientAddress`] (whose
//! attempts they are).
//!
//! Issue 13: the throttle used to live in each process only (one check at a
//! time, a delay on a wrong secret, a bounded queue), so the Lambda
//! instances each guessed at their own pace and together without bound.
//! Now every attempt is counted in the ledger ([`SignInThrottle`]), which
//! every process shares:
//!
//! - **Windows.** Time is cut into fixed windows of [`SignInLimits::window`]
//!   (15 minutes) from the epoch; each window counts from zero.
//! - **Counts.** Before the secret is compared, the attempt takes a slot:
//!   one atomic write that counts it for its address and in all, only while
//!   the address has fewer than [`SignInLimits::per_address`] (10) and all
//!   addresses fewer than [`SignInLimits::global`] (100). Taking the slot
//!   before comparing, in one conditional write, is what keeps parallel
//!   guesses (one per Lambda instance) from overshooting: a read, then a
//!   write after the comparison would let every instance in flight through.
//!   The right secret gives its slot back, so the counts are the wrong
//!   guesses (and the checks in flight).
//! - **Beyond a limit** the sign-in is answered 429 (`sign_in_throttled`,
//!   with `Retry-After`: the seconds to the window's end) and the secret is
//!   not compared, so the right one is refused too.
//! - **A store failure does not open the gate**: when the slot cannot be
//!   taken, the sign-in is answered 503 (`sign_in_unavailable`), the secret
//!   is not compared and no session is made.
//! - **The address** is the one API Gateway saw (the Lambda's request
//!   context: `sourceIp`), the last `X-Forwarded-For` hop behind an ALB (the
//!   one the load balancer appended), the socket's peer on the local server,
//!   else `unknown` (one key all such requests share). IPv6 addresses count
//!   by their /64 network, which one subscriber usually holds whole.
//!   Why not the first `X-Forwarded-For` hop: API Gateway appends to the
//!   header the client sent, so its first hop is whatever the client wrote,
//!   and a guesser would give each guess a fresh address.
//!
//! The per-process bound stays as it was ([`super::settings`]: one check
//! at a time, a delay after a wrong secret, at most
//! [`super::settings::MAX_WAITING_SIGN_INS`] waiting, else 429
//! `sign_in_busy`): it protects the process; the counts protect the secret.
//!
//! # The trade-off of the global limit
//!
//! A flood from other addresses does not lock the administrator out: their
//! guesses use up their own addresses' counts, and the right secret from
//! the administrator's address still signs in, until all addresses together
//! reach the global limit. From then on, for the rest of the window (at
//! most 15 minutes), every sign-in is refused, the administrator's too: the
//! price of a bound that many addresses cannot multiply. It is worth
//! paying because the secret has at least 16 characters, which `docs/admin-page.md`
//! asks to be random: at 100 guesses per 15 minutes (under 3.6 million a
//! year) the odds of guessing one are negligible with or without the cap.
//! So the global limit bounds the cost of guessing (store writes, functions
//! held by the delay), not its odds; a sign-in session, once made, is not
//! affected.

use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use axum::extract::ConnectInfo;
use axum::http::{Extensions, HeaderMap};
use lambda_http::request::RequestContext;

use crate::domain::UnixMillis;
#[cfg(doc)]
use crate::seats::SignInThrottle;

/// How many sign-in attempts a window allows; see the module docs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SignInLimits {
    /// Most attempts counted for one client address in a window.
    pub per_address: u32,
    /// Most attempts counted for all addresses together in a window.
    pub global: u32,
    /// How long a window lasts.
    pub window: Duration,
}

impl SignInLimits {
    /// Default attempts per address and window.
    pub const DEFAULT_PER_ADDRESS: u32 = 10;
    /// Default attempts of all addresses per window.
    pub const DEFAULT_GLOBAL: u32 = 100;
    /// Default window: 15 minutes.
    pub const DEFAULT_WINDOW: Duration = Duration::from_secs(15 * 60);

    /// The window `now` falls in: its start and its end (epoch
    /// milliseconds). Windows are cut from the epoch, so every process
    /// agrees on them; a window shorter than a millisecond counts as one.
    pub fn window_at(&self, now: UnixMillis) -> (UnixMillis, UnixMillis) {
        let len = i64::try_from(self.window.as_millis())
            .unwrap_or(i64::MAX)
            .max(1);
        let start = now.saturating_sub(now.rem_euclid(len));
        (start, start.saturating_add(len))
    }
}

impl Default for SignInLimits {
    fn default() -> Self {
        SignInLimits {
            per_address: Self::DEFAULT_PER_ADDRESS,
            global: Self::DEFAULT_GLOBAL,
            window: Self::DEFAULT_WINDOW,
        }
    }
}

/// Whole seconds from `now` to `until`, at least 1: a `Retry-After` that
/// never tells a client to come back before the window has ended.
pub fn retry_after_secs(now: UnixMillis, until: UnixMillis) -> u64 {
    let ms = until.saturating_sub(now).max(0);
    u64::try_from(ms.div_euclid(1000) + i64::from(ms.rem_euclid(1000) != 0))
        .unwrap_or(u64::MAX)
        .max(1)
}

/// The key a client's sign-in attempts are counted under; see the module
/// docs for where it comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientAddress(String);

impl ClientAddress {
    /// The key of requests whose address is not known.
    pub const UNKNOWN: &'static str = "unknown";

    /// The address of a request, from what the server that received it
    /// left in its extensions: the Lambda's request context, or the local
    /// server's peer address.
    pub fn of(extensions: &Extensions, headers: &HeaderMap) -> Self {
        let ip = match extensions.get::<RequestContext>() {
            Some(context) => lambda_source(context, headers),
            None => extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|ConnectInfo(peer)| peer.ip()),
        };
        ip.map_or_else(|| ClientAddress(Self::UNKNOWN.into()), Self::from_ip)
    }

    /// The key of an IP address: an IPv4 address (an IPv4-mapped IPv6 one
    /// too) as it is, an IPv6 one as its /64 network.
    pub fn from_ip(ip: IpAddr) -> Self {
        match ip.to_canonical() {
            IpAddr::V4(v4) => ClientAddress(v4.to_string()),
            IpAddr::V6(v6) => {
                let [a, b, c, d, ..] = v6.segments();
                ClientAddress(format!("{}/64", Ipv6Addr::new(a, b, c, d, 0, 0, 0, 0)))
            }
        }
    }

    /// The key as stored.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for ClientAddress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// The client's address as the AWS service in front of the Lambda saw it.
fn lambda_source(context: &RequestContext, headers: &HeaderMap) -> Option<IpAddr> {
    match context {
        RequestContext::ApiGatewayV2(c) => parse_ip(c.http.source_ip.as_deref()?),
        RequestContext::ApiGatewayV1(c) => parse_ip(c.identity.source_ip.as_deref()?),
        // Why the last hop: the load balancer appends the address it saw;
        // every hop before it is the client's to write.
        RequestContext::Alb(_) => headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .next_back()
            .and_then(parse_ip),
        _ => None,
    }
}

fn parse_ip(text: &str) -> Option<IpAddr> {
    text.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_are_cut_from_the_epoch_and_retry_after_rounds_up() {
        let limits = SignInLimits::default();
        let w = 15 * 60 * 1000;
        assert_eq!(limits.window_at(3 * w + 5), (3 * w, 4 * w));
        assert_eq!(limits.window_at(4 * w), (4 * w, 5 * w));
        assert_eq!(limits.window_at(i64::MIN).0, i64::MIN);
        assert_eq!(retry_after_secs(0, 1_001), 2);
        assert_eq!(retry_after_secs(0, 1_000), 1);
        assert_eq!(retry_after_secs(5_000, 1_000), 1, "never 0");
    }

    #[test]
    fn ipv6_addresses_count_by_their_64_network_and_mapped_ipv4_as_ipv4() {
        let key = |s: &str| ClientAddress::from_ip(s.parse().unwrap()).0;
        assert_eq!(key("2001:db8:1:2:aaaa::1"), "2001:db8:1:2::/64");
        assert_eq!(key("2001:db8:1:2:bbbb::9"), "2001:db8:1:2::/64");
        assert_eq!(key("::ffff:198.51.100.7"), "198.51.100.7");
        assert_eq!(key("198.51.100.7"), "198.51.100.7");
    }

    #[test]
    fn without_a_request_context_or_a_peer_the_address_is_unknown() {
        let mut headers = HeaderMap::new();
        headers.insert("x-forwarded-for", "203.0.113.1".parse().unwrap());
        assert_eq!(
            ClientAddress::of(&Extensions::new(), &headers).as_str(),
            ClientAddress::UNKNOWN,
            "a header alone is never trusted"
        );
        let mut ext = Extensions::new();
        ext.insert(ConnectInfo(SocketAddr::from(([192, 0, 2, 4], 50_000))));
        assert_eq!(ClientAddress::of(&ext, &headers).as_str(), "192.0.2.4");
    }
}
