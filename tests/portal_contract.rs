//! The portal client's contract, run against the simulator in both
//! flavours (issue 15, item 4): ArcGIS Online (`portals/self/invite`,
//! licences from `portals/self`) and an ArcGIS Enterprise portal
//! (`portaladmin/security/users/createUser` with the groups added
//! afterwards, licences from `portaladmin/license`, the admin API's error
//! format).
//!
//! Every scenario is written once and run for each flavour (the
//! `both_flavours!` macro makes an `online` and an `enterprise` test of
//! it); where the two portals answer differently by design (Online lists a
//! refused invitation in `notInvited` without a reason, Enterprise says
//! why), the scenario asserts each flavour's answer. Outcomes are read
//! from the simulator's state and through the sharing API, over real HTTP.

use std::sync::Arc;
use std::time::Duration;

use agol_seat_broker::config::WorkflowSettings;
use agol_seat_broker::domain::{DeliveryKey, Email, Overrides, PortalFlavour, SignupRequest};
use agol_seat_broker::policy::{Policy, Rules};
use agol_seat_broker::portal::arcgis::{ArcGisConfig, ArcGisPortal, Credentials};
use agol_seat_broker::portal::simulator::{
    self, Fault, FaultKind, RunningSimulator, SimMember, SimulatorConfig,
};
use agol_seat_broker::portal::{Invitation, Members, NewMember, OrgAdmin, PortalError};
use agol_seat_broker::provisioning::{Creation, Outcome, Provisioner};
use agol_seat_broker::seats::memory::MemoryLedger;
use serde_json::Value;

const ADMIN: &str = "sim_admin";
const PASSWORD: &str = "sim-admin-pass1";
const MEMBER_PASSWORD: &str = "Init-Pa55word!";
const VIEWER: &str = "iAAAAAAAAAAAAAAA";

/// A simulator of `flavour` with the default organization.
async fn portal(flavour: PortalFlavour) -> RunningSimulator {
    simulator::spawn(SimulatorConfig {
        flavour,
        ..SimulatorConfig::default()
    })
    .await
    .expect("simulator starts")
}

/// The broker's client of `sim`, configured for `flavour` (fast retries).
fn client(sim: &RunningSimulator, flavour: PortalFlavour) -> ArcGisPortal {
    let mut c = ArcGisConfig::new(sim.base_url(), "contract-test");
    c.flavour = flavour;
    c.request_timeout = Duration::from_secs(2);
    c.deadline = Duration::from_secs(5);
    c.max_attempts = 3;
    c.base_backoff = Duration::from_millis(1);
    c.max_backoff = Duration::from_millis(5);
    ArcGisPortal::new(c, Credentials::new(ADMIN, PASSWORD)).unwrap()
}

/// A Viewer in two groups, created with `invitation`.
fn viewer(sim: &RunningSimulator, username: &str, invitation: Invitation) -> NewMember {
    NewMember {
        username: username.into(),
        email: format!("{username}@water.example.org"),
        first_name: "Jo".into(),
        last_name: "Doe".into(),
        role: VIEWER.into(),
        user_type: "viewerUT".into(),
        group_ids: vec![
            sim.sim().group_id("Field Crews").unwrap(),
            sim.sim().group_id("Training").unwrap(),
        ],
        invitation,
    }
}

/// [`viewer`] with a password.
fn with_password(sim: &RunningSimulator, username: &str) -> NewMember {
    viewer(sim, username, Invitation::Password(MEMBER_PASSWORD.into()))
}

/// A refused creation as each flavour reports it: ArcGIS Online lists the
/// name in `notInvited` without a reason (fact sheet §1); the admin API
/// says why, in its own format (`enterprise_says`).
fn assert_refused(flavour: PortalFlavour, err: &PortalError, enterprise_says: &str) {
    match flavour {
        PortalFlavour::Online => assert!(matches!(err, PortalError::NotInvited { .. }), "{err:?}"),
        PortalFlavour::Enterprise => assert!(
            matches!(err, PortalError::Rejected { message, .. } if message.contains(enterprise_says)),
            "{err:?}"
        ),
    }
}

/// The portal's requests whose path ends with `suffix`.
fn calls(sim: &RunningSimulator, suffix: &str) -> u64 {
    sim.sim().request_count(suffix)
}

