//! The HTTP API (DESIGN section 4): routes, extractors, conditional
//! requests, the SSE stream, rate limits and problem+json errors.
//!
//! Routes:
//! - `GET  /api/v1/providers`
//! - `GET|HEAD /api/v1/providers/{providerId}/availability`
//! - `GET  /api/v1/providers/{providerId}/availability/stream`
//! - `POST /api/v1/providers/{providerId}/slots`, `.../slots/{slotId}/block|unblock`
//! - `POST /api/v1/bookings`, `GET /api/v1/bookings/{id}`, `POST .../cancel|reschedule`
//! - `GET  /healthz`, `/readyz`, `/metrics`, `/openapi.json`; the page at `/`
//!
//! Reads (providers, availability and the operator routes) share the read
//! quota and are compressed on request (`compression`); streams never are.

mod availability;
mod bookings;
mod compression;
pub mod error;
pub mod extract;
pub mod limits;
mod openapi;
mod ops;
mod page;
mod providers;
mod slots;
mod stream;

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri, header};
use axum::middleware::{self, Next};
use axum::response::Response;
use tokio_util::sync::CancellationToken;
use tower_governor::GovernorLayer;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};

use crate::app::App;
use error::{ApiError, problem};
pub use ops::metrics_handle;
use limits::{ClientIdentity, Limiter, Quota, StreamCaps};

/// Settings the HTTP layer needs at run time (built from the flags in
/// `server`, whose defaults live in `config`).
#[derive(Clone, Debug)]
pub struct HttpSettings {
    /// Comment heartbeat interval on streams.
    pub heartbeat: Duration,
    /// The `retry:` the stream advises EventSource to wait before reconnecting.
    pub retry: Duration,
    /// Largest request body accepted.
    pub body_limit: usize,
    /// Timeout for ordinary (non-stream) requests.
    pub request_timeout: Duration,
    pub read_quota: Quota,
    pub write_quota: Quota,
    pub stream_quota: Quota,
    pub max_streams_per_client: usize,
    pub max_streams: usize,
    pub trusted_proxies: Vec<IpAddr>,
    pub cors_origins: Vec<String>,
    /// Leading bits of an IPv6 address that name one client.
    pub ipv6_prefix_len: u8,
}

/// Rate limiters and stream caps, shared by every request.
#[derive(Clone)]
pub struct Protection {
    pub identity: ClientIdentity,
    pub read: Option<Arc<Limiter>>,
    pub write: Option<Arc<Limiter>>,
    pub stream: Option<Arc<Limiter>>,
    pub stream_caps: StreamCaps,
}

impl Protection {
    pub fn new(settings: &HttpSettings, app: &App) -> Protection {
        let identity = ClientIdentity::new(
            settings.trusted_proxies.clone(),
            app.verified_keys.clone(),
            settings.ipv6_prefix_len,
        );
        Protection {
            read: limits::limiter(settings.read_quota, identity.clone()),
            write: limits::limiter(settings.write_quota, identity.clone()),
            stream: limits::limiter(settings.stream_quota, identity.clone()),
            stream_caps: StreamCaps::new(settings.max_streams_per_client, settings.max_streams),
            identity,
        }
    }

    /// Forget clients idle long enough to have a full quota again, so the
    /// limiters' key maps stay bounded.
    pub fn forget_idle_clients(&self) {
        for limiter in [&self.read, &self.write, &self.stream].into_iter().flatten() {
            limiter.limiter().retain_recent();
            limiter.limiter().shrink_to_fit();
        }
    }
}

/// Shared state of every handler: a cheap-clone handle (one `Arc`), since
/// axum clones it for every request and every layer.
#[derive(Clone)]
pub struct AppState(Arc<SharedState>);

impl std::ops::Deref for AppState {
    type Target = SharedState;

    fn deref(&self) -> &SharedState {
        &self.0
    }
}

impl AppState {
    pub fn new(shared: SharedState) -> AppState {
        AppState(Arc::new(shared))
    }
}

