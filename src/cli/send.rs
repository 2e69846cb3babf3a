//! `send`: signs a sign-up body (or a recorded API Gateway event's body)
//! with a Standard Webhooks secret and posts it, printing the answer.

use std::path::PathBuf;

use anyhow::{Context, Result, anyhow, bail};
use clap::Args;

use crate::clock::now_millis;
use crate::config::{env_secrets, env_var};
use crate::ids::Ids;
use crate::intake::signature::SigningKey;

#[derive(Debug, Args)]
pub(crate) struct SendArgs {
    /// A JSON sign-up body, or a recorded API Gateway event whose body is sent.
    file: PathBuf,
    /// Where to post.
    #[arg(long, default_value = "http://127.0.0.1:8080/webhooks/standard")]
    url: String,
    /// The signing secret (`whsec_…`). Default: STANDARD_WEBHOOK_SECRETS, then
    /// the demo's data/webhook-secret.
    #[arg(long, env = "WEBHOOK_SECRET", hide_env_values = true)]
    secret: Option<String>,
    /// The delivery id (default: a fresh one). Reuse one to see a replay.
    #[arg(long)]
    id: Option<String>,
    /// The demo's data directory (for its secret).
    #[arg(long, default_value = "data")]
    data: PathBuf,
}

/// Signs and posts the file; fails when the broker does not answer 2xx.
pub(crate) async fn send(a: SendArgs) -> Result<()> {
    let text =
        std::fs::read(&a.file).with_context(|| format!("cannot read {}", a.file.display()))?;
    let body = body_of(&text)?;
    let secret = match a.secret {
        Some(s) => s,
        None => match env_var("STANDARD_WEBHOOK_SECRETS") {
            Some(_) => env_secrets("STANDARD_WEBHOOK_SECRETS")
                .map_err(|e| anyhow!(e))?
                .into_iter()
                .next()
                .map(|s| s.expose().to_string())
                .unwrap_or_default(),
            None => std::fs::read_to_string(a.data.join("webhook-secret"))
                .map(|s| s.trim().to_string())
                .map_err(|_| {
                    anyhow!(
                        "no signing secret: pass --secret, set STANDARD_WEBHOOK_SECRETS, or start `agol-seat-broker demo` first (it writes {})",
                        a.data.join("webhook-secret").display()
                    )
                })?,
        },
    };
    let key = SigningKey::parse(&secret).map_err(|e| anyhow!("{e}"))?;
    let id = a.id.unwrap_or_else(|| {
        format!(
            "msg_{}",
            Ids::random().base64(12).replace(['+', '/', '='], "")
        )
    });
    let ts = now_millis() / 1000;
    let signature = key.sign(&id, ts, &body);
    let res = reqwest::Client::new()
        .post(&a.url)
        .header("content-type", "application/json")
        .header("webhook-id", &id)
        .header("webhook-timestamp", ts.to_string())
        .header("webhook-signature", signature)
        .body(body)
        .send()
        .await
        .with_context(|| format!("cannot reach {} (is the broker running?)", a.url))?;
    let status = res.status();
    let text = res.text().await.unwrap_or_default();
    let pretty = serde_json::from_str::<serde_json::Value>(&text)
        .ok()
        .and_then(|v| serde_json::to_string_pretty(&v).ok())
        .unwrap_or(text);
    println!("{} (delivery {id})\n{pretty}", status.as_u16());
    if !status.is_success() {
        bail!("the broker answered {status}");
    }
    Ok(())
}

/// A plain JSON body is sent as is; an API Gateway event's `body` is
/// extracted (base64-decoded when flagged).
fn body_of(file: &[u8]) -> Result<Vec<u8>> {
    let v: serde_json::Value = serde_json::from_slice(file).context("the file is not JSON")?;
    let is_event = v.get("requestContext").is_some() && v.get("body").is_some();
    if !is_event {
        return Ok(file.to_vec());
    }
    let body = v["body"].as_str().unwrap_or_default();
    if v["isBase64Encoded"].as_bool() == Some(true) {
        use base64::Engine as _;
        return base64::engine::general_purpose::STANDARD
            .decode(body)
            .context("the event's body is not valid base64");
    }
    Ok(body.as_bytes().to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_api_gateway_event_sends_its_decoded_body() {
        let event = br#"{"requestContext":{},"body":"eyJhIjoxfQ==","isBase64Encoded":true}"#;
        assert_eq!(body_of(event).unwrap(), br#"{"a":1}"#);
        assert_eq!(
            body_of(br#"{"email":"a@b.org"}"#).unwrap(),
            br#"{"email":"a@b.org"}"#
        );
    }
}
