//! The administrator's page over real HTTP: sign-in, the session cookie,
//! CSRF tokens, the headers of every page, and escaping; the member list's
//! actions (extend, reclaim now) behind the same checks.

use std::time::{Duration, Instant};

use agol_seat_broker::config::Secret;
use agol_seat_broker::domain::date::Day;
use agol_seat_broker::domain::{ClaimKey, PoolId, RequestState};
use agol_seat_broker::entrypoints::http::admin::AdminSettings;
use agol_seat_broker::seats::{AuditLog, ClaimState, ClaimStore, RequestStore};
use reqwest::header::{HeaderMap, LOCATION, SET_COOKIE};

use crate::helpers::{Options, TestApp, spawn_app};

const ADMIN_SECRET: &str = "admin-secret-for-the-api-tests";
const FAILURE_DELAY: Duration = Duration::from_millis(300);

/// Rules with one pool that needs an approver.
const RULES: &str = r#"
    [[pools]]
    name = "acme"
    seats = 10
    role = "viewer"
    user_type = "viewerUT"
    groups = ["Partners"]
    approval = "manual"
    [pools.match]
    email_domains = ["acme.org"]
"#;

fn admin_settings() -> AdminSettings {
    let mut a = AdminSettings::new(Secret::new(ADMIN_SECRET), None, true).unwrap();
    a.failure_delay = FAILURE_DELAY;
    a
}

async fn app_with_admin() -> TestApp {
    spawn_app(Options {
        rules: RULES,
        admin: Some(admin_settings()),
        ..Options::default()
    })
    .await
}

/// A client that shows redirects instead of following them and keeps no
/// cookies of its own: each test says which cookie it sends.
fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// `name=value` of the `Set-Cookie` for `name`, and the whole header.
fn set_cookie(headers: &HeaderMap, name: &str) -> Option<(String, String)> {
    headers
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with(&format!("{name}=")))
        .map(|v| (v.split(';').next().unwrap().to_string(), v.to_string()))
}

/// The first form's CSRF token in a page.
fn csrf_of(html: &str) -> String {
    let start = html
        .find("name=\"csrf\" value=\"")
        .expect("a form with a token")
        + 19;
    html[start..start + html[start..].find('"').unwrap()].to_string()
}

/// The login form: its nonce cookie and token.
async fn login_form(app: &TestApp) -> (String, String) {
    let res = client()
        .get(format!("{}/admin/login", app.url))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let (cookie, _) = set_cookie(res.headers(), "asb_admin_login").expect("a login cookie");
    (cookie, csrf_of(&res.text().await.unwrap()))
}

async fn post_login(app: &TestApp, cookie: &str, form: &[(&str, &str)]) -> reqwest::Response {
    client()
        .post(format!("{}/admin/login", app.url))
        .header("cookie", cookie)
        .form(form)
        .send()
        .await
        .unwrap()
}

/// A signed-in administrator: the session cookie and the page's token.
struct Admin {
    url: String,
    cookie: String,
    csrf: String,
}

impl Admin {
    async fn sign_in(app: &TestApp, name: &str) -> Admin {
        let (login_cookie, token) = login_form(app).await;
        let res = post_login(
            app,
            &login_cookie,
            &[("name", name), ("secret", ADMIN_SECRET), ("csrf", &token)],
        )
        .await;
        assert_eq!(res.status(), 303);
        assert_eq!(res.headers()[LOCATION], "/admin");
        let (cookie, _) = set_cookie(res.headers(), "asb_admin").expect("a session cookie");
        let mut admin = Admin {
            url: app.url.clone(),
            cookie,
            csrf: String::new(),
        };
        admin.csrf = csrf_of(&admin.page().await);
        admin
    }

    async fn get(&self, path: &str) -> reqwest::Response {
        client()
            .get(format!("{}{path}", self.url))
            .header("cookie", &self.cookie)
            .send()
            .await
            .unwrap()
    }

    async fn page(&self) -> String {
        let res = self.get("/admin").await;
        assert_eq!(res.status(), 200);
        res.text().await.unwrap()
    }

    async fn post(&self, path: &str, form: &[(&str, &str)]) -> reqwest::Response {
        client()
            .post(format!("{}{path}", self.url))
            .header("cookie", &self.cookie)
            .form(form)
            .send()
            .await
            .unwrap()
    }

    async fn decide(&self, id: &str, form: &[(&str, &str)]) -> reqwest::Response {
        client()
            .post(format!("{}/admin/requests/{id}/decide", self.url))
            .header("cookie", &self.cookie)
            .form(form)
            .send()
            .await
            .unwrap()
    }
}

/// Sends a sign-up to the approval pool and returns its pending request.
async fn pending_request(app: &TestApp, delivery: &str, body: serde_json::Value) -> String {
    let res = app.post_signup(delivery, &body).await;
    assert_eq!(
        res.status(),
        202,
        "{}",
        res.text().await.unwrap_or_default()
    );
    let email = body["email"].as_str().unwrap().to_lowercase();
    let pending = app
        .ledger
        .requests(&PoolId::parse("acme").unwrap(), RequestState::Pending)
        .await
        .unwrap();
    pending
        .into_iter()
        .find(|r| r.key.person == email)
        .expect("a pending request")
        .id
}

async fn state_of(app: &TestApp, id: &str) -> RequestState {
    app.ledger.request(id).await.unwrap().unwrap().state
}

