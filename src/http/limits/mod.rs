//! Protection for a public deployment, all of it here: per-client rate limits (tower-governor)
//! on three separate quotas (reads, writes, stream connections), caps on
//! concurrent streams, and the client identity they all share (the
//! connection caps of `crate::connections` count with it too).
//!
//! The client is the peer IP. `X-Forwarded-For` / `Forwarded` are believed
//! only when the peer is a configured trusted proxy (never by default).
//! Addresses are compared in canonical form (an IPv4-mapped `::ffff:a.b.c.d`
//! is `a.b.c.d`, as a dual-stack socket reports IPv4 peers), and an IPv6
//! client is its prefix (`/64` by default), since one host commonly owns a
//! whole `/64` and could otherwise pick a fresh address per request. A
//! provider key presented as `Authorization: Bearer` that has already been
//! verified once is its own client with its own quota; an unverified bearer
//! counts against the address, so random tokens buy no extra quota.
//!
//! A 304 costs the same token as a 200: the limiter runs before the handler
//! and cannot know the outcome, and the defaults are set so that a page and a
//! 15 s poller never meet them; the quota bounds request volume, which is
//! what a scraper abuses, while the 304 keeps each request cheap.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{HeaderMap, HeaderValue, Request, Response, StatusCode, header};
use dashmap::DashMap;
use tower_governor::GovernorError;
use tower_governor::governor::{GovernorConfig, GovernorConfigBuilder};
use tower_governor::key_extractor::KeyExtractor;

use super::HttpSettings;
use super::error::problem;
use crate::app::{App, VerifiedKeys, secrets};

/// Who a request counts against.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum ClientId {
    Address(IpAddr),
    /// SHA-256 of a verified provider key.
    ApiKey(Arc<str>),
}

impl ClientId {
    /// A stable, opaque name for this client, to scope what is kept per
    /// client beyond the limiter (its `Idempotency-Key`s).
    pub fn scope(&self) -> String {
        match self {
            ClientId::Address(ip) => format!("ip:{}", ip.to_canonical()),
            ClientId::ApiKey(hash) => format!("key:{hash}"),
        }
    }
}

/// How clients are told apart; shared by the limiters and the stream caps.
#[derive(Clone)]
pub struct ClientIdentity {
    /// In canonical form, as peers are compared.
    trusted_proxies: Arc<[IpAddr]>,
    /// Filled in by `app::authorization`; read here only.
    verified_keys: VerifiedKeys,
    /// Leading bits of an IPv6 address that name one client (1..=128).
    ipv6_prefix_len: u8,
}

impl ClientIdentity {
    pub fn new(trusted_proxies: Vec<IpAddr>, verified_keys: VerifiedKeys, ipv6_prefix_len: u8) -> ClientIdentity {
        let trusted_proxies = trusted_proxies.iter().map(IpAddr::to_canonical).collect();
        ClientIdentity { trusted_proxies, verified_keys, ipv6_prefix_len: ipv6_prefix_len.clamp(1, 128) }
    }

    /// The client a request from `peer` with `headers` counts against.
    pub fn of(&self, peer: IpAddr, headers: &HeaderMap) -> ClientId {
        if let Some(hash) = bearer_hash(headers).filter(|h| self.verified_keys.contains(h)) {
            return ClientId::ApiKey(hash.into());
        }
        let peer = peer.to_canonical();
        if self.trusted_proxies.contains(&peer)
            && let Some(forwarded) = forwarded_for(headers)
        {
            return ClientId::Address(self.key(forwarded.to_canonical()));
        }
        ClientId::Address(self.key(peer))
    }

    /// The client a connection from `peer` counts against, before any
    /// request (so before any header) is read; `None` for a trusted proxy,
    /// which speaks for many clients.
    pub fn of_peer(&self, peer: IpAddr) -> Option<ClientId> {
        let peer = peer.to_canonical();
        (!self.trusted_proxies.contains(&peer)).then(|| ClientId::Address(self.key(peer)))
    }