pub struct SharedState {
    pub app: App,
    pub settings: HttpSettings,
    pub protection: Protection,
    /// Cancelled when the server begins to stop; streams end on it.
    pub stopping: CancellationToken,
    /// Is the PostgreSQL relay expected (readiness needs it connected)?
    pub expects_relay: bool,
}

fn limited(router: Router<AppState>, limiter: &Option<Arc<Limiter>>, quota: Quota) -> Router<AppState> {
    match limiter {
        Some(limiter) => router.layer(
            GovernorLayer::new(limiter.clone()).error_handler(limits::too_many_requests(quota)),
        ),
        None => router,
    }
}

/// The whole application router.
pub fn router(state: AppState) -> Router {
    use tower_http::timeout::TimeoutLayer;

    // Install the metrics recorder before anything is counted.
    ops::metrics_handle();
    let settings = state.settings.clone();
    let protection = state.protection.clone();
    // The operator routes are reads too: `/readyz` touches the database, and
    // no route is free to hammer.
    let reads = limited(
        compression::negotiated(
            Router::new().merge(providers::router()).merge(availability::router()).merge(ops::router()),
        ),
        &protection.read,
        settings.read_quota,
    );
    let writes = limited(
        Router::new().merge(bookings::router()).merge(slots::router()),
        &protection.write,
        settings.write_quota,
    );
    let streams = limited(stream::router(), &protection.stream, settings.stream_quota);
    let api = Router::new()
        .merge(reads)
        .merge(writes)
        .layer(TimeoutLayer::with_status_code(StatusCode::REQUEST_TIMEOUT, settings.request_timeout));
    Router::new()
        .merge(api)
        // Streams live for hours: no request timeout on them.
        .merge(streams)
        .merge(page::router())
        .fallback(no_route)
        .method_not_allowed_fallback(method_not_allowed)
        // Bodies are only read by the JSON extractor, whose 413 is problem+json.
        .layer(axum::extract::DefaultBodyLimit::max(settings.body_limit))
        .layer(middleware::from_fn_with_state(settings.body_limit, guard_request))
        .layer(cors(&settings.cors_origins))
        .layer(middleware::from_fn(observe))
        .layer(
            tower_http::trace::TraceLayer::new_for_http().make_span_with(|request: &Request| {
                let id = request.headers().get(REQUEST_ID).and_then(|v| v.to_str().ok()).unwrap_or("-");
                tracing::info_span!("request", id, method = %request.method(), uri = %request.uri())
            }),
        )
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
        .with_state(state)
}

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Request latency by route and status (streams: time to the first byte).
async fn observe(request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let started = std::time::Instant::now();
    let response = next.run(request).await;
    metrics::histogram!(
        "slotstream_http_request_duration_seconds",
        "route" => route,
        "status" => response.status().as_u16().to_string()
    )
    .record(started.elapsed().as_secs_f64());
    response
}

/// Longest request target accepted.
const URI_MAX: usize = 2048;
/// Most header bytes accepted (names and values). Below the server's 8 KiB
/// request-head buffer, whose overflow hyper answers itself with a bare 431.
const HEADERS_MAX: usize = 6 * 1024;

