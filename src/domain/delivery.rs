//! [`DeliveryKey`]: the idempotency key of one webhook delivery.

use serde::{Deserialize, Serialize};

/// Identifies one delivery of one webhook by one sender: the idempotency key.
/// Retries of the same delivery carry the same key.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct DeliveryKey {
    /// Which intake adapter received it (`standard`, `okta`, …), so two
    /// senders' ids can never collide.
    pub source: String,
    /// The sender's own id for the delivery (`webhook-id`, event uuid, …).
    pub id: String,
}

impl DeliveryKey {
    /// Longest delivery id accepted; longer ids are refused at intake.
    pub const MAX_ID_LEN: usize = 256;

    /// The key as one string, `source:id`.
    pub fn as_string(&self) -> String {
        format!("{}:{}", self.source, self.id)
    }
}
