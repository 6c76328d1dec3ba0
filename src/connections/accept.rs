//! The accept loop: each admitted socket gets a task of its own, which does
//! the TLS handshake (under its own deadline) when there is TLS and then
//! serves the connection (`deadlines::drive`); on stop, the loop stops
//! accepting and waits (bounded) for the connections to finish.
//!
//! Invariant: the wait at stop is bounded by [`CLOSE_GRACE`] plus a margin,
//! because each connection drops itself `CLOSE_GRACE` after its shutdown
//! began; a stop never hangs on a client.

use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::admission::{Admitted, Gate};
use super::deadlines::drive;
use super::{CLOSE_GRACE, ConnectionPolicy, timed_out};
use crate::http::Edge;
use crate::http::limits::ClientIdentity;

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
    router: Edge,
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
