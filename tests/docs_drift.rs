//! The documentation cannot drift from the code (issue 16).
//!
//! Each test derives one list from the code and one from `docs/`, and fails
//! when they differ in either direction: something in the code that no page
//! documents, or something documented that the code no longer has.
//!
//! | what | code side | docs side |
//! |---|---|---|
//! | rules-file keys | serde's own field lists of the rules structs (`deny_unknown_fields`), read through a deserializer that records them | the key tables of `docs/rules.md` |
//! | rules-file values | serde's variant lists of the enums (`invitation`, `at_end`, …) | the row of the key that takes them |
//! | senders | `intake::sources::SOURCES` | a `[sources.<name>]` in `docs/` |
//! | environment variables | `SOURCES` and `PROVIDER_SECRETS`, and the variables the code reads by name (a scan of `src/`: `var("…")`, `env_number("…")`, clap's `env = "…"`, …) | the variable tables of `docs/configuration.md` (and a variable row anywhere in `docs/`) |
//! | stack parameters and outputs | the top-level `Parameters` and `Outputs` of `template.yaml` | the two tables of `docs/deploy-aws.md` |
//! | HTTP routes | a scan of the routers' `.route("…", get(…).post(…))` calls | `docs/routes.md`, and the HTTP API events of `template.yaml` |
//! | error and refusal codes | a scan of `src/` (not `src/portal`, whose codes are the portal's own and mapped before they leave the broker) for the places a stable code is made | the code tables of `docs/errors.md` |
//! | links | — | every relative link of `README.md` and `docs/` resolves, anchors included |
//!
//! The scans read the source as tokens (comments skipped, `#[cfg(test)]`
//! modules and files left out), so formatting does not matter; each one
//! also checks it found a plausible number of items, so a scan that stops
//! matching fails instead of passing on nothing.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde::Deserialize;

// ---------------------------------------------------------------------------
// Reading the docs.

fn read(path: impl AsRef<Path>) -> String {
    let path = path.as_ref();
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

/// Every markdown file under `dir`, recursively.
fn markdown_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(markdown_files(&path));
        } else if path.extension().is_some_and(|e| e == "md") {
            out.push(path);
        }
    }
    out.sort();
    out
}

/// The text of each backticked span of `s`.
fn backticked(s: &str) -> Vec<&str> {
    s.split('`').skip(1).step_by(2).collect()
}

/// The cells of a markdown table row, or `None` for any other line and for
/// a table's separator row.
fn cells(line: &str) -> Option<Vec<&str>> {
    let t = line.trim();
    if !t.starts_with('|') {
        return None;
    }
    let inner = t.trim_start_matches('|').trim_end_matches('|');
    // Split on the pipes outside backticks (`a\|b` in a cell stays whole).
    let mut out = Vec::new();
    let (mut start, mut in_code) = (0, false);
    let bytes = inner.as_bytes();
    for (i, &b) in bytes.iter().enumerate() {
        match b {
            b'`' => in_code = !in_code,
            b'|' if !in_code && (i == 0 || bytes[i - 1] != b'\\') => {
                out.push(inner[start..i].trim());
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(inner[start..].trim());
    if out
        .iter()
        .all(|c| c.chars().all(|ch| matches!(ch, '-' | ':' | ' ')))
    {
        return None;
    }
    Some(out)
}

/// The rows of the first table after the first heading containing
/// `marker`, up to the next heading.
fn table_after_heading<'a>(md: &'a str, marker: &str, page: &str) -> Vec<Vec<&'a str>> {
    let mut lines = md.lines();
    lines
        .by_ref()
        .find(|l| l.starts_with('#') && l.contains(marker))
        .unwrap_or_else(|| panic!("{page}: no heading containing {marker:?}"));
    let mut rows = Vec::new();
    let mut started = false;
    for line in lines {
        if line.starts_with('#') {
            break;
        }
        match cells(line) {
            Some(c) => {
                started = true;
                rows.push(c);
            }
            None if started && line.trim().is_empty() => break,
            None => {}
        }
    }
    assert!(
        !rows.is_empty(),
        "{page}: no table under the heading containing {marker:?}"
    );
    // The first row is the header.
    rows.remove(0);
    rows
}

fn is_snake_code(s: &str) -> bool {
    let mut parts = s.split('_');
    let first = parts.next().unwrap_or("");
    first.starts_with(|c: char| c.is_ascii_lowercase())
        && s.contains('_')
        && s.split('_').all(|p| {
            !p.is_empty()
                && p.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        })
}

fn is_env_name(s: &str) -> bool {
    s.len() > 2
        && s.starts_with(|c: char| c.is_ascii_uppercase())
        && s.chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
}

/// What is in `a` and not in `b`, one per line.
fn missing(a: &BTreeSet<String>, b: &BTreeSet<String>) -> Vec<String> {
    a.difference(b).cloned().collect()
}

/// Fails with both directions of a difference, or passes.
fn assert_same(what: &str, code: &BTreeSet<String>, docs: &BTreeSet<String>, fix: &str) {
    let undocumented = missing(code, docs);
    let gone = missing(docs, code);
    if undocumented.is_empty() && gone.is_empty() {
        return;
    }
    let mut msg = format!("{what}: the docs and the code disagree.\n");
    if !undocumented.is_empty() {
        let _ = writeln!(
            msg,
            "  in the code, not in the docs: {}",
            undocumented.join(", ")
        );
    }
    if !gone.is_empty() {
        let _ = writeln!(msg, "  in the docs, not in the code: {}", gone.join(", "));
    }
    let _ = write!(msg, "  {fix}");
    panic!("{msg}");
}

// ---------------------------------------------------------------------------
// Reading the code: a small tokenizer, enough to find string literals and
// the identifiers around them.

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    Str(String),
    Punct(char),
}

