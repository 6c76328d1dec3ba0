//! The browser page and the client module: every file of `static/`, served
//! from this one place at `/` (`index.html`), `/slotstream.js`, … Anything
//! that is neither a route nor a file gets the API's problem+json 404.
//!
//! The files are built into the binary (memory-serve; `build.rs`), so a
//! binary copied alone to a server serves the page it was built with. Each
//! answer has its content type (from the file extension), an `ETag` for
//! `If-None-Match` revalidation, and text files come brotli- or
//! gzip-compressed when the client accepts it (`Vary: Accept-Encoding`).
//! One tag names a file in every encoding, so it is sent weak (`W/"…"`,
//! RFC 9110 §8.8.1): a strong tag names one sequence of bytes (the API's
//! tags are per encoding instead, `compression`). No range requests are
//! served, for which alone a strong tag would matter.
//!
//! `--static-dir` serves a folder from disk instead, for working on the
//! page without rebuilding: tower-http's `ServeDir` (content types,
//! `Last-Modified` and 304s, no compression).
//!
//! Either way `Cache-Control: no-cache` makes browsers revalidate, so a new
//! release is picked up on the next load.

use std::path::Path;
use std::sync::OnceLock;

use axum::Router;
use axum::handler::HandlerWithoutStateExt;
use axum::http::{HeaderValue, header};
use axum::response::Response;
use memory_serve::CacheControl;
use tower_http::services::ServeDir;
use tower_http::set_header::SetResponseHeaderLayer;

use super::HttpState;

/// The files, as the router's fallback: requests no route matched. From
/// `dir` when given, else the copy built into the binary.
pub fn router(dir: Option<&Path>) -> Router<HttpState> {
    match dir {
        Some(dir) => from_disk(dir),
        None => embedded(),
    }
}

/// The files built into the binary, one route each (`GET` and `HEAD`).
fn embedded() -> Router<HttpState> {
    // Made once per process: building it decompresses and compresses every
    // file again, and leaks them on purpose (they live as long as the process).
    static EMBEDDED: OnceLock<Router<HttpState>> = OnceLock::new();
    EMBEDDED
        .get_or_init(|| {
            memory_serve::load!()
                .index_file(Some("/index.html"))
                .html_cache_control(CacheControl::NoCache)
                .cache_control(CacheControl::NoCache)
                // Off by default in debug builds: on, so the tests see what ships.
                .enable_brotli(true)
                .enable_gzip(true)
                .into_router()
                .layer(SetResponseHeaderLayer::overriding(header::ETAG, weak_tag as fn(&Response) -> _))
                .fallback(super::no_route)
        })
        .clone()
}

/// `"T"` → `W/"T"`; an answer without a tag stays without.
fn weak_tag(response: &Response) -> Option<HeaderValue> {
    let tag = response.headers().get(header::ETAG)?;
    if tag.as_bytes().starts_with(b"W/") {
        return Some(tag.clone());
    }
    HeaderValue::from_bytes(&[b"W/", tag.as_bytes()].concat()).ok()
}

/// The files of `dir` on disk (`--static-dir`).
fn from_disk(dir: &Path) -> Router<HttpState> {
    let files = ServeDir::new(dir)
        .append_index_html_on_directories(true)
        // A POST to `/nope` is "no such route", as before the page was files.
        .call_fallback_on_method_not_allowed(true)
        .fallback(super::no_route.into_service());
    let files = tower::ServiceBuilder::new()
        .layer(SetResponseHeaderLayer::if_not_present(header::CACHE_CONTROL, HeaderValue::from_static("no-cache")))
        .service(files);
    Router::new().fallback_service(files)
}
