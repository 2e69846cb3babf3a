//! Counting the ledger's DynamoDB requests: an SDK interceptor installed on
//! the ledger's client that counts every attempt (retries included), so
//! tests and benchmarks can state what a sign-up costs in round trips.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::config::interceptors::BeforeTransmitInterceptorContextRef;
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_dynamodb::error::BoxError;

/// The number of requests sent, shared with the interceptor.
#[derive(Debug, Clone, Default)]
pub(super) struct RoundTrips(Arc<AtomicU64>);

impl RoundTrips {
    /// A copy of `client` that counts its attempts here.
    pub(super) fn install(&self, client: &Client) -> Client {
        let config = client
            .config()
            .to_builder()
            .interceptor(self.clone())
            .build();
        Client::from_conf(config)
    }

    /// Requests sent so far.
    pub(super) fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

impl Intercept for RoundTrips {
    fn name(&self) -> &'static str {
        "RoundTrips"
    }

    /// Called once per attempt, just before it is sent: one round trip.
    fn read_before_attempt(
        &self,
        _context: &BeforeTransmitInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        // Why relaxed: a statistic, read after the requests it counts.
        self.0.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
}
