//! Creating the member in the portal: resolve the grant's groups, find the
//! first free username candidate, and invite it, or adopt the member an
//! earlier attempt already created (same organization, same e-mail).
//!
//! Everything here runs within the request's deadline; a portal that does
//! not answer in time is "unavailable", never "failed".

use tokio::time::Instant;

use super::workflow::Provisioner;
// Every Lambda's timeout leaves room for it: config::budget.
use crate::config::budget::LOOK_UP_GRACE;
use crate::domain::{Email, EmailIdentity, Overrides, SignupRequest, Username};
use crate::policy::username::{MAX_CANDIDATES, candidate_within};
use crate::policy::{Grant, InvitationMode};
use crate::portal::{Invitation, Member, NewMember, Portal, PortalError};
use crate::seats::SeatLedger;

impl<L: SeatLedger, P: Portal> Provisioner<L, P> {
    /// Invites the member under the first username candidate the portal
    /// accepts, or adopts the member (or pending invitation) a previous
    /// attempt made. The candidates are tried in the order the sweeper
    /// looks at them ([`Self::scan`]), so both find the same member. On the
    /// happy path, once the token, the organization id and the group ids
    /// are cached, this is one portal call: the invitation.
    pub(super) async fn create_member(
        &self,
        req: &SignupRequest,
        grant: &Grant,
        candidates: u32,
        deadline: Instant,
    ) -> Result<Created, CreateError> {
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
                    }
                    .into());
                }
            }
        }
        let person = Person {
            key: grant.person_key(&req.email),
            identity: grant.email_identity,
        };
        // Invite the first candidate straight away: a new member costs one
        // portal call. Only when the portal does not invite it is the name
        // looked up: the person's own member or pending invitation (an
        // earlier attempt's) is adopted, someone else's moves on to the
        // next candidate. The sweeper's scan looks in the same order.
        for n in 0..candidates {
            let name = candidate_within(&grant.username, n, portal.max_username_len());
            let username = name.as_str();
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
                    InvitationMode::Sso => Invitation::Sso {
                        idp_username: req.email.as_str().to_string(),
                    },
                },
            };
            let invited = match tokio::time::timeout_at(deadline, portal.invite(&member)).await {
                Ok(r) => r,
                // Sent, and no answer by the deadline: it may be carried out.
                Err(_) => Err(PortalError::Unanswered(
                    "the invitation was not answered within the request's deadline".into(),
                )),
            };
            match invited {
                Ok(()) => {
                    let mut created = Created::new(username);
                    created.password_reset = self.password_reset(grant, username, deadline).await;
                    return Ok(created);
                }
                Err(
                    err @ (PortalError::NotInvited { .. }
                    | PortalError::Unavailable(_)
                    | PortalError::Unanswered(_)),
                ) => {
                    // The invitation may have gone through after all (a retry
                    // of a timed-out invite, a concurrent attempt, a lost
                    // reply): look once, at the member and at the pending
                    // invitations.
                    // Past the deadline when the invite timed out: the look
                    // has a short time of its own (see LOOK_UP_GRACE).
                    let look_until = deadline.max(Instant::now()) + LOOK_UP_GRACE;
                    let look = self.holder(&org_id, &person, username, look_until).await;
                    match look {
                        Ok(Holder::Person) => {
                            // An earlier attempt may have stopped before its
                            // groups or its reset e-mail: again is harmless,
                            // never is not.
                            within_or_log(
                                look_until,
                                portal.add_adopted_to_groups(username, &grant.groups),
                            )
                            .await;
                            let mut created = Created::adopted(username);
                            created.password_reset =
                                self.password_reset(grant, username, look_until).await;
                            return Ok(created);
                        }
                        Ok(Holder::Other) if matches!(err, PortalError::NotInvited { .. }) => {
                            // Someone else's name: the next candidate.
                            continue;
                        }
                        _ => {}
                    }
                    // Unknown is not failed: an invitation that went out
                    // unanswered may still be carried out after this look.
                    let invite_sent = err.maybe_done();
                    return Err(CreateError {
                        error: err,
                        invite_sent,
                    });
                }
                Err(other) => return Err(other.into()),
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
        }
        .into())
    }

    /// For a pool whose members get a generated password
    /// ([`InvitationMode::Password`]): asks the portal to e-mail the new
    /// member a link to choose their own, the only way in (the generated
    /// password is never stored, shown or sent). The member exists either
    /// way, so a refusal keeps the seat: it is logged and audited, and an
    /// administrator can send the reset from the portal.
    async fn password_reset(
        &self,
        grant: &Grant,
        username: &str,
        deadline: Instant,
    ) -> PasswordReset {
        if grant.invitation != InvitationMode::Password {
            return PasswordReset::NotNeeded;
        }
        let until = deadline.max(Instant::now() + LOOK_UP_GRACE);
        match within(until, self.portal.send_password_reset(username)).await {
            Ok(()) => PasswordReset::Sent,
            Err(e) => {
                // Why: the portal's text stays in the log; the audit trail
                // (shown on the admin page) gets a neutral reason.
                let reason = if e.is_transient() {
                    "portal_unavailable"
                } else {
                    "portal_refused"
                };
                tracing::warn!(pool = %grant.pool, username, reason, "the password-reset e-mail was not sent: {e}");
                PasswordReset::NotSent(reason.to_string())
            }
        }
    }

    /// Looks the candidates of `base` up in order,
    /// the way creation picks one: a member of this organization with the
    /// person's e-mail is theirs; a name nobody has and the portal calls
    /// available is the one creation would use; any other name is someone
    /// else's. The first that is theirs or free answers. Creation and the
    /// sweeper both look this way, so a member creation made under a
    /// numbered name is found by the sweeper too.
    pub(super) async fn scan(
        &self,
        org_id: &str,
        person: &Person,
        base: &Username,
        candidates: u32,
        deadline: Instant,
    ) -> Result<Scan, PortalError> {
        for n in 0..candidates {
            let name = candidate_within(base, n, self.portal.max_username_len());
            match self.holder(org_id, person, name.as_str(), deadline).await? {
                Holder::Person => return Ok(Scan::Ours(name)),
                Holder::Nobody => return Ok(Scan::Free),
                Holder::Other => {}
            }
        }
        Ok(Scan::AllTaken)
    }

    /// Who holds the username `name`: the person (a member of this
    /// organization with their e-mail, or an invitation to them still
    /// pending: e-mail invitations are no members until accepted), nobody
    /// (the portal calls it available), or someone else. The invitations
    /// are read only for a name that is taken and no member's, so a new
    /// member costs no extra call.
    async fn holder(
        &self,
        org_id: &str,
        person: &Person,
        name: &str,
        deadline: Instant,
    ) -> Result<Holder, PortalError> {
        let portal = &*self.portal;
        if let Some(existing) = within(deadline, portal.member(name)).await? {
            return Ok(if is_ours(&existing, org_id, person) {
                Holder::Person
            } else {
                Holder::Other
            });
        }
        if within(deadline, portal.username_available(name)).await? {
            return Ok(Holder::Nobody);
        }
        let now = self.clock.now();
        Ok(match within(deadline, portal.invitation(name)).await? {
            Some(inv) if !inv.expired_at(now) && person.is(inv.email.as_deref()) => Holder::Person,
            _ => Holder::Other,
        })
    }
}

