//! The portal simulator as an ArcGIS Enterprise portal, over real HTTP:
//! `portals/self` without licence counts, and the admin API under
//! `/portaladmin` (root, `license`, `security/users/createUser`) with its
//! answer format, its token rules, every `createUser` rule, the seat
//! limit it shares with invitations, and injected faults. Outcomes are
//! checked through the sharing API and the simulator's state.

use std::time::Duration;

use agol_seat_broker::portal::PortalFlavour;
use agol_seat_broker::portal::simulator::portaladmin::{
    EMAIL_INVALID, FORBIDDEN, INVALID_TOKEN, PARAMETER_INVALID, PARAMETER_REQUIRED,
    PASSWORD_POLICY, POST_REQUIRED, RESOURCE_NOT_FOUND, ROLE_OR_TYPE_INVALID, TOKEN_REQUIRED,
    USER_EXISTS, USER_TYPE_UNRECOGNIZED, USER_TYPES_EXCEEDED, USERNAME_INVALID,
};
use agol_seat_broker::portal::simulator::{
    Fault, FaultKind, MemberStatus, PortalSimulator, RunningSimulator, SimAccount, SimInvitation,
    SimulatorConfig, spawn,
};
use serde_json::{Value, json};

const ADMIN: &str = "sim_admin";
const ADMIN_PASSWORD: &str = "sim-admin-pass1";
const NON_ADMIN: &str = "plain_member";
const NON_ADMIN_PASSWORD: &str = "plain-pass1";
const VIEWER: &str = "iAAAAAAAAAAAAAAA";
const FIELD_TECHNICIAN: &str = "fIeLdTeChRoLe001";

fn config(flavour: PortalFlavour) -> SimulatorConfig {
    SimulatorConfig {
        flavour,
        non_admin: Some(SimAccount {
            username: NON_ADMIN.into(),
            password: NON_ADMIN_PASSWORD.into(),
        }),
        ..SimulatorConfig::default()
    }
}

/// A running simulator plus an HTTP client.
struct Harness {
    srv: RunningSimulator,
    http: reqwest::Client,
}

impl Harness {
    async fn start(flavour: PortalFlavour) -> Self {
        Harness {
            srv: spawn(config(flavour)).await.expect("simulator starts"),
            http: reqwest::Client::new(),
        }
    }

    async fn enterprise() -> Self {
        Self::start(PortalFlavour::Enterprise).await
    }

    fn sim(&self) -> &PortalSimulator {
        self.srv.sim()
    }

    fn admin_url(&self, path: &str) -> String {
        format!("{}/{path}", self.srv.admin_url())
    }

