//! Which senders are switched on, how their fields map, and their secrets.
//!
//! Configured in the same TOML file as the pools, under `[sources.<name>]`
//! (the policy ignores that section, intake ignores the pools):
//!
//! ```toml
//! [sources.typeform]
//! enabled = true
//! fields = { email = ["work_email"], organization = ["company"] }
//!
//! [sources.survey123]
//! enabled = true
//! fields = { email = ["email_address"], pool = ["partner"] }
//! # re-read each record from the survey's layer with the broker's token
//! layer_url = "https://services9.arcgis.com/AbCdEf/arcgis/rest/services/survey123_0123_form/FeatureServer/0"
//!
//! [sources.survey123_approvals]
//! enabled = true
//! layer_url = "https://services9.arcgis.com/AbCdEf/arcgis/rest/services/approvals/FeatureServer/0"
//! approvers = ["lead_exorg"]   # the record's editor must be one of them
//! # editor_field = "Editor"    # the layer's editor-tracking field
//! ```
//!
//! Secrets never live in this file: they come from the secret store
//! (`source_secrets` in the Secrets Manager JSON) or the environment
//! (`TYPEFORM_SECRETS`, `TALLY_SECRETS`, `SURVEY123_TOKENS`,
//! `AUTH0_LOG_TOKENS`, `OKTA_SECRETS`; comma-separated, several for
//! rotation). A source that is enabled without a secret refuses to start;
//! a source that is not enabled answers 404 `source_not_configured`.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::FieldMap;
use super::entra::EntraConfig;
use crate::config::{MIN_SECRET_CHARS, Secret, first_short_secret};
use crate::domain::{ApprovalMode, LayerUrl, Overrides};

/// The senders with a route of their own (besides Standard Webhooks).
pub const SOURCES: &[(&str, &str)] = &[
    ("typeform", "TYPEFORM_SECRETS"),
    ("tally", "TALLY_SECRETS"),
    ("survey123", "SURVEY123_TOKENS"),
    // The approval survey's editData deliveries (decisions, not sign-ups).
    ("survey123_approvals", "SURVEY123_APPROVAL_TOKENS"),
    ("auth0_logs", "AUTH0_LOG_TOKENS"),
    ("okta", "OKTA_SECRETS"),
    ("okta_registration", "OKTA_REGISTRATION_SECRETS"),
    // Entra signs a JWT with the tenant's keys: no shared secret.
    ("entra", ""),
];

/// The identity providers' API secrets (`api_base`): the secret's name in
/// `source_secrets` and its environment variable.
pub const PROVIDER_SECRETS: &[(&str, &str)] = &[
    (OKTA_API_SECRET, "OKTA_API_TOKEN"),
    (AUTH0_API_SECRET, "AUTH0_API_CLIENT"),
];

/// The secret holding the Okta API token (`source_secrets.okta_api`).
pub const OKTA_API_SECRET: &str = "okta_api";
/// The secret holding the Auth0 Management API client
/// (`source_secrets.auth0_api`, `client_id:client_secret`).
pub const AUTH0_API_SECRET: &str = "auth0_api";

/// The environment variable of a provider API secret ([`PROVIDER_SECRETS`]).
pub fn provider_secret_env(secret_name: &str) -> Option<&'static str> {
    PROVIDER_SECRETS
        .iter()
        .find(|(n, _)| *n == secret_name)
        .map(|(_, env)| *env)
}