/// Who holds a username ([`Provisioner::holder`]).
enum Holder {
    /// The person: their member, or their pending invitation.
    Person,
    /// Nobody: available.
    Nobody,
    /// Someone else (or a lapsed invitation, whose name stays taken).
    Other,
}

/// Whether the portal's member is the person: this organization, this
/// person's e-mail ([`Person::is`]).
fn is_ours(m: &Member, org_id: &str, person: &Person) -> bool {
    m.org_id.as_deref() == Some(org_id) && person.is(m.email.as_deref())
}

/// The person a member or invitation must belong to: their person key (the
/// claim's) and how their pool tells people apart, so creation, adoption
/// and the sweeper all compare portal e-mails the way the claim was keyed.
pub(super) struct Person {
    /// The claim's person key ([`crate::policy::Grant::person_key`]).
    pub(super) key: String,
    /// The pool's rule for telling people apart by e-mail.
    pub(super) identity: EmailIdentity,
}

impl Person {
    /// Whether a portal e-mail is this person's: its key under the pool's
    /// rule is theirs (an address that does not parse is nobody's).
    pub(super) fn is(&self, email: Option<&str>) -> bool {
        email
            .and_then(|e| Email::parse(e).ok())
            .is_some_and(|e| e.key_as(self.identity) == self.key)
    }
}

/// What the candidates of a username show ([`Provisioner::scan`]).
pub(super) enum Scan {
    /// The person's member, under this name.
    Ours(Username),
    /// The first name nobody has: creation would use it, so no later one
    /// can be the person's.
    Free,
    /// Every candidate is someone else's.
    AllTaken,
}

/// Why a member was not created, and whether the invitation may have gone
/// through all the same (it timed out or its answer was lost): then the
/// seat must be kept until a look-up settles it.
#[derive(Debug)]
pub(super) struct CreateError {
    /// What the portal said.
    pub(super) error: PortalError,
    /// The invitation itself was sent and its outcome not seen.
    pub(super) invite_sent: bool,
}

impl From<PortalError> for CreateError {
    fn from(error: PortalError) -> Self {
        CreateError {
            error,
            invite_sent: false,
        }
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
    /// The password-reset e-mail of a generated-password member.
    pub(super) password_reset: PasswordReset,
}

/// Whether a member with a generated password was sent the portal's
/// password-reset e-mail ([`Provisioner::password_reset`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum PasswordReset {
    /// E-mail invitation: the person sets their password from the link.
    NotNeeded,
    /// The portal accepted the reset.
    Sent,
    /// The portal refused it or did not answer (the error's stable code).
    NotSent(String),
}

impl PasswordReset {
    /// What the audit trail says of it (empty when not needed).
    pub(super) fn detail(&self) -> String {
        match self {
            PasswordReset::NotNeeded => String::new(),
            PasswordReset::Sent => ", password-reset e-mail sent".into(),
            PasswordReset::NotSent(code) => {
                format!(", password-reset e-mail NOT sent ({code}): send it from the portal")
            }
        }
    }
}

impl Created {
    fn new(u: &str) -> Self {
        Created {
            username: u.to_string(),
            adopted: false,
            password_reset: PasswordReset::NotNeeded,
        }
    }
    fn adopted(u: &str) -> Self {
        Created {
            username: u.to_string(),
            adopted: true,
            password_reset: PasswordReset::NotNeeded,
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

/// Runs a step that never fails (it logs its own trouble) until `deadline`;
/// past it, the step is dropped with a warning.
async fn within_or_log(deadline: Instant, fut: impl std::future::Future<Output = ()>) {
    if tokio::time::timeout_at(deadline, fut).await.is_err() {
        tracing::warn!("a follow-up portal step did not finish within the request's deadline");
    }
}
