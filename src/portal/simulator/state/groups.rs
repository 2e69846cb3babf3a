//! Groups: look-up by id, the `community/groups` search, `addUsers`, the
//! group JSON and `userList` (who may read it, who is in it).
//!
//! The search is deliberately loose (tokens, substring titles), as the
//! portal's is fuzzy; clients must do their own exact matching.

use serde_json::{Value, json};

use super::{Caller, Group, State};
use crate::portal::simulator::error::ApiError;
use crate::portal::simulator::member::SimMember;
use crate::portal::simulator::org::Org;

/// Most names one `addUsers` request may carry (fact sheet §6, §9).
const MAX_ADD_USERS: usize = 25;
/// Most groups one user may belong to (fact sheet §9).
const MAX_GROUPS_PER_USER: usize = 512;

/// Splits a search query into tokens, keeping quoted phrases together and
/// dropping the quotes and parentheses.
fn query_tokens(q: &str) -> Vec<String> {
    let mut tokens = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    for c in q.chars() {
        match c {
            '"' => quoted = !quoted,
            '(' | ')' if !quoted => {}
            c if c.is_whitespace() && !quoted => {
                if !cur.is_empty() {
                    tokens.push(std::mem::take(&mut cur));
                }
            }
            c => cur.push(c),
        }
    }
    if !cur.is_empty() {
        tokens.push(cur);
    }
    tokens
}

impl State {
    pub fn group(&self, id: &str) -> Option<&Group> {
        self.groups.iter().find(|g| g.id == id)
    }

    /// Adds a group titled `title` owned by `owner` (exact username; not
    /// checked). Returns its id, or `None`, changing nothing, when a group
    /// already has that title (any case).
    pub fn seed_group(&mut self, org: &Org, title: &str, owner: &str) -> Option<String> {
        if self
            .groups
            .iter()
            .any(|g| g.title.eq_ignore_ascii_case(title))
        {
            return None;
        }
        let id = super::group_id(&org.id, title);
        self.groups.push(Group {
            id: id.clone(),
            title: title.to_string(),
            owner: owner.to_string(),
        });
        Some(id)
    }

    /// `community/groups/{gid}/addUsers`. Returns `notAdded`.
    pub fn add_users(&mut self, group_id: &str, names: &[String]) -> Result<Vec<String>, ApiError> {
        if self.group(group_id).is_none() {
            return Err(ApiError::no_group());
        }
        if names.len() > MAX_ADD_USERS {
            return Err(
                ApiError::new(400, "Unable to add users to the group.").with_detail(&format!(
                    "A maximum of {MAX_ADD_USERS} users can be added in one request."
                )),
            );
        }
        let mut not_added = Vec::new();
        for name in names {
            match self.members.get_mut(name) {
                Some(m) if m.group_ids.iter().any(|g| g == group_id) => {}
                Some(m) if m.group_ids.len() < MAX_GROUPS_PER_USER => {
                    m.group_ids.push(group_id.to_string());
                }
                _ => not_added.push(name.clone()),
            }
        }
        Ok(not_added)
    }

    /// `community/groups` search: every token must match. `title:` is a
    /// case-insensitive substring, `orgid:`/`id:`/`owner:` are exact, a bare
    /// word matches the title, `AND`/`OR` are ignored, other fields are
    /// ignored.
    pub fn search_groups(&self, org: &Org, q: &str) -> Vec<&Group> {
        let tokens: Vec<String> = query_tokens(q)
            .into_iter()
            .filter(|t| !matches!(t.as_str(), "AND" | "OR"))
            .collect();
        self.groups
            .iter()
            .filter(|g| {
                tokens.iter().all(|t| {
                    let (field, value) = match t.split_once(':') {
                        Some((f, v)) => (f.to_ascii_lowercase(), v),
                        None => ("title".to_string(), t.as_str()),
                    };
                    let value = value.trim_matches('*').to_lowercase();
                    match field.as_str() {
                        "title" => g.title.to_lowercase().contains(&value),
                        "orgid" => org.id.to_lowercase() == value,
                        "id" => g.id == value,
                        "owner" => g.owner.to_lowercase() == value,
                        _ => true,
                    }
                })
            })
            .collect()
    }

    pub fn group_json(&self, org: &Org, g: &Group) -> Value {
        json!({
            "id": g.id,
            "title": g.title,
            "owner": g.owner,
            "orgId": org.id,
            "access": "org",
        })
    }

    /// `community/groups/{gid}/userList`: the owner as `{username,
    /// memberType}` and every other member as `{username, memberType,
    /// joined}`, sorted by username. The organization's administrators, the
    /// owner and the group's members may read it; anyone else gets 403. An
    /// unknown group is `COM_0003`.
    pub fn group_user_list(
        &self,
        group_id: &str,
        caller: &Caller,
    ) -> Result<(Value, Vec<Value>), ApiError> {
        let g = self.group(group_id).ok_or_else(ApiError::no_group)?;
        let in_group = |m: &SimMember| m.group_ids.iter().any(|id| id == group_id);
        let may_read = caller.admin
            || caller.username == g.owner
            || self.members.get(&caller.username).is_some_and(in_group);
        if !may_read {
            return Err(ApiError::forbidden());
        }
        let owner = json!({ "username": g.owner, "memberType": "owner" });
        // Members are kept by username (a BTreeMap), so this is sorted.
        let users = self
            .members
            .values()
            .filter(|m| in_group(m) && m.username != g.owner)
            .map(|m| json!({ "username": m.username, "memberType": "member", "joined": m.created }))
            .collect();
        Ok((owner, users))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_tokens_keep_quoted_titles_together() {
        assert_eq!(
            query_tokens(r#"title:"Field Crews" AND (orgid:ABC)"#),
            vec!["title:Field Crews", "AND", "orgid:ABC"]
        );
    }
}
