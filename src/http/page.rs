//! The browser page and the client module: every file of the static folder
//! (`--static-dir`, `static/` by default) served from this one place, by
//! tower-http's `ServeDir` (content types from the file extension,
//! `Last-Modified` and 304s). `Cache-Control: no-cache` makes browsers
//! revalidate, so a new release is picked up on the next load. Anything
//! that is neither a route nor a file gets the API's problem+json 404.

use std::path::Path;

use axum::Router;
use axum::handler::HandlerWithoutStateExt;
use axum::http::{HeaderValue, header};
use tower_http::services::ServeDir;
use tower_http::set_header::SetResponseHeaderLayer;

use super::HttpState;

/// The files, as the router's fallback: requests no route matched.
pub fn router(dir: &Path) -> Router<HttpState> {
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