fn assert_hardened(res: &reqwest::Response) {
    let h = res.headers();
    assert_eq!(h["cache-control"], "no-store", "{}", res.url());
    assert_eq!(h["referrer-policy"], "no-referrer");
    assert_eq!(h["x-frame-options"], "DENY");
    assert_eq!(h["x-content-type-options"], "nosniff");
    let csp = h["content-security-policy"].to_str().unwrap();
    assert!(csp.starts_with("default-src 'none'"), "{csp}");
    assert!(csp.contains("frame-ancestors 'none'") && csp.contains("form-action 'self'"));
    assert!(
        !csp.contains("script-src") && !csp.contains("unsafe-inline"),
        "{csp}"
    );
}

#[tokio::test]
async fn without_an_admin_secret_the_page_does_not_exist() {
    let app = spawn_app(Options::default()).await;
    for path in ["/admin", "/admin/login", "/admin/pools/acme"] {
        let res = client()
            .get(format!("{}{path}", app.url))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 404, "{path}");
    }
    let res = post_login(&app, "", &[("name", "ana"), ("secret", "x")]).await;
    assert_eq!(res.status(), 404);
}

#[tokio::test]
async fn without_a_session_pages_redirect_to_sign_in_and_posts_change_nothing() {
    let app = app_with_admin().await;
    let id = pending_request(&app, "msg_a1", json_signup("ana@acme.org", "Ana")).await;

    let page = client()
        .get(format!("{}/admin", app.url))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 303);
    assert_eq!(page.headers()[LOCATION], "/admin/login");
    assert_hardened(&page);

    // A POST without a cookie, and with a cookie signed by another key.
    let forged = "asb_admin=ana|99999999999|00112233445566778899aabbccddeeff|AAAA";
    for cookie in ["", forged] {
        let res = client()
            .post(format!("{}/admin/requests/{id}/decide", app.url))
            .header("cookie", cookie)
            .form(&[("verdict", "approve"), ("csrf", "anything")])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 401, "cookie {cookie:?}");
        assert_hardened(&res);
    }
    let res = client()
        .post(format!("{}/admin/logout", app.url))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    assert_eq!(state_of(&app, &id).await, RequestState::Pending);
    assert_eq!(app.used("acme").await, 1, "only the pending request's hold");
    assert!(app.sim.members().is_empty());
}

#[tokio::test]
async fn a_wrong_secret_is_refused_late_and_opens_no_session() {
    let app = app_with_admin().await;
    let (cookie, token) = login_form(&app).await;

    let started = Instant::now();
    let res = post_login(
        &app,
        &cookie,
        &[
            ("name", "ana"),
            ("secret", "guess-guess-guess"),
            ("csrf", &token),
        ],
    )
    .await;
    assert!(
        started.elapsed() >= FAILURE_DELAY,
        "a wrong secret costs time"
    );
    assert_eq!(res.status(), 401);
    assert_hardened(&res);
    assert!(set_cookie(res.headers(), "asb_admin").is_none());
    let html = res.text().await.unwrap();
    assert!(html.contains("Wrong administrator secret."));

    // The right secret without the form's token (or with another form's).
    let (_, other_token) = login_form(&app).await;
    for form_token in ["", other_token.as_str()] {
        let res = post_login(
            &app,
            &cookie,
            &[
                ("name", "ana"),
                ("secret", ADMIN_SECRET),
                ("csrf", form_token),
            ],
        )
        .await;
        assert_eq!(res.status(), 403);
        assert!(set_cookie(res.headers(), "asb_admin").is_none());
    }
    // A name that cannot be recorded.
    let res = post_login(
        &app,
        &cookie,
        &[
            ("name", "<b>x</b>"),
            ("secret", ADMIN_SECRET),
            ("csrf", &token),
        ],
    )
    .await;
    assert_eq!(res.status(), 400);
    assert!(set_cookie(res.headers(), "asb_admin").is_none());
}

#[tokio::test]
async fn the_session_cookie_is_signed_http_only_secure_and_strict() {
    let app = app_with_admin().await;
    let (cookie, token) = login_form(&app).await;
    let res = post_login(
        &app,
        &cookie,
        &[("name", "ana"), ("secret", ADMIN_SECRET), ("csrf", &token)],
    )
    .await;
    assert_eq!(res.status(), 303);
    assert_hardened(&res);
    let (value, header) = set_cookie(res.headers(), "asb_admin").unwrap();
    let flags: Vec<&str> = header.split(';').map(str::trim).skip(1).collect();
    for flag in [
        "Path=/admin",
        "Max-Age=28800",
        "HttpOnly",
        "SameSite=Strict",
        "Secure",
    ] {
        assert!(flags.contains(&flag), "{flag} missing from {header}");
    }
    // The login form's cookie is cleared.
    let (_, login) = set_cookie(res.headers(), "asb_admin_login").unwrap();
    assert!(login.contains("Max-Age=0"), "{login}");

    // The cookie opens the page; changed by one character, it does not.
    let ok = client()
        .get(format!("{}/admin", app.url))
        .header("cookie", &value)
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    let tampered = value.replacen("asb_admin=ana", "asb_admin=bob", 1);
    let res = client()
        .get(format!("{}/admin", app.url))
        .header("cookie", &tampered)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
}

#[tokio::test]
async fn every_admin_page_is_kept_out_of_caches_and_frames() {
    let app = app_with_admin().await;
    let admin = Admin::sign_in(&app, "ana").await;
    let login = client()
        .get(format!("{}/admin/login", app.url))
        .send()
        .await
        .unwrap();
    assert_hardened(&login);
    let page = admin.get("/admin").await;
    assert_eq!(page.status(), 200);
    assert_eq!(page.headers()["content-type"], "text/html; charset=utf-8");
    assert_hardened(&page);
    let html = page.text().await.unwrap();
    assert!(html.contains("name=\"viewport\""));
    assert!(!html.contains("<script"), "no JavaScript");
    // Signed in, the login form sends back to the page.
    let res = admin.get("/admin/login").await;
    assert_eq!(res.status(), 303);
    assert_eq!(res.headers()[LOCATION], "/admin");
}

