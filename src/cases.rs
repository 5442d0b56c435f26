//! Importing cases from JSON lines (eval/FORMAT.md `cases.jsonl`). A bad line is reported
//! with its number and nothing of it is written; the good lines are imported.

use crate::config::BrandConfig;
use crate::model::Case;
use crate::store::{Store, StoreError};
use chrono::Utc;
use std::cmp::Ordering;
use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineProblem {
    pub line: usize,
    pub message: String,
}

impl fmt::Display for LineProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

/// Parses every non-blank line; returns the good cases with their line numbers and the
/// problems of the bad lines.
pub fn parse(text: &str) -> (Vec<(usize, Case)>, Vec<LineProblem>) {
    let mut cases = Vec::new();
    let mut problems = Vec::new();
    // Excel and Notepad start their UTF-8 exports with a byte-order mark.
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    for (index, line) in text.lines().enumerate() {
        let number = index + 1;
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let mut deserializer = serde_json::Deserializer::from_str(line);
        match serde_path_to_error::deserialize::<_, Case>(&mut deserializer) {
            Ok(case) => match check(&case) {
                Ok(()) => cases.push((number, case)),
                Err(message) => problems.push(LineProblem {
                    line: number,
                    message,
                }),
            },
            Err(e) => problems.push(LineProblem {
                line: number,
                message: field_problem(&e),
            }),
        }
    }
    (cases, problems)
}

/// The field and the form it expects: serde's own words for a malformed time are about
/// the parser ("premature end of input"), not about what to write.
fn field_problem(e: &serde_path_to_error::Error<serde_json::Error>) -> String {
    let field = e.path().to_string();
    let inner = e.inner();
    // The position serde_json gives is within the line, which the caller already names.
    let text = inner.to_string();
    let inner = text
        .rfind(" at line ")
        .map_or(text.as_str(), |at| &text[..at]);
    if e.inner().is_syntax() || e.inner().is_eof() || field == "." {
        return format!("not a JSON object on one line: {inner}");
    }
    if inner.starts_with("unknown field") {
        return inner.to_string();
    }
    let expected = match field.as_str() {
        "opened_at" => Some("expected RFC 3339 such as 2026-11-28T09:14:00+08:00"),
        "status" => Some("expected \"open\" or \"closed\""),
        f if f.starts_with("identifiers") => {
            Some("expected a list of \"kind:value\" strings such as [\"order:A-1\"]")
        }
        _ => None,
    };
    match expected {
        Some(expected) => format!("{field}: {expected} ({inner})"),
        None => format!("{field}: {inner}"),
    }
}

/// The configured brand `name` stands for, by its name or one of its aliases (letter case
/// ignored); None when no brand has it.
pub fn canonical_brand<'a>(brands: &'a [BrandConfig], name: &str) -> Option<&'a str> {
    let name = name.trim().to_lowercase();
    brands
        .iter()
        .find(|b| {
            std::iter::once(&b.name)
                .chain(&b.aliases)
                .any(|n| n.trim().to_lowercase() == name)
        })
        .map(|b| b.name.as_str())
}

/// Orders case ids as people count: `C-X2` before `C-X10`.
pub fn natural_order(a: &str, b: &str) -> Ordering {
    fn chunks(s: &str) -> impl Iterator<Item = (bool, &str)> {
        let mut rest = s;
        std::iter::from_fn(move || {
            let first = rest.chars().next()?;
            let digits = first.is_ascii_digit();
            let end = rest
                .find(|c: char| c.is_ascii_digit() != digits)
                .unwrap_or(rest.len());
            let (chunk, tail) = rest.split_at(end);
            rest = tail;
            Some((digits, chunk))
        })
    }
    let mut left = chunks(a);
    let mut right = chunks(b);
    loop {
        let order = match (left.next(), right.next()) {
            (None, None) => return a.cmp(b),
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some((true, x)), Some((true, y))) => {
                let (x, y) = (x.trim_start_matches('0'), y.trim_start_matches('0'));
                x.len().cmp(&y.len()).then_with(|| x.cmp(y))
            }
            (Some((_, x)), Some((_, y))) => x.cmp(y),
        };
        if order != Ordering::Equal {
            return order;
        }
    }
}

/// The longest case id.
pub const MAX_ID_LEN: usize = 64;

/// A case id is 1–64 ASCII letters, digits, `-`, `_` and `.`: it travels in URLs, mail
/// headers and file names, where a line break, a slash or a very long id would do harm.
pub fn check_id(id: &str) -> Result<(), String> {
    if id.is_empty() {
        return Err("id is empty".into());
    }
    if id.len() > MAX_ID_LEN {
        return Err(format!(
            "id is {} characters long; at most {MAX_ID_LEN} are allowed",
            id.chars().count()
        ));
    }
    if !id
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
    {
        return Err(format!(
            "id `{}` may hold only ASCII letters, digits, `-`, `_` and `.`",
            id.escape_debug()
        ));
    }
    Ok(())
}

