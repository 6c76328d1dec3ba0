//! The same server over each protocol it speaks on one port: HTTP/1.1,
//! HTTP/2 in cleartext with prior knowledge (h2c, what a proxy speaks to a
//! backend) and HTTP/2 over TLS chosen by ALPN (a certificate made at test
//! time). Each case runs over all three and checks the answer came in the
//! protocol asked for: streams and exact resume, many streams on one h2
//! connection, rate limits and stream caps keyed on the peer, CORS and
//! request ids, the 304 path, and a graceful stop that ends streams cleanly.

mod common;

use std::time::Duration;

use common::*;
use futures_util::StreamExt;
use reqwest::StatusCode;

/// How long an expected event may take: generous, for a loaded 2-core
/// machine (a wait, not a speed claim).
const WAIT: Duration = Duration::from_secs(30);

/// Wait until `slotstream_active_streams` reads `n`.
async fn wait_for_streams(app: &TestApp, n: f64) {
    wait_for_gauge(&app.client, &app.base, "slotstream_active_streams", n).await;
}

#[tokio::test]
async fn a_stream_delivers_and_resumes_exactly_over_each_protocol() {
    let _turn = GAUGES.lock().await;
    for protocol in PROTOCOLS {
        let app = TestApp::spawn_over(protocol, &[]).await;
        let pid = app.provider(0).id;
        let service = service_with(&app.client, &app.base, pid, 30).await;
        let doc = availability(&app.client, &app.base, pid, "?days=14", None).await;
        let (free, v) = (doc.free_slots(), doc.version());
        let url = stream_url(&app.base, pid, "");
        let mut stream = SseClient::connect(&app.client, &url, None).await;
        assert_eq!(stream.version, protocol.version(), "{protocol:?}");
        assert_eq!(stream.headers["content-type"], "text/event-stream");
        assert!(stream.headers.get("content-encoding").is_none());
        assert!(stream.headers.get("connection").is_none(), "no connection-specific header on h2");

        book(&app.client, &app.base, pid, service, &free[0].1).await;
        let first = stream.take(1, WAIT).await.remove(0);
        assert!(stream.saw_retry, "{protocol:?}: a retry: line comes first");
        assert_eq!(first.version(), v + 1, "{protocol:?}");
        drop(stream);

        for slot in &free[1..4] {
            book(&app.client, &app.base, pid, service, &slot.1).await;
        }
        let mut resumed = SseClient::connect(&app.client, &url, Some(v + 1)).await;
        let missed = resumed.take(3, WAIT).await;
        assert_eq!(missed.iter().map(SseEvent::version).collect::<Vec<_>>(), vec![v + 2, v + 3, v + 4], "{protocol:?}");
        assert!(
            resumed.next(Duration::from_millis(300)).await.is_none(),
            "{protocol:?}: no duplicate after the resume"
        );
    }
}

#[tokio::test]
async fn three_providers_streams_share_one_h2_connection_and_each_gets_its_own_events() {
    let _turn = GAUGES.lock().await;
    for protocol in [Protocol::H2c, Protocol::H2Tls] {
        let app = TestApp::spawn_over(protocol, &[]).await;
        let mut streams = Vec::new();
        for n in 0..3 {
            let url = stream_url(&app.base, app.provider(n).id, "");
            streams.push(SseClient::connect(&app.client, &url, None).await);
        }
        wait_for_streams(&app, 3.0).await;
        // The scrape rides the same connection as the three streams. The
        // start-up readiness probe's own connection may still be closing on a
        // loaded machine: one connection is what it settles to, streams open.
        wait_for_gauge(&app.client, &app.base, "slotstream_open_connections", 1.0).await;
        assert_eq!(gauge(&app.client, &app.base, "slotstream_active_streams").await, 3.0, "{protocol:?}");
        for (n, stream) in streams.iter_mut().enumerate() {
            let pid = app.provider(n).id;
            let service = service_with(&app.client, &app.base, pid, 30).await;
            let free = availability(&app.client, &app.base, pid, "?days=14", None).await.free_slots();
            book(&app.client, &app.base, pid, service, &free[0].1).await;
            let event = stream.take(1, WAIT).await.remove(0);
            assert_eq!(event.json()["providerId"], pid.to_string(), "{protocol:?}");
        }
    }
}

/// Issue 21 item 2: the final `provider-deactivated` event and the end of
/// the subscription came in one batch, and the body lost the end: the
/// response never finished (heartbeats went on) and kept its place among
/// the caps, so a client that saw a few providers leave got 429 on live ones.
#[tokio::test]
async fn a_deactivated_providers_streams_end_after_the_final_event_and_free_their_place_over_each_protocol() {
    for protocol in PROTOCOLS {
        let app = TestApp::spawn_over(protocol, &["--max-streams-per-client", "2"]).await;
        let single = |n: usize| stream_url(&app.base, app.provider(n).id, "");
        let many = |n: usize| format!("{}/api/v1/availability/stream?providerIds={}", app.base, app.provider(n).id);
        // More of them, one after another, than a client may hold at once.
        for (n, url) in [single(0), many(1), single(2)].into_iter().enumerate() {
            let mut stream = SseClient::connect(&app.client, &url, None).await;
            assert_eq!(stream.version, protocol.version());
            app.deactivate(app.provider(n).id).await;
            let last = stream.next(WAIT).await.expect("the final event");
            assert_eq!(last.event, "provider-deactivated", "{protocol:?}, {url}");
            assert_eq!(last.json()["providerId"], app.provider(n).id.to_string());
            assert!(stream.ended(WAIT).await, "{protocol:?}: the response ended after the final event ({url})");
        }
        // Their places are free: the cap's worth of streams on live providers.
        let live = [
            SseClient::connect(&app.client, &single(3), None).await,
            SseClient::connect(&app.client, &many(4), None).await,
        ];
        assert!(live.iter().all(|s| s.version == protocol.version()));
    }
}

