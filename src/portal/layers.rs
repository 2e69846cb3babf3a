//! [`FeatureLayers`]: the port the Survey123 re-read calls to read one
//! record of a hosted feature layer with the broker's token.
//!
//! Only the contract lives here; the URL and global id checks it promises
//! are in [`crate::domain::layer_url`]. The contract must never be loosened
//! to accept a layer URL from a payload: the token travels to it.

use std::future::Future;

use serde_json::{Map, Value};

use super::error::PortalError;

/// Hosted feature layers, read with the administrator's token.
pub trait FeatureLayers: Send + Sync {
    /// One record of a hosted feature layer by its global id, with the
    /// broker's token: `GET {layer_url}/query?where=GlobalID='{GUID}'
    /// &outFields=*&returnGeometry=false&f=json`. Returns its attributes,
    /// `Ok(None)` when no record has that id.
    ///
    /// `layer_url` must come from the configuration, never from a payload
    /// (the token travels to it); it is checked again with
    /// [`crate::domain::LayerUrl::parse`]. `globalid` must be a GUID (any case, with
    /// or without braces); anything else is refused before a request is
    /// sent, so the `where` clause cannot be injected.
    fn feature_by_globalid(
        &self,
        layer_url: &str,
        globalid: &str,
    ) -> impl Future<Output = Result<Option<Map<String, Value>>, PortalError>> + Send;
}
