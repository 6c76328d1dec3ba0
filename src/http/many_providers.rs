//! Many providers on one request, for a marketplace's results page:
//! - `GET|HEAD /api/v1/availability?providerIds=a,b,c` (1 to 50 ids): their
//!   availability documents (or, with `view=next`, their next free times) in
//!   the order asked, one strong ETag, `If-None-Match` → 304, and the
//!   `cursor` the stream resumes from;
//! - `GET /api/v1/availability/stream?providerIds=a,b,c`: their events on
//!   one connection (one stream against the caps), each `id:` a cursor of
//!   every provider's position, `reset` per provider.
//!
//! Thin: parse, one application function, map. The stream's response (caps,
//! `retry:`, heartbeats, shutdown) is the single stream's (`stream`).

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Router};
use chrono::NaiveDate;
use serde::Deserialize;
use uuid::Uuid;

use super::HttpState;
use super::conditional::tagged_json;
use super::error::ApiError;
use super::extract::{IfNoneMatch, Query};
use super::problems::ReadProblems;
use super::stream::{event_stream, never_serves, stream_permit, unless_gone};
use crate::app::{BatchBody, BatchConditional, BatchQuery, BatchView, Delivery, HeldCopy, PROVIDERS_MAX, cursor, sse};

/// Summary defaults: three times for a half-hour service.
const NEXT_LIMIT_DEFAULT: u32 = 3;
const NEXT_MINUTES_DEFAULT: u32 = 30;

pub fn batch_router() -> Router<HttpState> {
    Router::new().route("/api/v1/availability", get(batch))
}

pub fn stream_router() -> Router<HttpState> {
    Router::new().route("/api/v1/availability/stream", get(stream))
}

#[derive(Clone, Copy, Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ViewParam {
    /// Each provider's availability document.
    Documents,
    /// Each provider's next free times.
    Next,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct BatchParams {
    /// Provider ids, comma-separated: 1 to 50, distinct.
    #[param(
        pattern = r"^[0-9a-fA-F-]{36}(,[0-9a-fA-F-]{36}){0,49}$",
        example = "6f1c0c1e-8d0a-4d0e-9a53-0c7d9d8c1a01,0b3a1f5e-2f7c-4b8e-8a1d-5d7e4c2b9f10"
    )]
    pub provider_ids: String,
    /// First day, `YYYY-MM-DD`, for every provider (default: the earliest of the providers' local todays).
    pub start_date: Option<NaiveDate>,
    /// Number of days, 1 to 31 (default 7).
    #[param(minimum = 1, maximum = 31)]
    pub days: Option<u32>,
    /// `documents` (default) or `next`: the first free times per provider.
    #[param(inline)]
    pub view: Option<ViewParam>,
    /// With `view=next`: free times per provider, 1 to 20 (default 3).
    #[param(minimum = 1, maximum = 20)]
    pub limit: Option<u32>,
    /// With `view=next`: the service length to find room for, in minutes, 1 to 1440 (default 30).
    #[param(minimum = 1, maximum = 1440)]
    pub minutes: Option<u32>,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ManyStreamParams {
    /// Provider ids, comma-separated: 1 to 50, distinct.
    #[param(pattern = r"^[0-9a-fA-F-]{36}(,[0-9a-fA-F-]{36}){0,49}$")]
    pub provider_ids: String,
    /// Resume from this cursor (an event's `id:` or the batch GET's `cursor`),
    /// for clients that cannot send `Last-Event-ID`.
    pub last_event_id: Option<String>,
    /// `comment` (default) or `event`: a visible `event: heartbeat`, as on
    /// the single provider's stream.
    pub heartbeat: Option<super::stream::Heartbeat>,
}

/// Several providers' availability in one answer, with one strong ETag;
/// `If-None-Match` with the current tag answers 304 with no body.
#[utoipa::path(get, path = "/api/v1/availability", tag = "availability",
    params(BatchParams,
        ("If-None-Match" = Option<String>, Header, description = "Entity tags the client holds, or `*`")),
    responses(
        (status = 200, description = "The providers' documents (or next free times), in the order asked", body = BatchBody,
            headers(("ETag" = String, description = "Strong tag of every (provider, version) and the query"), ("Cache-Control" = String))),
        (status = 304, description = "The client's copy is current", headers(("ETag" = String))),
        ReadProblems))]
