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
use crate::config::Secret;
use crate::policy::ApprovalMode;

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
        secrets_for: impl Fn(&str, &str) -> Vec<Secret>,
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
                let secrets = secrets_for(&name, env);
                if secrets.iter().all(|s| s.expose().trim().is_empty()) {
                    problems.push(format!(
                        "[sources.{name}] is enabled but has no secret (set {env}, or source_secrets.{name} in the secret)"
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
                        ("auth0_api", "AUTH0_API_CLIENT")
                    } else {
                        ("okta_api", "OKTA_API_TOKEN")
                    };
                    let token = secrets_for(secret_name, env)
                        .into_iter()
                        .next()
                        .filter(|t| secret_name != "auth0_api" || t.expose().contains(':'));
                    match (url::Url::parse(base.trim()), token) {
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

    fn secrets<'a>(env: &'a BTreeMap<&'a str, &'a str>) -> impl Fn(&str, &str) -> Vec<Secret> + 'a {
        move |_, var| {
            env.get(var)
                .map(|v| v.split(',').map(Secret::new).collect())
                .unwrap_or_default()
        }
    }

    #[test]
    fn enabled_sources_get_their_secrets_and_fields() {
        let env = BTreeMap::from([("TYPEFORM_SECRETS", "a,b")]);
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
        let s = Sources::load("[[pools]]\nname = \"x\"\n", |_, _| vec![]).unwrap();
        assert!(s.enabled().is_empty());
    }

    #[test]
    fn entra_needs_no_secret_but_its_token_settings_and_okta_api_needs_a_token() {
        let env = BTreeMap::from([("OKTA_SECRETS", "s")]);
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

        let with_token = BTreeMap::from([("OKTA_SECRETS", "s"), ("OKTA_API_TOKEN", "t")]);
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

    #[test]
    fn an_entra_jwks_over_plain_http_is_refused() {
        let text = "[sources.entra]\nenabled = true\njwks_url = \"http://evil.example/keys\"\nissuer = \"i\"\naudience = [\"a\"]\n";
        let err = Sources::load(text, |_, _| vec![]).unwrap_err();
        assert!(err.contains("https"), "{err}");
    }
}
