//! The JSON API under /api/v1. Every route but the description wants a bearer token; reads
//! need the viewer role, case and link writes the lead role, alert resends the operator
//! role. Every write is committed together with its audit row.

use super::auth::Principal;
use super::client::Client;
use super::{AppState, Refusal};
use crate::alert::render::{mask_email, mask_phone};
use crate::cases;
use crate::config::Role;
use crate::model::{Case, CaseStatus, LinkEvidence};
use crate::pipeline::{Decision, Event, ReviewError};
use crate::present::{facts, Args};
use crate::risk::RiskReason;
use crate::store::{
    AlertRow, AlertStatus, AuditEntry, AuditRow, Batch, EvidenceScope, ItemQuery, ItemRow,
    LinkQuery, LinkRow, LinkState, StoreError, MAX_QUERY_IDS,
};
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::{DateTime, FixedOffset, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::HashMap;
use tracing::error;

/// Rows a list returns unless asked for fewer.
const DEFAULT_LIMIT: i64 = 100;
const MAX_LIMIT: i64 = 1000;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/cases", get(list_cases).post(create_case))
        .route("/api/v1/cases/import", post(import_cases))
        .route("/api/v1/cases/{id}", get(get_case).patch(update_case))
        .route("/api/v1/cases/{id}/close", post(close_case))
        .route("/api/v1/cases/{id}/reopen", post(reopen_case))
        .route("/api/v1/links", get(list_links).post(link_by_hand))
        .route(
            "/api/v1/links/{item_id}/{case_id}/confirm",
            post(|s: State<AppState>, c: Caller, p: LinkPath| decide(s, c, p, Decision::Confirm)),
        )
        .route(
            "/api/v1/links/{item_id}/{case_id}/reject",
            post(|s: State<AppState>, c: Caller, p: LinkPath| decide(s, c, p, Decision::Reject)),
        )
        .route(
            "/api/v1/links/{item_id}/{case_id}/unreject",
            post(|s: State<AppState>, c: Caller, p: LinkPath| decide(s, c, p, Decision::Unreject)),
        )
        .route(
            "/api/v1/links/{item_id}/{case_id}/unlink",
            post(|s: State<AppState>, c: Caller, p: LinkPath| decide(s, c, p, Decision::Unlink)),
        )
        .route("/api/v1/items", get(list_items))
        .route("/api/v1/alerts", get(list_alerts))
        .route("/api/v1/alerts/{id}/resend", post(resend_alert))
        .route("/api/v1/audit", get(list_audit))
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("a bearer token is required")]
    Unauthenticated,
    #[error("too many failed sign-ins; try again in {0} s")]
    TooManyFailures(u64),
    #[error("the {0} role is required")]
    Forbidden(&'static str),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    BadRequest(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Review(ReviewError),
}

impl From<ReviewError> for ApiError {
    fn from(e: ReviewError) -> Self {
        match e {
            ReviewError::NoSuchLink { .. }
            | ReviewError::NoSuchCase(_)
            | ReviewError::NoSuchItem(_) => ApiError::NotFound(e.to_string()),
            ReviewError::WrongState { .. } | ReviewError::CaseClosed(_) => {
                ApiError::Conflict(e.to_string())
            }
            ReviewError::Pipeline(_) => ApiError::Review(e),
        }
    }
}

impl From<JsonRejection> for ApiError {
    fn from(e: JsonRejection) -> Self {
        ApiError::BadRequest(e.body_text())
    }
}

