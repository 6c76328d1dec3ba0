//! Who a request or a connection counts against: the client identity every
//! rate limit and cap keys on.
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

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::extract::ConnectInfo;
use axum::http::{HeaderMap, Request, header};
use tower_governor::GovernorError;
use tower_governor::key_extractor::KeyExtractor;

use crate::app::{VerifiedKeys, secrets};
use crate::http::extract::bearer_token;

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
    let token = bearer_token(headers.get(header::AUTHORIZATION)?.as_bytes())?;
    let secret = std::str::from_utf8(token).ok()?.trim();
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

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

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
        let lower = headers(&[("authorization", "bearer pk_known")]);
        assert_eq!(identity.of(peer, &lower), identity.of(peer, &known), "the scheme is case-insensitive");
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
    fn a_trusted_proxy_is_no_client_of_its_own_at_the_connection() {
        let proxy = ip("10.0.0.1");
        let identity = ClientIdentity::new(vec![proxy], VerifiedKeys::default(), 64);
        assert_eq!(identity.of_peer(ip("::ffff:10.0.0.1")), None);
        assert_eq!(identity.of_peer(ip("2001:db8:1:2::9")), Some(ClientId::Address(ip("2001:db8:1:2::"))));
        assert_eq!(identity.of_peer(ip("198.51.100.7")), identity.of(ip("198.51.100.7"), &HeaderMap::new()).into());
    }
}
