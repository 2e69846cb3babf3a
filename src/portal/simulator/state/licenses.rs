//! Licences: seats per user type (purchased and assigned), and the two
//! changes they and the role × user type rules govern:
//! `updateUserLicenseType` and `updateUserRole`, refused per the
//! organization's [`RefusalStyle`].
//!
//! A seat is held by every member of the type, pending ones included, and
//! by every pending invitation for the type; a change never oversells.

use std::collections::BTreeMap;

use super::State;
use crate::domain::compat::{self, Compat};
use crate::portal::simulator::config::RefusalStyle;
use crate::portal::simulator::error::ApiError;
use crate::portal::simulator::member::SimMember;
use crate::portal::simulator::org::Org;

/// Why a role or type change was refused (reported per [`RefusalStyle`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Refusal {
    NotMember,
    UnknownType,
    UnknownRole,
    Incompatible,
    NoSeat,
}

impl Refusal {
    fn error(self) -> ApiError {
        match self {
            Refusal::NotMember => ApiError::no_user(),
            Refusal::UnknownType => ApiError::new(400, "Unrecognized user license type id."),
            Refusal::UnknownRole => ApiError::new(400, "Invalid role."),
            // No documented wording (fact sheet §1).
            Refusal::Incompatible => ApiError::new(
                400,
                "The user type is not compatible with the member's role.",
            ),
            Refusal::NoSeat => ApiError::new(
                400,
                "The number of user types assigned exceeds the number of user types available.",
            ),
        }
    }
}

impl State {
    /// Seats of `user_type` held by members and pending invitations.
    pub fn assigned(&self, user_type: &str) -> u64 {
        self.seat_holders()
            .filter(|m| m.user_type == user_type)
            .count() as u64
    }

    /// Everyone holding a seat: the members, then the members-to-be of the
    /// pending invitations (fact sheet §2: pending members count toward the
    /// totals; that they hold a user type seat is assumed).
    pub fn seat_holders(&self) -> impl Iterator<Item = &SimMember> {
        self.members
            .values()
            .chain(self.invitations.values().map(|i| &i.member))
    }

    pub fn purchased(&self, user_type: &str) -> u64 {
        self.purchased.get(user_type).copied().unwrap_or(0)
    }

    pub fn set_purchased(&mut self, user_type: &str, seats: u64) {
        if seats == 0 {
            self.purchased.remove(user_type);
        } else {
            self.purchased.insert(user_type.to_string(), seats);
        }
    }

    pub fn purchased_map(&self) -> &BTreeMap<String, u64> {
        &self.purchased
    }

    /// Assigned seats per user type, only types with seat holders.
    pub fn assigned_map(&self) -> BTreeMap<String, u64> {
        let mut out = BTreeMap::new();
        for m in self.seat_holders() {
            *out.entry(m.user_type.clone()).or_insert(0) += 1;
        }
        out
    }

    /// Seats per user type as `(id, purchased, assigned)`, by id: every
    /// type purchased and every type someone holds (a seat held beyond the
    /// purchase shows as such). What portaladmin `license` reports.
    pub fn seats_per_type(&self) -> Vec<(String, u64, u64)> {
        let assigned = self.assigned_map();
        let mut types: Vec<&String> = self.purchased.keys().chain(assigned.keys()).collect();
        types.sort();
        types.dedup();
        types
            .into_iter()
            .map(|t| {
                let held = assigned.get(t).copied().unwrap_or(0);
                (t.clone(), self.purchased(t), held)
            })
            .collect()
    }

    pub(super) fn is_known_type(&self, user_type: &str) -> bool {
        compat::is_known_user_type(user_type) || self.purchased.contains_key(user_type)
    }

    /// `portals/self/updateUserLicenseType`: `(username, status)` per user.
    /// With [`RefusalStyle::ErrorObject`] any refusal undoes the request.
    pub fn update_license_type(
        &mut self,
        org: &Org,
        users: &[String],
        user_type: &str,
    ) -> Result<Vec<(String, bool)>, ApiError> {
        let before = self.members.clone();
        let mut results = Vec::new();
        let mut first_refusal = None;
        for u in users {
            let outcome = self.change_type(org, u, user_type);
            if let Err(r) = outcome {
                first_refusal.get_or_insert(r);
            }
            results.push((u.clone(), outcome.is_ok()));
        }
        match (org.refusal_style, first_refusal) {
            (RefusalStyle::ErrorObject, Some(r)) => {
                self.members = before;
                Err(r.error())
            }
            _ => Ok(results),
        }
    }

    fn change_type(&mut self, org: &Org, username: &str, user_type: &str) -> Result<(), Refusal> {
        if !self.is_known_type(user_type) {
            return Err(Refusal::UnknownType);
        }
        let seat_free = self.assigned(user_type) < self.purchased(user_type);
        let m = self.members.get_mut(username).ok_or(Refusal::NotMember)?;
        if m.user_type == user_type {
            return Ok(());
        }
        if org.compatible(&m.role, user_type) == Compat::No {
            return Err(Refusal::Incompatible);
        }
        if !seat_free {
            return Err(Refusal::NoSeat);
        }
        m.user_type = user_type.to_string();
        Ok(())
    }

    /// `portals/self/updateUserRole`: `Ok(success)`, or the error object with
    /// [`RefusalStyle::ErrorObject`].
    pub fn update_role(&mut self, org: &Org, username: &str, role: &str) -> Result<bool, ApiError> {
        let outcome = if org.base_role(role).is_none() {
            Err(Refusal::UnknownRole)
        } else {
            match self.members.get_mut(username) {
                None => Err(Refusal::NotMember),
                Some(m) if org.compatible(role, &m.user_type) == Compat::No => {
                    Err(Refusal::Incompatible)
                }
                Some(m) => {
                    m.role = role.to_string();
                    Ok(())
                }
            }
        };
        match (outcome, org.refusal_style) {
            (Ok(()), _) => Ok(true),
            (Err(_), RefusalStyle::StatusFalse) => Ok(false),
            (Err(r), RefusalStyle::ErrorObject) => Err(r.error()),
        }
    }
}