/// One source as written in the file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceSpec {
    /// Whether the route accepts deliveries.
    #[serde(default)]
    pub enabled: bool,
    /// Field mapping; empty lists fall back to the adapter's defaults.
    #[serde(default)]
    pub fields: FieldMap,
    /// For header-secret senders (Okta): the header carrying the secret.
    pub header: Option<String>,
    /// Okta: the org URL (`https://example.okta.com`) whose
    /// `/api/v1/users/{id}` gives the profile an event lacks; the API token
    /// comes from `OKTA_API_TOKEN` (or `source_secrets.okta_api`).
    /// Auth0 log stream: the tenant URL (`https://tenant.eu.auth0.com`) whose
    /// Management API `/api/v2/users/{id}` gives it; the client comes from
    /// `AUTH0_API_CLIENT` = `client_id:client_secret` (or
    /// `source_secrets.auth0_api`).
    pub api_base: Option<String>,
    /// Entra: the tenant's JWKS URL.
    pub jwks_url: Option<String>,
    /// Entra: the exact expected `iss`.
    pub issuer: Option<String>,
    /// Entra: accepted `aud` values (app id and/or identifier URI).
    #[serde(default)]
    pub audience: Vec<String>,
    /// Entra: accepted `azp`/`appid` values (default: Entra's own service app).
    #[serde(default)]
    pub allowed_azp: Vec<String>,
    /// This sender's approval setting instead of the pool's (`none` or
    /// `manual`).
    pub approval: Option<ApprovalMode>,
    /// Okta registration hook: what a sign-up pending approval is told
    /// (`allow`: the Okta account is created now, the ArcGIS one after
    /// approval; `deny`: "pending approval").
    #[serde(default)]
    pub pending: PendingAnswer,
    /// Survey123 (`survey123`, `survey123_approvals`): the survey's feature
    /// LAYER URL (`https://…/FeatureServer/0`). When set, every delivery's
    /// record is re-read from it by `globalid` with the broker's token, and
    /// the record, not the payload, is what counts.
    pub layer_url: Option<String>,
    /// `survey123_approvals` with `layer_url`: the ArcGIS usernames allowed
    /// to decide (the record's editor must be one of them). Empty: whoever
    /// the layer let edit the record.
    #[serde(default)]
    pub approvers: Vec<String>,
    /// `survey123_approvals` with `layer_url`: the editor-tracking field
    /// naming who last edited the record (default `Editor`).
    pub editor_field: Option<String>,
}

/// The sources whose records can be re-read from a feature layer.
const REREAD_SOURCES: &[&str] = &["survey123", "survey123_approvals"];

/// The editor-tracking field of hosted layers.
pub const DEFAULT_EDITOR_FIELD: &str = "Editor";

/// Survey123 re-read settings of a source (`layer_url` and, for approvals,
/// who may decide).
#[derive(Debug, Clone)]
pub struct Reread {
    /// The layer records are read from (the only URL the token goes to).
    pub layer: LayerUrl,
    /// ArcGIS usernames allowed to decide (approvals; empty = no list).
    pub approvers: Vec<String>,
    /// The field naming the record's last editor (approvals).
    pub editor_field: String,
}

/// The Okta registration hook's answer for a sign-up pending approval.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PendingAnswer {
    /// ALLOW: the Okta account is created; the ArcGIS member after approval.
    #[default]
    Allow,
    /// DENY with "pending approval".
    Deny,
}

/// A provider API the route may call for profiles.
#[derive(Debug, Clone)]
pub struct ProviderApi {
    /// Base URL, without a trailing slash.
    pub base: String,
    /// The API token (never logged).
    pub token: Secret,
}

#[derive(Debug, Default, Deserialize)]
struct File {
    #[serde(default)]
    sources: BTreeMap<String, SourceSpec>,
}

/// A switched-on source, ready for its route.
#[derive(Debug, Clone, Default)]
pub struct Source {
    /// Secrets (HMAC keys, path tokens or header values), newest first.
    pub secrets: Vec<Secret>,
    /// The field mapping (configured names; the route adds the defaults).
    pub fields: FieldMap,
    /// Header name for header-secret senders.
    pub header: Option<String>,
    /// Entra: how to verify the bearer JWT.
    pub entra: Option<EntraConfig>,
    /// Okta: where to fetch profiles, if configured.
    pub api: Option<ProviderApi>,
    /// The sender's approval override.
    pub approval: Option<ApprovalMode>,
    /// Okta registration: the answer while pending.
    pub pending_answer: PendingAnswer,
    /// Survey123: re-read each record from its layer (`None`: the payload
    /// is trusted as it is, behind the path token only).
    pub reread: Option<Reread>,
}

