//! Slack's interactive approval buttons: the request signature
//! (`X-Slack-Signature: v0=<hex HMAC-SHA256(secret, "v0:{ts}:{body}")>`,
//! timestamp within five minutes) and the button payload (`block_actions`
//! whose `action_id` is `approve` or `deny` and whose `value` is the request
//! id). Who may decide is the route's configuration ([`SlackApprovals`]).

use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

use super::IntakeError;
use crate::config::Secret;
use crate::domain::Verdict;
use crate::ids::{hex, unhex_mac};

/// Slack's signing secret(s) and who may decide.
#[derive(Clone, Debug)]
pub struct SlackApprovals {
    /// Signing secrets (several for rotation).
    pub signing_secrets: Vec<Secret>,
    /// Slack user ids allowed to decide (`U012ABCDEF`).
    pub approvers: Vec<String>,
}

/// Largest clock difference accepted on Slack's signed timestamp.
const SLACK_TOLERANCE_SECS: i64 = 300;

/// Checks `X-Slack-Signature: v0=<hex HMAC-SHA256(secret, "v0:{ts}:{body}")>`.
pub fn verify_slack(
    timestamp: Option<&str>,
    presented: Option<&str>,
    body: &[u8],
    secrets: &[Secret],
    now_secs: i64,
) -> Result<(), IntakeError> {
    let ts_text = timestamp.ok_or(IntakeError::MissingHeader("x-slack-request-timestamp"))?;
    let ts: i64 = ts_text
        .trim()
        .parse()
        .map_err(|_| IntakeError::InvalidCredential("x-slack-request-timestamp"))?;
    if !super::signature::fresh(now_secs, ts, SLACK_TOLERANCE_SECS) {
        return Err(IntakeError::StaleTimestamp);
    }
    let sig = presented
        .ok_or(IntakeError::MissingHeader("x-slack-signature"))?
        .trim()
        .strip_prefix("v0=")
        .and_then(unhex_mac)
        // A malformed signature is a wrong one.
        .ok_or(IntakeError::BadSignature)?;
    let mut ok = false;
    for secret in secrets {
        // ok: HMAC takes keys of any length.
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.expose().as_bytes())
            .expect("HMAC accepts any key length");
        mac.update(b"v0:");
        mac.update(ts_text.trim().as_bytes());
        mac.update(b":");
        mac.update(body);
        ok |= mac.verify_slice(&sig).is_ok();
    }
    if ok {
        Ok(())
    } else {
        Err(IntakeError::BadSignature)
    }
}

/// Signs like Slack does (tests and tools).
pub fn sign_slack(secret: &str, timestamp: i64, body: &[u8]) -> String {
    // ok: HMAC takes keys of any length.
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC accepts any key length");
    mac.update(format!("v0:{timestamp}:").as_bytes());
    mac.update(body);
    format!("v0={}", hex(&mac.finalize().into_bytes()))
}

/// A verified button press.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlackAction {
    /// The Slack user who pressed it (`U012ABCDEF`).
    pub user: String,
    /// Approve or deny.
    pub verdict: Verdict,
    /// The request id (the button's `value`).
    pub request_id: String,
}

/// Reads the form-encoded `payload` field of an interactive request.
pub fn parse_action(body: &[u8]) -> Result<SlackAction, IntakeError> {
    let payload: Option<Value> = url::form_urlencoded::parse(body)
        .find(|(k, _)| k == "payload")
        .and_then(|(_, v)| serde_json::from_str(&v).ok());
    let Some(payload) = payload else {
        return Err(IntakeError::MalformedBody("no payload field".into()));
    };
    let user = payload["user"]["id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let action = &payload["actions"][0];
    let verdict = action["action_id"].as_str().and_then(Verdict::parse);
    let id = action["value"].as_str().unwrap_or_default().to_string();
    let (Some(verdict), false) = (verdict, id.is_empty()) else {
        return Err(IntakeError::MalformedBody(
            "expected an approve or deny button with the request id as value".into(),
        ));
    };
    Ok(SlackAction {
        user,
        verdict,
        request_id: id,
    })
}

/// The answer Slack shows the person who pressed the button (ephemeral:
/// nobody else sees it, and the original message stays).
pub fn reply(text: &str) -> Value {
    json!({"response_type": "ephemeral", "replace_original": false, "text": text})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slack_signatures_follow_v0() {
        // Slack's documented example.
        let body = b"token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
        let secret = "8f742231b10e8888abcd99yyyzzz85a5";
        let ts = 1531420618;
        assert_eq!(
            sign_slack(secret, ts, body),
            "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"
        );
        let secrets = [Secret::new(secret)];
        let sig = sign_slack(secret, ts, body);
        assert!(verify_slack(Some("1531420618"), Some(&sig), body, &secrets, ts + 10).is_ok());
        assert_eq!(
            verify_slack(Some("1531420618"), Some(&sig), body, &secrets, ts + 301),
            Err(IntakeError::StaleTimestamp)
        );
        assert_eq!(
            verify_slack(Some("1531420618"), Some(&sig), b"x", &secrets, ts),
            Err(IntakeError::BadSignature)
        );
        assert!(verify_slack(None, Some(&sig), body, &secrets, ts).is_err());
    }
}
