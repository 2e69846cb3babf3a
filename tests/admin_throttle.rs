//! The administrator's sign-in throttle in the store (issue 13): several
//! broker instances sharing one store share one count of sign-in attempts,
//! per client address and in all, per window.
//!
//! Each test builds two (or one) complete apps through `startup::app`, the
//! way every process is built, over one store: the same SQLite file opened
//! twice (two local servers), the same DynamoDB Local table with two ledger
//! clients (two Lambda instances), or a memory ledger behind the faulty
//! wrapper. Requests go through the router as the local server hands them
//! over (with the socket's peer address) or as Lambda does (API Gateway v2
//! events with their `sourceIp`).
//!
//! The DynamoDB test needs `DYNAMODB_ENDPOINT` (`scripts/test.sh` sets it);
//! without it it fails, never passes silently.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use agol_seat_broker::clock::{Clock, ManualTime};
use agol_seat_broker::config::Secret;
use agol_seat_broker::domain::UnixMillis;
use agol_seat_broker::entrypoints::http::admin::AdminSettings;
use agol_seat_broker::entrypoints::http::admin::throttle::SignInLimits;
use agol_seat_broker::intake::signature::SigningKey;
use agol_seat_broker::policy::Rules;
use agol_seat_broker::portal::fake::FakePortal;
use agol_seat_broker::seats::dynamo::{DynamoLedger, client_for_endpoint, create_table};
use agol_seat_broker::seats::faulty::{FaultyLedger, StoreOp, Strike};
use agol_seat_broker::seats::memory::MemoryLedger;
use agol_seat_broker::seats::sqlite::SqliteLedger;
use agol_seat_broker::seats::{SeatLedger, SignInCounts, SignInThrottle};
use agol_seat_broker::startup::{self, AppParts};
use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{HeaderMap, Request, StatusCode, header};
use http_body_util::BodyExt;
use tower::ServiceExt;

const ADMIN_SECRET: &str = "admin-secret-for-the-throttle-tests";
const WEBHOOK_SECRET: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
const RULES: &str = r#"
    [[pools]]
    name = "acme"
    seats = 10
    role = "viewer"
    user_type = "viewerUT"
    groups = ["Partners"]
    [pools.match]
    email_domains = ["acme.org"]
"#;

/// 2100-01-01T00:00:00Z, the start of a 15-minute window.
const T0: UnixMillis = 4_102_444_800_000;
const MINUTE: i64 = 60_000;

/// Limits small enough to reach: 3 per address, 5 in all, 15 minutes.
fn limits() -> SignInLimits {
    SignInLimits {
        per_address: 3,
        global: 5,
        window: Duration::from_secs(15 * 60),
    }
}

/// A complete broker over `ledger` with the administrator's page on, as
/// one process builds it (its own `AdminSettings`, so its own per-process
/// gate), reading `clock`.
async fn broker<L: SeatLedger>(ledger: Arc<L>, clock: Clock) -> Router {
    let mut admin = AdminSettings::new(Secret::new(ADMIN_SECRET), None, true).unwrap();
    admin.failure_delay = Duration::ZERO;
    admin.sign_in_limits = limits();
    let parts = AppParts {
        admin: Some(admin),
        clock,
        ..AppParts::new(
            Rules::from_toml(RULES).unwrap(),
            vec![SigningKey::parse(WEBHOOK_SECRET).unwrap()],
        )
    };
    startup::app(
        ledger,
        Arc::new(FakePortal::new("org1", &["Partners"])),
        parts,
    )
    .await
    .expect("app builds")
    .router
}

/// Where a request comes from, and how the server hands it over.
#[derive(Clone, Copy)]
enum Via {
    /// The local server: the socket's peer address.
    Peer(&'static str),
    /// Lambda behind API Gateway: the request context's `sourceIp`, and an
    /// `X-Forwarded-For` the client wrote (never trusted).
    ApiGateway {
        source_ip: &'static str,
        forwarded_for: &'static str,
    },
}

/// What a response came to.
struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: String,
}