/// The tokens of Rust source text: identifiers, string literals (raw ones
/// too) and single punctuation characters; comments, numbers, lifetimes
/// and character literals are dropped.
fn tokens(src: &str) -> Vec<Tok> {
    let b = src.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c == b'/' && b.get(i + 1) == Some(&b'/') {
            while i < b.len() && b[i] != b'\n' {
                i += 1;
            }
        } else if c == b'/' && b.get(i + 1) == Some(&b'*') {
            let mut depth = 0;
            while i < b.len() {
                if b[i] == b'/' && b.get(i + 1) == Some(&b'*') {
                    depth += 1;
                    i += 2;
                } else if b[i] == b'*' && b.get(i + 1) == Some(&b'/') {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    i += 1;
                }
            }
        } else if c == b'r' && matches!(b.get(i + 1), Some(b'"') | Some(b'#')) && {
            let mut j = i + 1;
            while b.get(j) == Some(&b'#') {
                j += 1;
            }
            b.get(j) == Some(&b'"')
        } {
            let mut j = i + 1;
            let mut hashes = 0;
            while b[j] == b'#' {
                hashes += 1;
                j += 1;
            }
            let start = j + 1;
            let close: String = std::iter::once('"')
                .chain(std::iter::repeat_n('#', hashes))
                .collect();
            let end = src[start..].find(&close).map_or(b.len(), |e| start + e);
            out.push(Tok::Str(src[start..end].to_string()));
            i = (end + close.len()).min(b.len());
        } else if c == b'"' || (c == b'b' && b.get(i + 1) == Some(&b'"')) {
            let start = if c == b'b' { i + 2 } else { i + 1 };
            let mut j = start;
            let mut s = String::new();
            while j < b.len() && b[j] != b'"' {
                if b[j] == b'\\' {
                    j += 2;
                    continue;
                }
                let ch = src[j..].chars().next().unwrap();
                s.push(ch);
                j += ch.len_utf8();
            }
            out.push(Tok::Str(s));
            i = j + 1;
        } else if c == b'\'' {
            // A character literal ('a', '\n') or a lifetime ('a): skip both.
            if b.get(i + 2) == Some(&b'\'') {
                i += 3;
            } else if b.get(i + 1) == Some(&b'\\') {
                let close = src[i + 2..].find('\'').map_or(b.len(), |e| i + 2 + e);
                i = close + 1;
            } else {
                i += 1;
                while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
                    i += 1;
                }
            }
        } else if c.is_ascii_alphabetic() || c == b'_' {
            let start = i;
            while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
                i += 1;
            }
            out.push(Tok::Ident(src[start..i].to_string()));
        } else if c.is_ascii_digit() {
            while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_' || b[i] == b'.') {
                i += 1;
            }
        } else if c.is_ascii_whitespace() {
            i += 1;
        } else {
            let ch = src[i..].chars().next().unwrap();
            out.push(Tok::Punct(ch));
            i += ch.len_utf8();
        }
    }
    out
}

fn is_ident(t: Option<&Tok>, name: &str) -> bool {
    matches!(t, Some(Tok::Ident(s)) if s == name)
}

fn is_punct(t: Option<&Tok>, c: char) -> bool {
    matches!(t, Some(Tok::Punct(p)) if *p == c)
}

/// The index just past the group opened at `open` (`(`, `[` or `{`).
fn group_end(toks: &[Tok], open: usize) -> usize {
    let (o, c) = match &toks[open] {
        Tok::Punct('(') => ('(', ')'),
        Tok::Punct('[') => ('[', ']'),
        Tok::Punct('{') => ('{', '}'),
        t => panic!("not an opening bracket: {t:?}"),
    };
    let mut depth = 0;
    for (i, t) in toks.iter().enumerate().skip(open) {
        if is_punct(Some(t), o) {
            depth += 1;
        } else if is_punct(Some(t), c) {
            depth -= 1;
            if depth == 0 {
                return i + 1;
            }
        }
    }
    toks.len()
}

