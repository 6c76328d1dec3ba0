//! Stopping the in-process server: `Running::stop` ends open streams cleanly
//! and returns, a dropped `Running` stops too, and writes in flight when the
//! stop begins are answered and committed (a 201 is never lost, nothing
//! unanswered is written). SIGTERM on the binary is in `stream.rs`.

mod common;

use std::time::Duration;

use common::*;
use futures_util::StreamExt;
use reqwest::StatusCode;
use slotstream::server;

/// A bound on waits that only a hang would reach (not a speed claim).
const HANG: Duration = Duration::from_secs(60);

/// Read a stream response to its end: `Ok` when the server closed it cleanly
/// (the chunked body terminated), `Err` on a broken connection.
async fn read_to_end(response: reqwest::Response) -> Result<(), reqwest::Error> {
    let mut body = response.bytes_stream();
    while let Some(chunk) = body.next().await {
        chunk?;
    }
    Ok(())
}

#[tokio::test]
async fn stop_ends_open_streams_cleanly_and_returns() {
    let app = TestApp::spawn().await;
    let url = stream_url(&app.base, app.provider(0).id, "");
    let mut streams = Vec::new();
    for _ in 0..3 {
        let response = app.client.get(&url).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        streams.push(tokio::spawn(read_to_end(response)));
    }
    let base = app.base.clone();
    tokio::time::timeout(HANG, app.stop()).await.expect("stop returned");
    for stream in streams {
        let ended = tokio::time::timeout(HANG, stream).await.expect("the stream ended").unwrap();
        assert!(ended.is_ok(), "ended cleanly, not cut: {ended:?}");
    }
    let after = reqwest::Client::new().get(format!("{base}/healthz")).send().await;
    assert!(after.is_err(), "nothing listens after stop: {after:?}");
}

#[tokio::test]
async fn dropping_running_stops_the_server_and_ends_its_streams() {
    let url = fresh_database_url().await;
    let db = server::connect(&url, POOL_SIZE).await.unwrap();
    let providers = slotstream::cli::seed::seed_demo(&db, 1).await.unwrap();
    let args = serve_args(&url, &[]);
    let app = server::build_app(db, &args).await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let running = server::start(app, listener, &args).unwrap();
    let base = format!("http://{}", running.addr);
    let client = reqwest::Client::new();
    wait_ready(&client, &base).await;
    let mut stream = SseClient::connect(&client, &stream_url(&base, providers[0].id, ""), None).await;

    drop(running);
    assert!(stream.ended(HANG).await, "the stream ended");
    let deadline = tokio::time::Instant::now() + HANG;
    while client.get(format!("{base}/healthz")).send().await.is_ok() {
        assert!(tokio::time::Instant::now() < deadline, "the server still answers after its Running was dropped");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_in_flight_at_stop_are_answered_and_committed() {
    let app = TestApp::spawn().await;
    let pid = app.provider(0).id;
    let service = service_with(&app.client, &app.base, pid, 30).await;
    let before = availability(&app.client, &app.base, pid, "", None).await;
    let free = before.free_slots();
    assert!(free.len() >= 12, "enough free slots: {}", free.len());

    let (sent, mut answers) = tokio::sync::mpsc::unbounded_channel();
    for (_, starts_at) in free.iter().take(12) {
        let request = app.client.post(app.url("/api/v1/bookings")).json(&booking_body(pid, service, starts_at));
        let sent = sent.clone();
        tokio::spawn(async move {
            let answer = match request.send().await {
                Ok(response) => Some((response.status(), response.json::<serde_json::Value>().await.ok())),
                // Not accepted before the listener closed: never processed.
                Err(_) => None,
            };
            let _ = sent.send(answer);
        });
    }
    drop(sent);
    // Stop as soon as one write is answered, with the others in flight.
    let mut results = vec![tokio::time::timeout(HANG, answers.recv()).await.expect("an answer").unwrap()];
    let (url, db, providers) = tokio::time::timeout(HANG, app.stop()).await.expect("stop returned");
    while let Some(answer) = tokio::time::timeout(HANG, answers.recv()).await.expect("every request ends") {
        results.push(answer);
    }

    let created: Vec<serde_json::Value> = results
        .into_iter()
        .flatten()
        .map(|(status, body)| {
            assert_eq!(status, StatusCode::CREATED, "an answered write succeeded: {body:?}");
            body.expect("a booking body")
        })
        .collect();
    eprintln!("answered {} of 12", created.len());
    assert!(!created.is_empty());
    let app = TestApp::start(url, db, providers, &[]).await;
    let after = availability(&app.client, &app.base, pid, "", None).await;
    assert_eq!(after.version(), before.version() + created.len() as i64, "exactly the answered writes were committed");
    for booking in &created {
        assert_eq!(read_booking(&app.client, &app.base, booking).await, StatusCode::OK);
    }
}
