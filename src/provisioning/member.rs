//! Creating the member in the portal: resolve the grant's groups, find the
//! first free username candidate, and invite it, or adopt the member an
//! earlier attempt already created (same organization, same e-mail).
//!
//! Everything here runs within the request's deadline; a portal that does
//! not answer in time is "unavailable", never "failed".

use std::time::Duration;

use tokio::time::Instant;

use super::workflow::Provisioner;
use crate::domain::{Overrides, SignupRequest};
use crate::policy::username::{MAX_CANDIDATES, candidate};
use crate::policy::{Grant, InvitationMode};
use crate::portal::{Invitation, Member, NewMember, Portal, PortalError};
use crate::seats::SeatLedger;

impl<L: SeatLedger, P: Portal> Provisioner<L, P> {
    /// Finds a free username and creates the member, or adopts the member a
    /// previous attempt created.
    pub(super) async fn create_member(
        &self,
        req: &SignupRequest,
        grant: &Grant,
        candidates: u32,
        deadline: Instant,
    ) -> Result<Created, PortalError> {
        let portal = &*self.portal;
        let org_id = within(deadline, portal.org_id()).await?;
        let ids = within(deadline, portal.group_ids(&grant.groups)).await?;
        let mut group_ids = Vec::with_capacity(ids.len());
        for (name, id) in grant.groups.iter().zip(ids) {
            match id {
                Some(id) => group_ids.push(id),
                None => {
                    return Err(PortalError::Rejected {
                        code: "group_not_found".into(),
                        message: format!("no group titled {name:?} in the organization"),
                    });
                }
            }
        }
        let email_key = req.email.key();
        let is_ours = |m: &Member| {
            m.org_id.as_deref() == Some(org_id.as_str())
                && m.email.as_deref().map(str::to_lowercase).as_deref() == Some(email_key.as_str())
        };
        for n in 0..candidates {
            let name = candidate(&grant.username, n);
            let username = name.as_str();
            if let Some(existing) = within(deadline, portal.member(username)).await? {
                if is_ours(&existing) {
                    return Ok(Created::adopted(username));
                }
                continue;
            }
            if !within(deadline, portal.username_available(username)).await? {
                continue;
            }
            let member = NewMember {
                username: username.to_string(),
                email: req.email.as_str().to_string(),
                first_name: req.first_name.clone().unwrap_or_default(),
                last_name: req.last_name.clone().unwrap_or_default(),
                role: grant.role.clone(),
                user_type: grant.user_type.clone(),
                group_ids: group_ids.clone(),
                invitation: match grant.invitation {
                    InvitationMode::Email => Invitation::Email,
                    InvitationMode::Password => Invitation::Password(self.ids.password()),
                },
            };
            match within(deadline, portal.invite(&member)).await {
                Ok(()) => return Ok(Created::new(username)),
                Err(err @ (PortalError::NotInvited { .. } | PortalError::Unavailable(_))) => {
                    // The invitation may have gone through after all (a retry
                    // of a timed-out invite, a concurrent attempt): look once.
                    let again =
                        tokio::time::timeout(Duration::from_secs(3), portal.member(username)).await;
                    if let Ok(Ok(Some(m))) = again
                        && is_ours(&m)
                    {
                        return Ok(Created::adopted(username));
                    }
                    if matches!(err, PortalError::NotInvited { .. })
                        && matches!(
                            tokio::time::timeout(
                                Duration::from_secs(3),
                                portal.username_available(username)
                            )
                            .await,
                            Ok(Ok(false))
                        )
                    {
                        // Taken by someone else in the meantime: next name.
                        continue;
                    }
                    return Err(err);
                }
                Err(other) => return Err(other),
            }
        }
        Err(PortalError::Rejected {
            code: "username_unavailable".into(),
            message: if candidates == 1 {
                format!("the username {} is taken", grant.username)
            } else {
                format!(
                    "{candidates} usernames derived from {} are all taken",
                    grant.username
                )
            },
        })
    }
}

/// How many usernames may be tried: the request's exact one only when the
/// overrides say so, otherwise the numbered alternatives too.
pub(super) fn candidates(overrides: &Overrides) -> u32 {
    if overrides.exact_username {
        1
    } else {
        MAX_CANDIDATES
    }
}

/// The member a call created or adopted.
pub(super) struct Created {
    /// Its username.
    pub(super) username: String,
    /// Whether it existed already (an earlier attempt created it).
    pub(super) adopted: bool,
}

impl Created {
    fn new(u: &str) -> Self {
        Created {
            username: u.to_string(),
            adopted: false,
        }
    }
    fn adopted(u: &str) -> Self {
        Created {
            username: u.to_string(),
            adopted: true,
        }
    }
}

/// Runs a portal call within the request's remaining time.
async fn within<T>(
    deadline: Instant,
    fut: impl std::future::Future<Output = Result<T, PortalError>>,
) -> Result<T, PortalError> {
    match tokio::time::timeout_at(deadline, fut).await {
        Ok(r) => r,
        Err(_) => Err(PortalError::Unavailable(
            "the portal did not answer within the request's deadline".into(),
        )),
    }
}
