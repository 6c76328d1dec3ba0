//! The HTTP edges (issue 9, items 11 and 12-compression): a declared body
//! above the limit refused at once, client identity over IPv4-mapped
//! addresses, quotas on the operator routes, and compressed JSON answers
//! whose ETags tell the encodings apart while streams stay uncompressed.

mod common;

use std::time::Duration;

use clap::Parser;
use common::*;
use reqwest::StatusCode;
use slotstream::config::Cli;
use slotstream::server::{self, Running};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Generous: the answer must come, but never how fast.
const ANSWER_WITHIN: Duration = Duration::from_secs(20);

/// Send `head` on a raw connection and read the answer's head and body (up
/// to its `Content-Length`), failing the test if it does not come in time.
async fn raw_exchange(app: &TestApp, head: &str) -> (u16, String, String) {
    let mut socket = TcpStream::connect(app.addr).await.unwrap();
    socket.write_all(head.as_bytes()).await.unwrap();
    let read = async {
        let mut buffer = Vec::new();
        let mut chunk = [0u8; 4096];
        loop {
            let n = socket.read(&mut chunk).await.unwrap_or(0);
            buffer.extend_from_slice(&chunk[..n]);
            let text = String::from_utf8_lossy(&buffer).into_owned();
            if let Some((head, body)) = text.split_once("\r\n\r\n") {
                let length = head
                    .lines()
                    .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().to_owned()))
                    .and_then(|v| v.parse::<usize>().ok())
                    .unwrap_or(0);
                if body.len() >= length || n == 0 {
                    return (head.to_owned(), body.to_owned());
                }
            }
            assert!(n > 0, "connection closed before an answer: {text:?}");
        }
    };
    let (head, body) = tokio::time::timeout(ANSWER_WITHIN, read).await.expect("an answer without waiting for the body");
    let status = head.split(' ').nth(1).and_then(|s| s.parse().ok()).expect("status line");
    (status, head, body)
}

#[tokio::test]
async fn a_declared_body_above_the_limit_is_refused_at_once_with_413() {
    // A request timeout longer than the read deadline: a 408 cannot pass for the answer.
    let app = TestApp::spawn_with(&["--request-timeout-secs", "30"]).await;
    let (status, head, body) = raw_exchange(
        &app,
        "POST /api/v1/bookings HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: 1000000000000\r\n\r\n",
    )
    .await;
    assert_eq!(status, 413, "{head}");
    assert!(head.to_ascii_lowercase().contains("content-type: application/problem+json"), "{head}");
    let problem: serde_json::Value = serde_json::from_str(&body).expect("problem body");
    assert_eq!(problem["status"], 413);
}

#[tokio::test]
async fn malformed_or_conflicting_content_lengths_get_4xx_never_5xx() {
    let app = TestApp::spawn().await;
    for lengths in [
        "Content-Length: abc\r\n",
        "Content-Length: -1\r\n",
        "Content-Length: 2\r\nContent-Length: 3\r\n",
        "Content-Length: 2, 3\r\n",
        "Content-Length: 99999999999999999999999999\r\n",
    ] {
        let head =
            format!("POST /api/v1/bookings HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n{lengths}\r\n{{}}");
        let (status, head, _) = raw_exchange(&app, &head).await;
        assert!((400..500).contains(&status), "{lengths:?} -> {head}");
    }
    // Equal duplicates are one length (RFC 9110 8.6), checked against the limit like any other.
    let head = "POST /api/v1/bookings HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: 99999\r\nContent-Length: 99999\r\n\r\n";
    let (status, head, _) = raw_exchange(&app, head).await;
    assert_eq!(status, 413, "{head}");
}

#[tokio::test]
async fn operator_routes_count_against_the_read_quota() {
    let app = TestApp::spawn_with(&["--read-burst", "3", "--read-per-second", "0.01"]).await;
    // One client address per route, each with a full burst (wait_ready spent 127.0.0.1's).
    for (n, path) in ["/readyz", "/openapi.json", "/healthz", "/metrics"].into_iter().enumerate() {
        let client = client_from(&format!("127.0.0.{}", 30 + n));
        let mut passed = 0;
        let refused = loop {
            let response = client.get(app.url(path)).send().await.unwrap();
            if response.status() == StatusCode::TOO_MANY_REQUESTS {
                break response;
            }
            assert_eq!(response.status(), StatusCode::OK, "{path}");
            passed += 1;
            assert!(passed <= 3, "{path} is never limited");
        };
        assert_eq!(passed, 3, "{path}: the burst");
        assert_eq!(refused.headers()["content-type"], "application/problem+json", "{path}");
        assert!(refused.headers().contains_key("retry-after"), "{path}");
    }
}

/// The availability GET for 31 days with the given request headers.
async fn get_31_days(app: &TestApp, headers: &[(&str, &str)]) -> reqwest::Response {
    let pid = app.provider(0).id;
    let mut request = app.client.get(app.url(&format!("/api/v1/providers/{pid}/availability?days=31")));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request.send().await.unwrap()
}

fn header<'a>(response: &'a reqwest::Response, name: &str) -> Option<&'a str> {
    response.headers().get(name).map(|v| v.to_str().unwrap())
}

