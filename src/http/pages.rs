//! Server-rendered pages for complaint leads: sign in with a token, the review queue, a case
//! page, the brand overview and every action a lead takes on them (the workbench's lists are
//! in `workbench`). Everything works without JavaScript; every form carries the session's
//! CSRF token and the session cookie is SameSite=Strict.

use super::api::{add_link, change_case, change_status, decide_link, ApiError, CaseUpdate};
use super::auth::{cookie, session_cookie, Session, SESSION_COOKIE};
use super::client::Client;
use super::html::{engagement_chart, failure, may_decide, outside_link, page, quote, OutsideLink};
use super::workbench::{self, duration};
use super::{AppState, Refusal};
use crate::alert::render::{marks_of, mask_phone, severity};
use crate::cases::{check_id, natural_order};
use crate::config::Role;
use crate::model::{AlertKind, Case, CaseStatus};
use crate::normalize::html_to_text;
use crate::pipeline::Decision;
use crate::present::text::clip;
use crate::present::{facts, path_segment, Args, Ui};
use crate::store::{
    AlertRow, AuditEntry, EvidenceScope, ItemQuery, ItemRow, LinkQuery, LinkRow, LinkState,
};
use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use chrono::{DateTime, FixedOffset, Utc};
use minijinja::Value;
use serde::Deserialize;
use serde::Serialize;
use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

/// Candidate links the queue shows at once.
const QUEUE_SIZE: i64 = 100;
/// The overview counts items first seen this many days back.
const OVERVIEW_DAYS: i64 = 7;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(workbench::home))
        .route("/login", get(login_form).post(login))
        .route("/logout", post(logout))
        .route("/review", get(review_queue))
        .route("/act", post(act))
        .route("/cases", get(workbench::case_list))
        .route("/unlinked", get(workbench::unlinked))
        .route("/posts/{id}", get(workbench::post_page))
        .route("/cases/{id}", get(case_page))
        .route("/brands", get(brands))
        .route("/sources", get(sources))
}

/// A signed-in browser; anyone else is sent to the sign-in page.
pub(super) struct SignedIn {
    id: String,
    pub(super) session: Session,
}

impl FromRequestParts<AppState> for SignedIn {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        parts
            .headers
            .get(header::COOKIE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| cookie(v, SESSION_COOKIE))
            .and_then(|id| {
                state.auth.session(id).map(|session| SignedIn {
                    id: id.to_string(),
                    session,
                })
            })
            .ok_or_else(|| Redirect::to("/login").into_response())
    }
}

/// What the page says after a lead's action (`?done=<action>` on the redirect); a word
/// not among the actions says nothing.
pub(super) fn flash(ui: &Ui, done: Option<&str>) -> Option<String> {
    let done = done?;
    ACTIONS
        .contains(&done)
        .then(|| ui.t("done", Args::new().with("action", done)))
}

/// Everything a lead does on the pages: the link decisions, a link by hand, closing and
/// reopening, and teaching a case a handle or identifier.
const ACTIONS: [&str; 9] = [
    "confirm",
    "reject",
    "unreject",
    "unlink",
    "link",
    "close",
    "reopen",
    "add_handle",
    "add_identifier",
];

pub(super) fn api_failure(ui: &Ui, session: &Session, error: ApiError) -> Response {
    let status = error.into_response().status();
    failure(ui, Some(session), status, ui.word("error-not-completed"))
}

impl From<ApiError> for Response {
    fn from(e: ApiError) -> Self {
        e.into_response()
    }
}

#[derive(Serialize)]
struct Login {
    error: Option<String>,
}

async fn login_form(State(state): State<AppState>) -> Response {
    let ui = &state.ui;
    page(
        ui,
        "login.html",
        &ui.word("sign-in"),
        None,
        Login { error: None },
    )
}

#[derive(Deserialize)]
struct LoginForm {
    token: String,
}

