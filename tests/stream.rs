//! The live stream over real HTTP and the SSE wire format: every change
//! arrives with the right id and statuses, resume is exact, stale and future
//! resume points reset, several instances share events through PostgreSQL,
//! a crash loses nothing, a stalled reader slows nobody, disconnects free
//! everything, and shutdown ends streams cleanly.

mod common;

use std::time::Duration;

use common::*;
use futures_util::StreamExt;
use reqwest::StatusCode;
use serde_json::json;

/// How long an expected event may take: generous, for a loaded 2-core
/// machine running several test binaries (a wait, not a speed claim).
const WAIT: Duration = Duration::from_secs(30);

#[tokio::test]
async fn book_cancel_reschedule_and_block_each_arrive_with_id_and_statuses() {
    let app = TestApp::spawn().await;
    let provider = app.provider(0);
    let pid = provider.id;
    let service = service_with(&app.client, &app.base, pid, 30).await;
    let doc = availability(&app.client, &app.base, pid, "", None).await;
    let free = doc.free_slots();
    let v = doc.version();
    let mut stream = SseClient::connect(&app.client, &stream_url(&app.base, pid, ""), None).await;
    assert_eq!(stream.headers["content-type"], "text/event-stream");
    assert_eq!(stream.headers["x-accel-buffering"], "no");
    assert!(stream.headers.get("content-encoding").is_none());

    let (_, booking) = book(&app.client, &app.base, pid, service, &free[0].1).await;
    let e = stream.take(1, WAIT).await.remove(0);
    assert!(stream.saw_retry, "a retry: line comes first");
    assert_eq!((e.event.as_str(), e.version()), ("slot-changed", v + 1));
    let data = e.json();
    assert_eq!(data["availabilityId"], free[0].0);
    assert_eq!((data["previousStatus"].as_str(), data["newStatus"].as_str()), (Some("available"), Some("booked")));
    for field in
        ["availabilityId", "providerId", "date", "startTime", "endTime", "previousStatus", "newStatus", "changedAt"]
    {
        assert!(data.get(field).is_some(), "{field} present");
    }
    for secret in ["bookingId", "customer", "token", "email"] {
        assert!(data.get(secret).is_none(), "{secret} never on the public stream");
    }
    assert!(!e.data.contains("Ada"), "no customer name");

    let (id, token) = (booking["id"].as_str().unwrap(), booking["token"].as_str().unwrap());
    let response = app
        .client
        .post(app.url(&format!("/api/v1/bookings/{id}/reschedule")))
        .bearer_auth(token)
        .json(&json!({ "startTime": free[3].1 }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let moved = stream.take(2, WAIT).await;
    assert_eq!(moved.iter().map(SseEvent::version).collect::<Vec<_>>(), vec![v + 2, v + 3]);
    assert_eq!(
        (moved[0].json()["availabilityId"].as_str().unwrap(), moved[0].json()["newStatus"].as_str().unwrap()),
        (free[0].0.as_str(), "available")
    );
    assert_eq!(
        (moved[1].json()["availabilityId"].as_str().unwrap(), moved[1].json()["newStatus"].as_str().unwrap()),
        (free[3].0.as_str(), "booked")
    );

    assert_eq!(cancel(&app.client, &app.base, id, Some(token)).await, StatusCode::OK);
    let e = stream.take(1, WAIT).await.remove(0);
    assert_eq!(e.version(), v + 4);
    assert_eq!(
        (e.json()["previousStatus"].as_str(), e.json()["newStatus"].as_str()),
        (Some("booked"), Some("available"))
    );

    block(&app.client, &app.base, pid, &provider.key, &free[5].0).await;
    let e = stream.take(1, WAIT).await.remove(0);
    assert_eq!(e.version(), v + 5);
    assert_eq!(
        (e.json()["previousStatus"].as_str(), e.json()["newStatus"].as_str()),
        (Some("available"), Some("blocked"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_then_stream_from_its_version_misses_nothing_while_bookings_land() {
    let app = TestApp::spawn().await;
    let pid = app.provider(0).id;
    let service = service_with(&app.client, &app.base, pid, 30).await;
    let free = availability(&app.client, &app.base, pid, "?days=14", None).await.free_slots();

    // Bookings land concurrently with the GET and the stream's opening.
    let writer = {
        let (client, base) = (app.client.clone(), app.base.clone());
        let starts: Vec<String> = free.iter().take(40).map(|(_, s)| s.clone()).collect();
        tokio::spawn(async move {
            for start in starts {
                assert_eq!(book(&client, &base, pid, service, &start).await.0, StatusCode::CREATED);
            }
        })
    };
    tokio::time::sleep(Duration::from_millis(20)).await;
    let snapshot = availability(&app.client, &app.base, pid, "?days=14", None).await;
    let v = snapshot.version();
    let mut stream =
        SseClient::connect(&app.client, &stream_url(&app.base, pid, &format!("?lastEventId={v}")), None).await;
    writer.await.unwrap();
    let final_doc = availability(&app.client, &app.base, pid, "?days=14", None).await;
    let expected = (final_doc.version() - v) as usize;
    assert!(expected > 0, "some bookings landed after the GET (v={v})");
    let events = stream.take(expected, WAIT).await;
    let ids: Vec<i64> = events.iter().map(SseEvent::version).collect();
    assert_eq!(ids, (v + 1..=final_doc.version()).collect::<Vec<_>>(), "V+1, V+2, … without gaps or repeats");
    assert!(stream.next(Duration::from_millis(300)).await.is_none(), "nothing more");

    assert_eq!(replay(snapshot.statuses(), &events), final_doc.statuses(), "GET at V + events after V = final GET");
}

#[tokio::test]
async fn reconnecting_after_twenty_missed_changes_gets_exactly_those_twenty() {
    let app = TestApp::spawn().await;
    let provider = app.provider(1).clone();
    let pid = provider.id;
    let free = availability(&app.client, &app.base, pid, "?days=14", None).await.free_slots();
    let mut stream = SseClient::connect(&app.client, &stream_url(&app.base, pid, ""), None).await;
    block(&app.client, &app.base, pid, &provider.key, &free[0].0).await;
    let last = stream.take(1, WAIT).await.remove(0).version();
    drop(stream);

    for (slot, _) in free.iter().skip(1).take(20) {
        block(&app.client, &app.base, pid, &provider.key, slot).await;
    }
    let mut resumed = SseClient::connect(&app.client, &stream_url(&app.base, pid, ""), Some(last)).await;
    let events = resumed.take(20, WAIT).await;
    assert_eq!(events.iter().map(SseEvent::version).collect::<Vec<_>>(), (last + 1..=last + 20).collect::<Vec<_>>());
    let slots: Vec<String> = events.iter().map(|e| e.json()["availabilityId"].as_str().unwrap().to_owned()).collect();
    assert_eq!(slots, free.iter().skip(1).take(20).map(|(s, _)| s.clone()).collect::<Vec<_>>(), "in order");
    // Exactly twenty: the next event on the stream is the next change, with
    // nothing (no duplicate, no stray) before it. A marker rather than a
    // quiet window, which a slow machine would pass without checking.
    block(&app.client, &app.base, pid, &provider.key, &free[21].0).await;
    let next = resumed.take(1, WAIT).await.remove(0);
    assert_eq!(
        (next.version(), next.json()["availabilityId"].as_str().unwrap()),
        (last + 21, free[21].0.as_str()),
        "exactly twenty"
    );

    // A future id resets; so does one older than the kept log.
    let current = last + 21;
    let mut future = SseClient::connect(&app.client, &stream_url(&app.base, pid, ""), Some(current + 100)).await;
    let reset = future.take(1, WAIT).await.remove(0);
    assert_eq!((reset.event.as_str(), reset.version()), ("reset", current));
    drop((resumed, future));
    // Restarted: a process whose shared catch-up page still holds pruned
    // events replays them (exact all the same); a fresh one has only the log.
    let (url, db, providers) = app.stop().await;
    let app = TestApp::start(url, db, providers, &[]).await;
    slotstream::events::event_log::prune(&app.db, chrono::Utc::now() + chrono::TimeDelta::hours(1), 5).await.unwrap();
    let mut stale = SseClient::connect(&app.client, &stream_url(&app.base, pid, "?lastEventId=3"), None).await;
    let reset = stale.take(1, WAIT).await.remove(0);
    assert_eq!((reset.event.as_str(), reset.version()), ("reset", current));
    // After a reset the stream goes on live.
    block(&app.client, &app.base, pid, &provider.key, &free[30].0).await;
    assert_eq!(stale.take(1, WAIT).await[0].version(), current + 1);
    // Pruning never removes a provider's newest event.
    let mut from_newest = SseClient::connect(&app.client, &stream_url(&app.base, pid, ""), Some(current)).await;
    assert_eq!(from_newest.take(1, WAIT).await[0].version(), current + 1);
}

/// A resume point that is not a version (`abc`, `-1`, `1e3`, `813,1`, 19 or
/// more digits, bytes that are not UTF-8), in the header or the query, is one
/// the server cannot vouch for: the stream opens with `reset` at the current
/// version, as for a version it never issued, never a silent live start that
/// would lose everything since the client's last event.
#[tokio::test]
async fn a_garbage_resume_point_resets_instead_of_starting_live() {
    let app = TestApp::spawn().await;
    let provider = app.provider(0).clone();
    let pid = provider.id;
    let free = availability(&app.client, &app.base, pid, "", None).await.free_slots();
    block(&app.client, &app.base, pid, &provider.key, &free[0].0).await;
    let current = availability(&app.client, &app.base, pid, "", None).await.version();
    let garbage: [&[u8]; 7] =
        [b"abc", b"-1", b"1e3", b"813,1", b"1234567890123456789", b"99999999999999999999", b"\xff7"];
    let mut streams = Vec::new();
    for id in garbage {
        let header = reqwest::header::HeaderValue::from_bytes(id).unwrap();
        let by_header = app.client.get(stream_url(&app.base, pid, "")).header("last-event-id", header);
        streams.push((format!("Last-Event-ID: {}", String::from_utf8_lossy(id)), by_header));
        if let Ok(text) = std::str::from_utf8(id) {
            let escaped: String = text.bytes().map(|b| format!("%{b:02X}")).collect();
            let by_query = app.client.get(stream_url(&app.base, pid, &format!("?lastEventId={escaped}")));
            streams.push((format!("?lastEventId={text}"), by_query));
        }
    }
    // The header wins over the query, as on the many-providers stream: a
    // garbage header is not rescued by a good query.
    let both =
        app.client.get(stream_url(&app.base, pid, &format!("?lastEventId={current}"))).header("last-event-id", "abc");
    streams.push(("garbage header, good query".into(), both));
    for (what, request) in streams {
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{what}");
        let mut stream = SseClient::from_response(response);
        let first = stream.next(Duration::from_secs(5)).await;
        let first = first.map(|e| (e.event.clone(), e.version()));
        assert_eq!(first, Some(("reset".to_owned(), current)), "{what}: reset, not a silent live start");
    }
    // Absent or empty is "from now on": no reset.
    let mut live = SseClient::connect(&app.client, &stream_url(&app.base, pid, "?lastEventId="), None).await;
    block(&app.client, &app.base, pid, &provider.key, &free[1].0).await;
    let next = live.take(1, WAIT).await.remove(0);
    assert_eq!((next.event.as_str(), next.version()), ("slot-changed", current + 1));
}

/// A subscriber that is behind gets the frames that are ready at once in one
/// write: resuming forty changes back, its replay (one page of the log, all
/// ready together) arrives in a few pieces, not one per event. Without
/// coalescing each frame is its own HTTP chunk, and the client reads at
/// least one piece per chunk: forty-one with the `retry:` line.
#[tokio::test]
async fn a_subscriber_that_is_behind_gets_its_backlog_in_few_writes() {
    let app = TestApp::spawn().await;
    let provider = app.provider(2).clone();
    let pid = provider.id;
    let doc = availability(&app.client, &app.base, pid, "?days=14", None).await;
    let free = doc.free_slots();
    assert!(free.len() >= 40, "the seed has forty free slots in two weeks");
    for (slot, _) in free.iter().take(40) {
        block(&app.client, &app.base, pid, &provider.key, slot).await;
    }
    let url = stream_url(&app.base, pid, &format!("?lastEventId={}", doc.version()));
    let response = app.client.get(url).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let mut body = response.bytes_stream();
    let (mut read, mut pieces) = (Vec::new(), 0);
    let deadline = tokio::time::Instant::now() + WAIT;
    let events = |read: &[u8]| read.windows(19).filter(|w| w == b"event: slot-changed").count();
    while events(&read) < 40 {
        let piece = tokio::time::timeout_at(deadline, body.next()).await.expect("the backlog in time");
        read.extend_from_slice(&piece.expect("the stream goes on").unwrap());
        pieces += 1;
    }
    assert_eq!(events(&read), 40, "every change once");
    assert!(pieces <= 6, "forty frames ready at once arrive in a few writes, not {pieces}");
}

/// Once a stream's head has arrived, the stream is subscribed at a known
/// position, so a change made after that is delivered. The head used to go
/// out before the server had read where a stream starts: a change committed
/// in between was never delivered (tests that open a stream and then write
/// failed now and then on a loaded machine). Holding every connection of
/// the server's pool widens that window at will: the head must wait for it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_is_subscribed_before_its_head_arrives() {
    let app = TestApp::spawn().await;
    let provider = app.provider(2);
    let pid = provider.id;
    // Also puts the provider in the directory, which the stream handler reads first.
    let doc = availability(&app.client, &app.base, pid, "", None).await;
    // Every free connection: on PostgreSQL the relay's LISTEN holds one.
    let free_connections = if on_postgres() { POOL_SIZE - 1 } else { POOL_SIZE };
    let mut held = Vec::new();
    for _ in 0..free_connections {
        held.push(sea_orm::TransactionTrait::begin(&app.db).await.unwrap());
    }
    let mut opening = tokio::spawn({
        let (client, url) = (app.client.clone(), stream_url(&app.base, pid, ""));
        async move { SseClient::connect(&client, &url, None).await }
    });
    // Not a wait for anything: with every connection held, the head may go
    // out only if the server knew where the stream starts without the
    // database (the bus's trusted version); the change below must then still
    // be delivered. Well inside the pool's 5 s acquire timeout.
    let early = tokio::time::timeout(Duration::from_millis(500), &mut opening).await;
    for tx in held {
        tx.rollback().await.unwrap();
    }
    let mut stream = match early {
        Ok(opened) => opened.unwrap(),
        Err(_) => opening.await.unwrap(),
    };
    block(&app.client, &app.base, pid, &provider.key, &doc.free_slots()[0].0).await;
    assert_eq!(stream.take(1, WAIT).await[0].version(), doc.version() + 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscriber_that_never_reads_does_not_slow_a_hundred_others() {
    let (url, providers) = seeded_database().await;
    let provider = &providers[0];
    let pid = provider.id;
    let server = ServerProcess::start(&url, &["--subscriber-buffer", "64"]).await;
    let client = reqwest::Client::new();
    let addr: std::net::SocketAddr = server.base.trim_start_matches("http://").parse().unwrap();

    // The stalled reader: a raw socket with a tiny receive buffer that sends
    // the request and never reads.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(2048).unwrap();
    let mut stalled = socket.connect(addr).await.unwrap();
    use tokio::io::AsyncWriteExt;
    stalled
        .write_all(format!("GET /api/v1/providers/{pid}/availability/stream HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes())
        .await
        .unwrap();

    let mut readers = Vec::new();
    for _ in 0..100 {
        readers.push(SseClient::connect(&client, &stream_url(&server.base, pid, ""), None).await);
    }
    let server_pid = server.pid();
    // Two bursts of ~1,450 events each: far more than the stalled reader's
    // socket buffers and the bus ring (64) hold. Memory is bounded if the
    // second burst costs about nothing more than the first left behind.
    let mut rss_after_burst = Vec::new();
    for burst in 0..2u64 {
        let dates: Vec<String> = (0..31u64)
            .map(|d| (chrono::Utc::now().date_naive() + chrono::Days::new(20 + burst * 31 + d)).to_string())
            .collect();
        let response = client
            .post(server.url(&format!("/api/v1/providers/{pid}/slots")))
            .bearer_auth(&provider.key)
            .json(&json!({ "dates": dates, "open": "00:00", "close": "23:59", "slotMinutes": 30 }))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::CREATED);
        let created = response.json::<serde_json::Value>().await.unwrap()["created"].as_u64().unwrap() as usize;
        assert!(created > 1000);
        let started = std::time::Instant::now();
        let tasks: Vec<_> = readers
            .into_iter()
            .map(|mut reader| {
                tokio::spawn(async move {
                    let events = reader.take(created, Duration::from_secs(60)).await;
                    let ids: Vec<i64> = events.iter().map(SseEvent::version).collect();
                    assert!(ids.windows(2).all(|w| w[1] == w[0] + 1), "in order, no gaps");
                    reader
                })
            })
            .collect();
        readers = Vec::new();
        for task in tasks {
            readers.push(task.await.unwrap());
        }
        rss_after_burst.push(rss_kib(server_pid));
        eprintln!(
            "burst {burst}: 100 readers received {created} events each in {:?} beside a stalled reader; server RSS {} KiB",
            started.elapsed(),
            rss_after_burst[burst as usize]
        );
    }
    let growth = rss_after_burst[1].saturating_sub(rss_after_burst[0]);
    assert!(growth < 16 * 1024, "server memory stays bounded (the second burst grew it {growth} KiB)");
    drop(stalled);
}

#[tokio::test]
async fn disconnecting_clients_bring_the_subscriber_count_back_to_zero() {
    let app = TestApp::spawn().await;
    let pid = app.provider(0).id;
    let mut streams = Vec::new();
    for _ in 0..5 {
        streams.push(SseClient::connect(&app.client, &stream_url(&app.base, pid, ""), None).await);
    }
    assert_eq!(subscriber_count(&app.client, &app.base).await, 5);
    drop(streams);
    let mut count = -1;
    for _ in 0..100 {
        count = subscriber_count(&app.client, &app.base).await;
        if count == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(count, 0);
}

#[tokio::test]
async fn heartbeats_are_comments() {
    let app = TestApp::spawn_with(&["--heartbeat-secs", "1"]).await;
    let mut stream = SseClient::connect(&app.client, &stream_url(&app.base, app.provider(0).id, ""), None).await;
    assert!(stream.next(Duration::from_millis(2500)).await.is_none(), "no event, only comments");
    assert!(stream.comments >= 1, "a heartbeat comment arrived");
}

/// Seeds a fresh database through the library and returns it with its providers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_mid_stream_loses_nothing_and_duplicates_nothing() {
    let (url, providers) = seeded_database().await;
    let pid = providers[0].id;
    let mut server = ServerProcess::start(&url, &[]).await;
    let client = reqwest::Client::new();
    let service = service_with(&client, &server.base, pid, 30).await;
    let initial = availability(&client, &server.base, pid, "?days=14", None).await;
    let free = initial.free_slots();
    let mut stream = SseClient::connect(
        &client,
        &stream_url(&server.base, pid, &format!("?lastEventId={}", initial.version())),
        None,
    )
    .await;

    // Book in the background; kill -9 the server part-way.
    let writer = {
        let (client, base) = (client.clone(), server.base.clone());
        let starts: Vec<String> = free.iter().take(60).map(|(_, s)| s.clone()).collect();
        tokio::spawn(async move {
            let mut committed = 0;
            for start in starts {
                match client
                    .post(format!("{base}/api/v1/bookings"))
                    .json(&booking_body(pid, service, &start))
                    .send()
                    .await
                {
                    Ok(r) if r.status() == StatusCode::CREATED => committed += 1,
                    _ => break,
                }
            }
            committed
        })
    };
    let mut received = Vec::new();
    while received.len() < 15 {
        received.push(stream.next(WAIT).await.expect("events before the crash"));
    }
    server.kill_hard().await;
    writer.await.unwrap();
    while let Some(e) = stream.next(Duration::from_millis(500)).await {
        received.push(e);
    }
    let last = received.last().unwrap().version();

    let server = ServerProcess::start(&url, &[]).await;
    let final_doc = availability(&client, &server.base, pid, "?days=14", None).await;
    let mut resumed = SseClient::connect(&client, &stream_url(&server.base, pid, ""), Some(last)).await;
    let rest = resumed.take((final_doc.version() - last) as usize, WAIT).await;
    received.extend(rest);
    assert!(resumed.next(Duration::from_millis(300)).await.is_none());

    let ids: Vec<i64> = received.iter().map(SseEvent::version).collect();
    assert_eq!(
        ids,
        (initial.version() + 1..=final_doc.version()).collect::<Vec<_>>(),
        "every committed change exactly once"
    );
    assert_eq!(
        replay(initial.statuses(), &received),
        final_doc.statuses(),
        "replaying the events over the start reproduces the end"
    );
}

#[tokio::test]
async fn sigterm_ends_streams_cleanly_and_exits_quickly() {
    let (url, providers) = seeded_database().await;
    let mut server = ServerProcess::start(&url, &[]).await;
    let client = reqwest::Client::new();
    let mut stream = SseClient::connect(&client, &stream_url(&server.base, providers[0].id, ""), None).await;
    let started = std::time::Instant::now();
    server.terminate();
    assert!(stream.ended(Duration::from_secs(5)).await, "the stream ended");
    let status =
        tokio::time::timeout(Duration::from_secs(5), server.child.wait()).await.expect("exited in time").unwrap();
    assert!(status.success(), "clean exit: {status:?}");
    eprintln!("shutdown took {:?}", started.elapsed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_on_postgres_share_events_and_heal_a_killed_listener() {
    if !postgres_only("two instances share events through LISTEN/NOTIFY") {
        return;
    }
    let (url, providers) = seeded_database().await;
    let provider = &providers[0];
    let a = ServerProcess::start(&url, &[]).await;
    let b = ServerProcess::start(&url, &[]).await;
    let client = reqwest::Client::new();
    let service = service_with(&client, &a.base, provider.id, 30).await;
    let free = availability(&client, &a.base, provider.id, "?days=14", None).await.free_slots();
    let mut on_b = SseClient::connect(&client, &stream_url(&b.base, provider.id, ""), None).await;

    assert_eq!(book(&client, &a.base, provider.id, service, &free[0].1).await.0, StatusCode::CREATED);
    let first = on_b.take(1, WAIT).await.remove(0);
    assert_eq!(first.json()["availabilityId"], free[0].0);

    // Kill every LISTEN connection (both instances' relays), then keep booking.
    let admin = sea_orm::Database::connect(&url).await.unwrap();
    use sea_orm::ConnectionTrait;
    let killed = admin.query_all_raw(sea_orm::Statement::from_string(sea_orm::DbBackend::Postgres,
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query ILIKE 'LISTEN%' AND pid <> pg_backend_pid()")).await.unwrap();
    assert!(!killed.is_empty(), "found the listener connections");
    for (_, start) in free.iter().skip(1).take(10) {
        assert_eq!(book(&client, &a.base, provider.id, service, start).await.0, StatusCode::CREATED);
    }
    let rest = on_b.take(10, Duration::from_secs(20)).await;
    let ids: Vec<i64> = rest.iter().map(SseEvent::version).collect();
    assert_eq!(ids, (first.version() + 1..=first.version() + 10).collect::<Vec<_>>());
    // B's 304 path sees A's writes too once its relay is back.
    let on_a = availability(&client, &a.base, provider.id, "", None).await;
    let mut on_b_doc = availability(&client, &b.base, provider.id, "", None).await;
    for _ in 0..50 {
        if on_b_doc.etag == on_a.etag {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        on_b_doc = availability(&client, &b.base, provider.id, "", None).await;
    }
    assert_eq!(on_b_doc.body, on_a.body);
    let b_304 = availability(&client, &b.base, provider.id, "", on_a.etag.as_deref()).await;
    assert_eq!(b_304.status, StatusCode::NOT_MODIFIED);
}

/// `?heartbeat=event` makes the heartbeat a visible event (first, then every
/// period) for pages that watch for a silent connection; the default stays
/// a comment, which `EventSource` never shows; anything else is a 400.
#[tokio::test]
async fn a_stream_asked_for_visible_heartbeats_sends_one_first_and_each_period() {
    let app = TestApp::spawn_with(&["--heartbeat-secs", "1"]).await;
    let pid = app.provider(0).id;
    let url = |query: &str| app.url(&format!("/api/v1/providers/{pid}/availability/stream{query}"));
    let mut visible = SseClient::connect(&app.client, &url("?heartbeat=event"), None).await;
    let mut plain = SseClient::connect(&app.client, &url(""), None).await;
    // Read until two visible heartbeats (the first at once, then a period later) or the deadline.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let mut seen = 0;
    while seen < 2 && tokio::time::Instant::now() < deadline {
        if visible.heartbeat.take().is_some() {
            seen += 1;
            continue;
        }
        assert!(visible.next(Duration::from_millis(200)).await.is_none(), "no event but heartbeats");
    }
    assert_eq!(seen, 2, "a visible heartbeat first and one a period later");
    while plain.comments == 0 && tokio::time::Instant::now() < deadline {
        assert!(plain.next(Duration::from_millis(200)).await.is_none());
    }
    assert!(plain.comments > 0 && plain.heartbeat.is_none(), "the default heartbeat is a comment");
    let many = app.url(&format!("/api/v1/availability/stream?providerIds={pid}&heartbeat=event"));
    let mut many = SseClient::connect(&app.client, &many, None).await;
    while many.heartbeat.is_none() && tokio::time::Instant::now() < deadline {
        assert!(many.next(Duration::from_millis(200)).await.is_none());
    }
    assert_eq!(many.heartbeat.as_deref(), Some(r#"{"everySecs":1}"#));
    let refused = app.client.get(url("?heartbeat=loud")).send().await.unwrap();
    assert_eq!(refused.status(), reqwest::StatusCode::BAD_REQUEST);
}
