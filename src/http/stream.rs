//! `GET /api/v1/providers/{providerId}/availability/stream`: Server-Sent Events.
//!
//! Reads `App::changes` and writes its deliveries with the frames of
//! `events::sse` (the one owner of the wire format): resume from
//! `Last-Event-ID` or `?lastEventId=`, an optional date filter, heartbeats,
//! stream caps, the end of the stream on shutdown. The frames are written as
//! raw bytes rather than through `axum::response::Sse`, so that an event
//! serialised once is sent to N subscribers without N re-encodings.

use std::convert::Infallible;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use axum::Extension;
use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use bytes::Bytes;
use chrono::{Days, NaiveDate};
use futures_util::{Stream, StreamExt};
use serde::Deserialize;
use uuid::Uuid;

use super::HttpState;
use super::error::{ApiError, problem};
use super::extract::{Path, Query, last_event_id, parse_version};
use super::limits::StreamPermit;
use super::openapi::ReadProblems;
use crate::app::{Delivery, ProviderInfo, Resume, resolve_range, sse};

pub fn router() -> Router<HttpState> {
    Router::new().route("/api/v1/providers/{provider_id}/availability/stream", get(stream))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct StreamParams {
    /// Only events on dates from this day (with `days`).
    pub start_date: Option<NaiveDate>,
    /// Only events within this many days of `startDate` (1 to 31).
    #[param(minimum = 1, maximum = 31)]
    pub days: Option<u32>,
    /// Resume after this version (for clients that cannot send `Last-Event-ID`).
    pub last_event_id: Option<String>,
}

/// Only events on dates in `[start, end)` pass, when a range was asked for.
#[derive(Clone, Copy)]
struct DateFilter(Option<(NaiveDate, NaiveDate)>);

impl DateFilter {
    fn new(provider: &ProviderInfo, params: &StreamParams) -> Result<DateFilter, ApiError> {
        if params.start_date.is_none() && params.days.is_none() {
            return Ok(DateFilter(None));
        }
        let (start, days) = resolve_range(provider, params.start_date, params.days)?;
        let end = start.checked_add_days(Days::new(u64::from(days))).unwrap_or(NaiveDate::MAX);
        Ok(DateFilter(Some((start, end))))
    }

    fn passes(&self, date: NaiveDate) -> bool {
        self.0.is_none_or(|(start, end)| start <= date && date < end)
    }
}

/// Server-Sent Events: `slot-changed` events with `id: <version>`, `reset`
/// when the resume point is gone, comment heartbeats.
#[utoipa::path(get, path = "/api/v1/providers/{providerId}/availability/stream", tag = "availability",
    params(("providerId" = Uuid, Path, description = "Provider id"), StreamParams,
        ("Last-Event-ID" = Option<String>, Header, description = "Resume after this version")),
    responses((status = 200, description = "The event stream", content_type = "text/event-stream", body = String), ReadProblems))]
pub(super) async fn stream(
    State(state): State<HttpState>,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    Path(provider_id): Path<Uuid>,
    Query(params): Query<StreamParams>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    // Unknown provider: 404 before the stream starts.
    let provider = state.app.directory.get_active(provider_id).await?;
    let filter = DateFilter::new(&provider, &params)?;
    let permit = match stream_permit(&state, peer, &headers) {
        Ok(permit) => permit,
        Err(refused) => return Ok(refused.into_response()),
    };
    let resume = match last_event_id(&headers).or_else(|| params.last_event_id.as_deref().and_then(parse_version)) {
        Some(version) => Resume::After(version),
        None => Resume::Live,
    };
    // Subscribed before the head goes out: a client that saw the stream open
    // gets every change committed after that.
    let deliveries = state.app.changes(provider_id, resume).await?;
    // Looked up once per stream, not once per delivered event.
    let delivered = metrics::counter!("slotstream_events_delivered_total");
    let lag = metrics::histogram!("slotstream_delivery_lag_seconds");
    // Boxed out here rather than pinned inside the generator: a value the
    // generator captures and then moves into a local is stored twice in
    // every open stream's state (BENCHMARKS.md, "Memory per stream").
    let mut deliveries = Box::pin(deliveries);
    let frames = async_stream::stream! {
        while let Some(delivery) = deliveries.next().await {
            match delivery {
                Delivery::Event(event) if filter.passes(event.date) => {
                    delivered.increment(1);
                    let micros = (chrono::Utc::now() - event.changed_at).num_microseconds().unwrap_or(0);
                    lag.record(micros as f64 / 1e6);
                    yield event.frame.clone();
                }
                Delivery::Event(_) => {}
                Delivery::Reset { version } => yield sse::reset(version),
                // The provider was deactivated: its last frame, then the end.
                Delivery::Ended => {
                    yield sse::deactivated(provider_id);
                    break;
                }
            }
        }
    };
    Ok(event_stream(&state, permit, frames))
}