impl Source {
    /// What this sender's configuration overrides in every sign-up it
    /// brings (its approval setting).
    pub fn overrides(&self) -> Overrides {
        Overrides {
            approval: self.approval,
            ..Overrides::default()
        }
    }
}

/// All configured sources, by name.
#[derive(Debug, Clone, Default)]
pub struct Sources {
    by_name: BTreeMap<String, Source>,
}

impl Sources {
    /// Reads `[sources.*]` from the rules text and pairs each enabled source
    /// with its secrets (`secrets_for(name, env_var)`). Every problem is
    /// reported, naming the source.
    pub fn load(
        rules_text: &str,
        secrets_for: impl Fn(&str, &str) -> Result<Vec<Secret>, String>,
    ) -> Result<Sources, String> {
        let file: File = toml::from_str(rules_text).map_err(|e| format!("[sources]: {e}"))?;
        let mut problems = Vec::new();
        let mut by_name = BTreeMap::new();
        for (name, spec) in file.sources {
            let Some((_, env)) = SOURCES.iter().find(|(n, _)| *n == name) else {
                problems.push(format!(
                    "[sources.{name}]: unknown source (known: {})",
                    SOURCES
                        .iter()
                        .map(|(n, _)| *n)
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
                continue;
            };
            if !spec.enabled {
                continue;
            }
            let secrets = if env.is_empty() {
                Vec::new()
            } else {
                let secrets = match secrets_for(&name, env) {
                    Ok(s) => s,
                    Err(e) => {
                        problems.push(format!("[sources.{name}]: {e}"));
                        continue;
                    }
                };
                if secrets.iter().all(|s| s.expose().trim().is_empty()) {
                    problems.push(format!(
                        "[sources.{name}] is enabled but has no secret (set {env}, or source_secrets.{name} in the secret)"
                    ));
                    continue;
                }
                if let Some(n) = first_short_secret(&secrets) {
                    problems.push(format!(
                        "[sources.{name}]: secret {n} of {env} (or source_secrets.{name}) has fewer than {MIN_SECRET_CHARS} characters; a secret that short can be guessed"
                    ));
                    continue;
                }
                secrets
            };
            let entra = if name == "entra" {
                match entra_config(&spec) {
                    Ok(c) => Some(c),
                    Err(e) => {
                        problems.push(format!("[sources.entra]: {e}"));
                        continue;
                    }
                }
            } else {
                None
            };
            let api = match &spec.api_base {
                None => None,
                Some(base) => {
                    // Okta: an API token; Auth0: a Management API client
                    // (`client_id:client_secret`, client-credentials grant).
                    let (secret_name, env) = if name == "auth0_logs" {
                        PROVIDER_SECRETS[1]
                    } else {
                        PROVIDER_SECRETS[0]
                    };
                    let token = secrets_for(secret_name, env)
                        .unwrap_or_default()
                        .into_iter()
                        .next()
                        .filter(|t| secret_name != "auth0_api" || t.expose().contains(':'));
                    let parsed = url::Url::parse(base.trim());
                    if let Ok(u) = &parsed {
                        let loopback =
                            matches!(u.host_str(), Some("127.0.0.1" | "localhost" | "[::1]"));
                        if u.scheme() != "https" && !(u.scheme() == "http" && loopback) {
                            problems.push(format!(
                                "[sources.{name}]: api_base must use https (the API token or client secret is sent to it)"
                            ));
                            continue;
                        }
                    }
                    match (parsed, token) {
                        (Err(_), _) => {
                            problems.push(format!("[sources.{name}]: api_base is not a URL"));
                            continue;
                        }
                        (Ok(_), None) => {
                            problems.push(format!(
                                "[sources.{name}]: api_base is set but {env} (or source_secrets.{secret_name}) is not{}",
                                if secret_name == "auth0_api" { " (client_id:client_secret)" } else { "" }
                            ));
                            continue;
                        }
                        (Ok(_), Some(token)) => Some(ProviderApi {
                            base: base.trim().trim_end_matches('/').to_string(),
                            token,
                        }),
                    }
                }
            };
            let reread = match reread_config(&name, &spec) {
                Ok(r) => r,
                Err(e) => {
                    problems.push(format!("[sources.{name}]: {e}"));
                    continue;
                }
            };
            by_name.insert(
                name,
                Source {
                    secrets,
                    fields: spec.fields,
                    header: spec.header,
                    entra,
                    api,
                    approval: spec.approval,
                    pending_answer: spec.pending,
                    reread,
                },
            );
        }
        if problems.is_empty() {
            Ok(Sources { by_name })
        } else {
            Err(problems.join("\n  - "))
        }
    }

    /// A switched-on source.
    pub fn get(&self, name: &str) -> Option<&Source> {
        self.by_name.get(name)
    }

    /// Names of the switched-on sources.
    pub fn enabled(&self) -> Vec<&str> {
        self.by_name.keys().map(String::as_str).collect()
    }

    /// Adds or replaces a source (tests, programmatic set-ups).
    pub fn insert(&mut self, name: &str, source: Source) {
        self.by_name.insert(name.to_string(), source);
    }
}

/// The re-read settings of `[sources.survey123]` /
/// `[sources.survey123_approvals]`: `layer_url` checked like the portal's
/// own URL (https, or http on loopback; a layer, not a service);
/// `approvers` and `editor_field` only for approvals and only with
/// `layer_url` (without a re-read the editor is not known, and a list
/// checked against the payload's word would be no check at all).
fn reread_config(name: &str, spec: &SourceSpec) -> Result<Option<Reread>, String> {
    let approvals = name == "survey123_approvals";
    let has_approval_keys = !spec.approvers.is_empty() || spec.editor_field.is_some();
    if !REREAD_SOURCES.contains(&name) {
        if spec.layer_url.is_some() || has_approval_keys {
            return Err("layer_url, approvers and editor_field are Survey123 settings".into());
        }
        return Ok(None);
    }
    if has_approval_keys && !approvals {
        return Err("approvers and editor_field belong to [sources.survey123_approvals]".into());
    }
    let Some(raw) = &spec.layer_url else {
        if has_approval_keys {
            return Err(
                "approvers and editor_field need layer_url: without re-reading the record the editor is not known"
                    .into(),
            );
        }
        return Ok(None);
    };
    let layer = LayerUrl::parse(raw)?;
    let editor_field = spec
        .editor_field
        .as_deref()
        .map(str::trim)
        .unwrap_or(DEFAULT_EDITOR_FIELD)
        .to_string();
    if editor_field.is_empty() {
        return Err("editor_field is empty".into());
    }
    let mut approvers = Vec::new();
    for a in &spec.approvers {
        let a = a.trim();
        if a.is_empty() {
            return Err("approvers has an empty name".into());
        }
        approvers.push(a.to_string());
    }
    Ok(Some(Reread {
        layer,
        approvers,
        editor_field,
    }))
}

/// The Entra verifier's configuration from `[sources.entra]`.
fn entra_config(spec: &SourceSpec) -> Result<EntraConfig, String> {
    let (Some(jwks_url), Some(issuer)) = (&spec.jwks_url, &spec.issuer) else {
        return Err("jwks_url and issuer are required".into());
    };
    if spec.audience.is_empty() {
        return Err("audience is required (the custom extension's app id)".into());
    }
    let mut config = EntraConfig::new(jwks_url.trim(), issuer.trim(), "");
    config.audience = spec.audience.clone();
    if !spec.allowed_azp.is_empty() {
        config.allowed_azp = spec.allowed_azp.clone();
    }
    config.validate()?;
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secrets<'a>(
        env: &'a BTreeMap<&'a str, &'a str>,
    ) -> impl Fn(&str, &str) -> Result<Vec<Secret>, String> + 'a {
        move |_, var| {
            crate::config::secret_list(env.get(var).copied().unwrap_or_default())
                .map(|list| list.into_iter().map(Secret::new).collect())
        }
    }

