//! One row's cells, checked: [`parse_row`] turns a CSV record into a
//! [`RowSpec`] (username, e-mail, names, role, user type, access, groups
//! resolved against the organization), or the list of [`RowError`]s with
//! their stable codes. What the import then does with the row is `plan`'s
//! job.

use csv::StringRecord;

use crate::domain::compat;
use crate::domain::{Email, Username};

use super::layout::{Column, Layout};
use super::org::OrgView;

/// A row refused, with a stable code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowError {
    /// Stable code, e.g. `invalid_email`, `pool_full`.
    pub code: &'static str,
    /// A sentence for the report.
    pub message: String,
}

impl RowError {
    pub(crate) fn new(code: &'static str, message: impl Into<String>) -> Self {
        RowError {
            code,
            message: message.into(),
        }
    }
}

/// Renders several problems of one row: `code: message; code: message`.
pub fn render_errors(errors: &[RowError]) -> String {
    errors
        .iter()
        .map(|e| format!("{}: {}", e.code, e.message))
        .collect::<Vec<_>>()
        .join("; ")
}

/// The cells of one row, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowSpec {
    /// As written.
    pub username: Username,
    /// As written (domain lower-cased).
    pub email: Email,
    /// `firstName`.
    pub first_name: Option<String>,
    /// `lastName`.
    pub last_name: Option<String>,
    /// `fullName`.
    pub full_name: Option<String>,
    /// Role id from `role` and/or `roleid`.
    pub role: Option<String>,
    /// User type id from `userLicenseTypeId` and/or `level`.
    pub user_type: Option<String>,
    /// `userType` (Esri access), lower-cased.
    pub esri_access: Option<String>,
    /// `access`, lower-cased.
    pub access: Option<String>,
    /// `groups` as `(id, title)`.
    pub groups: Option<Vec<(String, String)>>,
}

