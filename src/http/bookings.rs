//! Booking endpoints: create (with `Idempotency-Key`), read, cancel, reschedule.

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use chrono::{DateTime, FixedOffset};
use serde::Deserialize;
use uuid::Uuid;

use super::AppState;
use super::error::ApiError;
use super::extract::{Bearer, IdempotencyKey, Json, Path};
use crate::app::{BookingView, NewBooking};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/bookings", post(create))
        .route("/api/v1/bookings/{booking_id}", get(read))
        .route("/api/v1/bookings/{booking_id}/cancel", post(cancel))
        .route("/api/v1/bookings/{booking_id}/reschedule", post(reschedule))
}

async fn create(
    State(state): State<AppState>,
    IdempotencyKey(key): IdempotencyKey,
    Json(request): Json<NewBooking>,
) -> Result<Response, ApiError> {
    let (booking, replayed) = state.app.create_booking(request, key.as_deref()).await?;
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

async fn read(
    State(state): State<AppState>,
    Path(booking_id): Path<Uuid>,
    Bearer(credential): Bearer,
) -> Result<axum::Json<BookingView>, ApiError> {
    Ok(axum::Json(state.app.get_booking(booking_id, &credential).await?))
}

async fn cancel(
    State(state): State<AppState>,
    Path(booking_id): Path<Uuid>,
    Bearer(credential): Bearer,
) -> Result<axum::Json<BookingView>, ApiError> {
    Ok(axum::Json(state.app.cancel_booking(booking_id, &credential).await?))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Reschedule {
    start_time: DateTime<FixedOffset>,
}

async fn reschedule(
    State(state): State<AppState>,
    Path(booking_id): Path<Uuid>,
    Bearer(credential): Bearer,
    Json(request): Json<Reschedule>,
) -> Result<axum::Json<BookingView>, ApiError> {
    Ok(axum::Json(state.app.reschedule_booking(booking_id, request.start_time, &credential).await?))
}