pub(super) async fn batch(
    State(state): State<HttpState>,
    Query(params): Query<BatchParams>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let query = BatchQuery {
        provider_ids: provider_ids(&params.provider_ids)?,
        start_date: params.start_date,
        days: params.days,
        view: view(&params)?,
    };
    let view_label = match query.view {
        BatchView::Documents => "documents",
        BatchView::NextFree { .. } => "next",
    };
    let condition = IfNoneMatch::from_headers(&headers);
    let has_tag = |tag: &etag::EntityTag| condition.matches(tag);
    let held = HeldCopy { has_tag: &has_tag, tags: condition.tags(), modified_since: None };
    let response = match state.app.availability_batch(&query, &held).await? {
        BatchConditional::NotModified(tag) => tagged_json(&condition, tag, None),
        BatchConditional::Document(document) => tagged_json(&condition, document.etag, Some(document.body)),
    };
    metrics::counter!("slotstream_batch_availability_responses_total", "status" => response.status().as_str().to_owned(), "view" => view_label)
        .increment(1);
    Ok(response)
}

/// Server-Sent Events of several providers on one connection: `slot-changed`
/// events (told apart by `providerId`) whose `id:` is an opaque cursor of
/// every provider's position, `reset` with `{ providerId, version }` when one
/// provider's resume point is gone, `provider-deactivated` as a provider's
/// last event (the others go on), comment heartbeats.
#[utoipa::path(get, path = "/api/v1/availability/stream", tag = "availability",
    params(ManyStreamParams,
        ("Last-Event-ID" = Option<String>, Header, description = "Resume from this cursor")),
    responses((status = 200, description = "The event stream", content_type = "text/event-stream", body = String),
        (status = 204, description = "Every listed provider was deactivated: this stream will never serve, stop reconnecting"),
        ReadProblems))]
pub(super) async fn stream(
    State(state): State<HttpState>,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    Query(params): Query<ManyStreamParams>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let ids = provider_ids(&params.provider_ids)?;
    // The header (what EventSource sends on reconnecting) wins over the URL's.
    let resume_text = match headers.get("last-event-id") {
        Some(value) => Some(value.to_str().map_err(|_| ApiError::BadRequest("Last-Event-ID is not text".into()))?),
        None => params.last_event_id.as_deref(),
    };
    let resume = resume_text
        .map(|text| cursor::decode(text, &ids))
        .transpose()
        .map_err(|error| ApiError::BadRequest(format!("lastEventId: {error}")))?;
    // Unknown providers: 404 before the stream takes a place among the caps.
    // Boxed, as in `stream::stream`: waiting handlers stay small.
    // Every listed provider deactivated: 204, as for a single stream.
    let Some(changes) = unless_gone(Box::pin(state.app.changes_of_many(&ids, resume)).await)? else {
        return Ok(never_serves());
    };
    let permit = match stream_permit(&state, peer, &headers) {
        Ok(permit) => permit,
        Err(refused) => return Ok(refused.into_response()),
    };
    metrics::counter!("slotstream_many_provider_streams_total").increment(1);
    let delivered = metrics::counter!("slotstream_events_delivered_total");
    let mut positions = changes.positions;
    // Every kind of delivery a provider's subscription gives is written here
    // (a new kind, say a provider's final event, is added as one more arm).
    let render = move |(index, delivery): (usize, Delivery)| match delivery {
        Delivery::Event(event) => {
            positions[index] = event.version;
            delivered.increment(1);
            Some(sse::with_cursor(&event.frame, &cursor::encode(&ids, &positions)))
        }
        Delivery::Reset { version } => {
            positions[index] = version;
            Some(sse::provider_reset(ids[index], version, &cursor::encode(&ids, &positions)))
        }
        // That provider was deactivated: its last frame (no id: the cursor
        // stays); the stream goes on with the others.
        Delivery::Ended => Some(sse::deactivated(ids[index])),
    };
    Ok(event_stream(&state, permit, peer, changes.deliveries, render, params.heartbeat.unwrap_or_default()))
}

/// `a,b,c` as ids; a malformed one is a 400, more than 50 a 422 (the
/// application checks the count and duplicates).
fn provider_ids(text: &str) -> Result<Vec<Uuid>, ApiError> {
    let mut ids = Vec::new();
    for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        if ids.len() > PROVIDERS_MAX {
            break;
        }
        ids.push(part.parse().map_err(|_| ApiError::BadRequest(format!("providerIds: {part:.40} is not a UUID")))?);
    }
    Ok(ids)
}

fn view(params: &BatchParams) -> Result<BatchView, ApiError> {
    match params.view.unwrap_or(ViewParam::Documents) {
        ViewParam::Next => Ok(BatchView::NextFree {
            limit: params.limit.unwrap_or(NEXT_LIMIT_DEFAULT),
            minutes: params.minutes.unwrap_or(NEXT_MINUTES_DEFAULT),
        }),
        ViewParam::Documents if params.limit.is_some() || params.minutes.is_some() => {
            Err(ApiError::App(crate::app::AppError::Invalid("limit and minutes apply to view=next only".into())))
        }
        ViewParam::Documents => Ok(BatchView::Documents),
    }
}
