//! `GET /status`: seat counts and holders, behind a bearer token.

use serde_json::Value;

use crate::helpers::{Options, STATUS_TOKEN, signup, spawn_app};

#[tokio::test]
async fn status_reports_seats_and_holders_to_a_token_holder_only() {
    let app = spawn_app(Options::default()).await;
    assert_eq!(
        app.post_signup("msg_s1", &signup("ana@acme.org"))
            .await
            .status(),
        201
    );
    assert_eq!(
        app.post_signup("msg_s2", &signup("bo@acme.org"))
            .await
            .status(),
        201
    );
    let url = format!("{}/status", app.url);
    // The city pool (creatorUT) promises 5 seats; the organization has 3.
    app.sim.set_purchased("creatorUT", 3);

    let anonymous = app.http.get(&url).send().await.unwrap();
    let wrong = app
        .http
        .get(&url)
        .bearer_auth("guess")
        .send()
        .await
        .unwrap();
    let res = app
        .http
        .get(&url)
        .bearer_auth(STATUS_TOKEN)
        .send()
        .await
        .unwrap();

    assert_eq!(anonymous.status(), 401);
    assert_eq!(wrong.status(), 401);
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["cache-control"], "no-store");
    let v: Value = res.json().await.unwrap();
    let acme = &v["pools"][0];
    assert_eq!(acme["pool"], "acme");
    assert_eq!(
        (
            acme["seats"].as_u64(),
            acme["used"].as_u64(),
            acme["free"].as_u64()
        ),
        (Some(150), Some(2), Some(148))
    );
    assert_eq!(acme["reserved"], 0);
    let holders: Vec<&str> = acme["holders"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["username"].as_str().unwrap())
        .collect();
    assert_eq!(holders, vec!["ana_acme", "bo_acme"]);
    assert_eq!(v["pools"][1]["pool"], "city");
    assert_eq!(v["pools"][1]["used"], 0);

    // Licences against what the pools promise: the two acme members are
    // the broker's, so viewerUT is fine; creatorUT is over-promised.
    let licenses = &v["licenses"];
    assert!(licenses["checked_at"].is_i64(), "{licenses}");
    assert_eq!(licenses["types"][0]["user_type"], "viewerUT");
    assert_eq!(licenses["types"][0]["broker_held"], 2);
    assert_eq!(licenses["types"][0]["outside"], 0);
    assert_eq!(
        licenses["warnings"],
        serde_json::json!([
            "pools city promise 5 seats of user type creatorUT but the organization has 3 (purchased 3 minus 0 assigned outside the broker)"
        ])
    );
    // The counts are cached: a second look reads no licence count again.
    let counts = app.sim.request_count("counts");
    let again = app
        .http
        .get(&url)
        .bearer_auth(STATUS_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 200);
    assert_eq!(app.sim.request_count("counts"), counts);
}
