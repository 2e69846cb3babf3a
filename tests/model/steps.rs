//! What a model sequence is made of: the case's set-up ([`Setup`]) and its
//! steps ([`Step`]), drawn from a seed, written as JSON lines for the
//! regression file, and shrunk.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

/// How many people the steps pick from (per domain).
pub const PEOPLE: u8 = 6;

/// The organization a case runs against.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Setup {
    /// E-mail invitations stay pending until accepted (else they make the
    /// member at once).
    pub email_pending: bool,
    /// The `acme` pool invites by e-mail (else with a password).
    pub acme_by_email: bool,
    /// Viewer licences the organization bought (the pools using them hold
    /// 3 + 2 seats: fewer makes the portal refuse).
    pub viewer_licences: u64,
    /// Creator licences (the pools using them hold 2 + 1 seats).
    pub creator_licences: u64,
    /// The portal is an ArcGIS Enterprise portal (members with a password
    /// made by `createUser`, groups added afterwards). Not drawn from the
    /// seed, so recorded cases keep their shape: the Enterprise run sets it.
    #[serde(default)]
    pub enterprise: bool,
}

/// A pool of the model's rules, by the e-mail domain that reaches it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Pool {
    /// `acme.org`: 3 viewer seats, automatic, waitlist.
    Acme,
    /// `review.org`: 2 creator seats, approval with a held seat, waitlist.
    Review,
    /// `quick.org`: 2 viewer seats, approval without a held seat.
    Quick,
}

/// How a sign-up reaches the workflow.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Via {
    /// A form whose sender retries: in the request.
    Request,
    /// A form that never retries: in the request, queued when slow.
    OrQueue,
    /// An identity provider's hook: queued at once.
    Hook,
}

/// Which delivery a sign-up is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Delivery {
    /// A new one.
    New,
    /// The sender's retry of an earlier one (index into those made).
    Again(u8),
}

/// A fault of the portal for the next invitation (or any call).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Fault {
    /// The invitation is refused (`notInvited`).
    NotInvited,
    /// HTTP 500 on every attempt of the next invitation.
    Http500,
    /// Made, and the answer lost.
    LoseReply,
    /// Made after the deadline.
    LateSuccess,
    /// Too slow to even start in time.
    Slow,
    /// Every token stops working.
    ExpireTokens,
}

/// What an import row does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ImportRow {
    /// A new `acme` member.
    New(u8),
    /// An `acme` member's e-mail changes.
    Email(u8),
    /// An `acme` member becomes a creator (their seat moves pools).
    Move(u8),
}

/// One step of a sequence.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Step {
    /// A sign-up of person `who` of `pool`'s domain (`renamed`: under the
    /// e-mail an import gave them, when it did).
    SignUp {
        who: u8,
        pool: Pool,
        via: Via,
        delivery: Delivery,
        renamed: bool,
    },
    /// Several steps at once.
    Together(Vec<Step>),
    /// `copies` identical decisions at once on a request seen before.
    Decide {
        request: u8,
        approve: bool,
        copies: u8,
    },
    /// Open requests past their time expire.
    Expire,
    /// The first in line of a pool is admitted if a seat is free.
    Admit { pool: Pool },
    /// The worker runs a queued job (its last attempt or not).
    RunJob { job: u8, last: bool },
    /// The portal misbehaves.
    Fault(Fault),
    /// A step whose process dies `after_ms` into it (the store is kept).
    Crash { step: Box<Step>, after_ms: u16 },
    /// A restart of the local server: queued jobs kept, a sweep with no
    /// age limit that spares them.
    Restart,
    /// The scheduled sweep (stale threshold).
    Sweep,
    /// Time passes.
    Jump { minutes: u16 },
    /// A one-row CSV import.
    Import(ImportRow),
    /// A pending e-mail invitation is accepted.
    Accept { who: u8 },
    /// The daily run: reconciliation, then the seat's life (warnings,
    /// ends, idle seats reclaimed; `acme` seats last 2 days and a member
    /// who never signs in loses the seat after 1).
    Daily,
    /// Reconciliation alone (as `agol-seat-broker reconcile`).
    Reconcile,
    /// An administrator extends `acme` person `who`'s seat by `days`.
    Extend { who: u8, days: u8 },
    /// An administrator reclaims `acme` person `who`'s seat now.
    ReclaimNow { who: u8 },
    /// `acme` person `who` signs in to ArcGIS Online.
    SignIn { who: u8 },
}

/// A seeded generator of set-ups and sequences.
pub struct Gen(StdRng);

impl Gen {
    pub fn new(seed: u64) -> Self {
        Gen(StdRng::seed_from_u64(seed))
    }

    pub fn setup(&mut self) -> Setup {
        let r = &mut self.0;
        Setup {
            email_pending: r.random_bool(0.5),
            acme_by_email: r.random_bool(0.6),
            viewer_licences: r.random_range(4..=6),
            creator_licences: r.random_range(2..=4),
            enterprise: false,
        }
    }

    pub fn steps(&mut self, n: usize) -> Vec<Step> {
        (0..n).map(|_| self.step(true)).collect()
    }

    fn pool(&mut self) -> Pool {
        match self.0.random_range(0..10) {
            0..=4 => Pool::Acme,
            5..=7 => Pool::Review,
            _ => Pool::Quick,
        }
    }

