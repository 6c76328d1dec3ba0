//! Many providers on one connection (DESIGN 4b): the batch availability GET
//! (order, one ETag, 304, 404/422/400), the many-providers stream (every
//! racing event once and in each provider's order, exact resume from a
//! cursor, GET-then-stream from the batch's cursor, per-provider reset,
//! strict cursors, one stream against the caps) and, on PostgreSQL, a
//! stream on one instance seeing bookings made on another.

mod common;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Duration;

use common::*;
use reqwest::StatusCode;
use serde_json::Value;
use slotstream::cli::seed::SeededProvider;
use uuid::Uuid;

const WAIT: Duration = Duration::from_secs(60);

/// A server whose database holds at least `count` demo providers.
async fn spawn_with_providers(count: usize, extra: &[&str]) -> TestApp {
    let mut app = TestApp::spawn_with(extra).await;
    if app.providers.len() < count {
        app.providers = slotstream::cli::seed::seed_demo(&app.db, count).await.expect("seed more");
    }
    app
}

fn id_list(providers: &[&SeededProvider]) -> String {
    providers.iter().map(|p| p.id.to_string()).collect::<Vec<_>>().join(",")
}

/// The batch GET: status, ETag and body.
async fn batch(client: &reqwest::Client, base: &str, query: &str, if_none_match: Option<&str>) -> Availability {
    let mut request = client.get(format!("{base}/api/v1/availability?{query}"));
    if let Some(tag) = if_none_match {
        request = request.header("if-none-match", tag);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    let etag = response.headers().get("etag").map(|v| v.to_str().unwrap().to_owned());
    Availability { status, etag, last_modified: None, body: response.text().await.unwrap() }
}

fn many_stream_url(base: &str, ids: &str, query: &str) -> String {
    format!("{base}/api/v1/availability/stream?providerIds={ids}{query}")
}

/// Opens a many-providers stream resuming from `cursor` (as `Last-Event-ID`).
async fn connect_many(client: &reqwest::Client, url: &str, cursor: Option<&str>) -> SseClient {
    let mut request = client.get(url).header("accept", "text/event-stream");
    if let Some(cursor) = cursor {
        request = request.header("last-event-id", cursor);
    }
    let response = request.send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK, "stream opened");
    SseClient::from_response(response)
}

/// Every provider's position as an event's cursor names it.
fn positions(event: &SseEvent, ids: &[Uuid]) -> Vec<i64> {
    slotstream::events::cursor::decode(event.id.as_deref().expect("id"), ids).expect("a cursor of this list")
}

/// (providerId, version) of a `slot-changed` event, its version read from its cursor.
fn provider_version(event: &SseEvent, ids: &[Uuid]) -> (Uuid, i64) {
    let provider: Uuid = event.json()["providerId"].as_str().unwrap().parse().unwrap();
    let index = ids.iter().position(|id| *id == provider).expect("a listed provider");
    let version = positions(event, ids)[index];
    assert_eq!(event.json()["version"].as_i64(), Some(version), "the data's version is the cursor's");
    (provider, version)
}

/// Blocks `n` free slots of each of `providers`, all at once.
async fn block_concurrently(app: &TestApp, providers: &[&SeededProvider], n: usize) {
    let mut tasks = Vec::new();
    for provider in providers {
        let slots = free_slot_ids(&app.client, &app.base, provider.id, n).await;
        for slot in slots {
            let (client, base, provider) = (app.client.clone(), app.base.clone(), (*provider).clone());
            tasks.push(tokio::spawn(async move { block(&client, &base, provider.id, &provider.key, &slot).await }));
        }
    }
    for task in tasks {
        task.await.unwrap();
    }
}

