//! The SSRF guard: which addresses a webhook may be sent to, checked when a
//! subscription is added and again on every connection. Names are resolved
//! once, by the connector's resolver, which hands on only the addresses that
//! passed: the address checked is the address connected to, so a name that
//! resolves to a public address at check time and to a private one at
//! connect time (DNS rebinding) is refused too.
//!
//! The standard library's `IpAddr::is_global` is not stable yet; the
//! classification below is a table of the IANA IPv4 and IPv6 Special-Purpose
//! Address Registries (blocks not globally reachable), plus multicast, and on
//! IPv6 only the global unicast space `2000::/3` at all.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use ipnet::{Ipv4Net, Ipv6Net};

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

const fn v4(a: u8, b: u8, c: u8, d: u8, prefix: u8) -> Ipv4Net {
    Ipv4Net::new_assert(Ipv4Addr::new(a, b, c, d), prefix)
}

#[allow(clippy::too_many_arguments)]
const fn v6(a: u16, b: u16, c: u16, d: u16, e: u16, f: u16, g: u16, h: u16, prefix: u8) -> Ipv6Net {
    Ipv6Net::new_assert(Ipv6Addr::new(a, b, c, d, e, f, g, h), prefix)
}

/// IPv4 blocks a webhook may not reach: every block of the IANA IPv4
/// Special-Purpose Address Registry that is not globally reachable, the
/// deprecated 6to4 relay anycast block, and multicast. Where the registry
/// marks single addresses inside a refused block as reachable (the PCP and
/// TURN anycast addresses in `192.0.0.0/24`), the whole block stays refused:
/// no webhook receiver lives there.
const REFUSED_V4: &[Ipv4Net] = &[
    v4(0, 0, 0, 0, 8),       // "this network" (RFC 791)
    v4(10, 0, 0, 0, 8),      // private use (RFC 1918)
    v4(100, 64, 0, 0, 10),   // shared address space, CGNAT (RFC 6598)
    v4(127, 0, 0, 0, 8),     // loopback (RFC 1122)
    v4(169, 254, 0, 0, 16),  // link-local, cloud metadata (RFC 3927)
    v4(172, 16, 0, 0, 12),   // private use (RFC 1918)
    v4(192, 0, 0, 0, 24),    // IETF protocol assignments (RFC 6890)
    v4(192, 0, 2, 0, 24),    // documentation, TEST-NET-1 (RFC 5737)
    v4(192, 88, 99, 0, 24),  // 6to4 relay anycast, deprecated (RFC 7526)
    v4(192, 168, 0, 0, 16),  // private use (RFC 1918)
    v4(198, 18, 0, 0, 15),   // benchmarking (RFC 2544)
    v4(198, 51, 100, 0, 24), // documentation, TEST-NET-2 (RFC 5737)
    v4(203, 0, 113, 0, 24),  // documentation, TEST-NET-3 (RFC 5737)
    v4(224, 0, 0, 0, 4),     // multicast (RFC 5771)
    v4(240, 0, 0, 0, 4),     // reserved, and the limited broadcast 255.255.255.255 (RFC 1112, RFC 919)
];

/// The only IPv6 space a webhook may reach, less [`REFUSED_V6`]: IANA
/// allocates global unicast from here, and everything outside it (loopback,
/// unspecified, IPv4-mapped and -compatible, SIIT, discard-only, unique-local,
/// link-local, site-local, multicast, reserved) is not globally reachable.
const GLOBAL_UNICAST_V6: Ipv6Net = v6(0x2000, 0, 0, 0, 0, 0, 0, 0, 3);

/// The NAT64 well-known prefix (RFC 6052): the address it embeds is judged.
/// Its local-use neighbour `64:ff9b:1::/48` is outside [`GLOBAL_UNICAST_V6`].
const NAT64_WELL_KNOWN: Ipv6Net = v6(0x64, 0xff9b, 0, 0, 0, 0, 0, 0, 96);

/// IPv6 blocks inside [`GLOBAL_UNICAST_V6`] a webhook may not reach: the
/// blocks of the IANA IPv6 Special-Purpose Address Registry there that are
/// not globally reachable, and the forms that tunnel to an IPv4 address a
/// guard cannot see (Teredo, 6to4). The registry's few reachable anycast
/// blocks inside `2001::/23` stay refused with it, as in [`REFUSED_V4`].
const REFUSED_V6: &[Ipv6Net] = &[
    v6(0x2001, 0, 0, 0, 0, 0, 0, 0, 23), // IETF protocol assignments, Teredo 2001::/32 among them (RFC 2928, 4380)
    v6(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0, 32), // documentation (RFC 3849)
    v6(0x2002, 0, 0, 0, 0, 0, 0, 0, 16), // 6to4 (RFC 3056)
    v6(0x3fff, 0, 0, 0, 0, 0, 0, 0, 20), // documentation (RFC 9637)
    v6(0x5f00, 0, 0, 0, 0, 0, 0, 0, 16), // segment routing SIDs (RFC 9602)
];