impl From<QueryRejection> for ApiError {
    fn from(e: QueryRejection) -> Self {
        ApiError::BadRequest(e.body_text())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = match &self {
            ApiError::Unauthenticated => StatusCode::UNAUTHORIZED,
            ApiError::TooManyFailures(_) => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Store(_) | ApiError::Review(_) => {
                error!(error = %self, "api request failed");
                StatusCode::INTERNAL_SERVER_ERROR
            }
        };
        let words = ErrorWords {
            error: self.to_string(),
            key: match &self {
                ApiError::Unauthenticated => "api-unauthenticated",
                ApiError::TooManyFailures(_) => "api-too-many-failures",
                ApiError::Forbidden(_) => "api-forbidden",
                ApiError::NotFound(_) => "api-not-found",
                ApiError::Conflict(_) => "api-conflict",
                ApiError::BadRequest(_) => "api-bad-request",
                ApiError::Store(_) | ApiError::Review(_) => "api-internal",
            },
            role: match &self {
                ApiError::Forbidden(role) => Some(role),
                _ => None,
            },
        };
        let body = Json(json!({ "error": words.error }));
        let mut response = if status == StatusCode::UNAUTHORIZED {
            (status, [(header::WWW_AUTHENTICATE, "Bearer")], body).into_response()
        } else if let ApiError::TooManyFailures(seconds) = self {
            (status, [(header::RETRY_AFTER, seconds.to_string())], body).into_response()
        } else {
            (status, body).into_response()
        };
        response.extensions_mut().insert(words);
        response
    }
}

/// An error's detail and what to tell people about it, worded by [`with_message`] in
/// `[ui] language` (the error type has no access to the configuration).
#[derive(Debug, Clone)]
pub struct ErrorWords {
    error: String,
    key: &'static str,
    role: Option<&'static str>,
}

/// Gives every API error a `message` for people, in `[ui] language`, beside its `error`
/// detail.
pub async fn with_message(State(state): State<AppState>, response: Response) -> Response {
    let Some(words) = response.extensions().get::<ErrorWords>().cloned() else {
        return response;
    };
    let ui = &state.ui;
    let args = match words.role {
        Some(role) => Args::new().with("role", ui.t("role", Args::new().with("role", role))),
        None => Args::new(),
    };
    let (mut parts, _) = response.into_parts();
    let body = json!({ "error": words.error, "message": ui.t(words.key, args) }).to_string();
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, axum::body::Body::from(body))
}

/// The holder of the request's bearer token.
pub struct Caller(pub Principal);

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let secret = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .ok_or(ApiError::Unauthenticated)?;
        let client = Client::of(parts, state);
        match state.check_token(&client, secret, "api") {
            Ok(principal) => Ok(Caller(principal)),
            Err(Refusal::Unknown) => Err(ApiError::Unauthenticated),
            Err(Refusal::Throttled(seconds)) => Err(ApiError::TooManyFailures(seconds)),
        }
    }
}

impl Caller {
    fn require(&self, role: Role) -> Result<&Principal, ApiError> {
        if self.0.may(role) {
            Ok(&self.0)
        } else {
            Err(ApiError::Forbidden(role.as_str()))
        }
    }

    fn audit(&self, action: &str, target: String, detail: Value) -> AuditEntry {
        audit_entry(&self.0.name, action, target, detail)
    }
}

/// An audit row for a write `actor` asks for now.
pub(super) fn audit_entry(actor: &str, action: &str, target: String, detail: Value) -> AuditEntry {
    AuditEntry {
        actor: actor.to_string(),
        action: action.to_string(),
        target,
        detail,
        at: Utc::now(),
    }
}

/// A case id from a path: one that could never have been stored is a bad request.
fn case_id_of(id: &str) -> Result<(), ApiError> {
    cases::check_id(id).map_err(ApiError::BadRequest)
}

fn limit(asked: Option<i64>) -> i64 {
    asked.unwrap_or(DEFAULT_LIMIT).clamp(1, MAX_LIMIT)
}

type ApiResult = Result<Response, ApiError>;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CaseFilter {
    status: Option<CaseStatus>,
    brand: Option<String>,
    /// A substring of the id, summary, demand or notes.
    q: Option<String>,
    /// `risk`: riskiest first (cases without a risk last); by id otherwise.
    sort: Option<CaseSort>,
}

#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(rename_all = "lowercase")]
enum CaseSort {
    Risk,
}

/// A case object as the API shows it: the record with its stored risk of going public.
#[derive(Debug, Serialize)]
struct CaseWithRisk {
    #[serde(flatten)]
    case: Case,
    risk: Option<f64>,
    risk_reasons: Vec<RiskReason>,
}

