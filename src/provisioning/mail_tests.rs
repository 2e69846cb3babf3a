//! The applicants' mail through the workflow: exactly one mail per change
//! of a request (approved, denied, waitlisted with the place in line,
//! admitted, lapsed), none for a change that did not happen, and a mail
//! that fails changing nothing.

use std::sync::{Arc, Mutex};

use super::*;
use crate::config::WorkflowSettings;
use crate::domain::{ClaimKey, DeliveryKey, Email, Overrides, PoolId, SignupRequest, UnixMillis};
use crate::domain::{RequestState, Verdict};
use crate::notify::BoxFuture;
use crate::notify::mail::{Mail, MailError, Mailer};
use crate::policy::{Policy, Rules};
use crate::portal::fake::FakePortal;
use crate::seats::memory::MemoryLedger;
use crate::seats::{ClaimStore, RequestStore};

const NOW: UnixMillis = 1_772_443_800_000;
const HOUR: i64 = 3_600_000;

/// Keeps every mail; fails them all when `fail`.
#[derive(Default)]
struct Outbox {
    mails: Mutex<Vec<Mail>>,
    fail: bool,
}

impl Mailer for Outbox {
    fn send<'a>(&'a self, mail: &'a Mail) -> BoxFuture<'a, Result<(), MailError>> {
        Box::pin(async move {
            if self.fail {
                return Err(MailError("relay down".into()));
            }
            self.mails.lock().unwrap().push(mail.clone());
            Ok(())
        })
    }
}

impl Outbox {
    fn take(&self) -> Vec<Mail> {
        std::mem::take(&mut *self.mails.lock().unwrap())
    }
}

struct World {
    p: Provisioner<MemoryLedger, FakePortal>,
    ledger: Arc<MemoryLedger>,
    portal: Arc<FakePortal>,
    outbox: Arc<Outbox>,
}

fn world_with(rules: &str, outbox: Outbox) -> World {
    let portal = Arc::new(FakePortal::new("org1", &[]));
    let ledger = Arc::new(MemoryLedger::new());
    let outbox = Arc::new(outbox);
    let p = Provisioner::new(
        ledger.clone(),
        portal.clone(),
        Arc::new(Policy::new(Rules::from_toml(rules).unwrap())),
        WorkflowSettings::default(),
    )
    .with_approvals(ApprovalWiring {
        mailer: Some(outbox.clone() as Arc<dyn Mailer>),
        ..ApprovalWiring::default()
    });
    World {
        p,
        ledger,
        portal,
        outbox,
    }
}

fn world(rules: &str) -> World {
    world_with(rules, Outbox::default())
}

fn signup(email: &str, first: &str) -> SignupRequest {
    SignupRequest {
        email: Email::parse(email).unwrap(),
        first_name: Some(first.into()),
        last_name: None,
        username: None,
        organization: None,
        pool: None,
        attributes: Default::default(),
    }
}

impl World {
    async fn sign_up(&self, id: &str, email: &str, first: &str, now: UnixMillis) -> Outcome {
        let delivery = DeliveryKey {
            source: "standard".into(),
            id: id.into(),
        };
        self.p
            .sign_up(
                &delivery,
                id,
                &signup(email, first),
                &Overrides::default(),
                Creation::InRequest,
                now,
            )
            .await
            .outcome
    }

    async fn request_id(&self, outcome: &Outcome) -> String {
        match outcome {
            Outcome::Pending { request_id, .. } | Outcome::Waitlisted { request_id, .. } => {
                request_id.clone()
            }
            other => panic!("not a request: {other:?}"),
        }
    }

    /// Frees `person`'s ACTIVE seat, as a reclaim would.
    async fn free_seat(&self, person: &str) {
        let key = ClaimKey {
            pool: PoolId::parse("acme").unwrap(),
            person: person.into(),
        };
        let claim = self.ledger.claim(&key).await.unwrap().unwrap();
        self.ledger
            .transition(
                &key,
                crate::seats::Expect {
                    claim_id: &claim.claim_id,
                    stages: &[crate::seats::Stage::Active],
                    updated_at: None,
                },
                crate::seats::Change::Release,
                NOW,
            )
            .await
            .unwrap();
    }
}

const APPROVAL: &str = r#"
    [[pools]]
    name = "acme"
    seats = 2
    role = "viewer"
    user_type = "viewerUT"
    approval = "manual"
    pending_expiry_hours = 1
    [pools.match]
    email_domains = ["acme.org"]
"#;

