//! Okta intake adapters: the **event hook** (`GET` + `POST /webhooks/okta`)
//! and the **registration inline hook** (`POST /hooks/okta/registration`).
//! See `webhook-sources.md` §2 and §3.
//!
//! Both authenticate the same way: Okta sends a static shared secret as the
//! value of a header the administrator names (`Authorization` by default).
//! There is no HMAC; [`verify`] compares the value in constant time with the
//! configured secrets before anything in the body is looked at.
//!
//! Event hooks deliver batches: [`parse_events`] yields one result per event,
//! so one bad event never fails the others. Okta events carry no profile
//! fields, so names come from `displayName` and the e-mail from `alternateId`;
//! when an Okta API token is configured the route can fetch
//! `GET /api/v1/users/{id}` and map it with [`profile_fields`] or
//! [`OktaUserEvent::with_profile`] (this module does no network I/O).
//!
//! The registration inline hook is synchronous: [`parse_registration`] gives
//! the sign-up, and [`registration_response`] (or [`registration_allow`] /
//! [`registration_deny`]) builds Okta's `commands` answer. Business refusals
//! are a 200 with `DENY`, never an HTTP error status.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use super::reply::{HookAnswer, HookReply};
use super::sources::PendingAnswer;
use super::{
    FieldMap, IntakeError, MAX_BODY_BYTES, Signup, SignupRequest, clean_text, delivery_key,
    from_fields, reportable, static_secret_matches,
};
use crate::config::Secret;
use crate::domain::{DeliveryKey, Email};

/// Delivery-key source of event-hook events (key id = the event's `uuid`).
pub const SOURCE: &str = "okta";

/// Delivery-key source of registration inline hook calls (key id =
/// `eventId`). Distinct from [`SOURCE`] so the two id spaces never collide.
pub const REGISTRATION_SOURCE: &str = "okta-registration";

/// The header carrying the shared secret unless configured otherwise.
pub const DEFAULT_AUTH_HEADER: &str = "Authorization";

/// The header of Okta's one-time verification `GET`.
pub const CHALLENGE_HEADER: &str = "X-Okta-Verification-Challenge";

/// The name used in errors for the (configurable) secret header; the
/// configured name is not `'static`, so errors use this label.
const AUTH_HEADER_LABEL: &str = "okta auth header";

/// Longest verification challenge echoed back.
const MAX_CHALLENGE_LEN: usize = 256;

/// Event types that start provisioning.
const USER_CREATED: &str = "user.lifecycle.create";
const APP_ASSIGNED: &str = "application.user_membership.add";
const SESSION_START: &str = "user.session.start";

/// The registration hook's event type.
const PRE_REGISTRATION: &str = "com.okta.user.pre-registration";
/// The registration hook's request type this adapter answers.
const SELF_SERVICE_REGISTRATION: &str = "self.service.registration";

/// Default field names of an Okta profile, used both for the registration
/// hook's `data.userProfile` and for a `GET /api/v1/users/{id}` `profile`:
/// email `email`, `login`; first name `firstName`; last name `lastName`;
/// organization `organization`; pool `pool` (a custom attribute).
pub fn default_fields() -> FieldMap {
    FieldMap::of(
        &["email", "login"],
        &["firstName"],
        &["lastName"],
        &["organization"],
        &["pool"],
    )
}

/// Checks the shared-secret header of an Okta call (event hook `GET` and
/// `POST`, registration hook), then the body size.
///
/// `presented` is the value of the configured header (default
/// [`DEFAULT_AUTH_HEADER`]); surrounding whitespace is ignored. No configured
/// secret means the source is disabled ([`IntakeError::SourceNotConfigured`]).
/// Errors never repeat the presented value.
pub fn verify(presented: Option<&str>, body: &[u8], secrets: &[Secret]) -> Result<(), IntakeError> {
    if !secrets.iter().any(|s| !s.expose().is_empty()) {
        return Err(IntakeError::SourceNotConfigured);
    }
    let presented = presented
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .ok_or(IntakeError::MissingHeader(AUTH_HEADER_LABEL))?;
    if !static_secret_matches(presented, secrets) {
        return Err(IntakeError::BadSignature);
    }
    if body.len() > MAX_BODY_BYTES {
        return Err(IntakeError::BodyTooLarge);
    }
    Ok(())
}

/// The answer to Okta's one-time verification `GET`:
/// `{"verification": "<X-Okta-Verification-Challenge value>"}`.
///
/// Call [`verify`] first: the `GET` carries the shared secret too. The
/// challenge must be present, at most 256 characters, visible ASCII.
pub fn verification_response(challenge_header: Option<&str>) -> Result<Value, IntakeError> {
    let challenge = challenge_header
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .ok_or(IntakeError::InvalidHeader(CHALLENGE_HEADER))?;
    if challenge.len() > MAX_CHALLENGE_LEN || !challenge.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(IntakeError::InvalidHeader(CHALLENGE_HEADER));
    }
    Ok(json!({ "verification": challenge }))
}

/// What an Okta event hook event means for us.
#[derive(Clone, Debug, PartialEq)]
pub enum OktaItem {
    /// A user event that may give a seat.
    User(Box<OktaUserEvent>),
    /// An event we do not act on (other type, or not `SUCCESS`).
    Ignored {
        /// The event's `uuid` (empty if absent or unusable).
        uuid: String,
        /// Its `eventType` (empty if absent or unusable).
        event_type: String,
        /// Why it is ignored, for logs.
        reason: IgnoreReason,
    },
}

/// Why an event or record was ignored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IgnoreReason {
    /// The event type is not one that gives seats.
    UnhandledType,
    /// `outcome.result` is not `SUCCESS`.
    NotSuccessful,
}

/// One handled Okta user event: `user.lifecycle.create`,
/// `application.user_membership.add` or `user.session.start`.
#[derive(Clone, Debug, PartialEq)]
pub struct OktaUserEvent {
    /// `okta:<event uuid>`.
    pub key: DeliveryKey,
    /// The event type.
    pub event_type: String,
    /// `true` for `user.session.start` (every sign-in): give a seat only if
    /// the person has none yet; never reserve a second one.
    pub only_if_no_seat: bool,
    /// The Okta user id (`00u…`), for `GET /api/v1/users/{id}`.
    pub okta_user_id: String,
    /// The request built from the event alone: e-mail from `alternateId`,
    /// names from `displayName` split on its last space, attributes
    /// `okta_user_id` and `okta_event_type` (plus `okta_app_id` for an app
    /// assignment). `None` when `alternateId` is not an e-mail: the route
    /// must then fetch the profile ([`OktaUserEvent::with_profile`]).
    pub request: Option<SignupRequest>,
}

