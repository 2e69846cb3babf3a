//! Members' content: items seeded by tests and `GET content/users/<u>`
//! (who may read it, in what order), and how many items a member owns
//! (what blocks its deletion).
//!
//! Every item sits in its owner's root folder: the simulator has no other
//! folders, so `folders` is always empty.

use serde_json::{Value, json};

use super::{Caller, State};
use crate::domain::UnixMillis;
use crate::portal::simulator::content::{SimItem, item_id};
use crate::portal::simulator::error::ApiError;

impl State {
    /// Adds an item owned by `owner` (exact username; not checked, so a
    /// test may give content to anyone) at `now`. Returns its id.
    pub fn seed_item(&mut self, owner: &str, title: &str, now: UnixMillis) -> String {
        self.item_seq += 1;
        let id = item_id(owner, title, self.item_seq);
        self.items.push(SimItem {
            id: id.clone(),
            owner: owner.to_string(),
            title: title.to_string(),
            created: now,
        });
        id
    }

    /// How many items `username` owns (exact name).
    pub fn items_owned(&self, username: &str) -> usize {
        self.items.iter().filter(|i| i.owner == username).count()
    }

    /// `content/users/<u>`: the member's items, oldest first. The member
    /// itself or an administrator of the organization may read it; anyone
    /// else gets 403 (taken on the strict side). An unknown member → "does
    /// not exist".
    pub fn user_items(&self, caller: &Caller, username: &str) -> Result<Vec<&SimItem>, ApiError> {
        if !self.members.contains_key(username) {
            return Err(ApiError::no_user());
        }
        if !caller.admin && caller.username != username {
            return Err(ApiError::forbidden());
        }
        Ok(self.items.iter().filter(|i| i.owner == username).collect())
    }

    /// One entry of `items` in `content/users/<u>`: the keys of an item
    /// that a client may read (`id`, `owner`, `title`, `type`, times,
    /// `ownerFolder` null for the root folder, `access`).
    pub fn item_json(&self, item: &SimItem) -> Value {
        json!({
            "id": item.id,
            "owner": item.owner,
            "title": item.title,
            "type": "Web Map",
            "created": item.created,
            "modified": item.created,
            "ownerFolder": null,
            "access": "private",
        })
    }
}
