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
//! (`EventStream`) is written by hand, polls the heartbeat timer and the
//! shutdown token only when they fired, and polls the frames only when
//! something was published; frames that are ready at once (a subscriber
//! that is behind) leave as one write (`coalesce`).

mod coalesce;

use std::convert::Infallible;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::task::{Context, Poll, Wake, Waker, ready};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Extension;
use axum::Router;
use axum::body::{Body, HttpBody};
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use bytes::Bytes;
use chrono::{Days, NaiveDate};
use futures_util::task::AtomicWaker;
use futures_util::{Stream, StreamExt};
use hyper::body::Frame;
use serde::Deserialize;
use tokio_util::sync::WaitForCancellationFutureOwned;
use uuid::Uuid;

use super::HttpState;
use super::error::{ApiError, problem};
use super::extract::{Path, Query, last_event_id, parse_version};
use super::limits::StreamPermit;
use super::openapi::ReadProblems;
use crate::app::{Delivery, ProviderInfo, Resume, resolve_range, sse};
use coalesce::{Coalesce, WRITE_BOUND};

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
    // The awaited futures are boxed: a handler's future is as large as the
    // largest thing it awaits, and in a reconnect storm thousands of them
    // wait at once (on one cold directory entry, say), a peak the process
    // keeps as resident memory after they are done.
    let provider = Box::pin(state.app.directory.get_active(provider_id)).await?;
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
    let deliveries = Box::pin(state.app.changes(provider_id, resume)).await?;
    let delivered = Delivered::new();
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
    Ok(event_stream(&state, permit, deliveries, render))
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

/// The delivery metrics of one stream, looked up once per stream:
/// `slotstream_events_delivered_total` counts every event written to a
/// subscriber, and `slotstream_delivery_lag_seconds` takes, per delivery, the
/// time from the change to the moment the stream hands its frame to the
/// connection (an integer subtraction from the wall clock: this runs once
/// per event and subscriber).
struct Delivered {
    count: metrics::Counter,
    lag: metrics::Histogram,
}

impl Delivered {
    fn new() -> Delivered {
        Delivered {
            count: metrics::counter!("slotstream_events_delivered_total"),
            lag: metrics::histogram!("slotstream_delivery_lag_seconds"),
        }
    }

    fn record(&self, changed_at_micros: i64) {
        self.count.increment(1);
        let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |since| since.as_micros() as i64);
        self.lag.record((now - changed_at_micros) as f64 / 1e6);
    }
}

/// The `text/event-stream` response that sends `deliveries`, each rendered
/// by `render` to a whole frame of `events::sse` or skipped (`None`): the
/// `retry:` line first, a heartbeat while idle, the end on shutdown or when
/// `deliveries` ends; frames ready at once go out as one write (`coalesce`).
/// Holds `permit`, and counts in the active-streams gauge, while the stream
/// is open.
pub(super) fn event_stream<D>(
    state: &HttpState,
    permit: StreamPermit,
    deliveries: impl Stream<Item = D> + Send + 'static,
    render: impl FnMut(D) -> Option<Bytes> + Send + 'static,
) -> Response {
    metrics::gauge!("slotstream_active_streams").increment(1.0);
    let heartbeat = state.settings.heartbeat;
    let bells = Arc::new(Bells { rang: AtomicU8::new(Bell::TIMERS | Bell::FRAMES), task: AtomicWaker::new() });
    let body = EventStream {
        retry: Some(sse::retry(jittered(state.settings.retry))),
        frames: Coalesce::new(Rendered { deliveries: Box::pin(deliveries), render }, WRITE_BOUND),
        frames_due: false,
        frames_bell: Bell::waker(&bells, Bell::FRAMES),
        heartbeat_due: false,
        ticks: tokio::time::interval_at(tokio::time::Instant::now() + heartbeat, heartbeat),
        // Waited on once for the whole stream: every stream shares the one token.
        stopped: Box::pin(state.stopping.clone().cancelled_owned()),
        timers_bell: Bell::waker(&bells, Bell::TIMERS),
        bells,
        ended: false,
        _permit: permit,
        _active: ActiveStream,
    };
    let mut response = Response::new(Body::new(body));
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache, no-transform"));
    headers.insert("x-accel-buffering", HeaderValue::from_static("no"));
    response
}

