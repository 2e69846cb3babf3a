//! Paged GET listings of the sharing API (`start`, `num`, `nextStart`;
//! fact sheet §9): one loop for every listing the client reads (whole, or
//! until a page holds what the caller looks for), and the page limits.
//!
//! Only the walk from page to page lives here: what a page holds and what
//! to keep of it is the caller's `read` closure and its own code. It must
//! not loop forever on a portal that keeps sending `nextStart`.

use std::ops::ControlFlow;

use serde_json::Value;

use super::ArcGisPortal;
use super::transport::Call;
use crate::portal::error::PortalError;

/// Most pages read from one paged listing: 100 pages of 100 is the portal's
/// 10,000-hit search limit (fact sheet §9), and a portal that keeps sending
/// `nextStart` cannot make us loop forever.
pub(super) const MAX_PAGES: usize = 100;

/// Most pages read from `portals/self/users` and `portals/self/invitations`:
/// listings, not searches, so the 10,000-hit limit does not apply; 2,000
/// pages of 100 is far beyond any organization, and reaching it is reported
/// rather than truncated.
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
    pub(super) async fn read_pages<T: Send>(
        &self,
        segments: &[&str],
        params: &[(&'static str, String)],
        max_pages: usize,
        overflow: Overflow,
        mut read: impl FnMut(Value) -> Result<(Vec<T>, Option<i64>), PortalError> + Send,
    ) -> Result<Vec<T>, PortalError> {
        let mut out = Vec::new();
        let walked = self
            .walk_pages(segments, params, max_pages, |v| {
                let (items, next) = read(v)?;
                out.extend(items);
                Ok(ControlFlow::<(), _>::Continue(next))
            })
            .await?;
        match (walked, overflow) {
            (Walk::Overflowed, Overflow::Fail) => Err(too_many_pages(segments, max_pages)),
            _ => Ok(out),
        }
    }

    /// Reads a paged GET listing like [`Self::read_pages`], but stops at the
    /// first page where `find` finds what it looks for (`find` turns one
    /// answer into the find, if any, and `nextStart`). `Ok(None)` only
    /// once every page was read; still more pages after `max_pages` is an
    /// error, because "not found" would be a guess.
    pub(super) async fn find_in_pages<T: Send>(
        &self,
        segments: &[&str],
        params: &[(&'static str, String)],
        max_pages: usize,
        mut find: impl FnMut(Value) -> Result<(Option<T>, Option<i64>), PortalError> + Send,
    ) -> Result<Option<T>, PortalError> {
        let walked = self
            .walk_pages(segments, params, max_pages, |v| {
                Ok(match find(v)? {
                    (Some(found), _) => ControlFlow::Break(found),
                    (None, next) => ControlFlow::Continue(next),
                })
            })
            .await?;
        match walked {
            Walk::Stopped(found) => Ok(Some(found)),
            Walk::End => Ok(None),
            Walk::Overflowed => Err(too_many_pages(segments, max_pages)),
        }
    }

    /// The page loop both readers share: `visit` sees each answer and says
    /// whether to stop (with a result) or go on to `nextStart`.
    async fn walk_pages<B>(
        &self,
        segments: &[&str],
        params: &[(&'static str, String)],
        max_pages: usize,
        mut visit: impl FnMut(Value) -> Result<ControlFlow<B, Option<i64>>, PortalError> + Send,
    ) -> Result<Walk<B>, PortalError> {
        let mut start: i64 = 1;
        for _ in 0..max_pages {
            let mut page_params = params.to_vec();
            page_params.push(("start", start.to_string()));
            page_params.push(("num", PAGE_SIZE.into()));
            let v = self.call(Call::get(segments, page_params)).await?;
            match visit(v)? {
                ControlFlow::Break(found) => return Ok(Walk::Stopped(found)),
                ControlFlow::Continue(Some(next)) if next > start => start = next,
                ControlFlow::Continue(_) => return Ok(Walk::End),
            }
        }
        Ok(Walk::Overflowed)
    }
}

/// How a walk through the pages ended.
enum Walk<B> {
    /// `visit` stopped it with this result.
    Stopped(B),
    /// The last page was read.
    End,
    /// `max_pages` pages were read and the listing still had more.
    Overflowed,
}

/// The error of a listing that still had pages after `max_pages`.
fn too_many_pages(segments: &[&str], max_pages: usize) -> PortalError {
    PortalError::Protocol(format!(
        "{} still had more pages after {max_pages} pages of {PAGE_SIZE}",
        segments.join("/")
    ))
}