async fn login(
    State(state): State<AppState>,
    client: Client,
    Form(form): Form<LoginForm>,
) -> Response {
    let ui = &state.ui;
    let refused = |status: StatusCode, message: String| {
        let mut response = page(
            ui,
            "login.html",
            &ui.word("sign-in"),
            None,
            Login {
                error: Some(message),
            },
        );
        *response.status_mut() = status;
        response
    };
    match state.check_token(&client, &form.token, "login") {
        Ok(principal) => {
            let (id, _) = state.auth.sign_in(principal);
            let cookie =
                session_cookie(&id, state.auth.session_ttl(), state.secure_cookies(&client));
            ([(header::SET_COOKIE, cookie)], Redirect::to("/")).into_response()
        }
        Err(Refusal::Unknown) => refused(StatusCode::UNAUTHORIZED, ui.word("sign-in-unknown")),
        Err(Refusal::Throttled(wait)) => {
            let mut response = refused(StatusCode::TOO_MANY_REQUESTS, ui.word("sign-in-throttled"));
            if let Ok(value) = header::HeaderValue::from_str(&wait.to_string()) {
                response.headers_mut().insert(header::RETRY_AFTER, value);
            }
            response
        }
    }
}

#[derive(Deserialize)]
struct CsrfForm {
    csrf: String,
}

async fn logout(
    State(state): State<AppState>,
    client: Client,
    signed_in: SignedIn,
    Form(form): Form<CsrfForm>,
) -> Response {
    if !signed_in.session.csrf_matches(&form.csrf) {
        return failure(
            &state.ui,
            Some(&signed_in.session),
            StatusCode::FORBIDDEN,
            state.ui.word("error-stale-form"),
        );
    }
    state.auth.sign_out(&signed_in.id);
    let cookie = session_cookie("", Duration::ZERO, state.secure_cookies(&client));
    ([(header::SET_COOKIE, cookie)], Redirect::to("/login")).into_response()
}

#[derive(Deserialize)]
struct BrandFilter {
    brand: Option<String>,
    done: Option<String>,
}

#[derive(Serialize)]
struct Review<'a> {
    flash: Option<String>,
    brand: Option<String>,
    brands: &'a [String],
    pairs: Vec<Pair>,
    csrf: Option<&'a str>,
    back: &'static str,
}

async fn review_queue(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Query(filter): Query<BrandFilter>,
) -> Response {
    let flash = flash(&state.ui, filter.done.as_deref());
    let brand = filter.brand.filter(|b| !b.is_empty());
    review_view(&state, &signed_in.session, brand, flash).await
}

async fn review_view(
    state: &AppState,
    session: &Session,
    brand: Option<String>,
    flash: Option<String>,
) -> Response {
    let ui = &state.ui;
    let pairs = async {
        let links = state
            .store
            .find_links(&LinkQuery {
                state: Some(LinkState::Candidate),
                brand: brand.clone(),
                limit: QUEUE_SIZE,
                ..LinkQuery::default()
            })
            .await?;
        link_pairs(state, &links).await
    }
    .await;
    match pairs {
        Ok(pairs) => page(
            ui,
            "review.html",
            &ui.word("nav-review"),
            Some(session),
            Review {
                flash,
                brand,
                brands: &state.brands,
                pairs,
                csrf: may_decide(session).then_some(session.csrf.as_str()),
                back: "review",
            },
        ),
        Err(error) => api_failure(ui, session, error),
    }
}

/// A case record as pages show it, the evidence marked.
#[derive(Serialize)]
struct Record {
    brand: String,
    status: &'static str,
    severity: Option<String>,
    opened: Option<String>,
    summary_html: Value,
    demand_html: Value,
    name: String,
    phone: String,
    handles_html: Option<Value>,
    identifiers_html: Option<Value>,
}

fn case_record(ui: &Ui, case: &Case, marks: &[String]) -> Record {
    let list = |values: &[String]| {
        (!values.is_empty()).then(|| {
            Value::from_safe_string(
                values
                    .iter()
                    .map(|v| quote(v, marks).to_string())
                    .collect::<Vec<_>>()
                    .join(&crate::present::text::escape_html(
                        &ui.word("list-separator"),
                    )),
            )
        })
    };
    Record {
        brand: case.brand.clone(),
        status: case.status.as_str(),
        severity: case
            .severity
            .as_deref()
            .filter(|s| !s.trim().is_empty())
            .map(|s| severity(ui, s)),
        opened: case.opened_at.map(|t| ui.when(t)),
        summary_html: quote(&case.summary, marks),
        demand_html: quote(&case.demand, marks),
        name: case.complainant.name.clone().unwrap_or_default(),
        phone: case
            .complainant
            .phone
            .as_deref()
            .map(mask_phone)
            .unwrap_or_default(),
        handles_html: list(&case.complainant.handles),
        identifiers_html: list(&case.identifiers),
    }
}

