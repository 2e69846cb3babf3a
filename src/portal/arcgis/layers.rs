//! [`FeatureLayers`] for [`ArcGisPortal`]: one record of a hosted feature
//! layer by global id, read with the administrator's token.
//!
//! The layer URL and the global id are checked before anything is sent
//! (the `where` clause is built only from a checked GUID), and an answer
//! is trusted only for the record it was asked for. It must not send the
//! token to a URL that did not pass [`LayerUrl::parse`].

use serde_json::Value;

use super::transport::Call;
use super::{ArcGisPortal, decode};
use crate::domain::layer_url::{LayerUrl, globalid_literal, globalid_where};
use crate::portal::error::PortalError;
use crate::portal::layers::FeatureLayers;
use crate::portal::wire::FeatureSet;

impl FeatureLayers for ArcGisPortal {
    /// `GET {layer_url}/query?where=GlobalID='{GUID}'&outFields=*
    /// &returnGeometry=false&f=json` with the token in the header, through
    /// the same token renewal, retries and error classification as every
    /// sharing API call. More than one matching record is a protocol error
    /// (a global id is unique).
    async fn feature_by_globalid(
        &self,
        layer_url: &str,
        globalid: &str,
    ) -> Result<Option<serde_json::Map<String, Value>>, PortalError> {
        let layer = LayerUrl::parse(layer_url).map_err(PortalError::Config)?;
        let (Some(where_clause), Some(literal)) =
            (globalid_where(globalid), globalid_literal(globalid))
        else {
            return Err(PortalError::Rejected {
                code: "invalid_argument".into(),
                message: "the global id is not a GUID".into(),
            });
        };
        let call = feature_query(&layer, where_clause);
        let what = call.path();
        let v = self.call(call).await?;
        let set: FeatureSet = decode(v, &what)?;
        pick_feature(set, &literal, &what)
    }
}

/// The query of one record by global id (the `where` clause already
/// checked): parameters in the order they are sent.
fn feature_query(layer: &LayerUrl, where_clause: String) -> Call {
    Call::get_at(
        layer.url().clone(),
        &["query"],
        vec![
            ("where", where_clause),
            ("outFields", "*".into()),
            ("returnGeometry", "false".into()),
        ],
    )
}

