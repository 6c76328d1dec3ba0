//! Waitlist endpoints (DESIGN 4c): join, read, leave, decline an offer.
//! Claiming an offer is `POST /api/v1/bookings` with its `holdId`
//! (`bookings`). Under the write quota; the number of active entries per
//! client has a cap of its own (`--max-waitlist-per-client`).

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
use crate::app::{EntryView, NewEntry};

pub fn router() -> Router<HttpState> {
    Router::new()
        .route("/api/v1/waitlist", post(join))
        .route("/api/v1/waitlist/{entry_id}", delete(leave).get(read))
        .route("/api/v1/waitlist/{entry_id}/offer", delete(decline))
}

/// Wait for a time of one service between two dates (and within times of
/// day): when such a time is freed, it is held for the first in line.
#[utoipa::path(post, path = "/api/v1/waitlist", tag = "waitlist", request_body = NewEntry,
    responses((status = 201, description = "In line; the token is shown only here", body = EntryView, headers(("Location" = String))), WriteProblems))]
pub(super) async fn join(
    State(state): State<HttpState>,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
    Json(request): Json<NewEntry>,
) -> Result<Response, ApiError> {
    let scope = state.rate_limits.client(peer, &headers).scope();
    let entry = state.app.join_waitlist(request, &scope).await?;
    let location = format!("/api/v1/waitlist/{}", entry.id);
    let mut response = (StatusCode::CREATED, axum::Json(entry)).into_response();
    if let Ok(value) = HeaderValue::from_str(&location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    Ok(response)
}

/// The entry and the time held for it now, if any (the entry's token, or its
/// offer's claim token).
#[utoipa::path(get, path = "/api/v1/waitlist/{entryId}", tag = "waitlist", security(("bearer" = [])),
    params(("entryId" = Uuid, Path)), responses((status = 200, description = "The entry; no token", body = EntryView), WriteProblems))]
pub(super) async fn read(
    State(state): State<HttpState>,
    Path(entry_id): Path<Uuid>,
    Caller(credential): Caller,
) -> Result<axum::Json<EntryView>, ApiError> {
    Ok(axum::Json(state.app.get_waitlist_entry(entry_id, &credential).await?))
}

/// Leave the waitlist (the entry's own token). A time held for it passes to
/// the next in line. Leaving twice is harmless.
#[utoipa::path(delete, path = "/api/v1/waitlist/{entryId}", tag = "waitlist", security(("bearer" = [])),
    params(("entryId" = Uuid, Path)), responses((status = 204, description = "Left"), WriteProblems))]
pub(super) async fn leave(
    State(state): State<HttpState>,
    Path(entry_id): Path<Uuid>,
    Caller(credential): Caller,
) -> Result<StatusCode, ApiError> {
    state.app.leave_waitlist(entry_id, &credential).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Decline the time held for the entry: it passes to the next in line, and
/// the entry waits on. Without a live offer nothing changes.
#[utoipa::path(delete, path = "/api/v1/waitlist/{entryId}/offer", tag = "waitlist", security(("bearer" = [])),
    params(("entryId" = Uuid, Path)), responses((status = 204, description = "Declined"), WriteProblems))]
pub(super) async fn decline(
    State(state): State<HttpState>,
    Path(entry_id): Path<Uuid>,
    Caller(credential): Caller,
) -> Result<StatusCode, ApiError> {
    state.app.decline_offer(entry_id, &credential).await?;
    Ok(StatusCode::NO_CONTENT)
}
