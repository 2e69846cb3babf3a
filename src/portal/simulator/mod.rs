//! A stateful fake ArcGIS Online portal (or ArcGIS Enterprise portal),
//! served over real HTTP.
//!
//! Tests and the local demo point the real ArcGIS client at it, so the
//! client's wire format, token handling and error classification are
//! exercised end to end. It follows the portal fact sheet
//! (`arcgis-portal-api.md`, §10 is its checklist): routes under
//! `/sharing/rest/`, parameters from the query string or a form-encoded body,
//! lists as comma lists or JSON arrays, errors as HTTP 200 bodies
//! `{"error":{code,messageCode,message,details}}`, `notInvited` without a
//! reason, seats that stay consistent across invite, type changes and
//! removal, role × user type rules on every change, profile updates
//! (`community/users/<u>/update`) validated like the portal does.
//!
//! Pending invitations: what an invite without `password` leaves behind is
//! the fact sheet's open question (§2), so it is a setting,
//! [`SimulatorConfig::email_invitations_pending`]. Off (the default), it
//! creates a member at once ([`MemberStatus::Pending`], visible). On, it
//! leaves only a [`SimInvitation`]: listed by `GET
//! portals/self/invitations` (administrators; `start`/`num` paging,
//! `{total, start, num, nextStart, invitations}`), unknown to
//! `community/users` and the org listing, holding a seat of its user type
//! (counted in `assigned` and `users/counts`) and its username
//! (`checkUsernames` suggests another, a second invite is `notInvited`).
//! It lapses after [`SimulatorConfig::invitation_lifetime`] by the
//! simulator's clock, freeing its seat but not its username (§2: not simply
//! reused); tests accept or expire one with
//! [`PortalSimulator::accept_invitation`] and
//! [`PortalSimulator::expire_invitation`].
//!
//! Group membership: `community/users/<u>` (and `portals/self.user`) list
//! the user's own `groups`, but the `portals/self/users` listing does not.
//! Whether ArcGIS Online's listing carries them is not established (fact
//! sheet mark \[I\]); the simulator takes the strict side, so clients must
//! read membership per group with `community/groups/<gid>/userList` (paged;
//! owner, admins and members; admins of the org, the owner and members may
//! read it, anyone else gets 403).
//!
//! Password reset: `community/users/<u>/reset` with `email=true` is not in
//! the fact sheet (the ArcGIS API for Python's `User.reset(reset_by_email=
//! True)` sends it, so mark \[I\]). The simulator takes the strict side:
//! administrator or the member only, a member of the organization who holds
//! a password (a pending e-mail invitation has none), by e-mail only; it
//! counts the e-mails it would send ([`PortalSimulator::reset_emails`],
//! `reset_emails` in `GET /_sim/state`).
//!
//! A seat's life after sign-up (fact sheet §6, \[D\]; issue 14):
//!
//! - `community/users/<u>/disable` and `/enable` (POST, administrators;
//!   `{"success":true,"username"}`): a disabled member shows `disabled:
//!   true` in its user JSON and the org listing, keeps its seat of its user
//!   type (ArcGIS Online counts disabled members), loses its tokens, and
//!   cannot `generateToken`: after a correct password it gets the
//!   bad-credentials shape with the detail "This account has been
//!   disabled." (wording \[I\]). An administrator cannot disable itself
//!   (strict side).
//! - `community/users/<u>/delete` (POST, administrators): refused with an
//!   error object naming what the member owns while it owns items or groups
//!   (the cause is the fact sheet's, the wording \[I\]); otherwise the
//!   member is gone and its seat free, and its username stays taken:
//!   `checkUsernames` answers an empty list for it (what the fact sheet saw
//!   for deleted names) and an invite under it is `notInvited`. An
//!   administrator cannot delete itself.
//! - `GET content/users/<u>` (the member or an administrator, else 403;
//!   strict side): `{username, total, start, num, nextStart, currentFolder,
//!   items, folders}` with `start`/`num` paging; items are seeded with
//!   [`PortalSimulator::seed_item`] and all sit in the root folder, so
//!   `folders` is empty. Groups a member owns ([`PortalSimulator::seed_group`])
//!   are listed in its user JSON's `groups` with their `owner`.
//! - `portals/self/createNotification` (POST, administrators): not in the
//!   fact sheet (\[I\]: the Python API's `gis.users.send_notification`, REST
//!   JS's `createOrgNotification`), so strict throughout:
//!   `notificationChannelType` `email` or `builtin`, a `message`, a
//!   `subject` for e-mail, at most 25 `users` (REST JS batches by 25), each
//!   an exact member's username, or the whole request is refused and
//!   nothing sent. Each recipient's notification is recorded
//!   ([`PortalSimulator::notifications`], `notifications` in `GET
//!   /_sim/state`).
//!
//! ArcGIS Enterprise flavour ([`SimulatorConfig::flavour`], issue 15):
//! the same sharing API, except that `portals/self` says `isPortal: true`
//! and `portalMode: singletenant` and carries no licence counts (no
//! `subscriptionInfo`, no `maxUsers`: strict side), plus the admin API
//! under `/portaladmin` (fact sheet §1, §3, §5), answered in its own shape
//! (`{"status":"success",…}`, or HTTP 200 `{"status":"error","messages":
//! […],"code"}` worded as in [`portaladmin`]): `GET /portaladmin/` (a root
//! document), `GET|POST /portaladmin/license` (per user type
//! `maximumRegisteredMembers` = purchased, `currentRegisteredMembers` =
//! members and pending invitations, the count the invite is limited by)
//! and `POST /portaladmin/security/users/createUser` (`username`,
//! `password`, `firstname`, `lastname`, `email`, `role`,
//! `userLicenseTypeId`, `provider` `arcgis`|`enterprise`, `idpUsername`,
//! `description`, `applyDefaults`: a member at once, active, no groups,
//! holding a seat; `{"status":"success","username"}`). The admin API takes
//! an administrator's token from a POST's form body or a GET's query
//! string only, never from the `X-Esri-Authorization` header (fact sheet
//! §3, strict side): none → 499, invalid → 498, not an administrator's →
//! 403. Counters and injected faults apply to it as to the sharing API.
//! In the ArcGIS Online flavour (the default) `/portaladmin` is HTTP 404.
//!
//! It also hosts feature layers (a Survey123 form's records): `GET|POST
//! <any path>/FeatureServer/<n>/query` with `where` (`1=1` or one
//! `<field> = '<text>'`; global ids only in the stored `'{UPPER}'` form),
//! `outFields` and `f=json`, behind the same token checks, counters and
//! faults as the sharing API. Tests add and edit records with
//! [`PortalSimulator::put_feature`] and [`PortalSimulator::edit_feature`],
//! which set `Editor`/`EditDate` like editor tracking does.
//!
//! # Layout
//!
//! This file only names the parts and re-exports the public API.
//!
//! - `config`: [`SimulatorConfig`] and what it is made of ([`SimAccount`],
//!   [`SimRole`], [`RefusalStyle`]); `member`: [`SimMember`],
//!   [`MemberStatus`], [`SimInvitation`]; `content`: [`SimItem`];
//!   `notification`: [`SimNotification`]; `fault`: [`Fault`],
//!   [`FaultKind`]; `duration_ms`: their millisecond durations in JSON;
//! - `sim`: the in-process API ([`PortalSimulator`]: inspection, fault
//!   injection, clock-free controls);
//! - `server`: the server lifecycle ([`spawn`], [`serve`],
//!   [`RunningSimulator`]);
//! - `org`: the fixed organization settings and its role rules;
//! - `state`: the mutable organization and the portal's rules, one concern
//!   per file (accounts and tokens, members and invitations, disabling and
//!   deleting members, members' content, notifications, pending
//!   invitations, groups, licences, faults and request counts); no HTTP, no
//!   clock;
//! - `layers`: hosted feature layers, their records and `query`;
//! - `error`: the sharing API's error object (and its portaladmin shape);
//!   `lists`: list parameters and paging; [`portaladmin`]: the admin API's
//!   wording, as consts;
//! - `http`: routing, parameters, auth, faults, JSON (the sharing API,
//!   layer queries and the portaladmin API), and the `/_sim/*` control
//!   routes.
//!
//! # Control routes (for other processes)
//!
//! `GET /_sim/state` (the flavour, members, pending invitations,
//! purchased/assigned seats, groups, items, notifications, request counts, records per hosted
//! layer), `POST
//! /_sim/faults` (a JSON [`Fault`]), `DELETE /_sim/faults`, `POST
//! /_sim/expire-tokens`, `POST /_sim/purchased`
//! (`{"user_type":"viewerUT","count":5}`), `POST /_sim/sign-in`
//! (`{"username":"…","at_ms":…}`), `GET /_sim/invitations` (the pending
//! invitations), `POST /_sim/invitations/accept` and `POST
//! /_sim/invitations/expire` (`{"username":"…"}`; 404 when there is none).
//!
//! # What it must not do
//!
//! It is a test double: never deployed, never calls a real portal, and shares
//! no code with the ArcGIS client (`arcgis/`, `wire.rs`) so the two check
//! each other against the fact sheet. Passwords are kept only as SHA-256
//! digests and, like tokens and query strings, never logged.

mod config;
mod content;
mod duration_ms;
mod error;
mod fault;
mod http;
mod layers;
mod lists;
mod member;
mod notification;
mod org;
pub mod portaladmin;
mod server;
mod sim;
mod state;
mod tls;

pub use config::{INVITATION_LIFETIME, RefusalStyle, SimAccount, SimRole, SimulatorConfig};
pub use content::SimItem;
pub use fault::{Fault, FaultKind};
pub use member::{MemberStatus, SimInvitation, SimMember};
pub use notification::SimNotification;
pub use server::{RunningSimulator, serve, serve_tls, spawn, spawn_tls};
pub use sim::PortalSimulator;
pub use tls::{CA_FILE_NAME, HANDSHAKE_TIMEOUT, SimTlsError, SimulatorTls, TlsListener};
