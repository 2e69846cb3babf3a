//! [`PortalSimulator`]: the simulated organization shared by every server
//! and test handle, and its in-process API (inspection, fault injection,
//! clock-free controls).
//!
//! Every method takes the one state lock, does a short synchronous
//! operation and lets go; nothing here awaits or speaks HTTP (that is
//! `server` and `http`).

use std::sync::{Arc, Mutex, MutexGuard};

use super::config::SimulatorConfig;
use super::fault::Fault;
use super::layers;
use super::member::{SimInvitation, SimMember};
use super::notification::SimNotification;
use super::org::Org;
use super::state::State;
use crate::clock::Clock;
use crate::domain::UnixMillis;
use crate::portal::PortalFlavour;

/// The simulated portal: shared state plus the fixed organization settings.
/// Cheap to clone (all clones share one state).
#[derive(Clone)]
pub struct PortalSimulator {
    inner: Arc<Inner>,
}

struct Inner {
    org: Org,
    /// Where token expiry and record edit times are read (the system clock
    /// unless a test passes its own).
    clock: Clock,
    /// A std mutex, not tokio's: every operation is short and synchronous,
    /// and the lock is never held across an `.await`. One lock for the whole
    /// org is what makes 200 concurrent invites unable to oversell.
    state: Mutex<State>,
}

impl PortalSimulator {
    /// Builds the organization: seeded accounts, groups, seats, roles, on
    /// the system clock.
    pub fn new(config: SimulatorConfig) -> Self {
        Self::with_clock(config, Clock::system())
    }

    /// [`Self::new`] on `clock` (tests move time to expire tokens).
    pub fn with_clock(config: SimulatorConfig, clock: Clock) -> Self {
        let org = Org::from_config(&config);
        let state = State::new(&config, &org, clock.now());
        PortalSimulator {
            inner: Arc::new(Inner {
                org,
                clock,
                state: Mutex::new(state),
            }),
        }
    }

    /// The simulator's time.
    pub fn now(&self) -> UnixMillis {
        self.inner.clock.now()
    }

    /// The organization id.
    pub fn org_id(&self) -> &str {
        &self.inner.org.id
    }

    /// Which kind of portal it plays (ArcGIS Online or an ArcGIS
    /// Enterprise portal, with `/portaladmin`).
    pub fn flavour(&self) -> PortalFlavour {
        self.inner.org.flavour
    }

    /// The organization's fixed settings.
    pub(super) fn org(&self) -> &Org {
        &self.inner.org
    }

