//! Survey123 deliveries checked against the survey's own feature layer.
//!
//! Survey123 cannot sign its webhooks, so with only the path token anyone
//! holding it could post any record. When a Survey123 source has
//! `layer_url`, its routes treat the payload as a pointer: they take the
//! record's `globalid` from it, read that record from the configured layer
//! with the broker's token ([`FeatureLayers::feature_by_globalid`]) and act
//! on the record's attributes only. The sign-up route maps them with the
//! source's field map; the approval route takes `request_id`, `status` and
//! `comment` from them and the approver from the layer's editor-tracking
//! field, checked against the source's `approvers`.
//!
//! What this module must not do: send the token anywhere but the
//! configured layer (the payload's `surveyInfo.serviceUrl` is only compared
//! with it, and a delivery naming another service is refused), or write
//! anything before the record was read and checked. Every refusal has a
//! stable code ([`Refusal`]); transient portal trouble is a 503 so
//! Survey123's retry can come.

use serde_json::{Map, Value};

use super::sources::Reread;
use super::survey123::{self, EventType, Survey123Event};
use super::{FieldMap, IntakeError, clean_text};
use crate::portal::{FeatureLayers, PortalError};

/// Why a delivery was refused after (or while) re-reading its record.
/// Nothing has been written when one of these is returned.
#[derive(Debug)]
pub enum Refusal {
    /// The payload or the record is unusable (no globalid, no e-mail…).
    Intake(IntakeError),
    /// The payload names another feature service than the configured
    /// layer's: a delivery from another survey.
    ServiceMismatch,
    /// The configured layer has no record with the payload's globalid.
    RecordNotFound,
    /// The record's editor is not in the source's `approvers`.
    ApproverNotAllowed,
    /// The layer could not be read.
    Portal(PortalError),
}

impl Refusal {
    /// The stable public code.
    pub fn code(&self) -> &'static str {
        match self {
            Refusal::Intake(e) => e.code(),
            Refusal::ServiceMismatch => "service_mismatch",
            Refusal::RecordNotFound => "record_not_found",
            Refusal::ApproverNotAllowed => "approver_not_allowed",
            Refusal::Portal(e) => match e {
                PortalError::Unavailable(_)
                | PortalError::Unanswered(_)
                | PortalError::Protocol(_) => "portal_unavailable",
                PortalError::Auth(_) => "portal_auth_failed",
                PortalError::Config(_) => "portal_misconfigured",
                PortalError::Rejected { .. } | PortalError::NotInvited { .. } => "portal_rejected",
            },
        }
    }

    /// The answer's status: 4xx for the delivery's own problems, 403 for a
    /// record that is not there or an editor who may not decide, 503 while
    /// the layer cannot be read (Survey123 retries non-2xx answers), 502
    /// when the portal refuses the query.
    pub fn status(&self) -> u16 {
        match self {
            Refusal::Intake(e) => e.status(),
            Refusal::ServiceMismatch | Refusal::RecordNotFound | Refusal::ApproverNotAllowed => 403,
            Refusal::Portal(PortalError::Rejected { .. } | PortalError::NotInvited { .. }) => 502,
            Refusal::Portal(_) => 503,
        }
    }

    /// Seconds a retry should wait (`Retry-After`), for the refusals a
    /// retry can cure.
    pub fn retry_after(&self) -> Option<u32> {
        match self {
            Refusal::Portal(
                PortalError::Unavailable(_) | PortalError::Unanswered(_) | PortalError::Protocol(_),
            ) => Some(60),
            Refusal::Portal(PortalError::Auth(_) | PortalError::Config(_)) => Some(300),
            _ => None,
        }
    }

    /// The answer's message: fixed texts, no portal internals, no payload
    /// content (an intake error says which field or header).
    pub fn message(&self) -> String {
        match self {
            Refusal::Intake(e) => e.to_string(),
            Refusal::ServiceMismatch => "The delivery comes from another survey than the configured one; nothing was done.".into(),
            Refusal::RecordNotFound => "The survey's layer has no record with this globalid; nothing was done.".into(),
            Refusal::ApproverNotAllowed => "The person who edited the record may not decide requests; nothing changed.".into(),
            Refusal::Portal(PortalError::Rejected { .. } | PortalError::NotInvited { .. }) => "ArcGIS refused to read the survey's record; nothing was done. An operator must check layer_url.".into(),
            Refusal::Portal(PortalError::Unavailable(_) | PortalError::Unanswered(_) | PortalError::Protocol(_)) => "ArcGIS did not answer in time; nothing was done. Retry later.".into(),
            Refusal::Portal(PortalError::Auth(_) | PortalError::Config(_)) => "The broker's ArcGIS connection is not usable; nothing was done. An operator must fix it.".into(),
        }
    }

    /// Logs the refusal for the operator (the portal's own error included,
    /// which the answer never carries).
    pub fn log(&self, source: &str) {
        let code = self.code();
        match self {
            Refusal::Intake(e) => tracing::warn!(source, code, "refused: {e}"),
            Refusal::ServiceMismatch => {
                tracing::warn!(source, code, "the delivery names another feature service")
            }
            Refusal::RecordNotFound => {
                tracing::warn!(source, code, "no such record in the configured layer")
            }
            Refusal::ApproverNotAllowed => {
                tracing::warn!(source, code, "the record's editor is not an approver")
            }
            Refusal::Portal(e) => {
                tracing::error!(source, code, "the survey's record could not be read: {e}")
            }
        }
    }
}

