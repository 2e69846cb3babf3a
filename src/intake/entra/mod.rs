//! Microsoft Entra External ID custom authentication extension, event
//! `OnAttributeCollectionSubmit` (self-service sign-up, approval-style).
//!
//! Entra POSTs the attributes a person entered on the sign-up form, with
//! `Authorization: Bearer <JWT>` issued by the tenant, and waits about two
//! seconds for one action back (`continueWithDefaultBehavior`,
//! `showBlockPage`, …). The three parts:
//! - [`token`]: [`EntraVerifier`] checks the JWT (RS256, tenant JWKS,
//!   `iss`/`aud`/`azp`, `exp`/`nbf`); run it first;
//! - [`parse`]: the verified body → one [`Signup`] keyed by
//!   `data.authenticationContext.correlationId`;
//! - [`reply`]: the JSON answers.
//!
//! Field names come from `data.userSignUpInfo.attributes.<name>.value`
//! through a [`FieldMap`] (defaults: [`default_fields`]); a name also
//! matches a directory extension `extension_<appid>_<name>`. The e-mail is
//! the identity with `signInType == "email"`.

pub mod reply;
pub mod token;

use std::collections::BTreeMap;

use serde_json::Value;

pub use reply::{
    AttributeCollectionReply, SubmitAction, continue_with_default, modify_attribute_values,
    show_block_page, show_validation_error,
};
pub use token::{
    Claims, ENTRA_SERVICE_APP_ID, EntraConfig, EntraVerifier, JwksPolicy, TokenRejection,
};

use super::{FieldMap, IntakeError, MAX_BODY_BYTES, Signup, delivery_key, from_fields};

/// The [`crate::domain::DeliveryKey`] source of these deliveries.
pub const SOURCE: &str = "entra";

/// The `type` of an `OnAttributeCollectionSubmit` call.
pub const EVENT_TYPE: &str = "microsoft.graph.authenticationEvent.attributeCollectionSubmit";

/// Built-in attribute names, and `pool` for a custom attribute
/// (`extension_<appid>_pool`).
pub fn default_fields() -> FieldMap {
    FieldMap::of(
        &["email"],
        &["givenName"],
        &["surname"],
        &["companyName"],
        &["pool"],
    )
}

/// Parses a verified `OnAttributeCollectionSubmit` body into a [`Signup`].
///
/// The idempotency key is `entra:<correlationId>`. Attribute values are
/// read from their `value`; the sign-in e-mail identity is offered under
/// `email` (it wins over an `email` attribute). Unmapped attributes are
/// kept in [`crate::domain::SignupRequest::attributes`] by name.
pub fn parse(body: &[u8], fields: &FieldMap) -> Result<Signup, IntakeError> {
    if body.len() > MAX_BODY_BYTES {
        return Err(IntakeError::BodyTooLarge);
    }
    let value: Value = serde_json::from_slice(body)
        // serde's message gives position and kind, never content.
        .map_err(|e| IntakeError::MalformedBody(e.to_string()))?;
    let Value::Object(root) = value else {
        return Err(IntakeError::MalformedBody(
            "expected a JSON object".to_string(),
        ));
    };
    match root.get("type") {
        Some(Value::String(t)) if t == EVENT_TYPE => {}
        None | Some(Value::Null) => return Err(IntakeError::MissingField("type")),
        Some(_) => {
            return Err(IntakeError::InvalidField {
                field: "type",
                reason: "not an attributeCollectionSubmit event".to_string(),
            });
        }
    }
    let data = root
        .get("data")
        .and_then(Value::as_object)
        .ok_or(IntakeError::MissingField("data"))?;
    let correlation = data
        .get("authenticationContext")
        .and_then(|c| c.get("correlationId"))
        .and_then(Value::as_str)
        .ok_or(IntakeError::MissingField(
            "data.authenticationContext.correlationId",
        ))?;
    let key = delivery_key(
        SOURCE,
        correlation,
        "data.authenticationContext.correlationId",
    )?;

    let info = data
        .get("userSignUpInfo")
        .and_then(Value::as_object)
        .ok_or(IntakeError::MissingField("data.userSignUpInfo"))?;
    let mut flat: BTreeMap<String, Value> = BTreeMap::new();
    if let Some(attributes) = info.get("attributes") {
        let attributes = attributes
            .as_object()
            .ok_or_else(|| IntakeError::InvalidField {
                field: "data.userSignUpInfo.attributes",
                reason: "must be an object".to_string(),
            })?;
        for (name, attr) in attributes {
            // `{"@odata.type": …, "value": …, "attributeType": …}`; a bare
            // value is taken as is.
            let v = match attr {
                Value::Object(o) => o.get("value").cloned().unwrap_or(Value::Null),
                other => other.clone(),
            };
            flat.insert(name.clone(), v);
        }
    }
    if let Some(email) = sign_in_email(info.get("identities")) {
        flat.insert("email".to_string(), Value::String(email.to_string()));
    }
    let map = with_extensions(fields, &flat);
    let request = from_fields(flat, &map)?;
    Ok(Signup { key, request })
}

