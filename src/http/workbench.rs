//! The complaint lead's workbench: what needs attention now (the home page), the case list
//! with its search, the unlinked complaints, and one public post with everything known
//! about it. The actions on these pages post to `pages::act`, the same review path the API
//! takes.

use super::api::ApiError;
use super::auth::Session;
use super::html::{engagement_chart, may_decide, outside_link, page, quote, OutsideLink};
use super::pages::{api_failure, flash, SignedIn};
use super::AppState;
use crate::alert::digest::is_unlinked_complaint;
use crate::alert::render::severity;
use crate::cases::natural_order;
use crate::config::Severity;
use crate::model::{AlertKind, Case, CaseStatus, Stage};
use crate::normalize::html_to_text;
use crate::present::text::clip;
use crate::present::{facts, path_segment, Args, Ui};
use crate::store::{
    AlertRow, AlertStatus, CaseItem, EvidenceScope, ItemQuery, LinkQuery, LinkState, UnlinkedItem,
};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use chrono::{DateTime, Duration, FixedOffset, Utc};
use minijinja::Value;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeSet, HashMap, HashSet};

/// Rows each part of the home page shows; its count links to the whole list.
const HOME_ROWS: usize = 10;
/// Without a digest yet, the home page's unlinked complaints go back this far.
const FIRST_WINDOW_HOURS: i64 = 24;
/// The unlinked list goes back this far.
pub(super) const UNLINKED_DAYS: i64 = 7;
/// Unlinked items read for one page.
const UNLINKED_READ: i64 = 500;
/// Sightings shown for one post, newest last.
const SIGHTINGS_SHOWN: usize = 200;

/// "3 h 20 min": how long from `since` to `now`.
pub(super) fn duration(ui: &Ui, since: DateTime<FixedOffset>, now: DateTime<Utc>) -> String {
    let minutes = (now - since.with_timezone(&Utc)).num_minutes().max(0);
    ui.t(
        "duration",
        Args::new()
            .num("hours", (minutes / 60) as f64)
            .num("minutes", (minutes % 60) as f64),
    )
}

fn severity_of(ui: &Ui, case: &Case) -> Option<String> {
    case.severity
        .as_deref()
        .filter(|s| !s.trim().is_empty())
        .map(|s| severity(ui, s))
}

/// Filters of the home page and the case list; empty values mean all.
#[derive(Debug, Default, Deserialize)]
pub(super) struct Filter {
    brand: Option<String>,
    stage: Option<String>,
    severity: Option<String>,
    q: Option<String>,
    status: Option<String>,
    /// The case list's order: `stage`, `severity`, `activity`, else the id's.
    sort: Option<String>,
    done: Option<String>,
}

impl Filter {
    fn get(value: &Option<String>) -> Option<&str> {
        value.as_deref().map(str::trim).filter(|v| !v.is_empty())
    }

    fn keeps(&self, case: &Case, stage: &str) -> bool {
        Filter::get(&self.brand).is_none_or(|b| case.brand == b)
            && Filter::get(&self.stage).is_none_or(|s| stage == s)
            && Filter::get(&self.severity).is_none_or(|s| {
                case.severity
                    .as_deref()
                    .is_some_and(|c| c.eq_ignore_ascii_case(s))
            })
    }
}