impl Answer {
    /// `name=value` of the `Set-Cookie` for `name`.
    fn cookie(&self, name: &str) -> Option<String> {
        self.headers
            .get_all(header::SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find(|v| v.starts_with(&format!("{name}=")))
            .and_then(|v| v.split(';').next())
            .map(str::to_string)
    }

    /// The stable code of the sign-in page's alert.
    fn code(&self) -> Option<&str> {
        let start = self.body.find("data-code=\"")? + 11;
        let len = self.body[start..].find('"')?;
        Some(&self.body[start..start + len])
    }

    fn retry_after(&self) -> Option<u64> {
        self.headers
            .get(header::RETRY_AFTER)?
            .to_str()
            .ok()?
            .parse()
            .ok()
    }

    /// A session was made: 303 to the page with the session cookie.
    fn signed_in(&self) -> bool {
        self.status == StatusCode::SEE_OTHER
            && self
                .cookie("asb_admin")
                .is_some_and(|c| c.len() > "asb_admin=".len())
    }
}

/// One request through `router`, handed over as `via` says.
async fn call(
    router: &Router,
    via: Via,
    method: &str,
    path: &str,
    cookie: Option<&str>,
    form: Option<&str>,
) -> Answer {
    let req = match via {
        Via::Peer(ip) => {
            let mut builder = Request::builder().method(method).uri(path);
            if let Some(c) = cookie {
                builder = builder.header(header::COOKIE, c);
            }
            if form.is_some() {
                builder = builder.header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
            }
            let mut req = builder
                .body(Body::from(form.unwrap_or("").to_string()))
                .unwrap();
            let peer = SocketAddr::new(ip.parse().unwrap(), 40_000);
            req.extensions_mut().insert(ConnectInfo(peer));
            req
        }
        Via::ApiGateway {
            source_ip,
            forwarded_for,
        } => {
            let event = apigw_event(method, path, cookie, form, source_ip, forwarded_for);
            let req = lambda_http::request::from_str(&event).expect("a valid API Gateway v2 event");
            let (parts, body) = req.into_parts();
            Request::from_parts(parts, Body::from(body.as_ref().to_vec()))
        }
    };
    let res = router.clone().oneshot(req).await.expect("infallible");
    let status = res.status();
    let headers = res.headers().clone();
    let bytes = res.into_body().collect().await.unwrap().to_bytes();
    Answer {
        status,
        headers,
        body: String::from_utf8_lossy(&bytes).into_owned(),
    }
}

/// An API Gateway v2 event, as Lambda delivers it.
fn apigw_event(
    method: &str,
    path: &str,
    cookie: Option<&str>,
    form: Option<&str>,
    source_ip: &str,
    forwarded_for: &str,
) -> String {
    use base64::Engine as _;
    let mut headers = serde_json::json!({
        "host": "abc123xyz.execute-api.eu-west-1.amazonaws.com",
        "x-forwarded-for": format!("{forwarded_for}, {source_ip}"),
    });
    if form.is_some() {
        headers["content-type"] = "application/x-www-form-urlencoded".into();
    }
    serde_json::json!({
        "version": "2.0",
        "routeKey": format!("{method} {path}"),
        "rawPath": path,
        "rawQueryString": "",
        "cookies": cookie.into_iter().collect::<Vec<_>>(),
        "headers": headers,
        "requestContext": {
            "accountId": "123456789012", "apiId": "abc123xyz",
            "domainName": "abc123xyz.execute-api.eu-west-1.amazonaws.com", "domainPrefix": "abc123xyz",
            "http": {"method": method, "path": path, "protocol": "HTTP/1.1",
                     "sourceIp": source_ip, "userAgent": "Mozilla/5.0"},
            "requestId": "req-admin", "routeKey": format!("{method} {path}"), "stage": "$default",
            "time": "02/Mar/2026:09:30:00 +0000", "timeEpoch": 1772443800000i64
        },
        "body": form.map(|f| base64::engine::general_purpose::STANDARD.encode(f)),
        "isBase64Encoded": form.is_some(),
    })
    .to_string()
}

/// A sign-in from `via` with `secret`: the form (its cookie and token),
/// then the POST.
async fn sign_in(router: &Router, via: Via, secret: &str) -> Answer {
    let form_page = call(router, via, "GET", "/admin/login", None, None).await;
    assert_eq!(form_page.status, StatusCode::OK);
    let cookie = form_page.cookie("asb_admin_login").expect("a login cookie");
    let start = form_page
        .body
        .find("name=\"csrf\" value=\"")
        .expect("a token")
        + 19;
    let token = &form_page.body[start..start + form_page.body[start..].find('"').unwrap()];
    let form: String = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("name", "ana")
        .append_pair("secret", secret)
        .append_pair("csrf", token)
        .finish();
    call(
        router,
        via,
        "POST",
        "/admin/login",
        Some(&cookie),
        Some(&form),
    )
    .await
}

/// A wrong guess: refused 401 after the secret was compared.
async fn wrong(router: &Router, via: Via) {
    let a = sign_in(router, via, "not-the-admin-secret-at-all").await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED, "{}", a.body);
    assert_eq!(a.code(), Some("wrong_secret"));
    assert!(!a.signed_in());
}

