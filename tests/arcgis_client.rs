//! The ArcGIS client against scripted portals over real HTTP.
//!
//! Each test starts a tiny axum server on `127.0.0.1:0` that answers what the
//! test scripts and records every request it received (method, path, query,
//! form, headers), then asserts on the client's result and on that record.
//! The tests of the bulk operations (roles, org members, groups, profile,
//! role and user type changes, group membership) and of the seat's life
//! after sign-up (disable, enable, delete, owned content, notifications)
//! run the client against the portal simulator too and assert the state it
//! leaves behind.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use agol_seat_broker::clock::Clock;
use agol_seat_broker::portal::arcgis::{ArcGisConfig, ArcGisPortal, Credentials};
use agol_seat_broker::portal::simulator::{
    self, Fault, FaultKind, INVITATION_LIFETIME, RefusalStyle, RunningSimulator, SimInvitation,
    SimMember, SimRole, SimulatorConfig,
};
use agol_seat_broker::portal::{
    FeatureLayers, INCOMPATIBLE_ROLE, Invitation, Members, NewMember, OWNS_CONTENT, OrgAdmin,
    OwnedContent, PendingInvitation, PortalError, ProfileUpdate, USER_TYPE_REFUSED,
};
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use tokio::time::Instant;

const PASSWORD: &str = "Sup3r-S3cret-Pw!";
const ADMIN: &str = "admin_acme";
const REFERER: &str = "https://broker.example.test";

/// One request as the scripted portal saw it.
#[derive(Clone, Debug)]
struct Seen {
    method: Method,
    /// Path under `/sharing/rest/`, still percent-encoded.
    path: String,
    query: HashMap<String, String>,
    form: HashMap<String, String>,
    headers: HeaderMap,
    at: Instant,
}

impl Seen {
    fn auth(&self) -> Option<&str> {
        self.headers
            .get("x-esri-authorization")
            .and_then(|v| v.to_str().ok())
    }
}

/// What the scripted portal answers.
struct Reply {
    status: u16,
    headers: Vec<(&'static str, String)>,
    body: String,
    delay: Duration,
}

impl Reply {
    fn json(v: Value) -> Self {
        Reply {
            status: 200,
            headers: Vec::new(),
            body: v.to_string(),
            delay: Duration::ZERO,
        }
    }
    fn error(code: i64, message: &str) -> Self {
        Reply::json(json!({"error": {"code": code, "message": message, "details": []}}))
    }
    fn status(mut self, status: u16) -> Self {
        self.status = status;
        self
    }
    fn header(mut self, name: &'static str, value: &str) -> Self {
        self.headers.push((name, value.to_string()));
        self
    }
    fn delay(mut self, d: Duration) -> Self {
        self.delay = d;
        self
    }
}

/// The test's script: the request and its 1-based hit count on that path.
/// `None` for `generateToken` issues `tok-<n>` valid for an hour.
type Script = Arc<dyn Fn(&Seen, usize) -> Option<Reply> + Send + Sync>;

struct ServerState {
    script: Script,
    seen: Mutex<Vec<Seen>>,
}

struct TestPortal {
    base_url: String,
    state: Arc<ServerState>,
}

impl TestPortal {
    async fn start(script: impl Fn(&Seen, usize) -> Option<Reply> + Send + Sync + 'static) -> Self {
        let state = Arc::new(ServerState {
            script: Arc::new(script),
            seen: Mutex::new(Vec::new()),
        });
        let app = Router::new().fallback(handle).with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        TestPortal {
            base_url: format!("http://{addr}/sharing/rest"),
            state,
        }
    }

    fn seen(&self) -> Vec<Seen> {
        self.state.seen.lock().unwrap().clone()
    }

    fn hits(&self, path: &str) -> Vec<Seen> {
        self.seen().into_iter().filter(|s| s.path == path).collect()
    }

    fn config(&self) -> ArcGisConfig {
        let mut c = ArcGisConfig::new(self.base_url.clone(), REFERER);
        c.request_timeout = Duration::from_secs(2);
        c.deadline = Duration::from_secs(5);
        c.max_attempts = 3;
        c.base_backoff = Duration::from_millis(1);
        c.max_backoff = Duration::from_millis(5);
        c
    }

    fn client(&self) -> ArcGisPortal {
        self.client_with(self.config())
    }

