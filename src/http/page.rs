//! The browser pages (`static/`: the calendar at `/`, the results page at
//! `/providers.html`), embedded in the binary so it is served the
//! same wherever the server runs from.

use axum::Router;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use super::HttpState;

pub fn router() -> Router<HttpState> {
    Router::new()
        .route("/", get(|| async { asset("text/html; charset=utf-8", include_str!("../../static/index.html")) }))
        .route(
            "/app.js",
            get(|| async { asset("text/javascript; charset=utf-8", include_str!("../../static/app.js")) }),
        )
        .route("/style.css", get(|| async { asset("text/css; charset=utf-8", include_str!("../../static/style.css")) }))
        .route(
            "/providers.html",
            get(|| async { asset("text/html; charset=utf-8", include_str!("../../static/providers.html")) }),
        )
        .route(
            "/providers.js",
            get(|| async { asset("text/javascript; charset=utf-8", include_str!("../../static/providers.js")) }),
        )
        .route(
            "/providers.css",
            get(|| async { asset("text/css; charset=utf-8", include_str!("../../static/providers.css")) }),
        )
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    let mut response = body.into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}