/// Refused 429 without the secret being compared, with `Retry-After`.
fn assert_throttled(a: &Answer, retry_after: u64) {
    assert_eq!(a.status, StatusCode::TOO_MANY_REQUESTS, "{}", a.body);
    assert_eq!(a.code(), Some("sign_in_throttled"));
    assert_eq!(a.retry_after(), Some(retry_after));
    assert!(a.cookie("asb_admin").is_none(), "no session");
}

/// The scenario every shared store must pass: 3 wrong guesses from one
/// address spread over both instances lock that address out of both, even
/// with the right secret; another address still signs in, until the
/// guesses of all addresses reach 5.
async fn two_instances_share_the_counts(
    one: &Router,
    two: &Router,
    clock: &ManualTime,
    [a, b, c, d]: [Via; 4],
) {
    clock.set(T0 + 5 * MINUTE);
    wrong(one, a).await;
    wrong(two, a).await;
    wrong(one, a).await;
    // Ten minutes to the window's end.
    assert_throttled(&sign_in(one, a, ADMIN_SECRET).await, 600);
    assert_throttled(&sign_in(two, a, ADMIN_SECRET).await, 600);

    // Another address still signs in, on either instance; its right
    // secret is no guess and leaves the count as it was.
    assert!(sign_in(two, b, ADMIN_SECRET).await.signed_in());
    assert!(sign_in(one, b, ADMIN_SECRET).await.signed_in());

    // Two more wrong guesses from a third address: 5 in all.
    wrong(two, c).await;
    wrong(one, c).await;
    for (router, via) in [(one, b), (two, b), (one, d), (two, c)] {
        assert_throttled(&sign_in(router, via, ADMIN_SECRET).await, 600);
    }
}

