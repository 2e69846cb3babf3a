//! [`AppState`]: what every route reads, built once by `startup` and shared
//! by the Lambda and the local server.

use std::sync::Arc;

use super::admin::settings::AdminSettings;
use crate::clock::Clock;
use crate::config::Secret;
use crate::ids::Ids;
use crate::intake::entra::EntraVerifier;
use crate::intake::profiles::ProfileClients;
use crate::intake::signature::SigningKey;
use crate::intake::slack::SlackApprovals;
use crate::intake::sources::Sources;
use crate::notify::links::LinkSigner;
use crate::provisioning::Provisioner;
use crate::queue::JobSink;

/// What the routes need.
pub struct AppState<L, P> {
    /// The workflow (shared with the queue worker).
    pub provisioner: Arc<Provisioner<L, P>>,
    /// The feature layers Survey123 records are re-read from (the same
    /// portal client the workflow uses), for the Survey123 intake adapter.
    pub layers: Arc<P>,
    /// Where the Okta and Entra hooks queue the members they cannot wait
    /// for, and where the other sign-up routes hand a member the portal did
    /// not create within the deadline; `None`: everything is synchronous and
    /// a slow portal releases the seat.
    pub jobs: Option<Arc<dyn JobSink>>,
    /// Keys accepted on `/webhooks/standard` and `/approvals/{id}` (several,
    /// for rotation).
    pub standard_keys: Vec<SigningKey>,
    /// Allowed clock skew for signed timestamps, in seconds.
    pub tolerance_secs: i64,
    /// The clock.
    pub clock: Clock,
    /// Where session nonces come from.
    pub ids: Ids,
    /// Bearer tokens accepted on `GET /status` (none: the route answers 404).
    pub status_tokens: Vec<Secret>,
    /// The switched-on senders besides Standard Webhooks.
    pub sources: Sources,
    /// The Entra token verifier (its JWKS cache), when `[sources.entra]` is on.
    pub entra: Option<Arc<EntraVerifier>>,
    /// Outbound clients of the identity providers' APIs (Okta and Auth0
    /// profiles).
    pub profiles: ProfileClients,
    /// Signed approval links and Slack buttons.
    pub approval_routes: ApprovalConfig,
    /// The administrator's page (`None`: `/admin` answers 404).
    pub admin: Option<AdminSettings>,
}

impl<L, P> AppState<L, P> {
    /// The job queue as the workflow takes it.
    pub fn jobs(&self) -> Option<&dyn JobSink> {
        self.jobs.as_deref()
    }
}

/// How decisions may arrive: signed webhooks, links, Slack buttons.
#[derive(Clone, Default)]
pub struct ApprovalConfig {
    /// Signs and checks the one-time links.
    pub links: Option<Arc<LinkSigner>>,
    /// Slack interactive buttons.
    pub slack: Option<SlackApprovals>,
    /// Standard Webhooks keys of signed decisions (`POST /approvals/{id}`),
    /// their own and never the sign-up keys; none switches the route off.
    pub webhook_keys: Vec<SigningKey>,
}
