//! The answers Entra expects from an `OnAttributeCollectionSubmit` custom
//! extension: HTTP 200, `application/json`, `data.actions` holding exactly
//! one action (anything else fails the sign-up with a 10030xx error).

use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::intake::reply::{HookAnswer, HookReply};

/// `data.@odata.type` of every answer.
pub const RESPONSE_DATA_TYPE: &str = "microsoft.graph.onAttributeCollectionSubmitResponseData";

/// Prefix of each action's `@odata.type`.
const ACTION_PREFIX: &str = "microsoft.graph.attributeCollectionSubmit.";

/// What to tell Entra about one submitted sign-up (an `…Action` of the
/// `onAttributeCollectionSubmitResponseData`).
#[derive(Clone, Debug, PartialEq)]
pub enum SubmitAction {
    /// Let the sign-up continue unchanged.
    Continue,
    /// Stop the sign-up and show a page with this message (e.g. "request
    /// received, pending approval" or "no seats left").
    Block(String),
    /// Keep the user on the form with a message and per-attribute errors
    /// (attribute name → message).
    ValidationError {
        /// The message at the top of the form.
        message: String,
        /// Attribute name → message shown next to it.
        attribute_errors: BTreeMap<String, String>,
    },
    /// Continue with these attribute values overriding what was entered.
    ModifyAttributes(BTreeMap<String, Value>),
}

impl SubmitAction {
    /// The JSON body for this action.
    pub fn to_json(&self) -> Value {
        match self {
            SubmitAction::Continue => continue_with_default(),
            SubmitAction::Block(message) => show_block_page(message),
            SubmitAction::ValidationError {
                message,
                attribute_errors,
            } => show_validation_error(message, attribute_errors),
            SubmitAction::ModifyAttributes(attributes) => modify_attribute_values(attributes),
        }
    }
}

fn envelope(action: Value) -> Value {
    json!({
        "data": {
            "@odata.type": RESPONSE_DATA_TYPE,
            "actions": [action],
        }
    })
}

/// `continueWithDefaultBehavior`: the sign-up proceeds.
pub fn continue_with_default() -> Value {
    envelope(json!({
        "@odata.type": format!("{ACTION_PREFIX}continueWithDefaultBehavior"),
    }))
}

/// `showBlockPage`: the sign-up stops with `message`.
pub fn show_block_page(message: &str) -> Value {
    envelope(json!({
        "@odata.type": format!("{ACTION_PREFIX}showBlockPage"),
        "message": message,
    }))
}

/// `showValidationError`: the form is shown again with `message` and the
/// per-attribute messages.
pub fn show_validation_error(message: &str, attribute_errors: &BTreeMap<String, String>) -> Value {
    envelope(json!({
        "@odata.type": format!("{ACTION_PREFIX}showValidationError"),
        "message": message,
        "attributeErrors": attribute_errors,
    }))
}

/// `modifyAttributeValues`: the sign-up proceeds with these values.
pub fn modify_attribute_values(attributes: &BTreeMap<String, Value>) -> Value {
    envelope(json!({
        "@odata.type": format!("{ACTION_PREFIX}modifyAttributeValues"),
        "attributes": attributes,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn only_action(v: &Value) -> &Value {
        assert_eq!(v["data"]["@odata.type"], RESPONSE_DATA_TYPE);
        let actions = v["data"]["actions"].as_array().unwrap();
        assert_eq!(actions.len(), 1);
        &actions[0]
    }

    #[test]
    fn continue_has_exactly_the_documented_shape() {
        assert_eq!(
            continue_with_default(),
            json!({"data": {
                "@odata.type": "microsoft.graph.onAttributeCollectionSubmitResponseData",
                "actions": [{"@odata.type":
                    "microsoft.graph.attributeCollectionSubmit.continueWithDefaultBehavior"}]
            }})
        );
    }

    #[test]
    fn block_page_carries_the_message() {
        let v = show_block_page("Request received, pending approval.");
        let a = only_action(&v);
        assert_eq!(
            a["@odata.type"],
            "microsoft.graph.attributeCollectionSubmit.showBlockPage"
        );
        assert_eq!(a["message"], "Request received, pending approval.");
    }

    #[test]
    fn validation_error_lists_attribute_errors() {
        let errs = BTreeMap::from([("companyName".to_string(), "Unknown".to_string())]);
        let v = SubmitAction::ValidationError {
            message: "Please fix".into(),
            attribute_errors: errs,
        }
        .to_json();
        let a = only_action(&v);
        assert_eq!(
            a["@odata.type"],
            "microsoft.graph.attributeCollectionSubmit.showValidationError"
        );
        assert_eq!(a["attributeErrors"]["companyName"], "Unknown");
    }

    #[test]
    fn modify_and_decision_enum_build_one_action_each() {
        let attrs = BTreeMap::from([("city".to_string(), Value::from("Oslo"))]);
        for d in [
            SubmitAction::Continue,
            SubmitAction::Block("no".into()),
            SubmitAction::ModifyAttributes(attrs),
        ] {
            only_action(&d.to_json());
        }
    }
}

/// The attribute-collection hook's replies: how each [`HookAnswer`] is told
/// to the person (continue, or a block page with the reason).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AttributeCollectionReply;

impl AttributeCollectionReply {
    /// The action for an answer.
    pub fn action(&self, answer: &HookAnswer) -> SubmitAction {
        let block = |text: &str| SubmitAction::Block(text.into());
        match answer {
            HookAnswer::Admitted => SubmitAction::Continue,
            HookAnswer::PendingApproval => block(
                "Request received, pending approval. You will be told by e-mail when it is decided.",
            ),
            HookAnswer::Waitlisted { position } => SubmitAction::Block(format!(
                "All seats for your organization are taken; you are number {position} on the waiting list."
            )),
            HookAnswer::PoolFull => {
                block("No seats are left for your organization. Please contact your coordinator.")
            }
            HookAnswer::NotEligible => {
                block("Sign-up is not open for your organization or e-mail address.")
            }
            HookAnswer::TryLater => {
                block("Sign-up is temporarily unavailable. Please try again in a few minutes.")
            }
            HookAnswer::NotAccepted => {
                block("Your sign-up could not be accepted. Please contact the administrator.")
            }
            HookAnswer::MissingInformation => block(
                "Your sign-up is missing information we need. Please contact the administrator.",
            ),
        }
    }
}

impl HookReply for AttributeCollectionReply {
    fn reply(&self, answer: &HookAnswer) -> Value {
        self.action(answer).to_json()
    }
}
