//! Fan-out of a burst larger than every subscriber's buffer: 300 real SSE
//! streams on one provider and one request that creates 2,880 slots. Every
//! stream gets every event once, in order; and the subscribers that lag share
//! their catch-up from the log (counted by `slotstream_log_reads_total`)
//! instead of each re-reading the whole burst. A cold provider directory
//! reads a provider once for a crowd, and keeps nothing of reads that
//! clients hung up on.
//!
//! The server runs as a child process, so its `/metrics` counts only this
//! test's reads, and the 600 sockets are split between two processes
//! (`ulimit -n` of a few thousand is plenty).

mod common;

use std::time::{Duration, Instant};

use common::*;
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;

const SUBSCRIBERS: usize = 300;
/// 15 dates of 5-minute slots from 06:00 to 22:00: 192 × 15.
const DATES: u64 = 15;
const BURST: i64 = 2_880;
/// Rows per catch-up read (`events::catch_up`).
const PAGE: i64 = 500;
/// Generous: on a loaded 2-core machine with a debug build. Never a speed claim.
const DEADLINE: Duration = Duration::from_secs(120);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_hundred_lagging_subscribers_get_a_2880_event_burst_from_one_shared_catch_up() {
    let (url, providers) = seeded_database().await;
    let provider = &providers[0];
    let pid = provider.id;
    // A buffer far below the burst: every subscriber lags and must catch up.
    let server = ServerProcess::start(&url, &["--subscriber-buffer", "64"]).await;
    // No overall timeout: the streams stay open for the whole test.
    let client = reqwest::Client::new();
    let doc = availability(&client, &server.base, pid, "", None).await;
    let start = doc.version();
    let free = doc.free_slots();

    let mut streams = Vec::with_capacity(SUBSCRIBERS);
    for _ in 0..SUBSCRIBERS {
        streams.push(SseClient::connect(&client, &stream_url(&server.base, pid, ""), Some(start)).await);
    }
    // One event seen by every stream proves each has finished its start-up
    // read of the log, so the count below is the burst's alone.
    block(&client, &server.base, pid, &provider.key, &free[0].0).await;
    for stream in &mut streams {
        assert_eq!(stream.take(1, DEADLINE).await[0].version(), start + 1);
    }
    let reads_before = counter(&client, &server.base, "slotstream_log_reads_total").await;

    let first = chrono::Utc::now().date_naive() + chrono::Days::new(100);
    let dates: Vec<String> = (0..DATES).map(|d| (first + chrono::Days::new(d)).to_string()).collect();
    let began = Instant::now();
    let created = client
        .post(server.url(&format!("/api/v1/providers/{pid}/slots")))
        .bearer_auth(&provider.key)
        .json(&json!({ "dates": dates, "open": "06:00", "close": "22:00", "slotMinutes": 5 }))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), StatusCode::CREATED);
    let created: Value = created.json().await.unwrap();
    assert_eq!(created["created"], BURST);
    let base = start + 1;

    let readers: Vec<_> = streams
        .into_iter()
        .enumerate()
        .map(|(n, mut stream)| {
            tokio::spawn(async move {
                let deadline = tokio::time::Instant::now() + DEADLINE;
                for expected in base + 1..=base + BURST {
                    let left = deadline.saturating_duration_since(tokio::time::Instant::now());
                    let event = stream
                        .next(left)
                        .await
                        .unwrap_or_else(|| panic!("subscriber {n}: nothing after {}", expected - 1));
                    assert_eq!(
                        (event.event.as_str(), event.version()),
                        ("slot-changed", expected),
                        "subscriber {n}: in order, no gap, no duplicate"
                    );
                }
            })
        })
        .collect();
    for reader in readers {
        reader.await.expect("every subscriber gets the whole burst");
    }
    eprintln!("{SUBSCRIBERS} subscribers got {BURST} events in {:?}", began.elapsed());

    // A subscriber reads at most one page more than the burst spans (it
    // need not start on a page boundary); shared, the whole server reads
    // about that many, plus a re-read where a cached tail page had been
    // overtaken, plus, on PostgreSQL, the relay's own read of the burst.
    let pages = (BURST / PAGE + 2) as u64;
    let reads = counter(&client, &server.base, "slotstream_log_reads_total").await - reads_before;
    eprintln!("{reads} log reads for the burst");
    assert!(
        reads <= 4 * pages,
        "{reads} log reads for the burst: shared catch-up should need about {pages} \
         (unshared, {SUBSCRIBERS} subscribers would take up to {})",
        SUBSCRIBERS as u64 * pages
    );
}