/// The tokens of a file without its `#[cfg(test)] mod … { … }` blocks, and
/// the names of the test modules it declares in files of their own
/// (`#[cfg(test)] mod tests;`).
fn non_test_tokens(src: &str) -> (Vec<Tok>, Vec<String>) {
    let toks = tokens(src);
    let mut out = Vec::new();
    let mut test_files = Vec::new();
    let mut i = 0;
    while i < toks.len() {
        let cfg_test = is_punct(toks.get(i), '#')
            && is_punct(toks.get(i + 1), '[')
            && is_ident(toks.get(i + 2), "cfg")
            && is_punct(toks.get(i + 3), '(')
            && is_ident(toks.get(i + 4), "test")
            && is_punct(toks.get(i + 5), ')')
            && is_punct(toks.get(i + 6), ']');
        if cfg_test {
            let mut j = i + 7;
            if is_ident(toks.get(j), "pub") {
                j += 1;
                if is_punct(toks.get(j), '(') {
                    j = group_end(&toks, j);
                }
            }
            if is_ident(toks.get(j), "mod")
                && let Some(Tok::Ident(name)) = toks.get(j + 1)
            {
                if is_punct(toks.get(j + 2), ';') {
                    test_files.push(name.clone());
                    i = j + 3;
                    continue;
                }
                if is_punct(toks.get(j + 2), '{') {
                    i = group_end(&toks, j + 2);
                    continue;
                }
            }
            // A test-only item that is not a module: skip its attribute only.
            i += 7;
            continue;
        }
        out.push(toks[i].clone());
        i += 1;
    }
    (out, test_files)
}

/// The non-test source files under `dir` (recursively) with their tokens,
/// leaving out the directories in `skip` and the files that a parent
/// declares as `#[cfg(test)] mod name;`.
fn source_tokens(dir: &Path, skip: &[&str]) -> Vec<(PathBuf, Vec<Tok>)> {
    fn walk(dir: &Path, skip: &[&str], test_only: &BTreeSet<PathBuf>, out: &mut Vec<PathBuf>) {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        entries.sort();
        for path in entries {
            let rel = path.to_string_lossy().replace('\\', "/");
            if skip.iter().any(|s| rel.starts_with(s)) || test_only.contains(&path) {
                continue;
            }
            if path.is_dir() {
                walk(&path, skip, test_only, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    // First pass: which files are test modules of their parent.
    let mut all = Vec::new();
    walk(dir, skip, &BTreeSet::new(), &mut all);
    let mut test_only = BTreeSet::new();
    for path in &all {
        let (_, test_mods) = non_test_tokens(&read(path));
        let parent = path.parent().unwrap();
        let own_dir = match path.file_stem().unwrap().to_str().unwrap() {
            "mod" | "lib" | "main" => parent.to_path_buf(),
            stem => parent.join(stem),
        };
        for m in test_mods {
            test_only.insert(own_dir.join(format!("{m}.rs")));
            test_only.insert(own_dir.join(&m));
        }
    }
    let mut files = Vec::new();
    walk(dir, skip, &test_only, &mut files);
    files
        .into_iter()
        .map(|p| {
            let toks = non_test_tokens(&read(&p)).0;
            (p, toks)
        })
        .collect()
}

// ---------------------------------------------------------------------------
// Rules-file keys: serde's own field lists.

/// What a type asks a deserializer for: a struct's fields or an enum's
/// variants, exactly as `#[derive(Deserialize)]` wrote them (renames
/// applied).
#[derive(Debug, PartialEq)]
enum Shape {
    Struct(Vec<String>),
    Enum(Vec<String>),
}

/// A deserializer that deserializes nothing: it records the struct fields
/// or enum variants the type asks for, and stops.
struct Recorder;

#[derive(Debug)]
struct Recorded(String);

impl std::fmt::Display for Recorded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}
impl std::error::Error for Recorded {}
impl serde::de::Error for Recorded {
    fn custom<T: std::fmt::Display>(msg: T) -> Self {
        Recorded(format!("error:{msg}"))
    }
}

impl<'de> serde::Deserializer<'de> for Recorder {
    type Error = Recorded;

    fn deserialize_any<V: serde::de::Visitor<'de>>(self, _: V) -> Result<V::Value, Recorded> {
        Err(Recorded("error:not a struct or an enum".into()))
    }

    fn deserialize_struct<V: serde::de::Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        _: V,
    ) -> Result<V::Value, Recorded> {
        Err(Recorded(format!("struct:{}", fields.join(" "))))
    }

    fn deserialize_enum<V: serde::de::Visitor<'de>>(
        self,
        _name: &'static str,
        variants: &'static [&'static str],
        _: V,
    ) -> Result<V::Value, Recorded> {
        Err(Recorded(format!("enum:{}", variants.join(" "))))
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf option unit unit_struct newtype_struct seq tuple
        tuple_struct map identifier ignored_any
    }
}

fn shape<T: for<'de> Deserialize<'de>>() -> Shape {
    let Err(Recorded(what)) = T::deserialize(Recorder) else {
        panic!("the recorder deserialized a value");
    };
    let words = |s: &str| s.split(' ').map(str::to_string).collect();
    if let Some(f) = what.strip_prefix("struct:") {
        Shape::Struct(words(f))
    } else if let Some(v) = what.strip_prefix("enum:") {
        Shape::Enum(words(v))
    } else {
        panic!(
            "{} is neither a struct nor an enum: {what}",
            std::any::type_name::<T>()
        );
    }
}

