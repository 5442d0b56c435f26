//! Server-rendered pages for complaint leads: sign in with a token, the review queue, a case
//! page and the brand overview. Everything works without JavaScript; every form carries the
//! session's CSRF token and the session cookie is SameSite=Strict.

use super::api::{decide_link, ApiError};
use super::auth::{cookie, Session, SESSION_COOKIE};
use super::html::{
    csrf_field, e, engagement_chart, evidence_marks, may_decide, outside_link, page, quote,
};
use super::AppState;
use crate::alert::render::mask_phone;
use crate::config::Role;
use crate::model::{AlertKind, Case, CaseStatus};
use crate::normalize::html_to_text;
use crate::store::{
    AlertRow, AuditEntry, EvidenceScope, ItemQuery, ItemRow, LinkQuery, LinkRow, LinkState,
};
use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use chrono::Utc;
use serde::Deserialize;
use std::collections::{BTreeSet, HashMap};
use std::fmt::Write;

/// Candidate links the queue shows at once.
const QUEUE_SIZE: i64 = 100;
/// The overview counts items first seen this many days back.
const OVERVIEW_DAYS: i64 = 7;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(|| async { Redirect::to("/review") }))
        .route("/login", get(login_form).post(login))
        .route("/logout", post(logout))
        .route("/review", get(review_queue))
        .route("/review/decide", post(decide))
        .route("/cases/{id}", get(case_page))
        .route("/brands", get(brands))
}

