//! Telling approvers about a new pending request: adapters of
//! [`crate::provisioning::Notifier`].
//!
//! - [`WebhookNotifier`]: a Slack or Microsoft Teams incoming webhook (both
//!   take `{"text": …}`), or any endpoint that does. The URL is a secret.
//! - [`SnsNotifier`]: an SNS topic (e-mail subscriptions) declared in
//!   `template.yaml`.
//! - [`LogNotifier`]: a log line (always on locally).
//!
//! Failures are logged and never block the sign-up: the request stays
//! pending and visible on the administrator's page.

use std::time::Duration;

use crate::config::Secret;
use crate::provisioning::{ApprovalNotice, BoxFuture, Notifier};

/// The message approvers read (plain text with the links; no secrets).
pub fn message(n: &ApprovalNotice) -> String {
    let r = &n.request;
    let name = [r.first_name.as_deref(), r.last_name.as_deref()]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(" ");
    let mut text = format!(
        "Access request for pool {pool}: {name}{sep}{email}{org}\nGets: role {role}, user type {ut}{groups}\nSeats left in {pool}: {left}\nRequest {id} expires at {exp} (UTC).",
        pool = r.pool,
        name = name,
        sep = if name.is_empty() { "" } else { " " },
        email = format_args!("<{}>", r.email),
        org = r
            .organization
            .as_deref()
            .map(|o| format!(" ({o})"))
            .unwrap_or_default(),
        role = r.role,
        ut = r.user_type,
        groups = if r.groups.is_empty() {
            String::new()
        } else {
            format!(", groups {}", r.groups.join(", "))
        },
        left = n.seats_left,
        id = r.id,
        exp = utc(r.expires_at),
    );
    if let (Some(a), Some(d)) = (&n.approve_url, &n.deny_url) {
        text.push_str(&format!("\nApprove: {a}\nDeny: {d}"));
    }
    if let Some(admin) = &n.admin_url {
        text.push_str(&format!("\nAll requests: {admin}"));
    }
    text
}

fn utc(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}",
        rem / 3600,
        (rem % 3600) / 60
    )
}

/// Days since 1970-01-01 to a civil date (Howard Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// Posts `{"text": …}` to an incoming-webhook URL (Slack, Teams, …).
pub struct WebhookNotifier {
    url: Secret,
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

impl Notifier for WebhookNotifier {
    fn notify<'a>(&'a self, notice: &'a ApprovalNotice) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            let body = serde_json::json!({ "text": message(notice) });
            let client = match self.client() {
                Ok(c) => c,
                Err(e) => {
                    tracing::warn!(request = %notice.request.id, "approval webhook: {e}");
                    return;
                }
            };
            match client.post(self.url.expose()).json(&body).send().await {
                Ok(r) if r.status().is_success() => {}
                Ok(r) => {
                    tracing::warn!(status = %r.status(), request = %notice.request.id, "approval webhook refused the notice")
                }
                // Never log the URL: it is the credential.
                Err(e) => {
                    tracing::warn!(request = %notice.request.id, "approval webhook failed: {}", e.without_url())
                }
            }
        })
    }
}

/// Publishes to an SNS topic.
pub struct SnsNotifier {
    client: aws_sdk_sns::Client,
    topic_arn: String,
}

impl SnsNotifier {
    /// A notifier for this topic, with the default AWS configuration.
    pub async fn new(topic_arn: impl Into<String>) -> Self {
        SnsNotifier {
            client: aws_sdk_sns::Client::new(crate::config::aws_config().await),
            topic_arn: topic_arn.into(),
        }
    }
}

impl Notifier for SnsNotifier {
    fn notify<'a>(&'a self, notice: &'a ApprovalNotice) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            let subject = format!("Access request for pool {}", notice.request.pool);
            let result = self
                .client
                .publish()
                .topic_arn(&self.topic_arn)
                .subject(subject.chars().take(99).collect::<String>())
                .message(message(notice))
                .send()
                .await;
            if let Err(e) = result {
                tracing::warn!(request = %notice.request.id, "SNS publish failed: {}", aws_sdk_sns::error::DisplayErrorContext(&e));
            }
        })
    }
}

/// A log line per notice (the local server always has it).
pub struct LogNotifier;

impl Notifier for LogNotifier {
    fn notify<'a>(&'a self, notice: &'a ApprovalNotice) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            tracing::info!(request = %notice.request.id, pool = %notice.request.pool, seats_left = notice.seats_left, "approval needed");
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_utc_civil_dates() {
        assert_eq!(utc(0), "1970-01-01 00:00");
        assert_eq!(utc(1_772_443_800_000), "2026-03-02 09:30");
        assert_eq!(utc(951_782_400_000), "2000-02-29 00:00");
    }

    #[test]
    fn a_plain_http_webhook_off_loopback_is_refused() {
        assert!(WebhookNotifier::new(Secret::new("http://hooks.example/x")).is_err());
        assert!(WebhookNotifier::new(Secret::new("not a url")).is_err());
        assert!(
            WebhookNotifier::new(Secret::new("https://hooks.slack.com/services/T/B/X")).is_ok()
        );
    }
}
