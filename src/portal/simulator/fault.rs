//! Scripted failures: [`Fault`] (where and how often) and [`FaultKind`]
//! (what happens to the request).
//!
//! Plain data: the state keeps and counts them down, the HTTP layer applies
//! them.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::duration_ms;

/// A scripted failure. Faults are checked in insertion order; the first one
/// whose `endpoint` matches the request applies.
///
/// JSON (for `POST /_sim/faults`):
/// `{"endpoint":"generateToken","kind":{"http_status":503},"times":2}`,
/// `{"kind":{"too_many_requests":{"retry_after_secs":1}}}`,
/// `{"kind":{"delay_ms":250}}`, `{"endpoint":"invite","kind":{"lose_reply_ms":5000}}`,
/// `{"endpoint":"invite","kind":{"late_success_ms":2000}}`,
/// `{"endpoint":"invite","kind":"not_invited"}`,
/// `{"endpoint":"portals/self/users","kind":"expire_tokens","times":1}`,
/// `{"kind":{"error_body":{"code":500,"message_code":null,"message":"Boom"}}}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fault {
    /// A path suffix matched on whole segments, case-insensitively
    /// (`"invite"`, `"portals/self/users"`, `"generateToken"`,
    /// `"FeatureServer/0/query"`; under the admin API `"createUser"` or
    /// `"portaladmin/security/users/createUser"`); `None` = any request
    /// the simulator serves (sharing API, hosted layers, admin API).
    #[serde(default)]
    pub endpoint: Option<String>,
    /// What happens.
    pub kind: FaultKind,
    /// How many matching requests it hits; `None` = until cleared.
    #[serde(default)]
    pub times: Option<u32>,
}

/// What an injected fault does to a request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultKind {
    /// Answer with this HTTP status and a plain-text body.
    HttpStatus(u16),
    /// HTTP 429 with a `Retry-After` header.
    TooManyRequests {
        /// Value of `Retry-After`, in seconds.
        retry_after_secs: u64,
    },
    /// Wait, then answer normally. Serialized as milliseconds.
    #[serde(rename = "delay_ms", with = "duration_ms")]
    Delay(Duration),
    /// Carry the request out, then hold the answer back this long: a
    /// reply lost on its way, or a success that comes after the client's
    /// deadline. The change is made either way, before the wait, so a
    /// client that gives up does not undo it. Serialized as milliseconds.
    #[serde(rename = "lose_reply_ms", with = "duration_ms")]
    LoseReply(Duration),
    /// Carry the request out only after this long, and then answer: a
    /// change the portal makes after the client's deadline, even when the
    /// client gave up meanwhile (so a look-up right after the timeout does
    /// not see it yet). Serialized as milliseconds.
    #[serde(rename = "late_success_ms", with = "duration_ms")]
    LateSuccess(Duration),
    /// HTTP 200 with this error object (under `/portaladmin` in the admin
    /// API's shape: `{"status":"error","messages":[message],"code"}`,
    /// `message_code` dropped).
    ErrorBody {
        /// `error.code`.
        code: i64,
        /// `error.messageCode`, omitted when `None`.
        #[serde(default)]
        message_code: Option<String>,
        /// `error.message`.
        message: String,
    },
    /// `portals/self/invite` lists every invitation in `notInvited` and
    /// creates nobody. Only invite requests consume it.
    NotInvited,
    /// Every token issued so far stops working (as
    /// [`PortalSimulator::expire_tokens`]), then the request is handled as
    /// usual, so it answers 498: a token expiring in the middle of a run,
    /// e.g. between two pages of a listing.
    ///
    /// [`PortalSimulator::expire_tokens`]: crate::portal::simulator::PortalSimulator::expire_tokens
    ExpireTokens,
}