    fn client_with(&self, config: ArcGisConfig) -> ArcGisPortal {
        ArcGisPortal::new(config, Credentials::new(ADMIN, PASSWORD)).unwrap()
    }
}

fn parse_pairs(raw: &[u8]) -> HashMap<String, String> {
    url::form_urlencoded::parse(raw).into_owned().collect()
}

async fn handle(
    State(state): State<Arc<ServerState>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri
        .path()
        .strip_prefix("/sharing/rest/")
        .unwrap_or(uri.path())
        .to_string();
    let seen = Seen {
        method,
        path: path.clone(),
        query: parse_pairs(uri.query().unwrap_or("").as_bytes()),
        form: parse_pairs(&body),
        headers,
        at: Instant::now(),
    };
    let n = {
        let mut all = state.seen.lock().unwrap();
        all.push(seen.clone());
        all.iter().filter(|s| s.path == path).count()
    };
    let reply = (state.script)(&seen, n).unwrap_or_else(|| {
        if path == "generateToken" {
            Reply::json(json!({
                "token": format!("tok-{n}"),
                "expires": agol_seat_broker::clock::now_millis() + 3_600_000,
                "ssl": true
            }))
        } else {
            Reply::error(400, "unscripted request").status(404)
        }
    });
    if !reply.delay.is_zero() {
        tokio::time::sleep(reply.delay).await;
    }
    let mut response = (
        StatusCode::from_u16(reply.status).unwrap(),
        [("content-type", "application/json")],
        reply.body,
    )
        .into_response();
    for (name, value) in reply.headers {
        response.headers_mut().insert(name, value.parse().unwrap());
    }
    response
}

fn portal_self() -> Reply {
    Reply::json(json!({"id": "ORG123", "name": "Acme"}))
}

fn new_member(invitation: Invitation) -> NewMember {
    NewMember {
        username: "jdoe_acme".into(),
        email: "jane@acme.test".into(),
        first_name: "Jane".into(),
        last_name: "Doe".into(),
        role: "iAAAAAAAAAAAAAAA".into(),
        user_type: "viewerUT".into(),
        group_ids: vec!["g1id".into(), "g2id".into()],
        invitation,
    }
}

// ---------------------------------------------------------------- errors

#[tokio::test]
async fn an_error_object_in_an_http_200_answer_is_a_rejection() {
    // Arrange
    let portal = TestPortal::start(|seen, _| match seen.path.as_str() {
        "portals/self" => Some(Reply::json(json!({"error": {
            "code": 403, "messageCode": "GWM_0003",
            "message": "You do not have permissions to access this resource or perform this operation."
        }}))),
        _ => None,
    })
    .await;

    // Act
    let err = portal.client().org_id().await.unwrap_err();

    // Assert
    match err {
        PortalError::Rejected { code, message } => {
            assert_eq!(code, "GWM_0003");
            assert!(message.contains("do not have permissions"), "{message}");
        }
        other => panic!("expected Rejected, got {other:?}"),
    }
    assert_eq!(
        portal.hits("portals/self").len(),
        1,
        "a rejection is not retried"
    );
}

#[tokio::test]
async fn a_body_that_is_not_json_is_a_protocol_error() {
    let portal = TestPortal::start(|seen, _| match seen.path.as_str() {
        "portals/self" => Some(Reply {
            status: 200,
            headers: Vec::new(),
            body: "<html>sign in</html>".into(),
            delay: Duration::ZERO,
        }),
        _ => None,
    })
    .await;

    let err = portal.client().org_id().await.unwrap_err();

    assert!(matches!(err, PortalError::Protocol(_)), "{err:?}");
}

// ---------------------------------------------------------------- tokens

#[tokio::test]
async fn an_expired_token_is_renewed_once_and_the_call_succeeds() {
    // Arrange: the first token is refused as expired, the second accepted.
    let portal = TestPortal::start(|seen, _| match seen.path.as_str() {
        "portals/self" if seen.auth() == Some("Bearer tok-1") => {
            Some(Reply::error(498, "Invalid token."))
        }
        "portals/self" => Some(portal_self()),
        _ => None,
    })
    .await;

    // Act
    let org = portal.client().org_id().await.unwrap();

    // Assert
    assert_eq!(org, "ORG123");
    assert_eq!(portal.hits("generateToken").len(), 2);
    let calls = portal.hits("portals/self");
    assert_eq!(calls.len(), 2);
    assert_eq!(calls[1].auth(), Some("Bearer tok-2"));
}

#[tokio::test]
async fn a_token_refused_twice_is_an_auth_error() {
    let portal = TestPortal::start(|seen, _| match seen.path.as_str() {
        "portals/self" => Some(Reply::error(499, "Token Required")),
        _ => None,
    })
    .await;

    let err = portal.client().org_id().await.unwrap_err();

    assert!(matches!(err, PortalError::Auth(_)), "{err:?}");
    assert!(!err.is_transient());
    assert_eq!(
        portal.hits("generateToken").len(),
        2,
        "renewed exactly once"
    );
    assert_eq!(portal.hits("portals/self").len(), 2);
    let shown = format!("{err} {err:?}");
    assert!(
        !shown.contains("tok-1") && !shown.contains("tok-2"),
        "{shown}"
    );
}

#[tokio::test]
async fn bad_credentials_are_an_auth_error_that_never_shows_the_password() {
    // Arrange
    let portal = TestPortal::start(|seen, _| match seen.path.as_str() {
        "generateToken" => Some(Reply::json(json!({"error": {
            "code": 400, "message": "Unable to generate token.",
            "details": ["Invalid username or password."]
        }}))),
        _ => Some(portal_self()),
    })
    .await;

    // Act
    let err = portal.client().org_id().await.unwrap_err();

    // Assert
    assert!(matches!(err, PortalError::Auth(_)), "{err:?}");
    let shown = format!("{err} {err:?}");
    assert!(shown.contains("Unable to generate token."), "{shown}");
    assert!(!shown.contains(PASSWORD), "{shown}");
    assert_eq!(
        portal.hits("generateToken").len(),
        1,
        "bad credentials are not retried"
    );
    assert!(portal.hits("portals/self").is_empty());
    let sent = &portal.hits("generateToken")[0];
    assert_eq!(sent.method, Method::POST);
    assert_eq!(sent.form.get("username").map(String::as_str), Some(ADMIN));
    assert_eq!(
        sent.form.get("password").map(String::as_str),
        Some(PASSWORD)
    );
    assert_eq!(sent.form.get("client").map(String::as_str), Some("referer"));
    assert_eq!(sent.form.get("referer").map(String::as_str), Some(REFERER));
    assert_eq!(sent.form.get("expiration").map(String::as_str), Some("60"));
    assert_eq!(sent.form.get("f").map(String::as_str), Some("json"));
    assert!(sent.query.is_empty(), "nothing secret in the URL");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_token_serves_many_calls_including_concurrent_ones() {
    // Arrange: a slow generateToken so concurrent callers overlap it.
    let portal = TestPortal::start(|seen, n| match seen.path.as_str() {
        "generateToken" => Some(
            Reply::json(json!({
                "token": format!("tok-{n}"),
                "expires": agol_seat_broker::clock::now_millis() + 3_600_000
            }))
            .delay(Duration::from_millis(100)),
        ),
        "community/users/jdoe_acme" => Some(Reply::json(json!({"username": "jdoe_acme"}))),
        _ => None,
    })
    .await;
    let client = Arc::new(portal.client());

    // Act: 20 concurrent calls, then 5 sequential ones.
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..20 {
        let c = client.clone();
        tasks.spawn(async move { c.member("jdoe_acme").await });
    }
    while let Some(done) = tasks.join_next().await {
        assert!(done.unwrap().unwrap().is_some());
    }
    for _ in 0..5 {
        assert!(client.member("jdoe_acme").await.unwrap().is_some());
    }

    // Assert
    assert_eq!(portal.hits("generateToken").len(), 1);
    let calls = portal.hits("community/users/jdoe_acme");
    assert_eq!(calls.len(), 25);
    for call in &calls {
        assert_eq!(call.auth(), Some("Bearer tok-1"));
        assert_eq!(
            call.headers.get("referer").and_then(|v| v.to_str().ok()),
            Some(REFERER)
        );
        assert!(!call.query.contains_key("token") && !call.form.contains_key("token"));
        assert_eq!(call.query.get("f").map(String::as_str), Some("json"));
    }
}

#[tokio::test]
async fn a_token_about_to_lapse_is_renewed_before_it_expires() {
    // Arrange: a controllable clock and tokens that expire an hour after T0.
    const T0: i64 = 1_700_000_000_000;
    const MIN: i64 = 60_000;
    let now = Arc::new(AtomicI64::new(T0));
    let portal = TestPortal::start(|seen, n| match seen.path.as_str() {
        "generateToken" => Some(Reply::json(json!({
            "token": format!("tok-{n}"), "expires": T0 + 60 * MIN
        }))),
        "community/users/jdoe_acme" => Some(Reply::json(json!({"username": "jdoe_acme"}))),
        _ => None,
    })
    .await;
    let mut config = portal.config();
    let clock_now = now.clone();
    config.clock = Clock::from_fn(move || clock_now.load(Ordering::SeqCst));
    let client = portal.client_with(config);

    // Act + Assert: 50 minutes in, the token is reused.
    client.member("jdoe_acme").await.unwrap();
    now.store(T0 + 50 * MIN, Ordering::SeqCst);
    client.member("jdoe_acme").await.unwrap();
    assert_eq!(portal.hits("generateToken").len(), 1);

    // 56 minutes in (four minutes before expiry), it is renewed first.
    now.store(T0 + 56 * MIN, Ordering::SeqCst);
    client.member("jdoe_acme").await.unwrap();
    assert_eq!(portal.hits("generateToken").len(), 2);
    let used: Vec<_> = portal
        .hits("community/users/jdoe_acme")
        .iter()
        .map(|c| c.auth().unwrap_or("").to_string())
        .collect();
    assert_eq!(used, ["Bearer tok-1", "Bearer tok-1", "Bearer tok-2"]);
}

// ---------------------------------------------------------------- retries

#[tokio::test]
async fn a_429_is_retried_after_its_retry_after_delay() {
    // Arrange: backoff is at most 5 ms, so only Retry-After explains a wait.
    let portal = TestPortal::start(|seen, n| match seen.path.as_str() {
        "portals/self" if n == 1 => Some(
            Reply::error(429, "Too many requests")
                .status(429)
                .header("retry-after", "1"),
        ),
        "portals/self" => Some(portal_self()),
        _ => None,
    })
    .await;

    // Act
    let org = portal.client().org_id().await.unwrap();

    // Assert
    assert_eq!(org, "ORG123");
    let calls = portal.hits("portals/self");
    assert_eq!(calls.len(), 2);
    assert!(
        calls[1].at.duration_since(calls[0].at) >= Duration::from_millis(900),
        "the client waited for Retry-After"
    );
}

#[tokio::test]
async fn a_retry_after_beyond_the_deadline_gives_up_without_waiting() {
    let portal = TestPortal::start(|seen, _| match seen.path.as_str() {
        "portals/self" => Some(
            Reply::error(429, "slow down")
                .status(429)
                .header("retry-after", "30"),
        ),
        _ => None,
    })
    .await;
    let mut config = portal.config();
    config.deadline = Duration::from_millis(300);

    let result = tokio::time::timeout(Duration::from_secs(5), portal.client_with(config).org_id())
        .await
        .expect("the call returned well before Retry-After");

    let err = result.unwrap_err();
    assert!(err.is_transient(), "{err:?}");
    assert!(
        err.to_string().contains("deadline of 300ms exceeded"),
        "{err}"
    );
    assert_eq!(portal.hits("portals/self").len(), 1);
}

#[tokio::test]
async fn a_503_past_the_attempt_budget_is_unavailable() {
    let portal = TestPortal::start(|seen, _| match seen.path.as_str() {
        "portals/self" => Some(Reply {
            status: 503,
            headers: Vec::new(),
            body: "<html>Service Unavailable</html>".into(),
            delay: Duration::ZERO,
        }),
        _ => None,
    })
    .await;

    let err = portal.client().org_id().await.unwrap_err();

    match &err {
        PortalError::Unavailable(m) => assert!(m.contains("HTTP 503 after 3 attempts"), "{m}"),
        other => panic!("expected Unavailable, got {other:?}"),
    }
    assert_eq!(portal.hits("portals/self").len(), 3);
}

#[tokio::test]
async fn a_portal_error_code_of_500_in_a_200_answer_is_retried() {
    let portal = TestPortal::start(|seen, n| match seen.path.as_str() {
        "portals/self" if n == 1 => Some(Reply::error(500, "Unable to process request.")),
        "portals/self" => Some(portal_self()),
        _ => None,
    })
    .await;

    assert_eq!(portal.client().org_id().await.unwrap(), "ORG123");
    assert_eq!(portal.hits("portals/self").len(), 2);
}

#[tokio::test]
async fn a_slow_portal_is_abandoned_at_the_deadline() {
    // Arrange: the portal takes 10 s; the client may spend 300 ms in all.
    let portal = TestPortal::start(|seen, _| match seen.path.as_str() {
        "portals/self" => Some(portal_self().delay(Duration::from_secs(10))),
        _ => None,
    })
    .await;
    let mut config = portal.config();
    config.deadline = Duration::from_millis(300);
    config.request_timeout = Duration::from_secs(8);
    let client = portal.client_with(config);

    // Act: the outer timeout only proves the call returns, it is no benchmark.
    let result = tokio::time::timeout(Duration::from_secs(5), client.org_id())
        .await
        .expect("the client gave up at its deadline");

    // Assert
    let err = result.unwrap_err();
    assert!(matches!(err, PortalError::Unavailable(_)), "{err:?}");
    assert!(
        err.to_string().contains("deadline of 300ms exceeded"),
        "{err}"
    );
}

#[tokio::test]
async fn an_unreachable_portal_is_unavailable() {
    // Arrange: bind a port, then free it so nothing listens there.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let mut config = ArcGisConfig::new(format!("http://{addr}/sharing/rest"), REFERER);
    config.max_attempts = 2;
    config.base_backoff = Duration::from_millis(1);
    config.max_backoff = Duration::from_millis(2);
    let client = ArcGisPortal::new(config, Credentials::new(ADMIN, PASSWORD)).unwrap();

    let err = client.org_id().await.unwrap_err();

    assert!(err.is_transient(), "{err:?}");
    assert!(
        err.to_string()
            .contains("could not connect after 2 attempts"),
        "{err}"
    );
}

// ---------------------------------------------------------------- invite

#[tokio::test]
async fn a_username_in_not_invited_is_not_invited() {
    let portal = TestPortal::start(|seen, _| match seen.path.as_str() {
        "portals/self/invite" => Some(Reply::json(
            json!({"success": true, "notInvited": ["jdoe_acme"]}),
        )),
        _ => None,
    })
    .await;

    let err = portal
        .client()
        .invite(&new_member(Invitation::Email))
        .await
        .unwrap_err();

    match err {
        PortalError::NotInvited { username } => assert_eq!(username, "jdoe_acme"),
        other => panic!("expected NotInvited, got {other:?}"),
    }
}

#[tokio::test]
async fn an_invite_answered_with_success_false_is_rejected() {
    let portal = TestPortal::start(|seen, _| match seen.path.as_str() {
        "portals/self/invite" => Some(Reply::json(json!({"success": false}))),
        _ => None,
    })
    .await;

    let err = portal
        .client()
        .invite(&new_member(Invitation::Email))
        .await
        .unwrap_err();

    assert!(matches!(err, PortalError::Rejected { .. }), "{err:?}");
}

fn invite_ok() -> TestPortalScript {
    |seen, _| match seen.path.as_str() {
        "portals/self/invite" => Some(Reply::json(json!({"success": true, "notInvited": []}))),
        _ => None,
    }
}

type TestPortalScript = fn(&Seen, usize) -> Option<Reply>;

fn sent_invitation(portal: &TestPortal) -> (Value, serde_json::Map<String, Value>) {
    let calls = portal.hits("portals/self/invite");
    assert_eq!(calls.len(), 1);
    let call = &calls[0];
    assert_eq!(call.method, Method::POST);
    assert_eq!(call.auth(), Some("Bearer tok-1"));
    assert!(call.query.is_empty());
    let mut keys: Vec<&str> = call.form.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(keys, ["f", "invitationList"]);
    assert_eq!(call.form["f"], "json");
    let list: Value = serde_json::from_str(&call.form["invitationList"]).unwrap();
    let invitations = list["invitations"].as_array().unwrap();
    assert_eq!(invitations.len(), 1, "one invitation per request");
    let one = invitations[0].as_object().unwrap().clone();
    (list, one)
}

#[tokio::test]
async fn a_password_invitation_sends_exactly_the_documented_fields() {
    // Arrange
    let portal = TestPortal::start(invite_ok()).await;
    let member = new_member(Invitation::Password("Init-Pa55word!".into()));

    // Act
    portal.client().invite(&member).await.unwrap();

    // Assert
    let (list, one) = sent_invitation(&portal);
    assert_eq!(list["apps"], json!([]));
    assert_eq!(list["appBundles"], json!([]));
    let mut keys: Vec<&str> = one.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "email",
            "firstname",
            "fullname",
            "groups",
            "lastname",
            "password",
            "role",
            "userCreditAssignment",
            "userLicenseType",
            "username"
        ]
    );
    assert_eq!(one["username"], "jdoe_acme");
    assert_eq!(one["firstname"], "Jane");
    assert_eq!(one["lastname"], "Doe");
    assert_eq!(one["fullname"], "Jane Doe");
    assert_eq!(one["email"], "jane@acme.test");
    assert_eq!(one["role"], "iAAAAAAAAAAAAAAA");
    assert_eq!(one["userLicenseType"], "viewerUT");
    assert_eq!(one["groups"], "g1id,g2id");
    assert_eq!(one["userCreditAssignment"], -1);
    assert_eq!(one["password"], "Init-Pa55word!");
}

#[tokio::test]
async fn an_email_invitation_sends_no_password_and_trims_the_full_name() {
    let portal = TestPortal::start(invite_ok()).await;
    let mut member = new_member(Invitation::Email);
    member.first_name = String::new();
    member.last_name = " Doe ".into();
    member.group_ids.clear();

    portal.client().invite(&member).await.unwrap();

    let (_, one) = sent_invitation(&portal);
    assert!(!one.contains_key("password"));
    assert_eq!(one["fullname"], "Doe");
    assert_eq!(one["lastname"], "Doe");
    assert_eq!(one["groups"], "");
}

#[tokio::test]
async fn a_rejected_password_invitation_never_echoes_the_password() {
    let portal = TestPortal::start(|seen, _| match seen.path.as_str() {
        "portals/self/invite" => Some(Reply::error(400, "Password Init-Pa55word! is too weak.")),
        _ => None,
    })
    .await;

    let err = portal
        .client()
        .invite(&new_member(Invitation::Password("Init-Pa55word!".into())))
        .await
        .unwrap_err();

    assert!(matches!(err, PortalError::Rejected { .. }), "{err:?}");
    assert!(!format!("{err} {err:?}").contains("Init-Pa55word!"));
}

// ---------------------------------------------------------------- members

#[tokio::test]
async fn member_maps_the_user_json_with_the_custom_role_winning() {
    let portal = TestPortal::start(|seen, _| match seen.path.as_str() {
        "community/users/jdoe_acme" => Some(Reply::json(json!({
            "username": "jdoe_acme", "email": "jane@acme.test", "orgId": "ORG123",
            "role": "org_user", "roleId": "abcdEFGH12345678",
            "userLicenseTypeId": "creatorUT", "lastLogin": -1,
            "groups": [{"id": "g1id", "title": "Crew"}, {"id": "g2id", "title": "Office"}]
        }))),
        "community/users/plain_user" => Some(Reply::json(json!({
            "username": "plain_user", "role": "org_publisher", "groups": []
        }))),
        _ => None,
    })
    .await;
    let client = portal.client();

    let custom = client.member("jdoe_acme").await.unwrap().unwrap();
    let plain = client.member("plain_user").await.unwrap().unwrap();

    assert_eq!(custom.username, "jdoe_acme");
    assert_eq!(custom.email.as_deref(), Some("jane@acme.test"));
    assert_eq!(custom.org_id.as_deref(), Some("ORG123"));
    assert_eq!(custom.role.as_deref(), Some("abcdEFGH12345678"));
    assert_eq!(custom.user_type.as_deref(), Some("creatorUT"));
    assert_eq!(custom.group_ids, ["g1id", "g2id"]);
    assert_eq!(plain.role.as_deref(), Some("org_publisher"));
    assert_eq!(plain.email, None);
    assert!(plain.group_ids.is_empty());
}

#[tokio::test]
async fn an_unknown_user_is_none_whatever_the_error_code() {
    let portal = TestPortal::start(|seen, _| match seen.path.as_str() {
        "community/users/ghost_user" => {
            Some(Reply::error(400, "User does not exist or is inaccessible."))
        }
        "community/users/ghost_other" => Some(Reply::json(json!({"error": {
            "code": 404, "messageCode": "COM_0004",
            "message": "User does not exist or is inaccessible."
        }}))),
        _ => None,
    })
    .await;
    let client = portal.client();

    assert_eq!(client.member("ghost_user").await.unwrap(), None);
    assert_eq!(client.member("ghost_other").await.unwrap(), None);
}

