//! [`SimItem`]: an item of a member's content, as tests seed and inspect
//! it (`PortalSimulator::seed_item`).
//!
//! Plain data: who may read a member's content and what owning it blocks
//! are `state`'s rules.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::domain::UnixMillis;

/// An item in a member's root folder (the simulator has no other
/// folders).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SimItem {
    /// Item id: 32 lower-case hex characters.
    pub id: String,
    /// The owner's username, exactly as seeded.
    pub owner: String,
    /// Title.
    pub title: String,
    /// When it was added (epoch ms).
    pub created: UnixMillis,
}

/// An item id: 32 lower-case hex characters derived from the owner, the
/// title and the item's sequence number (unique within the simulator).
pub(super) fn item_id(owner: &str, title: &str, seq: u64) -> String {
    Sha256::digest(format!("item/{owner}/{title}/{seq}").as_bytes())
        .iter()
        .take(16)
        .map(|b| format!("{b:02x}"))
        .collect()
}