/// The choices the filters offer.
#[derive(Serialize)]
struct Choices {
    brand: Option<String>,
    stage: Option<String>,
    severity: Option<String>,
    brands: Vec<String>,
    stages: [&'static str; 4],
    severities: Vec<(String, String)>,
}

fn choices(ui: &Ui, state: &AppState, filter: &Filter, cases: &[Case]) -> Choices {
    let mut brands: BTreeSet<String> = state.brands.iter().cloned().collect();
    brands.extend(cases.iter().map(|c| c.brand.clone()));
    let severities: BTreeSet<String> = cases
        .iter()
        .filter_map(|c| c.severity.as_deref())
        .map(|s| s.trim().to_lowercase())
        .filter(|s| !s.is_empty())
        .collect();
    Choices {
        brand: Filter::get(&filter.brand).map(String::from),
        stage: Filter::get(&filter.stage).map(String::from),
        severity: Filter::get(&filter.severity).map(str::to_lowercase),
        brands: brands.into_iter().collect(),
        stages: ["viral", "spreading", "surfaced", "none"],
        severities: severities
            .into_iter()
            .map(|s| (severity(ui, &s), s))
            .collect(),
    }
}

/// An open case that needs attention, as the home page lists it.
#[derive(Serialize)]
struct AttentionRow {
    id: String,
    href: String,
    brand: String,
    stage: &'static str,
    severity: Option<String>,
    risk: Option<String>,
    public_for: Option<String>,
    growth: String,
    sources: usize,
    authors: usize,
    last_alert: Option<(&'static str, String)>,
    summary_html: Value,
}

/// A candidate link waiting, as the home page lists it.
#[derive(Serialize)]
struct WaitingRow {
    item_id: i64,
    case_id: String,
    case_href: String,
    waiting: String,
    score: String,
    text: String,
}

/// An unlinked complaint as the home page and the unlinked list show it.
#[derive(Serialize)]
struct UnlinkedRow {
    item_id: i64,
    brand: String,
    source: String,
    channel: &'static str,
    author: String,
    seen: String,
    text_html: Value,
    interactions: String,
    alerted: bool,
    #[serde(flatten)]
    link: OutsideLink,
    /// Open cases of the post's brand, in natural order, for the link form.
    cases: Vec<String>,
}

#[derive(Serialize)]
struct Home<'a> {
    flash: Option<String>,
    filters: Choices,
    cases: Vec<AttentionRow>,
    waiting: Vec<WaitingRow>,
    waiting_total: usize,
    unlinked: Vec<UnlinkedRow>,
    unlinked_total: usize,
    since: String,
    csrf: Option<&'a str>,
}

pub(super) async fn home(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Query(filter): Query<Filter>,
) -> Response {
    let flash = flash(&state.ui, filter.done.as_deref());
    home_view(&state, &signed_in.session, &filter, flash).await
}

/// The post's plain text, cut for a list.
fn gist(title: Option<&str>, body: Option<&str>, chars: usize) -> String {
    let text = [title, body]
        .into_iter()
        .flatten()
        .map(|t| html_to_text(t).into_owned())
        .collect::<Vec<_>>()
        .join(" ");
    clip(&text, chars)
}

fn latest_interactions(item: &CaseItem) -> i64 {
    item.sightings
        .last()
        .map_or(0, |s| s.engagement.interactions())
}

/// Unlinked complaints since `since`, newest first, of `brand` when given: the ones the
/// digest would show.
pub(super) async fn unlinked_complaints(
    state: &AppState,
    since: DateTime<Utc>,
    brand: Option<&str>,
) -> Result<Vec<UnlinkedItem>, ApiError> {
    let mut unlinked = state
        .store
        .unlinked_items(since, Utc::now(), UNLINKED_READ)
        .await?;
    unlinked.retain(|u| brand.is_none_or(|b| u.brand == b));
    let pipeline = state.poller.pipeline.lock().await;
    unlinked.retain(|u| is_unlinked_complaint(pipeline.assessor(), u));
    Ok(unlinked)
}

fn unlinked_rows(ui: &Ui, unlinked: Vec<UnlinkedItem>, open: &[Case]) -> Vec<UnlinkedRow> {
    unlinked
        .into_iter()
        .map(|u| {
            let item = &u.item;
            let mut cases: Vec<String> = open
                .iter()
                .filter(|c| c.brand == u.brand)
                .map(|c| c.id.clone())
                .collect();
            cases.sort_by(|a, b| natural_order(a, b));
            UnlinkedRow {
                item_id: item.item_id,
                source: item.source.clone(),
                channel: item.channel.as_str(),
                author: item
                    .author
                    .clone()
                    .unwrap_or_else(|| ui.word("author-unknown")),
                seen: ui.when(item.published_at.unwrap_or(item.first_seen_at)),
                text_html: quote(&gist(item.title.as_deref(), item.body.as_deref(), 280), &[]),
                interactions: ui.number(latest_interactions(item)),
                alerted: u.alerted,
                link: outside_link(item.url.as_deref()),
                brand: u.brand,
                cases,
            }
        })
        .collect()
}

pub(super) async fn home_view(
    state: &AppState,
    session: &Session,
    filter: &Filter,
    flash: Option<String>,
) -> Response {
    let ui = &state.ui;
    let now = Utc::now();
    let view = async {
        let all_cases = state.store.cases(None).await?;
        let open: Vec<Case> = all_cases.iter().filter(|c| c.is_open()).cloned().collect();
        let risks: HashMap<String, f64> = state
            .store
            .case_risks(None)
            .await?
            .into_iter()
            .map(|r| (r.case_id, r.risk.score))
            .collect();
        // At risk or public already, and kept by the filters.
        let mut standings: Vec<_> = state
            .store
            .case_standings()
            .await?
            .into_iter()
            .filter(|s| {
                s.stage.is_some() || risks.get(&s.case.id).is_some_and(|r| *r >= state.at_risk)
            })
            .filter(|s| filter.keeps(&s.case, s.stage.map_or("none", |(st, _)| st.as_str())))
            .collect();
        // The furthest stage first, and among equals the one reached last: a case that
        // just stepped up is what changed.
        standings.sort_by(|a, b| {
            b.stage
                .cmp(&a.stage)
                .then_with(|| {
                    let risk = |id: &str| risks.get(id).copied().unwrap_or(-1.0);
                    risk(&b.case.id).total_cmp(&risk(&a.case.id))
                })
                .then_with(|| natural_order(&a.case.id, &b.case.id))
        });
        let ids: Vec<String> = standings.iter().map(|s| s.case.id.clone()).collect();
        let evidence = state
            .store
            .case_evidence(&ids, EvidenceScope::Confirmed)
            .await?;
        let alerts = state.store.alerts().await?;
        let cases = standings
            .iter()
            .map(|s| {
                let items = evidence
                    .get(&s.case.id)
                    .map(|e| e.items.as_slice())
                    .unwrap_or_default();
                let first_sign = items
                    .iter()
                    .map(|i| i.published_at.unwrap_or(i.first_seen_at))
                    .min();
                let growth: f64 = items.iter().filter_map(CaseItem::growth_per_hour).sum();
                let sources: HashSet<&str> = items.iter().map(|i| i.source.as_str()).collect();
                let authors: HashSet<&str> =
                    items.iter().filter_map(|i| i.author.as_deref()).collect();
                let last_alert = alerts
                    .iter()
                    .filter(|a| {
                        a.case_id.as_deref() == Some(s.case.id.as_str())
                            && a.status == AlertStatus::Sent
                    })
                    .filter_map(|a| {
                        let at = DateTime::parse_from_rfc3339(a.sent_at.as_deref()?).ok()?;
                        Some((at, a.kind.as_str()))
                    })
                    .max()
                    .map(|(at, kind)| (kind, ui.when(at)));
                AttentionRow {
                    id: s.case.id.clone(),
                    href: path_segment(&s.case.id),
                    brand: s.case.brand.clone(),
                    stage: s.stage.map_or("none", |(st, _)| st.as_str()),
                    severity: severity_of(ui, &s.case),
                    risk: risks.get(&s.case.id).map(|r| facts::score(*r)),
                    public_for: first_sign.map(|t| duration(ui, t, now)),
                    growth: ui.number(growth.round() as i64),
                    sources: sources.len(),
                    authors: authors.len(),
                    last_alert,
                    summary_html: quote(&clip(&s.case.summary, 120), &[]),
                }
            })
            .collect();

        let brand = Filter::get(&filter.brand);
        let mut links = state
            .store
            .find_links(&LinkQuery {
                state: Some(LinkState::Candidate),
                brand: brand.map(String::from),
                limit: i64::MAX,
                ..LinkQuery::default()
            })
            .await?;
        links.retain(|l| open.iter().any(|c| c.id == l.case_id));
        links.sort_by(|a, b| a.created_at.cmp(&b.created_at));
        let waiting_total = links.len();
        links.truncate(HOME_ROWS);
        let items: HashMap<i64, _> = state
            .store
            .find_items(&ItemQuery {
                ids: links.iter().map(|l| l.item_id).collect(),
                limit: HOME_ROWS as i64,
                ..ItemQuery::default()
            })
            .await?
            .into_iter()
            .map(|i| (i.id, i))
            .collect();
        let waiting = links
            .iter()
            .map(|l| WaitingRow {
                item_id: l.item_id,
                case_id: l.case_id.clone(),
                case_href: path_segment(&l.case_id),
                waiting: DateTime::parse_from_rfc3339(&l.created_at)
                    .map_or_else(|_| "-".to_string(), |t| duration(ui, t, now)),
                score: facts::score(l.score),
                text: items.get(&l.item_id).map_or_else(String::new, |i| {
                    gist(i.title.as_deref(), i.body.as_deref(), 80)
                }),
            })
            .collect();

        let since = state
            .store
            .last_alert_at(AlertKind::Digest)
            .await?
            .map_or(now - Duration::hours(FIRST_WINDOW_HOURS), |t| {
                t.with_timezone(&Utc)
            });
        let mut unlinked = unlinked_complaints(state, since, brand).await?;
        let unlinked_total = unlinked.len();
        unlinked.truncate(HOME_ROWS);
        Ok::<_, ApiError>(Home {
            flash,
            filters: choices(ui, state, filter, &all_cases),
            cases,
            waiting,
            waiting_total,
            unlinked: unlinked_rows(ui, unlinked, &open),
            unlinked_total,
            since: ui.when(since.fixed_offset()),
            csrf: may_decide(session).then_some(session.csrf.as_str()),
        })
    }
    .await;
    match view {
        Ok(view) => page(ui, "home.html", &ui.word("nav-home"), Some(session), view),
        Err(error) => api_failure(ui, session, error),
    }
}

/// A case in the case list.
#[derive(Serialize)]
struct CaseRow {
    id: String,
    href: String,
    brand: String,
    status: &'static str,
    stage: &'static str,
    severity: Option<String>,
    risk: Option<String>,
    name: String,
    summary_html: Value,
}

#[derive(Serialize)]
struct CaseList {
    filters: Choices,
    q: String,
    status: String,
    sort: &'static str,
    cases: Vec<CaseRow>,
}

/// When anything last happened to each case's links: one linked, or decided.
async fn last_activity(
    state: &AppState,
) -> Result<HashMap<String, DateTime<FixedOffset>>, ApiError> {
    let mut last: HashMap<String, DateTime<FixedOffset>> = HashMap::new();
    for link in state
        .store
        .find_links(&LinkQuery {
            limit: i64::MAX,
            ..LinkQuery::default()
        })
        .await?
    {
        let times = [Some(link.created_at.as_str()), link.decided_at.as_deref()];
        for at in times
            .into_iter()
            .flatten()
            .filter_map(|t| DateTime::parse_from_rfc3339(t).ok())
        {
            let entry = last.entry(link.case_id.clone()).or_insert(at);
            *entry = (*entry).max(at);
        }
    }
    Ok(last)
}

/// Whether the case matches a search: its id, complainant, handles, identifiers or text.
fn matches(case: &Case, q: &str) -> bool {
    let q = q.to_lowercase();
    let c = &case.complainant;
    [&case.id, &case.summary, &case.demand, &case.notes]
        .into_iter()
        .chain(c.name.as_ref())
        .chain(&c.handles)
        .chain(&case.identifiers)
        .any(|text| text.to_lowercase().contains(&q))
}

pub(super) async fn case_list(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Query(filter): Query<Filter>,
) -> Response {
    let session = &signed_in.session;
    let ui = &state.ui;
    let status = match Filter::get(&filter.status) {
        Some("closed") => Some(CaseStatus::Closed),
        Some("all") => None,
        _ => Some(CaseStatus::Open),
    };
    let view = async {
        let all_cases = state.store.cases(None).await?;
        let stages: HashMap<String, Stage> = state
            .store
            .case_standings()
            .await?
            .into_iter()
            .filter_map(|s| Some((s.case.id, s.stage?.0)))
            .collect();
        let risks: HashMap<String, f64> = state
            .store
            .case_risks(None)
            .await?
            .into_iter()
            .map(|r| (r.case_id, r.risk.score))
            .collect();
        let mut cases: Vec<&Case> = all_cases
            .iter()
            .filter(|c| status.is_none_or(|s| c.status == s))
            .filter(|c| filter.keeps(c, stages.get(&c.id).map_or("none", |s| s.as_str())))
            .filter(|c| Filter::get(&filter.q).is_none_or(|q| matches(c, q)))
            .collect();
        cases.sort_by(|a, b| natural_order(&a.id, &b.id));
        let sort = match Filter::get(&filter.sort) {
            Some("stage") => {
                cases.sort_by_key(|c| std::cmp::Reverse(stages.get(&c.id).copied()));
                "stage"
            }
            Some("severity") => {
                cases.sort_by_key(|c| std::cmp::Reverse(Severity::of(c.severity.as_deref())));
                "severity"
            }
            Some("activity") => {
                let last = last_activity(&state).await?;
                cases.sort_by_key(|c| std::cmp::Reverse(last.get(&c.id).copied()));
                "activity"
            }
            _ => "id",
        };
        let rows = cases
            .into_iter()
            .map(|c| CaseRow {
                id: c.id.clone(),
                href: path_segment(&c.id),
                brand: c.brand.clone(),
                status: c.status.as_str(),
                stage: stages.get(&c.id).map_or("none", |s| s.as_str()),
                severity: severity_of(ui, c),
                risk: risks.get(&c.id).map(|r| facts::score(*r)),
                name: c.complainant.name.clone().unwrap_or_default(),
                summary_html: quote(&clip(&c.summary, 120), &[]),
            })
            .collect();
        Ok::<_, ApiError>(CaseList {
            filters: choices(ui, &state, &filter, &all_cases),
            q: Filter::get(&filter.q).unwrap_or_default().to_string(),
            status: status.map_or("all", |s| s.as_str()).to_string(),
            sort,
            cases: rows,
        })
    }
    .await;
    match view {
        Ok(view) => page(ui, "cases.html", &ui.word("nav-cases"), Some(session), view),
        Err(error) => api_failure(ui, session, error),
    }
}

#[derive(Serialize)]
struct UnlinkedList<'a> {
    flash: Option<String>,
    filters: Choices,
    days: i64,
    unlinked: Vec<UnlinkedRow>,
    csrf: Option<&'a str>,
}