#[tokio::test]
async fn a_username_stays_one_percent_encoded_path_segment() {
    let portal = TestPortal::start(|seen, _| match seen.path.as_str() {
        "community/users/a%20b%2Fc%3Fd" => Some(Reply::json(json!({"username": "a b/c?d"}))),
        _ => None,
    })
    .await;

    let found = portal.client().member("a b/c?d").await.unwrap().unwrap();

    assert_eq!(found.username, "a b/c?d");
    assert_eq!(portal.hits("community/users/a%20b%2Fc%3Fd").len(), 1);
}

// ---------------------------------------------------------------- pending invitations

#[tokio::test]
async fn pending_invitations_are_read_with_a_get_of_100_and_mapped_from_the_invitation_json() {
    // Arrange: one invitation described in full, one sent with
    // inviteByEmail (no username), one with unusable times.
    let portal = TestPortal::start(|seen, _| match seen.path.as_str() {
        "portals/self/invitations" => Some(Reply::json(json!({
            "total": 3, "start": 1, "num": 3, "nextStart": -1,
            "invitations": [
                {"id": "c3d543379ca94151964435b9418464a3", "username": "jdoe_acme",
                 "email": "jane@acme.test", "role": "iAAAAAAAAAAAAAAA",
                 "userLicenseType": "viewerUT", "created": 1_700_000_000_000_i64,
                 "expiration": 1_701_209_600_000_i64},
                {"id": "0000aaaa", "email": "picks.own.name@acme.test", "role": "org_user"},
                {"id": 42, "username": "ana_acme", "created": -1, "expiration": "soon"}
            ]
        }))),
        _ => None,
    })
    .await;
    let client = portal.client();

    // Act
    let found = client.invitation("jdoe_acme").await.unwrap();
    let all = client.invitations().await.unwrap();

    // Assert
    let jdoe = PendingInvitation {
        id: Some("c3d543379ca94151964435b9418464a3".into()),
        username: "jdoe_acme".into(),
        email: Some("jane@acme.test".into()),
        role: Some("iAAAAAAAAAAAAAAA".into()),
        user_type: Some("viewerUT".into()),
        created: Some(1_700_000_000_000),
        expires: Some(1_701_209_600_000),
    };
    assert_eq!(found, Some(jdoe.clone()));
    let ana = PendingInvitation {
        id: Some("42".into()),
        username: "ana_acme".into(),
        ..PendingInvitation::default()
    };
    assert_eq!(
        all,
        vec![jdoe, ana],
        "the entry without a username is left out"
    );
    let calls = portal.hits("portals/self/invitations");
    assert_eq!(calls.len(), 2, "one page each");
    for call in calls {
        assert_eq!(call.method, Method::GET);
        assert_eq!(call.query.get("start").map(String::as_str), Some("1"));
        assert_eq!(call.query.get("num").map(String::as_str), Some("100"));
        assert_eq!(call.query.get("f").map(String::as_str), Some("json"));
        assert_eq!(call.auth(), Some("Bearer tok-1"));
        assert!(
            !call.query.contains_key("q") && !call.query.contains_key("username"),
            "no filter the API is not known to have"
        );
    }
}

#[tokio::test]
async fn an_invitation_is_matched_without_regard_to_case_and_an_exact_match_wins() {
    let portal = TestPortal::start(|seen, _| match seen.path.as_str() {
        "portals/self/invitations" => Some(Reply::json(json!({
            "nextStart": -1,
            "invitations": [
                {"id": "first", "username": "JDoe_Acme"},
                {"id": "second", "username": "jdoe_acme"}
            ]
        }))),
        _ => None,
    })
    .await;
    let client = portal.client();

    let exact = client.invitation("jdoe_acme").await.unwrap().unwrap();
    let folded = client.invitation("JDOE_ACME").await.unwrap().unwrap();
    let none = client.invitation("jdoe_acme1").await.unwrap();

    assert_eq!(exact.id.as_deref(), Some("second"));
    assert_eq!(folded.username.to_lowercase(), "jdoe_acme");
    assert_eq!(none, None, "a longer name is another name");
}

#[tokio::test]
async fn an_invitations_answer_without_the_list_is_a_protocol_error_not_none() {
    let portal = TestPortal::start(|seen, _| match seen.path.as_str() {
        "portals/self/invitations" => Some(Reply::json(json!({"total": 0, "nextStart": -1}))),
        _ => None,
    })
    .await;
    let client = portal.client();

    let one = client.invitation("jdoe_acme").await.unwrap_err();
    let all = client.invitations().await.unwrap_err();

    assert!(matches!(one, PortalError::Protocol(_)), "{one:?}");
    assert!(matches!(all, PortalError::Protocol(_)), "{all:?}");
}

#[tokio::test]
async fn an_empty_username_has_no_invitation_and_costs_no_request() {
    let portal = TestPortal::start(|_, _| None).await;

    let found = portal.client().invitation("  ").await.unwrap();

    assert_eq!(found, None);
    assert!(portal.hits("portals/self/invitations").is_empty());
}

// ---------------------------------------------------------------- usernames

#[tokio::test]
async fn check_usernames_tells_free_taken_and_deleted_names_apart() {
    let portal = TestPortal::start(|seen, _| match seen.path.as_str() {
        "community/checkUsernames" => {
            let asked = seen.query.get("usernames").cloned().unwrap_or_default();
            Some(Reply::json(match asked.as_str() {
                "free_name" => {
                    json!({"usernames": [{"requested": "free_name", "suggested": "free_name"}]})
                }
                "taken_name" => {
                    json!({"usernames": [{"requested": "taken_name", "suggested": "taken_name1"}]})
                }
                _ => json!({"usernames": []}),
            }))
        }
        _ => None,
    })
    .await;
    let client = portal.client();

    assert!(client.username_available("free_name").await.unwrap());
    assert!(!client.username_available("taken_name").await.unwrap());
    assert!(!client.username_available("deleted_name").await.unwrap());
    assert_eq!(portal.hits("community/checkUsernames").len(), 3);
}

#[tokio::test]
async fn a_refused_check_usernames_falls_back_to_a_user_lookup() {
    let portal = TestPortal::start(|seen, _| match seen.path.as_str() {
        "community/checkUsernames" => Some(Reply::json(json!({"error": {
            "code": 400, "messageCode": "COM_0019", "message": "Not logged in."
        }}))),
        "community/users/existing_user" => Some(Reply::json(json!({"username": "existing_user"}))),
        "community/users/missing_user" => {
            Some(Reply::error(400, "User does not exist or is inaccessible."))
        }
        _ => None,
    })
    .await;
    let client = portal.client();

    assert!(!client.username_available("existing_user").await.unwrap());
    assert!(client.username_available("missing_user").await.unwrap());
}

// ---------------------------------------------------------------- groups

#[tokio::test]
async fn group_titles_resolve_across_pages_to_exact_matches_in_the_org_and_are_cached() {
    // Arrange: fuzzy hits on page 1, the exact match only on page 2, plus a
    // same-titled group of another organization.
    let portal = TestPortal::start(|seen, _| match seen.path.as_str() {
        "portals/self" => Some(portal_self()),
        "community/groups" => {
            let q = seen.query.get("q").cloned().unwrap_or_default();
            let start = seen.query.get("start").cloned().unwrap_or_default();
            Some(Reply::json(match (q.as_str(), start.as_str()) {
                ("title:\"Field Crew\" AND orgid:ORG123", "1") => json!({
                    "results": [
                        {"id": "gNorth", "title": "Field Crew North"},
                        {"id": "gOther", "title": "Field Crew", "orgId": "OTHERORG"}
                    ],
                    "nextStart": 3
                }),
                ("title:\"Field Crew\" AND orgid:ORG123", "3") => json!({
                    "results": [{"id": "gCrew", "title": "  field crew ", "orgId": "ORG123"}],
                    "nextStart": -1
                }),
                _ => json!({"results": [], "nextStart": -1}),
            }))
        }
        _ => None,
    })
    .await;
    let client = portal.client();
    let names = vec![
        "Field Crew".to_string(),
        "No Such Group".into(),
        "  ".into(),
    ];

    // Act
    let first = client.group_ids(&names).await.unwrap();
    let again = client.group_ids(&["field crew".to_string()]).await.unwrap();

    // Assert
    assert_eq!(first, [Some("gCrew".to_string()), None, None]);
    assert_eq!(again, [Some("gCrew".to_string())]);
    let searches = portal.hits("community/groups");
    let crew_pages: Vec<_> = searches
        .iter()
        .filter(|s| s.query["q"].contains("Field Crew"))
        .map(|s| s.query["start"].clone())
        .collect();
    assert_eq!(crew_pages, ["1", "3"], "both pages read, once: then cached");
    assert!(searches.iter().all(|s| s.query["num"] == "100"));
    assert_eq!(portal.hits("portals/self").len(), 1, "org id cached");
}

#[tokio::test]
async fn two_groups_with_the_same_title_are_refused_rather_than_guessed() {
    let portal = TestPortal::start(|seen, _| match seen.path.as_str() {
        "portals/self" => Some(portal_self()),
        "community/groups" => Some(Reply::json(json!({
            "results": [{"id": "gA", "title": "Crew"}, {"id": "gB", "title": "crew"}],
            "nextStart": -1
        }))),
        _ => None,
    })
    .await;

    let err = portal
        .client()
        .group_ids(&["Crew".to_string()])
        .await
        .unwrap_err();

    match err {
        PortalError::Rejected { code, .. } => assert_eq!(code, "AMBIGUOUS_GROUP"),
        other => panic!("expected Rejected, got {other:?}"),
    }
}

// ---------------------------------------------------------------- licences

#[tokio::test]
async fn license_counts_merge_purchased_and_assigned_seats_across_pages() {
    let portal = TestPortal::start(|seen, _| match seen.path.as_str() {
        "portals/self" => Some(Reply::json(json!({
            "id": "ORG123",
            "subscriptionInfo": {"userLicenseTypes": {"creatorUT": 50, "viewerUT": 10, "editorUT": 0}}
        }))),
        "portals/self/users/counts" => {
            let start = seen.query.get("start").cloned().unwrap_or_default();
            Some(Reply::json(match start.as_str() {
                "1" => json!({"results": [{"key": "creatorUT", "count": 12}], "nextStart": 2}),
                "2" => json!({"results": [
                    {"key": "viewerUT", "count": 3}, {"key": "fieldWorkerUT", "count": 1}
                ], "nextStart": -1}),
                _ => json!({"results": [], "nextStart": -1}),
            }))
        }
        _ => None,
    })
    .await;

    let counts = portal.client().license_counts().await.unwrap();

    assert_eq!(
        counts.types,
        [
            ("creatorUT".to_string(), 50, 12),
            ("editorUT".to_string(), 0, 0),
            ("fieldWorkerUT".to_string(), 0, 1),
            ("viewerUT".to_string(), 10, 3),
        ]
    );
    let pages = portal.hits("portals/self/users/counts");
    assert_eq!(pages.len(), 2);
    assert!(pages.iter().all(|p| p.query["type"] == "userLicenseType"));
}

// ---------------------------------------------------------------- bulk: wire format

