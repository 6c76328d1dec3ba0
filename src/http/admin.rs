//! The admin API (`/api/v1/admin/…`), for the marketplace's back end, with
//! the operator token (`--admin-token-file`) in `Authorization: Bearer`:
//! - `PUT  /api/v1/admin/providers/{externalId}`: upsert a provider (201 created, 200 otherwise)
//! - `GET  /api/v1/admin/providers/{externalId}`: the provider with its services, schedule, keys (no secrets)
//! - `POST /api/v1/admin/providers/{externalId}/deactivate`, `…/reactivate`
//! - `PUT  /api/v1/admin/providers/{externalId}/services/{externalServiceId}`: upsert a service
//! - `PUT  /api/v1/admin/providers/{externalId}/schedule`: set the weekly schedule, re-plan
//! - `POST|GET /api/v1/admin/providers/{externalId}/keys`: issue (secret shown once), list
//! - `DELETE /api/v1/admin/providers/{externalId}/keys/{keyId}`: revoke (204)
//! - `POST /api/v1/admin/providers/{externalId}/keys/{keyId}/rotate`: a new key for the old
//! - `POST /api/v1/admin/providers/{externalId}/slot-changes`: the booking system's changes
//! - `PUT  /api/v1/admin/providers/{externalId}/slots?from=&to=`: its snapshot of a date range
//! - `POST /api/v1/admin/providers/{externalId}/sign-in-links`: a one-time link to the provider's agenda
//!
//! Without `--admin-token-file` these routes do not exist (404): a server
//! with no operator cannot be administered, and says nothing about it. With
//! one, a missing or wrong token is 401, checked before anything else.

use axum::Router;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post, put};
use uuid::Uuid;

use super::HttpState;
use super::around::{Around, AroundLayer};
use super::error::ApiError;
use super::extract::{Bearer, Json, Path, Query};
use crate::app::{
    AdminProvider, AdminProviderDetail, AdminService, AdminToken, Applied, IssuedKey, KeyView, NewKey, ProviderFields,
    Replanned, ScheduleInput, ServiceFields, SlotChanges, SlotSnapshot, SnapshotRange, Upserted,
};

/// The admin routes, behind the operator token.
pub fn router(token: AdminToken) -> Router<HttpState> {
    Router::new()
        .route("/api/v1/admin/providers/{external_id}", put(put_provider).merge(get(get_provider)))
        .route("/api/v1/admin/providers/{external_id}/deactivate", post(deactivate))
        .route("/api/v1/admin/providers/{external_id}/reactivate", post(reactivate))
        .route("/api/v1/admin/providers/{external_id}/services/{external_service_id}", put(put_service))
        .route("/api/v1/admin/providers/{external_id}/schedule", put(put_schedule))
        .route("/api/v1/admin/providers/{external_id}/keys", post(issue_key).get(list_keys))
        .route("/api/v1/admin/providers/{external_id}/keys/{key_id}", delete(revoke_key))
        .route("/api/v1/admin/providers/{external_id}/keys/{key_id}/rotate", post(rotate_key))
        .route("/api/v1/admin/providers/{external_id}/slot-changes", post(post_slot_changes))
        .route("/api/v1/admin/providers/{external_id}/slots", put(put_slots))
        .route("/api/v1/admin/providers/{external_id}/sign-in-links", post(sign_in_link))
        // A route layer: an unknown admin path is a 404, not a 401.
        .route_layer(AroundLayer(RequireOperator(token)))
}

/// 401 unless the request carries the operator token.
#[derive(Clone)]
struct RequireOperator(AdminToken);

impl Around for RequireOperator {
    type ForAfter = ();

    fn before(&self, request: &Request) -> Result<(), Box<Response>> {
        Bearer::from_headers(request.headers())
            .and_then(|Bearer(credential)| Ok(self.0.authorize(&credential)?))
            .map_err(|refused| Box::new(refused.into_response()))
    }

    fn after(&self, (): (), response: Response) -> Response {
        response
    }
}

fn status_of(outcome: Upserted) -> StatusCode {
    if outcome == Upserted::Created { StatusCode::CREATED } else { StatusCode::OK }
}

/// Create or update a provider by the marketplace's id.
#[utoipa::path(put, path = "/api/v1/admin/providers/{externalId}", tag = "admin", security(("admin" = [])),
    params(("externalId" = String, Path)), request_body = ProviderFields,
    responses((status = 201, description = "Created", body = AdminProvider), (status = 200, description = "Updated, or already so", body = AdminProvider), AdminProblems))]
pub(super) async fn put_provider(
    State(state): State<HttpState>,
    Path(external_id): Path<String>,
    Json(fields): Json<ProviderFields>,
) -> Result<Response, ApiError> {
    let (provider, outcome) = state.app.upsert_provider(&external_id, fields).await?;
    Ok((status_of(outcome), axum::Json(provider)).into_response())
}

