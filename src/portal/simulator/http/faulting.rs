//! Injected faults as every request the simulator serves meets them (the
//! sharing API, hosted layers' `query` and the portaladmin API): those
//! answered at once ([`Outcome::Answer`], [`Outcome::ErrorBody`]), and what
//! the others make the operation do ([`Plan`]: carry it out late, hold its
//! answer back, refuse every invitation).
//!
//! Never holds the state lock across an `.await` (the `Delay` fault
//! sleeps with it released).

use std::time::Duration;

use axum::http::StatusCode;
use axum::http::header::RETRY_AFTER;
use axum::response::{IntoResponse, Response};

use crate::portal::simulator::error::ApiError;
use crate::portal::simulator::fault::FaultKind;
use crate::portal::simulator::sim::PortalSimulator;

/// What a fault leaves of a request.
pub(super) enum Outcome {
    /// Answer this at once; the request is not carried out.
    Answer(Response),
    /// Answer this error at once, in the API's own error shape; the
    /// request is not carried out.
    ErrorBody(ApiError),
    /// Carry the request out as the plan says.
    Proceed(Plan),
}

/// How to carry out a request a fault lets through.
#[derive(Debug, Default)]
pub(super) struct Plan {
    /// `portals/self/invite` lists every invitation in `notInvited`.
    pub refuse_all_invitations: bool,
    /// Carry out at once, then keep the answer back this long.
    hold_answer: Option<Duration>,
    /// Carry out only after this long (even if the client gave up).
    carry_out_after: Option<Duration>,
}

/// Applies `fault` (the one `State::take_fault` chose, if any): answers
/// at once, or waits (`Delay`), expires every token (`ExpireTokens`), and
/// says how the request is to be carried out.
pub(super) async fn apply(sim: &PortalSimulator, fault: Option<FaultKind>) -> Outcome {
    let mut plan = Plan::default();
    match fault {
        Some(FaultKind::HttpStatus(code)) => {
            let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            return Outcome::Answer(
                (status, format!("simulated fault: HTTP {code}")).into_response(),
            );
        }
        Some(FaultKind::TooManyRequests { retry_after_secs }) => {
            return Outcome::Answer(
                (
                    StatusCode::TOO_MANY_REQUESTS,
                    [(RETRY_AFTER, retry_after_secs.to_string())],
                    "simulated fault: too many requests",
                )
                    .into_response(),
            );
        }
        Some(FaultKind::Delay(d)) => tokio::time::sleep(d).await,
        Some(FaultKind::LoseReply(d)) => plan.hold_answer = Some(d),
        Some(FaultKind::LateSuccess(d)) => plan.carry_out_after = Some(d),
        Some(FaultKind::ErrorBody {
            code,
            message_code,
            message,
        }) => {
            let mut e = ApiError::new(code, &message);
            e.message_code = message_code;
            return Outcome::ErrorBody(e);
        }
        Some(FaultKind::NotInvited) => plan.refuse_all_invitations = true,
        Some(FaultKind::ExpireTokens) => sim.expire_tokens(),
        None => {}
    }
    Outcome::Proceed(plan)
}

impl Plan {
    /// Runs `op` as planned: at once, or (`LateSuccess`) after the delay in
    /// a task of its own, so the change happens even when the client gave
    /// up meanwhile (dropping the request's handler); `if_lost` answers
    /// when that task died. Then (`LoseReply`) keeps the answer back.
    pub(super) async fn carry_out<T, F>(self, op: F, if_lost: impl FnOnce() -> T) -> T
    where
        T: Send + 'static,
        F: FnOnce() -> T + Send + 'static,
    {
        let result = match self.carry_out_after {
            None => op(),
            Some(d) => {
                let late = tokio::spawn(async move {
                    tokio::time::sleep(d).await;
                    op()
                });
                late.await.unwrap_or_else(|_| if_lost())
            }
        };
        if let Some(d) = self.hold_answer {
            // Carried out above; the client may give up meanwhile.
            tokio::time::sleep(d).await;
        }
        result
    }
}