fn varies_by_accept_encoding(response: &reqwest::Response) -> bool {
    response
        .headers()
        .get_all("vary")
        .iter()
        .any(|v| v.to_str().unwrap().split(',').any(|f| f.trim().eq_ignore_ascii_case("accept-encoding")))
}

#[tokio::test]
async fn a_31_day_document_is_compressed_on_request_with_an_etag_per_encoding() {
    let app = TestApp::spawn().await;
    let identity = get_31_days(&app, &[]).await;
    assert_eq!(identity.status(), StatusCode::OK);
    assert_eq!(header(&identity, "content-encoding"), None);
    assert!(varies_by_accept_encoding(&identity), "the identity answer is negotiated too");
    let plain_tag = header(&identity, "etag").expect("etag").to_owned();
    let plain = identity.bytes().await.unwrap();
    assert!(plain.len() > 4096, "a document worth compressing: {} bytes", plain.len());

    for encoding in ["gzip", "br"] {
        let encoded = get_31_days(&app, &[("accept-encoding", encoding)]).await;
        assert_eq!(encoded.status(), StatusCode::OK, "{encoding}");
        assert_eq!(header(&encoded, "content-encoding"), Some(encoding));
        assert!(varies_by_accept_encoding(&encoded), "{encoding}: Vary");
        let tag = header(&encoded, "etag").expect("etag").to_owned();
        assert!(tag.starts_with('"'), "{encoding}: still a strong tag: {tag}");
        assert_ne!(tag, plain_tag, "{encoding}: a strong tag names one representation");
        let wire = encoded.bytes().await.unwrap();
        assert!(wire.len() < plain.len(), "{encoding}: smaller on the wire");
        assert_eq!(decode(encoding, &wire), plain, "{encoding}: decodes to the identity body");

        // Revalidating the encoded representation: 304 naming the tag the client holds.
        let again = get_31_days(&app, &[("accept-encoding", encoding), ("if-none-match", &tag)]).await;
        assert_eq!(again.status(), StatusCode::NOT_MODIFIED, "{encoding}");
        assert_eq!(header(&again, "etag"), Some(tag.as_str()));
        assert!(varies_by_accept_encoding(&again), "{encoding}: a 304 carries the 200's Vary");
        assert!(again.bytes().await.unwrap().is_empty());
        // A client holding the identity body revalidates it the same way.
        let held = get_31_days(&app, &[("accept-encoding", encoding), ("if-none-match", &plain_tag)]).await;
        assert_eq!(held.status(), StatusCode::NOT_MODIFIED, "{encoding}: identity tag");
        assert_eq!(header(&held, "etag"), Some(plain_tag.as_str()));
    }
    // Another encoding's suffix on a stale version does not match.
    let stale = plain_tag.replacen('-', "-x", 1);
    let missed = get_31_days(&app, &[("accept-encoding", "gzip"), ("if-none-match", &stale)]).await;
    assert_eq!(missed.status(), StatusCode::OK);
    // Nothing acceptable (identity refused, no encoding we offer): 406 problem+json.
    let refused = get_31_days(&app, &[("accept-encoding", "identity;q=0, zstd")]).await;
    assert_eq!(refused.status(), StatusCode::NOT_ACCEPTABLE);
    assert_eq!(header(&refused, "content-type"), Some("application/problem+json"));
    assert!(varies_by_accept_encoding(&refused));
}

#[tokio::test]
async fn streams_are_never_compressed_and_their_first_bytes_arrive_unbuffered() {
    let app = TestApp::spawn().await;
    let pid = app.provider(0).id;
    let response =
        app.client.get(stream_url(&app.base, pid, "")).header("accept-encoding", "gzip, br").send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(header(&response, "content-type"), Some("text/event-stream"));
    assert_eq!(header(&response, "content-encoding"), None);
    let mut body = response.bytes_stream();
    let first = tokio::time::timeout(ANSWER_WITHIN, futures_util::StreamExt::next(&mut body))
        .await
        .expect("the first bytes come without waiting for more")
        .expect("a chunk")
        .unwrap();
    assert!(first.starts_with(b"retry:"), "{first:?}");
}

/// A server whose listener is an IPv6 socket bound to an IPv4-mapped address:
/// IPv4 clients reach it as `::ffff:a.b.c.d`, as on a dual-stack `[::]` bind.
async fn spawn_dual_stack(extra: &[&str]) -> (Running, String) {
    let (url, db, _) = seeded_connection(POOL_SIZE).await;
    let args = serve_args(&url, extra);
    let app = server::build_app(db, &args).await.unwrap();
    let listener =
        tokio::net::TcpListener::bind("[::ffff:127.0.0.1]:0").await.expect("an IPv6 socket on ::ffff:127.0.0.1");
    let running = server::start(app, listener, &args).unwrap();
    let base = format!("http://127.0.0.1:{}", running.addr.port());
    wait_ready(&reqwest::Client::new(), &base).await;
    (running, base)
}

