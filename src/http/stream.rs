//! `GET /api/v1/providers/{providerId}/availability/stream`: Server-Sent Events.
//!
//! Reads `App::changes` and writes its deliveries with the frames of
//! `events::sse` (the one owner of the wire format): resume from
//! `Last-Event-ID` or `?lastEventId=`, an optional date filter, heartbeats,
//! stream caps, the end of the stream on shutdown. The frames are written as
//! raw bytes rather than through `axum::response::Sse`, so that an event
//! serialised once is sent to N subscribers without N re-encodings.
//!
//! What runs once per event and subscriber is kept short: the response body
//! (`body::EventStream`) is written by hand, polls the heartbeat timer and the
//! shutdown token only when they fired, and polls the frames only when
//! something was published; frames that are ready at once (a subscriber
//! that is behind) leave as one write (`coalesce`).

mod body;
mod coalesce;
mod heartbeat_clock;

use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

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
use super::extract::{Path, Query, resume_point};
use super::limits::StreamPermit;
use super::problems::ReadProblems;
use crate::app::{AppError, Delivery, ProviderInfo, resolve_range, sse};
use crate::domain::BookableRange;
use body::EventStream;
pub use heartbeat_clock::HeartbeatClock;

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
    /// `comment` (default) or `event`: a visible `event: heartbeat`
    /// (`{"everySecs":N}`), first and then every period, for pages that
    /// watch for a connection gone silent.
    pub heartbeat: Option<Heartbeat>,
}

/// Only events on dates in `[start, end)` pass, when a range was asked for.
#[derive(Clone, Copy)]
struct DateFilter(Option<(NaiveDate, NaiveDate)>);

impl DateFilter {
    fn new(provider: &ProviderInfo, params: &StreamParams, bookable: BookableRange) -> Result<DateFilter, ApiError> {
        if params.start_date.is_none() && params.days.is_none() {
            return Ok(DateFilter(None));
        }
        let (start, days) = resolve_range(provider, "startDate", params.start_date, params.days, &bookable)?;
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
    responses((status = 200, description = "The event stream. Each `event: slot-changed` has `id:` the provider's version and `data:` JSON with `availabilityId`, `providerId`, `date`, `startTime`, `endTime` (provider-local), `startsAt`, `endsAt` (the slot's instants, RFC 3339 UTC), `previousStatus`, `newStatus`, `changedAt`, `changedBy` (`customer`, `provider`, `admin`, `system` or `upstream`: the marketplace's booking system) and `version`", content_type = "text/event-stream", body = String),
        (status = 204, description = "The provider was deactivated: this stream will never serve, stop reconnecting (the document GET answers 410)"),
        ReadProblems))]
pub(super) async fn stream(
    State(state): State<HttpState>,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    Path(provider_id): Path<Uuid>,
    Query(params): Query<StreamParams>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    // Unknown provider: 404 before the stream starts.
    // The awaited futures are boxed: a handler's future is as large as the
    // largest thing it awaits, and in a reconnect storm thousands of them
    // wait at once (on one cold directory entry, say), a peak the process
    // keeps as resident memory after they are done.
    let Some(provider) = unless_gone(Box::pin(state.app.directory.get_active(provider_id)).await)? else {
        return Ok(never_serves());
    };
    let filter = DateFilter::new(&provider, &params, state.app.bookable_range())?;
    let permit = match stream_permit(&state, peer, &headers) {
        Ok(permit) => permit,
        Err(refused) => return Ok(refused.into_response()),
    };
    let resume = resume_point(&headers, params.last_event_id.as_deref());
    // Subscribed before the head goes out: a client that saw the stream open
    // gets every change committed after that.
    let Some(deliveries) = unless_gone(Box::pin(state.app.changes(provider_id, resume)).await)? else {
        return Ok(never_serves());
    };
    let mut delivered = Delivered::new();
    // A plain map, not a generator: this runs once per delivery.
    let render = move |delivery: Delivery| match delivery {
        Delivery::Event(event) if filter.passes(event.date) => {
            delivered.record(event.changed_at_micros);
            Some(event.frame.clone())
        }
        Delivery::Event(_) => None,
        Delivery::Reset { version } => Some(sse::reset(version)),
        // The provider was deactivated: its last frame; the subscription
        // ends after it, and so does the stream.
        Delivery::Ended => Some(sse::deactivated(provider_id)),
    };
    Ok(event_stream(&state, permit, peer, deliveries, render, params.heartbeat.unwrap_or_default()))
}

/// `None` when the stream's provider (every one of them) was deactivated.
pub(super) fn unless_gone<T>(result: Result<T, AppError>) -> Result<Option<T>, ApiError> {
    match result {
        Err(AppError::Gone(_)) => Ok(None),
        other => Ok(Some(other?)),
    }
}