    #[test]
    fn enabled_sources_get_their_secrets_and_fields() {
        let env = BTreeMap::from([("TYPEFORM_SECRETS", "typeform-secret-a,typeform-secret-b")]);
        let text = r#"
            [[pools]]
            name = "x"
            [sources.typeform]
            enabled = true
            fields = { email = ["work_email"] }
            [sources.tally]
            enabled = false
        "#;
        let s = Sources::load(text, secrets(&env)).unwrap();
        assert_eq!(s.enabled(), vec!["typeform"]);
        let t = s.get("typeform").unwrap();
        assert_eq!(t.secrets.len(), 2);
        assert_eq!(t.fields.email, vec!["work_email".to_string()]);
        assert!(s.get("tally").is_none());
    }

    /// Issue 13: a sender's secret shorter than 16 characters refuses the
    /// start, naming the variable and not the value.
    #[test]
    fn a_short_sender_secret_refuses_to_start() {
        let env = BTreeMap::from([("TALLY_SECRETS", "a-long-enough-secret, short")]);
        let err = Sources::load("[sources.tally]\nenabled = true\n", secrets(&env)).unwrap_err();
        assert!(err.contains("secret 2 of TALLY_SECRETS"), "{err}");
        assert!(!err.contains("short,") && !err.contains(": short"), "{err}");
    }