/// What serde cannot check about a case: its id, and brand and identifiers that are not
/// blank.
pub fn check(case: &Case) -> Result<(), String> {
    check_id(&case.id)?;
    if case.brand.trim().is_empty() {
        return Err(format!("case {}: brand is empty", case.id));
    }
    for identifier in &case.identifiers {
        if identifier.trim().is_empty() {
            return Err(format!("case {}: an identifier is empty", case.id));
        }
    }
    Ok(())
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportReport {
    pub imported: usize,
    pub problems: Vec<LineProblem>,
}

/// Inserts or updates (by id) every good case of `text`. A brand written as an alias of
/// one of `brands` is stored as that brand's name, so that the case links.
pub async fn import(
    store: &dyn Store,
    text: &str,
    brands: &[BrandConfig],
) -> Result<ImportReport, StoreError> {
    let (mut cases, problems) = parse(text);
    for (_, case) in &mut cases {
        if let Some(name) = canonical_brand(brands, &case.brand) {
            case.brand = name.to_string();
        }
        store.upsert_case(case, Utc::now()).await?;
    }
    Ok(ImportReport {
        imported: cases.len(),
        problems,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"{"id": "C-1", "brand": "星驰汽车", "status": "open", "summary": "漏油", "identifiers": ["order:XC-1"]}"#;

    #[test]
    fn bad_lines_are_reported_by_number_and_good_ones_kept() {
        let text = format!(
            "{GOOD}\n\nnot json\n{}\n{}\n",
            r#"{"id": "C-2", "brand": "星驰汽车", "status": "pending"}"#,
            r#"{"id": "", "brand": "星驰汽车", "status": "open"}"#,
        );
        let (cases, problems) = parse(&text);
        assert_eq!(cases.len(), 1);
        assert_eq!(cases[0].0, 1);
        let lines: Vec<usize> = problems.iter().map(|p| p.line).collect();
        assert_eq!(lines, [3, 4, 5]);
        assert!(
            problems[1].message.contains("unknown variant `pending`"),
            "{}",
            problems[1]
        );
        assert_eq!(problems[2].message, "id is empty");
    }

    #[test]
    fn case_ids_are_short_and_plain() {
        for good in ["C-1042", "case_7.b", "x", &"a".repeat(64)] {
            assert_eq!(check_id(good), Ok(()), "{good}");
        }
        let long = "a".repeat(65);
        for (bad, says) in [
            ("C-1\r\nBcc: x@evil.example", "may hold only"),
            ("../../x", "may hold only"),
            ("C 1", "may hold only"),
            ("投诉-1", "may hold only"),
            (long.as_str(), "at most 64"),
            ("", "id is empty"),
        ] {
            let err = check_id(bad).unwrap_err();
            assert!(err.contains(says), "{bad}: {err}");
            assert!(!err.contains('\n'), "one line: {err}");
        }
    }

    #[test]
    fn a_bad_time_names_the_field_and_its_form_and_a_bom_is_ignored() {
        let text = format!(
            "\u{feff}{GOOD}\n{}\n",
            r#"{"id": "C-2", "brand": "b", "status": "open", "opened_at": "2026-11-28 09:14"}"#
        );
        let (cases, problems) = parse(&text);
        assert_eq!(cases.len(), 1, "{problems:?}");
        assert_eq!(problems[0].line, 2);
        assert!(
            problems[0]
                .message
                .starts_with("opened_at: expected RFC 3339 such as 2026-11-28T09:14:00+08:00"),
            "{}",
            problems[0]
        );
    }

    #[test]
    fn ids_sort_as_people_count() {
        let mut ids = vec!["C-X10", "C-X2", "C-X1", "B-7", "C-X02a", "C-X"];
        ids.sort_by(|a, b| natural_order(a, b));
        assert_eq!(ids, ["B-7", "C-X", "C-X1", "C-X2", "C-X02a", "C-X10"]);
    }

    #[test]
    fn aliases_resolve_to_the_brand_name() {
        let brands = [BrandConfig {
            name: "Acme".into(),
            aliases: vec!["ACME Corp".into()],
            exclude: vec![],
        }];
        assert_eq!(canonical_brand(&brands, "acme corp"), Some("Acme"));
        assert_eq!(canonical_brand(&brands, "Acme"), Some("Acme"));
        assert_eq!(canonical_brand(&brands, "Other"), None);
    }

    #[test]
    fn unknown_fields_are_rejected() {
        let (_, problems) =
            parse(r#"{"id": "C-1", "brand": "b", "status": "open", "sumary": "x"}"#);
        assert!(
            problems[0].message.contains("unknown field `sumary`"),
            "{}",
            problems[0]
        );
    }
}
