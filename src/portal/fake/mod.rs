//! An in-process fake of the three portal ports ([`Members`], [`OrgAdmin`],
//! [`FeatureLayers`]): a map of members, no HTTP.
//!
//! For the workflow's unit tests and the overhead benchmark only. Anything
//! that must behave like ArcGIS Online is tested against the portal
//! simulator over real HTTP instead.
//!
//! The write operations keep the rules a caller must cope with: a role or
//! user type change that breaks the compatibility table (`compat`) is
//! refused with the same codes as the real client, and once seats are set
//! with [`FakePortal::set_purchased`], a type change needs a free seat.
//!
//! Pending invitations: off by default (an e-mail invite creates a member
//! at once, as the existing tests expect). After
//! [`FakePortal::set_email_invitations_pending`], an invite without a
//! password leaves a pending invitation instead: [`Members::member`] does
//! not find it, [`Members::invitation`] does, it holds its seat and its
//! name until a test accepts it ([`FakePortal::accept_invitation`]) or lets
//! it lapse ([`FakePortal::expire_invitation`]).
//!
//! The seat's life after sign-up: `disable`/`enable` set the member's
//! `disabled`; `delete_member` removes it (its seat is free, its name stays
//! taken) unless what it owns, scripted with [`FakePortal::set_owned_content`]
//! (nothing by default), is not empty, then it is refused with the real
//! client's `owns_content`; `send_notification` records each call
//! ([`FakePortal::notifications`]) and refuses a username that is no
//! member, as the simulator does.
//!
//! Layout: this file (the fake's state and the test-facing controls);
//! `members`, `org`, `layers` implement one port each.
//!
//! [`Members`]: crate::portal::Members
//! [`Members::member`]: crate::portal::Members::member
//! [`Members::invitation`]: crate::portal::Members::invitation

mod layers;
mod members;
mod org;

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Mutex;

use serde_json::{Map, Value};

use crate::domain::layer_url::LayerUrl;
use crate::portal::error::PortalError;
#[cfg(doc)]
use crate::portal::layers::FeatureLayers;
use crate::portal::members::{Member, PendingInvitation};
#[cfg(doc)]
use crate::portal::org::OrgAdmin;
use crate::portal::org::{OwnedContent, Role};

/// The fake portal.
#[derive(Default)]
pub struct FakePortal {
    state: Mutex<FakeState>,
}

#[derive(Default)]
struct FakeState {
    org_id: String,
    members: HashMap<String, Member>,
    taken_elsewhere: HashSet<String>,
    /// `(id, title)` in creation order.
    groups: Vec<(String, String)>,
    /// Roles `portals/self/roles` would list (not the built-in ones).
    roles: Vec<Role>,
    /// Purchased seats per user type; empty = unlimited.
    purchased: HashMap<String, u64>,
    invite_failures: VecDeque<PortalError>,
    /// The next invite panics (a bug in a task, for the workers' tests).
    panic_next_invite: bool,
    write_failures: VecDeque<PortalError>,
    read_failures: VecDeque<PortalError>,
    /// Failures the next [`OrgAdmin::license_counts`] calls return.
    license_count_failures: VecDeque<PortalError>,
    /// Hosted layer records by checked layer URL.
    layers: HashMap<String, Vec<Map<String, Value>>>,
    invites: u32,
    writes: Vec<String>,
    /// Whether `org_members` leaves `group_ids` empty, as ArcGIS Online's
    /// listing may (then only `group_members` tells who is in a group).
    listing_without_groups: bool,
    /// `group_members` of these group ids fails with this error, every time.
    group_member_failures: HashMap<String, PortalError>,
    /// How many `group_members` calls were made.
    group_member_reads: u32,
    /// Whether an invite without a password leaves a pending invitation
    /// instead of a member.
    email_invitations_pending: bool,
    /// Pending invitations by exact username.
    invitations: HashMap<String, FakeInvitation>,
    /// What members own, by exact username (absent = nothing).
    owned: HashMap<String, OwnedContent>,
    /// Every notification sent, in order.
    notifications: Vec<FakeNotification>,
}

/// One [`OrgAdmin::send_notification`] call as the fake recorded it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FakeNotification {
    /// The usernames, as given (trimmed, empty ones dropped, each once).
    pub usernames: Vec<String>,
    /// The subject.
    pub subject: String,
    /// The message.
    pub message: String,
}

/// A pending invitation of the fake and the member it becomes on
/// acceptance.
#[derive(Clone)]
struct FakeInvitation {
    listed: PendingInvitation,
    member: Member,
}

