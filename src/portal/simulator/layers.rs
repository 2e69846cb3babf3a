//! Hosted feature layers of the simulated organization (a Survey123 form's
//! layer, an approval survey's layer) and the one layer operation the broker
//! uses: `query`.
//!
//! Records carry what a Survey123 layer has: `objectid`, `globalid`
//! (`{UPPER-CASE GUID}`, as ArcGIS stores it) and the editor-tracking fields
//! `CreationDate`, `Creator`, `EditDate`, `Editor`, plus the survey's own
//! fields. A layer is addressed by its path
//! (`<org id>/arcgis/rest/services/<service>/FeatureServer/<n>`), compared
//! without regard to case or surrounding slashes.
//!
//! `where` is strict on purpose: `1=1`, or one `<field> = '<text>'`
//! comparison, nothing else; text compares exactly, so a global id only
//! matches in the documented `'{UPPER}'` form. The simulator shares no code
//! with the client's query building, so the two check each other.
//! Plain synchronous bookkeeping, like `state`: no HTTP, no clock.

use std::collections::BTreeMap;

use rand::Rng;
use serde_json::{Map, Value, json};

use super::error::ApiError;
use crate::domain::UnixMillis;

/// The layers, by normalised path.
#[derive(Default)]
pub(super) struct Layers {
    by_path: BTreeMap<String, Layer>,
}

#[derive(Default)]
struct Layer {
    records: Vec<Map<String, Value>>,
    next_object_id: i64,
}

/// The editor-tracking and id fields, set by the layer, never by a caller.
const SYSTEM_FIELDS: &[&str] = &[
    "objectid",
    "globalid",
    "CreationDate",
    "Creator",
    "EditDate",
    "Editor",
];

/// Whether `name` is one of [`SYSTEM_FIELDS`] (field names compared
/// without regard to case).
fn is_system_field(name: &str) -> bool {
    SYSTEM_FIELDS.iter().any(|s| s.eq_ignore_ascii_case(name))
}

/// A layer's key: a URL's path or a bare path, without surrounding slashes
/// or a trailing `/query`, lower-cased.
pub(super) fn layer_key(raw: &str) -> String {
    let raw = raw.trim();
    let path = match url::Url::parse(raw) {
        Ok(u) if u.has_host() => u.path().to_string(),
        _ => raw.to_string(),
    };
    let p = path.trim_matches('/').to_ascii_lowercase();
    p.strip_suffix("/query").map(str::to_string).unwrap_or(p)
}

/// For a request path ending `…/FeatureServer/<n>/query` (any case), the
/// layer's key; `None` for any other path.
pub(super) fn query_target(path: &str) -> Option<String> {
    let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    match segs.as_slice() {
        [.., server, index, query]
            if query.eq_ignore_ascii_case("query")
                && server.eq_ignore_ascii_case("featureserver")
                && !index.is_empty()
                && index.bytes().all(|b| b.is_ascii_digit()) =>
        {
            Some(layer_key(path))
        }
        _ => None,
    }
}

/// `{UPPER}` for a GUID given in any case, with or without braces.
fn braced_upper(raw: &str) -> String {
    let t = raw.trim();
    let inner = t
        .strip_prefix('{')
        .and_then(|s| s.strip_suffix('}'))
        .unwrap_or(t);
    format!("{{{}}}", inner.to_ascii_uppercase())
}

fn random_globalid() -> String {
    let b: [u8; 16] = rand::rng().random();
    let hex: String = b.iter().map(|x| format!("{x:02X}")).collect();
    format!(
        "{{{}-{}-{}-{}-{}}}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

/// The value of a field, its name compared without regard to case (SQL
/// identifiers in ArcGIS are case-insensitive).
fn field<'a>(record: &'a Map<String, Value>, name: &str) -> Option<(&'a String, &'a Value)> {
    record.iter().find(|(k, _)| k.eq_ignore_ascii_case(name))
}

/// A parsed `where` clause.
enum Where {
    All,
    Equals { field: String, text: String },
}

fn invalid_query() -> ApiError {
    // Shape of the sharing API's errors; wording as seen from hosted layers
    // (not documented).
    ApiError::new(400, "Cannot perform query. Invalid query parameters.")
        .with_detail("Unable to perform query. Please check your parameters.")
}

/// `1=1` or `<identifier> = '<text without quotes>'`; anything else is
/// refused.
fn parse_where(raw: &str) -> Result<Where, ApiError> {
    let w = raw.trim();
    if w.replace(' ', "") == "1=1" {
        return Ok(Where::All);
    }
    let (lhs, rhs) = w.split_once('=').ok_or_else(invalid_query)?;
    let name = lhs.trim();
    let ident_ok = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    let text = rhs
        .trim()
        .strip_prefix('\'')
        .and_then(|s| s.strip_suffix('\''))
        .filter(|s| !s.contains('\''));
    match (ident_ok, text) {
        (true, Some(text)) => Ok(Where::Equals {
            field: name.to_string(),
            text: text.to_string(),
        }),
        _ => Err(invalid_query()),
    }
}

/// `esriFieldType…` of a field, from its name and value.
fn field_type(name: &str, v: &Value) -> &'static str {
    match name {
        "objectid" => "esriFieldTypeOID",
        "globalid" => "esriFieldTypeGlobalID",
        "CreationDate" | "EditDate" => "esriFieldTypeDate",
        _ => match v {
            Value::Number(n) if n.is_i64() => "esriFieldTypeInteger",
            Value::Number(_) => "esriFieldTypeDouble",
            _ => "esriFieldTypeString",
        },
    }
}