impl OktaUserEvent {
    /// The sign-up from the event alone, if it had an e-mail.
    pub fn signup(&self) -> Option<Signup> {
        self.request.as_ref().map(|request| Signup {
            key: self.key.clone(),
            request: request.clone(),
        })
    }

    /// The sign-up from a fetched `GET /api/v1/users/{id}` response (see
    /// [`profile_fields`]), keeping this event's key and attributes. The
    /// e-mail and names absent from the profile fall back to those derived
    /// from the event.
    pub fn with_profile(
        &self,
        user_json: &Value,
        fields: &FieldMap,
    ) -> Result<Signup, IntakeError> {
        let mut flat = profile_flat(user_json)?;
        let profile_has_email = fields
            .email
            .iter()
            .any(|name| str_at(flat.get(name)).is_some_and(|v| !v.trim().is_empty()));
        if !profile_has_email
            && let (Some(from_event), Some(name)) = (&self.request, fields.email.first())
        {
            flat.insert(name.clone(), Value::from(from_event.email.as_str()));
        }
        let mut request = from_fields(flat, fields)?;
        if let Some(from_event) = &self.request {
            request.first_name = request.first_name.or_else(|| from_event.first_name.clone());
            request.last_name = request.last_name.or_else(|| from_event.last_name.clone());
            for (k, v) in &from_event.attributes {
                request
                    .attributes
                    .entry(k.clone())
                    .or_insert_with(|| v.clone());
            }
        }
        request.attributes.insert(
            "okta_user_id".to_string(),
            Value::from(self.okta_user_id.clone()),
        );
        request.attributes.insert(
            "okta_event_type".to_string(),
            Value::from(self.event_type.clone()),
        );
        Ok(Signup {
            key: self.key.clone(),
            request,
        })
    }
}

/// One event's outcome: the item, or its `uuid` (empty if absent, overlong
/// or with control characters) and why it was refused.
pub type OktaEventResult = Result<OktaItem, (String, IntakeError)>;

/// Parses a verified event hook delivery, one result per event in
/// `data.events`, in order. Only a body that is not an event hook envelope
/// at all fails as a whole.
pub fn parse_events(body: &[u8]) -> Result<Vec<OktaEventResult>, IntakeError> {
    if body.len() > MAX_BODY_BYTES {
        return Err(IntakeError::BodyTooLarge);
    }
    let value: Value = serde_json::from_slice(body)
        // serde's message names position and kind, never the content.
        .map_err(|e| IntakeError::MalformedBody(e.to_string()))?;
    let events = value
        .get("data")
        .and_then(|d| d.get("events"))
        .and_then(Value::as_array)
        .ok_or_else(|| IntakeError::MalformedBody("expected data.events[]".to_string()))?;
    Ok(events.iter().map(parse_event).collect())
}

fn parse_event(event: &Value) -> OktaEventResult {
    let uuid = reportable(str_at(event.get("uuid")));
    let Some(event) = event.as_object() else {
        return Err((
            uuid,
            IntakeError::MalformedBody("an event is not an object".to_string()),
        ));
    };
    let event_type = reportable(str_at(event.get("eventType")));
    let ignored = |reason| {
        Ok(OktaItem::Ignored {
            uuid: uuid.clone(),
            event_type: event_type.clone(),
            reason,
        })
    };
    if ![USER_CREATED, APP_ASSIGNED, SESSION_START].contains(&event_type.as_str()) {
        return ignored(IgnoreReason::UnhandledType);
    }
    let result = event.get("outcome").and_then(|o| o.get("result"));
    if str_at(result) != Some("SUCCESS") {
        return ignored(IgnoreReason::NotSuccessful);
    }
    user_event(event, &event_type).map_err(|e| (uuid, e))
}

fn user_event(event: &Map<String, Value>, event_type: &str) -> Result<OktaItem, IntakeError> {
    let key = delivery_key(
        SOURCE,
        str_at(event.get("uuid")).unwrap_or_default(),
        "uuid",
    )?;
    let is_user = |v: &&Value| str_at(v.get("type")) == Some("User");
    let user = if event_type == SESSION_START {
        event.get("actor").filter(is_user)
    } else {
        event
            .get("target")
            .and_then(Value::as_array)
            .and_then(|targets| targets.iter().find(is_user))
    }
    .ok_or(IntakeError::MissingField("target User"))?;
    let okta_user_id = str_at(user.get("id"))
        .map(str::trim)
        .filter(|id| !id.is_empty())
        .ok_or(IntakeError::MissingField("user id"))?;
    if okta_user_id.len() > 64 || !okta_user_id.bytes().all(|b| b.is_ascii_alphanumeric()) {
        // Okta ids are short alphanumerics; anything else must not reach a
        // URL path built by the route.
        return Err(IntakeError::InvalidField {
            field: "user id",
            reason: "not an Okta id".to_string(),
        });
    }
    let mut flat = BTreeMap::new();
    let alternate_id = str_at(user.get("alternateId")).unwrap_or_default();
    let has_email = Email::parse(alternate_id).is_ok();
    if has_email {
        flat.insert("email".to_string(), Value::from(alternate_id));
    }
    let (first, last) = split_display_name(str_at(user.get("displayName")));
    if let Some(first) = first {
        flat.insert("firstName".to_string(), Value::from(first));
    }
    if let Some(last) = last {
        flat.insert("lastName".to_string(), Value::from(last));
    }
    flat.insert("okta_user_id".to_string(), Value::from(okta_user_id));
    flat.insert("okta_event_type".to_string(), Value::from(event_type));
    if event_type == APP_ASSIGNED
        && let Some(app_id) = event
            .get("target")
            .and_then(Value::as_array)
            .and_then(|t| {
                t.iter()
                    .find(|v| str_at(v.get("type")) == Some("AppInstance"))
            })
            .and_then(|app| str_at(app.get("id")))
            .and_then(|id| clean_text("okta_app_id", Some(id)).ok().flatten())
    {
        flat.insert("okta_app_id".to_string(), Value::from(app_id));
    }
    let request = if has_email {
        let map = FieldMap::of(&["email"], &["firstName"], &["lastName"], &[], &[]);
        Some(from_fields(
            flat,
            &FieldMap {
                username: vec![],
                ..map
            },
        )?)
    } else {
        None
    };
    Ok(OktaItem::User(Box::new(OktaUserEvent {
        key,
        event_type: event_type.to_string(),
        only_if_no_seat: event_type == SESSION_START,
        okta_user_id: okta_user_id.to_string(),
        request,
    })))
}

