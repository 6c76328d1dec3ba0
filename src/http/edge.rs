//! The edge: what every request meets before the router. A conditional GET
//! of an availability document whose tag the bus vouches for is answered
//! here, in place, without routing and without the per-route stack; every
//! other request goes to the router untouched.
//!
//! Why: a 304 is what a poller costs, and through the router it paid for
//! every layer of the read group (request id, metrics, guards, timeout,
//! database deadline, rate limit, compression, path and query extraction)
//! about four times what a bare hello costs (BENCHMARKS.md, "The 304 at the
//! edge"). What the edge keeps of that stack, because a client or an
//! operator would see it missing: the read quota (the same limiter, the
//! same key), the request id (kept or made, and echoed), the latency
//! histogram and the 304 counter, the request guards (a request they would
//! refuse is not answered here), and the headers of the router's 304
//! (`ETag`, `Cache-Control`, `Vary`).
//!
//! The rule that keeps it safe: the edge answers only what the router would
//! answer with the same 304 (`App::not_modified_in_memory` is the
//! handler's own decision, minus every await), and hands over everything
//! else before it has changed anything. The rate limit is checked last: a
//! request that passed it is answered here, so no request is charged twice,
//! and one refused by it is handed over, where the same limiter refuses it
//! again (a refused check takes no token) with the router's 429. With CORS
//! origins configured the edge steps aside: the router's CORS layer owns
//! those headers.

use std::convert::Infallible;
use std::str::FromStr;
use std::sync::LazyLock;
use std::task::{Context, Poll};
use std::time::Instant;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::Response;
use axum::routing::future::RouteFuture;
use chrono::NaiveDate;
use etag::EntityTag;
use tower::Service;
use tower_governor::key_extractor::KeyExtractor;
use uuid::Uuid;

use super::HttpState;
use super::availability::{ROUTE, not_modified};
use super::extract::IfNoneMatch;
use super::middleware::{GuardRequest, REQUEST_ID, latency_histogram};
use crate::app::{AvailabilityQuery, HeldCopy};

/// The router behind the edge; what `connections::serve` serves.
#[derive(Clone)]
pub struct Edge {
    router: Router,
    /// `None`: every request goes to the router (CORS is configured).
    shortcut: Option<Shortcut>,
}

#[derive(Clone)]
struct Shortcut {
    state: HttpState,
    guard: GuardRequest,
}

impl Edge {
    /// `router` alone, with no shortcut (`/metrics` on a listener of its own).
    pub fn plain(router: Router) -> Edge {
        Edge { router, shortcut: None }
    }

    pub(super) fn new(router: Router, state: HttpState, guard: GuardRequest) -> Edge {
        let shortcut =
            super::middleware::cors(&state.settings.cors_origins).is_none().then_some(Shortcut { state, guard });
        Edge { router, shortcut }
    }

    /// The edge's answer to `request`, or the router's.
    pub fn serve<B>(&self, request: axum::http::Request<B>) -> EdgeFuture
    where
        B: axum::body::HttpBody<Data = bytes::Bytes> + Send + 'static,
        B::Error: Into<axum::BoxError>,
    {
        if let Some(answer) = self.shortcut.as_ref().and_then(|s| s.answer(&request)) {
            return EdgeFuture::Answered(Some(answer));
        }
        EdgeFuture::Routed(Box::pin(self.router.clone().call(request.map(Body::new))))
    }
}

/// The edge's answer, or the router's. The router's future is boxed: it
/// holds the whole request until it is first polled, and hyper keeps the
/// room of a stream's service future in the stream's task for as long as
/// the response body runs (hours, for an event stream), where the box is
/// freed once the response is there.
pub enum EdgeFuture {
    Answered(Option<Response>),
    Routed(std::pin::Pin<Box<RouteFuture<Infallible>>>),
}

impl Future for EdgeFuture {
    type Output = Result<Response, Infallible>;

    fn poll(self: std::pin::Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.get_mut() {
            EdgeFuture::Answered(answer) => Poll::Ready(Ok(answer.take().unwrap_or_default())),
            EdgeFuture::Routed(routed) => routed.as_mut().poll(cx),
        }
    }
}