#[tokio::test]
async fn rate_limits_and_stream_caps_key_on_the_peer_over_each_protocol() {
    let _turn = GAUGES.lock().await;
    for protocol in PROTOCOLS {
        let app = TestApp::spawn_over(protocol, &["--read-burst", "5", "--read-per-second", "0.1"]).await;
        // `spawn_over` waited on /readyz, a read: count from what is left.
        let mut passed = 0;
        let refused = loop {
            let response = app.client.get(app.url("/api/v1/providers")).send().await.unwrap();
            assert_eq!(response.version(), protocol.version());
            if response.status() == StatusCode::TOO_MANY_REQUESTS {
                break response;
            }
            passed += 1;
            assert!(passed < 10, "{protocol:?}: never limited");
        };
        assert_eq!(refused.headers()["content-type"], "application/problem+json");
        assert!(refused.headers().contains_key("retry-after"));
        // Another peer address (its own connection) has its own quota.
        let other = protocol.client_from("127.0.0.2");
        let base = app.base.clone();
        let answer = other.get(format!("{base}/api/v1/providers")).send().await.unwrap();
        assert_eq!((answer.version(), answer.status()), (protocol.version(), StatusCode::OK));
    }
    for protocol in PROTOCOLS {
        let app = TestApp::spawn_over(protocol, &["--max-streams-per-client", "2"]).await;
        let url = stream_url(&app.base, app.provider(0).id, "");
        let _held =
            [SseClient::connect(&app.client, &url, None).await, SseClient::connect(&app.client, &url, None).await];
        let third = app.client.get(&url).send().await.unwrap();
        assert_eq!((third.version(), third.status()), (protocol.version(), StatusCode::TOO_MANY_REQUESTS));
        assert_eq!(third.headers()["content-type"], "application/problem+json");
        let elsewhere = protocol.client_from("127.0.0.3");
        SseClient::connect(&elsewhere, &url, None).await;
    }
}

#[tokio::test]
async fn the_304_path_cors_and_request_ids_behave_the_same_over_each_protocol() {
    let _turn = GAUGES.lock().await;
    for protocol in PROTOCOLS {
        let app = TestApp::spawn_over(protocol, &["--cors-origins", "https://shop.example"]).await;
        let pid = app.provider(0).id;
        let first = availability(&app.client, &app.base, pid, "", None).await;
        let tag = first.etag.clone().expect("an ETag");
        let again = availability(&app.client, &app.base, pid, "", Some(&tag)).await;
        assert_eq!(again.status, StatusCode::NOT_MODIFIED, "{protocol:?}");
        assert!(again.body.is_empty(), "{protocol:?}: a 304 has no body");

        let response = app
            .client
            .get(app.url("/healthz"))
            .header("origin", "https://shop.example")
            .header("x-request-id", "edge-test-1")
            .send()
            .await
            .unwrap();
        assert_eq!((response.version(), response.status()), (protocol.version(), StatusCode::OK));
        assert_eq!(response.headers()["access-control-allow-origin"], "https://shop.example");
        assert_eq!(response.headers()["x-request-id"], "edge-test-1", "{protocol:?}: an id given is kept");
        let generated = app.client.get(app.url("/healthz")).send().await.unwrap();
        assert!(!generated.headers()["x-request-id"].is_empty(), "{protocol:?}: an id is made when none is given");

        let unknown = app.client.get(app.url("/api/v1/providers/nope/availability")).send().await.unwrap();
        assert_eq!(unknown.status(), StatusCode::BAD_REQUEST, "{protocol:?}");
        assert_eq!(unknown.headers()["content-type"], "application/problem+json");
    }
}

#[tokio::test]
async fn stop_ends_streams_cleanly_over_each_protocol() {
    let _turn = GAUGES.lock().await;
    for protocol in PROTOCOLS {
        let app = TestApp::spawn_over(protocol, &[]).await;
        let url = stream_url(&app.base, app.provider(0).id, "");
        let mut readers = Vec::new();
        for _ in 0..3 {
            let response = app.client.get(&url).send().await.unwrap();
            assert_eq!((response.version(), response.status()), (protocol.version(), StatusCode::OK));
            readers.push(tokio::spawn(async move {
                let mut body = response.bytes_stream();
                while let Some(chunk) = body.next().await {
                    chunk?;
                }
                Ok::<(), reqwest::Error>(())
            }));
        }
        wait_for_streams(&app, 3.0).await;
        tokio::time::timeout(WAIT, app.stop()).await.expect("stop returned");
        for reader in readers {
            let ended = tokio::time::timeout(WAIT, reader).await.expect("the stream ended").unwrap();
            assert!(ended.is_ok(), "{protocol:?}: ended cleanly, not cut: {ended:?}");
        }
    }
}