/// Whether `e` (from [`parse`]) is about the call rather than the person:
/// a body that is not JSON, not an object, too large, or without the
/// event's own structure (`type`, `data`, its correlation id, its
/// `userSignUpInfo`). Such a call is answered 400; only what the person
/// typed (a missing or unusable e-mail, name, …) gets a block page.
pub fn is_envelope_error(e: &IntakeError) -> bool {
    match e {
        IntakeError::MalformedBody(_) | IntakeError::BodyTooLarge => true,
        IntakeError::MissingField(field) | IntakeError::InvalidField { field, .. } => {
            *field == "type" || *field == "data" || field.starts_with("data.")
        }
        _ => false,
    }
}

/// [`parse`], plus a consistency check with the verified token: when both
/// the body's `data.tenantId` and the token's `tid` are present they must
/// be equal (the token authenticates the caller, not the body; this stops a
/// token of one tenant vouching for another tenant's payload). A mismatch
/// is [`IntakeError::BadSignature`].
pub fn parse_verified(
    body: &[u8],
    fields: &FieldMap,
    claims: &Claims,
) -> Result<Signup, IntakeError> {
    let signup = parse(body, fields)?;
    if let Some(tid) = claims.tenant_id.as_deref()
        && let Ok(Value::Object(root)) = serde_json::from_slice::<Value>(body)
        && let Some(tenant) = root
            .get("data")
            .and_then(|d| d.get("tenantId"))
            .and_then(Value::as_str)
        && !tenant.eq_ignore_ascii_case(tid)
    {
        return Err(IntakeError::BadSignature);
    }
    Ok(signup)
}

/// `issuerAssignedId` of the first identity with `signInType == "email"`.
fn sign_in_email(identities: Option<&Value>) -> Option<&str> {
    identities?
        .as_array()?
        .iter()
        .find(|i| {
            i.get("signInType")
                .and_then(Value::as_str)
                .is_some_and(|t| t.eq_ignore_ascii_case("email"))
        })?
        .get("issuerAssignedId")?
        .as_str()
}

/// The short name of a directory extension attribute:
/// `extension_<32 hex app id>_<name>` → `<name>`.
fn extension_name(attribute: &str) -> Option<&str> {
    let rest = attribute.strip_prefix("extension_")?;
    let (app, name) = rest.split_once('_')?;
    (app.len() == 32 && app.bytes().all(|b| b.is_ascii_hexdigit()) && !name.is_empty())
        .then_some(name)
}

