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
    if let Some(value) = tag_value(&tag) {
        headers.insert(header::ETAG, value);
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

/// The `ETag` header's value: written into one buffer that becomes the
/// header without a copy. The tag's `Display` wrote it a character at a
/// time through the formatter, a twentieth of a 304 (BENCHMARKS.md, "The
/// 304 at the edge").
fn tag_value(tag: &EntityTag) -> Option<HeaderValue> {
    let mut value = String::with_capacity(tag.tag().len() + 4);
    if tag.weak {
        value.push_str("W/");
    }
    value.push('"');
    value.push_str(tag.tag());
    value.push('"');
    HeaderValue::from_maybe_shared(Bytes::from(value)).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_etag_header_is_the_tags_display() {
        for tag in
            [EntityTag::strong("abc-1-20261204-7"), EntityTag::weak("abc-1-20261204-7-gzip"), EntityTag::strong("")]
        {
            assert_eq!(tag_value(&tag).unwrap().to_str().unwrap(), tag.to_string());
        }
    }
}