/// A link as post and case side by side, the evidence marked in both.
#[derive(Serialize)]
struct Pair {
    item_id: i64,
    case_id: String,
    case_href: String,
    source: String,
    channel: &'static str,
    author_html: Value,
    seen: String,
    title_html: Option<Value>,
    text_html: Value,
    #[serde(flatten)]
    link: OutsideLink,
    record: Record,
    score: String,
    evidence: Vec<String>,
    published: String,
    interactions: String,
    stage: &'static str,
    waiting: String,
}

/// Each link as post and case side by side; the template adds the decision buttons for
/// leads.
async fn link_pairs(state: &AppState, links: &[LinkRow]) -> Result<Vec<Pair>, ApiError> {
    let ui = &state.ui;
    let now = Utc::now();
    let ids: Vec<i64> = links.iter().map(|l| l.item_id).collect();
    let sightings = state.store.sightings(&ids).await?;
    let stages: HashMap<String, &'static str> = state
        .store
        .case_standings()
        .await?
        .into_iter()
        .filter_map(|s| Some((s.case.id, s.stage?.0.as_str())))
        .collect();
    let items = items_of(state, links).await?;
    let mut cases: HashMap<String, Option<Case>> = HashMap::new();
    let mut pairs = Vec::new();
    for link in links {
        if !cases.contains_key(&link.case_id) {
            cases.insert(link.case_id.clone(), state.store.case(&link.case_id).await?);
        }
        let (Some(item), Some(Some(case))) = (items.get(&link.item_id), cases.get(&link.case_id))
        else {
            continue;
        };
        let marks = marks_of(&link.evidence);
        let text = html_to_text(item.body.as_deref().unwrap_or_default()).into_owned();
        pairs.push(Pair {
            item_id: item.id,
            case_id: case.id.clone(),
            case_href: path_segment(&case.id),
            source: item.source.clone(),
            channel: item.channel.as_str(),
            author_html: item.author.as_deref().map_or_else(
                || Value::from(ui.word("author-unknown")),
                |a| quote(a, &marks),
            ),
            seen: ui.when(item.first_seen_at),
            title_html: item
                .title
                .as_deref()
                .map(|t| quote(&html_to_text(t), &marks)),
            text_html: quote(&text, &marks),
            link: outside_link(item.url.as_deref()),
            record: case_record(ui, case, &marks),
            score: facts::score(link.score),
            evidence: link
                .evidence
                .iter()
                .map(|ev| facts::link_evidence(ui, ev))
                .collect(),
            published: ui.when_known(item.published_at),
            interactions: ui.number(
                sightings
                    .get(&item.id)
                    .and_then(|s| s.last())
                    .map_or(0, |s| s.engagement.interactions()),
            ),
            stage: stages.get(&case.id).copied().unwrap_or("none"),
            waiting: DateTime::parse_from_rfc3339(&link.created_at)
                .map_or_else(|_| "-".to_string(), |t| duration(ui, t, now)),
        });
    }
    Ok(pairs)
}

#[derive(Deserialize)]
struct ActForm {
    csrf: String,
    /// One of [`ACTIONS`].
    decision: String,
    case_id: String,
    item_id: Option<i64>,
    /// The handle or identifier to add.
    value: Option<String>,
    /// The page the form is on: `review`, `case`, `post`, `unlinked` or the home page.
    #[serde(default)]
    back: String,
}

impl ActForm {
    /// The page to go back to after the action.
    fn back_path(&self) -> String {
        match (self.back.as_str(), self.item_id) {
            ("review", _) => "/review".to_string(),
            ("case", _) => format!("/cases/{}", path_segment(&self.case_id)),
            ("post", Some(item)) => format!("/posts/{item}"),
            ("unlinked", _) => "/unlinked".to_string(),
            _ => "/".to_string(),
        }
    }

