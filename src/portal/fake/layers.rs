//! [`FeatureLayers`] for [`FakePortal`]: records kept per checked layer URL,
//! found by global id in any case.
//!
//! It refuses a bad layer URL or global id exactly as the real client does,
//! before anything is looked up, so callers' refusal paths are exercised.

use serde_json::{Map, Value};

use super::{FakePortal, rejected};
use crate::domain::layer_url::{LayerUrl, globalid_literal};
use crate::portal::error::PortalError;
use crate::portal::layers::FeatureLayers;

impl FeatureLayers for FakePortal {
    async fn feature_by_globalid(
        &self,
        layer_url: &str,
        globalid: &str,
    ) -> Result<Option<Map<String, Value>>, PortalError> {
        // Same refusals as the real client, before anything is looked up.
        let layer = LayerUrl::parse(layer_url).map_err(PortalError::Config)?;
        let Some(wanted) = globalid_literal(globalid) else {
            return Err(rejected("invalid_argument", "the global id is not a GUID"));
        };
        let mut s = self.lock();
        if let Some(err) = s.read_failures.pop_front() {
            return Err(err);
        }
        Ok(s.layers.get(layer.as_str()).and_then(|records| {
            records
                .iter()
                .find(|r| {
                    r.get("globalid")
                        .and_then(Value::as_str)
                        .and_then(globalid_literal)
                        .is_some_and(|id| id == wanted)
                })
                .cloned()
        }))
    }
}