/// The case as the caller may see it: viewers get the complainant's phone and e-mail masked,
/// as the pages and alert mails show them; leads and operators work with them whole.
fn for_caller(caller: &Caller, mut case: Case) -> Case {
    if !caller.0.may(Role::Lead) {
        let c = &mut case.complainant;
        c.phone = c.phone.as_deref().map(mask_phone);
        c.email = c.email.as_deref().map(mask_email);
    }
    case
}

async fn with_risks(state: &AppState, cases: Vec<Case>) -> Result<Vec<CaseWithRisk>, ApiError> {
    let mut risks: HashMap<String, crate::risk::Risk> = state
        .store
        .case_risks(None)
        .await?
        .into_iter()
        .map(|r| (r.case_id, r.risk))
        .collect();
    Ok(cases
        .into_iter()
        .map(|case| {
            let risk = risks.remove(&case.id);
            CaseWithRisk {
                risk: risk.as_ref().map(|r| r.score),
                risk_reasons: risk.map(|r| r.reasons).unwrap_or_default(),
                case,
            }
        })
        .collect())
}

async fn list_cases(
    State(state): State<AppState>,
    caller: Caller,
    query: Result<Query<CaseFilter>, QueryRejection>,
) -> ApiResult {
    caller.require(Role::Viewer)?;
    let Query(filter) = query?;
    let cases: Vec<Case> = state
        .store
        .cases(filter.status)
        .await?
        .into_iter()
        .filter(|c| filter.brand.as_ref().is_none_or(|b| &c.brand == b))
        .filter(|c| {
            filter.q.as_ref().is_none_or(|q| {
                [&c.id, &c.summary, &c.demand, &c.notes]
                    .iter()
                    .any(|text| text.contains(q.as_str()))
            })
        })
        .map(|c| for_caller(&caller, c))
        .collect();
    let mut cases = with_risks(&state, cases).await?;
    if filter.sort == Some(CaseSort::Risk) {
        let score = |c: &CaseWithRisk| c.risk.unwrap_or(-1.0);
        cases.sort_by(|a, b| score(b).total_cmp(&score(a)));
    }
    Ok(Json(cases).into_response())
}