    /// The page the form is on, as it is now, saying `message`: a form that went stale
    /// (signed in again, or in another tab) is shown again rather than refused bare.
    async fn reshow(&self, state: &AppState, session: &Session, message: String) -> Response {
        let flash = Some(message);
        match (self.back.as_str(), self.item_id) {
            ("review", _) => review_view(state, session, None, flash).await,
            ("case", _) if check_id(&self.case_id).is_ok() => {
                case_view(state, session, self.case_id.clone(), flash).await
            }
            ("post", Some(item)) => workbench::post_view(state, session, item, flash).await,
            ("unlinked", _) => {
                workbench::unlinked_view(state, session, &Default::default(), flash).await
            }
            _ => workbench::home_view(state, session, &Default::default(), flash).await,
        }
    }
}

/// A lead's action from any page, through the same review path as the API's; back to the
/// page with a word on what was done.
async fn act(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Form(form): Form<ActForm>,
) -> Response {
    let session = &signed_in.session;
    let ui = &state.ui;
    let fail = |status, key: &str| failure(ui, Some(session), status, ui.word(key));
    if !session.csrf_matches(&form.csrf) {
        let mut response = form.reshow(&state, session, ui.word("flash-stale")).await;
        *response.status_mut() = StatusCode::FORBIDDEN;
        return response;
    }
    if check_id(&form.case_id).is_err() {
        return fail(StatusCode::BAD_REQUEST, "case-id-invalid");
    }
    if !session.principal.may(Role::Lead) {
        return fail(StatusCode::FORBIDDEN, "error-lead-required");
    }
    let actor = session.principal.name.as_str();
    let case_id = form.case_id.as_str();
    let value = form
        .value
        .as_deref()
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(String::from);
    let audit = |action: &str, target: String| AuditEntry {
        actor: actor.to_string(),
        action: action.into(),
        target,
        detail: serde_json::json!({ "via": "web" }),
        at: Utc::now(),
    };
    let decision = Decision::parse(&form.decision);
    let done = match (decision, form.decision.as_str(), form.item_id, value) {
        (Some(decision), _, Some(item_id), _) => {
            let audit = audit(&decision.action(), format!("link:{item_id}:{case_id}"));
            decide_link(&state, item_id, case_id, decision, audit)
                .await
                .map(drop)
        }
        (_, "link", Some(item_id), _) => {
            let audit = audit("link.add", format!("link:{item_id}:{case_id}"));
            add_link(&state, item_id, case_id, audit).await.map(drop)
        }
        (_, "close" | "reopen", _, _) => {
            let (status, action) = if form.decision == "close" {
                (CaseStatus::Closed, "case.close")
            } else {
                (CaseStatus::Open, "case.reopen")
            };
            let audit = audit(action, format!("case:{case_id}"));
            change_status(&state, case_id, status, audit)
                .await
                .map(drop)
        }
        (_, "add_handle" | "add_identifier", _, Some(value)) => {
            let update = if form.decision == "add_handle" {
                CaseUpdate::learning(vec![value], Vec::new())
            } else {
                CaseUpdate::learning(Vec::new(), vec![value])
            };
            change_case(&state, actor, case_id, &update).await.map(drop)
        }
        _ => return fail(StatusCode::BAD_REQUEST, "error-bad-decision"),
    };
    match done {
        Ok(()) => {
            Redirect::to(&format!("{}?done={}", form.back_path(), form.decision)).into_response()
        }
        Err(ApiError::NotFound(_)) => fail(StatusCode::NOT_FOUND, "error-not-found"),
        Err(ApiError::Conflict(_)) => fail(StatusCode::CONFLICT, "error-link-conflict"),
        Err(error) => api_failure(ui, session, error),
    }
}

/// A public item on the case page's timeline.
#[derive(Serialize)]
struct TimelinePost {
    item_id: i64,
    source: String,
    channel: &'static str,
    author: String,
    text_html: Value,
    #[serde(flatten)]
    link: OutsideLink,
    interactions: String,
}

#[derive(Serialize)]
struct TimelineAlert {
    kind: &'static str,
    subject: String,
    status: &'static str,
}

#[derive(Serialize)]
struct TimelineRow {
    at: String,
    state: &'static str,
    post: Option<TimelinePost>,
    alert: Option<TimelineAlert>,
}

