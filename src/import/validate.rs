//! The validation pass: reads the file once, streaming (a `csv::Reader` over
//! a `BufReader`, one record at a time), plans every row and adds the checks
//! that span rows: duplicate usernames and e-mail addresses (found by a
//! first read of the file, [`Duplicates`], kept as 64-bit hashes of the
//! lower-cased values, not as strings; every row of a duplicate is refused)
//! and the new seats each pool can still give. Nothing is written to the portal or the ledger.

use std::collections::hash_map::DefaultHasher;
use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::fs::File;
use std::hash::{Hash, Hasher};
use std::io::{BufReader, Read};
use std::path::Path;

use csv::{ByteRecord, StringRecord};
use sha2::{Digest, Sha256};

use crate::domain::PoolId;

use super::layout::{Column, HeaderError, Layout};
use super::plan::{Action, Context, RowPlan};
use super::row::RowError;

/// Opens a CSV reader the way both passes read the file.
pub fn csv_reader<R: Read>(input: R) -> csv::Reader<Tracked<R>> {
    csv::ReaderBuilder::new()
        .has_headers(true)
        // Short rows are fine (missing cells are empty); long ones are
        // reported per row rather than failing the whole file.
        .flexible(true)
        .from_reader(Tracked::new(input))
}

/// The input under the CSV parser. The parser skips blank lines without a
/// word; this keeps the bytes it has read but not yet passed (at most its
/// buffer and the record being read), so [`Records`] can count the blank
/// lines in front of each record and number rows as a spreadsheet does.
pub struct Tracked<R> {
    inner: R,
    window: VecDeque<u8>,
    /// File offset of `window[0]`.
    base: u64,
}

impl<R> Tracked<R> {
    fn new(inner: R) -> Self {
        Tracked {
            inner,
            window: VecDeque::new(),
            base: 0,
        }
    }

    /// Drops the bytes before file offset `end` (the parser's position),
    /// returning the blank lines they start with and whether they end with
    /// `\r` (see [`leading_blank_lines`]).
    fn pass_to(&mut self, end: u64, after_cr: bool) -> (u64, bool) {
        let n = usize::try_from(end.saturating_sub(self.base))
            .unwrap_or(usize::MAX)
            .min(self.window.len());
        let found = leading_blank_lines(self.window.range(..n).copied(), after_cr);
        let ends_cr = n > 0 && self.window.get(n - 1) == Some(&b'\r');
        self.window.drain(..n);
        self.base += n as u64;
        (found, ends_cr)
    }
}

impl<R: Read> Read for Tracked<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.window.extend(&buf[..n]);
        Ok(n)
    }
}

/// The blank lines at the start of what the parser consumed for one record
/// (it skips them before the record). `\r\n`, `\n` and `\r` each end one
/// line, as for the parser; with `after_cr` (the previous record ended with
/// `\r`), a first `\n` is that line's end, not a blank line.
fn leading_blank_lines(consumed: impl Iterator<Item = u8>, after_cr: bool) -> u64 {
    let mut bytes = consumed.peekable();
    if after_cr {
        bytes.next_if_eq(&b'\n');
    }
    let mut blanks = 0;
    loop {
        match bytes.next() {
            Some(b'\r') => {
                blanks += 1;
                bytes.next_if_eq(&b'\n');
            }
            Some(b'\n') => blanks += 1,
            _ => return blanks,
        }
    }
}

/// Opens the file, buffered.
pub fn open(path: &Path) -> std::io::Result<csv::Reader<Tracked<BufReader<File>>>> {
    Ok(csv_reader(BufReader::with_capacity(
        64 * 1024,
        File::open(path)?,
    )))
}