/// Per-row checks of the cells of `record`, read with `layout`; roles and
/// groups are resolved against the organization `org`.
pub fn parse_row(
    layout: &Layout,
    org: &OrgView,
    record: &StringRecord,
) -> Result<RowSpec, Vec<RowError>> {
    let l = layout;
    let mut errors = Vec::new();
    let username = match l.get(record, Column::Username) {
        None => {
            errors.push(RowError::new("invalid_username", "username is empty"));
            None
        }
        Some(u) => match Username::parse(u) {
            Ok(u) => Some(u),
            Err(e) => {
                errors.push(RowError::new(
                    "invalid_username",
                    format!("username {:?}: {}", e.name, e.reason),
                ));
                None
            }
        },
    };
    let email = match l.get(record, Column::Email) {
        None => {
            errors.push(RowError::new("invalid_email", "email is empty"));
            None
        }
        Some(e) => match Email::parse(e) {
            Ok(e) => Some(e),
            Err(err) => {
                errors.push(RowError::new("invalid_email", format!("{e:?}: {err}")));
                None
            }
        },
    };
    let mut text = |c: Column| -> Option<String> {
        let v = l.get(record, c)?;
        if v.chars().any(char::is_control) {
            errors.push(RowError::new(
                "invalid_value",
                format!("{} holds a line break or control character", c.name()),
            ));
            return None;
        }
        Some(v.to_string())
    };
    let first_name = text(Column::FirstName);
    let last_name = text(Column::LastName);
    let full_name = text(Column::FullName);

    // Role: by name (`role`) and/or by id (`roleid`), both from the
    // organization's own list.
    let by_name = l.get(record, Column::Role).map(|name| {
        org.role_id_by_name(name)
            .or_else(|| org.has_role_id(name).then_some(name))
            .map(str::to_string)
            .ok_or_else(|| {
                RowError::new(
                    "unknown_role",
                    format!("the organization has no role named {name:?}"),
                )
            })
    });
    let by_id = l.get(record, Column::RoleId).map(|id| {
        if org.has_role_id(id) {
            Ok(id.to_string())
        } else {
            Err(RowError::new(
                "unknown_role",
                format!("the organization has no role with id {id:?} (ids are case-sensitive)"),
            ))
        }
    });
    let role = match (by_name, by_id) {
        (Some(Err(e)), _) | (_, Some(Err(e))) => {
            errors.push(e);
            None
        }
        (Some(Ok(a)), Some(Ok(b))) if a != b => {
            errors.push(RowError::new(
                "role_conflict",
                format!(
                    "role {:?} and roleid {:?} name different roles",
                    org.role_label(&a),
                    b
                ),
            ));
            None
        }
        (Some(Ok(a)), _) => Some(a),
        (None, Some(Ok(b))) => Some(b),
        (None, None) => None,
    };

    // User type: `userLicenseTypeId`, or the old `level` (1 = Viewer,
    // 2 = Creator). Level 2 agrees with every type above Viewer.
    let level = match l.get(record, Column::Level) {
        None => None,
        Some("1") => Some(1u8),
        Some("2") => Some(2),
        Some(other) => {
            errors.push(RowError::new(
                "invalid_level",
                format!("level must be 1 (Viewer) or 2 (Creator), got {other:?}"),
            ));
            None
        }
    };
    let type_id = match l.get(record, Column::UserLicenseTypeId) {
        None => None,
        Some(t) if compat::is_known_user_type(t) => Some(t.to_string()),
        Some(t) => {
            let hint = known_types()
                .find(|id| id.eq_ignore_ascii_case(t))
                .map(|id| format!(" (ids are case-sensitive: did you mean {id:?}?)"))
                .unwrap_or_default();
            errors.push(RowError::new(
                "unknown_user_type",
                format!("unknown userLicenseTypeId {t:?}{hint}"),
            ));
            None
        }
    };
    let user_type = match (level, type_id) {
        (Some(lv), Some(t)) if (lv == 1) != (t == "viewerUT") => {
            errors.push(RowError::new(
                "user_type_conflict",
                format!(
                    "level {lv} and userLicenseTypeId {t:?} disagree (level 1 is viewerUT, level 2 any other type)"
                ),
            ));
            None
        }
        (_, Some(t)) => Some(t),
        (Some(1), None) => Some("viewerUT".to_string()),
        (Some(_), None) => Some("creatorUT".to_string()),
        (None, None) => None,
    };
    let mut choice = |c: Column, allowed: &[&str]| -> Option<String> {
        let v = l.get(record, c)?;
        let lower = v.to_ascii_lowercase();
        if allowed.contains(&lower.as_str()) {
            Some(lower)
        } else {
            errors.push(RowError::new(
                "invalid_value",
                format!(
                    "{} must be one of {}, got {v:?}",
                    c.name(),
                    allowed.join(", ")
                ),
            ));
            None
        }
    };
    let esri_access = choice(Column::UserType, &["arcgisonly", "both"]);
    let access = choice(Column::Access, &["public", "org", "private"]);

    let groups = l.get(record, Column::Groups).map(|cell| {
        let mut found = Vec::new();
        let mut missing = Vec::new();
        for title in cell.split(',').map(str::trim).filter(|t| !t.is_empty()) {
            match org.group_id(title) {
                Some(id) if !found.iter().any(|(i, _): &(String, String)| i == id) => {
                    found.push((id.to_string(), title.to_string()))
                }
                Some(_) => {}
                None => missing.push(format!("{title:?}")),
            }
        }
        if !missing.is_empty() {
            errors.push(RowError::new(
                "unknown_group",
                format!("no group titled {} in the organization", missing.join(", ")),
            ));
        }
        found
    });

    match (username, email) {
        (Some(username), Some(email)) if errors.is_empty() => Ok(RowSpec {
            username,
            email,
            first_name,
            last_name,
            full_name,
            role,
            user_type,
            esri_access,
            access,
            groups,
        }),
        _ => Err(errors),
    }
}

fn known_types() -> impl Iterator<Item = &'static str> {
    compat::CURRENT_USER_TYPES
        .iter()
        .map(|(id, _)| *id)
        .chain(compat::LEGACY_USER_TYPES.iter().copied())
}