#[derive(Serialize)]
struct CasePage<'a> {
    case_id: String,
    stage: &'static str,
    r: Record,
    notes: String,
    chart: Value,
    timeline: Vec<TimelineRow>,
    pairs: Vec<Pair>,
    csrf: Option<&'a str>,
    back: &'static str,
    flash: Option<String>,
    open: bool,
    rejected: Vec<RejectedLink>,
    /// The stored risk of going public, while the case has one.
    risk: Option<RiskView>,
}

/// A rejected link on the case page, which a lead may take back.
#[derive(Serialize)]
struct RejectedLink {
    item_id: i64,
    text: String,
    decided_by: String,
}

#[derive(Deserialize)]
struct Done {
    done: Option<String>,
}

#[derive(Serialize)]
struct RiskView {
    score: String,
    reasons: Vec<String>,
}

async fn case_page(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Path(id): Path<String>,
    Query(done): Query<Done>,
) -> Response {
    let flash = flash(&state.ui, done.done.as_deref());
    case_view(&state, &signed_in.session, id, flash).await
}

async fn case_view(
    state: &AppState,
    session: &Session,
    id: String,
    flash: Option<String>,
) -> Response {
    let ui = &state.ui;
    if check_id(&id).is_err() {
        return failure(
            ui,
            Some(session),
            StatusCode::BAD_REQUEST,
            ui.word("case-id-invalid"),
        );
    }
    let view = async {
        let Some(case) = state.store.case(&id).await? else {
            return Ok(None);
        };
        let record = state
            .store
            .case_evidence(std::slice::from_ref(&id), EvidenceScope::Unrejected)
            .await?
            .remove(&id)
            .unwrap_or_default();
        let alerts: Vec<AlertRow> = state
            .store
            .alerts()
            .await?
            .into_iter()
            .filter(|a| a.case_id.as_deref() == Some(id.as_str()))
            .collect();
        let candidates = state
            .store
            .find_links(&LinkQuery {
                state: Some(LinkState::Candidate),
                case_id: Some(id.clone()),
                limit: QUEUE_SIZE,
                ..LinkQuery::default()
            })
            .await?;
        let confirmed: Vec<_> = record
            .items
            .iter()
            .filter(|i| i.link_state == LinkState::Confirmed)
            .map(|i| (i.item_id, i.sightings.as_slice()))
            .collect();

        // The public timeline: linked posts and the alerts they caused, oldest first; a
        // time that cannot be read sorts last and is said to be unknown.
        let mut timeline: Vec<(Option<DateTime<FixedOffset>>, TimelineRow)> = record
            .items
            .iter()
            .map(|i| {
                let at = i.published_at.unwrap_or(i.first_seen_at);
                let marks = marks_of(&i.link_evidence);
                let text = [i.title.as_deref(), i.body.as_deref()]
                    .into_iter()
                    .flatten()
                    .map(|t| html_to_text(t).into_owned())
                    .collect::<Vec<_>>()
                    .join("\n");
                let latest = i
                    .sightings
                    .last()
                    .map(|s| s.engagement.interactions())
                    .unwrap_or(0);
                let row = TimelineRow {
                    at: ui.when(at),
                    state: i.link_state.as_str(),
                    post: Some(TimelinePost {
                        item_id: i.item_id,
                        source: i.source.clone(),
                        channel: i.channel.as_str(),
                        author: i
                            .author
                            .clone()
                            .unwrap_or_else(|| ui.word("author-unknown")),
                        text_html: quote(&text, &marks),
                        link: outside_link(i.url.as_deref()),
                        interactions: ui.number(latest),
                    }),
                    alert: None,
                };
                (Some(at), row)
            })
            .collect();
        for alert in &alerts {
            let at = DateTime::parse_from_rfc3339(&alert.created_at).ok();
            timeline.push((
                at,
                TimelineRow {
                    at: ui.when_known(at),
                    state: "alert",
                    post: None,
                    alert: Some(TimelineAlert {
                        kind: alert.kind.as_str(),
                        subject: alert.subject.clone(),
                        status: alert.status.as_str(),
                    }),
                },
            ));
        }
        timeline.sort_by_key(|(at, _)| (at.is_none(), *at));
        Ok::<_, ApiError>(Some(CasePage {
            case_id: case.id.clone(),
            stage: record.stage.map_or("none", |s| s.as_str()),
            r: case_record(ui, &case, &[]),
            notes: case.notes.clone(),
            chart: engagement_chart(ui, &confirmed),
            timeline: timeline.into_iter().map(|(_, row)| row).collect(),
            pairs: link_pairs(state, &candidates).await?,
            csrf: may_decide(session).then_some(session.csrf.as_str()),
            back: "case",
            flash,
            open: case.is_open(),
            rejected: rejected_links(state, &id).await?,
            risk: state
                .store
                .case_risks(Some(&id))
                .await?
                .pop()
                .map(|r| RiskView {
                    score: facts::score(r.risk.score),
                    reasons: r
                        .risk
                        .reasons
                        .iter()
                        .map(|reason| facts::risk_reason(ui, reason))
                        .collect(),
                }),
        }))
    }
    .await;
    match view {
        Ok(Some(view)) => page(
            ui,
            "case.html",
            &ui.t("case-title", Args::new().with("case", id.clone())),
            Some(session),
            view,
        ),
        Ok(None) => failure(
            ui,
            Some(session),
            StatusCode::NOT_FOUND,
            ui.t("error-no-case", Args::new().with("case", id)),
        ),
        Err(error) => api_failure(ui, session, error),
    }
}