/// A signed-in browser; anyone else is sent to the sign-in page.
struct SignedIn {
    id: String,
    session: Session,
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

fn failure(session: Option<&Session>, status: StatusCode, message: &str) -> Response {
    let body = format!(
        "<h1>{}</h1><p class=\"error\">{}</p>",
        status.as_u16(),
        e(message)
    );
    (
        status,
        page(status.canonical_reason().unwrap_or("error"), session, &body),
    )
        .into_response()
}

fn api_failure(session: &Session, error: ApiError) -> Response {
    let status = error.into_response().status();
    failure(Some(session), status, "the request could not be completed")
}

impl From<ApiError> for Response {
    fn from(e: ApiError) -> Self {
        e.into_response()
    }
}

fn login_page(error: Option<&str>) -> String {
    format!(
        "<h1>outcry · sign in</h1>{}\
         <form method=\"post\" action=\"/login\"><label>Token <input type=\"password\" name=\"token\" \
         autocomplete=\"current-password\" required autofocus></label> <button type=\"submit\">Sign in</button></form>",
        error
            .map(|m| format!("<p class=\"error\">{}</p>", e(m)))
            .unwrap_or_default()
    )
}

async fn login_form() -> Response {
    page("Sign in", None, &login_page(None)).into_response()
}

#[derive(Deserialize)]
struct LoginForm {
    token: String,
}

async fn login(State(state): State<AppState>, Form(form): Form<LoginForm>) -> Response {
    match state.auth.sign_in(&form.token) {
        Some((id, _)) => {
            let cookie = format!(
                "{SESSION_COOKIE}={id}; HttpOnly; SameSite=Strict; Path=/; Max-Age={}",
                state.auth.session_ttl().as_secs()
            );
            ([(header::SET_COOKIE, cookie)], Redirect::to("/review")).into_response()
        }
        None => (
            StatusCode::UNAUTHORIZED,
            page(
                "Sign in",
                None,
                &login_page(Some("That token is not known.")),
            ),
        )
            .into_response(),
    }
}

#[derive(Deserialize)]
struct CsrfForm {
    csrf: String,
}

async fn logout(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Form(form): Form<CsrfForm>,
) -> Response {
    if !signed_in.session.csrf_matches(&form.csrf) {
        return failure(
            Some(&signed_in.session),
            StatusCode::FORBIDDEN,
            "stale form: reload the page",
        );
    }
    state.auth.sign_out(&signed_in.id);
    let cookie = format!("{SESSION_COOKIE}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0");
    ([(header::SET_COOKIE, cookie)], Redirect::to("/login")).into_response()
}

#[derive(Deserialize)]
struct BrandFilter {
    brand: Option<String>,
}

async fn review_queue(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Query(filter): Query<BrandFilter>,
) -> Response {
    let session = &signed_in.session;
    let brand = filter.brand.filter(|b| !b.is_empty());
    let body = async {
        let links = state
            .store
            .find_links(&LinkQuery {
                state: Some(LinkState::Candidate),
                brand: brand.clone(),
                limit: QUEUE_SIZE,
                ..LinkQuery::default()
            })
            .await?;
        let pairs = link_pairs(&state, session, &links, "review").await?;
        let mut h = format!("<h1>Review queue{}</h1>", brand.as_deref().map(|b| format!(" · {}", e(b))).unwrap_or_default());
        let _ = write!(
            h,
            "<form method=\"get\" action=\"/review\"><label>Brand <select name=\"brand\"><option value=\"\">all</option>{}</select></label> <button>Show</button></form>",
            state
                .brands
                .iter()
                .map(|b| format!(
                    "<option{}>{}</option>",
                    if Some(b) == brand.as_ref() { " selected" } else { "" },
                    e(b)
                ))
                .collect::<String>()
        );
        if links.is_empty() {
            h.push_str("<p class=\"muted\">No candidate links wait for review.</p>");
        } else {
            let _ = write!(h, "<p>{} candidate link(s), best score first.</p>{pairs}", links.len());
        }
        Ok::<_, ApiError>(h)
    }
    .await;
    match body {
        Ok(body) => page("Review queue", Some(session), &body).into_response(),
        Err(error) => api_failure(session, error),
    }
}

/// Each link as post and case side by side, the evidence marked in both, with the decision
/// buttons for leads.
async fn link_pairs(
    state: &AppState,
    session: &Session,
    links: &[LinkRow],
    back: &str,
) -> Result<String, ApiError> {
    let items: HashMap<i64, ItemRow> = state
        .store
        .find_items(&ItemQuery {
            ids: links.iter().map(|l| l.item_id).collect(),
            limit: QUEUE_SIZE,
            ..ItemQuery::default()
        })
        .await?
        .into_iter()
        .map(|i| (i.id, i))
        .collect();
    let mut cases: HashMap<String, Option<Case>> = HashMap::new();
    let mut h = String::new();
    for link in links {
        if !cases.contains_key(&link.case_id) {
            cases.insert(link.case_id.clone(), state.store.case(&link.case_id).await?);
        }
        let (Some(item), Some(Some(case))) = (items.get(&link.item_id), cases.get(&link.case_id))
        else {
            continue;
        };
        let marks = evidence_marks(&link.evidence);
        let text = html_to_text(item.body.as_deref().unwrap_or_default()).into_owned();
        let title = item
            .title
            .as_deref()
            .map(|t| format!("<h4>{}</h4>", quote(&html_to_text(t), &marks)))
            .unwrap_or_default();
        let _ = write!(
            h,
            "<section class=\"pair\" data-item=\"{item_id}\" data-case=\"{case_attr}\">\
             <div class=\"post\"><h3>Public post</h3>\
             <p class=\"muted\">{source} · {channel} · {author} · first seen {seen}</p>{title}\
             <div class=\"quote\">{text}</div><p>{url}</p></div>\
             <div class=\"case\"><h3>Case <a href=\"/cases/{case_href}\">{case_id}</a></h3>{record}\
             <h4>Why they may be one (score {score:.2})</h4><ul>{evidence}</ul>{actions}</div></section>",
            item_id = item.id,
            case_attr = e(&case.id),
            source = e(&item.source),
            channel = item.channel.as_str(),
            author = item
                .author
                .as_deref()
                .map(|a| quote(a, &marks))
                .unwrap_or_else(|| "unknown author".into()),
            seen = item.first_seen_at.format("%Y-%m-%d %H:%M"),
            text = quote(&text, &marks),
            url = item.url.as_deref().map(outside_link).unwrap_or_default(),
            case_href = url_path(&case.id),
            case_id = e(&case.id),
            record = case_record(case, &marks),
            score = link.score,
            evidence = link
                .evidence
                .iter()
                .map(|ev| format!("<li>{}</li>", e(ev)))
                .collect::<String>(),
            actions = decision_form(session, link, back),
        );
    }
    Ok(h)
}

fn decision_form(session: &Session, link: &LinkRow, back: &str) -> String {
    if !may_decide(session) {
        return "<p class=\"muted\">Leads decide links.</p>".into();
    }
    format!(
        "<form method=\"post\" action=\"/review/decide\" class=\"actions\">{csrf}\
         <input type=\"hidden\" name=\"item_id\" value=\"{item}\">\
         <input type=\"hidden\" name=\"case_id\" value=\"{case}\">\
         <input type=\"hidden\" name=\"back\" value=\"{back}\">\
         <button name=\"decision\" value=\"confirm\" class=\"confirm\">Confirm</button>\
         <button name=\"decision\" value=\"reject\" class=\"reject\">Reject</button></form>",
        csrf = csrf_field(session),
        item = link.item_id,
        case = e(&link.case_id),
        back = e(back),
    )
}

fn case_record(case: &Case, marks: &[String]) -> String {
    let list = |values: &[String]| {
        if values.is_empty() {
            "<span class=\"muted\">none</span>".to_string()
        } else {
            values
                .iter()
                .map(|v| quote(v, marks))
                .collect::<Vec<_>>()
                .join(", ")
        }
    };
    format!(
        "<p class=\"muted\">{brand} · {status}{severity}{opened}</p>\
         <p><b>Summary</b> <span class=\"quote\">{summary}</span></p>\
         <p><b>Demand</b> {demand}</p>\
         <p><b>Complainant</b> {name} {phone} · handles: {handles}</p>\
         <p><b>Identifiers</b> {identifiers}</p>",
        brand = e(&case.brand),
        status = case.status.as_str(),
        severity = case
            .severity
            .as_deref()
            .map(|s| format!(" · severity {}", e(s)))
            .unwrap_or_default(),
        opened = case
            .opened_at
            .map(|t| format!(" · opened {}", t.format("%Y-%m-%d %H:%M")))
            .unwrap_or_default(),
        summary = quote(&case.summary, marks),
        demand = quote(&case.demand, marks),
        name = e(case.complainant.name.as_deref().unwrap_or_default()),
        phone = e(&case
            .complainant
            .phone
            .as_deref()
            .map(mask_phone)
            .unwrap_or_default()),
        handles = list(&case.complainant.handles),
        identifiers = list(&case.identifiers),
    )
}

/// A path segment: everything but unreserved characters percent-encoded.
fn url_path(segment: &str) -> String {
    url::form_urlencoded::byte_serialize(segment.as_bytes())
        .collect::<String>()
        .replace('+', "%20")
}

#[derive(Deserialize)]
struct DecideForm {
    csrf: String,
    item_id: i64,
    case_id: String,
    decision: String,
    back: String,
}

async fn decide(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Form(form): Form<DecideForm>,
) -> Response {
    let session = &signed_in.session;
    if !session.csrf_matches(&form.csrf) {
        return failure(
            Some(session),
            StatusCode::FORBIDDEN,
            "stale form: reload the page",
        );
    }
    if !session.principal.may(Role::Lead) {
        return failure(
            Some(session),
            StatusCode::FORBIDDEN,
            "the lead role is required",
        );
    }
    let (decision, action) = match form.decision.as_str() {
        "confirm" => (LinkState::Confirmed, "link.confirm"),
        "reject" => (LinkState::Rejected, "link.reject"),
        _ => {
            return failure(
                Some(session),
                StatusCode::BAD_REQUEST,
                "decision must be confirm or reject",
            )
        }
    };
    let audit = AuditEntry {
        actor: session.principal.name.clone(),
        action: action.into(),
        target: format!("link:{}:{}", form.item_id, form.case_id),
        detail: serde_json::json!({ "via": "web" }),
        at: Utc::now(),
    };
    match decide_link(&state, form.item_id, &form.case_id, decision, audit).await {
        Ok(_) => {
            let to = if form.back == "case" {
                format!("/cases/{}", url_path(&form.case_id))
            } else {
                "/review".to_string()
            };
            Redirect::to(&to).into_response()
        }
        Err(error @ (ApiError::NotFound(_) | ApiError::Conflict(_))) => {
            let status = if matches!(error, ApiError::NotFound(_)) {
                StatusCode::NOT_FOUND
            } else {
                StatusCode::CONFLICT
            };
            failure(Some(session), status, &error.to_string())
        }
        Err(error) => api_failure(session, error),
    }
}

async fn case_page(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Path(id): Path<String>,
) -> Response {
    let session = &signed_in.session;
    let body = async {
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
        let mut h = format!(
            "<h1>Case {} <span class=\"stage\" id=\"stage\">{}</span></h1>{}",
            e(&case.id),
            record
                .stage
                .map(|s| s.as_str())
                .unwrap_or("not public"),
            case_record(&case, &[]),
        );
        if !case.notes.is_empty() {
            let _ = write!(h, "<p><b>Notes</b> <span class=\"quote\">{}</span></p>", e(&case.notes));
        }
        let confirmed: Vec<_> = record
            .items
            .iter()
            .filter(|i| i.link_state == LinkState::Confirmed)
            .map(|i| (i.item_id, i.sightings.as_slice()))
            .collect();
        let _ = write!(
            h,
            "<h2>Engagement of confirmed posts</h2>{}",
            engagement_chart(&confirmed)
        );

        // The public timeline: linked posts and the alerts they caused, oldest first.
        let mut timeline: Vec<(String, String)> = record
            .items
            .iter()
            .map(|i| {
                let at = i.published_at.unwrap_or(i.first_seen_at);
                let marks = evidence_marks(&i.link_evidence);
                let text = [i.title.as_deref(), i.body.as_deref()]
                    .into_iter()
                    .flatten()
                    .map(|t| html_to_text(t).into_owned())
                    .collect::<Vec<_>>()
                    .join("\n");
                let latest = i.sightings.last().map(|s| s.engagement.interactions()).unwrap_or(0);
                (
                    at.with_timezone(&Utc).to_rfc3339(),
                    format!(
                        "<tr class=\"post state-{state}\"><td>{when}</td><td>{state}</td>\
                         <td>{source} · {channel} · {author}<div class=\"quote\">{text}</div>{url}</td>\
                         <td>{latest}</td></tr>",
                        when = at.format("%Y-%m-%d %H:%M"),
                        state = i.link_state.as_str(),
                        source = e(&i.source),
                        channel = i.channel.as_str(),
                        author = e(i.author.as_deref().unwrap_or("unknown author")),
                        text = quote(&text, &marks),
                        url = i.url.as_deref().map(outside_link).unwrap_or_default(),
                    ),
                )
            })
            .collect();
        for alert in &alerts {
            timeline.push((
                chrono::DateTime::parse_from_rfc3339(&alert.created_at)
                    .map(|t| t.with_timezone(&Utc).to_rfc3339())
                    .unwrap_or_else(|_| alert.created_at.clone()),
                format!(
                    "<tr class=\"alert\"><td>{}</td><td>alert</td><td><b>{}</b> — {} ({})</td><td></td></tr>",
                    e(&alert.created_at),
                    alert.kind.as_str(),
                    e(&alert.subject),
                    alert.status.as_str(),
                ),
            ));
        }
        timeline.sort();
        let _ = write!(
            h,
            "<h2>Public timeline</h2><table id=\"timeline\"><tr><th>When</th><th>Link</th><th>Post</th><th>Interactions</th></tr>{}</table>",
            timeline.into_iter().map(|(_, row)| row).collect::<String>()
        );
        if !candidates.is_empty() {
            let _ = write!(
                h,
                "<h2>Candidate links to review</h2>{}",
                link_pairs(&state, session, &candidates, "case").await?
            );
        }
        Ok::<_, ApiError>(Some(h))
    }
    .await;
    match body {
        Ok(Some(body)) => page(&format!("Case {id}"), Some(session), &body).into_response(),
        Ok(None) => failure(
            Some(session),
            StatusCode::NOT_FOUND,
            &format!("no case has id {id}"),
        ),
        Err(error) => api_failure(session, error),
    }
}

async fn brands(State(state): State<AppState>, signed_in: SignedIn) -> Response {
    let session = &signed_in.session;
    let body = async {
        let cases = state.store.cases(None).await?;
        let alerts = state.store.alerts().await?;
        let mut names: BTreeSet<String> = state.brands.iter().cloned().collect();
        names.extend(cases.iter().map(|c| c.brand.clone()));
        let since = Utc::now() - chrono::Duration::days(OVERVIEW_DAYS);
        let mut h = String::from("<h1>Brands</h1><table id=\"brands\"><tr><th>Brand</th><th>Open cases</th><th>Closed</th>\
            <th>Candidate links</th><th>Confirmed links</th><th>Mentions, last 7 days</th><th>Alerts</th></tr>");
        let mut sections = String::new();
        for brand in &names {
            let links = state
                .store
                .find_links(&LinkQuery {
                    brand: Some(brand.clone()),
                    limit: i64::MAX,
                    ..LinkQuery::default()
                })
                .await?;
            let count = |s: LinkState| links.iter().filter(|l| l.state == s).count();
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
            let brand_alerts: Vec<&AlertRow> = alerts.iter().filter(|a| &a.brand == brand).collect();
            let by_kind = [AlertKind::Surfaced, AlertKind::Spreading, AlertKind::Viral, AlertKind::Unlinked]
                .iter()
                .map(|k| format!("{} {}", k.as_str(), brand_alerts.iter().filter(|a| a.kind == *k).count()))
                .collect::<Vec<_>>()
                .join(" · ");
            let open: Vec<&Case> = cases.iter().filter(|c| &c.brand == brand && c.is_open()).collect();
            let closed = cases.iter().filter(|c| &c.brand == brand && c.status == CaseStatus::Closed).count();
            let _ = write!(
                h,
                "<tr><td><a href=\"/review?brand={q}\">{b}</a></td><td>{}</td><td>{closed}</td><td>{}</td><td>{}</td><td>{mentions}</td><td>{by_kind}</td></tr>",
                open.len(),
                count(LinkState::Candidate),
                count(LinkState::Confirmed),
                q = url_path(brand),
                b = e(brand),
            );
            if !open.is_empty() {
                let _ = write!(sections, "<h2>{}: open cases</h2><ul>", e(brand));
                for case in open {
                    let stage = brand_alerts
                        .iter()
                        .filter(|a| a.case_id.as_deref() == Some(case.id.as_str()) && a.kind != AlertKind::Unlinked)
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
                        .map(|k| k.as_str())
                        .unwrap_or("not public");
                    let linked = links.iter().filter(|l| l.case_id == case.id && l.state != LinkState::Rejected).count();
                    let _ = write!(
                        sections,
                        "<li><a href=\"/cases/{}\">{}</a> · {stage} · {linked} linked post(s) · {}</li>",
                        url_path(&case.id),
                        e(&case.id),
                        quote(&case.summary, &[]),
                    );
                }
                sections.push_str("</ul>");
            }
        }
        h.push_str("</table>");
        h.push_str(&sections);
        Ok::<_, ApiError>(h)
    }
    .await;
    match body {
        Ok(body) => page("Brands", Some(session), &body).into_response(),
        Err(error) => api_failure(session, error),
    }
}
