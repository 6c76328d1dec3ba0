//! The one way a tagged JSON read is answered: the document with its strong
//! tag, or a 304 naming the representation the client holds (identity or
//! encoded, `compression`), both with `Cache-Control: no-cache`. Shared by
//! the availability document, the many-providers batch and the search.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use etag::EntityTag;

use super::extract::IfNoneMatch;

/// `Some(body)`: 200 with it; `None`: 304. `tag` is the current
/// representation's; a 304 carries the client's own tag for it.
pub(super) fn tagged_json(condition: &IfNoneMatch, tag: EntityTag, body: Option<Bytes>) -> Response {
    let (mut response, tag) = match body {
        Some(body) => {
            let mut response = (StatusCode::OK, body).into_response();
            response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
            (response, tag)
        }
        None => (StatusCode::NOT_MODIFIED.into_response(), condition.matching(&tag).unwrap_or(tag)),
    };
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(&tag.to_string()) {
        headers.insert(header::ETAG, value);
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}