#[tokio::test]
async fn a_decision_needs_the_sessions_own_csrf_token() {
    let app = app_with_admin().await;
    let id = pending_request(&app, "msg_c1", json_signup("ana@acme.org", "Ana")).await;
    let admin = Admin::sign_in(&app, "bo").await;
    let other = Admin::sign_in(&app, "bo").await;
    assert_ne!(admin.csrf, other.csrf, "tokens are per session");

    for (what, form) in [
        ("no token", vec![("verdict", "approve")]),
        ("empty token", vec![("verdict", "approve"), ("csrf", "")]),
        (
            "another session's token",
            vec![("verdict", "approve"), ("csrf", other.csrf.as_str())],
        ),
        (
            "a token that is not one",
            vec![("verdict", "approve"), ("csrf", "Zm9vYmFy")],
        ),
    ] {
        let res = admin.decide(&id, &form).await;
        assert_eq!(res.status(), 403, "{what}");
        assert_hardened(&res);
    }
    assert_eq!(state_of(&app, &id).await, RequestState::Pending);
    assert_eq!(app.used("acme").await, 1, "only the pending request's hold");
    assert!(app.sim.members().is_empty());

    // With its token, the same form decides once; a second click changes
    // nothing and says so.
    let res = admin
        .decide(
            &id,
            &[
                ("verdict", "approve"),
                ("csrf", &admin.csrf),
                ("comment", "welcome"),
            ],
        )
        .await;
    assert_eq!(res.status(), 303);
    assert_eq!(res.headers()[LOCATION], "/admin?done=approved");
    assert_eq!(state_of(&app, &id).await, RequestState::Approved);
    let request = app.ledger.request(&id).await.unwrap().unwrap();
    assert_eq!(request.decided_by.as_deref(), Some("admin:bo"));
    assert_eq!(request.reason.as_deref(), Some("welcome"));
    let members = app.sim.members();
    assert_eq!(members.len(), 1, "the member is created on approval");
    assert_eq!(members[0].email, "ana@acme.org");
    assert_eq!(app.active_claims("acme").await, 1);
    let again = admin
        .decide(&id, &[("verdict", "deny"), ("csrf", &admin.csrf)])
        .await;
    assert_eq!(again.status(), 303);
    assert_eq!(
        again.headers()[LOCATION],
        "/admin?done=already_decided&state=APPROVED"
    );
    assert_eq!(state_of(&app, &id).await, RequestState::Approved);
    let page = admin
        .get("/admin?done=already_decided&state=APPROVED")
        .await;
    assert!(
        page.text()
            .await
            .unwrap()
            .contains("this request was already APPROVED")
    );
}

#[tokio::test]
async fn an_unknown_verdict_or_request_changes_nothing() {
    let app = app_with_admin().await;
    let id = pending_request(&app, "msg_v1", json_signup("ana@acme.org", "Ana")).await;
    let admin = Admin::sign_in(&app, "bo").await;
    let res = admin
        .decide(&id, &[("verdict", "maybe"), ("csrf", &admin.csrf)])
        .await;
    assert_eq!(res.status(), 400);
    assert_eq!(state_of(&app, &id).await, RequestState::Pending);
    let res = admin
        .decide("no-such-id", &[("verdict", "deny"), ("csrf", &admin.csrf)])
        .await;
    assert_eq!(res.status(), 303);
    assert_eq!(res.headers()[LOCATION], "/admin?done=not_found");
}

#[tokio::test]
async fn signing_out_clears_the_cookie_and_needs_the_token() {
    let app = app_with_admin().await;
    let admin = Admin::sign_in(&app, "ana").await;
    let res = client()
        .post(format!("{}/admin/logout", app.url))
        .header("cookie", &admin.cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403, "no token");
    let res = client()
        .post(format!("{}/admin/logout", app.url))
        .header("cookie", &admin.cookie)
        .form(&[("csrf", &admin.csrf)])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    assert_eq!(res.headers()[LOCATION], "/admin/login");
    let (value, header) = set_cookie(res.headers(), "asb_admin").unwrap();
    assert_eq!(value, "asb_admin=");
    assert!(header.contains("Max-Age=0"));
}

#[tokio::test]
async fn hostile_applicant_data_is_shown_escaped() {
    let app = app_with_admin().await;
    let hostile = "<script>alert(1)</script>";
    let id = pending_request(
        &app,
        "msg_h1",
        serde_json::json!({
            "email": "eve@acme.org",
            "first_name": hostile,
            "last_name": "\"><img src=x onerror=alert(2)>",
            "organization": "O'Brien & <Co>",
        }),
    )
    .await;
    let admin = Admin::sign_in(&app, "ana").await;
    let html = admin.page().await;

    assert!(
        html.contains(&format!("id=\"req-{id}\"")),
        "the request is listed"
    );
    assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert!(html.contains("&quot;&gt;&lt;img src=x onerror=alert(2)&gt;"));
    assert!(html.contains("O&#39;Brien &amp; &lt;Co&gt;"));
    assert!(!html.contains("<script>") && !html.contains("<img"));
    // The pool's counts.
    assert!(html.contains("<td class=\"num pending\">1</td>"), "{html}");
}

