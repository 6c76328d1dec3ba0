//! The operator's side: `--help` documents every flag with its environment
//! variable, a taken port or a bad database URL give a one-line error (no
//! panic), and `/metrics` exposes the promised series.

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
