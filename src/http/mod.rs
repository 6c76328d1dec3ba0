//! The HTTP API (DESIGN section 4): routes, extractors, conditional
//! requests, the SSE stream and problem+json errors.
//!
//! Routes:
//! - `GET  /api/v1/providers`
//! - `GET|HEAD /api/v1/providers/{providerId}/availability`
//! - `GET  /api/v1/providers/{providerId}/availability/stream`
//! - `POST /api/v1/providers/{providerId}/slots`, `.../slots/{slotId}/block|unblock`
//! - `POST /api/v1/bookings`, `GET /api/v1/bookings/{id}`, `POST .../cancel|reschedule`
//! - `GET  /healthz`, `/readyz`, `/metrics`; the page at `/`

mod availability;
mod bookings;
pub mod error;
pub mod extract;
mod ops;
mod page;
mod providers;
mod slots;
mod stream;

use std::time::Duration;

use axum::Router;
use axum::http::{Method, Uri};
use tokio::sync::watch;

use crate::app::App;
use error::ApiError;

/// Settings the HTTP layer needs at run time.
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
}

impl Default for HttpSettings {
    fn default() -> HttpSettings {
        HttpSettings {
            heartbeat: Duration::from_secs(15),
            retry: Duration::from_secs(2),
            body_limit: 16 * 1024,
            request_timeout: Duration::from_secs(10),
        }
    }
}

/// Shared state of every handler: a cheap-clone handle.
#[derive(Clone)]
pub struct AppState {
    pub app: App,
    pub settings: HttpSettings,
    /// Turns true when the server begins to shut down; streams end on it.
    pub shutdown: watch::Receiver<bool>,
    /// Is the PostgreSQL relay expected (readiness needs it connected)?
    pub expects_relay: bool,
}

/// The whole application router.
pub fn router(state: AppState) -> Router {
    use tower_http::timeout::TimeoutLayer;

    let settings = state.settings.clone();
    let api = Router::new()
        .merge(providers::router())
        .merge(availability::router())
        .merge(bookings::router())
        .merge(slots::router())
        .layer(TimeoutLayer::with_status_code(
            axum::http::StatusCode::REQUEST_TIMEOUT,
            settings.request_timeout,
        ));
    Router::new()
        .merge(api)
        // Streams live for hours: no request timeout on them.
        .merge(stream::router())
        .merge(ops::router())
        .merge(page::router())
        .fallback(no_route)
        .method_not_allowed_fallback(method_not_allowed)
        // Bodies are only read by the JSON extractor, whose 413 is problem+json.
        .layer(axum::extract::DefaultBodyLimit::max(settings.body_limit))
        .layer(tower_http::trace::TraceLayer::new_for_http())
        .with_state(state)
}

async fn no_route(method: Method, uri: Uri) -> ApiError {
    ApiError::NoRoute(format!("{method} {}", uri.path()))
}

async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed
}
