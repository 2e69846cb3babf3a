//! The administrator's pages as server-rendered HTML: no JavaScript, one
//! small stylesheet inlined (allowed by its hash in the Content-Security-
//! Policy), tables that scroll sideways on a phone.
//!
//! Every value that comes from outside (names, e-mail addresses, comments,
//! pool names, audit details) goes through [`esc`]; ids in URLs also go
//! through [`path_segment`]. The templates are plain `format!` calls, so
//! reading one shows exactly what is sent.
//!
//! A flash message after a redirect never carries text from the URL: the
//! query names one of our own messages ([`Flash`], [`PoolFlash`]) and
//! anything else shows nothing.

use std::fmt::Write as _;
use std::sync::LazyLock;

use base64::Engine as _;
use sha2::{Digest, Sha256};

use super::charts::{self, Usage};
use crate::domain::UnixMillis;
use crate::domain::date::{DAY_MS, Day};
// One escaping for every page the broker renders (the approval links' too).
use crate::entrypoints::http::pages::esc;
use crate::notify::RequestView;
use crate::policy::lifecycle::{EndAction, Lifecycle};
use crate::provisioning::history::SignupHistory;
use crate::provisioning::roster::{LastSignIn, MemberRow};
use crate::provisioning::status::PoolStatus;
use crate::provisioning::{PoolDetail, SignIns};
use crate::seats::{AuditEvent, Hold, Stage};

/// Days of sign-ups the charts show.
pub const HISTORY_DAYS: usize = 30;
/// The recent days whose sign-ups make the rate a projection uses.
pub const RATE_DAYS: usize = 14;

/// The stylesheet, inlined in every page.
const CSS: &str = "\
:root{color-scheme:light dark;font-family:system-ui,-apple-system,'Segoe UI',sans-serif}\
body{margin:0 auto;max-width:75rem;padding:1rem;line-height:1.4}\
header{display:flex;flex-wrap:wrap;gap:.5rem;justify-content:space-between;align-items:center}\
h1{font-size:1.3rem;margin:0}h2{font-size:1.1rem;margin:1.6rem 0 .5rem}\
.scroll{overflow-x:auto;-webkit-overflow-scrolling:touch}\
table{border-collapse:collapse;width:100%;font-size:.95rem}\
th,td{padding:.45rem .5rem;border-bottom:1px solid #8885;text-align:left;vertical-align:top;white-space:nowrap}\
td.wrap{white-space:normal;min-width:12rem}.num{text-align:right}\
.flash{padding:.6rem .8rem;border-radius:.4rem;border:1px solid #2a7;background:#2a72;margin:1rem 0}\
.flash.warn{border-color:#c80;background:#c802}\
form.decide{display:flex;flex-wrap:wrap;gap:.4rem;min-width:16rem}\
form.inline{display:inline;margin:0}\
input{padding:.5rem;font-size:1rem;max-width:100%;box-sizing:border-box}\
button{padding:.5rem .9rem;font-size:1rem;border-radius:.3rem;border:1px solid #888;cursor:pointer}\
button.approve{background:#1a7f37;border-color:#1a7f37;color:#fff}\
button.deny{background:#b42318;border-color:#b42318;color:#fff}\
form.extend{display:flex;gap:.3rem;align-items:center;margin:0 0 .3rem}form.extend input{width:10.5rem}\
a.button{display:inline-block;padding:.5rem .9rem;border-radius:.3rem;border:1px solid #888;text-decoration:none}\
a.danger{background:#b42318;border-color:#b42318;color:#fff}tr:target{outline:2px solid #2a7}\
dl.facts{display:grid;grid-template-columns:max-content 1fr;gap:.3rem 1rem}dl.facts dt{font-weight:600}dl.facts dd{margin:0}\
.muted{color:#888}.small{font-size:.85rem}\
a{color:inherit}h1 a{text-decoration:none}svg.chart{max-width:100%;height:auto;vertical-align:middle;overflow:visible}td.usage svg.chart{max-width:none}\
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(min(100%,23rem),1fr));gap:.8rem}\
.card{border:1px solid #8885;border-radius:.5rem;padding:.6rem .8rem;margin:0;min-width:0}\
.card h3{font-size:1rem;margin:0 0 .4rem;display:flex;justify-content:space-between;gap:.5rem}\
.card p{margin:.4rem 0 0}.legend{display:flex;flex-wrap:wrap;gap:.3rem 1rem;margin:.5rem 0;padding:0;list-style:none}\
.sw{display:inline-block;width:.8rem;height:.8rem;border-radius:.15rem;vertical-align:-.1rem;margin-right:.3rem;border:1px solid #8888}\
.sw.active{background:#1a7f37}.sw.reserved{background:#b7791f}.sw.pending{background:#8250df}.sw.free{background:#8884}\
.ended{color:#b42318;font-weight:600}\
.login{max-width:24rem;margin:3rem auto}.login label{display:block;margin:.8rem 0 .2rem}\
.login input{width:100%}.login button{margin-top:1rem;width:100%}\
@media (max-width:40rem){body{padding:.6rem}th,td{padding:.35rem}}";

/// The CSP source that allows exactly the inlined stylesheet.
pub static STYLE_HASH: LazyLock<String> = LazyLock::new(|| {
    format!(
        "'sha256-{}'",
        base64::engine::general_purpose::STANDARD.encode(Sha256::digest(CSS.as_bytes()))
    )
});

/// Percent-encodes one URL path segment (everything but unreserved
/// characters), so an id can never leave its segment.
pub fn path_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// A time for people: `2026-11-23 14:05 UTC`.
pub fn time(ms: UnixMillis) -> String {
    match chrono::DateTime::from_timestamp_millis(ms) {
        Some(t) => t.format("%Y-%m-%d %H:%M UTC").to_string(),
        None => "-".to_string(),
    }
}

/// The page frame: head, stylesheet, body.
fn page(title: &str, body: &str) -> String {
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
<meta name=\"referrer\" content=\"no-referrer\">\
<title>{}</title><style>{CSS}</style></head><body>{body}</body></html>\n",
        esc(title)
    )
}

/// Why the sign-in form is shown again: a stable code (the alert's
/// `data-code`, for scripts and tests) and the message for people.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoginError<'a> {
    /// Stable code (`wrong_secret`, `sign_in_throttled`, …).
    pub code: &'a str,
    /// What the person is told.
    pub message: &'a str,
}