    fn sign_up(&mut self) -> Step {
        let r = &mut self.0;
        let via = match r.random_range(0..3) {
            0 => Via::Request,
            1 => Via::OrQueue,
            _ => Via::Hook,
        };
        let delivery = if r.random_bool(0.25) {
            Delivery::Again(r.random_range(0..32))
        } else {
            Delivery::New
        };
        let who = r.random_range(0..PEOPLE);
        let renamed = r.random_bool(0.2);
        Step::SignUp {
            who,
            pool: self.pool(),
            via,
            delivery,
            renamed,
        }
    }

    fn step(&mut self, top: bool) -> Step {
        let roll = self.0.random_range(0..100);
        match roll {
            0..=25 => self.sign_up(),
            26..=29 => self.later(),
            30..=35 if top => {
                let n = self.0.random_range(2..=3);
                Step::Together(
                    (0..n)
                        .map(|_| match self.0.random_range(0..10) {
                            0..=5 => self.sign_up(),
                            6..=7 => self.decide(),
                            8 => Step::Daily,
                            _ => Step::ReclaimNow {
                                who: self.0.random_range(0..PEOPLE),
                            },
                        })
                        .collect(),
                )
            }
            36..=47 => self.decide(),
            48..=50 => Step::Expire,
            51..=53 => Step::Admit { pool: self.pool() },
            54..=63 => Step::RunJob {
                job: self.0.random_range(0..8),
                last: self.0.random_bool(0.4),
            },
            64..=73 => Step::Fault(match self.0.random_range(0..6) {
                0 => Fault::NotInvited,
                1 => Fault::Http500,
                2 => Fault::LoseReply,
                3 => Fault::LateSuccess,
                4 => Fault::Slow,
                _ => Fault::ExpireTokens,
            }),
            74..=78 if top => {
                let inner = match self.0.random_range(0..3) {
                    0 => self.decide(),
                    1 => Step::RunJob {
                        job: self.0.random_range(0..8),
                        last: false,
                    },
                    _ => self.sign_up(),
                };
                Step::Crash {
                    step: Box::new(inner),
                    after_ms: self.0.random_range(0..60),
                }
            }
            79..=80 => Step::Restart,
            81..=83 => Step::Sweep,
            84..=88 => Step::Jump {
                // Up to two days: the `acme` seats' life is counted in days.
                minutes: *[1u16, 3, 30, 240, 1_500, 2_880]
                    .get(self.0.random_range(0..6))
                    .unwrap_or(&1),
            },
            89..=93 => {
                let who = self.0.random_range(0..PEOPLE);
                Step::Import(match self.0.random_range(0..3) {
                    0 => ImportRow::New(who),
                    1 => ImportRow::Email(who),
                    _ => ImportRow::Move(who),
                })
            }
            94..=99 => self.later(),
            _ => self.sign_up(),
        }
    }

    /// Accepting invitations and the seat's life after sign-up (one roll
    /// range, so older seeds keep most of their shape).
    fn later(&mut self) -> Step {
        let who = self.0.random_range(0..PEOPLE);
        match self.0.random_range(0..13) {
            0..=3 => Step::Accept { who },
            4..=6 => Step::Daily,
            7 => Step::Reconcile,
            8 => Step::Extend {
                who,
                days: self.0.random_range(1..=3),
            },
            9 => Step::ReclaimNow { who },
            _ => Step::SignIn { who },
        }
    }

    fn decide(&mut self) -> Step {
        let r = &mut self.0;
        Step::Decide {
            request: r.random_range(0..16),
            approve: r.random_bool(0.7),
            copies: if r.random_bool(0.3) { 2 } else { 1 },
        }
    }
}

/// Smaller sequences to try, each failing one replaces the current one:
/// halves and quarters first, then single steps out, then groups and
/// crashes opened up.
pub fn smaller(steps: &[Step]) -> Vec<Vec<Step>> {
    let mut out = Vec::new();
    let n = steps.len();
    let mut chunk = n / 2;
    while chunk >= 1 {
        let mut start = 0;
        while start < n {
            let end = (start + chunk).min(n);
            let mut s = steps[..start].to_vec();
            s.extend_from_slice(&steps[end..]);
            out.push(s);
            start = end;
        }
        chunk /= 2;
    }
    for (i, step) in steps.iter().enumerate() {
        let opened: Option<Vec<Step>> = match step {
            Step::Together(inner) => Some(inner.clone()),
            Step::Crash { step, .. } => Some(vec![(**step).clone()]),
            _ => None,
        };
        if let Some(opened) = opened {
            let mut s = steps[..i].to_vec();
            s.extend(opened);
            s.extend_from_slice(&steps[i + 1..]);
            out.push(s);
        }
    }
    out
}

/// `steps` with every crash cutting its step `after_ms` in (the replay
/// tool tries each cut point).
pub fn with_crash_delay(steps: &[Step], after_ms: u16) -> Vec<Step> {
    steps
        .iter()
        .map(|s| match s {
            Step::Crash { step, .. } => Step::Crash {
                step: step.clone(),
                after_ms,
            },
            Step::Together(inner) => Step::Together(with_crash_delay(inner, after_ms)),
            other => other.clone(),
        })
        .collect()
}
