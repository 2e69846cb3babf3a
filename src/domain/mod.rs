//! Validated value types shared by every layer, and the ArcGIS facts they
//! rest on.
//!
//! Each type can only be built through a parsing constructor, so a value that
//! exists is a value that is valid ("parse, don't validate"). Nothing here does
//! I/O, reads the clock or draws random numbers: time comes in as
//! [`UnixMillis`] from [`crate::clock`], ids from [`crate::ids`].
//!
//! - [`email`], [`username`], [`pool`], [`delivery`]: the identifiers
//!   (an applicant, a portal account, a seat pool and a claim in it, a
//!   webhook delivery).
//! - [`signup`]: [`SignupRequest`], a sign-up as every sender's adapter
//!   normalises it.
//! - [`grants`]: the approval mode and the per-request overrides.
//! - [`request`]: where a sign-up request stands, and an approver's verdict.
//! - [`compat`]: ArcGIS role and user type ids and which fit together
//!   (fact sheet §7), shared by the rules check, the import and the portal
//!   simulator.
//! - [`layer_url`]: the checked URL of a hosted feature layer (Survey123
//!   records are re-read from one).
//! - [`date`]: UTC calendar days (a rule's `ends_on`, the trail's days).
//! - [`alert`]: usage alerts: the thresholds a pool or user type is
//!   watched at, what an alert is about, and the pure once-per-crossing
//!   rule.

pub mod alert;
pub mod compat;
pub mod date;
pub mod delivery;
pub mod email;
pub mod flavour;
pub mod grants;
pub mod layer_url;
pub mod pool;
pub mod request;
pub mod signup;
pub mod username;

pub use alert::{AlertSubject, Crossing, Thresholds, UserTypeId};
pub use delivery::DeliveryKey;
pub use email::{Email, EmailIdentity, InvalidEmail};
pub use flavour::PortalFlavour;
pub use grants::{ApprovalMode, Overrides};
pub use layer_url::LayerUrl;
pub use pool::{ClaimKey, PoolId};
pub use request::{RequestState, Verdict};
pub use signup::SignupRequest;
pub use username::{InvalidUsername, Username};

/// Milliseconds since the Unix epoch. Time is always passed in, never read
/// inside domain code, so tests control it.
pub type UnixMillis = i64;
