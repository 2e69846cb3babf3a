//! [`SignupRequest`]: a sign-up as every sender's adapter normalises it, the
//! one shape the workflow, the policy and the job queue see.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::email::Email;
use super::username::Username;

/// A sign-up, normalised: the one type the rest of the crate sees.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SignupRequest {
    /// The applicant's e-mail address (required).
    pub email: Email,
    /// Given name.
    pub first_name: Option<String>,
    /// Family name.
    pub last_name: Option<String>,
    /// A username the applicant asked for (checked against the AGOL rules).
    pub username: Option<Username>,
    /// The organization the applicant says they belong to.
    pub organization: Option<String>,
    /// An explicit pool requested by the sender.
    pub pool: Option<String>,
    /// Any other attributes the sender supplied, kept for rules and audit.
    pub attributes: BTreeMap<String, serde_json::Value>,
}