    /// Sends a request and reads HTTP status and JSON body (`Null` when
    /// the body is not JSON).
    async fn send(&self, req: reqwest::RequestBuilder) -> (u16, Value) {
        let resp = req.send().await.expect("request reaches the simulator");
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    /// POSTs a form with `f=json` to `/portaladmin/<path>`.
    async fn admin_post(&self, path: &str, form: &[(&str, &str)]) -> (u16, Value) {
        let mut fields: Vec<(&str, &str)> = vec![("f", "json")];
        fields.extend_from_slice(form);
        self.send(self.http.post(self.admin_url(path)).form(&fields))
            .await
    }

    /// GETs `/portaladmin/<path>` with `f=json` and `query`.
    async fn admin_get(&self, path: &str, query: &[(&str, &str)]) -> (u16, Value) {
        let mut fields: Vec<(&str, &str)> = vec![("f", "json")];
        fields.extend_from_slice(query);
        self.send(self.http.get(self.admin_url(path)).query(&fields))
            .await
    }

    /// POSTs a form with `f=json` to `/sharing/rest/<path>`; HTTP 200.
    async fn post(&self, path: &str, form: &[(&str, &str)]) -> Value {
        let mut fields: Vec<(&str, &str)> = vec![("f", "json")];
        fields.extend_from_slice(form);
        let url = format!("{}/{path}", self.srv.base_url());
        let (status, body) = self.send(self.http.post(url).form(&fields)).await;
        assert_eq!(status, 200, "sharing API answers HTTP 200 ({path}): {body}");
        body
    }

    /// GETs `/sharing/rest/<path>` with `f=json`; HTTP 200.
    async fn get(&self, path: &str, query: &[(&str, &str)]) -> Value {
        let mut fields: Vec<(&str, &str)> = vec![("f", "json")];
        fields.extend_from_slice(query);
        let url = format!("{}/{path}", self.srv.base_url());
        let (status, body) = self.send(self.http.get(url).query(&fields)).await;
        assert_eq!(status, 200, "sharing API answers HTTP 200 ({path}): {body}");
        body
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

    /// `createUser` with the admin token in the body and `form` on top of
    /// [`new_user`]'s fields (a field given empty is left out).
    async fn create_user(&self, token: &str, form: &[(&str, &str)]) -> (u16, Value) {
        let fields = with_changes(&new_user("jdoe_acme"), form);
        let mut fields: Vec<(&str, &str)> = fields
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        fields.push(("token", token));
        self.admin_post("security/users/createUser", &fields).await
    }

    /// `community/users/<u>` as the administrator sees it.
    async fn user(&self, token: &str, username: &str) -> Value {
        self.get(&format!("community/users/{username}"), &[("token", token)])
            .await
    }

    /// Seats assigned per user type, from `portals/self/users/counts`.
    async fn counts(&self, token: &str, user_type: &str) -> u64 {
        let v = self
            .get(
                "portals/self/users/counts",
                &[("token", token), ("type", "userLicenseType")],
            )
            .await;
        v["results"]
            .as_array()
            .expect("results")
            .iter()
            .find(|r| r["key"] == user_type)
            .map_or(0, |r| r["count"].as_u64().expect("a count"))
    }

    /// `GET /portaladmin/license` as the administrator; success.
    async fn license(&self, token: &str) -> Value {
        let (status, v) = self.admin_get("license", &[("token", token)]).await;
        assert_eq!(status, 200);
        assert!(v.get("status").is_none_or(|s| s != "error"), "{v}");
        v
    }

    /// `(current, maximum)` of one user type in `license`.
    async fn license_of(&self, token: &str, user_type: &str) -> (u64, u64) {
        let v = self.license(token).await;
        let t = v["userTypes"]
            .as_array()
            .expect("userTypes")
            .iter()
            .find(|t| t["id"] == user_type)
            .cloned()
            .unwrap_or_else(|| panic!("{user_type} in {v}"));
        (
            t["currentRegisteredMembers"].as_u64().expect("current"),
            t["maximumRegisteredMembers"].as_u64().expect("maximum"),
        )
    }

    /// Usernames of the organization's member listing.
    async fn listed(&self, token: &str) -> Vec<String> {
        let v = self
            .get("portals/self/users", &[("token", token), ("num", "100")])
            .await;
        v["users"]
            .as_array()
            .expect("users")
            .iter()
            .filter_map(|u| u["username"].as_str().map(String::from))
            .collect()
    }
}

/// The fields the Python API sends for a new built-in member.
fn new_user(username: &str) -> Vec<(String, String)> {
    [
        ("username", username),
        ("password", "S3cure-pass1"),
        ("firstname", "Jane"),
        ("lastname", "Doe"),
        ("email", "jane@acme.test"),
        ("role", "org_user"),
        ("userLicenseTypeId", "creatorUT"),
        ("provider", "arcgis"),
        ("description", "Field lead"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

/// `base` with each of `changes` set (an empty value removes the field).
fn with_changes(base: &[(String, String)], changes: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = base.to_vec();
    for (k, v) in changes {
        out.retain(|(key, _)| key != k);
        if !v.is_empty() {
            out.push((k.to_string(), v.to_string()));
        }
    }
    out
}

/// Asserts the portaladmin failure shape: HTTP 200,
/// `{"status":"error","messages":[first, …],"code"}`.
fn assert_admin_error(status: u16, body: &Value, code: i64, first: &str) {
    assert_eq!(status, 200, "portaladmin failures are HTTP 200: {body}");
    assert_eq!(body["status"], "error", "{body}");
    assert_eq!(body["code"], code, "{body}");
    assert_eq!(body["messages"][0], first, "{body}");
    assert!(
        body.get("error").is_none(),
        "not the sharing API shape: {body}"
    );
}

// ----- portals/self and the root -----

#[tokio::test]
async fn an_enterprise_portal_self_says_so_and_counts_no_licences() {
    let h = Harness::enterprise().await;
    let token = h.admin_token().await;
    let v = h.get("portals/self", &[("token", &token)]).await;
    assert_eq!(v["isPortal"], true, "{v}");
    assert_eq!(v["portalMode"], "singletenant", "{v}");
    assert!(
        v.pointer("/subscriptionInfo/userLicenseTypes").is_none(),
        "{v}"
    );
    assert_eq!(v["id"], h.sim().org_id());
    assert_eq!(v["user"]["username"], ADMIN);
    assert_eq!(h.sim().flavour(), PortalFlavour::Enterprise);

    let online = Harness::start(PortalFlavour::Online).await;
    let token = online.admin_token().await;
    let v = online.get("portals/self", &[("token", &token)]).await;
    assert_eq!(v["isPortal"], false);
    assert_eq!(v["portalMode"], "multitenant");
    assert_eq!(v["subscriptionInfo"]["userLicenseTypes"]["creatorUT"], 100);
}

#[tokio::test]
async fn the_admin_root_answers_an_administrator() {
    let h = Harness::enterprise().await;
    let token = h.admin_token().await;
    let (status, v) = h.admin_get("", &[("token", &token)]).await;
    assert_eq!(status, 200);
    assert_eq!(v["resources"], json!(["security", "license", "system"]));
    assert!(v["currentVersion"].is_string(), "{v}");

    let (status, v) = h.admin_get("", &[]).await;
    assert_admin_error(status, &v, 499, TOKEN_REQUIRED);

    let (status, v) = h
        .admin_get("security/users/deleteEverything", &[("token", &token)])
        .await;
    assert_admin_error(
        status,
        &v,
        404,
        &RESOURCE_NOT_FOUND.replace("{resource}", "security/users/deleteEverything"),
    );
}

#[tokio::test]
async fn an_online_simulator_has_no_portaladmin() {
    let h = Harness::start(PortalFlavour::Online).await;
    let token = h.admin_token().await;
    for (status, _) in [
        h.admin_get("", &[("token", &token)]).await,
        h.admin_get("license", &[("token", &token)]).await,
        h.create_user(&token, &[]).await,
    ] {
        assert_eq!(status, 404);
    }
    let (status, _) = h
        .send(h.http.get(h.srv.admin_url()).query(&[("f", "json")]))
        .await;
    assert_eq!(status, 404);
    let v = h.user(&token, "jdoe_acme").await;
    assert!(v["error"].is_object(), "nothing created: {v}");
}

#[test]
fn the_flavour_is_online_unless_the_config_says_otherwise() {
    let cfg: SimulatorConfig = serde_json::from_str("{}").unwrap();
    assert_eq!(cfg.flavour, PortalFlavour::Online);
    let cfg: SimulatorConfig = serde_json::from_str(r#"{"flavour":"enterprise"}"#).unwrap();
    assert_eq!(cfg.flavour, PortalFlavour::Enterprise);
}

// ----- createUser: success -----

#[tokio::test]
async fn create_user_makes_an_active_member_visible_everywhere() {
    let h = Harness::enterprise().await;
    let token = h.admin_token().await;
    let counted = h.counts(&token, "creatorUT").await;
    let (current, maximum) = h.license_of(&token, "creatorUT").await;
    assert_eq!(current, counted, "license and counts agree");

    let (status, v) = h.create_user(&token, &[("username", "JDoe_Acme")]).await;
    assert_eq!(status, 200);
    assert_eq!(v, json!({ "status": "success", "username": "JDoe_Acme" }));

    let u = h.user(&token, "JDoe_Acme").await;
    assert_eq!(u["username"], "JDoe_Acme", "{u}");
    assert_eq!(u["orgId"], h.sim().org_id());
    assert_eq!(u["role"], "org_user");
    assert_eq!(u["userLicenseTypeId"], "creatorUT");
    assert_eq!(u["firstName"], "Jane");
    assert_eq!(u["lastName"], "Doe");
    assert_eq!(u["email"], "jane@acme.test");
    assert_eq!(u["lastLogin"], -1);
    assert_eq!(u["provider"], "arcgis");
    assert_eq!(u["description"], "Field lead");
    assert_eq!(u["groups"], json!([]), "groups are not part of createUser");
    assert!(u.get("idpUsername").is_none(), "{u}");
    let member = h.sim().member("JDoe_Acme").expect("a member");
    assert_eq!(member.status, MemberStatus::Active);

    assert!(h.listed(&token).await.contains(&"JDoe_Acme".to_string()));
    assert_eq!(h.counts(&token, "creatorUT").await, counted + 1);
    assert_eq!(
        h.license_of(&token, "creatorUT").await,
        (current + 1, maximum)
    );

    // Active at once: the password works.
    let t = h.token_for("JDoe_Acme", "S3cure-pass1").await;
    assert!(t["token"].is_string(), "{t}");
}

#[tokio::test]
async fn an_enterprise_account_records_its_identity_provider_and_has_no_password() {
    let h = Harness::enterprise().await;
    let token = h.admin_token().await;
    let (status, v) = h
        .create_user(
            &token,
            &[
                ("username", "ana_lopez"),
                ("provider", "enterprise"),
                ("idpUsername", "ana.lopez@acme.test"),
                ("role", VIEWER),
                ("userLicenseTypeId", "viewerUT"),
            ],
        )
        .await;
    assert_eq!((status, &v["status"]), (200, &json!("success")), "{v}");
    let u = h.user(&token, "ana_lopez").await;
    assert_eq!(u["provider"], "enterprise", "{u}");
    assert_eq!(u["idpUsername"], "ana.lopez@acme.test");
    assert_eq!(u["role"], "org_user");
    assert_eq!(u["roleId"], VIEWER);
    // The password sent along is ignored: no built-in sign-in.
    let t = h.token_for("ana_lopez", "S3cure-pass1").await;
    assert_eq!(t["error"]["code"], 400, "{t}");
}

#[tokio::test]
async fn apply_defaults_fills_a_missing_role_and_user_type() {
    let h = Harness::enterprise().await;
    let token = h.admin_token().await;
    let (_, v) = h
        .create_user(
            &token,
            &[
                ("role", ""),
                ("userLicenseTypeId", ""),
                ("applyDefaults", "true"),
            ],
        )
        .await;
    assert_eq!(v["status"], "success", "{v}");
    let u = h.user(&token, "jdoe_acme").await;
    assert_eq!(u["role"], "org_user");
    assert_eq!(u["userLicenseTypeId"], "creatorUT");

    let (status, v) = h
        .create_user(
            &token,
            &[
                ("username", "second_one"),
                ("role", ""),
                ("applyDefaults", "false"),
            ],
        )
        .await;
    assert_admin_error(status, &v, 400, PARAMETER_REQUIRED);
    assert_eq!(v["messages"][1], "'role' must be specified.");
}

// ----- createUser: refusals -----

/// A refused `createUser`: the fields changed from [`new_user`]'s, the
/// code, the first message and, when checked, the second.
type Refused = (Changes, i64, String, Option<&'static str>);

/// Fields changed from [`new_user`]'s (empty value = left out).
type Changes = Vec<(&'static str, &'static str)>;

#[tokio::test]
async fn every_refusal_is_worded_in_the_portaladmin_format_and_creates_nothing() {
    let h = Harness::enterprise().await;
    let token = h.admin_token().await;
    assert!(
        h.sim()
            .seed_invitation(SimInvitation::new("invited_acme", VIEWER, "viewerUT", 0))
    );
    let user_exists = |u: &str| USER_EXISTS.replace("{username}", u);
    // (what changes, code, first message, second message if checked)
    let cases: Vec<Refused> = vec![
        (
            vec![("username", "")],
            400,
            PARAMETER_REQUIRED.into(),
            Some("'username' must be specified."),
        ),
        (
            vec![("username", "jdoe")],
            400,
            USERNAME_INVALID.into(),
            None,
        ),
        (
            vec![("username", "a_very_long_username_1234")],
            400,
            USERNAME_INVALID.into(),
            None,
        ),
        (
            vec![("username", "_jdoe_acme")],
            400,
            USERNAME_INVALID.into(),
            None,
        ),
        (
            vec![("username", "jdoe_acme.")],
            400,
            USERNAME_INVALID.into(),
            None,
        ),
        (
            vec![("username", "jdoe acme")],
            400,
            USERNAME_INVALID.into(),
            None,
        ),
        (
            vec![("username", "ACME\\jdoe")],
            400,
            USERNAME_INVALID.into(),
            None,
        ),
        (
            vec![("username", "SIM_ADMIN")],
            409,
            user_exists("SIM_ADMIN"),
            None,
        ),
        (
            vec![("username", "Plain_Member")],
            409,
            user_exists("Plain_Member"),
            None,
        ),
        (
            vec![("username", "invited_acme")],
            409,
            user_exists("invited_acme"),
            None,
        ),
        (
            vec![("username", "JSmith_GIS")],
            409,
            user_exists("JSmith_GIS"),
            None,
        ),
        (
            vec![("firstname", "")],
            400,
            PARAMETER_REQUIRED.into(),
            Some("'firstname' must be specified."),
        ),
        (
            vec![("lastname", " ")],
            400,
            PARAMETER_REQUIRED.into(),
            Some("'lastname' must be specified."),
        ),
        (
            vec![("email", "")],
            400,
            PARAMETER_REQUIRED.into(),
            Some("'email' must be specified."),
        ),
        (
            vec![("email", "not-an-address")],
            400,
            EMAIL_INVALID.into(),
            None,
        ),
        (
            vec![("password", "")],
            400,
            PARAMETER_REQUIRED.into(),
            Some("'password' must be specified."),
        ),
        (
            vec![("password", "short1")],
            400,
            PASSWORD_POLICY.into(),
            None,
        ),
        (
            vec![("password", "lettersonly")],
            400,
            PASSWORD_POLICY.into(),
            None,
        ),
        (
            vec![("provider", "saml")],
            400,
            PARAMETER_INVALID.into(),
            Some("'provider' must be arcgis or enterprise."),
        ),
        (
            vec![("provider", "enterprise")],
            400,
            PARAMETER_REQUIRED.into(),
            Some("'idpUsername' must be specified."),
        ),
        (
            vec![("applyDefaults", "maybe")],
            400,
            PARAMETER_INVALID.into(),
            Some("'applyDefaults' must be true or false."),
        ),
        (
            vec![("userLicenseTypeId", "CreatorUT")],
            400,
            USER_TYPE_UNRECOGNIZED.into(),
            None,
        ),
        (
            vec![("userLicenseTypeId", "nonsenseUT")],
            400,
            USER_TYPE_UNRECOGNIZED.into(),
            None,
        ),
        // The invitation's field name is not createUser's.
        (
            vec![("userLicenseTypeId", ""), ("userLicenseType", "creatorUT")],
            400,
            PARAMETER_REQUIRED.into(),
            Some("'userLicenseTypeId' must be specified."),
        ),
        (
            vec![("role", "nOsUcHrOlE000001")],
            400,
            ROLE_OR_TYPE_INVALID.into(),
            None,
        ),
        (
            vec![("role", "org_publisher"), ("userLicenseTypeId", "viewerUT")],
            400,
            ROLE_OR_TYPE_INVALID.into(),
            None,
        ),
        (
            vec![("role", "org_admin"), ("userLicenseTypeId", "viewerUT")],
            400,
            ROLE_OR_TYPE_INVALID.into(),
            None,
        ),
        (
            vec![
                ("role", FIELD_TECHNICIAN),
                ("userLicenseTypeId", "viewerUT"),
            ],
            400,
            ROLE_OR_TYPE_INVALID.into(),
            None,
        ),
    ];
    let members_before = h.sim().members();
    let license_before = h.license(&token).await;
    let counts_before = h.counts(&token, "creatorUT").await;
    for (changes, code, first, second) in &cases {
        let (status, v) = h.create_user(&token, changes).await;
        assert_admin_error(status, &v, *code, first);
        if let Some(second) = second {
            assert_eq!(v["messages"][1], *second, "{changes:?}: {v}");
        }
        assert_eq!(
            h.sim().members(),
            members_before,
            "{changes:?} created nothing"
        );
    }
    let u = h.user(&token, "jdoe_acme").await;
    assert_eq!(
        u["error"]["message"],
        "User does not exist or is inaccessible."
    );
    assert_eq!(h.license(&token).await, license_before);
    assert_eq!(h.counts(&token, "creatorUT").await, counts_before);
}

#[tokio::test]
async fn a_taken_name_is_taken_in_any_case_and_create_user_wants_a_post() {
    let h = Harness::enterprise().await;
    let token = h.admin_token().await;
    let (_, v) = h.create_user(&token, &[]).await;
    assert_eq!(v["status"], "success", "{v}");
    let (status, v) = h.create_user(&token, &[("username", "JDOE_ACME")]).await;
    assert_admin_error(
        status,
        &v,
        409,
        &USER_EXISTS.replace("{username}", "JDOE_ACME"),
    );

    let mut query: Vec<(String, String)> = new_user("by_get_acme");
    query.push(("token".into(), token.clone()));
    let query: Vec<(&str, &str)> = query
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let (status, v) = h.admin_get("security/users/createUser", &query).await;
    assert_admin_error(status, &v, 405, POST_REQUIRED);
    assert!(h.sim().member("by_get_acme").is_none());
}

// ----- tokens -----

#[tokio::test]
async fn the_admin_api_takes_the_token_from_the_body_or_the_header_never_a_posts_query() {
    let h = Harness::enterprise().await;
    let token = h.admin_token().await;
    let fields: Vec<(String, String)> = with_changes(&new_user("jdoe_acme"), &[("f", "json")]);
    let by_header: Vec<(String, String)> = with_changes(&new_user("header_acme"), &[("f", "json")]);

    // In the header only, as Esri's Python API 2.4.4 sends createUser:
    // accepted.
    let (_, v) = h
        .send(
            h.http
                .post(h.admin_url("security/users/createUser"))
                .header("X-Esri-Authorization", format!("Bearer {token}"))
                .form(&by_header),
        )
        .await;
    assert_eq!(v["status"], "success", "{v}");
    assert!(h.sim().member("header_acme").is_some());
    // In a POST's query string: refused.
    let (status, v) = h
        .send(
            h.http
                .post(h.admin_url("security/users/createUser"))
                .query(&[("token", &token)])
                .form(&fields),
        )
        .await;
    assert_admin_error(status, &v, 499, TOKEN_REQUIRED);
    assert!(h.sim().member("jdoe_acme").is_none());

    // In the body: accepted.
    let (_, v) = h.create_user(&token, &[]).await;
    assert_eq!(v["status"], "success", "{v}");
    assert!(h.sim().member("jdoe_acme").is_some());

    // A GET's query string carries it.
    let (status, v) = h.admin_get("license", &[("token", &token)]).await;
    assert_eq!(status, 200);
    assert!(v["userTypes"].is_array(), "{v}");
}

#[tokio::test]
async fn bad_tokens_and_non_administrators_are_refused_in_the_admin_format() {
    let h = Harness::enterprise().await;
    let (status, v) = h.create_user("not-a-token", &[]).await;
    assert_admin_error(status, &v, 498, INVALID_TOKEN);

    let token = h.admin_token().await;
    h.sim().expire_tokens();
    let (status, v) = h.create_user(&token, &[]).await;
    assert_admin_error(status, &v, 498, INVALID_TOKEN);

    let plain = h.token_for(NON_ADMIN, NON_ADMIN_PASSWORD).await;
    let plain = plain["token"].as_str().expect("a token");
    let (status, v) = h.create_user(plain, &[]).await;
    assert_admin_error(status, &v, 403, FORBIDDEN);
    let (status, v) = h.admin_get("license", &[("token", plain)]).await;
    assert_admin_error(status, &v, 403, FORBIDDEN);
    let (status, v) = h.admin_get("", &[("token", plain)]).await;
    assert_admin_error(status, &v, 403, FORBIDDEN);

    assert!(h.sim().member("jdoe_acme").is_none(), "nothing created");
}

// ----- seats -----

#[tokio::test]
async fn create_user_and_invitations_share_one_seat_limit_that_license_reports() {
    let h = Harness::enterprise().await;
    let token = h.admin_token().await;
    h.sim().set_purchased("GISProfessionalAdvUT", 2);
    // A pending invitation holds one of the two.
    assert!(h.sim().seed_invitation(SimInvitation::new(
        "invited_acme",
        "org_user",
        "GISProfessionalAdvUT",
        h.sim().now(),
    )));
    assert_eq!(h.license_of(&token, "GISProfessionalAdvUT").await, (1, 2));

    let pro = |u: &'static str| {
        [
            ("username", u),
            ("userLicenseTypeId", "GISProfessionalAdvUT"),
        ]
    };
    let (_, v) = h.create_user(&token, &pro("pro_one_acme")).await;
    assert_eq!(v["status"], "success", "{v}");
    assert_eq!(h.license_of(&token, "GISProfessionalAdvUT").await, (2, 2));
    assert_eq!(h.counts(&token, "GISProfessionalAdvUT").await, 2);

    let (status, v) = h.create_user(&token, &pro("pro_two_acme")).await;
    assert_admin_error(status, &v, 400, USER_TYPES_EXCEEDED);
    assert!(h.sim().member("pro_two_acme").is_none());
    assert_eq!(h.license_of(&token, "GISProfessionalAdvUT").await, (2, 2));

    // The invitation lapses: its seat is free again.
    assert!(h.sim().expire_invitation("invited_acme"));
    assert_eq!(h.license_of(&token, "GISProfessionalAdvUT").await, (1, 2));
    let (_, v) = h.create_user(&token, &pro("pro_two_acme")).await;
    assert_eq!(v["status"], "success", "{v}");

    // The totals are the sums over the user types.
    let lic = h.license(&token).await;
    let types = lic["userTypes"].as_array().expect("userTypes");
    let sum = |key: &str| types.iter().map(|t| t[key].as_u64().unwrap()).sum::<u64>();
    assert_eq!(
        lic["currentRegisteredMembers"],
        sum("currentRegisteredMembers")
    );
    assert_eq!(
        lic["maximumRegisteredMembers"],
        sum("maximumRegisteredMembers")
    );
    assert_eq!(
        lic["currentRegisteredMembers"],
        h.sim().members().len() as u64,
        "every member holds a seat"
    );
    assert!(
        types
            .iter()
            .all(|t| t["expiration"].as_i64().unwrap() > h.sim().now())
    );
}

// ----- the sharing API on an Enterprise portal -----

#[tokio::test]
async fn a_created_member_is_administered_through_the_sharing_api() {
    let h = Harness::enterprise().await;
    let token = h.admin_token().await;
    let (_, v) = h.create_user(&token, &[]).await;
    assert_eq!(v["status"], "success", "{v}");

    // Groups come afterwards, with addUsers.
    let crews = h.sim().group_id("Field Crews").expect("a group");
    let v = h
        .post(
            &format!("community/groups/{crews}/addUsers"),
            &[("token", &token), ("users", "jdoe_acme")],
        )
        .await;
    assert_eq!(v["notAdded"], json!([]), "{v}");
    let u = h.user(&token, "jdoe_acme").await;
    assert_eq!(u["groups"][0]["id"], crews.as_str());

    let v = h
        .post("community/users/jdoe_acme/disable", &[("token", &token)])
        .await;
    assert_eq!(v["success"], true, "{v}");
    assert_eq!(h.user(&token, "jdoe_acme").await["disabled"], true);

    let (before, _) = h.license_of(&token, "creatorUT").await;
    let v = h
        .post("community/users/jdoe_acme/delete", &[("token", &token)])
        .await;
    assert_eq!(v["success"], true, "{v}");
    assert_eq!(h.license_of(&token, "creatorUT").await.0, before - 1);

    // The invitation works as on ArcGIS Online, against the same seats.
    let list = json!({"invitations": [{
        "username": "invited_by_mail", "firstname": "Ivy", "lastname": "Doe",
        "email": "ivy@acme.test", "role": "org_user", "userLicenseType": "creatorUT",
        "groups": "", "userCreditAssignment": -1,
    }], "apps": [], "appBundles": []})
    .to_string();
    let v = h
        .post(
            "portals/self/invite",
            &[("token", &token), ("invitationList", &list)],
        )
        .await;
    assert_eq!(v["notInvited"], json!([]), "{v}");
    assert_eq!(h.license_of(&token, "creatorUT").await.0, before);
}

// ----- faults -----

#[tokio::test]
async fn a_lost_create_user_reply_leaves_the_member_created() {
    let h = Harness::enterprise().await;
    let token = h.admin_token().await;
    h.sim().inject(Fault {
        endpoint: Some("createUser".into()),
        kind: FaultKind::LoseReply(Duration::from_secs(5)),
        times: Some(1),
    });
    let fields: Vec<(String, String)> = with_changes(
        &new_user("jdoe_acme"),
        &[("f", "json"), ("token", token.as_str())],
    );
    let lost = h
        .http
        .post(h.admin_url("security/users/createUser"))
        .form(&fields)
        .timeout(Duration::from_millis(300))
        .send()
        .await;
    assert!(lost.is_err_and(|e| e.is_timeout()), "the reply is lost");

    let u = h.user(&token, "jdoe_acme").await;
    assert_eq!(u["username"], "jdoe_acme", "created all the same: {u}");
    assert_eq!(h.sim().request_count("createUser"), 1);
    // A retry finds the name taken.
    let (status, v) = h.create_user(&token, &[]).await;
    assert_admin_error(
        status,
        &v,
        409,
        &USER_EXISTS.replace("{username}", "jdoe_acme"),
    );
    assert!(h.sim().faults().is_empty(), "used up");
}

#[tokio::test]
async fn other_faults_reach_the_admin_api_too() {
    let h = Harness::enterprise().await;
    let token = h.admin_token().await;
    h.sim().inject(Fault {
        endpoint: Some("portaladmin/security/users/createUser".into()),
        kind: FaultKind::HttpStatus(503),
        times: Some(1),
    });
    let (status, _) = h.create_user(&token, &[]).await;
    assert_eq!(status, 503);
    assert!(h.sim().member("jdoe_acme").is_none(), "not carried out");

    h.sim().inject(Fault {
        endpoint: Some("license".into()),
        kind: FaultKind::ErrorBody {
            code: 500,
            message_code: None,
            message: "Boom".into(),
        },
        times: Some(1),
    });
    let (status, v) = h.admin_get("license", &[("token", &token)]).await;
    assert_eq!(status, 200);
    assert_eq!(
        v,
        json!({ "status": "error", "messages": ["Boom"], "code": 500 })
    );

    h.sim().inject(Fault {
        endpoint: Some("createUser".into()),
        kind: FaultKind::LateSuccess(Duration::from_millis(50)),
        times: Some(1),
    });
    let (_, v) = h.create_user(&token, &[]).await;
    assert_eq!(v["status"], "success", "{v}");
    assert!(h.sim().member("jdoe_acme").is_some());
}
