//! The provider session's cookie, the one owner of its name and attributes,
//! and the origin check that cookie-authenticated writes pass.
//!
//! The cookie is `HttpOnly` (no script reads it), `SameSite=Strict` (no
//! other site's request carries it), `Path=/`, and `Secure` when the
//! request came over TLS or through a trusted proxy that says it did
//! (`X-Forwarded-Proto: https`). `EventSource` cannot send an
//! `Authorization` header: this cookie is how the agenda page's stream
//! authenticates.
//!
//! `SameSite=Strict` keeps other *sites* out, but not a sibling origin of
//! the same site (another subdomain). So a write (any method but GET, HEAD,
//! OPTIONS) authenticated by the cookie alone must carry an `Origin` that is
//! the server's own (`scheme://` + the request's `Host`, or `--public-url`)
//! or an allowed CORS origin; anything else is a 403 and the write is not
//! made. Over HTTPS the cookie is named `__Host-slotstream_session`, which
//! no sibling subdomain can set.

use std::net::SocketAddr;

use axum::extract::ConnectInfo;
use axum::http::request::Parts;
use axum::http::uri::Authority;
use axum::http::{HeaderValue, header};
use cookie::{Cookie, SameSite};

use super::HttpState;
use super::error::ApiError;
use crate::app::AppError;

/// The cookie's name over plain HTTP (development, a private network).
pub const NAME: &str = "slotstream_session";

/// Its name over HTTPS: a `__Host-` cookie is `Secure`, `Path=/` and has no
/// `Domain`, and browsers refuse one set any other way, so a sibling
/// subdomain cannot plant a cookie of that name to shadow the real one.
pub const HOST_NAME: &str = "__Host-slotstream_session";

fn name(secure: bool) -> &'static str {
    if secure { HOST_NAME } else { NAME }
}

/// The session token in the request's cookies, if any. Over HTTPS only the
/// `__Host-` cookie counts: a plain one could have been planted by a sibling
/// subdomain or a plain-HTTP service on the same host. Over plain HTTP, the
/// last plain one (a planted cookie with a longer `Path` comes first).
pub fn token(parts: &Parts, state: &HttpState) -> Option<String> {
    let wanted = name(is_https(parts, state));
    parts
        .headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(Cookie::split_parse)
        .filter_map(Result::ok)
        .filter(|cookie| cookie.name() == wanted && !cookie.value().is_empty() && cookie.value().len() <= 256)
        .last()
        .map(|cookie| cookie.value().to_owned())
}

/// `Set-Cookie` for a new session lasting `max_age`.
pub fn set(token: &str, max_age: chrono::TimeDelta, secure: bool) -> HeaderValue {
    let cookie = Cookie::build((name(secure), token))
        .http_only(true)
        .same_site(SameSite::Strict)
        .path("/")
        .secure(secure)
        .max_age(cookie::time::Duration::seconds(max_age.num_seconds()));
    // A token is URL-safe base64 with a prefix: always a valid header value.
    HeaderValue::from_str(&cookie.to_string()).unwrap_or(HeaderValue::from_static(""))
}

/// `Set-Cookie` that removes the cookie (signing out).
pub fn clear(secure: bool) -> HeaderValue {
    let cookie = Cookie::build((name(secure), ""))
        .http_only(true)
        .same_site(SameSite::Strict)
        .path("/")
        .secure(secure)
        .max_age(cookie::time::Duration::ZERO);
    HeaderValue::from_str(&cookie.to_string()).unwrap_or(HeaderValue::from_static(""))
}

/// Did the request come over HTTPS: TLS here, or a trusted proxy's
/// `X-Forwarded-Proto: https` (only a configured proxy is believed).
pub fn is_https(parts: &Parts, state: &HttpState) -> bool {
    if state.settings.tls {
        return true;
    }
    let peer = parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|ConnectInfo(addr)| addr.ip().to_canonical());
    let trusted = peer.is_some_and(|peer| state.settings.trusted_proxies.iter().any(|p| p.to_canonical() == peer));
    trusted
        && parts
            .headers
            .get("x-forwarded-proto")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|proto| proto.trim().eq_ignore_ascii_case("https"))
}

/// The server's own origin as the request names it (`scheme://host[:port]`),
/// if its `Host` (or HTTP/2 `:authority`) is a well-formed authority with
/// no user part.
pub fn own_origin(parts: &Parts, state: &HttpState) -> Option<String> {
    let mut hosts = parts.headers.get_all(header::HOST).iter();
    let host = match (hosts.next(), hosts.next()) {
        (Some(host), None) => host.to_str().ok()?,
        // Two `Host` headers: which one is meant is unknowable.
        (Some(_), Some(_)) => return None,
        (None, _) => parts.uri.authority()?.as_str(),
    };
    let authority: Authority = host.parse().ok()?;
    // Only a host and a numeric port: no user part, no `:abc`.
    let port = authority.port_u16().map(|port| format!(":{port}")).unwrap_or_default();
    let rebuilt = format!("{}{port}", authority.host());
    if rebuilt != authority.as_str() {
        return None;
    }
    let scheme = if is_https(parts, state) { "https" } else { "http" };
    Some(format!("{scheme}://{}", rebuilt.to_ascii_lowercase()))
}

/// 403 unless the request's `Origin` is the server's own or an allowed
/// CORS origin (module header).
pub fn require_same_origin(parts: &Parts, state: &HttpState) -> Result<(), ApiError> {
    let refused = |why: &str| {
        ApiError::App(AppError::Forbidden(format!("{why}: a signed-in session acts only for pages of this server")))
    };
    let origin = parts
        .headers
        .get(header::ORIGIN)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| refused("this write carries the session cookie but no Origin"))?
        .to_ascii_lowercase();
    let own = own_origin(parts, state);
    let allowed = own.as_deref() == Some(origin.as_str())
        || state.settings.public_url.as_deref().is_some_and(|public| public.eq_ignore_ascii_case(&origin))
        || state.settings.cors_origins.iter().any(|o| o.trim().eq_ignore_ascii_case(&origin));
    if allowed { Ok(()) } else { Err(refused(&format!("the Origin {origin} is not this server's"))) }
}