fn fields<T: for<'de> Deserialize<'de>>() -> BTreeSet<String> {
    match shape::<T>() {
        Shape::Struct(f) => f.into_iter().collect(),
        s => panic!("{} is not a struct: {s:?}", std::any::type_name::<T>()),
    }
}

fn variants<T: for<'de> Deserialize<'de>>() -> Vec<String> {
    match shape::<T>() {
        Shape::Enum(v) => v,
        s => panic!("{} is not an enum: {s:?}", std::any::type_name::<T>()),
    }
}

const RULES_PAGE: &str = "docs/rules.md";

/// Every table of the rules file: the heading of its key table in
/// `docs/rules.md` and the struct serde reads it into.
fn rules_tables() -> Vec<(&'static str, BTreeSet<String>)> {
    use agol_seat_broker::intake::FieldMap;
    use agol_seat_broker::intake::sources::SourceSpec;
    use agol_seat_broker::policy::alerts::{AlertsFile, PoolAlertsSpec};
    use agol_seat_broker::policy::lifecycle::{DowngradeSpec, LifecycleFile, LifecycleSpec};
    use agol_seat_broker::policy::rules::{
        MatchSpec, PoolDefaults, PoolSpec, ReconcileSpec, RulesFile,
    };
    vec![
        ("Top level", fields::<RulesFile>()),
        ("`[defaults]`", fields::<PoolDefaults>()),
        ("`[[pools]]`", fields::<PoolSpec>()),
        ("`[pools.match]`", fields::<MatchSpec>()),
        ("`[pools.lifecycle]`", fields::<LifecycleSpec>()),
        ("`downgrade_to`", fields::<DowngradeSpec>()),
        ("`[pools.reconcile]`", fields::<ReconcileSpec>()),
        ("`[pools.alerts]`", fields::<PoolAlertsSpec>()),
        ("`[lifecycle]`", fields::<LifecycleFile>()),
        ("`[alerts]`", fields::<AlertsFile>()),
        ("`[sources.<name>]`", fields::<SourceSpec>()),
        ("`fields`", fields::<FieldMap>()),
    ]
}

/// The keys of a key table: the backticked names in its first column.
fn documented_keys(md: &str, marker: &str) -> BTreeSet<String> {
    table_after_heading(md, marker, RULES_PAGE)
        .iter()
        .flat_map(|row| backticked(row[0]))
        .map(|k| k.split(['=', ' ']).next().unwrap().to_string())
        .collect()
}

#[test]
fn every_rules_file_key_is_documented_and_every_documented_key_exists() {
    let md = read(RULES_PAGE);
    for (marker, code) in rules_tables() {
        assert!(!code.is_empty(), "{marker}: serde reported no fields");
        let docs = documented_keys(&md, marker);
        assert_same(
            &format!("rules file, {marker} keys"),
            &code,
            &docs,
            &format!(
                "Document each key in the table under the heading {marker} of {RULES_PAGE} (its default and an example), or remove the row of a key the code dropped."
            ),
        );
    }
}

#[test]
fn every_value_a_rules_key_takes_is_named_in_its_row() {
    use agol_seat_broker::domain::ApprovalMode;
    use agol_seat_broker::domain::email::EmailIdentity;
    use agol_seat_broker::intake::sources::PendingAnswer;
    use agol_seat_broker::policy::InvitationMode;
    use agol_seat_broker::policy::lifecycle::EndAction;
    let md = read(RULES_PAGE);
    let cases: Vec<(&str, &str, Vec<String>)> = vec![
        ("`[[pools]]`", "invitation", variants::<InvitationMode>()),
        ("`[[pools]]`", "approval", variants::<ApprovalMode>()),
        ("`[[pools]]`", "email_identity", variants::<EmailIdentity>()),
        ("`[pools.lifecycle]`", "at_end", variants::<EndAction>()),
        ("`[sources.<name>]`", "pending", variants::<PendingAnswer>()),
    ];
    for (marker, key, values) in cases {
        let rows = table_after_heading(&md, marker, RULES_PAGE);
        let row = rows
            .iter()
            .find(|r| backticked(r[0]).iter().any(|k| k.starts_with(key)))
            .unwrap_or_else(|| panic!("{RULES_PAGE}: no row for {key} under {marker}"));
        let text = row.join(" ");
        let named: BTreeSet<&str> = backticked(&text)
            .into_iter()
            .flat_map(|s| s.split(['"', ' ', '|', '=']))
            .collect();
        for v in &values {
            assert!(
                named.contains(v.as_str()),
                "{RULES_PAGE}: the row of {key} under {marker} does not name the value `{v}` (the code accepts {values:?})"
            );
        }
    }
}

#[test]
fn every_sender_has_its_sources_table_named_in_the_docs() {
    use agol_seat_broker::intake::sources::SOURCES;
    let all: String = markdown_files(Path::new("docs"))
        .iter()
        .map(read)
        .collect::<Vec<_>>()
        .join("\n");
    let undocumented: Vec<&str> = SOURCES
        .iter()
        .map(|(name, _)| *name)
        .filter(|name| !all.contains(&format!("[sources.{name}]")))
        .collect();
    assert!(
        undocumented.is_empty(),
        "senders of intake::sources::SOURCES with no `[sources.<name>]` anywhere in docs/: {undocumented:?}; give each a page under docs/senders/"
    );
}