/// Deactivate a provider: its streams end, bookings and holds are refused (410), history stays.
#[utoipa::path(post, path = "/api/v1/admin/providers/{externalId}/deactivate", tag = "admin", security(("admin" = [])),
    params(("externalId" = String, Path)), responses((status = 200, body = AdminProvider), AdminProblems))]
pub(super) async fn deactivate(
    State(state): State<HttpState>,
    Path(external_id): Path<String>,
) -> Result<axum::Json<AdminProvider>, ApiError> {
    Ok(axum::Json(state.app.deactivate_provider(&external_id).await?))
}

/// The provider with its services, weekly schedule and keys (ids, labels, dates: never a secret), active or not.
#[utoipa::path(get, path = "/api/v1/admin/providers/{externalId}", tag = "admin", security(("admin" = [])),
    params(("externalId" = String, Path)), responses((status = 200, body = AdminProviderDetail), AdminProblems))]
pub(super) async fn get_provider(
    State(state): State<HttpState>,
    Path(external_id): Path<String>,
) -> Result<axum::Json<AdminProviderDetail>, ApiError> {
    Ok(axum::Json(state.app.admin_provider(&external_id).await?))
}

/// Reactivate a deactivated provider: streams, documents, bookings and holds serve again (200 if it already was active).
#[utoipa::path(post, path = "/api/v1/admin/providers/{externalId}/reactivate", tag = "admin", security(("admin" = [])),
    params(("externalId" = String, Path)), responses((status = 200, body = AdminProvider), AdminProblems))]
pub(super) async fn reactivate(
    State(state): State<HttpState>,
    Path(external_id): Path<String>,
) -> Result<axum::Json<AdminProvider>, ApiError> {
    Ok(axum::Json(state.app.reactivate_provider(&external_id).await?))
}

/// Create or update a service of a provider by the marketplace's ids.
#[utoipa::path(put, path = "/api/v1/admin/providers/{externalId}/services/{externalServiceId}", tag = "admin",
    security(("admin" = [])), params(("externalId" = String, Path), ("externalServiceId" = String, Path)),
    request_body = ServiceFields,
    responses((status = 201, description = "Created", body = AdminService), (status = 200, description = "Updated, or already so", body = AdminService), AdminProblems))]
pub(super) async fn put_service(
    State(state): State<HttpState>,
    Path((external_id, external_service_id)): Path<(String, String)>,
    Json(fields): Json<ServiceFields>,
) -> Result<Response, ApiError> {
    let (service, outcome) = state.app.upsert_service(&external_id, &external_service_id, fields).await?;
    Ok((status_of(outcome), axum::Json(service)).into_response())
}

/// Set the weekly schedule and re-plan the slot window (booked and held slots are never touched: conflicts are listed).
#[utoipa::path(put, path = "/api/v1/admin/providers/{externalId}/schedule", tag = "admin", security(("admin" = [])),
    params(("externalId" = String, Path)), request_body = ScheduleInput,
    responses((status = 200, body = Replanned), AdminProblems))]
pub(super) async fn put_schedule(
    State(state): State<HttpState>,
    Path(external_id): Path<String>,
    Json(input): Json<ScheduleInput>,
) -> Result<axum::Json<Replanned>, ApiError> {
    Ok(axum::Json(state.app.set_schedule(&external_id, &input, chrono::Utc::now()).await?))
}

/// Issue a provider key (the secret is in this answer only).
#[utoipa::path(post, path = "/api/v1/admin/providers/{externalId}/keys", tag = "admin", security(("admin" = [])),
    params(("externalId" = String, Path)), request_body = NewKey,
    responses((status = 201, body = IssuedKey), AdminProblems))]
pub(super) async fn issue_key(
    State(state): State<HttpState>,
    Path(external_id): Path<String>,
    Json(request): Json<NewKey>,
) -> Result<Response, ApiError> {
    let issued = state.app.issue_key(&external_id, request).await?;
    Ok((StatusCode::CREATED, axum::Json(issued)).into_response())
}

/// A provider's keys, by creation time, without secrets.
#[utoipa::path(get, path = "/api/v1/admin/providers/{externalId}/keys", tag = "admin", security(("admin" = [])),
    params(("externalId" = String, Path)), responses((status = 200, body = [KeyView]), AdminProblems))]
pub(super) async fn list_keys(
    State(state): State<HttpState>,
    Path(external_id): Path<String>,
) -> Result<axum::Json<Vec<KeyView>>, ApiError> {
    Ok(axum::Json(state.app.list_keys(&external_id).await?))
}

/// Revoke a key: it stops working at once, on every instance.
#[utoipa::path(delete, path = "/api/v1/admin/providers/{externalId}/keys/{keyId}", tag = "admin", security(("admin" = [])),
    params(("externalId" = String, Path), ("keyId" = Uuid, Path)),
    responses((status = 204, description = "Revoked (or already was)"), AdminProblems))]
