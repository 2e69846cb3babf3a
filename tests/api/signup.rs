//! The happy path, bursts and replays.

use futures_util::future::join_all;
use serde_json::Value;

use agol_seat_broker::portal::simulator::{Fault, FaultKind, MemberStatus};
use agol_seat_broker::seats::AuditLog;

use crate::helpers::{Options, signup, spawn_app};

#[tokio::test]
async fn a_valid_signup_creates_exactly_one_member_with_the_pools_grants() {
    let app = spawn_app(Options::default()).await;

    let res = app
        .post_signup("msg_ok_1", &signup("Ana.Lopez@acme.org"))
        .await;

    assert_eq!(res.status(), 201);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["status"], "provisioned");
    assert_eq!(body["username"], "ana.lopez_acme");
    let members = app.sim.members();
    assert_eq!(members.len(), 1);
    let m = &members[0];
    assert_eq!(m.username, "ana.lopez_acme");
    assert_eq!(m.email, "Ana.Lopez@acme.org");
    assert_eq!(m.role, "iAAAAAAAAAAAAAAA");
    assert_eq!(m.user_type, "viewerUT");
    let mut groups = m.group_ids.clone();
    groups.sort();
    let mut want = vec![
        app.sim.group_id("Partners").unwrap(),
        app.sim.group_id("Field data").unwrap(),
    ];
    want.sort();
    assert_eq!(groups, want);
    let claims = app.claims("acme").await;
    assert_eq!(claims.len(), 1);
    assert_eq!(claims[0].username.as_deref(), Some("ana.lopez_acme"));
    assert_eq!(app.active_claims("acme").await, 1);
    assert_eq!(app.used("acme").await, 1);
}

#[tokio::test]
async fn a_password_pool_creates_an_active_member_with_a_creator_role() {
    let app = spawn_app(Options::default()).await;

    let res = app
        .post_signup("msg_city_1", &signup("bo@city.example"))
        .await;

    assert_eq!(res.status(), 201);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["invitation"], "password");
    let m = app.sim.member("bo_city").expect("member exists");
    assert_eq!(m.role, "org_publisher");
    assert_eq!(m.user_type, "creatorUT");
    assert_eq!(
        m.status,
        MemberStatus::Active,
        "a password account is active at once"
    );
}

/// Issue 13: a member created with a generated password (never stored,
/// shown or sent) is sent the portal's password-reset e-mail, so they can
/// sign in; the audit trail says so. An e-mail pool's member gets none.
#[tokio::test]
async fn a_password_pool_member_is_sent_the_portals_reset_email() {
    let app = spawn_app(Options::default()).await;

    assert_eq!(
        app.post_signup("msg_city_r1", &signup("bo@city.example"))
            .await
            .status(),
        201
    );
    assert_eq!(
        app.post_signup("msg_acme_r1", &signup("ana@acme.org"))
            .await
            .status(),
        201
    );

    assert_eq!(app.sim.reset_emails("bo_city"), 1, "one reset e-mail");
    assert_eq!(app.sim.reset_emails("ana_acme"), 0, "e-mail pools get none");
    let trail = app.ledger.audit_since(0, 100).await.unwrap();
    let created = trail
        .iter()
        .find(|e| e.action == "member.created" && e.detail.starts_with("bo_city"))
        .expect("bo's member.created");
    assert!(
        created.detail.ends_with(", password-reset e-mail sent"),
        "{}",
        created.detail
    );
}

