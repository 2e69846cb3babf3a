//! The seat ledger contract: every check here must pass, unchanged, on every
//! [`SeatLedger`] adapter (memory, DynamoDB Local, and the embedded store to
//! come).
//!
//! Each check takes a fresh ledger as `Arc<L>` (concurrent checks spawn tasks
//! that share it), uses only the port, asserts on what the ledger then holds
//! (usage counters, stored claims, delivery answers), and passes `now`
//! explicitly instead of sleeping. Checks never depend on a particular
//! adapter's timing or retry figures.

#![allow(dead_code)] // each test binary uses the checks it needs

use std::sync::Arc;

use agol_seat_broker::domain::{
    AlertSubject, ClaimKey, DeliveryKey, PoolId, RequestState, UnixMillis, UserTypeId,
};
use agol_seat_broker::seats::{
    AuditEvent, Change, Claim, ClaimState, CloseRequest, DeliveryBegin, Expect, FailedSignup, Hold,
    LeaseHolder, LeaseRequest, LedgerError, Opened, Rekey, RequestChange, Reservation,
    ReserveRequest, SeatLedger, SignInAttempt, SignInCounts, SignInSlot, SignupRecord, Stage,
    Transition,
};
use tokio::task::JoinSet;

/// A fixed "now" for the checks: 2100-01-01T00:00:00Z. In the future on
/// purpose: a store that honours TTL (DynamoDB Local does) would otherwise
/// delete records the check still counts as retained.
pub const T0: UnixMillis = 4_102_444_800_000;

/// Every check's name, for adapters' test files to generate one test each.
#[macro_export]
macro_rules! for_each_contract_check {
    ($callback:ident) => {
        $callback!(
            reserve_then_confirm_makes_the_claim_active_with_its_username,
            a_second_reservation_by_the_same_person_returns_the_existing_claim_and_takes_no_seat,
            capacity_is_honoured_and_a_refused_reservation_writes_nothing,
            a_burst_of_200_people_into_150_seats_reserves_exactly_150,
            the_same_person_reserving_three_times_at_once_gets_exactly_one_seat,
            release_with_the_wrong_claim_id_returns_false_and_keeps_the_seat,
            releasing_twice_gives_the_seat_back_once_and_it_can_be_taken_again,
            confirming_twice_is_idempotent,
            confirm_after_release_or_with_another_claim_id_is_claim_not_found,
            pools_are_independent,
            capacity_lowered_below_usage_refuses_new_reservations,
            claims_lists_every_claim_of_the_pool_and_no_other,
            a_started_delivery_is_in_progress_for_others_until_finished_then_completed,
            concurrent_first_deliveries_of_one_key_start_exactly_once,
            a_delivery_key_seen_with_another_payload_is_a_mismatch,
            an_abandoned_delivery_starts_again_but_a_completed_one_is_not_abandoned,
            an_expired_lease_is_taken_over_by_the_same_payload_but_not_another,
            a_completed_delivery_past_its_retention_starts_afresh,
            finishing_a_delivery_whose_record_is_gone_stores_nothing,
            a_begin_repeated_by_the_same_attempt_is_started_and_the_lease_stays_one,
            a_late_finish_or_abandon_after_a_takeover_writes_nothing_and_keeps_the_new_lease,
            only_the_holder_finishes_or_abandons_a_lease_and_each_says_whether_it_wrote,
            an_abandon_for_any_holder_drops_another_attempts_live_lease,
            touch_refreshes_a_reserved_claim_of_this_id_only,
            rekey_moves_the_claim_to_the_new_person_and_keeps_its_seat,
            rekey_refuses_another_id_or_a_taken_person_and_changes_nothing,
            touch_refuses_a_released_an_active_or_a_never_made_claim_and_writes_nothing,
            a_reservation_keeps_its_hold_and_a_transition_moves_it_only_from_the_expected_stage_and_id,
            release_refuses_an_active_claim_and_keeps_its_seat,
            an_active_seat_keeps_its_first_activation_and_is_warned_extended_and_ended_only_as_expected,
            a_release_that_fails_a_sign_up_records_the_failure_in_the_same_write_or_writes_nothing,
            of_20_concurrent_transitions_from_one_stage_exactly_one_is_done,
            a_refused_transition_returns_the_claim_as_it_is,
            a_recorded_failure_is_listed_and_a_second_one_for_the_same_person_replaces_it,
            failures_are_listed_per_pool_newest_first_until_their_retention_ends,
            a_failure_changes_neither_usage_nor_claims,
            a_created_request_reads_back_and_blocks_a_second_open_one_until_closed,
            a_request_id_already_used_is_refused_and_nothing_is_written,
            requests_lists_a_pools_waitlist_in_arrival_order_and_nothing_else,
            of_20_concurrent_decisions_on_one_request_exactly_one_changes_it,
            a_transition_from_another_state_or_of_an_unknown_id_changes_nothing,
            a_transition_records_when_who_why_and_the_claim_id,
            a_closed_request_reopens_only_while_the_person_has_no_other_open_one,
            a_closed_request_keeps_its_retention_and_a_reopened_one_has_none,
            audit_events_come_back_oldest_first_from_since_up_to_limit,
            audit_events_with_the_same_time_are_all_kept,
            requests_and_audit_events_change_neither_usage_nor_claims,
            open_takes_the_lease_and_the_seat_together_and_close_activates_audits_and_stores_together,
            open_writes_nothing_when_the_person_holds_a_claim_or_the_pool_is_full,
            open_answers_a_seen_delivery_as_begin_would_and_writes_nothing,
            close_writes_nothing_when_the_claim_or_the_lease_moved_on,
            a_transition_expecting_the_claim_as_read_is_refused_once_it_changed,
            sign_in_attempts_stop_at_the_address_and_the_global_limit_and_windows_start_afresh,
            of_20_concurrent_sign_in_attempts_exactly_the_limit_are_counted,
            a_sign_in_given_back_frees_its_slot_and_never_goes_below_zero,
            an_alert_level_moves_only_from_the_level_the_caller_read,
            of_20_concurrent_moves_of_an_alert_level_from_one_level_exactly_one_writes,
        );
    };
}

// ---------- helpers ----------

/// A pool id from a literal.
pub fn pool(name: &str) -> PoolId {
    PoolId::parse(name).expect("test pool names are valid")
}

/// A claim key for `person` in `pool_name`.
pub fn key(pool_name: &str, person: &str) -> ClaimKey {
    ClaimKey {
        pool: pool(pool_name),
        person: person.to_string(),
    }
}

/// A delivery key from the `standard` source.
pub fn delivery(id: &str) -> DeliveryKey {
    DeliveryKey {
        source: "standard".into(),
        id: id.into(),
    }
}

/// Reserves with a claim id derived from the person, at `now`.
pub async fn reserve<L: SeatLedger>(
    ledger: &L,
    key: &ClaimKey,
    capacity: u32,
    claim_id: &str,
    now: UnixMillis,
) -> Reservation {
    ledger
        .reserve(ReserveRequest {
            key,
            capacity,
            delivery: "standard:d-1",
            claim_id,
            username: "intended_user",
            now,
            hold: Hold::InFlight,
        })
        .await
        .expect("reserve answers")
}

fn reserved(r: Reservation) -> Claim {
    match r {
        Reservation::Reserved(c) => c,
        other => panic!("expected Reserved, got {other:?}"),
    }
}

async fn used<L: SeatLedger>(ledger: &L, pool_name: &str) -> u32 {
    ledger.usage(&pool(pool_name)).await.expect("usage").used
}

/// A failed sign-up of `person` in `pool_name`, recorded at `at`.
pub fn failed(pool_name: &str, person: &str, code: &str, at: UnixMillis) -> FailedSignup {
    FailedSignup {
        key: key(pool_name, person),
        delivery: format!("okta:evt-{at}"),
        username: Some("intended_user".into()),
        code: code.into(),
        message: format!("{code} while creating the member"),
        at,
    }
}

// ---------- seats ----------

/// reserve → claim RESERVED; confirm → claim ACTIVE with the username.
pub async fn reserve_then_confirm_makes_the_claim_active_with_its_username<L: SeatLedger>(
    ledger: Arc<L>,
) {
    let k = key("acme", "ana@example.org");

    let claim = reserved(reserve(&*ledger, &k, 5, "c-ana", T0).await);
    assert_eq!(claim.key, k);
    assert_eq!(claim.claim_id, "c-ana");
    assert_eq!(claim.state, ClaimState::Reserved);
    assert_eq!(
        claim.username.as_deref(),
        Some("intended_user"),
        "a reserved claim keeps the intended username for crash recovery"
    );
    assert_eq!(claim.delivery, "standard:d-1");
    assert_eq!(claim.reserved_at, T0);
    let stored = ledger.claim(&k).await.unwrap().expect("claim stored");
    assert_eq!(stored, claim);
    assert_eq!(used(&*ledger, "acme").await, 1);

    let confirmed = ledger
        .confirm(&k, "c-ana", "ana_acme", T0 + 1_000)
        .await
        .expect("confirm");

    assert_eq!(confirmed.state, ClaimState::Active);
    assert_eq!(confirmed.username.as_deref(), Some("ana_acme"));
    assert_eq!(confirmed.updated_at, T0 + 1_000);
    assert_eq!(confirmed.reserved_at, T0);
    let stored = ledger.claim(&k).await.unwrap().expect("claim stored");
    assert_eq!(stored, confirmed);
    assert_eq!(used(&*ledger, "acme").await, 1);
}

/// A second reserve for the same person returns the first claim untouched.
pub async fn a_second_reservation_by_the_same_person_returns_the_existing_claim_and_takes_no_seat<
    L: SeatLedger,
>(
    ledger: Arc<L>,
) {
    let k = key("acme", "ana@example.org");
    let first = reserved(reserve(&*ledger, &k, 5, "c-1", T0).await);

    let second = reserve(&*ledger, &k, 5, "c-2", T0 + 10).await;

    assert_eq!(second, Reservation::AlreadyHeld(first.clone()));
    assert_eq!(ledger.claim(&k).await.unwrap(), Some(first));
    assert_eq!(used(&*ledger, "acme").await, 1);
}

/// Capacity 3: three people get seats, the fourth is refused with the count.
pub async fn capacity_is_honoured_and_a_refused_reservation_writes_nothing<L: SeatLedger>(
    ledger: Arc<L>,
) {
    for i in 0..3 {
        let k = key("small", &format!("p{i}@example.org"));
        reserved(reserve(&*ledger, &k, 3, &format!("c{i}"), T0).await);
    }
    let late = key("small", "late@example.org");

    let answer = reserve(&*ledger, &late, 3, "c-late", T0).await;

    assert_eq!(answer, Reservation::PoolFull { used: 3 });
    assert_eq!(ledger.claim(&late).await.unwrap(), None);
    assert_eq!(used(&*ledger, "small").await, 3);
    assert_eq!(ledger.claims(&pool("small")).await.unwrap().len(), 3);
    // A pool with no seats at all refuses its very first reservation.
    let none = key("closed", "ana@example.org");
    assert_eq!(
        reserve(&*ledger, &none, 0, "c-0", T0).await,
        Reservation::PoolFull { used: 0 }
    );
    assert_eq!(ledger.claim(&none).await.unwrap(), None);
    assert_eq!(used(&*ledger, "closed").await, 0);
}

/// 200 concurrent reservations from distinct people into 150 seats.
pub async fn a_burst_of_200_people_into_150_seats_reserves_exactly_150<L: SeatLedger>(
    ledger: Arc<L>,
) {
    let mut tasks = JoinSet::new();
    for i in 0..200 {
        let ledger = ledger.clone();
        tasks.spawn(async move {
            let k = key("burst", &format!("person{i:03}@example.org"));
            ledger
                .reserve(ReserveRequest {
                    key: &k,
                    capacity: 150,
                    delivery: &format!("standard:burst-{i}"),
                    claim_id: &format!("claim-{i}"),
                    username: "intended_user",
                    now: T0,
                    hold: Hold::InFlight,
                })
                .await
        });
    }
    let (mut won, mut full, mut other) = (0, 0, Vec::new());
    while let Some(joined) = tasks.join_next().await {
        match joined.expect("task finished") {
            Ok(Reservation::Reserved(_)) => won += 1,
            Ok(Reservation::PoolFull { used }) => {
                assert!(used <= 150, "PoolFull reported {used} seats used");
                full += 1
            }
            unexpected => other.push(format!("{unexpected:?}")),
        }
    }

    assert!(other.is_empty(), "unexpected answers: {other:?}");
    assert_eq!((won, full), (150, 50));
    assert_eq!(used(&*ledger, "burst").await, 150);
    let claims = ledger.claims(&pool("burst")).await.unwrap();
    assert_eq!(claims.len(), 150);
    assert!(claims.iter().all(|c| c.state == ClaimState::Reserved));
}

/// One person, three concurrent reservations: one seat.
pub async fn the_same_person_reserving_three_times_at_once_gets_exactly_one_seat<L: SeatLedger>(
    ledger: Arc<L>,
) {
    let mut tasks = JoinSet::new();
    for i in 0..3 {
        let ledger = ledger.clone();
        tasks.spawn(async move {
            let k = key("acme", "ana@example.org");
            ledger
                .reserve(ReserveRequest {
                    key: &k,
                    capacity: 10,
                    delivery: &format!("standard:retry-{i}"),
                    claim_id: &format!("claim-{i}"),
                    username: "intended_user",
                    now: T0,
                    hold: Hold::InFlight,
                })
                .await
        });
    }
    let mut winners = Vec::new();
    let mut held = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        match joined.expect("task finished").expect("reserve answers") {
            Reservation::Reserved(c) => winners.push(c),
            Reservation::AlreadyHeld(c) => held.push(c),
            full @ Reservation::PoolFull { .. } => panic!("unexpected {full:?}"),
        }
    }

    assert_eq!(winners.len(), 1, "exactly one reservation wins");
    assert_eq!(held.len(), 2);
    assert!(held.iter().all(|c| *c == winners[0]));
    assert_eq!(used(&*ledger, "acme").await, 1);
    let stored = ledger.claim(&key("acme", "ana@example.org")).await.unwrap();
    assert_eq!(stored.as_ref(), Some(&winners[0]));
}

