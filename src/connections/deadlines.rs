//! One connection's life under its deadlines: the greeting deadline from
//! accept, the idle timeout, and the grace a closing connection gets
//! (module `connections` says why each exists). [`drive`] runs them beside
//! hyper's connection future; [`Tracked`] wraps the router so that each
//! request (each HTTP/2 stream too) carries its peer and counts as in flight
//! until its response body is done, which is what "idle" is measured by.
//!
//! Invariants: a connection is idle only after the whole idle timeout with
//! no request in flight (a long response body, such as an event stream,
//! keeps it busy); whatever phase it is in, a connection ends within
//! [`CLOSE_GRACE`] of its shutdown.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use axum::extract::ConnectInfo;
use axum::http::{Request, Response};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use pin_project_lite::pin_project;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::activity::{Activity, InFlight};
use super::greeting::Watched;
use super::{CLOSE_GRACE, ConnectionPolicy, timed_out};
use crate::http::{Edge, EdgeFuture};
use crate::wakeups::DueSources;

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
pub(super) async fn drive<I>(
    io: I,
    peer: SocketAddr,
    http: &auto::Builder<TokioExecutor>,
    router: Edge,
    policy: &ConnectionPolicy,
    stopping: &CancellationToken,
) where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let activity = Arc::new(Activity::default());
    let io = TokioIo::new(Watched::new(io, activity.clone()));
    let service = Tracked { inner: router, peer, activity: activity.clone() };
    let connection = http.serve_connection(io, service);
    tokio::pin!(connection);
    let deadline = tokio::time::sleep(policy.header_timeout);
    tokio::pin!(deadline);
    let idle = activity.idle_for(policy.idle_timeout);
    tokio::pin!(idle);
    let stopped = stopping.cancelled();
    tokio::pin!(stopped);
    let mut phase = Phase::Greeting;
    // The deadlines are polled only when one of them fired (`wakeups`): the
    // connection's task is woken for every response frame it writes, and a
    // `select!` polled all three timers on each of those wake-ups.
    let due = DueSources::new(DEADLINES);
    let deadlines_waker = due.waker(DEADLINES);
    std::future::poll_fn(|cx| {
        if due.take(cx.waker()) & DEADLINES != 0 {
            let mut deadlines = Context::from_waker(&deadlines_waker);
            // Again after each change of phase: the next phase's timers must
            // be polled once to be registered.
            loop {
                let before = phase;
                if phase != Phase::Serving && deadline.as_mut().poll(&mut deadlines).is_ready() {
                    match phase {
                        Phase::Greeting if activity.greeted() => phase = Phase::Serving,
                        Phase::Greeting => {
                            timed_out("greeting");
                            return Poll::Ready(());
                        }
                        // Did not finish within the grace: dropped.
                        Phase::Serving | Phase::Closing => return Poll::Ready(()),
                    }
                }
                if phase != Phase::Closing {
                    let went_idle = idle.as_mut().poll(&mut deadlines).is_ready();
                    if went_idle {
                        timed_out("idle");
                    }
                    if went_idle || stopped.as_mut().poll(&mut deadlines).is_ready() {
                        connection.as_mut().graceful_shutdown();
                        phase = Phase::Closing;
                        deadline.as_mut().reset(Instant::now() + CLOSE_GRACE);
                    }
                }
                if phase == before {
                    break;
                }
            }
        }
        // A client going away mid-request is not an error worth logging.
        connection.as_mut().poll(cx).map(drop)
    })
    .await;
}

/// The one source of a connection's `DueSources`: its deadlines (greeting,
/// idle, grace) and the server's stop.
const DEADLINES: u8 = 1;

/// The router as one connection serves it: every request (every h2 stream
/// too) carries the peer, so rate limits and caps key on it whatever the
/// protocol, and is counted in flight until its response body is done.
///
/// A hyper service of its own rather than a tower one behind
/// `TowerToHyperService`, whose future keeps the request (and a clone of the
/// service) until its first poll: hyper spawns each HTTP/2 stream as a task
/// whose size is the larger of that future and the response body's pipe,
/// and an event stream keeps its task for hours. Here the future is the
/// edge's, which boxes what the router awaits.
struct Tracked {
    inner: Edge,
    peer: SocketAddr,
    activity: Arc<Activity>,
}

impl hyper::service::Service<Request<Incoming>> for Tracked {
    type Response = Response<TrackedBody<axum::body::Body>>;
    type Error = Infallible;
    type Future = TrackedFuture<EdgeFuture>;

    fn call(&self, mut request: Request<Incoming>) -> Self::Future {
        request.extensions_mut().insert(ConnectInfo(self.peer));
        let in_flight = Some(InFlight::begin(self.activity.clone()));
        TrackedFuture { inner: self.inner.serve(request), in_flight }
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

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

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
