//! Connections: who may open one, and how long one may sit unused.
//!
//! Every accepted socket passes here before HTTP sees it:
//! - **admission**: a cap on open connections in total and per client (the
//!   rate limiter's client identity, `http::limits`); a refused socket is
//!   closed at once, counted in `slotstream_connections_refused_total{reason}`
//!   and logged at a bounded rate. Admitted ones are the
//!   `slotstream_open_connections` gauge.
//! - **the greeting deadline**, from accept (after the TLS handshake, which
//!   has its own), before the protocol is known: a connection must deliver
//!   its first request (HTTP/1.1) or the HTTP/2 preface and a whole SETTINGS
//!   frame (read off the socket by [`Greeting`]) within
//!   `--header-timeout-secs`, or it is dropped. A silent socket, a partial
//!   preface or a preface without SETTINGS otherwise held a descriptor
//!   forever. Later HTTP/1.1 request heads are hyper's `header_read_timeout`.
//! - **idle**: a connection with no request in flight for
//!   `--h2-idle-timeout-secs` is shut down gracefully (an HTTP/2 GOAWAY);
//!   HTTP/2 PINGs every `--h2-keepalive-secs` drop a peer that vanished.
//! - **accept errors** (out of descriptors, most often) are logged at most
//!   once a second with a count, after a short back-off, not in a hot loop.
//!
//! A connection being shut down (idle, or the server stopping) that has not
//! finished within [`CLOSE_GRACE`] is dropped.

use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use axum::extract::ConnectInfo;
use axum::http::{Request, Response};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use pin_project_lite::pin_project;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::ServeArgs;
use crate::http::limits::{ClientIdentity, Full, Occupancy, Place};

/// Largest request head (request line and headers) the parser buffers. It is
/// also the size of each connection's read buffer, which an open stream keeps
/// for its whole life: hyper's default lets it grow to 16 KiB.
const REQUEST_HEAD_MAX: usize = 8 * 1024;

/// Streams one HTTP/2 connection may carry at once: a proxy multiplexing its
/// viewers, or a browser with many tabs, holds many streams on one socket.
/// (Per-client stream caps still apply to each stream.)
const H2_MAX_STREAMS_PER_CONNECTION: u32 = 1_000;

/// How long a connection being shut down may take to finish its requests
/// before it is dropped; also the server's whole wait for them at stop.
pub const CLOSE_GRACE: Duration = Duration::from_secs(10);

/// Descriptors the default connection cap leaves for everything else: the
/// database pool (16 by default), webhook deliveries (32 at once), the
/// page's files, the listener, the log.
const DESCRIPTORS_KEPT: u64 = 256;

/// How long the accept loop pauses after an error that is not about one
/// connection (out of descriptors, most often), so it does not spin.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// What the flags say about connections.
#[derive(Clone, Debug)]
pub struct ConnectionPolicy {
    pub max_total: usize,
    pub max_per_client: usize,
    /// From accept to the first request (or HTTP/2 preface and SETTINGS);
    /// and each later HTTP/1.1 request head.
    pub header_timeout: Duration,
    pub idle_timeout: Duration,
    /// `None`: no HTTP/2 PINGs.
    pub keepalive: Option<Duration>,
    pub tls_handshake_timeout: Duration,
}

impl ConnectionPolicy {
    /// The policy the flags ask for. Without `--max-connections` the total
    /// cap follows the descriptor limit, which this raises to its hard limit
    /// first (as a process that serves thousands of sockets should).
    pub fn from_args(args: &ServeArgs) -> ConnectionPolicy {
        let descriptors = raise_descriptor_limit();
        let fitting = descriptors.map(|limit| limit.saturating_sub(DESCRIPTORS_KEPT).max(DESCRIPTORS_KEPT));
        let max_total = match (args.max_connections, fitting) {
            (Some(asked), Some(fitting)) if asked as u64 > fitting => {
                tracing::warn!(
                    asked,
                    ?descriptors,
                    "--max-connections is above what the descriptor limit (ulimit -n) leaves room for"
                );
                asked
            }
            (Some(asked), _) => asked,
            (None, Some(fitting)) => usize::try_from(fitting).unwrap_or(usize::MAX),
            (None, None) => 16_384,
        };
        ConnectionPolicy {
            max_total: max_total.max(1),
            max_per_client: args.max_connections_per_client.max(1),
            header_timeout: Duration::from_secs(args.header_timeout_secs.max(1)),
            idle_timeout: Duration::from_secs(args.h2_idle_timeout_secs.max(1)),
            keepalive: (args.h2_keepalive_secs > 0).then(|| Duration::from_secs(args.h2_keepalive_secs)),
            tls_handshake_timeout: Duration::from_secs(args.tls_handshake_timeout_secs.max(1)),
        }
    }

