//! Who is at the other end of a request, as far as it can be believed: the peer address, or
//! what a trusted reverse proxy says about the client (`X-Forwarded-For`,
//! `X-Forwarded-Proto`); and whether a form post comes from our own pages.

use super::AppState;
use axum::extract::{ConnectInfo, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::convert::Infallible;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use tracing::warn;

/// The client of a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Client {
    pub address: IpAddr,
    /// The browser reached us over https (a trusted proxy said so).
    pub https: bool,
}

impl Client {
    pub(super) fn of(parts: &Parts, state: &AppState) -> Client {
        // Absent only when the router is served without the daemon's server (unit tests).
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |c| c.0.ip());
        let trusted = |ip: IpAddr| state.http.trusted_proxies.iter().any(|r| r.contains(ip));
        if !trusted(peer) {
            return Client {
                address: peer,
                https: false,
            };
        }
        // Each proxy appends the address it was reached from, so the first one from the
        // right that is not our own proxy is the client; whatever is left of it, the client
        // may have written itself.
        let forwarded = header_values(&parts.headers, "x-forwarded-for");
        let address = forwarded
            .iter()
            .rev()
            .map(|hop| hop.parse::<IpAddr>().ok())
            .find(|hop| hop.is_none_or(|ip| !trusted(ip)))
            .flatten()
            .unwrap_or(peer);
        let https = header_values(&parts.headers, "x-forwarded-proto")
            .last()
            .is_some_and(|proto| proto.eq_ignore_ascii_case("https"));
        Client { address, https }
    }
}

/// Every comma-separated value of every instance of a header, in order.
fn header_values(headers: &HeaderMap, name: &str) -> Vec<String> {
    headers
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
        .collect()
}

impl FromRequestParts<AppState> for Client {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Infallible> {
        Ok(Client::of(parts, state))
    }
}

impl AppState {
    /// Whether the session cookie must be `Secure`: the public URL is https, or the request
    /// came through a trusted proxy over https.
    pub(super) fn secure_cookies(&self, client: &Client) -> bool {
        client.https || self.public_origin().is_some_and(|o| o.scheme() == "https")
    }

    fn public_origin(&self) -> Option<url::Url> {
        self.http
            .public_url
            .as_deref()
            .and_then(|u| url::Url::parse(u).ok())
    }
}

/// Refuses a form post whose `Origin` (or, without one, `Referer`) is not our own origin:
/// the public URL's, else the scheme and `Host` the request came with. Browsers send at
/// least one of them with every post, so a post with neither came from a program, which
/// cannot ride on someone's session. The JSON API takes bearer tokens, not cookies, and is
/// left alone.
pub(super) async fn same_origin_forms(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    if request.method() != Method::POST || request.uri().path().starts_with("/api/") {
        return next.run(request).await;
    }
    let (parts, body) = request.into_parts();
    let client = Client::of(&parts, &state);
    let claimed = parts
        .headers
        .get(header::ORIGIN)
        .or_else(|| parts.headers.get(header::REFERER))
        .map(|v| v.to_str().unwrap_or("null").to_string());
    if let Some(claimed) = claimed {
        let own = state.public_origin().or_else(|| {
            let host = parts.headers.get(header::HOST)?.to_str().ok()?;
            let scheme = if client.https { "https" } else { "http" };
            url::Url::parse(&format!("{scheme}://{host}/")).ok()
        });
        let same = match (url::Url::parse(&claimed), own) {
            (Ok(claimed), Some(own)) => claimed.origin() == own.origin(),
            _ => false,
        };
        if !same {
            warn!(client = %client.address, path = parts.uri.path(), "cross-site form post refused");
            return (
                StatusCode::FORBIDDEN,
                "403 Forbidden: forms are accepted only from this site's own pages",
            )
                .into_response();
        }
    }
    next.run(Request::from_parts(parts, body)).await
}
