//! Provider-side slot endpoints (the provider's key or a signed-in
//! session): open slots for dates, block and unblock one slot or every
//! slot starting in a range.

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde::Serialize;
use uuid::Uuid;

use super::HttpState;
use super::error::ApiError;
use super::extract::{Caller, Json, Path};
use super::problems::WriteProblems;
use crate::domain::SlotStatus;

pub fn router() -> Router<HttpState> {
    Router::new()
        .route("/api/v1/providers/{provider_id}/slots", post(create_slots))
        .route("/api/v1/providers/{provider_id}/slots/{slot_id}/block", post(block))
        .route("/api/v1/providers/{provider_id}/slots/{slot_id}/unblock", post(unblock))
        .route("/api/v1/providers/{provider_id}/slots/block", post(block_range))
        .route("/api/v1/providers/{provider_id}/slots/unblock", post(unblock_range))
}

/// Open slots on dates from `open` to `close` (the provider's key).
#[utoipa::path(post, path = "/api/v1/providers/{providerId}/slots", tag = "provider", security(("bearer" = [])),
    params(("providerId" = Uuid, Path)), request_body = crate::app::NewSlots,
    responses((status = 201, body = crate::app::SlotsCreated), WriteProblems))]
pub(super) async fn create_slots(
    State(state): State<HttpState>,
    Path(provider_id): Path<Uuid>,
    Caller(credential): Caller,
    Json(request): Json<crate::app::NewSlots>,
) -> Result<Response, ApiError> {
    let created = state.app.create_slots(provider_id, request, &credential).await?;
    Ok((StatusCode::CREATED, axum::Json(created)).into_response())
}

/// Take a free slot off the calendar (the provider's key).
#[utoipa::path(post, path = "/api/v1/providers/{providerId}/slots/{slotId}/block", tag = "provider", security(("bearer" = [])),
    params(("providerId" = Uuid, Path), ("slotId" = Uuid, Path)), responses((status = 200, body = SlotStatusView), WriteProblems))]
pub(super) async fn block(
    state: State<HttpState>,
    path: Path<(Uuid, Uuid)>,
    caller: Caller,
) -> Result<axum::Json<SlotStatusView>, ApiError> {
    set_blocked(state, path, caller, true).await
}

/// Put a blocked slot back on the calendar (the provider's key).
#[utoipa::path(post, path = "/api/v1/providers/{providerId}/slots/{slotId}/unblock", tag = "provider", security(("bearer" = [])),
    params(("providerId" = Uuid, Path), ("slotId" = Uuid, Path)), responses((status = 200, body = SlotStatusView), WriteProblems))]
pub(super) async fn unblock(
    state: State<HttpState>,
    path: Path<(Uuid, Uuid)>,
    caller: Caller,
) -> Result<axum::Json<SlotStatusView>, ApiError> {
    set_blocked(state, path, caller, false).await
}

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(super) struct SlotStatusView {
    availability_id: Uuid,
    status: SlotStatus,
}

async fn set_blocked(
    State(state): State<HttpState>,
    Path((provider_id, slot_id)): Path<(Uuid, Uuid)>,
    Caller(credential): Caller,
    blocked: bool,
) -> Result<axum::Json<SlotStatusView>, ApiError> {
    let status = state.app.set_slot_blocked(provider_id, slot_id, blocked, &credential).await?;
    Ok(axum::Json(SlotStatusView { availability_id: slot_id, status }))
}

/// Take every free slot starting in `[from, to)` off the calendar, in one
/// transaction; booked and held ones are left and listed.
#[utoipa::path(post, path = "/api/v1/providers/{providerId}/slots/block", tag = "provider", security(("bearer" = []), ("session" = [])),
    params(("providerId" = Uuid, Path)), request_body = crate::app::SlotRange,
    responses((status = 200, body = crate::app::RangeChanged), WriteProblems))]
pub(super) async fn block_range(
    State(state): State<HttpState>,
    Path(provider_id): Path<Uuid>,
    Caller(credential): Caller,
    Json(range): Json<crate::app::SlotRange>,
) -> Result<axum::Json<crate::app::RangeChanged>, ApiError> {
    Ok(axum::Json(state.app.set_range_blocked(provider_id, range, true, &credential).await?))
}

/// Put every blocked slot starting in `[from, to)` back on the calendar, in one transaction.
#[utoipa::path(post, path = "/api/v1/providers/{providerId}/slots/unblock", tag = "provider", security(("bearer" = []), ("session" = [])),
    params(("providerId" = Uuid, Path)), request_body = crate::app::SlotRange,
    responses((status = 200, body = crate::app::RangeChanged), WriteProblems))]
pub(super) async fn unblock_range(
    State(state): State<HttpState>,
    Path(provider_id): Path<Uuid>,
    Caller(credential): Caller,
    Json(range): Json<crate::app::SlotRange>,
) -> Result<axum::Json<crate::app::RangeChanged>, ApiError> {
    Ok(axum::Json(state.app.set_range_blocked(provider_id, range, false, &credential).await?))
}
