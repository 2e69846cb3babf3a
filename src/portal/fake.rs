//! An in-process fake [`Portal`]: a map of members, no HTTP.
//!
//! For the workflow's unit tests and the overhead benchmark only. Anything
//! that must behave like ArcGIS Online is tested against the portal
//! simulator over real HTTP instead.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Mutex;

use super::{LicenseCounts, Member, NewMember, Portal, PortalError};

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
    groups: HashMap<String, String>,
    invite_failures: VecDeque<PortalError>,
    invites: u32,
}

impl FakePortal {
    /// A fake organization with this id and these group titles (ids `g-<title>`).
    pub fn new(org_id: &str, groups: &[&str]) -> Self {
        let fake = FakePortal::default();
        {
            let mut s = fake.lock();
            s.org_id = org_id.to_string();
            for g in groups {
                s.groups.insert(g.to_lowercase(), format!("g-{g}"));
            }
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

    /// Adds a member directly (as if created earlier).
    pub fn add_member(&self, m: Member) {
        self.lock().members.insert(m.username.clone(), m);
    }

    /// All members.
    pub fn members(&self) -> Vec<Member> {
        self.lock().members.values().cloned().collect()
    }

    /// How many invites were attempted.
    pub fn invites(&self) -> u32 {
        self.lock().invites
    }
}

impl Portal for FakePortal {
    async fn org_id(&self) -> Result<String, PortalError> {
        Ok(self.lock().org_id.clone())
    }

    async fn member(&self, username: &str) -> Result<Option<Member>, PortalError> {
        Ok(self.lock().members.get(username).cloned())
    }

    async fn username_available(&self, username: &str) -> Result<bool, PortalError> {
        let s = self.lock();
        Ok(!s.members.contains_key(username) && !s.taken_elsewhere.contains(username))
    }

    async fn group_ids(&self, names: &[String]) -> Result<Vec<Option<String>>, PortalError> {
        let s = self.lock();
        Ok(names
            .iter()
            .map(|n| s.groups.get(&n.to_lowercase()).cloned())
            .collect())
    }

    async fn invite(&self, m: &NewMember) -> Result<(), PortalError> {
        let mut s = self.lock();
        s.invites += 1;
        if let Some(err) = s.invite_failures.pop_front() {
            return Err(err);
        }
        if s.members.contains_key(&m.username) || s.taken_elsewhere.contains(&m.username) {
            return Err(PortalError::NotInvited {
                username: m.username.clone(),
            });
        }
        let org_id = s.org_id.clone();
        s.members.insert(
            m.username.clone(),
            Member {
                username: m.username.clone(),
                email: Some(m.email.clone()),
                org_id: Some(org_id),
                role: Some(m.role.clone()),
                user_type: Some(m.user_type.clone()),
                group_ids: m.group_ids.clone(),
            },
        );
        Ok(())
    }

    async fn license_counts(&self) -> Result<LicenseCounts, PortalError> {
        let s = self.lock();
        let mut counts: HashMap<String, u64> = HashMap::new();
        for m in s.members.values() {
            *counts
                .entry(m.user_type.clone().unwrap_or_default())
                .or_default() += 1;
        }
        let mut types: Vec<_> = counts.into_iter().map(|(t, n)| (t, 0, n)).collect();
        types.sort();
        Ok(LicenseCounts { types })
    }
}