/// A release naming another claim id frees nothing.
pub async fn release_with_the_wrong_claim_id_returns_false_and_keeps_the_seat<L: SeatLedger>(
    ledger: Arc<L>,
) {
    let k = key("acme", "ana@example.org");
    let claim = reserved(reserve(&*ledger, &k, 5, "c-right", T0).await);

    let released = ledger
        .release(&k, "c-wrong")
        .await
        .expect("release answers");

    assert!(!released);
    assert_eq!(ledger.claim(&k).await.unwrap(), Some(claim));
    assert_eq!(used(&*ledger, "acme").await, 1);
}

/// Release, release again, reserve again.
pub async fn releasing_twice_gives_the_seat_back_once_and_it_can_be_taken_again<L: SeatLedger>(
    ledger: Arc<L>,
) {
    let k = key("one", "ana@example.org");
    reserved(reserve(&*ledger, &k, 1, "c-1", T0).await);
    let other = key("one", "bob@example.org");
    assert_eq!(
        reserve(&*ledger, &other, 1, "c-bob", T0).await,
        Reservation::PoolFull { used: 1 }
    );

    let first = ledger.release(&k, "c-1").await.expect("release");
    let second = ledger.release(&k, "c-1").await.expect("release again");

    assert!(first);
    assert!(!second);
    assert_eq!(used(&*ledger, "one").await, 0);
    assert_eq!(ledger.claim(&k).await.unwrap(), None);
    let bob = reserved(reserve(&*ledger, &other, 1, "c-bob", T0 + 5).await);
    assert_eq!(bob.key, other);
    assert_eq!(used(&*ledger, "one").await, 1);
    // The old claim id cannot free Bob's seat.
    assert!(!ledger.release(&k, "c-1").await.unwrap());
    assert_eq!(used(&*ledger, "one").await, 1);
}

/// Confirm, confirm again: same claim, one seat.
pub async fn confirming_twice_is_idempotent<L: SeatLedger>(ledger: Arc<L>) {
    let k = key("acme", "ana@example.org");
    reserved(reserve(&*ledger, &k, 5, "c-1", T0).await);

    let first = ledger.confirm(&k, "c-1", "ana_acme", T0 + 1).await.unwrap();
    let second = ledger.confirm(&k, "c-1", "ana_acme", T0 + 1).await.unwrap();

    assert_eq!(first, second);
    assert_eq!(second.state, ClaimState::Active);
    assert_eq!(second.username.as_deref(), Some("ana_acme"));
    assert_eq!(ledger.claim(&k).await.unwrap(), Some(second));
    assert_eq!(used(&*ledger, "acme").await, 1);
}

/// Confirm must find the very claim the reservation made.
pub async fn confirm_after_release_or_with_another_claim_id_is_claim_not_found<L: SeatLedger>(
    ledger: Arc<L>,
) {
    let k = key("acme", "ana@example.org");
    reserved(reserve(&*ledger, &k, 5, "c-1", T0).await);

    let wrong_id = ledger.confirm(&k, "c-other", "ana_acme", T0 + 1).await;
    assert!(
        matches!(wrong_id, Err(LedgerError::ClaimNotFound)),
        "{wrong_id:?}"
    );
    assert_eq!(
        ledger.claim(&k).await.unwrap().map(|c| c.state),
        Some(ClaimState::Reserved)
    );

    assert!(ledger.release(&k, "c-1").await.unwrap());
    let after_release = ledger.confirm(&k, "c-1", "ana_acme", T0 + 2).await;

    assert!(
        matches!(after_release, Err(LedgerError::ClaimNotFound)),
        "{after_release:?}"
    );
    assert_eq!(ledger.claim(&k).await.unwrap(), None);
    assert_eq!(used(&*ledger, "acme").await, 0);
}

/// Seats, claims and people in one pool do not affect another.
pub async fn pools_are_independent<L: SeatLedger>(ledger: Arc<L>) {
    let a = key("pool-a", "ana@example.org");
    let b = key("pool-b", "ana@example.org");
    reserved(reserve(&*ledger, &a, 1, "c-a", T0).await);

    // The same person gets a seat in another pool, even when pool-a is full.
    let in_b = reserved(reserve(&*ledger, &b, 1, "c-b", T0).await);
    assert_eq!(in_b.key, b);
    assert_eq!(
        reserve(&*ledger, &key("pool-a", "bob@example.org"), 1, "c-x", T0).await,
        Reservation::PoolFull { used: 1 }
    );

    assert!(ledger.release(&a, "c-a").await.unwrap());
    assert_eq!(used(&*ledger, "pool-a").await, 0);
    assert_eq!(used(&*ledger, "pool-b").await, 1);
    assert!(ledger.claims(&pool("pool-a")).await.unwrap().is_empty());
    assert_eq!(ledger.claims(&pool("pool-b")).await.unwrap(), vec![in_b]);
    assert_eq!(used(&*ledger, "never-used").await, 0);
}

/// Capacity comes with each call; lowering it stops new seats, keeps old ones.
pub async fn capacity_lowered_below_usage_refuses_new_reservations<L: SeatLedger>(ledger: Arc<L>) {
    for i in 0..4 {
        let k = key("shrink", &format!("p{i}@example.org"));
        reserved(reserve(&*ledger, &k, 10, &format!("c{i}"), T0).await);
    }

    let refused = reserve(&*ledger, &key("shrink", "new@example.org"), 2, "c-new", T0).await;

    assert_eq!(refused, Reservation::PoolFull { used: 4 });
    assert_eq!(used(&*ledger, "shrink").await, 4);
    assert_eq!(ledger.claims(&pool("shrink")).await.unwrap().len(), 4);
    // Releases below the new capacity make room again.
    for i in 0..3 {
        let k = key("shrink", &format!("p{i}@example.org"));
        assert!(ledger.release(&k, &format!("c{i}")).await.unwrap());
    }
    let admitted = reserve(&*ledger, &key("shrink", "new@example.org"), 2, "c-new", T0).await;
    assert!(matches!(admitted, Reservation::Reserved(_)), "{admitted:?}");
    assert_eq!(used(&*ledger, "shrink").await, 2);
}

/// `claims` returns each claim of the pool once, with its stored fields.
pub async fn claims_lists_every_claim_of_the_pool_and_no_other<L: SeatLedger>(ledger: Arc<L>) {
    let mut expected = Vec::new();
    for i in 0..25 {
        let k = key("listed", &format!("p{i:02}@example.org"));
        expected.push(reserved(
            reserve(&*ledger, &k, 100, &format!("c{i}"), T0 + i).await,
        ));
    }
    reserved(reserve(&*ledger, &key("listed-not", "x@example.org"), 5, "cx", T0).await);
    let confirmed = ledger
        .confirm(&expected[3].key, "c3", "p03_user", T0 + 100)
        .await
        .unwrap();
    expected[3] = confirmed;

    let mut listed = ledger.claims(&pool("listed")).await.unwrap();

    listed.sort_by(|a, b| a.key.person.cmp(&b.key.person));
    assert_eq!(listed, expected);
}

// ---------- deliveries ----------

/// Started → InProgress for concurrent attempts → finish → Completed(outcome).
pub async fn a_started_delivery_is_in_progress_for_others_until_finished_then_completed<
    L: SeatLedger,
>(
    ledger: Arc<L>,
) {
    let d = delivery("evt-1");
    let lease = 30_000;
    assert_eq!(
        ledger
            .begin_delivery(&d, "first", "hash-a", T0, lease)
            .await
            .unwrap(),
        DeliveryBegin::Started
    );

    let mut tasks = JoinSet::new();
    for i in 0..5 {
        let ledger = ledger.clone();
        let d = d.clone();
        tasks.spawn(async move {
            let attempt = format!("other-{i}");
            ledger
                .begin_delivery(&d, &attempt, "hash-a", T0 + i, lease)
                .await
        });
    }
    while let Some(joined) = tasks.join_next().await {
        assert_eq!(joined.unwrap().unwrap(), DeliveryBegin::InProgress);
    }

    ledger
        .finish_delivery(
            &d,
            "first",
            r#"{"outcome":"provisioned"}"#,
            T0 + 10,
            T0 + 86_400_000,
        )
        .await
        .unwrap();

    for now in [T0 + 11, T0 + lease + 1, T0 + 86_400_000] {
        assert_eq!(
            ledger
                .begin_delivery(&d, "later", "hash-a", now, lease)
                .await
                .unwrap(),
            DeliveryBegin::Completed(r#"{"outcome":"provisioned"}"#.into())
        );
    }
}

/// Many first attempts at once: one lease.
pub async fn concurrent_first_deliveries_of_one_key_start_exactly_once<L: SeatLedger>(
    ledger: Arc<L>,
) {
    let mut tasks = JoinSet::new();
    for i in 0..8 {
        let ledger = ledger.clone();
        tasks.spawn(async move {
            let attempt = format!("attempt-{i}");
            ledger
                .begin_delivery(&delivery("evt-race"), &attempt, "hash-a", T0, 30_000)
                .await
        });
    }
    let mut answers = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        answers.push(joined.unwrap().unwrap());
    }

    let started = answers
        .iter()
        .filter(|a| **a == DeliveryBegin::Started)
        .count();
    let waiting = answers
        .iter()
        .filter(|a| **a == DeliveryBegin::InProgress)
        .count();
    assert_eq!((started, waiting), (1, 7), "{answers:?}");
}

/// Same key, different payload: refused while in progress and once completed.
pub async fn a_delivery_key_seen_with_another_payload_is_a_mismatch<L: SeatLedger>(ledger: Arc<L>) {
    let d = delivery("evt-2");
    assert_eq!(
        ledger
            .begin_delivery(&d, "first", "hash-a", T0, 30_000)
            .await
            .unwrap(),
        DeliveryBegin::Started
    );

    assert_eq!(
        ledger
            .begin_delivery(&d, "second", "hash-b", T0 + 1, 30_000)
            .await
            .unwrap(),
        DeliveryBegin::PayloadMismatch
    );

    ledger
        .finish_delivery(&d, "first", "{}", T0 + 2, T0 + 60_000)
        .await
        .unwrap();
    assert_eq!(
        ledger
            .begin_delivery(&d, "third", "hash-b", T0 + 3, 30_000)
            .await
            .unwrap(),
        DeliveryBegin::PayloadMismatch
    );
    // Another sender's key with the same id is another delivery.
    let other_source = DeliveryKey {
        source: "okta".into(),
        id: "evt-2".into(),
    };
    assert_eq!(
        ledger
            .begin_delivery(&other_source, "third", "hash-b", T0 + 3, 30_000)
            .await
            .unwrap(),
        DeliveryBegin::Started
    );
}

/// Abandon drops the lease; it never drops a stored outcome.
pub async fn an_abandoned_delivery_starts_again_but_a_completed_one_is_not_abandoned<
    L: SeatLedger,
>(
    ledger: Arc<L>,
) {
    let d = delivery("evt-3");
    assert_eq!(
        ledger
            .begin_delivery(&d, "first", "hash-a", T0, 30_000)
            .await
            .unwrap(),
        DeliveryBegin::Started
    );

    ledger
        .abandon_delivery(&d, LeaseHolder::Attempt("first"))
        .await
        .unwrap();

    assert_eq!(
        ledger
            .begin_delivery(&d, "second", "hash-a", T0 + 1, 30_000)
            .await
            .unwrap(),
        DeliveryBegin::Started
    );
    ledger
        .finish_delivery(&d, "second", "\"done\"", T0 + 2, T0 + 60_000)
        .await
        .unwrap();
    ledger
        .abandon_delivery(&d, LeaseHolder::Attempt("second"))
        .await
        .unwrap();
    ledger.abandon_delivery(&d, LeaseHolder::Any).await.unwrap();
    assert_eq!(
        ledger
            .begin_delivery(&d, "third", "hash-a", T0 + 3, 30_000)
            .await
            .unwrap(),
        DeliveryBegin::Completed("\"done\"".into())
    );
    // Abandoning a key never seen is harmless.
    ledger
        .abandon_delivery(&delivery("never-seen"), LeaseHolder::Attempt("first"))
        .await
        .unwrap();
    ledger
        .abandon_delivery(&delivery("never-seen"), LeaseHolder::Any)
        .await
        .unwrap();
}

/// A crashed attempt's lease expires; only the same payload may take over.
pub async fn an_expired_lease_is_taken_over_by_the_same_payload_but_not_another<L: SeatLedger>(
    ledger: Arc<L>,
) {
    let d = delivery("evt-4");
    let lease = 30_000;
    assert_eq!(
        ledger
            .begin_delivery(&d, "first", "hash-a", T0, lease)
            .await
            .unwrap(),
        DeliveryBegin::Started
    );
    let after_expiry = T0 + lease + 1;

    assert_eq!(
        ledger
            .begin_delivery(&d, "second", "hash-b", after_expiry, lease)
            .await
            .unwrap(),
        DeliveryBegin::PayloadMismatch
    );
    assert_eq!(
        ledger
            .begin_delivery(&d, "third", "hash-a", after_expiry, lease)
            .await
            .unwrap(),
        DeliveryBegin::Started
    );
    // The new lease runs from the takeover.
    assert_eq!(
        ledger
            .begin_delivery(&d, "fourth", "hash-a", after_expiry + 1, lease)
            .await
            .unwrap(),
        DeliveryBegin::InProgress
    );
}

/// Past `retain_until` the key is forgotten, whatever the payload.
pub async fn a_completed_delivery_past_its_retention_starts_afresh<L: SeatLedger>(ledger: Arc<L>) {
    let d = delivery("evt-5");
    let retain_until = T0 + 60_000;
    assert_eq!(
        ledger
            .begin_delivery(&d, "first", "hash-a", T0, 30_000)
            .await
            .unwrap(),
        DeliveryBegin::Started
    );
    ledger
        .finish_delivery(&d, "first", "\"old\"", T0 + 1, retain_until)
        .await
        .unwrap();
    assert_eq!(
        ledger
            .begin_delivery(&d, "second", "hash-a", retain_until, 30_000)
            .await
            .unwrap(),
        DeliveryBegin::Completed("\"old\"".into())
    );

    let fresh = ledger
        .begin_delivery(&d, "third", "hash-b", retain_until + 1, 30_000)
        .await
        .unwrap();

    assert_eq!(fresh, DeliveryBegin::Started);
    assert_eq!(
        ledger
            .begin_delivery(&d, "fourth", "hash-a", retain_until + 2, 30_000)
            .await
            .unwrap(),
        DeliveryBegin::PayloadMismatch
    );
    ledger
        .finish_delivery(
            &d,
            "third",
            "\"new\"",
            retain_until + 3,
            retain_until + 60_000,
        )
        .await
        .unwrap();
    assert_eq!(
        ledger
            .begin_delivery(&d, "fifth", "hash-b", retain_until + 4, 30_000)
            .await
            .unwrap(),
        DeliveryBegin::Completed("\"new\"".into())
    );
}

