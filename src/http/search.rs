//! Search by time across providers:
//! - `GET|HEAD /api/v1/search?service=&date=&from=&to=&limit=&cursor=`:
//!   providers with a free time for a matching service in the window,
//!   soonest first, strong ETag, `If-None-Match` → 304;
//! - `GET /api/v1/search/services?q=`: service names to suggest as the
//!   customer types.
//!
//! Thin: parse, one application function, map.

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::get;
use axum::{Json, Router};
use chrono::NaiveDate;
use serde::Deserialize;

use super::HttpState;
use super::conditional::tagged_json;
use super::error::ApiError;
use super::extract::{IfNoneMatch, Query};
use super::problems::ReadProblems;
use crate::app::{
    AppError, SEARCH_LIMIT_DEFAULT, SEARCH_LIMIT_MAX, SERVICE_TEXT_MAX, SearchBody, SearchCursor, SearchQuery,
    ServiceSuggestions,
};
use crate::domain::TimeOfDay;

pub fn router() -> Router<HttpState> {
    Router::new().route("/api/v1/search", get(search)).route("/api/v1/search/services", get(suggest_services))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct SearchParams {
    /// Text to find in service names, case-insensitively (at most 100 characters; any service when absent).
    #[param(max_length = 100, example = "haircut")]
    pub service: Option<String>,
    /// The date, `YYYY-MM-DD`, in each provider's own zone (default: each provider's today).
    pub date: Option<NaiveDate>,
    /// Earliest start, local `HH:MM` (default `00:00`).
    #[param(example = "17:00")]
    pub from: Option<String>,
    /// Latest end, local `HH:MM`, after `from` (`24:00` is the end of the day, the default).
    #[param(example = "20:00")]
    pub to: Option<String>,
    /// Providers per page, 1 to 50 (default 20).
    #[param(minimum = 1, maximum = 50)]
    pub limit: Option<usize>,
    /// The previous page's `cursor`.
    pub cursor: Option<String>,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct SuggestParams {
    /// Text the names contain (at most 100 characters; the most offered names when empty).
    #[param(max_length = 100, example = "hair")]
    pub q: Option<String>,
}

/// Providers that can do a service in a window of a day, soonest first.
#[utoipa::path(get, path = "/api/v1/search", tag = "search",
    params(SearchParams,
        ("If-None-Match" = Option<String>, Header, description = "Entity tags the client holds, or `*`")),
    responses(
        (status = 200, description = "Providers with their soonest fitting times", body = SearchBody,
            headers(("ETag" = String, description = "Strong tag of the body"), ("Cache-Control" = String))),
        (status = 304, description = "The client's copy is current", headers(("ETag" = String))),
        ReadProblems))]
pub(super) async fn search(
    State(state): State<HttpState>,
    Query(params): Query<SearchParams>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let query = search_query(params)?;
    let page = state.app.search(&query).await?;
    let condition = IfNoneMatch::from_headers(&headers);
    let body = (!condition.matches(&page.etag)).then_some(page.body);
    let response = tagged_json(&condition, page.etag, body);
    metrics::counter!("slotstream_search_responses_total", "status" => response.status().as_str().to_owned())
        .increment(1);
    Ok(response)
}

fn search_query(params: SearchParams) -> Result<SearchQuery, ApiError> {
    let invalid = |detail: &str| ApiError::App(AppError::Invalid(detail.to_owned()));
    let service = params.service.map(|text| text.trim().to_owned()).filter(|text| !text.is_empty());
    if service.as_ref().is_some_and(|text| text.chars().count() > SERVICE_TEXT_MAX) {
        return Err(invalid("service is at most 100 characters"));
    }
    let from = params.from.as_deref().unwrap_or("00:00");
    let to = params.to.as_deref().unwrap_or("24:00");
    let times = TimeOfDay::parse(from, to)
        .ok_or_else(|| invalid("from and to are local HH:MM (24:00 ends the day), from before to"))?;
    let limit = params.limit.unwrap_or(SEARCH_LIMIT_DEFAULT);
    if !(1..=SEARCH_LIMIT_MAX).contains(&limit) {
        return Err(invalid("limit is 1 to 50"));
    }
    let after = params
        .cursor
        .map(|text| {
            SearchCursor::decode(&text).ok_or_else(|| ApiError::BadRequest("cursor is not one this search gave".into()))
        })
        .transpose()?;
    Ok(SearchQuery { service, date: params.date, times, limit, after })
}

/// Service names to suggest, the most offered first.
#[utoipa::path(get, path = "/api/v1/search/services", tag = "search", params(SuggestParams),
    responses((status = 200, description = "Names with how many providers offer them", body = ServiceSuggestions), ReadProblems))]
pub(super) async fn suggest_services(
    State(state): State<HttpState>,
    Query(params): Query<SuggestParams>,
) -> Result<Json<ServiceSuggestions>, ApiError> {
    let text = params.q.unwrap_or_default();
    if text.chars().count() > SERVICE_TEXT_MAX {
        return Err(ApiError::App(AppError::Invalid("q is at most 100 characters".into())));
    }
    Ok(Json(state.app.suggest_services(text.trim()).await?))
}
