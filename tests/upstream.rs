//! Slots published by the marketplace's own booking system (issue 23)
//! against a real server, on SQLite and (with
//! `SLOTSTREAM_TEST_DATABASE_URL`) PostgreSQL: an upstream simulator whose
//! batches arrive out of order, twice and with a gap a snapshot repairs; the
//! stream and the GET against the upstream's own final state; bookings and
//! holds refused with `books-elsewhere`; bad batches that change nothing;
//! the same batch twice at once; two instances publishing at once.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Days, NaiveDate, NaiveTime, TimeDelta, TimeZone, Utc};
use chrono_tz::Tz;
use common::*;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use uuid::Uuid;

const WAIT: Duration = Duration::from_secs(60);
const ZONE: Tz = chrono_tz::Europe::Warsaw;
const BOOKING_URL: &str = "https://book.example.com/p/{providerId}/s/{externalSlotId}?at={startsAt}";

/// Create the `external` provider `external_id`; its id.
async fn external_provider(app: &TestApp, token: &str, external_id: &str) -> Uuid {
    let (status, body) = put(
        app,
        token,
        &format!("/api/v1/admin/providers/{external_id}"),
        json!({ "name": "Upstream Salon", "timezone": "Europe/Warsaw", "currency": "PLN",
                "slotSource": "external", "bookingUrl": BOOKING_URL }),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!((body["slotSource"].as_str(), body["sequence"].as_i64()), (Some("external"), None));
    body["id"].as_str().unwrap().parse().unwrap()
}

async fn slot_changes(app: &TestApp, token: &str, external_id: &str, body: Value) -> (StatusCode, Value) {
    admin(app, token, Method::POST, &format!("/api/v1/admin/providers/{external_id}/slot-changes"), Some(body)).await
}

async fn snapshot(
    app: &TestApp,
    token: &str,
    external_id: &str,
    (from, to): (NaiveDate, NaiveDate),
    body: Value,
) -> (StatusCode, Value) {
    let path = format!("/api/v1/admin/providers/{external_id}/slots?from={from}&to={to}");
    admin(app, token, Method::PUT, &path, Some(body)).await
}

/// The provider's local date `days` from today.
fn local_date(days: u64) -> NaiveDate {
    Utc::now().with_timezone(&ZONE).date_naive() + Days::new(days)
}

/// The instant of local `date` `hour`:`minute` (never in a gap: daytime).
fn local(date: NaiveDate, hour: u32, minute: u32) -> DateTime<Utc> {
    let time = NaiveTime::from_hms_opt(hour, minute, 0).unwrap();
    ZONE.from_local_datetime(&date.and_time(time)).earliest().unwrap().to_utc()
}

fn rfc3339(instant: DateTime<Utc>) -> String {
    instant.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

fn change(id: &str, starts_at: DateTime<Utc>, minutes: i64, status: &str) -> Value {
    json!({ "externalSlotId": id, "startsAt": rfc3339(starts_at),
            "endsAt": rfc3339(starts_at + TimeDelta::minutes(minutes)), "status": status })
}

/// A tiny deterministic generator (xorshift), so a failure replays.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

/// The upstream's own slots: id → (start, status as published).
type UpstreamState = BTreeMap<String, (DateTime<Utc>, &'static str)>;

/// What a viewer sees: (UTC start, public status) of every slot, sorted
/// (the upstream may publish two slots at one time).
fn public_view(state: &UpstreamState) -> Vec<(String, String)> {
    let mut view: Vec<(String, String)> = state
        .values()
        .map(|(start, status)| (rfc3339(*start), if *status == "taken" { "booked" } else { status }.to_string()))
        .collect();
    view.sort();
    view
}

/// The GET's slots the same way.
fn document_view(doc: &Value) -> Vec<(String, String)> {
    let mut view = Vec::new();
    for day in doc["days"].as_array().unwrap() {
        for slot in day["slots"].as_array().unwrap() {
            let starts_at: DateTime<Utc> = slot["startsAt"].as_str().unwrap().parse().unwrap();
            view.push((rfc3339(starts_at), slot["status"].as_str().unwrap().to_owned()));
        }
    }
    view.sort();
    view
}

/// A few hundred changes from a simulated upstream, delivered out of order,
/// some twice, with a run of them lost; then a snapshot of the whole range.
/// Every delivery is answered as its sequence says (applied or stale); the
/// stream carries each applied change once, in order; after the snapshot,
/// both the stream replayed and the GET equal the upstream's final state.
#[tokio::test]
async fn an_upstream_out_of_order_twice_and_with_a_gap_repaired_by_a_snapshot_is_what_every_viewer_sees() {
    let (app, token, _dir) = admin_server().await;
    let provider = external_provider(&app, &token, "upstream-sim").await;
    let mut stream = SseClient::connect(&app.client, &stream_url(&app.base, provider, ""), Some(0)).await;

    let dates: Vec<NaiveDate> = (1..=3).map(local_date).collect();
    let mut rng = Rng(0x5eed_1234_abcd);
    let mut upstream = UpstreamState::new();
    let mut batches: Vec<(i64, Value)> = Vec::new();
    for sequence in 1..=240_i64 {
        let mut changes = Vec::new();
        for _ in 0..=rng.below(3) {
            let id = format!("av-{}", rng.below(40));
            if changes.iter().any(|c: &Value| c["externalSlotId"] == id.as_str()) {
                continue;
            }
            // A free time of the upstream's calendar: one slot per start.
            let home = |rng: &mut Rng| loop {
                let date = dates[rng.below(3) as usize];
                let start = local(date, 8 + rng.below(10) as u32, 30 * rng.below(2) as u32);
                if !upstream.values().any(|(taken, _)| *taken == start) {
                    break start;
                }
            };
            let (start, status) = match upstream.get(&id) {
                None => (home(&mut rng), "available"),
                Some(&(start, _)) => match rng.below(6) {
                    0 => (start, "available"),
                    1 | 2 => (start, "taken"),
                    3 => (start, "blocked"),
                    4 => (start, "removed"),
                    _ => (home(&mut rng), "available"),
                },
            };
            changes.push(change(&id, start, 30, status));
            if status == "removed" {
                upstream.remove(&id);
            } else {
                upstream.insert(id, (start, status));
            }
        }
        batches.push((sequence, json!({ "sequence": sequence, "changes": changes })));
    }

    // Delivery: windows of four shuffled, one in five sent again later, 150..=170 lost.
    let mut deliveries: Vec<(i64, Value)> = Vec::new();
    for window in batches.chunks(4) {
        let mut window = window.to_vec();
        for i in (1..window.len()).rev() {
            window.swap(i, rng.below(i as u64 + 1) as usize);
        }
        for batch in window {
            if (150..=170).contains(&batch.0) {
                continue;
            }
            if rng.below(5) == 0 {
                deliveries.push(batch.clone());
            }
            deliveries.push(batch);
        }
    }
    let (mut applied_up_to, mut events_applied) = (0_i64, 0_i64);
    for (sequence, body) in &deliveries {
        let (status, answer) = slot_changes(&app, &token, "upstream-sim", body.clone()).await;
        assert_eq!(status, StatusCode::OK, "batch {sequence}: {answer}");
        let fresh = *sequence > applied_up_to;
        assert_eq!(answer["applied"], fresh, "batch {sequence} after {applied_up_to}: {answer}");
        if fresh {
            applied_up_to = *sequence;
            events_applied += answer["events"].as_i64().unwrap();
        } else {
            assert_eq!((answer["reason"].as_str(), answer["events"].as_i64()), (Some("stale"), Some(0)));
        }
    }
    // The repair: the whole truth of the three days.
    let slots: Vec<Value> = upstream.iter().map(|(id, (start, status))| change(id, *start, 30, status)).collect();
    let (status, answer) =
        snapshot(&app, &token, "upstream-sim", (dates[0], dates[2]), json!({ "sequence": 1000, "slots": slots })).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!((answer["applied"].as_bool(), answer["sequence"].as_i64()), (Some(true), Some(1000)));
    events_applied += answer["events"].as_i64().unwrap();
    assert_eq!(answer["version"].as_i64(), Some(events_applied), "the version advances once per event");

    let events = stream.take(events_applied as usize, WAIT).await;
    let ids: Vec<i64> = events.iter().map(SseEvent::version).collect();
    assert_eq!(ids, (1..=events_applied).collect::<Vec<_>>(), "each change once, in order");
    let mut replayed: BTreeMap<String, (String, String)> = BTreeMap::new();
    for event in &events {
        let data = event.json();
        assert_eq!(data["changedBy"], "upstream");
        assert!(data.get("bookingId").is_none(), "no booking, no customer data: {data}");
        let id = data["availabilityId"].as_str().unwrap().to_owned();
        if data["newStatus"] == "removed" {
            replayed.remove(&id);
        } else {
            let starts_at: DateTime<Utc> = data["startsAt"].as_str().unwrap().parse().unwrap();
            replayed.insert(id, (rfc3339(starts_at), data["newStatus"].as_str().unwrap().to_owned()));
        }
    }
    let mut replayed: Vec<(String, String)> = replayed.into_values().collect();
    replayed.sort();
    let doc =
        availability(&app.client, &app.base, provider, &format!("?startDate={}&days=3", dates[0]), None).await.json();
    assert_eq!(document_view(&doc), public_view(&upstream), "the GET is the upstream's final state");
    assert_eq!(replayed, public_view(&upstream), "the stream replayed is the upstream's final state");
    assert_eq!(doc["slotSource"], "external");

    // The same snapshot again: stale; a newer identical one: applied, no event.
    let (_, again) =
        snapshot(&app, &token, "upstream-sim", (dates[0], dates[2]), json!({ "sequence": 1000, "slots": [] })).await;
    assert_eq!(again["reason"], "stale", "{again}");
    let (_, same) = snapshot(&app, &token, "upstream-sim", (dates[0], dates[2]), json!({ "sequence": 1001, "slots": upstream.iter().map(|(id, (start, status))| change(id, *start, 30, status)).collect::<Vec<_>>() })).await;
    assert_eq!((same["applied"].as_bool(), same["events"].as_i64()), (Some(true), Some(0)), "{same}");
    assert!(stream.next(Duration::from_millis(300)).await.is_none(), "an unchanged slot raises nothing");
}

/// A customer can neither book nor hold a time of an `external` provider:
/// `books-elsewhere`, naming the slot's URL, which the document's slot
/// carries too; the provider's own slot commands and a weekly schedule are
/// refused (its slots come from the booking system); a move is two events.
#[tokio::test]
async fn bookings_and_holds_on_an_external_provider_answer_books_elsewhere_with_the_slots_url() {
    let (app, token, _dir) = admin_server().await;
    let provider = external_provider(&app, &token, "books-elsewhere").await;
    let (status, service) = put(
        &app,
        &token,
        "/api/v1/admin/providers/books-elsewhere/services/cut",
        json!({ "name": "Cut", "durationMinutes": 30, "priceMinor": 5000, "currency": "PLN" }),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{service}");
    let service: Uuid = service["id"].as_str().unwrap().parse().unwrap();
    let date = local_date(2);
    let starts_at = local(date, 14, 30);
    let (status, answer) = slot_changes(
        &app,
        &token,
        "books-elsewhere",
        json!({ "sequence": 7, "changes": [change("AV-42", starts_at, 30, "available")] }),
    )
    .await;
    assert_eq!((status, answer["events"].as_i64()), (StatusCode::OK, Some(1)), "{answer}");
    let expected_url = format!("https://book.example.com/p/books-elsewhere/s/AV-42?at={}", rfc3339(starts_at));

    let (status, problem) = book(&app.client, &app.base, provider, service, &rfc3339(starts_at)).await;
    assert_eq!(status, StatusCode::CONFLICT, "{problem}");
    assert_eq!(problem["type"], "urn:slotstream:problem:books-elsewhere");
    assert_eq!(problem["bookingUrl"], expected_url.as_str());
    let hold = json!({ "providerId": provider, "serviceId": service, "startTime": rfc3339(starts_at) });
    let (status, problem) = post_json(&app.client, &app.url("/api/v1/holds"), &hold).await;
    assert_eq!(
        (status, problem["bookingUrl"].as_str()),
        (StatusCode::CONFLICT, Some(expected_url.as_str())),
        "{problem}"
    );

    let doc = availability(&app.client, &app.base, provider, &format!("?startDate={date}&days=1"), None).await.json();
    let slot = &doc["days"][0]["slots"][0];
    assert_eq!(
        (slot["status"].as_str(), slot["bookingUrl"].as_str()),
        (Some("available"), Some(expected_url.as_str()))
    );

    let schedule = json!({ "slotMinutes": 30, "weekly": { "monday": [["09:00", "17:00"]] } });
    let (status, problem) = put(&app, &token, "/api/v1/admin/providers/books-elsewhere/schedule", schedule).await;
    assert_eq!(
        (status, problem["type"].as_str()),
        (StatusCode::CONFLICT, Some("urn:slotstream:problem:conflict")),
        "{problem}"
    );
    let (status, key) = admin(
        &app,
        &token,
        Method::POST,
        "/api/v1/admin/providers/books-elsewhere/keys",
        Some(json!({ "label": "desk" })),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let slot_id = slot["availabilityId"].as_str().unwrap();
    let blocked = app
        .client
        .post(app.url(&format!("/api/v1/providers/{provider}/slots/{slot_id}/block")))
        .bearer_auth(key["key"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(blocked.status(), StatusCode::CONFLICT, "the booking system blocks its own slots");

    // The slot moves an hour later: the old time removed, the new one opened.
    let mut stream = SseClient::connect(&app.client, &stream_url(&app.base, provider, ""), None).await;
    let later = starts_at + TimeDelta::hours(1);
    let (_, answer) = slot_changes(
        &app,
        &token,
        "books-elsewhere",
        json!({ "sequence": 8, "changes": [change("AV-42", later, 30, "taken")] }),
    )
    .await;
    assert_eq!(answer["events"].as_i64(), Some(2), "{answer}");
    let events = stream.take(2, WAIT).await;
    let (gone, opened) = (events[0].json(), events[1].json());
    assert_eq!((gone["availabilityId"].as_str(), gone["newStatus"].as_str()), (Some(slot_id), Some("removed")));
    assert_eq!((opened["previousStatus"].as_str(), opened["newStatus"].as_str()), (None, Some("booked")));
    let doc = availability(&app.client, &app.base, provider, &format!("?startDate={date}&days=1"), None).await.json();
    assert_eq!(document_view(&doc), vec![(rfc3339(later), "booked".to_owned())]);

    // Another slot published at that time (a message moving AV-42 away was
    // lost): one slot per start, so the older news gives way.
    let (_, answer) = slot_changes(
        &app,
        &token,
        "books-elsewhere",
        json!({ "sequence": 9, "changes": [change("AV-43", later, 30, "available")] }),
    )
    .await;
    assert_eq!(answer["events"].as_i64(), Some(2), "{answer}");
    let events = stream.take(2, WAIT).await;
    assert_eq!(events[0].json()["newStatus"], "removed");
    let doc = availability(&app.client, &app.base, provider, &format!("?startDate={date}&days=1"), None).await.json();
    assert_eq!(document_view(&doc), vec![(rfc3339(later), "available".to_owned())]);
    assert!(doc["days"][0]["slots"][0]["bookingUrl"].as_str().unwrap().contains("/s/AV-43?"));
}

/// Bad batches answer a 4xx problem and change nothing: the version, the
/// sequence and every table stay as they were. A `schedule` provider
/// refuses slot changes (409); a slotSource change with slots ahead is refused.
#[tokio::test]
async fn bad_batches_and_a_schedule_provider_change_nothing() {
    let (app, token, _dir) = admin_server().await;
    external_provider(&app, &token, "strict").await;
    let tomorrow = local(local_date(1), 10, 0);
    let (status, _) = slot_changes(
        &app,
        &token,
        "strict",
        json!({ "sequence": 5, "changes": [change("a", tomorrow, 30, "available")] }),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let before = dump(&app.db).await;

    let ok = change("b", tomorrow + TimeDelta::hours(1), 30, "taken");
    let mut inverted = change("c", tomorrow, 30, "available");
    inverted["endsAt"] = json!(rfc3339(tomorrow - TimeDelta::minutes(30)));
    let overnight = change("d", local(local_date(1), 23, 30), 60, "available");
    let far = json!({ "externalSlotId": "e", "startsAt": "+262142-01-01T00:00:00Z", "endsAt": "+262142-01-01T00:30:00Z", "status": "available" });
    let next_decade = change("f", tomorrow + TimeDelta::days(3650), 30, "available");
    // A second or a fraction: PostgreSQL would keep microseconds, SQLite the
    // text; two such starts met as one (a 500) and a repeat looked like a move.
    let mut seconds = change("s", tomorrow, 30, "available");
    seconds["startsAt"] = json!(tomorrow.format("%Y-%m-%dT%H:%M:00.9999995Z").to_string());
    let many: Vec<Value> = (0..10_000).map(|i| change(&format!("m{i}"), tomorrow, 30, "available")).collect();
    let cases = [
        ("unknown provider", "nobody", json!({ "sequence": 6, "changes": [ok.clone()] }), StatusCode::NOT_FOUND),
        (
            "end before start",
            "strict",
            json!({ "sequence": 6, "changes": [ok.clone(), inverted] }),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "past its midnight",
            "strict",
            json!({ "sequence": 6, "changes": [ok.clone(), overnight] }),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "year 262142",
            "strict",
            json!({ "sequence": 6, "changes": [ok.clone(), far] }),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "ten years ahead",
            "strict",
            json!({ "sequence": 6, "changes": [ok.clone(), next_decade] }),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        ("10,000 changes", "strict", json!({ "sequence": 6, "changes": many }), StatusCode::UNPROCESSABLE_ENTITY),
        (
            "sequence not a number",
            "strict",
            json!({ "sequence": "six", "changes": [ok.clone()] }),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "negative sequence",
            "strict",
            json!({ "sequence": -1, "changes": [ok.clone()] }),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "unknown status",
            "strict",
            json!({ "sequence": 6, "changes": [{ "externalSlotId": "g", "startsAt": rfc3339(tomorrow), "endsAt": rfc3339(tomorrow + TimeDelta::minutes(30)), "status": "held" }] }),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "seconds in a start",
            "strict",
            json!({ "sequence": 6, "changes": [ok.clone(), seconds] }),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "slot id with a slash",
            "strict",
            json!({ "sequence": 6, "changes": [change("a/b", tomorrow, 30, "available")] }),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
    ];
    for (why, provider, body, expected) in cases {
        let (status, problem) = slot_changes(&app, &token, provider, body).await;
        assert_eq!(status, expected, "{why}: {problem}");
        assert!(problem["type"].as_str().is_some_and(|t| t.starts_with("urn:slotstream:problem:")), "{why}: {problem}");
    }
    let (status, _) =
        snapshot(&app, &token, "strict", (local_date(3), local_date(1)), json!({ "sequence": 6, "slots": [] })).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "an inverted range");
    let (status, _) = snapshot(
        &app,
        &token,
        "strict",
        (local_date(2), local_date(3)),
        json!({ "sequence": 6, "slots": [ok.clone()] }),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "a slot outside the snapshot's dates");
    let wrong_token = app
        .client
        .post(app.url("/api/v1/admin/providers/strict/slot-changes"))
        .bearer_auth("admin_not_the_token")
        .json(&json!({ "sequence": 6, "changes": [ok.clone()] }))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong_token.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(dump(&app.db).await, before, "nothing changed");

    // A demo provider opens its own slots.
    let demo = app.external_id(app.provider(0).id).await;
    let (status, problem) = slot_changes(&app, &token, &demo, json!({ "sequence": 1, "changes": [ok.clone()] })).await;
    assert_eq!(
        (status, problem["type"].as_str()),
        (StatusCode::CONFLICT, Some("urn:slotstream:problem:conflict")),
        "{problem}"
    );
    let (status, problem) = put(
        &app,
        &token,
        &format!("/api/v1/admin/providers/{demo}"),
        json!({ "name": "Demo", "timezone": "Europe/Warsaw", "currency": "PLN", "slotSource": "external" }),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "slots ahead keep the source: {problem}");

    // A sync (or an import) that does not know slotSource or bookingUrl leaves them as they are.
    let (status, kept) = put(
        &app,
        &token,
        "/api/v1/admin/providers/strict",
        json!({ "name": "Renamed", "timezone": "Europe/Warsaw", "currency": "PLN" }),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{kept}");
    assert_eq!((kept["slotSource"].as_str(), kept["bookingUrl"].as_str()), (Some("external"), Some(BOOKING_URL)));
    let (_, cleared) = put(
        &app,
        &token,
        "/api/v1/admin/providers/strict",
        json!({ "name": "Renamed", "timezone": "Europe/Warsaw", "currency": "PLN", "bookingUrl": "" }),
    )
    .await;
    assert_eq!(cleared["bookingUrl"], Value::Null, "an empty bookingUrl clears it: {cleared}");
}

/// The same batch sent twice at once (a retry racing its original), and a
/// burst of batches from two senders at once: each sequence applies once,
/// the rest say `stale`, and the events match what was applied.
#[tokio::test]
async fn the_same_batch_twice_at_once_applies_once() {
    let (app, token, _dir) = admin_server().await;
    let provider = external_provider(&app, &token, "racing").await;
    let start = local(local_date(1), 9, 0);
    for sequence in 1..=20_i64 {
        let body = json!({ "sequence": sequence, "changes": [
            change(&format!("s{sequence}"), start + TimeDelta::minutes(30 * sequence), 30, "available")
        ] });
        let (first, second) = tokio::join!(
            slot_changes(&app, &token, "racing", body.clone()),
            slot_changes(&app, &token, "racing", body)
        );
        assert_eq!((first.0, second.0), (StatusCode::OK, StatusCode::OK));
        let applied = [&first.1, &second.1].iter().filter(|a| a["applied"] == true).count();
        assert_eq!(applied, 1, "sequence {sequence}: {} / {}", first.1, second.1);
    }
    let doc =
        availability(&app.client, &app.base, provider, &format!("?startDate={}&days=1", local_date(1)), None).await;
    assert_eq!((doc.version(), document_view(&doc.json()).len()), (20, 20));
}

/// Two instances on one PostgreSQL database, each sent every batch at
/// once: each sequence applies on exactly one of them, and a viewer of
/// either sees every event once.
#[tokio::test]
async fn two_instances_publishing_the_same_batches_at_once_apply_each_once() {
    if !postgres_only("two instances share only a PostgreSQL database") {
        return;
    }
    let (token, _dir, token_file) = admin_token_file();
    let (url, _) = seeded_database().await;
    let flags = ["--admin-token-file", token_file.as_str()];
    let (a, b) = tokio::join!(ServerProcess::start(&url, &flags), ServerProcess::start(&url, &flags));
    let client = reqwest::Client::builder().timeout(CLIENT_TIMEOUT).build().unwrap();
    let body = json!({ "name": "Shared", "timezone": "Europe/Warsaw", "currency": "PLN", "slotSource": "external" });
    let (status, created) =
        admin_at(&client, &a.base, &token, Method::PUT, "/api/v1/admin/providers/shared", Some(body)).await;
    assert_eq!(status, StatusCode::CREATED);
    let provider: Uuid = created["id"].as_str().unwrap().parse().unwrap();
    let mut viewer_b = SseClient::connect(&client, &stream_url(&b.base, provider, ""), Some(0)).await;
    let start = local(local_date(1), 8, 0);
    let path = "/api/v1/admin/providers/shared/slot-changes";
    let mut events = 0;
    for sequence in 1..=30_i64 {
        let body = json!({ "sequence": sequence, "changes": [
            change(&format!("x{}", sequence % 7), start + TimeDelta::minutes(30 * (sequence % 7)), 30, ["available", "taken", "blocked"][sequence as usize % 3])
        ] });
        let (on_a, on_b) = tokio::join!(
            admin_at(&client, &a.base, &token, Method::POST, path, Some(body.clone())),
            admin_at(&client, &b.base, &token, Method::POST, path, Some(body))
        );
        let applied: Vec<&Value> = [&on_a.1, &on_b.1].into_iter().filter(|a| a["applied"] == true).collect();
        assert_eq!(applied.len(), 1, "sequence {sequence}: {} / {}", on_a.1, on_b.1);
        events += applied[0]["events"].as_i64().unwrap();
    }
    let seen = viewer_b.take(events as usize, WAIT).await;
    assert_eq!(seen.iter().map(SseEvent::version).collect::<Vec<_>>(), (1..=events).collect::<Vec<_>>());
    let doc_a = availability(&client, &a.base, provider, &format!("?startDate={}&days=1", local_date(1)), None).await;
    let doc_b = availability(&client, &b.base, provider, &format!("?startDate={}&days=1", local_date(1)), None).await;
    assert_eq!((doc_a.version(), doc_a.body.clone()), (events, doc_b.body));
}

/// A sender that hangs up halfway through a batch's body, or right after
/// sending all of it, leaves the batch applied whole or not at all: the
/// version moves by 0 or by the batch's 300 events, never in between, and
/// the next batch applies. A deactivated provider takes no slot changes (410).
#[tokio::test]
async fn a_sender_hanging_up_mid_batch_leaves_it_whole_or_absent_and_a_deactivated_provider_takes_none() {
    use tokio::io::AsyncWriteExt;
    let (app, token, _dir) = admin_server().await;
    let provider = external_provider(&app, &token, "hang-up").await;
    let version = || async {
        availability(&app.client, &app.base, provider, &format!("?startDate={}&days=5", local_date(1)), None)
            .await
            .version()
    };
    let batch = |sequence: i64| {
        let changes: Vec<Value> = (0..300)
            .map(|i| {
                change(
                    &format!("h{i}"),
                    local(local_date(1 + i / 100), 0, 0) + TimeDelta::minutes(5 * (i % 100) as i64),
                    5,
                    if sequence % 2 == 0 { "taken" } else { "available" },
                )
            })
            .collect();
        json!({ "sequence": sequence, "changes": changes }).to_string()
    };
    let mut sequence = 0;
    for cut in [0.5, 1.0, 0.5, 1.0, 1.0] {
        sequence += 1;
        let body = batch(sequence);
        let before = version().await;
        let mut socket = tokio::net::TcpStream::connect(app.addr).await.unwrap();
        let head = format!(
            "POST /api/v1/admin/providers/hang-up/slot-changes HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {token}\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            app.addr,
            body.len()
        );
        socket.write_all(head.as_bytes()).await.unwrap();
        let sent = (body.len() as f64 * cut) as usize;
        socket.write_all(&body.as_bytes()[..sent]).await.unwrap();
        drop(socket);
        // Whatever the server made of it is done once a later batch is answered.
        let (status, answer) =
            slot_changes(&app, &token, "hang-up", json!({ "sequence": 1000 + sequence, "changes": [] })).await;
        assert_eq!(status, StatusCode::OK, "{answer}");
        let moved = version().await - before;
        assert!(moved == 0 || moved == 300, "cut at {cut}: the version moved by {moved}");
        if cut < 1.0 {
            assert_eq!(moved, 0, "half a body applies nothing");
        }
        sequence += 1000;
    }
    app.deactivate(provider).await;
    let (status, problem) = slot_changes(&app, &token, "hang-up", json!({ "sequence": 999_999, "changes": [] })).await;
    assert_eq!(
        (status, problem["type"].as_str()),
        (StatusCode::GONE, Some("urn:slotstream:problem:provider-deactivated"))
    );
}