/// An outcome is stored only on a record that exists: finishing after the
/// record was abandoned leaves the key free, so a redelivery runs again.
pub async fn finishing_a_delivery_whose_record_is_gone_stores_nothing<L: SeatLedger>(
    ledger: Arc<L>,
) {
    let d = delivery("evt-6");
    assert_eq!(
        ledger
            .begin_delivery(&d, "first", "hash-a", T0, 30_000)
            .await
            .unwrap(),
        DeliveryBegin::Started
    );
    ledger
        .abandon_delivery(&d, LeaseHolder::Attempt("first"))
        .await
        .unwrap();

    ledger
        .finish_delivery(&d, "first", "\"late\"", T0 + 1, T0 + 60_000)
        .await
        .unwrap();

    assert_eq!(
        ledger
            .begin_delivery(&d, "second", "hash-b", T0 + 2, 30_000)
            .await
            .unwrap(),
        DeliveryBegin::Started
    );
}

/// The same attempt repeating its begin (the reply to its first write was
/// lost and the call was retried) is Started again and writes nothing: one
/// lease, ending when the first write said; any other attempt waits.
pub async fn a_begin_repeated_by_the_same_attempt_is_started_and_the_lease_stays_one<
    L: SeatLedger,
>(
    ledger: Arc<L>,
) {
    let d = delivery("evt-7");
    let lease = 30_000;
    assert_eq!(
        ledger
            .begin_delivery(&d, "first", "hash-a", T0, lease)
            .await
            .unwrap(),
        DeliveryBegin::Started
    );

    let repeated = ledger
        .begin_delivery(&d, "first", "hash-a", T0, lease)
        .await
        .unwrap();
    let repeated_later = ledger
        .begin_delivery(&d, "first", "hash-a", T0 + 10, lease)
        .await
        .unwrap();

    assert_eq!(repeated, DeliveryBegin::Started);
    assert_eq!(repeated_later, DeliveryBegin::Started);
    assert_eq!(
        ledger
            .begin_delivery(&d, "second", "hash-a", T0 + lease, lease)
            .await
            .unwrap(),
        DeliveryBegin::InProgress
    );
    // The repeats did not extend the lease: it ends as the first write said.
    assert_eq!(
        ledger
            .begin_delivery(&d, "second", "hash-a", T0 + lease + 1, lease)
            .await
            .unwrap(),
        DeliveryBegin::Started
    );
    // Now the lease is the second attempt's: the first one is refused like
    // any other.
    assert_eq!(
        ledger
            .begin_delivery(&d, "first", "hash-a", T0 + lease + 2, lease)
            .await
            .unwrap(),
        DeliveryBegin::InProgress
    );
}

/// An attempt whose lease expired and was taken over by another finishes
/// or abandons too late: nothing is written, the new holder's lease stays,
/// and the new holder's outcome is the one answered.
pub async fn a_late_finish_or_abandon_after_a_takeover_writes_nothing_and_keeps_the_new_lease<
    L: SeatLedger,
>(
    ledger: Arc<L>,
) {
    let d = delivery("evt-8");
    let lease = 30_000;
    assert_eq!(
        ledger
            .begin_delivery(&d, "slow", "hash-a", T0, lease)
            .await
            .unwrap(),
        DeliveryBegin::Started
    );
    let after_expiry = T0 + lease + 1;
    assert_eq!(
        ledger
            .begin_delivery(&d, "takeover", "hash-a", after_expiry, lease)
            .await
            .unwrap(),
        DeliveryBegin::Started
    );

    let finished = ledger
        .finish_delivery(&d, "slow", "\"slow\"", after_expiry + 1, T0 + 600_000)
        .await
        .unwrap();
    let abandoned = ledger
        .abandon_delivery(&d, LeaseHolder::Attempt("slow"))
        .await
        .unwrap();

    assert!(!finished, "a late finish wrote over the new holder's lease");
    assert!(!abandoned, "a late abandon dropped the new holder's lease");
    assert_eq!(
        ledger
            .begin_delivery(&d, "third", "hash-a", after_expiry + 2, lease)
            .await
            .unwrap(),
        DeliveryBegin::InProgress
    );
    assert!(
        ledger
            .finish_delivery(
                &d,
                "takeover",
                "\"takeover\"",
                after_expiry + 3,
                T0 + 600_000
            )
            .await
            .unwrap()
    );
    // Once the new holder finished, the late attempt still writes nothing.
    assert!(
        !ledger
            .finish_delivery(&d, "slow", "\"slow\"", after_expiry + 4, T0 + 600_000)
            .await
            .unwrap()
    );
    assert_eq!(
        ledger
            .begin_delivery(&d, "third", "hash-a", after_expiry + 5, lease)
            .await
            .unwrap(),
        DeliveryBegin::Completed("\"takeover\"".into())
    );
}

/// Only the attempt holding a live lease finishes or abandons it, and each
/// call says whether it wrote; the holder's finish stores the answer (again
/// when repeated), and nobody abandons a stored answer.
pub async fn only_the_holder_finishes_or_abandons_a_lease_and_each_says_whether_it_wrote<
    L: SeatLedger,
>(
    ledger: Arc<L>,
) {
    let (d, dropped) = (delivery("evt-9"), delivery("evt-10"));
    let lease = 30_000;
    for key in [&d, &dropped] {
        assert_eq!(
            ledger
                .begin_delivery(key, "holder", "hash-a", T0, lease)
                .await
                .unwrap(),
            DeliveryBegin::Started
        );
    }

    let by_other = ledger
        .finish_delivery(&d, "other", "\"other\"", T0 + 1, T0 + 60_000)
        .await
        .unwrap();
    let dropped_by_other = ledger
        .abandon_delivery(&d, LeaseHolder::Attempt("other"))
        .await
        .unwrap();
    let by_holder = ledger
        .finish_delivery(&d, "holder", "\"done\"", T0 + 2, T0 + 60_000)
        .await
        .unwrap();
    let repeated = ledger
        .finish_delivery(&d, "holder", "\"done\"", T0 + 2, T0 + 60_000)
        .await
        .unwrap();

    assert_eq!(
        (by_other, dropped_by_other, by_holder, repeated),
        (false, false, true, true)
    );
    assert_eq!(
        ledger
            .begin_delivery(&d, "later", "hash-a", T0 + 3, lease)
            .await
            .unwrap(),
        DeliveryBegin::Completed("\"done\"".into())
    );
    for holder in [LeaseHolder::Attempt("holder"), LeaseHolder::Any] {
        assert!(!ledger.abandon_delivery(&d, holder).await.unwrap());
    }
    assert_eq!(
        ledger
            .begin_delivery(&d, "later", "hash-a", T0 + 4, lease)
            .await
            .unwrap(),
        DeliveryBegin::Completed("\"done\"".into())
    );
    // The holder's abandon drops its lease, once.
    assert!(
        ledger
            .abandon_delivery(&dropped, LeaseHolder::Attempt("holder"))
            .await
            .unwrap()
    );
    assert!(
        !ledger
            .abandon_delivery(&dropped, LeaseHolder::Attempt("holder"))
            .await
            .unwrap()
    );
    assert_eq!(
        ledger
            .begin_delivery(&dropped, "later", "hash-a", T0 + 5, lease)
            .await
            .unwrap(),
        DeliveryBegin::Started
    );
}

/// An abandon for any holder (a caller that knows the holder died) drops
/// whichever attempt's live lease is there, so the next attempt starts.
pub async fn an_abandon_for_any_holder_drops_another_attempts_live_lease<L: SeatLedger>(
    ledger: Arc<L>,
) {
    let d = delivery("evt-11");
    assert_eq!(
        ledger
            .begin_delivery(&d, "died", "hash-a", T0, 30_000)
            .await
            .unwrap(),
        DeliveryBegin::Started
    );

    let dropped = ledger.abandon_delivery(&d, LeaseHolder::Any).await.unwrap();

    assert!(dropped);
    assert_eq!(
        ledger
            .begin_delivery(&d, "next", "hash-a", T0 + 1, 30_000)
            .await
            .unwrap(),
        DeliveryBegin::Started
    );
}

// ---------- reservations kept alive ----------

/// rekey moves an ACTIVE claim to the new person key: same id, state,
/// username and seat; the old key is free, the count unchanged.
pub async fn rekey_moves_the_claim_to_the_new_person_and_keeps_its_seat<L: SeatLedger>(
    ledger: Arc<L>,
) {
    let old = key("acme", "ana@old.example.org");
    let new = key("acme", "ana@new.example.org");
    reserved(reserve(&*ledger, &old, 5, "c-ana", T0).await);
    let active = ledger
        .confirm(&old, "c-ana", "ana_acme", T0 + 1)
        .await
        .unwrap();

    let moved = ledger
        .rekey(&old, "c-ana", &new.person, T0 + 2)
        .await
        .expect("rekey");

    let expected = Claim {
        key: new.clone(),
        updated_at: T0 + 2,
        ..active.clone()
    };
    assert_eq!(moved, Rekey::Moved(expected.clone()));
    assert_eq!(ledger.claim(&new).await.unwrap(), Some(expected.clone()));
    assert_eq!(ledger.claim(&old).await.unwrap(), None);
    assert_eq!(
        used(&*ledger, "acme").await,
        1,
        "the seat moved, no new one"
    );
    assert_eq!(
        ledger.claims(&pool("acme")).await.unwrap(),
        vec![expected.clone()]
    );
    // A reservation under the new key finds the seat already held.
    match reserve(&*ledger, &new, 5, "c-again", T0 + 3).await {
        Reservation::AlreadyHeld(c) => assert_eq!(c.claim_id, "c-ana"),
        other => panic!("expected AlreadyHeld, got {other:?}"),
    }
    // Moving to the same person is a no-op; the claim is released by its id.
    assert_eq!(
        ledger
            .rekey(&new, "c-ana", &new.person, T0 + 4)
            .await
            .unwrap(),
        Rekey::Moved(expected)
    );
    // (The claim is ACTIVE: its seat is given back by a release that
    // expects ACTIVE; `release` gives back only RESERVED seats.)
    assert_eq!(
        release_active(&*ledger, &new, "c-ana").await,
        Transition::Released
    );
    assert_eq!(used(&*ledger, "acme").await, 0);
}

/// Gives back an ACTIVE claim's seat (as a reclaim does).
async fn release_active<L: SeatLedger>(ledger: &L, k: &ClaimKey, claim_id: &str) -> Transition {
    ledger
        .transition(
            k,
            Expect {
                claim_id,
                stages: &[Stage::Active],
                updated_at: None,
            },
            Change::Release,
            T0,
        )
        .await
        .expect("transition answers")
}

/// rekey changes nothing for another claim id, a missing claim, or a new
/// person who already holds a claim in the pool.
pub async fn rekey_refuses_another_id_or_a_taken_person_and_changes_nothing<L: SeatLedger>(
    ledger: Arc<L>,
) {
    let ana = key("acme", "ana@example.org");
    let ben = key("acme", "ben@example.org");
    let a = reserved(reserve(&*ledger, &ana, 5, "c-ana", T0).await);
    let b = reserved(reserve(&*ledger, &ben, 5, "c-ben", T0).await);

    assert_eq!(
        ledger
            .rekey(&ana, "c-other", "cy@example.org", T0 + 1)
            .await
            .unwrap(),
        Rekey::NotFound
    );
    assert_eq!(
        ledger
            .rekey(
                &key("acme", "nobody@example.org"),
                "c-ana",
                "cy@example.org",
                T0 + 1
            )
            .await
            .unwrap(),
        Rekey::NotFound
    );
    assert_eq!(
        ledger
            .rekey(&ana, "c-ana", &ben.person, T0 + 1)
            .await
            .unwrap(),
        Rekey::Taken(b.clone())
    );
    assert_eq!(ledger.claim(&ana).await.unwrap(), Some(a));
    assert_eq!(ledger.claim(&ben).await.unwrap(), Some(b));
    assert_eq!(ledger.claims(&pool("acme")).await.unwrap().len(), 2);
    assert_eq!(used(&*ledger, "acme").await, 2);
}

/// touch moves `updated_at` of the RESERVED claim it names, nothing else.
pub async fn touch_refreshes_a_reserved_claim_of_this_id_only<L: SeatLedger>(ledger: Arc<L>) {
    let k = key("acme", "ana@example.org");
    let claim = reserved(reserve(&*ledger, &k, 5, "c-1", T0).await);

    let touched = ledger.touch(&k, "c-1", T0 + 500).await.expect("touch");

    assert!(touched);
    let expected = Claim {
        updated_at: T0 + 500,
        ..claim.clone()
    };
    assert_eq!(ledger.claim(&k).await.unwrap(), Some(expected.clone()));
    assert_eq!(used(&*ledger, "acme").await, 1);

    // Another id (a reservation made since) is not kept alive by this one.
    let wrong = ledger.touch(&k, "c-other", T0 + 900).await.expect("touch");
    assert!(!wrong);
    assert_eq!(ledger.claim(&k).await.unwrap(), Some(expected.clone()));

    // Touching again keeps refreshing.
    assert!(ledger.touch(&k, "c-1", T0 + 1_000).await.unwrap());
    assert_eq!(
        ledger.claim(&k).await.unwrap().map(|c| c.updated_at),
        Some(T0 + 1_000)
    );
    // The claim can still be confirmed and released by its id.
    let confirmed = ledger
        .confirm(&k, "c-1", "ana_acme", T0 + 2_000)
        .await
        .unwrap();
    assert_eq!(confirmed.reserved_at, T0);
    assert_eq!(confirmed.updated_at, T0 + 2_000);
}

/// touch answers false, and writes nothing, unless its claim is RESERVED.
pub async fn touch_refuses_a_released_an_active_or_a_never_made_claim_and_writes_nothing<
    L: SeatLedger,