impl Layers {
    /// Adds a record; returns its global id (`{UPPER}`).
    pub fn put(
        &mut self,
        key: &str,
        attributes: Map<String, Value>,
        editor: &str,
        now: UnixMillis,
    ) -> String {
        let layer = self.by_path.entry(key.to_string()).or_default();
        layer.next_object_id += 1;
        let id = random_globalid();
        let mut record: Map<String, Value> = attributes
            .into_iter()
            .filter(|(k, _)| !is_system_field(k))
            .collect();
        record.insert("objectid".into(), json!(layer.next_object_id));
        record.insert("globalid".into(), json!(id));
        record.insert("CreationDate".into(), json!(now));
        record.insert("Creator".into(), json!(editor));
        record.insert("EditDate".into(), json!(now));
        record.insert("Editor".into(), json!(editor));
        layer.records.push(record);
        id
    }

    /// Changes fields of a record, as `editor` at `now`. `false` when the
    /// layer or record does not exist.
    pub fn edit(
        &mut self,
        key: &str,
        globalid: &str,
        changes: Map<String, Value>,
        editor: &str,
        now: UnixMillis,
    ) -> bool {
        let wanted = braced_upper(globalid);
        let Some(record) = self.by_path.get_mut(key).and_then(|l| {
            l.records
                .iter_mut()
                .find(|r| r.get("globalid").and_then(Value::as_str) == Some(wanted.as_str()))
        }) else {
            return false;
        };
        for (k, v) in changes {
            if !is_system_field(&k) {
                record.insert(k, v);
            }
        }
        record.insert("EditDate".into(), json!(now));
        record.insert("Editor".into(), json!(editor));
        true
    }

    /// One record by global id (any case, braces optional).
    pub fn get(&self, key: &str, globalid: &str) -> Option<Map<String, Value>> {
        let wanted = braced_upper(globalid);
        self.by_path
            .get(key)?
            .records
            .iter()
            .find(|r| r.get("globalid").and_then(Value::as_str) == Some(wanted.as_str()))
            .cloned()
    }

    /// Records per layer (for `/_sim/state`).
    pub fn counts(&self) -> BTreeMap<String, usize> {
        self.by_path
            .iter()
            .map(|(k, l)| (k.clone(), l.records.len()))
            .collect()
    }

