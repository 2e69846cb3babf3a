//! [`SimNotification`]: one message the simulated portal would have sent
//! to one member (`portals/self/createNotification`), as tests inspect it.
//!
//! Plain data: who may send one and to whom are `state`'s rules.

use serde::{Deserialize, Serialize};

/// A notification to one member, as `createNotification` recorded it (one
/// per named user).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SimNotification {
    /// The recipient's username, exactly as the request named it.
    pub username: String,
    /// The subject (empty when the request sent none).
    pub subject: String,
    /// The message.
    pub message: String,
    /// `notificationChannelType`: `email` or `builtin`.
    pub channel: String,
}
