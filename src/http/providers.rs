//! `GET /api/v1/providers`: providers and their services.

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};

use super::HttpState;
use super::error::ApiError;
use super::problems::ReadProblems;
use crate::app::ProviderView;

pub fn router() -> Router<HttpState> {
    Router::new().route("/api/v1/providers", get(list))
}

/// Providers and their services.
#[utoipa::path(get, path = "/api/v1/providers", tag = "providers",
    responses((status = 200, description = "Providers with their services", body = [ProviderView]), ReadProblems))]
pub(super) async fn list(State(state): State<HttpState>) -> Result<Json<Vec<ProviderView>>, ApiError> {
    Ok(Json(state.app.list_providers().await?))
}