/// The login form. `csrf` is the login token; `error` is one of our own
/// messages.
pub fn login(csrf: &str, name: &str, error: Option<LoginError<'_>>) -> String {
    let error = error
        .map(|e| {
            format!(
                "<p class=\"flash warn\" role=\"alert\" data-code=\"{}\">{}</p>",
                esc(e.code),
                esc(e.message)
            )
        })
        .unwrap_or_default();
    page(
        "Sign in · agol-seat-broker",
        &format!(
            "<main class=\"login\"><h1>agol-seat-broker administration</h1>{error}\
<form method=\"post\" action=\"/admin/login\">\
<input type=\"hidden\" name=\"csrf\" value=\"{}\">\
<label for=\"name\">Your name (decisions are recorded under it)</label>\
<input id=\"name\" name=\"name\" value=\"{}\" autocomplete=\"username\" required maxlength=\"64\">\
<label for=\"secret\">Administrator secret</label>\
<input id=\"secret\" name=\"secret\" type=\"password\" autocomplete=\"current-password\" required>\
<button type=\"submit\" id=\"login\">Sign in</button></form></main>",
            esc(csrf),
            esc(name)
        ),
    )
}

/// A message shown once after a redirect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flash {
    /// The request was approved (the member is being created).
    Approved,
    /// The request was denied.
    Denied,
    /// Someone decided first; the state they left it in.
    AlreadyDecided(&'static str),
    /// The request expired before the decision.
    Expired,
    /// No such request.
    NotFound,
    /// Approval needs a seat and the pool has none free.
    PoolFull,
    /// The store or queue failed: try again.
    Unavailable,
}

impl Flash {
    /// The query string of the redirect that shows it.
    pub fn query(self) -> String {
        match self {
            Flash::Approved => "done=approved".into(),
            Flash::Denied => "done=denied".into(),
            Flash::AlreadyDecided(state) => format!("done=already_decided&state={state}"),
            Flash::Expired => "done=expired".into(),
            Flash::NotFound => "done=not_found".into(),
            Flash::PoolFull => "done=pool_full".into(),
            Flash::Unavailable => "done=unavailable".into(),
        }
    }

    /// Reads a redirect's query back; unknown values show nothing, so no
    /// text from the URL ever reaches the page.
    pub fn parse(done: Option<&str>, state: Option<&str>) -> Option<Flash> {
        Some(match done? {
            "approved" => Flash::Approved,
            "denied" => Flash::Denied,
            "already_decided" => Flash::AlreadyDecided(
                state
                    .and_then(crate::domain::RequestState::parse)
                    .map(|s| s.as_str())
                    .unwrap_or("decided"),
            ),
            "expired" => Flash::Expired,
            "not_found" => Flash::NotFound,
            "pool_full" => Flash::PoolFull,
            "unavailable" => Flash::Unavailable,
            _ => return None,
        })
    }

    fn render(self) -> String {
        let (class, text) = match self {
            Flash::Approved => (
                "flash",
                "Approved: the member is being created in ArcGIS Online.".to_string(),
            ),
            Flash::Denied => ("flash", "Denied: the applicant gets no seat.".to_string()),
            Flash::AlreadyDecided(state) => (
                "flash warn",
                format!("Nothing changed: this request was already {state}."),
            ),
            Flash::Expired => (
                "flash warn",
                "Nothing changed: this request has expired.".to_string(),
            ),
            Flash::NotFound => (
                "flash warn",
                "Nothing changed: no such request.".to_string(),
            ),
            Flash::PoolFull => (
                "flash warn",
                "Nothing changed: the pool has no free seat. Approve again when one frees."
                    .to_string(),
            ),
            Flash::Unavailable => (
                "flash warn",
                "Nothing was decided: the seat store or the queue is unavailable. Try again."
                    .to_string(),
            ),
        };
        format!(
            "<p class=\"{class}\" role=\"status\" id=\"flash\">{}</p>",
            esc(&text)
        )
    }
}

/// The stable codes of a refused seat action (`SeatActionError::code`)
/// with what the pool's page says about each; [`PoolFlash::parse`] knows
/// only these.
const REFUSALS: &[(&str, &str)] = &[
    (
        "seat_not_found",
        "Nothing changed: this person holds no seat in this pool.",
    ),
    (
        "seat_not_active",
        "Nothing changed: the seat is not active (its member is still being created, or waits for approval).",
    ),
    (
        "seat_changed",
        "Nothing changed: the seat changed meanwhile. Look at it again and retry.",
    ),
    (
        "no_lifecycle",
        "Nothing changed: this pool has no [pools.lifecycle] at_end action to reclaim with.",
    ),
    (
        "end_in_past",
        "Nothing changed: the new last day must be today or later.",
    ),
    (
        "store_unavailable",
        "Nothing changed: the seat store is unavailable. Try again.",
    ),
    (
        "seat_protected",
        "Nothing changed: this seat is never reclaimed (the broker's own account, an organization administrator, or a member on the [lifecycle] keep list).",
    ),
    (
        "portal_unavailable",
        "Nothing changed: ArcGIS did not say who holds this seat. Try again.",
    ),
];

/// What became of a reclaimed seat in the portal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReclaimedAs {
    /// Deleted; the seat was given back.
    Deleted,
    /// Downgraded; the seat was given back.
    Downgraded,
    /// Disabled (the pool's action); the seat stays held.
    Disabled,
    /// Disabled because the member owns content; the seat stays held.
    DisabledOwnsContent,
}

impl ReclaimedAs {
    const ALL: [ReclaimedAs; 4] = [
        ReclaimedAs::Deleted,
        ReclaimedAs::Downgraded,
        ReclaimedAs::Disabled,
        ReclaimedAs::DisabledOwnsContent,
    ];

    fn as_str(self) -> &'static str {
        match self {
            ReclaimedAs::Deleted => "deleted",
            ReclaimedAs::Downgraded => "downgraded",
            ReclaimedAs::Disabled => "disabled",
            ReclaimedAs::DisabledOwnsContent => "disabled_owns_content",
        }
    }
}

/// A message shown once on a pool's page after an action on a seat.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PoolFlash {
    /// The seat now ends after `until` (its new last day, UTC).
    Extended {
        /// The new last day.
        until: Day,
    },
    /// The seat was ended now with the pool's action.
    Reclaimed {
        /// What the portal did.
        how: ReclaimedAs,
        /// Whether the member was told.
        told: bool,
        /// People admitted from the waitlist into the seat.
        admitted: u32,
    },
    /// Refused, nothing changed: one of the stable codes of
    /// `SeatActionError::code`.
    Refused {
        /// The code.
        code: &'static str,
    },
}

impl PoolFlash {
    /// A refusal by its stable code; `None` for a code the page does not
    /// know.
    pub fn refused(code: &str) -> Option<PoolFlash> {
        REFUSALS
            .iter()
            .find(|(c, _)| *c == code)
            .map(|(c, _)| PoolFlash::Refused { code: c })
    }