    /// hyper's HTTP/1.1 and HTTP/2 settings for this policy.
    fn http(&self) -> auto::Builder<TokioExecutor> {
        let mut http = auto::Builder::new(TokioExecutor::new());
        http.http1().max_buf_size(REQUEST_HEAD_MAX).timer(TokioTimer::new()).header_read_timeout(self.header_timeout);
        http.http2()
            .timer(TokioTimer::new())
            .max_concurrent_streams(H2_MAX_STREAMS_PER_CONNECTION)
            .max_header_list_size(REQUEST_HEAD_MAX as u32)
            .keep_alive_interval(self.keepalive);
        http
    }
}

/// The soft limit on open descriptors, raised to the hard limit if it was
/// lower; `None` if it cannot be read.
fn raise_descriptor_limit() -> Option<u64> {
    let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit only writes the struct it is given, which we own.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return None;
    }
    if limit.rlim_cur < limit.rlim_max {
        let raised = libc::rlimit { rlim_cur: limit.rlim_max, rlim_max: limit.rlim_max };
        // SAFETY: setrlimit only reads the struct it is given.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 {
            limit = raised;
        }
    }
    Some(limit.rlim_cur)
}

/// Accept connections on `listener` and serve `router` on each (cleartext:
/// HTTP/1.1 and h2c with prior knowledge, told apart by the preface; TLS: as
/// ALPN chose), under `policy`, until `stopping` is cancelled; then stop
/// accepting, shut every connection down gracefully and wait for them (at
/// most [`CLOSE_GRACE`]; streams end on the same token). Written against
/// hyper directly rather than `axum::serve` for `TCP_NODELAY` (events are
/// small writes that must leave at once), the read buffer size, TLS and
/// everything above.
pub async fn serve(
    listener: TcpListener,
    router: axum::Router,
    stopping: CancellationToken,
    tls: Option<tokio_rustls::TlsAcceptor>,
    policy: ConnectionPolicy,
    identity: ClientIdentity,
) -> std::io::Result<()> {
    let http = Arc::new(policy.http());
    let policy = Arc::new(policy);
    let mut gate = Gate::new(&policy, identity);
    // Not the server's task tracker: the wait for connections is bounded.
    let open = TaskTracker::new();
    loop {
        let admitted = tokio::select! {
            admitted = gate.accept(&listener) => admitted,
            () = stopping.cancelled() => break,
        };
        let _ = admitted.stream.set_nodelay(true);
        let (http, policy, stopping, router) = (http.clone(), policy.clone(), stopping.clone(), router.clone());
        // One task per connection, of its own future type: a cleartext
        // connection's task would otherwise reserve room for the TLS state
        // too (4.7 KB where 1.6 KB is used), and an open stream keeps its
        // connection's task for hours.
        match tls.clone() {
            None => {
                open.spawn(async move {
                    let Admitted { stream, peer, place } = admitted;
                    drive(stream, peer, &http, router, &policy, &stopping).await;
                    drop(place);
                });
            }
            Some(tls) => {
                open.spawn(async move {
                    let Admitted { stream, peer, place } = admitted;
                    match tokio::time::timeout(policy.tls_handshake_timeout, tls.accept(stream)).await {
                        Ok(Ok(stream)) => drive(stream, peer, &http, router, &policy, &stopping).await,
                        // A failed handshake just drops the socket.
                        Ok(Err(_)) => {}
                        Err(_) => timed_out("tls_handshake"),
                    }
                    drop(place);
                });
            }
        }
    }
    drop(listener);
    open.close();
    // Each connection drops itself CLOSE_GRACE after its shutdown began; the
    // margin covers a connection still in its TLS handshake.
    if tokio::time::timeout(CLOSE_GRACE + Duration::from_secs(1), open.wait()).await.is_err() {
        tracing::warn!("shutdown: some connections did not finish within {CLOSE_GRACE:?}");
    }
    Ok(())
}