/// Reads the header line and checks it.
pub fn read_layout<R: Read>(reader: &mut csv::Reader<R>) -> Result<Layout, Vec<HeaderError>> {
    let header = match reader.byte_headers() {
        Ok(h) => h.clone(),
        Err(e) => {
            return Err(vec![HeaderError {
                code: "unreadable_header",
                header: None,
                message: format!("the header line cannot be read: {e}"),
            }]);
        }
    };
    let header = StringRecord::from_byte_record(header).map_err(|_| {
        vec![HeaderError {
            code: "invalid_encoding",
            header: None,
            message: "the header line is not UTF-8 (save the file as CSV UTF-8)".into(),
        }]
    })?;
    Layout::from_header(&header)
}

/// SHA-256 of the file's bytes (streamed), first 16 bytes as hex: identifies
/// the file in delivery keys, so a re-run of the same file is recognised.
pub fn file_hash(path: &Path) -> std::io::Result<String> {
    let mut f = BufReader::with_capacity(256 * 1024, File::open(path)?);
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(super::plan::hex32(&h.finalize()))
}

/// One record as read: a row to plan, an empty row, or an unreadable one.
pub enum Record {
    /// A row with cells.
    Row(StringRecord),
    /// A blank line, or every cell empty (spreadsheets leave such rows
    /// behind): skipped.
    Empty,
    /// Not UTF-8, or more cells than headers.
    Bad(RowError),
}

/// Iterates the data records of a reader whose header was read, numbering
/// them from 1 as a spreadsheet shows them: a blank line (which the parser
/// skips) is an [`Record::Empty`] row of its own; blank lines at the very
/// end of the file are not rows. Stops at the end or at an I/O error
/// (returned as `Err`).
pub struct Records<R: Read> {
    reader: csv::Reader<Tracked<R>>,
    buf: ByteRecord,
    row: u64,
    width: usize,
    /// Blank lines still to report before `held`.
    blanks: u64,
    /// The record read after those blank lines.
    held: Option<Record>,
    /// What the parser consumed last ended with `\r`.
    after_cr: bool,
}

impl<R: Read> Records<R> {
    /// `width`: the number of header cells.
    pub fn new(mut reader: csv::Reader<Tracked<R>>, width: usize) -> Self {
        // The header (and any blank line before it) is behind us.
        let end = reader.position().byte();
        let (_, after_cr) = reader.get_mut().pass_to(end, false);
        Records {
            reader,
            buf: ByteRecord::new(),
            row: 0,
            width,
            blanks: 0,
            held: None,
            after_cr,
        }
    }

    /// Counts the blank lines the parser skipped before the record it just
    /// read.
    fn skipped_blank_lines(&mut self) -> u64 {
        let end = self.reader.position().byte();
        let (blanks, after_cr) = self.reader.get_mut().pass_to(end, self.after_cr);
        self.after_cr = after_cr;
        blanks
    }

    fn classify(&self) -> Record {
        if self.buf.len() > self.width && self.buf.iter().skip(self.width).any(|c| !c.is_empty()) {
            Record::Bad(RowError::new(
                "invalid_row",
                format!(
                    "the row has {} cells but the header only {} (a comma outside quotes?)",
                    self.buf.len(),
                    self.width
                ),
            ))
        } else if self
            .buf
            .iter()
            .all(|c| c.iter().all(u8::is_ascii_whitespace))
        {
            Record::Empty
        } else {
            match StringRecord::from_byte_record(self.buf.clone()) {
                Ok(r) => Record::Row(r),
                Err(_) => Record::Bad(RowError::new(
                    "invalid_encoding",
                    "the row is not UTF-8 (save the file as CSV UTF-8)",
                )),
            }
        }
    }
}

impl<R: Read> Iterator for Records<R> {
    type Item = Result<(u64, Record), csv::Error>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.held.is_none() {
            let rec = match self.reader.read_byte_record(&mut self.buf) {
                Ok(false) => return None,
                Err(e) if e.is_io_error() => return Some(Err(e)),
                Err(e) => Record::Bad(RowError::new("invalid_row", format!("unreadable: {e}"))),
                Ok(true) => self.classify(),
            };
            self.blanks = self.skipped_blank_lines();
            self.held = Some(rec);
        }
        self.row += 1;
        if self.blanks > 0 {
            self.blanks -= 1;
            return Some(Ok((self.row, Record::Empty)));
        }
        self.held.take().map(|rec| Ok((self.row, rec)))
    }
}