    /// The query string of the redirect that shows it.
    pub fn query(self) -> String {
        match self {
            PoolFlash::Extended { until } => format!("done=extended&until={until}"),
            PoolFlash::Reclaimed {
                how,
                told,
                admitted,
            } => format!(
                "done=reclaimed&how={}&told={}&admitted={admitted}",
                how.as_str(),
                u8::from(told)
            ),
            PoolFlash::Refused { code } => format!("done=refused&code={code}"),
        }
    }

    /// Reads a redirect's query back; anything unknown shows nothing.
    pub fn parse(q: &std::collections::HashMap<String, String>) -> Option<PoolFlash> {
        let get = |k: &str| q.get(k).map(String::as_str);
        match get("done")? {
            "extended" => Some(PoolFlash::Extended {
                until: Day::parse(get("until")?).ok()?,
            }),
            "reclaimed" => Some(PoolFlash::Reclaimed {
                how: ReclaimedAs::ALL
                    .into_iter()
                    .find(|h| Some(h.as_str()) == get("how"))?,
                told: get("told") != Some("0"),
                admitted: get("admitted").and_then(|n| n.parse().ok()).unwrap_or(0),
            }),
            "refused" => PoolFlash::refused(get("code")?),
            _ => None,
        }
    }

    fn render(self) -> String {
        let (class, code, text) = match self {
            PoolFlash::Extended { until } => (
                "flash",
                "extended",
                format!(
                    "Extended: the seat's last day is now {until}; it ends at {}.",
                    time(until.end())
                ),
            ),
            PoolFlash::Reclaimed {
                how,
                told,
                admitted,
            } => {
                let (class, mut text) = match how {
                    ReclaimedAs::Deleted => (
                        "flash",
                        "Reclaimed: the member was deleted in ArcGIS Online and the seat given back to the pool.".to_string(),
                    ),
                    ReclaimedAs::Downgraded => (
                        "flash",
                        "Reclaimed: the member was downgraded in ArcGIS Online and the seat given back to the pool.".to_string(),
                    ),
                    ReclaimedAs::Disabled => (
                        "flash warn",
                        "Disabled in ArcGIS Online: the portal still counts a disabled member, so the seat stays held until the member is deleted.".to_string(),
                    ),
                    ReclaimedAs::DisabledOwnsContent => (
                        "flash warn",
                        "Disabled, not deleted: the member owns content. The seat stays held until the content is moved and the member deleted.".to_string(),
                    ),
                };
                if !told {
                    text.push_str(" The member was NOT told: the portal refused the notice.");
                }
                match admitted {
                    0 => {}
                    1 => text.push_str(" 1 waiting person was admitted."),
                    n => text.push_str(&format!(" {n} waiting people were admitted.")),
                }
                (class, how.as_str(), text)
            }
            PoolFlash::Refused { code } => {
                let message = REFUSALS
                    .iter()
                    .find(|(c, _)| *c == code)
                    .map_or("Nothing changed.", |(_, m)| m);
                ("flash warn", code, format!("{message} ({code})"))
            }
        };
        let role = if class == "flash" { "status" } else { "alert" };
        format!(
            "<p class=\"{class}\" role=\"{role}\" id=\"flash\" data-code=\"{}\">{}</p>",
            esc(code),
            esc(&text)
        )
    }
}

/// Everything the dashboard shows.
pub struct Dashboard<'a> {
    /// The signed-in administrator.
    pub name: &'a str,
    /// The session's CSRF token, put in every form.
    pub csrf: &'a str,
    /// The message of the last action, if any.
    pub flash: Option<Flash>,
    /// Seats per pool.
    pub pools: &'a [PoolStatus],
    /// Requests waiting for a decision, oldest first.
    pub pending: &'a [RequestView],
    /// Requests waiting for a seat, in queue order.
    pub waitlist: &'a [RequestView],
    /// Recent audit events, newest first.
    pub events: &'a [AuditEvent],
    /// Sign-ups per pool and day (`None`: the trail could not be read).
    pub history: Option<&'a SignupHistory>,
    /// A part of the page could not be read (store trouble).
    pub degraded: bool,
}

/// The top of every signed-in page: the title, who is signed in, and the
/// sign-out button.
fn header(name: &str, csrf: &str) -> String {
    format!(
        "<header><h1><a href=\"/admin\">agol-seat-broker</a></h1><div class=\"small\">Signed in as <b id=\"who\">{}</b> \
<form class=\"inline\" method=\"post\" action=\"/admin/logout\">\
<input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
<button type=\"submit\" id=\"logout\">Sign out</button></form></div></header>",
        esc(name)
    )
}

/// The administrator's page.
pub fn dashboard(d: &Dashboard<'_>) -> String {
    let csrf = esc(d.csrf);
    let mut body = header(d.name, &csrf);
    if let Some(f) = d.flash {
        body.push_str(&f.render());
    }
    if d.degraded {
        body.push_str(
            "<p class=\"flash warn\" role=\"alert\">Part of this page could not be read from the seat store; reload to try again.</p>",
        );
    }
    body.push_str(&pools(d.pools, d.pending, d.history));
    body.push_str(&signups(d.pools, d.history));
    body.push_str(&pending(d.pending, &csrf));
    body.push_str(&waitlist(d.waitlist));
    body.push_str(&events(d.events));
    page(
        "Administration · agol-seat-broker",
        &format!("<main>{body}</main>"),
    )
}

/// A pool's numbers as its usage bar draws them; `pending_without_seat`:
/// its pending requests that hold no seat yet.
fn usage(p: &PoolStatus, pending_without_seat: u32) -> Usage {
    Usage {
        seats: p.seats,
        used: p.used,
        active: p.active,
        reserved: p.reserved,
        pending: pending_without_seat,
        free: p.free,
    }
}