/// A place among the open streams for the requesting client, or the refusal
/// (a 429). Every stream takes one, however many providers it carries.
pub(super) fn stream_permit(
    state: &HttpState,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    headers: &HeaderMap,
) -> Result<StreamPermit, TooManyStreams> {
    let peer = peer.map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |Extension(ConnectInfo(addr))| addr.ip());
    let client = state.rate_limits.identity.of(peer, headers);
    state.rate_limits.stream_caps.acquire(client).map_err(TooManyStreams)
}

/// A stream refused by the caps, with the reason.
pub(super) struct TooManyStreams(&'static str);

impl IntoResponse for TooManyStreams {
    fn into_response(self) -> Response {
        metrics::counter!("slotstream_rate_limited_total", "quota" => "concurrent-streams").increment(1);
        let mut response = problem(StatusCode::TOO_MANY_REQUESTS, "too-many-streams", "Too many streams", self.0);
        response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
        response
    }
}

/// The `text/event-stream` response that sends `frames` (each a whole frame
/// of `events::sse`): the `retry:` line first, a heartbeat while idle, the
/// end on shutdown. Holds `permit`, and counts in the active-streams gauge,
/// while the stream is open.
pub(super) fn event_stream(
    state: &HttpState,
    permit: StreamPermit,
    frames: impl Stream<Item = Bytes> + Send + 'static,
) -> Response {
    // Waited on once for the whole stream, not re-registered per event: every
    // stream shares the one token.
    let mut stopped = Box::pin(state.stopping.clone().cancelled_owned());
    let heartbeat = state.settings.heartbeat;
    // Boxed here, not pinned inside the generator (see `stream`).
    let mut frames = Box::pin(frames);
    let retry = sse::retry(jittered(state.settings.retry));

    let body = async_stream::stream! {
        metrics::gauge!("slotstream_active_streams").increment(1.0);
        let _active = ActiveStream;
        let _permit = permit;
        yield Ok::<Bytes, Infallible>(retry);
        let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + heartbeat, heartbeat);
        loop {
            tokio::select! {
                frame = frames.next() => match frame {
                    Some(frame) => yield Ok(frame),
                    None => break,
                },
                _ = ticks.tick() => yield Ok(sse::HEARTBEAT),
                () = &mut stopped => break,
            }
        }
    };
    let mut response = Response::new(Body::from_stream(body));
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache, no-transform"));
    headers.insert("x-accel-buffering", HeaderValue::from_static("no"));
    response
}

/// `base` spread uniformly over ±50 %: after a restart every client of the
/// process reconnects, and the same `retry:` would bring them all back in the
/// same instant.
fn jittered(base: Duration) -> Duration {
    base.mul_f64(rand::random_range(0.5..1.5))
}

/// Decrements the active-stream gauge however the stream ends.
struct ActiveStream;

impl Drop for ActiveStream {
    fn drop(&mut self) {
        metrics::gauge!("slotstream_active_streams").decrement(1.0);
    }
}