#[tokio::test]
async fn writes_send_exactly_the_documented_form_fields() {
    // Arrange
    let portal = TestPortal::start(|seen, _| match seen.path.as_str() {
        "community/users/jdoe_acme/update" => Some(Reply::json(
            json!({"success": true, "username": "jdoe_acme"}),
        )),
        "portals/self/updateUserRole" => Some(Reply::json(json!({"success": true}))),
        "portals/self/updateUserLicenseType" => Some(Reply::json(
            json!({"results": [{"username": "jdoe_acme", "status": true}]}),
        )),
        "community/groups/g1id/addUsers" => Some(Reply::json(json!({"notAdded": []}))),
        "community/groups/g2id/addUsers" => Some(Reply::json(json!({"notAdded": ["JDOE_ACME"]}))),
        _ => None,
    })
    .await;
    let client = portal.client();
    let update = ProfileUpdate {
        email: Some(" jane@acme.test ".into()),
        access: Some("private".into()),
        user_type: Some("both".into()),
        ..ProfileUpdate::default()
    };

    // Act
    client.update_profile("jdoe_acme", &update).await.unwrap();
    client
        .update_profile("jdoe_acme", &ProfileUpdate::default())
        .await
        .unwrap();
    client
        .update_role("jdoe_acme", "iAAAAAAAAAAAAAAA")
        .await
        .unwrap();
    client
        .update_user_type("jdoe_acme", "viewerUT")
        .await
        .unwrap();
    let not_added = client
        .add_to_groups(
            "jdoe_acme",
            &["g1id".into(), "g2id".into(), "g1id".into(), " ".into()],
        )
        .await
        .unwrap();

    // Assert
    let form_of = |path: &str| {
        let calls = portal.hits(path);
        assert_eq!(calls.len(), 1, "{path}");
        assert_eq!(calls[0].method, Method::POST, "{path}");
        assert!(calls[0].query.is_empty(), "{path}: nothing in the URL");
        let mut form: Vec<(String, String)> = calls[0].form.clone().into_iter().collect();
        form.sort();
        form
    };
    let pairs = |v: &[(&str, &str)]| -> Vec<(String, String)> {
        v.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    };
    assert_eq!(
        form_of("community/users/jdoe_acme/update"),
        pairs(&[
            ("access", "private"),
            ("email", "jane@acme.test"),
            ("f", "json"),
            ("userType", "both")
        ]),
        "only the set fields; an empty update sends nothing"
    );
    assert_eq!(
        form_of("portals/self/updateUserRole"),
        pairs(&[
            ("f", "json"),
            ("role", "iAAAAAAAAAAAAAAA"),
            ("user", "jdoe_acme")
        ])
    );
    assert_eq!(
        form_of("portals/self/updateUserLicenseType"),
        pairs(&[
            ("f", "json"),
            ("userLicenseType", "viewerUT"),
            ("users", r#"["jdoe_acme"]"#)
        ])
    );
    assert_eq!(
        form_of("community/groups/g1id/addUsers"),
        pairs(&[("f", "json"), ("users", "jdoe_acme")]),
        "each group once"
    );
    assert_eq!(not_added, ["g2id"]);
}

#[tokio::test]
async fn a_full_profile_update_names_every_field_as_the_portal_spells_it() {
    let portal = TestPortal::start(|seen, _| match seen.path.as_str() {
        "community/users/jdoe_acme/update" => Some(Reply::json(json!({"success": true}))),
        _ => None,
    })
    .await;
    let update = ProfileUpdate {
        email: Some("jane@acme.test".into()),
        first_name: Some("Jane".into()),
        last_name: Some("Doe".into()),
        full_name: Some("Jane Q. Doe".into()),
        access: Some("org".into()),
        user_type: Some("arcgisonly".into()),
    };

    portal
        .client()
        .update_profile("jdoe_acme", &update)
        .await
        .unwrap();

    let form = &portal.hits("community/users/jdoe_acme/update")[0].form;
    let mut keys: Vec<&str> = form.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "access",
            "email",
            "f",
            "firstName",
            "fullname",
            "lastName",
            "userType"
        ]
    );
    assert_eq!(form["fullname"], "Jane Q. Doe");
}

#[tokio::test]
async fn unclear_answers_to_writes_are_protocol_errors_and_refusals_are_rejections() {
    let portal = TestPortal::start(|seen, _| match seen.path.as_str() {
        "portals/self/updateUserRole" => Some(Reply::json(json!({"username": "jdoe_acme"}))),
        "portals/self/updateUserLicenseType" => Some(Reply::json(json!({"results": [
            {"username": "someone_else", "status": true},
            {"username": "another_one", "status": true}
        ]}))),
        "community/users/jdoe_acme/update" => Some(Reply::json(json!({"success": false}))),
        _ => None,
    })
    .await;
    let client = portal.client();

    let role = client
        .update_role("jdoe_acme", "org_user")
        .await
        .unwrap_err();
    let user_type = client
        .update_user_type("jdoe_acme", "creatorUT")
        .await
        .unwrap_err();
    let profile = client
        .update_profile(
            "jdoe_acme",
            &ProfileUpdate {
                access: Some("org".into()),
                ..ProfileUpdate::default()
            },
        )
        .await
        .unwrap_err();
    let dots = client
        .update_profile(
            "..",
            &ProfileUpdate {
                access: Some("org".into()),
                ..ProfileUpdate::default()
            },
        )
        .await
        .unwrap_err();

    assert!(matches!(role, PortalError::Protocol(_)), "{role:?}");
    assert!(
        matches!(user_type, PortalError::Protocol(_)),
        "{user_type:?}"
    );
    assert!(
        matches!(profile, PortalError::Rejected { .. }),
        "{profile:?}"
    );
    assert!(matches!(dots, PortalError::Rejected { .. }), "{dots:?}");
    assert_eq!(
        portal.seen().len(),
        4,
        "one token and three calls; `..` never reaches the portal"
    );
}

// ---------------------------------------------------------------- bulk: against the simulator

const SIM_ADMIN: &str = "sim_admin";
const SIM_PASSWORD: &str = "sim-admin-pass1";
const VIEWER: &str = "iAAAAAAAAAAAAAAA";
const DATA_EDITOR: &str = "iBBBBBBBBBBBBBBB";

/// A running simulator and a client of it (fast retries, like `config()`).
async fn simulated(config: SimulatorConfig) -> (RunningSimulator, ArcGisPortal) {
    let srv = simulator::spawn(config).await.expect("simulator starts");
    let mut c = ArcGisConfig::new(srv.base_url(), REFERER);
    c.request_timeout = Duration::from_secs(2);
    c.deadline = Duration::from_secs(5);
    c.max_attempts = 3;
    c.base_backoff = Duration::from_millis(1);
    c.max_backoff = Duration::from_millis(5);
    let client = ArcGisPortal::new(c, Credentials::new(SIM_ADMIN, SIM_PASSWORD)).unwrap();
    (srv, client)
}

/// Seeds `n` members `member_000`… (Viewer role, viewerUT).
fn seed_viewers(sim: &RunningSimulator, n: usize) {
    for i in 0..n {
        assert!(sim.seed_member(SimMember::new(
            &format!("member_{i:03}"),
            VIEWER,
            "viewerUT"
        )));
    }
}

#[tokio::test]
async fn roles_are_the_built_ins_then_every_page_of_portals_self_roles() {
    // Arrange: 120 custom roles, so the listing takes two pages of 100.
    let custom: Vec<SimRole> = (0..120)
        .map(|i| SimRole::new(&format!("cUsToMrOlE{i:06}"), &format!("Custom {i}"), true))
        .collect();
    let (sim, client) = simulated(SimulatorConfig {
        custom_roles: custom,
        ..SimulatorConfig::default()
    })
    .await;

    // Act
    let roles = client.roles().await.unwrap();

    // Assert
    let ids: Vec<&str> = roles.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids[..3], ["org_admin", "org_publisher", "org_user"]);
    assert_eq!(roles[0].name, "Administrator");
    assert_eq!(roles.len(), 3 + 2 + 120);
    let viewer = roles.iter().find(|r| r.id == VIEWER).expect("Viewer");
    assert_eq!(viewer.name, "Viewer");
    assert!(
        roles
            .iter()
            .any(|r| r.id == DATA_EDITOR && r.name == "Data Editor")
    );
    assert!(
        roles
            .iter()
            .any(|r| r.id == "cUsToMrOlE000119" && r.name == "Custom 119")
    );
    assert_eq!(sim.request_count("portals/self/roles"), 2);
}

#[tokio::test]
async fn org_members_reads_every_page_of_100_and_maps_the_profile() {
    // Arrange: 250 members plus the administrator, one of them described
    // in full.
    let (sim, client) = simulated(SimulatorConfig::default()).await;
    seed_viewers(&sim, 250);
    let crews = sim.group_id("Field Crews").unwrap();
    sim.seed_member(SimMember {
        email: "ana@acme.test".into(),
        first_name: "Ana".into(),
        last_name: "Lopez".into(),
        full_name: "Ana M. Lopez".into(),
        access: "private".into(),
        esri_access: "both".into(),
        group_ids: vec![crews.clone()],
        ..SimMember::new("ana_lopez", "fIeLdTeChRoLe001", "creatorUT")
    });

    // Act
    let members = client.org_members().await.unwrap();

    // Assert
    assert_eq!(members.len(), 252);
    let mut names: Vec<&str> = members.iter().map(|m| m.username.as_str()).collect();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), 252, "nobody twice");
    assert!(names.contains(&"member_249") && names.contains(&SIM_ADMIN));
    assert_eq!(sim.request_count("portals/self/users"), 3);
    let ana = members.iter().find(|m| m.username == "ana_lopez").unwrap();
    assert_eq!(ana.email.as_deref(), Some("ana@acme.test"));
    assert_eq!(ana.org_id.as_deref(), Some(sim.org_id()));
    assert_eq!(ana.role.as_deref(), Some("fIeLdTeChRoLe001"), "roleId wins");
    assert_eq!(ana.user_type.as_deref(), Some("creatorUT"));
    // The listing does not say who is in which group (the simulator takes
    // the strict side); group_members does.
    assert!(ana.group_ids.is_empty(), "{:?}", ana.group_ids);
    assert!(
        client
            .group_members(&crews)
            .await
            .unwrap()
            .contains(&"ana_lopez".to_string())
    );
    assert_eq!(ana.first_name.as_deref(), Some("Ana"));
    assert_eq!(ana.last_name.as_deref(), Some("Lopez"));
    assert_eq!(ana.full_name.as_deref(), Some("Ana M. Lopez"));
    assert_eq!(ana.access.as_deref(), Some("private"));
    assert_eq!(ana.esri_access.as_deref(), Some("both"));
    let admin = members.iter().find(|m| m.username == SIM_ADMIN).unwrap();
    assert_eq!(admin.role.as_deref(), Some("org_admin"));
    assert_eq!(admin.access.as_deref(), Some("org"));
    assert_eq!(admin.esri_access.as_deref(), Some("arcgisonly"));
}

#[tokio::test]
async fn a_token_expiring_between_two_pages_is_renewed_and_paging_goes_on() {
    // Arrange: the first page is answered normally, then every token dies
    // just as the second page is asked for.
    let (sim, client) = simulated(SimulatorConfig::default()).await;
    seed_viewers(&sim, 250);
    let users = Some("portals/self/users".to_string());
    sim.inject(Fault {
        endpoint: users.clone(),
        kind: FaultKind::Delay(Duration::ZERO),
        times: Some(1),
    });
    sim.inject(Fault {
        endpoint: users,
        kind: FaultKind::ExpireTokens,
        times: Some(1),
    });

    // Act
    let members = client.org_members().await.unwrap();

    // Assert
    assert_eq!(members.len(), 251);
    assert_eq!(sim.request_count("generateToken"), 2, "renewed once");
    assert_eq!(
        sim.request_count("portals/self/users"),
        4,
        "page 2 asked twice"
    );
}

#[tokio::test]
async fn group_members_reads_every_page_of_user_list_with_the_owner_first() {
    // Arrange: 230 members in one group (three pages of 100), 20 in
    // another; the administrator owns both.
    let (sim, client) = simulated(SimulatorConfig::default()).await;
    let crews = sim.group_id("Field Crews").unwrap();
    let partners = sim.group_id("Water Partners").unwrap();
    for i in 0..230 {
        let groups = if i < 20 {
            vec![crews.clone(), partners.clone()]
        } else {
            vec![crews.clone()]
        };
        assert!(sim.seed_member(SimMember {
            group_ids: groups,
            ..SimMember::new(&format!("crew_{i:03}"), VIEWER, "viewerUT")
        }));
    }

    // Act
    let members = client.group_members(&crews).await.unwrap();
    let asked = sim.request_count("userList");
    let few = client.group_members(&partners).await.unwrap();

    // Assert
    assert_eq!(members.len(), 231, "the owner and 230 members");
    assert_eq!(members[0], SIM_ADMIN, "the owner first");
    let mut names = members.clone();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), 231, "nobody twice");
    assert!(members.contains(&"crew_000".to_string()));
    assert!(members.contains(&"crew_229".to_string()));
    assert_eq!(asked, 3, "pages of 100");
    assert_eq!(few.len(), 21);
    assert!(!few.contains(&"crew_020".to_string()));
    assert_eq!(sim.request_count("userList"), 4);
}

#[tokio::test]
async fn group_members_of_an_unknown_group_is_rejected_and_a_5xx_is_unavailable() {
    // Arrange
    let (sim, client) = simulated(SimulatorConfig::default()).await;
    let crews = sim.group_id("Field Crews").unwrap();
    sim.inject(Fault {
        endpoint: Some("userList".into()),
        kind: FaultKind::HttpStatus(503),
        times: None,
    });

    // Act
    let transient = client.group_members(&crews).await.unwrap_err();
    sim.clear_faults();
    let unknown = client
        .group_members("00000000000000000000000000000000")
        .await
        .unwrap_err();
    let dot = client.group_members("..").await.unwrap_err();

    // Assert
    assert!(transient.is_transient(), "{transient:?}");
    assert!(
        matches!(&unknown, PortalError::Rejected { code, .. } if code == "COM_0003"),
        "{unknown:?}"
    );
    assert!(matches!(dot, PortalError::Rejected { .. }), "{dot:?}");
}

