//! The sharing API's list conventions (fact sheet §0, §9): list
//! parameters as comma lists or JSON arrays, and paging with a 1-based
//! `start`, `num` of at most 100 and `nextStart` (-1 at the end).
//!
//! Pure functions, shared by `state` (invitation groups) and `http`.

/// Largest page any list returns (fact sheet §9).
const MAX_PAGE: i64 = 100;

/// A list parameter: a JSON array of strings or a comma list (fact sheet §0).
pub(super) fn split_list(raw: &str) -> Vec<String> {
    let t = raw.trim();
    if t.starts_with('[')
        && let Ok(items) = serde_json::from_str::<Vec<String>>(t)
    {
        return items
            .into_iter()
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect();
    }
    t.split(',')
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect()
}

/// One page of `items`: 1-based `start`, `num` capped at 100. Returns the
/// slice, the effective start and `nextStart` (-1 at the end).
pub(super) fn page<T>(
    items: &[T],
    start: Option<i64>,
    num: Option<i64>,
    default_num: i64,
) -> (&[T], i64, i64) {
    let start = start.unwrap_or(1).max(1);
    let num = num.unwrap_or(default_num).clamp(0, MAX_PAGE);
    let from = usize::try_from(start - 1).unwrap_or(usize::MAX);
    if from >= items.len() {
        return (&[], start, -1);
    }
    let to = from
        .saturating_add(usize::try_from(num).unwrap_or(0))
        .min(items.len());
    let next = if to < items.len() {
        i64::try_from(to).map(|t| t + 1).unwrap_or(-1)
    } else {
        -1
    };
    (&items[from..to], start, next)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_are_read_from_comma_strings_and_json_arrays() {
        assert_eq!(split_list(" a, b ,,c "), vec!["a", "b", "c"]);
        assert_eq!(split_list(r#"["a","b"]"#), vec!["a", "b"]);
        assert!(split_list("").is_empty());
    }

    #[test]
    fn paging_reports_next_start_and_minus_one_at_the_end() {
        let items: Vec<u32> = (1..=25).collect();
        let (p, s, next) = page(&items, None, Some(10), 10);
        assert_eq!((p.len(), s, next), (10, 1, 11));
        let (p, _, next) = page(&items, Some(21), Some(10), 10);
        assert_eq!((p, next), (&items[20..], -1));
        let (p, _, next) = page(&items, Some(99), None, 10);
        assert_eq!((p.len(), next), (0, -1));
        let (p, _, _) = page(&items, None, Some(1000), 10);
        assert_eq!(p.len(), 25, "capped at 100 but only 25 exist");
    }
}