pub(super) async fn unlinked(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Query(filter): Query<Filter>,
) -> Response {
    let flash = flash(&state.ui, filter.done.as_deref());
    unlinked_view(&state, &signed_in.session, &filter, flash).await
}

pub(super) async fn unlinked_view(
    state: &AppState,
    session: &Session,
    filter: &Filter,
    flash: Option<String>,
) -> Response {
    let ui = &state.ui;
    let view = async {
        let all_cases = state.store.cases(None).await?;
        let open: Vec<Case> = all_cases.iter().filter(|c| c.is_open()).cloned().collect();
        let since = Utc::now() - Duration::days(UNLINKED_DAYS);
        let unlinked = unlinked_complaints(state, since, Filter::get(&filter.brand)).await?;
        Ok::<_, ApiError>(UnlinkedList {
            flash,
            filters: choices(ui, state, filter, &all_cases),
            days: UNLINKED_DAYS,
            unlinked: unlinked_rows(ui, unlinked, &open),
            csrf: may_decide(session).then_some(session.csrf.as_str()),
        })
    }
    .await;
    match view {
        Ok(view) => page(
            ui,
            "unlinked.html",
            &ui.word("nav-unlinked"),
            Some(session),
            view,
        ),
        Err(error) => api_failure(ui, session, error),
    }
}