/// An admitted connection: its socket, its peer and its place under the caps.
struct Admitted {
    stream: TcpStream,
    peer: SocketAddr,
    place: OpenConnection,
}

/// A place among the open connections, counted in
/// `slotstream_open_connections` while it lives: with HTTP/2 many streams
/// share one, and this shows how many sockets they take.
struct OpenConnection {
    _place: Place,
}

impl OpenConnection {
    fn new(place: Place) -> OpenConnection {
        metrics::gauge!("slotstream_open_connections").increment(1.0);
        OpenConnection { _place: place }
    }
}

impl Drop for OpenConnection {
    fn drop(&mut self) {
        metrics::gauge!("slotstream_open_connections").decrement(1.0);
    }
}

/// The accept loop's side of admission: accept errors and refusals, each
/// logged at a bounded rate.
struct Gate {
    places: Occupancy,
    identity: ClientIdentity,
    accept_errors: Throttled,
    refusals: Throttled,
}

impl Gate {
    fn new(policy: &ConnectionPolicy, identity: ClientIdentity) -> Gate {
        Gate {
            places: Occupancy::new(policy.max_per_client, policy.max_total),
            identity,
            accept_errors: Throttled::default(),
            refusals: Throttled::default(),
        }
    }

    /// The next connection the caps admit. Refused ones are closed here.
    async fn accept(&mut self, listener: &TcpListener) -> Admitted {
        loop {
            let (stream, peer) = match listener.accept().await {
                Ok(accepted) => accepted,
                // That connection is gone already: nothing to wait for.
                Err(error) if is_about_one_connection(&error) => continue,
                Err(error) => {
                    metrics::counter!("slotstream_accept_errors_total").increment(1);
                    if let Some(held_back) = self.accept_errors.allow(Instant::now()) {
                        tracing::warn!(%error, since_last_logged = held_back, "accept failed; pausing accepts briefly");
                    }
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                    continue;
                }
            };
            let client = self.identity.of_peer(peer.ip());
            match self.places.acquire(client) {
                Ok(place) => return Admitted { stream, peer, place: OpenConnection::new(place) },
                Err(full) => self.refuse(full, peer.ip()),
            }
        }
    }

    fn refuse(&mut self, full: Full, peer: IpAddr) {
        let reason = match full {
            Full::Total => "total",
            Full::Client => "per_client",
        };
        metrics::counter!("slotstream_connections_refused_total", "reason" => reason).increment(1);
        if let Some(held_back) = self.refusals.allow(Instant::now()) {
            let (per_client, total) = self.places.caps();
            let open = self.places.open_total();
            match full {
                Full::Total => tracing::warn!(
                    %peer, open, cap = total, since_last_logged = held_back,
                    "connection refused: the server holds --max-connections connections"
                ),
                Full::Client => tracing::warn!(
                    %peer, open, cap = per_client, since_last_logged = held_back,
                    "connection refused: this client holds --max-connections-per-client connections"
                ),
            }
        }
    }
}

/// Errors of `accept` that concern only the connection being accepted.
fn is_about_one_connection(error: &std::io::Error) -> bool {
    use std::io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    matches!(error.kind(), ConnectionAborted | ConnectionRefused | ConnectionReset)
}

fn timed_out(phase: &'static str) {
    metrics::counter!("slotstream_connections_timed_out_total", "phase" => phase).increment(1);
}

/// A warning that repeats under load, logged at most once a second with
/// how many occurrences were held back meanwhile.
#[derive(Debug, Default)]
struct Throttled {
    last_logged: Option<Instant>,
    held_back: u64,
}

impl Throttled {
    const EVERY: Duration = Duration::from_secs(1);

    /// `Some(held back since the last line)` if this occurrence is to be logged.
    fn allow(&mut self, now: Instant) -> Option<u64> {
        match self.last_logged {
            Some(last) if now.saturating_duration_since(last) < Self::EVERY => {
                self.held_back += 1;
                None
            }
            _ => {
                self.last_logged = Some(now);
                Some(std::mem::take(&mut self.held_back))
            }
        }
    }
}

/// Where a connection is in its life, for `drive`.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Accepted; neither a first request nor the HTTP/2 greeting yet.
    Greeting,
    Serving,
    /// Shut down gracefully (idle, or the server stopping); finishing.
    Closing,
}