    /// The state, locked, with every invitation whose time is up at
    /// [`Self::now`] lapsed first, so no reader sees one. Never hold the
    /// guard across an `.await`.
    pub(super) fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave the state half-updated
        // in a way that matters to a test double; keep serving.
        let mut st = self
            .inner
            .state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        // Why here: lapsing is due to time alone, not to any request, and
        // every reader (HTTP or in-process) goes through this lock.
        st.lapse_invitations(self.now());
        st
    }

    /// All members, sorted by username.
    pub fn members(&self) -> Vec<SimMember> {
        self.lock().members.values().cloned().collect()
    }

    /// One member by exact username.
    pub fn member(&self, username: &str) -> Option<SimMember> {
        self.lock().members.get(username).cloned()
    }

    /// Seats of `user_type` held by members (pending ones included) and by
    /// pending invitations.
    pub fn assigned(&self, user_type: &str) -> u64 {
        self.lock().assigned(user_type)
    }

    /// Seats of `user_type` purchased.
    pub fn purchased(&self, user_type: &str) -> u64 {
        self.lock().purchased(user_type)
    }

    /// Changes the purchased seats of a user type (0 removes it from the
    /// subscription). Members already holding seats keep them.
    pub fn set_purchased(&self, user_type: &str, seats: u64) {
        self.lock().set_purchased(user_type, seats);
    }

    /// The id of the group with this title (case-insensitive exact match).
    pub fn group_id(&self, title: &str) -> Option<String> {
        self.lock()
            .groups
            .iter()
            .find(|g| g.title.eq_ignore_ascii_case(title))
            .map(|g| g.id.clone())
    }

    /// How many `/sharing/rest/` requests hit paths ending with `suffix`
    /// (whole segments, case-insensitive: `"generateToken"`, `"invite"`,
    /// `"community/users/jdoe_acme"`); `/portaladmin` requests count as
    /// `portaladmin/<path>` (`"createUser"`, `"portaladmin/license"`);
    /// `""` counts every request.
    pub fn request_count(&self, path_suffix: &str) -> u64 {
        self.lock().request_count(path_suffix)
    }

    /// Adds a fault (after those already injected).
    pub fn inject(&self, fault: Fault) {
        self.lock().inject(fault);
    }

    /// The faults injected and not used up yet, in the order they apply.
    pub fn faults(&self) -> Vec<Fault> {
        self.lock().faults.clone()
    }

    /// Removes every fault.
    pub fn clear_faults(&self) {
        self.lock().faults.clear();
    }

    /// Makes every token issued so far answer 498 (expiry mid-run). Tokens
    /// generated afterwards work.
    pub fn expire_tokens(&self) {
        self.lock().tokens.clear();
    }

    /// Records a sign-in of `username` at `at_ms` (`lastLogin`). Returns
    /// whether the member exists.
    pub fn sign_in(&self, username: &str, at_ms: UnixMillis) -> bool {
        match self.lock().members.get_mut(username) {
            Some(m) => {
                m.last_login = at_ms;
                true
            }
            None => false,
        }
    }

    /// How many password-reset e-mails the portal sent `username`
    /// (`community/users/<u>/reset` with `email=true`).
    pub fn reset_emails(&self, username: &str) -> u32 {
        self.lock()
            .reset_emails
            .get(username)
            .copied()
            .unwrap_or_default()
    }

    /// Puts a member straight into the organization, bypassing the invite
    /// rules (an existing member before the test starts). It holds a seat of
    /// its type even beyond the purchased count. Returns `false`, changing
    /// nothing, when the username is already taken.
    pub fn seed_member(&self, member: SimMember) -> bool {
        self.lock().seed_member(member)
    }

    /// Deletes a member outside the broker (as another administrator would
    /// in the portal's member page): its seat is free, its username stays
    /// taken (as after `community/users/<u>/delete`), and it may own
    /// content (no check: a test's back door). Returns whether there was
    /// one.
    pub fn remove_member(&self, username: &str) -> bool {
        self.lock().remove_member(username)
    }

    /// Changes a member's user type outside the broker, bypassing the
    /// licence count and the role × user type rules (as an administrator
    /// who bought the licence first). Returns whether the member exists.
    pub fn set_user_type(&self, username: &str, user_type: &str) -> bool {
        match self.lock().members.get_mut(username) {
            Some(m) => {
                m.user_type = user_type.to_string();
                true
            }
            None => false,
        }
    }

    /// Adds a record to a hosted layer, as `editor` now: `layer` is the
    /// layer's URL or path (`<org id>/arcgis/rest/services/<service>/
    /// FeatureServer/<n>`; see [`RunningSimulator::layer_url`]). The layer
    /// sets `objectid`, `globalid`, `CreationDate`/`Creator` and
    /// `EditDate`/`Editor` (values given for them are ignored). Returns the
    /// new global id, `{UPPER-CASE GUID}` as ArcGIS stores it.
    ///
    /// [`RunningSimulator::layer_url`]: crate::portal::simulator::RunningSimulator::layer_url
    pub fn put_feature(
        &self,
        layer: &str,
        attributes: serde_json::Map<String, serde_json::Value>,
        editor: &str,
    ) -> String {
        self.lock()
            .layers
            .put(&layers::layer_key(layer), attributes, editor, self.now())
    }

    /// Changes fields of a record (found by global id, any case), as
    /// `editor` now: `Editor` and `EditDate` follow, as editor tracking
    /// does. `false` when there is no such record.
    pub fn edit_feature(
        &self,
        layer: &str,
        globalid: &str,
        changes: serde_json::Map<String, serde_json::Value>,
        editor: &str,
    ) -> bool {
        self.lock().layers.edit(
            &layers::layer_key(layer),
            globalid,
            changes,
            editor,
            self.now(),
        )
    }

    /// One record of a hosted layer by global id (any case, braces
    /// optional).
    pub fn feature(
        &self,
        layer: &str,
        globalid: &str,
    ) -> Option<serde_json::Map<String, serde_json::Value>> {
        self.lock().layers.get(&layers::layer_key(layer), globalid)
    }

    /// Every pending invitation, oldest first (then by username), as
    /// `portals/self/invitations` lists them.
    pub fn invitations(&self) -> Vec<SimInvitation> {
        self.lock()
            .invitations_listed()
            .into_iter()
            .cloned()
            .collect()
    }

    /// The pending invitation of this exact username.
    pub fn invitation(&self, username: &str) -> Option<SimInvitation> {
        self.lock().invitations.get(username).cloned()
    }

    /// Puts a pending invitation straight into the organization, bypassing
    /// the invite rules (one sent before the test starts). It holds a seat
    /// of its type even beyond the purchased count, and lapses at its
    /// `expires` by [`Self::now`]. Returns `false`, changing nothing, when
    /// the username is already taken.
    pub fn seed_invitation(&self, invitation: SimInvitation) -> bool {
        self.lock().seed_invitation(invitation)
    }

    /// The person accepts the invitation of this exact username now: it
    /// becomes an active member with the invited role, user type and
    /// groups, keeping its seat. Returns whether there was one.
    pub fn accept_invitation(&self, username: &str) -> bool {
        let now = self.now();
        self.lock().accept_invitation(username, now)
    }

    /// The invitation of this exact username lapses now (as if its 14 days
    /// were up): it is gone, its seat is free, its username stays
    /// unavailable. Returns whether there was one.
    pub fn expire_invitation(&self, username: &str) -> bool {
        self.lock().lapse(username)
    }

    /// Gives `owner` (exact username; not checked) an item titled `title`,
    /// added now, in its root folder: `content/users/<owner>` lists it, and
    /// a member owning an item cannot be deleted. Returns the item id (32
    /// lower-case hex characters).
    pub fn seed_item(&self, owner: &str, title: &str) -> String {
        let now = self.now();
        self.lock().seed_item(owner, title, now)
    }

    /// Adds a group titled `title` owned by `owner` (exact username; not
    /// checked): the owner's user JSON lists it, and a member owning a
    /// group cannot be deleted. Returns its id, or `None`, changing
    /// nothing, when a group already has that title (any case).
    pub fn seed_group(&self, title: &str, owner: &str) -> Option<String> {
        self.lock().seed_group(&self.inner.org, title, owner)
    }

    /// Every notification sent (`portals/self/createNotification`), oldest
    /// first, one per recipient.
    pub fn notifications(&self) -> Vec<SimNotification> {
        self.lock().notifications.clone()
    }

    /// Marks a username as taken by an account of another organization.
    pub fn take_username_elsewhere(&self, username: &str) {
        self.lock().taken_elsewhere.insert(username.to_lowercase());
    }

    /// The `GET /_sim/state` document: members, pending invitations,
    /// purchased and assigned seats per user type, groups, items,
    /// notifications, request counts and pending faults.
    pub fn state_json(&self) -> serde_json::Value {
        self.lock().snapshot_json(&self.inner.org)
    }
}