/// Issue 13: a refused reset e-mail does not undo the member: the seat is
/// held (ACTIVE), the sender is told it worked, and the audit trail tells
/// the administrator to send the reset from the portal, with a neutral
/// reason and none of the portal's text.
#[tokio::test]
async fn a_refused_reset_email_keeps_the_member_and_is_audited() {
    let app = spawn_app(Options::default()).await;
    app.sim.inject(Fault {
        endpoint: Some("reset".into()),
        kind: FaultKind::ErrorBody {
            code: 400,
            message_code: None,
            message: "Internal detail g-123".into(),
        },
        times: None,
    });

    let res = app
        .post_signup("msg_city_r2", &signup("bo@city.example"))
        .await;

    assert_eq!(res.status(), 201);
    assert_eq!(app.sim.reset_emails("bo_city"), 0);
    assert!(app.sim.member("bo_city").is_some());
    assert_eq!(app.active_claims("city").await, 1, "the seat is held");
    let trail = app.ledger.audit_since(0, 100).await.unwrap();
    let created = trail
        .iter()
        .find(|e| e.action == "member.created")
        .expect("member.created");
    assert!(
        created.detail.ends_with(
            ", password-reset e-mail NOT sent (portal_refused): send it from the portal"
        ),
        "{}",
        created.detail
    );
    assert!(!created.detail.contains("g-123"));
}

#[tokio::test]
async fn a_burst_of_200_into_150_seats_creates_exactly_150_members() {
    let app = spawn_app(Options::default()).await;

    let sends = (0..200).map(|i| {
        let app = &app;
        async move {
            app.post_signup(
                &format!("msg_burst_{i}"),
                &signup(&format!("p{i}@acme.org")),
            )
            .await
            .status()
            .as_u16()
        }
    });
    let statuses = join_all(sends).await;

    let created = statuses.iter().filter(|s| **s == 201).count();
    let full = statuses.iter().filter(|s| **s == 409).count();
    assert_eq!((created, full), (150, 50), "statuses: {statuses:?}");
    assert_eq!(app.sim.members().len(), 150);
    assert_eq!(app.active_claims("acme").await, 150);
    assert_eq!(app.claims("acme").await.len(), 150);
    assert_eq!(app.used("acme").await, 150);
}

#[tokio::test]
async fn the_same_delivery_sent_three_times_concurrently_creates_one_member() {
    let app = spawn_app(Options::default()).await;
    let body = signup("ana@acme.org");

    let statuses = join_all((0..3).map(|_| app.post_signup("msg_dup_1", &body))).await;

    let codes: Vec<u16> = statuses.iter().map(|r| r.status().as_u16()).collect();
    assert_eq!(codes.iter().filter(|c| **c == 201).count(), 1, "{codes:?}");
    assert!(
        codes.iter().all(|c| [201, 200, 503].contains(c)),
        "{codes:?}"
    );
    assert_eq!(app.sim.members().len(), 1);
    assert_eq!(app.used("acme").await, 1);
    // Once finished, a further retry replays the stored outcome.
    let res = app.post_signup("msg_dup_1", &body).await;
    assert_eq!(res.status(), 200);
    let v: Value = res.json().await.unwrap();
    assert_eq!(v["replayed"], true);
    assert_eq!(v["username"], "ana_acme");
    assert_eq!(app.sim.members().len(), 1);
}

/// Issue 13: `+tag` sub-addresses are one person in a pool that folds
/// them (`email_identity = "fold_plus_tags"`): the second address gets the
/// first's seat back as `already_member`, never a second account; a pool
/// that does not fold them (the default) still tells them apart.
#[tokio::test]
async fn plus_tag_aliases_share_one_seat_where_the_pool_folds_them() {
    const FOLDING: &str = r#"
    [[pools]]
    name = "acme"
    seats = 150
    role = "viewer"
    user_type = "viewerUT"
    groups = ["Partners"]
    email_identity = "fold_plus_tags"
    [pools.match]
    email_domains = ["acme.org"]

    [[pools]]
    name = "city"
    seats = 5
    role = "viewer"
    user_type = "viewerUT"
    groups = ["Partners"]
    [pools.match]
    email_domains = ["city.example"]
"#;
    let app = spawn_app(Options {
        rules: FOLDING,
        ..Options::default()
    })
    .await;

    let first = app
        .post_signup("msg_tag_1", &signup("ana+project@acme.org"))
        .await;
    let second = app
        .post_signup("msg_tag_2", &signup("Ana+other@acme.org"))
        .await;
    let plain = app.post_signup("msg_tag_3", &signup("ana@acme.org")).await;
    let city_a = app
        .post_signup("msg_tag_4", &signup("bo+1@city.example"))
        .await;
    let city_b = app
        .post_signup("msg_tag_5", &signup("bo+2@city.example"))
        .await;

    assert_eq!(first.status(), 201);
    for (res, what) in [(second, "another tag"), (plain, "no tag")] {
        assert_eq!(res.status(), 200, "{what}");
        let v: Value = res.json().await.unwrap();
        assert_eq!(v["status"], "already_member", "{what}: {v}");
    }
    assert_eq!(app.used("acme").await, 1);
    let claims = app.claims("acme").await;
    assert_eq!(claims.len(), 1);
    assert_eq!(claims[0].key.person, "ana@acme.org", "the folded key");
    let acme_members: Vec<_> = app
        .sim
        .members()
        .into_iter()
        .filter(|m| m.email.ends_with("@acme.org"))
        .collect();
    assert_eq!(acme_members.len(), 1);
    assert_eq!(
        acme_members[0].email, "ana+project@acme.org",
        "invited at the address as given"
    );
    // Without folding, two tags are two people.
    assert_eq!(
        (city_a.status().as_u16(), city_b.status().as_u16()),
        (201, 201)
    );
    assert_eq!(app.used("city").await, 2);
}

