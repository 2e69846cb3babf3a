//! [`Members`] for [`FakePortal`]: look-ups in the member map and the
//! pending invitations, and an invitation that refuses a taken name the way
//! the portal does (`NotInvited`, no reason) and, when told to, leaves an
//! e-mail invitation pending.
//!
//! Must not grow rules the workflow does not rely on: anything else is the
//! simulator's job.

use super::{FakeInvitation, FakePortal};
use crate::portal::error::PortalError;
use crate::portal::members::{Invitation, Member, Members, NewMember, PendingInvitation};

impl Members for FakePortal {
    async fn org_id(&self) -> Result<String, PortalError> {
        Ok(self.lock().org_id.clone())
    }

    async fn member(&self, username: &str) -> Result<Option<Member>, PortalError> {
        Ok(self.lock().members.get(username).cloned())
    }

    async fn username_available(&self, username: &str) -> Result<bool, PortalError> {
        let s = self.lock();
        Ok(!s.members.contains_key(username)
            && !s.taken_elsewhere.contains(username)
            && s.invitation(username).is_none())
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
        if s.members.contains_key(&m.username)
            || s.taken_elsewhere.contains(&m.username)
            || s.invitation(&m.username).is_some()
        {
            return Err(PortalError::NotInvited {
                username: m.username.clone(),
            });
        }
        let org_id = s.org_id.clone();
        let full_name = format!("{} {}", m.first_name.trim(), m.last_name.trim())
            .trim()
            .to_string();
        let non_empty = |v: &str| Some(v.trim().to_string()).filter(|v| !v.is_empty());
        let member = Member {
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
            last_login: Some(-1),
            created: None,
            disabled: Some(false),
        };
        // Why: with the option on, an e-mail invitation leaves only a
        // pending invitation, one of the two outcomes the fact sheet leaves
        // open; the member appears when a test accepts it.
        if s.email_invitations_pending && matches!(m.invitation, Invitation::Email) {
            let listed = PendingInvitation {
                id: Some(format!("inv-{}", s.invites)),
                username: m.username.clone(),
                email: Some(m.email.clone()),
                role: Some(m.role.clone()),
                user_type: Some(m.user_type.clone()),
                // The fake has no clock.
                created: None,
                expires: None,
            };
            s.invitations
                .insert(m.username.clone(), FakeInvitation { listed, member });
        } else {
            s.members.insert(m.username.clone(), member);
        }
        Ok(())
    }

    async fn send_password_reset(&self, username: &str) -> Result<(), PortalError> {
        let mut s = self.lock();
        if !s.members.contains_key(username) {
            return Err(super::org::no_user());
        }
        s.write(format!("send_password_reset {username}"))
    }

    async fn invitation(&self, username: &str) -> Result<Option<PendingInvitation>, PortalError> {
        Ok(self.lock().invitation(username).map(|i| i.listed.clone()))
    }