/// Pending requests of `pool` that hold no seat yet.
fn pending_without_seat(pending: &[RequestView], pool: &str) -> u32 {
    let n = pending
        .iter()
        .filter(|r| r.pool == pool && !r.holds_seat)
        .count();
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// When `p` fills at the rate of the last [`RATE_DAYS`] days; `None`
/// without a history.
fn projection(p: &PoolStatus, history: Option<&SignupHistory>) -> Option<charts::Projection> {
    history.map(|h| charts::project(p.seats, p.free, &h.recent(&p.pool, RATE_DAYS), h.last_day))
}

/// The link to a pool's own page.
fn pool_link(pool: &str) -> String {
    format!(
        "<a href=\"/admin/pools/{}\">{}</a>",
        esc(&path_segment(pool)),
        esc(pool)
    )
}

fn pools(pools: &[PoolStatus], pending: &[RequestView], history: Option<&SignupHistory>) -> String {
    let mut rows = String::new();
    for p in pools {
        let outlook = projection(p, history)
            .map(|pr| {
                format!(
                    "<span title=\"{}\">{}</span>",
                    esc(&pr.sentence()),
                    esc(&pr.short())
                )
            })
            .unwrap_or_else(|| "<span class=\"muted\">-</span>".into());
        let _ = write!(
            rows,
            "<tr id=\"pool-{}\"><td>{}</td><td class=\"usage\">{}</td><td class=\"num seats\">{}</td><td class=\"num used\">{}</td>\
<td class=\"num reserved\">{}</td><td class=\"num pending\">{}</td><td class=\"num waitlisted\">{}</td>\
<td class=\"num free\">{}</td><td class=\"outlook\">{outlook}</td></tr>",
            esc(&path_segment(&p.pool)),
            pool_link(&p.pool),
            charts::usage_bar(&p.pool, &usage(p, pending_without_seat(pending, &p.pool))),
            p.seats,
            p.used,
            p.reserved,
            p.pending,
            p.waitlisted,
            p.free
        );
    }
    format!(
        "<section id=\"pools\"><h2>Pools</h2>{}<div class=\"scroll\"><table><thead><tr><th>Pool</th><th>Usage</th>\
<th class=\"num\">Seats</th><th class=\"num\">Used</th><th class=\"num\">Reserved</th>\
<th class=\"num\">Pending</th><th class=\"num\">Waitlisted</th><th class=\"num\">Free</th><th>Outlook</th></tr></thead>\
<tbody>{rows}</tbody></table></div></section>",
        legend()
    )
}

/// What the usage bars' colours mean.
fn legend() -> &'static str {
    "<ul class=\"legend small\" aria-hidden=\"true\"><li><span class=\"sw active\"></span>active</li>\
<li><span class=\"sw reserved\"></span>reserved (being set up)</li>\
<li><span class=\"sw pending\"></span>pending approval</li><li><span class=\"sw free\"></span>free</li></ul>"
}

/// A note when the history is missing or partial; empty otherwise.
fn history_note(history: Option<&SignupHistory>) -> &'static str {
    match history {
        None => {
            "<p class=\"flash warn\" role=\"alert\">Sign-ups could not be read from the audit trail; reload to try again.</p>"
        }
        Some(h) if !h.complete => {
            "<p class=\"small muted\">The audit trail holds more events than one page reads: the latest days may miss some sign-ups.</p>"
        }
        Some(_) => "",
    }
}

/// Sign-ups per day and the projection, one card per pool.
fn signups(pools: &[PoolStatus], history: Option<&SignupHistory>) -> String {
    let mut cards = String::new();
    if let Some(h) = history {
        for p in pools {
            let counts = h.pool(&p.pool);
            let total: u64 = counts.iter().map(|&c| u64::from(c)).sum();
            let _ = write!(
                cards,
                "<figure class=\"card\" id=\"signups-{}\"><h3>{}<span class=\"small muted\">{total} in {} days</span></h3>\
{}<p class=\"projection small\">{}</p></figure>",
                esc(&path_segment(&p.pool)),
                pool_link(&p.pool),
                h.days,
                charts::signups_chart(&p.pool, &counts, h.last_day),
                projection(p, Some(h))
                    .map(|pr| esc(&pr.sentence()))
                    .unwrap_or_default()
            );
        }
    }
    format!(
        "<section id=\"signups\"><h2>Sign-ups, last {HISTORY_DAYS} days</h2>{}<div class=\"cards\">{cards}</div></section>",
        history_note(history)
    )
}

/// Everything a pool's page shows.
pub struct PoolPage<'a> {
    /// The signed-in administrator.
    pub name: &'a str,
    /// The session's CSRF token, put in every form.
    pub csrf: &'a str,
    /// The message of the last action on a seat, if any.
    pub flash: Option<PoolFlash>,
    /// The pool, its numbers and members.
    pub detail: &'a PoolDetail,
    /// Sign-ups per pool and day (`None`: the trail could not be read).
    pub history: Option<&'a SignupHistory>,
    /// The current time (what has ended).
    pub now: UnixMillis,
}

/// A pool's page: its usage, sign-ups, projection and member list.
pub fn pool_page(d: &PoolPage<'_>) -> String {
    let csrf = esc(d.csrf);
    let p = &d.detail.status;
    let seg = path_segment(&p.pool);
    let mut body = header(d.name, &csrf);
    let _ = write!(
        body,
        "<p class=\"small\"><a href=\"/admin\" id=\"back\">&larr; All pools</a></p><h2 id=\"pool-title\">Pool {}</h2>",
        esc(&p.pool)
    );
    if let Some(f) = d.flash {
        body.push_str(&f.render());
    }
    let u = usage(p, d.detail.pending_without_seat);
    let _ = write!(
        body,
        "<section id=\"usage\">{}{}<p class=\"small\">{} seats · {} active · {} reserved · {} pending · {} waitlisted · {} free. {}</p></section>",
        charts::usage_bar(&p.pool, &u),
        legend(),
        p.seats,
        p.active,
        p.reserved,
        p.pending,
        p.waitlisted,
        p.free,
        esc(&lifecycle_summary(d.detail))
    );
    let _ = write!(
        body,
        "<section id=\"signups\"><h2>Sign-ups, last {HISTORY_DAYS} days</h2>{}",
        history_note(d.history)
    );
    if let Some(h) = d.history {
        let _ = write!(
            body,
            "<figure class=\"card\" id=\"signups-{}\">{}<p class=\"projection\">{}</p></figure>",
            esc(&seg),
            charts::signups_chart(&p.pool, &h.pool(&p.pool), h.last_day),
            projection(p, Some(h))
                .map(|pr| esc(&pr.sentence()))
                .unwrap_or_default()
        );
    }
    body.push_str("</section>");
    body.push_str(&members(d, &seg));
    page(
        &format!("Pool {} · agol-seat-broker", p.pool),
        &format!("<main>{body}</main>"),
    )
}

/// What the pool's lifecycle does to a seat, in a sentence.
fn lifecycle_summary(d: &PoolDetail) -> String {
    let Some(lc) = &d.lifecycle else {
        return "Seats do not end.".into();
    };
    let after = lc
        .expires_after_days
        .map(|n| format!("{n} days after activation"));
    let on = lc.ends_on.map(|day| format!("after {day}"));
    let ends = match (after, on) {
        (Some(a), Some(o)) => format!("Seats end {a}, and {o} at the latest"),
        (Some(a), None) => format!("Seats end {a}"),
        (None, Some(o)) => format!("Seats end {o}"),
        (None, None) => "Seats do not expire".into(),
    };
    format!("{ends} (then: {}).", lc.at_end.as_str())
}