    /// An address as a client key: IPv4 as is, IPv6 cut to its prefix.
    /// Canonicalise first: IPv4-mapped addresses all lie in `::/64`.
    fn key(&self, address: IpAddr) -> IpAddr {
        match address {
            IpAddr::V4(_) => address,
            IpAddr::V6(v6) => {
                let mask = u128::MAX << (128 - u32::from(self.ipv6_prefix_len));
                IpAddr::V6((v6.to_bits() & mask).into())
            }
        }
    }
}

fn bearer_hash(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let secret = value.strip_prefix("Bearer ")?.trim();
    (secret.starts_with("pk_") && secret.len() <= 256).then(|| secrets::hash(secret))
}

/// The client address a trusted proxy reports: the last `X-Forwarded-For`
/// entry (the one the proxy itself appended), else `Forwarded: for=`.
fn forwarded_for(headers: &HeaderMap) -> Option<IpAddr> {
    if let Some(xff) = headers.get_all("x-forwarded-for").iter().next_back().and_then(|v| v.to_str().ok()) {
        return xff.rsplit(',').next().and_then(|ip| ip.trim().parse().ok());
    }
    let forwarded = headers.get_all(header::FORWARDED).iter().next_back()?.to_str().ok()?;
    let element = forwarded.rsplit(',').next()?;
    element.split(';').find_map(|pair| {
        let (key, value) = pair.trim().split_once('=')?;
        if !key.eq_ignore_ascii_case("for") {
            return None;
        }
        let value = value.trim_matches('"');
        let host = value.strip_prefix('[').and_then(|v| v.split(']').next()).unwrap_or(value);
        host.parse().ok().or_else(|| host.rsplit_once(':').and_then(|(h, _)| h.parse().ok()))
    })
}

impl KeyExtractor for ClientIdentity {
    type Key = ClientId;

    fn extract<T>(&self, req: &Request<T>) -> Result<ClientId, GovernorError> {
        let peer = req
            .extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(addr)| addr.ip())
            .ok_or(GovernorError::UnableToExtractKey)?;
        Ok(self.of(peer, req.headers()))
    }
}

/// One quota: a burst, refilled at `per_second` tokens a second.
#[derive(Clone, Copy, Debug)]
pub struct Quota {
    pub name: &'static str,
    pub burst: u32,
    pub per_second: f64,
}

impl Quota {
    /// Seconds the whole burst takes to refill (the draft's window `w`).
    fn window_secs(&self) -> u64 {
        (f64::from(self.burst) / self.per_second).ceil().max(1.0) as u64
    }
}

pub type Limiter = GovernorConfig<ClientIdentity, governor::middleware::NoOpMiddleware<governor::clock::QuantaInstant>>;

/// The middleware that applies one quota.
pub type LimitLayer = tower_governor::GovernorLayer<
    ClientIdentity,
    governor::middleware::NoOpMiddleware<governor::clock::QuantaInstant>,
    Body,
>;

/// `quota`'s per-client limit as a layer, or `None` when it is switched off.
pub fn layer(limiter: &Option<Arc<Limiter>>, quota: Quota) -> Option<LimitLayer> {
    limiter.clone().map(|limiter| tower_governor::GovernorLayer::new(limiter).error_handler(too_many_requests(quota)))
}

/// A limiter for `quota`, or `None` when it is switched off (burst 0).
pub fn limiter(quota: Quota, identity: ClientIdentity) -> Option<Arc<Limiter>> {
    // NaN refills nothing either.
    if quota.burst == 0 || quota.per_second.is_nan() || quota.per_second <= 0.0 {
        return None;
    }
    // governor's period is the time per token (not tokens per period).
    let period = Duration::from_secs_f64(1.0 / quota.per_second).max(Duration::from_nanos(1));
    GovernorConfigBuilder::default()
        .key_extractor(identity)
        .period(period)
        .burst_size(quota.burst)
        .finish()
        .map(Arc::new)
}