impl Shortcut {
    /// The router's 304 for `request`, answered here, or `None`: the router
    /// answers it (and nothing has been charged or counted).
    fn answer<B>(&self, request: &axum::http::Request<B>) -> Option<Response> {
        let started = Instant::now();
        if !matches!(*request.method(), Method::GET | Method::HEAD)
            || !request.headers().contains_key(header::IF_NONE_MATCH)
        {
            return None;
        }
        let query = availability_query(request.uri().path(), request.uri().query())?;
        if self.guard.refusal(request.uri(), request.headers()).is_err() {
            return None;
        }
        let condition = IfNoneMatch::from_headers(request.headers());
        let has_tag = |tag: &EntityTag| condition.matches(tag);
        let held = HeldCopy { has_tag: &has_tag, tags: condition.tags(), modified_since: None };
        let tag = self.state.app.not_modified_in_memory(query, &held)?;
        if let Some(limiter) = &self.state.rate_limits.read {
            let client = self.state.rate_limits.identity.extract(request).ok()?;
            limiter.limiter().check_key(&client).ok()?;
        }
        let mut response = not_modified(&condition, tag);
        let headers = response.headers_mut();
        // What the compressor's tagging adds to every read (`compression`).
        headers.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
        headers.insert(REQUEST_ID, request_id(request));
        NOT_MODIFIED_LATENCY.record(started.elapsed().as_secs_f64());
        Some(response)
    }
}

/// The route's 304 latency series, resolved once (`middleware::Observe`
/// records the router's answers in the same series).
static NOT_MODIFIED_LATENCY: LazyLock<metrics::Histogram> =
    LazyLock::new(|| latency_histogram(ROUTE, StatusCode::NOT_MODIFIED));

/// The request's id as `SetRequestIdLayer` would have it: the client's, or
/// a new UUID.
fn request_id<B>(request: &axum::http::Request<B>) -> HeaderValue {
    request.headers().get(REQUEST_ID).cloned().unwrap_or_else(|| {
        let mut buffer = Uuid::encode_buffer();
        HeaderValue::from_str(Uuid::new_v4().hyphenated().encode_lower(&mut buffer))
            .unwrap_or_else(|_| HeaderValue::from_static("-"))
    })
}

/// `/api/v1/providers/{id}/availability?startDate=&days=` read as the
/// route's extractors read it (`Path<Uuid>`, `Query<RangeParams>` with its
/// unknown fields refused), or `None` for anything else or anything they
/// would refuse: the router then answers it, with its error if need be.
fn availability_query(path: &str, query: Option<&str>) -> Option<AvailabilityQuery> {
    let id = path.strip_prefix("/api/v1/providers/")?.strip_suffix("/availability")?;
    // A percent-encoded id is the router's to decode.
    if id.contains(['/', '%']) {
        return None;
    }
    let provider_id = Uuid::try_parse(id).ok()?;
    let query = query.unwrap_or_default();
    // Escapes are the router's to decode (its `Query` does it as forms do);
    // the fields here are plain ASCII when a client writes them plainly,
    // and a general form decoder cost a twentieth of a 304.
    if query.contains(['%', '+']) {
        return None;
    }
    let (mut start_date, mut days) = (None, None);
    for pair in query.split('&').filter(|pair| !pair.is_empty()) {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        // A repeated field is an error there; an unknown one too.
        match name {
            "startDate" if start_date.is_none() => start_date = Some(NaiveDate::from_str(value).ok()?),
            "days" if days.is_none() => days = Some(u32::from_str(value).ok()?),
            _ => return None,
        }
    }
    Some(AvailabilityQuery { provider_id, start_date, days })
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "0191f2a4-7b1c-7d3e-9f00-123456789abc";

    fn path() -> String {
        format!("/api/v1/providers/{ID}/availability")
    }

    #[test]
    fn the_routes_own_queries_are_read() {
        let query = availability_query(&path(), Some("startDate=2026-12-04&days=7")).unwrap();
        assert_eq!(query.provider_id, Uuid::parse_str(ID).unwrap());
        assert_eq!(query.start_date, NaiveDate::from_ymd_opt(2026, 12, 4));
        assert_eq!(query.days, Some(7));
        let bare = availability_query(&path(), None).unwrap();
        assert_eq!((bare.start_date, bare.days), (None, None));
        // Empty pairs are nothing, as forms read them.
        let sparse = availability_query(&path(), Some("&days=7&&")).unwrap();
        assert_eq!(sparse.days, Some(7));
    }

    #[test]
    fn whatever_the_extractors_would_refuse_or_read_otherwise_is_left_to_the_router() {
        for query in [
            "days=7&days=7",
            "startDate=2026-12-04&startDate=2026-12-05",
            "days=7&extra=1",
            "days=",
            "days=-1",
            "days=99999999999",
            "startDate=2026-13-01",
            "startDate=",
            "startDate=%2B262142-01-01x",
            "days=%37",
            "days=+7",
            "startDate",
        ] {
            assert!(availability_query(&path(), Some(query)).is_none(), "{query}");
        }
        for path in [
            format!("/api/v1/providers/{ID}/availability/"),
            format!("/api/v1/providers/{ID}/availability/stream"),
            format!("/api/v1/providers/{ID}/x/availability"),
            "/api/v1/providers/not-an-id/availability".to_owned(),
            format!("/api/v1/providers/%7B{ID}%7D/availability"),
            format!("/api/v1/providers//{ID}/availability"),
        ] {
            assert!(availability_query(&path, None).is_none(), "{path}");
        }
    }
}
