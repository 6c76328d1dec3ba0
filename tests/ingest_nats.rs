//! Slot changes through NATS JetStream (issue 23 item 4) against the real
//! NATS server at 127.0.0.1:4222 (`SLOTSTREAM_TEST_NATS_URL` to point
//! elsewhere) and a real slotstream: redelivered and repeated batches, a
//! poison message dead-lettered while the next is applied, and a restart
//! (a crash, SIGKILL) in the middle of a backlog that loses and duplicates
//! nothing, and batches that wait out a database outage (PostgreSQL) applied
//! in order once it is back. Each test takes a subject prefix, streams and a consumer of its
//! own, so tests run side by side on one NATS.

mod common;

use std::time::Duration;

use async_nats::jetstream::{self, stream};
use chrono::{DateTime, Days, NaiveTime, TimeDelta, TimeZone, Utc};
use common::*;
use futures_util::StreamExt;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use uuid::Uuid;

const WAIT: Duration = Duration::from_secs(90);

fn nats_url() -> String {
    std::env::var("SLOTSTREAM_TEST_NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".into())
}

/// A prefix and the flags that make a server consume under it.
struct Ingest {
    prefix: String,
    flags: Vec<String>,
}

impl Ingest {
    fn new() -> Ingest {
        let tag = Uuid::new_v4().simple().to_string();
        let prefix = format!("t{tag}");
        let flags = vec![
            "--ingest-nats-url".into(),
            nats_url(),
            "--ingest-nats-prefix".into(),
            prefix.clone(),
            "--ingest-nats-stream".into(),
            format!("CHANGES_{tag}"),
            "--ingest-nats-dead-letter-stream".into(),
            format!("DEAD_{tag}"),
            "--ingest-nats-consumer".into(),
            format!("c{tag}"),
        ];
        Ingest { prefix, flags }
    }

    fn flags(&self) -> Vec<&str> {
        self.flags.iter().map(String::as_str).collect()
    }

    /// The JetStream context, with both streams made as the server makes
    /// them (so messages published before it starts are kept).
    async fn context(&self) -> jetstream::Context {
        let client = async_nats::connect(nats_url()).await.expect("NATS at 127.0.0.1:4222 (see .ci/run)");
        let context = jetstream::new(client);
        for (name, subjects) in [(&self.flags[5], "slot-changes"), (&self.flags[7], "dead-letter")] {
            context
                .get_or_create_stream(stream::Config {
                    name: name.clone(),
                    subjects: vec![format!("{}.{subjects}.>", self.prefix)],
                    ..Default::default()
                })
                .await
                .unwrap();
        }
        context
    }

    async fn publish(&self, context: &jetstream::Context, provider: &str, payload: String) {
        let subject = format!("{}.slot-changes.{provider}", self.prefix);
        context.publish(subject, payload.into()).await.unwrap().await.unwrap();
    }

    /// Delete both streams (and so the consumer).
    async fn clean_up(&self, context: &jetstream::Context) {
        let _ = context.delete_stream(&self.flags[5]).await;
        let _ = context.delete_stream(&self.flags[7]).await;
    }
}

fn slot_start(n: i64) -> DateTime<Utc> {
    let zone = chrono_tz::Europe::Warsaw;
    let date = Utc::now().with_timezone(&zone).date_naive() + Days::new(1 + (n / 20) as u64);
    let start = NaiveTime::from_hms_opt(8, 0, 0).unwrap() + TimeDelta::minutes(30 * (n % 20));
    zone.from_local_datetime(&date.and_time(start)).earliest().unwrap().to_utc()
}

/// Batch `sequence`: slot `s<n>` in `status` (`n` decides its time).
fn batch(sequence: i64, n: i64, status: &str) -> String {
    let start = slot_start(n);
    json!({ "sequence": sequence, "changes": [{
        "externalSlotId": format!("s{n}"),
        "startsAt": start.to_rfc3339(),
        "endsAt": (start + TimeDelta::minutes(30)).to_rfc3339(),
        "status": status,
    }] })
    .to_string()
}

async fn create_external(client: &reqwest::Client, base: &str, token: &str, external_id: &str) -> Uuid {
    let body = json!({ "name": "Upstream", "timezone": "Europe/Warsaw", "currency": "PLN", "slotSource": "external" });
    let path = format!("/api/v1/admin/providers/{external_id}");
    let (status, created) = admin_at(client, base, token, Method::PUT, &path, Some(body)).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    created["id"].as_str().unwrap().parse().unwrap()
}