>(
    ledger: Arc<L>,
) {
    // Released.
    let gone = key("acme", "gone@example.org");
    reserved(reserve(&*ledger, &gone, 5, "c-gone", T0).await);
    assert!(ledger.release(&gone, "c-gone").await.unwrap());

    let after_release = ledger.touch(&gone, "c-gone", T0 + 10).await.unwrap();

    assert!(!after_release);
    assert_eq!(ledger.claim(&gone).await.unwrap(), None);
    assert!(ledger.claims(&pool("acme")).await.unwrap().is_empty());
    assert_eq!(used(&*ledger, "acme").await, 0);

    // Active.
    let active = key("acme", "ana@example.org");
    reserved(reserve(&*ledger, &active, 5, "c-ana", T0).await);
    let confirmed = ledger
        .confirm(&active, "c-ana", "ana_acme", T0 + 100)
        .await
        .unwrap();

    let on_active = ledger.touch(&active, "c-ana", T0 + 200).await.unwrap();

    assert!(!on_active);
    assert_eq!(ledger.claim(&active).await.unwrap(), Some(confirmed));

    // Never made, in a pool never used.
    let never = key("untouched", "nobody@example.org");
    assert!(!ledger.touch(&never, "c-x", T0).await.unwrap());
    assert_eq!(ledger.claim(&never).await.unwrap(), None);
    assert!(ledger.claims(&pool("untouched")).await.unwrap().is_empty());
    assert_eq!(used(&*ledger, "untouched").await, 0);
    assert_eq!(used(&*ledger, "acme").await, 1);
}

// ---------- failed sign-ups ----------

/// Reserves `k` held as `hold`, with the claim id `claim_id`.
async fn reserve_held<L: SeatLedger>(
    ledger: &L,
    k: &ClaimKey,
    claim_id: &str,
    hold: Hold,
) -> Claim {
    reserved(
        ledger
            .reserve(ReserveRequest {
                key: k,
                capacity: 5,
                delivery: "standard:d-1",
                claim_id,
                username: "intended_user",
                hold,
                now: T0,
            })
            .await
            .expect("reserve answers"),
    )
}

/// Moves `k` as `change`, expecting `claim_id` in `stages`.
async fn move_claim<L: SeatLedger>(
    ledger: &L,
    k: &ClaimKey,
    claim_id: &str,
    stages: &[Stage],
    change: Change<'_>,
    now: UnixMillis,
) -> Transition {
    ledger
        .transition(
            k,
            Expect {
                claim_id,
                stages,
                updated_at: None,
            },
            change,
            now,
        )
        .await
        .expect("transition answers")
}

/// A reservation stores why its seat is held; a transition moves the claim
/// only from the stage and id it expects, and writes nothing otherwise.
pub async fn a_reservation_keeps_its_hold_and_a_transition_moves_it_only_from_the_expected_stage_and_id<
    L: SeatLedger,
>(
    ledger: Arc<L>,
) {
    let k = key("acme", "ana@example.org");
    let held = reserve_held(&*ledger, &k, "c-1", Hold::Approval).await;
    assert_eq!(
        (held.stage(), held.hold),
        (Stage::Reserved(Hold::Approval), Some(Hold::Approval))
    );
    assert_eq!(ledger.claim(&k).await.unwrap(), Some(held.clone()));
    let queued_from_approval = Change::Rehold {
        hold: Hold::Queued,
        delivery: None,
    };

    // Another stage, another id: refused, nothing written.
    let in_flight = [Stage::Reserved(Hold::InFlight)];
    let approval = [Stage::Reserved(Hold::Approval)];
    for (id, stages) in [("c-1", &in_flight[..]), ("c-other", &approval[..])] {
        let r = move_claim(&*ledger, &k, id, stages, queued_from_approval, T0 + 5).await;
        assert_eq!(
            r,
            Transition::Refused(Some(held.clone())),
            "{id} {stages:?}"
        );
    }
    assert_eq!(ledger.claim(&k).await.unwrap(), Some(held.clone()));

    // The expected one: held for another reason, by another delivery.
    let r = move_claim(
        &*ledger,
        &k,
        "c-1",
        &approval,
        Change::Rehold {
            hold: Hold::Queued,
            delivery: Some("okta:evt-2"),
        },
        T0 + 10,
    )
    .await;
    let queued = Claim {
        hold: Some(Hold::Queued),
        delivery: "okta:evt-2".into(),
        updated_at: T0 + 10,
        ..held.clone()
    };
    assert_eq!(r, Transition::Done(queued.clone()));
    assert_eq!(ledger.claim(&k).await.unwrap(), Some(queued.clone()));

    // Touch refreshes only the time.
    let queued_stage = [Stage::Reserved(Hold::Queued)];
    let r = move_claim(&*ledger, &k, "c-1", &queued_stage, Change::Touch, T0 + 15).await;
    let touched = Claim {
        updated_at: T0 + 15,
        ..queued.clone()
    };
    assert_eq!(r, Transition::Done(touched.clone()));

    // Activate: ACTIVE under the member's name, no hold.
    let r = move_claim(
        &*ledger,
        &k,
        "c-1",
        &queued_stage,
        Change::Activate {
            username: "ana_acme",
        },
        T0 + 20,
    )
    .await;
    let active = Claim {
        state: ClaimState::Active,
        hold: None,
        username: Some("ana_acme".into()),
        updated_at: T0 + 20,
        activated_at: Some(T0 + 20),
        ..touched
    };
    assert_eq!(r, Transition::Done(active.clone()));
    assert_eq!(active.stage(), Stage::Active);
    assert_eq!(ledger.claim(&k).await.unwrap(), Some(active.clone()));
    assert_eq!(used(&*ledger, "acme").await, 1);

    // Released from ACTIVE by its id: the seat is back, the claim gone.
    assert_eq!(
        move_claim(
            &*ledger,
            &k,
            "c-1",
            &[Stage::Active],
            Change::Release,
            T0 + 30
        )
        .await,
        Transition::Released
    );
    assert_eq!(used(&*ledger, "acme").await, 0);
    assert_eq!(ledger.claim(&k).await.unwrap(), None);
    // Nothing left to move.
    assert_eq!(
        move_claim(
            &*ledger,
            &k,
            "c-1",
            &[Stage::Active],
            Change::Touch,
            T0 + 40
        )
        .await,
        Transition::Refused(None)
    );
    assert_eq!(used(&*ledger, "acme").await, 0);
}

/// Issue 11, defect 3: `release` gave back any claim with the id, ACTIVE
/// ones too (a denial after a person's hold had been taken over and the
/// member made freed the member's seat). It gives back only RESERVED
/// claims: an ACTIVE claim and its seat stay.
pub async fn release_refuses_an_active_claim_and_keeps_its_seat<L: SeatLedger>(ledger: Arc<L>) {
    let k = key("acme", "ana@example.org");
    reserve_held(&*ledger, &k, "c-1", Hold::Approval).await;
    let active = ledger.confirm(&k, "c-1", "ana_acme", T0 + 1).await.unwrap();

    assert!(!ledger.release(&k, "c-1").await.expect("release answers"));

    assert_eq!(ledger.claim(&k).await.unwrap(), Some(active));
    assert_eq!(used(&*ledger, "acme").await, 1);
}

/// The seat's life after sign-up: the first activation is recorded and
/// kept; a warning and an extension change only an ACTIVE claim of the
/// expected id (an extension clears the warning); the fields survive a
/// re-keying; ending the seat gives it back.
pub async fn an_active_seat_keeps_its_first_activation_and_is_warned_extended_and_ended_only_as_expected<
    L: SeatLedger,
>(
    ledger: Arc<L>,
) {
    let k = key("acme", "ana@example.org");
    let reserved = reserve_held(&*ledger, &k, "c-1", Hold::InFlight).await;
    assert_eq!(
        (reserved.activated_at, reserved.activated_at()),
        (None, None)
    );
    let active = ledger.confirm(&k, "c-1", "ana_acme", T0 + 1).await.unwrap();
    assert_eq!(active.activated_at, Some(T0 + 1));
    let again = ledger.confirm(&k, "c-1", "ana_acme", T0 + 5).await.unwrap();
    assert_eq!(
        again.activated_at,
        Some(T0 + 1),
        "a repeated confirmation keeps it"
    );
    assert_eq!(again.updated_at, T0 + 5);

    // Not from a RESERVED claim, nor with another id: nothing written.
    let other = key("acme", "bo@example.org");
    reserve_held(&*ledger, &other, "c-2", Hold::Approval).await;
    let warn = Change::Warn {
        activated_at: T0 + 1,
    };
    let refused = ledger
        .transition(&other, Expect::new("c-2", &[Stage::Active]), warn, T0 + 9)
        .await
        .unwrap();
    assert!(matches!(refused, Transition::Refused(Some(_))));
    let wrong_id = ledger
        .transition(&k, Expect::new("c-x", &[Stage::Active]), warn, T0 + 9)
        .await
        .unwrap();
    assert_eq!(wrong_id, Transition::Refused(Some(again.clone())));

    let Transition::Done(warned) = ledger
        .transition(&k, Expect::new("c-1", &[Stage::Active]), warn, T0 + 10)
        .await
        .unwrap()
    else {
        panic!("the warning is recorded");
    };
    assert_eq!(warned.warned_at, Some(T0 + 10));
    assert_eq!(
        (warned.activated_at, warned.updated_at),
        (Some(T0 + 1), T0 + 10)
    );
    assert_eq!(ledger.claim(&k).await.unwrap(), Some(warned.clone()));

    let extend = Change::Extend {
        until: T0 + 1_000,
        activated_at: T0 + 1,
    };
    // Expecting the claim as read before the warning: refused.
    let stale = Expect {
        updated_at: Some(T0 + 5),
        ..Expect::new("c-1", &[Stage::Active])
    };
    assert!(matches!(
        ledger.transition(&k, stale, extend, T0 + 20).await.unwrap(),
        Transition::Refused(_)
    ));
    let Transition::Done(extended) = ledger
        .transition(&k, Expect::new("c-1", &[Stage::Active]), extend, T0 + 20)
        .await
        .unwrap()
    else {
        panic!("the extension is recorded");
    };
    assert_eq!(extended.extended_until, Some(T0 + 1_000));
    assert_eq!(extended.warned_at, None, "a new end gets its own warning");
    assert_eq!(extended.activated_at, Some(T0 + 1));
    assert_eq!(ledger.claim(&k).await.unwrap(), Some(extended.clone()));

    // A re-keying keeps the seat's life.
    let Rekey::Moved(moved) = ledger
        .rekey(&k, "c-1", "ana@new.example.org", T0 + 30)
        .await
        .unwrap()
    else {
        panic!("the claim moves");
    };
    let k2 = key("acme", "ana@new.example.org");
    let stored = ledger.claim(&k2).await.unwrap().expect("moved claim");
    assert_eq!(stored, moved);
    assert_eq!(
        (stored.activated_at, stored.extended_until, stored.warned_at),
        (Some(T0 + 1), Some(T0 + 1_000), None)
    );

    // Ending the seat: the ACTIVE claim released, its seat given back.
    assert_eq!(used(&*ledger, "acme").await, 2);
    let end = Expect {
        updated_at: Some(stored.updated_at),
        ..Expect::new("c-1", &[Stage::Active])
    };
    assert_eq!(
        ledger
            .transition(&k2, end, Change::Release, T0 + 40)
            .await
            .unwrap(),
        Transition::Released
    );
    assert_eq!(ledger.claim(&k2).await.unwrap(), None);
    assert_eq!(used(&*ledger, "acme").await, 1);
}

/// `Change::Fail`: the claim deleted, the seat given back and the failure
/// recorded together; refused (another id or stage), it writes none of
/// them, the failure included.
pub async fn a_release_that_fails_a_sign_up_records_the_failure_in_the_same_write_or_writes_nothing<
    L: SeatLedger,
>(
    ledger: Arc<L>,
) {
    let k = key("acme", "ana@example.org");
    reserve_held(&*ledger, &k, "c-1", Hold::Queued).await;
    let failure = failed("acme", "ana@example.org", "portal_refused", T0 + 5);
    let retain = T0 + 86_400_000;
    let fail = Change::Fail {
        failure: &failure,
        retain_until: retain,
    };

    let wrong_id = Expect {
        claim_id: "c-other",
        stages: &Stage::RESERVED,
        updated_at: None,
    };
    let refused = ledger.transition(&k, wrong_id, fail, T0 + 5).await.unwrap();
    assert!(
        matches!(refused, Transition::Refused(Some(_))),
        "{refused:?}"
    );
    assert_eq!(used(&*ledger, "acme").await, 1);
    assert!(
        ledger
            .failures(&pool("acme"), T0 + 6)
            .await
            .unwrap()
            .is_empty(),
        "a refused release records no failure"
    );

    let expect = Expect {
        claim_id: "c-1",
        stages: &[Stage::Reserved(Hold::Queued)],
        updated_at: None,
    };
    let done = ledger.transition(&k, expect, fail, T0 + 5).await.unwrap();

    assert_eq!(done, Transition::Released);
    assert_eq!(ledger.claim(&k).await.unwrap(), None);
    assert_eq!(used(&*ledger, "acme").await, 0);
    assert_eq!(
        ledger.failures(&pool("acme"), T0 + 6).await.unwrap(),
        vec![failure.clone()]
    );
    // Listed until its retention ends, as a recorded failure is.
    assert!(
        ledger
            .failures(&pool("acme"), retain + 1)
            .await
            .unwrap()
            .is_empty()
    );
}

