//! Test-only helpers shared by the sender adapters' randomized tests.

use rand::{Rng as _, SeedableRng as _};
use serde_json::Value;

/// Every JSON pointer in `v`.
pub(crate) fn pointers(v: &Value, at: String, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => m.iter().for_each(|(k, c)| {
            pointers(
                c,
                format!("{at}/{}", k.replace('~', "~0").replace('/', "~1")),
                out,
            )
        }),
        Value::Array(a) => a
            .iter()
            .enumerate()
            .for_each(|(i, c)| pointers(c, format!("{at}/{i}"), out)),
        _ => {}
    }
    out.push(at);
}

/// A valid delivery with a few nodes swapped for odd values never
/// panics; every refusal is a 4xx.
pub(crate) fn mutate_and_parse(valid: &str, seed: u64, mut check: impl FnMut(&[u8])) {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let base: Value = serde_json::from_str(valid).unwrap();
    let mut all = Vec::new();
    pointers(&base, String::new(), &mut all);
    let odd = [
        Value::Null,
        Value::from(-1),
        Value::from(1.5e300),
        Value::from(true),
        Value::from(""),
        Value::from("  "),
        Value::from("a\u{0}b"),
        Value::from("x".repeat(300)),
        Value::from("{ZZZ}"),
        serde_json::json!([]),
        serde_json::json!([null, 1, "o1"]),
        serde_json::json!({}),
        serde_json::json!({"label": "Email", "value": "a@b.org"}),
    ];
    for _ in 0..3_000 {
        let mut v = base.clone();
        for _ in 0..rng.random_range(1..4) {
            let p = &all[rng.random_range(0..all.len())];
            if let Some(node) = v.pointer_mut(p) {
                *node = odd[rng.random_range(0..odd.len())].clone();
            }
        }
        check(serde_json::to_string(&v).unwrap().as_bytes());
    }
}