/// The 429 answer: problem+json, `Retry-After` rounded *up* (tower-governor
/// truncates to whole seconds, which would say 0 for a sub-second refill),
/// and the IETF draft's `RateLimit-Policy` / `RateLimit` headers.
pub fn too_many_requests(quota: Quota) -> impl Fn(GovernorError) -> Response<Body> + Send + Sync + 'static {
    move |error| match error {
        GovernorError::TooManyRequests { wait_time, .. } => {
            metrics::counter!("slotstream_rate_limited_total", "quota" => quota.name).increment(1);
            let retry_after = wait_time + 1;
            let mut response = problem(
                StatusCode::TOO_MANY_REQUESTS,
                "rate-limited",
                "Too many requests",
                &format!("the {} quota of this client is used up; retry in {retry_after} s", quota.name),
            );
            let headers = response.headers_mut();
            headers.insert(header::RETRY_AFTER, HeaderValue::from(retry_after));
            let policy = format!("\"{}\";q={};w={}", quota.name, quota.burst, quota.window_secs());
            let state = format!("\"{}\";r=0;t={retry_after}", quota.name);
            if let (Ok(policy), Ok(state)) = (HeaderValue::from_str(&policy), HeaderValue::from_str(&state)) {
                headers.insert("ratelimit-policy", policy);
                headers.insert("ratelimit", state);
            }
            response
        }
        GovernorError::UnableToExtractKey => problem(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "Internal server error",
            "the client could not be identified",
        ),
        GovernorError::Other { code, msg, .. } => {
            problem(code, "rate-limited", "Request refused", msg.as_deref().unwrap_or("refused"))
        }
    }
}

/// Places held at once, per client and in total, each under its cap: what
/// the stream caps (below) and the connection caps (`crate::connections`)
/// count.
#[derive(Clone)]
pub struct Occupancy {
    per_client: usize,
    total: usize,
    open: Arc<DashMap<ClientId, usize>>,
    open_total: Arc<AtomicUsize>,
}

/// Which cap refused a place.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Full {
    /// The server holds as many as it allows.
    Total,
    /// This client holds as many as it may.
    Client,
}

/// A place held in an [`Occupancy`]; freed on drop.
pub struct Place {
    occupancy: Occupancy,
    /// `None`: counted in the total only.
    client: Option<ClientId>,
}

impl Occupancy {
    pub fn new(per_client: usize, total: usize) -> Occupancy {
        Occupancy { per_client, total, open: Arc::default(), open_total: Arc::default() }
    }

    /// A place for `client`, or the cap that refuses it. `None` takes a
    /// place in the total only (a trusted proxy speaks for many clients).
    pub fn acquire(&self, client: Option<ClientId>) -> Result<Place, Full> {
        if self.open_total.fetch_add(1, Ordering::AcqRel) >= self.total {
            self.open_total.fetch_sub(1, Ordering::AcqRel);
            return Err(Full::Total);
        }
        if let Some(client) = &client {
            let mut count = self.open.entry(client.clone()).or_insert(0);
            if *count >= self.per_client {
                drop(count);
                self.open_total.fetch_sub(1, Ordering::AcqRel);
                return Err(Full::Client);
            }
            *count += 1;
        }
        Ok(Place { occupancy: self.clone(), client })
    }

    /// Places held by everyone.
    pub fn open_total(&self) -> usize {
        self.open_total.load(Ordering::Acquire)
    }

    /// The caps: (per client, total).
    pub fn caps(&self) -> (usize, usize) {
        (self.per_client, self.total)
    }
}

impl Drop for Place {
    fn drop(&mut self) {
        self.occupancy.open_total.fetch_sub(1, Ordering::AcqRel);
        if let Some(client) = &self.client {
            self.occupancy.open.remove_if_mut(client, |_, count| {
                *count -= 1;
                *count == 0
            });
        }
    }
}

