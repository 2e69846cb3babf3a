//! The writing pass: one planned row at a time per worker, at most
//! `concurrency` rows in flight, and one shared [`Gate`] that pauses every
//! worker while the portal answers "unavailable" (429, 5xx, timeouts after
//! the client's own retries), so the import slows down instead of failing.
//! A row gives up only when its own retry budget is spent, and is then
//! reported `retry_later`.
//!
//! New members go through [`Provisioner::sign_up`] under the delivery key
//! `import:<file hash>:<row>`, so the seat ledger and its delivery records
//! make a re-run idempotent. Existing members get only the changed fields,
//! role and user type in the order the portal accepts, groups added, and
//! their seat moved between pools when their user type changes: every seat
//! change goes through the workflow's seat functions, never the ledger.

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

use crate::clock::Clock;
use crate::config::WorkflowSettings;
use crate::domain::{ClaimKey, PoolId};
use crate::ids::Ids;
use crate::policy::{Policy, Rules};
use crate::portal::{Portal, PortalError};
use crate::provisioning::{Creation, Outcome, Provisioner};
use crate::seats::{Hold, LedgerError, Rekey, Reservation, SeatLedger, Stage};

use super::plan::{Create, SeatChange, Update, describe_update, only_pool};
use super::report::{Observer, RowResult, outcome};

/// Backoff shared by every worker.
pub struct Gate {
    state: Mutex<GateState>,
    min: Duration,
    max: Duration,
}

struct GateState {
    until: Instant,
    delay: Duration,
    pauses: u64,
}