#[tokio::test]
async fn group_titles_lists_every_group_of_the_org_across_pages() {
    let titles: Vec<String> = (0..150).map(|i| format!("Team {i:03}")).collect();
    let (sim, client) = simulated(SimulatorConfig {
        groups: titles.clone(),
        ..SimulatorConfig::default()
    })
    .await;

    let groups = client.group_titles().await.unwrap();

    assert_eq!(groups.len(), 150);
    for title in &titles {
        let id = sim.group_id(title).unwrap();
        assert!(groups.contains(&(id, title.clone())), "{title}");
    }
    assert_eq!(sim.request_count("community/groups"), 2);
}

#[tokio::test]
async fn update_profile_changes_only_the_set_fields() {
    // Arrange
    let (sim, client) = simulated(SimulatorConfig::default()).await;
    sim.seed_member(SimMember {
        first_name: "Jane".into(),
        last_name: "Doe".into(),
        ..SimMember::new("jdoe_acme", VIEWER, "viewerUT")
    });
    let update = ProfileUpdate {
        email: Some("jane.doe@acme.test".into()),
        last_name: Some("Smith".into()),
        access: Some("private".into()),
        user_type: Some("both".into()),
        ..ProfileUpdate::default()
    };

    // Act
    client.update_profile("jdoe_acme", &update).await.unwrap();

    // Assert
    let m = sim.member("jdoe_acme").unwrap();
    assert_eq!(m.email, "jane.doe@acme.test");
    assert_eq!(m.first_name, "Jane");
    assert_eq!(m.last_name, "Smith");
    assert_eq!(m.full_name, "Jane Smith");
    assert_eq!(m.access, "private");
    assert_eq!(m.esri_access, "both");
    assert_eq!(
        (m.role.as_str(), m.user_type.as_str()),
        (VIEWER, "viewerUT")
    );
    let seen = client.member("jdoe_acme").await.unwrap().unwrap();
    assert_eq!(seen.full_name.as_deref(), Some("Jane Smith"));
    assert_eq!(seen.esri_access.as_deref(), Some("both"));
}

#[tokio::test]
async fn a_refused_profile_update_is_an_error_in_a_200_body_that_changes_nothing() {
    let (sim, client) = simulated(SimulatorConfig::default()).await;
    sim.seed_member(SimMember::new("jdoe_acme", VIEWER, "viewerUT"));
    let before = sim.member("jdoe_acme").unwrap();
    let bad_access = ProfileUpdate {
        email: Some("new@acme.test".into()),
        access: Some("everyone".into()),
        ..ProfileUpdate::default()
    };
    let bad_email = ProfileUpdate {
        email: Some("not-an-address".into()),
        ..ProfileUpdate::default()
    };

    let access_err = client
        .update_profile("jdoe_acme", &bad_access)
        .await
        .unwrap_err();
    let email_err = client
        .update_profile("jdoe_acme", &bad_email)
        .await
        .unwrap_err();
    let ghost_err = client
        .update_profile("ghost_user", &bad_email)
        .await
        .unwrap_err();

    match access_err {
        PortalError::Rejected { code, message } => {
            assert_eq!(code, "400");
            assert!(message.contains("Invalid access"), "{message}");
        }
        other => panic!("expected Rejected, got {other:?}"),
    }
    assert!(
        matches!(email_err, PortalError::Rejected { ref message, .. } if message.contains("email")),
        "{email_err:?}"
    );
    assert!(
        matches!(ghost_err, PortalError::Rejected { ref message, .. } if message.contains("does not exist")),
        "{ghost_err:?}"
    );
    assert_eq!(sim.member("jdoe_acme").unwrap(), before);
    assert_eq!(sim.request_count("update"), 3, "rejections are not retried");
}

#[tokio::test]
async fn a_429_on_an_update_is_retried_and_the_update_lands() {
    // Arrange
    let (sim, client) = simulated(SimulatorConfig::default()).await;
    sim.seed_member(SimMember::new("jdoe_acme", VIEWER, "viewerUT"));
    sim.inject(Fault {
        endpoint: Some("update".into()),
        kind: FaultKind::TooManyRequests {
            retry_after_secs: 0,
        },
        times: Some(1),
    });
    let update = ProfileUpdate {
        access: Some("public".into()),
        ..ProfileUpdate::default()
    };

    // Act
    client.update_profile("jdoe_acme", &update).await.unwrap();

    // Assert
    assert_eq!(sim.member("jdoe_acme").unwrap().access, "public");
    assert_eq!(sim.request_count("community/users/jdoe_acme/update"), 2);
}

#[tokio::test]
async fn throttling_that_outlasts_the_retry_budget_is_unavailable_and_changes_nothing() {
    let (sim, client) = simulated(SimulatorConfig::default()).await;
    sim.seed_member(SimMember::new("creator_one", "org_user", "creatorUT"));
    sim.inject(Fault {
        endpoint: Some("updateUserRole".into()),
        kind: FaultKind::TooManyRequests {
            retry_after_secs: 0,
        },
        times: None,
    });

    let err = client
        .update_role("creator_one", "org_publisher")
        .await
        .unwrap_err();

    assert!(err.is_transient(), "{err:?}");
    assert_eq!(sim.request_count("updateUserRole"), 3, "max_attempts");
    assert_eq!(sim.member("creator_one").unwrap().role, "org_user");
}

#[tokio::test]
async fn a_role_that_does_not_fit_the_user_type_is_refused() {
    // Arrange: a Viewer-type member, a Creator-type member.
    let (sim, client) = simulated(SimulatorConfig::default()).await;
    sim.seed_member(SimMember::new("viewer_one", VIEWER, "viewerUT"));
    sim.seed_member(SimMember::new("creator_one", "org_user", "creatorUT"));

    // Act
    let publisher = client
        .update_role("viewer_one", "org_publisher")
        .await
        .unwrap_err();
    let editor = client
        .update_role("viewer_one", DATA_EDITOR)
        .await
        .unwrap_err();
    let field_tech = client
        .update_role("viewer_one", "fIeLdTeChRoLe001")
        .await
        .unwrap_err();
    client
        .update_role("creator_one", "org_publisher")
        .await
        .unwrap();
    client
        .update_role("creator_one", "fIeLdTeChRoLe001")
        .await
        .unwrap();

    // Assert
    for err in [&publisher, &editor, &field_tech] {
        match err {
            PortalError::Rejected { code, message } => {
                assert_eq!(code, INCOMPATIBLE_ROLE);
                assert!(message.contains("viewer_one"), "{message}");
            }
            other => panic!("expected Rejected, got {other:?}"),
        }
    }
    assert_eq!(sim.member("viewer_one").unwrap().role, VIEWER);
    assert_eq!(sim.member("creator_one").unwrap().role, "fIeLdTeChRoLe001");
}

#[tokio::test]
async fn with_error_object_refusals_a_refused_role_is_rejected_with_the_portal_code() {
    let (sim, client) = simulated(SimulatorConfig {
        refusal_style: RefusalStyle::ErrorObject,
        ..SimulatorConfig::default()
    })
    .await;
    sim.seed_member(SimMember::new("viewer_one", VIEWER, "viewerUT"));

    let err = client
        .update_role("viewer_one", "org_user")
        .await
        .unwrap_err();
    let type_err = client
        .update_user_type("viewer_one", "nonsenseUT")
        .await
        .unwrap_err();

    assert!(
        matches!(err, PortalError::Rejected { ref code, .. } if code == "400"),
        "{err:?}"
    );
    assert!(
        matches!(type_err, PortalError::Rejected { ref code, .. } if code == "400"),
        "{type_err:?}"
    );
    assert_eq!(sim.member("viewer_one").unwrap().role, VIEWER);
    assert_eq!(sim.request_count("updateUserRole"), 1, "not retried");
}

#[tokio::test]
async fn a_type_change_needs_a_purchased_seat_and_seats_stay_consistent() {
    // Arrange: two Creator seats, one held by the administrator.
    let (sim, client) = simulated(SimulatorConfig {
        purchased: [("creatorUT".to_string(), 2), ("viewerUT".to_string(), 10)].into(),
        ..SimulatorConfig::default()
    })
    .await;
    sim.seed_member(SimMember::new("viewer_aaa", VIEWER, "viewerUT"));
    sim.seed_member(SimMember::new("viewer_bbb", VIEWER, "viewerUT"));

    // Act
    client
        .update_user_type("viewer_aaa", "creatorUT")
        .await
        .unwrap();
    let no_seat = client
        .update_user_type("viewer_bbb", "creatorUT")
        .await
        .unwrap_err();
    let counts = client.license_counts().await.unwrap();

    // Assert
    match no_seat {
        PortalError::Rejected { code, message } => {
            assert_eq!(code, USER_TYPE_REFUSED);
            assert!(message.contains("creatorUT"), "{message}");
        }
        other => panic!("expected Rejected, got {other:?}"),
    }
    assert_eq!(sim.member("viewer_aaa").unwrap().user_type, "creatorUT");
    assert_eq!(sim.member("viewer_bbb").unwrap().user_type, "viewerUT");
    assert_eq!(
        (sim.assigned("creatorUT"), sim.purchased("creatorUT")),
        (2, 2)
    );
    assert_eq!(sim.assigned("viewerUT"), 1);
    assert!(counts.types.contains(&("creatorUT".to_string(), 2, 2)));
    assert!(counts.types.contains(&("viewerUT".to_string(), 10, 1)));
}

#[tokio::test]
async fn a_type_that_does_not_fit_the_role_is_refused() {
    let (sim, client) = simulated(SimulatorConfig::default()).await;
    sim.seed_member(SimMember::new("creator_one", "org_user", "creatorUT"));

    let err = client
        .update_user_type("creator_one", "viewerUT")
        .await
        .unwrap_err();
    // The documented order for a downgrade: role first, then the type.
    client.update_role("creator_one", VIEWER).await.unwrap();
    client
        .update_user_type("creator_one", "viewerUT")
        .await
        .unwrap();

    assert!(
        matches!(err, PortalError::Rejected { ref code, .. } if code == USER_TYPE_REFUSED),
        "{err:?}"
    );
    let m = sim.member("creator_one").unwrap();
    assert_eq!(
        (m.role.as_str(), m.user_type.as_str()),
        (VIEWER, "viewerUT")
    );
    assert_eq!(sim.assigned("creatorUT"), 1, "only the administrator");
}

#[tokio::test]
async fn add_to_groups_adds_per_group_and_reports_where_the_member_was_not_added() {
    // Arrange: one ordinary member, one already in 512 groups.
    let (sim, client) = simulated(SimulatorConfig::default()).await;
    let crews = sim.group_id("Field Crews").unwrap();
    let training = sim.group_id("Training").unwrap();
    sim.seed_member(SimMember::new("jdoe_acme", VIEWER, "viewerUT"));
    let full: Vec<String> = (0..512).map(|i| format!("{i:032x}")).collect();
    sim.seed_member(SimMember {
        group_ids: full,
        ..SimMember::new("busy_member", VIEWER, "viewerUT")
    });

    // Act
    let added = client
        .add_to_groups(
            "jdoe_acme",
            &[crews.clone(), training.clone(), crews.clone()],
        )
        .await
        .unwrap();
    let again = client
        .add_to_groups("jdoe_acme", std::slice::from_ref(&crews))
        .await
        .unwrap();
    let busy = client
        .add_to_groups("busy_member", std::slice::from_ref(&training))
        .await
        .unwrap();
    let ghost = client
        .add_to_groups("ghost_user", std::slice::from_ref(&training))
        .await
        .unwrap();
    let unknown = client
        .add_to_groups(
            "jdoe_acme",
            &["0123456789abcdef0123456789abcdef".to_string()],
        )
        .await
        .unwrap_err();

    // Assert
    assert!(added.is_empty() && again.is_empty());
    assert_eq!(busy, std::slice::from_ref(&training));
    assert_eq!(ghost, std::slice::from_ref(&training));
    assert!(
        matches!(unknown, PortalError::Rejected { ref code, .. } if code == "COM_0003"),
        "{unknown:?}"
    );
    assert_eq!(
        sim.member("jdoe_acme").unwrap().group_ids,
        [crews, training]
    );
    assert_eq!(sim.member("busy_member").unwrap().group_ids.len(), 512);
    assert_eq!(
        sim.request_count("addUsers"),
        6,
        "one request per distinct group"
    );
}

// ------------------------------------------------ pending invitations: against the simulator

/// Seeds `n` pending invitations `invitee_000`… (Viewer role, viewerUT),
/// sent now.
fn seed_invitations(sim: &RunningSimulator, n: usize) {
    for i in 0..n {
        assert!(sim.seed_invitation(SimInvitation::new(
            &format!("invitee_{i:03}"),
            VIEWER,
            "viewerUT",
            sim.now(),
        )));
    }
}

