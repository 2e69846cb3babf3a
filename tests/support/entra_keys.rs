//! TEST-ONLY Entra signing: the RSA keys of `tests/fixtures/entra/`, token
//! minting, and a JWKS server on 127.0.0.1:0 that counts its requests.
#![allow(dead_code)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use agol_seat_broker::intake::entra::ENTRA_SERVICE_APP_ID;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

pub const TENANT_ID: &str = "11111111-2222-3333-4444-555555555555";
pub const ISSUER: &str =
    "https://contosotest.ciamlogin.com/11111111-2222-3333-4444-555555555555/v2.0";
pub const AUDIENCE: &str = "6a9b4c3d-0000-4000-8000-00000000e0a1";

pub fn fixture(name: &str) -> String {
    let path = format!("{}/tests/fixtures/entra/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// A TEST-ONLY private key (PKCS#1 PEM, after a comment line) for signing.
pub fn signing_key(n: u8) -> EncodingKey {
    let pem = fixture(&format!("test-key-{n}.pem"));
    let b64: String = pem
        .lines()
        .skip_while(|l| !l.starts_with("-----BEGIN"))
        .filter(|l| !l.starts_with("-----"))
        .collect();
    EncodingKey::from_rsa_der(&B64.decode(b64).unwrap())
}

/// The public JWK of test key `n`, published under `kid`.
pub fn jwk(n: u8, kid: &str) -> Value {
    let mut v: Value = serde_json::from_str(&fixture(&format!("test-key-{n}.jwk.json"))).unwrap();
    let o = v.as_object_mut().unwrap();
    o.remove("_comment");
    o.insert("kid".into(), kid.into());
    v
}

pub fn jwks(keys: &[(u8, &str)]) -> Value {
    json!({"keys": keys.iter().map(|(n, kid)| jwk(*n, kid)).collect::<Vec<_>>()})
}

/// Claims as Entra puts them in a v2 custom-extension token, issued at `now_s`.
pub fn claims_at(now_s: i64) -> Value {
    json!({
        "aud": AUDIENCE, "iss": ISSUER, "iat": now_s - 5, "nbf": now_s - 5, "exp": now_s + 300,
        "aio": "test", "azp": ENTRA_SERVICE_APP_ID, "azpacr": "1",
        "oid": "aaaabbbb-0000-1111-2222-333344445555", "sub": "aaaabbbb-0000-1111-2222-333344445555",
        "tid": TENANT_ID, "uti": "test-uti", "ver": "2.0"
    })
}

pub fn mint(key: u8, kid: &str, claims: &Value) -> String {
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some(kid.to_string());
    jsonwebtoken::encode(&header, claims, &signing_key(key)).unwrap()
}

pub fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

pub struct Jwks {
    pub doc: std::sync::Mutex<Value>,
    pub status: std::sync::Mutex<StatusCode>,
    pub hits: AtomicUsize,
}

/// A JWKS server on 127.0.0.1:0 that counts requests.
pub struct JwksServer {
    pub state: Arc<Jwks>,
    pub url: String,
}

impl JwksServer {
    pub async fn start(doc: Value) -> Self {
        let state = Arc::new(Jwks {
            doc: std::sync::Mutex::new(doc),
            status: std::sync::Mutex::new(StatusCode::OK),
            hits: AtomicUsize::new(0),
        });
        async fn keys(State(s): State<Arc<Jwks>>) -> (StatusCode, String) {
            s.hits.fetch_add(1, Ordering::SeqCst);
            let status = *s.status.lock().unwrap();
            (status, s.doc.lock().unwrap().to_string())
        }
        let app = Router::new()
            .route("/discovery/v2.0/keys", get(keys))
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        JwksServer {
            state,
            url: format!("http://{addr}/discovery/v2.0/keys"),
        }
    }

    pub fn hits(&self) -> usize {
        self.state.hits.load(Ordering::SeqCst)
    }

    pub fn publish(&self, doc: Value) {
        *self.state.doc.lock().unwrap() = doc;
    }

    pub fn fail_with(&self, status: StatusCode) {
        *self.state.status.lock().unwrap() = status;
    }
}
