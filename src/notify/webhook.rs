//! [`WebhookNotifier`]: approval notices and usage alerts to an incoming
//! webhook (Slack, Teams, …).

use std::time::Duration;

use super::message::{Markup, alert_message, message_for};
use super::{AlertNotice, ApprovalNotice, BoxFuture, Notifier};
use crate::config::Secret;

/// Posts `{"text": …}` to an incoming-webhook URL (Slack, Teams, …).
pub struct WebhookNotifier {
    url: Secret,
    /// The channel's markup, from the URL's host (Slack or Teams).
    markup: Markup,
    /// Built on the first notice, so a cold start does not pay for TLS set-up.
    client: std::sync::OnceLock<reqwest::Client>,
}

impl WebhookNotifier {
    /// A notifier for this URL (kept secret: it is the credential).
    pub fn new(url: Secret) -> Result<Self, String> {
        let parsed =
            url::Url::parse(url.expose()).map_err(|_| "NOTIFY_WEBHOOK_URL is not a URL")?;
        let loopback = matches!(parsed.host_str(), Some("127.0.0.1" | "localhost" | "[::1]"));
        if parsed.scheme() != "https" && !(parsed.scheme() == "http" && loopback) {
            return Err("NOTIFY_WEBHOOK_URL must use https".into());
        }
        Ok(WebhookNotifier {
            markup: Markup::of_webhook(url.expose()),
            url,
            client: std::sync::OnceLock::new(),
        })
    }

    fn client(&self) -> Result<&reqwest::Client, String> {
        if let Some(c) = self.client.get() {
            return Ok(c);
        }
        let built = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .build()
            .map_err(|e| format!("HTTP client: {}", e.without_url()))?;
        Ok(self.client.get_or_init(|| built))
    }
}

impl WebhookNotifier {
    /// Posts `{"text": text}`; `what` names the notice in the log (a
    /// request id, or `seat alert`), never the URL.
    async fn post(&self, text: String, what: &str) {
        let body = serde_json::json!({ "text": text });
        let client = match self.client() {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(notice = what, "notification webhook: {e}");
                return;
            }
        };
        match client.post(self.url.expose()).json(&body).send().await {
            Ok(r) if r.status().is_success() => {}
            Ok(r) => {
                tracing::warn!(status = %r.status(), notice = what, "notification webhook refused the notice")
            }
            // Never log the URL: it is the credential.
            Err(e) => {
                tracing::warn!(
                    notice = what,
                    "notification webhook failed: {}",
                    e.without_url()
                )
            }
        }
    }
}

impl Notifier for WebhookNotifier {
    fn notify<'a>(&'a self, notice: &'a ApprovalNotice) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            self.post(message_for(notice, self.markup), &notice.request.id)
                .await;
        })
    }

    fn alert<'a>(&'a self, notice: &'a AlertNotice) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            self.post(alert_message(notice, self.markup), "seat alert")
                .await;
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plain_http_webhook_off_loopback_is_refused() {
        assert!(WebhookNotifier::new(Secret::new("http://hooks.example/x")).is_err());
        assert!(WebhookNotifier::new(Secret::new("not a url")).is_err());
        assert!(
            WebhookNotifier::new(Secret::new("https://hooks.slack.com/services/T/B/X")).is_ok()
        );
    }
}