#[tokio::test]
async fn an_invitation_on_page_two_is_found_after_two_requests_and_none_reads_every_page() {
    // Arrange: 150 pending invitations, two pages of 100.
    let (sim, client) = simulated(SimulatorConfig::default()).await;
    seed_invitations(&sim, 150);
    let listing = "portals/self/invitations";

    // Act + Assert: on page 2, asked in another case.
    let late = client
        .invitation("INVITEE_120")
        .await
        .unwrap()
        .expect("found");
    assert_eq!(late.username, "invitee_120");
    assert_eq!(late.user_type.as_deref(), Some("viewerUT"));
    assert_eq!(late.role.as_deref(), Some(VIEWER));
    assert_eq!(sim.request_count(listing), 2, "pages 1 and 2");

    // On page 1: the look-up stops there.
    let early = client.invitation("invitee_005").await.unwrap();
    assert_eq!(early.map(|i| i.username).as_deref(), Some("invitee_005"));
    assert_eq!(sim.request_count(listing), 3, "page 1 only");

    // Nowhere: every page is read.
    assert_eq!(client.invitation("nobody_invited").await.unwrap(), None);
    assert_eq!(sim.request_count(listing), 5, "both pages");

    // All of them, each once.
    let all = client.invitations().await.unwrap();
    assert_eq!(all.len(), 150);
    let mut names: Vec<&str> = all.iter().map(|i| i.username.as_str()).collect();
    names.dedup();
    assert_eq!(names.len(), 150);
    assert_eq!(sim.request_count(listing), 7);
}

#[tokio::test]
async fn an_email_invite_left_pending_is_found_as_an_invitation_and_later_as_the_member() {
    // Arrange: the organization leaves e-mail invitations pending.
    let (sim, client) = simulated(SimulatorConfig {
        email_invitations_pending: true,
        ..SimulatorConfig::default()
    })
    .await;
    let crews = sim.group_id("Field Crews").unwrap();
    let member = NewMember {
        group_ids: vec![crews.clone()],
        ..new_member(Invitation::Email)
    };
    let before = sim.now();

    // Act
    client.invite(&member).await.unwrap();

    // Assert: not a member, but a pending invitation that keeps the name.
    assert_eq!(client.member("jdoe_acme").await.unwrap(), None);
    let pending = client
        .invitation("jdoe_acme")
        .await
        .unwrap()
        .expect("pending");
    assert_eq!(pending.email.as_deref(), Some("jane@acme.test"));
    assert_eq!(pending.role.as_deref(), Some(VIEWER));
    assert_eq!(pending.user_type.as_deref(), Some("viewerUT"));
    let created = pending.created.expect("created");
    assert!(created >= before);
    let lifetime = i64::try_from(INVITATION_LIFETIME.as_millis()).unwrap();
    assert_eq!(pending.expires, Some(created + lifetime), "14 days");
    assert_eq!(pending.id.as_deref().map(str::len), Some(32));
    assert!(!client.username_available("jdoe_acme").await.unwrap());
    let again = client.invite(&member).await.unwrap_err();
    assert!(matches!(again, PortalError::NotInvited { .. }), "{again:?}");

    // Once accepted, it is the member it was sent for.
    assert!(sim.accept_invitation("jdoe_acme"));
    assert_eq!(client.invitation("jdoe_acme").await.unwrap(), None);
    let joined = client.member("jdoe_acme").await.unwrap().expect("member");
    assert_eq!(joined.role.as_deref(), Some(VIEWER));
    assert_eq!(joined.user_type.as_deref(), Some("viewerUT"));
    assert_eq!(joined.group_ids, vec![crews]);
}

#[tokio::test]
async fn an_error_in_a_200_body_on_page_two_fails_the_look_up_instead_of_finding_nothing() {
    // Arrange: page 1 is answered normally, page 2 with an error object.
    let (sim, client) = simulated(SimulatorConfig::default()).await;
    seed_invitations(&sim, 150);
    let listing = Some("portals/self/invitations".to_string());
    sim.inject(Fault {
        endpoint: listing.clone(),
        kind: FaultKind::Delay(Duration::ZERO),
        times: Some(1),
    });
    sim.inject(Fault {
        endpoint: listing,
        kind: FaultKind::ErrorBody {
            code: 400,
            message_code: Some("COM_0019".into()),
            message: "Not logged in.".into(),
        },
        times: Some(1),
    });

    // Act
    let err = client.invitation("nobody_invited").await.unwrap_err();

    // Assert
    match err {
        PortalError::Rejected { code, message } => {
            assert_eq!(code, "COM_0019");
            assert_eq!(message, "Not logged in.");
        }
        other => panic!("expected Rejected, got {other:?}"),
    }
    assert_eq!(sim.request_count("portals/self/invitations"), 2);
}

#[tokio::test]
async fn a_throttled_or_expired_token_page_is_retried_and_the_invitation_found() {
    // Arrange: page 1 first answers 503, then every token dies as page 2
    // is asked for.
    let (sim, client) = simulated(SimulatorConfig::default()).await;
    seed_invitations(&sim, 150);
    let listing = Some("portals/self/invitations".to_string());
    sim.inject(Fault {
        endpoint: listing.clone(),
        kind: FaultKind::HttpStatus(503),
        times: Some(1),
    });
    sim.inject(Fault {
        endpoint: listing.clone(),
        kind: FaultKind::Delay(Duration::ZERO),
        times: Some(1),
    });
    sim.inject(Fault {
        endpoint: listing,
        kind: FaultKind::ExpireTokens,
        times: Some(1),
    });

    // Act
    let found = client.invitation("invitee_149").await.unwrap();

    // Assert
    assert_eq!(found.map(|i| i.username).as_deref(), Some("invitee_149"));
    assert_eq!(sim.request_count("generateToken"), 2, "renewed once");
    assert_eq!(
        sim.request_count("portals/self/invitations"),
        4,
        "page 1 twice (503), page 2 twice (498)"
    );
}

// ------------------------------------------------ hosted layer records

const LAYER_PATH: &str = "/ORG123/arcgis/rest/services/survey123_0123_form/FeatureServer/0/query";
const GLOBALID: &str = "{7D1E0C5A-1111-4222-8333-944455566677}";

impl TestPortal {
    /// The scripted portal's layer 0 of `survey123_0123_form`.
    fn layer_url(&self) -> String {
        self.base_url
            .replace("/sharing/rest", &LAYER_PATH.replace("/query", ""))
    }
}

fn feature_set(records: Value) -> Reply {
    Reply::json(json!({
        "objectIdFieldName": "objectid",
        "globalIdFieldName": "globalid",
        "fields": [],
        "features": records,
    }))
}

#[tokio::test]
async fn a_layer_record_is_queried_with_the_documented_parameters_and_the_token_in_a_header() {
    // Arrange
    let portal = TestPortal::start(|seen, _| match seen.path.as_str() {
        LAYER_PATH => Some(feature_set(json!([{"attributes": {
            "objectid": 57, "globalid": GLOBALID, "email": "cai@contractors.example"}}]))),
        _ => None,
    })
    .await;

    // Act: the globalid as Survey123 keys it (lower case, no braces).
    let record = portal
        .client()
        .feature_by_globalid(&portal.layer_url(), "7d1e0c5a-1111-4222-8333-944455566677")
        .await
        .unwrap()
        .expect("the record");

    // Assert
    assert_eq!(record["email"], "cai@contractors.example");
    let hits = portal.hits(LAYER_PATH);
    assert_eq!(hits.len(), 1);
    let q = &hits[0];
    assert_eq!(q.method, Method::GET);
    assert_eq!(
        q.query.get("where").map(String::as_str),
        Some("GlobalID='{7D1E0C5A-1111-4222-8333-944455566677}'")
    );
    assert_eq!(q.query.get("outFields").map(String::as_str), Some("*"));
    assert_eq!(
        q.query.get("returnGeometry").map(String::as_str),
        Some("false")
    );
    assert_eq!(q.query.get("f").map(String::as_str), Some("json"));
    assert!(!q.query.contains_key("token"), "never in the URL");
    assert_eq!(q.auth(), Some("Bearer tok-1"));
    assert_eq!(
        q.headers.get("referer").and_then(|v| v.to_str().ok()),
        Some(REFERER)
    );
}

#[tokio::test]
async fn a_layer_query_renews_an_expired_token_and_retries_transient_failures() {
    let portal = TestPortal::start(|seen, n| match seen.path.as_str() {
        LAYER_PATH if seen.auth() == Some("Bearer tok-1") => {
            Some(Reply::error(498, "Invalid token."))
        }
        LAYER_PATH if n == 2 => Some(Reply::error(503, "busy").status(503)),
        LAYER_PATH => Some(feature_set(
            json!([{"attributes": {"globalid": GLOBALID, "status": "approved"}}]),
        )),
        _ => None,
    })
    .await;

    let record = portal
        .client()
        .feature_by_globalid(&portal.layer_url(), GLOBALID)
        .await
        .unwrap()
        .expect("the record");

    assert_eq!(record["status"], "approved");
    assert_eq!(portal.hits("generateToken").len(), 2, "renewed once");
    assert_eq!(portal.hits(LAYER_PATH).len(), 3);
}

#[tokio::test]
async fn no_record_is_none_and_a_layer_error_in_a_200_answer_is_a_rejection() {
    let portal = TestPortal::start(|seen, n| match seen.path.as_str() {
        LAYER_PATH if n == 1 => Some(feature_set(json!([]))),
        LAYER_PATH => Some(Reply::json(json!({"error": {
            "code": 400, "message": "Cannot perform query. Invalid query parameters.",
            "details": ["Unable to perform query. Please check your parameters."]}}))),
        _ => None,
    })
    .await;
    let client = portal.client();

    let none = client
        .feature_by_globalid(&portal.layer_url(), GLOBALID)
        .await
        .unwrap();
    let err = client
        .feature_by_globalid(&portal.layer_url(), GLOBALID)
        .await
        .unwrap_err();

    assert_eq!(none, None);
    assert!(
        matches!(&err, PortalError::Rejected { code, .. } if code == "400"),
        "{err:?}"
    );
    assert_eq!(
        portal.hits(LAYER_PATH).len(),
        2,
        "a rejection is not retried"
    );
}

#[tokio::test]
async fn the_simulator_serves_a_layer_record_only_to_a_token_and_by_the_braced_globalid() {
    // Arrange
    let (sim, client) = simulated(SimulatorConfig::default()).await;
    let layer = sim.layer_url("survey123_0123_form", 0);
    let mut attributes = serde_json::Map::new();
    attributes.insert("email".into(), json!("cai@contractors.example"));
    let globalid = sim.put_feature(&layer, attributes, "jsmith_exorg");

    // Act
    let found = client
        .feature_by_globalid(&layer, &globalid.to_lowercase())
        .await
        .unwrap()
        .expect("the record");
    let missing = client
        .feature_by_globalid(&layer, "{00000000-1111-4222-8333-944455566677}")
        .await
        .unwrap();
    let anonymous: Value = reqwest::Client::new()
        .get(format!("{layer}/query"))
        .query(&[("where", "1=1"), ("outFields", "*"), ("f", "json")])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();

    // Assert
    assert_eq!(found["email"], "cai@contractors.example");
    assert_eq!(found["Editor"], "jsmith_exorg");
    assert_eq!(found["globalid"], globalid.as_str());
    assert_eq!(missing, None);
    assert_eq!(anonymous["error"]["code"], 499, "{anonymous}");
    assert_eq!(sim.request_count("FeatureServer/0/query"), 3);
}

/// Issue 13: the credentials were read once per cold start; a secret
/// rotated after it failed every call until the next cold start. With a
/// refresh, a refused generateToken re-reads them and, when they changed,
/// signs in once more; the same credentials again are not retried.
#[tokio::test]
async fn refused_credentials_are_read_again_and_the_new_ones_sign_in() {
    const ROTATED: &str = "R0tated-Pass-0f-2026";
    let portal = TestPortal::start(|seen, _| match seen.path.as_str() {
        "generateToken" if seen.form.get("password").map(String::as_str) == Some(ROTATED) => Some(
            Reply::json(json!({"token": "tok-after-rotation", "expires": 4_102_444_800_000i64})),
        ),
        "generateToken" => Some(Reply::json(json!({"error": {
            "code": 400, "message": "Unable to generate token.",
            "details": ["Invalid username or password."]
        }}))),
        _ => Some(portal_self()),
    })
    .await;
    let reads = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let refresh_to = |password: &'static str| {
        let reads = reads.clone();
        let f: agol_seat_broker::portal::arcgis::CredentialRefresh = Arc::new(move || {
            reads.fetch_add(1, Ordering::SeqCst);
            Box::pin(async move { Ok(Credentials::new(ADMIN, password)) })
        });
        f
    };

    // The same (stale) credentials again: refused once, not retried.
    let stale = portal
        .client()
        .with_credential_refresh(refresh_to(PASSWORD));
    let err = stale.org_id().await.unwrap_err();
    assert!(matches!(err, PortalError::Auth(_)), "{err:?}");
    assert_eq!(portal.hits("generateToken").len(), 1);

    // Rotated: read again, signed in with the new ones.
    let client = portal.client().with_credential_refresh(refresh_to(ROTATED));
    assert!(client.org_id().await.is_ok());
    assert_eq!(reads.load(Ordering::SeqCst), 2, "read once per refusal");
    let tries: Vec<_> = portal
        .hits("generateToken")
        .iter()
        .map(|h| h.form.get("password").cloned().unwrap_or_default())
        .collect();
    assert_eq!(tries, vec![PASSWORD, PASSWORD, ROTATED]);
    let shown = format!("{client:?}");
    assert!(
        !shown.contains(ROTATED) && !shown.contains(PASSWORD),
        "{shown}"
    );
}