/// A claim's stage for people.
fn stage(s: Stage) -> &'static str {
    match s {
        Stage::Active => "active",
        Stage::Reserved(Hold::InFlight) => "reserved: being created",
        Stage::Reserved(Hold::Approval) => "reserved: awaiting approval",
        Stage::Reserved(Hold::Queued) => "reserved: queued",
        Stage::Reserved(Hold::Unknown) => "reserved: checking the portal",
    }
}

/// The time a seat ends and how far off that is.
fn ends(at: Option<UnixMillis>, now: UnixMillis) -> String {
    match at {
        None => "<span class=\"muted\">-</span>".into(),
        Some(at) if at <= now => {
            format!("{}<br><span class=\"ended small\">ended</span>", time(at))
        }
        Some(at) => {
            let when = match (at - now) / DAY_MS {
                0 => "today".to_string(),
                1 => "in 1 day".to_string(),
                n => format!("in {n} days"),
            };
            format!("{}<br><span class=\"muted small\">{when}</span>", time(at))
        }
    }
}

/// A last sign-in for people.
fn last_sign_in(s: LastSignIn) -> String {
    match s {
        LastSignIn::NotRead => "<span class=\"muted\" title=\"not read\">&mdash;</span>".into(),
        LastSignIn::Never => "never".into(),
        LastSignIn::At(at) => time(at),
        LastSignIn::NotGiven => "<span class=\"muted\">not reported</span>".into(),
        LastSignIn::NotListed => "<span class=\"muted\">not in the organization</span>".into(),
    }
}

/// The last day of a seat ending at `ends_at` (exclusive).
fn last_day(ends_at: UnixMillis) -> Day {
    Day::of(ends_at.saturating_sub(1))
}

/// `day` plus `n` days.
fn plus_days(day: Day, n: i64) -> Day {
    Day::of(day.start().saturating_add(n.saturating_mul(DAY_MS)))
}

/// The path of an action on one member's seat (`extend`, `reclaim`).
fn member_path(pool_segment: &str, person: &str, action: &str) -> String {
    format!(
        "/admin/pools/{pool_segment}/members/{}/{action}",
        path_segment(person)
    )
}

/// The actions on one member's seat, for ACTIVE seats only: a form moving
/// the seat's last day (filled in with 30 days past the current end, or
/// past today when it has ended), and a link to the confirmation page of
/// reclaiming it now. `csrf` is already escaped. Without a lifecycle seats
/// do not end, so there is nothing to extend or reclaim.
fn member_actions(
    row: &MemberRow,
    pool_segment: &str,
    csrf: &str,
    lifecycle: Option<&Lifecycle>,
    now: UnixMillis,
) -> String {
    if row.stage != Stage::Active {
        return String::new();
    }
    if lifecycle.is_none() {
        return "<span class=\"muted small\">no lifecycle: extend and reclaim unavailable</span>"
            .into();
    }
    let today = Day::of(now);
    let from = row
        .ends_at
        .filter(|&e| e > now)
        .map_or(today, last_day)
        .max(today);
    let id = esc(&path_segment(&row.person));
    format!(
        "<form class=\"extend\" method=\"post\" action=\"{}\">\
<input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
<input type=\"date\" id=\"until-{id}\" name=\"until\" value=\"{}\" min=\"{today}\" required \
aria-label=\"New last day of the seat (UTC)\" title=\"New last day of the seat (UTC)\">\
<button type=\"submit\" class=\"extend\">Extend</button></form>\
<a class=\"button danger reclaim\" href=\"{}\">Reclaim now&hellip;</a>",
        esc(&member_path(pool_segment, &row.person, "extend")),
        plus_days(from, 30),
        esc(&member_path(pool_segment, &row.person, "reclaim")),
    )
}

/// The member list: one row per seat.
fn members(d: &PoolPage<'_>, seg: &str) -> String {
    if d.detail.members.is_empty() {
        return "<section id=\"members\"><h2>Members</h2><p class=\"muted\">Nobody holds a seat in this pool.</p></section>".into();
    }
    let csrf = esc(d.csrf);
    let note = match &d.detail.sign_ins {
        SignIns::NotRead => format!(
            "<p class=\"small muted\" id=\"signin-note\">Last sign-ins are not read on every visit: they take a listing of the whole \
ArcGIS Online organization. <a href=\"/admin/pools/{}?signins=1\" id=\"read-signins\">Read them now</a>.</p>",
            esc(seg)
        ),
        SignIns::Read => format!(
            "<p class=\"small muted\" id=\"signin-note\">Last sign-ins as ArcGIS Online reported them at {}.</p>",
            time(d.now)
        ),
        SignIns::Unavailable(why) => format!(
            "<p class=\"flash warn\" role=\"alert\" id=\"signin-note\">Last sign-ins could not be read: {}. Try again later.</p>",
            esc(why)
        ),
    };
    let mut rows = String::new();
    for m in &d.detail.members {
        let _ = write!(
            rows,
            "<tr id=\"member-{}\"><td>{}</td><td>{}</td><td class=\"state\">{}</td><td class=\"activated\">{}</td>\
<td class=\"ends\">{}</td><td class=\"signin\">{}</td><td class=\"actions\">{}</td></tr>",
            esc(&path_segment(&m.person)),
            esc(&m.person),
            m.username
                .as_deref()
                .map(esc)
                .unwrap_or_else(|| "<span class=\"muted\">-</span>".into()),
            stage(m.stage),
            m.activated_at.map(time).unwrap_or_else(|| format!(
                "<span class=\"muted\">reserved {}</span>",
                time(m.reserved_at)
            )),
            ends(m.ends_at, d.now),
            last_sign_in(m.last_sign_in),
            member_actions(m, seg, &csrf, d.detail.lifecycle.as_ref(), d.now),
        );
    }
    format!(
        "<section id=\"members\"><h2>Members ({})</h2>{note}<div class=\"scroll\"><table><thead><tr>\
<th>Person</th><th>Username</th><th>State</th><th>Activated</th><th>Seat ends</th><th>Last sign-in</th>\
<th>Actions</th></tr></thead><tbody>{rows}</tbody></table></div></section>",
        d.detail.members.len()
    )
}

/// A page naming a pool the rules do not have.
pub fn no_such_pool(name: &str, csrf: &str, pool: &str) -> String {
    page(
        "No such pool · agol-seat-broker",
        &format!(
            "<main>{}<p class=\"flash warn\" role=\"alert\" id=\"no-pool\">The rules have no pool named <b>{}</b>. \
<a href=\"/admin\">Back to all pools</a>.</p></main>",
            header(name, &esc(csrf)),
            esc(pool)
        ),
    )
}

