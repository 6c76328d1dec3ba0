//! The database goes away and comes back (issue 21, item 8), on a private
//! PostgreSQL cluster the test stops and starts (`common::cluster`), with
//! streams open and bookings in flight:
//! - `/readyz` answers within a second, from what the server knows;
//! - a read the render cache can answer still answers (the last document,
//!   same tag, 304 for it); one it cannot (another query, a newer tag) and
//!   every write answer `503 database-unavailable` with `Retry-After`
//!   within about a second, never a 500;
//! - open streams keep their heartbeats, and once the database is back
//!   deliver every change made before, during and after, exactly once.
//!
//! PostgreSQL only (SQLite has no server to stop).

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::*;
use reqwest::StatusCode;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use serde_json::Value;
use uuid::Uuid;

/// How long an answer may take while the database is down ("about a second").
const PROMPT: Duration = Duration::from_millis(1500);
/// A wait for something to happen (not a speed claim).
const WAIT: Duration = Duration::from_secs(30);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_database_stops_and_starts_under_streams_and_bookings() {
    if !postgres_only("stops and starts a private PostgreSQL cluster") {
        return;
    }
    let cluster = PrivateCluster::start();
    let db = slotstream::server::connect(&cluster.url(), POOL_SIZE).await.expect("connect");
    let providers = slotstream::cli::seed::seed_demo(&db, TEST_PROVIDERS).await.expect("seed");
    let app = TestApp::start(cluster.url(), db, providers, &["--heartbeat-secs", "1"]).await;
    let (client, base) = (&app.client, app.base.as_str());
    let (cached, busy, cold) = (app.provider(0).id, app.provider(1).id, app.provider(2).id);

    // What the server knows before the outage: one document of `cached`,
    // and streams of `cached` and `busy` from their versions.
    let known = availability(client, base, cached, "?days=14", None).await;
    assert_eq!(known.status, StatusCode::OK);
    let known_tag = known.etag.clone().expect("etag");
    let cached_free = known.free_slots()[0].1.clone();
    let busy_doc = availability(client, base, busy, "?days=14", None).await;
    let busy_service = service_with(client, base, busy, 30).await;
    let cached_service = service_with(client, base, cached, 30).await;
    let mut cached_stream =
        SseClient::connect(client, &stream_url(base, cached, &format!("?lastEventId={}", known.version())), None).await;
    let mut busy_stream =
        SseClient::connect(client, &stream_url(base, busy, &format!("?lastEventId={}", busy_doc.version())), None)
            .await;

    // Bookings of `busy` in flight, from two clients, until told to stop:
    // each books a slot and cancels it again, round its own ten slots.
    let booking = Arc::new(AtomicBool::new(true));
    let free: Vec<String> = busy_doc.free_slots().into_iter().map(|(_, starts_at)| starts_at).collect();
    assert!(free.len() >= 21, "enough free slots to book");
    let bookers: Vec<_> = (0..2)
        .map(|n| {
            let starts: Vec<String> = free.iter().skip(n).step_by(2).take(10).cloned().collect();
            let (client, base, booking) = (client.clone(), base.to_owned(), booking.clone());
            tokio::spawn(async move {
                let mut answers = Vec::new();
                for starts_at in starts.iter().cycle() {
                    if !booking.load(Ordering::Relaxed) {
                        break;
                    }
                    let (answer, took) = timed(book(&client, &base, busy, busy_service, starts_at)).await;
                    let (status, body) = answer;
                    answers.push((status, took, body.clone()));
                    if status == StatusCode::CREATED {
                        let (id, token) = (body["id"].as_str().unwrap(), body["token"].as_str());
                        let (status, took) = timed(cancel(&client, &base, id, token)).await;
                        answers.push((status, took, Value::Null));
                    }
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                answers
            })
        })
        .collect();
    let events_before = busy_stream.take(2, WAIT).await;

    // The database goes away.
    let stopped = Instant::now();
    tokio::task::block_in_place(|| cluster.stop());
    let stop_took = stopped.elapsed();
    let noticed = Instant::now();
    loop {
        let started = Instant::now();
        let response = client.get(format!("{base}/readyz")).send().await.unwrap();
        assert!(started.elapsed() < Duration::from_secs(1), "/readyz took {:?}", started.elapsed());
        if response.status() == StatusCode::SERVICE_UNAVAILABLE {
            break;
        }
        assert!(noticed.elapsed() < Duration::from_secs(5), "/readyz never said the database is down");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The gauge follows the same state; a probe in flight may answer once more.
    let noticed = Instant::now();
    while gauge(client, base, "slotstream_database_reachable").await != 0.0 {
        assert!(noticed.elapsed() < Duration::from_secs(5), "the reachability gauge never fell to 0");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // The document the server knows, still: same body, same tag; 304 for it.
    let (again, took) = timed(availability(client, base, cached, "?days=14", None)).await;
    assert_eq!(again.status, StatusCode::OK, "the last known document: {}", again.body);
    assert_eq!((again.etag.as_deref(), again.body.as_str()), (Some(known_tag.as_str()), known.body.as_str()));
    assert!(took < PROMPT, "{took:?}");
    let (not_modified, took) = timed(availability(client, base, cached, "?days=14", Some(&known_tag))).await;
    assert_eq!(not_modified.status, StatusCode::NOT_MODIFIED);
    assert!(took < PROMPT, "{took:?}");
    // (The 304 may come from the bus's version, if the relay has not yet
    // noticed its connection gone: correct too.)
    assert!(counter(client, base, "slotstream_availability_last_known_answers_total").await >= 1);

    // What it cannot know: a newer tag (another instance's), another query,
    // a provider it never read, a booking, a new stream.
    let newer = newer_tag(&known_tag);
    let (answer, took) = timed(availability(client, base, cached, "?days=14", Some(&newer))).await;
    assert_unavailable(answer.status, &answer.body, took);
    let (answer, took) = timed(availability(client, base, cached, "?days=3", None)).await;
    assert_unavailable(answer.status, &answer.body, took);
    let (answer, took) = timed(availability(client, base, cold, "?days=14", None)).await;
    assert_unavailable(answer.status, &answer.body, took);
    let started = Instant::now();
    let response = client
        .post(format!("{base}/api/v1/bookings"))
        .json(&booking_body(cached, cached_service, &cached_free))
        .send()
        .await;
    let response = response.unwrap();
    assert_eq!(response.headers().get("retry-after").map(|v| v.to_str().unwrap()), Some("2"));
    assert_unavailable(response.status(), &response.text().await.unwrap(), started.elapsed());
    // A new stream can start from the bus's versions until the relay has
    // noticed its connection gone (correct: it resumes from the log later);
    // once it has, a new stream needs the database.
    let noticed = Instant::now();
    while gauge(client, base, "slotstream_relay_listening").await != 0.0 {
        assert!(noticed.elapsed() < WAIT, "the relay never noticed the database gone");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let started = Instant::now();
    let response = client.get(stream_url(base, cached, "")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE, "a new stream needs the database");
    assert_unavailable(response.status(), &response.text().await.unwrap(), started.elapsed());

    // Open streams stay open, with their heartbeats.
    booking.store(false, Ordering::Relaxed);
    let answers: Vec<(StatusCode, Duration, Value)> =
        futures_util::future::join_all(bookers).await.into_iter().flat_map(Result::unwrap).collect();
    let (cached_beats, busy_beats) = (cached_stream.comments, busy_stream.comments);
    assert!(cached_stream.next(Duration::from_millis(2500)).await.is_none(), "nothing happens to `cached`");
    let mut events_during = Vec::new();
    while let Some(event) = busy_stream.next(Duration::from_millis(300)).await {
        events_during.push(event);
    }
    assert!(cached_stream.comments >= cached_beats + 2, "heartbeats go on");
    assert!(busy_stream.comments > busy_beats, "heartbeats go on");

    // Bookings in flight got an answer or a prompt 503, never a 500 (a
    // slot whose cancel met the outage is still booked: 409 next round).
    for (status, took, body) in &answers {
        let expected = [StatusCode::CREATED, StatusCode::OK, StatusCode::CONFLICT, StatusCode::SERVICE_UNAVAILABLE];
        assert!(expected.contains(status), "{status}: {body}");
        if *status == StatusCode::SERVICE_UNAVAILABLE {
            assert!(body.is_null() || body["type"] == "urn:slotstream:problem:database-unavailable", "{body}");
            assert!(*took < stop_took + Duration::from_secs(6), "a booking waited {took:?}");
        }
    }
    assert!(answers.iter().any(|(s, ..)| *s == StatusCode::SERVICE_UNAVAILABLE), "the outage was met");

    // The database comes back: ready again, bookings work, and the streams
    // deliver what was committed, exactly.
    tokio::task::block_in_place(|| cluster.start_again());
    app.wait_ready().await;
    let (status, _) = book(client, base, cached, cached_service, &cached_free).await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, _) = book(client, base, busy, busy_service, free.last().unwrap()).await;
    assert_eq!(status, StatusCode::CREATED);

    for (stream, provider, from, mut received) in [
        (&mut cached_stream, cached, known.version(), Vec::new()),
        (&mut busy_stream, busy, busy_doc.version(), [events_before, events_during].concat()),
    ] {
        let logged = logged_versions(&app, provider, from).await;
        let missing = logged.len().saturating_sub(received.len());
        received.extend(stream.take(missing, WAIT).await);
        assert!(stream.next(Duration::from_millis(300)).await.is_none(), "nothing more");
        let ids: Vec<i64> = received.iter().map(|e| e.version()).collect();
        assert!(received.iter().all(|e| e.event == "slot-changed"), "{received:?}");
        assert_eq!(ids, logged, "every committed change of {provider}, once, in order");
    }
}

/// The versions of `provider`'s events after `from`, as the log has them.
async fn logged_versions(app: &TestApp, provider: Uuid, from: i64) -> Vec<i64> {
    entity::slot_event::Entity::find()
        .filter(entity::slot_event::Column::ProviderId.eq(provider))
        .filter(entity::slot_event::Column::Version.gt(from))
        .order_by_asc(entity::slot_event::Column::Version)
        .all(&app.db)
        .await
        .expect("read the log")
        .into_iter()
        .map(|event| event.version)
        .collect()
}

async fn timed<T>(answer: impl Future<Output = T>) -> (T, Duration) {
    let started = Instant::now();
    let answer = answer.await;
    (answer, started.elapsed())
}

fn assert_unavailable(status: StatusCode, body: &str, took: Duration) {
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    let problem: Value = serde_json::from_str(body).expect("problem+json");
    assert_eq!(problem["type"], "urn:slotstream:problem:database-unavailable");
    assert!(took < PROMPT, "answered after {took:?}");
}

/// The same query's tag at the next version: what a client holds after
/// another instance answered it.
fn newer_tag(tag: &str) -> String {
    let inner = tag.trim_matches('"');
    let mut parts: Vec<String> = inner.split('-').map(str::to_owned).collect();
    let version: i64 = parts[1].parse().expect("version in the tag");
    parts[1] = (version + 1).to_string();
    format!("\"{}\"", parts.join("-"))
}