/// Waits until `name` on `/metrics` reads `value`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_batch_keeps_order_and_its_tag_changes_iff_a_listed_provider_changes() {
    let _turn = GAUGES.lock().await;
    let app = spawn_with_providers(5, &[]).await;
    let (a, b, c, outside) = (app.provider(2), app.provider(0), app.provider(4), app.provider(1));
    let ids = id_list(&[a, b, c]);
    let first = batch(&app.client, &app.base, &format!("providerIds={ids}&days=3"), None).await;
    assert_eq!(first.status, StatusCode::OK);
    let doc = first.json();
    let order: Vec<&str> =
        doc["providers"].as_array().unwrap().iter().map(|p| p["providerId"].as_str().unwrap()).collect();
    assert_eq!(order, [a.id.to_string(), b.id.to_string(), c.id.to_string()], "in the order asked");
    // Each entry is the single GET's document for that start and length.
    let start = doc["startDate"].as_str().unwrap();
    let single = availability(&app.client, &app.base, b.id, &format!("?startDate={start}&days=3"), None).await;
    assert_eq!(doc["providers"][1], single.json());
    assert!(doc["cursor"].as_str().is_some_and(|c| !c.is_empty()));
    let tag = first.etag.clone().expect("etag");
    // The counters are the test binary's: count what this test adds.
    let not_modified = r#"slotstream_batch_availability_responses_total{status="304",view="documents"}"#;
    let before = sample(&scrape(&app.client, &app.base).await, not_modified).unwrap_or(0.0);
    let again = batch(&app.client, &app.base, &format!("providerIds={ids}&days=3"), Some(&tag)).await;
    assert_eq!((again.status, again.etag.as_deref()), (StatusCode::NOT_MODIFIED, Some(tag.as_str())));
    assert_eq!(sample(&scrape(&app.client, &app.base).await, not_modified), Some(before + 1.0));

    // A provider outside the list changes: still 304.
    let slot = &free_slot_ids(&app.client, &app.base, outside.id, 1).await[0];
    block(&app.client, &app.base, outside.id, &outside.key, slot).await;
    let unrelated = batch(&app.client, &app.base, &format!("providerIds={ids}&days=3"), Some(&tag)).await;
    assert_eq!(unrelated.status, StatusCode::NOT_MODIFIED);
    // A listed provider changes: a new tag and its new version.
    let slot = &free_slot_ids(&app.client, &app.base, c.id, 1).await[0];
    block(&app.client, &app.base, c.id, &c.key, slot).await;
    let changed = batch(&app.client, &app.base, &format!("providerIds={ids}&days=3"), Some(&tag)).await;
    assert_eq!(changed.status, StatusCode::OK);
    assert_ne!(changed.etag, first.etag);
    assert_eq!(
        changed.json()["providers"][2]["version"].as_i64(),
        Some(doc["providers"][2]["version"].as_i64().unwrap() + 1)
    );
    // Another order is another document.
    let reordered = batch(&app.client, &app.base, &format!("providerIds={}&days=3", id_list(&[b, a, c])), None).await;
    assert_ne!(reordered.etag, changed.etag);

    // The summary view: per provider, the first free times, with its own tag.
    let next = batch(&app.client, &app.base, &format!("providerIds={ids}&view=next&limit=2&minutes=60"), None).await;
    assert_eq!(next.status, StatusCode::OK, "{}", next.body);
    for entry in next.json()["providers"].as_array().unwrap() {
        let times = entry["next"].as_array().unwrap();
        assert!(times.len() <= 2 && !times.is_empty(), "{entry}");
        assert!(entry["version"].is_i64() && entry["timezone"].is_string());
    }
    let next_tag = next.etag.clone().unwrap();
    let next_again =
        batch(&app.client, &app.base, &format!("providerIds={ids}&view=next&limit=2&minutes=60"), Some(&next_tag))
            .await;
    // The tag names the minute: across a minute boundary it may change once.
    assert!(matches!(next_again.status, StatusCode::NOT_MODIFIED | StatusCode::OK));

    // Bad lists.
    let unknown = [Uuid::new_v4(), Uuid::new_v4()];
    let missing =
        batch(&app.client, &app.base, &format!("providerIds={},{},{}", a.id, unknown[0], unknown[1]), None).await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert!(unknown.iter().all(|id| missing.body.contains(&id.to_string())), "names them: {}", missing.body);
    let twice = batch(&app.client, &app.base, &format!("providerIds={},{}", a.id, a.id), None).await;
    assert_eq!(twice.status, StatusCode::UNPROCESSABLE_ENTITY);
    let many: Vec<String> = (0..51).map(|_| Uuid::new_v4().to_string()).collect();
    let too_many = batch(&app.client, &app.base, &format!("providerIds={}", many.join(",")), None).await;
    assert_eq!(too_many.status, StatusCode::UNPROCESSABLE_ENTITY);
    for (query, status) in [
        ("providerIds=", StatusCode::UNPROCESSABLE_ENTITY),
        ("providerIds=nope", StatusCode::BAD_REQUEST),
        (&format!("providerIds={ids}&days=0"), StatusCode::UNPROCESSABLE_ENTITY),
        (&format!("providerIds={ids}&limit=3"), StatusCode::UNPROCESSABLE_ENTITY),
        (&format!("providerIds={ids}&view=next&limit=0"), StatusCode::UNPROCESSABLE_ENTITY),
        ("", StatusCode::BAD_REQUEST),
    ] {
        let response = app.client.get(format!("{}/api/v1/availability?{query}", app.base)).send().await.unwrap();
        assert_eq!(response.status(), status, "{query}");
        let content_type = response.headers()["content-type"].to_str().unwrap().to_owned();
        assert_eq!(content_type, "application/problem+json", "{query}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_providers_on_one_stream_get_every_racing_change_once_in_order_and_resume_exactly() {
    let _turn = GAUGES.lock().await;
    let app = spawn_with_providers(20, &[]).await;
    let listed: Vec<&SeededProvider> = app.providers.iter().take(20).collect();
    let ids: Vec<Uuid> = listed.iter().map(|p| p.id).collect();
    let url = many_stream_url(&app.base, &id_list(&listed), "");
    let mut stream = connect_many(&app.client, &url, None).await;

    // Three changes on each of the twenty, all racing.
    block_concurrently(&app, &listed, 3).await;
    let events = stream.take(60, WAIT).await;
    let mut seen = HashSet::new();
    let mut last: HashMap<Uuid, i64> = HashMap::new();
    for event in &events {
        assert_eq!(event.event, "slot-changed");
        let (provider, version) = provider_version(event, &ids);
        assert!(seen.insert((provider, version)), "({provider}, {version}) delivered twice");
        if let Some(previous) = last.insert(provider, version) {
            assert_eq!(version, previous + 1, "{provider}'s order");
        }
    }
    assert_eq!(last.len(), 20, "every provider's changes arrived");
    let resume_from = events.last().unwrap().id.clone().unwrap();
    drop(stream);

    // While nobody listens: thirty changes over ten providers.
    block_concurrently(&app, &listed[5..15], 3).await;
    let mut resumed = connect_many(&app.client, &url, Some(&resume_from)).await;
    let replayed = resumed.take(30, WAIT).await;
    let mut per_provider: BTreeMap<Uuid, Vec<i64>> = BTreeMap::new();
    for event in &replayed {
        let (provider, version) = provider_version(event, &ids);
        per_provider.entry(provider).or_default().push(version);
    }
    assert_eq!(per_provider.len(), 10);
    for (provider, versions) in &per_provider {
        let before = last[provider];
        assert_eq!(versions, &[before + 1, before + 2, before + 3], "{provider}: exactly what it missed");
    }
    // Exactly those thirty: the next event is the next change.
    let marker = listed[0];
    let slot = &free_slot_ids(&app.client, &app.base, marker.id, 1).await[0];
    block(&app.client, &app.base, marker.id, &marker.key, slot).await;
    let next = resumed.take(1, WAIT).await.remove(0);
    assert_eq!(provider_version(&next, &ids), (marker.id, last[&marker.id] + 1), "nothing before the marker");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_batch_and_the_stream_from_its_cursor_add_up_to_the_final_batch_while_writes_race() {
    let _turn = GAUGES.lock().await;
    let app = spawn_with_providers(5, &[]).await;
    let listed: Vec<&SeededProvider> = app.providers.iter().take(5).collect();
    let ids: Vec<Uuid> = listed.iter().map(|p| p.id).collect();
    let query = format!("providerIds={}&days=14", id_list(&listed));
    let mut slots: Vec<(SeededProvider, Vec<String>)> = Vec::new();
    for provider in &listed {
        slots.push(((*provider).clone(), free_slot_ids(&app.client, &app.base, provider.id, 6).await));
    }
    // Writers race the GET and the stream's opening.
    let (client, base) = (app.client.clone(), app.base.clone());
    let writers = tokio::spawn(async move {
        for round in 0..6 {
            for (provider, ids) in &slots {
                block(&client, &base, provider.id, &provider.key, &ids[round]).await;
            }
        }
    });
    let start = batch(&app.client, &app.base, &query, None).await;
    let start_doc = start.json();
    let cursor = start_doc["cursor"].as_str().unwrap().to_owned();
    let mut stream = connect_many(&app.client, &many_stream_url(&app.base, &id_list(&listed), ""), Some(&cursor)).await;
    writers.await.unwrap();
    let end = batch(&app.client, &app.base, &query, None).await.json();
    let version = |doc: &Value, i: usize| doc["providers"][i]["version"].as_i64().unwrap();
    let missed: i64 = (0..listed.len()).map(|i| version(&end, i) - version(&start_doc, i)).sum();
    let events = stream.take(missed as usize, WAIT).await;
    for (i, provider) in ids.iter().enumerate() {
        let theirs: Vec<SseEvent> =
            events.iter().filter(|e| e.json()["providerId"] == provider.to_string()).cloned().collect();
        let applied = replay(slot_statuses(&start_doc["providers"][i]), &theirs);
        assert_eq!(applied, slot_statuses(&end["providers"][i]), "provider {i}: GET + stream = final GET");
    }
    assert_eq!(
        positions(events.last().unwrap(), &ids),
        (0..listed.len()).map(|i| version(&end, i)).collect::<Vec<_>>()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pruned_resume_point_resets_that_provider_only() {
    let _turn = GAUGES.lock().await;
    let app = spawn_with_providers(3, &[]).await;
    let listed: Vec<&SeededProvider> = app.providers.iter().take(3).collect();
    let ids: Vec<Uuid> = listed.iter().map(|p| p.id).collect();
    let list = id_list(&listed);
    let start = batch(&app.client, &app.base, &format!("providerIds={list}"), None).await.json();
    let cursor = start["cursor"].as_str().unwrap().to_owned();
    let before: Vec<i64> = (0..3).map(|i| start["providers"][i]["version"].as_i64().unwrap()).collect();
    // Provider 0 changes three times, provider 1 once; then only each one's
    // newest event is kept: provider 0's point is gone, provider 1's is not.
    block_concurrently(&app, &listed[..1], 3).await;
    block_concurrently(&app, &listed[1..2], 1).await;
    slotstream::events::event_log::prune(&app.db, chrono::Utc::now() + chrono::TimeDelta::hours(1), 1).await.unwrap();
    let mut stream = connect_many(&app.client, &many_stream_url(&app.base, &list, ""), Some(&cursor)).await;
    let mut first_two = stream.take(2, WAIT).await;
    first_two.sort_by_key(|e| e.event.clone());
    let (reset, replayed) = (&first_two[0], &first_two[1]);
    assert_eq!(reset.event, "reset");
    assert_eq!(reset.json(), serde_json::json!({ "providerId": ids[0], "version": before[0] + 3 }));
    assert_eq!(replayed.event, "slot-changed");
    assert_eq!(provider_version(replayed, &ids), (ids[1], before[1] + 1), "the others carry on");
    // And the stream goes on live for all three.
    block_concurrently(&app, &listed[2..3], 1).await;
    let live = stream.take(1, WAIT).await.remove(0);
    assert_eq!(provider_version(&live, &ids), (ids[2], before[2] + 1));
    assert_eq!(positions(&live, &ids), vec![before[0] + 3, before[1] + 1, before[2] + 1]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tampered_oversized_and_foreign_cursors_are_refused_and_the_stream_is_one_against_the_caps() {
    let _turn = GAUGES.lock().await;
    let app = spawn_with_providers(50, &["--max-streams-per-client", "1"]).await;
    let listed: Vec<&SeededProvider> = app.providers.iter().take(4).collect();
    let list = id_list(&listed);
    let cursor = batch(&app.client, &app.base, &format!("providerIds={list}"), None).await.json()["cursor"]
        .as_str()
        .unwrap()
        .to_owned();
    let other_list = id_list(&app.providers.iter().skip(1).take(4).collect::<Vec<_>>());
    let mut tampered = cursor.clone().into_bytes();
    let middle = tampered.len() / 2;
    tampered[middle] = if tampered[middle] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(tampered).unwrap();
    let cases = [
        ("tampered", list.clone(), tampered),
        ("cut", list.clone(), cursor[..cursor.len() - 4].to_owned()),
        ("oversized", list.clone(), "A".repeat(1500)),
        ("foreign list", other_list, cursor.clone()),
        ("a single stream's id", list.clone(), "41".to_owned()),
        ("garbage", list.clone(), "%%%".to_owned()),
    ];
    for (what, ids, bad) in &cases {
        let by_header = app
            .client
            .get(many_stream_url(&app.base, ids, ""))
            .header("last-event-id", bad.as_str())
            .send()
            .await
            .unwrap();
        assert_eq!(by_header.status(), StatusCode::BAD_REQUEST, "{what} (header)");
        assert_eq!(by_header.headers()["content-type"], "application/problem+json", "{what}");
        let encoded: String = bad
            .bytes()
            .map(|b| if b.is_ascii_alphanumeric() { char::from(b).to_string() } else { format!("%{b:02X}") })
            .collect();
        let by_query =
            app.client.get(many_stream_url(&app.base, ids, &format!("&lastEventId={encoded}"))).send().await.unwrap();
        assert_eq!(by_query.status(), StatusCode::BAD_REQUEST, "{what} (query)");
    }
    // Fifty providers and their cursor fit in the URL an EventSource opens.
    let fifty: Vec<&SeededProvider> = app.providers.iter().take(50).collect();
    let fifty_list = id_list(&fifty);
    let fifty_cursor =
        batch(&app.client, &app.base, &format!("providerIds={fifty_list}&days=1"), None).await.json()["cursor"]
            .as_str()
            .unwrap()
            .to_owned();
    assert!(fifty_cursor.len() < 300, "{} characters", fifty_cursor.len());
    let url = many_stream_url(&app.base, &fifty_list, &format!("&lastEventId={fifty_cursor}"));
    let fifty_stream = app.client.get(url).send().await.unwrap();
    assert_eq!(fifty_stream.status(), StatusCode::OK);
    drop(fifty_stream);
    wait_for_gauge(&app.client, &app.base, "slotstream_active_streams", 0.0).await;

    // The same cursor is fine, and the stream over four providers is one stream.
    let _open = connect_many(&app.client, &many_stream_url(&app.base, &list, ""), Some(&cursor)).await;
    assert_eq!(gauge(&app.client, &app.base, "slotstream_active_streams").await, 1.0);
    let second = app.client.get(many_stream_url(&app.base, &list, "")).send().await.unwrap();
    assert_eq!(second.status(), StatusCode::TOO_MANY_REQUESTS, "one stream per client: the first counts as one");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_many_providers_stream_on_one_instance_sees_bookings_made_on_another() {
    let _turn = GAUGES.lock().await;
    if !postgres_only("two instances sharing events through LISTEN/NOTIFY") {
        return;
    }
    let (url, providers) = seeded_database().await;
    let a = ServerProcess::start(&url, &[]).await;
    let b = ServerProcess::start(&url, &[]).await;
    let client = reqwest::Client::new();
    let listed: Vec<&SeededProvider> = providers.iter().collect();
    let ids: Vec<Uuid> = listed.iter().map(|p| p.id).collect();
    let mut on_b = connect_many(&client, &many_stream_url(&b.base, &id_list(&listed), ""), None).await;
    for provider in &listed {
        let service = service_with(&client, &a.base, provider.id, 30).await;
        let free = availability(&client, &a.base, provider.id, "?days=14", None).await.free_slots();
        let (status, body) = book(&client, &a.base, provider.id, service, &free[0].1).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    let events = on_b.take(listed.len(), WAIT).await;
    let providers_seen: HashSet<Uuid> = events.iter().map(|e| provider_version(e, &ids).0).collect();
    assert_eq!(providers_seen, ids.iter().copied().collect(), "every booking made on A, seen on B");
    assert!(events.iter().all(|e| e.json()["newStatus"] == "booked"));
}

/// Issue 21 item 7: the batch answered a deactivated provider with bookable
/// times, and its many-providers stream ended (or, reconnecting, repeated
/// `provider-deactivated` forever). Now: the batch names it gone, the stream
/// drops only it and goes on, a stream that could never serve answers 204
/// (an EventSource stops reconnecting), and the single GET stays 410.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deactivated_provider_is_gone_from_the_batch_and_its_stream_while_the_others_go_on() {
    let _turn = GAUGES.lock().await;
    let app = spawn_with_providers(3, &[]).await;
    let listed: Vec<&SeededProvider> = app.providers.iter().take(3).collect();
    let ids: Vec<Uuid> = listed.iter().map(|p| p.id).collect();
    let list = id_list(&listed);
    let leaving = ids[1];
    let before = batch(&app.client, &app.base, &format!("providerIds={list}"), None).await;
    let mut stream = connect_many(&app.client, &many_stream_url(&app.base, &list, ""), None).await;

    app.deactivate(leaving).await;
    let last = stream.next(WAIT).await.expect("the leaving provider's final event");
    assert_eq!(
        (last.event.as_str(), last.json()["providerId"].as_str()),
        ("provider-deactivated", Some(&*leaving.to_string()))
    );
    // The others go on, on the same stream.
    let mut cursor = None;
    for provider in [&listed[0], &listed[2]] {
        let slot = free_slot_ids(&app.client, &app.base, provider.id, 1).await.remove(0);
        block(&app.client, &app.base, provider.id, &provider.key, &slot).await;
        let event = stream.next(WAIT).await.expect("an event of a provider still listed");
        assert_eq!((event.event.as_str(), provider_version(&event, &ids).0), ("slot-changed", provider.id));
        cursor = event.id;
    }

    for view in ["", "&view=next"] {
        let query = format!("providerIds={list}{view}");
        let after = batch(&app.client, &app.base, &query, None).await;
        assert_eq!(after.status, StatusCode::OK, "{view}");
        let entries = after.json()["providers"].as_array().unwrap().clone();
        assert_eq!(entries[1], serde_json::json!({ "providerId": leaving, "gone": true }), "{view}");
        assert!(
            entries[0].get("gone").is_none() && entries[2].get("gone").is_none(),
            "{view}: the others as they were"
        );
        assert_eq!(entries[2]["providerId"], ids[2].to_string());
        let again = batch(&app.client, &app.base, &query, after.etag.as_deref()).await;
        assert_eq!(again.status, StatusCode::NOT_MODIFIED, "{view}: a gone provider is part of the tag, stably");
    }
    assert_ne!(before.etag, batch(&app.client, &app.base, &format!("providerIds={list}"), None).await.etag);

    // Reconnecting from the last cursor: the leaving provider is left out
    // (no final event again), the others are delivered.
    drop(stream);
    let mut resumed = connect_many(&app.client, &many_stream_url(&app.base, &list, ""), cursor.as_deref()).await;
    let slot = free_slot_ids(&app.client, &app.base, listed[0].id, 1).await.remove(0);
    block(&app.client, &app.base, listed[0].id, &listed[0].key, &slot).await;
    let event = resumed.next(WAIT).await.expect("a live provider's event after the reconnect");
    assert_eq!((event.event.as_str(), provider_version(&event, &ids).0), ("slot-changed", listed[0].id));

    // Streams that could never serve: 204, so an EventSource stops
    // reconnecting; the single document still says why (410).
    let only_gone = app.client.get(many_stream_url(&app.base, &leaving.to_string(), "")).send().await.unwrap();
    assert_eq!(only_gone.status(), StatusCode::NO_CONTENT);
    let single = app.client.get(stream_url(&app.base, leaving, "")).send().await.unwrap();
    assert_eq!(single.status(), StatusCode::NO_CONTENT);
    let document = availability(&app.client, &app.base, leaving, "", None).await;
    assert_eq!(document.status, StatusCode::GONE);
}
