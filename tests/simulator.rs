//! The portal simulator over real HTTP: every behaviour the ArcGIS client
//! relies on, checked through the REST API (and the state it leaves behind),
//! against the fact sheet.

use std::time::{Duration, Instant};

use agol_seat_broker::clock::{Clock, now_millis};
use agol_seat_broker::portal::simulator::{
    Fault, FaultKind, MemberStatus, PortalSimulator, RefusalStyle, RunningSimulator, SimAccount,
    SimInvitation, SimMember, SimRole, SimulatorConfig, spawn,
};
use serde_json::{Value, json};

const ADMIN: &str = "sim_admin";
const ADMIN_PASSWORD: &str = "sim-admin-pass1";
const VIEWER: &str = "iAAAAAAAAAAAAAAA";
const DATA_EDITOR: &str = "iBBBBBBBBBBBBBBB";

/// A running simulator plus an HTTP client.
struct Harness {
    srv: RunningSimulator,
    http: reqwest::Client,
}

fn config() -> SimulatorConfig {
    SimulatorConfig {
        non_admin: Some(SimAccount {
            username: "plain_member".into(),
            password: "plain-pass1".into(),
        }),
        ..SimulatorConfig::default()
    }
}

impl Harness {
    async fn start(config: SimulatorConfig) -> Self {
        let srv = spawn(config).await.expect("simulator starts");
        Harness {
            srv,
            http: reqwest::Client::new(),
        }
    }

    fn sim(&self) -> &PortalSimulator {
        self.srv.sim()
    }

    fn url(&self, path: &str) -> String {
        format!("{}/{path}", self.srv.base_url())
    }

