//! A minimal Lambda Runtime API (the protocol `cargo lambda watch` and the
//! real Lambda service speak): `invocation/next` hands out queued events,
//! `invocation/{id}/response|error` and `init/error` are collected.
//! Shared by the runtime test and the cold-start benchmark.

#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use tokio::sync::{Mutex, mpsc};

/// What the function sent back.
#[derive(Debug)]
pub enum Reply {
    /// `invocation/{id}/response`.
    Response(String, serde_json::Value),
    /// `invocation/{id}/error` or `init/error`.
    Error(String, String),
}

struct Shared {
    events: Mutex<mpsc::Receiver<(String, String)>>,
    replies: mpsc::Sender<Reply>,
}

/// A running fake Runtime API.
pub struct RuntimeApi {
    /// `host:port` for `AWS_LAMBDA_RUNTIME_API`.
    pub addr: String,
    events: mpsc::Sender<(String, String)>,
    replies: Mutex<mpsc::Receiver<Reply>>,
}

impl RuntimeApi {
    pub async fn start() -> RuntimeApi {
        let (etx, erx) = mpsc::channel(64);
        let (rtx, rrx) = mpsc::channel(64);
        let shared = Arc::new(Shared {
            events: Mutex::new(erx),
            replies: rtx,
        });
        let app = Router::new()
            .route("/2018-06-01/runtime/invocation/next", get(next))
            .route(
                "/2018-06-01/runtime/invocation/{id}/response",
                post(response),
            )
            .route("/2018-06-01/runtime/invocation/{id}/error", post(error))
            .route("/2018-06-01/runtime/init/error", post(init_error))
            .with_state(shared);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        RuntimeApi {
            addr,
            events: etx,
            replies: Mutex::new(rrx),
        }
    }

    /// Queues an event and waits for the function's reply.
    pub async fn invoke(&self, request_id: &str, event: &str, wait: Duration) -> Option<Reply> {
        self.events
            .send((request_id.to_string(), event.to_string()))
            .await
            .ok()?;
        self.next_reply(wait).await
    }

    /// Waits for the next reply (e.g. an init error).
    pub async fn next_reply(&self, wait: Duration) -> Option<Reply> {
        let mut rx = self.replies.lock().await;
        tokio::time::timeout(wait, rx.recv()).await.ok().flatten()
    }
}

async fn next(State(s): State<Arc<Shared>>) -> Response {
    let Some((id, event)) = s.events.lock().await.recv().await else {
        return StatusCode::GONE.into_response();
    };
    let mut h = HeaderMap::new();
    h.insert(
        "lambda-runtime-aws-request-id",
        HeaderValue::from_str(&id).unwrap(),
    );
    let deadline = agol_seat_broker::clock::now_millis() + 30_000;
    h.insert("lambda-runtime-deadline-ms", HeaderValue::from(deadline));
    h.insert(
        "lambda-runtime-invoked-function-arn",
        HeaderValue::from_static("arn:aws:lambda:eu-west-1:123456789012:function:agol-seat-broker"),
    );
    h.insert("content-type", HeaderValue::from_static("application/json"));
    (StatusCode::OK, h, event).into_response()
}

async fn response(State(s): State<Arc<Shared>>, Path(id): Path<String>, body: Bytes) -> StatusCode {
    let v = serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null);
    let _ = s.replies.send(Reply::Response(id, v)).await;
    StatusCode::ACCEPTED
}

async fn error(State(s): State<Arc<Shared>>, Path(id): Path<String>, body: Bytes) -> StatusCode {
    let _ = s
        .replies
        .send(Reply::Error(id, String::from_utf8_lossy(&body).into()))
        .await;
    StatusCode::ACCEPTED
}

async fn init_error(State(s): State<Arc<Shared>>, body: Bytes) -> StatusCode {
    let _ = s
        .replies
        .send(Reply::Error(
            "init".into(),
            String::from_utf8_lossy(&body).into(),
        ))
        .await;
    StatusCode::ACCEPTED
}

/// The environment Lambda gives every function.
pub fn lambda_env(runtime_api: &str) -> Vec<(&'static str, String)> {
    vec![
        ("AWS_LAMBDA_RUNTIME_API", runtime_api.to_string()),
        ("AWS_LAMBDA_FUNCTION_NAME", "agol-seat-broker".into()),
        ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST".into()),
        ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256".into()),
        (
            "AWS_LAMBDA_LOG_GROUP_NAME",
            "/aws/lambda/agol-seat-broker".into(),
        ),
        (
            "AWS_LAMBDA_LOG_STREAM_NAME",
            "2026/03/02/[$LATEST]0123456789".into(),
        ),
        ("AWS_REGION", "eu-west-1".into()),
        ("AWS_ACCESS_KEY_ID", "local".into()),
        ("AWS_SECRET_ACCESS_KEY", "local".into()),
    ]
}
