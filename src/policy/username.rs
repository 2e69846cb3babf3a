//! Usernames: made from a template, cleaned to the AGOL rules (fact sheet
//! §8), and, when taken, followed by deterministic candidates.
//!
//! Determinism matters for crash recovery: a replay after a crash derives the
//! same candidates, so it can find (and adopt) the member the first attempt
//! created instead of creating a second one.

use crate::domain::{SignupRequest, Username};

/// How many candidates are tried before giving up (base, base1 … base19).
pub const MAX_CANDIDATES: u32 = 20;

/// The placeholders a template may use.
const PLACEHOLDERS: &[&str] = &[
    "email",
    "email_local",
    "email_domain",
    "first",
    "last",
    "pool",
];

/// A checked username template such as `{email_local}_{pool}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsernameTemplate(String);

impl UsernameTemplate {
    /// Checks that every `{placeholder}` is known and braces balance.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let mut rest = raw;
        let mut any = false;
        while let Some(open) = rest.find('{') {
            let after = &rest[open + 1..];
            let close = after
                .find('}')
                .ok_or_else(|| format!("unclosed '{{' in {raw:?}"))?;
            let name = &after[..close];
            if !PLACEHOLDERS.contains(&name) {
                return Err(format!(
                    "unknown placeholder {{{name}}} (known: {})",
                    PLACEHOLDERS
                        .iter()
                        .map(|p| format!("{{{p}}}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
            }
            any = true;
            rest = &after[close + 1..];
        }
        if rest.contains('}') {
            return Err(format!("unmatched '}}' in {raw:?}"));
        }
        if !any {
            return Err(format!(
                "{raw:?} has no placeholder, so every member would get the same name"
            ));
        }
        Ok(UsernameTemplate(raw.to_string()))
    }

    /// Fills the template for a request and cleans the result into a valid
    /// username (lower-cased, accents folded, other characters dropped,
    /// padded with `0` to six characters, cut to 120 to leave room for a
    /// numeric suffix).
    pub fn render(&self, req: &SignupRequest, pool: &str) -> Username {
        let mut out = self.0.clone();
        let values = [
            ("email", req.email.as_str().to_string()),
            ("email_local", req.email.local_part().to_string()),
            ("email_domain", req.email.domain().to_string()),
            ("first", req.first_name.clone().unwrap_or_default()),
            ("last", req.last_name.clone().unwrap_or_default()),
            ("pool", pool.to_string()),
        ];
        for (name, value) in values {
            out = out.replace(&format!("{{{name}}}"), &value);
        }
        clean(&out)
    }
}

/// Turns any text into a valid username deterministically.
pub fn clean(raw: &str) -> Username {
    let mut s: String = raw
        .chars()
        .flat_map(fold_char)
        .filter(|c| Username::allowed_char(*c))
        .collect::<String>()
        .to_lowercase();
    // Runs of symbols (e.g. an empty {first} between two dots) collapse to one.
    let mut collapsed = String::with_capacity(s.len());
    for c in s.chars() {
        let sym = !c.is_ascii_alphanumeric();
        if sym
            && collapsed
                .chars()
                .last()
                .is_some_and(|p| !p.is_ascii_alphanumeric())
        {
            continue;
        }
        collapsed.push(c);
    }
    s = collapsed
        .trim_matches(|c: char| !c.is_ascii_alphanumeric())
        .to_string();
    s.truncate(Username::MAX_LEN - 8);
    s = s
        .trim_end_matches(|c: char| !c.is_ascii_alphanumeric())
        .to_string();
    if s.is_empty() {
        s.push_str("member");
    }
    while s.len() < Username::MIN_LEN {
        s.push('0');
    }
    // Every branch above leaves only allowed characters, an alphanumeric
    // first and last character, and a length within 6..=120.
    Username::parse(&s).expect("cleaned username satisfies the rules") // ok: see above
}

/// The n-th candidate: the base itself, then base1, base2, … Never panics:
/// every candidate of a valid base is a valid username.
pub fn candidate(base: &Username, n: u32) -> Username {
    candidate_within(base, n, Username::MAX_LEN)
}

/// [`candidate`] for a portal that takes at most `max_len` characters (an
/// ArcGIS Enterprise portal: 24): a longer base is cut, at its end, before
/// the suffix is added, so every candidate fits. `max_len` is taken within
/// 12..=128 (room for a six-character stem and any suffix).
pub fn candidate_within(base: &Username, n: u32, max_len: usize) -> Username {
    let max_len = max_len.clamp(2 * Username::MIN_LEN, Username::MAX_LEN);
    if n == 0 && base.as_str().len() <= max_len {
        return base.clone();
    }
    let suffix = if n == 0 { String::new() } else { n.to_string() };
    let mut stem = base.as_str().to_string();
    stem.truncate(max_len - suffix.len());
    let mut stem = stem
        .trim_end_matches(|c: char| !c.is_ascii_alphanumeric())
        .to_string();
    // Why pad: an applicant may choose their own name (up to 128
    // characters), and one full of symbols can leave a stem shorter than a
    // username may be once its tail is cut for the suffix.
    while stem.len() + suffix.len() < Username::MIN_LEN {
        stem.push('0');
    }
    // The stem starts with the base's alphanumeric first character and
    // ends alphanumeric, the suffix is digits, and the whole is 6..=128
    // characters, so this parses; the fallback only keeps the function
    // total.
    Username::parse(&format!("{stem}{suffix}")).unwrap_or_else(|_| base.clone())
}

/// Folds common Latin accented letters to ASCII (é → e, ß → ss, ø → o).
fn fold_char(c: char) -> Vec<char> {
    if c.is_ascii() {
        return vec![c];
    }
    let s = match c {
        'à' | 'á' | 'â' | 'ã' | 'ä' | 'å' | 'ā' | 'ą' => "a",
        'À' | 'Á' | 'Â' | 'Ã' | 'Ä' | 'Å' | 'Ā' | 'Ą' => "A",
        'æ' => "ae",
        'Æ' => "AE",
        'ç' | 'ć' | 'č' => "c",
        'Ç' | 'Ć' | 'Č' => "C",
        'ď' | 'đ' => "d",
        'è' | 'é' | 'ê' | 'ë' | 'ē' | 'ę' | 'ě' => "e",
        'È' | 'É' | 'Ê' | 'Ë' | 'Ē' | 'Ę' | 'Ě' => "E",
        'ì' | 'í' | 'î' | 'ï' | 'ī' => "i",
        'Ì' | 'Í' | 'Î' | 'Ï' | 'Ī' => "I",
        'ł' => "l",
        'Ł' => "L",
        'ñ' | 'ń' | 'ň' => "n",
        'Ñ' | 'Ń' | 'Ň' => "N",
        'ò' | 'ó' | 'ô' | 'õ' | 'ö' | 'ø' | 'ō' | 'ő' => "o",
        'Ò' | 'Ó' | 'Ô' | 'Õ' | 'Ö' | 'Ø' | 'Ō' | 'Ő' => "O",
        'œ' => "oe",
        'ř' => "r",
        'ś' | 'š' | 'ş' => "s",
        'Ś' | 'Š' | 'Ş' => "S",
        'ß' => "ss",
        'ť' | 'ţ' => "t",
        'ù' | 'ú' | 'û' | 'ü' | 'ū' | 'ů' | 'ű' => "u",
        'Ù' | 'Ú' | 'Û' | 'Ü' | 'Ū' | 'Ů' | 'Ű' => "U",
        'ý' | 'ÿ' => "y",
        'Ý' => "Y",
        'ź' | 'ż' | 'ž' => "z",
        'Ź' | 'Ż' | 'Ž' => "Z",
        _ => "",
    };
    s.chars().collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Email;

    fn req(email: &str, first: Option<&str>, last: Option<&str>) -> SignupRequest {
        SignupRequest {
            email: Email::parse(email).unwrap(),
            first_name: first.map(str::to_string),
            last_name: last.map(str::to_string),
            username: None,
            organization: None,
            pool: None,
            attributes: Default::default(),
        }
    }

    #[test]
    fn templates_render_and_clean() {
        let t = UsernameTemplate::parse("{first}.{last}_{pool}").unwrap();
        let r = req("x@acme.org", Some("José María"), Some("Núñez-Ávila"));
        assert_eq!(t.render(&r, "acme").as_str(), "josemaria.nunez-avila_acme");
        let t = UsernameTemplate::parse("{email_local}_{pool}").unwrap();
        assert_eq!(
            t.render(&req("A+b@x.org", None, None), "p").as_str(),
            "ab_p00"
        );
    }

    #[test]
    fn empty_parts_collapse_instead_of_doubling_symbols() {
        let t = UsernameTemplate::parse("{first}.{last}_{pool}").unwrap();
        let r = req("x@acme.org", None, Some("Lopez"));
        assert_eq!(t.render(&r, "acme").as_str(), "lopez_acme");
    }

    #[test]
    fn bad_templates_are_refused() {
        assert!(UsernameTemplate::parse("{nope}_x").is_err());
        assert!(UsernameTemplate::parse("{email").is_err());
        assert!(UsernameTemplate::parse("fixed_name").is_err());
    }

    #[test]
    fn candidates_are_deterministic_and_valid() {
        let base = clean(&"a".repeat(200));
        assert_eq!(base.as_str().len(), 120);
        let c = candidate(&base, 17);
        assert!(c.as_str().ends_with("17"));
        assert!(c.as_str().len() <= 128);
        assert_eq!(candidate(&base, 0), base);
        assert_eq!(clean("..").as_str(), "member");
    }

    #[test]
    fn an_applicants_own_long_name_full_of_symbols_has_valid_candidates() {
        // A name the applicant chose (not cleaned): 128 characters, symbols
        // in the middle. Cutting its tail for a suffix leaves "a": the
        // candidate is padded instead of panicking.
        let base = Username::parse(&format!("a{}b", ".".repeat(126))).unwrap();
        for n in 1..MAX_CANDIDATES {
            let c = candidate(&base, n);
            assert!(Username::parse(c.as_str()).is_ok(), "{c}");
            assert_ne!(c, base);
            assert!(c.as_str().ends_with(&n.to_string()), "{c}");
        }
        assert_eq!(candidate(&base, 1).as_str(), "a00001");
        let full = Username::parse(&"x".repeat(128)).unwrap();
        assert_eq!(candidate(&full, 7).as_str().len(), 128);
    }

    #[test]
    fn candidates_within_a_shorter_limit_are_cut_before_the_suffix() {
        let base = Username::parse("alexandra.konstantinopoulou_water").unwrap();
        assert_eq!(
            candidate_within(&base, 0, 24).as_str(),
            "alexandra.konstantinopou"
        );
        assert_eq!(
            candidate_within(&base, 12, 24).as_str(),
            "alexandra.konstantinop12"
        );
        // A cut that ends on a symbol drops it.
        let dotted = Username::parse("abcdefghijklmnopqrstuvw.xyz").unwrap();
        assert_eq!(
            candidate_within(&dotted, 0, 24).as_str(),
            "abcdefghijklmnopqrstuvw"
        );
        assert_eq!(
            candidate_within(&dotted, 3, 24).as_str(),
            "abcdefghijklmnopqrstuvw3"
        );
        // Short names are untouched; the full limit is the plain candidate.
        let short = Username::parse("jdoe_water").unwrap();
        assert_eq!(candidate_within(&short, 0, 24), short);
        assert_eq!(candidate_within(&short, 2, 24).as_str(), "jdoe_water2");
        assert_eq!(candidate_within(&base, 5, 128), candidate(&base, 5));
    }
}

#[cfg(test)]
mod random_inputs {
    use super::*;
    use rand::{Rng as _, SeedableRng as _};

    #[test]
    fn any_text_cleans_to_a_valid_username_and_every_candidate_is_valid() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let alphabet: Vec<char> = "aZ09._@-+ éßø#\u{0}\u{7f}\u{1F600}\u{200B}"
            .chars()
            .collect();
        for _ in 0..20_000 {
            let len = rng.random_range(0..200);
            let s: String = (0..len)
                .map(|_| alphabet[rng.random_range(0..alphabet.len())])
                .collect();
            let base = clean(&s);
            assert!(Username::parse(base.as_str()).is_ok(), "{s:?}");
            let n = rng.random_range(0..MAX_CANDIDATES * 1000);
            assert!(
                Username::parse(candidate(&base, n).as_str()).is_ok(),
                "{s:?} #{n}"
            );
            let short = candidate_within(&base, n, 24);
            assert!(
                Username::parse(short.as_str()).is_ok() && short.as_str().len() <= 24,
                "{s:?} #{n} within 24: {short}"
            );
        }
    }
}
