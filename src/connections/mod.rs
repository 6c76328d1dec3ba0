//! Connections: who may open one, and how long one may sit unused.
//!
//! Every accepted socket passes here before HTTP sees it:
//! - **admission** (`admission`): a cap on open connections in total and per
//!   client (the rate limiter's client identity, `http::limits`); a refused
//!   socket is closed at once, counted in
//!   `slotstream_connections_refused_total{reason}` and logged at a bounded
//!   rate. Admitted ones are the `slotstream_open_connections` gauge.
//! - **the TLS handshake** (`accept`), with a deadline of its own
//!   (`--tls-handshake-timeout-secs`); a failed one just drops the socket.
//! - **the greeting deadline** (`deadlines`), from accept (after the TLS
//!   handshake), before the protocol is known: a connection must deliver its
//!   first request (HTTP/1.1) or the HTTP/2 preface and a whole SETTINGS
//!   frame (read off the socket by `greeting`) within
//!   `--header-timeout-secs`, or it is dropped. A silent socket, a partial
//!   preface or a preface without SETTINGS otherwise held a descriptor
//!   forever. Later HTTP/1.1 request heads are hyper's `header_read_timeout`.
//! - **idle** (`deadlines`): a connection with no request in flight for
//!   `--h2-idle-timeout-secs` is shut down gracefully (an HTTP/2 GOAWAY);
//!   HTTP/2 PINGs every `--h2-keepalive-secs` drop a peer that vanished.
//! - **accept errors** (`admission`; out of descriptors, most often) are
//!   logged at most once a second with a count, after a short back-off, not
//!   in a hot loop.
//!
//! A connection being shut down (idle, or the server stopping) that has not
//! finished within [`CLOSE_GRACE`] is dropped.
//!
//! This file owns what the flags say ([`ConnectionPolicy`]) and hyper's
//! settings for it; [`serve`] (in `accept`) is the one entry point.

use std::time::Duration;

use hyper_util::rt::{TokioExecutor, TokioTimer};
use hyper_util::server::conn::auto;

use crate::config::ServeArgs;

mod accept;
mod activity;
mod admission;
mod deadlines;
mod greeting;

pub use accept::serve;

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

/// Count a connection dropped for missing a deadline, by `phase`.
fn timed_out(phase: &'static str) {
    metrics::counter!("slotstream_connections_timed_out_total", "phase" => phase).increment(1);
}
