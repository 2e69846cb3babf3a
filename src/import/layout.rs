//! The CSV layout of the ArcGIS AdminTools "Import Users from CSV" tool: the
//! header names, which are required, and reading one row's cells by name.
//!
//! Header names are case-sensitive and carry no spaces. `username` and
//! `email` are required; every other column is optional. An empty cell means
//! "not given for this row": the pool's default for a new member, the
//! current value for an existing one.

use csv::StringRecord;

/// One known column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Column {
    /// `username` (required).
    Username,
    /// `email` (required).
    Email,
    /// `fullName`.
    FullName,
    /// `firstName`.
    FirstName,
    /// `lastName`.
    LastName,
    /// `role`: a role's name (Administrator, Publisher, User, Viewer, …).
    Role,
    /// `roleid`: a role's id (`org_user`, `iAAAAAAAAAAAAAAA`, a custom id).
    RoleId,
    /// `level`: `1` (Viewer) or `2` (Creator), the old way to name a user type.
    Level,
    /// `userType`: Esri access, `arcgisonly` or `both`.
    UserType,
    /// `access`: profile visibility, `public`, `org` or `private`.
    Access,
    /// `userLicenseTypeId`: the user type id, e.g. `creatorUT`.
    UserLicenseTypeId,
    /// `groups`: group titles separated by commas inside one field.
    Groups,
}

impl Column {
    /// Every column, in the order `docs/import.md` lists them.
    pub const ALL: [Column; 12] = [
        Column::Username,
        Column::Email,
        Column::FullName,
        Column::FirstName,
        Column::LastName,
        Column::Role,
        Column::RoleId,
        Column::Level,
        Column::UserType,
        Column::Access,
        Column::UserLicenseTypeId,
        Column::Groups,
    ];

    /// The header name, exactly as the file must spell it.
    pub fn name(self) -> &'static str {
        match self {
            Column::Username => "username",
            Column::Email => "email",
            Column::FullName => "fullName",
            Column::FirstName => "firstName",
            Column::LastName => "lastName",
            Column::Role => "role",
            Column::RoleId => "roleid",
            Column::Level => "level",
            Column::UserType => "userType",
            Column::Access => "access",
            Column::UserLicenseTypeId => "userLicenseTypeId",
            Column::Groups => "groups",
        }
    }

    fn parse(name: &str) -> Option<Column> {
        Column::ALL.into_iter().find(|c| c.name() == name)
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// A problem with the header line: the file cannot be imported at all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeaderError {
    /// `unknown_header`, `missing_header`, `duplicate_header` or `empty_file`.
    pub code: &'static str,
    /// The header concerned (as written), when there is one.
    pub header: Option<String>,
    /// A sentence for the report.
    pub message: String,
}

/// Where each known column sits in the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    positions: [Option<usize>; 12],
}

impl Layout {
    /// Checks the header record. Every problem is reported, not just the
    /// first: unknown names (with a hint when only the case or spaces
    /// differ), duplicates, and missing required columns.
    pub fn from_header(header: &StringRecord) -> Result<Layout, Vec<HeaderError>> {
        let mut positions = [None; 12];
        let mut errors = Vec::new();
        if header.iter().all(|h| h.trim().is_empty()) {
            return Err(vec![HeaderError {
                code: "empty_file",
                header: None,
                message: "the file has no header line".into(),
            }]);
        }
        for (i, raw) in header.iter().enumerate() {
            // A byte-order mark is not part of the first header's name.
            let name = if i == 0 {
                raw.trim_start_matches('\u{feff}')
            } else {
                raw
            };
            match Column::parse(name) {
                Some(c) if positions[c.index()].is_some() => errors.push(HeaderError {
                    code: "duplicate_header",
                    header: Some(name.to_string()),
                    message: format!("header {name:?} appears more than once"),
                }),
                Some(c) => positions[c.index()] = Some(i),
                None => {
                    let squashed: String = name.chars().filter(|c| !c.is_whitespace()).collect();
                    let hint = Column::ALL
                        .iter()
                        .find(|c| c.name().eq_ignore_ascii_case(&squashed))
                        .map(|c| {
                            format!(
                                " (header names are case-sensitive, without spaces: did you mean {:?}?)",
                                c.name()
                            )
                        })
                        .unwrap_or_else(|| {
                            format!(
                                " (known headers: {})",
                                Column::ALL.map(Column::name).join(", ")
                            )
                        });
                    errors.push(HeaderError {
                        code: "unknown_header",
                        header: Some(name.to_string()),
                        message: format!("unknown header {name:?} in column {}{hint}", i + 1),
                    });
                }
            }
        }
        for required in [Column::Username, Column::Email] {
            if positions[required.index()].is_none() {
                errors.push(HeaderError {
                    code: "missing_header",
                    header: Some(required.name().to_string()),
                    message: format!("required header {:?} is missing", required.name()),
                });
            }
        }
        if errors.is_empty() {
            Ok(Layout { positions })
        } else {
            Err(errors)
        }
    }

    /// Whether the file has this column.
    pub fn has(&self, c: Column) -> bool {
        self.positions[c.index()].is_some()
    }

    /// The columns the file has, in [`Column::ALL`] order.
    pub fn columns(&self) -> impl Iterator<Item = Column> + '_ {
        Column::ALL.into_iter().filter(|c| self.has(*c))
    }

    /// A cell, trimmed; `None` when the column is absent or the cell empty.
    pub fn get<'r>(&self, record: &'r StringRecord, c: Column) -> Option<&'r str> {
        self.positions[c.index()]
            .and_then(|i| record.get(i))
            .map(str::trim)
            .filter(|s| !s.is_empty())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(cells: &[&str]) -> StringRecord {
        StringRecord::from(cells.to_vec())
    }

    #[test]
    fn every_column_is_found_by_its_exact_name() {
        let names: Vec<&str> = Column::ALL.iter().map(|c| c.name()).collect();
        let layout = Layout::from_header(&header(&names)).unwrap();
        assert_eq!(layout.columns().count(), 12);
        let row = StringRecord::from(vec!["jdoe_acme", " jane@acme.org ", "", "Jane"]);
        assert_eq!(layout.get(&row, Column::Email), Some("jane@acme.org"));
        assert_eq!(
            layout.get(&row, Column::FullName),
            None,
            "empty = not given"
        );
        assert_eq!(layout.get(&row, Column::Groups), None, "short row");
    }

    #[test]
    fn header_errors_name_the_header() {
        let errs =
            Layout::from_header(&header(&["Username", "email", "nickname", "email"])).unwrap_err();
        let codes: Vec<_> = errs.iter().map(|e| (e.code, e.header.as_deref())).collect();
        assert_eq!(
            codes,
            vec![
                ("unknown_header", Some("Username")),
                ("unknown_header", Some("nickname")),
                ("duplicate_header", Some("email")),
                ("missing_header", Some("username")),
            ]
        );
        assert!(
            errs[0].message.contains("did you mean \"username\""),
            "{errs:?}"
        );
    }

    #[test]
    fn a_byte_order_mark_is_ignored() {
        assert!(Layout::from_header(&header(&["\u{feff}username", "email"])).is_ok());
    }
}