    async fn invitations(&self) -> Result<Vec<PendingInvitation>, PortalError> {
        Ok(self.pending_invitations())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::portal::org::OrgAdmin;

    fn new_member(username: &str, invitation: Invitation) -> NewMember {
        NewMember {
            username: username.into(),
            email: format!("{username}@acme.test"),
            first_name: "Ana".into(),
            last_name: "Lopez".into(),
            role: "iAAAAAAAAAAAAAAA".into(),
            user_type: "viewerUT".into(),
            group_ids: vec!["g-Crew".into()],
            invitation,
        }
    }

    fn assigned(counts: &crate::portal::LicenseCounts, user_type: &str) -> u64 {
        counts
            .types
            .iter()
            .find(|(t, _, _)| t == user_type)
            .map_or(0, |(_, _, a)| *a)
    }

    #[tokio::test]
    async fn by_default_an_email_invite_creates_the_member_at_once() {
        let fake = FakePortal::new("org1", &["Crew"]);

        fake.invite(&new_member("ana_acme", Invitation::Email))
            .await
            .unwrap();

        assert!(fake.member("ana_acme").await.unwrap().is_some());
        assert_eq!(fake.invitation("ana_acme").await.unwrap(), None);
        assert!(fake.invitations().await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn a_pending_email_invitation_is_no_member_but_holds_its_name_and_seat() {
        let fake = FakePortal::new("org1", &["Crew"]);
        fake.set_email_invitations_pending(true);

        fake.invite(&new_member("ana_acme", Invitation::Email))
            .await
            .unwrap();

        assert_eq!(fake.member("ana_acme").await.unwrap(), None);
        let found = fake
            .invitation("ANA_acme")
            .await
            .unwrap()
            .expect("found without regard to case");
        assert_eq!(found.username, "ana_acme");
        assert_eq!(found.email.as_deref(), Some("ana_acme@acme.test"));
        assert_eq!(found.role.as_deref(), Some("iAAAAAAAAAAAAAAA"));
        assert_eq!(found.user_type.as_deref(), Some("viewerUT"));
        assert_eq!(fake.invitations().await.unwrap(), vec![found]);
        assert!(!fake.username_available("ana_acme").await.unwrap());
        let again = fake
            .invite(&new_member("ana_acme", Invitation::Email))
            .await;
        assert!(matches!(again, Err(PortalError::NotInvited { .. })));
        let counts = fake.license_counts().await.unwrap();
        assert_eq!(assigned(&counts, "viewerUT"), 1);
    }

    #[tokio::test]
    async fn a_password_invite_creates_the_member_even_when_invitations_stay_pending() {
        let fake = FakePortal::new("org1", &["Crew"]);
        fake.set_email_invitations_pending(true);

        fake.invite(&new_member(
            "ana_acme",
            Invitation::Password("S3cure-pass1".into()),
        ))
        .await
        .unwrap();

        assert!(fake.member("ana_acme").await.unwrap().is_some());
        assert_eq!(fake.invitation("ana_acme").await.unwrap(), None);
    }

    #[tokio::test]
    async fn an_accepted_invitation_becomes_the_member_it_was_sent_for() {
        let fake = FakePortal::new("org1", &["Crew"]);
        fake.set_email_invitations_pending(true);
        fake.invite(&new_member("ana_acme", Invitation::Email))
            .await
            .unwrap();

        assert!(fake.accept_invitation("ana_acme"));

        let m = fake
            .member("ana_acme")
            .await
            .unwrap()
            .expect("a member now");
        assert_eq!(m.role.as_deref(), Some("iAAAAAAAAAAAAAAA"));
        assert_eq!(m.user_type.as_deref(), Some("viewerUT"));
        assert_eq!(m.group_ids, vec!["g-Crew".to_string()]);
        assert_eq!(fake.invitation("ana_acme").await.unwrap(), None);
        assert!(!fake.accept_invitation("ana_acme"), "accepted only once");
        let counts = fake.license_counts().await.unwrap();
        assert_eq!(assigned(&counts, "viewerUT"), 1, "one seat, not two");
    }

    #[tokio::test]
    async fn a_lapsed_invitation_frees_its_seat_but_not_its_name() {
        let fake = FakePortal::new("org1", &["Crew"]);
        assert!(fake.add_invitation(PendingInvitation {
            username: "ana_acme".into(),
            user_type: Some("viewerUT".into()),
            ..PendingInvitation::default()
        }));
        assert!(
            !fake.add_invitation(PendingInvitation {
                username: "ana_acme".into(),
                ..PendingInvitation::default()
            }),
            "one invitation per name"
        );

        assert!(fake.expire_invitation("ana_acme"));

        assert_eq!(fake.invitation("ana_acme").await.unwrap(), None);
        assert_eq!(fake.member("ana_acme").await.unwrap(), None);
        assert!(!fake.username_available("ana_acme").await.unwrap());
        let counts = fake.license_counts().await.unwrap();
        assert_eq!(assigned(&counts, "viewerUT"), 0);
    }
}