impl From<IntakeError> for Refusal {
    fn from(e: IntakeError) -> Self {
        Refusal::Intake(e)
    }
}

/// Reads the record a verified delivery names from the configured layer:
/// its globalid from the payload, the payload's service checked against
/// the layer's, then the query. Returns the normalised globalid and the
/// record's attributes.
pub async fn reread<P: FeatureLayers>(
    portal: &P,
    config: &Reread,
    body: &[u8],
) -> Result<(String, Map<String, Value>), Refusal> {
    let named = survey123::record_ref(body)?;
    // Why: an absent serviceUrl (includeSurveyInfo off) proves nothing
    // either way, and the record is read from our layer regardless; a
    // present one that differs is a delivery from another survey.
    if let Some(url) = &named.service_url
        && !config.layer.is_service(url)
    {
        return Err(Refusal::ServiceMismatch);
    }
    match portal
        .feature_by_globalid(config.layer.as_str(), &named.globalid)
        .await
    {
        Ok(Some(record)) => Ok((named.globalid, record)),
        Ok(None) => Err(Refusal::RecordNotFound),
        Err(e) => Err(Refusal::Portal(e)),
    }
}

/// The sign-up route with re-read on: `editData` is ignored as without it;
/// an `addData`'s sign-up is built from the re-read record, mapped with
/// `fields` (the payload's attributes are not used).
pub async fn signup<P: FeatureLayers>(
    portal: &P,
    config: &Reread,
    body: &[u8],
    fields: &FieldMap,
) -> Result<Survey123Event, Refusal> {
    if survey123::event_type(body)? == EventType::Edit {
        return survey123::parse(body, fields).map_err(Refusal::Intake);
    }
    let (globalid, record) = reread(portal, config, body).await?;
    Ok(Survey123Event::Signup(survey123::signup_from_record(
        &globalid, record, fields,
    )?))
}

/// What an approval record says, read from the layer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApprovalRecord {
    /// `request_id`.
    pub request_id: Option<String>,
    /// `status` (approved, denied, or anything else: nothing to decide).
    pub status: Option<String>,
    /// `comment`, cleaned.
    pub comment: Option<String>,
    /// The record's last editor (`editor_field`), cleaned.
    pub editor: Option<String>,
}

