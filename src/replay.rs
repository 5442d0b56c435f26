//! `outcry replay`: the daemon's detection, linking and alerting over an evaluation set,
//! offline, on a private in-memory store, with each observation's `fetched_at` as the clock.

use crate::config::{load_brands, AssessConfig, LinkingConfig, Problems};
use crate::model::{AlertKind, Observation};
use crate::pipeline::{plain_text, Event, Pipeline, PipelineError};
use crate::risk::{RiskChange, RiskWatch};
use crate::store::{open_in_memory, StoreError};
use chrono::{DateTime, FixedOffset, TimeZone, Utc};
use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Observations per store transaction. Each batch reads the evidence of the cases it
/// touches once, so larger batches amortise that; a batch decides as if one at a time, so
/// the output does not depend on this number.
pub const BATCH: usize = 1024;

#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error("{0}")]
    Brands(Problems),
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: line {line}: {message}")]
    Line {
        path: PathBuf,
        line: usize,
        message: String,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Pipeline(#[from] PipelineError),
    #[error("cannot write output: {0}")]
    Output(std::io::Error),
}

fn read(path: PathBuf) -> Result<(PathBuf, String), ReplayError> {
    match std::fs::read_to_string(&path) {
        Ok(text) => Ok((path, text)),
        Err(source) => Err(ReplayError::Read { path, source }),
    }
}

/// Replays the set in `dir`, writing one JSON event per line to `out`.
pub async fn replay(dir: &Path, out: &mut dyn Write) -> Result<(), ReplayError> {
    let brands = load_brands(&dir.join("brands.toml")).map_err(ReplayError::Brands)?;
    let (cases_path, cases_text) = read(dir.join("cases.jsonl"))?;
    let (obs_path, obs_text) = read(dir.join("observations.jsonl"))?;

    let store = open_in_memory().await?;
    // Brands as the set writes them: its truth is in the same names.
    let report = crate::cases::import(store.as_ref(), &cases_text, &[]).await?;
    if let Some(problem) = report.problems.first() {
        return Err(ReplayError::Line {
            path: cases_path,
            line: problem.line,
            message: problem.message.clone(),
        });
    }
    let mut risks = RiskWatch::new(store.cases(None).await?, &brands);
    let mut pipeline = Pipeline::new(
        store,
        &brands,
        LinkingConfig::default(),
        AssessConfig::default(),
    )
    .await?;
    let mut batch = Vec::with_capacity(BATCH);
    let mut started = false;
    for (index, line) in obs_text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let observation: Observation =
            serde_json::from_str(line).map_err(|e| ReplayError::Line {
                path: obs_path.clone(),
                line: index + 1,
                message: e.to_string(),
            })?;
        let clock = observation.fetched_at;
        // Cases open at the replay clock: those opened before the first observation at its
        // time, later ones at their own opening, before anything fetched after it.
        if !started {
            started = true;
            write_risks(out, risks.advance(clock.with_timezone(&Utc)), clock)?;
        }
        while let Some(opening) = risks.next_opening().filter(|t| *t <= clock) {
            process(&mut pipeline, &mut risks, &mut batch, out).await?;
            write_risks(out, risks.advance(opening), clock)?;
        }
        batch.push(observation);
        if batch.len() == BATCH {
            process(&mut pipeline, &mut risks, &mut batch, out).await?;
        }
    }
    process(&mut pipeline, &mut risks, &mut batch, out).await?;
    out.flush().map_err(ReplayError::Output)
}

/// The pipeline decides batch by batch exactly as it would one observation at a time; a
/// batch only saves store round trips. Public complaints linked to no case then raise the
/// risk of the private cases telling the same story.
async fn process(
    pipeline: &mut Pipeline,
    risks: &mut RiskWatch,
    batch: &mut Vec<Observation>,
    out: &mut dyn Write,
) -> Result<(), ReplayError> {
    let events = pipeline.process_batch(batch).await?;
    let texts: HashMap<&str, &Observation> = batch.iter().map(|o| (o.guid.as_str(), o)).collect();
    for event in &events {
        write_event(out, event)?;
        if let Event::Alert {
            at,
            stage: AlertKind::Unlinked,
            brand,
            guid,
            ..
        } = event
        {
            if let Some(obs) = texts.get(guid.as_str()) {
                let text = plain_text(obs.title.as_deref(), obs.body.as_deref());
                write_risks(
                    out,
                    risks.public_complaint(brand, &text, at.with_timezone(&Utc)),
                    *at,
                )?;
            }
        }
    }
    batch.clear();
    Ok(())
}

/// `{"kind":"risk","at":…,"case":…,"score":…}`, written in the offset of the replay clock.
fn write_risks(
    out: &mut dyn Write,
    changes: Vec<RiskChange>,
    clock: DateTime<FixedOffset>,
) -> Result<(), ReplayError> {
    for change in changes {
        let at = clock.offset().from_utc_datetime(&change.at.naive_utc());
        let line = serde_json::json!({
            "kind": "risk",
            "at": at.to_rfc3339(),
            "case": change.case,
            "score": change.risk.score,
        });
        writeln!(out, "{line}").map_err(ReplayError::Output)?;
    }
    Ok(())
}

fn write_event(out: &mut dyn Write, event: &Event) -> Result<(), ReplayError> {
    let line = serde_json::to_string(event).map_err(|e| ReplayError::Output(e.into()))?;
    writeln!(out, "{line}").map_err(ReplayError::Output)
}