/// Twenty callers expecting the same claim in the same stage, each with
/// another change: exactly one is done, the others are refused and find
/// the winner's claim (or none, when the winner released it).
pub async fn of_20_concurrent_transitions_from_one_stage_exactly_one_is_done<L: SeatLedger>(
    ledger: Arc<L>,
) {
    for round in 0..3u32 {
        let k = key("acme", &format!("p{round}@example.org"));
        reserve_held(&*ledger, &k, "c-1", Hold::Queued).await;
        let mut tasks = JoinSet::new();
        for i in 0..20u32 {
            let ledger = ledger.clone();
            let k = k.clone();
            tasks.spawn(async move {
                let names = ["u0", "u1", "u2", "u3"];
                let change = match (i + round) % 4 {
                    0 => Change::Release,
                    1 => Change::Activate {
                        username: names[(i % 4) as usize],
                    },
                    2 => Change::Rehold {
                        hold: Hold::Unknown,
                        delivery: None,
                    },
                    _ => Change::Rehold {
                        hold: Hold::InFlight,
                        delivery: Some("okta:evt-9"),
                    },
                };
                let stages = [Stage::Reserved(Hold::Queued)];
                move_claim(&*ledger, &k, "c-1", &stages, change, T0 + i as i64).await
            });
        }
        let mut done = 0;
        let mut refused = 0;
        while let Some(r) = tasks.join_next().await {
            match r.expect("task") {
                Transition::Done(_) | Transition::Released => done += 1,
                Transition::Refused(_) => refused += 1,
            }
        }
        assert_eq!((done, refused), (1, 19), "round {round}");
        let now = ledger.claim(&k).await.unwrap();
        match &now {
            None => assert_eq!(used(&*ledger, "acme").await, round_used(&*ledger).await),
            Some(c) => assert_ne!(c.stage(), Stage::Reserved(Hold::Queued)),
        }
    }
    // Every claim left holds a seat, and only those.
    let claims = ledger.claims(&pool("acme")).await.unwrap();
    assert_eq!(used(&*ledger, "acme").await, claims.len() as u32);
}

async fn round_used<L: SeatLedger>(ledger: &L) -> u32 {
    ledger.claims(&pool("acme")).await.unwrap().len() as u32
}

/// A refused transition says what is there: the claim as stored (another
/// id, another stage), or none.
pub async fn a_refused_transition_returns_the_claim_as_it_is<L: SeatLedger>(ledger: Arc<L>) {
    let k = key("acme", "ana@example.org");
    let held = reserve_held(&*ledger, &k, "c-1", Hold::Unknown).await;
    let r = move_claim(
        &*ledger,
        &k,
        "c-1",
        &[Stage::Active],
        Change::Release,
        T0 + 1,
    )
    .await;
    assert_eq!(r, Transition::Refused(Some(held.clone())));
    let r = move_claim(
        &*ledger,
        &key("acme", "nobody@example.org"),
        "c-1",
        &Stage::RESERVED,
        Change::Release,
        T0 + 1,
    )
    .await;
    assert_eq!(r, Transition::Refused(None));
    assert_eq!(used(&*ledger, "acme").await, 1);
    assert_eq!(ledger.claim(&k).await.unwrap(), Some(held));
}

/// record_failure → listed with every field; the same person again replaces it.
pub async fn a_recorded_failure_is_listed_and_a_second_one_for_the_same_person_replaces_it<
    L: SeatLedger,
>(
    ledger: Arc<L>,
) {
    let retain = T0 + 86_400_000;
    let first = failed("acme", "ana@example.org", "portal_unavailable", T0);
    assert!(ledger.failures(&pool("acme"), T0).await.unwrap().is_empty());

    ledger.record_failure(&first, retain).await.expect("record");

    assert_eq!(
        ledger.failures(&pool("acme"), T0 + 1).await.unwrap(),
        vec![first.clone()]
    );

    let second = FailedSignup {
        username: None,
        delivery: "entra:evt-2".into(),
        ..failed("acme", "ana@example.org", "portal_refused", T0 + 50)
    };
    ledger
        .record_failure(&second, retain)
        .await
        .expect("record");

    assert_eq!(
        ledger.failures(&pool("acme"), T0 + 60).await.unwrap(),
        vec![second.clone()]
    );
    // The latest record wins even when its time is older: it is what the
    // worker reported last.
    let older = failed("acme", "ana@example.org", "portal_unavailable", T0 + 10);
    ledger.record_failure(&older, retain).await.unwrap();
    assert_eq!(
        ledger.failures(&pool("acme"), T0 + 60).await.unwrap(),
        vec![older]
    );
}

/// Only the pool's own failures, newest first, while retained (inclusive).
pub async fn failures_are_listed_per_pool_newest_first_until_their_retention_ends<L: SeatLedger>(
    ledger: Arc<L>,
) {
    let early = failed("acme", "ana@example.org", "portal_unavailable", T0);
    let late = failed("acme", "bob@example.org", "portal_refused", T0 + 20);
    let middle = failed("acme", "cy@example.org", "portal_unavailable", T0 + 10);
    let short_lived = failed("acme", "dee@example.org", "portal_refused", T0 + 30);
    let elsewhere = failed("acme-other", "eve@example.org", "portal_refused", T0 + 5);
    let long = T0 + 86_400_000;
    let short = T0 + 60_000;
    for (f, until) in [
        (&early, long),
        (&late, long),
        (&middle, long),
        (&short_lived, short),
        (&elsewhere, long),
    ] {
        ledger.record_failure(f, until).await.expect("record");
    }

    let listed = ledger.failures(&pool("acme"), T0 + 40).await.unwrap();

    assert_eq!(
        listed,
        vec![
            short_lived.clone(),
            late.clone(),
            middle.clone(),
            early.clone()
        ]
    );
    assert_eq!(
        ledger.failures(&pool("acme-other"), T0 + 40).await.unwrap(),
        vec![elsewhere]
    );
    assert!(
        ledger
            .failures(&pool("never-failed"), T0)
            .await
            .unwrap()
            .is_empty()
    );
    // Retained up to and including `retain_until`, then gone.
    assert_eq!(
        ledger.failures(&pool("acme"), short).await.unwrap().len(),
        4
    );
    assert_eq!(
        ledger.failures(&pool("acme"), short + 1).await.unwrap(),
        vec![late.clone(), middle.clone(), early.clone()]
    );
    assert!(
        ledger
            .failures(&pool("acme"), long + 1)
            .await
            .unwrap()
            .is_empty()
    );
    // An expired failure recorded again is listed again.
    ledger.record_failure(&short_lived, long).await.unwrap();
    assert_eq!(
        ledger.failures(&pool("acme"), short + 1).await.unwrap(),
        vec![short_lived, late, middle, early]
    );
}

/// Failures live beside the seats without touching them.
pub async fn a_failure_changes_neither_usage_nor_claims<L: SeatLedger>(ledger: Arc<L>) {
    let holder = key("acme", "ana@example.org");
    let claim = reserved(reserve(&*ledger, &holder, 2, "c-ana", T0).await);
    let retain = T0 + 86_400_000;

    // For a person holding a claim, one without, and in a pool never used.
    for f in [
        failed("acme", "ana@example.org", "portal_refused", T0 + 1),
        failed("acme", "bob@example.org", "portal_unavailable", T0 + 2),
        failed("fresh", "cy@example.org", "portal_unavailable", T0 + 3),
    ] {
        ledger.record_failure(&f, retain).await.expect("record");
    }

    assert_eq!(used(&*ledger, "acme").await, 1);
    assert_eq!(used(&*ledger, "fresh").await, 0);
    assert_eq!(
        ledger.claims(&pool("acme")).await.unwrap(),
        vec![claim.clone()]
    );
    assert!(ledger.claims(&pool("fresh")).await.unwrap().is_empty());
    assert_eq!(ledger.claim(&holder).await.unwrap(), Some(claim));
    assert_eq!(
        ledger.claim(&key("acme", "bob@example.org")).await.unwrap(),
        None
    );
    let people: Vec<String> = ledger
        .failures(&pool("acme"), T0 + 10)
        .await
        .unwrap()
        .into_iter()
        .map(|f| f.key.person)
        .collect();
    assert_eq!(people, vec!["bob@example.org", "ana@example.org"]);
    // Seats still work as before: one left, then full, and the failed
    // person may reserve it.
    let bob = key("acme", "bob@example.org");
    reserved(reserve(&*ledger, &bob, 2, "c-bob", T0 + 20).await);
    assert_eq!(
        reserve(
            &*ledger,
            &key("acme", "dee@example.org"),
            2,
            "c-dee",
            T0 + 21
        )
        .await,
        Reservation::PoolFull { used: 2 }
    );
    assert_eq!(used(&*ledger, "acme").await, 2);
    assert_eq!(
        ledger.failures(&pool("acme"), T0 + 30).await.unwrap().len(),
        2
    );
}

// ---------- sign-up requests ----------

/// A request of `person` in `pool_name`, in `state`, made at `created_at`.
pub fn signup(
    id: &str,
    pool_name: &str,
    person: &str,
    state: RequestState,
    created_at: UnixMillis,
) -> SignupRecord {
    SignupRecord {
        id: id.to_string(),
        key: key(pool_name, person),
        delivery: format!("okta:evt-{id}"),
        payload: format!(r#"{{"name":"Zoë {id}","role":"viewer","groups":["a#b"]}}"#),
        state,
        claim_id: None,
        created_at,
        expires_at: created_at + 7 * 86_400_000,
        decided_at: None,
        decided_by: None,
        reason: None,
        retain_until: None,
    }
}

/// How long the checks keep a closed request: 180 days, the default.
pub const RETENTION: UnixMillis = 180 * 86_400_000;

/// A change made by `by` at `at`, keeping the request (if it closes) for
/// [`RETENTION`].
pub fn change(at: UnixMillis, by: &str, reason: Option<&str>) -> RequestChange {
    RequestChange {
        at,
        by: Some(by.to_string()),
        reason: reason.map(str::to_string),
        claim_id: None,
        retain_until: Some(at + RETENTION),
    }
}

async fn listed<L: SeatLedger>(ledger: &L, pool_name: &str, state: RequestState) -> Vec<String> {
    ledger
        .requests(&pool(pool_name), state)
        .await
        .expect("requests")
        .into_iter()
        .map(|r| r.id)
        .collect()
}

async fn create<L: SeatLedger>(ledger: &L, r: &SignupRecord) {
    assert_eq!(
        ledger.create_request(r).await.expect("create_request"),
        None,
        "{} should be created",
        r.id
    );
}

/// create → request(id); a second open request of the same person returns
/// the first and writes nothing; once the first is closed, a new one goes in.
pub async fn a_created_request_reads_back_and_blocks_a_second_open_one_until_closed<
    L: SeatLedger,
>(
    ledger: Arc<L>,
) {
    let first = signup("a1", "acme", "ana@example.org", RequestState::Pending, T0);
    assert_eq!(ledger.request("a1").await.unwrap(), None);

    create(&*ledger, &first).await;

    assert_eq!(ledger.request("a1").await.unwrap(), Some(first.clone()));
    assert_eq!(
        listed(&*ledger, "acme", RequestState::Pending).await,
        vec!["a1"]
    );

    // Same pool and person, open again (pending or waitlisted): refused.
    for (id, state) in [
        ("a2", RequestState::Pending),
        ("a3", RequestState::Waitlisted),
    ] {
        let again = signup(id, "acme", "ana@example.org", state, T0 + 10);
        assert_eq!(
            ledger.create_request(&again).await.unwrap(),
            Some(first.clone())
        );
        assert_eq!(ledger.request(id).await.unwrap(), None);
    }
    // The very same request again (a retried create) answers the same way.
    assert_eq!(
        ledger.create_request(&first).await.unwrap(),
        Some(first.clone())
    );
    assert_eq!(
        listed(&*ledger, "acme", RequestState::Pending).await,
        vec!["a1"]
    );
    assert!(
        listed(&*ledger, "acme", RequestState::Waitlisted)
            .await
            .is_empty()
    );
    // Another person, or the same person in another pool, is not blocked.
    create(
        &*ledger,
        &signup(
            "b1",
            "acme",
            "bob@example.org",
            RequestState::Pending,
            T0 + 1,
        ),
    )
    .await;
    create(
        &*ledger,
        &signup(
            "a-other",
            "acme-other",
            "ana@example.org",
            RequestState::Waitlisted,
            T0,
        ),
    )
    .await;

    let denied = ledger
        .transition_request(
            "a1",
            RequestState::Pending,
            RequestState::Denied,
            &change(T0 + 20, "admin:root", Some("not staff")),
        )
        .await
        .unwrap()
        .expect("denied");
    assert_eq!(denied.state, RequestState::Denied);

    let later = signup(
        "a4",
        "acme",
        "ana@example.org",
        RequestState::Waitlisted,
        T0 + 30,
    );
    create(&*ledger, &later).await;
    assert_eq!(ledger.request("a4").await.unwrap(), Some(later));
    assert_eq!(ledger.request("a1").await.unwrap(), Some(denied));
    assert_eq!(
        listed(&*ledger, "acme", RequestState::Pending).await,
        vec!["b1"]
    );
    assert_eq!(
        listed(&*ledger, "acme", RequestState::Waitlisted).await,
        vec!["a4"]
    );
    assert_eq!(
        listed(&*ledger, "acme", RequestState::Denied).await,
        vec!["a1"]
    );
    // A closed request blocks nobody, whatever the order: a request created
    // closed takes no open slot.
    let closed = signup(
        "a5",
        "acme",
        "ana@example.org",
        RequestState::Expired,
        T0 + 40,
    );
    create(&*ledger, &closed).await;
    assert_eq!(
        ledger
            .create_request(&signup(
                "a6",
                "acme",
                "ana@example.org",
                RequestState::Pending,
                T0 + 50
            ))
            .await
            .unwrap()
            .map(|r| r.id),
        Some("a4".to_string())
    );
}

/// Ids are fresh random values: one already used is an error, not a second
/// request.
pub async fn a_request_id_already_used_is_refused_and_nothing_is_written<L: SeatLedger>(
    ledger: Arc<L>,
) {
    let first = signup("dup", "acme", "ana@example.org", RequestState::Pending, T0);
    create(&*ledger, &first).await;

    let clash = signup(
        "dup",
        "acme",
        "bob@example.org",
        RequestState::Pending,
        T0 + 1,
    );
    let answer = ledger.create_request(&clash).await;

    assert!(matches!(answer, Err(LedgerError::Corrupt(_))), "{answer:?}");
    assert_eq!(ledger.request("dup").await.unwrap(), Some(first));
    assert_eq!(
        listed(&*ledger, "acme", RequestState::Pending).await,
        vec!["dup"]
    );
    // Bob's slot was not taken by the refused write.
    create(
        &*ledger,
        &signup(
            "bob-1",
            "acme",
            "bob@example.org",
            RequestState::Pending,
            T0 + 2,
        ),
    )
    .await;
}

/// The waitlist is the pool's WAITLISTED requests by arrival (ties by id).
pub async fn requests_lists_a_pools_waitlist_in_arrival_order_and_nothing_else<L: SeatLedger>(
    ledger: Arc<L>,
) {
    // Written out of order on purpose; two arrive in the same millisecond.
    for (id, person, at) in [
        ("w3", "cy@example.org", T0 + 300),
        ("w1", "ana@example.org", T0 + 100),
        ("w2b", "dee@example.org", T0 + 200),
        ("w2a", "bob@example.org", T0 + 200),
        ("w0", "eve@example.org", T0 - 86_400_000),
    ] {
        create(
            &*ledger,
            &signup(id, "queue", person, RequestState::Waitlisted, at),
        )
        .await;
    }
    create(
        &*ledger,
        &signup(
            "p1",
            "queue",
            "fay@example.org",
            RequestState::Pending,
            T0 + 50,
        ),
    )
    .await;
    create(
        &*ledger,
        &signup(
            "x1",
            "queue-other",
            "ana@example.org",
            RequestState::Waitlisted,
            T0,
        ),
    )
    .await;

    let queue = ledger
        .requests(&pool("queue"), RequestState::Waitlisted)
        .await
        .unwrap();

    let ids: Vec<&str> = queue.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids, vec!["w0", "w1", "w2a", "w2b", "w3"]);
    assert_eq!(
        queue[1],
        signup(
            "w1",
            "queue",
            "ana@example.org",
            RequestState::Waitlisted,
            T0 + 100
        )
    );
    assert_eq!(
        listed(&*ledger, "queue", RequestState::Pending).await,
        vec!["p1"]
    );
    assert_eq!(
        listed(&*ledger, "queue-other", RequestState::Waitlisted).await,
        vec!["x1"]
    );
    for state in [
        RequestState::Approved,
        RequestState::Denied,
        RequestState::Expired,
    ] {
        assert!(listed(&*ledger, "queue", state).await.is_empty());
    }
    assert!(
        listed(&*ledger, "never-queued", RequestState::Waitlisted)
            .await
            .is_empty()
    );
    // Admitting the first in line moves it out of the queue; the order of
    // the others stays.
    ledger
        .transition_request(
            "w0",
            RequestState::Waitlisted,
            RequestState::Approved,
            &change(T0 + 400, "system", Some("a seat freed")),
        )
        .await
        .unwrap()
        .expect("admitted");
    assert_eq!(
        listed(&*ledger, "queue", RequestState::Waitlisted).await,
        vec!["w1", "w2a", "w2b", "w3"]
    );
    assert_eq!(
        listed(&*ledger, "queue", RequestState::Approved).await,
        vec!["w0"]
    );
}

