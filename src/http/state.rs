//! The state every handler gets: the application, the HTTP settings, the
//! rate limits, and the token that says the server is stopping.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::limits::{Quota, RateLimits};
use crate::app::App;

/// Settings the HTTP layer needs at run time (built from the flags in
/// `server`, whose defaults live in `config`).
#[derive(Clone, Debug)]
pub struct HttpSettings {
    /// Comment heartbeat interval on streams.
    pub heartbeat: Duration,
    /// The `retry:` the stream advises EventSource to wait before reconnecting
    /// (each stream's spread ±50 % around it, so reconnects do not come at once).
    pub retry: Duration,
    /// Largest request body accepted.
    pub body_limit: usize,
    /// Largest request body on the admin API (`/api/v1/admin/…`).
    pub admin_body_limit: usize,
    /// Timeout for ordinary (non-stream) requests.
    pub request_timeout: Duration,
    pub read_quota: Quota,
    pub write_quota: Quota,
    pub stream_quota: Quota,
    /// Creating, renewing and releasing slot holds.
    pub hold_quota: Quota,
    pub max_streams_per_client: usize,
    pub max_streams: usize,
    pub trusted_proxies: Vec<IpAddr>,
    pub cors_origins: Vec<String>,
    /// Leading bits of an IPv6 address that name one client.
    pub ipv6_prefix_len: u8,
    /// Folder the page's files are served from; `None`: the copy built into the binary.
    pub static_dir: Option<std::path::PathBuf>,
    /// The operator token of the admin API; `None`: no admin routes at all.
    pub admin_token: Option<crate::app::AdminToken>,
    /// `/metrics` on the public listener (false with `--metrics-bind`, which serves it apart).
    pub public_metrics: bool,
    /// Served over TLS (`--tls-cert`/`--tls-key`): the session cookie is `Secure`.
    pub tls: bool,
    /// `--public-url`: the origin sign-in links start with (else the request's own).
    pub public_url: Option<String>,
}

/// The axum state of every handler: a cheap-clone handle (one `Arc`) to
/// the [`HttpContext`], since axum clones it for every request and layer.
#[derive(Clone)]
pub struct HttpState(Arc<HttpContext>);

impl std::ops::Deref for HttpState {
    type Target = HttpContext;

    fn deref(&self) -> &HttpContext {
        &self.0
    }
}

impl HttpState {
    pub fn new(context: HttpContext) -> HttpState {
        HttpState(Arc::new(context))
    }
}

/// What every handler can reach.
pub struct HttpContext {
    pub app: App,
    pub settings: HttpSettings,
    pub rate_limits: RateLimits,
    /// Cancelled when the server begins to stop; streams end on it.
    pub stopping: CancellationToken,
    /// Is the PostgreSQL relay expected (readiness needs it connected)?
    pub expects_relay: bool,
    /// The cap on open connections (`--max-connections`, or what the
    /// descriptor limit leaves room for), shown on `/metrics`.
    pub max_connections: usize,
    /// The streams' heartbeats (ticked by a task `server` starts).
    pub heartbeats: super::stream::HeartbeatClock,
}
