//! The operator's side: `--help` documents every flag with its environment
//! variable, a taken port or a bad database URL give a one-line error (no
//! panic), and `/metrics` exposes the promised series, answers without a
//! database query, and can be served on a private address only.

mod common;

use std::process::Command;
use std::time::Duration;

use common::*;

fn slotstream(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_slotstream")).args(args).env("RUST_LOG", "warn").output().expect("run binary")
}

#[test]
fn help_documents_every_flag_and_its_environment_variable() {
    let out = slotstream(&["--help"]);
    assert!(out.status.success());
    let help = String::from_utf8(out.stdout).unwrap();
    let flags = help
        .lines()
        .filter(|l| l.trim_start().starts_with("--") && !l.contains("--help") && !l.contains("--version"))
        .count();
    let envs = help.matches("[env: ").count();
    assert!(flags >= 20, "{help}");
    assert_eq!(flags, envs, "every flag names its environment variable");
    for sub in ["serve", "migrate", "seed"] {
        assert!(help.contains(sub));
    }
}

#[test]
fn a_taken_port_and_a_bad_database_url_fail_with_one_clear_line() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().to_string();
    let db = std::env::temp_dir().join(format!("slotstream-op-{}.db", uuid::Uuid::new_v4().simple()));
    let url = format!("sqlite://{}?mode=rwc", db.display());
    let out = slotstream(&["--bind", &port, "--database-url", &url]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr.contains(&format!("cannot listen on {port}")), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");

    let out = slotstream(&["--database-url", "postgres://nobody:secret@127.0.0.1:1/none", "--bind", "127.0.0.1:0"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr.contains("cannot open database"), "{stderr}");
    assert!(!stderr.contains("secret"), "the password is not printed: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[tokio::test]
async fn metrics_expose_streams_events_answers_conflicts_and_latency() {
    let app = TestApp::spawn().await;
    let pid = app.provider(0).id;
    let service = service_with(&app.client, &app.base, pid, 30).await;
    let doc = availability(&app.client, &app.base, pid, "", None).await;
    availability(&app.client, &app.base, pid, "", doc.etag.as_deref()).await;
    let mut stream = SseClient::connect(&app.client, &stream_url(&app.base, pid, ""), None).await;
    let start = doc.free_slots()[0].1.clone();
    book(&app.client, &app.base, pid, service, &start).await;
    book(&app.client, &app.base, pid, service, &start).await;
    stream.take(1, Duration::from_secs(5)).await;
    let text = scrape(&app.client, &app.base).await;
    for series in [
        "slotstream_active_streams",
        "slotstream_stream_subscribers 1",
        "slotstream_events_published_total",
        "slotstream_events_delivered_total",
        "slotstream_delivery_lag_seconds_bucket",
        "slotstream_availability_responses_total{status=\"200\"}",
        "slotstream_availability_responses_total{status=\"304\"}",
        "slotstream_booking_conflicts_total",
        "slotstream_http_request_duration_seconds_bucket",
    ] {
        assert!(text.contains(series), "{series} missing from /metrics:\n{text}");
    }
    let response = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert!(response.headers().contains_key("x-request-id"), "every answer carries a request id");
}

/// The caps are on `/metrics` beside the counts they cap, so that an alert
/// can compare them (deploy/prometheus/alerts.yml), and so is the relay's
/// backlog of providers whose known changes the streams have not had.
#[tokio::test]
async fn metrics_show_the_caps_beside_what_they_cap() {
    let app = TestApp::spawn_with(&["--max-connections", "500", "--max-streams", "300"]).await;
    let text = scrape(&app.client, &app.base).await;
    assert_eq!(sample(&text, "slotstream_max_connections"), Some(500.0), "{text}");
    assert_eq!(sample(&text, "slotstream_max_streams"), Some(300.0), "{text}");
    assert_eq!(sample(&text, "slotstream_relay_providers_behind"), Some(0.0), "{text}");
    assert!(text.contains("# TYPE slotstream_max_connections gauge\n"), "{text}");
}

/// Hold one slot of `provider` (a 30-minute service) through the API.
async fn hold_one(app: &TestApp, provider: uuid::Uuid) {
    let service = service_with(&app.client, &app.base, provider, 30).await;
    let start = availability(&app.client, &app.base, provider, "?days=14", None).await.free_slots()[0].1.clone();
    let body = serde_json::json!({ "providerId": provider, "serviceId": service, "startTime": start });
    let response = app.client.post(app.url("/api/v1/holds")).json(&body).send().await.unwrap();
    assert_eq!(response.status(), reqwest::StatusCode::CREATED);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scrape_queries_no_database_it_answers_with_every_pool_connection_taken() {
    use sea_orm::TransactionTrait;
    const POOL: u32 = 2;
    let (url, db, providers) = seeded_connection(POOL).await;
    let app = TestApp::start(url, db, providers, &[]).await;
    hold_one(&app, app.provider(0).id).await;
    wait_for_gauge(&app.client, &app.base, "slotstream_holds_active", 1.0).await;

    // The test takes every connection of the pool the server shares with it
    // (on PostgreSQL the event relay keeps one): anything that needs the
    // database now waits for one (5 s, then fails).
    let mut taken = Vec::new();
    while let Ok(tx) = tokio::time::timeout(Duration::from_millis(500), app.db.begin()).await {
        taken.push(tx.unwrap());
    }
    assert!(!taken.is_empty() && taken.len() <= POOL as usize);
    let started = std::time::Instant::now();
    let response = app.client.get(app.url("/metrics")).send().await.unwrap();
    let elapsed = started.elapsed();
    assert_eq!(response.status(), reqwest::StatusCode::OK);
    let text = response.text().await.unwrap();
    assert!(elapsed < Duration::from_secs(2), "a scrape waited {elapsed:?} for the database");
    assert_eq!(sample(&text, "slotstream_holds_active"), Some(1.0), "the hold is counted without a query:\n{text}");
    for tx in taken {
        tx.rollback().await.unwrap();
    }
}

#[tokio::test]
async fn metrics_bind_serves_metrics_on_the_private_address_and_the_public_one_answers_404() {
    let app = TestApp::spawn_with(&["--metrics-bind", "127.0.0.1:0"]).await;
    let private = app.metrics_addr().expect("a metrics address");
    assert_ne!(private, app.addr);

    let public = app.client.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(public.status(), reqwest::StatusCode::NOT_FOUND);
    assert_eq!(public.headers()["content-type"], "application/problem+json");

    let base = format!("http://{private}");
    let text = scrape(&app.client, &base).await;
    assert!(text.contains("slotstream_holds_active"), "{text}");
    assert!(text.contains("slotstream_stream_subscribers"), "{text}");
    // Only the metrics: the API is not on the private address.
    for path in ["/healthz", "/api/v1/providers", "/"] {
        let status = app.client.get(format!("{base}{path}")).send().await.unwrap().status();
        assert_eq!(status, reqwest::StatusCode::NOT_FOUND, "{path}");
    }
    // The public listener serves everything else as before.
    assert_eq!(app.client.get(app.url("/healthz")).send().await.unwrap().status(), reqwest::StatusCode::OK);
}

#[test]
fn a_taken_metrics_port_fails_with_one_clear_line() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().to_string();
    let db = std::env::temp_dir().join(format!("slotstream-op-{}.db", uuid::Uuid::new_v4().simple()));
    let url = format!("sqlite://{}?mode=rwc", db.display());
    let out = slotstream(&["--bind", "127.0.0.1:0", "--metrics-bind", &port, "--database-url", &url, "--no-seed"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr.contains(&format!("cannot listen on {port}")), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}
