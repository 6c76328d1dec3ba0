//! The waitlist with fair offers (DESIGN 4c, issue 25): a freed time is held
//! for the oldest waiting entry it fits, every viewer sees it `held`, the
//! entry books it through the offer's hold; a decline or an expiry passes it
//! to the next entry, and with nobody left it is available again. Entries
//! whose window or service does not fit are skipped; twenty cancellations
//! and twenty entries at once (two instances on PostgreSQL) give twenty
//! offers, none doubled; a restart keeps an offer; a stranger's token gets
//! nothing; bad input is a 4xx problem.

mod common;

use std::time::Duration;

use common::*;
use futures_util::future::join_all;
use reqwest::StatusCode;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::{Value, json};
use uuid::Uuid;

/// A generous deadline for anything a test waits for (a wait, not a speed claim).
const WAIT: Duration = Duration::from_secs(60);

/// A booked slot's log when its time was offered to two entries in turn and then went free.
const OFFERED_TWICE_THEN_FREE: [&str; 6] = [
    "available->booked",
    "booked->available",
    "available->held",
    "held->available",
    "available->held",
    "held->available",
];

/// The whole-day window of `slot`'s date.
fn day_of(slot: &FreeSlot) -> (&str, &str) {
    (&slot.date, &slot.date)
}

/// Join the waitlist and expect a 201; the entry (with its token).
async fn joined(
    app_client: &reqwest::Client,
    base: &str,
    provider: Uuid,
    service: Uuid,
    window: (&str, &str),
) -> Value {
    let (status, entry) = join_waitlist(app_client, base, provider, service, window, None).await;
    assert_eq!(status, StatusCode::CREATED, "{entry}");
    entry
}

fn token(entry: &Value) -> &str {
    entry["token"].as_str().expect("the entry's token, shown once")
}