fn json_signup(email: &str, first: &str) -> serde_json::Value {
    serde_json::json!({"email": email, "first_name": first, "last_name": "Lopez", "organization": "Acme"})
}

/// A pool without approval and one seat, with a waitlist.
const WAITLIST_RULES: &str = r#"
    [[pools]]
    name = "acme"
    seats = 1
    role = "viewer"
    user_type = "viewerUT"
    groups = ["Partners"]
    waitlist = true
    [pools.match]
    email_domains = ["acme.org"]
"#;

#[tokio::test]
async fn the_waitlist_is_shown_in_queue_order_with_positions() {
    let app = spawn_app(Options {
        rules: WAITLIST_RULES,
        admin: Some(admin_settings()),
        ..Options::default()
    })
    .await;
    assert_eq!(
        app.post_signup("msg_w1", &json_signup("first@acme.org", "First"))
            .await
            .status(),
        201
    );
    for (id, email) in [("msg_w2", "second@acme.org"), ("msg_w3", "third@acme.org")] {
        let res = app.post_signup(id, &json_signup(email, "Next")).await;
        assert_eq!(res.status(), 202, "{email} waits");
    }
    let admin = Admin::sign_in(&app, "ana").await;
    let html = admin.page().await;

    let waitlist = &html[html.find("id=\"waitlist\"").unwrap()..html.find("id=\"audit\"").unwrap()];
    let second = waitlist.find("second@acme.org").expect("second is listed");
    let third = waitlist.find("third@acme.org").expect("third is listed");
    assert!(second < third, "queue order");
    assert!(
        waitlist.contains("<td class=\"num\">1</td>")
            && waitlist.contains("<td class=\"num\">2</td>")
    );
    assert!(html.contains("<td class=\"num waitlisted\">2</td>"));
    assert!(html.contains("<td class=\"num free\">0</td>"));
    assert!(html.contains("No request waits for a decision."));
}

/// An API Gateway v2 event, as Lambda delivers it, for the admin routes.
fn apigw_event(method: &str, path: &str, cookies: &[&str], form: Option<&str>) -> String {
    use base64::Engine as _;
    let mut headers = serde_json::json!({"host": "abc123xyz.execute-api.eu-west-1.amazonaws.com"});
    if form.is_some() {
        headers["content-type"] = "application/x-www-form-urlencoded".into();
    }
    serde_json::json!({
        "version": "2.0",
        "routeKey": format!("{method} {path}"),
        "rawPath": path,
        "rawQueryString": "",
        "cookies": cookies,
        "headers": headers,
        "requestContext": {
            "accountId": "123456789012", "apiId": "abc123xyz",
            "domainName": "abc123xyz.execute-api.eu-west-1.amazonaws.com", "domainPrefix": "abc123xyz",
            "http": {"method": method, "path": path, "protocol": "HTTP/1.1",
                     "sourceIp": "198.51.100.7", "userAgent": "Mozilla/5.0"},
            "requestId": "req-admin", "routeKey": format!("{method} {path}"), "stage": "$default",
            "time": "02/Mar/2026:09:30:00 +0000", "timeEpoch": 1772443800000i64
        },
        "body": form.map(|f| base64::engine::general_purpose::STANDARD.encode(f)),
        "isBase64Encoded": form.is_some(),
    })
    .to_string()
}

#[tokio::test]
async fn the_session_cookie_works_through_api_gateway_events() {
    use http_body_util::BodyExt;
    use tower::ServiceExt;

    let app = app_with_admin().await;
    let id = pending_request(&app, "msg_l1", json_signup("ana@acme.org", "Ana")).await;
    let admin = Admin::sign_in(&app, "bo").await;
    let invoke = |event: String| {
        let state = app.state.clone();
        async move {
            let req = lambda_http::request::from_str(&event).expect("a valid API Gateway v2 event");
            let res = agol_seat_broker::entrypoints::http::router(state)
                .oneshot(req)
                .await
                .expect("infallible");
            let status = res.status().as_u16();
            let body = res.into_body().collect().await.unwrap().to_bytes();
            (status, String::from_utf8_lossy(&body).to_string())
        }
    };

    // API Gateway hands cookies over in their own list.
    let (status, html) = invoke(apigw_event(
        "GET",
        "/admin",
        &["theme=dark", &admin.cookie],
        None,
    ))
    .await;
    assert_eq!(status, 200);
    assert!(html.contains(&format!("id=\"req-{id}\"")));
    let (status, _) = invoke(apigw_event("GET", "/admin", &[], None)).await;
    assert_eq!(status, 303);

    // A decision needs the token there too; with it, it decides.
    let (status, _) = invoke(apigw_event(
        "POST",
        &format!("/admin/requests/{id}/decide"),
        &[&admin.cookie],
        Some("verdict=deny"),
    ))
    .await;
    assert_eq!(status, 403);
    assert_eq!(state_of(&app, &id).await, RequestState::Pending);
    let form = format!("verdict=deny&comment=not+a+partner&csrf={}", admin.csrf);
    let (status, _) = invoke(apigw_event(
        "POST",
        &format!("/admin/requests/{id}/decide"),
        &[&admin.cookie],
        Some(&form),
    ))
    .await;
    assert_eq!(status, 303);
    assert_eq!(state_of(&app, &id).await, RequestState::Denied);
    assert_eq!(app.used("acme").await, 0, "the hold is released");
}

/// A pool without approval whose seats end 180 days after activation.
const LIFECYCLE_RULES: &str = r#"
    [[pools]]
    name = "acme"
    seats = 10
    role = "viewer"
    user_type = "viewerUT"
    groups = ["Partners"]
    [pools.match]
    email_domains = ["acme.org"]
    [pools.lifecycle]
    expires_after_days = 180
    at_end = "delete"