/// Splits a display name on its last space into (first, last). A single word
/// is a first name. Unusable values (control characters, too long) are
/// dropped rather than failing the event: names are optional.
fn split_display_name(display: Option<&str>) -> (Option<String>, Option<String>) {
    let Ok(Some(name)) = clean_text("displayName", display) else {
        return (None, None);
    };
    match name.rsplit_once(' ') {
        Some((first, last)) => (Some(first.to_string()), Some(last.to_string())),
        None => (Some(name), None),
    }
}

/// Maps an Okta `GET /api/v1/users/{id}` response (its `profile` object:
/// `firstName`, `lastName`, `email`, `organization`, … through `fields`, see
/// [`default_fields`]) to a [`SignupRequest`]. The user's top-level `id`, if
/// present, is kept as attribute `okta_user_id`; other profile attributes are
/// kept as attributes too.
pub fn profile_fields(
    profile_json: &Value,
    fields: &FieldMap,
) -> Result<SignupRequest, IntakeError> {
    from_fields(profile_flat(profile_json)?, fields)
}

/// The `profile` of a users API response as flat fields, plus its `id` as
/// `okta_user_id`.
fn profile_flat(profile_json: &Value) -> Result<BTreeMap<String, Value>, IntakeError> {
    let profile = profile_json
        .get("profile")
        .and_then(Value::as_object)
        .ok_or(IntakeError::MissingField("profile"))?;
    let mut flat: BTreeMap<String, Value> = profile
        .iter()
        .filter(|(_, v)| !v.is_null())
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    if let Some(id) = str_at(profile_json.get("id")) {
        flat.insert("okta_user_id".to_string(), Value::from(id));
    }
    Ok(flat)
}

/// Parses a verified registration inline hook call
/// (`com.okta.user.pre-registration`, `self.service.registration`): key
/// `okta-registration:<eventId>`, fields from `data.userProfile` through
/// `fields` (see [`default_fields`]). Progressive profile calls are refused:
/// they need another answer format.
pub fn parse_registration(body: &[u8], fields: &FieldMap) -> Result<Signup, IntakeError> {
    if body.len() > MAX_BODY_BYTES {
        return Err(IntakeError::BodyTooLarge);
    }
    let value: Value =
        serde_json::from_slice(body).map_err(|e| IntakeError::MalformedBody(e.to_string()))?;
    let Some(obj) = value.as_object() else {
        return Err(IntakeError::MalformedBody(
            "expected a JSON object".to_string(),
        ));
    };
    if let Some(t) = obj.get("eventType")
        && str_at(Some(t)) != Some(PRE_REGISTRATION)
    {
        return Err(IntakeError::InvalidField {
            field: "eventType",
            reason: format!("expected {PRE_REGISTRATION}"),
        });
    }
    if let Some(t) = obj.get("requestType")
        && str_at(Some(t)) != Some(SELF_SERVICE_REGISTRATION)
    {
        return Err(IntakeError::InvalidField {
            field: "requestType",
            reason: format!("expected {SELF_SERVICE_REGISTRATION}"),
        });
    }
    let key = delivery_key(
        REGISTRATION_SOURCE,
        str_at(obj.get("eventId")).unwrap_or_default(),
        "eventId",
    )?;
    let profile = obj
        .get("data")
        .and_then(|d| d.get("userProfile"))
        .and_then(Value::as_object)
        .ok_or(IntakeError::MissingField("data.userProfile"))?;
    let flat: BTreeMap<String, Value> = profile
        .iter()
        .filter(|(_, v)| !v.is_null())
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let request = from_fields(flat, fields)?;
    Ok(Signup { key, request })
}

/// The registration hook's answer: the command Okta carries out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RegistrationCommand {
    /// Let the registration proceed (a seat is reserved).
    Allow,
    /// The person's pool has no seat left.
    NoSeatsLeft,
    /// No rule admits this person.
    NotEligible,
    /// Any other refusal, shown to the person.
    Deny {
        /// The message shown (`errorSummary`).
        summary: String,
        /// A machine reason, e.g. `QUOTA_EXCEEDED`.
        reason: String,
        /// The profile field it concerns, e.g. `data.userProfile.email`.
        location: String,
    },
}

/// The JSON answer for a [`RegistrationCommand`] (send with status 200).
pub fn registration_response(decision: &RegistrationCommand) -> Value {
    match decision {
        RegistrationCommand::Allow => registration_allow(),
        RegistrationCommand::NoSeatsLeft => registration_deny(
            "No seats left for your organization",
            "QUOTA_EXCEEDED",
            "data.userProfile.organization",
        ),
        RegistrationCommand::NotEligible => registration_deny(
            "Sign-up is not open for this e-mail address",
            "NOT_ELIGIBLE",
            "data.userProfile.email",
        ),
        RegistrationCommand::Deny {
            summary,
            reason,
            location,
        } => registration_deny(summary, reason, location),
    }
}

/// The registration hook's replies: how each [`HookAnswer`] is told to the
/// person, and what a request pending approval gets (`pending_answer`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RegistrationReply {
    /// ALLOW (the Okta account is created, the ArcGIS member after
    /// approval) or DENY with "pending approval".
    pub pending: PendingAnswer,
}