#[derive(Serialize)]
struct SightingRow {
    at: String,
    interactions: String,
    counts: String,
    followers: String,
}

/// A link of the post, in any state, with its evidence and the actions its state allows.
#[derive(Serialize)]
struct PostLink {
    case_id: String,
    case_href: String,
    state: &'static str,
    score: String,
    evidence: Vec<String>,
    decided: Option<String>,
    actions: &'static [&'static str],
}

#[derive(Serialize)]
struct AlertLine {
    kind: &'static str,
    subject: String,
    status: &'static str,
    at: String,
}

#[derive(Serialize)]
struct PostPage<'a> {
    flash: Option<String>,
    item_id: i64,
    brand: String,
    source: String,
    channel: &'static str,
    author: String,
    published: String,
    seen: String,
    title_html: Option<Value>,
    text_html: Value,
    #[serde(flatten)]
    link: OutsideLink,
    chart: Value,
    sightings: Vec<SightingRow>,
    links: Vec<PostLink>,
    alerts: Vec<AlertLine>,
    /// Open cases of the brand the post is not linked to yet, for the link form.
    cases: Vec<String>,
    csrf: Option<&'a str>,
}

/// What a lead may do with a link in each state.
fn actions_for(state: LinkState) -> &'static [&'static str] {
    match state {
        LinkState::Candidate => &["confirm", "reject"],
        LinkState::Confirmed => &["unlink"],
        LinkState::Rejected => &["unreject", "confirm"],
    }
}

