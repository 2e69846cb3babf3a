//! `portals/self/createNotification`: messages the organization's
//! administrators send members, recorded one per recipient.
//!
//! Not in the fact sheet (\[I\]: the ArcGIS API for Python's
//! `gis.users.send_notification` and Esri REST JS's `createOrgNotification`
//! send it), so every rule here is the strict side: only `email` and
//! `builtin` channels, a message always, a subject for e-mail, at most 25
//! names per request (REST JS batches by 25), and every name a member of the
//! organization, or the whole request is refused and nothing is sent.

use super::State;
use crate::portal::simulator::error::ApiError;
use crate::portal::simulator::notification::SimNotification;

/// Most names one request may carry (REST JS `createOrgNotification`
/// sends 25 per request).
const MAX_RECIPIENTS: usize = 25;

fn refused(detail: &str) -> ApiError {
    // No documented wording; the shape is the sharing API's (fact sheet §1).
    ApiError::new(400, "Unable to create notification.").with_detail(detail)
}

impl State {
    /// Checks the whole request, then records one notification per named
    /// user (each name once, in the order given).
    pub fn create_notification(
        &mut self,
        channel: &str,
        subject: Option<&str>,
        message: &str,
        users: &[String],
    ) -> Result<(), ApiError> {
        if !matches!(channel, "email" | "builtin") {
            return Err(refused(&format!(
                "Unsupported notificationChannelType '{channel}': must be email or builtin."
            )));
        }
        let subject = subject.map(str::trim).unwrap_or_default();
        if channel == "email" && subject.is_empty() {
            return Err(ApiError::missing("subject"));
        }
        if message.trim().is_empty() {
            return Err(ApiError::missing("message"));
        }
        if users.len() > MAX_RECIPIENTS {
            return Err(refused(&format!(
                "A maximum of {MAX_RECIPIENTS} users can be notified in one request."
            )));
        }
        if let Some(unknown) = users.iter().find(|u| !self.members.contains_key(*u)) {
            return Err(refused(&format!(
                "User '{unknown}' does not exist or is not a member of the organization."
            )));
        }
        let mut done: Vec<&String> = Vec::new();
        for u in users {
            if done.contains(&u) {
                continue;
            }
            done.push(u);
            self.notifications.push(SimNotification {
                username: u.clone(),
                subject: subject.to_string(),
                message: message.to_string(),
                channel: channel.to_string(),
            });
        }
        Ok(())
    }
}