impl FakeState {
    /// The pending invitation of `username`: the exact name, else one
    /// equal without regard to ASCII case (the port's contract).
    fn invitation(&self, username: &str) -> Option<&FakeInvitation> {
        self.invitations.get(username).or_else(|| {
            self.invitations
                .values()
                .find(|i| i.listed.username.eq_ignore_ascii_case(username))
        })
    }
}

impl FakePortal {
    /// A fake organization with this id and these group titles (ids
    /// `g-<title>`), and the pre-built Viewer and Data Editor roles.
    pub fn new(org_id: &str, groups: &[&str]) -> Self {
        let fake = FakePortal::default();
        {
            let mut s = fake.lock();
            s.org_id = org_id.to_string();
            for g in groups {
                s.groups.push((format!("g-{g}"), g.to_string()));
            }
            s.roles = [
                ("iAAAAAAAAAAAAAAA", "Viewer"),
                ("iBBBBBBBBBBBBBBB", "Data Editor"),
            ]
            .iter()
            .map(|(id, name)| Role {
                id: id.to_string(),
                name: name.to_string(),
                privileges: None,
            })
            .collect();
        }
        fake
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, FakeState> {
        // A poisoned lock only means another test thread panicked; the data
        // is still usable for a fake.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Marks a username as taken by another organization.
    pub fn take_elsewhere(&self, username: &str) {
        self.lock().taken_elsewhere.insert(username.to_string());
    }

    /// The next invite fails with `err` (queue several for several).
    pub fn fail_next_invite(&self, err: PortalError) {
        self.lock().invite_failures.push_back(err);
    }

    /// The next invite panics, as a bug would (the workers must not lose
    /// the job when a task panics).
    pub fn panic_next_invite(&self) {
        self.lock().panic_next_invite = true;
    }

    /// The next write (`update_profile`, `update_role`, `update_user_type`,
    /// `add_to_groups`, `disable`, `enable`, `delete_member`,
    /// `send_notification`) fails with `err` and changes nothing (queue
    /// several for several).
    pub fn fail_next_write(&self, err: PortalError) {
        self.lock().write_failures.push_back(err);
    }

    /// The next [`FeatureLayers::feature_by_globalid`] fails with `err` (queue
    /// several for several).
    pub fn fail_next_read(&self, err: PortalError) {
        self.lock().read_failures.push_back(err);
    }

    /// The next [`OrgAdmin::license_counts`] fails with `err` (queue
    /// several for several).
    pub fn fail_next_license_counts(&self, err: PortalError) {
        self.lock().license_count_failures.push_back(err);
    }

    /// Adds a record to a hosted layer (`layer_url` as configured) and
    /// returns its new global id (`{UPPER}`), also set as its `globalid`
    /// attribute. Panics on a layer URL [`LayerUrl::parse`] refuses: a
    /// test's mistake.
    pub fn put_feature(&self, layer_url: &str, mut attributes: Map<String, Value>) -> String {
        // ok: test support only; a bad URL is the test's own mistake.
        let layer = LayerUrl::parse(layer_url).expect("a valid layer URL");
        let mut s = self.lock();
        let records = s.layers.entry(layer.as_str().to_string()).or_default();
        let n = records.len() + 1;
        let id = format!("{{{:08X}-0000-4000-8000-{:012X}}}", n, n);
        attributes.insert("globalid".into(), Value::from(id.clone()));
        attributes.insert("objectid".into(), Value::from(n));
        records.push(attributes);
        id
    }

    /// Adds a member directly (as if created earlier).
    pub fn add_member(&self, m: Member) {
        self.lock().members.insert(m.username.clone(), m);
    }

    /// Adds a custom role (listed by [`OrgAdmin::roles`]; compatible with every
    /// user type, as the simulator's default custom role).
    pub fn add_role(&self, id: &str, name: &str) {
        let mut s = self.lock();
        if !s.roles.iter().any(|r| r.id == id) {
            s.roles.push(Role {
                id: id.to_string(),
                name: name.to_string(),
                privileges: None,
            });
        }
    }

    /// Sets the purchased seats of a user type. From the first call on,
    /// [`OrgAdmin::update_user_type`] needs a free seat (a type never set has
    /// none) and [`OrgAdmin::license_counts`] reports these numbers.
    pub fn set_purchased(&self, user_type: &str, seats: u64) {
        self.lock().purchased.insert(user_type.to_string(), seats);
    }

    /// From now on [`OrgAdmin::org_members`] reports no member's groups (the
    /// strict reading of the org listing); [`OrgAdmin::group_members`] still
    /// does.
    pub fn list_members_without_groups(&self) {
        self.lock().listing_without_groups = true;
    }

    /// Every [`OrgAdmin::group_members`] of `group_id` fails with `err`.
    pub fn fail_group_members(&self, group_id: &str, err: PortalError) {
        self.lock()
            .group_member_failures
            .insert(group_id.to_string(), err);
    }

    /// How many [`OrgAdmin::group_members`] calls were made.
    pub fn group_member_reads(&self) -> u32 {
        self.lock().group_member_reads
    }

    /// From now on (`true`) an invite without a password leaves a pending
    /// invitation instead of a member, as ArcGIS Online may (fact sheet §2,
    /// open question); `false` goes back to creating the member at once.
    pub fn set_email_invitations_pending(&self, on: bool) {
        self.lock().email_invitations_pending = on;
    }

    /// Adds a pending invitation directly (as if sent earlier). On
    /// acceptance it becomes a member with its role and user type, in no
    /// group. Returns `false`, changing nothing, when the username is
    /// already a member's or another invitation's.
    pub fn add_invitation(&self, invitation: PendingInvitation) -> bool {
        let mut s = self.lock();
        let name = invitation.username.clone();
        if s.members.contains_key(&name) || s.invitation(&name).is_some() {
            return false;
        }
        let member = Member {
            username: name.clone(),
            email: invitation.email.clone(),
            org_id: Some(s.org_id.clone()),
            role: invitation.role.clone(),
            user_type: invitation.user_type.clone(),
            access: Some("org".into()),
            esri_access: Some("arcgisonly".into()),
            ..Member::default()
        };
        s.invitations.insert(
            name,
            FakeInvitation {
                listed: invitation,
                member,
            },
        );
        true
    }

    /// The person accepts the invitation of `username` (exact name): it
    /// becomes the member it was sent for (role, user type, groups) and
    /// keeps its seat. `false` when there is no such invitation.
    pub fn accept_invitation(&self, username: &str) -> bool {
        let mut s = self.lock();
        match s.invitations.remove(username) {
            Some(inv) => {
                s.members.insert(inv.member.username.clone(), inv.member);
                true
            }
            None => false,
        }
    }

    /// The invitation of `username` (exact name) lapses: it is gone and its
    /// seat is free, but its name stays unavailable, as ArcGIS Online does
    /// not simply reuse it (fact sheet §2). `false` when there is no such
    /// invitation.
    pub fn expire_invitation(&self, username: &str) -> bool {
        let mut s = self.lock();
        match s.invitations.remove(username) {
            Some(_) => {
                s.taken_elsewhere.insert(username.to_string());
                true
            }
            None => false,
        }
    }

    /// Every pending invitation, sorted by username.
    pub fn pending_invitations(&self) -> Vec<PendingInvitation> {
        let s = self.lock();
        let mut all: Vec<PendingInvitation> =
            s.invitations.values().map(|i| i.listed.clone()).collect();
        all.sort_by(|a, b| a.username.cmp(&b.username));
        all
    }

    /// All members.
    pub fn members(&self) -> Vec<Member> {
        self.lock().members.values().cloned().collect()
    }

    /// How many invites were attempted.
    pub fn invites(&self) -> u32 {
        self.lock().invites
    }

    /// Every write attempted, in order, e.g. `update_role ana_acme
    /// iAAAAAAAAAAAAAAA`, `update_user_type ana_acme viewerUT`,
    /// `update_profile ana_acme`, `add_to_groups ana_acme g-Crew,g-Office`,
    /// `disable ana_acme`, `enable ana_acme`, `delete_member ana_acme`,
    /// `send_notification ana_acme,bo_acme`.
    pub fn writes(&self) -> Vec<String> {
        self.lock().writes.clone()
    }

    /// What `username` owns from now on ([`OrgAdmin::owned_content`]); a
    /// deletion of a member owning anything is refused with
    /// `owns_content`. Nothing is the default.
    pub fn set_owned_content(&self, username: &str, owned: OwnedContent) {
        self.lock().owned.insert(username.to_string(), owned);
    }

    /// Every notification sent ([`OrgAdmin::send_notification`]), in
    /// order.
    pub fn notifications(&self) -> Vec<FakeNotification> {
        self.lock().notifications.clone()
    }
}

/// A `Rejected` error with this code and message.
fn rejected(code: &str, message: impl Into<String>) -> PortalError {
    PortalError::Rejected {
        code: code.to_string(),
        message: message.into(),
    }
}