#[tokio::test]
async fn an_approval_mails_the_applicant_once_and_a_second_click_mails_nothing() {
    let w = world(APPROVAL);
    let pending = w.sign_up("d1", "ana@acme.org", "Ana", NOW).await;
    let id = w.request_id(&pending).await;
    assert!(
        w.outbox.take().is_empty(),
        "a pending request is not mailed"
    );

    let d =
        w.p.decide_request(&id, Verdict::Approve, "admin:x", None, None, NOW + 1)
            .await;
    assert!(matches!(d, DecisionOutcome::Decided { .. }), "{d:?}");
    let mails = w.outbox.take();
    assert_eq!(mails.len(), 1, "{mails:?}");
    assert_eq!(mails[0].to, "ana@acme.org");
    assert_eq!(
        mails[0].subject,
        "Your ArcGIS Online access request for acme is approved"
    );
    assert!(
        mails[0].text.starts_with("Hello Ana,\n"),
        "{}",
        mails[0].text
    );
    assert!(
        mails[0]
            .text
            .contains("An invitation from ArcGIS Online follows"),
        "{}",
        mails[0].text
    );
    assert!(mails[0].text.contains(&format!("Reference: request {id}")));
    assert_eq!(w.portal.members().len(), 1, "the member is made");

    let again =
        w.p.decide_request(&id, Verdict::Approve, "admin:y", None, None, NOW + 2)
            .await;
    assert!(matches!(again, DecisionOutcome::AlreadyDecided { .. }));
    assert!(w.outbox.take().is_empty());
}

#[tokio::test]
async fn an_approval_in_a_password_pool_announces_the_password_mail() {
    let w = world(&APPROVAL.replace(
        "approval = \"manual\"",
        "approval = \"manual\"\n    invitation = \"password\"",
    ));
    let id = w
        .request_id(&w.sign_up("d1", "ana@acme.org", "Ana", NOW).await)
        .await;
    w.p.decide_request(&id, Verdict::Approve, "admin:x", None, None, NOW + 1)
        .await;
    let mails = w.outbox.take();
    assert_eq!(mails.len(), 1, "{mails:?}");
    assert!(
        mails[0]
            .text
            .contains("a separate e-mail with a link to choose your password"),
        "{}",
        mails[0].text
    );
}

#[tokio::test]
async fn a_denial_mails_the_reason_once() {
    let w = world(APPROVAL);
    let id = w
        .request_id(&w.sign_up("d1", "bo@acme.org", "Bo", NOW).await)
        .await;
    let d =
        w.p.decide_request(
            &id,
            Verdict::Deny,
            "admin:x",
            Some("Only partners of the water board"),
            None,
            NOW + 1,
        )
        .await;
    assert!(matches!(d, DecisionOutcome::Decided { .. }), "{d:?}");
    let mails = w.outbox.take();
    assert_eq!(mails.len(), 1, "{mails:?}");
    assert_eq!(mails[0].to, "bo@acme.org");
    assert_eq!(
        mails[0].subject,
        "Your ArcGIS Online access request for acme was not approved"
    );
    assert!(
        mails[0]
            .text
            .contains("The reason given: Only partners of the water board"),
        "{}",
        mails[0].text
    );
    w.p.decide_request(&id, Verdict::Deny, "admin:y", None, None, NOW + 2)
        .await;
    assert!(w.outbox.take().is_empty());
}

const WAITLIST: &str = r#"
    [[pools]]
    name = "acme"
    seats = 1
    role = "viewer"
    user_type = "viewerUT"
    waitlist = true
    pending_expiry_hours = 1
    [pools.match]
    email_domains = ["acme.org"]
"#;

#[tokio::test]
async fn the_waitlist_mails_each_place_in_line_and_the_admission() {
    let w = world(WAITLIST);
    assert!(matches!(
        w.sign_up("w1", "ana@acme.org", "Ana", NOW).await,
        Outcome::Provisioned { .. }
    ));
    assert!(w.outbox.take().is_empty(), "a member is told by the portal");
    for (i, (who, name)) in [("bo@acme.org", "Bo"), ("cy@acme.org", "Cy")]
        .into_iter()
        .enumerate()
    {
        w.sign_up(&format!("w{}", i + 2), who, name, NOW).await;
        let mails = w.outbox.take();
        assert_eq!(mails.len(), 1, "{mails:?}");
        assert_eq!(mails[0].to, who);
        assert_eq!(mails[0].subject, "You are on the waiting list for acme");
        assert!(
            mails[0]
                .text
                .contains(&format!("You are number {} in line for acme.", i + 1)),
            "{}",
            mails[0].text
        );
    }
    // The same person again: the same request, no second mail.
    w.sign_up("w4", "bo@acme.org", "Bo", NOW).await;
    assert!(w.outbox.take().is_empty());

    w.free_seat("ana@acme.org").await;
    assert_eq!(
        w.p.admit_waitlisted(&PoolId::parse("acme").unwrap(), None, NOW + 1)
            .await,
        1
    );
    let mails = w.outbox.take();
    assert_eq!(mails.len(), 1, "{mails:?}");
    assert_eq!(mails[0].to, "bo@acme.org");
    assert_eq!(
        mails[0].subject,
        "Your ArcGIS Online access request for acme is approved"
    );
}