/// Waits until the provider's document is at `version`.
async fn wait_for_version(client: &reqwest::Client, base: &str, provider: Uuid, version: i64) -> Value {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let doc = availability(client, base, provider, "?days=20", None).await;
        if doc.status == StatusCode::OK && doc.version() >= version {
            return doc.json();
        }
        assert!(tokio::time::Instant::now() < deadline, "stuck at version {} of {version}", doc.version());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn statuses(doc: &Value) -> Vec<String> {
    let mut all: Vec<String> = doc["days"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|day| day["slots"].as_array().unwrap().iter())
        .map(|slot| format!("{} {}", slot["startsAt"], slot["status"]))
        .collect();
    all.sort();
    all
}

/// Poison messages (not JSON; a provider that does not exist; one whose
/// slots are its own) are dead-lettered with their reason and never block
/// the batches behind them, which arrive out of order and twice: the
/// viewer sees each applied change once, the GET the upstream's last word.
#[tokio::test]
async fn poison_messages_are_dead_lettered_and_the_next_ones_applied_once_in_order() {
    let ingest = Ingest::new();
    let context = ingest.context().await;
    let (app, token, _dir) = admin_server_with(&ingest.flags()).await;
    let provider = create_external(&app.client, &app.base, &token, "nats-poison").await;
    let mut viewer = SseClient::connect(&app.client, &stream_url(&app.base, provider, ""), Some(0)).await;
    let demo = app.external_id(app.provider(0).id).await;

    ingest.publish(&context, "nats-poison", "{ not json".into()).await;
    ingest.publish(&context, "nobody-here", batch(1, 0, "available")).await;
    ingest.publish(&context, &demo, batch(1, 0, "available")).await;
    // s0 opened, taken; s1 opened; then 2 again (redelivered) and 1 (late): stale.
    for (sequence, n, status) in
        [(1, 0, "available"), (2, 0, "taken"), (3, 1, "available"), (2, 0, "taken"), (1, 0, "available")]
    {
        ingest.publish(&context, "nats-poison", batch(sequence, n, status)).await;
    }
    let events = viewer.take(3, WAIT).await;
    assert_eq!(events.iter().map(SseEvent::version).collect::<Vec<_>>(), vec![1, 2, 3]);
    assert_eq!(events[1].json()["newStatus"], "booked");
    let doc = wait_for_version(&app.client, &app.base, provider, 3).await;
    assert_eq!(
        statuses(&doc),
        vec![
            format!("\"{}\" \"booked\"", slot_start(0).with_timezone(&chrono_tz::Europe::Warsaw).to_rfc3339()),
            format!("\"{}\" \"available\"", slot_start(1).with_timezone(&chrono_tz::Europe::Warsaw).to_rfc3339())
        ]
    );

    let dead = context.get_stream(&ingest.flags[7]).await.unwrap();
    let consumer = dead.create_consumer(jetstream::consumer::pull::Config::default()).await.unwrap();
    let mut letters = consumer.fetch().max_messages(10).expires(Duration::from_secs(2)).messages().await.unwrap();
    let mut reasons = Vec::new();
    while let Some(letter) = letters.next().await {
        let letter = letter.unwrap();
        let reason = letter.headers.as_ref().and_then(|h| h.get("Slotstream-Error")).map(|v| v.to_string());
        reasons.push((letter.subject.to_string(), reason.unwrap_or_default()));
    }
    assert_eq!(reasons.len(), 3, "{reasons:?}");
    assert!(reasons[0].1.contains("not a batch of slot changes"), "{reasons:?}");
    assert_eq!(reasons[1].0, format!("{}.dead-letter.nobody-here", ingest.prefix));
    assert!(reasons[1].1.contains("does not exist"), "{reasons:?}");
    assert!(reasons[2].1.contains("slotSource"), "{reasons:?}");
    assert!(viewer.next(Duration::from_millis(300)).await.is_none(), "stale batches raise nothing");
    ingest.clean_up(&context).await;
}

/// A backlog of 300 batches (each opens one slot) consumed by the server
/// binary, killed outright (SIGKILL) part way and started again: every
/// batch is applied exactly once, so the version is 300 and there are 300
/// slots, and a viewer resuming across the crash sees ids 1..=300 once each.
/// The message in flight at the crash is offered again after the ack wait
/// (5 s), so the restart resumes within seconds.
#[tokio::test]
async fn a_crash_in_the_middle_of_a_nats_backlog_loses_and_duplicates_nothing() {
    const BATCHES: i64 = 300;
    let ingest = Ingest::new();
    let context = ingest.context().await;
    let (token, _dir, token_file) = admin_token_file();
    let (url, _) = seeded_database().await;
    let mut flags = vec!["--admin-token-file", token_file.as_str()];
    flags.extend(ingest.flags());
    // No overall timeout: the viewers' streams outlive CLIENT_TIMEOUT.
    let client = reqwest::Client::new();

    // The provider exists before the backlog is consumed.
    let first = ServerProcess::start(&url, &["--admin-token-file", token_file.as_str()]).await;
    let provider = create_external(&client, &first.base, &token, "nats-backlog").await;
    drop(first);
    for sequence in 1..=BATCHES {
        ingest.publish(&context, "nats-backlog", batch(sequence, sequence - 1, "available")).await;
    }

    let mut crashed = ServerProcess::start(&url, &flags).await;
    let mut viewer = SseClient::connect(&client, &stream_url(&crashed.base, provider, ""), Some(0)).await;
    let before = viewer.take(20, WAIT).await;
    crashed.signal("KILL");
    let _ = crashed.child.wait().await;

    let restarted = ServerProcess::start(&url, &flags).await;
    let last_seen = before.last().unwrap().version();
    let mut viewer = SseClient::connect(&client, &stream_url(&restarted.base, provider, ""), Some(last_seen)).await;
    let after = viewer.take((BATCHES - last_seen) as usize, WAIT).await;
    let ids: Vec<i64> = before.iter().chain(&after).map(SseEvent::version).collect();
    assert_eq!(ids, (1..=BATCHES).collect::<Vec<_>>(), "each batch once, none lost");
    let doc = wait_for_version(&client, &restarted.base, provider, BATCHES).await;
    assert_eq!((doc["version"].as_i64(), statuses(&doc).len()), (Some(BATCHES), BATCHES as usize));
    assert!(viewer.next(Duration::from_millis(500)).await.is_none(), "nothing applied twice");
    ingest.clean_up(&context).await;
}

/// The database gone while batches wait (PostgreSQL: a private cluster
/// stopped, then started): the batch in flight is retried in place and
/// nothing overtakes it, so once the database is back every batch applies,
/// in order, none found stale: three batches, three events, the last word kept.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batches_waiting_out_a_database_outage_apply_in_order_once_it_is_back() {
    if !postgres_only("stops and starts a private PostgreSQL cluster") {
        return;
    }
    let ingest = Ingest::new();
    let context = ingest.context().await;
    let cluster = PrivateCluster::start();
    let db = slotstream::server::connect(&cluster.url(), POOL_SIZE).await.expect("connect");
    let providers = slotstream::cli::seed::seed_demo(&db, TEST_PROVIDERS).await.expect("seed");
    let (token, _dir, token_file) = admin_token_file();
    let mut flags = vec!["--admin-token-file", token_file.as_str()];
    flags.extend(ingest.flags());
    let app = TestApp::start(cluster.url(), db, providers, &flags).await;
    let provider = create_external(&app.client, &app.base, &token, "nats-outage").await;

    tokio::task::block_in_place(|| cluster.stop());
    for (sequence, n, status) in [(1, 0, "available"), (2, 0, "taken"), (3, 1, "available")] {
        ingest.publish(&context, "nats-outage", batch(sequence, n, status)).await;
    }
    // The first batch has failed at least once before the database returns.
    let deadline = tokio::time::Instant::now() + WAIT;
    while !scrape(&app.client, &app.base)
        .await
        .lines()
        .any(|l| l.starts_with("slotstream_ingest_messages_total{outcome=\"retried\"}"))
    {
        assert!(tokio::time::Instant::now() < deadline, "no retry was counted");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::task::block_in_place(|| cluster.start_again());

    let doc = wait_for_version(&app.client, &app.base, provider, 3).await;
    assert_eq!(doc["version"].as_i64(), Some(3), "each batch applied once, none stale");
    let warsaw = |n| slot_start(n).with_timezone(&chrono_tz::Europe::Warsaw).to_rfc3339();
    assert_eq!(
        statuses(&doc),
        vec![format!("\"{}\" \"booked\"", warsaw(0)), format!("\"{}\" \"available\"", warsaw(1))]
    );
    ingest.clean_up(&context).await;
}

/// A poison message near NATS's largest payload (1 MiB): its dead-letter
/// copy, two headers bigger, does not fit, so it goes without the payload
/// (the reason kept) and the batch behind it is applied. Before, the copy's
/// publish failed, the message was never acknowledged and ingest stopped.
#[tokio::test]
async fn a_poison_message_too_big_to_copy_is_dead_lettered_without_its_payload_and_the_next_applied() {
    let ingest = Ingest::new();
    let context = ingest.context().await;
    let (app, token, _dir) = admin_server_with(&ingest.flags()).await;
    let provider = create_external(&app.client, &app.base, &token, "nats-huge").await;
    ingest.publish(&context, "nats-huge", "x".repeat(1024 * 1024 - 16)).await;
    ingest.publish(&context, "nats-huge", batch(1, 0, "available")).await;
    wait_for_version(&app.client, &app.base, provider, 1).await;
    let dead = context.get_stream(&ingest.flags[7]).await.unwrap();
    let consumer = dead.create_consumer(jetstream::consumer::pull::Config::default()).await.unwrap();
    let mut letters = consumer.fetch().max_messages(1).expires(Duration::from_secs(2)).messages().await.unwrap();
    let letter = letters.next().await.expect("a dead letter").unwrap();
    let header =
        |name: &str| letter.headers.as_ref().and_then(|h| h.get(name)).map(|v| v.to_string()).unwrap_or_default();
    assert!(letter.payload.is_empty());
    assert!(header("Slotstream-Payload").starts_with("dropped"), "{:?}", letter.headers);
    assert!(header("Slotstream-Error").contains("not a batch of slot changes"));
    ingest.clean_up(&context).await;
}
