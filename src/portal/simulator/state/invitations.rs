//! Pending invitations: what an invite without a password leaves behind
//! when the organization is set so (`email_invitations_pending`), how they
//! lapse, how one is accepted, and their JSON in `portals/self/invitations`.
//!
//! An invitation is not a member: `community/users`, the org listing,
//! `addUsers` and the type and role changes do not know it. It holds a seat
//! of its user type (`licenses` counts it) and its username (`members`'
//! `is_taken`) until it is accepted or lapses; a lapsed invitation's
//! username stays unavailable (fact sheet §2).

use serde_json::{Map, Value, json};

use super::State;
use crate::domain::UnixMillis;
use crate::portal::simulator::member::{MemberStatus, SimInvitation, SimMember, invitation_id};
use crate::portal::simulator::org::Org;

impl State {
    /// Whether a pending invitation reserves `username` (uniqueness is
    /// case-insensitive, as for members).
    pub(super) fn is_invited(&self, username: &str) -> bool {
        self.invitations
            .keys()
            .any(|k| k.eq_ignore_ascii_case(username))
    }

    /// Whether `username` was reserved by an invitation that lapsed.
    pub(super) fn is_lapsed_name(&self, username: &str) -> bool {
        self.lapsed_names.contains(&username.to_lowercase())
    }

    /// Turns an admitted e-mail invitation into a pending one, sent at `now`
    /// and lapsing after the organization's invitation lifetime.
    pub(super) fn hold_invitation(&mut self, org: &Org, member: SimMember, now: UnixMillis) {
        let invitation = SimInvitation {
            id: invitation_id(&member.username, now),
            created: now,
            expires: now.saturating_add(org.invitation_lifetime_ms),
            member,
        };
        self.invitations
            .insert(invitation.username().to_string(), invitation);
    }

    /// Adds an invitation directly, bypassing the invite rules (one sent
    /// before the test starts). It holds a seat of its type even beyond the
    /// purchased count. `false`, changing nothing, when its username is
    /// taken.
    pub fn seed_invitation(&mut self, invitation: SimInvitation) -> bool {
        if self.is_taken(invitation.username()) {
            return false;
        }
        self.invitations
            .insert(invitation.username().to_string(), invitation);
        true
    }

    /// Every invitation whose time is up at `now` lapses: it is removed, its
    /// seat is free, its username stays unavailable.
    pub fn lapse_invitations(&mut self, now: UnixMillis) {
        let due: Vec<String> = self
            .invitations
            .values()
            .filter(|i| i.expires <= now)
            .map(|i| i.username().to_string())
            .collect();
        for username in due {
            self.lapse(&username);
        }
    }

    /// The invitation of `username` (exact name) lapses now. `false` when
    /// there is none.
    pub fn lapse(&mut self, username: &str) -> bool {
        match self.invitations.remove(username) {
            Some(_) => {
                self.lapsed_names.insert(username.to_lowercase());
                true
            }
            None => false,
        }
    }

    /// The person accepts the invitation of `username` (exact name) at
    /// `now`: it becomes an active member with the invited role, user type
    /// and groups, keeping its seat. `false` when there is none.
    pub fn accept_invitation(&mut self, username: &str, now: UnixMillis) -> bool {
        let Some(invitation) = self.invitations.remove(username) else {
            return false;
        };
        let mut member = invitation.member;
        member.status = MemberStatus::Active;
        member.created = now;
        let groups = std::mem::take(&mut member.group_ids);
        member.group_ids = groups
            .into_iter()
            .filter(|g| self.group(g).is_some())
            .collect();
        self.members.insert(member.username.clone(), member);
        true
    }

    /// Pending invitations in the order `portals/self/invitations` lists
    /// them: oldest first, then by username.
    pub fn invitations_listed(&self) -> Vec<&SimInvitation> {
        let mut all: Vec<&SimInvitation> = self.invitations.values().collect();
        all.sort_by(|a, b| {
            a.created
                .cmp(&b.created)
                .then_with(|| a.username().cmp(b.username()))
        });
        all
    }

    /// One entry of `portals/self/invitations`. The fact sheet names no
    /// field of it; these are the keys of the portal's invitation object as
    /// Esri's REST JS client types it (`id`, `username`, `email`, `role`,
    /// `created`, `expiration`), plus the invite's own `userLicenseType`.
    pub fn invitation_json(&self, inv: &SimInvitation) -> Value {
        let mut v = Map::new();
        v.insert("id".into(), json!(inv.id));
        v.insert("username".into(), json!(inv.member.username));
        v.insert("email".into(), json!(inv.member.email));
        v.insert("role".into(), json!(inv.member.role));
        v.insert("userLicenseType".into(), json!(inv.member.user_type));
        v.insert("created".into(), json!(inv.created));
        v.insert("expiration".into(), json!(inv.expires));
        Value::Object(v)
    }
}