    /// The layer's `query`: a feature set of the records `where` selects,
    /// with `outFields` (`*`, or a comma list; absent: `objectid` only).
    /// No geometry (the records have none).
    pub fn query(
        &self,
        key: &str,
        where_clause: Option<&str>,
        out_fields: Option<&str>,
    ) -> Result<Value, ApiError> {
        // Not documented for hosted layers; what ArcGIS Server answers for
        // a resource that does not exist.
        let layer = self
            .by_path
            .get(key)
            .ok_or_else(|| ApiError::new(400, "Invalid URL").with_detail("Invalid URL"))?;
        let filter = parse_where(where_clause.unwrap_or("").trim())?;
        let wanted: Option<Vec<String>> = match out_fields.map(str::trim) {
            Some("*") => None,
            Some(list) if !list.is_empty() => Some(
                list.split(',')
                    .map(|f| f.trim().to_string())
                    .filter(|f| !f.is_empty())
                    .collect(),
            ),
            _ => Some(vec!["objectid".to_string()]),
        };
        let mut selected = Vec::new();
        for record in &layer.records {
            let keep = match &filter {
                Where::All => true,
                Where::Equals { field: name, text } => {
                    let Some((_, v)) = field(record, name) else {
                        // A field the layer does not have.
                        if layer.records.iter().all(|r| field(r, name).is_none()) {
                            return Err(invalid_query());
                        }
                        continue;
                    };
                    match v {
                        Value::String(s) => s == text,
                        Value::Number(n) => n.to_string() == *text,
                        _ => false,
                    }
                }
            };
            if keep {
                let attributes: Map<String, Value> = match &wanted {
                    None => record.clone(),
                    Some(names) => names
                        .iter()
                        .filter_map(|n| field(record, n))
                        .map(|(k, v)| (k.clone(), v.clone()))
                        .collect(),
                };
                selected.push(attributes);
            }
        }
        let mut fields: Vec<Value> = Vec::new();
        if let Some(first) = selected.first() {
            for (name, v) in first {
                fields.push(json!({"name": name, "type": field_type(name, v), "alias": name}));
            }
        }
        Ok(json!({
            "objectIdFieldName": "objectid",
            "globalIdFieldName": "globalid",
            "fields": fields,
            "features": selected
                .into_iter()
                .map(|a| json!({ "attributes": a }))
                .collect::<Vec<_>>(),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LAYER: &str = "org/arcgis/rest/services/form/featureserver/0";

    fn attrs(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap()
    }

    #[test]
    fn layers_are_addressed_by_path_whatever_the_case_or_url() {
        assert_eq!(
            layer_key("http://127.0.0.1:9/ORG/arcgis/rest/services/Form/FeatureServer/0/"),
            "org/arcgis/rest/services/form/featureserver/0"
        );
        assert_eq!(
            layer_key("/ORG/arcgis/rest/services/form/FeatureServer/0/query"),
            LAYER
        );
        assert_eq!(
            query_target("/ORG/arcgis/rest/services/form/FeatureServer/0/query").as_deref(),
            Some(LAYER)
        );
        for other in [
            "/ORG/arcgis/rest/services/form/FeatureServer/query",
            "/ORG/arcgis/rest/services/form/FeatureServer/0",
            "/ORG/arcgis/rest/services/form/MapServer/0/query",
            "/sharing/rest/portals/self",
        ] {
            assert_eq!(query_target(other), None, "{other}");
        }
    }

    #[test]
    fn a_record_is_found_by_its_braced_upper_case_globalid_only() {
        let mut l = Layers::default();
        let id = l.put(
            LAYER,
            attrs(json!({"email": "a@b.org", "Editor": "forged"})),
            "jo_org",
            5,
        );
        assert!(id.starts_with('{') && id.ends_with('}') && id == id.to_ascii_uppercase());
        let q = |w: &str| {
            l.query(LAYER, Some(w), Some("*")).unwrap()["features"]
                .as_array()
                .unwrap()
                .len()
        };
        assert_eq!(q(&format!("GlobalID='{id}'")), 1);
        assert_eq!(q(&format!("globalid = '{id}'")), 1);
        assert_eq!(q(&format!("GlobalID='{}'", id.to_lowercase())), 0);
        assert_eq!(q(&format!("GlobalID='{}'", id.trim_matches(['{', '}']))), 0);
        assert_eq!(q("1=1"), 1);
        let got = l.get(LAYER, &id.to_lowercase()).unwrap();
        assert_eq!(got["Editor"], "jo_org", "system fields are the layer's");
        assert_eq!(got["objectid"], 1);
    }

    #[test]
    fn anything_but_one_comparison_is_an_invalid_query() {
        let mut l = Layers::default();
        let id = l.put(LAYER, Map::new(), "jo_org", 5);
        for bad in [
            "",
            &format!("GlobalID='{id}' OR 1=1"),
            "GlobalID='x'' OR ''1'='1'",
            "GlobalID=x",
            "nosuchfield='x'",
            "1=2",
        ] {
            let err = l.query(LAYER, Some(bad), Some("*")).unwrap_err();
            assert_eq!(err.code, 400, "{bad}");
        }
        let err = l
            .query("org/other/featureserver/0", Some("1=1"), None)
            .unwrap_err();
        assert_eq!(err.message, "Invalid URL");
    }

    #[test]
    fn an_edit_changes_fields_and_the_editor_tracking() {
        let mut l = Layers::default();
        let id = l.put(LAYER, attrs(json!({"status": "pending"})), "applicant", 5);
        assert!(l.edit(
            LAYER,
            &id,
            attrs(json!({"status": "approved"})),
            "lead_org",
            9
        ));
        let r = l.get(LAYER, &id).unwrap();
        assert_eq!(
            (r["status"].as_str(), r["Editor"].as_str()),
            (Some("approved"), Some("lead_org"))
        );
        assert_eq!(
            (r["EditDate"].as_i64(), r["Creator"].as_str()),
            (Some(9), Some("applicant"))
        );
        assert!(!l.edit(
            LAYER,
            "{00000000-0000-0000-0000-000000000000}",
            Map::new(),
            "x",
            9
        ));
        let only_id = l.query(LAYER, Some("1=1"), None).unwrap();
        assert_eq!(
            only_id["features"][0]["attributes"],
            json!({"objectid": 1}),
            "without outFields only the object id"
        );
    }
}
