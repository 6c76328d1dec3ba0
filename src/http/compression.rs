//! Compressed read answers: gzip or brotli as `Accept-Encoding` asks
//! (tower-http's compression layer), `Vary: Accept-Encoding` on every answer
//! of a negotiated route, and a strong `ETag` per representation.
//!
//! RFC 9110 §8.8.3: a strong tag names one sequence of bytes, and the gzip
//! body is other bytes than the identity body. So the compressed form of
//! `"T"` is tagged `"T-gzip"` / `"T-br"` (the suffix is the
//! `Content-Encoding`), and `If-None-Match` accepts `T` or `T-<encoding>`
//! for the current `T` (`extract::IfNoneMatch::matching`); a 304 names the
//! tag the client sent, the representation it holds. Weak tags would also
//! be honest, but would weaken every answer, uncompressed ones included, for
//! all clients and caches; per-encoding strong tags leave the identity
//! answer exactly as it was.
//!
//! Only reads are compressed (see `http::router`): write answers are small
//! and carry booking tokens next to client-chosen input, the mix that
//! compression side channels (BREACH) feed on. Streams are never under this
//! layer; tower-http's default predicate also refuses `text/event-stream`,
//! whose events must leave one by one, not when a compressor's block fills.

use axum::extract::Request;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::Response;
use tower_http::compression::CompressionLayer;

use super::around::Around;

/// The encodings offered, each the suffix of its representation's tag.
pub const ENCODINGS: [&str; 2] = ["gzip", "br"];

/// The compressor of a negotiated route; `TagPerEncoding` goes outside it.
pub fn compressor() -> CompressionLayer {
    CompressionLayer::new().gzip(true).br(true)
}

/// Give an encoded answer its own strong tag, and say on every answer that
/// its bytes depend on `Accept-Encoding` (a 304 or a short answer the
/// compressor left alone included: RFC 9110 §15.4.5 wants a 304's `Vary`
/// to be the 200's). Goes outside the compressor, to see the
/// `Content-Encoding` it chose.
#[derive(Clone)]
pub struct TagPerEncoding;

impl Around for TagPerEncoding {
    type ForAfter = ();

    fn before(&self, _: &Request) -> Result<(), Box<Response>> {
        Ok(())
    }

    fn after(&self, (): (), mut response: Response) -> Response {
        let headers = response.headers_mut();
        if !varies_by_accept_encoding(headers) {
            headers.append(header::VARY, HeaderValue::from_static("accept-encoding"));
        }
        let encoded_tag = headers
            .get(header::CONTENT_ENCODING)
            .and_then(|encoding| encoding.to_str().ok())
            .zip(headers.get(header::ETAG).and_then(|tag| tag.to_str().ok()))
            .and_then(|(encoding, tag)| encoded_tag(tag, encoding));
        if let Some(tag) = encoded_tag {
            headers.insert(header::ETAG, tag);
        }
        response
    }
}

/// `"T"` → `"T-<encoding>"`; weak tags (which already allow any encoding)
/// and malformed ones are left alone.
fn encoded_tag(tag: &str, encoding: &str) -> Option<HeaderValue> {
    let opaque = tag.strip_prefix('"')?.strip_suffix('"')?;
    HeaderValue::from_str(&format!("\"{opaque}-{encoding}\"")).ok()
}

fn varies_by_accept_encoding(headers: &HeaderMap) -> bool {
    headers.get_all(header::VARY).iter().any(|value| {
        value.to_str().is_ok_and(|v| {
            v.split(',').any(|field| field.trim() == "*" || field.trim().eq_ignore_ascii_case("accept-encoding"))
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::around::AroundLayer;
    use axum::Router;
    use axum::body::Body;
    use axum::http::StatusCode;
    use axum::routing::get;
    use tower::ServiceExt;

    #[test]
    fn only_strong_tags_get_the_encoding() {
        assert_eq!(encoded_tag("\"abc-4\"", "gzip").unwrap(), "\"abc-4-gzip\"");
        assert_eq!(encoded_tag("W/\"abc-4\"", "gzip"), None);
        assert_eq!(encoded_tag("abc", "br"), None);
    }

    /// The compressor's own predicate keeps event streams out, should a
    /// stream route ever sit under `negotiated`.
    #[tokio::test]
    async fn event_streams_pass_uncompressed() {
        let big = "data: x\n\n".repeat(1000);
        let router = Router::new()
            .route("/sse", get(move || async move { ([(header::CONTENT_TYPE, "text/event-stream")], big) }))
            .route("/json", get(|| async { ([(header::CONTENT_TYPE, "application/json")], "[0]".repeat(1000)) }));
        let router = router.layer(tower::ServiceBuilder::new().layer(AroundLayer(TagPerEncoding)).layer(compressor()));
        for (path, expected) in [("/sse", None), ("/json", Some("gzip"))] {
            let request = Request::get(path).header(header::ACCEPT_ENCODING, "gzip").body(Body::empty()).unwrap();
            let response = router.clone().oneshot(request).await.unwrap();
            assert_eq!(response.status(), StatusCode::OK);
            let encoding = response.headers().get(header::CONTENT_ENCODING).map(|v| v.to_str().unwrap());
            assert_eq!(encoding, expected, "{path}");
            assert!(varies_by_accept_encoding(response.headers()), "{path}");
        }
    }
}