#[tokio::test]
async fn a_trusted_proxy_seen_as_an_ipv4_mapped_address_is_recognised() {
    let (running, base) =
        spawn_dual_stack(&["--read-burst", "2", "--read-per-second", "0.01", "--trusted-proxies", "127.0.0.40"]).await;
    let url = format!("{base}/api/v1/providers");
    let proxy = client_from("127.0.0.40");
    for n in 0..3 {
        let forwarded = format!("198.51.100.{n}");
        for _ in 0..2 {
            let r = proxy.get(&url).header("x-forwarded-for", &forwarded).send().await.unwrap();
            assert_eq!(r.status(), StatusCode::OK, "forwarded client {n} has its own quota");
        }
        let r = proxy.get(&url).header("x-forwarded-for", &forwarded).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS, "forwarded client {n} is limited");
    }
    // An untrusted peer (also seen mapped) cannot rotate X-Forwarded-For to dodge its quota.
    let stranger = client_from("127.0.0.41");
    let mut statuses = Vec::new();
    for n in 0..3 {
        statuses.push(
            stranger.get(&url).header("x-forwarded-for", format!("203.0.113.{n}")).send().await.unwrap().status(),
        );
    }
    assert_eq!(statuses, [StatusCode::OK, StatusCode::OK, StatusCode::TOO_MANY_REQUESTS]);
    running.stop().await.unwrap();
}

#[test]
fn the_ipv6_prefix_length_is_validated() {
    let parse =
        |value: &str| Cli::try_parse_from(["slotstream", "--ipv6-prefix-len", value]).map(|c| c.serve.ipv6_prefix_len);
    assert_eq!(Cli::parse_from(["slotstream"]).serve.ipv6_prefix_len, 64, "default /64");
    assert_eq!(parse("1").unwrap(), 1);
    assert_eq!(parse("128").unwrap(), 128);
    for bad in ["0", "129", "-1", "x"] {
        assert!(parse(bad).is_err(), "{bad} refused");
    }
}

/// Issue 21 item 17: a 3,000-byte request target is a 414 problem (it had
/// become a 400 from the query parser once the limit rose to 4,096), over
/// HTTP/1.1 and h2 alike, while the longest many-providers stream URL a
/// client can build (50 ids, a cursor at the largest versions) still passes.
#[tokio::test]
async fn a_3000_byte_request_target_is_a_414_and_the_longest_real_url_is_not() {
    for protocol in [Protocol::Http1, Protocol::H2c] {
        let app = TestApp::spawn_over(protocol, &[]).await;
        let pid = app.provider(0).id;
        let long_query = format!("/api/v1/providers/{pid}/availability?{}", "a".repeat(3000));
        let long_path = format!("/api/v1/providers/{}", "p".repeat(3000));
        for target in [long_query, long_path] {
            let response = app.client.get(app.url(&target)).send().await.unwrap();
            assert_eq!(response.status(), StatusCode::URI_TOO_LONG, "{protocol:?}, {} bytes", target.len());
            assert_eq!(response.headers()["content-type"], "application/problem+json");
            let body: serde_json::Value = response.json().await.unwrap();
            assert_eq!(body["status"], 414);
        }
        let ids: Vec<String> = (0..50).map(|_| uuid::Uuid::new_v4().to_string()).collect();
        let longest =
            format!("/api/v1/availability/stream?providerIds={}&lastEventId={}", ids.join("%2C"), "A".repeat(614));
        assert!(longest.len() > 2_600, "{}", longest.len());
        let response = app.client.get(app.url(&longest)).send().await.unwrap();
        // Unknown providers and a cursor this server never wrote: refused, but not for its length.
        assert!(response.status().is_client_error(), "{}", response.status());
        assert_ne!(response.status(), StatusCode::URI_TOO_LONG);
    }
}

/// What a test's server logs, captured by a subscriber of the test's thread
/// (the in-process server runs on it: the test runtime is single-threaded).
#[derive(Clone, Default)]
struct CapturedLogs(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl CapturedLogs {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

impl std::io::Write for CapturedLogs {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// An outage's answers are not logged one by one: a load balancer polling
/// `/readyz` through an outage (503 `not-ready`) adds no `request failed`
/// line; the outage is logged once, by the health (`database unreachable`).
#[tokio::test]
async fn readyz_503s_of_an_outage_are_not_logged_one_by_one() {
    let logs = CapturedLogs::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt().with_ansi(false).with_writer(move || writer.clone()).finish();
    let _logging = tracing::subscriber::set_default(subscriber);
    let app = TestApp::spawn().await;
    let mut refused = 0;
    for _ in 0..10 {
        // The prober may see SQLite answer and mark it reachable again.
        app.app().health.mark_unreachable("test outage");
        let response = app.client.get(app.url("/readyz")).send().await.unwrap();
        if response.status() == StatusCode::SERVICE_UNAVAILABLE {
            refused += 1;
        }
    }
    assert!(refused >= 5, "only {refused} of 10 polls met the outage");
    let text = logs.text();
    assert!(text.contains("database unreachable"), "the outage is logged: {text}");
    assert!(!text.contains("request failed"), "{refused} 503s of /readyz logged one by one:\n{text}");
}
