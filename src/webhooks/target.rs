//! The SSRF guard: which addresses a webhook may be sent to, checked when a
//! subscription is added and again on every connection. Names are resolved
//! once, by the connector's resolver, which hands on only the addresses that
//! passed: the address checked is the address connected to, so a name that
//! resolves to a public address at check time and to a private one at
//! connect time (DNS rebinding) is refused too.
//!
//! The standard library's `IpAddr::is_global` is not stable yet; the
//! classification below follows the IANA special-purpose registries for the
//! ranges that reach a host's own or its network's services.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

/// Why a target was refused.
#[derive(Debug, thiserror::Error)]
pub enum TargetError {
    #[error("{0} is not a public address (private, loopback, link-local and similar targets are refused)")]
    NotPublic(IpAddr),
    #[error("{host} resolves to {address}, which is not a public address")]
    ResolvesPrivate { host: String, address: IpAddr },
    #[error("{0} could not be resolved")]
    Unresolvable(String),
}

/// May a webhook connect to `ip`? Refuses loopback, private (RFC 1918,
/// unique-local), link-local (cloud metadata at 169.254.169.254 among them),
/// unspecified, multicast, broadcast, shared (CGNAT), benchmarking,
/// documentation and reserved ranges, and IPv6 forms that embed an IPv4
/// address, judged by that address.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => is_public_v4(v4),
            None => is_public_v6(v6),
        },
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_multicast()
        || ip.is_broadcast()
        || ip.is_documentation()
        || a == 0 // "this network"
        || (a == 100 && (64..128).contains(&b)) // shared address space (CGNAT)
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments
        || (a == 198 && (18..20).contains(&b)) // benchmarking
        || a >= 240) // reserved
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    let first = ip.segments()[0];
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_multicast()
        || ip.is_unique_local()
        || ip.is_unicast_link_local()
        || (first & 0xffc0) == 0xfec0 // site-local (deprecated, still routed internally)
        || (first == 0x2001 && ip.segments()[1] == 0x0db8) // documentation
        || (first == 0x0064 && ip.segments()[1] == 0xff9b) // NAT64: embeds an IPv4 address
        || first == 0x2002 // 6to4: embeds an IPv4 address
        || ip.to_ipv4().is_some()) // IPv4-compatible (::a.b.c.d)
}

/// A name that does not resolve in this long is refused (the system
/// resolver's own retries can take much longer).
const LOOKUP_TIMEOUT: Duration = Duration::from_secs(5);

/// Resolve `host` (a name or an address literal) to the addresses a webhook
/// may connect to: all of them must pass unless `allow_private`, so a name
/// that also points inside is refused rather than half-used.
pub async fn resolve(host: &str, port: u16, allow_private: bool) -> Result<Vec<SocketAddr>, TargetError> {
    let literal = host.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = literal.parse::<IpAddr>() {
        return match allow_private || is_public(ip) {
            true => Ok(vec![SocketAddr::new(ip, port)]),
            false => Err(TargetError::NotPublic(ip)),
        };
    }
    let lookup = tokio::time::timeout(LOOKUP_TIMEOUT, tokio::net::lookup_host((host, port)));
    let addresses: Vec<SocketAddr> = match lookup.await {
        Ok(Ok(found)) => found.collect(),
        _ => return Err(TargetError::Unresolvable(host.to_owned())),
    };
    if addresses.is_empty() {
        return Err(TargetError::Unresolvable(host.to_owned()));
    }
    if !allow_private && let Some(bad) = addresses.iter().find(|a| !is_public(a.ip())) {
        return Err(TargetError::ResolvesPrivate { host: host.to_owned(), address: bad.ip() });
    }
    Ok(addresses)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_ranges_are_refused_and_public_ones_pass() {
        for refused in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "100.64.0.1",
            "224.0.0.1",
            "255.255.255.255",
            "::1",
            "::",
            "fe80::1",
            "fc00::1",
            "fd12:3456::1",
            "ff02::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "64:ff9b::a00:1",
        ] {
            assert!(!is_public(refused.parse().unwrap()), "{refused} must be refused");
        }
        for allowed in ["93.184.215.14", "8.8.8.8", "2606:4700:4700::1111", "::ffff:8.8.8.8"] {
            assert!(is_public(allowed.parse().unwrap()), "{allowed} must pass");
        }
    }
}
