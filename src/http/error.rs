//! The HTTP error type and its one mapping to RFC 9457 problem+json.
//! 500s are logged with their cause and shown to the client without internals;
//! 401s carry their `WWW-Authenticate: Bearer` challenge; 503s for an
//! unreachable database their `Retry-After`.

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::app::{AppError, Unauthenticated};

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error(transparent)]
    App(#[from] AppError),
    /// A malformed path, query or header.
    #[error("{0}")]
    BadRequest(String),
    /// A rejection from one of axum's extractors, with its own status.
    #[error("{detail}")]
    Rejected { status: StatusCode, detail: String },
    #[error("no route for {0}")]
    NoRoute(String),
    #[error("method not allowed")]
    MethodNotAllowed,
}

/// An RFC 9457 problem: every error this API returns.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Problem<'a> {
    /// `urn:slotstream:problem:<kind>`, e.g. `slot-unavailable`, `rate-limited`.
    #[serde(rename = "type")]
    kind: &'a str,
    title: &'a str,
    status: u16,
    detail: &'a str,
    /// `books-elsewhere` only: where this time is booked instead.
    #[serde(rename = "bookingUrl", skip_serializing_if = "Option::is_none")]
    booking_url: Option<&'a str>,
}

impl ApiError {
    fn parts(&self) -> (StatusCode, &'static str, &'static str) {
        match self {
            ApiError::App(AppError::NotFound(_)) | ApiError::NoRoute(_) => {
                (StatusCode::NOT_FOUND, "not-found", "Not found")
            }
            ApiError::App(AppError::Conflict(_)) => (StatusCode::CONFLICT, "slot-unavailable", "Slot not available"),
            ApiError::App(AppError::StateConflict(_)) => {
                (StatusCode::CONFLICT, "conflict", "Conflict with the resource's state")
            }
            ApiError::App(AppError::Invalid(_)) => (StatusCode::UNPROCESSABLE_ENTITY, "invalid-field", "Invalid field"),
            ApiError::App(AppError::Unauthorized(_)) => {
                (StatusCode::UNAUTHORIZED, "unauthorized", "Credential required")
            }
            ApiError::App(AppError::Forbidden(_)) => (StatusCode::FORBIDDEN, "forbidden", "Forbidden"),
            ApiError::App(AppError::IdempotencyMismatch(_)) => {
                (StatusCode::UNPROCESSABLE_ENTITY, "idempotency-key-reused", "Idempotency-Key reused")
            }
            ApiError::App(AppError::IdempotencyInProgress(_)) => {
                (StatusCode::CONFLICT, "idempotency-key-in-progress", "Request in progress")
            }
            ApiError::App(AppError::HoldNoLongerFits(_)) => {
                (StatusCode::CONFLICT, "hold-no-longer-fits", "Hold no longer fits the service")
            }
            ApiError::App(AppError::TooManyHolds(_)) => {
                (StatusCode::TOO_MANY_REQUESTS, "too-many-holds", "Too many holds")
            }
            ApiError::App(AppError::TooManyEntries(_)) => {
                (StatusCode::TOO_MANY_REQUESTS, "too-many-waitlist-entries", "Too many waitlist entries")
            }
            ApiError::App(AppError::BooksElsewhere { .. }) => {
                (StatusCode::CONFLICT, "books-elsewhere", "Booked in the marketplace's booking system")
            }
            ApiError::App(AppError::Gone(_)) => (StatusCode::GONE, "provider-deactivated", "Provider deactivated"),
            ApiError::App(AppError::DatabaseUnavailable(_)) => {
                (StatusCode::SERVICE_UNAVAILABLE, "database-unavailable", "Database unavailable")
            }
            ApiError::App(AppError::SearchUnavailable(_)) => {
                (StatusCode::SERVICE_UNAVAILABLE, "search-unavailable", "Search unavailable")
            }
            ApiError::App(AppError::Database(_) | AppError::Internal(_)) => {
                (StatusCode::INTERNAL_SERVER_ERROR, "internal", "Internal server error")
            }
            ApiError::BadRequest(_) => (StatusCode::BAD_REQUEST, "bad-request", "Bad request"),
            ApiError::Rejected { status, .. } => (*status, rejected_kind(*status), "Request rejected"),
            ApiError::MethodNotAllowed => (StatusCode::METHOD_NOT_ALLOWED, "method-not-allowed", "Method not allowed"),
        }
    }
}

fn rejected_kind(status: StatusCode) -> &'static str {
    match status {
        StatusCode::PAYLOAD_TOO_LARGE => "body-too-large",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported-media-type",
        StatusCode::UNPROCESSABLE_ENTITY => "invalid-body",
        _ => "bad-request",
    }
}