/// What the validation pass found.
#[derive(Debug, Clone, Default)]
pub struct Validation {
    /// Data rows read (empty rows included).
    pub rows: u64,
    /// Rows that would create a member.
    pub creates: u64,
    /// Rows that would update a member.
    pub updates: u64,
    /// Rows with nothing to change.
    pub unchanged: u64,
    /// Rows with every cell empty.
    pub empty: u64,
    /// Refused rows (any error).
    pub refused: HashSet<u64>,
    /// Refused rows per error code.
    pub codes: BTreeMap<&'static str, u64>,
    /// Per pool: free seats before the import, new seats asked for, and
    /// how many of those were refused as `pool_full`.
    pub pools: BTreeMap<PoolId, PoolAsk>,
}

/// One pool's arithmetic.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PoolAsk {
    /// Seats free when the import started.
    pub free: u32,
    /// New seats the valid rows ask for.
    pub asked: u32,
    /// Of those, refused because the pool is full.
    pub refused: u32,
}

impl Validation {
    /// Whether any row was refused.
    pub fn has_errors(&self) -> bool {
        !self.refused.is_empty()
    }
}

/// Usernames and e-mail addresses that are on more than one row of the
/// file, and those rows: found by a first read of the file, so the first
/// row of a duplicate is refused too, not only the later ones. Kept as
/// 64-bit hashes of the lower-cased values (only the duplicated ones stay
/// once the read is done).
#[derive(Debug, Clone, Default)]
pub struct Duplicates {
    usernames: HashMap<u64, Vec<u64>>,
    emails: HashMap<u64, Vec<u64>>,
}

impl Duplicates {
    /// Reads every record once (cells only, no planning).
    pub fn scan<R: Read>(layout: &Layout, records: Records<R>) -> Result<Duplicates, csv::Error> {
        let mut first_username: HashMap<u64, u64> = HashMap::new();
        let mut first_email: HashMap<u64, u64> = HashMap::new();
        let mut dups = Duplicates::default();
        for item in records {
            let (row, record) = item?;
            let Record::Row(rec) = record else { continue };
            // The keys the plan gives the row (see `Context::plan`).
            let username = layout.get(&rec, Column::Username).unwrap_or("");
            let email = layout.get(&rec, Column::Email).unwrap_or("");
            for (value, first, dup) in [
                (username, &mut first_username, &mut dups.usernames),
                (email, &mut first_email, &mut dups.emails),
            ] {
                if value.is_empty() {
                    continue;
                }
                let h = key_hash(&value.to_lowercase());
                match first.get(&h) {
                    Some(&earlier) => dup.entry(h).or_insert_with(|| vec![earlier]).push(row),
                    None => {
                        first.insert(h, row);
                    }
                }
            }
        }
        Ok(dups)
    }

    /// The other rows with this username.
    fn username_rows(&self, username: &str, row: u64) -> Option<String> {
        others(&self.usernames, username, row)
    }

    /// The other rows with this e-mail (lower-cased).
    fn email_rows(&self, email_key: &str, row: u64) -> Option<String> {
        others(&self.emails, email_key, row)
    }
}

/// `row 3` or `rows 3, 7`; at most ten rows are named.
fn others(map: &HashMap<u64, Vec<u64>>, value: &str, row: u64) -> Option<String> {
    if value.is_empty() {
        return None;
    }
    let rows: Vec<u64> = map
        .get(&key_hash(&value.to_lowercase()))?
        .iter()
        .copied()
        .filter(|r| *r != row)
        .collect();
    const SHOWN: usize = 10;
    let named: Vec<String> = rows.iter().take(SHOWN).map(u64::to_string).collect();
    Some(match rows.len() {
        0 => return None,
        1 => format!("row {}", named[0]),
        n if n <= SHOWN => format!("rows {}", named.join(", ")),
        n => format!("rows {}, … ({n} other rows)", named.join(", ")),
    })
}