#[tokio::test]
async fn the_same_person_through_two_deliveries_holds_one_seat() {
    let app = spawn_app(Options::default()).await;

    let first = app.post_signup("msg_p_1", &signup("ana@acme.org")).await;
    let second = app.post_signup("msg_p_2", &signup("ANA@ACME.ORG")).await;

    assert_eq!(first.status(), 201);
    assert_eq!(second.status(), 200);
    let v: Value = second.json().await.unwrap();
    assert_eq!(v["status"], "already_member");
    assert_eq!(app.sim.members().len(), 1);
    assert_eq!(app.used("acme").await, 1);
}

#[tokio::test]
async fn a_reused_delivery_id_with_a_different_body_is_refused() {
    let app = spawn_app(Options::default()).await;

    app.post_signup("msg_reuse", &signup("ana@acme.org")).await;
    let res = app.post_signup("msg_reuse", &signup("eve@acme.org")).await;

    assert_eq!(res.status(), 422);
    let v: Value = res.json().await.unwrap();
    assert_eq!(v["code"], "delivery_id_reused");
    assert_eq!(app.sim.members().len(), 1);
}

#[tokio::test]
async fn a_taken_username_gets_the_next_deterministic_candidate() {
    let mut opts = Options::default();
    opts.sim.taken_elsewhere = vec!["ana_acme".into()];
    let app = spawn_app(opts).await;

    let res = app.post_signup("msg_taken", &signup("ana@acme.org")).await;

    assert_eq!(res.status(), 201);
    let v: Value = res.json().await.unwrap();
    assert_eq!(v["username"], "ana_acme1");
    assert!(app.sim.member("ana_acme1").is_some());
}

#[tokio::test]
async fn token_expiry_in_the_middle_of_a_run_is_invisible_to_the_caller() {
    let app = spawn_app(Options::default()).await;
    assert_eq!(
        app.post_signup("msg_t1", &signup("a1@acme.org"))
            .await
            .status(),
        201
    );
    let tokens_before = app.sim.request_count("generateToken");

    app.sim.expire_tokens();
    let res = app.post_signup("msg_t2", &signup("a2@acme.org")).await;

    assert_eq!(res.status(), 201);
    assert_eq!(app.sim.request_count("generateToken"), tokens_before + 1);
    assert_eq!(app.sim.members().len(), 2);
}