impl RegistrationReply {
    /// The command for an answer.
    pub fn command(&self, answer: &HookAnswer) -> RegistrationCommand {
        let deny = |summary: String, reason: &str, location: &str| RegistrationCommand::Deny {
            summary,
            reason: reason.into(),
            location: location.into(),
        };
        match answer {
            HookAnswer::Admitted => RegistrationCommand::Allow,
            HookAnswer::PendingApproval => match self.pending {
                PendingAnswer::Allow => RegistrationCommand::Allow,
                PendingAnswer::Deny => deny(
                    "Your request was received and is pending approval. You will be told when it is decided.".into(),
                    "PENDING_APPROVAL",
                    "data.userProfile.email",
                ),
            },
            HookAnswer::Waitlisted { position } => deny(
                format!("All seats for your organization are taken; you are number {position} on the waiting list."),
                "WAITLISTED",
                "data.userProfile.organization",
            ),
            HookAnswer::PoolFull => RegistrationCommand::NoSeatsLeft,
            HookAnswer::NotEligible => RegistrationCommand::NotEligible,
            HookAnswer::TryLater => deny(
                "Sign-up is temporarily unavailable. Please try again in a few minutes.".into(),
                "TEMPORARILY_UNAVAILABLE",
                "data.userProfile.email",
            ),
            HookAnswer::NotAccepted => deny(
                "Your sign-up could not be accepted. Please contact the administrator.".into(),
                "NOT_ACCEPTED",
                "data.userProfile.email",
            ),
            HookAnswer::MissingInformation => deny(
                "Your sign-up is missing information we need (e-mail address).".into(),
                "INVALID_PROFILE",
                "data.userProfile.email",
            ),
        }
    }
}

impl HookReply for RegistrationReply {
    fn reply(&self, answer: &HookAnswer) -> Value {
        registration_response(&self.command(answer))
    }
}

/// `{"commands":[{"type":"com.okta.action.update","value":{"registration":"ALLOW"}}]}`.
pub fn registration_allow() -> Value {
    json!({
        "commands": [
            {"type": "com.okta.action.update", "value": {"registration": "ALLOW"}}
        ]
    })
}

/// A `DENY` command with an `error` whose `errorSummary` (shown to the
/// person) is `summary`, and one `errorCauses` entry with `reason` and
/// `location` (a `data.userProfile.…` path), `locationType` `body`, domain
/// `end-user`.
pub fn registration_deny(summary: &str, reason: &str, location: &str) -> Value {
    json!({
        "commands": [
            {"type": "com.okta.action.update", "value": {"registration": "DENY"}}
        ],
        "error": {
            "errorSummary": summary,
            "errorCauses": [{
                "errorSummary": summary,
                "reason": reason,
                "locationType": "body",
                "location": location,
                "domain": "end-user"
            }]
        }
    })
}

