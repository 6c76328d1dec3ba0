//! `GET|HEAD /api/v1/providers/{providerId}/availability` with strong ETags,
//! `If-None-Match` → 304, `Cache-Control: no-cache` and `Last-Modified`.

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use chrono::NaiveDate;
use serde::Deserialize;
use uuid::Uuid;

use super::AppState;
use super::error::ApiError;
use super::extract::{IfNoneMatch, Path, Query};
use super::openapi::ReadProblems;
use crate::app::{AvailabilityBody, AvailabilityQuery, Conditional};

pub fn router() -> Router<AppState> {
    Router::new().route("/api/v1/providers/{provider_id}/availability", get(availability))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct RangeParams {
    /// First day, `YYYY-MM-DD` (default: today in the provider's timezone; within about three years of today).
    pub start_date: Option<NaiveDate>,
    /// Number of days, 1 to 31 (default 7).
    #[param(minimum = 1, maximum = 31)]
    pub days: Option<u32>,
}

/// A provider's slots over a date range, with a strong ETag; `If-None-Match`
/// with the current tag answers 304 with no body. `HEAD` works too.
#[utoipa::path(get, path = "/api/v1/providers/{providerId}/availability", tag = "availability",
    params(("providerId" = Uuid, Path, description = "Provider id"), RangeParams,
        ("If-None-Match" = Option<String>, Header, description = "Entity tags the client holds, or `*`")),
    responses(
        (status = 200, description = "The availability document", body = AvailabilityBody,
            headers(("ETag" = String, description = "Strong tag of (provider, version, query)"), ("Last-Modified" = String), ("Cache-Control" = String))),
        (status = 304, description = "The client's tag is current", headers(("ETag" = String))),
        ReadProblems))]
pub(super) async fn availability(
    State(state): State<AppState>,
    Path(provider_id): Path<Uuid>,
    Query(range): Query<RangeParams>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let condition = IfNoneMatch::from_headers(&headers);
    let query = AvailabilityQuery { provider_id, start_date: range.start_date, days: range.days };
    let outcome = state.app.availability(query, |tag| condition.matches(tag)).await?;
    let (status, tag, body) = match outcome {
        Conditional::NotModified(tag) => {
            metrics::counter!("slotstream_availability_responses_total", "status" => "304").increment(1);
            let mut response = StatusCode::NOT_MODIFIED.into_response();
            // Name the representation the client holds (identity or encoded).
            let held = condition.matching(&tag).unwrap_or(tag);
            set_validators(response.headers_mut(), &held.to_string(), None);
            return Ok(response);
        }
        Conditional::Document(document) => (StatusCode::OK, document.etag.to_string(), document),
    };
    metrics::counter!("slotstream_availability_responses_total", "status" => "200").increment(1);
    let mut response = (status, body.body.clone()).into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    let last_modified = body.last_modified(chrono::Utc::now()).map(|t| t.format("%a, %d %b %Y %H:%M:%S GMT").to_string());
    set_validators(response.headers_mut(), &tag, last_modified.as_deref());
    Ok(response)
}

fn set_validators(headers: &mut HeaderMap, etag: &str, last_modified: Option<&str>) {
    if let Ok(value) = HeaderValue::from_str(etag) {
        headers.insert(header::ETAG, value);
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    if let Some(value) = last_modified.and_then(|v| HeaderValue::from_str(v).ok()) {
        headers.insert(header::LAST_MODIFIED, value);
    }
}