    /// Issue 13: the provider API base must be https (loopback excepted
    /// for tests): its token or client secret is sent there.
    #[test]
    fn a_plain_http_provider_api_base_refuses_to_start() {
        let env = BTreeMap::from([
            ("OKTA_SECRETS", "okta-header-secret"),
            ("OKTA_API_TOKEN", "okta-api-token-value"),
        ]);
        let load = |base: &str| {
            Sources::load(
                &format!("[sources.okta]\nenabled = true\napi_base = \"{base}\"\n"),
                secrets(&env),
            )
        };
        let err = load("http://example.okta.com").unwrap_err();
        assert!(err.contains("api_base must use https"), "{err}");
        assert!(load("https://example.okta.com").is_ok());
        assert!(load("http://127.0.0.1:9999").is_ok());
    }

    #[test]
    fn an_enabled_source_without_secret_or_an_unknown_source_refuses_to_start() {
        let env = BTreeMap::new();
        let text = "[sources.tally]\nenabled = true\n[sources.jotform]\nenabled = true\n";
        let err = Sources::load(text, secrets(&env)).unwrap_err();
        assert!(err.contains("TALLY_SECRETS"), "{err}");
        assert!(err.contains("unknown source"), "{err}");
    }

    #[test]
    fn a_file_without_sources_has_none() {
        let s = Sources::load("[[pools]]\nname = \"x\"\n", |_, _| Ok(vec![])).unwrap();
        assert!(s.enabled().is_empty());
    }

    #[test]
    fn entra_needs_no_secret_but_its_token_settings_and_okta_api_needs_a_token() {
        let env = BTreeMap::from([("OKTA_SECRETS", "okta-header-secret")]);
        let text = r#"
            [sources.entra]
            enabled = true
            jwks_url = "https://contoso.ciamlogin.com/t/discovery/v2.0/keys"
            issuer = "https://contoso.ciamlogin.com/t/v2.0"
            audience = ["app-id"]
            [sources.okta]
            enabled = true
        "#;
        let s = Sources::load(text, secrets(&env)).unwrap();
        let entra = s.get("entra").unwrap();
        assert!(entra.secrets.is_empty());
        let config = entra.entra.as_ref().unwrap();
        assert_eq!(config.audience, vec!["app-id".to_string()]);
        assert!(s.get("okta").unwrap().api.is_none());

        let err = Sources::load(
            "[sources.entra]\nenabled = true\nissuer = \"x\"\n[sources.okta]\nenabled = true\napi_base = \"https://example.okta.com\"\n",
            secrets(&env),
        )
        .unwrap_err();
        assert!(err.contains("jwks_url and issuer are required"), "{err}");
        assert!(err.contains("OKTA_API_TOKEN"), "{err}");

        let with_token = BTreeMap::from([
            ("OKTA_SECRETS", "okta-header-secret"),
            ("OKTA_API_TOKEN", "t"),
        ]);
        let s = Sources::load(
            "[sources.okta]\nenabled = true\napi_base = \"https://example.okta.com/\"\n",
            secrets(&with_token),
        )
        .unwrap();
        assert_eq!(
            s.get("okta").unwrap().api.as_ref().unwrap().base,
            "https://example.okta.com"
        );
    }

