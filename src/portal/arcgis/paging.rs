//! Paged GET listings of the sharing API (`start`, `num`, `nextStart`;
//! fact sheet §9): one loop for every listing the client reads, and the
//! page limits.
//!
//! Only the walk from page to page lives here: what a page holds and what
//! to keep of it is the caller's `read` closure and its own code. It must
//! not loop forever on a portal that keeps sending `nextStart`.

use serde_json::Value;

use super::ArcGisPortal;
use super::transport::Call;
use crate::portal::error::PortalError;

/// Most pages read from one paged listing: 100 pages of 100 is the portal's
/// 10,000-hit search limit (fact sheet §9), and a portal that keeps sending
/// `nextStart` cannot make us loop forever.
pub(super) const MAX_PAGES: usize = 100;

/// Most pages read from `portals/self/users`: a listing, not a search, so
/// the 10,000-hit limit does not apply; 2,000 pages of 100 is far beyond any
/// organization, and reaching it is reported rather than truncated.
pub(super) const MAX_MEMBER_PAGES: usize = 2_000;

/// Page size for paged listings (the portal's maximum).
const PAGE_SIZE: &str = "100";

/// What a listing does when it still has pages after `max_pages`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Overflow {
    /// An error rather than a silently truncated list (the bulk listings:
    /// a caller would take a truncated list for the whole organization).
    Fail,
    /// Keep what was read. The group look-up by title and the seat counts
    /// have always stopped quietly at [`MAX_PAGES`]; kept as they were.
    Stop,
}

impl ArcGisPortal {
    /// Reads a paged GET listing from `start=1` with `num=100` until
    /// `nextStart` is `-1`, absent or does not move forward. `read` turns one
    /// answer into its items and `nextStart`. Every page is its own logical
    /// call (own deadline, own token renewal). More than `max_pages` pages is
    /// an error with [`Overflow::Fail`], the pages read so far with
    /// [`Overflow::Stop`].
    pub(super) async fn read_pages<T>(
        &self,
        segments: &[&str],
        params: &[(&'static str, String)],
        max_pages: usize,
        overflow: Overflow,
        mut read: impl FnMut(Value) -> Result<(Vec<T>, Option<i64>), PortalError> + Send,
    ) -> Result<Vec<T>, PortalError> {
        let mut out = Vec::new();
        let mut start: i64 = 1;
        for _ in 0..max_pages {
            let mut page_params = params.to_vec();
            page_params.push(("start", start.to_string()));
            page_params.push(("num", PAGE_SIZE.into()));
            let v = self.call(Call::get(segments, page_params)).await?;
            let (items, next) = read(v)?;
            out.extend(items);
            match next {
                Some(next) if next > start => start = next,
                _ => return Ok(out),
            }
        }
        match overflow {
            Overflow::Stop => Ok(out),
            Overflow::Fail => Err(PortalError::Protocol(format!(
                "{} still had more pages after {max_pages} pages of {PAGE_SIZE}",
                segments.join("/")
            ))),
        }
    }
}
