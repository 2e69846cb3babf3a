//! Amazon SQS as the job queue. The queue, its dead-letter queue and the
//! worker function subscribed to it are declared in `template.yaml`.

use aws_sdk_sqs::Client;

use crate::queue::{BoxFuture, Job, JobSink, QueueError};

/// Sends jobs to one SQS queue.
#[derive(Clone, Debug)]
pub struct SqsQueue {
    client: Client,
    url: String,
}

impl SqsQueue {
    /// A queue by URL (`JOB_QUEUE_URL`).
    pub fn new(client: Client, url: impl Into<String>) -> Self {
        SqsQueue {
            client,
            url: url.into(),
        }
    }

    /// A client from the default AWS configuration; with an endpoint
    /// override (`SQS_ENDPOINT`, a local emulator), static local credentials.
    pub async fn client(endpoint: Option<&str>) -> Client {
        match endpoint {
            Some(url) => {
                let conf = aws_sdk_sqs::Config::builder()
                    .behavior_version(aws_sdk_sqs::config::BehaviorVersion::latest())
                    .region(aws_sdk_sqs::config::Region::new("us-east-1"))
                    .credentials_provider(aws_sdk_sqs::config::Credentials::new(
                        "local",
                        "local",
                        None,
                        None,
                        "sqs-local",
                    ))
                    .endpoint_url(url)
                    .build();
                Client::from_conf(conf)
            }
            None => Client::new(crate::config::aws_config().await),
        }
    }
}

impl JobSink for SqsQueue {
    fn enqueue<'a>(&'a self, job: &'a Job) -> BoxFuture<'a, Result<(), QueueError>> {
        Box::pin(async move {
            let body = serde_json::to_string(job)
                .map_err(|e| QueueError(format!("job not serialisable: {e}")))?;
            self.client
                .send_message()
                .queue_url(&self.url)
                .message_body(body)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| {
                    QueueError(format!(
                        "SendMessage failed: {}",
                        aws_sdk_sqs::error::DisplayErrorContext(&e)
                    ))
                })
        })
    }
}
