//! The HTTP API (DESIGN section 4): routes, extractors, conditional
//! requests, the SSE stream, rate limits and problem+json errors.
//!
//! Routes:
//! - `GET  /api/v1/providers`
//! - `GET|HEAD /api/v1/providers/{providerId}/availability`
//! - `GET  /api/v1/providers/{providerId}/availability/stream`
//! - `GET|HEAD /api/v1/availability?providerIds=…`, `GET /api/v1/availability/stream?providerIds=…`
//! - `POST /api/v1/providers/{providerId}/slots`, `.../slots/{slotId}/block|unblock`
//! - `POST /api/v1/bookings`, `GET /api/v1/bookings/{id}`, `POST .../cancel|reschedule`
//! - `POST /api/v1/holds`, `POST /api/v1/holds/{id}/renew`, `DELETE /api/v1/holds/{id}`
//! - `POST /api/v1/waitlist`, `GET|DELETE /api/v1/waitlist/{id}`, `DELETE /api/v1/waitlist/{id}/offer`
//! - `POST|GET /api/v1/providers/{providerId}/webhooks`, `DELETE .../webhooks/{id}`, `POST .../webhooks/{id}/enable`
//! - `GET  /api/v1/bookings/{id}/calendar.ics` (the booking's token as Bearer)
//! - the provider's agenda (`agenda`): `POST /api/v1/providers/{providerId}/sign-in-links`,
//!   `POST|GET /api/v1/provider-session`, `POST /api/v1/provider-session/sign-out`,
//!   `GET /api/v1/providers/{providerId}/agenda`, `GET .../agenda/stream`
//! - `GET  /healthz`, `/readyz`, `/metrics`, `/openapi.json`; the page's files (`static/`) at `/`
//! - the admin API under `/api/v1/admin/…` (`admin`), only with an operator token
//!
//! Reads (providers, availability and the operator routes) share the read
//! quota and are compressed on request (`compression`); streams never are.
//! Holds have a write quota of their own. The admin routes sit under no
//! per-client quota: every one is authenticated first by a 256-bit-strong
//! token compared by hash (no database work for a wrong one), and a
//! marketplace's sync sends thousands of them from one address.

mod admin;
mod agenda;
mod around;
mod availability;
mod bookings;
mod compression;
mod conditional;
mod edge;
pub mod error;
pub mod extract;
mod holds;
pub mod limits;
mod many_providers;
mod middleware;
mod openapi;
mod ops;
mod page;
mod problems;
mod providers;
mod search;
mod session_cookie;
mod slots;
mod state;
mod stream;
mod unavailable;
mod waitlist;
mod webhooks;

use axum::Router;
use axum::extract::Request;
use axum::http::{Method, StatusCode, Uri};
use tower::ServiceBuilder;
use tower_http::classify::{ServerErrorsAsFailures, SharedClassifier};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::{DefaultOnBodyChunk, DefaultOnEos, DefaultOnRequest, DefaultOnResponse, TraceLayer};

use around::AroundLayer;
pub use edge::{Edge, EdgeFuture};
use error::ApiError;
use middleware::{GuardRequest, Observe, REQUEST_ID, cors};
pub use ops::{metrics_handle, metrics_router};
pub use state::{HttpContext, HttpSettings, HttpState};
pub use stream::HeartbeatClock;