    const LAYER: &str = "https://services9.arcgis.com/AbCdEf/arcgis/rest/services/survey123_0123_form/FeatureServer/0";

    #[test]
    fn a_survey123_layer_url_switches_the_re_read_on() {
        let env = BTreeMap::from([
            ("SURVEY123_TOKENS", "survey123-token-t"),
            ("SURVEY123_APPROVAL_TOKENS", "survey123-approval-a"),
        ]);
        let text = format!(
            "[sources.survey123]\nenabled = true\nlayer_url = \"{LAYER}/\"\n\
             [sources.survey123_approvals]\nenabled = true\nlayer_url = \"{LAYER}\"\n\
             approvers = [\" lead_exorg \", \"ops_exorg\"]\n"
        );
        let s = Sources::load(&text, secrets(&env)).unwrap();
        let signup = s.get("survey123").unwrap().reread.as_ref().unwrap();
        assert_eq!(signup.layer.as_str(), LAYER);
        assert!(signup.approvers.is_empty());
        let approvals = s
            .get("survey123_approvals")
            .unwrap()
            .reread
            .as_ref()
            .unwrap();
        assert_eq!(approvals.approvers, vec!["lead_exorg", "ops_exorg"]);
        assert_eq!(approvals.editor_field, "Editor");

        // Without layer_url: no re-read (today's behaviour).
        let s = Sources::load("[sources.survey123]\nenabled = true\n", secrets(&env)).unwrap();
        assert!(s.get("survey123").unwrap().reread.is_none());
    }

    #[test]
    fn unusable_survey123_re_read_settings_refuse_to_start() {
        let env = BTreeMap::from([
            ("SURVEY123_TOKENS", "survey123-token-t"),
            ("SURVEY123_APPROVAL_TOKENS", "survey123-approval-a"),
            ("TALLY_SECRETS", "tally-signing-secret"),
        ]);
        let cases = [
            (
                "[sources.survey123]\nenabled = true\nlayer_url = \"http://services9.arcgis.com/x/FeatureServer/0\"\n",
                "https",
            ),
            (
                "[sources.survey123]\nenabled = true\nlayer_url = \"https://services9.arcgis.com/x/FeatureServer\"\n",
                "layer index",
            ),
            (
                "[sources.survey123]\nenabled = true\nlayer_url = \"https://services9.arcgis.com/x/FeatureServer/0?token=abc\"\n",
                "query",
            ),
            (
                "[sources.survey123]\nenabled = true\nlayer_url = \"https://services9.arcgis.com/x/FeatureServer/0\"\napprovers = [\"a\"]\n",
                "survey123_approvals",
            ),
            (
                "[sources.survey123_approvals]\nenabled = true\napprovers = [\"lead_exorg\"]\n",
                "need layer_url",
            ),
            (
                "[sources.tally]\nenabled = true\nlayer_url = \"https://services9.arcgis.com/x/FeatureServer/0\"\n",
                "Survey123 settings",
            ),
            (
                "[sources.survey123]\nenabled = true\nlayer = \"https://services9.arcgis.com/x/FeatureServer/0\"\n",
                "unknown field",
            ),
        ];
        for (text, why) in cases {
            let err = Sources::load(text, secrets(&env)).unwrap_err();
            assert!(err.contains(why), "{text}: {err}");
        }
    }

    #[test]
    fn an_entra_jwks_over_plain_http_is_refused() {
        let text = "[sources.entra]\nenabled = true\njwks_url = \"http://evil.example/keys\"\nissuer = \"i\"\naudience = [\"a\"]\n";
        let err = Sources::load(text, |_, _| Ok(vec![])).unwrap_err();
        assert!(err.contains("https"), "{err}");
    }
}
