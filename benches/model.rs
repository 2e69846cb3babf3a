//! The long run of the model-based test of the seat invariant: the same
//! generator, workflow, checks and shrinking as `tests/model` (compiled in
//! from there), at thousands of sequences instead of CI's few dozen.
//!
//! ```sh
//! scripts/bench.sh model                      # DynamoDB Local started for it
//! MODEL_CASES=5000 MODEL_STEPS=60 cargo bench --bench model
//! ```
//!
//! Sizes per adapter: `MODEL_CASES` (memory, default 2000), `MODEL_SQLITE_CASES`
//! (default 200), `MODEL_DYNAMO_CASES` (default 40, skipped without
//! `DYNAMODB_ENDPOINT`), `MODEL_STEPS` (default 40), `MODEL_SEED` (first seed,
//! default a fresh one from the clock, printed so a run can be repeated).
//! A broken invariant panics with the shrunk sequence and appends it to
//! `tests/model/regressions.jsonl`, as in CI. The figures go to BENCHMARKS.md.

#[allow(dead_code)]
#[path = "../tests/model/main.rs"]
mod model;

use std::time::Instant;

use model::{Backend, explore};

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    // `cargo bench` passes `--bench`; nothing else is taken.
    let seed = std::env::var("MODEL_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| agol_seat_broker::clock::now_millis() as u64 % 1_000_000_000);
    let steps = env_usize("MODEL_STEPS", 40);
    let runs = [
        (Backend::Memory, env_usize("MODEL_CASES", 2000), seed),
        (
            Backend::Sqlite,
            env_usize("MODEL_SQLITE_CASES", 200),
            seed + 1_000_000,
        ),
        (
            Backend::Dynamo,
            if std::env::var_os("DYNAMODB_ENDPOINT").is_some() {
                env_usize("MODEL_DYNAMO_CASES", 40)
            } else {
                0
            },
            seed + 2_000_000,
        ),
    ];
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .expect("a runtime");
    println!("model: first seed {seed}, {steps} steps per sequence");
    println!("| ledger | sequences | steps | seconds | sequences/s |");
    println!("|---|---|---|---|---|");
    let mut total = (0, 0, 0.0);
    for (backend, cases, first) in runs {
        if cases == 0 {
            println!("| {backend:?} | skipped (no DYNAMODB_ENDPOINT) | | | |");
            continue;
        }
        let started = Instant::now();
        let f = rt.block_on(explore(backend, first, cases, steps));
        let secs = started.elapsed().as_secs_f64();
        println!(
            "| {backend:?} | {} | {} | {secs:.1} | {:.1} |",
            f.cases,
            f.steps,
            f.cases as f64 / secs
        );
        total = (total.0 + f.cases, total.1 + f.steps, total.2 + secs);
    }
    println!(
        "| all | {} | {} | {:.1} | |  (no broken invariant)",
        total.0, total.1, total.2
    );
}