fn str_at(v: Option<&Value>) -> Option<&str> {
    v.and_then(Value::as_str)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "test-only-okta-event-hook-secret";

    fn secrets() -> Vec<Secret> {
        vec![Secret::new("old-rotated-secret"), Secret::new(SECRET)]
    }

    /// The event hook sample of webhook-sources.md §2.
    const DOC_EVENT: &str = r#"{
      "eventType": "com.okta.event_hook", "eventTypeVersion": "1.0", "cloudEventsVersion": "0.1",
      "contentType": "application/json", "eventId": "3f0c9a52-0000-4000-8000-000000000001",
      "eventTime": "2026-03-02T09:15:04.120Z",
      "source": "https://example.okta.com/api/v1/eventHooks/who1AbCdEfGhIjK",
      "data": {"events": [{
        "uuid": "a1b2c3d4-0000-4000-8000-000000000002", "published": "2026-03-02T09:15:03.900Z",
        "eventType": "application.user_membership.add", "outcome": {"result": "SUCCESS"},
        "actor": {"id": "00uADMIN123", "type": "User", "alternateId": "admin@example.org"},
        "target": [
          {"id": "00uNEW4567", "type": "User", "alternateId": "ana.lopez@example.org", "displayName": "Ana Lopez"},
          {"id": "0oaARCGIS89", "type": "AppInstance", "alternateId": "ArcGIS Online", "displayName": "ArcGIS Online"}]
      }]}
    }"#;

    /// The registration hook sample of webhook-sources.md §3.
    const DOC_REGISTRATION: &str = r#"{"eventId": "RgT9xA1b2C", "eventTime": "2026-03-02T09:20:00.000Z",
     "eventType": "com.okta.user.pre-registration", "eventTypeVersion": "1.0",
     "contentType": "application/json", "source": "regABCDEF123", "requestType": "self.service.registration",
     "data": {"context": {"request": {"method": "POST", "ipAddress": "198.51.100.7", "url": {"value": "/idp/idx/enroll/new"}}},
              "userProfile": {"firstName": "Ana", "lastName": "Lopez", "email": "ana.lopez@example.org",
                              "login": "ana.lopez@example.org", "organization": "Example Water Board"},
              "action": "ALLOW"}}"#;

    fn batch(events: &[Value]) -> Vec<u8> {
        serde_json::to_vec(&json!({"eventType": "com.okta.event_hook", "data": {"events": events}}))
            .unwrap()
    }

    fn event(uuid: &str, event_type: &str, result: &str, user: Value) -> Value {
        json!({"uuid": uuid, "eventType": event_type, "outcome": {"result": result},
               "actor": user, "target": [user]})
    }

    fn user(id: &str, login: &str, name: &str) -> Value {
        json!({"id": id, "type": "User", "alternateId": login, "displayName": name})
    }

    fn only_user(result: &OktaEventResult) -> &OktaUserEvent {
        match result {
            Ok(OktaItem::User(u)) => u,
            other => panic!("expected a user event, got {other:?}"),
        }
    }

    #[test]
    fn the_configured_secret_is_accepted_with_surrounding_space() {
        assert_eq!(verify(Some(SECRET), b"{}", &secrets()), Ok(()));
        assert_eq!(
            verify(Some(&format!("  {SECRET} ")), b"", &secrets()),
            Ok(())
        );
        assert_eq!(verify(Some("old-rotated-secret"), b"", &secrets()), Ok(()));
    }

    #[test]
    fn a_wrong_missing_or_unconfigured_secret_is_refused() {
        let wrong = verify(Some("test-only-okta-event-hook-secreT"), b"", &secrets()).unwrap_err();
        assert_eq!((wrong.code(), wrong.status()), ("invalid_signature", 401));
        let prefix = verify(Some("test-only"), b"", &secrets()).unwrap_err();
        assert_eq!(prefix.code(), "invalid_signature");
        let missing = verify(None, b"", &secrets()).unwrap_err();
        assert_eq!((missing.code(), missing.status()), ("missing_header", 401));
        assert_eq!(
            verify(Some("   "), b"", &secrets()).unwrap_err().code(),
            "missing_header"
        );
        let off = verify(Some(SECRET), b"", &[]).unwrap_err();
        assert_eq!((off.code(), off.status()), ("source_not_configured", 404));
        let blank = verify(Some(SECRET), b"", &[Secret::new("")]).unwrap_err();
        assert_eq!(blank.code(), "source_not_configured");
    }

    #[test]
    fn errors_never_repeat_the_presented_secret() {
        let presented = "Basic c2VjcmV0LXZhbHVlLXRoYXQtbXVzdC1ub3QtbGVhaw==";
        let e = verify(Some(presented), b"", &secrets()).unwrap_err();
        assert!(!e.to_string().contains("c2VjcmV0"), "{e}");
        assert!(!format!("{e:?}").contains("c2VjcmV0"), "{e:?}");
        assert!(!format!("{:?}", secrets()).contains(SECRET));
    }

    #[test]
    fn an_oversized_body_is_refused_only_after_authentication() {
        let big = vec![b' '; MAX_BODY_BYTES + 1];
        assert_eq!(
            verify(Some(SECRET), &big, &secrets()).unwrap_err().status(),
            413
        );
        assert_eq!(
            verify(Some("nope"), &big, &secrets()).unwrap_err().status(),
            401
        );
        assert_eq!(parse_events(&big).unwrap_err().status(), 413);
        assert_eq!(
            parse_registration(&big, &default_fields())
                .unwrap_err()
                .status(),
            413
        );
    }

    #[test]
    fn the_verification_get_echoes_the_challenge() {
        let v = verification_response(Some("We_3PqmqQm1iJ8SgMLmE-kW7fD4")).unwrap();
        assert_eq!(v, json!({"verification": "We_3PqmqQm1iJ8SgMLmE-kW7fD4"}));
        let missing = verification_response(None).unwrap_err();
        assert_eq!(missing, IntakeError::InvalidHeader(CHALLENGE_HEADER));
        // Issue 13: the challenge is not a credential; without it the
        // call is malformed (400), not unauthenticated.
        assert_eq!(
            (
                verification_response(Some(" ")).unwrap_err().code(),
                missing.status()
            ),
            ("invalid_header", 400)
        );
        let bad = verification_response(Some("a\u{7}b")).unwrap_err();
        assert_eq!((bad.code(), bad.status()), ("invalid_header", 400));
        let long = "x".repeat(MAX_CHALLENGE_LEN + 1);
        assert_eq!(
            verification_response(Some(&long)).unwrap_err().code(),
            "invalid_header"
        );
    }

    /// Pins what a cargo-mutants run of `verify` and
    /// `verification_response` left unchecked (issue 13): both limits are
    /// inclusive. A body of exactly `MAX_BODY_BYTES` and a challenge of
    /// exactly 256 characters are accepted; one byte or character more is
    /// refused.
    #[test]
    fn the_body_and_challenge_limits_are_inclusive() {
        let exact = vec![b' '; MAX_BODY_BYTES];
        assert_eq!(verify(Some(SECRET), &exact, &secrets()), Ok(()));
        let over = vec![b' '; MAX_BODY_BYTES + 1];
        assert_eq!(
            verify(Some(SECRET), &over, &secrets()),
            Err(IntakeError::BodyTooLarge)
        );
        let longest = "c".repeat(256);
        assert_eq!(
            verification_response(Some(&longest)),
            Ok(json!({ "verification": longest }))
        );
        assert_eq!(
            verification_response(Some(&"c".repeat(257))),
            Err(IntakeError::InvalidHeader(CHALLENGE_HEADER))
        );
    }

    #[test]
    fn the_documented_app_assignment_becomes_a_signup() {
        let items = parse_events(DOC_EVENT.as_bytes()).unwrap();
        assert_eq!(items.len(), 1);
        let u = only_user(&items[0]);
        assert_eq!(
            u.key.as_string(),
            "okta:a1b2c3d4-0000-4000-8000-000000000002"
        );
        assert_eq!(u.event_type, "application.user_membership.add");
        assert!(!u.only_if_no_seat);
        assert_eq!(u.okta_user_id, "00uNEW4567");
        let s = u.signup().unwrap();
        assert_eq!(s.key, u.key);
        let r = s.request;
        assert_eq!(r.email.as_str(), "ana.lopez@example.org");
        assert_eq!(r.first_name.as_deref(), Some("Ana"));
        assert_eq!(r.last_name.as_deref(), Some("Lopez"));
        assert_eq!(r.organization, None);
        assert_eq!(r.attributes["okta_user_id"], json!("00uNEW4567"));
        assert_eq!(r.attributes["okta_app_id"], json!("0oaARCGIS89"));
        assert_eq!(
            r.attributes["okta_event_type"],
            json!("application.user_membership.add")
        );
    }

    #[test]
    fn a_session_start_takes_the_actor_and_is_marked_only_if_no_seat() {
        let body = batch(&[json!({
            "uuid": "e-1", "eventType": "user.session.start", "outcome": {"result": "SUCCESS"},
            "actor": user("00uBEN0001", "ben.okafor@example.org", "Ben Okafor"),
            "target": [user("00uOTHER01", "other@example.org", "Someone Else")]
        })]);
        let items = parse_events(&body).unwrap();
        let u = only_user(&items[0]);
        assert!(u.only_if_no_seat);
        assert_eq!(u.okta_user_id, "00uBEN0001");
        assert_eq!(
            u.request.as_ref().unwrap().email.as_str(),
            "ben.okafor@example.org"
        );
    }

    #[test]
    fn a_user_creation_takes_the_target_user() {
        let body = batch(&[json!({
            "uuid": "e-1", "eventType": "user.lifecycle.create", "outcome": {"result": "SUCCESS"},
            "actor": user("00uADMIN01", "admin@example.org", "Site Admin"),
            "target": [user("00uANA0001", "ana.lopez@example.org", "Ana Lopez")]
        })]);
        let u = only_user(&parse_events(&body).unwrap()[0]).clone();
        assert_eq!(u.okta_user_id, "00uANA0001");
        assert!(!u.only_if_no_seat);
        assert!(!u.request.unwrap().attributes.contains_key("okta_app_id"));
    }

    #[test]
    fn failed_and_unhandled_events_are_ignored() {
        let ana = user("00uANA0001", "ana@example.org", "Ana Lopez");
        let body = batch(&[
            event("e-1", "user.session.start", "FAILURE", ana.clone()),
            event("e-2", "user.lifecycle.deactivate", "SUCCESS", ana.clone()),
            json!({"uuid": "e-3", "eventType": "user.lifecycle.create"}),
        ]);
        let items = parse_events(&body).unwrap();
        assert_eq!(
            items,
            vec![
                Ok(OktaItem::Ignored {
                    uuid: "e-1".into(),
                    event_type: "user.session.start".into(),
                    reason: IgnoreReason::NotSuccessful
                }),
                Ok(OktaItem::Ignored {
                    uuid: "e-2".into(),
                    event_type: "user.lifecycle.deactivate".into(),
                    reason: IgnoreReason::UnhandledType
                }),
                Ok(OktaItem::Ignored {
                    uuid: "e-3".into(),
                    event_type: "user.lifecycle.create".into(),
                    reason: IgnoreReason::NotSuccessful
                }),
            ]
        );
    }

    #[test]
    fn one_bad_event_does_not_fail_the_batch() {
        let ana = user("00uANA0001", "ana@example.org", "Ana Lopez");
        let body = batch(&[
            json!("not an event"),
            event("", "user.lifecycle.create", "SUCCESS", ana.clone()),
            json!({"uuid": "e-3", "eventType": "user.lifecycle.create",
                   "outcome": {"result": "SUCCESS"}, "target": [{"type": "AppInstance", "id": "0oa1"}]}),
            event(
                "e-4",
                "user.lifecycle.create",
                "SUCCESS",
                user("../../admin", "eve@example.org", "Eve"),
            ),
            event("e-5", "user.lifecycle.create", "SUCCESS", ana),
        ]);
        let items = parse_events(&body).unwrap();
        assert_eq!(items.len(), 5);
        let errs: Vec<(String, &str)> = items[..4]
            .iter()
            .map(|r| {
                let (uuid, e) = r.as_ref().unwrap_err();
                assert!((400..500).contains(&e.status()));
                (uuid.clone(), e.code())
            })
            .collect();
        assert_eq!(
            errs,
            vec![
                (String::new(), "malformed_body"),
                (String::new(), "missing_field"),
                ("e-3".to_string(), "missing_field"),
                ("e-4".to_string(), "invalid_field"),
            ]
        );
        assert_eq!(only_user(&items[4]).key.id, "e-5");
    }

    #[test]
    fn hostile_ids_are_not_reported_back() {
        let ana = user("00uANA0001", "ana@example.org", "Ana Lopez");
        let long = "u".repeat(DeliveryKey::MAX_ID_LEN + 1);
        let body = batch(&[
            event(&long, "user.lifecycle.create", "SUCCESS", ana.clone()),
            event(
                "e-1\nforged log line",
                "user.lifecycle.create",
                "SUCCESS",
                ana.clone(),
            ),
            event("e-3", "x\u{1b}[31m", "SUCCESS", ana),
        ]);
        let items = parse_events(&body).unwrap();
        for r in &items[..2] {
            let (uuid, e) = r.as_ref().unwrap_err();
            assert_eq!((uuid.as_str(), e.code()), ("", "invalid_field"));
        }
        assert_eq!(
            items[2],
            Ok(OktaItem::Ignored {
                uuid: "e-3".into(),
                event_type: String::new(),
                reason: IgnoreReason::UnhandledType
            })
        );
    }

    #[test]
    fn a_body_that_is_not_an_event_hook_fails_whole() {
        for body in [&b"not json"[..], b"[]", b"{}", br#"{"data":{"events":{}}}"#] {
            let e = parse_events(body).unwrap_err();
            assert_eq!((e.code(), e.status()), ("malformed_body", 400));
        }
        assert_eq!(parse_events(&batch(&[])).unwrap(), vec![]);
    }

    #[test]
    fn display_names_split_on_the_last_space() {
        assert_eq!(
            split_display_name(Some("  Ana  María de la   Cruz ")),
            (Some("Ana María de la".into()), Some("Cruz".into()))
        );
        assert_eq!(
            split_display_name(Some("Madonna")),
            (Some("Madonna".into()), None)
        );
        assert_eq!(split_display_name(Some("   ")), (None, None));
        assert_eq!(split_display_name(None), (None, None));
        assert_eq!(split_display_name(Some("Ana\u{0}Lopez")), (None, None));
    }

    #[test]
    fn an_unusable_display_name_leaves_the_names_empty() {
        let body = batch(&[event(
            "e-1",
            "user.lifecycle.create",
            "SUCCESS",
            user("00uANA0001", "ana@example.org", &"x".repeat(300)),
        )]);
        let u = only_user(&parse_events(&body).unwrap()[0]).clone();
        let r = u.request.unwrap();
        assert_eq!((r.first_name, r.last_name), (None, None));
    }

    #[test]
    fn a_login_that_is_not_an_email_needs_the_profile() {
        let body = batch(&[event(
            "e-1",
            "user.lifecycle.create",
            "SUCCESS",
            user("00uANA0001", "alopez", "Ana Lopez"),
        )]);
        let u = only_user(&parse_events(&body).unwrap()[0]).clone();
        assert_eq!(u.request, None);
        assert_eq!(u.signup(), None);
        let profile = json!({"id": "00uANA0001", "status": "ACTIVE", "profile": {
            "login": "alopez", "email": "ana.lopez@example.org", "firstName": "Ana",
            "lastName": "López", "organization": "Example Water Board", "department": "GIS"}});
        let s = u.with_profile(&profile, &default_fields()).unwrap();
        assert_eq!(s.key.as_string(), "okta:e-1");
        assert_eq!(s.request.email.as_str(), "ana.lopez@example.org");
        assert_eq!(s.request.last_name.as_deref(), Some("López"));
        assert_eq!(
            s.request.organization.as_deref(),
            Some("Example Water Board")
        );
        assert_eq!(s.request.attributes["okta_user_id"], json!("00uANA0001"));
        assert_eq!(
            s.request.attributes["okta_event_type"],
            json!("user.lifecycle.create")
        );
        assert_eq!(s.request.attributes["department"], json!("GIS"));
    }

    #[test]
    fn a_fetched_profile_keeps_the_email_and_names_from_the_event_when_it_has_none() {
        let body = batch(&[event(
            "e-1",
            "user.lifecycle.create",
            "SUCCESS",
            user("00uANA0001", "ana@example.org", "Ana Lopez"),
        )]);
        let u = only_user(&parse_events(&body).unwrap()[0]).clone();
        let profile = json!({"profile": {"firstName": null, "organization": "Parks"}});
        let s = u.with_profile(&profile, &default_fields()).unwrap();
        assert_eq!(s.request.email.as_str(), "ana@example.org");
        assert_eq!(s.request.first_name.as_deref(), Some("Ana"));
        assert_eq!(s.request.last_name.as_deref(), Some("Lopez"));
        assert_eq!(s.request.organization.as_deref(), Some("Parks"));
    }

    #[test]
    fn profile_fields_follow_a_custom_field_map() {
        let custom = FieldMap {
            organization: vec!["companyName".into()],
            pool: vec!["arcgisPool".into()],
            ..FieldMap::default()
        }
        .or(&default_fields());
        let profile = json!({"id": "00uX", "profile": {"login": "ana@example.org",
            "companyName": "Example Water Board", "arcgisPool": "water"}});
        let r = profile_fields(&profile, &custom).unwrap();
        assert_eq!(r.email.as_str(), "ana@example.org");
        assert_eq!(r.organization.as_deref(), Some("Example Water Board"));
        assert_eq!(r.pool.as_deref(), Some("water"));
        assert_eq!(r.attributes["okta_user_id"], json!("00uX"));
        let e = profile_fields(&json!({"id": "00uX"}), &custom).unwrap_err();
        assert_eq!(e, IntakeError::MissingField("profile"));
        let e = profile_fields(&json!({"profile": {"firstName": "Ana"}}), &custom).unwrap_err();
        assert_eq!(e.code(), "missing_field");
        assert!(e.to_string().contains("email, login"), "{e}");
    }

    #[test]
    fn the_documented_registration_becomes_a_signup() {
        let s = parse_registration(DOC_REGISTRATION.as_bytes(), &default_fields()).unwrap();
        assert_eq!(s.key.as_string(), "okta-registration:RgT9xA1b2C");
        assert_eq!(s.request.email.as_str(), "ana.lopez@example.org");
        assert_eq!(s.request.first_name.as_deref(), Some("Ana"));
        assert_eq!(s.request.last_name.as_deref(), Some("Lopez"));
        assert_eq!(
            s.request.organization.as_deref(),
            Some("Example Water Board")
        );
        // `login` was a candidate for the e-mail, so it is consumed too.
        assert!(
            s.request.attributes.is_empty(),
            "{:?}",
            s.request.attributes
        );
    }

    #[test]
    fn a_registration_without_email_falls_back_to_login_and_custom_fields() {
        let body = json!({"eventId": "ev-2", "eventType": "com.okta.user.pre-registration",
            "data": {"userProfile": {"login": "ben@example.org", "agency": "Parks", "seatPool": "parks",
                                     "email": null}}});
        let fields = FieldMap {
            organization: vec!["agency".into()],
            pool: vec!["seatPool".into()],
            ..FieldMap::default()
        }
        .or(&default_fields());
        let s = parse_registration(&serde_json::to_vec(&body).unwrap(), &fields).unwrap();
        assert_eq!(s.request.email.as_str(), "ben@example.org");
        assert_eq!(s.request.organization.as_deref(), Some("Parks"));
        assert_eq!(s.request.pool.as_deref(), Some("parks"));
    }

    #[test]
    fn bad_registrations_get_stable_codes() {
        let cases: &[(&str, &str)] = &[
            ("nope", "malformed_body"),
            ("[]", "malformed_body"),
            (
                r#"{"data":{"userProfile":{"email":"a@b.org"}}}"#,
                "missing_field",
            ),
            (r#"{"eventId":"e","data":{}}"#, "missing_field"),
            (
                r#"{"eventId":"e","data":{"userProfile":{"firstName":"A"}}}"#,
                "missing_field",
            ),
            (
                r#"{"eventId":"e","data":{"userProfile":{"email":"nobody"}}}"#,
                "invalid_field",
            ),
            (
                r#"{"eventId":"e","eventType":"com.okta.user.progressive.profile","data":{"userProfile":{"email":"a@b.org"}}}"#,
                "invalid_field",
            ),
            (
                r#"{"eventId":"e","requestType":"progressive.profile","data":{"userProfile":{"email":"a@b.org"}}}"#,
                "invalid_field",
            ),
            (
                r#"{"eventId":"e\u0001","data":{"userProfile":{"email":"a@b.org"}}}"#,
                "invalid_field",
            ),
        ];
        for (body, code) in cases {
            let e = parse_registration(body.as_bytes(), &default_fields()).unwrap_err();
            assert_eq!(e.code(), *code, "{body}");
        }
    }

    #[test]
    fn the_allow_answer_is_oktas_command_format() {
        let expected = json!({"commands": [
            {"type": "com.okta.action.update", "value": {"registration": "ALLOW"}}]});
        assert_eq!(registration_allow(), expected);
        assert_eq!(registration_response(&RegistrationCommand::Allow), expected);
    }

    #[test]
    fn the_deny_answer_tells_the_person_why() {
        let expected = json!({
            "commands": [{"type": "com.okta.action.update", "value": {"registration": "DENY"}}],
            "error": {"errorSummary": "No seats left for your organization", "errorCauses": [{
                "errorSummary": "No seats left for your organization", "reason": "QUOTA_EXCEEDED",
                "locationType": "body", "location": "data.userProfile.organization",
                "domain": "end-user"}]}
        });
        assert_eq!(
            registration_response(&RegistrationCommand::NoSeatsLeft),
            expected
        );
        let custom = registration_response(&RegistrationCommand::Deny {
            summary: "Use your work e-mail".into(),
            reason: "INVALID_EMAIL_DOMAIN".into(),
            location: "data.userProfile.email".into(),
        });
        assert_eq!(
            custom["error"]["errorSummary"],
            json!("Use your work e-mail")
        );
        assert_eq!(
            custom["error"]["errorCauses"][0]["location"],
            json!("data.userProfile.email")
        );
        let not_eligible = registration_response(&RegistrationCommand::NotEligible);
        assert_eq!(
            not_eligible["commands"][0]["value"]["registration"],
            json!("DENY")
        );
    }

    /// Reads a recorded API Gateway event from `events/` as Lambda would.
    fn fixture(name: &str) -> lambda_http::Request {
        let path = format!("{}/events/{name}.apigw.json", env!("CARGO_MANIFEST_DIR"));
        let text = std::fs::read_to_string(path).unwrap();
        lambda_http::request::from_str(&text).unwrap()
    }

    fn header<'a>(req: &'a lambda_http::Request, name: &str) -> Option<&'a str> {
        req.headers().get(name).and_then(|v| v.to_str().ok())
    }

    #[test]
    fn the_recorded_event_hook_fixtures_verify_and_parse() {
        let fixture_secret = [Secret::new(SECRET)];
        let get = fixture("okta-events-verify");
        assert_eq!(get.method(), "GET");
        verify(
            header(&get, DEFAULT_AUTH_HEADER),
            get.body(),
            &fixture_secret,
        )
        .unwrap();
        let v = verification_response(header(&get, CHALLENGE_HEADER)).unwrap();
        assert_eq!(v["verification"], json!("test-only-challenge-7Kq2mB9xZ4"));

        let keys = |name: &str| -> Vec<String> {
            let req = fixture(name);
            assert_eq!(req.uri().path(), "/webhooks/okta");
            verify(header(&req, "authorization"), req.body(), &fixture_secret).unwrap();
            parse_events(req.body())
                .unwrap()
                .into_iter()
                .filter_map(|r| match r.unwrap() {
                    OktaItem::User(u) => Some(u.key.as_string()),
                    OktaItem::Ignored { .. } => None,
                })
                .collect()
        };
        let first = keys("okta-events-signup");
        assert_eq!(first.len(), 3, "create, assignment, session start");
        assert_eq!(keys("okta-events-replay"), first);
        let body = std::fs::read(format!(
            "{}/events/okta-events-signup.body.json",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap();
        assert_eq!(
            body.trim_ascii_end(),
            fixture("okta-events-signup").body().as_ref()
        );

        let bad = fixture("okta-events-bad-secret");
        let e = verify(header(&bad, "authorization"), bad.body(), &fixture_secret).unwrap_err();
        assert_eq!(e.status(), 401);
    }

    #[test]
    fn the_recorded_registration_fixtures_verify_and_parse() {
        let fixture_secret = [Secret::new("Basic dGVzdC1vbmx5Om9rdGEtcmVnaXN0cmF0aW9u")];
        let key = |name: &str| {
            let req = fixture(name);
            assert_eq!(req.uri().path(), "/hooks/okta/registration");
            verify(header(&req, "authorization"), req.body(), &fixture_secret)?;
            parse_registration(req.body(), &default_fields()).map(|s| s.key.as_string())
        };
        assert_eq!(
            key("okta-registration-signup").unwrap(),
            "okta-registration:RgT9xA1b2C"
        );
        assert_eq!(
            key("okta-registration-replay").unwrap(),
            "okta-registration:RgT9xA1b2C"
        );
        let e = key("okta-registration-bad-secret").unwrap_err();
        assert_eq!(e.code(), "invalid_signature");
    }
}

#[cfg(test)]
mod random_inputs {
    use super::*;
    use rand::{Rng as _, SeedableRng as _};

    /// Random bodies and headers never panic; every refusal has a 4xx code.
    #[test]
    fn random_bodies_and_headers_are_refused_cleanly() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(23);
        let secrets = [Secret::new("test-only-okta-secret")];
        let pieces: &[&str] = &[
            "{",
            "}",
            "[",
            "]",
            ":",
            ",",
            "\"data\"",
            "{\"events\":[",
            "\"uuid\"",
            "\"e-1\"",
            "\"eventType\"",
            "\"user.lifecycle.create\"",
            "\"user.session.start\"",
            "\"application.user_membership.add\"",
            "\"outcome\"",
            "{\"result\":\"SUCCESS\"}",
            "\"target\"",
            "\"actor\"",
            "\"type\"",
            "\"User\"",
            "\"id\"",
            "\"00uA1\"",
            "\"alternateId\"",
            "\"a@b.org\"",
            "\"displayName\"",
            "\"A B\"",
            "\"eventId\"",
            "\"userProfile\"",
            "\"email\"",
            "\"login\"",
            "null",
            "1e999",
            "\"\\u0000\"",
            " ",
        ];
        let fields = default_fields();
        for _ in 0..10_000 {
            let mut body = Vec::new();
            for _ in 0..rng.random_range(0..30) {
                body.extend_from_slice(pieces[rng.random_range(0..pieces.len())].as_bytes());
            }
            if rng.random_range(0..10) == 0 {
                body.push(0xff);
            }
            let check = |e: &IntakeError| assert!((400..500).contains(&e.status()), "{e:?}");
            match parse_events(&body) {
                Ok(items) => items
                    .iter()
                    .filter_map(|r| r.as_ref().err())
                    .for_each(|(_, e)| check(e)),
                Err(e) => check(&e),
            }
            if let Err(e) = parse_registration(&body, &fields) {
                check(&e);
            }
            if let Ok(v) = serde_json::from_slice::<Value>(&body)
                && let Err(e) = profile_fields(&v, &fields)
            {
                check(&e);
            }
            let junk: String = (0..rng.random_range(0..40))
                .map(|_| char::from(rng.random_range(0u8..128)))
                .collect();
            if let Err(e) = verify(Some(&junk), &body, &secrets) {
                check(&e);
            }
            if let Err(e) = verification_response(Some(&junk)) {
                check(&e);
            }
        }
    }
}