/// The cross-row checks, fed one planned row at a time.
pub struct Validator<'c> {
    ctx: &'c Context,
    duplicates: Duplicates,
    /// Licences taken per user type by the rows so far.
    licenses: HashMap<String, u64>,
    /// The result so far.
    pub result: Validation,
}

fn key_hash(s: &str) -> u64 {
    let mut h = DefaultHasher::new();
    s.hash(&mut h);
    h.finish()
}

impl<'c> Validator<'c> {
    /// A validator over `ctx`, with the file's duplicates.
    pub fn new(ctx: &'c Context, duplicates: Duplicates) -> Self {
        Validator {
            ctx,
            duplicates,
            licenses: HashMap::new(),
            result: Validation::default(),
        }
    }

    /// Plans a record and applies the cross-row checks.
    pub fn check(&mut self, row: u64, record: Record) -> RowPlan {
        self.result.rows = self.result.rows.max(row);
        let mut plan = match record {
            Record::Empty => {
                self.result.empty += 1;
                return RowPlan {
                    row,
                    username: String::new(),
                    email_key: String::new(),
                    action: Ok(Action::Empty),
                };
            }
            Record::Bad(e) => RowPlan {
                row,
                username: String::new(),
                email_key: String::new(),
                action: Err(vec![e]),
            },
            Record::Row(rec) => self.ctx.plan(row, &rec),
        };
        // Every row of a duplicate is refused, the first one too: which of
        // them the administrator meant is theirs to say.
        let mut dup = Vec::new();
        if let Some(rows) = self.duplicates.username_rows(&plan.username, row) {
            dup.push(RowError::new(
                "duplicate_username",
                format!("username {:?} is also on {rows}", plan.username),
            ));
        }
        if let Some(rows) = self.duplicates.email_rows(&plan.email_key, row) {
            dup.push(RowError::new(
                "duplicate_email",
                format!("e-mail {:?} is also on {rows}", plan.email_key),
            ));
        }
        if !dup.is_empty() {
            match &mut plan.action {
                Err(errors) => errors.extend(dup),
                ok => *ok = Err(dup),
            }
        }
        // Pool arithmetic, and the organization's licences (ArcGIS Online
        // refuses a member or a type change past them). Only rows otherwise
        // valid ask; a row refused by one check takes nothing from the
        // other. Licences freed by rows that lower a type are not counted
        // back: rows run concurrently, in no fixed order.
        let seat = match &plan.action {
            Ok(Action::Create(c)) if c.needs_seat => Some(c.pool.clone()),
            Ok(Action::Update(u)) => u.seat.new_seat().cloned(),
            _ => None,
        };
        let license = match &plan.action {
            Ok(Action::Create(c)) => Some(c.user_type.clone()),
            Ok(Action::Update(u)) => u.user_type.clone(),
            _ => None,
        }
        .and_then(|t| self.ctx.org.licenses_left(&t).map(|left| (t, left)));
        if let Some(pool) = &seat {
            let free = self.ctx.seats.free(pool);
            let ask = self.result.pools.entry(pool.clone()).or_insert(PoolAsk {
                free,
                ..PoolAsk::default()
            });
            ask.asked += 1;
            if ask.asked - ask.refused > free {
                ask.refused += 1;
                let (cap, used) = self.ctx.seats.usage(pool);
                plan.action = Err(vec![RowError::new(
                    "pool_full",
                    format!(
                        "pool {pool} has {cap} seats, {used} used: only the first {free} new seat(s) of this file fit"
                    ),
                )]);
            }
        }
        if let (Ok(_), Some((t, left))) = (&plan.action, license) {
            let taken = self.licenses.entry(t.clone()).or_default();
            if *taken >= left {
                if let Some(pool) = &seat
                    && let Some(ask) = self.result.pools.get_mut(pool)
                {
                    ask.asked -= 1;
                }
                plan.action = Err(vec![RowError::new(
                    "no_license",
                    format!(
                        "the organization has {left} {t} licence(s) left, taken by earlier rows of this file"
                    ),
                )]);
            } else {
                *taken += 1;
            }
        }
        match &plan.action {
            Ok(Action::Create(_)) => self.result.creates += 1,
            Ok(Action::Update(_)) => self.result.updates += 1,
            Ok(Action::Unchanged { .. }) => self.result.unchanged += 1,
            Ok(Action::Empty) => {}
            Err(errors) => {
                self.result.refused.insert(row);
                for e in errors {
                    *self.result.codes.entry(e.code).or_default() += 1;
                }
            }
        }
        plan
    }
}

