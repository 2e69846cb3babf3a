//! Injected faults and request counts: which fault applies to a request
//! (counting its `times` down), and how many requests hit a path.
//!
//! Bookkeeping only: applying a fault to a response is the HTTP layer's job.

use super::State;
use crate::portal::simulator::fault::{Fault, FaultKind};

/// Whether a request path (lower-cased, below `/sharing/rest/`) ends with
/// `suffix` on whole segments. An empty suffix matches everything.
pub(super) fn path_matches(path_lc: &str, suffix: &str) -> bool {
    let s = suffix.trim_matches('/').to_ascii_lowercase();
    let s = s.strip_prefix("sharing/rest/").unwrap_or(&s);
    s.is_empty() || path_lc == s || path_lc.ends_with(&format!("/{s}"))
}

impl State {
    pub fn inject(&mut self, fault: Fault) {
        if fault.times != Some(0) {
            self.faults.push(fault);
        }
    }

    /// Records one request to `path_lc`.
    pub fn count_request(&mut self, path_lc: &str) {
        *self.requests.entry(path_lc.to_string()).or_insert(0) += 1;
    }

    pub fn request_count(&self, suffix: &str) -> u64 {
        self.requests
            .iter()
            .filter(|(p, _)| path_matches(p, suffix))
            .map(|(_, n)| *n)
            .sum()
    }

    /// The first fault that applies to this request, counting down its
    /// `times`. `NotInvited` faults only apply to invite requests.
    pub fn take_fault(&mut self, path_lc: &str, is_invite: bool) -> Option<FaultKind> {
        let idx = self.faults.iter().position(|f| {
            f.endpoint
                .as_deref()
                .is_none_or(|ep| path_matches(path_lc, ep))
                && (is_invite || f.kind != FaultKind::NotInvited)
        })?;
        let kind = self.faults[idx].kind.clone();
        if let Some(times) = self.faults[idx].times.as_mut() {
            *times = times.saturating_sub(1);
            if *times == 0 {
                self.faults.remove(idx);
            }
        }
        Some(kind)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_suffixes_match_whole_segments_only() {
        assert!(path_matches("portals/self/invite", "invite"));
        assert!(path_matches(
            "portals/self/invite",
            "/sharing/rest/portals/self/invite"
        ));
        assert!(path_matches(
            "portals/self/updateuserrole",
            "updateUserRole"
        ));
        assert!(!path_matches("portals/self/removeusers", "users"));
        assert!(path_matches("portals/self/users", "users"));
        assert!(path_matches("anything", ""));
    }
}
