//! What a sign-up may be given besides its pool's defaults: the approval
//! step ([`ApprovalMode`]) and the per-request [`Overrides`] a sender's
//! configuration or a CSV row brings.

use serde::{Deserialize, Serialize};

/// Whether sign-ups need a person's approval.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ApprovalMode {
    /// Seats are given on sign-up.
    #[default]
    None,
    /// A sign-up becomes a pending request until approved or denied.
    Manual,
}

/// Values that win over the pool's defaults. Empty for webhooks; a CSV
/// import row fills in what its columns name.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Overrides {
    /// Role id instead of the pool's.
    #[serde(default)]
    pub role: Option<String>,
    /// User type id instead of the pool's.
    #[serde(default)]
    pub user_type: Option<String>,
    /// Group titles instead of the pool's.
    #[serde(default)]
    pub groups: Option<Vec<String>>,
    /// Create exactly the request's username, without numbered alternatives.
    #[serde(default)]
    pub exact_username: bool,
    /// The sender's approval setting instead of the pool's (a per-source
    /// override: e.g. forms need approval, the identity provider does not).
    #[serde(default)]
    pub approval: Option<ApprovalMode>,
}
