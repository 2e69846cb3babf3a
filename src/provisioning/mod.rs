//! The provisioning workflow: everything that changes seats, requests and
//! members, driven through the ports by one struct, [`Provisioner`].
//!
//! Entry points call one workflow function per request and render what it
//! returns; nothing else writes to the ledger. Every function takes `now`
//! (read by the caller from the injected [`crate::clock::Clock`]) and draws
//! ids from the injected [`crate::ids::Ids`], so tests move time and repeat
//! runs.
//!
//! # The workflow functions
//!
//! | function | file | called by |
//! |---|---|---|
//! | [`Provisioner::sign_up`] | `signup` | every sender's route, the CSV import |
//! | [`Provisioner::run_job`], [`Provisioner::complete_job`] | `jobs` | the SQS worker, the local worker |
//! | [`Provisioner::decide_request`] | `approval` | the approval routes, the administrator's page |
//! | [`Provisioner::admit_waitlisted`], [`Provisioner::expire_requests`] | `waitlist` | jobs, decisions, the scheduled sweep |
//! | [`Provisioner::sweep`], [`Provisioner::settle_import`] | `recovery` | the scheduled sweep, start-up, the CSV import |
//! | [`Provisioner::reserve_seat_for`], [`Provisioner::confirm_seat`], [`Provisioner::release_seat`], [`Provisioner::rekey_seat`] | `seats` | the CSV import (user type and e-mail changes) |
//! | [`Provisioner::seat_status`], [`Provisioner::overview`], [`Provisioner::signup_history`], [`Provisioner::pool_detail`], [`Provisioner::request_view`], [`Provisioner::holds_seat`] … | `queries` | `/status`, the administrator's page, confirmation pages, the Okta event hook |
//! | [`Provisioner::check_alerts`], [`Provisioner::report_drift`] | `alerts` | the scheduled run (worker Lambda, local server); reconciliation |
//!
//! # Files
//!
//! - `workflow`: the struct, its wiring, the audit helper.
//! - `signup`: a sign-up's path ([`Creation`]: in the request, with the
//!   queue as fallback, or queued at once). `delivery`: the delivery lease
//!   around it. `member`: creating or adopting the member in the portal.
//! - `seats`: every write to a claim (reserve, confirm, release, move).
//! - `jobs`: the queued half. `requests`, `approval`, `waitlist`: sign-up
//!   requests, decisions, the waitlist. `recovery`: stale reservations.
//! - `queries`, `status`: read models; `history` (sign-ups per day, from
//!   the audit trail) and `roster` (a pool's member list) are theirs for
//!   the administrator's page. `outcome`: what a delivery came to.
//! - `lifecycle`: what expiry and reclaiming call for (a plan; pure).
//! - `reconcile`: the ledger against the organization (a pure plan, and
//!   [`Provisioner::apply_reconcile`] carrying it out through `claims`).
//! - `preflight`: the rules file against the real organization before
//!   going live (`check-rules --portal`; a pure check).
//! - `alerts`: usage alerts once per threshold crossing, and
//!   reconciliation's drift, through the notification channels.
//! - `applicants`: the applicant's mail on each change of their request
//!   (approved, denied, waitlisted, admitted, lapsed).
//!
//! The workflow never panics and never leaves a seat held for a member that
//! was not created, unless the creation was queued (its job settles it).

pub mod alerts;
mod applicants;
mod approval;
mod claims;
mod delivery;
pub mod history;
mod jobs;
pub mod lifecycle;
mod member;
mod outcome;
pub mod preflight;
mod queries;
pub mod reclaim;
pub mod reconcile;
mod recovery;
mod requests;
pub mod roster;
mod signup;
pub mod status;
mod waitlist;
mod workflow;

pub use approval::DecisionOutcome;
pub use jobs::JobResult;
pub use outcome::{Handled, Outcome};
pub use queries::{Overview, PoolDetail, RECENT_EVENTS, SignIns, WINDOW_CAP};
pub use recovery::{SettleError, Settled, SweepReport};
pub use requests::{RequestPayload, view};
pub use signup::Creation;
pub use workflow::{ApprovalWiring, Provisioner};

#[cfg(test)]
mod mail_tests;
#[cfg(test)]
mod tests;
