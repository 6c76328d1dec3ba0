//! Webhook subscription endpoints (DESIGN 4b), with the provider's key:
//! add (the secret is shown once), list, remove, re-enable.

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, post};
use uuid::Uuid;

use super::HttpState;
use super::error::ApiError;
use super::extract::{Caller, Json, Path};
use super::problems::WriteProblems;
use crate::app::{NewWebhook, WebhookView};

pub fn router() -> Router<HttpState> {
    Router::new()
        .route("/api/v1/providers/{provider_id}/webhooks", post(create).get(list))
        .route("/api/v1/providers/{provider_id}/webhooks/{webhook_id}", delete(remove))
        .route("/api/v1/providers/{provider_id}/webhooks/{webhook_id}/enable", post(enable))
}

/// Add a receiver of the provider's events; the answer shows its signing secret, once.
#[utoipa::path(post, path = "/api/v1/providers/{providerId}/webhooks", tag = "webhooks", security(("bearer" = [])),
    params(("providerId" = Uuid, Path)), request_body = NewWebhook,
    responses((status = 201, body = WebhookView), WriteProblems))]
pub(super) async fn create(
    State(state): State<HttpState>,
    Path(provider_id): Path<Uuid>,
    Caller(credential): Caller,
    Json(request): Json<NewWebhook>,
) -> Result<Response, ApiError> {
    let created = state.app.create_webhook(provider_id, request, &credential).await?;
    let location = format!("/api/v1/providers/{provider_id}/webhooks/{}", created.id);
    Ok((StatusCode::CREATED, [(header::LOCATION, location)], axum::Json(created)).into_response())
}

/// The provider's receivers, with their delivery state (`failing` when retries gave up); no secrets.
#[utoipa::path(get, path = "/api/v1/providers/{providerId}/webhooks", tag = "webhooks", security(("bearer" = [])),
    params(("providerId" = Uuid, Path)), responses((status = 200, body = Vec<WebhookView>), WriteProblems))]
pub(super) async fn list(
    State(state): State<HttpState>,
    Path(provider_id): Path<Uuid>,
    Caller(credential): Caller,
) -> Result<axum::Json<Vec<WebhookView>>, ApiError> {
    Ok(axum::Json(state.app.list_webhooks(provider_id, &credential).await?))
}

/// Remove a receiver.
#[utoipa::path(delete, path = "/api/v1/providers/{providerId}/webhooks/{webhookId}", tag = "webhooks",
    security(("bearer" = [])), params(("providerId" = Uuid, Path), ("webhookId" = Uuid, Path)),
    responses((status = 204), WriteProblems))]
pub(super) async fn remove(
    State(state): State<HttpState>,
    Path((provider_id, webhook_id)): Path<(Uuid, Uuid)>,
    Caller(credential): Caller,
) -> Result<StatusCode, ApiError> {
    state.app.delete_webhook(provider_id, webhook_id, &credential).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Re-enable a receiver marked `failing`: delivery resumes where it stopped.
#[utoipa::path(post, path = "/api/v1/providers/{providerId}/webhooks/{webhookId}/enable", tag = "webhooks",
    security(("bearer" = [])), params(("providerId" = Uuid, Path), ("webhookId" = Uuid, Path)),
    responses((status = 200, body = WebhookView), WriteProblems))]
pub(super) async fn enable(
    State(state): State<HttpState>,
    Path((provider_id, webhook_id)): Path<(Uuid, Uuid)>,
    Caller(credential): Caller,
) -> Result<axum::Json<WebhookView>, ApiError> {
    Ok(axum::Json(state.app.enable_webhook(provider_id, webhook_id, &credential).await?))
}