/// Issue 13: the password-reset e-mail is `POST community/users/<u>/reset`
/// with `email=true` (and `f=json`), as the Python API's
/// `User.reset(reset_by_email=True)` sends it; `success: false` is a
/// refusal.
#[tokio::test]
async fn the_password_reset_posts_email_true_to_the_users_reset() {
    // Arrange
    let portal = TestPortal::start(|seen, _| match seen.path.as_str() {
        "community/users/jdoe_acme/reset" => Some(Reply::json(json!({"success": true}))),
        "community/users/bo_acme/reset" => Some(Reply::json(json!({"success": false}))),
        _ => None,
    })
    .await;
    let client = portal.client();

    // Act
    let sent = client.send_password_reset("jdoe_acme").await;
    let refused = client.send_password_reset("bo_acme").await;

    // Assert
    sent.unwrap();
    assert!(
        matches!(refused, Err(PortalError::Rejected { ref code, .. }) if code == "RESET_FAILED"),
        "{refused:?}"
    );
    let hits = portal.hits("community/users/jdoe_acme/reset");
    assert_eq!(hits.len(), 1);
    assert_eq!(hits[0].method, Method::POST);
    let mut keys: Vec<&str> = hits[0].form.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(keys, ["email", "f"]);
    assert_eq!(hits[0].form["email"], "true");
}

/// Issue 13: the simulator e-mails a reset only to a member of the
/// organization who holds a password: a generated-password member gets
/// it; a pending e-mail invitation (no password yet) and an unknown user
/// are refused inside an HTTP 200, and nothing is sent.
#[tokio::test]
async fn the_simulator_sends_a_reset_only_to_a_member_with_a_password() {
    let (srv, client) = simulated(SimulatorConfig::default()).await;
    let mut with_password = new_member(Invitation::Password("Init-Pa55word!".into()));
    with_password.role = VIEWER.into();
    let mut by_email = new_member(Invitation::Email);
    by_email.username = "bo_acme".into();
    by_email.email = "bo@acme.test".into();
    by_email.role = VIEWER.into();
    by_email.group_ids = Vec::new();
    with_password.group_ids = Vec::new();
    client.invite(&with_password).await.unwrap();
    client.invite(&by_email).await.unwrap();

    client.send_password_reset("jdoe_acme").await.unwrap();
    let pending = client.send_password_reset("bo_acme").await;
    let unknown = client.send_password_reset("nobody_acme").await;

    assert_eq!(srv.reset_emails("jdoe_acme"), 1);
    assert!(
        matches!(pending, Err(PortalError::Rejected { .. })),
        "{pending:?}"
    );
    assert!(
        matches!(unknown, Err(PortalError::Rejected { .. })),
        "{unknown:?}"
    );
    assert_eq!(srv.reset_emails("bo_acme"), 0);
    assert_eq!(srv.reset_emails("nobody_acme"), 0);
}

// ------------------------------------------- issue 14: the seat's life after sign-up (wire format)

/// The form of the one request made to `path`, sorted, after checking it
/// was a POST with nothing in the URL.
fn posted_form(portal: &TestPortal, path: &str) -> Vec<(String, String)> {
    let calls = portal.hits(path);
    assert_eq!(calls.len(), 1, "{path}");
    assert_eq!(calls[0].method, Method::POST, "{path}");
    assert!(calls[0].query.is_empty(), "{path}: nothing in the URL");
    let mut form: Vec<(String, String)> = calls[0].form.clone().into_iter().collect();
    form.sort();
    form
}

fn only_f_json() -> Vec<(String, String)> {
    vec![("f".to_string(), "json".to_string())]
}

#[tokio::test]
async fn disable_enable_delete_and_notify_send_exactly_the_documented_paths_and_fields() {
    // Arrange: disable answers admin style, the others `success:true`.
    let portal = TestPortal::start(|seen, _| match seen.path.as_str() {
        "community/users/jdoe_acme/disable" => Some(Reply::json(json!({"status": "success"}))),
        "community/users/jdoe_acme/enable" => Some(Reply::json(
            json!({"success": true, "username": "jdoe_acme"}),
        )),
        "community/users/jdoe_acme/delete" => Some(Reply::json(
            json!({"success": true, "username": "jdoe_acme"}),
        )),
        "portals/self/createNotification" => Some(Reply::json(json!({"success": true}))),
        _ => None,
    })
    .await;
    let client = portal.client();

    // Act
    client.disable(" jdoe_acme ").await.unwrap();
    client.enable("jdoe_acme").await.unwrap();
    client.delete_member("jdoe_acme").await.unwrap();
    client
        .send_notification(
            &["jdoe_acme".into(), "bo_acme".into()],
            "Your seat",
            "It lapses on Friday & then it is gone.",
        )
        .await
        .unwrap();

    // Assert
    for op in ["disable", "enable", "delete"] {
        assert_eq!(
            posted_form(&portal, &format!("community/users/jdoe_acme/{op}")),
            only_f_json(),
            "{op}: no parameter but f=json"
        );
    }
    let pairs = |v: &[(&str, &str)]| -> Vec<(String, String)> {
        v.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    };
    assert_eq!(
        posted_form(&portal, "portals/self/createNotification"),
        pairs(&[
            ("f", "json"),
            ("message", "It lapses on Friday & then it is gone."),
            ("notificationChannelType", "email"),
            ("subject", "Your seat"),
            ("users", "jdoe_acme,bo_acme"),
        ])
    );
    assert!(
        portal
            .hits("community/users/jdoe_acme/delete")
            .iter()
            .all(|s| s.auth() == Some("Bearer tok-1")),
        "the token in the header"
    );
}

#[tokio::test]
async fn a_disable_or_enable_without_success_is_refused_or_a_protocol_error() {
    let portal = TestPortal::start(|seen, _| match seen.path.as_str() {
        "community/users/jdoe_acme/disable" => Some(Reply::json(json!({"success": false}))),
        "community/users/jdoe_acme/enable" => Some(Reply::json(json!({"username": "jdoe_acme"}))),
        "community/users/bo_acme/enable" => Some(Reply::json(json!({"status": "success"}))),
        _ => None,
    })
    .await;
    let client = portal.client();

    let refused = client.disable("jdoe_acme").await.unwrap_err();
    let unclear = client.enable("jdoe_acme").await.unwrap_err();
    client.enable("bo_acme").await.unwrap();
    let dots = client.disable("..").await.unwrap_err();

    assert!(
        matches!(&refused, PortalError::Rejected { code, .. } if code == "DISABLE_FAILED"),
        "{refused:?}"
    );
    assert!(matches!(unclear, PortalError::Protocol(_)), "{unclear:?}");
    assert!(matches!(dots, PortalError::Rejected { .. }), "{dots:?}");
    assert!(portal.hits("community/users/../disable").is_empty());
}

#[tokio::test]
async fn notifications_go_out_25_usernames_per_request_in_order() {
    // Arrange: 60 usernames, plus a blank and a repeat that are not sent.
    let portal = TestPortal::start(|seen, _| match seen.path.as_str() {
        "portals/self/createNotification" => Some(Reply::json(json!({"success": true}))),
        _ => None,
    })
    .await;
    let mut names: Vec<String> = (0..60).map(|i| format!("member_{i:03}")).collect();
    names.insert(10, "  ".into());
    names.push("member_007".into());

    // Act
    portal
        .client()
        .send_notification(&names, "Subject", "Message")
        .await
        .unwrap();

    // Assert
    let calls = portal.hits("portals/self/createNotification");
    let batches: Vec<Vec<&str>> = calls
        .iter()
        .map(|c| c.form["users"].split(',').collect())
        .collect();
    assert_eq!(
        batches.iter().map(Vec::len).collect::<Vec<_>>(),
        [25, 25, 10]
    );
    assert_eq!(batches[0][0], "member_000");
    assert_eq!(batches[1][0], "member_025");
    assert_eq!(batches[2][9], "member_059");
    assert!(calls.iter().all(|c| c.form["subject"] == "Subject"
        && c.form["message"] == "Message"
        && c.form["notificationChannelType"] == "email"));
}

#[tokio::test]
async fn a_refused_notification_batch_stops_the_rest_and_says_which_it_was() {
    let portal = TestPortal::start(|seen, n| match seen.path.as_str() {
        "portals/self/createNotification" if n == 2 => Some(Reply::json(json!({"success": false}))),
        "portals/self/createNotification" => Some(Reply::json(json!({"success": true}))),
        _ => None,
    })
    .await;
    let client = portal.client();
    let names: Vec<String> = (0..60).map(|i| format!("member_{i:03}")).collect();

    let err = client
        .send_notification(&names, "Subject", "Message")
        .await
        .unwrap_err();
    client
        .send_notification(&[" ".into()], "Subject", "Message")
        .await
        .unwrap();

    match err {
        PortalError::Rejected { code, message } => {
            assert_eq!(code, "NOTIFICATION_FAILED");
            assert!(message.contains("batch 2 of 3"), "{message}");
        }
        other => panic!("expected Rejected, got {other:?}"),
    }
    assert_eq!(
        portal.hits("portals/self/createNotification").len(),
        2,
        "stopped at the refused batch; nobody to notify sends nothing"
    );
}

#[tokio::test]
async fn a_delete_refused_for_what_the_member_owns_is_owns_content() {
    // Arrange: ana's refusal names her items; bo's does not, but he owns a
    // group; cy's does not and she owns nothing.
    let refusal = |detail: &str| {
        Reply::json(json!({"error": {
            "code": 400, "message": "Unable to delete user.", "details": [detail]
        }}))
    };
    let portal = TestPortal::start(move |seen, _| match seen.path.as_str() {
        "community/users/ana_acme/delete" => Some(refusal("User 'ana_acme' owns 3 items.")),
        "community/users/bo_acme/delete" | "community/users/cy_acme/delete" => {
            Some(refusal("Operation not allowed."))
        }
        "community/users/bo_acme" => Some(Reply::json(json!({
            "username": "bo_acme",
            "groups": [{"id": "g1id", "title": "Crew", "owner": "bo_acme"}]
        }))),
        "community/users/cy_acme" => Some(Reply::json(json!({
            "username": "cy_acme",
            "groups": [{"id": "g1id", "title": "Crew", "owner": "bo_acme"}]
        }))),
        "content/users/bo_acme" | "content/users/cy_acme" => Some(Reply::json(json!({
            "total": 0, "start": 1, "num": 0, "nextStart": -1, "items": [], "folders": []
        }))),
        _ => None,
    })
    .await;
    let client = portal.client();

    // Act
    let ana = client.delete_member("ana_acme").await.unwrap_err();
    let bo = client.delete_member("bo_acme").await.unwrap_err();
    let cy = client.delete_member("cy_acme").await.unwrap_err();

    // Assert
    for err in [&ana, &bo] {
        assert!(
            matches!(err, PortalError::Rejected { code, .. } if code == OWNS_CONTENT),
            "{err:?}"
        );
    }
    assert!(bo.to_string().contains("1 groups"), "{bo}");
    assert!(
        matches!(&cy, PortalError::Rejected { code, .. } if code == "400"),
        "{cy:?}"
    );
    assert!(
        portal.hits("community/users/ana_acme").is_empty(),
        "a refusal that names the content needs no second look"
    );
    assert_eq!(portal.hits("community/users/ana_acme/delete").len(), 1);
}

