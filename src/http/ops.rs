//! Operator endpoints: `/healthz` (process up), `/readyz` (database reachable
//! and, on PostgreSQL, the event relay listening), `/metrics` (Prometheus; on
//! its own private listener with `--metrics-bind`); `/openapi.json` is
//! served by `openapi`. They
//! count against the read quota like any read (see `http::router`).
//! `/readyz` answers from what the instance already knows (`crate::health`,
//! kept by a prober), so it answers at once even while the database does not.

use std::sync::OnceLock;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

use super::HttpState;
use super::error::{OutageAnswer, problem};
use super::problems::QuotaProblem;

/// The operator routes of the public listener; `/metrics` among them
/// unless it is served apart (`metrics_router`).
pub fn router(with_metrics: bool) -> Router<HttpState> {
    let router = Router::new().route("/healthz", get(healthz)).route("/readyz", get(readyz));
    if with_metrics { router.route("/metrics", get(metrics_text)) } else { router }
}

/// `/metrics` alone, for the private listener of `--metrics-bind`: no quota
/// (only the operator's scraper reaches it), every other path 404.
pub fn metrics_router(state: HttpState) -> Router {
    metrics_handle();
    Router::new().route("/metrics", get(metrics_text)).fallback(super::no_route).with_state(state)
}

/// The process-wide Prometheus recorder, installed on first use.
pub fn metrics_handle() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let recorder = PrometheusBuilder::new()
            .set_buckets(&[0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5])
            .map(|b| b.build_recorder())
            .unwrap_or_else(|_| PrometheusBuilder::new().build_recorder());
        let handle = recorder.handle();
        // Fails only if another recorder is installed; then ours stays empty.
        let _ = metrics::set_global_recorder(recorder);
        handle
    })
}

/// The process is up.
#[utoipa::path(get, path = "/healthz", tag = "operations", responses((status = 200, body = String, content_type = "text/plain"), QuotaProblem))]
pub(super) async fn healthz() -> &'static str {
    "ok\n"
}

/// The database is reachable (and, on PostgreSQL, the event listener connected).
#[utoipa::path(get, path = "/readyz", tag = "operations", responses((status = 200, body = String, content_type = "text/plain"),
    (status = 503, body = super::error::Problem, content_type = "application/problem+json"), QuotaProblem))]
pub(super) async fn readyz(State(state): State<HttpState>) -> Response {
    let why = if !state.app.health.is_reachable() {
        "the database is unreachable"
    } else if state.expects_relay && !state.app.bus.versions_trusted() {
        "the PostgreSQL event listener is not connected"
    } else {
        return "ready\n".into_response();
    };
    // An answer, not a failure: polled through an outage, it is not logged
    // one by one (`middleware::Observe`).
    let mut response = problem(StatusCode::SERVICE_UNAVAILABLE, "not-ready", "Not ready", why);
    response.extensions_mut().insert(OutageAnswer);
    response
}

/// Prometheus metrics. Answered from memory, without a database query.
/// With `--metrics-bind` they are served on that address only, and this
/// path answers 404 here.
#[utoipa::path(get, path = "/metrics", tag = "operations", responses((status = 200, body = String, content_type = "text/plain"),
    (status = 404, description = "served on the `--metrics-bind` address instead", body = super::error::Problem, content_type = "application/problem+json"),
    QuotaProblem))]
pub(super) async fn metrics_text(State(state): State<HttpState>) -> Response {
    let mut text = metrics_handle().render();
    // Exact for this instance, whatever else shares the process-wide recorder.
    text.push_str("# TYPE slotstream_stream_subscribers gauge\n");
    text.push_str(&format!("slotstream_stream_subscribers {}\n", state.app.bus.subscriber_count()));
    text.push_str("# TYPE slotstream_directory_entries gauge\n");
    text.push_str(&format!("slotstream_directory_entries {}\n", state.app.directory.entries()));
    let index = state.app.search.size();
    for (name, value) in [
        ("slotstream_search_index_providers", index.providers),
        ("slotstream_search_index_free_slots", index.free_slots),
        ("slotstream_search_index_bytes", index.bytes),
        // The caps, so that alerts can compare the open counts with them.
        ("slotstream_max_connections", state.max_connections),
        ("slotstream_max_streams", state.settings.max_streams),
        // Providers whose newest committed version is known here but not
        // yet sent to this instance's streams (a gap the reconciler fills
        // from the log, at once unless the log cannot be read).
        ("slotstream_relay_providers_behind", state.app.bus.providers_behind()),
    ] {
        text.push_str(&format!("# TYPE {name} gauge\n{name} {value}\n"));
    }
    // No database query: a scrape must answer (and cost nothing) whatever
    // the database is doing. The holds are recounted by a background task.
    state.app.gauges.render(&mut text);
    let mut response = text.into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; version=0.0.4"));
    response
}