/// Why a request failed on the server's side: carried to
/// `middleware::Observe` on the response, never written to the client.
#[derive(Clone)]
pub struct Failure(pub String);

/// On a response that failed because the database could not be reached:
/// `unavailable::DatabaseDeadline` tells the instance's health.
#[derive(Clone)]
pub struct DatabaseUnreachable(pub String);

/// On an answer that is an outage's rather than a failure of its own (`503
/// database-unavailable`, `/readyz`'s `503 not-ready`): `middleware::Observe`
/// does not log it one by one, since the health logs the outage once and
/// `slotstream_http_request_duration_seconds{status="503"}` counts them.
#[derive(Clone, Copy)]
pub struct OutageAnswer;

/// Seconds a client is asked to wait while the database is unreachable: the
/// prober sees it back within half a second, and a stream's `retry:` is 2 s.
const DATABASE_RETRY_AFTER: HeaderValue = HeaderValue::from_static("2");

/// Seconds a search is asked to wait while the index loads or catches up.
const SEARCH_RETRY_AFTER: HeaderValue = HeaderValue::from_static("1");

/// Build a problem+json response (also used by middleware that refuses requests).
pub fn problem(status: StatusCode, kind: &str, title: &str, detail: &str) -> Response {
    problem_with_url(status, kind, title, detail, None)
}

fn problem_with_url(status: StatusCode, kind: &str, title: &str, detail: &str, booking_url: Option<&str>) -> Response {
    let kind = format!("urn:slotstream:problem:{kind}");
    let body = serde_json::to_vec(&Problem { kind: &kind, title, status: status.as_u16(), detail, booking_url })
        .unwrap_or_default();
    let mut response = (status, body).into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/problem+json"));
    response
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, kind, title) = self.parts();
        if let ApiError::App(AppError::DatabaseUnavailable(why)) = self {
            let mut response =
                problem(status, kind, title, "the database is unavailable; retry after the delay in Retry-After");
            response.headers_mut().insert(header::RETRY_AFTER, DATABASE_RETRY_AFTER);
            response.extensions_mut().insert(DatabaseUnreachable(why));
            response.extensions_mut().insert(OutageAnswer);
            return response;
        }
        if let ApiError::App(AppError::SearchUnavailable(why)) = &self {
            let mut response = problem(status, kind, title, why);
            response.headers_mut().insert(header::RETRY_AFTER, SEARCH_RETRY_AFTER);
            response.extensions_mut().insert(OutageAnswer);
            return response;
        }
        if status.is_server_error() {
            let mut response =
                problem(status, kind, title, "the server could not complete the request; it has been logged");
            // Logged by `middleware::Observe`, which knows the request and its id.
            response.extensions_mut().insert(Failure(self.to_string()));
            return response;
        }
        // Booking conflicts only: a 409 about a key's, hold's or booking's
        // own state (`conflict`) is not one.
        if status == StatusCode::CONFLICT
            && !matches!(self, ApiError::App(AppError::StateConflict(_) | AppError::BooksElsewhere { .. }))
        {
            metrics::counter!("slotstream_booking_conflicts_total").increment(1);
        }
        let booking_url = match &self {
            ApiError::App(AppError::BooksElsewhere { booking_url, .. }) => booking_url.as_deref(),
            _ => None,
        };
        let mut response = problem_with_url(status, kind, title, &self.to_string(), booking_url);
        if let ApiError::App(AppError::Unauthorized(reason)) = &self {
            response.headers_mut().insert(header::WWW_AUTHENTICATE, bearer_challenge(reason));
        }
        response
    }
}

/// The `WWW-Authenticate` challenge a 401 must carry (RFC 9110 §11.6.1): we
/// take Bearer tokens (RFC 6750 §3), and name the error only when a token was
/// presented and is unusable.
fn bearer_challenge(reason: &Unauthenticated) -> HeaderValue {
    match reason {
        Unauthenticated::NoCredential(_) => HeaderValue::from_static("Bearer"),
        Unauthenticated::InvalidToken(_) => HeaderValue::from_static(r#"Bearer error="invalid_token""#),
    }
}

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> ApiError {
        ApiError::Rejected { status: rejection.status(), detail: rejection.body_text() }
    }
}

impl From<PathRejection> for ApiError {
    fn from(rejection: PathRejection) -> ApiError {
        ApiError::BadRequest(rejection.body_text())
    }
}

impl From<QueryRejection> for ApiError {
    fn from(rejection: QueryRejection) -> ApiError {
        ApiError::BadRequest(rejection.body_text())
    }
}
