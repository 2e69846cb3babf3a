//! The answers Entra expects from an `OnAttributeCollectionSubmit` custom
//! extension: HTTP 200, `application/json`, `data.actions` holding exactly
//! one action (anything else fails the sign-up with a 10030xx error).

use std::collections::BTreeMap;

use serde_json::{Value, json};

/// `data.@odata.type` of every answer.
pub const RESPONSE_DATA_TYPE: &str = "microsoft.graph.onAttributeCollectionSubmitResponseData";

/// Prefix of each action's `@odata.type`.
const ACTION_PREFIX: &str = "microsoft.graph.attributeCollectionSubmit.";

/// What to tell Entra about one submitted sign-up.
#[derive(Clone, Debug, PartialEq)]
pub enum SubmitDecision {
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

impl SubmitDecision {
    /// The JSON body for this decision.
    pub fn to_json(&self) -> Value {
        match self {
            SubmitDecision::Continue => continue_with_default(),
            SubmitDecision::Block(message) => show_block_page(message),
            SubmitDecision::ValidationError {
                message,
                attribute_errors,
            } => show_validation_error(message, attribute_errors),
            SubmitDecision::ModifyAttributes(attributes) => modify_attribute_values(attributes),
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
        let v = SubmitDecision::ValidationError {
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
            SubmitDecision::Continue,
            SubmitDecision::Block("no".into()),
            SubmitDecision::ModifyAttributes(attrs),
        ] {
            only_action(&d.to_json());
        }
    }
}