/// Serve one connection under the deadlines of `policy` (module header).
async fn drive<I>(
    io: I,
    peer: SocketAddr,
    http: &auto::Builder<TokioExecutor>,
    router: axum::Router,
    policy: &ConnectionPolicy,
    stopping: &CancellationToken,
) where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    use hyper_util::service::TowerToHyperService;

    let activity = Arc::new(Activity::default());
    let io = TokioIo::new(Watched::new(io, activity.clone()));
    let service = TowerToHyperService::new(Tracked { inner: router, peer, activity: activity.clone() });
    let connection = http.serve_connection(io, service);
    tokio::pin!(connection);
    let deadline = tokio::time::sleep(policy.header_timeout);
    tokio::pin!(deadline);
    let idle = activity.idle_for(policy.idle_timeout);
    tokio::pin!(idle);
    let mut phase = Phase::Greeting;
    loop {
        tokio::select! {
            // A client going away mid-request is not an error worth logging.
            _ = connection.as_mut() => return,
            () = deadline.as_mut(), if phase != Phase::Serving => match phase {
                Phase::Greeting if activity.greeted() => phase = Phase::Serving,
                Phase::Greeting => return timed_out("greeting"),
                // Did not finish within the grace: dropped.
                Phase::Serving | Phase::Closing => return,
            },
            () = idle.as_mut(), if phase != Phase::Closing => {
                timed_out("idle");
                connection.as_mut().graceful_shutdown();
                phase = Phase::Closing;
                deadline.as_mut().reset(Instant::now() + CLOSE_GRACE);
            }
            () = stopping.cancelled(), if phase != Phase::Closing => {
                connection.as_mut().graceful_shutdown();
                phase = Phase::Closing;
                deadline.as_mut().reset(Instant::now() + CLOSE_GRACE);
            }
        }
    }
}

/// What a connection's requests tell its deadlines: whether it has greeted,
/// and how many requests are in flight (an HTTP/2 connection carries many).
#[derive(Default)]
struct Activity {
    greeted: AtomicBool,
    in_flight: AtomicUsize,
    /// Woken whenever `in_flight` changes.
    changed: Notify,
}

impl Activity {
    fn greeted(&self) -> bool {
        self.greeted.load(Ordering::Acquire)
    }

    fn mark_greeted(&self) {
        self.greeted.store(true, Ordering::Release);
    }

    /// Completes once no request has been in flight for `idle`.
    async fn idle_for(&self, idle: Duration) {
        loop {
            let changed = self.changed.notified();
            tokio::pin!(changed);
            // Registered before the count is read, so no change is missed.
            changed.as_mut().enable();
            if self.in_flight.load(Ordering::Acquire) > 0 {
                changed.await;
                continue;
            }
            tokio::select! {
                () = tokio::time::sleep(idle) => {
                    if self.in_flight.load(Ordering::Acquire) == 0 {
                        return;
                    }
                }
                () = changed => {}
            }
        }
    }
}

/// One request in flight on a connection, from its head until its response
/// body has been sent or dropped.
struct InFlight(Arc<Activity>);

impl InFlight {
    fn begin(activity: Arc<Activity>) -> InFlight {
        activity.mark_greeted();
        activity.in_flight.fetch_add(1, Ordering::AcqRel);
        activity.changed.notify_waiters();
        InFlight(activity)
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::AcqRel);
        self.0.changed.notify_waiters();
    }
}

/// The router as one connection serves it: every request (every h2 stream
/// too) carries the peer, so rate limits and caps key on it whatever the
/// protocol, and is counted in flight until its response body is done.
#[derive(Clone)]
struct Tracked<S> {
    inner: S,
    peer: SocketAddr,
    activity: Arc<Activity>,
}

impl<S, B> tower::Service<Request<Incoming>> for Tracked<S>
where
    S: tower::Service<Request<Incoming>, Response = Response<B>>,
{
    type Response = Response<TrackedBody<B>>;
    type Error = S::Error;
    type Future = TrackedFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<Incoming>) -> Self::Future {
        request.extensions_mut().insert(ConnectInfo(self.peer));
        let in_flight = Some(InFlight::begin(self.activity.clone()));
        TrackedFuture { inner: self.inner.call(request), in_flight }
    }
}

pin_project! {
    /// A tracked request's response: its body carries the request's place in flight.
    struct TrackedFuture<F> {
        #[pin]
        inner: F,
        in_flight: Option<InFlight>,
    }
}