/// A double click, a replay, three channels at once: one decision.
pub async fn of_20_concurrent_decisions_on_one_request_exactly_one_changes_it<L: SeatLedger>(
    ledger: Arc<L>,
) {
    let r = signup("race", "acme", "ana@example.org", RequestState::Pending, T0);
    create(&*ledger, &r).await;

    let mut tasks = JoinSet::new();
    for i in 0..20 {
        let ledger = ledger.clone();
        tasks.spawn(async move {
            let c = RequestChange {
                at: T0 + 1_000 + i,
                by: Some(format!("admin:a{i}")),
                reason: None,
                claim_id: Some(Some(format!("c-{i}"))),
                retain_until: Some(T0 + 1_000 + i + RETENTION),
            };
            ledger
                .transition_request("race", RequestState::Pending, RequestState::Approved, &c)
                .await
        });
    }
    let mut winners = Vec::new();
    let mut refused = 0;
    while let Some(joined) = tasks.join_next().await {
        match joined.expect("task finished").expect("transition answers") {
            Some(updated) => winners.push(updated),
            None => refused += 1,
        }
    }

    assert_eq!(winners.len(), 1, "exactly one decision is taken");
    assert_eq!(refused, 19);
    let winner = &winners[0];
    assert_eq!(winner.state, RequestState::Approved);
    let i = winner.decided_at.expect("decided_at") - T0 - 1_000;
    assert_eq!(winner.decided_by, Some(format!("admin:a{i}")));
    assert_eq!(winner.claim_id, Some(format!("c-{i}")));
    assert_eq!(winner.retain_until, Some(T0 + 1_000 + i + RETENTION));
    assert_eq!(ledger.request("race").await.unwrap().as_ref(), Some(winner));
    assert!(
        listed(&*ledger, "acme", RequestState::Pending)
            .await
            .is_empty()
    );
    assert_eq!(
        ledger
            .requests(&pool("acme"), RequestState::Approved)
            .await
            .unwrap(),
        winners
    );
}

/// Wrong `from`, unknown id: `None`, and nothing changes.
pub async fn a_transition_from_another_state_or_of_an_unknown_id_changes_nothing<L: SeatLedger>(
    ledger: Arc<L>,
) {
    let r = signup("w", "acme", "ana@example.org", RequestState::Waitlisted, T0);
    create(&*ledger, &r).await;

    let wrong = ledger
        .transition_request(
            "w",
            RequestState::Pending,
            RequestState::Approved,
            &change(T0 + 1, "admin:root", None),
        )
        .await
        .unwrap();

    assert_eq!(wrong, None);
    assert_eq!(ledger.request("w").await.unwrap(), Some(r.clone()));
    assert_eq!(
        listed(&*ledger, "acme", RequestState::Waitlisted).await,
        vec!["w"]
    );
    assert!(
        listed(&*ledger, "acme", RequestState::Approved)
            .await
            .is_empty()
    );
    // Still open: the person stays blocked.
    assert_eq!(
        ledger
            .create_request(&signup(
                "w2",
                "acme",
                "ana@example.org",
                RequestState::Pending,
                T0 + 2
            ))
            .await
            .unwrap(),
        Some(r.clone())
    );

    let unknown = ledger
        .transition_request(
            "no-such-id",
            RequestState::Pending,
            RequestState::Denied,
            &change(T0 + 3, "admin:root", None),
        )
        .await
        .unwrap();

    assert_eq!(unknown, None);
    assert_eq!(ledger.request("no-such-id").await.unwrap(), None);
    assert!(
        listed(&*ledger, "acme", RequestState::Denied)
            .await
            .is_empty()
    );

    // A decided request is not decided again (a replayed link).
    let c = change(T0 + 4, "admin:root", Some("ok"));
    let approved = ledger
        .transition_request("w", RequestState::Waitlisted, RequestState::Approved, &c)
        .await
        .unwrap()
        .expect("approved");
    let replay = ledger
        .transition_request("w", RequestState::Waitlisted, RequestState::Approved, &c)
        .await
        .unwrap();
    assert_eq!(replay, None);
    let late_deny = ledger
        .transition_request(
            "w",
            RequestState::Waitlisted,
            RequestState::Denied,
            &change(T0 + 5, "admin:other", None),
        )
        .await
        .unwrap();
    assert_eq!(late_deny, None);
    assert_eq!(ledger.request("w").await.unwrap(), Some(approved));
}

/// decided_at / decided_by / reason come from the change; claim_id is set,
/// cleared or kept as asked; the other fields stay.
pub async fn a_transition_records_when_who_why_and_the_claim_id<L: SeatLedger>(ledger: Arc<L>) {
    let r = signup("t", "acme", "ana@example.org", RequestState::Waitlisted, T0);
    create(&*ledger, &r).await;

    // Waitlisted → Pending (a seat freed, approval required), seat held.
    let to_pending = ledger
        .transition_request(
            "t",
            RequestState::Waitlisted,
            RequestState::Pending,
            &RequestChange {
                at: T0 + 10,
                by: Some("system".into()),
                reason: Some("a seat freed".into()),
                claim_id: Some(Some("c-held".into())),
                retain_until: None,
            },
        )
        .await
        .unwrap()
        .expect("moved");

    let expected = SignupRecord {
        state: RequestState::Pending,
        claim_id: Some("c-held".into()),
        decided_at: Some(T0 + 10),
        decided_by: Some("system".into()),
        reason: Some("a seat freed".into()),
        ..r.clone()
    };
    assert_eq!(to_pending, expected);
    assert_eq!(ledger.request("t").await.unwrap(), Some(expected.clone()));
    assert_eq!(
        ledger
            .requests(&pool("acme"), RequestState::Pending)
            .await
            .unwrap(),
        vec![expected.clone()]
    );
    assert!(
        listed(&*ledger, "acme", RequestState::Waitlisted)
            .await
            .is_empty()
    );
    // Pending → Pending: allowed, keeps the claim id when not asked.
    let same = ledger
        .transition_request(
            "t",
            RequestState::Pending,
            RequestState::Pending,
            &RequestChange {
                at: T0 + 15,
                by: None,
                reason: None,
                claim_id: None,
                retain_until: None,
            },
        )
        .await
        .unwrap()
        .expect("same state");
    assert_eq!(same.claim_id.as_deref(), Some("c-held"));
    assert_eq!(
        (same.decided_at, same.decided_by.as_deref()),
        (Some(T0 + 15), None)
    );
    assert_eq!(
        ledger
            .requests(&pool("acme"), RequestState::Pending)
            .await
            .unwrap(),
        vec![same.clone()]
    );

    // Pending → Denied, the hold released.
    let denied = ledger
        .transition_request(
            "t",
            RequestState::Pending,
            RequestState::Denied,
            &RequestChange {
                at: T0 + 20,
                by: Some("slack:U123".into()),
                reason: Some("not a member of staff".into()),
                claim_id: Some(None),
                retain_until: Some(T0 + 20 + RETENTION),
            },
        )
        .await
        .unwrap()
        .expect("denied");

    assert_eq!(
        denied,
        SignupRecord {
            state: RequestState::Denied,
            claim_id: None,
            decided_at: Some(T0 + 20),
            decided_by: Some("slack:U123".into()),
            reason: Some("not a member of staff".into()),
            retain_until: Some(T0 + 20 + RETENTION),
            ..r
        }
    );
    assert_eq!(ledger.request("t").await.unwrap(), Some(denied.clone()));
    assert_eq!(
        ledger
            .requests(&pool("acme"), RequestState::Denied)
            .await
            .unwrap(),
        vec![denied]
    );
    assert!(
        listed(&*ledger, "acme", RequestState::Pending)
            .await
            .is_empty()
    );
}

/// Moving a closed request back to an open state takes the open slot again,
/// and is refused while another request holds it.
pub async fn a_closed_request_reopens_only_while_the_person_has_no_other_open_one<L: SeatLedger>(
    ledger: Arc<L>,
) {
    let old = signup("old", "acme", "ana@example.org", RequestState::Pending, T0);
    create(&*ledger, &old).await;
    let expired = ledger
        .transition_request(
            "old",
            RequestState::Pending,
            RequestState::Expired,
            &change(T0 + 1, "system", Some("expired")),
        )
        .await
        .unwrap()
        .expect("expired");
    let newer = signup(
        "new",
        "acme",
        "ana@example.org",
        RequestState::Pending,
        T0 + 2,
    );
    create(&*ledger, &newer).await;

    let reopen = ledger
        .transition_request(
            "old",
            RequestState::Expired,
            RequestState::Pending,
            &change(T0 + 3, "admin:root", None),
        )
        .await
        .unwrap();

    assert_eq!(reopen, None);
    assert_eq!(expired.retain_until, Some(T0 + 1 + RETENTION));
    assert_eq!(ledger.request("old").await.unwrap(), Some(expired));
    assert_eq!(
        listed(&*ledger, "acme", RequestState::Pending).await,
        vec!["new"]
    );

    ledger
        .transition_request(
            "new",
            RequestState::Pending,
            RequestState::Denied,
            &change(T0 + 4, "admin:root", None),
        )
        .await
        .unwrap()
        .expect("denied");
    let reopened = ledger
        .transition_request(
            "old",
            RequestState::Expired,
            RequestState::Pending,
            &change(T0 + 5, "admin:root", Some("reopened")),
        )
        .await
        .unwrap()
        .expect("reopened");

    assert_eq!(reopened.state, RequestState::Pending);
    // Open again: it must not expire while it waits.
    assert_eq!(reopened.retain_until, None);
    assert_eq!(ledger.request("old").await.unwrap(), Some(reopened.clone()));
    assert_eq!(
        listed(&*ledger, "acme", RequestState::Pending).await,
        vec!["old"]
    );
    // It blocks again.
    assert_eq!(
        ledger
            .create_request(&signup(
                "third",
                "acme",
                "ana@example.org",
                RequestState::Pending,
                T0 + 6
            ))
            .await
            .unwrap(),
        Some(reopened)
    );
}

/// A move to a closed state stores the change's `retain_until`, read back
/// by id and in the listing; a move to an open state stores none, whatever
/// the change says; closing again stores the new one.
pub async fn a_closed_request_keeps_its_retention_and_a_reopened_one_has_none<L: SeatLedger>(
    ledger: Arc<L>,
) {
    let r = signup("k", "acme", "ana@example.org", RequestState::Waitlisted, T0);
    create(&*ledger, &r).await;
    assert_eq!(
        ledger.request("k").await.unwrap().unwrap().retain_until,
        None
    );

    // Waitlisted → Pending: open, so the change's retention is not kept.
    let pending = ledger
        .transition_request(
            "k",
            RequestState::Waitlisted,
            RequestState::Pending,
            &change(T0 + 1, "system", Some("a seat freed")),
        )
        .await
        .unwrap()
        .expect("admitted");
    assert_eq!(pending.retain_until, None);
    assert_eq!(ledger.request("k").await.unwrap(), Some(pending));

    // Pending → Denied: kept until the decision plus the retention.
    let denied = ledger
        .transition_request(
            "k",
            RequestState::Pending,
            RequestState::Denied,
            &change(T0 + 2, "admin:root", Some("no")),
        )
        .await
        .unwrap()
        .expect("denied");
    assert_eq!(denied.retain_until, Some(T0 + 2 + RETENTION));
    assert_eq!(ledger.request("k").await.unwrap(), Some(denied.clone()));
    assert_eq!(
        ledger
            .requests(&pool("acme"), RequestState::Denied)
            .await
            .unwrap(),
        vec![denied]
    );

    // Denied → Pending (reopened): no retention, by id and in the listing.
    let reopened = ledger
        .transition_request(
            "k",
            RequestState::Denied,
            RequestState::Pending,
            &change(T0 + 3, "admin:root", Some("reopened")),
        )
        .await
        .unwrap()
        .expect("reopened");
    assert_eq!(reopened.retain_until, None);
    assert_eq!(ledger.request("k").await.unwrap(), Some(reopened.clone()));
    assert_eq!(
        ledger
            .requests(&pool("acme"), RequestState::Pending)
            .await
            .unwrap(),
        vec![reopened]
    );

    // Pending → Expired: closed again, with the new decision's retention.
    let expired = ledger
        .transition_request(
            "k",
            RequestState::Pending,
            RequestState::Expired,
            &change(T0 + 4, "system", Some("expired")),
        )
        .await
        .unwrap()
        .expect("expired");
    assert_eq!(expired.retain_until, Some(T0 + 4 + RETENTION));
    assert_eq!(ledger.request("k").await.unwrap(), Some(expired.clone()));
    assert_eq!(
        ledger
            .requests(&pool("acme"), RequestState::Expired)
            .await
            .unwrap(),
        vec![expired]
    );
}