"#;

async fn app_with_members(emails: &[&str]) -> TestApp {
    let app = spawn_app(Options {
        rules: LIFECYCLE_RULES,
        admin: Some(admin_settings()),
        ..Options::default()
    })
    .await;
    for (i, email) in emails.iter().enumerate() {
        let res = app
            .post_signup(&format!("msg_m{i}"), &json_signup(email, "Member"))
            .await;
        assert_eq!(res.status(), 201, "{email} gets a seat");
    }
    app
}

/// The UTC day of the app's clock plus `days`, as `yyyy-mm-dd`.
fn day_of(app: &TestApp, days: i64) -> String {
    let now = app.clock.load(std::sync::atomic::Ordering::SeqCst);
    chrono::DateTime::from_timestamp_millis(now + days * 86_400_000)
        .unwrap()
        .format("%Y-%m-%d")
        .to_string()
}

#[tokio::test]
async fn the_page_draws_each_pools_usage_sign_ups_and_when_it_fills() {
    let app = app_with_members(&["ana@acme.org", "bo@acme.org"]).await;
    let admin = Admin::sign_in(&app, "ana").await;
    let html = admin.page().await;

    // The usage bar, in the pool's row: 2 active of 10.
    let row = &html[html.find("id=\"pool-acme\"").unwrap()..];
    let row = &row[..row.find("</tr>").unwrap()];
    assert!(row.contains("<svg class=\"chart bar\""), "{row}");
    assert!(row.contains(
        "aria-label=\"Pool acme: 2 of 10 seats taken (20%): 2 active, 0 reserved, 0 requests pending, 8 free\""
    ));
    assert!(row.contains("<a href=\"/admin/pools/acme\">acme</a>"));
    // Two sign-ups in 14 days, 8 seats free: 8 × 14 / 2 = 56 days.
    assert!(row.contains(">full in ~56 days</span>"), "{row}");

    // Sign-ups per day: today's column holds both.
    let card = &html[html.find("id=\"signups-acme\"").unwrap()..];
    let card = &card[..card.find("</figure>").unwrap()];
    assert_eq!(card.matches("<g class=\"day\"").count(), 30);
    let today = day_of(&app, 0);
    assert!(
        card.contains(&format!(
            "data-day=\"{today}\" data-count=\"2\"><title>{today}: 2 sign-ups</title>"
        )),
        "{card}"
    );
    assert!(card.contains(&format!(
        "Full in ~56 days, around {}, at the recent rate (2 sign-ups in the last 14 days).",
        day_of(&app, 56)
    )));
    assert!(!html.contains("<script"), "still no JavaScript");
}

#[tokio::test]
async fn a_pool_page_lists_its_members_only_behind_the_session() {
    let app = app_with_members(&["o'brien@acme.org", "bo@acme.org"]).await;

    // Signed out: sent to the sign-in form, as every other page.
    let res = client()
        .get(format!("{}/admin/pools/acme", app.url))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    assert_eq!(res.headers()[LOCATION], "/admin/login");
    assert_hardened(&res);

    let admin = Admin::sign_in(&app, "ana").await;
    let res = admin.get("/admin/pools/acme").await;
    assert_eq!(res.status(), 200);
    assert_hardened(&res);
    let html = res.text().await.unwrap();
    assert!(!html.contains("<script"));
    assert!(
        html.contains("<svg class=\"chart bar\"") && html.contains("<svg class=\"chart signups\"")
    );
    assert!(html.contains("Seats end 180 days after activation (then: delete)."));

    // One row per seat, by person, escaped, with its actions.
    let members = &html[html.find("id=\"members\"").unwrap()..];
    assert!(members.contains("<h2>Members (2)</h2>"));
    let bo = members
        .find("id=\"member-bo%40acme.org\"")
        .expect("bo is listed");
    let ob = members
        .find("id=\"member-o%27brien%40acme.org\"")
        .expect("o'brien is listed");
    assert!(bo < ob, "by person");
    assert!(members.contains("<td>o&#39;brien@acme.org</td>"));
    assert!(!members.contains("o'brien"));
    let row = &members[bo..];
    let row = &row[..row.find("</tr>").unwrap()];
    assert!(row.contains("<td class=\"state\">active</td>"), "{row}");
    assert!(row.contains(&format!("<td class=\"activated\">{} ", day_of(&app, 0))));
    assert!(row.contains(&format!("<td class=\"ends\">{} ", day_of(&app, 180))));
    assert!(
        row.contains("in 179 days") || row.contains("in 180 days"),
        "{row}"
    );
    assert!(row.contains("<form class=\"extend\""), "{row}");
    // Last sign-ins are not read from the portal unless asked for.
    assert!(row.contains("title=\"not read\""), "{row}");
    assert!(members.contains("href=\"/admin/pools/acme?signins=1\""));

    // Asked for, they come from the organization's member list.
    let bo_user = app
        .sim
        .members()
        .into_iter()
        .find(|m| m.email == "bo@acme.org")
        .unwrap()
        .username;
    let signed_in_at = app.clock.load(std::sync::atomic::Ordering::SeqCst) - 3_600_000;
    assert!(app.sim.sign_in(&bo_user, signed_in_at));
    let html = admin
        .get("/admin/pools/acme?signins=1")
        .await
        .text()
        .await
        .unwrap();
    let members = &html[html.find("id=\"members\"").unwrap()..];
    assert!(members.contains("Last sign-ins as ArcGIS Online reported them"));
    let signed_in = chrono::DateTime::from_timestamp_millis(signed_in_at)
        .unwrap()
        .format("%Y-%m-%d %H:%M UTC")
        .to_string();
    let row = &members[members.find("id=\"member-bo%40acme.org\"").unwrap()..];
    let row = &row[..row.find("</tr>").unwrap()];
    assert!(
        row.contains(&format!("<td class=\"signin\">{signed_in}</td>")),
        "{row}"
    );
    let row = &members[members.find("id=\"member-o%27brien%40acme.org\"").unwrap()..];
    let row = &row[..row.find("</tr>").unwrap()];
    assert!(row.contains("<td class=\"signin\">never</td>"), "{row}");
}