/// A signed-in page saying why an action on a seat did nothing (bad
/// input, a seat that cannot be reclaimed, a portal that did not do it):
/// `code` is a stable code (the alert's `data-code`), `message` is text
/// (escaped here), with a way back to the pool's page.
pub fn seat_notice(name: &str, csrf: &str, pool: &str, code: &str, message: &str) -> String {
    page(
        "Nothing changed · agol-seat-broker",
        &format!(
            "<main>{}<p class=\"flash warn\" role=\"alert\" id=\"notice\" data-code=\"{}\">{}</p>\
<p><a href=\"/admin/pools/{}\" id=\"back\">&larr; Back to pool {}</a></p></main>",
            header(name, &esc(csrf)),
            esc(code),
            esc(message),
            esc(&path_segment(pool)),
            esc(pool)
        ),
    )
}

/// What reclaiming a seat does with the pool's lifecycle, in a sentence.
fn what_reclaiming_does(lc: &Lifecycle) -> String {
    use crate::domain::compat::{CURRENT_USER_TYPES, KNOWN_ROLES};
    const BACK: &str =
        "the seat goes back to the pool and the first person on its waitlist, if any, is admitted";
    match (lc.at_end, &lc.downgrade_to) {
        (EndAction::Delete, _) => format!(
            "The member is told through ArcGIS Online, then deleted; {BACK}. \
A member who owns content is disabled instead, and the seat stays held until the content is moved."
        ),
        (EndAction::Downgrade, Some(to)) => format!(
            "The member is told through ArcGIS Online, then downgraded to {} · {}; {BACK}.",
            display_name(&to.role, KNOWN_ROLES),
            display_name(&to.user_type, CURRENT_USER_TYPES)
        ),
        (EndAction::Downgrade, None) => {
            "The member is told through ArcGIS Online, then downgraded; the rules name no role to downgrade to, so this will fail.".into()
        }
        (EndAction::Disable, _) => "The member is told through ArcGIS Online, then disabled. \
ArcGIS Online still counts a disabled member, so the seat stays held until the member is deleted."
            .into(),
    }
}

/// Everything the confirmation page of reclaiming a seat shows.
pub struct ReclaimConfirm<'a> {
    /// The signed-in administrator.
    pub name: &'a str,
    /// The session's CSRF token, put in the form.
    pub csrf: &'a str,
    /// The pool.
    pub pool: &'a str,
    /// The seat, ACTIVE.
    pub row: &'a MemberRow,
    /// The pool's lifecycle: its end action is what reclaiming does.
    pub lifecycle: &'a Lifecycle,
    /// The current time.
    pub now: UnixMillis,
}

/// The confirmation page of reclaiming a seat now: who, what will happen,
/// and the one button that does it (a POST with the session's token).
/// Showing it changes nothing.
pub fn reclaim_confirm(c: &ReclaimConfirm<'_>) -> String {
    let csrf = esc(c.csrf);
    let seg = path_segment(c.pool);
    let r = c.row;
    page(
        &format!("Reclaim {}? · agol-seat-broker", r.person),
        &format!(
            "<main>{}<h2 id=\"confirm-title\">Reclaim the seat of {} now?</h2>\
<dl class=\"facts\"><dt>Person</dt><dd id=\"confirm-person\">{}</dd><dt>Username</dt><dd>{}</dd>\
<dt>Pool</dt><dd>{}</dd><dt>Activated</dt><dd>{}</dd><dt>Seat ends</dt><dd>{}</dd></dl>\
<p id=\"what-happens\">{}</p><p class=\"small muted\">This cannot be undone from this page; the audit trail records it under your name.</p>\
<form method=\"post\" action=\"{}\" class=\"decide\"><input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
<button type=\"submit\" class=\"deny\" id=\"confirm-reclaim\">Reclaim now</button>\
<a class=\"button\" href=\"/admin/pools/{}\" id=\"cancel\">Cancel</a></form></main>",
            header(c.name, &csrf),
            esc(&r.person),
            esc(&r.person),
            r.username
                .as_deref()
                .map(esc)
                .unwrap_or_else(|| "<span class=\"muted\">-</span>".into()),
            esc(c.pool),
            r.activated_at.map(time).unwrap_or_else(|| "-".into()),
            ends(r.ends_at, c.now),
            esc(&what_reclaiming_does(c.lifecycle)),
            esc(&member_path(&seg, &r.person, "reclaim")),
            esc(&seg),
        ),
    )
}

/// Name, e-mail and organization of an applicant, escaped.
fn applicant(r: &RequestView) -> String {
    let name = [r.first_name.as_deref(), r.last_name.as_deref()]
        .into_iter()
        .flatten()
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    let mut s = String::new();
    if !name.is_empty() {
        let _ = write!(s, "<b>{}</b><br>", esc(&name));
    }
    let _ = write!(s, "{}", esc(&r.email));
    if let Some(org) = r.organization.as_deref().filter(|o| !o.is_empty()) {
        let _ = write!(s, "<br><span class=\"muted\">{}</span>", esc(org));
    }
    s
}

/// The display name of a built-in role or current user type id; other ids
/// (custom roles, legacy types) as they are.
fn display_name<'a>(id: &'a str, table: &'static [(&'static str, &'static str)]) -> &'a str {
    table
        .iter()
        .find(|(i, _)| *i == id)
        .map_or(id, |(_, name)| *name)
}

/// Role, user type and groups, escaped, and whether a seat is held.
fn grants(r: &RequestView) -> String {
    use crate::domain::compat::{CURRENT_USER_TYPES, KNOWN_ROLES};
    let mut s = format!(
        "{} · {}",
        esc(display_name(&r.role, KNOWN_ROLES)),
        esc(display_name(&r.user_type, CURRENT_USER_TYPES))
    );
    if !r.groups.is_empty() {
        let groups: Vec<String> = r.groups.iter().map(|g| esc(g)).collect();
        let _ = write!(s, "<br><span class=\"muted\">{}</span>", groups.join(", "));
    }
    if r.holds_seat {
        s.push_str("<br><span class=\"small\">seat held</span>");
    }
    s
}

fn pending(requests: &[RequestView], csrf: &str) -> String {
    if requests.is_empty() {
        return "<section id=\"pending\"><h2>Pending requests</h2><p class=\"muted\">No request waits for a decision.</p></section>".into();
    }
    let mut rows = String::new();
    for r in requests {
        let id = path_segment(&r.id);
        let _ = write!(
            rows,
            "<tr id=\"req-{id}\"><td class=\"wrap\">{}</td><td>{}</td><td class=\"wrap\">{}</td>\
<td>{}</td><td>{}</td><td>\
<form class=\"decide\" method=\"post\" action=\"/admin/requests/{id}/decide\">\
<input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
<input name=\"comment\" placeholder=\"Comment (optional)\" maxlength=\"500\" aria-label=\"Comment\">\
<button class=\"approve\" type=\"submit\" name=\"verdict\" value=\"approve\">Approve</button>\
<button class=\"deny\" type=\"submit\" name=\"verdict\" value=\"deny\">Deny</button>\
</form></td></tr>",
            applicant(r),
            esc(&r.pool),
            grants(r),
            time(r.created_at),
            time(r.expires_at),
        );
    }
    format!(
        "<section id=\"pending\"><h2>Pending requests ({})</h2><div class=\"scroll\"><table><thead><tr>\
<th>Applicant</th><th>Pool</th><th>Role · user type · groups</th><th>Requested</th><th>Expires</th>\
<th>Decision</th></tr></thead><tbody>{rows}</tbody></table></div></section>",
        requests.len()
    )
}

