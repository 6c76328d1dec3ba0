//! `GET|HEAD /api/v1/providers/{providerId}/availability` with strong ETags,
//! `If-None-Match` → 304, `Cache-Control: no-cache` and `Last-Modified`.

use std::sync::LazyLock;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::Response;
use axum::routing::get;
use chrono::{DateTime, NaiveDate, Utc};
use etag::EntityTag;
use metrics::Counter;
use serde::Deserialize;
use uuid::Uuid;

use super::HttpState;
use super::conditional::tagged_json;
use super::error::ApiError;
use super::extract::{IfNoneMatch, Path, Query};
use super::problems::ReadProblems;
use crate::app::{AvailabilityBody, AvailabilityQuery, Conditional, HeldCopy};

/// The route's pattern (also the edge's latency label for it).
pub(super) const ROUTE: &str = "/api/v1/providers/{provider_id}/availability";

pub fn router() -> Router<HttpState> {
    Router::new().route(ROUTE, get(availability))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct RangeParams {
    /// First day, `YYYY-MM-DD` (default: today in the provider's timezone; from yesterday to `--max-days-ahead` days ahead, else 422).
    pub start_date: Option<NaiveDate>,
    /// Number of days, 1 to 31 (default 7).
    #[param(minimum = 1, maximum = 31)]
    pub days: Option<u32>,
}

// Resolved once: a registry lookup per answer costs as much as the rest of a 304.
static NOT_MODIFIED_ANSWERS: LazyLock<Counter> =
    LazyLock::new(|| metrics::counter!("slotstream_availability_responses_total", "status" => "304"));
static DOCUMENT_ANSWERS: LazyLock<Counter> =
    LazyLock::new(|| metrics::counter!("slotstream_availability_responses_total", "status" => "200"));

/// A provider's slots over a date range, with a strong ETag; `If-None-Match`
/// with the current tag answers 304 with no body. `HEAD` works too.
#[utoipa::path(get, path = "/api/v1/providers/{providerId}/availability", tag = "availability",
    params(("providerId" = Uuid, Path, description = "Provider id"), RangeParams,
        ("If-None-Match" = Option<String>, Header, description = "Entity tags the client holds, or `*`"),
        ("If-Modified-Since" = Option<String>, Header, description = "HTTP date of the client's copy; ignored when If-None-Match is sent")),
    responses(
        (status = 200, description = "The availability document", body = AvailabilityBody,
            headers(("ETag" = String, description = "Strong tag of (provider, version, query)"), ("Last-Modified" = String), ("Cache-Control" = String))),
        (status = 304, description = "The client's copy is current (by tag, or by date when no tag is sent)", headers(("ETag" = String))),
        ReadProblems))]
pub(super) async fn availability(
    State(state): State<HttpState>,
    Path(provider_id): Path<Uuid>,
    Query(range): Query<RangeParams>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let condition = IfNoneMatch::from_headers(&headers);
    let has_tag = |tag: &EntityTag| condition.matches(tag);
    let held = HeldCopy {
        has_tag: &has_tag,
        tags: condition.tags(),
        // If-None-Match, when present, decides alone (RFC 9110 section 13.2.2).
        modified_since: if condition.is_absent() { if_modified_since(&headers) } else { None },
    };
    let query = AvailabilityQuery { provider_id, start_date: range.start_date, days: range.days };
    let outcome = state.app.availability(query, &held).await?;
    let document = match outcome {
        Conditional::NotModified(tag) => return Ok(not_modified(&condition, tag)),
        Conditional::Document(document) => document,
    };
    DOCUMENT_ANSWERS.increment(1);
    let mut response = tagged_json(&condition, document.etag.clone(), Some(document.body.clone()));
    if let Some(value) =
        document.last_modified(Utc::now()).and_then(|t| HeaderValue::from_str(&httpdate::fmt_http_date(t.into())).ok())
    {
        response.headers_mut().insert(header::LAST_MODIFIED, value);
    }
    Ok(response)
}

/// The 304 of a document whose current tag is `tag`: it names the
/// representation the client holds (identity or encoded). The one 304 of
/// this route, from the handler and from the edge (`edge`).
pub(super) fn not_modified(condition: &IfNoneMatch, tag: EntityTag) -> Response {
    NOT_MODIFIED_ANSWERS.increment(1);
    tagged_json(condition, tag, None)
}

/// `If-Modified-Since` as an instant. An unparseable date is ignored, and
/// so is one later than the server's clock, which RFC 9110 section 13.1.3
/// calls invalid: a client whose clock or date is wrong would otherwise get
/// `304` whatever changes.
fn if_modified_since(headers: &HeaderMap) -> Option<DateTime<Utc>> {
    let value = headers.get(header::IF_MODIFIED_SINCE)?.to_str().ok()?;
    let since = DateTime::<Utc>::from(httpdate::parse_http_date(value).ok()?);
    (since <= Utc::now()).then_some(since)
}