// ---------------------------------------------------------------------------
// Environment variables.

const CONFIG_PAGE: &str = "docs/configuration.md";

/// Read by the platform or a library, not by name in this crate, and
/// documented all the same.
const READ_BY_LIBRARIES: &[&str] = &["RUST_LOG", "SSL_CERT_FILE"];

/// Read by name in the code, and not configuration: set by AWS Lambda, or
/// the operating system's login name that the command line records as the
/// actor of its changes.
const NOT_CONFIGURATION: &[&str] = &["AWS_LAMBDA_FUNCTION_NAME", "USER", "USERNAME"];

/// The functions (and closures) through which the code reads a variable by
/// name: `var("X")`, `env_number("X", 15)`, `std::env::var_os("X")`, …
const ENV_READERS: &[&str] = &[
    "var",
    "var_os",
    "env_var",
    "env_number",
    "num",
    "env_flag",
    "env_secrets",
    "env_list",
];

fn env_vars_in_code() -> BTreeSet<String> {
    use agol_seat_broker::intake::sources::{PROVIDER_SECRETS, SOURCES};
    let files = source_tokens(Path::new("src"), &[]);
    // `const NAME: &str = "VALUE";`, for reads through a constant.
    let mut consts = BTreeMap::new();
    for (_, t) in &files {
        for w in t.windows(7) {
            if let [
                Tok::Ident(c),
                Tok::Ident(name),
                Tok::Punct(':'),
                Tok::Punct('&'),
                Tok::Ident(ty),
                Tok::Punct('='),
                Tok::Str(value),
            ] = w
                && c == "const"
                && ty == "str"
            {
                consts.insert(name.clone(), value.clone());
            }
        }
    }
    let mut out = BTreeSet::new();
    for (_, t) in &files {
        for (i, tok) in t.iter().enumerate() {
            let Tok::Ident(id) = tok else { continue };
            let arg = |k: usize| match t.get(k) {
                Some(Tok::Str(s)) => Some(s.clone()),
                Some(Tok::Ident(c)) if is_punct(t.get(k + 1), ')') => consts.get(c).cloned(),
                _ => None,
            };
            let name = if ENV_READERS.contains(&id.as_str())
                && is_punct(t.get(i + 1), '(')
                && !is_ident(t.get(i.wrapping_sub(1)), "fn")
            {
                arg(i + 2)
            } else if id == "env" && is_punct(t.get(i + 1), '=') {
                // clap: #[arg(long, env = "PORTAL_URL")]
                arg(i + 2)
            } else {
                None
            };
            if let Some(n) = name.filter(|n| is_env_name(n)) {
                out.insert(n);
            }
        }
    }
    for (_, env) in SOURCES.iter().chain(PROVIDER_SECRETS) {
        if !env.is_empty() {
            out.insert(env.to_string());
        }
    }
    for n in NOT_CONFIGURATION {
        out.remove(*n);
    }
    out
}

/// The variables in the first column of every table whose header's first
/// cell is "variable", in `page`.
fn variable_rows(md: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut in_table = false;
    for line in md.lines() {
        match cells(line) {
            Some(c) if !in_table => in_table = c[0].eq_ignore_ascii_case("variable"),
            Some(c) => out.extend(
                backticked(c[0])
                    .into_iter()
                    .map(|s| s.split('=').next().unwrap())
                    .filter(|s| is_env_name(s))
                    .map(str::to_string),
            ),
            None => {
                if line.trim().is_empty() || !line.trim().starts_with('|') {
                    in_table = false;
                }
            }
        }
    }
    out
}

#[test]
fn every_environment_variable_is_documented_and_every_documented_one_is_read() {
    let code = env_vars_in_code();
    assert!(
        code.len() >= 40,
        "the scan found only {} variables: {code:?}",
        code.len()
    );
    // A variable may be documented in a variable table of any page (an
    // optional feature's own page); the reference page's tables must hold
    // only variables the code reads.
    let config = variable_rows(&read(CONFIG_PAGE));
    let anywhere: BTreeSet<String> = markdown_files(Path::new("docs"))
        .iter()
        .flat_map(|p| variable_rows(&read(p)))
        .collect();
    let libraries: BTreeSet<String> = READ_BY_LIBRARIES.iter().map(|s| s.to_string()).collect();
    let known: BTreeSet<String> = code.union(&libraries).cloned().collect();
    let documented: BTreeSet<String> = anywhere.union(&config).cloned().collect();
    let undocumented = missing(&code, &documented);
    let gone = missing(&documented, &known);
    assert!(
        undocumented.is_empty() && gone.is_empty(),
        "environment variables: the docs and the code disagree.\n  read by the code, in no `| variable | … |` table of docs/: {}\n  in such a table, never read by the code: {}\n  Give each variable a row (meaning, default) in a variable table of {CONFIG_PAGE}, or remove the row of a variable the code no longer reads.",
        undocumented.join(", "),
        gone.join(", ")
    );
}

