//! Slot hold endpoints (DESIGN 4b): create, renew, release. Booking from a
//! hold is `POST /api/v1/bookings` with `holdId` (`bookings`). They share the
//! hold quota, apart from the other writes.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, post};
use axum::{Extension, Router};
use uuid::Uuid;

use super::HttpState;
use super::error::ApiError;
use super::extract::{Caller, Json, Path};
use super::problems::WriteProblems;
use crate::app::{HoldView, NewHold};

pub fn router() -> Router<HttpState> {
    Router::new()
        .route("/api/v1/holds", post(create))
        .route("/api/v1/holds/{hold_id}", delete(release))
        .route("/api/v1/holds/{hold_id}/renew", post(renew))
}

/// Hold every slot the service needs at `startTime` (all or none) while the
/// customer fills in the booking form. Everyone watching sees them `held`.
#[utoipa::path(post, path = "/api/v1/holds", tag = "holds", request_body = NewHold,
    responses((status = 201, description = "Held until `expiresAt`; the token is shown only here", body = HoldView, headers(("Location" = String))), WriteProblems))]
pub(super) async fn create(
    State(state): State<HttpState>,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
    Json(request): Json<NewHold>,
) -> Result<Response, ApiError> {
    let scope = state.rate_limits.client(peer, &headers).scope();
    let hold = state.app.create_hold(request, &scope).await?;
    let location = format!("/api/v1/holds/{}", hold.id);
    let mut response = (StatusCode::CREATED, axum::Json(hold)).into_response();
    if let Ok(value) = HeaderValue::from_str(&location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    Ok(response)
}

/// Extend the hold (to the hold lifetime from now, never past its maximum
/// lifetime from creation). A hold that has ended or cannot grow is a 409.
#[utoipa::path(post, path = "/api/v1/holds/{holdId}/renew", tag = "holds", security(("bearer" = [])),
    params(("holdId" = Uuid, Path)), responses((status = 200, description = "Renewed; no token", body = HoldView), WriteProblems))]
pub(super) async fn renew(
    State(state): State<HttpState>,
    Path(hold_id): Path<Uuid>,
    Caller(credential): Caller,
) -> Result<axum::Json<HoldView>, ApiError> {
    Ok(axum::Json(state.app.renew_hold(hold_id, &credential).await?))
}

/// Release the hold: its slots go back to `available`. Releasing twice is harmless.
#[utoipa::path(delete, path = "/api/v1/holds/{holdId}", tag = "holds", security(("bearer" = [])),
    params(("holdId" = Uuid, Path)), responses((status = 204, description = "Released"), WriteProblems))]
pub(super) async fn release(
    State(state): State<HttpState>,
    Path(hold_id): Path<Uuid>,
    Caller(credential): Caller,
) -> Result<StatusCode, ApiError> {
    state.app.release_hold(hold_id, &credential).await?;
    Ok(StatusCode::NO_CONTENT)
}