/// Issue 12: after warm-up (the token, the organization id and the group
/// ids cached by the first sign-up), a new member costs exactly one portal
/// request, the invitation, with both grants' group sets (e-mail and
/// password pools), and two DynamoDB round trips (two transactions); a
/// replay costs no portal request and one DynamoDB request; a taken name costs the refused
/// invitation, its look-up and the next invitation, and no look-up of free
/// names.
#[tokio::test]
async fn a_new_member_costs_one_portal_call_after_warm_up_and_a_replay_none() {
    let mut opts = Options::default();
    opts.sim.taken_elsewhere = vec!["dee_acme".into()];
    let app = spawn_app(opts).await;
    // Warm-up: one sign-up to each pool used below.
    for (id, email) in [("w1", "warm@acme.org"), ("w2", "warm@city.example")] {
        assert_eq!(app.post_signup(id, &signup(email)).await.status(), 201);
    }

    for (n, (id, email)) in [
        ("n1", "ana@acme.org"),
        ("n2", "bo@city.example"),
        ("n3", "cy@acme.org"),
    ]
    .into_iter()
    .enumerate()
    {
        let (all, invites) = (app.sim.request_count(""), app.sim.request_count("invite"));
        let resets = app.sim.request_count("reset");
        let trips = app.ledger.round_trips();
        assert_eq!(app.post_signup(id, &signup(email)).await.status(), 201);
        // The ledger's side: the lease with the reservation, then the
        // activation with the audit record and the stored outcome.
        assert_eq!(
            app.ledger.round_trips() - trips,
            2,
            "sign-up {n}: DynamoDB round trips"
        );
        assert_eq!(
            app.sim.request_count("invite") - invites,
            1,
            "sign-up {n}: one invitation"
        );
        // Issue 13: a password pool's member (bo@city.example) is also
        // sent the portal's password-reset e-mail, its only way in.
        let reset = u64::from(email.ends_with("@city.example"));
        assert_eq!(
            app.sim.request_count("reset") - resets,
            reset,
            "sign-up {n}: a password pool's reset e-mail"
        );
        assert_eq!(
            app.sim.request_count("") - all,
            1 + reset,
            "sign-up {n}: no other portal request"
        );
    }
    assert_eq!(app.sim.members().len(), 5);

    // A replay of a finished delivery: no portal request at all.
    let all = app.sim.request_count("");
    let trips = app.ledger.round_trips();
    let res = app.post_signup("n1", &signup("ana@acme.org")).await;
    assert_eq!(app.ledger.round_trips() - trips, 1, "a replay: one read");
    assert_eq!(res.status(), 200);
    let v: Value = res.json().await.unwrap();
    assert_eq!(v["replayed"], true);
    assert_eq!(app.sim.request_count("") - all, 0, "a replay");

    // A name another organization's account holds (invisible to
    // `community/users`): the refused invitation, the three look-ups of
    // that name (member, availability, pending invitation), and the next
    // candidate's invitation.
    let (all, invites) = (app.sim.request_count(""), app.sim.request_count("invite"));
    let res = app.post_signup("n4", &signup("dee@acme.org")).await;
    assert_eq!(res.status(), 201);
    let v: Value = res.json().await.unwrap();
    assert_eq!(v["username"], "dee_acme1");
    assert_eq!(app.sim.request_count("invite") - invites, 2);
    assert_eq!(
        app.sim.request_count("") - all,
        5,
        "invite, 3 look-ups, invite"
    );
}

/// Issue 12, part 3: the server's background warm-up (token,
/// organization, every pool's group ids) leaves the first sign-up of each
/// pool its one invitation and no other portal request.
#[tokio::test]
async fn after_the_warm_up_even_the_first_member_of_each_pool_costs_one_portal_call() {
    let app = spawn_app(Options::default()).await;
    app.state.provisioner.warm_up().await;
    assert!(
        app.sim.request_count("") > 0,
        "the warm-up asked the portal"
    );
    for (id, email) in [("f1", "ana@acme.org"), ("f2", "bo@city.example")] {
        let all = app.sim.request_count("");
        assert_eq!(app.post_signup(id, &signup(email)).await.status(), 201);
        assert_eq!(
            (
                app.sim.request_count("") - all,
                app.sim.request_count("invite")
            ),
            // Issue 13: the password pool's member (f2) also gets the
            // portal's password-reset e-mail.
            (
                if id == "f1" { 1 } else { 2 },
                if id == "f1" { 1 } else { 2 }
            ),
            "{email}: only its invitation (and a password pool's reset e-mail)"
        );
    }
}