/// Subscribers in a reconnect storm.
const STORM: usize = 200;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reconnect_storm_resumes_everyone_exactly_without_a_database_read_each() {
    let (url, providers) = seeded_database().await;
    let provider = &providers[0];
    let pid = provider.id;
    let server = ServerProcess::start(&url, &[]).await;
    let client = reqwest::Client::new();
    let doc = availability(&client, &server.base, pid, "?days=14", None).await;
    let (v, free) = (doc.version(), doc.free_slots());
    let stream = stream_url(&server.base, pid, "");

    let mut streams =
        futures_util::future::join_all((0..STORM).map(|_| SseClient::connect(&client, &stream, None))).await;
    block(&client, &server.base, pid, &provider.key, &free[0].0).await;
    for stream in &mut streams {
        assert_eq!(stream.take(1, DEADLINE).await[0].version(), v + 1);
    }
    // Read with the first event: the retry line precedes it.
    let retries: std::collections::BTreeSet<u64> = streams.iter().map(|s| s.retry_millis.expect("retry:")).collect();
    assert!(retries.iter().all(|ms| (1000..3000).contains(ms)), "retry: within 2 s ± 50 %: {retries:?}");
    assert!(retries.len() > STORM / 4, "retry: carries jitter: {} distinct values", retries.len());
    drop(streams);

    // Events keep coming while everyone is away.
    for slot in &free[1..6] {
        block(&client, &server.base, pid, &provider.key, &slot.0).await;
    }
    let start_reads = counter(&client, &server.base, "slotstream_stream_start_reads_total").await;
    let log_reads = counter(&client, &server.base, "slotstream_log_reads_total").await;
    let mut resumed =
        futures_util::future::join_all((0..STORM).map(|_| SseClient::connect(&client, &stream, Some(v + 1)))).await;
    // And while they come back.
    block(&client, &server.base, pid, &provider.key, &free[6].0).await;
    let expected: Vec<i64> = (v + 2..=v + 7).collect();
    for stream in &mut resumed {
        let versions: Vec<i64> = stream.take(expected.len(), DEADLINE).await.iter().map(SseEvent::version).collect();
        assert_eq!(versions, expected, "every missed event once, in order");
    }
    for stream in &mut resumed {
        assert!(stream.next(Duration::from_millis(10)).await.is_none(), "no duplicate");
    }
    let start_reads = counter(&client, &server.base, "slotstream_stream_start_reads_total").await - start_reads;
    let log_reads = counter(&client, &server.base, "slotstream_log_reads_total").await - log_reads;
    assert_eq!(start_reads, 0, "the version came from the bus, the resume check from the shared page");
    assert!(log_reads <= 3, "{STORM} resumes from one point share the catch-up read: {log_reads} reads");
}

/// After a restart the directory is cold and every subscriber of a provider
/// comes back within the same `retry:` window: the provider's row is read
/// once for all of them, not once each.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cold_directory_reads_a_provider_once_for_a_crowd_of_streams() {
    let (url, providers) = seeded_database().await;
    let pid = providers[0].id;
    let server = ServerProcess::start(&url, &[]).await;
    let client = reqwest::Client::new();
    let before = counter(&client, &server.base, "slotstream_directory_reads_total").await;
    let stream = stream_url(&server.base, pid, "");
    // Over one h2c connection: the server reads every request of the burst
    // at once, so the misses overlap (over HTTP/1.1 the accepts spread them).
    let h2 = reqwest::Client::builder().http2_prior_knowledge().build().unwrap();
    let streams = futures_util::future::join_all((0..STORM).map(|_| SseClient::connect(&h2, &stream, None))).await;
    assert_eq!(streams.len(), STORM);
    let reads = counter(&client, &server.base, "slotstream_directory_reads_total").await - before;
    assert_eq!(reads, 1, "{STORM} streams of one provider on a cold directory: {reads} reads of its row");
}

/// Clients that hang up on a batch GET of unknown ids in the middle of it.
const HANGUPS: usize = 40;
/// Ids per batch GET (the most it takes): one directory read each.
const BATCH_IDS: usize = 50;

/// Issue 21 item 5: a client that hangs up while the directory reads a
/// provider cancels that read, and the read left its entry behind (140,000
/// such requests grew the server by 24 MB). Each hang-up here is a socket
/// reset once the server has begun reading the request's ids; afterwards the
/// directory holds no more providers than before.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_cancelled_by_clients_hanging_up_leave_nothing_in_the_directory() {
    let (url, _providers) = seeded_database().await;
    let server = ServerProcess::start(&url, &[]).await;
    let client = reqwest::Client::new();
    let addr = server.base.trim_start_matches("http://").to_owned();
    let entries_before = gauge(&client, &server.base, "slotstream_directory_entries").await;
    let open_before = gauge(&client, &server.base, "slotstream_open_connections").await;
    let reads_before = counter(&client, &server.base, "slotstream_directory_reads_total").await;

    for _ in 0..HANGUPS {
        let ids: Vec<String> = (0..BATCH_IDS).map(|_| uuid::Uuid::new_v4().to_string()).collect();
        let request =
            format!("GET /api/v1/availability?providerIds={} HTTP/1.1\r\nhost: {addr}\r\n\r\n", ids.join(","));
        let started = counter(&client, &server.base, "slotstream_directory_reads_total").await;
        let mut socket = tokio::net::TcpStream::connect(&addr).await.unwrap();
        socket.write_all(request.as_bytes()).await.unwrap();
        // Hang up (a reset, not a close) once the server reads the ids.
        let deadline = Instant::now() + DEADLINE;
        while counter(&client, &server.base, "slotstream_directory_reads_total").await == started {
            assert!(Instant::now() < deadline, "the server never read the ids");
            tokio::task::yield_now().await;
        }
        socket.set_zero_linger().unwrap();
        drop(socket);
    }
    // Every hung-up connection is gone, so its request is finished or cancelled.
    wait_for_gauge(&client, &server.base, "slotstream_open_connections", open_before).await;

    let reads = counter(&client, &server.base, "slotstream_directory_reads_total").await - reads_before;
    assert!(reads < (HANGUPS * BATCH_IDS) as u64, "no request was cut short: {reads} reads");
    let entries = gauge(&client, &server.base, "slotstream_directory_entries").await;
    assert_eq!(entries, entries_before, "{HANGUPS} hang-ups during {reads} reads of unknown ids left entries behind");
}