// ---------- audit trail ----------

/// An audit event at `at`.
pub fn event(at: UnixMillis, action: &str, person: Option<&str>) -> AuditEvent {
    AuditEvent {
        at,
        actor: "admin:root".into(),
        action: action.into(),
        pool: person.map(|_| "acme".to_string()),
        person: person.map(str::to_string),
        detail: format!("{action} at {at}"),
    }
}

const DAY: UnixMillis = 86_400_000;

/// Oldest first, from `since` (inclusive), at most `limit`; across days.
pub async fn audit_events_come_back_oldest_first_from_since_up_to_limit<L: SeatLedger>(
    ledger: Arc<L>,
) {
    assert!(ledger.audit_since(0, 100).await.unwrap().is_empty());
    let events = vec![
        event(T0 - 3 * DAY, "request.created", Some("ana@example.org")),
        event(T0 - DAY + 5, "request.approved", Some("ana@example.org")),
        event(T0, "seat.reserved", Some("ana@example.org")),
        event(T0 + 1, "member.created", Some("ana@example.org")),
        event(T0 + DAY - 1, "request.created", None),
        event(T0 + 40 * DAY, "request.expired", Some("bob@example.org")),
    ];
    // Appended out of order: the trail is ordered by time, not by arrival.
    for i in [2, 0, 5, 1, 4, 3] {
        ledger.audit(&events[i]).await.expect("audit");
    }

    assert_eq!(ledger.audit_since(0, 100).await.unwrap(), events);
    assert_eq!(ledger.audit_since(T0 - 3 * DAY, 100).await.unwrap(), events);
    assert_eq!(
        ledger.audit_since(T0 - 3 * DAY + 1, 100).await.unwrap(),
        events[1..]
    );
    assert_eq!(ledger.audit_since(T0, 100).await.unwrap(), events[2..]);
    assert_eq!(ledger.audit_since(T0, 2).await.unwrap(), events[2..4]);
    assert_eq!(ledger.audit_since(T0 + 1, 1).await.unwrap(), events[3..4]);
    assert_eq!(ledger.audit_since(0, 3).await.unwrap(), events[..3]);
    assert_eq!(ledger.audit_since(T0 + 2, 100).await.unwrap(), events[4..]);
    assert!(ledger.audit_since(T0, 0).await.unwrap().is_empty());
    assert!(
        ledger
            .audit_since(T0 + 40 * DAY + 1, 100)
            .await
            .unwrap()
            .is_empty()
    );
}

/// Events in the same millisecond never overwrite each other.
pub async fn audit_events_with_the_same_time_are_all_kept<L: SeatLedger>(ledger: Arc<L>) {
    let before = event(T0 - 1, "request.created", Some("ana@example.org"));
    let same: Vec<AuditEvent> = (0..5)
        .map(|i| AuditEvent {
            actor: format!("slack:U{i}"),
            ..event(T0, "request.approved", Some("ana@example.org"))
        })
        .collect();
    let twice = event(T0 + 1, "member.created", Some("ana@example.org"));
    ledger.audit(&before).await.unwrap();
    let mut tasks = JoinSet::new();
    for e in same.clone() {
        let ledger = ledger.clone();
        tasks.spawn(async move { ledger.audit(&e).await });
    }
    while let Some(joined) = tasks.join_next().await {
        joined.expect("task finished").expect("audit");
    }
    // The very same event twice is two lines: the trail keeps what it is told.
    ledger.audit(&twice).await.unwrap();
    ledger.audit(&twice).await.unwrap();

    let all = ledger.audit_since(T0 - 1, 100).await.unwrap();

    assert_eq!(all.len(), 8, "{all:?}");
    assert_eq!(all[0], before);
    let mut middle = all[1..6].to_vec();
    middle.sort_by(|a, b| a.actor.cmp(&b.actor));
    assert_eq!(middle, same);
    assert_eq!(all[6..], [twice.clone(), twice]);
    assert_eq!(ledger.audit_since(T0, 100).await.unwrap().len(), 7);
    let limited = ledger.audit_since(T0, 3).await.unwrap();
    assert_eq!(limited.len(), 3);
    assert!(limited.iter().all(|e| e.at == T0));
}

/// Requests and audit events never touch seats, counters or claims.
pub async fn requests_and_audit_events_change_neither_usage_nor_claims<L: SeatLedger>(
    ledger: Arc<L>,
) {
    let holder = key("acme", "ana@example.org");
    let claim = reserved(reserve(&*ledger, &holder, 2, "c-ana", T0).await);

    // A request of the seat holder, one of a person without a seat, one in
    // a pool never used; decided, expired, audited.
    create(
        &*ledger,
        &signup(
            "r1",
            "acme",
            "ana@example.org",
            RequestState::Pending,
            T0 + 1,
        ),
    )
    .await;
    create(
        &*ledger,
        &signup(
            "r2",
            "acme",
            "bob@example.org",
            RequestState::Waitlisted,
            T0 + 2,
        ),
    )
    .await;
    create(
        &*ledger,
        &signup(
            "r3",
            "fresh",
            "cy@example.org",
            RequestState::Pending,
            T0 + 3,
        ),
    )
    .await;
    let approve = RequestChange {
        claim_id: Some(Some("c-ana".into())),
        ..change(T0 + 4, "admin:root", None)
    };
    ledger
        .transition_request(
            "r1",
            RequestState::Pending,
            RequestState::Approved,
            &approve,
        )
        .await
        .unwrap()
        .expect("approved");
    ledger
        .transition_request(
            "r3",
            RequestState::Pending,
            RequestState::Expired,
            &change(T0 + 5, "system", Some("expired")),
        )
        .await
        .unwrap()
        .expect("expired");
    ledger
        .audit(&event(T0 + 6, "seat.reserved", Some("ana@example.org")))
        .await
        .unwrap();

    assert_eq!(used(&*ledger, "acme").await, 1);
    assert_eq!(used(&*ledger, "fresh").await, 0);
    assert_eq!(
        ledger.claims(&pool("acme")).await.unwrap(),
        vec![claim.clone()]
    );
    assert!(ledger.claims(&pool("fresh")).await.unwrap().is_empty());
    assert_eq!(ledger.claim(&holder).await.unwrap(), Some(claim));
    assert_eq!(
        ledger.claim(&key("acme", "bob@example.org")).await.unwrap(),
        None
    );
    assert!(ledger.failures(&pool("acme"), T0).await.unwrap().is_empty());
    // Seats still work as before: one left, then full.
    reserved(
        reserve(
            &*ledger,
            &key("acme", "bob@example.org"),
            2,
            "c-bob",
            T0 + 7,
        )
        .await,
    );
    assert_eq!(
        reserve(
            &*ledger,
            &key("acme", "dee@example.org"),
            2,
            "c-dee",
            T0 + 8
        )
        .await,
        Reservation::PoolFull { used: 2 }
    );
    assert_eq!(ledger.claims(&pool("acme")).await.unwrap().len(), 2);
    // And the requests are still as left.
    assert_eq!(
        listed(&*ledger, "acme", RequestState::Waitlisted).await,
        vec!["r2"]
    );
    assert_eq!(
        listed(&*ledger, "acme", RequestState::Approved).await,
        vec!["r1"]
    );
}

// ---------- the sign-up's batches ----------

const LEASE_MS: i64 = 60_000;

fn lease<'a>(key: &'a DeliveryKey, attempt: &'a str, now: UnixMillis) -> LeaseRequest<'a> {
    LeaseRequest {
        key,
        attempt,
        payload_hash: "h1",
        now,
        lease_ms: LEASE_MS,
    }
}

fn seat<'a>(
    key: &'a ClaimKey,
    claim_id: &'a str,
    capacity: u32,
    now: UnixMillis,
) -> ReserveRequest<'a> {
    ReserveRequest {
        key,
        capacity,
        delivery: "standard:b1",
        claim_id,
        username: "ana_acme",
        now,
        hold: Hold::InFlight,
    }
}

fn closing<'a>(
    claim: &'a ClaimKey,
    claim_id: &'a str,
    audit: &'a AuditEvent,
    delivery: &'a DeliveryKey,
    attempt: &'a str,
    now: UnixMillis,
) -> CloseRequest<'a> {
    CloseRequest {
        claim,
        expect: Expect {
            claim_id,
            stages: &[Stage::Reserved(Hold::InFlight)],
            updated_at: None,
        },
        username: "ana_acme",
        audit,
        delivery,
        attempt,
        outcome_json: r#"{"status":"provisioned"}"#,
        now,
        retain_until: now + 3_600_000,
    }
}

/// open → the delivery's lease is the attempt's and the seat reserved;
/// close → the claim ACTIVE, the audit record there, the outcome replayed.
pub async fn open_takes_the_lease_and_the_seat_together_and_close_activates_audits_and_stores_together<
    L: SeatLedger,