/// `map`, with each name followed by the extension attributes present in
/// `fields` whose short name equals it (ASCII case-insensitively).
fn with_extensions(map: &FieldMap, fields: &BTreeMap<String, Value>) -> FieldMap {
    let extensions: Vec<(&str, &String)> = fields
        .keys()
        .filter_map(|k| extension_name(k).map(|n| (n, k)))
        .collect();
    let expand = |names: &Vec<String>| -> Vec<String> {
        let mut out = Vec::new();
        for name in names {
            out.push(name.clone());
            for (short, full) in &extensions {
                if short.eq_ignore_ascii_case(name) && !out.contains(full) {
                    out.push((*full).clone());
                }
            }
        }
        out
    };
    FieldMap {
        email: expand(&map.email),
        first_name: expand(&map.first_name),
        last_name: expand(&map.last_name),
        organization: expand(&map.organization),
        pool: expand(&map.pool),
        username: expand(&map.username),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example request of webhook-sources.md §5.
    pub(crate) const EXAMPLE: &str = r#"{"type": "microsoft.graph.authenticationEvent.attributeCollectionSubmit",
 "data": {"@odata.type": "microsoft.graph.onAttributeCollectionSubmitCalloutData",
  "tenantId": "11111111-2222-3333-4444-555555555555",
  "authenticationContext": {"correlationId": "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee", "client": {"ip": "203.0.113.9"}},
  "userSignUpInfo": {"attributes": {
     "givenName": {"@odata.type": "microsoft.graph.stringDirectoryAttributeValue", "value": "Ana", "attributeType": "builtIn"},
     "surname": {"@odata.type": "microsoft.graph.stringDirectoryAttributeValue", "value": "Lopez", "attributeType": "builtIn"},
     "companyName": {"@odata.type": "microsoft.graph.stringDirectoryAttributeValue", "value": "Example Water Board", "attributeType": "builtIn"}},
   "identities": [{"signInType": "email", "issuer": "example.onmicrosoft.com", "issuerAssignedId": "ana.lopez@example.org"}]}}}"#;

    #[test]
    fn the_documented_example_becomes_a_signup() {
        let s = parse(EXAMPLE.as_bytes(), &default_fields()).unwrap();
        assert_eq!(
            s.key.as_string(),
            "entra:aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"
        );
        assert_eq!(s.request.email.as_str(), "ana.lopez@example.org");
        assert_eq!(s.request.first_name.as_deref(), Some("Ana"));
        assert_eq!(s.request.last_name.as_deref(), Some("Lopez"));
        assert_eq!(
            s.request.organization.as_deref(),
            Some("Example Water Board")
        );
        assert!(s.request.pool.is_none());
        assert!(s.request.attributes.is_empty());
    }

    #[test]
    fn extension_names_reduce_to_their_short_name() {
        assert_eq!(
            extension_name("extension_0123456789abcdef0123456789ABCDEF_pool"),
            Some("pool")
        );
        assert_eq!(
            extension_name("extension_0123456789abcdef0123456789abcdef_cost_centre"),
            Some("cost_centre")
        );
        assert_eq!(extension_name("extension_short_pool"), None);
        assert_eq!(extension_name("pool"), None);
    }

    /// Pins what a cargo-mutants run of `parse_verified` left unchecked
    /// (issue 13): a token of one tenant does not vouch for another
    /// tenant's body (401); the same tenant in any case, a token without
    /// `tid` or a body without `tenantId` pass.
    #[test]
    fn a_body_from_another_tenant_than_the_token_is_refused() {
        let claims = |tid: Option<&str>| Claims {
            issuer: "https://example.ciamlogin.com/t/v2.0".into(),
            audience: "app-id".into(),
            authorized_party: ENTRA_SERVICE_APP_ID.into(),
            subject: None,
            tenant_id: tid.map(str::to_string),
            version: Some("2.0".into()),
            issued_at: None,
            not_before: 1000,
            expires_at: 2000,
        };
        let tenant = "11111111-2222-3333-4444-555555555555";
        let body = EXAMPLE.as_bytes();
        let fields = default_fields();
        let signup = parse_verified(body, &fields, &claims(Some(tenant))).unwrap();
        assert_eq!(signup, parse(body, &fields).unwrap());
        let hex_tenant = EXAMPLE.replace(tenant, "abcdef00-2222-3333-4444-555555555555");
        let upper = claims(Some("ABCDEF00-2222-3333-4444-555555555555"));
        assert!(parse_verified(hex_tenant.as_bytes(), &fields, &upper).is_ok());
        let other = parse_verified(
            body,
            &fields,
            &claims(Some("99999999-2222-3333-4444-555555555555")),
        );
        assert_eq!(other, Err(IntakeError::BadSignature));
        assert!(parse_verified(body, &fields, &claims(None)).is_ok());
        let no_tenant = EXAMPLE.replace(&format!("\"tenantId\": \"{tenant}\","), "");
        assert_ne!(no_tenant, EXAMPLE);
        assert!(parse_verified(no_tenant.as_bytes(), &fields, &claims(Some("other"))).is_ok());
    }
}
