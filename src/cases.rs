//! Importing cases from JSON lines (eval/FORMAT.md `cases.jsonl`). A bad line is reported
//! with its number and nothing of it is written; the good lines are imported.

use crate::model::Case;
use crate::store::{Store, StoreError};
use chrono::Utc;
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
    for (index, line) in text.lines().enumerate() {
        let number = index + 1;
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        match serde_json::from_str::<Case>(line) {
            Ok(case) => match check(&case) {
                Ok(()) => cases.push((number, case)),
                Err(message) => problems.push(LineProblem {
                    line: number,
                    message,
                }),
            },
            Err(e) => problems.push(LineProblem {
                line: number,
                message: e.to_string(),
            }),
        }
    }
    (cases, problems)
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

/// Inserts or updates (by id) every good case of `text`.
pub async fn import(store: &dyn Store, text: &str) -> Result<ImportReport, StoreError> {
    let (cases, problems) = parse(text);
    for (_, case) in &cases {
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
