//! Provider-side slot endpoints (the provider's key required): open slots
//! for dates, block and unblock one slot.

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde::Serialize;
use uuid::Uuid;

use super::HttpState;
use super::error::ApiError;
use super::extract::{Bearer, Json, Path};
use super::problems::WriteProblems;
use crate::domain::SlotStatus;

pub fn router() -> Router<HttpState> {
    Router::new()
        .route("/api/v1/providers/{provider_id}/slots", post(create_slots))
        .route("/api/v1/providers/{provider_id}/slots/{slot_id}/block", post(block))
        .route("/api/v1/providers/{provider_id}/slots/{slot_id}/unblock", post(unblock))
}

/// Open slots on dates from `open` to `close` (the provider's key).
#[utoipa::path(post, path = "/api/v1/providers/{providerId}/slots", tag = "provider", security(("bearer" = [])),
    params(("providerId" = Uuid, Path)), request_body = crate::app::NewSlots,
    responses((status = 201, body = crate::app::SlotsCreated), WriteProblems))]
pub(super) async fn create_slots(
    State(state): State<HttpState>,
    Path(provider_id): Path<Uuid>,
    Bearer(credential): Bearer,
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
    bearer: Bearer,
) -> Result<axum::Json<SlotStatusView>, ApiError> {
    set_blocked(state, path, bearer, true).await
}

/// Put a blocked slot back on the calendar (the provider's key).
#[utoipa::path(post, path = "/api/v1/providers/{providerId}/slots/{slotId}/unblock", tag = "provider", security(("bearer" = [])),
    params(("providerId" = Uuid, Path), ("slotId" = Uuid, Path)), responses((status = 200, body = SlotStatusView), WriteProblems))]
pub(super) async fn unblock(
    state: State<HttpState>,
    path: Path<(Uuid, Uuid)>,
    bearer: Bearer,
) -> Result<axum::Json<SlotStatusView>, ApiError> {
    set_blocked(state, path, bearer, false).await
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
    Bearer(credential): Bearer,
    blocked: bool,
) -> Result<axum::Json<SlotStatusView>, ApiError> {
    let status = state.app.set_slot_blocked(provider_id, slot_id, blocked, &credential).await?;
    Ok(axum::Json(SlotStatusView { availability_id: slot_id, status }))
}