#[tokio::test]
async fn an_unknown_pool_has_no_page() {
    let app = app_with_members(&[]).await;
    let admin = Admin::sign_in(&app, "ana").await;
    let res = admin.get("/admin/pools/%3Cb%3Enope").await;
    assert_eq!(res.status(), 404);
    assert_hardened(&res);
    let html = res.text().await.unwrap();
    assert!(html.contains("id=\"no-pool\""));
    assert!(html.contains("&lt;b&gt;nope") && !html.contains("<b>nope"));
    // A pool nobody holds a seat in says so.
    let html = admin.get("/admin/pools/acme").await.text().await.unwrap();
    assert!(html.contains("Nobody holds a seat in this pool."));
    assert!(html.contains("No sign-ups in the last 14 days: no projection."));
}

/// The claim key of `email` in pool `acme`.
fn acme(email: &str) -> ClaimKey {
    ClaimKey {
        pool: PoolId::parse("acme").unwrap(),
        person: email.to_string(),
    }
}

/// The path of an action on a member's seat in pool `acme`.
fn member_path(email: &str, action: &str) -> String {
    format!(
        "/admin/pools/acme/members/{}/{action}",
        email.replace('@', "%40").replace('\'', "%27")
    )
}

/// Audit events with `action`, as (actor, detail).
async fn audited(app: &TestApp, action: &str) -> Vec<(String, String)> {
    app.ledger
        .audit_since(0, 10_000)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.action == action)
        .map(|e| (e.actor, e.detail))
        .collect()
}

/// The row of `email` in a pool page's member list, if listed.
fn member_row<'a>(html: &'a str, email: &str) -> Option<&'a str> {
    let id = format!(
        "id=\"member-{}\"",
        email.replace('@', "%40").replace('\'', "%27")
    );
    let row = &html[html.find(&id)?..];
    Some(&row[..row.find("</tr>").unwrap()])
}