impl<F, B, E> Future for TrackedFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
{
    type Output = Result<Response<TrackedBody<B>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let response = ready!(this.inner.poll(cx))?;
        let in_flight = this.in_flight.take();
        Poll::Ready(Ok(response.map(|body| TrackedBody { body, _in_flight: in_flight })))
    }
}

pin_project! {
    /// A response body that holds its request in flight until dropped.
    struct TrackedBody<B> {
        #[pin]
        body: B,
        _in_flight: Option<InFlight>,
    }
}

impl<B: hyper::body::Body> hyper::body::Body for TrackedBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<hyper::body::Frame<B::Data>, B::Error>>> {
        self.project().body.poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.body.size_hint()
    }
}

/// The HTTP/2 client preface (RFC 9113 §3.4).
const H2_PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
/// The SETTINGS frame type (RFC 9113 §6.5).
const SETTINGS: u8 = 0x4;

/// How far a connection's first bytes went towards HTTP/2's greeting: the
/// preface, then a SETTINGS frame, which must come first (RFC 9113 §3.4).
/// Plain logic over the bytes read; [`Watched`] feeds it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Greeting {
    /// `matched` bytes of the preface seen so far.
    Preface { matched: usize },
    /// The preface, and the first `seen` bytes of the first frame's header.
    FrameHeader { seen: usize, header: [u8; 9] },
    /// A SETTINGS frame's header, `left` bytes of its payload still to come.
    SettingsPayload { left: usize },
    /// The preface and a whole SETTINGS frame.
    Complete,
    /// Not HTTP/2's greeting (HTTP/1.1, or another first frame): only a
    /// request (HTTP/1.1) greets such a connection.
    Other,
}

impl Greeting {
    const START: Greeting = Greeting::Preface { matched: 0 };

    /// Has it reached an end (complete or not HTTP/2)?
    fn settled(self) -> bool {
        matches!(self, Greeting::Complete | Greeting::Other)
    }

    /// The state after `bytes`, read next.
    fn advance(mut self, mut bytes: &[u8]) -> Greeting {
        while !bytes.is_empty() && !self.settled() {
            self = match self {
                Greeting::Preface { matched } => {
                    let take = bytes.len().min(H2_PREFACE.len() - matched);
                    if bytes[..take] != H2_PREFACE[matched..matched + take] {
                        return Greeting::Other;
                    }
                    bytes = &bytes[take..];
                    if matched + take == H2_PREFACE.len() {
                        Greeting::FrameHeader { seen: 0, header: [0; 9] }
                    } else {
                        Greeting::Preface { matched: matched + take }
                    }
                }
                Greeting::FrameHeader { seen, mut header } => {
                    let take = bytes.len().min(header.len() - seen);
                    header[seen..seen + take].copy_from_slice(&bytes[..take]);
                    bytes = &bytes[take..];
                    if seen + take < header.len() {
                        Greeting::FrameHeader { seen: seen + take, header }
                    } else if header[3] != SETTINGS {
                        Greeting::Other
                    } else {
                        let length =
                            (usize::from(header[0]) << 16) | (usize::from(header[1]) << 8) | usize::from(header[2]);
                        Greeting::SettingsPayload { left: length }
                    }
                }
                Greeting::SettingsPayload { left } => {
                    let take = bytes.len().min(left);
                    bytes = &bytes[take..];
                    Greeting::SettingsPayload { left: left - take }
                }
                settled => settled,
            };
            if self == (Greeting::SettingsPayload { left: 0 }) {
                self = Greeting::Complete;
            }
        }
        self
    }
}

pin_project! {
    /// A connection's socket, whose first bytes are read by [`Greeting`]
    /// until it settles; then a plain pass-through.
    struct Watched<I> {
        #[pin]
        io: I,
        greeting: Greeting,
        activity: Arc<Activity>,
    }
}

impl<I> Watched<I> {
    fn new(io: I, activity: Arc<Activity>) -> Watched<I> {
        Watched { io, greeting: Greeting::START, activity }
    }
}

impl<I: AsyncRead> AsyncRead for Watched<I> {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        let this = self.project();
        if this.greeting.settled() {
            return this.io.poll_read(cx, buf);
        }
        let before = buf.filled().len();
        ready!(this.io.poll_read(cx, buf))?;
        *this.greeting = this.greeting.advance(&buf.filled()[before..]);
        if *this.greeting == Greeting::Complete {
            this.activity.mark_greeted();
        }
        Poll::Ready(Ok(()))
    }
}