    /// POSTs a form with `f=json`; returns the HTTP status and JSON body.
    async fn post_raw(&self, path: &str, form: &[(&str, &str)]) -> (u16, Value) {
        let mut fields: Vec<(&str, &str)> = vec![("f", "json")];
        fields.extend_from_slice(form);
        let resp = self
            .http
            .post(self.url(path))
            .form(&fields)
            .send()
            .await
            .expect("request reaches the simulator");
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    async fn post(&self, path: &str, form: &[(&str, &str)]) -> Value {
        let (status, body) = self.post_raw(path, form).await;
        assert_eq!(status, 200, "sharing API answers HTTP 200 ({path}): {body}");
        body
    }

    async fn get(&self, path: &str, query: &[(&str, &str)]) -> Value {
        let mut fields: Vec<(&str, &str)> = vec![("f", "json")];
        fields.extend_from_slice(query);
        let resp = self
            .http
            .get(self.url(path))
            .query(&fields)
            .send()
            .await
            .expect("request reaches the simulator");
        assert_eq!(resp.status().as_u16(), 200, "sharing API answers HTTP 200");
        resp.json().await.expect("JSON body")
    }

    async fn token_for(&self, username: &str, password: &str) -> Value {
        self.post(
            "generateToken",
            &[
                ("username", username),
                ("password", password),
                ("client", "referer"),
                ("referer", "http://localhost"),
                ("expiration", "60"),
            ],
        )
        .await
    }

    async fn admin_token(&self) -> String {
        let t = self.token_for(ADMIN, ADMIN_PASSWORD).await;
        t["token"].as_str().expect("a token").to_string()
    }

    async fn invite(&self, token: &str, invitations: &[Value]) -> Value {
        let list = json!({ "invitations": invitations, "apps": [], "appBundles": [] }).to_string();
        self.post(
            "portals/self/invite",
            &[("token", token), ("invitationList", &list)],
        )
        .await
    }

    async fn control(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut req = self
            .http
            .request(method, format!("{}/_sim/{path}", self.srv.root_url()));
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.expect("control route answers");
        assert!(resp.status().is_success(), "control route succeeds");
        resp.json().await.expect("JSON body")
    }
}

/// One invitation, as the Python API builds it.
fn invitation(
    username: &str,
    role: &str,
    user_type: &str,
    groups: &str,
    password: Option<&str>,
) -> Value {
    let mut v = json!({
        "username": username,
        "firstname": "Jane",
        "lastname": "Doe",
        "fullname": "Jane Doe",
        "email": format!("{username}@acme.test"),
        "role": role,
        "userLicenseType": user_type,
        "groups": groups,
        "userCreditAssignment": -1,
    });
    if let (Some(p), Some(obj)) = (password, v.as_object_mut()) {
        obj.insert("password".into(), json!(p));
    }
    v
}

fn error_code(body: &Value) -> Option<i64> {
    body["error"]["code"].as_i64()
}

// ----- tokens -----

#[tokio::test]
async fn generate_token_returns_a_token_and_expiry_that_open_portals_self() {
    let h = Harness::start(config()).await;
    let before = now_millis();

    let t = h.token_for(ADMIN, ADMIN_PASSWORD).await;

    let token = t["token"].as_str().expect("token");
    let expires = t["expires"].as_i64().expect("expires in epoch ms");
    assert!(expires >= before + 60 * 60_000, "asked for 60 minutes");
    assert!(t["ssl"].is_boolean());
    let me = h.get("portals/self", &[("token", token)]).await;
    assert_eq!(me["id"], "SiMuLaTeDoRg0001");
    assert_eq!(me["urlKey"], "simorg");
    assert_eq!(me["subscriptionInfo"]["userLicenseTypes"]["viewerUT"], 1000);
    assert_eq!(me["user"]["username"], ADMIN);
    assert!(
        h.sim().member(ADMIN).expect("admin is a member").last_login >= before,
        "signing in sets lastLogin"
    );
}

#[tokio::test]
async fn a_wrong_password_is_refused_with_code_400_in_an_http_200_body() {
    let h = Harness::start(config()).await;

    let body = h.token_for(ADMIN, "not-the-password1").await;

    assert_eq!(error_code(&body), Some(400));
    assert_eq!(body["error"]["message"], "Unable to generate token.");
    assert_eq!(
        body["error"]["details"],
        json!(["Invalid username or password."])
    );
    assert!(body.get("token").is_none());
}

#[tokio::test]
async fn generate_token_over_get_is_refused_so_passwords_never_sit_in_urls() {
    let h = Harness::start(config()).await;

    let body = h
        .get(
            "generateToken",
            &[("username", ADMIN), ("password", ADMIN_PASSWORD)],
        )
        .await;

    assert_eq!(error_code(&body), Some(400));
}

#[tokio::test]
async fn token_lifetime_is_capped_and_an_expired_token_answers_498() {
    let h = Harness::start(SimulatorConfig {
        token_max_lifetime: Duration::from_millis(300),
        ..config()
    })
    .await;
    let before = now_millis();

    let t = h.token_for(ADMIN, ADMIN_PASSWORD).await;
    let after = now_millis();

    let expires = t["expires"].as_i64().expect("expires");
    assert!(
        expires >= before + 300 && expires <= after + 300,
        "capped at 300 ms, not 60 minutes"
    );
    let token = t["token"].as_str().expect("token");
    assert!(
        h.get("portals/self", &[("token", token)])
            .await
            .get("error")
            .is_none()
    );
    tokio::time::sleep(Duration::from_millis(400)).await;
    let body = h.get("portals/self", &[("token", token)]).await;
    assert_eq!(error_code(&body), Some(498));
    assert_eq!(body["error"]["message"], "Invalid token.");
}

#[tokio::test]
async fn expire_tokens_makes_every_issued_token_answer_498_and_new_ones_work() {
    let h = Harness::start(config()).await;
    let old = h.admin_token().await;

    h.sim().expire_tokens();

    let body = h.get("portals/self", &[("token", &old)]).await;
    assert_eq!(error_code(&body), Some(498));
    let fresh = h.admin_token().await;
    assert!(
        h.get("portals/self", &[("token", &fresh)])
            .await
            .get("error")
            .is_none()
    );
}

#[tokio::test]
async fn a_request_without_a_token_answers_499_token_required() {
    let h = Harness::start(config()).await;

    let body = h.get("portals/self", &[]).await;

    assert_eq!(error_code(&body), Some(499));
    assert_eq!(body["error"]["message"], "Token Required");
}

#[tokio::test]
async fn the_token_is_accepted_from_the_x_esri_authorization_header() {
    let h = Harness::start(config()).await;
    let token = h.admin_token().await;

    let resp = h
        .http
        .get(h.url("portals/self"))
        .query(&[("f", "json")])
        .header("X-Esri-Authorization", format!("Bearer {token}"))
        .send()
        .await
        .expect("request");
    let body: Value = resp.json().await.expect("json");

    assert_eq!(body["id"], "SiMuLaTeDoRg0001");
}

#[tokio::test]
async fn a_non_admin_token_gets_403_gwm_0003_on_administrative_operations() {
    let h = Harness::start(config()).await;
    let t = h.token_for("plain_member", "plain-pass1").await;
    let token = t["token"].as_str().expect("non-admin token");

    let body = h
        .invite(
            token,
            &[invitation(
                "newbie_one",
                VIEWER,
                "viewerUT",
                "",
                Some("S3cure-pass1"),
            )],
        )
        .await;

    assert_eq!(error_code(&body), Some(403));
    assert_eq!(body["error"]["messageCode"], "GWM_0003");
    assert!(h.sim().member("newbie_one").is_none());
    let own = h
        .get("community/users/plain_member", &[("token", token)])
        .await;
    assert_eq!(
        own["username"], "plain_member",
        "members may still read themselves"
    );
}

#[tokio::test]
async fn requests_without_f_json_get_an_html_page() {
    let h = Harness::start(config()).await;
    let token = h.admin_token().await;

    let resp = h
        .http
        .get(h.url("portals/self"))
        .query(&[("token", token.as_str())])
        .send()
        .await
        .expect("request");

    assert!(
        resp.json::<Value>().await.is_err(),
        "not JSON without f=json"
    );
}

// ----- invite -----

#[tokio::test]
async fn invite_with_a_password_creates_an_active_member_with_role_type_and_groups() {
    let h = Harness::start(config()).await;
    let token = h.admin_token().await;
    let crews = h.sim().group_id("Field Crews").expect("group");
    let training = h
        .sim()
        .group_id("training")
        .expect("titles match case-insensitively");
    let groups = format!("{crews},{training}");

    let body = h
        .invite(
            &token,
            &[invitation(
                "jdoe_acme",
                DATA_EDITOR,
                "editorUT",
                &groups,
                Some("S3cure-pass1"),
            )],
        )
        .await;

    assert_eq!(body, json!({ "success": true, "notInvited": [] }));
    let user = h
        .get("community/users/jdoe_acme", &[("token", &token)])
        .await;
    assert_eq!(user["username"], "jdoe_acme");
    assert_eq!(user["email"], "jdoe_acme@acme.test");
    assert_eq!(user["firstName"], "Jane");
    assert_eq!(user["lastName"], "Doe");
    assert_eq!(user["fullName"], "Jane Doe");
    assert_eq!(user["orgId"], "SiMuLaTeDoRg0001");
    assert_eq!(user["role"], "org_user", "base level");
    assert_eq!(user["roleId"], DATA_EDITOR);
    assert_eq!(user["userLicenseTypeId"], "editorUT");
    assert_eq!(user["lastLogin"], -1);
    let ids: Vec<&str> = user["groups"]
        .as_array()
        .expect("groups")
        .iter()
        .filter_map(|g| g["id"].as_str())
        .collect();
    assert_eq!(ids, vec![crews.as_str(), training.as_str()]);
    assert_eq!(user["groups"][0]["title"], "Field Crews");
    let m = h.sim().member("jdoe_acme").expect("member");
    assert_eq!(m.status, MemberStatus::Active);
    assert_eq!(h.sim().assigned("editorUT"), 1);
    let signed_in = h.token_for("jdoe_acme", "S3cure-pass1").await;
    assert!(signed_in["token"].is_string(), "the new member can sign in");
}

#[tokio::test]
async fn invite_without_a_password_creates_a_pending_member_that_holds_a_seat() {
    let h = Harness::start(config()).await;
    let token = h.admin_token().await;

    let body = h
        .invite(
            &token,
            &[invitation("pending_pat", "org_user", "creatorUT", "", None)],
        )
        .await;

    assert_eq!(body["notInvited"], json!([]));
    assert_eq!(
        h.sim().member("pending_pat").expect("visible").status,
        MemberStatus::Pending
    );
    let user = h
        .get("community/users/pending_pat", &[("token", &token)])
        .await;
    assert_eq!(user["role"], "org_user");
    assert!(user.get("roleId").is_none(), "no roleId for a base role");
    let counts = h
        .get(
            "portals/self/users/counts",
            &[("token", &token), ("type", "userLicenseType")],
        )
        .await;
    let creators = counts["results"]
        .as_array()
        .expect("results")
        .iter()
        .find(|r| r["key"] == "creatorUT")
        .expect("creatorUT bucket");
    // Admin, the non-admin account and the pending member.
    assert_eq!(creators["count"], 3);
    assert_eq!(counts["nextStart"], -1);
    let by_role = h
        .get(
            "portals/self/users/counts",
            &[("token", &token), ("type", "role")],
        )
        .await;
    assert_eq!(
        by_role["results"],
        json!([{ "key": "org_admin", "count": 1 }, { "key": "org_user", "count": 2 }])
    );
}

#[tokio::test]
async fn every_refused_invitation_is_listed_in_not_invited_without_a_reason() {
    let h = Harness::start(SimulatorConfig {
        purchased: [("creatorUT".to_string(), 100), ("viewerUT".to_string(), 1)].into(),
        ..config()
    })
    .await;
    let token = h.admin_token().await;
    h.invite(
        &token,
        &[invitation("viewer_one", VIEWER, "viewerUT", "", None)],
    )
    .await;
    let mut bad_email = invitation("bad_email_1", VIEWER, "creatorUT", "", None);
    bad_email["email"] = json!("not-an-email");
    let cases: Vec<(&str, Value)> = vec![
        (
            "invalid username",
            invitation("_bad", VIEWER, "creatorUT", "", None),
        ),
        (
            "taken in the org",
            invitation("VIEWER_ONE", VIEWER, "creatorUT", "", None),
        ),
        (
            "taken in another org",
            invitation("jsmith_gis", VIEWER, "creatorUT", "", None),
        ),
        ("invalid e-mail", bad_email),
        (
            "unknown role",
            invitation("unknown_role", "zzzzzzzzzzzzzzzz", "creatorUT", "", None),
        ),
        (
            "unknown user type",
            invitation("unknown_type", VIEWER, "CreatorUT", "", None),
        ),
        (
            "org_admin at creation",
            invitation("would_admin", "org_admin", "creatorUT", "", None),
        ),
        (
            "role x type mismatch",
            invitation("mismatch_1", "org_user", "viewerUT", "", None),
        ),
        (
            "no seat left",
            invitation("no_seat_viewer", VIEWER, "viewerUT", "", None),
        ),
        (
            "weak password",
            invitation("weak_password", VIEWER, "creatorUT", "", Some("password")),
        ),
    ];
    let members_before = h.sim().members().len();

    for (why, inv) in cases {
        let username = inv["username"].as_str().unwrap_or_default().to_string();
        let body = h.invite(&token, &[inv]).await;
        assert_eq!(body["success"], true, "{why}: success stays true");
        assert_eq!(body["notInvited"], json!([username]), "{why}");
        assert!(
            body.get("error").is_none(),
            "{why}: no error object, no reason"
        );
    }

    assert_eq!(
        h.sim().members().len(),
        members_before,
        "nobody was created"
    );
    assert_eq!(h.sim().assigned("viewerUT"), 1);
}

#[tokio::test]
async fn one_request_may_carry_several_invitations_and_only_the_failing_ones_are_listed() {
    let h = Harness::start(config()).await;
    let token = h.admin_token().await;

    let body = h
        .invite(
            &token,
            &[
                invitation("first_ok", VIEWER, "viewerUT", "", None),
                invitation("first_ok", VIEWER, "viewerUT", "", None),
                invitation("second_ok", VIEWER, "viewerUT", "", None),
            ],
        )
        .await;

    assert_eq!(
        body["notInvited"],
        json!(["first_ok"]),
        "the duplicate is refused"
    );
    assert!(h.sim().member("first_ok").is_some() && h.sim().member("second_ok").is_some());
}

#[tokio::test]
async fn an_unknown_group_id_answers_com_0003_and_creates_nobody() {
    let h = Harness::start(config()).await;
    let token = h.admin_token().await;

    let body = h
        .invite(
            &token,
            &[invitation(
                "ghost_group",
                VIEWER,
                "viewerUT",
                "0123456789abcdef0123456789abcdef",
                None,
            )],
        )
        .await;

    assert_eq!(error_code(&body), Some(400));
    assert_eq!(body["error"]["messageCode"], "COM_0003");
    assert_eq!(
        body["error"]["message"],
        "Group does not exist or is inaccessible."
    );
    assert!(h.sim().member("ghost_group").is_none());
}

#[tokio::test]
async fn two_hundred_concurrent_invites_into_150_seats_create_exactly_150_members() {
    let h = Harness::start(SimulatorConfig {
        purchased: [("creatorUT".to_string(), 10), ("viewerUT".to_string(), 150)].into(),
        ..config()
    })
    .await;
    let token = h.admin_token().await;
    let url = h.url("portals/self/invite");
    let mut tasks = tokio::task::JoinSet::new();

    for i in 0..200 {
        let (http, url, token) = (h.http.clone(), url.clone(), token.clone());
        tasks.spawn(async move {
            let list = json!({ "invitations": [invitation(&format!("crowd_{i:03}"), VIEWER, "viewerUT", "", None)] })
                .to_string();
            let body: Value = http
                .post(url)
                .form(&[("f", "json"), ("token", token.as_str()), ("invitationList", list.as_str())])
                .send()
                .await
                .expect("request")
                .json()
                .await
                .expect("json");
            body["notInvited"].as_array().map_or(0, Vec::len)
        });
    }
    let mut refused = 0;
    while let Some(r) = tasks.join_next().await {
        refused += r.expect("task");
    }

    let viewers = h
        .sim()
        .members()
        .into_iter()
        .filter(|m| m.user_type == "viewerUT")
        .count();
    assert_eq!(viewers, 150);
    assert_eq!(h.sim().assigned("viewerUT"), 150);
    assert_eq!(refused, 50);
}

// ----- lookups -----

#[tokio::test]
async fn unknown_users_and_users_of_other_orgs_do_not_exist_or_are_inaccessible() {
    let h = Harness::start(config()).await;
    let token = h.admin_token().await;

    for name in ["nobody_here", "jsmith_gis"] {
        let body = h
            .get(&format!("community/users/{name}"), &[("token", &token)])
            .await;
        assert_eq!(error_code(&body), Some(400), "{name}");
        assert_eq!(
            body["error"]["message"],
            "User does not exist or is inaccessible."
        );
    }
}

#[tokio::test]
async fn check_usernames_suggests_the_first_free_numbered_name() {
    let h = Harness::start(config()).await;
    let token = h.admin_token().await;
    h.invite(
        &token,
        &[invitation("ana_lopez", VIEWER, "viewerUT", "", None)],
    )
    .await;
    h.invite(
        &token,
        &[invitation("ana_lopez1", VIEWER, "viewerUT", "", None)],
    )
    .await;

    let body = h
        .post(
            "community/checkUsernames",
            &[
                ("token", &token),
                ("usernames", "ana_lopez,free_name_9,jsmith_gis"),
            ],
        )
        .await;

    assert_eq!(
        body,
        json!({ "usernames": [
            { "requested": "ana_lopez", "suggested": "ana_lopez2" },
            { "requested": "free_name_9", "suggested": "free_name_9" },
            { "requested": "jsmith_gis", "suggested": "jsmith_gis1" },
        ]})
    );
}

#[tokio::test]
async fn group_search_matches_titles_case_insensitively_and_pages() {
    let h = Harness::start(SimulatorConfig {
        groups: vec![
            "Field Crews".into(),
            "Field Crews North".into(),
            "Training".into(),
        ],
        ..config()
    })
    .await;
    let token = h.admin_token().await;

    let body = h
        .get(
            "community/groups",
            &[
                ("token", &token),
                ("q", r#"title:"field crews" AND orgid:SiMuLaTeDoRg0001"#),
                ("num", "1"),
            ],
        )
        .await;

    assert_eq!(body["total"], 2);
    assert_eq!(body["results"].as_array().map(Vec::len), Some(1));
    assert_eq!(body["nextStart"], 2);
    let first = &body["results"][0];
    assert_eq!(first["title"], "Field Crews");
    assert_eq!(first["id"].as_str().map(str::len), Some(32));
    assert_eq!(first["orgId"], "SiMuLaTeDoRg0001");
    assert_eq!(first["owner"], ADMIN);
    let page2 = h
        .get(
            "community/groups",
            &[
                ("token", &token),
                ("q", "title:crews"),
                ("start", "2"),
                ("num", "1"),
            ],
        )
        .await;
    assert_eq!(page2["results"][0]["title"], "Field Crews North");
    assert_eq!(page2["nextStart"], -1);
    let other_org = h
        .get(
            "community/groups",
            &[
                ("token", &token),
                ("q", "title:Training orgid:SomeOtherOrg0001"),
            ],
        )
        .await;
    assert_eq!(other_org["total"], 0);
}

#[tokio::test]
async fn portal_lists_page_with_next_start_minus_one_at_the_end() {
    let h = Harness::start(config()).await;
    let token = h.admin_token().await;

    let types = h
        .get(
            "portals/self/userLicenseTypes",
            &[("token", &token), ("start", "1"), ("num", "5")],
        )
        .await;
    let roles = h.get("portals/self/roles", &[("token", &token)]).await;
    let users = h
        .get(
            "portals/self/users",
            &[("token", &token), ("num", "1"), ("sortField", "username")],
        )
        .await;

    assert_eq!(types["userLicenseTypes"].as_array().map(Vec::len), Some(5));
    assert_eq!(types["nextStart"], 6);
    let role_ids: Vec<&str> = roles["roles"]
        .as_array()
        .expect("roles")
        .iter()
        .filter_map(|r| r["id"].as_str())
        .collect();
    assert!(role_ids.contains(&VIEWER) && role_ids.contains(&DATA_EDITOR));
    assert!(
        !role_ids.iter().any(|r| r.starts_with("org_")),
        "no base roles listed"
    );
    assert_eq!(users["total"], 2);
    assert_eq!(users["users"][0]["username"], "plain_member");
    assert_eq!(users["nextStart"], 2);
}

// ----- changes -----

#[tokio::test]
async fn add_users_refuses_more_than_25_names_and_reports_not_added() {
    let h = Harness::start(config()).await;
    let token = h.admin_token().await;
    let gid = h.sim().group_id("Training").expect("group");
    h.invite(
        &token,
        &[invitation("learner_one", VIEWER, "viewerUT", "", None)],
    )
    .await;
    let path = format!("community/groups/{gid}/addUsers");
    let too_many: Vec<String> = (0..26).map(|i| format!("someone_{i:02}")).collect();

    let refused = h
        .post(&path, &[("token", &token), ("users", &too_many.join(","))])
        .await;
    let added = h
        .post(
            &path,
            &[("token", &token), ("users", "learner_one,not_a_member")],
        )
        .await;

    assert_eq!(error_code(&refused), Some(400));
    assert_eq!(added, json!({ "notAdded": ["not_a_member"] }));
    assert_eq!(
        h.sim().member("learner_one").expect("member").group_ids,
        vec![gid]
    );
}

#[tokio::test]
async fn update_user_license_type_enforces_role_compatibility_and_seats() {
    let h = Harness::start(SimulatorConfig {
        purchased: [("creatorUT".to_string(), 3), ("viewerUT".to_string(), 10)].into(),
        ..config()
    })
    .await;
    let token = h.admin_token().await;
    h.invite(
        &token,
        &[
            invitation("viewer_aaa", VIEWER, "viewerUT", "", None),
            invitation("viewer_bbb", VIEWER, "viewerUT", "", None),
            invitation("creator_ccc", "org_user", "creatorUT", "", None),
        ],
    )
    .await;
    // creatorUT: admin + plain_member + creator_ccc = 3 of 3.

    let no_seat = h
        .post(
            "portals/self/updateUserLicenseType",
            &[
                ("token", &token),
                ("users", r#"["viewer_aaa"]"#),
                ("userLicenseType", "creatorUT"),
            ],
        )
        .await;
    let mismatch = h
        .post(
            "portals/self/updateUserLicenseType",
            &[
                ("token", &token),
                ("users", "creator_ccc"),
                ("userLicenseType", "viewerUT"),
            ],
        )
        .await;
    h.sim().set_purchased("creatorUT", 4);
    let ok = h
        .post(
            "portals/self/updateUserLicenseType",
            &[
                ("token", &token),
                ("users", "viewer_aaa,viewer_bbb"),
                ("userLicenseType", "creatorUT"),
            ],
        )
        .await;

    assert_eq!(
        no_seat,
        json!({ "results": [{ "username": "viewer_aaa", "status": false }] })
    );
    assert_eq!(
        mismatch,
        json!({ "results": [{ "username": "creator_ccc", "status": false }] })
    );
    assert_eq!(
        ok,
        json!({ "results": [
            { "username": "viewer_aaa", "status": true },
            { "username": "viewer_bbb", "status": false },
        ]}),
        "one seat was bought, the second change finds none"
    );
    assert_eq!(h.sim().assigned("creatorUT"), 4);
    assert_eq!(h.sim().assigned("viewerUT"), 1);
}

#[tokio::test]
async fn with_the_error_object_style_a_refused_change_is_an_error_and_changes_nothing() {
    let h = Harness::start(SimulatorConfig {
        refusal_style: RefusalStyle::ErrorObject,
        ..config()
    })
    .await;
    let token = h.admin_token().await;
    h.invite(
        &token,
        &[invitation("creator_ddd", "org_user", "creatorUT", "", None)],
    )
    .await;
    h.invite(
        &token,
        &[invitation("viewer_ddd", VIEWER, "viewerUT", "", None)],
    )
    .await;

    let type_change = h
        .post(
            "portals/self/updateUserLicenseType",
            &[
                ("token", &token),
                ("users", "viewer_ddd,creator_ddd"),
                ("userLicenseType", "viewerUT"),
            ],
        )
        .await;
    let role_change = h
        .post(
            "portals/self/updateUserRole",
            &[
                ("token", &token),
                ("user", "viewer_ddd"),
                ("role", "org_publisher"),
            ],
        )
        .await;

    assert_eq!(error_code(&type_change), Some(400));
    assert_eq!(error_code(&role_change), Some(400));
    assert_eq!(
        h.sim().member("creator_ddd").expect("m").user_type,
        "creatorUT"
    );
    assert_eq!(h.sim().member("viewer_ddd").expect("m").role, VIEWER);
}

#[tokio::test]
async fn update_user_role_enforces_compatibility_with_the_current_type() {
    let h = Harness::start(config()).await;
    let token = h.admin_token().await;
    h.invite(
        &token,
        &[invitation("viewer_eee", VIEWER, "viewerUT", "", None)],
    )
    .await;
    h.invite(
        &token,
        &[invitation("creator_eee", "org_user", "creatorUT", "", None)],
    )
    .await;

    let refused = h
        .post(
            "portals/self/updateUserRole",
            &[
                ("token", &token),
                ("user", "viewer_eee"),
                ("role", "org_publisher"),
            ],
        )
        .await;
    let accepted = h
        .post(
            "portals/self/updateuserrole",
            &[
                ("token", &token),
                ("user", "creator_eee"),
                ("role", "org_publisher"),
            ],
        )
        .await;

    assert_eq!(refused["success"], false);
    assert_eq!(accepted["success"], true);
    assert_eq!(h.sim().member("viewer_eee").expect("m").role, VIEWER);
    assert_eq!(
        h.sim().member("creator_eee").expect("m").role,
        "org_publisher"
    );
    assert_eq!(
        h.sim().request_count("updateUserRole"),
        2,
        "both spellings count"
    );
}

#[tokio::test]
async fn remove_users_frees_the_seat_for_the_next_invitation() {
    let h = Harness::start(SimulatorConfig {
        purchased: [("creatorUT".to_string(), 5), ("viewerUT".to_string(), 1)].into(),
        ..config()
    })
    .await;
    let token = h.admin_token().await;
    h.invite(
        &token,
        &[invitation("leaver_one", VIEWER, "viewerUT", "", None)],
    )
    .await;
    let full = h
        .invite(
            &token,
            &[invitation("joiner_one", VIEWER, "viewerUT", "", None)],
        )
        .await;

    let removed = h
        .post(
            "portals/self/removeUsers",
            &[("token", &token), ("users", "leaver_one,never_existed")],
        )
        .await;
    let joined = h
        .invite(
            &token,
            &[invitation("joiner_one", VIEWER, "viewerUT", "", None)],
        )
        .await;

    assert_eq!(full["notInvited"], json!(["joiner_one"]));
    assert_eq!(removed, json!({ "notRemoved": ["never_existed"] }));
    assert_eq!(joined["notInvited"], json!([]));
    assert!(h.sim().member("leaver_one").is_none());
    assert_eq!(h.sim().assigned("viewerUT"), 1);
}

#[tokio::test]
async fn sign_in_sets_last_login_and_seeded_members_are_visible() {
    let h = Harness::start(config()).await;
    let token = h.admin_token().await;
    let seeded = h.sim().seed_member(SimMember {
        username: "old_timer".into(),
        email: "old@acme.test".into(),
        first_name: "Old".into(),
        last_name: "Timer".into(),
        role: "org_user".into(),
        user_type: "creatorUT".into(),
        group_ids: vec![],
        status: MemberStatus::Active,
        last_login: -1,
        created: 1,
        ..SimMember::new("old_timer", "org_user", "creatorUT")
    });

    assert!(seeded);
    assert!(h.sim().sign_in("old_timer", 1_700_000_000_000));
    let user = h
        .get("community/users/old_timer", &[("token", &token)])
        .await;
    assert_eq!(user["lastLogin"], 1_700_000_000_000_i64);
}

// ----- profiles -----

#[tokio::test]
async fn the_user_json_carries_names_access_and_esri_access() {
    let h = Harness::start(config()).await;
    let token = h.admin_token().await;
    let mut inv = invitation("both_access", VIEWER, "viewerUT", "", None);
    inv["fullname"] = json!("Jane Q. Doe");
    inv["userType"] = json!("both");
    h.invite(&token, &[inv]).await;
    h.invite(
        &token,
        &[invitation("plain_access", VIEWER, "viewerUT", "", None)],
    )
    .await;

    let both = h
        .get("community/users/both_access", &[("token", &token)])
        .await;
    let plain = h
        .get("community/users/plain_access", &[("token", &token)])
        .await;
    let listed = h
        .get("portals/self/users", &[("token", &token), ("num", "100")])
        .await;

    assert_eq!(both["firstName"], "Jane");
    assert_eq!(both["lastName"], "Doe");
    assert_eq!(both["fullName"], "Jane Q. Doe");
    assert_eq!(both["userType"], "both");
    assert_eq!(both["access"], "org");
    assert_eq!(both["userLicenseTypeId"], "viewerUT");
    assert_eq!(plain["fullName"], "Jane Doe");
    assert_eq!(plain["userType"], "arcgisonly");
    let entry = listed["users"]
        .as_array()
        .expect("users")
        .iter()
        .find(|u| u["username"] == "both_access")
        .expect("listed")
        .clone();
    // The listing leaves out `groups` (strict: not established that
    // ArcGIS Online lists them there); everything else is the same.
    assert!(both["groups"].is_array(), "community/users keeps groups");
    assert!(entry.get("groups").is_none(), "{entry}");
    let mut both_without_groups = both.clone();
    both_without_groups
        .as_object_mut()
        .expect("object")
        .remove("groups");
    assert_eq!(
        entry, both_without_groups,
        "the org list shows the same user JSON"
    );
}

#[tokio::test]
async fn user_list_pages_a_groups_members_for_admins_and_refuses_outsiders() {
    let h = Harness::start(config()).await;
    let token = h.admin_token().await;
    let crews = h.sim().group_id("Field Crews").expect("group");
    for name in ["crew_aaa", "crew_bbb", "crew_ccc"] {
        h.sim().seed_member(SimMember {
            group_ids: vec![crews.clone()],
            ..SimMember::new(name, VIEWER, "viewerUT")
        });
    }
    let path = format!("community/groups/{crews}/userList");

    let first = h
        .get(&path, &[("token", &token), ("start", "1"), ("num", "2")])
        .await;
    let second = h
        .get(&path, &[("token", &token), ("start", "3"), ("num", "2")])
        .await;
    let plain = h.token_for("plain_member", "plain-pass1").await;
    let outsider = h
        .get(&path, &[("token", plain["token"].as_str().expect("token"))])
        .await;
    let unknown = h
        .get(
            "community/groups/00000000000000000000000000000000/userList",
            &[("token", &token)],
        )
        .await;

    assert_eq!(first["total"], 3);
    assert_eq!(first["owner"]["username"], ADMIN);
    assert_eq!(first["users"][0]["username"], "crew_aaa");
    assert_eq!(first["users"][1]["memberType"], "member");
    assert_eq!(first["nextStart"], 3);
    assert_eq!(second["users"][0]["username"], "crew_ccc");
    assert_eq!(second["nextStart"], -1);
    assert_eq!(error_code(&outsider), Some(403));
    assert_eq!(outsider["error"]["messageCode"], "GWM_0003");
    assert_eq!(unknown["error"]["messageCode"], "COM_0003");
}

#[tokio::test]
async fn update_changes_the_given_profile_fields_only() {
    let h = Harness::start(config()).await;
    let token = h.admin_token().await;
    h.sim().seed_member(SimMember {
        first_name: "Jane".into(),
        last_name: "Doe".into(),
        ..SimMember::new("jdoe_acme", VIEWER, "viewerUT")
    });

    let names = h
        .post(
            "community/users/jdoe_acme/update",
            &[("token", &token), ("firstName", "Janet")],
        )
        .await;
    let rest = h
        .post(
            "community/users/jdoe_acme/update",
            &[
                ("token", &token),
                ("email", "janet@acme.test"),
                ("fullname", "J. Doe"),
                ("access", "public"),
                ("userType", "both"),
            ],
        )
        .await;

    assert_eq!(names, json!({ "success": true, "username": "jdoe_acme" }));
    assert_eq!(rest["success"], true);
    let m = h.sim().member("jdoe_acme").expect("member");
    assert_eq!(
        (m.first_name.as_str(), m.last_name.as_str()),
        ("Janet", "Doe")
    );
    assert_eq!(m.full_name, "J. Doe");
    assert_eq!(m.email, "janet@acme.test");
    assert_eq!(m.access, "public");
    assert_eq!(m.esri_access, "both");
    assert_eq!(
        (m.role.as_str(), m.user_type.as_str()),
        (VIEWER, "viewerUT")
    );
}

#[tokio::test]
async fn update_refuses_bad_values_as_a_whole_and_answers_in_http_200() {
    let h = Harness::start(config()).await;
    let token = h.admin_token().await;
    h.sim()
        .seed_member(SimMember::new("jdoe_acme", VIEWER, "viewerUT"));
    let before = h.sim().member("jdoe_acme").expect("member");
    let path = "community/users/jdoe_acme/update";

    let access = h
        .post(
            path,
            &[
                ("token", &token),
                ("firstName", "Changed"),
                ("access", "everyone"),
            ],
        )
        .await;
    let esri = h
        .post(path, &[("token", &token), ("userType", "arcgisplus")])
        .await;
    let email = h
        .post(path, &[("token", &token), ("email", "not an address")])
        .await;
    let ghost = h
        .post(
            "community/users/ghost_user/update",
            &[("token", &token), ("access", "org")],
        )
        .await;
    let elsewhere = h
        .post(
            "community/users/jsmith_gis/update",
            &[("token", &token), ("access", "org")],
        )
        .await;
    let over_get = h.get(path, &[("token", &token), ("access", "org")]).await;

    for body in [&access, &esri, &email, &ghost, &elsewhere, &over_get] {
        assert_eq!(error_code(body), Some(400), "{body}");
    }
    assert!(
        access["error"]["details"][0]
            .as_str()
            .is_some_and(|d| d.contains("access")),
        "{access}"
    );
    assert_eq!(
        ghost["error"]["message"],
        "User does not exist or is inaccessible."
    );
    assert_eq!(h.sim().member("jdoe_acme").expect("member"), before);
}

#[tokio::test]
async fn only_an_administrator_or_the_member_itself_may_update_a_profile() {
    let h = Harness::start(config()).await;
    let t = h.token_for("plain_member", "plain-pass1").await;
    let plain = t["token"].as_str().expect("non-admin token");
    h.sim()
        .seed_member(SimMember::new("other_one", VIEWER, "viewerUT"));

    let other = h
        .post(
            "community/users/other_one/update",
            &[("token", plain), ("access", "private")],
        )
        .await;
    let own = h
        .post(
            "community/users/plain_member/update",
            &[("token", plain), ("access", "private")],
        )
        .await;
    let anonymous = h
        .post("community/users/other_one/update", &[("access", "private")])
        .await;

    assert_eq!(error_code(&other), Some(403));
    assert_eq!(other["error"]["messageCode"], "GWM_0003");
    assert_eq!(own["success"], true);
    assert_eq!(error_code(&anonymous), Some(499));
    assert_eq!(h.sim().member("other_one").expect("m").access, "org");
    assert_eq!(h.sim().member("plain_member").expect("m").access, "private");
}

#[tokio::test]
async fn custom_roles_are_listed_and_follow_their_viewer_compatibility() {
    let h = Harness::start(SimulatorConfig {
        custom_roles: vec![
            SimRole::new("rEaDeRrOlE000001", "Reader", true),
            SimRole::new("eDiToRrOlE000001", "Editor Plus", false),
        ],
        ..config()
    })
    .await;
    let token = h.admin_token().await;
    h.sim()
        .seed_member(SimMember::new("viewer_one", VIEWER, "viewerUT"));

    let page1 = h
        .get("portals/self/roles", &[("token", &token), ("num", "3")])
        .await;
    let page2 = h
        .get(
            "portals/self/roles",
            &[("token", &token), ("start", "4"), ("num", "3")],
        )
        .await;
    let editor = h
        .post(
            "portals/self/updateUserRole",
            &[
                ("token", &token),
                ("user", "viewer_one"),
                ("role", "eDiToRrOlE000001"),
            ],
        )
        .await;
    let reader = h
        .post(
            "portals/self/updateUserRole",
            &[
                ("token", &token),
                ("user", "viewer_one"),
                ("role", "rEaDeRrOlE000001"),
            ],
        )
        .await;
    let invited = h
        .invite(
            &token,
            &[
                invitation("reader_new", "rEaDeRrOlE000001", "viewerUT", "", None),
                invitation("editor_new", "eDiToRrOlE000001", "viewerUT", "", None),
                invitation("editor_ok", "eDiToRrOlE000001", "editorUT", "", None),
            ],
        )
        .await;

    let ids = |page: &Value| -> Vec<String> {
        page["roles"]
            .as_array()
            .expect("roles")
            .iter()
            .filter_map(|r| r["id"].as_str().map(String::from))
            .collect()
    };
    assert_eq!(
        ids(&page1),
        [VIEWER, DATA_EDITOR, "rEaDeRrOlE000001"],
        "pre-built first"
    );
    assert_eq!(page1["nextStart"], 4);
    assert_eq!(ids(&page2), ["eDiToRrOlE000001"]);
    assert_eq!(page2["nextStart"], -1);
    assert_eq!(editor["success"], false);
    assert_eq!(reader["success"], true);
    assert_eq!(invited["notInvited"], json!(["editor_new"]));
    let user = h
        .get("community/users/viewer_one", &[("token", &token)])
        .await;
    assert_eq!(user["role"], "org_user");
    assert_eq!(user["roleId"], "rEaDeRrOlE000001");
}

#[tokio::test]
async fn the_org_user_list_pages_by_100_at_most() {
    let h = Harness::start(config()).await;
    let token = h.admin_token().await;
    for i in 0..250 {
        h.sim().seed_member(SimMember::new(
            &format!("member_{i:03}"),
            VIEWER,
            "viewerUT",
        ));
    }

    let mut start = 1;
    let mut seen = Vec::new();
    let mut pages = 0;
    while start != -1 {
        let page = h
            .get(
                "portals/self/users",
                &[
                    ("token", &token),
                    ("start", &start.to_string()),
                    ("num", "1000"),
                ],
            )
            .await;
        let users = page["users"].as_array().expect("users");
        assert!(users.len() <= 100);
        seen.extend(
            users
                .iter()
                .filter_map(|u| u["username"].as_str().map(String::from)),
        );
        start = page["nextStart"].as_i64().expect("nextStart");
        pages += 1;
        assert_eq!(page["total"], 252);
    }

    assert_eq!(pages, 3);
    assert_eq!(seen.len(), 252);
}

// ----- pending invitations -----

/// [`config`] with e-mail invitations left pending.
fn pending_config() -> SimulatorConfig {
    SimulatorConfig {
        email_invitations_pending: true,
        ..config()
    }
}

/// POSTs JSON to a control route; returns the HTTP status and JSON body.
async fn control_raw(h: &Harness, path: &str, body: Value) -> (u16, Value) {
    let resp = h
        .http
        .post(format!("{}/_sim/{path}", h.srv.root_url()))
        .json(&body)
        .send()
        .await
        .expect("control route answers");
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

/// The usernames on one page of `portals/self/invitations`.
fn invited_names(page: &Value) -> Vec<&str> {
    page["invitations"]
        .as_array()
        .expect("an invitations array")
        .iter()
        .filter_map(|i| i["username"].as_str())
        .collect()
}

#[tokio::test]
async fn by_default_an_invite_without_password_leaves_no_pending_invitation() {
    let h = Harness::start(config()).await;
    let token = h.admin_token().await;

    h.invite(
        &token,
        &[invitation("pending_pat", "org_user", "creatorUT", "", None)],
    )
    .await;

    let listed = h
        .get("portals/self/invitations", &[("token", &token)])
        .await;
    assert_eq!(listed["total"], 0);
    assert_eq!(listed["invitations"], json!([]));
    assert_eq!(listed["nextStart"], -1);
    assert!(h.sim().invitations().is_empty());
    assert!(h.sim().member("pending_pat").is_some(), "a member at once");
}

#[tokio::test]
async fn a_pending_invitation_is_listed_but_is_no_user() {
    let h = Harness::start(pending_config()).await;
    let token = h.admin_token().await;
    let crews = h.sim().group_id("Field Crews").expect("group");
    let before = h.sim().now();

    let body = h
        .invite(
            &token,
            &[invitation("pending_pat", VIEWER, "viewerUT", &crews, None)],
        )
        .await;

    assert_eq!(body, json!({ "success": true, "notInvited": [] }));
    let user = h
        .get("community/users/pending_pat", &[("token", &token)])
        .await;
    assert_eq!(error_code(&user), Some(400));
    assert_eq!(
        user["error"]["message"],
        "User does not exist or is inaccessible."
    );
    let users = h
        .get("portals/self/users", &[("token", &token), ("num", "100")])
        .await;
    assert!(
        !users["users"]
            .as_array()
            .expect("users")
            .iter()
            .any(|u| u["username"] == "pending_pat"),
        "not in the org listing"
    );
    assert!(h.sim().member("pending_pat").is_none());
    let listed = h
        .get("portals/self/invitations", &[("token", &token)])
        .await;
    assert_eq!(listed["total"], 1);
    assert_eq!(listed["nextStart"], -1);
    let one = &listed["invitations"][0];
    assert_eq!(one["username"], "pending_pat");
    assert_eq!(one["email"], "pending_pat@acme.test");
    assert_eq!(one["role"], VIEWER);
    assert_eq!(one["userLicenseType"], "viewerUT");
    assert_eq!(one["id"].as_str().map(str::len), Some(32));
    let created = one["created"].as_i64().expect("created in epoch ms");
    assert!(created >= before);
    assert_eq!(
        one["expiration"].as_i64(),
        Some(created + 14 * 24 * 60 * 60 * 1000),
        "lapses after 14 days"
    );
    let held = h.sim().invitation("pending_pat").expect("held");
    assert_eq!(held.member.group_ids, vec![crews]);
}

#[tokio::test]
async fn a_pending_invitation_holds_a_seat_of_its_user_type() {
    // Arrange: three creator seats; the administrator and the non-admin
    // account hold two.
    let h = Harness::start(pending_config()).await;
    h.sim().set_purchased("creatorUT", 3);
    let token = h.admin_token().await;

    // Act: the invitation takes the last seat, so the next invite (even
    // with a password) finds none.
    let first = h
        .invite(
            &token,
            &[invitation("pending_pat", "org_user", "creatorUT", "", None)],
        )
        .await;
    let second = h
        .invite(
            &token,
            &[invitation(
                "late_larry",
                "org_user",
                "creatorUT",
                "",
                Some("S3cure-pass1"),
            )],
        )
        .await;

    // Assert
    assert_eq!(first["notInvited"], json!([]));
    assert_eq!(second["notInvited"], json!(["late_larry"]));
    assert_eq!(h.sim().assigned("creatorUT"), 3);
    let counts = h
        .get(
            "portals/self/users/counts",
            &[("token", &token), ("type", "userLicenseType")],
        )
        .await;
    let creators = counts["results"]
        .as_array()
        .expect("results")
        .iter()
        .find(|r| r["key"] == "creatorUT")
        .expect("creatorUT bucket");
    assert_eq!(creators["count"], 3, "the invitation counts");
    let state = h.sim().state_json();
    assert_eq!(state["assigned"]["creatorUT"], 3);
    assert_eq!(state["invitations"][0]["member"]["username"], "pending_pat");
}

#[tokio::test]
async fn a_pending_invitations_username_is_unavailable_in_any_case() {
    let h = Harness::start(pending_config()).await;
    let token = h.admin_token().await;
    h.invite(
        &token,
        &[invitation("pending_pat", VIEWER, "viewerUT", "", None)],
    )
    .await;

    let checked = h
        .post(
            "community/checkUsernames",
            &[("token", &token), ("usernames", "pending_pat")],
        )
        .await;
    let again = h
        .invite(
            &token,
            &[
                invitation("pending_pat", VIEWER, "viewerUT", "", None),
                invitation("Pending_Pat", VIEWER, "viewerUT", "", Some("S3cure-pass1")),
            ],
        )
        .await;

    assert_eq!(
        checked["usernames"],
        json!([{ "requested": "pending_pat", "suggested": "pending_pat1" }])
    );
    assert_eq!(again["notInvited"], json!(["pending_pat", "Pending_Pat"]));
    assert!(
        !h.sim()
            .seed_member(SimMember::new("PENDING_PAT", VIEWER, "viewerUT"))
    );
    assert_eq!(h.sim().invitations().len(), 1);
    assert_eq!(h.sim().assigned("viewerUT"), 1);
}

#[tokio::test]
async fn an_accepted_invitation_becomes_a_member_with_its_role_type_and_groups() {
    let h = Harness::start(pending_config()).await;
    let token = h.admin_token().await;
    let crews = h.sim().group_id("Field Crews").expect("group");
    h.invite(
        &token,
        &[invitation(
            "pending_pat",
            DATA_EDITOR,
            "editorUT",
            &crews,
            None,
        )],
    )
    .await;

    let (status, _) = control_raw(
        &h,
        "invitations/accept",
        json!({ "username": "pending_pat" }),
    )
    .await;

    assert_eq!(status, 200);
    let user = h
        .get("community/users/pending_pat", &[("token", &token)])
        .await;
    assert_eq!(user["username"], "pending_pat");
    assert_eq!(user["roleId"], DATA_EDITOR);
    assert_eq!(user["userLicenseTypeId"], "editorUT");
    assert_eq!(user["groups"][0]["id"], crews.as_str());
    assert_eq!(user["email"], "pending_pat@acme.test");
    let m = h.sim().member("pending_pat").expect("member");
    assert_eq!(m.status, MemberStatus::Active);
    let listed = h
        .get("portals/self/invitations", &[("token", &token)])
        .await;
    assert_eq!(listed["total"], 0);
    assert_eq!(h.sim().assigned("editorUT"), 1, "the same one seat");
    let (twice, body) = control_raw(
        &h,
        "invitations/accept",
        json!({ "username": "pending_pat" }),
    )
    .await;
    assert_eq!((twice, body), (404, json!({ "ok": false })));
}

#[tokio::test]
async fn an_expired_invitation_disappears_and_frees_its_seat_but_not_its_name() {
    // Arrange: the invitation holds the last creator seat.
    let h = Harness::start(pending_config()).await;
    h.sim().set_purchased("creatorUT", 3);
    let token = h.admin_token().await;
    h.invite(
        &token,
        &[invitation("pending_pat", "org_user", "creatorUT", "", None)],
    )
    .await;

    // Act
    let (status, _) = control_raw(
        &h,
        "invitations/expire",
        json!({ "username": "pending_pat" }),
    )
    .await;

    // Assert
    assert_eq!(status, 200);
    let listed = h.control(reqwest::Method::GET, "invitations", None).await;
    assert_eq!(listed, json!([]));
    assert_eq!(h.sim().assigned("creatorUT"), 2);
    let next = h
        .invite(
            &token,
            &[invitation("next_nora", "org_user", "creatorUT", "", None)],
        )
        .await;
    assert_eq!(next["notInvited"], json!([]), "the seat is free again");
    let reuse = h
        .invite(
            &token,
            &[invitation("pending_pat", VIEWER, "viewerUT", "", None)],
        )
        .await;
    assert_eq!(
        reuse["notInvited"],
        json!(["pending_pat"]),
        "the name is not"
    );
    let (accept, _) = control_raw(
        &h,
        "invitations/accept",
        json!({ "username": "pending_pat" }),
    )
    .await;
    assert_eq!(accept, 404);
    assert!(h.sim().member("pending_pat").is_none());
}

#[tokio::test]
async fn an_invitation_lapses_by_the_simulators_clock_after_its_lifetime() {
    // Arrange: a simulator on a clock the test moves.
    let (clock, time) = Clock::manual(now_millis());
    let sim = PortalSimulator::with_clock(
        SimulatorConfig {
            invitation_lifetime: Duration::from_secs(60),
            ..pending_config()
        },
        clock,
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let h = Harness {
        srv: sim.start(listener).expect("start"),
        http: reqwest::Client::new(),
    };
    let token = h.admin_token().await;
    h.invite(
        &token,
        &[invitation("pending_pat", VIEWER, "viewerUT", "", None)],
    )
    .await;
    let sent = h.sim().invitation("pending_pat").expect("pending");
    assert_eq!(sent.expires, sent.created + 60_000);

    // Act + Assert: one millisecond before, it is still there.
    time.advance(59_999);
    assert_eq!(h.sim().invitations().len(), 1);
    assert_eq!(h.sim().assigned("viewerUT"), 1);
    time.advance(1);
    let listed = h
        .get("portals/self/invitations", &[("token", &token)])
        .await;
    assert_eq!(listed["total"], 0, "{listed}");
    assert_eq!(h.sim().assigned("viewerUT"), 0);
    assert!(!h.sim().accept_invitation("pending_pat"));
}

#[tokio::test]
async fn the_invitations_listing_pages_by_start_and_num_for_administrators_only() {
    let h = Harness::start(config()).await;
    for i in 0..25 {
        assert!(h.sim().seed_invitation(SimInvitation::new(
            &format!("invitee_{i:02}"),
            VIEWER,
            "viewerUT",
            h.sim().now() + i,
        )));
    }
    let token = h.admin_token().await;
    let plain = h.token_for("plain_member", "plain-pass1").await;
    let plain = plain["token"].as_str().expect("token");

    let first = h
        .get(
            "portals/self/invitations",
            &[("token", &token), ("start", "1"), ("num", "10")],
        )
        .await;
    let last = h
        .get(
            "portals/self/invitations",
            &[("token", &token), ("start", "21"), ("num", "10")],
        )
        .await;
    let refused = h.get("portals/self/invitations", &[("token", plain)]).await;

    assert_eq!(first["total"], 25);
    assert_eq!(first["nextStart"], 11);
    assert_eq!(invited_names(&first).len(), 10);
    assert_eq!(invited_names(&first)[0], "invitee_00", "oldest first");
    assert_eq!(
        invited_names(&last),
        [
            "invitee_20",
            "invitee_21",
            "invitee_22",
            "invitee_23",
            "invitee_24"
        ]
    );
    assert_eq!(last["nextStart"], -1);
    assert_eq!(error_code(&refused), Some(403));
    assert_eq!(refused["error"]["messageCode"], "GWM_0003");
}

#[tokio::test]
async fn faults_hit_the_invitations_listing_like_any_other_endpoint() {
    let h = Harness::start(pending_config()).await;
    let token = h.admin_token().await;
    h.sim().inject(Fault {
        endpoint: Some("portals/self/invitations".into()),
        kind: FaultKind::HttpStatus(503),
        times: Some(1),
    });
    h.sim().inject(Fault {
        endpoint: Some("portals/self/invitations".into()),
        kind: FaultKind::ErrorBody {
            code: 500,
            message_code: None,
            message: "Boom".into(),
        },
        times: Some(1),
    });

    let (s1, _) = h
        .post_raw("portals/self/invitations", &[("token", &token)])
        .await;
    let errored = h
        .post("portals/self/invitations", &[("token", &token)])
        .await;
    let fine = h
        .post("portals/self/invitations", &[("token", &token)])
        .await;

    assert_eq!(s1, 503);
    assert_eq!(error_code(&errored), Some(500));
    assert_eq!(errored["error"]["message"], "Boom");
    assert_eq!(fine["total"], 0);
    assert_eq!(h.sim().request_count("portals/self/invitations"), 3);
}

// ----- faults -----

#[tokio::test]
async fn an_http_status_fault_hits_only_its_endpoint_and_counts_down() {
    let h = Harness::start(config()).await;
    let token = h.admin_token().await;
    h.sim().inject(Fault {
        endpoint: Some("portals/self".into()),
        kind: FaultKind::HttpStatus(503),
        times: Some(2),
    });

    let (s1, _) = h.post_raw("portals/self", &[("token", &token)]).await;
    let roles = h.post("portals/self/roles", &[("token", &token)]).await;
    let (s2, _) = h.post_raw("portals/self", &[("token", &token)]).await;
    let (s3, body) = h.post_raw("portals/self", &[("token", &token)]).await;

    assert_eq!((s1, s2, s3), (503, 503, 200));
    assert!(
        roles.get("roles").is_some(),
        "other endpoints are untouched"
    );
    assert_eq!(body["id"], "SiMuLaTeDoRg0001");
    assert_eq!(h.sim().request_count("portals/self"), 3);
}

#[tokio::test]
async fn a_too_many_requests_fault_answers_429_with_retry_after() {
    let h = Harness::start(config()).await;
    h.sim().inject(Fault {
        endpoint: None,
        kind: FaultKind::TooManyRequests {
            retry_after_secs: 1,
        },
        times: Some(1),
    });

    let resp = h
        .http
        .post(h.url("generateToken"))
        .form(&[
            ("f", "json"),
            ("username", ADMIN),
            ("password", ADMIN_PASSWORD),
        ])
        .send()
        .await
        .expect("request");

    assert_eq!(resp.status().as_u16(), 429);
    assert_eq!(
        resp.headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok()),
        Some("1")
    );
    assert!(h.token_for(ADMIN, ADMIN_PASSWORD).await["token"].is_string());
    assert_eq!(h.sim().request_count("generateToken"), 2);
}

#[tokio::test]
async fn a_delay_fault_waits_then_answers_normally() {
    let h = Harness::start(config()).await;
    let token = h.admin_token().await;
    h.sim().inject(Fault {
        endpoint: Some("roles".into()),
        kind: FaultKind::Delay(Duration::from_millis(50)),
        times: Some(1),
    });

    let started = Instant::now();
    let body = h.get("portals/self/roles", &[("token", &token)]).await;

    assert!(
        started.elapsed() >= Duration::from_millis(50),
        "the answer was held back"
    );
    assert!(body.get("roles").is_some());
}

#[tokio::test]
async fn an_error_body_fault_answers_http_200_with_the_error_object() {
    let h = Harness::start(config()).await;
    let token = h.admin_token().await;
    h.sim().inject(Fault {
        endpoint: Some("users/counts".into()),
        kind: FaultKind::ErrorBody {
            code: 500,
            message_code: Some("SIM_0001".into()),
            message: "Simulated trouble".into(),
        },
        times: None,
    });

    let a = h
        .get(
            "portals/self/users/counts",
            &[("token", &token), ("type", "userLicenseType")],
        )
        .await;
    let b = h
        .get(
            "portals/self/users/counts",
            &[("token", &token), ("type", "userLicenseType")],
        )
        .await;
    h.sim().clear_faults();
    let c = h
        .get(
            "portals/self/users/counts",
            &[("token", &token), ("type", "userLicenseType")],
        )
        .await;

    assert_eq!(a["error"]["code"], 500);
    assert_eq!(a["error"]["messageCode"], "SIM_0001");
    assert_eq!(a, b, "times: None lasts until cleared");
    assert!(c.get("results").is_some());
}

#[tokio::test]
async fn a_not_invited_fault_refuses_the_invitation_and_creates_nobody() {
    let h = Harness::start(config()).await;
    let token = h.admin_token().await;
    h.sim().inject(Fault {
        endpoint: None,
        kind: FaultKind::NotInvited,
        times: Some(1),
    });

    // Not consumed by other endpoints.
    h.get("portals/self", &[("token", &token)]).await;
    let refused = h
        .invite(
            &token,
            &[invitation("unlucky_one", VIEWER, "viewerUT", "", None)],
        )
        .await;
    let accepted = h
        .invite(
            &token,
            &[invitation("unlucky_one", VIEWER, "viewerUT", "", None)],
        )
        .await;

    assert_eq!(
        refused,
        json!({ "success": true, "notInvited": ["unlucky_one"] })
    );
    assert_eq!(accepted["notInvited"], json!([]));
    assert!(h.sim().member("unlucky_one").is_some());
}

#[tokio::test]
async fn an_expire_tokens_fault_answers_498_then_a_new_token_works() {
    let h = Harness::start(config()).await;
    let token = h.admin_token().await;
    h.sim().inject(Fault {
        endpoint: Some("portals/self/users".into()),
        kind: FaultKind::ExpireTokens,
        times: Some(1),
    });

    let roles = h.get("portals/self/roles", &[("token", &token)]).await;
    let users = h.get("portals/self/users", &[("token", &token)]).await;
    let roles_again = h.get("portals/self/roles", &[("token", &token)]).await;
    let fresh = h.admin_token().await;
    let users_again = h.get("portals/self/users", &[("token", &fresh)]).await;

    assert!(roles.get("error").is_none(), "other endpoints unaffected");
    assert_eq!(error_code(&users), Some(498));
    assert_eq!(error_code(&roles_again), Some(498), "the token is gone");
    assert!(users_again["users"].is_array(), "consumed after one hit");
    let parsed: Fault = serde_json::from_value(json!({
        "endpoint": "portals/self/users", "kind": "expire_tokens", "times": 1
    }))
    .expect("JSON form");
    assert_eq!(parsed.kind, FaultKind::ExpireTokens);
}

// ----- control routes and lifecycle -----

#[tokio::test]
async fn control_routes_inject_and_clear_faults_expire_tokens_and_show_state() {
    let h = Harness::start(config()).await;
    let token = h.admin_token().await;
    h.invite(
        &token,
        &[invitation("state_user", VIEWER, "viewerUT", "", None)],
    )
    .await;

    h.control(
        reqwest::Method::POST,
        "faults",
        Some(json!({ "endpoint": "portals/self", "kind": { "http_status": 502 }, "times": 1 })),
    )
    .await;
    let (faulted, _) = h.post_raw("portals/self", &[("token", &token)]).await;
    h.control(
        reqwest::Method::POST,
        "faults",
        Some(json!({ "kind": { "delay_ms": 1 } })),
    )
    .await;
    let state = h.control(reqwest::Method::GET, "state", None).await;
    h.control(reqwest::Method::DELETE, "faults", None).await;
    h.control(reqwest::Method::POST, "expire-tokens", None)
        .await;
    let expired = h.get("portals/self", &[("token", &token)]).await;

    assert_eq!(faulted, 502);
    assert_eq!(state["assigned"]["viewerUT"], 1);
    assert_eq!(state["purchased"]["viewerUT"], 1000);
    assert!(
        state["members"]
            .as_array()
            .expect("members")
            .iter()
            .any(|m| m["username"] == "state_user" && m["status"] == "pending")
    );
    assert_eq!(state["faults"][0]["kind"]["delay_ms"], 1);
    assert_eq!(error_code(&expired), Some(498));
    assert!(
        h.sim().state_json()["faults"]
            .as_array()
            .is_some_and(Vec::is_empty)
    );
}

#[tokio::test]
async fn a_stopped_server_refuses_connections_and_a_restart_keeps_the_state() {
    let sim = PortalSimulator::new(config());
    sim.set_purchased("viewerUT", 7);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let first = sim.start(listener).expect("start");
    let url = first.base_url();
    let http = reqwest::Client::new();
    let before = http
        .post(format!("{url}/generateToken"))
        .form(&[
            ("f", "json"),
            ("username", ADMIN),
            ("password", ADMIN_PASSWORD),
        ])
        .send()
        .await;
    assert!(before.is_ok());

    first.shutdown().await;
    let after = reqwest::Client::new()
        .post(format!("{url}/generateToken"))
        .form(&[
            ("f", "json"),
            ("username", ADMIN),
            ("password", ADMIN_PASSWORD),
        ])
        .send()
        .await;
    let second = sim
        .start(
            tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .expect("bind"),
        )
        .expect("start");

    assert!(after.is_err(), "nothing listens any more");
    assert_eq!(second.purchased("viewerUT"), 7);
    assert_eq!(second.request_count("generateToken"), 1);
}

#[tokio::test]
async fn serve_answers_until_its_shutdown_future_completes() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!(
        "http://{}/sharing/rest",
        listener.local_addr().expect("addr")
    );
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(agol_seat_broker::portal::simulator::serve(
        config(),
        listener,
        async {
            let _ = stopped.await;
        },
    ));

    let body: Value = reqwest::Client::new()
        .post(format!("{url}/generateToken"))
        .form(&[
            ("f", "json"),
            ("username", ADMIN),
            ("password", ADMIN_PASSWORD),
        ])
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("json");
    let _ = stop.send(());
    let result = server.await.expect("server task");

    assert!(body["token"].is_string());
    assert!(result.is_ok());
}

// ----- issue 14: a seat's life after sign-up -----

#[tokio::test]
async fn a_disabled_member_shows_disabled_cannot_sign_in_and_holds_its_seat() {
    let h = Harness::start(config()).await;
    let admin = h.admin_token().await;
    let plain = h.token_for("plain_member", "plain-pass1").await;
    let plain = plain["token"].as_str().expect("a token").to_string();
    let seats = h.sim().assigned("creatorUT");

    let by_member = h
        .post("community/users/plain_member/disable", &[("token", &plain)])
        .await;
    let over_get = h
        .get("community/users/plain_member/disable", &[("token", &admin)])
        .await;
    let self_disable = h
        .post(
            &format!("community/users/{ADMIN}/disable"),
            &[("token", &admin)],
        )
        .await;
    let done = h
        .post("community/users/plain_member/disable", &[("token", &admin)])
        .await;
    let old_token = h
        .get("community/users/plain_member", &[("token", &plain)])
        .await;
    let wrong_password = h.token_for("plain_member", "wrong-pass1").await;
    let sign_in = h.token_for("plain_member", "plain-pass1").await;
    let shown = h
        .get("community/users/plain_member", &[("token", &admin)])
        .await;
    let enabled = h
        .post("community/users/plain_member/enable", &[("token", &admin)])
        .await;
    let after = h.token_for("plain_member", "plain-pass1").await;

    assert_eq!(error_code(&by_member), Some(403));
    assert_eq!(error_code(&over_get), Some(400));
    assert_eq!(error_code(&self_disable), Some(400));
    assert_eq!(done, json!({ "success": true, "username": "plain_member" }));
    assert_eq!(error_code(&old_token), Some(498), "its session ended");
    assert_eq!(
        wrong_password["error"]["details"],
        json!(["Invalid username or password."]),
        "a wrong guess learns nothing"
    );
    assert_eq!(error_code(&sign_in), Some(400));
    assert_eq!(
        sign_in["error"]["details"],
        json!(["This account has been disabled."])
    );
    assert_eq!(shown["disabled"], true);
    assert_eq!(h.sim().assigned("creatorUT"), seats, "still holds its seat");
    assert_eq!(enabled["success"], true);
    assert!(after["token"].is_string(), "{after}");
    assert_eq!(
        h.sim().member("plain_member").map(|m| m.disabled),
        Some(false)
    );
}

#[tokio::test]
async fn a_member_owning_an_item_or_a_group_is_not_deleted_and_a_deleted_name_stays_taken() {
    let h = Harness::start(config()).await;
    let admin = h.admin_token().await;
    for name in ["owner_one", "leader_one", "leaver_one"] {
        assert!(
            h.sim()
                .seed_member(SimMember::new(name, VIEWER, "viewerUT"))
        );
    }
    h.sim().seed_item("owner_one", "Trail map");
    h.sim().seed_item("owner_one", "Water points");
    h.sim()
        .seed_group("Leaders", "leader_one")
        .expect("a new title");
    let seats = h.sim().assigned("viewerUT");

    let owner = h
        .post("community/users/owner_one/delete", &[("token", &admin)])
        .await;
    let leader = h
        .post("community/users/leader_one/delete", &[("token", &admin)])
        .await;
    let deleted = h
        .post("community/users/leaver_one/delete", &[("token", &admin)])
        .await;
    let checked = h
        .get(
            "community/checkUsernames",
            &[("token", &admin), ("usernames", "leaver_one")],
        )
        .await;
    let reinvited = h
        .invite(
            &admin,
            &[invitation("leaver_one", VIEWER, "viewerUT", "", None)],
        )
        .await;
    let self_delete = h
        .post(
            &format!("community/users/{ADMIN}/delete"),
            &[("token", &admin)],
        )
        .await;

    assert_eq!(error_code(&owner), Some(400));
    assert_eq!(
        owner["error"]["details"][0],
        "User 'owner_one' owns 2 items and 0 groups; reassign or delete them first."
    );
    assert_eq!(error_code(&leader), Some(400));
    assert!(h.sim().member("owner_one").is_some() && h.sim().member("leader_one").is_some());
    assert_eq!(
        deleted,
        json!({ "success": true, "username": "leaver_one" })
    );
    assert!(h.sim().member("leaver_one").is_none());
    assert_eq!(h.sim().assigned("viewerUT"), seats - 1);
    assert_eq!(
        checked,
        json!({ "usernames": [] }),
        "as seen for deleted names"
    );
    assert_eq!(reinvited["notInvited"], json!(["leaver_one"]));
    assert_eq!(error_code(&self_delete), Some(400));
}

#[tokio::test]
async fn content_users_pages_a_members_items_for_the_member_and_administrators_only() {
    let h = Harness::start(config()).await;
    let admin = h.admin_token().await;
    let plain = h.token_for("plain_member", "plain-pass1").await;
    let plain = plain["token"].as_str().expect("a token").to_string();
    let ids: Vec<String> = (0..25)
        .map(|i| h.sim().seed_item("plain_member", &format!("Map {i:02}")))
        .collect();
    h.sim().seed_item(ADMIN, "Admin's map");

    let page = h
        .get(
            "content/users/plain_member",
            &[("token", &admin), ("start", "11"), ("num", "10")],
        )
        .await;
    let own = h
        .get("content/users/plain_member", &[("token", &plain)])
        .await;
    let others = h
        .get(&format!("content/users/{ADMIN}"), &[("token", &plain)])
        .await;
    let ghost = h
        .get("content/users/ghost_user", &[("token", &admin)])
        .await;

    assert_eq!(page["username"], "plain_member");
    assert_eq!(page["total"], 25);
    assert_eq!(page["start"], 11);
    assert_eq!(page["num"], 10);
    assert_eq!(page["nextStart"], 21);
    assert_eq!(page["folders"], json!([]));
    assert_eq!(page["items"][0]["id"], ids[10].as_str());
    assert_eq!(page["items"][0]["owner"], "plain_member");
    assert_eq!(page["items"][0]["title"], "Map 10");
    assert_eq!(own["total"], 25, "a member reads its own content");
    assert_eq!(own["items"].as_array().map(Vec::len), Some(10));
    assert_eq!(error_code(&others), Some(403));
    assert!(
        ghost["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("does not exist")),
        "{ghost}"
    );
}

/// POSTs `portals/self/createNotification` with a message of "Hello".
async fn notify(h: &Harness, token: &str, channel: &str, subject: &str, users: &str) -> Value {
    h.post(
        "portals/self/createNotification",
        &[
            ("token", token),
            ("notificationChannelType", channel),
            ("subject", subject),
            ("message", "Hello"),
            ("users", users),
        ],
    )
    .await
}

#[tokio::test]
async fn create_notification_is_strict_about_channel_subject_size_and_recipients() {
    let h = Harness::start(config()).await;
    let admin = h.admin_token().await;
    let plain = h.token_for("plain_member", "plain-pass1").await;
    let plain = plain["token"].as_str().expect("a token").to_string();
    for i in 0..26 {
        h.sim().seed_member(SimMember::new(
            &format!("member_{i:03}"),
            VIEWER,
            "viewerUT",
        ));
    }
    let all: Vec<String> = (0..26).map(|i| format!("member_{i:03}")).collect();
    let by_member = notify(&h, &plain, "email", "Hi", "member_000").await;
    let push = notify(&h, &admin, "push", "Hi", "member_000").await;
    let no_subject = notify(&h, &admin, "email", " ", "member_000").await;
    let too_many = notify(&h, &admin, "email", "Hi", &all.join(",")).await;
    let unknown = notify(&h, &admin, "email", "Hi", "member_000,Member_001").await;
    let sent = notify(
        &h,
        &admin,
        "email",
        "Hi",
        r#"["member_000","member_001","member_000"]"#,
    )
    .await;
    let builtin = notify(&h, &admin, "builtin", "", "member_002").await;

    for refused in [&push, &no_subject, &too_many, &unknown] {
        assert_eq!(error_code(refused), Some(400), "{refused}");
    }
    assert_eq!(error_code(&by_member), Some(403));
    assert_eq!(sent, json!({ "success": true }));
    assert_eq!(builtin, json!({ "success": true }));
    let recorded = h.sim().notifications();
    let to: Vec<(&str, &str)> = recorded
        .iter()
        .map(|n| (n.username.as_str(), n.channel.as_str()))
        .collect();
    assert_eq!(
        to,
        [
            ("member_000", "email"),
            ("member_001", "email"),
            ("member_002", "builtin")
        ],
        "each name once; refused requests sent nothing"
    );
    let state = h.control(reqwest::Method::GET, "state", None).await;
    assert_eq!(state["notifications"].as_array().map(Vec::len), Some(3));
}

/// Issue 15: what Esri's clients read to sign in and to manage members,
/// beyond what the broker itself calls: the REST root and `info` without a
/// token, `community/self` with the administrator's privileges,
/// `portals/self`'s portal fields, the organization's user search by
/// query, a group and its members, a member's user type, the default
/// settings of new members.
#[tokio::test]
async fn esri_clients_find_what_they_read_to_sign_in_and_manage_members() {
    let h = Harness::start(SimulatorConfig {
        groups: vec!["Field Crews".into()],
        ..config()
    })
    .await;
    // Without a token.
    let root = h
        .http
        .get(format!("{}?f=json", h.srv.base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(root.status().as_u16(), 200);
    let root: Value = root.json().await.unwrap();
    assert!(root["currentVersion"].is_string(), "{root}");
    let info = h.get("info", &[]).await;
    assert!(
        info["authInfo"]["tokenServicesUrl"]
            .as_str()
            .is_some_and(|u| u.ends_with("/sharing/rest/generateToken")),
        "{info}"
    );
    assert_eq!(info["authInfo"]["isTokenBasedSecurity"], true);

    let token = h.admin_token().await;
    let me = h.get("community/self", &[("token", &token)]).await;
    assert_eq!(me["role"], "org_admin");
    let privileges: Vec<&str> = me["privileges"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(privileges.contains(&"portal:admin:inviteUsers"), "{me}");
    let plain = h.token_for("plain_member", "plain-pass1").await;
    let plain = plain["token"].as_str().unwrap();
    let them = h.get("community/self", &[("token", plain)]).await;
    assert!(
        !them["privileges"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p.as_str().is_some_and(|p| p.starts_with("portal:admin:"))),
        "{them}"
    );
    let self_ = h.get("portals/self", &[("token", &token)]).await;
    assert_eq!(
        (self_["portalName"].as_str(), self_["portalMode"].as_str()),
        (Some("ArcGIS Online"), Some("multitenant"))
    );

    // The organization's user search, by query, for administrators only.
    let all = h
        .get(
            "portals/self/users/search",
            &[("token", &token), ("q", "*")],
        )
        .await;
    assert_eq!(all["total"], 2, "{all}");
    let one = h
        .get(
            "portals/self/users/search",
            &[("token", &token), ("q", "username:plain")],
        )
        .await;
    assert_eq!(one["results"][0]["username"], "plain_member", "{one}");
    let refused = h
        .get("portals/self/users/search", &[("token", plain), ("q", "*")])
        .await;
    assert_eq!(refused["error"]["code"], 403, "{refused}");

    // A group, its members after one is added, a member's user type.
    let gid = h.sim().group_id("Field Crews").unwrap();
    let group = h
        .get(&format!("community/groups/{gid}"), &[("token", &token)])
        .await;
    assert_eq!(group["title"], "Field Crews");
    h.post(
        &format!("community/groups/{gid}/addUsers"),
        &[("token", &token), ("users", "plain_member")],
    )
    .await;
    let members = h
        .get(
            &format!("community/groups/{gid}/users"),
            &[("token", &token)],
        )
        .await;
    assert_eq!(members["users"], json!(["plain_member"]), "{members}");
    let ut = h
        .get(
            "community/users/plain_member/userLicenseType",
            &[("token", &token)],
        )
        .await;
    assert!(ut["userLicenseType"]["id"].is_string(), "{ut}");
    let defaults = h
        .get("portals/self/userDefaultSettings", &[("token", &token)])
        .await;
    assert_eq!(defaults["role"], "org_user");
    let unknown = h.get("community/groups/nope", &[("token", &token)]).await;
    assert!(unknown["error"].is_object(), "{unknown}");
}

/// Issue 15: the OAuth sign-in pages the ArcGIS API for Python drives with
/// a username and a password (the implicit grant): `authorize` answers a
/// page carrying `oauth_state`, refuses an unregistered `redirect_uri`;
/// `signin` with the right password redirects to the address with a token
/// that works and the client's `state`, with a wrong one answers the page
/// again with the message the library looks for.
#[tokio::test]
async fn the_oauth_sign_in_pages_hand_a_token_to_a_scripted_sign_in() {
    let h = Harness::start(config()).await;
    let no_redirects = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let root = h.srv.root_url();
    let authorize = |redirect: &str| {
        no_redirects
            .get(format!("{root}/sharing/rest/oauth2/authorize"))
            .query(&[
                ("client_id", "pythonapi"),
                ("response_type", "token"),
                ("redirect_uri", redirect),
                ("state", "st-42"),
                ("expiration", "20160"),
            ])
            .send()
    };
    let refused = authorize("https://elsewhere.example").await.unwrap();
    assert!(
        refused
            .text()
            .await
            .unwrap()
            .contains("Invalid redirect_uri")
    );
    let page = authorize("urn:ietf:wg:oauth:2.0:oob")
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let info = page
        .split("var oAuthInfo = ")
        .nth(1)
        .and_then(|rest| rest.split(";</script>").next())
        .expect("the page carries oAuthInfo");
    let info: Value = serde_json::from_str(info).unwrap();
    let state = info["oauth_state"].as_str().unwrap().to_string();

    let signin = |password: &'static str| {
        no_redirects
            .post(format!("{root}/sharing/oauth2/signin"))
            .form(&[
                ("oauth_state", state.as_str()),
                ("username", "sim_admin"),
                ("password", password),
            ])
            .send()
    };
    let wrong = signin("not-the-password").await.unwrap();
    assert_eq!(wrong.status().as_u16(), 200);
    assert!(
        wrong
            .text()
            .await
            .unwrap()
            .contains("Invalid username or password.")
    );
    let ok = signin("sim-admin-pass1").await.unwrap();
    assert_eq!(ok.status().as_u16(), 302);
    let location = ok.headers()["location"].to_str().unwrap().to_string();
    let fragment = location
        .strip_prefix("urn:ietf:wg:oauth:2.0:oob#")
        .expect("back to the registered address");
    let field = |name: &str| {
        fragment
            .split('&')
            .find_map(|kv| kv.strip_prefix(&format!("{name}=")))
            .map(str::to_string)
    };
    assert_eq!(field("state").as_deref(), Some("st-42"));
    let token = field("access_token").expect("a token");
    let me = h.get("community/self", &[("token", &token)]).await;
    assert_eq!(me["username"], "sim_admin");
}