/// Caps on concurrently open streams, per client and in total.
#[derive(Clone)]
pub struct StreamCaps(Occupancy);

/// A place among the open streams; freed on drop.
pub struct StreamPermit {
    _place: Place,
}

impl StreamCaps {
    pub fn new(per_client: usize, total: usize) -> StreamCaps {
        StreamCaps(Occupancy::new(per_client, total))
    }

    /// A permit, or the reason there is none.
    pub fn acquire(&self, client: ClientId) -> Result<StreamPermit, &'static str> {
        self.0.acquire(Some(client)).map(|place| StreamPermit { _place: place }).map_err(|full| match full {
            Full::Total => "the server holds as many streams as it allows; retry later",
            Full::Client => "this client has as many streams open as it may; close one first",
        })
    }
}

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
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.append(*k, HeaderValue::from_str(v).unwrap());
        }
        map
    }

    #[test]
    fn forwarded_headers_count_only_from_trusted_proxies() {
        let proxy: IpAddr = "10.0.0.1".parse().unwrap();
        let identity = ClientIdentity::new(vec![proxy], VerifiedKeys::default(), 128);
        let xff = headers(&[("x-forwarded-for", "1.1.1.1, 203.0.113.9")]);
        assert_eq!(identity.of(proxy, &xff), ClientId::Address("203.0.113.9".parse().unwrap()));
        let stranger: IpAddr = "198.51.100.7".parse().unwrap();
        assert_eq!(identity.of(stranger, &xff), ClientId::Address(stranger));
        let fwd = headers(&[("forwarded", "for=\"[2001:db8::1]:4711\";proto=https")]);
        assert_eq!(identity.of(proxy, &fwd), ClientId::Address("2001:db8::1".parse().unwrap()));
        let garbage = headers(&[("x-forwarded-for", "not-an-ip")]);
        assert_eq!(identity.of(proxy, &garbage), ClientId::Address(proxy));
    }

    #[test]
    fn only_verified_provider_keys_are_clients_of_their_own() {
        let keys = VerifiedKeys::holding([secrets::hash("pk_known")]);
        let identity = ClientIdentity::new(vec![], keys, 64);
        let peer: IpAddr = "127.0.0.2".parse().unwrap();
        let known = headers(&[("authorization", "Bearer pk_known")]);
        assert!(matches!(identity.of(peer, &known), ClientId::ApiKey(_)));
        let unknown = headers(&[("authorization", "Bearer pk_random")]);
        assert_eq!(identity.of(peer, &unknown), ClientId::Address(peer));
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn an_ipv4_mapped_peer_is_its_ipv4_address() {
        let xff = headers(&[("x-forwarded-for", "203.0.113.9")]);
        let forwarded = ClientId::Address(ip("203.0.113.9"));
        // The proxy listed as IPv4, seen through a dual-stack socket, and vice versa.
        let listed_v4 = ClientIdentity::new(vec![ip("10.0.0.1")], VerifiedKeys::default(), 64);
        assert_eq!(listed_v4.of(ip("::ffff:10.0.0.1"), &xff), forwarded);
        let listed_mapped = ClientIdentity::new(vec![ip("::ffff:10.0.0.1")], VerifiedKeys::default(), 64);
        assert_eq!(listed_mapped.of(ip("10.0.0.1"), &xff), forwarded);
        // One client, one identity, however its address arrives.
        let none = HeaderMap::new();
        assert_eq!(listed_v4.of(ip("::ffff:198.51.100.7"), &none), listed_v4.of(ip("198.51.100.7"), &none));
        let mapped_xff = headers(&[("x-forwarded-for", "::ffff:203.0.113.9")]);
        assert_eq!(listed_v4.of(ip("10.0.0.1"), &mapped_xff), forwarded);
        // Mapped addresses all lie in ::/64; they must not become one client.
        assert_ne!(listed_v4.of(ip("::ffff:1.2.3.4"), &none), listed_v4.of(ip("::ffff:5.6.7.8"), &none));
    }

    #[test]
    fn an_ipv6_client_is_its_prefix() {
        let none = HeaderMap::new();
        let (a, b, elsewhere) = (ip("2001:db8:1:2::1"), ip("2001:db8:1:2:ffff:ffff:ffff:9"), ip("2001:db8:1:3::1"));
        let by_64 = ClientIdentity::new(vec![], VerifiedKeys::default(), 64);
        assert_eq!(by_64.of(a, &none), by_64.of(b, &none), "one /64, one client");
        assert_eq!(by_64.of(a, &none), ClientId::Address(ip("2001:db8:1:2::")));
        assert_ne!(by_64.of(a, &none), by_64.of(elsewhere, &none), "the next /64 is another client");
        let by_128 = ClientIdentity::new(vec![], VerifiedKeys::default(), 128);
        assert_ne!(by_128.of(a, &none), by_128.of(b, &none), "/128: every address its own client");
        assert_eq!(by_128.of(a, &none), ClientId::Address(a));
        let by_1 = ClientIdentity::new(vec![], VerifiedKeys::default(), 1);
        assert_eq!(by_1.of(a, &none), by_1.of(elsewhere, &none));
        // Forwarded IPv6 clients are cut the same way.
        let proxy = ip("10.0.0.1");
        let behind = ClientIdentity::new(vec![proxy], VerifiedKeys::default(), 64);
        let fwd = headers(&[("forwarded", "for=\"[2001:db8:1:2::77]:4711\"")]);
        assert_eq!(behind.of(proxy, &fwd), by_64.of(a, &none));
    }

    #[test]
    fn stream_caps_hold_per_client_and_in_total() {
        let caps = StreamCaps::new(2, 3);
        let a = ClientId::Address("127.0.0.2".parse().unwrap());
        let b = ClientId::Address("127.0.0.3".parse().unwrap());
        let a1 = caps.acquire(a.clone()).unwrap();
        let _a2 = caps.acquire(a.clone()).unwrap();
        assert!(caps.acquire(a.clone()).is_err(), "third for one client");
        let _b1 = caps.acquire(b.clone()).unwrap();
        assert!(caps.acquire(b.clone()).is_err(), "total reached");
        drop(a1);
        assert!(caps.acquire(a).is_ok(), "a closed stream frees its place");
    }

    #[test]
    fn a_place_without_a_client_counts_in_the_total_only() {
        let places = Occupancy::new(1, 2);
        let a = ClientId::Address("127.0.0.2".parse().unwrap());
        let proxied = places.acquire(None).unwrap();
        let _also = places.acquire(None).expect("no per-client cap without a client");
        assert_eq!(places.acquire(Some(a.clone())).err(), Some(Full::Total));
        drop(proxied);
        let held = places.acquire(Some(a.clone())).unwrap();
        assert_eq!(places.open_total(), 2);
        drop(held);
        assert_eq!(places.open_total(), 1);
        assert!(places.acquire(Some(a)).is_ok(), "the client's count went back to 0");
    }

    #[test]
    fn a_trusted_proxy_is_no_client_of_its_own_at_the_connection() {
        let proxy = ip("10.0.0.1");
        let identity = ClientIdentity::new(vec![proxy], VerifiedKeys::default(), 64);
        assert_eq!(identity.of_peer(ip("::ffff:10.0.0.1")), None);
        assert_eq!(identity.of_peer(ip("2001:db8:1:2::9")), Some(ClientId::Address(ip("2001:db8:1:2::"))));
        assert_eq!(identity.of_peer(ip("198.51.100.7")), identity.of(ip("198.51.100.7"), &HeaderMap::new()).into());
    }
}