fn waitlist(requests: &[RequestView]) -> String {
    if requests.is_empty() {
        return "<section id=\"waitlist\"><h2>Waitlist</h2><p class=\"muted\">Nobody is waiting for a seat.</p></section>".into();
    }
    let mut rows = String::new();
    for r in requests {
        let _ = write!(
            rows,
            "<tr id=\"wait-{}\"><td class=\"num\">{}</td><td class=\"wrap\">{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            path_segment(&r.id),
            r.position
                .map(|p| p.to_string())
                .unwrap_or_else(|| "-".into()),
            applicant(r),
            esc(&r.pool),
            time(r.created_at),
            time(r.expires_at),
        );
    }
    format!(
        "<section id=\"waitlist\"><h2>Waitlist ({})</h2><div class=\"scroll\"><table><thead><tr>\
<th class=\"num\">#</th><th>Applicant</th><th>Pool</th><th>Since</th><th>Expires</th></tr></thead>\
<tbody>{rows}</tbody></table></div></section>",
        requests.len()
    )
}

fn events(events: &[AuditEvent]) -> String {
    if events.is_empty() {
        return "<section id=\"audit\"><h2>Recent decisions</h2><p class=\"muted\">Nothing recorded yet.</p></section>".into();
    }
    let mut rows = String::new();
    for e in events {
        let _ = write!(
            rows,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"wrap\">{}</td></tr>",
            time(e.at),
            esc(&e.actor),
            esc(&e.action),
            esc(e.pool.as_deref().unwrap_or("")),
            esc(e.person.as_deref().unwrap_or("")),
            esc(&e.detail),
        );
    }
    format!(
        "<section id=\"audit\"><h2>Recent decisions and changes</h2><div class=\"scroll\"><table><thead><tr>\
<th>When</th><th>Who</th><th>What</th><th>Pool</th><th>Person</th><th>Detail</th></tr></thead>\
<tbody>{rows}</tbody></table></div></section>"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_covers_markup_and_both_quotes() {
        assert_eq!(
            esc(r#"<a href="x" onclick='y'>&</a>"#),
            "&lt;a href=&quot;x&quot; onclick=&#39;y&#39;&gt;&amp;&lt;/a&gt;"
        );
        assert_eq!(esc("José Núñez"), "José Núñez");
    }

    #[test]
    fn path_segments_cannot_escape() {
        assert_eq!(path_segment("ab12-_.~"), "ab12-_.~");
        assert_eq!(path_segment("../x?y#z"), "..%2Fx%3Fy%23z");
        assert_eq!(path_segment("\"><"), "%22%3E%3C");
    }

    #[test]
    fn times_are_utc_minutes() {
        assert_eq!(time(0), "1970-01-01 00:00 UTC");
        assert_eq!(time(1_795_000_000_000), "2026-11-18 11:06 UTC");
    }

    #[test]
    fn flashes_round_trip_and_ignore_anything_else() {
        for f in [
            Flash::Approved,
            Flash::Denied,
            Flash::AlreadyDecided("APPROVED"),
            Flash::Expired,
            Flash::NotFound,
            Flash::PoolFull,
            Flash::Unavailable,
        ] {
            let q = f.query();
            let mut done = None;
            let mut state = None;
            for pair in q.split('&') {
                match pair.split_once('=') {
                    Some(("done", v)) => done = Some(v),
                    Some(("state", v)) => state = Some(v),
                    _ => {}
                }
            }
            assert_eq!(Flash::parse(done, state), Some(f));
        }
        assert_eq!(Flash::parse(Some("<script>"), None), None);
        assert_eq!(
            Flash::parse(Some("already_decided"), Some("<b>")),
            Some(Flash::AlreadyDecided("decided"))
        );
    }

    #[test]
    fn roles_and_user_types_show_their_names() {
        use crate::domain::compat::{CURRENT_USER_TYPES, KNOWN_ROLES};
        assert_eq!(display_name("iAAAAAAAAAAAAAAA", KNOWN_ROLES), "Viewer");
        assert_eq!(display_name("creatorUT", CURRENT_USER_TYPES), "Creator");
        assert_eq!(
            display_name("aBcDeFgHiJkLmNoP", KNOWN_ROLES),
            "aBcDeFgHiJkLmNoP"
        );
    }

    #[test]
    fn the_style_hash_is_a_csp_source() {
        assert!(STYLE_HASH.starts_with("'sha256-") && STYLE_HASH.ends_with("='"));
    }

    #[test]
    fn the_login_page_escapes_what_it_echoes() {
        let html = login(
            "tok\"en",
            "<b>ana</b>",
            Some(LoginError {
                code: "wrong_secret",
                message: "Wrong <secret>",
            }),
        );
        assert!(html.contains("data-code=\"wrong_secret\""));
        assert!(html.contains("value=\"tok&quot;en\""));
        assert!(html.contains("&lt;b&gt;ana&lt;/b&gt;"));
        assert!(html.contains("Wrong &lt;secret&gt;"));
        assert!(!html.contains("<b>ana"));
        assert!(!html.contains("<script"));
    }

    fn detail(pool: &str, members: Vec<MemberRow>, sign_ins: SignIns) -> PoolDetail {
        PoolDetail {
            status: PoolStatus {
                pool: pool.into(),
                seats: 4,
                used: 2,
                reserved: 1,
                active: 1,
                pending: 0,
                waitlisted: 0,
                free: 2,
                holders: Vec::new(),
                waitlist: Vec::new(),
                failed: Vec::new(),
            },
            pending_without_seat: 0,
            lifecycle: None,
            members,
            sign_ins,
        }
    }

    #[test]
    fn a_pool_page_escapes_its_members_and_fills_the_actions_cell_of_active_seats() {
        const NOW: UnixMillis = 1_795_000_000_000;
        let members = vec![
            MemberRow {
                person: "<i>eve</i>@x.org".into(),
                username: Some("eve\"x".into()),
                stage: Stage::Active,
                reserved_at: NOW - DAY_MS,
                activated_at: Some(NOW - DAY_MS),
                ends_at: Some(NOW - 1),
                last_sign_in: LastSignIn::Never,
            },
            MemberRow {
                person: "bo@x.org".into(),
                username: None,
                stage: Stage::Reserved(Hold::Approval),
                reserved_at: NOW,
                activated_at: None,
                ends_at: None,
                last_sign_in: LastSignIn::NotRead,
            },
        ];
        let d = detail(
            "p<1>",
            members,
            SignIns::Unavailable("<portal> down".into()),
        );
        let html = pool_page(&PoolPage {
            name: "ana",
            csrf: "t\"k",
            flash: None,
            detail: &d,
            history: None,
            now: NOW,
        });
        assert!(html.contains("id=\"member-%3Ci%3Eeve%3C%2Fi%3E%40x.org\""));
        assert!(html.contains("<td>&lt;i&gt;eve&lt;/i&gt;@x.org</td><td>eve&quot;x</td>"));
        assert!(html.contains("<span class=\"ended small\">ended</span>"));
        assert!(html.contains("<td class=\"state\">reserved: awaiting approval</td>"));
        // Without a lifecycle nothing ends: the active seat says so, the
        // reserved one has no actions.
        assert_eq!(html.matches("<td class=\"actions\"></td>").count(), 1);
        assert!(html.contains("no lifecycle: extend and reclaim unavailable"));
        assert!(!html.contains("/extend") && !html.contains("/reclaim"));
        assert!(html.contains("Last sign-ins could not be read: &lt;portal&gt; down."));
        assert!(html.contains("Sign-ups could not be read from the audit trail"));
        assert!(html.contains("Pool p&lt;1&gt;") && !html.contains("p<1>"));
        assert!(html.contains("Seats do not end."));
        assert!(html.contains("value=\"t&quot;k\""));
        assert!(!html.contains("<script") && !html.contains("<i>"));
    }

    fn lifecycle(at_end: EndAction) -> Lifecycle {
        Lifecycle {
            expires_after_days: Some(180),
            ends_at: None,
            ends_on: None,
            warn_before_days: 0,
            at_end,
            downgrade_to: None,
            reclaim_after_days_inactive: None,
            reclaim_never_signed_in_after_days: None,
        }
    }

    fn active(person: &str, ends_at: Option<UnixMillis>) -> MemberRow {
        MemberRow {
            person: person.into(),
            username: Some("o_brien".into()),
            stage: Stage::Active,
            reserved_at: 0,
            activated_at: Some(0),
            ends_at,
            last_sign_in: LastSignIn::NotRead,
        }
    }

    #[test]
    fn an_active_seat_gets_an_extend_form_and_a_reclaim_link() {
        // 2026-12-03 00:00 UTC
        const NOW: UnixMillis = 1_796_256_000_000;
        let lc = lifecycle(EndAction::Delete);
        // Ends after 2026-12-10: the form suggests 30 days past that.
        let row = active("o'brien@acme.org", Some(NOW + 8 * DAY_MS));
        let html = member_actions(&row, "acme", "t&quot;k", Some(&lc), NOW);
        assert!(html.contains(
            "<form class=\"extend\" method=\"post\" action=\"/admin/pools/acme/members/o%27brien%40acme.org/extend\">"
        ));
        assert!(html.contains("name=\"csrf\" value=\"t&quot;k\""));
        assert!(html.contains("name=\"until\" value=\"2027-01-09\" min=\"2026-12-03\""));
        assert!(html.contains("href=\"/admin/pools/acme/members/o%27brien%40acme.org/reclaim\""));
        assert!(!html.contains("o'brien"));
        // An ended seat: 30 days from today.
        let ended = member_actions(
            &active("a@x.org", Some(NOW - 1)),
            "acme",
            "t",
            Some(&lc),
            NOW,
        );
        assert!(ended.contains("value=\"2027-01-02\""), "{ended}");
        // Nothing for a seat not active yet.
        let mut reserved = active("a@x.org", None);
        reserved.stage = Stage::Reserved(Hold::InFlight);
        assert_eq!(member_actions(&reserved, "acme", "t", Some(&lc), NOW), "");
    }

    #[test]
    fn pool_flashes_round_trip_and_ignore_anything_else() {
        let parse = |q: &str| {
            PoolFlash::parse(
                &url::form_urlencoded::parse(q.as_bytes())
                    .into_owned()
                    .collect(),
            )
        };
        let mut flashes = vec![PoolFlash::Extended {
            until: Day::parse("2027-01-09").unwrap(),
        }];
        for how in ReclaimedAs::ALL {
            for told in [true, false] {
                flashes.push(PoolFlash::Reclaimed {
                    how,
                    told,
                    admitted: 2,
                });
            }
        }
        for (code, _) in REFUSALS {
            flashes.push(PoolFlash::Refused { code });
        }
        for f in flashes {
            assert_eq!(parse(&f.query()), Some(f), "{}", f.query());
        }
        for junk in [
            "done=extended&until=<b>",
            "done=refused&code=<script>",
            "done=reclaimed&how=eaten",
            "done=approved",
            "",
        ] {
            assert_eq!(parse(junk), None, "{junk}");
        }
        let html = PoolFlash::Refused {
            code: "seat_not_active",
        }
        .render();
        assert!(
            html.contains("data-code=\"seat_not_active\"") && html.contains("(seat_not_active)")
        );
    }

    #[test]
    fn every_refusal_of_a_seat_action_has_a_message() {
        use crate::provisioning::reclaim::SeatActionError as E;
        for e in [
            E::NotFound,
            E::NotActive,
            E::Changed,
            E::NoLifecycle("acme".into()),
            E::EndInPast,
            E::Store,
        ] {
            assert!(PoolFlash::refused(e.code()).is_some(), "{}", e.code());
        }
    }

    #[test]
    fn the_reclaim_confirmation_names_the_action_and_escapes() {
        const NOW: UnixMillis = 1_796_256_000_000;
        let row = active("<i>o'brien</i>@acme.org", Some(NOW + DAY_MS));
        for (action, says) in [
            (EndAction::Delete, "then deleted"),
            (EndAction::Disable, "the seat stays held"),
            (EndAction::Downgrade, "no role to downgrade to"),
        ] {
            let html = reclaim_confirm(&ReclaimConfirm {
                name: "ana",
                csrf: "t\"k",
                pool: "acme",
                row: &row,
                lifecycle: &lifecycle(action),
                now: NOW,
            });
            assert!(html.contains(says), "{action:?}");
            assert!(html.contains(
                "action=\"/admin/pools/acme/members/%3Ci%3Eo%27brien%3C%2Fi%3E%40acme.org/reclaim\""
            ));
            assert!(html.contains("&lt;i&gt;o&#39;brien&lt;/i&gt;@acme.org"));
            assert!(html.contains("value=\"t&quot;k\""));
            assert!(!html.contains("<i>") && !html.contains("<script"));
        }
    }
}
