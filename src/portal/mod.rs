//! The ArcGIS portal: where members are created, the organization is read
//! and changed, and Survey123 records are re-read.
//!
//! # Ports, sized to their callers
//!
//! - [`Members`] (`members.rs`): one member at a time — org id, look-up,
//!   username check, group ids, invite, and pending invitations
//!   ([`Members::invitation`]: the workflow looks one up by username after
//!   a lost reply to an e-mail invitation, before it moves on to the next
//!   candidate name; [`Members::invitations`]: all of them, for seat
//!   reconciliation). The provisioning workflow's port.
//! - [`OrgAdmin`] (`org.rs`): the organization as a whole — paged listings
//!   (members, roles, groups, group members, seats), changes to existing
//!   members (profile, role, user type, groups), and the seat's life after
//!   sign-up (disable, enable, delete, what a member owns, e-mail
//!   notifications). The CSV import's port, together with [`Members`].
//! - [`FeatureLayers`] (`layers.rs`): one record of a hosted feature layer
//!   by global id. The Survey123 re-read's port.
//! - [`PortalError`] (`error.rs`): the failure classification all three
//!   share; [`PortalFlavour`] (from `domain`, where the configuration
//!   reads it too): ArcGIS Online or an ArcGIS Enterprise portal.
//!
//! [`Portal`] is all three at once, for code that holds one portal and
//! hands it to every caller (the provisioning workflow, the entry points,
//! the wiring); every type implementing the three ports is a [`Portal`].
//!
//! # Adapters
//!
//! Each implements all three ports. [`arcgis::ArcGisPortal`] talks to ArcGIS
//! Online over the sharing REST API (`reqwest`); [`fake::FakePortal`] is an
//! in-process map for unit tests; [`simulator`] is a stateful fake *portal
//! server* (it speaks the same REST API over real HTTP), so tests and the
//! local demo exercise the real client end to end. `wire` holds the
//! client's serde shapes. The role × user type rules both the rules file
//! check and the simulator enforce are in [`crate::domain::compat`] (fact
//! sheet §7); hosted feature layer URLs are checked by
//! [`crate::domain::layer_url`].
//!
//! This module must not hold adapter code: the ports and their vocabulary
//! only, each in its own file, re-exported here.

pub mod arcgis;
mod error;
pub mod fake;
mod layers;
mod members;
mod org;
pub mod simulator;
mod wire;

pub use crate::domain::PortalFlavour;
pub use error::PortalError;
pub use layers::FeatureLayers;
pub use members::{Invitation, Member, Members, NewMember, PendingInvitation};
pub use org::{
    Account, BUILT_IN_ROLES, INCOMPATIBLE_ROLE, LicenseCounts, OWNS_CONTENT, OrgAdmin,
    OwnedContent, ProfileUpdate, Role, USER_TYPE_REFUSED,
};

/// The whole portal: [`Members`], [`OrgAdmin`] and [`FeatureLayers`] of one
/// organization, shareable across tasks. Implemented by every type that
/// implements the three ports; bound by it where one value serves all three
/// callers (the provisioning workflow and the entry points that build it).
pub trait Portal: Members + OrgAdmin + FeatureLayers + Send + Sync + 'static {}

impl<T> Portal for T where T: Members + OrgAdmin + FeatureLayers + Send + Sync + 'static {}