#[tokio::test]
async fn a_waitlisted_request_admitted_to_approval_is_told_so_and_the_denied_one_too() {
    let w = world(&APPROVAL.replace("seats = 2", "seats = 1\n    waitlist = true"));
    let ana = w
        .request_id(&w.sign_up("a1", "ana@acme.org", "Ana", NOW).await)
        .await;
    let bo = w.sign_up("a2", "bo@acme.org", "Bo", NOW).await;
    assert!(
        matches!(bo, Outcome::Waitlisted { position: 1, .. }),
        "{bo:?}"
    );
    let mails = w.outbox.take();
    assert_eq!(mails.len(), 1, "{mails:?}");
    assert!(mails[0].text.contains("You are number 1 in line for acme."));

    // Ana is denied: her hold frees and Bo moves on to the approvers.
    w.p.decide_request(&ana, Verdict::Deny, "admin:x", None, None, NOW + 1)
        .await;
    let mails = w.outbox.take();
    assert_eq!(mails.len(), 2, "{mails:?}");
    let to_bo = mails.iter().find(|m| m.to == "bo@acme.org").unwrap();
    assert_eq!(
        to_bo.subject,
        "A seat in acme is free: your request is with the approvers"
    );
    let to_ana = mails.iter().find(|m| m.to == "ana@acme.org").unwrap();
    assert!(to_ana.subject.ends_with("was not approved"));
    assert!(!to_ana.text.contains("reason"), "{}", to_ana.text);
    let pending = w
        .ledger
        .requests(&PoolId::parse("acme").unwrap(), RequestState::Pending)
        .await
        .unwrap();
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].key.person, "bo@acme.org");
}

#[tokio::test]
async fn lapsed_requests_are_mailed_once_pending_and_waitlisted_alike() {
    let w = world(&APPROVAL.replace("seats = 2", "seats = 1\n    waitlist = true"));
    w.sign_up("x1", "ana@acme.org", "Ana", NOW).await;
    w.sign_up("x2", "bo@acme.org", "Bo", NOW).await;
    w.outbox.take();

    assert_eq!(w.p.expire_requests(None, NOW + HOUR / 2).await, 0);
    assert!(w.outbox.take().is_empty());
    assert_eq!(w.p.expire_requests(None, NOW + HOUR + 1).await, 2);
    let mut mails = w.outbox.take();
    mails.sort_by(|a, b| a.to.cmp(&b.to));
    assert_eq!(mails.len(), 2, "{mails:?}");
    for m in &mails {
        assert!(m.subject.ends_with("for acme has lapsed"), "{}", m.subject);
    }
    assert!(
        mails[0].text.contains("it was not decided in time"),
        "{}",
        mails[0].text
    );
    assert!(
        mails[1].text.contains("no seat became free in time"),
        "{}",
        mails[1].text
    );
    // A second sweep finds nothing to lapse and mails nothing.
    assert_eq!(w.p.expire_requests(None, NOW + HOUR + 2).await, 0);
    assert!(w.outbox.take().is_empty());
}

#[tokio::test]
async fn a_mail_that_fails_changes_nothing_in_the_workflow() {
    let w = world_with(
        APPROVAL,
        Outbox {
            fail: true,
            ..Outbox::default()
        },
    );
    let id = w
        .request_id(&w.sign_up("f1", "ana@acme.org", "Ana", NOW).await)
        .await;
    let d =
        w.p.decide_request(&id, Verdict::Approve, "admin:x", None, None, NOW + 1)
            .await;
    assert!(matches!(d, DecisionOutcome::Decided { .. }), "{d:?}");
    assert_eq!(w.portal.members().len(), 1);
    let approved = w
        .ledger
        .requests(&PoolId::parse("acme").unwrap(), RequestState::Approved)
        .await
        .unwrap();
    assert_eq!(approved.len(), 1);
}