pub(super) async fn post_page(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Path(id): Path<i64>,
    Query(filter): Query<Filter>,
) -> Response {
    let flash = flash(&state.ui, filter.done.as_deref());
    post_view(&state, &signed_in.session, id, flash).await
}

pub(super) async fn post_view(
    state: &AppState,
    session: &Session,
    id: i64,
    flash: Option<String>,
) -> Response {
    let ui = &state.ui;
    let view = async {
        let Some(item) = state
            .store
            .find_items(&ItemQuery {
                ids: vec![id],
                limit: 1,
                ..ItemQuery::default()
            })
            .await?
            .pop()
        else {
            return Ok(None);
        };
        let sightings = state
            .store
            .sightings(&[id])
            .await?
            .remove(&id)
            .unwrap_or_default();
        let links = state
            .store
            .find_links(&LinkQuery {
                item_id: Some(id),
                limit: 100,
                ..LinkQuery::default()
            })
            .await?;
        let mut cases: Vec<String> = state
            .store
            .cases(Some(CaseStatus::Open))
            .await?
            .into_iter()
            .filter(|c| c.brand == item.brand && !links.iter().any(|l| l.case_id == c.id))
            .map(|c| c.id)
            .collect();
        cases.sort_by(|a, b| natural_order(a, b));
        let alerts: Vec<AlertRow> = state
            .store
            .alerts()
            .await?
            .into_iter()
            .filter(|a| a.item_id == Some(id))
            .collect();
        let text = html_to_text(item.body.as_deref().unwrap_or_default()).into_owned();
        let shown = sightings.len().saturating_sub(SIGHTINGS_SHOWN);
        Ok::<_, ApiError>(Some(PostPage {
            flash,
            item_id: id,
            brand: item.brand.clone(),
            source: item.source.clone(),
            channel: item.channel.as_str(),
            author: item
                .author
                .clone()
                .unwrap_or_else(|| ui.word("author-unknown")),
            published: ui.when_known(item.published_at),
            seen: ui.when(item.first_seen_at),
            title_html: item.title.as_deref().map(|t| quote(&html_to_text(t), &[])),
            text_html: quote(&text, &[]),
            link: outside_link(item.url.as_deref()),
            chart: engagement_chart(ui, &[(id, sightings.as_slice())]),
            sightings: sightings[shown..]
                .iter()
                .map(|s| SightingRow {
                    at: ui.when(s.at),
                    interactions: ui.number(s.engagement.interactions()),
                    counts: crate::alert::render::counts(ui, &s.engagement),
                    followers: s
                        .author_followers
                        .map_or_else(String::new, |f| ui.number(f)),
                })
                .collect(),
            links: links
                .iter()
                .map(|l| PostLink {
                    case_id: l.case_id.clone(),
                    case_href: path_segment(&l.case_id),
                    state: l.state.as_str(),
                    score: facts::score(l.score),
                    evidence: l
                        .evidence
                        .iter()
                        .map(|e| facts::link_evidence(ui, e))
                        .collect(),
                    decided: l.decided_by.as_ref().map(|by| {
                        let at = l
                            .decided_at
                            .as_deref()
                            .and_then(|t| DateTime::parse_from_rfc3339(t).ok());
                        ui.t(
                            "post-decided",
                            Args::new()
                                .with("by", by.clone())
                                .with("at", ui.when_known(at)),
                        )
                    }),
                    actions: actions_for(l.state),
                })
                .collect(),
            alerts: alerts
                .iter()
                .map(|a| AlertLine {
                    kind: a.kind.as_str(),
                    subject: a.subject.clone(),
                    status: a.status.as_str(),
                    at: ui.when_known(DateTime::parse_from_rfc3339(&a.created_at).ok()),
                })
                .collect(),
            cases,
            csrf: may_decide(session).then_some(session.csrf.as_str()),
        }))
    }
    .await;
    match view {
        Ok(Some(view)) => page(
            ui,
            "post.html",
            &ui.t("post-title", Args::new().with("id", id.to_string())),
            Some(session),
            view,
        ),
        Ok(None) => super::html::failure(
            ui,
            Some(session),
            StatusCode::NOT_FOUND,
            ui.word("error-no-item"),
        ),
        Err(error) => api_failure(ui, session, error),
    }
}