/// The posts of `links`, by id.
async fn items_of(state: &AppState, links: &[LinkRow]) -> Result<HashMap<i64, ItemRow>, ApiError> {
    Ok(state
        .store
        .find_items(&ItemQuery {
            ids: links.iter().map(|l| l.item_id).collect(),
            limit: QUEUE_SIZE,
            ..ItemQuery::default()
        })
        .await?
        .into_iter()
        .map(|i| (i.id, i))
        .collect())
}

async fn rejected_links(state: &AppState, case_id: &str) -> Result<Vec<RejectedLink>, ApiError> {
    let links = state
        .store
        .find_links(&LinkQuery {
            state: Some(LinkState::Rejected),
            case_id: Some(case_id.to_string()),
            limit: QUEUE_SIZE,
            ..LinkQuery::default()
        })
        .await?;
    let items = items_of(state, &links).await?;
    Ok(links
        .iter()
        .map(|l| RejectedLink {
            item_id: l.item_id,
            text: items.get(&l.item_id).map_or_else(String::new, |i| {
                clip(
                    &html_to_text(i.body.as_deref().or(i.title.as_deref()).unwrap_or_default()),
                    120,
                )
            }),
            decided_by: l.decided_by.clone().unwrap_or_default(),
        })
        .collect())
}

#[derive(Serialize)]
struct AlertCount {
    kind: &'static str,
    count: String,
}

#[derive(Serialize)]
struct OpenCase {
    id: String,
    href: String,
    stage: &'static str,
    linked: usize,
    summary_html: Value,
}

#[derive(Serialize)]
struct BrandRow {
    name: String,
    query: String,
    open: String,
    closed: String,
    candidates: String,
    confirmed: String,
    mentions: String,
    unlinked: String,
    alerts: Vec<AlertCount>,
    cases: Vec<OpenCase>,
}

#[derive(Serialize)]
struct Brands {
    days: i64,
    unlinked_days: i64,
    brands: Vec<BrandRow>,
}