>(
    ledger: Arc<L>,
) {
    let (d, k) = (delivery("b1"), key("acme", "ana@acme.org"));
    let opened = ledger
        .open(lease(&d, "a1", T0), seat(&k, "c1", 2, T0))
        .await
        .expect("open answers");
    let claim = match opened {
        Opened::Both(c) => c,
        other => panic!("expected Both, got {other:?}"),
    };
    assert_eq!(claim.claim_id, "c1");
    assert_eq!(claim.stage(), Stage::Reserved(Hold::InFlight));
    assert_eq!(used(&*ledger, "acme").await, 1);
    // The lease is the attempt's: another attempt waits, the same one goes on.
    let other = ledger
        .begin_delivery(&d, "a2", "h1", T0 + 1, LEASE_MS)
        .await
        .unwrap();
    assert_eq!(other, DeliveryBegin::InProgress);

    let audit = event(T0 + 2, "member.created", Some("ana@acme.org"));
    let closed = ledger
        .close(closing(&k, "c1", &audit, &d, "a1", T0 + 2))
        .await
        .expect("close answers");
    assert!(closed);
    let c = ledger.claim(&k).await.unwrap().expect("claim");
    assert_eq!(c.state, ClaimState::Active);
    assert_eq!(c.username.as_deref(), Some("ana_acme"));
    assert_eq!(used(&*ledger, "acme").await, 1);
    let replay = ledger
        .begin_delivery(&d, "a3", "h1", T0 + 3, LEASE_MS)
        .await
        .unwrap();
    assert_eq!(
        replay,
        DeliveryBegin::Completed(r#"{"status":"provisioned"}"#.into())
    );
    let events = ledger.audit_since(T0, 10).await.unwrap();
    assert_eq!(events, vec![audit]);
}

/// A person holding a claim, or a full pool: nothing written, not even the
/// lease, so the steps one by one answer it.
pub async fn open_writes_nothing_when_the_person_holds_a_claim_or_the_pool_is_full<
    L: SeatLedger,
>(
    ledger: Arc<L>,
) {
    let (d, k) = (delivery("b1"), key("acme", "ana@acme.org"));
    reserved(reserve(&*ledger, &k, 5, "c0", T0).await);
    let opened = ledger
        .open(lease(&d, "a1", T0), seat(&k, "c1", 5, T0))
        .await
        .unwrap();
    assert_eq!(opened, Opened::Neither);
    // No lease: a first begin starts.
    let begin = ledger
        .begin_delivery(&d, "a2", "h1", T0 + 1, LEASE_MS)
        .await
        .unwrap();
    assert_eq!(begin, DeliveryBegin::Started);
    assert_eq!(ledger.claim(&k).await.unwrap().unwrap().claim_id, "c0");
    assert_eq!(used(&*ledger, "acme").await, 1);

    let (d2, k2) = (delivery("b2"), key("acme", "bo@acme.org"));
    let full = ledger
        .open(lease(&d2, "a1", T0), seat(&k2, "c2", 1, T0))
        .await
        .unwrap();
    assert_eq!(full, Opened::Neither);
    assert!(ledger.claim(&k2).await.unwrap().is_none());
    assert_eq!(used(&*ledger, "acme").await, 1);
    let begin = ledger
        .begin_delivery(&d2, "a2", "h1", T0 + 1, LEASE_MS)
        .await
        .unwrap();
    assert_eq!(begin, DeliveryBegin::Started);
}

/// A delivery with a record: answered as `begin_delivery` answers it (in
/// progress, completed, a reused id), and no seat taken.
pub async fn open_answers_a_seen_delivery_as_begin_would_and_writes_nothing<L: SeatLedger>(
    ledger: Arc<L>,
) {
    let d = delivery("b1");
    let k = key("acme", "ana@acme.org");
    let started = ledger
        .begin_delivery(&d, "a1", "h1", T0, LEASE_MS)
        .await
        .unwrap();
    assert_eq!(started, DeliveryBegin::Started);
    let busy = ledger
        .open(lease(&d, "a2", T0 + 1), seat(&k, "c1", 5, T0 + 1))
        .await
        .unwrap();
    assert_eq!(busy, Opened::Delivery(DeliveryBegin::InProgress));
    let mut other_body = lease(&d, "a2", T0 + 1);
    other_body.payload_hash = "h2";
    let reused = ledger
        .open(other_body, seat(&k, "c1", 5, T0 + 1))
        .await
        .unwrap();
    assert_eq!(reused, Opened::Delivery(DeliveryBegin::PayloadMismatch));
    assert!(ledger.claim(&k).await.unwrap().is_none());
    assert_eq!(used(&*ledger, "acme").await, 0);

    assert!(
        ledger
            .finish_delivery(&d, "a1", r#"{"status":"x"}"#, T0 + 2, T0 + 3_600_000)
            .await
            .unwrap()
    );
    let done = ledger
        .open(lease(&d, "a3", T0 + 3), seat(&k, "c1", 5, T0 + 3))
        .await
        .unwrap();
    assert_eq!(
        done,
        Opened::Delivery(DeliveryBegin::Completed(r#"{"status":"x"}"#.into()))
    );
    assert!(ledger.claim(&k).await.unwrap().is_none());
}

/// close on a claim that moved on (another id, released) or a lease another
/// attempt holds: nothing written, neither the claim nor the audit trail
/// nor the delivery.
pub async fn close_writes_nothing_when_the_claim_or_the_lease_moved_on<L: SeatLedger>(
    ledger: Arc<L>,
) {
    let (d, k) = (delivery("b1"), key("acme", "ana@acme.org"));
    let opened = ledger
        .open(lease(&d, "a1", T0), seat(&k, "c1", 2, T0))
        .await
        .unwrap();
    assert!(matches!(opened, Opened::Both(_)));
    let audit = event(T0 + 1, "member.created", Some("ana@acme.org"));

    // Another claim id: refused.
    let wrong_claim = ledger
        .close(closing(&k, "c-other", &audit, &d, "a1", T0 + 1))
        .await
        .unwrap();
    assert!(!wrong_claim);
    // Another attempt's lease: refused.
    let wrong_attempt = ledger
        .close(closing(&k, "c1", &audit, &d, "a2", T0 + 1))
        .await
        .unwrap();
    assert!(!wrong_attempt);

    let c = ledger.claim(&k).await.unwrap().unwrap();
    assert_eq!(c.stage(), Stage::Reserved(Hold::InFlight));
    assert!(ledger.audit_since(T0, 10).await.unwrap().is_empty());
    let still = ledger
        .begin_delivery(&d, "a3", "h1", T0 + 2, LEASE_MS)
        .await
        .unwrap();
    assert_eq!(still, DeliveryBegin::InProgress);
    assert_eq!(used(&*ledger, "acme").await, 1);
}

/// An expectation naming `updated_at` as read: the transition is done on
/// the claim as read, and refused (nothing written) once the claim changed
/// since, even with the same id and stage.
pub async fn a_transition_expecting_the_claim_as_read_is_refused_once_it_changed<L: SeatLedger>(
    ledger: Arc<L>,
) {
    let k = key("acme", "ana@acme.org");
    reserved(reserve(&*ledger, &k, 2, "c1", T0).await);
    let in_flight = [Stage::Reserved(Hold::InFlight)];
    let as_read = |at| Expect {
        claim_id: "c1",
        stages: &in_flight,
        updated_at: Some(at),
    };
    // Changed since the read (a takeover refreshes the time).
    let taken = ledger
        .transition(
            &k,
            as_read(T0),
            Change::Rehold {
                hold: Hold::InFlight,
                delivery: Some("standard:d-2"),
            },
            T0 + 5,
        )
        .await
        .unwrap();
    assert!(matches!(taken, Transition::Done(_)), "{taken:?}");
    let refused = ledger
        .transition(&k, as_read(T0), Change::Release, T0 + 6)
        .await
        .unwrap();
    assert!(
        matches!(refused, Transition::Refused(Some(_))),
        "{refused:?}"
    );
    assert_eq!(used(&*ledger, "acme").await, 1);
    // As read now: done.
    let released = ledger
        .transition(&k, as_read(T0 + 5), Change::Release, T0 + 7)
        .await
        .unwrap();
    assert_eq!(released, Transition::Released);
    assert_eq!(used(&*ledger, "acme").await, 0);
}

// ---------- the sign-in throttle ----------

/// A 15-minute window starting at `T0`.
const SIGN_IN_WINDOW: UnixMillis = 15 * 60 * 1000;

/// An attempt from `address` in the window starting at `window`, with
/// limits of 3 per address and 5 in all.
fn sign_in(window: UnixMillis, address: &str) -> SignInAttempt<'_> {
    SignInAttempt {
        window,
        until: window + SIGN_IN_WINDOW,
        address,
        per_address: 3,
        global: 5,
    }
}

fn counts(address: u32, global: u32) -> SignInCounts {
    SignInCounts { address, global }
}

/// Attempts are counted per address and in all; beyond the address's
/// limit only that address is refused, beyond the global one every
/// address is; a refused attempt writes nothing; the next window starts at
/// zero, and sign-in counts touch no seat.
pub async fn sign_in_attempts_stop_at_the_address_and_the_global_limit_and_windows_start_afresh<
    L: SeatLedger,
>(
    ledger: Arc<L>,
) {
    let (a, b, c) = ("198.51.100.7", "2001:db8:1:2::/64", "unknown");
    assert_eq!(
        ledger.sign_in_counts(T0, a).await.unwrap(),
        counts(0, 0),
        "nothing counted yet"
    );
    for _ in 0..3 {
        assert_eq!(
            ledger.take_sign_in(&sign_in(T0, a)).await.unwrap(),
            SignInSlot::Taken
        );
    }
    assert_eq!(
        ledger.take_sign_in(&sign_in(T0, a)).await.unwrap(),
        SignInSlot::AddressLimit
    );
    assert_eq!(ledger.sign_in_counts(T0, a).await.unwrap(), counts(3, 3));
    // Another address still has its own.
    for _ in 0..2 {
        assert_eq!(
            ledger.take_sign_in(&sign_in(T0, b)).await.unwrap(),
            SignInSlot::Taken
        );
    }
    // Five in all: every address is refused now, one never seen too.
    for who in [a, b, c] {
        assert_eq!(
            ledger.take_sign_in(&sign_in(T0, who)).await.unwrap(),
            SignInSlot::GlobalLimit,
            "{who}"
        );
    }
    assert_eq!(ledger.sign_in_counts(T0, b).await.unwrap(), counts(2, 5));
    assert_eq!(ledger.sign_in_counts(T0, c).await.unwrap(), counts(0, 5));

    // The next window starts afresh (the past one's counts may be
    // forgotten: nothing reads them any more).
    let next = T0 + SIGN_IN_WINDOW;
    assert_eq!(
        ledger.take_sign_in(&sign_in(next, a)).await.unwrap(),
        SignInSlot::Taken
    );
    assert_eq!(ledger.sign_in_counts(next, a).await.unwrap(), counts(1, 1));

    // Not a claim: no pool counter, no claim, no audit event.
    assert_eq!(used(&*ledger, "acme").await, 0);
    assert!(ledger.claims(&pool("acme")).await.unwrap().is_empty());
    assert!(ledger.audit_since(0, 10).await.unwrap().is_empty());
}

/// Of 20 concurrent attempts from one address (limit 3), exactly 3 are
/// counted, and of 20 from 20 addresses (limit 5 in all), exactly 5: the
/// check and the count are one atomic write.
pub async fn of_20_concurrent_sign_in_attempts_exactly_the_limit_are_counted<L: SeatLedger>(
    ledger: Arc<L>,
) {
    let mut tasks = JoinSet::new();
    for _ in 0..20 {
        let ledger = ledger.clone();
        tasks.spawn(async move {
            ledger
                .take_sign_in(&sign_in(T0, "192.0.2.1"))
                .await
                .unwrap()
        });
    }
    let taken = tasks
        .join_all()
        .await
        .into_iter()
        .filter(|s| *s == SignInSlot::Taken)
        .count();
    assert_eq!(taken, 3);
    assert_eq!(
        ledger.sign_in_counts(T0, "192.0.2.1").await.unwrap(),
        counts(3, 3)
    );

    let next = T0 + SIGN_IN_WINDOW;
    let mut tasks = JoinSet::new();
    for i in 0..20 {
        let ledger = ledger.clone();
        tasks.spawn(async move {
            let address = format!("192.0.2.{}", 10 + i);
            ledger.take_sign_in(&sign_in(next, &address)).await.unwrap()
        });
    }
    let slots = tasks.join_all().await;
    assert_eq!(slots.iter().filter(|s| **s == SignInSlot::Taken).count(), 5);
    assert!(
        slots
            .iter()
            .all(|s| matches!(s, SignInSlot::Taken | SignInSlot::GlobalLimit)),
        "{slots:?}"
    );
    assert_eq!(
        ledger.sign_in_counts(next, "192.0.2.99").await.unwrap(),
        counts(0, 5)
    );
}

/// Giving a slot back lowers the address's count and the total by one, so
/// the address may try again; giving back what was never taken (or more
/// than was) changes nothing.
pub async fn a_sign_in_given_back_frees_its_slot_and_never_goes_below_zero<L: SeatLedger>(
    ledger: Arc<L>,
) {
    let (a, b) = ("198.51.100.7", "198.51.100.8");
    for _ in 0..3 {
        ledger.take_sign_in(&sign_in(T0, a)).await.unwrap();
    }
    ledger.take_sign_in(&sign_in(T0, b)).await.unwrap();
    ledger.give_back_sign_in(T0, a).await.unwrap();
    assert_eq!(ledger.sign_in_counts(T0, a).await.unwrap(), counts(2, 3));
    assert_eq!(
        ledger.take_sign_in(&sign_in(T0, a)).await.unwrap(),
        SignInSlot::Taken
    );
    assert_eq!(ledger.sign_in_counts(T0, a).await.unwrap(), counts(3, 4));

    // Nothing of this address's to give back: nothing changes.
    ledger.give_back_sign_in(T0, "203.0.113.1").await.unwrap();
    ledger
        .give_back_sign_in(T0 + SIGN_IN_WINDOW, a)
        .await
        .unwrap();
    assert_eq!(ledger.sign_in_counts(T0, a).await.unwrap(), counts(3, 4));
    for _ in 0..3 {
        ledger.give_back_sign_in(T0, b).await.unwrap();
    }
    assert_eq!(ledger.sign_in_counts(T0, b).await.unwrap(), counts(0, 3));
    assert_eq!(
        ledger.sign_in_counts(T0 + SIGN_IN_WINDOW, a).await.unwrap(),
        counts(0, 0)
    );
}

// ---------- alert levels ----------

fn pool_subject(name: &str) -> AlertSubject {
    AlertSubject::Pool(pool(name))
}

/// A subject never written reads none; a level moves only from the level
/// the caller names (none matching a subject never written), and a move
/// from another level writes nothing; falling back to none and rising again
/// work the same; subjects are independent and levels touch no seat.
pub async fn an_alert_level_moves_only_from_the_level_the_caller_read<L: SeatLedger>(
    ledger: Arc<L>,
) {
    let acme = pool_subject("acme");
    let creator = AlertSubject::UserType(UserTypeId::parse("creatorUT").unwrap());
    assert_eq!(ledger.alert_level(&acme).await.unwrap(), None);
    assert!(
        !ledger
            .set_alert_level(&acme, Some(80), Some(95), T0)
            .await
            .unwrap(),
        "no level 80 to move from"
    );
    assert_eq!(ledger.alert_level(&acme).await.unwrap(), None);
    assert!(
        ledger
            .set_alert_level(&acme, None, Some(80), T0)
            .await
            .unwrap()
    );
    assert_eq!(ledger.alert_level(&acme).await.unwrap(), Some(80));
    // A second run that read none too: refused, the level kept.
    assert!(
        !ledger
            .set_alert_level(&acme, None, Some(95), T0)
            .await
            .unwrap()
    );
    assert_eq!(ledger.alert_level(&acme).await.unwrap(), Some(80));
    assert!(
        ledger
            .set_alert_level(&acme, Some(80), Some(100), T0 + 1)
            .await
            .unwrap()
    );
    // Falling back under every threshold, then rising again.
    assert!(
        ledger
            .set_alert_level(&acme, Some(100), None, T0 + 2)
            .await
            .unwrap()
    );
    assert_eq!(ledger.alert_level(&acme).await.unwrap(), None);
    assert!(
        !ledger
            .set_alert_level(&acme, Some(100), None, T0 + 3)
            .await
            .unwrap(),
        "already none"
    );
    assert!(
        ledger
            .set_alert_level(&acme, None, Some(80), T0 + 4)
            .await
            .unwrap()
    );
    assert_eq!(ledger.alert_level(&acme).await.unwrap(), Some(80));

    // Other subjects are untouched, and their own.
    assert_eq!(
        ledger.alert_level(&pool_subject("beta")).await.unwrap(),
        None
    );
    assert_eq!(ledger.alert_level(&creator).await.unwrap(), None);
    assert!(
        ledger
            .set_alert_level(&creator, None, Some(95), T0)
            .await
            .unwrap()
    );
    assert!(
        ledger
            .set_alert_level(&AlertSubject::Reconciliation, None, Some(1), T0)
            .await
            .unwrap()
    );
    assert_eq!(ledger.alert_level(&creator).await.unwrap(), Some(95));
    assert_eq!(ledger.alert_level(&acme).await.unwrap(), Some(80));
    assert_eq!(
        ledger
            .alert_level(&AlertSubject::Reconciliation)
            .await
            .unwrap(),
        Some(1)
    );

    // Not a claim: no pool counter, no claim, no audit event.
    assert_eq!(used(&*ledger, "acme").await, 0);
    assert!(ledger.claims(&pool("acme")).await.unwrap().is_empty());
    assert!(ledger.audit_since(0, 10).await.unwrap().is_empty());
}

/// Of 20 concurrent moves from the level all of them read, exactly one
/// writes (the one run that sends the alert), from none and from a level.
pub async fn of_20_concurrent_moves_of_an_alert_level_from_one_level_exactly_one_writes<
    L: SeatLedger,
>(
    ledger: Arc<L>,
) {
    for (expected, new) in [(None, Some(80)), (Some(80), Some(95)), (Some(95), None)] {
        let mut tasks = JoinSet::new();
        for i in 0..20 {
            let ledger = ledger.clone();
            tasks.spawn(async move {
                ledger
                    .set_alert_level(&pool_subject("acme"), expected, new, T0 + i)
                    .await
                    .unwrap()
            });
        }
        let written = tasks.join_all().await.into_iter().filter(|w| *w).count();
        assert_eq!(written, 1, "{expected:?} -> {new:?}");
        assert_eq!(
            ledger.alert_level(&pool_subject("acme")).await.unwrap(),
            new
        );
    }
}