/// `community/users/<u>` as the sharing API answers it to the
/// administrator (raw JSON).
async fn user_json(sim: &RunningSimulator, username: &str) -> Value {
    let http = reqwest::Client::new();
    let token: Value = http
        .post(format!("{}/generateToken", sim.base_url()))
        .form(&[
            ("username", ADMIN),
            ("password", PASSWORD),
            ("client", "referer"),
            ("referer", "contract-test"),
            ("f", "json"),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = token["token"].as_str().unwrap().to_string();
    http.get(format!("{}/community/users/{username}", sim.base_url()))
        .query(&[("f", "json"), ("token", token.as_str())])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// Makes an `online` and an `enterprise` test of a scenario taking the
/// flavour.
macro_rules! both_flavours {
    ($($name:ident),* $(,)?) => {
        mod online {
            $(
                #[tokio::test]
                async fn $name() {
                    super::$name(agol_seat_broker::domain::PortalFlavour::Online).await;
                }
            )*
        }
        mod enterprise {
            $(
                #[tokio::test]
                async fn $name() {
                    super::$name(agol_seat_broker::domain::PortalFlavour::Enterprise).await;
                }
            )*
        }
    };
}

both_flavours!(
    a_member_is_created_with_its_role_user_type_and_groups,
    an_identity_provider_account_is_pre_created_with_its_idp_username,
    a_taken_username_is_reported_as_not_invited,
    a_full_user_type_creates_nobody,
    a_role_the_user_type_cannot_hold_creates_nobody,
    a_lost_reply_leaves_a_member_the_look_up_finds,
    licences_are_counted_from_the_flavours_own_source,
    the_username_limit_is_the_flavours,
    a_sign_up_through_the_workflow_gets_a_member_with_its_groups,
    a_sign_up_whose_creation_reply_was_lost_is_adopted_with_its_groups,
    a_sign_up_in_a_single_sign_on_pool_gets_an_identity_provider_account,
);

async fn a_member_is_created_with_its_role_user_type_and_groups(flavour: PortalFlavour) {
    let sim = portal(flavour).await;
    let broker = client(&sim, flavour);
    let jo = with_password(&sim, "jdoe_water");
    let before = sim.sim().assigned("viewerUT");

    broker.invite(&jo).await.expect("created");

    let m = sim.sim().member("jdoe_water").expect("the member exists");
    assert_eq!(
        (m.role.as_str(), m.user_type.as_str()),
        (VIEWER, "viewerUT")
    );
    let mut groups = m.group_ids.clone();
    groups.sort();
    let mut wanted = jo.group_ids.clone();
    wanted.sort();
    assert_eq!(groups, wanted, "in both groups");
    assert_eq!(m.last_login, -1, "never signed in");
    assert_eq!(sim.sim().assigned("viewerUT"), before + 1);
    let seen = broker.member("jdoe_water").await.unwrap().unwrap();
    assert_eq!(seen.email.as_deref(), Some("jdoe_water@water.example.org"));
    // The cost of a member: one invitation on ArcGIS Online; createUser
    // and one addUsers per group on an Enterprise portal.
    match flavour {
        PortalFlavour::Online => {
            assert_eq!(calls(&sim, "invite"), 1);
            assert_eq!(calls(&sim, "addUsers"), 0);
            assert_eq!(calls(&sim, "createUser"), 0);
        }
        PortalFlavour::Enterprise => {
            assert_eq!(calls(&sim, "createUser"), 1);
            assert_eq!(calls(&sim, "addUsers"), 2);
            assert_eq!(calls(&sim, "invite"), 0);
        }
    }
}

async fn an_identity_provider_account_is_pre_created_with_its_idp_username(flavour: PortalFlavour) {
    let sim = portal(flavour).await;
    let broker = client(&sim, flavour);
    let jo = viewer(
        &sim,
        "jdoe_sso",
        Invitation::Sso {
            idp_username: "jo.doe@water.example.org".into(),
        },
    );

    broker.invite(&jo).await.expect("created");

    let user = user_json(&sim, "jdoe_sso").await;
    assert_eq!(user["provider"], "enterprise", "{user}");
    assert_eq!(user["idpUsername"], "jo.doe@water.example.org", "{user}");
    assert_eq!(user["userLicenseTypeId"], "viewerUT", "{user}");
}

async fn a_taken_username_is_reported_as_not_invited(flavour: PortalFlavour) {
    let sim = portal(flavour).await;
    let broker = client(&sim, flavour);
    assert!(
        sim.sim()
            .seed_member(SimMember::new("jdoe_water", VIEWER, "viewerUT"))
    );
    let before = sim.sim().assigned("viewerUT");

    let err = broker
        .invite(&with_password(&sim, "jdoe_water"))
        .await
        .unwrap_err();

    // Either way the workflow looks the name up before it moves on.
    assert!(
        matches!(err, PortalError::NotInvited { ref username } if username == "jdoe_water"),
        "{err:?}"
    );
    assert_eq!(sim.sim().assigned("viewerUT"), before, "nothing created");
}

async fn a_full_user_type_creates_nobody(flavour: PortalFlavour) {
    let sim = portal(flavour).await;
    let broker = client(&sim, flavour);
    assert!(
        sim.sim()
            .seed_member(SimMember::new("ana_water", VIEWER, "viewerUT"))
    );
    let assigned = sim.sim().assigned("viewerUT");
    sim.sim().set_purchased("viewerUT", assigned);

    let err = broker
        .invite(&with_password(&sim, "jdoe_water"))
        .await
        .unwrap_err();

    assert_refused(flavour, &err, "exceeds the number of user types available");
    assert!(sim.sim().member("jdoe_water").is_none());
    assert_eq!(sim.sim().assigned("viewerUT"), assigned);
    let counts = broker.license_counts().await.unwrap();
    assert!(
        counts
            .types
            .iter()
            .any(|(t, p, a)| t == "viewerUT" && *p == assigned && *a == assigned),
        "{counts:?}"
    );
}

async fn a_role_the_user_type_cannot_hold_creates_nobody(flavour: PortalFlavour) {
    let sim = portal(flavour).await;
    let broker = client(&sim, flavour);
    let mut jo = with_password(&sim, "jdoe_water");
    jo.role = "org_publisher".into();

    let err = broker.invite(&jo).await.unwrap_err();

    assert_refused(
        flavour,
        &err,
        "Invalid values for role and/or user license type",
    );
    assert!(sim.sim().member("jdoe_water").is_none());
}

async fn a_lost_reply_leaves_a_member_the_look_up_finds(flavour: PortalFlavour) {
    let sim = portal(flavour).await;
    let broker = client(&sim, flavour);
    let endpoint = match flavour {
        PortalFlavour::Online => "invite",
        PortalFlavour::Enterprise => "createUser",
    };
    sim.sim().inject(Fault {
        endpoint: Some(endpoint.into()),
        kind: FaultKind::LoseReply(Duration::from_secs(30)),
        times: Some(1),
    });

    let err = broker
        .invite(&with_password(&sim, "jdoe_water"))
        .await
        .unwrap_err();

    // Unknown is not failed: the client says it may have been carried out,
    // or its retry found the name taken (the first attempt's member).
    assert!(
        err.maybe_done() || matches!(err, PortalError::NotInvited { .. }),
        "{err:?}"
    );
    let found = broker.member("jdoe_water").await.unwrap();
    assert!(found.is_some(), "the look-up settles it");
}

async fn licences_are_counted_from_the_flavours_own_source(flavour: PortalFlavour) {
    let sim = portal(flavour).await;
    let broker = client(&sim, flavour);
    broker
        .invite(&with_password(&sim, "jdoe_water"))
        .await
        .unwrap();
    let before = (calls(&sim, "portals/self"), calls(&sim, "license"));

    let counts = broker.license_counts().await.unwrap();

    for user_type in ["viewerUT", "creatorUT"] {
        let (_, purchased, assigned) = counts
            .types
            .iter()
            .find(|(t, _, _)| t == user_type)
            .unwrap_or_else(|| panic!("{user_type} counted: {counts:?}"));
        assert_eq!(*purchased, sim.sim().purchased(user_type), "{user_type}");
        assert_eq!(*assigned, sim.sim().assigned(user_type), "{user_type}");
    }
    let after = (calls(&sim, "portals/self"), calls(&sim, "license"));
    match flavour {
        PortalFlavour::Online => assert_eq!((after.0 - before.0, after.1 - before.1), (1, 0)),
        PortalFlavour::Enterprise => assert_eq!((after.0 - before.0, after.1 - before.1), (0, 1)),
    }
}

async fn the_username_limit_is_the_flavours(flavour: PortalFlavour) {
    let sim = portal(flavour).await;
    let broker = client(&sim, flavour);
    let long = "alexandra.konstantinopoulou_water";
    let mut jo = with_password(&sim, long);
    match flavour {
        PortalFlavour::Online => {
            assert_eq!(broker.max_username_len(), 128);
            broker.invite(&jo).await.expect("ArcGIS Online takes it");
        }
        PortalFlavour::Enterprise => {
            assert_eq!(broker.max_username_len(), 24);
            // Longer than the limit: the portal refuses it, nothing made.
            assert!(broker.invite(&jo).await.is_err());
            assert!(sim.sim().member(long).is_none());
            jo.username = long[..24].to_string();
            broker.invite(&jo).await.expect("24 characters are taken");
        }
    }
}

const RULES: &str = r#"
[[pools]]
name = "water"
seats = 5
role = "viewer"
user_type = "viewerUT"
invitation = "password"
groups = ["Field Crews", "Training"]
username = "{first}.{last}_water"
[pools.match]
email_domains = ["water.example.org"]
"#;

/// The workflow on a memory ledger and the client of `sim`.
fn broker(
    sim: &RunningSimulator,
    flavour: PortalFlavour,
) -> Provisioner<MemoryLedger, ArcGisPortal> {
    broker_with(sim, flavour, RULES)
}

/// [`broker`] with other rules.
fn broker_with(
    sim: &RunningSimulator,
    flavour: PortalFlavour,
    rules: &str,
) -> Provisioner<MemoryLedger, ArcGisPortal> {
    Provisioner::new(
        Arc::new(MemoryLedger::new()),
        Arc::new(client(sim, flavour)),
        Arc::new(Policy::new(Rules::from_toml(rules).unwrap())),
        WorkflowSettings::default(),
    )
}

async fn sign_up(p: &Provisioner<MemoryLedger, ArcGisPortal>, id: &str) -> Outcome {
    let req = SignupRequest {
        email: Email::parse("alexandra.k@water.example.org").unwrap(),
        first_name: Some("Alexandra".into()),
        last_name: Some("Konstantinopoulou".into()),
        username: None,
        organization: None,
        pool: None,
        attributes: Default::default(),
    };
    let key = DeliveryKey {
        source: "standard".into(),
        id: id.into(),
    };
    p.sign_up(
        &key,
        id,
        &req,
        &Overrides::default(),
        Creation::InRequest,
        agol_seat_broker::clock::now_millis(),
    )
    .await
    .outcome
}

async fn a_sign_up_through_the_workflow_gets_a_member_with_its_groups(flavour: PortalFlavour) {
    let sim = portal(flavour).await;
    let p = broker(&sim, flavour);

    let outcome = sign_up(&p, "d1").await;

    let Outcome::Provisioned { username, .. } = outcome else {
        panic!("expected a member, got {outcome:?}");
    };
    let expected = match flavour {
        PortalFlavour::Online => "alexandra.konstantinopoulou_water",
        // Cut to the Enterprise limit of 24 characters.
        PortalFlavour::Enterprise => "alexandra.konstantinopou",
    };
    assert_eq!(username, expected);
    let m = sim.sim().member(&username).expect("the member exists");
    assert_eq!(m.group_ids.len(), 2, "{m:?}");
    assert_eq!(m.user_type, "viewerUT");
}

async fn a_sign_up_whose_creation_reply_was_lost_is_adopted_with_its_groups(
    flavour: PortalFlavour,
) {
    let sim = portal(flavour).await;
    let p = broker(&sim, flavour);
    let endpoint = match flavour {
        PortalFlavour::Online => "invite",
        PortalFlavour::Enterprise => "createUser",
    };
    // The reply is lost: the member exists, and on Enterprise the creation
    // stopped before its groups.
    sim.sim().inject(Fault {
        endpoint: Some(endpoint.into()),
        kind: FaultKind::LoseReply(Duration::from_secs(30)),
        times: Some(1),
    });

    let outcome = sign_up(&p, "d1").await;

    let Outcome::Provisioned {
        username, adopted, ..
    } = outcome
    else {
        panic!("expected the member to be adopted, got {outcome:?}");
    };
    assert!(adopted);
    let m = sim.sim().member(&username).expect("the member exists");
    assert_eq!(m.group_ids.len(), 2, "groups completed on adoption: {m:?}");
}

async fn a_sign_up_in_a_single_sign_on_pool_gets_an_identity_provider_account(
    flavour: PortalFlavour,
) {
    let sim = portal(flavour).await;
    let p = broker_with(&sim, flavour, &RULES.replace("\"password\"", "\"sso\""));

    let outcome = sign_up(&p, "d1").await;

    let Outcome::Provisioned {
        username,
        invitation,
        ..
    } = outcome
    else {
        panic!("expected a member, got {outcome:?}");
    };
    assert!(
        !invitation,
        "no e-mail invitation for a single sign-on account"
    );
    let user = user_json(&sim, &username).await;
    assert_eq!(user["provider"], "enterprise", "{user}");
    assert_eq!(
        user["idpUsername"], "alexandra.k@water.example.org",
        "{user}"
    );
    assert_eq!(sim.sim().member(&username).unwrap().group_ids.len(), 2);
    assert_eq!(
        sim.sim().reset_emails(&username),
        0,
        "no password, no reset mail"
    );
}