impl Gate {
    /// A gate whose pauses grow from `min` to `max` (doubling) while the
    /// portal stays unavailable, and shrink again as calls succeed.
    pub fn new(min: Duration, max: Duration) -> Self {
        Gate {
            state: Mutex::new(GateState {
                until: Instant::now(),
                delay: Duration::ZERO,
                pauses: 0,
            }),
            min,
            max,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, GateState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Waits until no pause is in force.
    pub async fn wait(&self) {
        loop {
            let until = self.lock().until;
            if until <= Instant::now() {
                return;
            }
            tokio::time::sleep_until(until).await;
        }
    }

    /// The portal was unavailable: pause everyone, longer each time.
    /// Returns the pause.
    pub fn trouble(&self) -> Duration {
        let mut s = self.lock();
        s.delay = (s.delay * 2).clamp(self.min, self.max);
        let until = Instant::now() + s.delay;
        if until > s.until {
            s.until = until;
            s.pauses += 1;
        }
        s.delay
    }

    /// A call went through: shorten the next pause.
    pub fn ok(&self) {
        let mut s = self.lock();
        if !s.delay.is_zero() {
            s.delay /= 2;
            if s.delay < self.min {
                s.delay = Duration::ZERO;
            }
        }
    }

    /// How many times everyone was paused.
    pub fn pauses(&self) -> u64 {
        self.lock().pauses
    }
}

/// Executes planned rows.
pub struct Executor<L, P> {
    /// One workflow per pool, each with rules holding only that pool, so a
    /// row lands in the pool its plan chose.
    provisioners: HashMap<PoolId, Provisioner<L, P>>,
    /// The workflow over every pool, for the seat moves of updates.
    seats: Arc<Provisioner<L, P>>,
    portal: Arc<P>,
    clock: Clock,
    gate: Gate,
    budget: Duration,
    file_hash: String,
    /// Set when the portal refuses the credentials or the client is
    /// misconfigured: no later row can succeed, so they are not attempted.
    halted: AtomicBool,
    observer: Arc<dyn Observer>,
}

/// Why a step stopped.
enum Stop {
    /// Retry budget spent.
    Later(String),
    /// Retry budget spent, and a write went out unanswered: the portal may
    /// have made the change. A seat taken for it is kept for a look-up (the
    /// sweeper, or the next run of the file), never given back blindly.
    Unknown(String),
    /// Refused for good.
    Failed(String),
}

impl<L: SeatLedger, P: Portal> Executor<L, P> {
    /// An executor. `seats` is the workflow over every pool (the seat moves
    /// of updates go through it); new members go through one workflow per
    /// pool built here from `rules`. `budget`: how long one row may keep
    /// retrying.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        ledger: Arc<L>,
        portal: Arc<P>,
        seats: Arc<Provisioner<L, P>>,
        rules: &Rules,
        workflow: &WorkflowSettings,
        (clock, ids): (Clock, Ids),
        backoff: (Duration, Duration),
        budget: Duration,
        file_hash: String,
        observer: Arc<dyn Observer>,
    ) -> Self {
        let provisioners = rules
            .pools
            .iter()
            .filter_map(|p| {
                let mut only = only_pool(rules, p.id.as_str()).ok()?;
                // Validation already refused what does not fit; a row that
                // still finds the pool full (a sign-up took the seat in the
                // meantime) is reported, not put on the pool's waitlist.
                for pool in &mut only.pools {
                    pool.waitlist = false;
                }
                let prov = Provisioner::new(
                    ledger.clone(),
                    portal.clone(),
                    Arc::new(Policy::new(only)),
                    workflow.clone(),
                )
                .with_clock(clock.clone())
                .with_ids(ids.clone());
                Some((p.id.clone(), prov))
            })
            .collect();
        Executor {
            provisioners,
            seats,
            portal,
            clock,
            gate: Gate::new(backoff.0, backoff.1),
            budget,
            file_hash,
            halted: AtomicBool::new(false),
            observer,
        }
    }

    /// How many times the portal made everyone pause.
    pub fn pauses(&self) -> u64 {
        self.gate.pauses()
    }

    /// Whether the import was halted (credentials refused, misconfigured).
    pub fn halted(&self) -> bool {
        self.halted.load(Ordering::Relaxed)
    }

    fn not_attempted(&self, row: u64, username: &str) -> Option<RowResult> {
        self.halted().then(|| {
            RowResult::new(
                row,
                outcome::RETRY_LATER,
                username,
                "not attempted: the portal refused the administrator credentials or is misconfigured; fix it and run the file again",
            )
        })
    }

    fn pause(&self) {
        let d = self.gate.trouble();
        self.observer.slowed(d);
    }

    /// Runs a portal call, pausing and retrying while it is unavailable.
    async fn portal_call<T, F, Fut>(&self, started: Instant, what: &str, f: F) -> Result<T, Stop>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<T, PortalError>>,
    {
        let mut maybe_done = false;
        loop {
            self.gate.wait().await;
            match f().await {
                Ok(v) => {
                    self.gate.ok();
                    return Ok(v);
                }
                Err(e @ (PortalError::Unavailable(_) | PortalError::Unanswered(_))) => {
                    maybe_done |= e.maybe_done();
                    if started.elapsed() >= self.budget {
                        let why = format!("{what}: {e}");
                        return Err(if maybe_done {
                            Stop::Unknown(why)
                        } else {
                            Stop::Later(why)
                        });
                    }
                    self.pause();
                }
                Err(e @ (PortalError::Auth(_) | PortalError::Config(_))) => {
                    self.halted.store(true, Ordering::Relaxed);
                    return Err(Stop::Later(format!("{what}: {e}")));
                }
                Err(e) => return Err(Stop::Failed(format!("{what}: {e}"))),
            }
        }
    }

    /// Runs a ledger call, retrying while the store is unavailable.
    async fn ledger_call<T, F, Fut>(&self, started: Instant, what: &str, f: F) -> Result<T, Stop>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<T, LedgerError>>,
    {
        let mut wait = Duration::from_millis(100);
        loop {
            match f().await {
                Ok(v) => return Ok(v),
                Err(LedgerError::Unavailable(m)) if started.elapsed() < self.budget => {
                    tracing::warn!("{what}: seat store unavailable, retrying: {m}");
                    tokio::time::sleep(wait).await;
                    wait = (wait * 2).min(Duration::from_secs(10));
                }
                Err(e) => return Err(Stop::Later(format!("{what}: {e}"))),
            }
        }
    }

    /// Creates one member.
    pub async fn create(&self, row: u64, c: &Create) -> RowResult {
        let username = c
            .request
            .username
            .as_ref()
            .map(|u| u.as_str())
            .unwrap_or("");
        if let Some(r) = self.not_attempted(row, username) {
            return r;
        }
        let Some(provisioner) = self.provisioners.get(&c.pool) else {
            return RowResult::new(
                row,
                outcome::FAILED,
                username,
                format!("pool {} is not in the rules", c.pool),
            );
        };
        let started = Instant::now();
        let mut lease_cleared = false;
        let handled = loop {
            self.gate.wait().await;
            let h = provisioner
                .sign_up(
                    &c.delivery,
                    &c.payload_hash,
                    &c.request,
                    &c.overrides,
                    Creation::InRequest,
                    self.clock.now(),
                )
                .await;
            let Outcome::RetryLater { code, message, .. } = &h.outcome else {
                break h;
            };
            match code.as_str() {
                // The import holds the file's lock, so a lease on one of its
                // own rows is left by a run that died: drop it, go again.
                "delivery_in_progress" if !lease_cleared => {
                    lease_cleared = true;
                    provisioner.drop_delivery_lease(&c.delivery).await;
                    continue;
                }
                "portal_auth_failed" | "portal_misconfigured" => {
                    self.halted.store(true, Ordering::Relaxed);
                    return RowResult::new(
                        row,
                        outcome::RETRY_LATER,
                        username,
                        format!("{code}: {message}"),
                    );
                }
                _ => {}
            }
            if started.elapsed() >= self.budget {
                return RowResult::new(
                    row,
                    outcome::RETRY_LATER,
                    username,
                    format!("{code}: {message}"),
                );
            }
            if code == "portal_unavailable" {
                self.pause();
            } else {
                // Store unavailable, a seat being set up by a webhook for the
                // same person: wait a little, without slowing everyone.
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        };
        match handled.outcome {
            Outcome::Provisioned {
                pool,
                username: created,
                invitation,
                adopted,
            } => {
                let how = if invitation {
                    "invitation e-mailed"
                } else {
                    "active; the portal was asked to e-mail a link to choose a password"
                };
                let mut msg = if handled.replayed {
                    format!("created by an earlier run of this file, pool {pool}")
                } else if adopted {
                    format!("pool {pool}, {how} (the member from an interrupted run was adopted)")
                } else {
                    format!("pool {pool}, {how}")
                };
                let after = self.after_create(started, &created, c).await;
                match after {
                    Ok(extra) => {
                        msg.push_str(&extra);
                        let o = if handled.replayed {
                            outcome::UNCHANGED
                        } else {
                            outcome::CREATED
                        };
                        RowResult::new(row, o, created, msg)
                    }
                    Err(Stop::Later(m) | Stop::Unknown(m) | Stop::Failed(m)) => RowResult::new(
                        row,
                        outcome::FAILED,
                        created,
                        format!("created ({msg}), but {m}; run the file again to finish"),
                    ),
                }
            }
            Outcome::AlreadyMember { pool, username: u } => {
                if u.eq_ignore_ascii_case(username) {
                    RowResult::new(
                        row,
                        outcome::UNCHANGED,
                        u,
                        format!("already a member, pool {pool}"),
                    )
                } else {
                    RowResult::new(
                        row,
                        outcome::ERROR,
                        username,
                        format!("already_member: this person holds a seat in pool {pool} as {u}"),
                    )
                }
            }
            Outcome::PoolFull { pool, seats } => RowResult::new(
                row,
                outcome::ERROR,
                username,
                format!("pool_full: all {seats} seats of pool {pool} are taken"),
            ),
            Outcome::Rejected { code, message } | Outcome::PortalFailed { code, message } => {
                RowResult::new(row, outcome::FAILED, username, format!("{code}: {message}"))
            }
            // Approval and the waitlist are switched off for imports (the
            // file is the administrator's decision), so these do not occur.
            Outcome::Pending { pool, request_id }
            | Outcome::Waitlisted {
                pool, request_id, ..
            } => RowResult::new(
                row,
                outcome::FAILED,
                username,
                format!(
                    "unexpected: request {request_id} of pool {pool} waits for approval or a seat"
                ),
            ),
            // Only the asynchronous path queues; the import never asks it to.
            Outcome::Accepted { pool, .. } => RowResult::new(
                row,
                outcome::RETRY_LATER,
                username,
                format!(
                    "queued: the seat in pool {pool} is reserved and the member will be created by the worker"
                ),
            ),
            Outcome::RetryLater { code, message, .. } => RowResult::new(
                row,
                outcome::RETRY_LATER,
                username,
                format!("{code}: {message}"),
            ),
        }
    }

    /// What the invitation cannot carry: full name, access, Esri access, and
    /// the Administrator role.
    async fn after_create(
        &self,
        started: Instant,
        username: &str,
        c: &Create,
    ) -> Result<String, Stop> {
        let mut extra = String::new();
        if !c.after.is_empty() {
            self.portal_call(started, "profile", || {
                self.portal.update_profile(username, &c.after)
            })
            .await?;
        }
        if c.promote_to_admin {
            self.portal_call(started, "promotion to Administrator", || {
                self.portal.update_role(username, "org_admin")
            })
            .await?;
            extra.push_str(", promoted to Administrator");
        }
        Ok(extra)
    }

    /// Updates one member.
    pub async fn update(&self, row: u64, u: &Update) -> RowResult {
        if let Some(r) = self.not_attempted(row, &u.username) {
            return r;
        }
        let started = Instant::now();
        let mut done: Vec<&str> = Vec::new();
        let result = self.update_steps(row, u, started, &mut done).await;
        let summary = describe_update(u);
        match result {
            Ok(notes) => RowResult::new(
                row,
                outcome::UPDATED,
                &u.username,
                format!("{summary}{notes}"),
            ),
            Err(stop) => {
                let (o, m) = match stop {
                    Stop::Later(m) | Stop::Unknown(m) => (outcome::RETRY_LATER, m),
                    Stop::Failed(m) => (outcome::FAILED, m),
                };
                let applied = if done.is_empty() {
                    "nothing was changed".to_string()
                } else {
                    format!("applied: {}", done.join(", "))
                };
                RowResult::new(row, o, &u.username, format!("{m} ({applied})"))
            }
        }
    }

    async fn update_steps<'u>(
        &self,
        row: u64,
        u: &'u Update,
        started: Instant,
        done: &mut Vec<&'u str>,
    ) -> Result<String, Stop> {
        let name = u.username.as_str();
        let mut notes = String::new();
        if !u.profile.is_empty() {
            self.portal_call(started, "profile", || {
                self.portal.update_profile(name, &u.profile)
            })
            .await?;
            done.extend(
                u.fields
                    .iter()
                    .copied()
                    .filter(|f| !matches!(*f, "role" | "userLicenseTypeId" | "groups" | "seat")),
            );
        }
        if u.role_first {
            self.role_step(u, started, done).await?;
        }
        self.type_step(row, u, started, done).await?;
        if !u.role_first {
            self.role_step(u, started, done).await?;
        }
        if !u.add_groups.is_empty() {
            let ids: Vec<String> = u.add_groups.iter().map(|(id, _)| id.clone()).collect();
            let not_added = self
                .portal_call(started, "groups", || self.portal.add_to_groups(name, &ids))
                .await?;
            if not_added.is_empty() {
                done.push("groups");
            } else {
                let titles: Vec<&str> = u
                    .add_groups
                    .iter()
                    .filter(|(id, _)| not_added.contains(id))
                    .map(|(_, t)| t.as_str())
                    .collect();
                return Err(Stop::Failed(format!(
                    "groups: the portal did not add the member to {} (a member can be in at most 512 groups)",
                    titles.join(", ")
                )));
            }
        }
        if matches!(u.seat, SeatChange::Untracked) {
            notes.push_str(" (user type changed in the portal only)");
        }
        self.rekey_step(u, started, done, &mut notes).await?;
        Ok(notes)
    }

    /// Moves the member's seats to their new e-mail, once the portal has it.
    async fn rekey_step<'u>(
        &self,
        u: &'u Update,
        started: Instant,
        done: &mut Vec<&'u str>,
        notes: &mut String,
    ) -> Result<(), Stop> {
        for (key, id, person) in &u.rekey {
            let r = self
                .ledger_call(started, "seat", || {
                    self.seats.rekey_seat(key, id, person, self.clock.now())
                })
                .await?;
            match r {
                Rekey::Moved(_) | Rekey::NotFound => {}
                Rekey::Taken(other) => {
                    // Both seats stay counted: which one to give back is an
                    // administrator's decision, not the import's.
                    tracing::warn!(pool = %key.pool, "the new e-mail already holds a seat");
                    notes.push_str(&format!(
                        " (the new e-mail already holds a seat in pool {} as {}: this member holds two; release one)",
                        key.pool,
                        other.username.as_deref().unwrap_or("a reservation")
                    ));
                }
            }
        }
        if !u.rekey.is_empty() && u.fields.contains(&"seat") && !done.contains(&"seat") {
            done.push("seat");
        }
        Ok(())
    }