async fn brands(State(state): State<AppState>, signed_in: SignedIn) -> Response {
    let session = &signed_in.session;
    let ui = &state.ui;
    let count = |n: usize| ui.number(n as i64);
    let rows = async {
        let cases = state.store.cases(None).await?;
        let alerts = state.store.alerts().await?;
        let mut names: BTreeSet<String> = state.brands.iter().cloned().collect();
        names.extend(cases.iter().map(|c| c.brand.clone()));
        let since = Utc::now() - chrono::Duration::days(OVERVIEW_DAYS);
        let unlinked = workbench::unlinked_complaints(
            &state,
            Utc::now() - chrono::Duration::days(workbench::UNLINKED_DAYS),
            None,
        )
        .await?;
        let mut rows = Vec::new();
        for brand in &names {
            let links = state
                .store
                .find_links(&LinkQuery {
                    brand: Some(brand.clone()),
                    limit: i64::MAX,
                    ..LinkQuery::default()
                })
                .await?;
            let in_state = |s: LinkState| links.iter().filter(|l| l.state == s).count();
            let mentions = state
                .store
                .find_items(&ItemQuery {
                    brand: Some(brand.clone()),
                    since: Some(since),
                    limit: i64::MAX,
                    ..ItemQuery::default()
                })
                .await?
                .len();
            let brand_alerts: Vec<&AlertRow> =
                alerts.iter().filter(|a| &a.brand == brand).collect();
            let by_kind = [
                AlertKind::Surfaced,
                AlertKind::Spreading,
                AlertKind::Viral,
                AlertKind::Unlinked,
            ]
            .iter()
            .map(|k| AlertCount {
                kind: k.as_str(),
                count: count(brand_alerts.iter().filter(|a| a.kind == *k).count()),
            })
            .collect();
            let mut open: Vec<&Case> = cases
                .iter()
                .filter(|c| &c.brand == brand && c.is_open())
                .collect();
            open.sort_by(|a, b| natural_order(&a.id, &b.id));
            let closed = cases
                .iter()
                .filter(|c| &c.brand == brand && c.status == CaseStatus::Closed)
                .count();
            let open_cases = open
                .iter()
                .map(|case| {
                    let stage = brand_alerts
                        .iter()
                        .filter(|a| {
                            a.case_id.as_deref() == Some(case.id.as_str())
                                && a.kind != AlertKind::Unlinked
                        })
                        .map(|a| a.kind)
                        .max_by_key(|k| match k {
                            AlertKind::Surfaced => 1,
                            AlertKind::Spreading => 2,
                            AlertKind::Viral => 3,
                            AlertKind::Unlinked
                            | AlertKind::Digest
                            | AlertKind::AtRisk
                            | AlertKind::SourceDown
                            | AlertKind::SourceUp => 0,
                        })
                        .map_or("none", |k| k.as_str());
                    OpenCase {
                        id: case.id.clone(),
                        href: path_segment(&case.id),
                        stage,
                        linked: links
                            .iter()
                            .filter(|l| l.case_id == case.id && l.state != LinkState::Rejected)
                            .count(),
                        summary_html: quote(&case.summary, &[]),
                    }
                })
                .collect();
            rows.push(BrandRow {
                name: brand.clone(),
                query: path_segment(brand),
                open: count(open.len()),
                closed: count(closed),
                candidates: count(in_state(LinkState::Candidate)),
                confirmed: count(in_state(LinkState::Confirmed)),
                mentions: count(mentions),
                unlinked: count(unlinked.iter().filter(|u| &u.brand == brand).count()),
                alerts: by_kind,
                cases: open_cases,
            });
        }
        Ok::<_, ApiError>(rows)
    }
    .await;
    match rows {
        Ok(brands) => page(
            ui,
            "brands.html",
            &ui.word("nav-brands"),
            Some(session),
            Brands {
                days: OVERVIEW_DAYS,
                unlinked_days: workbench::UNLINKED_DAYS,
                brands,
            },
        ),
        Err(error) => api_failure(ui, session, error),
    }
}

#[derive(Serialize)]
struct SourceRow {
    name: String,
    health: &'static str,
    failures: String,
    items: String,
    last_success: String,
    last_poll: String,
    since: String,
    last_error: String,
}

#[derive(Serialize)]
struct Sources {
    sources: Vec<SourceRow>,
}

/// Every polled source's health, as `outcry sources` prints it: operator mails link here.
async fn sources(State(state): State<AppState>, signed_in: SignedIn) -> Response {
    let session = &signed_in.session;
    let ui = &state.ui;
    let when =
        |t: Option<DateTime<Utc>>| t.map_or_else(|| "-".to_string(), |t| ui.when(t.fixed_offset()));
    match state.store.source_states().await {
        Ok(states) => {
            let sources = states
                .into_iter()
                .map(|s| SourceRow {
                    health: s.health.as_str(),
                    failures: ui.number(s.consecutive_failures),
                    items: ui.number(s.items_seen),
                    last_success: when(s.last_success_at),
                    last_poll: when(s.last_poll_at),
                    since: when(s.failing_since),
                    last_error: s
                        .last_error
                        .as_deref()
                        .map_or_else(|| "-".into(), |e| clip(e, 300)),
                    name: s.name,
                })
                .collect();
            page(
                ui,
                "sources.html",
                &ui.word("nav-sources"),
                Some(session),
                Sources { sources },
            )
        }
        Err(error) => api_failure(ui, session, ApiError::Store(error)),
    }
}
