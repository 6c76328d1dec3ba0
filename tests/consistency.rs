//! What a commit promises, on every path: a committed change is always
//! announced (even when its client hangs up mid-request, or when something
//! else wrote the database), pruning never makes a writer fail, and a read
//! never fails because writers are busy.

mod common;

use std::time::Duration;

use common::*;
use reqwest::StatusCode;
use sea_orm::{ActiveModelTrait, ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, TransactionTrait};
use tokio::io::AsyncWriteExt;
use uuid::Uuid;

const WAIT: Duration = Duration::from_secs(60);

/// Read the stream until it has delivered `version`; fails after `WAIT`.
async fn read_until(stream: &mut SseClient, version: i64, seen: &mut Vec<i64>) {
    let deadline = tokio::time::Instant::now() + WAIT;
    while seen.last().copied().unwrap_or(0) < version {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        match stream.next(left).await {
            Some(event) if event.event == "slot-changed" => seen.push(event.version()),
            Some(_) => {}
            None => panic!("stream stopped at {:?}, the database is at {version}", seen.last()),
        }
    }
}

/// Send a booking POST on a raw socket and hang up `after` it was sent,
/// before the answer (the delay is spun, not slept: it is microseconds).
async fn post_and_hang_up(addr: &str, body: &str, after: Duration) {
    let request = format!(
        "POST /api/v1/bookings HTTP/1.1\r\nhost: {addr}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    let mut socket = tokio::net::TcpStream::connect(addr).await.unwrap();
    socket.write_all(request.as_bytes()).await.unwrap();
    let until = std::time::Instant::now() + after;
    while std::time::Instant::now() < until {
        std::hint::spin_loop();
    }
    drop(socket);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bookings_whose_clients_hang_up_are_still_announced_and_never_leave_a_stale_304() {
    let (url, db, providers) = seeded_connection(4).await;
    // The periodic sweep is pushed out of the way: only the commit path itself may announce.
    let server = ServerProcess::start(&url, &["--reconcile-interval-secs", "3600"]).await;
    let client = reqwest::Client::builder().timeout(CLIENT_TIMEOUT).build().unwrap();
    let addr = server.base.trim_start_matches("http://").to_owned();
    let pid = providers[0].id;
    let service = service_with(&client, &server.base, pid, 30).await;
    let before = availability(&client, &server.base, pid, "?days=14", None).await;
    let mut stream = SseClient::connect(&client, &stream_url(&server.base, pid, ""), Some(before.version())).await;
    let committed_version =
        || async { entity::provider::Entity::find_by_id(pid).one(&db).await.unwrap().unwrap().version };

    // Every committed event is published: the server's own count of
    // published events comes level with the database, and stays level.
    let published = || async { counter(&client, &server.base, "slotstream_events_published_total").await as i64 };
    let base_published = published().await;
    // Hang up at spread moments of the request's life, so some land
    // between its COMMIT and what announces it.
    let free = before.free_slots();
    assert!(free.len() >= 100, "enough free slots: {}", free.len());
    for (n, (_, starts_at)) in free.iter().take(150).enumerate() {
        let body = serde_json::to_string(&booking_body(pid, service, starts_at)).unwrap();
        // Denser near zero: 0 to 16 ms, past a whole request on either database.
        let step = n as u64 % 75;
        post_and_hang_up(&addr, &body, Duration::from_micros(3 * step * step)).await;
    }

    let deadline = tokio::time::Instant::now() + WAIT;
    let mut level_twice = 0;
    while level_twice < 2 {
        let committed = committed_version().await;
        let level = published().await - base_published == committed - before.version();
        level_twice = if level { level_twice + 1 } else { 0 };
        assert!(
            tokio::time::Instant::now() < deadline,
            "committed up to {committed}, published {} of {}",
            published().await - base_published,
            committed - before.version()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let committed = committed_version().await;
    assert!(committed > before.version(), "some bookings were committed");
    let mut seen = Vec::new();
    read_until(&mut stream, committed, &mut seen).await;
    assert_eq!(seen, (before.version() + 1..=committed).collect::<Vec<_>>(), "every version, in order");
    let stale = availability(&client, &server.base, pid, "?days=14", before.etag.as_deref()).await;
    assert_eq!(stale.status, StatusCode::OK, "the old tag is not current");
    assert_eq!(stale.version(), committed, "the GET is level with the database");
}

#[tokio::test]
async fn a_change_written_by_another_process_is_announced_by_the_sweep() {
    let app = TestApp::spawn_with(&["--reconcile-interval-secs", "1"]).await;
    let pid = app.provider(1).id;
    let before = availability(&app.client, &app.base, pid, "?days=14", None).await;
    let mut stream = SseClient::connect(&app.client, &stream_url(&app.base, pid, ""), Some(before.version())).await;
    let (slot_id, _) = before.free_slots()[0].clone();

    // What a second process on the same file (or a task that died between
    // commit and publish) leaves behind: a committed change and its event,
    // never published on this instance's bus.
    let slot_id: Uuid = slot_id.parse().unwrap();
    let tx = app.db.begin().await.unwrap();
    let slot = entity::availability_slot::Entity::find_by_id(slot_id).one(&tx).await.unwrap().unwrap();
    let mut changed: entity::availability_slot::ActiveModel = slot.clone().into();
    changed.status = Set(entity::availability_slot::Status::Blocked);
    changed.update(&tx).await.unwrap();
    let version = before.version() + 1;
    entity::slot_event::ActiveModel {
        provider_id: Set(pid),
        version: Set(version),
        availability_id: Set(slot_id),
        date: Set(slot.date),
        start_time: Set(slot.start_time),
        end_time: Set(slot.end_time),
        previous_status: Set(Some(entity::availability_slot::Status::Available)),
        new_status: Set(entity::availability_slot::Status::Blocked),
        booking_id: Set(None),
        changed_at: Set(chrono::Utc::now()),
        // As a writer from before these columns would have left them.
        starts_at: Set(None),
        ends_at: Set(None),
        changed_by: Set(None),
    }
    .insert(&tx)
    .await
    .unwrap();
    entity::provider::Entity::update_many()
        .col_expr(entity::provider::Column::Version, sea_orm::sea_query::Expr::value(version))
        .filter(entity::provider::Column::Id.eq(pid))
        .exec(&tx)
        .await
        .unwrap();
    tx.commit().await.unwrap();

    let event = stream.take(1, WAIT).await.remove(0);
    assert_eq!((event.version(), event.json()["newStatus"].as_str()), (version, Some("blocked")));
    // The stream may have read the change from the log on its own; the 304
    // path only learns it from the bus, which the sweep brings level.
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let after = availability(&app.client, &app.base, pid, "?days=14", before.etag.as_deref()).await;
        if after.status == StatusCode::OK {
            assert_eq!(after.version(), version);
            break;
        }
        assert_eq!(after.status, StatusCode::NOT_MODIFIED);
        assert!(tokio::time::Instant::now() < deadline, "the old tag still gets 304: the bus never learnt the change");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Block and unblock `slots` of provider `n` in a loop until `done`; returns every status seen.
async fn write_storm(
    app: &TestApp,
    n: usize,
    slots: Vec<String>,
    done: tokio::sync::watch::Receiver<bool>,
) -> Vec<StatusCode> {
    let provider = app.provider(n).clone();
    let mut tasks = Vec::new();
    for slot in slots {
        let client = app.client.clone();
        let base = app.base.clone();
        let key = provider.key.clone();
        let done = done.clone();
        tasks.push(tokio::spawn(async move {
            let mut statuses = Vec::new();
            let mut blocked = false;
            while !*done.borrow() {
                let verb = if blocked { "unblock" } else { "block" };
                let response = client
                    .post(format!("{base}/api/v1/providers/{}/slots/{slot}/{verb}", provider.id))
                    .bearer_auth(&key)
                    .send()
                    .await
                    .unwrap();
                if response.status() == StatusCode::OK {
                    blocked = !blocked;
                }
                statuses.push(response.status());
            }
            statuses
        }));
    }
    let mut statuses = Vec::new();
    for task in tasks {
        statuses.extend(task.await.unwrap());
    }
    statuses
}

#[tokio::test]
async fn pruning_every_second_under_a_write_storm_never_answers_5xx() {
    let app = TestApp::spawn_with(&["--prune-interval-secs", "1", "--event-retention-count", "1"]).await;
    let pid = app.provider(0).id;
    let slots = free_slot_ids(&app.client, &app.base, pid, 8).await;
    let runs = || counter(&app.client, &app.base, "slotstream_prune_runs_total");
    let runs_before = runs().await;
    let (stop, done) = tokio::sync::watch::channel(false);
    let storm = write_storm(&app, 0, slots, done);
    let watch = async {
        // Run the storm through several prunes.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
        while runs().await < runs_before + 8 {
            assert!(tokio::time::Instant::now() < deadline, "the pruner did not run");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        stop.send(true).unwrap();
    };
    let (statuses, ()) = tokio::join!(storm, watch);
    let failures: Vec<_> = statuses.iter().filter(|s| s.is_server_error()).collect();
    assert!(statuses.len() > 50, "a storm: {} writes", statuses.len());
    assert!(failures.is_empty(), "{} of {} writes failed: {:?}", failures.len(), statuses.len(), failures.first());
    assert!(statuses.iter().all(|s| *s == StatusCode::OK), "every write succeeded");
}

#[tokio::test]
async fn reads_under_a_write_storm_never_answer_409_or_5xx() {
    let app = TestApp::spawn().await;
    let pid = app.provider(2).id;
    let slots = free_slot_ids(&app.client, &app.base, pid, 8).await;
    let (stop, done) = tokio::sync::watch::channel(false);
    let storm = write_storm(&app, 2, slots, done);
    let reads = async {
        let mut statuses = Vec::new();
        for n in 0..200 {
            // Different ranges, so most reads render from the database.
            let query = format!("?days={}", 1 + n % 31);
            statuses.push(availability(&app.client, &app.base, pid, &query, None).await.status);
        }
        stop.send(true).unwrap();
        statuses
    };
    let (writes, reads) = tokio::join!(storm, reads);
    assert!(writes.len() > 50, "a storm: {} writes", writes.len());
    let bad: Vec<_> = reads.iter().filter(|s| **s != StatusCode::OK).collect();
    assert!(bad.is_empty(), "{} of {} reads failed: {:?}", bad.len(), reads.len(), bad.first());
}

/// Issue 27 item 2: a commit's NOTIFY carries its events, so an instance
/// watching the provider publishes another instance's bookings without
/// reading the log (before, every instance read it after every event).
#[tokio::test]
async fn another_instances_events_reach_a_stream_without_a_log_read() {
    if !postgres_only("two instances share only a PostgreSQL database") {
        return;
    }
    let (url, seeded) = seeded_database().await;
    let (a, b, client) = two_instances(&url, &[]).await;
    let provider = seeded[0].id;
    let service = service_with(&client, &a.url(""), provider, 30).await;
    let free = free_slots_of(&client, &b.url(""), provider).await;
    let mut stream = SseClient::connect(&client, &stream_url(&b.url(""), provider, ""), None).await;
    let booked = |n: usize| {
        let (client, base, starts_at) = (client.clone(), a.url(""), free[n].starts_at.clone());
        async move {
            let (status, body) = book(&client, &base, provider, service, &starts_at).await;
            assert_eq!(status, StatusCode::CREATED, "{body}");
        }
    };
    let mut seen = Vec::new();
    // The first one settles the stream (its start reads the log once).
    booked(0).await;
    let first = stream.next(WAIT).await.expect("the first booking on B");
    seen.push(first.version());
    let reads_before = counter(&client, &b.url(""), "slotstream_log_reads_total").await;
    for n in 1..=5 {
        booked(n).await;
    }
    let version = availability(&client, &a.url(""), provider, "", None).await.version();
    read_until(&mut stream, version, &mut seen).await;
    assert_eq!(seen.len(), 6, "one event per booking, each once: {seen:?}");
    let reads_after = counter(&client, &b.url(""), "slotstream_log_reads_total").await;
    assert_eq!(reads_after, reads_before, "instance B published A's events without reading the log");
}
