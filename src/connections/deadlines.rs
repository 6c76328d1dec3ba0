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
use crate::http::Edge;

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
