//! The edge (`http::edge`, issue 27 item 3): the conditional GETs whose tag
//! the bus vouches for are answered before the router. These tests hold it
//! to the router's 304 in everything a client or an operator sees: the
//! headers, the request id, the metrics, the read quota, and never a 304
//! the router would not give. Alone in their binary: they count the
//! process's metrics exactly.

mod common;

use common::*;
use reqwest::StatusCode;

const ROUTE_304: &str = "slotstream_http_request_duration_seconds_count{route=\"/api/v1/providers/{provider_id}/availability\",status=\"304\"}";
const COUNTED_304: &str = "slotstream_availability_responses_total{status=\"304\"}";

/// A labelled sample on `/metrics` (0 before it first appears).
async fn labelled(app: &TestApp, series: &str) -> f64 {
    let page = scrape(&app.client, &app.base).await;
    page.lines().find_map(|l| l.strip_prefix(series)).map_or(0.0, |v| v.trim().parse().expect("a number"))
}

/// `YYYY-MM-DD` from our tag's `YYYYMMDD` part.
fn start_date_of(tag: &str) -> String {
    let date = tag.trim_matches('"').split('-').nth(2).expect("a date in the tag");
    format!("{}-{}-{}", &date[..4], &date[4..6], &date[6..])
}

#[tokio::test]
async fn a_304_at_the_edge_is_the_routers_304_counted_and_charged_to_the_read_quota() {
    let _metrics = GAUGES.lock().await;
    for protocol in PROTOCOLS {
        // Six reads per client address, refilled far slower than the test runs.
        let app = TestApp::spawn_over(protocol, &["--read-burst", "6", "--read-per-second", "0.001"]).await;
        let provider = app.provider(0).id;
        let client = protocol.client_from("127.0.0.51");
        let url = app.url(&format!("/api/v1/providers/{provider}/availability?days=7"));
        let (routed_before, counted_before) = (labelled(&app, ROUTE_304).await, labelled(&app, COUNTED_304).await);

        // 1: the document and its tag.
        let document = client.get(&url).send().await.unwrap();
        assert_eq!(document.status(), StatusCode::OK, "{protocol:?}");
        let tag = document.headers()["etag"].to_str().unwrap().to_owned();

        // 2: the client's request id is echoed; the 304 carries what the router's carries.
        let answer =
            client.get(&url).header("if-none-match", &tag).header("x-request-id", "edge-1").send().await.unwrap();
        assert_eq!(answer.status(), StatusCode::NOT_MODIFIED, "{protocol:?}");
        assert_eq!(answer.version(), protocol.version());
        let headers = answer.headers().clone();
        assert_eq!(headers["etag"], tag.as_str());
        assert_eq!(headers["cache-control"], "no-cache");
        assert_eq!(headers["vary"], "accept-encoding");
        assert_eq!(headers["x-request-id"], "edge-1");
        assert!(!headers.contains_key("content-type"), "{headers:?}");
        assert!(answer.bytes().await.unwrap().is_empty());

        // 3: without one, a new UUID; 4: HEAD.
        let answer = client.get(&url).header("if-none-match", &tag).send().await.unwrap();
        assert_eq!(answer.status(), StatusCode::NOT_MODIFIED);
        let id = answer.headers()["x-request-id"].to_str().unwrap();
        assert!(uuid::Uuid::parse_str(id).is_ok(), "a UUID request id: {id}");
        let answer = client.head(&url).header("if-none-match", &tag).send().await.unwrap();
        assert_eq!(answer.status(), StatusCode::NOT_MODIFIED);

        // 5: a compressed copy's tag, among others: the 304 names the one the client holds.
        let gzip_tag = format!("{}-gzip\"", tag.trim_end_matches('"'));
        let answer = client.get(&url).header("if-none-match", format!("\"other\", {gzip_tag}")).send().await.unwrap();
        assert_eq!(answer.status(), StatusCode::NOT_MODIFIED);
        assert_eq!(answer.headers()["etag"], gzip_tag.as_str());

        // 6: the same range with its start date written out.
        let dated = format!("{url}&startDate={}", start_date_of(&tag));
        let answer = client.get(&dated).header("if-none-match", &tag).send().await.unwrap();
        assert_eq!(answer.status(), StatusCode::NOT_MODIFIED, "{protocol:?}");

        // 7: the quota is used up: the router's 429, not a 304.
        let refused = client.get(&url).header("if-none-match", &tag).send().await.unwrap();
        assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS, "{protocol:?}: the 304s were charged");
        assert_eq!(refused.headers()["content-type"], "application/problem+json");
        assert!(refused.headers().contains_key("retry-after"));

        // Five 304s, each counted once (the scrapes come from another address).
        assert_eq!(labelled(&app, COUNTED_304).await - counted_before, 5.0, "{protocol:?}");
        assert_eq!(labelled(&app, ROUTE_304).await - routed_before, 5.0, "{protocol:?}");

        // Deactivated: the same tag gets the router's 410, never a 304.
        app.deactivate(provider).await;
        let other = protocol.client_from("127.0.0.52");
        let gone = other.get(&url).header("if-none-match", &tag).send().await.unwrap();
        assert_eq!(gone.status(), StatusCode::GONE, "{protocol:?}");
        assert_eq!(gone.headers()["content-type"], "application/problem+json");
        app.stop().await;
    }
}

/// What the router refuses, the edge does not answer: a repeated or unknown
/// query field, a range out of bounds, an encoded id; each with the tag the
/// client holds for the range it means.
#[tokio::test]
async fn requests_the_router_would_refuse_get_its_problem_not_a_304() {
    let _metrics = GAUGES.lock().await;
    let app = TestApp::spawn_with(&[]).await;
    let provider = app.provider(0).id;
    let base = format!("/api/v1/providers/{provider}/availability");
    let document = app.client.get(app.url(&format!("{base}?days=7"))).send().await.unwrap();
    let tag = document.headers()["etag"].to_str().unwrap().to_owned();
    let today = start_date_of(&tag);
    for (query, status) in [
        ("?days=7&days=7".to_owned(), StatusCode::BAD_REQUEST),
        ("?days=7&extra=1".to_owned(), StatusCode::BAD_REQUEST),
        (format!("?days=7&startDate={today}&startDate={today}"), StatusCode::BAD_REQUEST),
        ("?days=0".to_owned(), StatusCode::UNPROCESSABLE_ENTITY),
        ("?days=7&startDate=%2B262142-01-01".to_owned(), StatusCode::UNPROCESSABLE_ENTITY),
    ] {
        let answer =
            app.client.get(app.url(&format!("{base}{query}"))).header("if-none-match", &tag).send().await.unwrap();
        assert_eq!(answer.status(), status, "{query}");
        assert_eq!(answer.headers()["content-type"], "application/problem+json", "{query}");
    }
    // An id the router decodes from percent-encoding is still the same provider's range.
    let encoded = base.replacen('-', "%2D", 1);
    let answer =
        app.client.get(app.url(&format!("{encoded}?days=7"))).header("if-none-match", &tag).send().await.unwrap();
    assert_eq!(answer.status(), StatusCode::NOT_MODIFIED);
}
