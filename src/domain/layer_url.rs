//! Hosted feature layers: the checked form of a layer URL and the one
//! `where` clause the broker sends to a layer (a record by its global id).
//!
//! A layer URL comes from the operator's configuration only, never from a
//! payload: the broker's token is sent to it. [`LayerUrl::parse`] refuses
//! anything the token must not travel to (plain `http` off loopback,
//! credentials, a query) and anything that is not a layer
//! (`…/FeatureServer/<index>`). [`globalid_literal`] turns a GUID into the
//! only shape the `where` clause accepts, so nothing else can be injected.
//!
//! No I/O here: the client (`arcgis`) sends, the routes compare.

use url::Url;

/// A feature layer URL that passed [`LayerUrl::parse`]:
/// `https://<host>/…/FeatureServer/<index>`, without trailing slash, query,
/// fragment or credentials.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LayerUrl {
    url: Url,
}

impl LayerUrl {
    /// Checks a configured layer URL. `https` only; plain `http` is allowed
    /// for loopback hosts (the portal simulator, tests), as for the
    /// portal's own base URL. The error says what is wrong, never more.
    pub fn parse(raw: &str) -> Result<LayerUrl, String> {
        let raw = raw.trim().trim_end_matches('/');
        let url = Url::parse(raw).map_err(|_| "layer_url is not a URL".to_string())?;
        // Why: the broker's token travels to this URL; only loopback test
        // servers may be reached without TLS.
        let scheme_ok = url.scheme() == "https" || (url.scheme() == "http" && is_loopback(&url));
        if !scheme_ok {
            return Err(
                "layer_url must be an https URL (http only for loopback hosts)".to_string(),
            );
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err("layer_url must not carry credentials".to_string());
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err("layer_url must not have a query or fragment".to_string());
        }
        let segments: Vec<&str> = url
            .path_segments()
            .map(Iterator::collect)
            .unwrap_or_default();
        let layer_ok = match segments.as_slice() {
            [.., server, index] => {
                server.eq_ignore_ascii_case("FeatureServer")
                    && !index.is_empty()
                    && index.len() <= 6
                    && index.bytes().all(|b| b.is_ascii_digit())
            }
            _ => false,
        };
        if !layer_ok {
            return Err(
                "layer_url must name one layer: …/FeatureServer/<layer index>, e.g. …/FeatureServer/0"
                    .to_string(),
            );
        }
        Ok(LayerUrl { url })
    }

    /// The URL (`…/FeatureServer/<index>`).
    pub fn url(&self) -> &Url {
        &self.url
    }

    /// The URL as text.
    pub fn as_str(&self) -> &str {
        self.url.as_str()
    }

    /// The feature service the layer belongs to (`…/FeatureServer`): what a
    /// Survey123 payload names as `surveyInfo.serviceUrl`.
    pub fn service_url(&self) -> String {
        let s = self.url.as_str();
        match s.rfind('/') {
            Some(i) => s[..i].to_string(),
            None => s.to_string(),
        }
    }

    /// Whether `other` (e.g. a payload's `surveyInfo.serviceUrl`) names this
    /// layer's feature service: same scheme, host and port, same path up to
    /// ASCII case (ArcGIS REST paths are case-insensitive) and a trailing
    /// slash. Anything unparsable, with credentials, a query or a fragment
    /// is another service.
    pub fn is_service(&self, other: &str) -> bool {
        let Ok(theirs) = Url::parse(other.trim()) else {
            return false;
        };
        if !theirs.username().is_empty()
            || theirs.password().is_some()
            || theirs.query().is_some()
            || theirs.fragment().is_some()
        {
            return false;
        }
        let Ok(ours) = Url::parse(&self.service_url()) else {
            return false;
        };
        ours.scheme() == theirs.scheme()
            && ours.host() == theirs.host()
            && ours.port_or_known_default() == theirs.port_or_known_default()
            && ours
                .path()
                .trim_end_matches('/')
                .eq_ignore_ascii_case(theirs.path().trim_end_matches('/'))
    }
}

impl std::fmt::Display for LayerUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.url.as_str())
    }
}

/// Whether a URL's host is loopback (`localhost`, `127.0.0.0/8`, `::1`).
pub(crate) fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

/// A GUID as ArcGIS stores and compares global ids in a `where` clause:
/// upper case in braces, `{7D1E0C5A-1111-4222-8333-944455566677}` (the
/// ArcGIS Maps SDKs' `QueryParameters.whereClause` reference). Accepts the
/// GUID with or without braces in any case; `None` unless it is exactly
/// 8-4-4-4-12 hex digits, so the result is safe inside single quotes.
pub fn globalid_literal(raw: &str) -> Option<String> {
    let trimmed = raw.trim();
    let inner = trimmed
        .strip_prefix('{')
        .and_then(|s| s.strip_suffix('}'))
        .unwrap_or(trimmed);
    let groups: Vec<&str> = inner.split('-').collect();
    let shape_ok = groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(g, n)| g.len() == n && g.bytes().all(|b| b.is_ascii_hexdigit()));
    shape_ok.then(|| format!("{{{}}}", inner.to_ascii_uppercase()))
}

