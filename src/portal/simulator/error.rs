//! [`ApiError`]: the sharing API's error object, answered as HTTP 200
//! `{"error":{…}}` (fact sheet §1), or under `/portaladmin` in the admin
//! API's shape `{"status":"error","messages","code"}`, and the errors the
//! simulator answers more than once.
//!
//! Shared vocabulary of `state`, `layers` and `http`; it must not import any
//! of them.

use serde_json::{Map, Value, json};

/// An error object, answered as HTTP 200 `{"error":{…}}` (fact sheet §1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct ApiError {
    pub code: i64,
    pub message_code: Option<String>,
    pub message: String,
    pub details: Vec<String>,
}

impl ApiError {
    pub fn new(code: i64, message: &str) -> Self {
        ApiError {
            code,
            message_code: None,
            message: message.to_string(),
            details: Vec::new(),
        }
    }

    pub fn with_code(mut self, message_code: &str) -> Self {
        self.message_code = Some(message_code.to_string());
        self
    }

    pub fn with_detail(mut self, detail: &str) -> Self {
        self.details.push(detail.to_string());
        self
    }

    /// `{"error":{"code","messageCode"?,"message","details"}}`.
    pub fn to_json(&self) -> Value {
        let mut e = Map::new();
        e.insert("code".into(), json!(self.code));
        if let Some(mc) = &self.message_code {
            e.insert("messageCode".into(), json!(mc));
        }
        e.insert("message".into(), json!(self.message));
        e.insert("details".into(), json!(self.details));
        json!({ "error": e })
    }

    /// The portaladmin API's failure shape (fact sheet §1):
    /// `{"status":"error","messages":[message, details…],"code"}`.
    pub fn to_admin_json(&self) -> Value {
        let mut messages = vec![self.message.clone()];
        messages.extend(self.details.iter().cloned());
        json!({ "status": "error", "messages": messages, "code": self.code })
    }

    pub fn invalid_token() -> Self {
        ApiError::new(498, "Invalid token.")
    }

    pub fn token_required() -> Self {
        ApiError::new(499, "Token Required").with_code("GWM_0003")
    }

    pub fn forbidden() -> Self {
        ApiError::new(
            403,
            "You do not have permissions to access this resource or perform this operation.",
        )
        .with_code("GWM_0003")
    }

    pub fn no_user() -> Self {
        ApiError::new(400, "User does not exist or is inaccessible.")
    }

    pub fn no_group() -> Self {
        ApiError::new(400, "Group does not exist or is inaccessible.").with_code("COM_0003")
    }

    pub fn bad_credentials() -> Self {
        ApiError::new(400, "Unable to generate token.").with_detail("Invalid username or password.")
    }

    pub fn missing(param: &str) -> Self {
        ApiError::new(400, "Unable to complete operation.")
            .with_detail(&format!("'{param}' must be specified."))
    }
}