/// The entry as its token reads it.
async fn entry_now(client: &reqwest::Client, base: &str, entry: &Value) -> Value {
    let (status, body) = waitlist_entry(client, base, entry, token(entry)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

/// Waits until `entry` reads `status`; returns it.
async fn wait_for_status(client: &reqwest::Client, base: &str, entry: &Value, status: &str) -> Value {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let now = entry_now(client, base, entry).await;
        if now["status"] == status {
            return now;
        }
        assert!(tokio::time::Instant::now() < deadline, "entry never became {status}: {now}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until `slot` of `provider` shows `status` to the public.
async fn wait_for_slot(client: &reqwest::Client, base: &str, provider: Uuid, slot: &str, status: &str) {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let now = availability(client, base, provider, "?days=14", None).await.statuses()[slot].clone();
        if now == status {
            return;
        }
        assert!(tokio::time::Instant::now() < deadline, "slot {slot} stayed {now}, never {status}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Book the offer of `entry` (as read now) with `token`: status and body.
async fn claim(client: &reqwest::Client, base: &str, offered: &Value, token: &str) -> (StatusCode, Value) {
    let provider: Uuid = offered["providerId"].as_str().unwrap().parse().unwrap();
    let service: Uuid = offered["serviceId"].as_str().unwrap().parse().unwrap();
    let mut body = booking_body(provider, service, offered["offer"]["startsAt"].as_str().unwrap());
    body["holdId"] = offered["offer"]["holdId"].clone();
    let response = client.post(format!("{base}/api/v1/bookings")).bearer_auth(token).json(&body).send().await.unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// `DELETE /api/v1/waitlist/{id}/offer` (decline) or `DELETE /api/v1/waitlist/{id}` (leave).
async fn delete(client: &reqwest::Client, base: &str, entry: &Value, path: &str, token: &str) -> StatusCode {
    let id = entry["id"].as_str().unwrap();
    client.delete(format!("{base}/api/v1/waitlist/{id}{path}")).bearer_auth(token).send().await.unwrap().status()
}

/// The first free slot of a 30-minute service, booked: (provider, service, slot, booking).
async fn booked_slot(app: &TestApp) -> (Uuid, Uuid, FreeSlot, Value) {
    let provider = app.provider(0).id;
    let service = service_with(&app.client, &app.base, provider, 30).await;
    let slot = free_slots_of(&app.client, &app.base, provider).await.remove(0);
    let (status, booking) = book(&app.client, &app.base, provider, service, &slot.starts_at).await;
    assert_eq!(status, StatusCode::CREATED, "{booking}");
    (provider, service, slot, booking)
}

async fn cancel_booking(app: &TestApp, booking: &Value) {
    let id = booking["id"].as_str().unwrap();
    assert_eq!(cancel(&app.client, &app.base, id, booking["token"].as_str()).await, StatusCode::OK);
}

#[tokio::test]
async fn a_cancellation_offers_the_time_to_the_oldest_entry_every_viewer_sees_it_held_and_the_entry_books_it() {
    let app = TestApp::spawn().await;
    let (provider, service, slot, booking) = booked_slot(&app).await;
    let first = joined(&app.client, &app.base, provider, service, day_of(&slot)).await;
    let second = joined(&app.client, &app.base, provider, service, day_of(&slot)).await;
    assert!(token(&first).starts_with("wl_") && first["status"] == "waiting" && first["expiresAt"].is_string());
    let version = availability(&app.client, &app.base, provider, "?days=14", None).await.version();
    let mut viewer = SseClient::connect(&app.client, &stream_url(&app.base, provider, ""), Some(version)).await;

    cancel_booking(&app, &booking).await;
    let mut seen = Vec::new();
    while seen.len() < 2 {
        let event = viewer.next(WAIT).await.expect("the slot's events");
        if event.event == "slot-changed" {
            let data = event.json();
            assert!(
                !event.data.contains("Grace") && !event.data.contains("grace@"),
                "no customer data: {}",
                event.data
            );
            seen.push(format!("{}->{}", data["previousStatus"].as_str().unwrap(), data["newStatus"].as_str().unwrap()));
        }
    }
    assert_eq!(seen, ["booked->available", "available->held"], "freed, then held for the first in line");
    let offered = entry_now(&app.client, &app.base, &first).await;
    assert_eq!(offered["status"], "offered", "{offered}");
    assert_eq!(offered["offer"]["startsAt"].as_str().map(|s| s.replace("Z", "+00:00")), Some(utc(&slot.starts_at)));
    assert!(offered["offer"]["holdId"].is_string() && offered["offer"]["expiresAt"].is_string());
    assert!(offered.get("token").is_none(), "the token is shown once");
    let waiting = entry_now(&app.client, &app.base, &second).await;
    assert_eq!((waiting["status"].as_str(), waiting.get("offer")), (Some("waiting"), None));

    // Nobody else takes it meanwhile, not even the second in line.
    let (status, _) = book(&client_from("127.0.0.2"), &app.base, provider, service, &slot.starts_at).await;
    assert_eq!(status, StatusCode::CONFLICT);
    let (status, _) = claim(&app.client, &app.base, &offered, token(&second)).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "another entry's token does not reach this offer");

    let (status, booked) = claim(&app.client, &app.base, &offered, token(&first)).await;
    assert_eq!(status, StatusCode::CREATED, "{booked}");
    assert_eq!(entry_now(&app.client, &app.base, &first).await["status"], "fulfilled");
    wait_for_slot(&app.client, &app.base, provider, &slot.id, "booked").await;
    assert_eq!(
        logged_transitions(&app.db, &slot.id).await,
        ["available->booked", "booked->available", "available->held", "held->booked"]
    );
    // A second claim of the same offer books nothing.
    let (status, _) = claim(&app.client, &app.base, &offered, token(&first)).await;
    assert_eq!(status, StatusCode::CONFLICT);
}

/// An instant as RFC 3339 in UTC with `+00:00` (how the entry answers it).
fn utc(instant: &str) -> String {
    chrono::DateTime::parse_from_rfc3339(instant).unwrap().to_utc().to_rfc3339()
}

#[tokio::test]
async fn a_decline_passes_the_time_to_the_next_entry_and_with_nobody_left_it_is_available() {
    let app = TestApp::spawn().await;
    let (provider, service, slot, booking) = booked_slot(&app).await;
    let first = joined(&app.client, &app.base, provider, service, day_of(&slot)).await;
    let second = joined(&app.client, &app.base, provider, service, day_of(&slot)).await;
    cancel_booking(&app, &booking).await;
    assert_eq!(entry_now(&app.client, &app.base, &first).await["status"], "offered");

    assert_eq!(delete(&app.client, &app.base, &first, "/offer", token(&first)).await, StatusCode::NO_CONTENT);
    let next = entry_now(&app.client, &app.base, &second).await;
    assert_eq!(next["status"], "offered", "the next in line: {next}");
    assert_eq!(next["offer"]["startsAt"].as_str().map(|s| s.replace("Z", "+00:00")), Some(utc(&slot.starts_at)));
    let back = entry_now(&app.client, &app.base, &first).await;
    assert_eq!(
        (back["status"].as_str(), back.get("offer")),
        (Some("waiting"), None),
        "a decline keeps the entry in line"
    );
    // Declining twice changes nothing.
    assert_eq!(delete(&app.client, &app.base, &first, "/offer", token(&first)).await, StatusCode::NO_CONTENT);
    assert_eq!(entry_now(&app.client, &app.base, &second).await["status"], "offered");

    // The second declines too: the first declined this time already, so nobody is left.
    assert_eq!(delete(&app.client, &app.base, &second, "/offer", token(&second)).await, StatusCode::NO_CONTENT);
    wait_for_slot(&app.client, &app.base, provider, &slot.id, "available").await;
    for entry in [&first, &second] {
        assert_eq!(entry_now(&app.client, &app.base, entry).await["status"], "waiting");
    }
    assert_eq!(logged_transitions(&app.db, &slot.id).await, OFFERED_TWICE_THEN_FREE);

    // Leaving ends the entry; leaving twice is harmless; a left entry is offered nothing.
    assert_eq!(delete(&app.client, &app.base, &second, "", token(&second)).await, StatusCode::NO_CONTENT);
    assert_eq!(delete(&app.client, &app.base, &second, "", token(&second)).await, StatusCode::NO_CONTENT);
    assert_eq!(entry_now(&app.client, &app.base, &second).await["status"], "left");
}

#[tokio::test]
async fn an_unclaimed_offer_expires_to_the_next_entry_then_the_time_is_available() {
    let app = TestApp::spawn_with(&["--waitlist-offer-secs", "1", "--hold-sweep-millis", "100"]).await;
    let (provider, service, slot, booking) = booked_slot(&app).await;
    let first = joined(&app.client, &app.base, provider, service, day_of(&slot)).await;
    let second = joined(&app.client, &app.base, provider, service, day_of(&slot)).await;
    cancel_booking(&app, &booking).await;
    let expired = wait_for_status(&app.client, &app.base, &first, "expired").await;
    assert!(expired.get("offer").is_none(), "{expired}");
    wait_for_status(&app.client, &app.base, &second, "expired").await;
    wait_for_slot(&app.client, &app.base, provider, &slot.id, "available").await;
    assert_eq!(
        logged_transitions(&app.db, &slot.id).await,
        OFFERED_TWICE_THEN_FREE,
        "offered to each once, in line order, then free"
    );
}

#[tokio::test]
async fn entries_whose_window_or_service_does_not_fit_are_skipped() {
    let app = TestApp::spawn().await;
    let provider = app.provider(0).id;
    let short = service_with(&app.client, &app.base, provider, 30).await;
    let long = service_with(&app.client, &app.base, provider, 60).await;
    // Three back-to-back free slots, all booked; the middle one is cancelled
    // later, so it is freed between two booked ones: an hour cannot fit.
    let doc = availability(&app.client, &app.base, provider, "?days=14", None).await;
    let free = free_slots_of(&app.client, &app.base, provider).await;
    let run = doc.back_to_back().into_iter().find(|&i| doc.back_to_back().contains(&(i + 1))).expect("three in a row");
    let mut bookings = Vec::new();
    for slot in &free[run..run + 3] {
        let (status, booking) = book(&app.client, &app.base, provider, short, &slot.starts_at).await;
        assert_eq!(status, StatusCode::CREATED, "{booking}");
        bookings.push(booking);
    }
    let middle = free[run + 1].clone();
    assert_ne!(middle.start_time, "00:00");
    let client = |n: u8| client_from(&format!("127.0.0.{n}"));
    let hour = joined(&client(2), &app.base, provider, long, day_of(&middle)).await;
    let (status, too_early) = join_waitlist(
        &client(3),
        &app.base,
        provider,
        short,
        day_of(&middle),
        Some(json!([["00:00", middle.start_time]])),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{too_early}");
    let next_day =
        (chrono::NaiveDate::parse_from_str(&middle.date, "%Y-%m-%d").unwrap() + chrono::TimeDelta::days(1)).to_string();
    let other_day = joined(&client(4), &app.base, provider, short, (&next_day, &next_day)).await;
    let fitting = joined(&client(5), &app.base, provider, short, day_of(&middle)).await;

    cancel_booking(&app, &bookings[1]).await;
    assert_eq!(
        entry_now(&app.client, &app.base, &fitting).await["status"],
        "offered",
        "the youngest, but the only fit"
    );
    for skipped in [&hour, &too_early, &other_day] {
        assert_eq!(entry_now(&app.client, &app.base, skipped).await["status"], "waiting", "{skipped}");
    }
}

#[tokio::test]
async fn a_released_hold_and_an_unblocked_time_are_offered_too() {
    let app = TestApp::spawn().await;
    let provider = app.provider(0).clone();
    let service = service_with(&app.client, &app.base, provider.id, 30).await;
    let free = free_slots_of(&app.client, &app.base, provider.id).await;
    let (held, blocked) = (free[0].clone(), free[1].clone());
    let body = json!({ "providerId": provider.id, "serviceId": service, "startTime": held.starts_at });
    let (status, hold) = post_json(&app.client, &format!("{}/api/v1/holds", app.base), &body).await;
    assert_eq!(status, StatusCode::CREATED, "{hold}");
    block(&app.client, &app.base, provider.id, &provider.key, &blocked.id).await;
    let for_held = joined(&app.client, &app.base, provider.id, service, day_of(&held)).await;
    let for_blocked = joined(&app.client, &app.base, provider.id, service, day_of(&blocked)).await;

    let release = app.client.delete(app.url(&format!("/api/v1/holds/{}", hold["id"].as_str().unwrap())));
    assert_eq!(
        release.bearer_auth(hold["token"].as_str().unwrap()).send().await.unwrap().status(),
        StatusCode::NO_CONTENT
    );
    let offered = entry_now(&app.client, &app.base, &for_held).await;
    assert_eq!(offered["offer"]["startsAt"].as_str().map(|s| s.replace("Z", "+00:00")), Some(utc(&held.starts_at)));

    let unblock = app.client.post(app.url(&format!("/api/v1/providers/{}/slots/{}/unblock", provider.id, blocked.id)));
    assert_eq!(unblock.bearer_auth(&provider.key).send().await.unwrap().status(), StatusCode::OK);
    let offered = entry_now(&app.client, &app.base, &for_blocked).await;
    assert_eq!(offered["status"], "offered", "{offered}");
    wait_for_slot(&app.client, &app.base, provider.id, &blocked.id, "held").await;
}

#[tokio::test]
async fn a_stranger_gets_nothing_and_a_claim_link_reaches_only_its_offer() {
    let app = TestApp::spawn().await;
    let (provider, service, slot, booking) = booked_slot(&app).await;
    let entry = joined(&app.client, &app.base, provider, service, day_of(&slot)).await;
    let other = joined(&app.client, &app.base, provider, service, day_of(&slot)).await;
    cancel_booking(&app, &booking).await;
    // No token, an unknown token, another entry's token, the provider's key.
    let url = app.url(&format!("/api/v1/waitlist/{}", entry["id"].as_str().unwrap()));
    assert_eq!(app.client.get(&url).send().await.unwrap().status(), StatusCode::UNAUTHORIZED);
    for (credential, expected) in [
        ("wl_not-a-real-token", StatusCode::UNAUTHORIZED),
        (token(&other), StatusCode::FORBIDDEN),
        (app.provider(0).key.as_str(), StatusCode::FORBIDDEN),
    ] {
        let (status, body) = waitlist_entry(&app.client, &app.base, &entry, credential).await;
        assert_eq!(status, expected, "{body}");
        assert_eq!(body["type"].as_str().map(|t| t.starts_with("urn:slotstream:problem:")), Some(true));
        assert!(!body.to_string().contains("grace+"), "no customer data in a refusal");
        assert_eq!(delete(&app.client, &app.base, &entry, "", credential).await, expected);
        assert_eq!(delete(&app.client, &app.base, &entry, "/offer", credential).await, expected);
    }
    assert_eq!(entry_now(&app.client, &app.base, &entry).await["status"], "offered", "nothing changed");
    let missing = json!({ "id": Uuid::new_v4() });
    assert_eq!(waitlist_entry(&app.client, &app.base, &missing, token(&entry)).await.0, StatusCode::NOT_FOUND);

    // The claim link's token (as `waitlist.offered` carries it) reads the
    // entry and can decline, not leave.
    let hold: Uuid =
        entry_now(&app.client, &app.base, &entry).await["offer"]["holdId"].as_str().unwrap().parse().unwrap();
    let event = entity::waitlist_event::Entity::find()
        .filter(entity::waitlist_event::Column::Kind.eq("waitlist.offered"))
        .all(&app.db)
        .await
        .unwrap()
        .into_iter()
        .find(|e| e.data.contains(&hold.to_string()))
        .expect("the offer's event");
    let data: Value = serde_json::from_str(&event.data).unwrap();
    let link = data["claimLink"].as_str().unwrap();
    let claim_token = link.split_once("#token=").expect("the token in the fragment").1;
    assert!(link.starts_with(&format!("/?offer={}#", entry["id"].as_str().unwrap())), "{link}");
    assert_eq!(waitlist_entry(&app.client, &app.base, &entry, claim_token).await.0, StatusCode::OK);
    assert_eq!(delete(&app.client, &app.base, &entry, "", claim_token).await, StatusCode::FORBIDDEN);
    assert_eq!(waitlist_entry(&app.client, &app.base, &other, claim_token).await.0, StatusCode::FORBIDDEN);
    assert_eq!(delete(&app.client, &app.base, &entry, "/offer", claim_token).await, StatusCode::NO_CONTENT);
    assert_eq!(entry_now(&app.client, &app.base, &other).await["status"], "offered", "passed on");
    // Once the offer ended, its claim token reaches nothing.
    assert_eq!(waitlist_entry(&app.client, &app.base, &entry, claim_token).await.0, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn bad_input_is_a_problem_and_one_client_has_at_most_five_entries() {
    let app = TestApp::spawn().await;
    let provider = app.provider(0).id;
    let service = service_with(&app.client, &app.base, provider, 30).await;
    let today = chrono::Utc::now().date_naive();
    let day = |n: i64| (today + chrono::TimeDelta::days(n)).to_string();
    let url = app.url("/api/v1/waitlist");
    let customer = json!({ "name": "Grace Hopper", "email": "grace@example.com" });
    let body = |from: &str, to: &str| json!({ "providerId": provider, "serviceId": service, "from": from, "to": to, "customer": customer });
    let mut cases: Vec<(Value, StatusCode)> = vec![
        (body(&day(5), &day(2)), StatusCode::UNPROCESSABLE_ENTITY),
        (body(&day(2), &day(33)), StatusCode::UNPROCESSABLE_ENTITY),
        (body(&day(-3), &day(2)), StatusCode::UNPROCESSABLE_ENTITY),
        (body(&day(-5), &day(-3)), StatusCode::UNPROCESSABLE_ENTITY),
        (body("+262142-01-01", "+262142-01-02"), StatusCode::UNPROCESSABLE_ENTITY),
        (body("262142-01-01", "262142-01-02"), StatusCode::UNPROCESSABLE_ENTITY),
        (body("9999-12-30", "9999-12-31"), StatusCode::UNPROCESSABLE_ENTITY),
        (body("2026-02-30", "2026-03-01"), StatusCode::UNPROCESSABLE_ENTITY),
        (
            json!({ "providerId": Uuid::new_v4(), "serviceId": service, "from": day(1), "to": day(2), "customer": customer }),
            StatusCode::NOT_FOUND,
        ),
        (
            json!({ "providerId": provider, "serviceId": Uuid::new_v4(), "from": day(1), "to": day(2), "customer": customer }),
            StatusCode::NOT_FOUND,
        ),
        (
            json!({ "providerId": provider, "serviceId": service, "from": day(1), "to": day(2) }),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            json!({ "providerId": provider, "serviceId": service, "from": day(1), "to": day(2), "customer": { "name": "\u{202e}x", "email": "a@b.c" } }),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
    ];
    for times in [
        json!([["18:00", "14:00"]]),
        json!([["14:00"]]),
        json!([["9:00", "10:00"]]),
        json!([["14:00", "25:00"]]),
        json!("afternoon"),
        Value::Array(vec![json!(["00:00", "01:00"]); 9]),
    ] {
        let mut with_times = body(&day(1), &day(2));
        with_times["times"] = times;
        cases.push((with_times, StatusCode::UNPROCESSABLE_ENTITY));
    }
    for (request, expected) in cases {
        let response = app.client.post(&url).json(&request).send().await.unwrap();
        assert_eq!(response.status(), expected, "{request}");
        assert_eq!(response.headers()["content-type"], "application/problem+json", "{request}");
    }
    let count = entity::waitlist_entry::Entity::find().all(&app.db).await.unwrap().len();
    assert_eq!(count, 0, "no refused request made an entry");

    // Five at once from one client; the sixth is a 429 of its own; another client is not counted.
    let tomorrow = day(1);
    let joins = (0..6).map(|_| {
        join_waitlist(
            &app.client,
            &app.base,
            provider,
            service,
            (&tomorrow, &tomorrow),
            Some(json!([["14:00", "24:00"]])),
        )
    });
    let mut statuses: Vec<StatusCode> = join_all(joins).await.into_iter().map(|(status, _)| status).collect();
    statuses.sort();
    assert_eq!(statuses, [[StatusCode::CREATED; 5].as_slice(), &[StatusCode::TOO_MANY_REQUESTS]].concat());
    let (status, problem) = join_waitlist(&app.client, &app.base, provider, service, (&day(1), &day(1)), None).await;
    assert_eq!(
        (status, problem["type"].as_str()),
        (StatusCode::TOO_MANY_REQUESTS, Some("urn:slotstream:problem:too-many-waitlist-entries"))
    );
    let (status, _) =
        join_waitlist(&client_from("127.0.0.2"), &app.base, provider, service, (&day(1), &day(1)), None).await;
    assert_eq!(status, StatusCode::CREATED);
    // A deactivated provider takes no entries.
    app.deactivate(provider).await;
    let (status, _) =
        join_waitlist(&client_from("127.0.0.3"), &app.base, provider, service, (&day(1), &day(1)), None).await;
    assert_eq!(status, StatusCode::GONE);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_cancellations_and_twenty_entries_at_once_give_twenty_offers_none_doubled() {
    // Two instances on PostgreSQL; on SQLite (one writer per file) one.
    let (url, db, providers) = seeded_connection(8).await;
    let flags = ["--max-waitlist-per-client", "100"];
    let first = TestApp::start(url.clone(), db.clone(), providers.clone(), &flags).await;
    let second = if on_postgres() { Some(TestApp::start(url, db.clone(), providers, &flags).await) } else { None };
    let bases = [first.base.clone(), second.as_ref().map_or(first.base.clone(), |s| s.base.clone())];
    let provider = first.provider(0).id;
    let service = service_with(&first.client, &first.base, provider, 30).await;
    let free = free_slots_of(&first.client, &first.base, provider).await;
    let slots = &free[..20];
    let bookings =
        join_all(slots.iter().map(|slot| book(&first.client, &first.base, provider, service, &slot.starts_at))).await;
    let (from, to) = (slots[0].date.clone(), slots[19].date.clone());
    let joins = (0..20).map(|n| join_waitlist(&first.client, &bases[n % 2], provider, service, (&from, &to), None));
    let entries: Vec<Value> = join_all(joins)
        .await
        .into_iter()
        .map(|(status, entry)| {
            assert_eq!(status, StatusCode::CREATED, "{entry}");
            entry
        })
        .collect();
    let cancels = bookings.iter().enumerate().map(|(n, (status, booking))| {
        assert_eq!(*status, StatusCode::CREATED, "{booking}");
        let base = bases[n % 2].clone();
        let client = first.client.clone();
        async move { cancel(&client, &base, booking["id"].as_str().unwrap(), booking["token"].as_str()).await }
    });
    assert!(join_all(cancels).await.iter().all(|s| *s == StatusCode::OK));

    let mut offers = Vec::new();
    for entry in &entries {
        let offered = wait_for_status(&first.client, &bases[1], entry, "offered").await;
        offers.push(offered["offer"]["startsAt"].as_str().unwrap().to_owned());
    }
    offers.sort();
    offers.dedup();
    assert_eq!(offers.len(), 20, "twenty different times offered");
    let held = entity::availability_slot::Entity::find()
        .filter(entity::availability_slot::Column::Status.eq(entity::availability_slot::Status::Held))
        .filter(entity::availability_slot::Column::ProviderId.eq(provider))
        .all(&db)
        .await
        .unwrap();
    assert_eq!(held.len(), 20, "each freed slot held once");
    for slot in slots {
        assert_eq!(
            logged_transitions(&db, &slot.id).await,
            ["available->booked", "booked->available", "available->held"],
            "{}",
            slot.id
        );
    }
}

#[tokio::test]
async fn a_restart_during_an_offer_keeps_it_and_it_is_booked_after() {
    let app = TestApp::spawn().await;
    let (provider, service, slot, booking) = booked_slot(&app).await;
    let entry = joined(&app.client, &app.base, provider, service, day_of(&slot)).await;
    cancel_booking(&app, &booking).await;
    let before = entry_now(&app.client, &app.base, &entry).await;
    assert_eq!(before["status"], "offered");

    let (url, db, providers) = app.stop().await;
    let app = TestApp::start(url, db, providers, &[]).await;
    let after = entry_now(&app.client, &app.base, &entry).await;
    assert_eq!(after["offer"], before["offer"], "the same offer, the same expiry");
    wait_for_slot(&app.client, &app.base, provider, &slot.id, "held").await;
    let (status, booked) = claim(&app.client, &app.base, &after, token(&entry)).await;
    assert_eq!(status, StatusCode::CREATED, "{booked}");
}

/// Tomorrow in Warsaw, and the instant of its local `hour`:`minute`.
fn warsaw_tomorrow(hour: u32, minute: u32) -> (String, String) {
    use chrono::TimeZone;
    let zone = chrono_tz::Europe::Warsaw;
    let tomorrow = chrono::Utc::now().with_timezone(&zone).date_naive() + chrono::Days::new(1);
    let at = zone.from_local_datetime(&tomorrow.and_hms_opt(hour, minute, 0).unwrap()).earliest().unwrap();
    (tomorrow.to_string(), at.to_utc().to_rfc3339())
}

/// An admin-made provider `external_id` with a 30-minute service: (provider id, service id).
async fn admin_provider(app: &TestApp, token: &str, external_id: &str, extra: Value) -> (Uuid, Uuid) {
    let mut body = json!({ "name": "Waiting Room", "timezone": "Europe/Warsaw", "currency": "PLN" });
    body.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
    let (status, created) = put(app, token, &format!("/api/v1/admin/providers/{external_id}"), body).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let service = json!({ "name": "Half hour", "durationMinutes": 30, "priceMinor": 1000, "currency": "PLN" });
    let (status, body) =
        put(app, token, &format!("/api/v1/admin/providers/{external_id}/services/half"), service).await;
    assert!(status.is_success(), "{body}");
    let provider = created["id"].as_str().unwrap().parse().unwrap();
    (provider, service_with(&app.client, &app.base, provider, 30).await)
}

#[tokio::test]
async fn a_schedule_change_that_opens_a_waited_for_time_offers_it() {
    let (app, token, _dir) = admin_server().await;
    let (provider, service) = admin_provider(&app, &token, "waits", json!({})).await;
    let days = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"];
    let every_day = |end: &str| {
        let weekly: serde_json::Map<String, Value> =
            days.iter().map(|d| (d.to_string(), json!([["09:00", end]]))).collect();
        json!({ "slotMinutes": 30, "weekly": weekly })
    };
    let (status, body) = put(&app, &token, "/api/v1/admin/providers/waits/schedule", every_day("12:00")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (tomorrow, one_pm) = warsaw_tomorrow(13, 0);
    let (status, entry) = join_waitlist(
        &app.client,
        &app.base,
        provider,
        service,
        (&tomorrow, &tomorrow),
        Some(json!([["13:00", "14:00"]])),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{entry}");

    let (status, body) = put(&app, &token, "/api/v1/admin/providers/waits/schedule", every_day("14:00")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let offered = entry_now(&app.client, &app.base, &entry).await;
    assert_eq!(offered["status"], "offered", "{offered}");
    assert_eq!(offered["offer"]["startsAt"].as_str().map(|s| s.replace("Z", "+00:00")), Some(one_pm));
}

#[tokio::test]
async fn a_provider_whose_slots_another_system_books_gets_notify_only_offers() {
    let (app, token, _dir) = admin_server().await;
    let (provider, service) = admin_provider(&app, &token, "elsewhere", json!({ "slotSource": "external" })).await;
    let (tomorrow, ten) = warsaw_tomorrow(10, 0);
    let change = |status: &str| {
        let ends = (chrono::DateTime::parse_from_rfc3339(&ten).unwrap() + chrono::TimeDelta::minutes(30)).to_rfc3339();
        json!({ "externalSlotId": "ext-10", "startsAt": ten, "endsAt": ends, "status": status })
    };
    let publish = |sequence: i64, status: &str| {
        let body = json!({ "sequence": sequence, "changes": [change(status)] });
        admin(&app, &token, reqwest::Method::POST, "/api/v1/admin/providers/elsewhere/slot-changes", Some(body))
    };
    assert_eq!(publish(1, "taken").await.0, StatusCode::OK);
    let first = joined(&app.client, &app.base, provider, service, (&tomorrow, &tomorrow)).await;
    let second = joined(&app.client, &app.base, provider, service, (&tomorrow, &tomorrow)).await;

    let (status, applied) = publish(2, "available").await;
    assert_eq!(status, StatusCode::OK, "{applied}");
    let told = entry_now(&app.client, &app.base, &first).await;
    assert_eq!((told["status"].as_str(), told.get("offer")), (Some("notified"), None), "told, nothing held: {told}");
    assert_eq!(entry_now(&app.client, &app.base, &second).await["status"], "waiting", "one time, one entry told");
    let doc = availability(&app.client, &app.base, provider, "?days=14", None).await;
    assert!(doc.statuses().values().all(|s| s == "available"), "the time stays free: {}", doc.body);
    let events = entity::waitlist_event::Entity::find().all(&app.db).await.unwrap();
    assert_eq!(events.len(), 1);
    let data: Value = serde_json::from_str(&events[0].data).unwrap();
    assert_eq!((data["notifyOnly"].as_bool(), data["holdId"].is_null()), (Some(true), true), "{data}");
}

#[tokio::test]
async fn two_claims_at_once_book_once_and_a_service_lengthened_under_an_offer_is_refused_then_passed_on() {
    let (app, admin_token, _dir) = admin_server().await;
    let (provider, service) = admin_provider(&app, &admin_token, "edges", json!({})).await;
    let days = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"];
    let weekly: serde_json::Map<String, Value> =
        days.iter().map(|d| (d.to_string(), json!([["09:00", "12:00"]]))).collect();
    let (status, body) = put(
        &app,
        &admin_token,
        "/api/v1/admin/providers/edges/schedule",
        json!({ "slotMinutes": 30, "weekly": weekly }),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (tomorrow, ten) = warsaw_tomorrow(10, 0);
    let (_, eleven) = warsaw_tomorrow(11, 0);
    let window = (tomorrow.as_str(), tomorrow.as_str());
    let mut bookings = Vec::new();
    for start in [&ten, &eleven] {
        let (status, booking) = book(&app.client, &app.base, provider, service, start).await;
        assert_eq!(status, StatusCode::CREATED, "{booking}");
        bookings.push(booking);
    }
    let first = joined(&app.client, &app.base, provider, service, window).await;
    let second = joined(&app.client, &app.base, provider, service, window).await;

    // Two claims of one offer at once: one booking.
    cancel_booking(&app, &bookings[0]).await;
    let offered = entry_now(&app.client, &app.base, &first).await;
    let claims = join_all([
        claim(&app.client, &app.base, &offered, token(&first)),
        claim(&app.client, &app.base, &offered, token(&first)),
    ])
    .await;
    let mut statuses: Vec<StatusCode> = claims.iter().map(|(status, _)| *status).collect();
    statuses.sort();
    assert_eq!(statuses, [StatusCode::CREATED, StatusCode::CONFLICT], "{claims:?}");

    // The service grows to an hour while 11:00 is offered: the claim is refused and nothing changes;
    // declined, the time passes on (nobody else waits: it is free again).
    cancel_booking(&app, &bookings[1]).await;
    let offered = entry_now(&app.client, &app.base, &second).await;
    assert_eq!(offered["status"], "offered");
    let longer = json!({ "name": "Half hour", "durationMinutes": 60, "priceMinor": 1000, "currency": "PLN" });
    let (status, body) = put(&app, &admin_token, "/api/v1/admin/providers/edges/services/half", longer).await;
    assert!(status.is_success(), "{body}");
    let (status, problem) = claim(&app.client, &app.base, &offered, token(&second)).await;
    assert_eq!(
        (status, problem["type"].as_str()),
        (StatusCode::CONFLICT, Some("urn:slotstream:problem:hold-no-longer-fits"))
    );
    assert_eq!(
        entry_now(&app.client, &app.base, &second).await["status"],
        "offered",
        "a refused claim changes nothing"
    );
    assert_eq!(delete(&app.client, &app.base, &second, "/offer", token(&second)).await, StatusCode::NO_CONTENT);
    let slot_at_eleven = availability(&app.client, &app.base, provider, &format!("?startDate={tomorrow}&days=1"), None)
        .await
        .json()["days"][0]["slots"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["startTime"] == "11:00")
        .unwrap()["availabilityId"]
        .as_str()
        .unwrap()
        .to_owned();
    wait_for_slot(&app.client, &app.base, provider, &slot_at_eleven, "available").await;
}

#[tokio::test]
async fn a_deactivated_provider_offers_nothing_and_a_sender_that_hangs_up_mid_join_leaves_no_entry() {
    let app = TestApp::spawn().await;
    let (provider, service, slot, booking) = booked_slot(&app).await;
    let entry = joined(&app.client, &app.base, provider, service, day_of(&slot)).await;

    // A join whose body never finishes: no entry, and the server goes on.
    use tokio::io::AsyncWriteExt;
    let mut socket = tokio::net::TcpStream::connect(app.addr).await.unwrap();
    let head =
        "POST /api/v1/waitlist HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 400\r\n\r\n";
    socket.write_all(format!("{head}{{\"providerId\":\"{provider}\",").as_bytes()).await.unwrap();
    drop(socket);

    app.deactivate(provider).await;
    cancel_booking(&app, &booking).await;
    let waiting = entry_now(&app.client, &app.base, &entry).await;
    assert_eq!((waiting["status"].as_str(), waiting.get("offer")), (Some("waiting"), None));
    let holds = entity::slot_hold::Entity::find().all(&app.db).await.unwrap();
    assert!(holds.is_empty(), "nothing held at a deactivated provider: {holds:?}");
    let entries = entity::waitlist_entry::Entity::find().all(&app.db).await.unwrap();
    assert_eq!(entries.len(), 1, "only the finished join made an entry");
}

/// A provider key for the admin-made provider `external_id`.
async fn provider_key(app: &TestApp, token: &str, external_id: &str) -> String {
    let path = format!("/api/v1/admin/providers/{external_id}/keys");
    let (status, key) = admin(app, token, reqwest::Method::POST, &path, Some(json!({ "label": "tests" }))).await;
    assert_eq!(status, StatusCode::CREATED, "{key}");
    key["key"].as_str().expect("the key, shown once").to_owned()
}

#[tokio::test]
async fn times_the_provider_opens_by_key_are_offered_and_one_customer_waits_once_for_one_thing() {
    let (app, token, _dir) = admin_server().await;
    let (provider, service) = admin_provider(&app, &token, "opens", json!({})).await;
    let key = provider_key(&app, &token, "opens").await;
    let (tomorrow, ten) = warsaw_tomorrow(10, 0);
    let customer = json!({ "name": "Ada", "email": "Ada@Example.com" });
    let body =
        json!({ "providerId": provider, "serviceId": service, "from": tomorrow, "to": tomorrow, "customer": customer });
    let (status, entry) = post_json(&app.client, &app.url("/api/v1/waitlist"), &body).await;
    assert_eq!(status, StatusCode::CREATED, "{entry}");
    // The same customer (the address in any case) for the same thing: refused, nothing added.
    let mut again = body.clone();
    again["customer"]["email"] = json!("ada@example.COM");
    let (status, problem) = post_json(&client_from("127.0.0.2"), &app.url("/api/v1/waitlist"), &again).await;
    assert_eq!(
        (status, problem["type"].as_str()),
        (StatusCode::CONFLICT, Some("urn:slotstream:problem:conflict")),
        "{problem}"
    );
    assert_eq!(entity::waitlist_entry::Entity::find().all(&app.db).await.unwrap().len(), 1);

    let slots = json!({ "dates": [tomorrow], "open": "10:00", "close": "11:00", "slotMinutes": 30 });
    let url = app.url(&format!("/api/v1/providers/{provider}/slots"));
    let response = app.client.post(url).bearer_auth(&key).json(&slots).send().await.unwrap();
    assert!(response.status().is_success(), "{}", response.text().await.unwrap());
    let offered = entry_now(&app.client, &app.base, &entry).await;
    assert_eq!(offered["status"], "offered", "{offered}");
    assert_eq!(offered["offer"]["startsAt"].as_str().map(|s| s.replace("Z", "+00:00")), Some(ten));
}

#[tokio::test]
async fn an_offer_never_outlives_its_appointment_and_one_cut_short_keeps_the_entry_in_line() {
    use chrono::{TimeZone, Timelike};
    let (app, token, _dir) = admin_server().await;
    let (provider, _) = admin_provider(&app, &token, "soon", json!({})).await;
    let five = json!({ "name": "Five", "durationMinutes": 5, "priceMinor": 100, "currency": "PLN" });
    let (status, body) = put(&app, &token, "/api/v1/admin/providers/soon/services/five", five).await;
    assert!(status.is_success(), "{body}");
    let service = service_with(&app.client, &app.base, provider, 5).await;
    let key = provider_key(&app, &token, "soon").await;
    // A five-minute slot starting 3 to 8 minutes from now, on the provider's grid.
    let zone = chrono_tz::Europe::Warsaw;
    let start = chrono::Utc::now().with_timezone(&zone) + chrono::TimeDelta::minutes(3);
    let start = start + chrono::TimeDelta::minutes(i64::from((5 - start.minute() % 5) % 5));
    let start = zone
        .from_local_datetime(&start.naive_local().with_second(0).unwrap().with_nanosecond(0).unwrap())
        .earliest()
        .unwrap();
    let end = start + chrono::TimeDelta::minutes(5);
    if end.date_naive() != start.date_naive() || end.time() == chrono::NaiveTime::MIN {
        eprintln!("skipped: the next five-minute slot crosses midnight in Warsaw");
        return;
    }
    let date = start.date_naive().to_string();
    let slots = json!({ "dates": [date], "open": start.format("%H:%M").to_string(), "close": end.format("%H:%M").to_string(), "slotMinutes": 5 });
    let response = app
        .client
        .post(app.url(&format!("/api/v1/providers/{provider}/slots")))
        .bearer_auth(&key)
        .json(&slots)
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success(), "{}", response.text().await.unwrap());
    let (status, booking) = book(&app.client, &app.base, provider, service, &start.to_rfc3339()).await;
    assert_eq!(status, StatusCode::CREATED, "{booking}");
    let entry = joined(&app.client, &app.base, provider, service, (&date, &date)).await;

    cancel_booking(&app, &booking).await;
    let offered = entry_now(&app.client, &app.base, &entry).await;
    assert_eq!(offered["status"], "offered", "{offered}");
    let expires = chrono::DateTime::parse_from_rfc3339(offered["offer"]["expiresAt"].as_str().unwrap()).unwrap();
    assert_eq!(expires, start, "held until the appointment begins, not ten minutes");

    // It runs out at the start, unclaimed: the entry waits on (it did not ignore a full offer).
    use sea_orm::{ActiveModelTrait, ActiveValue::Set};
    let hold: Uuid = offered["offer"]["holdId"].as_str().unwrap().parse().unwrap();
    let row = entity::slot_hold::Entity::find_by_id(hold).one(&app.db).await.unwrap().unwrap();
    let mut due: entity::slot_hold::ActiveModel = row.into();
    let begun = chrono::Utc::now() - chrono::TimeDelta::seconds(1);
    (due.expires_at, due.starts_at) = (Set(begun), Set(begun));
    due.update(&app.db).await.unwrap();
    let back = wait_for_status(&app.client, &app.base, &entry, "waiting").await;
    assert!(back.get("offer").is_none(), "{back}");
}

#[tokio::test]
async fn notify_only_tells_the_oldest_entry_that_fits_each_freed_time_and_never_one_time_twice() {
    let (app, token, _dir) = admin_server().await;
    let (provider, short) = admin_provider(&app, &token, "told", json!({ "slotSource": "external" })).await;
    let hour = json!({ "name": "Hour", "durationMinutes": 60, "priceMinor": 1000, "currency": "PLN" });
    assert!(put(&app, &token, "/api/v1/admin/providers/told/services/hour", hour).await.0.is_success());
    let long = service_with(&app.client, &app.base, provider, 60).await;
    let (tomorrow, _) = warsaw_tomorrow(9, 0);
    let slot = |id: &str, hour: u32, minute: u32, status: &str| {
        let (_, starts) = warsaw_tomorrow(hour, minute);
        let ends =
            (chrono::DateTime::parse_from_rfc3339(&starts).unwrap() + chrono::TimeDelta::minutes(30)).to_rfc3339();
        json!({ "externalSlotId": id, "startsAt": starts, "endsAt": ends, "status": status })
    };
    let publish = |sequence: i64, changes: Vec<Value>| {
        let body = json!({ "sequence": sequence, "changes": changes });
        admin(&app, &token, reqwest::Method::POST, "/api/v1/admin/providers/told/slot-changes", Some(body))
    };
    let day = (tomorrow.as_str(), tomorrow.as_str());
    // 09:00 taken, 09:30 free, 10:00 taken: the hour-long entry (older) fits 09:00 once 09:00 frees.
    let first = vec![slot("a", 9, 0, "taken"), slot("b", 9, 30, "available"), slot("c", 10, 0, "taken")];
    assert_eq!(publish(1, first).await.0, StatusCode::OK);
    let hour_entry = joined(&app.client, &app.base, provider, long, day).await;
    let short_entry = joined(&app.client, &app.base, provider, short, day).await;
    assert_eq!(publish(2, vec![slot("a", 9, 0, "available")]).await.0, StatusCode::OK);
    assert_eq!(entry_now(&app.client, &app.base, &hour_entry).await["status"], "notified", "told 09:00-10:00");
    assert_eq!(entry_now(&app.client, &app.base, &short_entry).await["status"], "waiting", "09:00 was told once");

    // 11:00 and 11:30 free at once: the short entry is told 11:00; a new hour-long entry is not
    // told 11:00-12:00, which would tell 11:00 twice.
    let (status, _) =
        publish(3, vec![slot("d", 11, 0, "taken"), slot("e", 11, 30, "taken"), slot("f", 12, 0, "taken")]).await;
    assert_eq!(status, StatusCode::OK);
    let second_hour = joined(&app.client, &app.base, provider, long, day).await;
    assert_eq!(publish(4, vec![slot("d", 11, 0, "available"), slot("e", 11, 30, "available")]).await.0, StatusCode::OK);
    assert_eq!(entry_now(&app.client, &app.base, &short_entry).await["status"], "notified");
    assert_eq!(entry_now(&app.client, &app.base, &second_hour).await["status"], "waiting");
    let told: Vec<Value> = entity::waitlist_event::Entity::find()
        .all(&app.db)
        .await
        .unwrap()
        .iter()
        .map(|e| serde_json::from_str(&e.data).unwrap())
        .collect();
    assert_eq!(told.len(), 2, "{told:?}");
}

#[test]
fn an_offer_time_past_a_day_is_refused_at_start() {
    for flag in ["--waitlist-offer-secs", "--hold-ttl-secs", "--hold-max-secs"] {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_slotstream"))
            .args(["--database-url", "sqlite::memory:", "--bind", "127.0.0.1:0", flag, "9000000000000"])
            .output()
            .expect("run the binary");
        assert!(!output.status.success(), "{flag} 9000000000000 must be refused");
        assert!(String::from_utf8_lossy(&output.stderr).contains(flag), "{}", String::from_utf8_lossy(&output.stderr));
    }
}

#[tokio::test]
async fn entries_that_joined_in_the_same_instant_are_offered_in_the_order_they_joined() {
    let app = TestApp::spawn_with(&["--max-waitlist-per-client", "100"]).await;
    let provider = app.provider(0).id;
    let service = service_with(&app.client, &app.base, provider, 30).await;
    let free = free_slots_of(&app.client, &app.base, provider).await;
    let mut bookings = Vec::new();
    for slot in &free[..3] {
        let (status, booking) = book(&app.client, &app.base, provider, service, &slot.starts_at).await;
        assert_eq!(status, StatusCode::CREATED, "{booking}");
        bookings.push(booking);
    }
    let window = (free[0].date.as_str(), free[2].date.as_str());
    let mut entries = Vec::new();
    for _ in 0..10 {
        entries.push(joined(&app.client, &app.base, provider, service, window).await);
    }
    // The same instant for all (as on SQLite, whose clock counts milliseconds, for quick joins).
    use sea_orm::{ActiveModelTrait, ActiveValue::Set};
    let instant = chrono::Utc::now();
    for row in entity::waitlist_entry::Entity::find().all(&app.db).await.unwrap() {
        let mut tied: entity::waitlist_entry::ActiveModel = row.into();
        tied.created_at = Set(instant);
        tied.update(&app.db).await.unwrap();
    }
    for (n, booking) in bookings.iter().enumerate() {
        cancel_booking(&app, booking).await;
        let offered = entry_now(&app.client, &app.base, &entries[n]).await;
        assert_eq!(offered["status"], "offered", "the {n}th to join is next in line: {offered}");
    }
}
