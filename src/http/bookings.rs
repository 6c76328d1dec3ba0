//! Booking endpoints: create (with `Idempotency-Key`, or from a hold), read,
//! cancel, reschedule.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Router};
use chrono::{DateTime, FixedOffset};
use serde::Deserialize;
use uuid::Uuid;

use super::HttpState;
use super::error::ApiError;
use super::extract::{Caller, IdempotencyKey, Json, OptionalJson, Path};
use super::problems::WriteProblems;
use crate::app::{BookingView, Cancellation, Credential, NewBooking, ScopedKey};

pub fn router() -> Router<HttpState> {
    Router::new()
        .route("/api/v1/bookings", post(create))
        .route("/api/v1/bookings/{booking_id}", get(read))
        .route("/api/v1/bookings/{booking_id}/calendar.ics", get(calendar))
        .route("/api/v1/bookings/{booking_id}/cancel", post(cancel))
        .route("/api/v1/bookings/{booking_id}/reschedule", post(reschedule))
}

/// Book the slots covering `[startTime, startTime + service duration)`, all or none.
/// With `holdId` and the hold's token in `Authorization: Bearer`, book the slots that hold holds.
#[utoipa::path(post, path = "/api/v1/bookings", tag = "bookings", request_body = NewBooking,
    params(("Idempotency-Key" = Option<String>, Header, description = "A retry with the same key from the same client books nothing twice and returns the booking as it is now, token included (header `Idempotent-Replayed: true`)")),
    responses((status = 201, description = "Booked; the token is shown only here (and in a replay to the client that sent the Idempotency-Key)", body = BookingView, headers(("Location" = String))), WriteProblems))]
pub(super) async fn create(
    State(state): State<HttpState>,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
    IdempotencyKey(key): IdempotencyKey,
    caller: Result<Caller, ApiError>,
    Json(request): Json<NewBooking>,
) -> Result<Response, ApiError> {
    // Only a booking from a hold needs a credential (the hold's token): any
    // other booking ignores the header, as it did before holds existed.
    let credential = match (request.hold_id, caller) {
        (Some(_), caller) => caller?.0,
        (None, _) => Credential::None,
    };
    // Keys are scoped by the rate limiter's client identity: one client's key
    // can neither collide with nor replay another's.
    let scope = state.rate_limits.client(peer, &headers).scope();
    let scoped = key.as_deref().map(|key| ScopedKey { scope: &scope, key });
    let (booking, replayed) = state.app.create_booking(request, scoped, &credential).await?;
    let location = format!("/api/v1/bookings/{}", booking.id);
    let mut response = (StatusCode::CREATED, axum::Json(booking)).into_response();
    if let Ok(value) = HeaderValue::from_str(&location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    if replayed {
        response.headers_mut().insert("idempotent-replayed", HeaderValue::from_static("true"));
    }
    Ok(response)
}

/// A booking, for its holder (token) or its provider (key).
#[utoipa::path(get, path = "/api/v1/bookings/{bookingId}", tag = "bookings", security(("bearer" = [])),
    params(("bookingId" = Uuid, Path)), responses((status = 200, body = BookingView), WriteProblems))]
pub(super) async fn read(
    State(state): State<HttpState>,
    Path(booking_id): Path<Uuid>,
    Caller(credential): Caller,
) -> Result<axum::Json<BookingView>, ApiError> {
    Ok(axum::Json(state.app.get_booking(booking_id, &credential).await?))
}

/// The booking as an iCalendar file: one event, UTC start and end, the
/// service and provider in its summary, the provider's address as location.
/// Authorised like the booking itself (its token as Bearer), so the page
/// downloads it with `fetch` and the token never appears in a URL.
#[utoipa::path(get, path = "/api/v1/bookings/{bookingId}/calendar.ics", tag = "bookings", security(("bearer" = [])),
    params(("bookingId" = Uuid, Path)),
    responses((status = 200, description = "An RFC 5545 calendar with the booking's event", content_type = "text/calendar", body = String), WriteProblems))]
pub(super) async fn calendar(
    State(state): State<HttpState>,
    Path(booking_id): Path<Uuid>,
    Caller(credential): Caller,
) -> Result<Response, ApiError> {
    let ics = state.app.booking_as_icalendar(booking_id, &credential).await?;
    let headers = [
        (header::CONTENT_TYPE, "text/calendar; charset=utf-8"),
        (header::CONTENT_DISPOSITION, "attachment; filename=\"booking.ics\""),
        // It names a customer's appointment: no shared cache keeps it.
        (header::CACHE_CONTROL, "private, no-store"),
    ];
    Ok((headers, ics).into_response())
}

/// Release the booking's slots, optionally saying why (the customer's page
/// and the `booking.cancelled` webhook carry the reason). Cancelling twice is harmless.
#[utoipa::path(post, path = "/api/v1/bookings/{bookingId}/cancel", tag = "bookings", security(("bearer" = [])),
    params(("bookingId" = Uuid, Path)), request_body(content = Option<Cancellation>, description = "Optional: `{ reason }`"),
    responses((status = 200, body = BookingView), WriteProblems))]
pub(super) async fn cancel(
    State(state): State<HttpState>,
    Path(booking_id): Path<Uuid>,
    Caller(credential): Caller,
    OptionalJson(cancellation): OptionalJson<Cancellation>,
) -> Result<axum::Json<BookingView>, ApiError> {
    Ok(axum::Json(state.app.cancel_booking(booking_id, cancellation, &credential).await?))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct Reschedule {
    /// RFC 3339 instant of the new start.
    #[schema(value_type = String, format = DateTime)]
    start_time: DateTime<FixedOffset>,
}

/// Move the booking: release its slots and book the new ones in one transaction.
#[utoipa::path(post, path = "/api/v1/bookings/{bookingId}/reschedule", tag = "bookings", security(("bearer" = [])),
    params(("bookingId" = Uuid, Path)), request_body = Reschedule, responses((status = 200, body = BookingView), WriteProblems))]
pub(super) async fn reschedule(
    State(state): State<HttpState>,
    Path(booking_id): Path<Uuid>,
    Caller(credential): Caller,
    Json(request): Json<Reschedule>,
) -> Result<axum::Json<BookingView>, ApiError> {
    Ok(axum::Json(state.app.reschedule_booking(booking_id, request.start_time, &credential).await?))
}