/// The `where` clause that selects one record by global id:
/// `GlobalID='{7D1E…}'`. `None` when `globalid` is not a GUID.
pub fn globalid_where(globalid: &str) -> Option<String> {
    globalid_literal(globalid).map(|g| format!("GlobalID='{g}'"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const LAYER: &str = "https://services9.arcgis.com/AbCdEf/arcgis/rest/services/survey123_0123_form/FeatureServer/0";

    #[test]
    fn a_hosted_layer_url_is_accepted_and_names_its_service() {
        let l = LayerUrl::parse(&format!("  {LAYER}/ ")).unwrap();
        assert_eq!(l.as_str(), LAYER);
        assert_eq!(
            l.service_url(),
            "https://services9.arcgis.com/AbCdEf/arcgis/rest/services/survey123_0123_form/FeatureServer"
        );
        assert!(
            LayerUrl::parse("http://127.0.0.1:8080/ORG/arcgis/rest/services/f/FeatureServer/3")
                .is_ok()
        );
        assert!(LayerUrl::parse("http://localhost/x/FeatureServer/12").is_ok());
    }

    #[test]
    fn plain_http_credentials_queries_and_non_layers_are_refused() {
        let cases = [
            (
                "http://services9.arcgis.com/AbCdEf/arcgis/rest/services/f/FeatureServer/0",
                "https",
            ),
            (
                "https://u:p@services9.arcgis.com/x/FeatureServer/0",
                "credentials",
            ),
            (
                "https://services9.arcgis.com/x/FeatureServer/0?token=abc",
                "query",
            ),
            (
                "https://services9.arcgis.com/x/FeatureServer/0#frag",
                "query",
            ),
            // The service, not a layer of it: the layer index is missing.
            (
                "https://services9.arcgis.com/x/FeatureServer",
                "layer index",
            ),
            (
                "https://services9.arcgis.com/x/FeatureServer/",
                "layer index",
            ),
            (
                "https://services9.arcgis.com/x/FeatureServer/zero",
                "layer index",
            ),
            ("https://services9.arcgis.com/x/MapServer/0", "layer index"),
            (
                "https://services9.arcgis.com/x/FeatureServer/0/query",
                "layer index",
            ),
            ("file:///etc/FeatureServer/0", "https"),
            ("not a url", "not a URL"),
        ];
        for (raw, why) in cases {
            let err = LayerUrl::parse(raw).unwrap_err();
            assert!(err.contains(why), "{raw}: {err}");
        }
    }

    #[test]
    fn the_service_comparison_ignores_case_and_a_trailing_slash_only() {
        let l = LayerUrl::parse(LAYER).unwrap();
        let svc = "https://services9.arcgis.com/AbCdEf/arcgis/rest/services/survey123_0123_form/FeatureServer";
        assert!(l.is_service(svc));
        assert!(l.is_service(&format!("{svc}/")));
        assert!(l.is_service(&svc.to_lowercase()));
        for other in [
            "https://services9.arcgis.com/AbCdEf/arcgis/rest/services/another_form/FeatureServer",
            "https://services8.arcgis.com/AbCdEf/arcgis/rest/services/survey123_0123_form/FeatureServer",
            "http://services9.arcgis.com/AbCdEf/arcgis/rest/services/survey123_0123_form/FeatureServer",
            "https://services9.arcgis.com:8443/AbCdEf/arcgis/rest/services/survey123_0123_form/FeatureServer",
            "https://services9.arcgis.com/AbCdEf/arcgis/rest/services/survey123_0123_form/FeatureServer?x=1",
            "https://services9.arcgis.com/AbCdEf/arcgis/rest/services/survey123_0123_form/FeatureServer/0",
            "",
            "garbage",
        ] {
            assert!(!l.is_service(other), "{other}");
        }
    }

    #[test]
    fn a_globalid_is_braced_and_upper_cased_in_the_where_clause() {
        for raw in [
            "7d1e0c5a-1111-4222-8333-944455566677",
            "{7d1e0c5a-1111-4222-8333-944455566677}",
            " {7D1E0C5A-1111-4222-8333-944455566677} ",
        ] {
            assert_eq!(
                globalid_where(raw).as_deref(),
                Some("GlobalID='{7D1E0C5A-1111-4222-8333-944455566677}'"),
                "{raw}"
            );
        }
    }

    #[test]
    fn anything_but_a_guid_gives_no_where_clause() {
        for bad in [
            "",
            "{}",
            "7d1e0c5a111142228333944455566677",
            "{7D1E0C5A-1111-4222-8333-94445556667}",
            "7d1e0c5a-1111-4222-8333-944455566677' OR '1'='1",
            "7d1e0c5a-1111-4222-8333-94445556667g",
            "{7d1e0c5a-1111-4222-8333-944455566677",
            "7d1e0c5a-1111-4222-8333-944455566677}",
        ] {
            assert_eq!(globalid_where(bad), None, "{bad}");
        }
    }
}
