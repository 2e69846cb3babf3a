//! [`Members`] for [`FakePortal`]: look-ups in the member map, and an
//! invitation that refuses a taken name the way the portal does
//! (`NotInvited`, no reason).
//!
//! Must not grow rules the workflow does not rely on: anything else is the
//! simulator's job.

use super::FakePortal;
use crate::portal::error::PortalError;
use crate::portal::members::{Member, Members, NewMember};

impl Members for FakePortal {
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
            .map(|n| {
                let wanted = n.trim().to_lowercase();
                s.groups
                    .iter()
                    .find(|(_, title)| title.to_lowercase() == wanted)
                    .map(|(id, _)| id.clone())
            })
            .collect())
    }

    async fn invite(&self, m: &NewMember) -> Result<(), PortalError> {
        let mut s = self.lock();
        s.invites += 1;
        if std::mem::take(&mut s.panic_next_invite) {
            drop(s);
            panic!("the fake portal was told to panic on this invite"); // ok: test support
        }
        if let Some(err) = s.invite_failures.pop_front() {
            return Err(err);
        }
        if s.members.contains_key(&m.username) || s.taken_elsewhere.contains(&m.username) {
            return Err(PortalError::NotInvited {
                username: m.username.clone(),
            });
        }
        let org_id = s.org_id.clone();
        let full_name = format!("{} {}", m.first_name.trim(), m.last_name.trim())
            .trim()
            .to_string();
        let non_empty = |v: &str| Some(v.trim().to_string()).filter(|v| !v.is_empty());
        s.members.insert(
            m.username.clone(),
            Member {
                username: m.username.clone(),
                email: Some(m.email.clone()),
                org_id: Some(org_id),
                role: Some(m.role.clone()),
                user_type: Some(m.user_type.clone()),
                group_ids: m.group_ids.clone(),
                first_name: non_empty(&m.first_name),
                last_name: non_empty(&m.last_name),
                full_name: non_empty(&full_name),
                // The simulator's defaults for a new member.
                access: Some("org".into()),
                esri_access: Some("arcgisonly".into()),
            },
        );
        Ok(())
    }
}