#[test]
fn every_variable_template_yaml_sets_is_one_the_code_reads() {
    let code = env_vars_in_code();
    let t = read("template.yaml");
    let mut set = BTreeSet::new();
    let mut in_vars = None::<usize>;
    for line in t.lines() {
        let indent = line.len() - line.trim_start().len();
        if line.trim() == "Variables:" {
            in_vars = Some(indent);
            continue;
        }
        if let Some(base) = in_vars {
            if line.trim().is_empty() || line.trim_start().starts_with('#') {
                continue;
            }
            if indent <= base {
                in_vars = None;
                continue;
            }
            if let Some((k, _)) = line.trim().split_once(':')
                && is_env_name(k)
            {
                set.insert(k.to_string());
            }
        }
    }
    assert!(set.len() >= 10, "found only {set:?} in template.yaml");
    let known: BTreeSet<String> = code
        .iter()
        .cloned()
        .chain(READ_BY_LIBRARIES.iter().map(|s| s.to_string()))
        .collect();
    let unknown = missing(&set, &known);
    assert!(
        unknown.is_empty(),
        "template.yaml sets variables the code never reads: {unknown:?}"
    );
}

/// The names of the top-level `section` of template.yaml (`Parameters`,
/// `Outputs`): its keys indented by two spaces.
fn template_section(section: &str) -> BTreeSet<String> {
    let t = read("template.yaml");
    let mut names = BTreeSet::new();
    let mut inside = false;
    for line in t.lines() {
        if !line.starts_with(' ') && !line.trim().is_empty() {
            inside = line.trim_end() == format!("{section}:");
            continue;
        }
        if inside
            && let Some(name) = line.strip_prefix("  ")
            && !name.starts_with(' ')
            && let Some(name) = name.trim_end().strip_suffix(':')
        {
            names.insert(name.to_string());
        }
    }
    assert!(
        names.len() >= 3,
        "found only {names:?} under {section}: in template.yaml"
    );
    names
}

/// The first cells, backticked, of the table under `marker` in
/// docs/deploy-aws.md.
fn deploy_rows(marker: &str) -> BTreeSet<String> {
    let md = read("docs/deploy-aws.md");
    table_after_heading(&md, marker, "docs/deploy-aws.md")
        .iter()
        .filter_map(|r| {
            r.first()
                .and_then(|c| backticked(c).first().map(|s| s.to_string()))
        })
        .collect()
}

#[test]
fn every_stack_parameter_and_output_is_documented_and_every_documented_one_exists() {
    assert_same(
        "stack parameters (template.yaml `Parameters`)",
        &template_section("Parameters"),
        &deploy_rows("Build and deploy"),
        "Give each parameter a row (what, default) in the table under \"2. Build and deploy\" of docs/deploy-aws.md, or remove the row of a parameter the template dropped.",
    );
    assert_same(
        "stack outputs (template.yaml `Outputs`)",
        &template_section("Outputs"),
        &deploy_rows("The outputs"),
        "Say where each output goes in the table under \"3. The outputs\" of docs/deploy-aws.md, or remove the row of an output the template dropped.",
    );
}

// ---------------------------------------------------------------------------
// HTTP routes.

const ROUTES_PAGE: &str = "docs/routes.md";

/// `METHOD /path` of every route of the router (the webhooks, hooks,
/// approvals, status and the administrator's page).
fn routes_in_code() -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for (_, t) in source_tokens(Path::new("src/entrypoints/http"), &[]) {
        for (i, tok) in t.iter().enumerate() {
            let route_call = is_ident(Some(tok), "route")
                && is_punct(t.get(i.wrapping_sub(1)), '.')
                && is_punct(t.get(i + 1), '(');
            let Some(Tok::Str(path)) = t.get(i + 2).filter(|_| route_call) else {
                continue;
            };
            let end = group_end(&t, i + 1);
            for j in i + 3..end {
                if let Tok::Ident(m) = &t[j] {
                    let method = matches!(m.as_str(), "get" | "post" | "put" | "patch" | "delete");
                    if method && is_punct(t.get(j + 1), '(') {
                        out.insert(format!("{} {path}", m.to_uppercase()));
                    }
                }
            }
        }
    }
    out
}

#[test]
fn every_route_is_documented_and_every_documented_route_exists() {
    let code = routes_in_code();
    assert!(code.len() >= 20, "the scan found only {code:?}");
    let md = read(ROUTES_PAGE);
    let mut docs = BTreeSet::new();
    for line in md.lines() {
        let Some(c) = cells(line) else { continue };
        if c.len() < 2 {
            continue;
        }
        let methods: Vec<&str> = c[0]
            .split([',', ' ', '/'])
            .filter(|m| matches!(*m, "GET" | "POST" | "PUT" | "PATCH" | "DELETE"))
            .collect();
        for path in backticked(c[1]).into_iter().filter(|p| p.starts_with('/')) {
            for m in &methods {
                docs.insert(format!("{m} {path}"));
            }
        }
    }
    assert_same(
        "HTTP routes",
        &code,
        &docs,
        &format!(
            "Give each route a row `| METHOD | `/path` | … |` in {ROUTES_PAGE}, or remove the row of a route that is gone."
        ),
    );
}