#[cfg(test)]
mod tests {
    use rand::{Rng as _, SeedableRng as _};

    use super::*;
    use crate::import::org::{OrgView, SeatView};
    use crate::import::validation_pass;
    use crate::policy::Rules;
    use crate::portal::Role;

    #[test]
    fn random_bytes_after_a_valid_header_never_panic_and_every_record_is_planned() {
        let rules = Rules::from_toml(
            r#"
            [[pools]]
            name = "p"
            seats = 3
            role = "viewer"
            user_type = "viewerUT"
            [pools.match]
            email_domains = ["x.org"]
            "#,
        )
        .unwrap();
        let header = "username,email,fullName,firstName,lastName,role,roleid,level,userType,access,userLicenseTypeId,groups\n";
        let org = OrgView::new(
            "ORG".into(),
            vec![],
            vec![Role {
                id: "iAAAAAAAAAAAAAAA".into(),
                name: "Viewer".into(),
                privileges: None,
            }],
            vec![("g".into(), "G".into())],
        );
        let seats = SeatView::with_usage([(rules.pools[0].id.clone(), 3, 1)]);
        let layout = Layout::from_header(&StringRecord::from(
            header.trim_end().split(',').collect::<Vec<_>>(),
        ))
        .unwrap();
        let ctx = Context::new(layout, org, seats, &rules, None, "h".into()).unwrap();
        let pieces: [&[u8]; 16] = [
            b",",
            b"\"",
            b"\n",
            b"\r\n",
            b"abc_user",
            b"a@x.org",
            b"\xff\xfe",
            b"\xef\xbb\xbf",
            b"Viewer",
            b"iAAAAAAAAAAAAAAA",
            b"1",
            b"2",
            b"\0",
            b" ",
            "é".as_bytes(),
            b"G,G",
        ];
        let dir = std::env::temp_dir().join(format!(
            "asb-validate-fuzz-{}-{}",
            std::process::id(),
            crate::clock::now_millis()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("f.csv");
        let mut rng = rand::rngs::StdRng::seed_from_u64(5);
        for _ in 0..300 {
            let mut body = header.as_bytes().to_vec();
            for _ in 0..rng.random_range(0..80) {
                body.extend_from_slice(pieces[rng.random_range(0..pieces.len())]);
            }
            std::fs::write(&path, &body).unwrap();
            let mut rows = 0;
            let v = validation_pass(&ctx, &path, |plan| {
                rows += 1;
                assert_eq!(plan.row, rows, "rows are numbered in order");
                Ok(())
            })
            .unwrap();
            assert_eq!(v.rows, rows);
            let asked = v.pools.values().map(|a| a.asked - a.refused).sum::<u32>();
            assert!(asked <= 2, "never more new seats than free");
        }
        std::fs::remove_dir_all(&dir).ok();
    }

    /// Issue 13: a blank line is a row like any other (reported `skipped`),
    /// so row numbers stay those a spreadsheet shows (row N = spreadsheet
    /// row N + 1), whatever the line endings; a quoted line break does not
    /// start a row; blank lines at the very end are not rows.
    #[test]
    fn blank_lines_are_counted_as_empty_rows() {
        let rules = Rules::from_toml(
            r#"
            [[pools]]
            name = "p"
            seats = 30
            role = "viewer"
            user_type = "viewerUT"
            [pools.match]
            email_domains = ["x.org"]
            "#,
        )
        .unwrap();
        let org = OrgView::new("ORG".into(), vec![], vec![], vec![]);
        let seats = SeatView::with_usage([(rules.pools[0].id.clone(), 30, 0)]);
        let layout =
            Layout::from_header(&StringRecord::from(vec!["username", "email", "firstName"]))
                .unwrap();
        let ctx = Context::new(layout, org, seats, &rules, None, "h".into()).unwrap();
        let dir = std::env::temp_dir().join(format!(
            "asb-validate-blank-{}-{}",
            std::process::id(),
            crate::clock::now_millis()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("f.csv");
        let body = |eol: &str| {
            [
                "username,email,firstName",
                "aaa_user,a@x.org,A",
                "",
                "bbb_user,b@x.org,B",
                "",
                "",
                "ccc_user,c@x.org,\"two",
                "lines\"",
                "",
                "   ",
                ",,",
                "ddd_user,d@x.org,D",
                "",
                "",
            ]
            .join(eol)
        };
        for eol in ["\n", "\r\n", "\r"] {
            for text in [body(eol), format!("{eol}{eol}{}", body(eol))] {
                std::fs::write(&path, &text).unwrap();
                let mut rows = Vec::new();
                let v = validation_pass(&ctx, &path, |plan| {
                    // (ccc_user is refused: a name holds no line break.)
                    let name = match &plan.action {
                        Ok(Action::Empty) => "-".to_string(),
                        _ => plan.username.clone(),
                    };
                    rows.push((plan.row, name));
                    Ok(())
                })
                .unwrap();
                let expected: Vec<(u64, String)> = [
                    "aaa_user", "-", "bbb_user", "-", "-", "ccc_user", "-", "-", "-", "ddd_user",
                ]
                .iter()
                .enumerate()
                .map(|(i, n)| (i as u64 + 1, n.to_string()))
                .collect();
                assert_eq!(rows, expected, "line ends {eol:?}: {text:?}");
                assert_eq!((v.rows, v.empty, v.creates), (10, 6, 3));
            }
        }
        std::fs::remove_dir_all(&dir).ok();
    }

    /// Issue 13: every row of a duplicated username or e-mail is refused,
    /// the first one too, each naming the others; a refused row takes no
    /// seat.
    #[test]
    fn every_occurrence_of_a_duplicate_is_refused_naming_the_others() {
        let rules = Rules::from_toml(
            r#"
            [[pools]]
            name = "p"
            seats = 30
            role = "viewer"
            user_type = "viewerUT"
            [pools.match]
            email_domains = ["x.org"]
            "#,
        )
        .unwrap();
        let org = OrgView::new("ORG".into(), vec![], vec![], vec![]);
        let seats = SeatView::with_usage([(rules.pools[0].id.clone(), 30, 0)]);
        let layout = Layout::from_header(&StringRecord::from(vec!["username", "email"])).unwrap();
        let ctx = Context::new(layout, org, seats, &rules, None, "h".into()).unwrap();
        let dir = std::env::temp_dir().join(format!(
            "asb-validate-dup-{}-{}",
            std::process::id(),
            crate::clock::now_millis()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("f.csv");
        std::fs::write(
            &path,
            "username,email\n\
             xxx_user,1@x.org\n\
             yyy_user,2@x.org\n\
             XXX_user,3@x.org\n\
             zzz_user,2@X.org\n\
             www_user,5@x.org\n\
             xxx_user,6@x.org\n",
        )
        .unwrap();
        let mut got = Vec::new();
        let v = validation_pass(&ctx, &path, |plan| {
            got.push(match plan.action {
                Ok(_) => (plan.row, "ok".to_string()),
                Err(e) => (plan.row, super::super::row::render_errors(&e)),
            });
            Ok(())
        })
        .unwrap();
        let msg = |row: u64| got.iter().find(|(r, _)| *r == row).unwrap().1.clone();
        assert_eq!(
            msg(1),
            "duplicate_username: username \"xxx_user\" is also on rows 3, 6"
        );
        assert_eq!(
            msg(3),
            "duplicate_username: username \"XXX_user\" is also on rows 1, 6"
        );
        assert_eq!(
            msg(6),
            "duplicate_username: username \"xxx_user\" is also on rows 1, 3"
        );
        assert_eq!(
            msg(2),
            "duplicate_email: e-mail \"2@x.org\" is also on row 4"
        );
        assert_eq!(
            msg(4),
            "duplicate_email: e-mail \"2@x.org\" is also on row 2"
        );
        assert_eq!(msg(5), "ok");
        assert_eq!(v.refused.len(), 5);
        assert_eq!(v.creates, 1);
        assert_eq!(
            v.pools.values().map(|a| a.asked).sum::<u32>(),
            1,
            "only the valid row asks for a seat"
        );
        std::fs::remove_dir_all(&dir).ok();
    }

    /// Issue 11 (found by the model test, seed 7000918): an e-mail change
    /// whose new e-mail already holds a seat in the member's pool would
    /// leave one person two accounts; the row is refused and nothing runs.
    #[test]
    fn an_email_change_to_an_email_that_holds_a_seat_is_refused() {
        use crate::domain::ClaimKey;
        use crate::import::org::HeldSeat;
        use crate::portal::Member;
        use crate::seats::ClaimState;
        let rules = Rules::from_toml(
            r#"
            [[pools]]
            name = "p"
            seats = 3
            role = "viewer"
            user_type = "viewerUT"
            [pools.match]
            email_domains = ["x.org"]
            "#,
        )
        .unwrap();
        let pool = rules.pools[0].id.clone();
        let member = |username: &str, email: &str| Member {
            username: username.into(),
            email: Some(email.into()),
            org_id: Some("ORG".into()),
            role: Some("iAAAAAAAAAAAAAAA".into()),
            user_type: Some("viewerUT".into()),
            ..Member::default()
        };
        let org = OrgView::new(
            "ORG".into(),
            vec![
                member("ana_pool", "ana@x.org"),
                member("bee_pool", "bee@x.org"),
            ],
            vec![Role {
                id: "iAAAAAAAAAAAAAAA".into(),
                name: "Viewer".into(),
                privileges: None,
            }],
            vec![],
        );
        let mut seats = SeatView::with_usage([(pool.clone(), 3, 2)]);
        for (person, claim_id, username) in [
            ("ana@x.org", "c1", "ana_pool"),
            ("bee@x.org", "c2", "bee_pool"),
        ] {
            seats.add(HeldSeat {
                key: ClaimKey {
                    pool: pool.clone(),
                    person: person.into(),
                },
                claim_id: claim_id.into(),
                state: ClaimState::Active,
                username: Some(username.into()),
            });
        }
        let header = "username,email";
        let layout =
            Layout::from_header(&StringRecord::from(header.split(',').collect::<Vec<_>>()))
                .unwrap();
        let ctx = Context::new(layout, org, seats, &rules, None, "h".into()).unwrap();
        let dir = std::env::temp_dir().join(format!(
            "asb-validate-email-seat-{}-{}",
            std::process::id(),
            crate::clock::now_millis()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("f.csv");
        std::fs::write(&path, "username,email\nana_pool,bee@x.org\n").unwrap();
        let mut codes = Vec::new();
        validation_pass(&ctx, &path, |plan| {
            if let Err(errors) = &plan.action {
                codes.extend(errors.iter().map(|e| e.code));
            }
            Ok(())
        })
        .unwrap();
        assert_eq!(codes, ["email_holds_seat"]);
        std::fs::remove_dir_all(&dir).ok();
    }
}