#[tokio::test]
async fn member_actions_need_a_session_and_the_sessions_token() {
    let app = app_with_members(&["ana@acme.org"]).await;
    let until = day_of(&app, 365);
    let extend = member_path("ana@acme.org", "extend");
    let reclaim = member_path("ana@acme.org", "reclaim");

    // Signed out: the POSTs are refused, the confirmation page sends to
    // the sign-in form.
    for path in [&extend, &reclaim] {
        let res = client()
            .post(format!("{}{path}", app.url))
            .form(&[("until", until.as_str()), ("csrf", "anything")])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 401, "{path}");
        assert_hardened(&res);
    }
    let res = client()
        .get(format!("{}{reclaim}", app.url))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    assert_eq!(res.headers()[LOCATION], "/admin/login");

    // Signed in, without the session's own token.
    let admin = Admin::sign_in(&app, "bo").await;
    let other = Admin::sign_in(&app, "bo").await;
    let items = app.item_count().await;
    for token in [None, Some(""), Some(other.csrf.as_str()), Some("Zm9vYmFy")] {
        let mut form = vec![("until", until.as_str())];
        if let Some(t) = token {
            form.push(("csrf", t));
        }
        for path in [&extend, &reclaim] {
            let res = admin.post(path, &form).await;
            assert_eq!(res.status(), 403, "{path} with {token:?}");
            assert_hardened(&res);
        }
    }
    assert_eq!(app.item_count().await, items, "nothing was written");
    let claim = app
        .ledger
        .claim(&acme("ana@acme.org"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(claim.state, ClaimState::Active);
    assert_eq!(claim.extended_until, None);
    assert_eq!(app.sim.members().len(), 1, "the member is still there");
    assert!(
        app.sim.notifications().is_empty(),
        "nobody was told anything"
    );
}

#[tokio::test]
async fn extending_a_seat_records_its_new_last_day_and_audits_it() {
    let app = app_with_members(&["o'brien@acme.org", "bo@acme.org"]).await;
    let admin = Admin::sign_in(&app, "ana").await;

    // Each active row has the form, with the session's token.
    let html = admin.get("/admin/pools/acme").await.text().await.unwrap();
    let row = member_row(&html, "o'brien@acme.org").unwrap();
    let extend = member_path("o'brien@acme.org", "extend");
    assert!(row.contains(&format!("action=\"{extend}\"")), "{row}");
    assert!(row.contains(&format!("name=\"csrf\" value=\"{}\"", admin.csrf)));
    // Suggested: 30 days past the current end (180 days after today).
    assert!(row.contains(&format!("name=\"until\" value=\"{}\"", day_of(&app, 210))));
    assert!(row.contains(&format!(
        "href=\"{}\"",
        member_path("o'brien@acme.org", "reclaim")
    )));

    let until = day_of(&app, 400);
    let res = admin
        .post(&extend, &[("until", until.as_str()), ("csrf", &admin.csrf)])
        .await;
    assert_eq!(res.status(), 303);
    let location = res.headers()[LOCATION].to_str().unwrap().to_string();
    assert_eq!(
        location,
        format!("/admin/pools/acme?done=extended&until={until}#member-o%27brien%40acme.org")
    );
    let claim = app
        .ledger
        .claim(&acme("o'brien@acme.org"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(claim.state, ClaimState::Active);
    assert_eq!(
        claim.extended_until,
        Some(Day::parse(&until).unwrap().end())
    );
    let events = audited(&app, "seat.extended").await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].0, "admin:ana");
    assert!(
        events[0].1.contains(&format!("extended until {until}")),
        "{:?}",
        events[0]
    );
    // The other seat is untouched.
    let bo = app
        .ledger
        .claim(&acme("bo@acme.org"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(bo.extended_until, None);

    // The page shows the message once and the new end.
    let html = admin
        .get(location.split('#').next().unwrap())
        .await
        .text()
        .await
        .unwrap();
    assert!(
        html.contains(&format!(
            "data-code=\"extended\">Extended: the seat&#39;s last day is now {until}; it ends at {} 00:00 UTC.</p>",
            day_of(&app, 401)
        )),
        "{html}"
    );
    let row = member_row(&html, "o'brien@acme.org").unwrap();
    assert!(
        row.contains(&format!("<td class=\"ends\">{} ", day_of(&app, 401))),
        "ends at the end of the new last day: {row}"
    );
}

#[tokio::test]
async fn a_bad_date_or_member_is_refused_and_writes_nothing() {
    let app = app_with_members(&["ana@acme.org"]).await;
    let admin = Admin::sign_in(&app, "bo").await;
    let items = app.item_count().await;
    let extend = member_path("ana@acme.org", "extend");

    for bad in ["2027-02-30", "", "tomorrow", "<b>1</b>", "2027-1-5"] {
        let res = admin
            .post(&extend, &[("until", bad), ("csrf", &admin.csrf)])
            .await;
        assert_eq!(res.status(), 400, "{bad:?}");
        assert_hardened(&res);
        let html = res.text().await.unwrap();
        assert!(html.contains("data-code=\"invalid_date\""), "{html}");
        assert!(!html.contains("<b>1"));
    }
    // A person that is not a claim's key (upper case, not an address,
    // markup), and a pool name that is not one.
    for path in [
        "/admin/pools/acme/members/ANA%40acme.org/extend",
        "/admin/pools/acme/members/ana/extend",
        "/admin/pools/acme/members/%22%3Cb%3E%22%40acme.org/reclaim",
        "/admin/pools/a%20b/members/ana%40acme.org/reclaim",
    ] {
        let res = admin
            .post(path, &[("until", &day_of(&app, 30)), ("csrf", &admin.csrf)])
            .await;
        assert_eq!(res.status(), 400, "{path}");
        let html = res.text().await.unwrap();
        assert!(html.contains("data-code=\"invalid_member\""), "{html}");
        assert!(!html.contains("<b>"));
    }
    assert_eq!(app.item_count().await, items, "nothing was written");

    // A real date in the past: the workflow refuses it, with its code.
    let res = admin
        .post(
            &extend,
            &[("until", &day_of(&app, -1)), ("csrf", &admin.csrf)],
        )
        .await;
    assert_eq!(res.status(), 303);
    let location = res.headers()[LOCATION].to_str().unwrap().to_string();
    assert_eq!(
        location,
        "/admin/pools/acme?done=refused&code=end_in_past#member-ana%40acme.org"
    );
    assert_eq!(app.item_count().await, items, "nothing was written");
    let html = admin
        .get(location.split('#').next().unwrap())
        .await
        .text()
        .await
        .unwrap();
    assert!(html.contains("data-code=\"end_in_past\""), "{html}");
    assert!(html.contains("(end_in_past)"));

    // Nobody by that name in the pool.
    let res = admin
        .post(
            &member_path("nobody@acme.org", "extend"),
            &[("until", &day_of(&app, 30)), ("csrf", &admin.csrf)],
        )
        .await;
    assert_eq!(res.status(), 303);
    assert!(
        res.headers()[LOCATION]
            .to_str()
            .unwrap()
            .contains("done=refused&code=seat_not_found")
    );
    let claim = app
        .ledger
        .claim(&acme("ana@acme.org"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(claim.extended_until, None);
}

#[tokio::test]
async fn reclaiming_a_seat_asks_first_then_ends_it_with_the_pools_action() {
    let app = app_with_members(&["ana@acme.org", "bo@acme.org"]).await;
    let admin = Admin::sign_in(&app, "carla").await;
    let reclaim = member_path("ana@acme.org", "reclaim");
    let ana = app
        .sim
        .members()
        .into_iter()
        .find(|m| m.email == "ana@acme.org")
        .unwrap();
    assert_eq!(app.used("acme").await, 2);

    // The confirmation page: who, and what the pool's action does; it
    // changes nothing.
    let items = app.item_count().await;
    let res = admin.get(&reclaim).await;
    assert_eq!(res.status(), 200);
    assert_hardened(&res);
    let html = res.text().await.unwrap();
    assert!(
        html.contains("Reclaim the seat of ana@acme.org now?"),
        "{html}"
    );
    assert!(html.contains(&ana.username));
    assert!(html.contains("then deleted"));
    assert!(html.contains(&format!("action=\"{reclaim}\"")));
    assert!(html.contains(&format!("name=\"csrf\" value=\"{}\"", admin.csrf)));
    assert!(!html.contains("<script"));
    assert_eq!(app.item_count().await, items);
    assert_eq!(app.sim.members().len(), 2);

    // Confirmed: told, deleted, the seat back in the pool.
    let res = admin.post(&reclaim, &[("csrf", &admin.csrf)]).await;
    assert_eq!(res.status(), 303);
    let location = res.headers()[LOCATION].to_str().unwrap().to_string();
    assert_eq!(
        location,
        "/admin/pools/acme?done=reclaimed&how=deleted&told=1&admitted=0#member-ana%40acme.org"
    );
    assert!(
        app.sim.member(&ana.username).is_none(),
        "deleted in the portal"
    );
    assert_eq!(app.sim.members().len(), 1, "bo stays");
    assert!(
        app.sim
            .notifications()
            .iter()
            .any(|n| n.username == ana.username && n.subject.contains("has ended")),
        "the member was told"
    );
    assert_eq!(app.used("acme").await, 1, "the seat is back");
    assert!(
        app.ledger
            .claim(&acme("ana@acme.org"))
            .await
            .unwrap()
            .is_none_or(|c| c.state != ClaimState::Active)
    );
    let events = audited(&app, "seat.deleted").await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].0, "admin:carla");

    let html = admin
        .get(location.split('#').next().unwrap())
        .await
        .text()
        .await
        .unwrap();
    assert!(html.contains(
        "Reclaimed: the member was deleted in ArcGIS Online and the seat given back to the pool."
    ));
    assert!(member_row(&html, "ana@acme.org").is_none(), "ana is gone");
    assert!(member_row(&html, "bo@acme.org").is_some());

    // Again (a second tab, a reload of the POST): nothing left to reclaim.
    let res = admin.post(&reclaim, &[("csrf", &admin.csrf)]).await;
    assert_eq!(res.status(), 303);
    assert!(
        res.headers()[LOCATION]
            .to_str()
            .unwrap()
            .contains("done=refused&code=seat_not_found")
    );
    let res = admin.get(&reclaim).await;
    assert_eq!(res.status(), 404);
    assert!(
        res.text()
            .await
            .unwrap()
            .contains("data-code=\"seat_not_found\"")
    );
    assert_eq!(app.sim.members().len(), 1);
}

/// One seat with a waitlist, ending 180 days after activation.
const WAITLIST_LIFECYCLE_RULES: &str = r#"
    [[pools]]
    name = "acme"
    seats = 1
    role = "viewer"
    user_type = "viewerUT"
    groups = ["Partners"]
    waitlist = true
    [pools.match]
    email_domains = ["acme.org"]
    [pools.lifecycle]
    expires_after_days = 180
    at_end = "delete"
"#;

#[tokio::test]
async fn a_reclaimed_seat_goes_to_the_first_person_waiting() {
    let app = spawn_app(Options {
        rules: WAITLIST_LIFECYCLE_RULES,
        admin: Some(admin_settings()),
        ..Options::default()
    })
    .await;
    let res = app
        .post_signup("msg_q1", &json_signup("first@acme.org", "First"))
        .await;
    assert_eq!(res.status(), 201);
    let res = app
        .post_signup("msg_q2", &json_signup("next@acme.org", "Next"))
        .await;
    assert_eq!(res.status(), 202, "waits for the seat");
    let admin = Admin::sign_in(&app, "ana").await;

    let res = admin
        .post(
            &member_path("first@acme.org", "reclaim"),
            &[("csrf", &admin.csrf)],
        )
        .await;
    assert_eq!(res.status(), 303);
    let location = res.headers()[LOCATION].to_str().unwrap().to_string();
    assert!(
        location.contains("done=reclaimed&how=deleted&told=1&admitted=1"),
        "{location}"
    );
    let html = admin
        .get(location.split('#').next().unwrap())
        .await
        .text()
        .await
        .unwrap();
    assert!(html.contains("1 waiting person was admitted."), "{html}");
    assert!(member_row(&html, "next@acme.org").is_some(), "{html}");
    assert_eq!(app.used("acme").await, 1);
}

#[tokio::test]
async fn a_pool_without_a_lifecycle_offers_nothing_to_extend_or_reclaim() {
    let app = spawn_app(Options {
        rules: WAITLIST_RULES,
        admin: Some(admin_settings()),
        ..Options::default()
    })
    .await;
    let res = app
        .post_signup("msg_n1", &json_signup("ana@acme.org", "Ana"))
        .await;
    assert_eq!(res.status(), 201);
    let admin = Admin::sign_in(&app, "bo").await;

    let html = admin.get("/admin/pools/acme").await.text().await.unwrap();
    let row = member_row(&html, "ana@acme.org").unwrap();
    assert!(
        row.contains("no lifecycle: extend and reclaim unavailable"),
        "{row}"
    );
    assert!(!row.contains("<form") && !row.contains("/reclaim"));

    let reclaim = member_path("ana@acme.org", "reclaim");
    let res = admin.get(&reclaim).await;
    assert_eq!(res.status(), 409);
    assert!(
        res.text()
            .await
            .unwrap()
            .contains("data-code=\"no_lifecycle\"")
    );
    let items = app.item_count().await;
    let res = admin.post(&reclaim, &[("csrf", &admin.csrf)]).await;
    assert_eq!(res.status(), 303);
    assert_eq!(
        res.headers()[LOCATION],
        "/admin/pools/acme?done=refused&code=no_lifecycle#member-ana%40acme.org"
    );
    assert_eq!(app.item_count().await, items, "nothing was written");
    assert_eq!(app.sim.members().len(), 1);
    assert_eq!(app.used("acme").await, 1);
}