/// The record of a feature set whose global id is `literal` (`{UPPER}`).
/// The id field is the answer's `globalIdFieldName`, else any field named
/// `globalid` in any case. A record without the id field is trusted to be
/// the one the `where` clause selected; one with another id is not.
fn pick_feature(
    set: FeatureSet,
    literal: &str,
    what: &str,
) -> Result<Option<serde_json::Map<String, Value>>, PortalError> {
    let Some(features) = set.features else {
        return Err(PortalError::Protocol(format!(
            "{what} answered without features"
        )));
    };
    let field = set.global_id_field_name.filter(|f| !f.trim().is_empty());
    let mut found = Vec::new();
    for attributes in features.into_iter().filter_map(|f| f.attributes) {
        let id = attributes
            .iter()
            .find(|(k, _)| match &field {
                Some(f) => k.eq_ignore_ascii_case(f),
                None => k.eq_ignore_ascii_case("globalid"),
            })
            .map(|(_, v)| v.as_str().and_then(globalid_literal));
        match id {
            // Why: a server that ignored the `where` clause must not hand
            // another person's record to the caller.
            Some(Some(id)) if id == literal => found.push(attributes),
            Some(_) => {}
            None => found.push(attributes),
        }
    }
    match found.len() {
        0 => Ok(None),
        1 => Ok(found.pop()),
        n => Err(PortalError::Protocol(format!(
            "{what} answered with {n} records for one global id"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::portal::arcgis::transport;
    use crate::portal::arcgis::{ArcGisConfig, Credentials};
    use url::Url;

    #[test]
    fn a_record_query_gets_the_layer_with_a_braced_upper_case_globalid() {
        let layer = LayerUrl::parse(
            "https://services9.arcgis.com/AbCdEf/arcgis/rest/services/survey123_0123_form/FeatureServer/0/",
        )
        .unwrap();
        let call = feature_query(
            &layer,
            globalid_where("7d1e0c5a-1111-4222-8333-944455566677").unwrap(),
        );
        assert_eq!(call.method, transport::Method::Get);
        assert_eq!(call.base.as_ref().map(Url::as_str), Some(layer.as_str()));
        assert_eq!(call.segments, vec!["query".to_string()]);
        assert_eq!(
            call.params,
            vec![
                (
                    "where",
                    "GlobalID='{7D1E0C5A-1111-4222-8333-944455566677}'".to_string()
                ),
                ("outFields", "*".to_string()),
                ("returnGeometry", "false".to_string()),
            ]
        );
        assert_eq!(
            call.path(),
            "services9.arcgis.com/AbCdEf/arcgis/rest/services/survey123_0123_form/FeatureServer/0/query"
        );
    }

    #[test]
    fn only_the_record_with_the_asked_globalid_is_taken() {
        let literal = "{7D1E0C5A-1111-4222-8333-944455566677}";
        let set = |v: serde_json::Value| -> FeatureSet { serde_json::from_value(v).unwrap() };
        let ours = serde_json::json!({"globalid": literal, "email": "a@b.org"});
        let theirs = serde_json::json!({"globalid": "{00000000-1111-4222-8333-944455566677}"});
        let got = pick_feature(
            set(serde_json::json!({"globalIdFieldName": "globalid",
                "features": [{"attributes": theirs}, {"attributes": ours}]})),
            literal,
            "q",
        )
        .unwrap()
        .unwrap();
        assert_eq!(got["email"], "a@b.org");
        // Lower case without braces in the answer is the same id.
        let lower = serde_json::json!({"GlobalID": "7d1e0c5a-1111-4222-8333-944455566677"});
        assert!(
            pick_feature(
                set(serde_json::json!({"features": [{"attributes": lower}]})),
                literal,
                "q"
            )
            .unwrap()
            .is_some()
        );
        assert_eq!(
            pick_feature(set(serde_json::json!({"features": []})), literal, "q").unwrap(),
            None
        );
        assert_eq!(
            pick_feature(
                set(serde_json::json!({"features": [{"attributes": theirs}]})),
                literal,
                "q"
            )
            .unwrap(),
            None
        );
        assert!(matches!(
            pick_feature(set(serde_json::json!({"fields": []})), literal, "q"),
            Err(PortalError::Protocol(_))
        ));
        let twice = serde_json::json!({"features": [{"attributes": ours}, {"attributes": ours}]});
        assert!(matches!(
            pick_feature(set(twice), literal, "q"),
            Err(PortalError::Protocol(_))
        ));
    }

    #[tokio::test]
    async fn no_request_is_sent_for_a_bad_layer_url_or_globalid() {
        let creds = Credentials::new("admin_acme", "pw-123456");
        // Port 9 on loopback: nothing listens; an attempt would be Unavailable.
        let client = ArcGisPortal::new(
            ArcGisConfig::new("http://127.0.0.1:9/sharing/rest", "r"),
            creds,
        )
        .unwrap();
        let err = client
            .feature_by_globalid(
                "http://evil.example/x/FeatureServer/0",
                "7d1e0c5a-1111-4222-8333-944455566677",
            )
            .await
            .unwrap_err();
        assert!(matches!(err, PortalError::Config(_)), "{err:?}");
        let err = client
            .feature_by_globalid(
                "http://127.0.0.1:9/x/FeatureServer/0",
                "7d1e0c5a' OR '1'='1",
            )
            .await
            .unwrap_err();
        assert!(
            matches!(&err, PortalError::Rejected { code, .. } if code == "invalid_argument"),
            "{err:?}"
        );
    }
}