/// Refuse oversized targets, headers and declared bodies up front, and make
/// sure every error leaving the server is problem+json (middleware such as
/// the timeout answers with an empty body of its own).
async fn guard_request(State(body_limit): State<usize>, request: Request, next: Next) -> Response {
    let uri = request.uri();
    let target_len = uri.path_and_query().map_or(0, |p| p.as_str().len())
        + uri.authority().map_or(0, |a| a.as_str().len());
    if target_len > URI_MAX {
        return problem(StatusCode::URI_TOO_LONG, "uri-too-long", "URI too long", "the request target exceeds 2048 bytes");
    }
    let header_bytes: usize = request.headers().iter().map(|(k, v)| k.as_str().len() + v.len()).sum();
    if header_bytes > HEADERS_MAX {
        return problem(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "headers-too-large",
            "Headers too large",
            "the request headers exceed 6 KiB",
        );
    }
    // A body declared too large is refused before a byte of it is awaited:
    // otherwise the client holds the request open until the timeout.
    match declared_length(request.headers()) {
        Err(()) => {
            return problem(
                StatusCode::BAD_REQUEST,
                "bad-content-length",
                "Bad Content-Length",
                "Content-Length must be one non-negative integer",
            );
        }
        Ok(Some(length)) if length > body_limit as u64 => {
            return problem(
                StatusCode::PAYLOAD_TOO_LARGE,
                "body-too-large",
                "Body too large",
                &format!("the request body may be at most {body_limit} bytes"),
            );
        }
        Ok(_) => {}
    }
    let response = next.run(request).await;
    let status = response.status();
    let is_problem = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/problem+json"));
    if (status.is_client_error() || status.is_server_error()) && !is_problem {
        let title = status.canonical_reason().unwrap_or("Error");
        let mut replaced = problem(status, "http-error", title, title);
        // The compressor's 406 depends on Accept-Encoding; caches must know.
        for vary in response.headers().get_all(header::VARY) {
            replaced.headers_mut().append(header::VARY, vary.clone());
        }
        return replaced;
    }
    response
}

/// The declared body length: `None` when absent; `Err` when malformed or
/// when several values disagree (RFC 9110 §8.6 allows only repeats of one
/// value). hyper refuses most of these itself; this holds whatever serves us.
/// A number too large for `u64` is still a (huge) length, not a syntax error.
fn declared_length(headers: &HeaderMap) -> Result<Option<u64>, ()> {
    let mut length = None;
    for value in headers.get_all(header::CONTENT_LENGTH) {
        for item in value.to_str().map_err(|_| ())?.split(',') {
            let item = item.trim();
            if item.is_empty() || !item.bytes().all(|b| b.is_ascii_digit()) {
                return Err(());
            }
            let n = item.parse().unwrap_or(u64::MAX);
            if length.is_some_and(|seen| seen != n) {
                return Err(());
            }
            length = Some(n);
        }
    }
    Ok(length)
}

fn cors(origins: &[String]) -> CorsLayer {
    let allowed: Vec<HeaderValue> = origins.iter().filter_map(|o| HeaderValue::from_str(o.trim()).ok()).collect();
    if allowed.is_empty() {
        // Same origin only: no CORS headers at all.
        return CorsLayer::new();
    }
    CorsLayer::new()
        .allow_origin(AllowOrigin::list(allowed))
        .allow_methods([Method::GET, Method::HEAD, Method::POST])
        .allow_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            header::IF_NONE_MATCH,
            HeaderName::from_static("last-event-id"),
            HeaderName::from_static("idempotency-key"),
        ])
        .expose_headers([
            header::ETAG,
            header::LOCATION,
            header::RETRY_AFTER,
            HeaderName::from_static("ratelimit"),
            HeaderName::from_static("ratelimit-policy"),
        ])
}

async fn no_route(method: Method, uri: Uri) -> ApiError {
    ApiError::NoRoute(format!("{method} {}", uri.path()))
}

async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lengths(values: &[&str]) -> Result<Option<u64>, ()> {
        let mut headers = HeaderMap::new();
        for value in values {
            headers.append(header::CONTENT_LENGTH, HeaderValue::from_str(value).unwrap());
        }
        declared_length(&headers)
    }

    #[test]
    fn a_declared_length_is_one_non_negative_integer() {
        assert_eq!(lengths(&[]), Ok(None));
        assert_eq!(lengths(&["12"]), Ok(Some(12)));
        assert_eq!(lengths(&["12", "12"]), Ok(Some(12)), "repeats of one value");
        assert_eq!(lengths(&["12, 12"]), Ok(Some(12)));
        assert_eq!(lengths(&["99999999999999999999999"]), Ok(Some(u64::MAX)), "huge, not malformed");
        for bad in [&["12", "13"][..], &["12, 13"], &["abc"], &["-1"], &["+1"], &[""], &["1 2"], &["0x10"]] {
            assert_eq!(lengths(bad), Err(()), "{bad:?}");
        }
    }
}