/// The answer to a stream that can never serve (its provider, or every
/// listed one, was deactivated): 204 No Content, which tells an
/// `EventSource` to stop reconnecting (the SSE specification); any other
/// refusal would be retried forever. A GET of the document says why (410).
pub(super) fn never_serves() -> Response {
    let mut response = StatusCode::NO_CONTENT.into_response();
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// A place among the open streams for the requesting client, or the refusal
/// (a 429). Every stream takes one, however many providers it carries.
pub(super) fn stream_permit(
    state: &HttpState,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    headers: &HeaderMap,
) -> Result<StreamPermit, TooManyStreams> {
    let client = state.rate_limits.client(peer, headers);
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

/// The delivery metrics of one stream, looked up once per stream:
/// `slotstream_events_delivered_total` counts every event written to a
/// subscriber, and `slotstream_delivery_lag_seconds` takes the time from the
/// change to the moment the stream hands its frame to the connection, for
/// a stream's first delivery and every [`LAG_SAMPLE_EVERY`]th after it. A
/// sample rather than every delivery: this runs once per event and
/// subscriber, and reading the clock and recording took about 150 of the
/// 4,600 instructions a delivery cost (BENCHMARKS.md, issue 27 item 5);
/// a sample of every stream keeps the distribution's shape.
struct Delivered {
    count: metrics::Counter,
    lag: metrics::Histogram,
    /// Deliveries until the next sample (0: this one).
    until_sample: u32,
}

/// One delivery in so many of each stream is timed for the lag histogram.
const LAG_SAMPLE_EVERY: u32 = 16;

impl Delivered {
    fn new() -> Delivered {
        Delivered {
            count: metrics::counter!("slotstream_events_delivered_total"),
            lag: metrics::histogram!("slotstream_delivery_lag_seconds"),
            until_sample: 0,
        }
    }

    fn record(&mut self, changed_at_micros: i64) {
        self.count.increment(1);
        if let Some(fewer) = self.until_sample.checked_sub(1) {
            self.until_sample = fewer;
            return;
        }
        self.until_sample = LAG_SAMPLE_EVERY - 1;
        let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |since| since.as_micros() as i64);
        self.lag.record((now - changed_at_micros) as f64 / 1e6);
    }
}

/// How a stream says it is alive while idle.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Heartbeat {
    /// A comment (`: heartbeat`), which `EventSource` never shows a page:
    /// it keeps proxies from closing the stream.
    #[default]
    Comment,
    /// A visible `event: heartbeat` with `data: {"everySecs":N}`, sent first
    /// and then every period, so a page can tell a connection gone silent
    /// (no event for a few periods) and open a new one.
    Event,
}

/// The `text/event-stream` response that sends `deliveries`, each rendered
/// by `render` to a whole frame of `events::sse` or skipped (`None`): the
/// `retry:` line first (with a first visible heartbeat when `heartbeat` is
/// `Event`), a heartbeat while idle, the end on shutdown or when
/// `deliveries` ends; frames ready at once go out as one write (`coalesce`).
/// Holds `permit`, and counts in the active-streams gauge, while the stream
/// is open. Its heartbeats come with those of the other streams on `peer`'s
/// connection (`heartbeat_clock`).
pub(super) fn event_stream<D>(
    state: &HttpState,
    permit: StreamPermit,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    deliveries: impl Stream<Item = D> + Send + 'static,
    render: impl FnMut(D) -> Option<Bytes> + Send + 'static,
    heartbeat: Heartbeat,
) -> Response {
    metrics::gauge!("slotstream_active_streams").increment(1.0);
    let retry = sse::retry(jittered(state.settings.retry));
    // Written once per stream, never per delivery.
    let (opening, idle) = match heartbeat {
        Heartbeat::Comment => (retry, sse::HEARTBEAT),
        Heartbeat::Event => {
            let visible = sse::visible_heartbeat(state.settings.heartbeat);
            ([retry, visible.clone()].concat().into(), visible)
        }
    };
    let body = EventStream::new(
        Rendered { deliveries: Box::pin(deliveries), render },
        opening,
        state.heartbeats.ticks(peer.map(|Extension(ConnectInfo(peer))| peer)),
        (permit, ActiveStream),
    )
    .with_heartbeat(idle);
    let mut response = Response::new(Body::new(body));
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache, no-transform"));
    headers.insert("x-accel-buffering", HeaderValue::from_static("no"));
    response
}

/// `deliveries`, each rendered to a frame or skipped by `render`: a plain
/// poll, where `filter_map` would make a future per delivery.
struct Rendered<S, R> {
    deliveries: S,
    render: R,
}

// `render` is only ever called through `&mut`, never pinned.
impl<S: Unpin, R> Unpin for Rendered<S, R> {}

impl<S: Stream + Unpin, R: FnMut(S::Item) -> Option<Bytes>> Stream for Rendered<S, R> {
    type Item = Bytes;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Bytes>> {
        let this = &mut *self;
        loop {
            match ready!(this.deliveries.poll_next_unpin(cx)) {
                Some(delivery) => {
                    if let Some(frame) = (this.render)(delivery) {
                        return Poll::Ready(Some(frame));
                    }
                }
                None => return Poll::Ready(None),
            }
        }
    }
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