async fn get_case(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult {
    caller.require(Role::Viewer)?;
    case_id_of(&id)?;
    let case = state
        .store
        .case(&id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no case has id {id}")))?;
    let evidence = state
        .store
        .case_evidence(std::slice::from_ref(&id), EvidenceScope::Unrejected)
        .await?;
    let stage = evidence.get(&id).and_then(|e| e.stage);
    let case = with_risks(&state, vec![for_caller(&caller, case)])
        .await?
        .pop();
    Ok(Json(json!({ "case": case, "stage": stage })).into_response())
}

async fn create_case(
    State(state): State<AppState>,
    caller: Caller,
    body: Result<Json<Case>, JsonRejection>,
) -> ApiResult {
    caller.require(Role::Lead)?;
    let Json(case) = body?;
    cases::check(&case).map_err(ApiError::BadRequest)?;
    if state.store.case(&case.id).await?.is_some() {
        return Err(ApiError::Conflict(format!(
            "case {} exists; PATCH /api/v1/cases/{} updates it",
            case.id, case.id
        )));
    }
    let audit = caller.audit("case.create", format!("case:{}", case.id), json!({}));
    write_cases(&state, vec![case.clone()], audit).await?;
    Ok((StatusCode::CREATED, Json(case)).into_response())
}

/// Changes to a case; fields left out stay as they are.
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(super) struct CaseUpdate {
    summary: Option<String>,
    demand: Option<String>,
    notes: Option<String>,
    severity: Option<String>,
    channel: Option<String>,
    /// `platform:handle` pairs the complainant is known by.
    #[serde(default)]
    add_handles: Vec<String>,
    #[serde(default)]
    remove_handles: Vec<String>,
    /// `kind:value` pairs (order numbers, VINs, plates).
    #[serde(default)]
    add_identifiers: Vec<String>,
    #[serde(default)]
    remove_identifiers: Vec<String>,
}

impl CaseUpdate {
    /// Teaches the case a handle or identifier (the pages' forms), changing nothing else.
    pub(super) fn learning(handles: Vec<String>, identifiers: Vec<String>) -> CaseUpdate {
        CaseUpdate {
            add_handles: handles,
            add_identifiers: identifiers,
            ..CaseUpdate::default()
        }
    }
}

fn add_all(list: &mut Vec<String>, added: &[String]) -> bool {
    let mut grew = false;
    for value in added.iter().map(|v| v.trim()).filter(|v| !v.is_empty()) {
        if !list.iter().any(|v| v == value) {
            list.push(value.to_string());
            grew = true;
        }
    }
    grew
}

async fn update_case(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    body: Result<Json<CaseUpdate>, JsonRejection>,
) -> ApiResult {
    caller.require(Role::Lead)?;
    case_id_of(&id)?;
    let Json(update) = body?;
    let (case, events) = change_case(&state, &caller.0.name, &id, &update).await?;
    Ok(Json(json!({ "case": case, "relinked": events })).into_response())
}

/// Changes a case with its audit row, shared by the API and the pages; a handle or
/// identifier it learns links the recent posts again.
pub(super) async fn change_case(
    state: &AppState,
    actor: &str,
    id: &str,
    update: &CaseUpdate,
) -> Result<(Case, Vec<Event>), ApiError> {
    let mut case = state
        .store
        .case(id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no case has id {id}")))?;
    for (field, value) in [
        (&mut case.summary, &update.summary),
        (&mut case.demand, &update.demand),
        (&mut case.notes, &update.notes),
    ] {
        if let Some(value) = value {
            value.clone_into(field);
        }
    }
    if update.severity.is_some() {
        case.severity.clone_from(&update.severity);
    }
    if update.channel.is_some() {
        case.channel.clone_from(&update.channel);
    }
    case.complainant
        .handles
        .retain(|h| !update.remove_handles.contains(h));
    case.identifiers
        .retain(|i| !update.remove_identifiers.contains(i));
    let learned = add_all(&mut case.complainant.handles, &update.add_handles)
        | add_all(&mut case.identifiers, &update.add_identifiers);
    let detail = serde_json::to_value(update).unwrap_or(Value::Null);
    let audit = audit_entry(actor, "case.update", format!("case:{id}"), detail);
    write_cases(state, vec![case.clone()], audit).await?;
    let events = if learned {
        relink(state, actor, id).await?
    } else {
        Vec::new()
    };
    Ok((case, events))
}

async fn close_case(state: State<AppState>, caller: Caller, id: Path<String>) -> ApiResult {
    set_status(state, caller, id, CaseStatus::Closed).await
}

async fn reopen_case(state: State<AppState>, caller: Caller, id: Path<String>) -> ApiResult {
    set_status(state, caller, id, CaseStatus::Open).await
}

async fn set_status(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    status: CaseStatus,
) -> ApiResult {
    caller.require(Role::Lead)?;
    case_id_of(&id)?;
    let action = match status {
        CaseStatus::Closed => "case.close",
        CaseStatus::Open => "case.reopen",
    };
    let audit = caller.audit(action, format!("case:{id}"), json!({}));
    let case = change_status(&state, &id, status, audit).await?;
    Ok(Json(case).into_response())
}

/// Closes or reopens a case with its audit row, shared by the API and the pages. A closed
/// case is no longer linked to and its pending alerts are cancelled; a reopened one links
/// and alerts again.
pub(super) async fn change_status(
    state: &AppState,
    id: &str,
    status: CaseStatus,
    audit: AuditEntry,
) -> Result<Case, ApiError> {
    let mut case = state
        .store
        .case(id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no case has id {id}")))?;
    case.status = status;
    write_cases(state, vec![case.clone()], audit).await?;
    Ok(case)
}

/// cases.jsonl in the body. Good lines are written (all in one transaction), bad ones are
/// reported by number; cases that gained a handle or identifier are linked again.
async fn import_cases(State(state): State<AppState>, caller: Caller, body: String) -> ApiResult {
    caller.require(Role::Lead)?;
    let (good, problems) = cases::parse(&body);
    let mut learned = Vec::new();
    for (_, case) in &good {
        if let Some(before) = state.store.case(&case.id).await? {
            let grew =
                |after: &[String], before: &[String]| after.iter().any(|v| !before.contains(v));
            if grew(&case.complainant.handles, &before.complainant.handles)
                || grew(&case.identifiers, &before.identifiers)
            {
                learned.push(case.id.clone());
            }
        }
    }
    let ids: Vec<&str> = good.iter().map(|(_, c)| c.id.as_str()).collect();
    let audit = caller.audit(
        "case.import",
        format!("cases:{}", good.len()),
        json!({ "ids": ids, "bad_lines": problems.iter().map(|p| p.line).collect::<Vec<_>>() }),
    );
    let imported = good.len();
    if imported > 0 {
        write_cases(&state, good.into_iter().map(|(_, c)| c).collect(), audit).await?;
    }
    let mut relinked = Vec::new();
    for id in learned {
        relinked.extend(relink(&state, &caller.0.name, &id).await?);
    }
    let problems: Vec<Value> = problems
        .iter()
        .map(|p| json!({ "line": p.line, "message": p.message }))
        .collect();
    Ok(
        Json(json!({ "imported": imported, "problems": problems, "relinked": relinked }))
            .into_response(),
    )
}

async fn write_cases(
    state: &AppState,
    cases: Vec<Case>,
    audit: AuditEntry,
) -> Result<(), ApiError> {
    let at = audit.at;
    state
        .store
        .commit(&Batch {
            cases: cases.into_iter().map(|c| (c, at)).collect(),
            audit: vec![audit],
            ..Batch::default()
        })
        .await?;
    Ok(())
}

async fn relink(state: &AppState, actor: &str, case_id: &str) -> Result<Vec<Event>, ApiError> {
    let window = chrono::Duration::from_std(state.review.relink_window)
        .unwrap_or(chrono::Duration::days(14));
    let audit = audit_entry(
        actor,
        "case.relink",
        format!("case:{case_id}"),
        json!({ "window_seconds": window.num_seconds() }),
    );
    let since = audit.at - window;
    let events = state
        .poller
        .pipeline
        .lock()
        .await
        .relink_recent(case_id, since, audit)
        .await?;
    state.decided(&events);
    Ok(events)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct LinkFilter {
    state: Option<String>,
    case: Option<String>,
    brand: Option<String>,
    item: Option<i64>,
    limit: Option<i64>,
}

/// A link with the post it links, for review.
#[derive(Debug, Serialize)]
struct LinkView {
    item_id: i64,
    case_id: String,
    state: &'static str,
    score: f64,
    /// The evidence as facts (`kind` and its values)…
    evidence: Vec<LinkEvidence>,
    /// …and in words, in `[ui] language`.
    evidence_text: Vec<String>,
    created_at: String,
    decided_by: Option<String>,
    decided_at: Option<String>,
    item: Option<ItemView>,
}

#[derive(Debug, Serialize)]
struct ItemView {
    id: i64,
    source: String,
    guid: String,
    channel: &'static str,
    url: Option<String>,
    title: Option<String>,
    body: Option<String>,
    author: Option<String>,
    brand: String,
    published_at: Option<DateTime<FixedOffset>>,
    first_seen_at: DateTime<FixedOffset>,
    links: Vec<Value>,
}

impl From<ItemRow> for ItemView {
    fn from(i: ItemRow) -> Self {
        ItemView {
            id: i.id,
            source: i.source,
            guid: i.guid,
            channel: i.channel.as_str(),
            url: i.url,
            title: i.title,
            body: i.body,
            author: i.author,
            brand: i.brand,
            published_at: i.published_at,
            first_seen_at: i.first_seen_at,
            links: i
                .links
                .into_iter()
                .map(|(case, state)| json!({ "case_id": case, "state": state.as_str() }))
                .collect(),
        }
    }
}

async fn list_links(
    State(state): State<AppState>,
    caller: Caller,
    query: Result<Query<LinkFilter>, QueryRejection>,
) -> ApiResult {
    caller.require(Role::Viewer)?;
    let Query(filter) = query?;
    let link_state = filter
        .state
        .as_deref()
        .map(|s| {
            LinkState::parse(s).ok_or_else(|| {
                ApiError::BadRequest(format!(
                    "state `{s}` is not one of candidate, confirmed, rejected"
                ))
            })
        })
        .transpose()?;
    let links = state
        .store
        .find_links(&LinkQuery {
            state: link_state,
            case_id: filter.case,
            item_id: filter.item,
            brand: filter.brand,
            limit: limit(filter.limit),
        })
        .await?;
    Ok(Json(with_items(&state, links).await?).into_response())
}

async fn with_items(state: &AppState, links: Vec<LinkRow>) -> Result<Vec<LinkView>, ApiError> {
    let mut ids: Vec<i64> = links.iter().map(|l| l.item_id).collect();
    ids.sort_unstable();
    ids.dedup();
    let mut items: HashMap<i64, ItemRow> = HashMap::new();
    for chunk in ids.chunks(MAX_QUERY_IDS) {
        for item in state
            .store
            .find_items(&ItemQuery {
                ids: chunk.to_vec(),
                limit: MAX_LIMIT,
                ..ItemQuery::default()
            })
            .await?
        {
            items.insert(item.id, item);
        }
    }
    Ok(links
        .into_iter()
        .map(|l| LinkView {
            item: items.get(&l.item_id).cloned().map(ItemView::from),
            item_id: l.item_id,
            case_id: l.case_id,
            state: l.state.as_str(),
            score: l.score,
            evidence_text: l
                .evidence
                .iter()
                .map(|e| facts::link_evidence(&state.ui, e))
                .collect(),
            evidence: l.evidence,
            created_at: l.created_at,
            decided_by: l.decided_by,
            decided_at: l.decided_at,
        })
        .collect())
}

type LinkPath = Path<(i64, String)>;

async fn decide(
    State(state): State<AppState>,
    caller: Caller,
    Path((item_id, case_id)): LinkPath,
    decision: Decision,
) -> ApiResult {
    caller.require(Role::Lead)?;
    case_id_of(&case_id)?;
    let audit = caller.audit(
        &decision.action(),
        format!("link:{item_id}:{case_id}"),
        json!({}),
    );
    let events = decide_link(&state, item_id, &case_id, decision, audit).await?;
    link_answer(&state, item_id, case_id, events).await
}

/// A post to link to a case by hand.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct HandLink {
    item_id: i64,
    case_id: String,
}

async fn link_by_hand(
    State(state): State<AppState>,
    caller: Caller,
    body: Result<Json<HandLink>, JsonRejection>,
) -> ApiResult {
    caller.require(Role::Lead)?;
    let Json(HandLink { item_id, case_id }) = body?;
    case_id_of(&case_id)?;
    let audit = caller.audit("link.add", format!("link:{item_id}:{case_id}"), json!({}));
    let events = add_link(&state, item_id, &case_id, audit).await?;
    link_answer(&state, item_id, case_id, events).await
}

/// The link as it is now and what deciding it caused.
async fn link_answer(
    state: &AppState,
    item_id: i64,
    case_id: String,
    events: Vec<Event>,
) -> ApiResult {
    let link = state
        .store
        .find_links(&LinkQuery {
            item_id: Some(item_id),
            case_id: Some(case_id),
            limit: 1,
            ..LinkQuery::default()
        })
        .await?;
    let link = with_items(state, link).await?.pop();
    Ok(Json(json!({ "link": link, "events": events })).into_response())
}

/// A lead's link by hand through the pipeline, shared by the API and the pages.
pub(super) async fn add_link(
    state: &AppState,
    item_id: i64,
    case_id: &str,
    audit: AuditEntry,
) -> Result<Vec<Event>, ApiError> {
    let events = state
        .poller
        .pipeline
        .lock()
        .await
        .link_by_hand(item_id, case_id, audit)
        .await?;
    state.decided(&events);
    Ok(events)
}

/// A lead's decision through the pipeline, shared by the API and the pages.
pub(super) async fn decide_link(
    state: &AppState,
    item_id: i64,
    case_id: &str,
    decision: Decision,
    audit: AuditEntry,
) -> Result<Vec<Event>, ApiError> {
    let events = state
        .poller
        .pipeline
        .lock()
        .await
        .decide_link(item_id, case_id, decision, audit)
        .await?;
    state.decided(&events);
    Ok(events)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ItemFilter {
    brand: Option<String>,
    case: Option<String>,
    /// A substring of the title, body or author.
    q: Option<String>,
    /// First seen at or after (RFC 3339).
    since: Option<DateTime<FixedOffset>>,
    /// First seen before (RFC 3339).
    until: Option<DateTime<FixedOffset>>,
    limit: Option<i64>,
}

async fn list_items(
    State(state): State<AppState>,
    caller: Caller,
    query: Result<Query<ItemFilter>, QueryRejection>,
) -> ApiResult {
    caller.require(Role::Viewer)?;
    let Query(filter) = query?;
    let items = state
        .store
        .find_items(&ItemQuery {
            ids: Vec::new(),
            brand: filter.brand,
            case_id: filter.case,
            text: filter.q.filter(|q| !q.is_empty()),
            since: filter.since.map(|t| t.with_timezone(&Utc)),
            until: filter.until.map(|t| t.with_timezone(&Utc)),
            limit: limit(filter.limit),
        })
        .await?;
    let items: Vec<ItemView> = items.into_iter().map(ItemView::from).collect();
    Ok(Json(items).into_response())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AlertFilter {
    status: Option<String>,
    case: Option<String>,
    limit: Option<i64>,
}

fn alert_json(a: &AlertRow) -> Value {
    json!({
        "id": a.id,
        "stage": a.kind.as_str(),
        "case_id": a.case_id,
        "brand": a.brand,
        "subject": a.subject,
        "status": a.status.as_str(),
        "attempts": a.attempts,
        "last_error": a.last_error,
        "created_at": a.created_at,
        "sent_at": a.sent_at,
    })
}

async fn list_alerts(
    State(state): State<AppState>,
    caller: Caller,
    query: Result<Query<AlertFilter>, QueryRejection>,
) -> ApiResult {
    caller.require(Role::Viewer)?;
    let Query(filter) = query?;
    let status = filter
        .status
        .as_deref()
        .map(|s| {
            AlertStatus::parse(s).ok_or_else(|| {
                ApiError::BadRequest(format!(
                    "status `{s}` is not one of pending, sent, cancelled"
                ))
            })
        })
        .transpose()?;
    let alerts: Vec<Value> = state
        .store
        .alerts()
        .await?
        .iter()
        .rev()
        .filter(|a| status.is_none_or(|s| a.status == s))
        .filter(|a| filter.case.is_none() || a.case_id == filter.case)
        .take(limit(filter.limit) as usize)
        .map(alert_json)
        .collect();
    Ok(Json(alerts).into_response())
}

async fn resend_alert(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
) -> ApiResult {
    caller.require(Role::Operator)?;
    let alerts = state.store.alerts().await?;
    let alert = alerts
        .iter()
        .find(|a| a.id == id)
        .ok_or_else(|| ApiError::NotFound(format!("no alert has id {id}")))?;
    let audit = caller.audit(
        "alert.resend",
        format!("alert:{id}"),
        json!({ "was": alert.status.as_str() }),
    );
    let at = audit.at;
    state
        .store
        .commit(&Batch {
            alert_resends: vec![(id, at)],
            audit: vec![audit],
            ..Batch::default()
        })
        .await?;
    state.poller.alert_queued.notify_one();
    let mut resent = alert.clone();
    resent.status = AlertStatus::Pending;
    Ok(Json(alert_json(&resent)).into_response())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AuditFilter {
    limit: Option<i64>,
}

async fn list_audit(
    State(state): State<AppState>,
    caller: Caller,
    query: Result<Query<AuditFilter>, QueryRejection>,
) -> ApiResult {
    caller.require(Role::Operator)?;
    let Query(filter) = query?;
    let rows: Vec<Value> = state
        .store
        .audit_log(limit(filter.limit))
        .await?
        .into_iter()
        .map(|AuditRow { id, entry }| {
            json!({
                "id": id,
                "at": entry.at.to_rfc3339(),
                "actor": entry.actor,
                "action": entry.action,
                "target": entry.target,
                "detail": entry.detail,
            })
        })
        .collect();
    Ok(Json(rows).into_response())
}