/// The whole application: the router behind its edge (`edge`: the 304s
/// the bus vouches for are answered there, before any route's stack).
///
/// Each group's middleware is composed into ONE layer (`ServiceBuilder`)
/// before `Router::layer` applies it: every `Router::layer` call boxes every
/// route once more, and a request clones its route's whole chain of boxes.
/// Layered one call per middleware, with `from_fn` middleware (which clones
/// its inner service again), a `/healthz` made 55 boxed clones; composed, and
/// with `around::Around` instead of `from_fn`, it makes a few (BENCHMARKS.md,
/// "Where the time went: the 304 path against the bare hello"). Every
/// middleware of ours is an `Around`, the admin's operator check too: the
/// same three layers as `from_fn` still cost about 8,000 instructions more
/// per 304 (BENCHMARKS.md, "One middleware style").
pub fn router(state: HttpState) -> Edge {
    use tower_http::timeout::TimeoutLayer;

    // Install the metrics recorder before anything is counted.
    ops::metrics_handle();
    let settings = state.settings.clone();
    let rate_limits = state.rate_limits.clone();
    let timeout = TimeoutLayer::with_status_code(StatusCode::REQUEST_TIMEOUT, settings.request_timeout);
    // Failures are logged once, by `Observe`, with the request's id.
    let trace: RequestTrace =
        TraceLayer::new_for_http().make_span_with(request_span as fn(&Request) -> tracing::Span).on_failure(());
    // A wait on an unreachable database ends early, as a 503 (`unavailable`).
    let database_deadline = unavailable::DatabaseDeadlineLayer(state.app.health.clone());
    // What every route but the streams' passes first: its span, its timeout,
    // the database deadline.
    let api = ServiceBuilder::new().layer(trace.clone()).layer(timeout).layer(database_deadline.clone());
    // The operator routes are reads too: `/readyz` touches the database, and
    // no route is free to hammer.
    let reads = Router::new()
        .merge(providers::router())
        .merge(availability::router())
        .merge(many_providers::batch_router())
        .merge(search::router())
        .merge(ops::router(settings.public_metrics))
        .merge(openapi::router())
        .merge(agenda::read_router())
        .layer(
            api.clone()
                .option_layer(limits::layer(&rate_limits.read, settings.read_quota))
                // Outside the compressor: the tagging sees the `Content-Encoding` chosen.
                .layer(AroundLayer(compression::TagPerEncoding))
                .layer(compression::compressor()),
        );
    let writes = Router::new()
        .merge(bookings::router())
        .merge(slots::router())
        .merge(webhooks::router())
        .merge(waitlist::router())
        .merge(agenda::write_router())
        .layer(api.clone().option_layer(limits::layer(&rate_limits.write, settings.write_quota)));
    let holds = holds::router().layer(api.clone().option_layer(limits::layer(&rate_limits.hold, settings.hold_quota)));
    // Streams live for hours: no request timeout on them. No request span
    // either: the trace layer wraps the body, which costs on every event
    // delivered to every subscriber (BENCHMARKS.md), and at `debug` the span
    // would say no more than the stream gauges and the failure log.
    let streams = stream::router().merge(many_providers::stream_router()).merge(agenda::stream_router()).layer(
        ServiceBuilder::new()
            .layer(database_deadline)
            .option_layer(limits::layer(&rate_limits.stream, settings.stream_quota)),
    );
    let mut app = Router::new().merge(reads).merge(writes).merge(holds).merge(streams);
    if let Some(token) = settings.admin_token.clone() {
        // Its own body limit, inside the general one, which it overrides.
        let admin =
            admin::router(token).layer(api.layer(axum::extract::DefaultBodyLimit::max(settings.admin_body_limit)));
        app = app.merge(admin);
    }
    let guard = GuardRequest { body_limit: settings.body_limit, admin_body_limit: settings.admin_body_limit };
    let router = app
        .merge(page::router(settings.static_dir.as_deref()).layer(trace))
        .method_not_allowed_fallback(method_not_allowed)
        .layer(
            ServiceBuilder::new()
                .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
                .layer(PropagateRequestIdLayer::new(REQUEST_ID))
                .layer(AroundLayer(Observe))
                .option_layer(cors(&settings.cors_origins))
                .layer(AroundLayer(guard.clone()))
                // Bodies are only read by the JSON extractor, whose 413 is problem+json.
                .layer(axum::extract::DefaultBodyLimit::max(settings.body_limit)),
        )
        .with_state(state.clone());
    Edge::new(router, state, guard)
}

/// The request span layer of the non-stream routes.
type RequestTrace = TraceLayer<
    SharedClassifier<ServerErrorsAsFailures>,
    fn(&Request) -> tracing::Span,
    DefaultOnRequest,
    DefaultOnResponse,
    DefaultOnBodyChunk,
    DefaultOnEos,
    (),
>;

/// A request's span, at `debug`: formatting its fields on every request cost
/// a tenth of a 304. Failures are logged with their id, method and target at
/// any level (`middleware::Observe`).
fn request_span(request: &Request) -> tracing::Span {
    let id = request.headers().get(REQUEST_ID).and_then(|v| v.to_str().ok()).unwrap_or("-");
    tracing::debug_span!("request", id = %id, method = %request.method(), uri = %request.uri())
}

async fn no_route(method: Method, uri: Uri) -> ApiError {
    ApiError::NoRoute(format!("{method} {}", uri.path()))
}

async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed
}