#[test]
fn every_route_of_the_router_is_an_http_api_route_of_the_template() {
    let code = routes_in_code();
    let t = read("template.yaml");
    let mut template = BTreeSet::new();
    let lines: Vec<&str> = t.lines().collect();
    for (i, line) in lines.iter().enumerate() {
        // `Properties: { ApiId: !Ref HttpApi, Method: POST, Path: /x }`, or
        // the same over several lines.
        let window = lines[i..(i + 6).min(lines.len())].join(" ");
        if !line.contains("Method:") {
            continue;
        }
        let method = line.split("Method:").nth(1).unwrap();
        let method = method
            .trim()
            .split([',', ' ', '}'])
            .next()
            .unwrap()
            .to_string();
        let Some(path) = window.split("Path:").nth(1) else {
            continue;
        };
        let path = path.trim();
        let path = match path.strip_prefix('\'') {
            Some(quoted) => quoted.split('\'').next().unwrap(),
            None => path.split([',', ' ', '}']).next().unwrap(),
        }
        .to_string();
        template.insert(format!("{method} {path}"));
    }
    let absent = missing(&code, &template);
    assert!(
        absent.is_empty(),
        "routes of the router that API Gateway does not route to the function (add an HttpApi event to BrokerFunction in template.yaml): {absent:?}"
    );
}

// ---------------------------------------------------------------------------
// Error and refusal codes.

const ERRORS_PAGE: &str = "docs/errors.md";

/// The calls whose first string argument is a stable code:
/// `Outcome::retry("store_unavailable", …)`, `error_response(StatusCode::…,
/// "not_found", …)`, `RowError::new("invalid_email", …)`, the
/// administrator page's `refused`/`notice`/`seat_notice`, a job's
/// `transient(…, "store_unavailable", …)`.
const CODE_TAKERS: &[&str] = &[
    "retry",
    "transient",
    "error_response",
    "refused",
    "notice",
    "seat_notice",
];

fn codes_in_code() -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for (path, t) in source_tokens(Path::new("src"), &["src/portal"]) {
        let at = path.display().to_string();
        let mut add = |s: &str| {
            if is_snake_code(s) {
                out.entry(s.to_string()).or_insert_with(|| at.clone());
            }
        };
        let mut i = 0;
        while i < t.len() {
            match &t[i] {
                // `code: "x"` (struct fields) and `"code": "x"` (json!).
                Tok::Ident(id) if id == "code" && is_punct(t.get(i + 1), ':') => {
                    if let Some(Tok::Str(s)) = t.get(i + 2) {
                        add(s);
                    }
                }
                Tok::Str(k) if k == "code" && is_punct(t.get(i + 1), ':') => {
                    if let Some(Tok::Str(s)) = t.get(i + 2) {
                        add(s);
                    }
                }
                // Every literal of a `fn code(&self)` body.
                Tok::Ident(id)
                    if id == "fn"
                        && is_ident(t.get(i + 1), "code")
                        && is_punct(t.get(i + 2), '(') =>
                {
                    let body = (i..t.len()).find(|&k| is_punct(t.get(k), '{')).unwrap();
                    let end = group_end(&t, body);
                    for tok in &t[body..end] {
                        if let Tok::Str(s) = tok {
                            add(s);
                        }
                    }
                    i = end;
                    continue;
                }
                Tok::Ident(id)
                    if (CODE_TAKERS.contains(&id.as_str())
                        || (id == "new" && is_ident(t.get(i.wrapping_sub(3)), "RowError")))
                        && is_punct(t.get(i + 1), '(')
                        && !is_ident(t.get(i.wrapping_sub(1)), "fn") =>
                {
                    let end = group_end(&t, i + 1);
                    if let Some(Tok::Str(s)) =
                        t[i + 2..end].iter().find(|x| matches!(x, Tok::Str(_)))
                    {
                        add(s);
                    }
                }
                // A portal code the outcome passes on: `"group_not_found" => Outcome::…`.
                Tok::Str(s)
                    if is_punct(t.get(i + 1), '=')
                        && is_punct(t.get(i + 2), '>')
                        && is_ident(t.get(i + 3), "Outcome") =>
                {
                    add(s);
                }
                // A message that starts with its code: "mail_from_missing: MAIL_FROM …".
                Tok::Str(s) => {
                    if let Some((head, rest)) = s.split_once(": ")
                        && !rest.is_empty()
                    {
                        add(head);
                    }
                }
                _ => {}
            }
            i += 1;
        }
    }
    out
}

