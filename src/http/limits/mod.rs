//! Protection for a public deployment, all of it here: per-client rate
//! limits (tower-governor) on separate quotas (reads, writes, holds, stream
//! connections; `quota`), caps on concurrent streams (`occupancy`, which the
//! connection caps of `crate::connections` count with too), and the client
//! identity they all share (`identity`).
//!
//! Invariant: every limit and cap keys on one [`ClientIdentity`], so a
//! client cannot escape one limit by looking different to another (module
//! `identity` says who a client is and why).
//!
//! A 304 costs the same token as a 200: the limiter runs before the handler
//! and cannot know the outcome, and the defaults are set so that a page and a
//! 15 s poller never meet them; the quota bounds request volume, which is
//! what a scraper abuses, while the 304 keeps each request cheap.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;

use axum::Extension;
use axum::extract::ConnectInfo;
use axum::http::HeaderMap;

use super::HttpSettings;
use crate::app::App;

mod identity;
mod occupancy;
mod quota;

pub use identity::{ClientId, ClientIdentity};
pub use occupancy::{Full, Occupancy, Place, StreamCaps, StreamPermit};
pub use quota::{LimitLayer, Limiter, Quota, layer, limiter, too_many_requests};

/// Rate limiters and stream caps, shared by every request.
#[derive(Clone)]
pub struct RateLimits {
    pub identity: ClientIdentity,
    pub read: Option<Arc<Limiter>>,
    pub write: Option<Arc<Limiter>>,
    pub stream: Option<Arc<Limiter>>,
    pub hold: Option<Arc<Limiter>>,
    pub stream_caps: StreamCaps,
}

impl RateLimits {
    pub fn new(settings: &HttpSettings, app: &App) -> RateLimits {
        let identity =
            ClientIdentity::new(settings.trusted_proxies.clone(), app.verified_keys.clone(), settings.ipv6_prefix_len);
        RateLimits {
            read: limiter(settings.read_quota, identity.clone()),
            write: limiter(settings.write_quota, identity.clone()),
            stream: limiter(settings.stream_quota, identity.clone()),
            hold: limiter(settings.hold_quota, identity.clone()),
            stream_caps: StreamCaps::new(settings.max_streams_per_client, settings.max_streams),
            identity,
        }
    }

    /// Forget clients idle long enough to have a full quota again, so the
    /// limiters' key maps stay bounded.
    pub fn forget_idle_clients(&self) {
        for limiter in [&self.read, &self.write, &self.stream, &self.hold].into_iter().flatten() {
            limiter.limiter().retain_recent();
            limiter.limiter().shrink_to_fit();
        }
    }

    /// The client a handler's request counts against, as the limiters see
    /// it: what the stream caps, idempotency keys and the hold cap count by.
    /// A request without a peer (the router called in-process) is the
    /// unspecified address.
    pub fn client(&self, peer: Option<Extension<ConnectInfo<SocketAddr>>>, headers: &HeaderMap) -> ClientId {
        let peer = peer.map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |Extension(ConnectInfo(addr))| addr.ip());
        self.identity.of(peer, headers)
    }
}