    async fn role_step<'u>(
        &self,
        u: &'u Update,
        started: Instant,
        done: &mut Vec<&'u str>,
    ) -> Result<(), Stop> {
        if let Some(role) = &u.role {
            self.portal_call(started, "role", || {
                self.portal.update_role(&u.username, role)
            })
            .await?;
            done.push("role");
        }
        Ok(())
    }

    /// The user type change and the seat that moves with it.
    async fn type_step<'u>(
        &self,
        row: u64,
        u: &'u Update,
        started: Instant,
        done: &mut Vec<&'u str>,
    ) -> Result<(), Stop> {
        let name = u.username.as_str();
        let (to, to_capacity, reserve, from, person) = match &u.seat {
            SeatChange::Move {
                to,
                to_capacity,
                reserve,
                from,
                person,
            } => (to, *to_capacity, *reserve, from, person),
            _ => {
                if let Some(t) = &u.user_type {
                    self.portal_call(started, "user type", || {
                        self.portal.update_user_type(name, t)
                    })
                    .await?;
                    done.push("userLicenseTypeId");
                }
                return Ok(());
            }
        };
        let key = ClaimKey {
            pool: to.clone(),
            person: person.clone(),
        };
        // 1. A seat in the new pool (unless the person already holds it).
        let mut new_claim: Option<String> = None;
        if reserve {
            let delivery = format!("import:{}:{row}:move", self.file_hash);
            let r = self
                .ledger_call(started, "seat", || {
                    self.seats.reserve_seat_for(
                        &key,
                        to_capacity,
                        &delivery,
                        name,
                        self.clock.now(),
                    )
                })
                .await?;
            match r {
                Reservation::Reserved(c) => new_claim = Some(c.claim_id),
                // This row's own reservation, from an earlier run that
                // stopped: carried on. Any other claim (the member's seat,
                // or a sign-up in progress) is not this move's to settle.
                Reservation::AlreadyHeld(c)
                    if c.stage() == Stage::Reserved(Hold::InFlight) && c.delivery == delivery =>
                {
                    new_claim = Some(c.claim_id);
                }
                Reservation::AlreadyHeld(_) => {}
                Reservation::PoolFull { .. } => {
                    return Err(Stop::Failed(format!(
                        "pool_full: pool {to} has no free seat, so the user type was not changed"
                    )));
                }
            }
        }
        // 2. The portal.
        if let Some(t) = &u.user_type {
            let changed = self
                .portal_call(started, "user type", || {
                    self.portal.update_user_type(name, t)
                })
                .await;
            if let Err(stop) = changed {
                // Unknown is not failed: the type may have changed; the seat
                // stays in flight until a look-up settles it.
                if let (Some(id), false) = (&new_claim, matches!(stop, Stop::Unknown(_))) {
                    let _ = self
                        .ledger_call(started, "seat release", || {
                            self.seats.release_seat(&key, id)
                        })
                        .await;
                }
                return Err(stop);
            }
            done.push("userLicenseTypeId");
        }
        // 3. Confirm the new seat, give back the old ones.
        if let Some(id) = &new_claim {
            self.ledger_call(started, "seat confirm", || {
                self.seats.confirm_seat(&key, id, name, self.clock.now())
            })
            .await?;
        }
        // The member's seats in other pools: ACTIVE claims only (one that
        // another path is setting up is that path's to settle).
        for (old, id) in from {
            self.ledger_call(started, "seat release", || {
                self.seats.release_moved_seat(old, id)
            })
            .await?;
        }
        done.push("seat");
        Ok(())
    }
}