/// A text field of a record, its name compared without regard to case
/// (ArcGIS field names are case-insensitive); empty counts as absent.
fn text(record: &Map<String, Value>, name: &str) -> Option<String> {
    record
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .and_then(|(_, v)| v.as_str())
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

/// The approval route with re-read on: the edited record's decision
/// fields and editor, from the layer (the payload's attributes are not
/// used).
pub async fn approval<P: FeatureLayers>(
    portal: &P,
    config: &Reread,
    body: &[u8],
) -> Result<ApprovalRecord, Refusal> {
    let (_, record) = reread(portal, config, body).await?;
    Ok(approval_record(&record, config))
}

fn approval_record(record: &Map<String, Value>, config: &Reread) -> ApprovalRecord {
    let cleaned =
        |field: &'static str, v: Option<String>| clean_text(field, v.as_deref()).ok().flatten();
    ApprovalRecord {
        request_id: text(record, "request_id"),
        status: text(record, "status"),
        comment: cleaned("comment", text(record, "comment")),
        editor: cleaned("editor", text(record, &config.editor_field)),
    }
}

/// Who decides, as recorded (`survey123:<editor>`): with an `approvers`
/// list the editor must be on it, exactly (ArcGIS sign-in names are
/// case-sensitive); without one, the editor, or `unknown` when the layer
/// does not track editors.
pub fn approver(config: &Reread, editor: Option<&str>) -> Result<String, Refusal> {
    if config.approvers.is_empty() {
        return Ok(editor.unwrap_or("unknown").to_string());
    }
    match editor {
        Some(e) if config.approvers.iter().any(|a| a == e) => Ok(e.to_string()),
        _ => Err(Refusal::ApproverNotAllowed),
    }
}

/// The decision as the payload states it (no `layer_url`): the
/// attributes `request_id`, `status`, `approver` (as the editor) and
/// `comment`.
pub fn approval_record_from_payload(value: &Value) -> ApprovalRecord {
    let attrs = &value["feature"]["attributes"];
    let text = |name: &str| {
        attrs[name]
            .as_str()
            .map(str::trim)
            .filter(|s| !s.is_empty())
    };
    ApprovalRecord {
        request_id: text("request_id").map(str::to_string),
        status: text("status").map(str::to_string),
        comment: clean_text("comment", text("comment")).ok().flatten(),
        editor: clean_text("approver", text("approver")).ok().flatten(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::LayerUrl;
    use crate::portal::fake::FakePortal;
    use serde_json::json;

    const LAYER: &str = "https://services9.arcgis.com/AbCdEf/arcgis/rest/services/survey123_0123_form/FeatureServer/0";

    fn config(approvers: &[&str]) -> Reread {
        Reread {
            layer: LayerUrl::parse(LAYER).unwrap(),
            approvers: approvers.iter().map(|a| a.to_string()).collect(),
            editor_field: "Editor".into(),
        }
    }

    fn delivery(event: &str, globalid: &str, service: Option<&str>) -> Vec<u8> {
        let mut v = json!({"eventType": event, "feature": {"attributes": {
            "globalid": globalid, "email": "forged@evil.example", "status": "approved"}}});
        if let Some(s) = service {
            v["surveyInfo"] = json!({"serviceUrl": s});
        }
        serde_json::to_vec(&v).unwrap()
    }

    fn record(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap()
    }

    #[tokio::test]
    async fn the_sign_up_is_the_records_not_the_payloads() {
        let portal = FakePortal::new("ORG", &[]);
        let id = portal.put_feature(
            LAYER,
            record(json!({"email": "ana@example.org", "pool": "field"})),
        );
        let body = delivery("addData", &id, Some(LAYER.trim_end_matches("/0")));
        let Survey123Event::Signup(s) =
            signup(&portal, &config(&[]), &body, &survey123::default_fields())
                .await
                .unwrap()
        else {
            panic!("expected a sign-up");
        };
        assert_eq!(s.request.email.as_str(), "ana@example.org");
        assert_eq!(s.request.pool.as_deref(), Some("field"));
        assert_eq!(s.key.id, id.trim_matches(['{', '}']).to_lowercase());
    }

    #[tokio::test]
    async fn an_unknown_record_another_service_or_a_portal_outage_refuse() {
        let portal = FakePortal::new("ORG", &[]);
        let fields = survey123::default_fields();
        let missing = delivery("addData", "{7D1E0C5A-1111-4222-8333-944455566677}", None);
        let r = signup(&portal, &config(&[]), &missing, &fields)
            .await
            .unwrap_err();
        assert_eq!(r.code(), "record_not_found");
        assert_eq!(r.status(), 403);

        let id = portal.put_feature(LAYER, record(json!({"email": "ana@example.org"})));
        let elsewhere = delivery(
            "addData",
            &id,
            Some("https://services9.arcgis.com/AbCdEf/arcgis/rest/services/other/FeatureServer"),
        );
        let r = signup(&portal, &config(&[]), &elsewhere, &fields)
            .await
            .unwrap_err();
        assert_eq!(r.code(), "service_mismatch");

        portal.fail_next_read(PortalError::Unavailable("down".into()));
        let ok = delivery("addData", &id, None);
        let r = signup(&portal, &config(&[]), &ok, &fields)
            .await
            .unwrap_err();
        assert_eq!(r.code(), "portal_unavailable");
        assert_eq!(r.status(), 503);
        assert!(r.retry_after().is_some());

        // An edit needs no record: it is ignored as before.
        let edit = delivery("editData", "{7D1E0C5A-1111-4222-8333-944455566677}", None);
        assert!(matches!(
            signup(&portal, &config(&[]), &edit, &fields).await,
            Ok(Survey123Event::Ignored { .. })
        ));
    }

    #[tokio::test]
    async fn the_decision_and_the_approver_come_from_the_record() {
        let portal = FakePortal::new("ORG", &[]);
        let id = portal.put_feature(
            LAYER,
            record(
                json!({"request_id": "r1", "Status": " pending ", "Editor": "lead_exorg",
                          "comment": "ok\u{7}"}),
            ),
        );
        let d = approval(
            &portal,
            &config(&["lead_exorg"]),
            &delivery("editData", &id, None),
        )
        .await
        .unwrap();
        assert_eq!(
            d,
            ApprovalRecord {
                request_id: Some("r1".into()),
                status: Some("pending".into()),
                comment: None,
                editor: Some("lead_exorg".into()),
            }
        );
    }

    #[test]
    fn only_listed_editors_decide_when_there_is_a_list() {
        let listed = config(&["lead_exorg"]);
        assert_eq!(approver(&listed, Some("lead_exorg")).unwrap(), "lead_exorg");
        for other in [Some("Lead_ExOrg"), Some("intruder"), None] {
            assert_eq!(
                approver(&listed, other).unwrap_err().code(),
                "approver_not_allowed"
            );
        }
        let open = config(&[]);
        assert_eq!(approver(&open, Some("anyone")).unwrap(), "anyone");
        assert_eq!(approver(&open, None).unwrap(), "unknown");
    }
}