/// The body of an event stream, written by hand rather than as a generator
/// with `select!`, because it is polled at least twice per delivered event
/// (the frame, then "nothing more"): a `select!` polls the heartbeat timer,
/// the shutdown token and the whole chain of frames (subscription, broadcast
/// receiver) on every one of those polls. Here each of the two sources is
/// polled with its own waker, a `Bell`, and only after it rang: the timers
/// only when a tick or the shutdown came, the frames only when something was
/// published or they may have more ready (so the "nothing more" poll that
/// follows every write costs a flag, not a walk down the chain).
struct EventStream<F> {
    /// The `retry:` line, sent first.
    retry: Option<Bytes>,
    frames: Coalesce<F>,
    /// The frames may have something: their bell rang, or their last poll
    /// gave a frame and did not see them empty.
    frames_due: bool,
    frames_bell: Waker,
    /// A tick came: a heartbeat goes out before the next frames.
    heartbeat_due: bool,
    ticks: tokio::time::Interval,
    stopped: Pin<Box<WaitForCancellationFutureOwned>>,
    timers_bell: Waker,
    /// Which bells rang since the last poll, and the task they wake.
    bells: Arc<Bells>,
    ended: bool,
    _permit: StreamPermit,
    _active: ActiveStream,
}

// A `Body` itself rather than a `Stream` behind `Body::from_stream`: one
// adapter less per delivery.
impl<F: Stream<Item = Bytes> + Unpin> HttpBody for EventStream<F> {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        self.get_mut().poll_bytes(cx).map(|bytes| bytes.map(|bytes| Ok(Frame::data(bytes))))
    }
}

impl<F: Stream<Item = Bytes> + Unpin> EventStream<F> {
    fn poll_bytes(&mut self, cx: &mut Context<'_>) -> Poll<Option<Bytes>> {
        if self.ended {
            return Poll::Ready(None);
        }
        if let Some(retry) = self.retry.take() {
            return Poll::Ready(Some(retry));
        }
        // Registered before the bells are read: a ring after the read wakes
        // this task.
        self.bells.task.register(cx.waker());
        let rang = self.bells.rang.swap(0, Ordering::AcqRel);
        self.frames_due |= rang & Bell::FRAMES != 0;
        if rang & Bell::TIMERS != 0 {
            let mut timers = Context::from_waker(&self.timers_bell);
            if self.stopped.as_mut().poll(&mut timers).is_ready() {
                self.ended = true;
                return Poll::Ready(None);
            }
            // Ticks missed while the task was busy make one heartbeat; the
            // last poll leaves the timer registered for the next.
            while self.ticks.poll_tick(&mut timers).is_ready() {
                self.heartbeat_due = true;
            }
        }
        if std::mem::take(&mut self.heartbeat_due) {
            return Poll::Ready(Some(sse::HEARTBEAT));
        }
        if !std::mem::take(&mut self.frames_due) {
            return Poll::Pending;
        }
        match self.frames.poll_next_unpin(&mut Context::from_waker(&self.frames_bell)) {
            Poll::Ready(Some(frames)) => {
                // A run that stopped at the bound leaves frames ready.
                self.frames_due = !self.frames.saw_empty();
                Poll::Ready(Some(frames))
            }
            Poll::Ready(None) => {
                self.ended = true;
                Poll::Ready(None)
            }
            Poll::Pending => Poll::Pending,
        }
    }
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

/// The bells of one stream: which rang, and the task they wake.
struct Bells {
    /// `Bell::FRAMES | Bell::TIMERS` bits; both start rung, so that the first
    /// poll registers every source.
    rang: AtomicU8,
    task: AtomicWaker,
}

/// The waker one source of a stream is polled with: it notes that the source
/// needs a look, and wakes the stream's task.
struct Bell {
    bells: Arc<Bells>,
    bit: u8,
}

impl Bell {
    const FRAMES: u8 = 1;
    const TIMERS: u8 = 2;

    fn waker(bells: &Arc<Bells>, bit: u8) -> Waker {
        Waker::from(Arc::new(Bell { bells: bells.clone(), bit }))
    }
}

impl Wake for Bell {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.bells.rang.fetch_or(self.bit, Ordering::AcqRel);
        self.bells.task.wake();
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
