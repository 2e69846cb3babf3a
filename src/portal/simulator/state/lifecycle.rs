//! A member's standing after sign-up: `community/users/<u>/disable` and
//! `/enable`, and `community/users/<u>/delete` (fact sheet §6, \[D\]).
//!
//! A disabled member keeps its seat (ArcGIS Online counts disabled members)
//! and cannot sign in. A deletion is refused while the member owns items or
//! groups; a deleted member's seat is free and its username stays taken.

use super::{Caller, State};
use crate::portal::simulator::error::ApiError;

fn refused(operation: &str, detail: &str) -> ApiError {
    // No documented wording; the shape is the sharing API's (fact sheet §1).
    ApiError::new(400, &format!("Unable to {operation} user.")).with_detail(detail)
}

/// `n` and a noun in the singular or plural (`1 item`, `3 items`).
fn count(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

impl State {
    /// `community/users/<u>/disable` (`disabled = true`) or `/enable`
    /// (`false`) by an administrator. Unknown member → "does not exist".
    /// An administrator cannot disable its own account (taken on the
    /// strict side: the portal's rule is not documented). Disabling drops
    /// the member's tokens, so a session it had ends at once (\[I\]).
    /// Repeating it changes nothing and is not an error.
    pub fn set_disabled(
        &mut self,
        caller: &Caller,
        username: &str,
        disabled: bool,
    ) -> Result<(), ApiError> {
        if !self.members.contains_key(username) {
            return Err(ApiError::no_user());
        }
        if disabled && caller.username == username {
            return Err(refused(
                "disable",
                "An administrator cannot disable their own account.",
            ));
        }
        let Some(m) = self.members.get_mut(username) else {
            return Err(ApiError::no_user());
        };
        m.disabled = disabled;
        if disabled {
            self.tokens.retain(|_, t| t.username != username);
        }
        Ok(())
    }

    /// `community/users/<u>/delete` by an administrator: refused with an
    /// error object while the member owns items or groups (fact sheet §6:
    /// "reassign first"; the wording is not documented, so it names what
    /// the member owns). Otherwise the member, its password and its tokens
    /// are gone, its seat is free, and its username stays taken:
    /// `checkUsernames` answers an empty list for it (what the fact sheet
    /// saw for deleted names) and an invitation under it is `notInvited`.
    /// An administrator cannot delete itself.
    pub fn delete_member(&mut self, caller: &Caller, username: &str) -> Result<(), ApiError> {
        if !self.members.contains_key(username) {
            return Err(ApiError::no_user());
        }
        if caller.username == username {
            return Err(refused(
                "delete",
                "An administrator cannot delete their own account.",
            ));
        }
        let items = self.items_owned(username);
        let groups = self.groups.iter().filter(|g| g.owner == username).count();
        if items > 0 || groups > 0 {
            return Err(refused(
                "delete",
                &format!(
                    "User '{username}' owns {} and {}; reassign or delete them first.",
                    count(items, "item"),
                    count(groups, "group")
                ),
            ));
        }
        self.members.remove(username);
        self.passwords.remove(username);
        self.tokens.retain(|_, t| t.username != username);
        self.deleted_names.insert(username.to_lowercase());
        Ok(())
    }

    /// Deletes a member whatever it owns (a test's back door for a deletion
    /// made outside the broker): as [`Self::delete_member`] otherwise.
    /// `false` when there is no such member.
    pub fn remove_member(&mut self, username: &str) -> bool {
        if self.members.remove(username).is_none() {
            return false;
        }
        self.passwords.remove(username);
        self.tokens.retain(|_, t| t.username != username);
        self.deleted_names.insert(username.to_lowercase());
        true
    }

    /// Whether `username` belonged to a member deleted with
    /// `community/users/<u>/delete` (any case).
    pub fn is_deleted_name(&self, username: &str) -> bool {
        self.deleted_names.contains(&username.to_lowercase())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_read_naturally() {
        assert_eq!(count(1, "item"), "1 item");
        assert_eq!(count(0, "group"), "0 groups");
        assert_eq!(count(3, "item"), "3 items");
    }
}