#[test]
fn every_error_code_is_documented_and_every_documented_code_exists() {
    let code = codes_in_code();
    assert!(
        code.len() >= 60,
        "the scan found only {} codes: {code:?}",
        code.len()
    );
    let md = read(ERRORS_PAGE);
    let docs: BTreeSet<String> = md
        .lines()
        .filter_map(cells)
        .flat_map(|c| {
            backticked(c[0])
                .into_iter()
                .map(str::to_string)
                .collect::<Vec<_>>()
        })
        .filter(|s| is_snake_code(s))
        .collect();
    let code_names: BTreeSet<String> = code.keys().cloned().collect();
    let undocumented: Vec<String> = missing(&code_names, &docs)
        .into_iter()
        .map(|c| format!("{c} ({})", code[&c]))
        .collect();
    let gone = missing(&docs, &code_names);
    assert!(
        undocumented.is_empty() && gone.is_empty(),
        "error codes: the docs and the code disagree.\n  in the code, not in {ERRORS_PAGE}: {}\n  in {ERRORS_PAGE}, not in the code: {}\n  Give each code a row (what causes it, what to do) in a table of {ERRORS_PAGE}, or remove the row of a code the code no longer makes.",
        undocumented.join(", "),
        gone.join(", ")
    );
}

// ---------------------------------------------------------------------------
// Links.

/// A page another change writes (ArcGIS Enterprise portals, issue 15): the
/// index links to it before it exists on this branch.
const WRITTEN_ELSEWHERE: &[&str] = &["docs/enterprise.md"];

/// GitHub's anchor for a heading: lower case, punctuation dropped, spaces
/// to hyphens.
fn slug(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
            _ => None,
        })
        .collect()
}

fn anchors(md: &str) -> BTreeSet<String> {
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    let mut out = BTreeSet::new();
    let mut fenced = false;
    for line in md.lines() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
        }
        if fenced || !line.starts_with('#') {
            continue;
        }
        let base = slug(line.trim_start_matches('#'));
        let n = seen.entry(base.clone()).or_default();
        out.insert(if *n == 0 {
            base.clone()
        } else {
            format!("{base}-{n}")
        });
        *n += 1;
    }
    out
}

/// The targets of the markdown links `[text](target)` of `md`, outside
/// code blocks and code spans.
fn links(md: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut fenced = false;
    for line in md.lines() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
            continue;
        }
        if fenced {
            continue;
        }
        let text: String = line.split('`').step_by(2).collect::<Vec<_>>().join("");
        let mut rest = text.as_str();
        while let Some(p) = rest.find("](") {
            let after = &rest[p + 2..];
            let Some(end) = after.find(')') else { break };
            out.push(after[..end].trim().to_string());
            rest = &after[end..];
        }
    }
    out
}

#[test]
fn every_relative_link_of_the_readme_and_the_docs_resolves() {
    let mut pages = vec![PathBuf::from("README.md")];
    pages.extend(markdown_files(Path::new("docs")));
    let mut broken = Vec::new();
    for page in &pages {
        for target in links(&read(page)) {
            if target.contains("://") || target.starts_with("mailto:") {
                continue;
            }
            let (file, anchor) = match target.split_once('#') {
                Some((f, a)) => (f, Some(a)),
                None => (target.as_str(), None),
            };
            let path = if file.is_empty() {
                page.clone()
            } else {
                page.parent().unwrap().join(file)
            };
            let normal = normalise(&path);
            if WRITTEN_ELSEWHERE.iter().any(|w| normal == Path::new(w)) && !normal.exists() {
                continue;
            }
            if !normal.exists() {
                broken.push(format!("{}: {target} (no such file)", page.display()));
                continue;
            }
            if let Some(a) = anchor
                && normal.extension().is_some_and(|e| e == "md")
                && !anchors(&read(&normal)).contains(a)
            {
                broken.push(format!("{}: {target} (no such heading)", page.display()));
            }
        }
    }
    assert!(
        broken.is_empty(),
        "broken links:\n  {}",
        broken.join("\n  ")
    );
}

/// `a/b/../c` → `a/c`.
fn normalise(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            std::path::Component::ParentDir => {
                out.pop();
            }
            std::path::Component::CurDir => {}
            c => out.push(c),
        }
    }
    out
}

#[test]
fn the_readme_stays_short_and_keeps_its_two_commands() {
    let readme = read("README.md");
    let lines = readme.lines().count();
    assert!(
        lines <= 120,
        "README.md has {lines} lines: keep it a two-minute read, and put the rest in docs/"
    );
    for command in ["cargo run -- demo", "scripts/test.sh"] {
        assert!(
            readme.contains(command),
            "README.md no longer says `{command}`"
        );
    }
    assert!(
        readme.contains("(docs/index.md)"),
        "README.md must link to docs/index.md"
    );
}

// ---------------------------------------------------------------------------
// The scanners themselves.

#[test]
fn the_tokenizer_skips_comments_and_test_modules() {
    let src = r#"
        // var("COMMENTED")
        fn a() { env_var("REAL"); let s = r"raw"; let c = '"'; }
        #[cfg(test)]
        mod tests { fn b() { env_var("IN_TEST"); } }
        #[cfg(test)]
        mod helpers;
    "#;
    let (t, test_files) = non_test_tokens(src);
    let strings: Vec<&str> = t
        .iter()
        .filter_map(|x| match x {
            Tok::Str(s) => Some(s.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(strings, ["REAL", "raw"]);
    assert_eq!(test_files, ["helpers"]);
}