/// May a webhook connect to `ip`? Refuses every special-purpose block that
/// is not globally reachable (private, loopback, link-local with the cloud
/// metadata address, shared, documentation, benchmarking, reserved,
/// multicast, broadcast, translation and tunnelling prefixes); an IPv4
/// address inside the NAT64 well-known prefix is judged as itself.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => is_public_v6(v6),
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    !REFUSED_V4.iter().any(|block| block.contains(&ip))
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    if NAT64_WELL_KNOWN.contains(&ip) {
        let [.., a, b, c, d] = ip.octets();
        return is_public_v4(Ipv4Addr::new(a, b, c, d));
    }
    GLOBAL_UNICAST_V6.contains(&ip) && !REFUSED_V6.iter().any(|block| block.contains(&ip))
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

    /// The IANA IPv4 Special-Purpose Address Registry's blocks that are not
    /// globally reachable (and the deprecated 6to4 relay block), with
    /// multicast and the limited broadcast address: written from the
    /// registry, not from the guard's table, so the two check each other.
    const IPV4_REGISTRY: &[&str] = &[
        "0.0.0.0/8",
        "0.0.0.0/32",
        "10.0.0.0/8",
        "100.64.0.0/10",
        "127.0.0.0/8",
        "169.254.0.0/16",
        "172.16.0.0/12",
        "192.0.0.0/24",
        "192.0.0.0/29",
        "192.0.0.8/32",
        "192.0.0.170/32",
        "192.0.0.171/32",
        "192.0.2.0/24",
        "192.88.99.0/24",
        "192.168.0.0/16",
        "198.18.0.0/15",
        "198.51.100.0/24",
        "203.0.113.0/24",
        "224.0.0.0/4",
        "240.0.0.0/4",
        "255.255.255.255/32",
    ];

    /// The IANA IPv6 Special-Purpose Address Registry's blocks that are not
    /// globally reachable, with Teredo and 6to4 (tunnels to an IPv4 address),
    /// SIIT's IPv4-translated form, site-local and multicast.
    const IPV6_REGISTRY: &[&str] = &[
        "::1/128",
        "::/128",
        "::ffff:0:0/96",
        "::ffff:0:0:0/96",
        "::/96",
        "64:ff9b:1::/48",
        "100::/64",
        "100:0:0:1::/64",
        "2001::/23",
        "2001::/32",
        "2001:2::/48",
        "2001:10::/28",
        "2001:db8::/32",
        "2002::/16",
        "3fff::/20",
        "5f00::/16",
        "fc00::/7",
        "fe80::/10",
        "fec0::/10",
        "ff00::/8",
    ];

    /// An IPv4 address of each registry block inside the NAT64 well-known
    /// prefix: the guard judges the address embedded.
    fn nat64(ip: Ipv4Addr) -> IpAddr {
        let [a, b, c, d] = ip.octets();
        IpAddr::V6(Ipv6Addr::new(0x64, 0xff9b, 0, 0, 0, 0, u16::from_be_bytes([a, b]), u16::from_be_bytes([c, d])))
    }

    #[test]
    fn the_first_and_last_address_of_every_ipv4_special_purpose_block_is_refused_in_every_form() {
        for block in IPV4_REGISTRY {
            let net: Ipv4Net = block.parse().unwrap();
            for ip in [net.network(), net.broadcast()] {
                for form in [IpAddr::V4(ip), IpAddr::V6(ip.to_ipv6_mapped()), nat64(ip)] {
                    assert!(!is_public(form), "{form} (of {block}) must be refused");
                }
            }
        }
    }

    #[test]
    fn the_first_and_last_address_of_every_ipv6_special_purpose_block_is_refused() {
        for block in IPV6_REGISTRY {
            let net: Ipv6Net = block.parse().unwrap();
            for ip in [net.network(), net.broadcast()] {
                assert!(!is_public(IpAddr::V6(ip)), "{ip} (of {block}) must be refused");
            }
        }
    }

    #[test]
    fn public_addresses_pass_in_every_form_a_host_may_use() {
        for allowed in [
            "8.8.8.8",
            "1.1.1.1",
            "93.184.215.14",
            "100.63.255.255",
            "100.128.0.0",
            "192.0.1.1",
            "192.88.100.1",
            "223.255.255.255",
            "2606:4700:4700::1111",
            "2a00:1450:4001:80b::200e",
            "2001:200::1",
            "64:ff9b::808:808",
        ] {
            assert!(is_public(allowed.parse().unwrap()), "{allowed} must pass");
        }
    }

    #[test]
    fn well_known_internal_addresses_are_refused() {
        for refused in [
            "169.254.169.254",
            "fd00:ec2::254",
            "::ffff:127.0.0.1",
            "::ffff:8.8.8.8",
            "::ffff:0:a00:1",
            "::a00:1",
            "64:ff9b::a00:1",
            "64:ff9b::7f00:1",
            "2001:0:4136:e378:8000:63bf:3fff:fdd2",
        ] {
            assert!(!is_public(refused.parse().unwrap()), "{refused} must be refused");
        }
    }
}
