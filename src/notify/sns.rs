//! [`SnsNotifier`]: approval notices and usage alerts published to an SNS
//! topic (its e-mail subscriptions).

use super::message::{Markup, alert_message, alert_title, message};
use super::{AlertNotice, ApprovalNotice, BoxFuture, Notifier};

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

    fn alert<'a>(&'a self, notice: &'a AlertNotice) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            let result = self
                .client
                .publish()
                .topic_arn(&self.topic_arn)
                .subject(alert_title(notice).chars().take(99).collect::<String>())
                .message(alert_message(notice, Markup::Plain))
                .send()
                .await;
            if let Err(e) = result {
                tracing::warn!(
                    "SNS publish of a seat alert failed: {}",
                    aws_sdk_sns::error::DisplayErrorContext(&e)
                );
            }
        })
    }
}