impl<I: AsyncWrite> AsyncWrite for Watched<I> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        self.project().io.poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        self.project().io.poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        self.project().io.poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        self.project().io.poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A SETTINGS frame with `payload` bytes of settings (6 per setting).
    fn settings(payload: usize) -> Vec<u8> {
        let mut frame = vec![(payload >> 16) as u8, (payload >> 8) as u8, payload as u8, SETTINGS, 0, 0, 0, 0, 0];
        frame.extend(std::iter::repeat_n(0u8, payload));
        frame
    }

    fn greeting_after(chunks: &[&[u8]]) -> Greeting {
        chunks.iter().fold(Greeting::START, |greeting, chunk| greeting.advance(chunk))
    }

    #[test]
    fn the_preface_and_a_whole_settings_frame_complete_the_greeting_however_they_are_cut() {
        let mut bytes = H2_PREFACE.to_vec();
        bytes.extend(settings(12));
        bytes.extend(b"HEADERS and more");
        assert_eq!(greeting_after(&[&bytes]), Greeting::Complete);
        // One byte at a time: complete exactly at the SETTINGS frame's last byte.
        let greeting_len = H2_PREFACE.len() + 9 + 12;
        let mut greeting = Greeting::START;
        for (i, byte) in bytes.iter().enumerate() {
            greeting = greeting.advance(std::slice::from_ref(byte));
            assert_eq!(greeting == Greeting::Complete, i + 1 >= greeting_len, "after {} bytes", i + 1);
        }
        // An empty SETTINGS frame (no settings changed) is a greeting too.
        assert_eq!(greeting_after(&[H2_PREFACE, &settings(0)]), Greeting::Complete);
    }

    #[test]
    fn a_partial_preface_or_a_preface_without_settings_is_not_a_greeting() {
        assert_eq!(greeting_after(&[]), Greeting::START);
        assert_eq!(greeting_after(&[b"PRI * HTTP/2"]), Greeting::Preface { matched: 12 });
        assert!(!greeting_after(&[H2_PREFACE]).settled(), "the preface alone");
        let settings = settings(12);
        assert_eq!(greeting_after(&[H2_PREFACE, &settings[..15]]), Greeting::SettingsPayload { left: 6 });
        // A first frame other than SETTINGS (here PING) is a protocol error: never greeted.
        let ping = [0, 0, 8, 0x6, 0, 0, 0, 0, 0];
        assert_eq!(greeting_after(&[H2_PREFACE, &ping]), Greeting::Other);
    }

    #[test]
    fn http1_is_told_apart_at_its_first_differing_byte() {
        assert_eq!(greeting_after(&[b"GET / HTTP/1.1\r\n"]), Greeting::Other);
        assert_eq!(greeting_after(&[b"PRI * HTTP/1.1"]), Greeting::Other);
        assert_eq!(greeting_after(&[b"PRI", b" * HTTP/1"]), Greeting::Other);
    }

    #[test]
    fn a_repeated_warning_is_logged_once_a_second_with_the_count_held_back() {
        let start = Instant::now();
        let mut throttled = Throttled::default();
        assert_eq!(throttled.allow(start), Some(0));
        for ms in [1, 200, 999] {
            assert_eq!(throttled.allow(start + Duration::from_millis(ms)), None);
        }
        assert_eq!(throttled.allow(start + Duration::from_millis(1_000)), Some(3));
        assert_eq!(throttled.allow(start + Duration::from_millis(1_001)), None);
        assert_eq!(throttled.allow(start + Duration::from_secs(5)), Some(1));
    }

    #[tokio::test]
    async fn a_connection_is_idle_only_after_the_whole_timeout_without_a_request() {
        let activity = Arc::new(Activity::default());
        let idle = Duration::from_millis(100);
        let request = InFlight::begin(activity.clone());
        assert!(activity.greeted(), "a request greets");
        let watcher = tokio::spawn({
            let activity = activity.clone();
            async move { activity.idle_for(idle).await }
        });
        // In flight for longer than the timeout: not idle.
        tokio::time::sleep(idle * 3).await;
        assert!(!watcher.is_finished());
        let ended = Instant::now();
        drop(request);
        tokio::time::timeout(Duration::from_secs(30), watcher).await.expect("idle in the end").unwrap();
        assert!(ended.elapsed() >= idle, "idle counts from the last request's end");
    }
}