#[tokio::test]
async fn guesses_spread_over_two_local_servers_on_one_sqlite_file_lock_that_address_out_of_both() {
    let dir = std::env::temp_dir().join(format!(
        "agol-admin-throttle-{}-{}",
        std::process::id(),
        agol_seat_broker::clock::now_millis()
    ));
    let path = dir.join("ledger.db");
    // Two processes' worth: two connections to one file, two apps.
    let first = Arc::new(SqliteLedger::open(&path).unwrap());
    let second = Arc::new(SqliteLedger::open(&path).unwrap());
    let (clock, time) = Clock::manual(T0);
    let one = broker(first.clone(), clock.clone()).await;
    let two = broker(second.clone(), clock).await;

    two_instances_share_the_counts(
        &one,
        &two,
        &time,
        [
            Via::Peer("192.0.2.1"),
            Via::Peer("192.0.2.2"),
            Via::Peer("192.0.2.3"),
            Via::Peer("2001:db8::4"),
        ],
    )
    .await;
    // What the file holds: 3 wrong guesses of the first address, 5 in
    // all; nothing for the refused attempts or the right secrets.
    assert_eq!(
        first.sign_in_counts(T0, "192.0.2.1").await.unwrap(),
        SignInCounts {
            address: 3,
            global: 5
        }
    );
    assert_eq!(
        second.sign_in_counts(T0, "192.0.2.2").await.unwrap(),
        SignInCounts {
            address: 0,
            global: 5
        }
    );
    drop((one, two, first, second));
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn guesses_spread_over_two_lambda_instances_on_one_dynamodb_table_lock_that_address_out_of_both()
 {
    let endpoint = std::env::var("DYNAMODB_ENDPOINT").unwrap_or_default();
    assert!(
        !endpoint.is_empty(),
        "DYNAMODB_ENDPOINT is not set: run scripts/test.sh, or start DynamoDB Local \
         (scripts/dynamodb-local.sh start) and export DYNAMODB_ENDPOINT"
    );
    let table = format!(
        "admin-throttle-{}-{}",
        std::process::id(),
        agol_seat_broker::clock::now_millis()
    );
    let client = client_for_endpoint(Some(&endpoint)).await;
    create_table(&client, &table).await.expect("table created");
    // Two Lambda instances: two clients, two ledgers, one table.
    let first = Arc::new(DynamoLedger::new(
        client_for_endpoint(Some(&endpoint)).await,
        &table,
    ));
    let second = Arc::new(DynamoLedger::new(
        client_for_endpoint(Some(&endpoint)).await,
        &table,
    ));
    let (clock, time) = Clock::manual(T0);
    let one = broker(first.clone(), clock.clone()).await;
    let two = broker(second.clone(), clock).await;

    // Every request forges another X-Forwarded-For: the count follows the
    // address API Gateway saw.
    let gw = |source_ip, forwarded_for| Via::ApiGateway {
        source_ip,
        forwarded_for,
    };
    two_instances_share_the_counts(
        &one,
        &two,
        &time,
        [
            gw("198.51.100.1", "203.0.113.1"),
            gw("198.51.100.2", "203.0.113.2"),
            gw("198.51.100.3", "203.0.113.3"),
            gw("2001:db8::4", "203.0.113.4"),
        ],
    )
    .await;
    assert_eq!(
        second.sign_in_counts(T0, "198.51.100.1").await.unwrap(),
        SignInCounts {
            address: 3,
            global: 5
        }
    );
    assert_eq!(
        first.sign_in_counts(T0, "203.0.113.1").await.unwrap(),
        SignInCounts {
            address: 0,
            global: 5
        },
        "the forged first hop counts nothing"
    );
    let _ = client.delete_table().table_name(&table).send().await;
}

#[tokio::test]
async fn once_the_window_has_ended_the_locked_out_address_signs_in_again() {
    let ledger = Arc::new(MemoryLedger::new());
    let (clock, time) = Clock::manual(T0 + 5 * MINUTE);
    let app = broker(ledger.clone(), clock).await;
    let a = Via::Peer("192.0.2.1");
    for _ in 0..3 {
        wrong(&app, a).await;
    }
    assert_throttled(&sign_in(&app, a, ADMIN_SECRET).await, 600);
    // A second before the window ends: still refused, and told so.
    time.set(T0 + 15 * MINUTE - 1_000);
    assert_throttled(&sign_in(&app, a, ADMIN_SECRET).await, 1);
    // The next window: the right secret signs in, a wrong one is compared.
    time.set(T0 + 15 * MINUTE);
    assert!(sign_in(&app, a, ADMIN_SECRET).await.signed_in());
    wrong(&app, a).await;
    assert_eq!(
        ledger
            .sign_in_counts(T0 + 15 * MINUTE, "192.0.2.1")
            .await
            .unwrap(),
        SignInCounts {
            address: 1,
            global: 1
        }
    );
}

#[tokio::test]
async fn a_store_that_cannot_count_the_attempt_answers_503_and_opens_no_session() {
    let ledger = Arc::new(FaultyLedger::new(Arc::new(MemoryLedger::new())));
    let (clock, _time) = Clock::manual(T0);
    let app = broker(ledger.clone(), clock).await;
    let a = Via::Peer("192.0.2.1");
    // Refused by the store, or written and its answer lost: either way the
    // secret (the right one here) is not compared and nobody signs in.
    for strike in [Strike::Before, Strike::After] {
        ledger.fail(StoreOp::SignIn, strike, 1);
        let answer = sign_in(&app, a, ADMIN_SECRET).await;
        assert_eq!(
            answer.status,
            StatusCode::SERVICE_UNAVAILABLE,
            "{}",
            answer.body
        );
        assert_eq!(answer.code(), Some("sign_in_unavailable"));
        assert!(answer.retry_after().is_some());
        assert!(answer.cookie("asb_admin").is_none(), "no session");
    }
    // The store back: the right secret signs in.
    assert!(sign_in(&app, a, ADMIN_SECRET).await.signed_in());
}