pub(super) async fn revoke_key(
    State(state): State<HttpState>,
    Path((external_id, key_id)): Path<(String, Uuid)>,
) -> Result<StatusCode, ApiError> {
    state.app.revoke_key(&external_id, key_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Replace a live key by a new one (same label): the old one stops working as the new one starts.
#[utoipa::path(post, path = "/api/v1/admin/providers/{externalId}/keys/{keyId}/rotate", tag = "admin",
    security(("admin" = [])), params(("externalId" = String, Path), ("keyId" = Uuid, Path)),
    responses((status = 201, body = IssuedKey), AdminProblems))]
pub(super) async fn rotate_key(
    State(state): State<HttpState>,
    Path((external_id, key_id)): Path<(String, Uuid)>,
) -> Result<Response, ApiError> {
    let issued = state.app.rotate_key(&external_id, key_id).await?;
    Ok((StatusCode::CREATED, axum::Json(issued)).into_response())
}

/// Apply the marketplace's booking system's slot changes to an `external`
/// provider: one unit of work, one `slot-changed` event per real change.
/// A batch whose sequence is not above the last applied one changes nothing
/// (`applied: false, reason: "stale"`).
#[utoipa::path(post, path = "/api/v1/admin/providers/{externalId}/slot-changes", tag = "admin",
    security(("admin" = [])), params(("externalId" = String, Path)), request_body = SlotChanges,
    responses((status = 200, description = "Applied, or stale (nothing changed)", body = Applied), AdminProblems))]
pub(super) async fn post_slot_changes(
    State(state): State<HttpState>,
    Path(external_id): Path<String>,
    Json(batch): Json<SlotChanges>,
) -> Result<axum::Json<Applied>, ApiError> {
    Ok(axum::Json(state.app.apply_slot_changes(&external_id, batch).await?))
}

/// State every slot of an `external` provider on the local dates `from` to
/// `to`: differences become events, slots there not listed are removed.
#[utoipa::path(put, path = "/api/v1/admin/providers/{externalId}/slots", tag = "admin", security(("admin" = [])),
    params(("externalId" = String, Path), SnapshotRange), request_body = SlotSnapshot,
    responses((status = 200, description = "Applied, or stale (nothing changed)", body = Applied), AdminProblems))]
pub(super) async fn put_slots(
    State(state): State<HttpState>,
    Path(external_id): Path<String>,
    Query(range): Query<SnapshotRange>,
    Json(snapshot): Json<SlotSnapshot>,
) -> Result<axum::Json<Applied>, ApiError> {
    Ok(axum::Json(state.app.apply_snapshot(&external_id, range, snapshot).await?))
}

/// Problems an admin route may answer with.
#[allow(dead_code)]
#[derive(utoipa::IntoResponses)]
pub enum AdminProblems {
    #[response(status = 400, description = "Malformed id or JSON", content_type = "application/problem+json")]
    BadRequest(#[to_schema] super::error::Problem<'static>),
    #[response(status = 401, description = "No operator token, or a wrong one", content_type = "application/problem+json",
        headers(("WWW-Authenticate" = String, description = "`Bearer`, or `Bearer error=\"invalid_token\"`")))]
    Unauthorized(#[to_schema] super::error::Problem<'static>),
    #[response(status = 404, description = "No such provider or key", content_type = "application/problem+json")]
    NotFound(#[to_schema] super::error::Problem<'static>),
    #[response(
        status = 409,
        description = "A timezone or slotSource change while slots exist, a key already revoked, a concurrent create, slot changes for a provider that opens its own slots, or a schedule for one whose slots come from the booking system",
        content_type = "application/problem+json"
    )]
    Conflict(#[to_schema] super::error::Problem<'static>),
    #[response(status = 410, description = "The provider is deactivated", content_type = "application/problem+json")]
    Gone(#[to_schema] super::error::Problem<'static>),
    #[response(status = 413, description = "Body too large", content_type = "application/problem+json")]
    TooLarge(#[to_schema] super::error::Problem<'static>),
    #[response(status = 415, description = "Not JSON", content_type = "application/problem+json")]
    UnsupportedMediaType(#[to_schema] super::error::Problem<'static>),
    #[response(status = 422, description = "A field is invalid", content_type = "application/problem+json")]
    Invalid(#[to_schema] super::error::Problem<'static>),
}

/// A one-time sign-in link to the provider's agenda, for a person at its front desk.
#[utoipa::path(post, path = "/api/v1/admin/providers/{externalId}/sign-in-links", tag = "admin", security(("admin" = [])),
    params(("externalId" = String, Path)), responses((status = 201, body = super::agenda::SignInLink), AdminProblems))]
pub(super) async fn sign_in_link(
    State(state): State<HttpState>,
    Path(external_id): Path<String>,
    parts: axum::http::request::Parts,
) -> Result<Response, ApiError> {
    let origin = super::agenda::link_origin(&parts, &state)?;
    let code = state.app.sign_in_link_by_operator(&external_id).await?;
    Ok(super::agenda::link_answer(&origin, code))
}
