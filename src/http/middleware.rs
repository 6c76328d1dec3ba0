//! The layers every request passes: request guards (target, header and
//! declared body sizes, problem+json for every error), latency metrics, and
//! CORS.

use std::sync::LazyLock;
use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::Response;
use dashmap::DashMap;
use tower_http::cors::{AllowOrigin, CorsLayer};

use super::around::Around;
use super::error::{Failure, OutageAnswer, problem};

pub(super) const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Request latency by route and status (streams: time to the first byte),
/// and the log line of every request that failed on the server's side, with
/// its id, method and target. That line is why a request needs no span of
/// its own at `info` (the request span is at `debug`, see `http::router`):
/// the span's fields were formatted on every request, for the rare one
/// that logs.
#[derive(Clone)]
pub(super) struct Observe;

pub(super) struct Observed {
    route: Option<MatchedPath>,
    id: Option<HeaderValue>,
    method: Method,
    uri: Uri,
    started: Instant,
}

impl Around for Observe {
    type ForAfter = Observed;

    fn before(&self, request: &Request) -> Result<Observed, Box<Response>> {
        Ok(Observed {
            route: request.extensions().get::<MatchedPath>().cloned(),
            id: request.headers().get(REQUEST_ID).cloned(),
            method: request.method().clone(),
            uri: request.uri().clone(),
            started: Instant::now(),
        })
    }

    fn after(&self, request: Observed, response: Response) -> Response {
        let route = request.route.as_ref().map_or("unmatched", |p| p.as_str());
        latency_histogram(route, response.status()).record(request.started.elapsed().as_secs_f64());
        // An outage's 503s are not logged one by one: `health` logs the
        // outage once, and `slotstream_http_request_duration_seconds` counts them.
        if response.status().is_server_error() && response.extensions().get::<OutageAnswer>().is_none() {
            let id = request.id.as_ref().and_then(|v| v.to_str().ok()).unwrap_or("-");
            let error = response.extensions().get::<Failure>().map(|f| f.0.as_str());
            let (method, uri, status) = (request.method, request.uri, response.status().as_u16());
            tracing::error!(id, %method, %uri, status, error, "request failed");
        }
        response
    }
}

/// The latency histogram of (route, status). Resolved through the metrics
/// registry once per pair and kept: a lookup there builds, hashes and
/// allocates the labels, which cost more than the rest of a 304. Routes are
/// the router's patterns and statuses are few, so the map stays small.
pub(super) fn latency_histogram(route: &str, status: StatusCode) -> metrics::Histogram {
    static BY_ROUTE: LazyLock<DashMap<String, Vec<(StatusCode, metrics::Histogram)>>> = LazyLock::new(DashMap::new);
    if let Some(known) = BY_ROUTE.get(route)
        && let Some((_, histogram)) = known.iter().find(|(s, _)| *s == status)
    {
        return histogram.clone();
    }
    let histogram = metrics::histogram!(
        "slotstream_http_request_duration_seconds",
        "route" => route.to_owned(),
        "status" => status.as_u16().to_string()
    );
    BY_ROUTE.entry(route.to_owned()).or_default().push((status, histogram.clone()));
    histogram
}

/// Longest request target accepted (longer: 414, as clients and proxies
/// expect of an oversized target): room for the longest many-providers
/// stream URL, 50 ids with `%2C` between them (1,987 bytes with the path)
/// and a resume cursor at the largest versions (`&lastEventId=` and 614
/// characters), 2,614 bytes in all, and not much more.
const URI_MAX: usize = 2_700;
/// Most header bytes accepted (names and values). Below the server's 8 KiB
/// request-head buffer, whose overflow hyper answers itself with a bare 431.
const HEADERS_MAX: usize = 6 * 1024;

/// Refuse oversized targets, headers and declared bodies up front, and make
/// sure every error leaving the server is problem+json (middleware such as
/// the timeout answers with an empty body of its own).
#[derive(Clone)]
pub(super) struct GuardRequest {
    /// The largest request body, in bytes.
    pub body_limit: usize,
    /// The largest on the admin API (`/api/v1/admin/…`), whose token is
    /// checked before a body is read.
    pub admin_body_limit: usize,
}

impl Around for GuardRequest {
    type ForAfter = ();

    fn before(&self, request: &Request) -> Result<(), Box<Response>> {
        self.refusal(request.uri(), request.headers())
    }

    fn after(&self, (): (), response: Response) -> Response {
        problem_json(response)
    }
}

impl GuardRequest {
    /// The refusal of a request with this target and these headers, if
    /// any (the edge asks too, before it answers anything itself).
    pub(super) fn refusal(&self, uri: &Uri, headers: &HeaderMap) -> Result<(), Box<Response>> {
        let target_len =
            uri.path_and_query().map_or(0, |p| p.as_str().len()) + uri.authority().map_or(0, |a| a.as_str().len());
        if target_len > URI_MAX {
            return Err(Box::new(problem(
                StatusCode::URI_TOO_LONG,
                "uri-too-long",
                "URI too long",
                &format!("the request target exceeds {URI_MAX} bytes"),
            )));
        }
        let header_bytes: usize = headers.iter().map(|(k, v)| k.as_str().len() + v.len()).sum();
        if header_bytes > HEADERS_MAX {
            return Err(Box::new(problem(
                StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
                "headers-too-large",
                "Headers too large",
                "the request headers exceed 6 KiB",
            )));
        }
        // A body declared too large is refused before a byte of it is awaited:
        // otherwise the client holds the request open until the timeout.
        let limit = if uri.path().starts_with("/api/v1/admin/") { self.admin_body_limit } else { self.body_limit };
        match declared_length(headers) {
            Err(()) => Err(Box::new(problem(
                StatusCode::BAD_REQUEST,
                "bad-content-length",
                "Bad Content-Length",
                "Content-Length must be one non-negative integer",
            ))),
            Ok(Some(length)) if length > limit as u64 => Err(Box::new(problem(
                StatusCode::PAYLOAD_TOO_LARGE,
                "body-too-large",
                "Body too large",
                &format!("the request body may be at most {limit} bytes"),
            ))),
            Ok(_) => Ok(()),
        }
    }
}

/// Every error leaving the server as problem+json (middleware such as the
/// timeout answers with an empty body of its own).
fn problem_json(response: Response) -> Response {
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

/// CORS for the configured origins; none (same origin only, no CORS
/// headers at all) when there are none, and then no layer either: it would
/// only add `Vary` headers, at a cost on every request.
pub(super) fn cors(origins: &[String]) -> Option<CorsLayer> {
    let allowed: Vec<HeaderValue> = origins.iter().filter_map(|o| HeaderValue::from_str(o.trim()).ok()).collect();
    if allowed.is_empty() {
        return None;
    }
    let layer = CorsLayer::new()
        .allow_origin(AllowOrigin::list(allowed))
        .allow_methods([Method::GET, Method::HEAD, Method::POST, Method::DELETE])
        .allow_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            header::IF_NONE_MATCH,
            HeaderName::from_static("last-event-id"),
            HeaderName::from_static("idempotency-key"),
        ])
        // What a page on another origin needs to read: conditional requests,
        // where a booking went, when to retry, its quota, why it was refused.
        .expose_headers([
            header::ETAG,
            header::LAST_MODIFIED,
            header::LOCATION,
            header::RETRY_AFTER,
            HeaderName::from_static("ratelimit"),
            HeaderName::from_static("ratelimit-policy"),
            header::WWW_AUTHENTICATE,
        ]);
    Some(layer)
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