#[tokio::test]
async fn owned_content_counts_root_and_folder_items_and_the_groups_the_member_owns() {
    // Arrange: 3 items at the root, 3 in folder f1 (two pages, no total),
    // 4 in folder f2; owner of g1 (listed twice), member of g2.
    let portal = TestPortal::start(|seen, _| {
        let start = seen.query.get("start").map(String::as_str);
        match (seen.path.as_str(), start) {
            ("community/users/jdoe_acme", _) => Some(Reply::json(json!({
                "username": "jdoe_acme",
                "groups": [
                    {"id": "g1id", "title": "Mine", "owner": "JDOE_ACME"},
                    {"id": "g2id", "title": "Theirs", "owner": "admin_acme"},
                    {"id": "g1id", "title": "Mine", "owner": "jdoe_acme"}
                ]
            }))),
            ("content/users/jdoe_acme", _) => Some(Reply::json(json!({
                "username": "jdoe_acme", "total": 3, "start": 1, "num": 3, "nextStart": -1,
                "items": [{"id": "i1"}, {"id": "i2"}, {"id": "i3"}],
                "folders": [{"id": "f1", "title": "Maps"}, {"id": "f2", "title": "Data"},
                            {"id": "f1", "title": "Maps"}, {"id": ".."}]
            }))),
            ("content/users/jdoe_acme/f1", Some("1")) => Some(Reply::json(json!({
                "items": [{"id": "i4"}, {"id": "i5"}], "nextStart": 3
            }))),
            ("content/users/jdoe_acme/f1", Some("3")) => Some(Reply::json(json!({
                "items": [{"id": "i6"}], "nextStart": -1
            }))),
            ("content/users/jdoe_acme/f2", _) => Some(Reply::json(json!({
                "total": 4, "items": [{"id": "i7"}], "nextStart": 2
            }))),
            _ => None,
        }
    })
    .await;

    let owned = portal.client().owned_content("jdoe_acme").await.unwrap();

    assert_eq!(
        owned,
        OwnedContent {
            items: 3 + 3 + 4,
            groups: 1
        }
    );
    let root = portal.hits("content/users/jdoe_acme");
    assert_eq!(root.len(), 1, "the first page's total is enough");
    assert_eq!(root[0].method, Method::GET);
    assert_eq!(root[0].query["start"], "1");
    assert_eq!(root[0].query["num"], "100");
    assert_eq!(portal.hits("content/users/jdoe_acme/f1").len(), 2);
    assert_eq!(portal.hits("content/users/jdoe_acme/f2").len(), 1);
}

#[tokio::test]
async fn last_login_created_and_disabled_are_read_leniently_and_absent_is_none() {
    let portal = TestPortal::start(|seen, _| match seen.path.as_str() {
        "community/users/jdoe_acme" => Some(Reply::json(json!({
            "username": "jdoe_acme", "lastLogin": "1700000000000",
            "created": 1.6e12, "disabled": "true"
        }))),
        "community/users/never_in" => Some(Reply::json(json!({
            "username": "never_in", "lastLogin": -1, "created": 5, "disabled": false
        }))),
        "community/users/terse_one" => Some(Reply::json(json!({
            "username": "terse_one", "lastLogin": null, "disabled": "maybe"
        }))),
        _ => None,
    })
    .await;
    let client = portal.client();

    let read = client.member("jdoe_acme").await.unwrap().unwrap();
    let never = client.member("never_in").await.unwrap().unwrap();
    let terse = client.member("terse_one").await.unwrap().unwrap();

    assert_eq!(
        (read.last_login, read.created, read.disabled),
        (Some(1_700_000_000_000), Some(1_600_000_000_000), Some(true))
    );
    assert_eq!(
        (never.last_login, never.created, never.disabled),
        (Some(-1), Some(5), Some(false))
    );
    assert_eq!(
        (terse.last_login, terse.created, terse.disabled),
        (None, None, None)
    );
}

// ------------------------------------------- issue 14: the seat's life after sign-up (simulator)

/// A client signed in as `username` with `password` against `srv`.
fn client_as(srv: &RunningSimulator, username: &str, password: &str) -> ArcGisPortal {
    let mut c = ArcGisConfig::new(srv.base_url(), REFERER);
    c.request_timeout = Duration::from_secs(2);
    c.deadline = Duration::from_secs(5);
    c.max_attempts = 3;
    c.base_backoff = Duration::from_millis(1);
    c.max_backoff = Duration::from_millis(5);
    ArcGisPortal::new(c, Credentials::new(username, password)).unwrap()
}

#[tokio::test]
async fn a_disabled_member_keeps_its_seat_cannot_sign_in_and_enable_restores_it() {
    // Arrange: a Viewer created with a password, who signs in once.
    let (sim, admin) = simulated(SimulatorConfig::default()).await;
    let mut jdoe = new_member(Invitation::Password("Init-Pa55word!".into()));
    jdoe.group_ids = Vec::new();
    admin.invite(&jdoe).await.unwrap();
    client_as(&sim, "jdoe_acme", "Init-Pa55word!")
        .org_id()
        .await
        .unwrap();
    let seats_before = admin.license_counts().await.unwrap();
    let assigned_before = sim.assigned("viewerUT");

    // Act
    admin.disable("jdoe_acme").await.unwrap();
    let shown = admin.member("jdoe_acme").await.unwrap().unwrap();
    let listed = admin.org_members().await.unwrap();
    let sign_in = client_as(&sim, "jdoe_acme", "Init-Pa55word!")
        .org_id()
        .await;
    let seats_disabled = admin.license_counts().await.unwrap();
    admin.disable("jdoe_acme").await.unwrap();
    admin.enable("jdoe_acme").await.unwrap();
    let restored = admin.member("jdoe_acme").await.unwrap().unwrap();
    let again = client_as(&sim, "jdoe_acme", "Init-Pa55word!")
        .org_id()
        .await;
    let ghost = admin.disable("ghost_user").await;

    // Assert
    assert_eq!(shown.disabled, Some(true));
    let entry = listed.iter().find(|m| m.username == "jdoe_acme").unwrap();
    assert_eq!(entry.disabled, Some(true), "the org listing says so too");
    match sign_in {
        Err(PortalError::Auth(why)) => {
            assert!(why.contains("disabled"), "{why}");
            assert!(!why.contains("Init-Pa55word!"), "{why}");
        }
        other => panic!("expected Auth, got {other:?}"),
    }
    assert_eq!(
        sim.assigned("viewerUT"),
        assigned_before,
        "still holds its seat"
    );
    assert_eq!(seats_disabled, seats_before);
    assert!(sim.member("jdoe_acme").unwrap().user_type == "viewerUT");
    assert_eq!(restored.disabled, Some(false));
    assert_eq!(again.unwrap(), sim.org_id());
    assert!(
        matches!(ghost, Err(PortalError::Rejected { ref message, .. }) if message.contains("does not exist")),
        "{ghost:?}"
    );
}

#[tokio::test]
async fn a_member_who_owns_content_is_not_deleted_and_one_who_owns_nothing_is_and_frees_its_seat() {
    // Arrange: ana owns an item, cy owns a group, bo owns nothing.
    let (sim, client) = simulated(SimulatorConfig::default()).await;
    for name in ["ana_acme", "bo_acme", "cy_acme"] {
        assert!(sim.seed_member(SimMember::new(name, VIEWER, "viewerUT")));
    }
    sim.seed_item("ana_acme", "Trail map");
    sim.seed_group("Cy's crew", "cy_acme").unwrap();
    let assigned = sim.assigned("viewerUT");

    // Act
    let ana = client.delete_member("ana_acme").await.unwrap_err();
    let cy = client.delete_member("cy_acme").await.unwrap_err();
    let after_refusals = sim.assigned("viewerUT");
    client.delete_member("bo_acme").await.unwrap();
    let bo_again = client.delete_member("bo_acme").await.unwrap_err();

    // Assert
    for err in [&ana, &cy] {
        assert!(
            matches!(err, PortalError::Rejected { code, .. } if code == OWNS_CONTENT),
            "{err:?}"
        );
    }
    assert!(ana.to_string().contains("1 item"), "{ana}");
    assert!(sim.member("ana_acme").is_some() && sim.member("cy_acme").is_some());
    assert_eq!(after_refusals, assigned, "nothing changed");
    assert!(sim.member("bo_acme").is_none());
    assert!(client.member("bo_acme").await.unwrap().is_none());
    assert_eq!(sim.assigned("viewerUT"), assigned - 1, "the seat is free");
    assert!(
        !client.username_available("bo_acme").await.unwrap(),
        "a deleted member's name is not free again"
    );
    assert!(
        matches!(bo_again, PortalError::Rejected { ref message, .. } if message.contains("does not exist")),
        "{bo_again:?}"
    );
}

#[tokio::test]
async fn owned_content_counts_a_members_items_and_the_groups_it_owns() {
    // Arrange: ana owns 120 items and two groups and is a member of a
    // group the administrator owns; bo owns nothing.
    let (sim, client) = simulated(SimulatorConfig::default()).await;
    let crews = sim.group_id("Field Crews").unwrap();
    sim.seed_member(SimMember {
        group_ids: vec![crews],
        ..SimMember::new("ana_acme", VIEWER, "viewerUT")
    });
    sim.seed_member(SimMember::new("bo_acme", VIEWER, "viewerUT"));
    for i in 0..120 {
        sim.seed_item("ana_acme", &format!("Map {i}"));
    }
    sim.seed_group("Ana's team", "ana_acme").unwrap();
    sim.seed_group("Ana's partners", "ana_acme").unwrap();

    // Act
    let ana = client.owned_content("ana_acme").await.unwrap();
    let bo = client.owned_content("bo_acme").await.unwrap();
    let ghost = client.owned_content("ghost_user").await.unwrap_err();

    // Assert
    assert_eq!(
        ana,
        OwnedContent {
            items: 120,
            groups: 2
        }
    );
    assert!(bo.is_empty(), "{bo:?}");
    assert!(
        matches!(ghost, PortalError::Rejected { ref message, .. } if message.contains("does not exist")),
        "{ghost:?}"
    );
    assert_eq!(
        sim.request_count("content/users/ana_acme"),
        1,
        "the first page's total is enough"
    );
}

#[tokio::test]
async fn notifications_are_recorded_per_member_and_an_unknown_username_is_refused() {
    // Arrange: 30 members.
    let (sim, client) = simulated(SimulatorConfig::default()).await;
    seed_viewers(&sim, 30);
    let names: Vec<String> = (0..30).map(|i| format!("member_{i:03}")).collect();

    // Act
    client
        .send_notification(&names, "Your seat", "Sign in this week to keep it.")
        .await
        .unwrap();
    let sent = sim.notifications();
    let unknown = client
        .send_notification(
            &["member_000".into(), "ghost_user".into()],
            "Again",
            "Hello",
        )
        .await
        .unwrap_err();

    // Assert
    assert_eq!(sim.request_count("createNotification"), 3, "25 + 5, then 1");
    assert_eq!(sent.len(), 30);
    assert_eq!(sent[0].username, "member_000");
    assert_eq!(sent[29].username, "member_029");
    assert!(sent.iter().all(|n| n.subject == "Your seat"
        && n.message == "Sign in this week to keep it."
        && n.channel == "email"));
    assert!(
        matches!(unknown, PortalError::Rejected { ref message, .. } if message.contains("ghost_user")),
        "{unknown:?}"
    );
    assert_eq!(
        sim.notifications().len(),
        30,
        "the refused request sent nothing"
    );
    assert_eq!(
        sim.state_json()["notifications"].as_array().map(Vec::len),
        Some(30)
    );
}

#[tokio::test]
async fn last_login_created_and_disabled_are_mapped_from_member_and_org_members() {
    // Arrange: one member signed in, one never did, one disabled.
    let (sim, client) = simulated(SimulatorConfig::default()).await;
    sim.seed_member(SimMember {
        created: 1_600_000_000_000,
        ..SimMember::new("signed_in", VIEWER, "viewerUT")
    });
    sim.seed_member(SimMember {
        created: 1_650_000_000_000,
        ..SimMember::new("never_in", VIEWER, "viewerUT")
    });
    sim.seed_member(SimMember::new("turned_off", VIEWER, "viewerUT"));
    assert!(sim.sign_in("signed_in", 1_700_000_000_000));
    client.disable("turned_off").await.unwrap();

    // Act
    let one = client.member("signed_in").await.unwrap().unwrap();
    let never = client.member("never_in").await.unwrap().unwrap();
    let off = client.member("turned_off").await.unwrap().unwrap();
    let listed = client.org_members().await.unwrap();

    // Assert
    assert_eq!(
        (one.last_login, one.created, one.disabled),
        (
            Some(1_700_000_000_000),
            Some(1_600_000_000_000),
            Some(false)
        )
    );
    assert_eq!(
        (never.last_login, never.created, never.disabled),
        (Some(-1), Some(1_650_000_000_000), Some(false))
    );
    assert_eq!(off.disabled, Some(true));
    for m in [&one, &never, &off] {
        let entry = listed.iter().find(|l| l.username == m.username).unwrap();
        assert_eq!(
            (entry.last_login, entry.created, entry.disabled),
            (m.last_login, m.created, m.disabled),
            "{}",
            m.username
        );
    }
}
