//! The core service over real HTTP: no double booking, all-or-nothing
//! multi-slot bookings, the ETag law, authorization of booking changes,
//! idempotency, bad input, and survival across a restart.

mod common;

use std::collections::HashSet;
use std::time::{Duration, Instant};

use common::*;
use rand::{Rng, SeedableRng};
use reqwest::StatusCode;
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
use serde_json::json;
use uuid::Uuid;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_concurrent_bookings_of_one_slot_give_one_201_and_49_409() {
    let app = TestApp::spawn().await;
    let provider = app.provider(0).id;
    let service = service_with(&app.client, &app.base, provider, 30).await;
    let doc = availability(&app.client, &app.base, provider, "?days=7", None).await;
    let (slot_id, starts_at) = doc.free_slots()[2].clone();
    let version_before = doc.version();

    let started = Instant::now();
    let attempts = (0..50).map(|_| {
        let client = app.client.clone();
        let base = app.base.clone();
        let starts_at = starts_at.clone();
        tokio::spawn(async move { book(&client, &base, provider, service, &starts_at).await })
    });
    let mut created = 0;
    let mut conflicts = 0;
    for attempt in attempts {
        let (status, body) = attempt.await.unwrap();
        match status {
            StatusCode::CREATED => created += 1,
            StatusCode::CONFLICT => {
                assert_eq!(body["status"], 409);
                conflicts += 1;
            }
            other => panic!("unexpected {other}: {body}"),
        }
    }
    eprintln!("50-way race took {:?}", started.elapsed());
    assert_eq!((created, conflicts), (1, 49));

    let bookings = entity::booking::Entity::find().count(&app.db).await.unwrap();
    assert_eq!(bookings, 1, "exactly one booking row");
    let doc = availability(&app.client, &app.base, provider, "?days=7", None).await;
    assert_eq!(doc.statuses()[&slot_id], "booked");
    assert_eq!(doc.version(), version_before + 1, "exactly one event");
    let events = entity::slot_event::Entity::find()
        .filter(entity::slot_event::Column::AvailabilityId.eq(slot_id.parse::<Uuid>().unwrap()))
        // The seed's own event opened the slot.
        .filter(entity::slot_event::Column::Version.gt(version_before))
        .count(&app.db)
        .await
        .unwrap();
    assert_eq!(events, 1);
}

/// A 45-minute service on a 30-minute grid (the demo's Haircut) takes two
/// slots whole: the list of next free times offered it, and the booking
/// refused it with a 409 (it wanted slots ending exactly at +45).
#[tokio::test]
async fn a_forty_five_minute_service_takes_two_thirty_minute_slots_whole() {
    let app = TestApp::spawn().await;
    let provider = app.provider(0).id;
    let haircut = service_with(&app.client, &app.base, provider, 45).await;
    let half_hour = service_with(&app.client, &app.base, provider, 30).await;
    let doc = availability(&app.client, &app.base, provider, "?days=7", None).await;
    let free = doc.free_slots();
    let pair = doc.back_to_back()[0];
    let (first, start) = free[pair].clone();
    let (second, second_start) = free[pair + 1].clone();
    let (status, booking) = book(&app.client, &app.base, provider, haircut, &start).await;
    assert_eq!(status, StatusCode::CREATED, "{booking}");
    let starts = chrono::DateTime::parse_from_rfc3339(&start).unwrap();
    let ends = chrono::DateTime::parse_from_rfc3339(booking["endTime"].as_str().unwrap()).unwrap();
    assert_eq!(ends - starts, chrono::TimeDelta::minutes(45), "the booking lasts the service");
    let statuses = availability(&app.client, &app.base, provider, "?days=7", None).await.statuses();
    assert_eq!((statuses[&first].as_str(), statuses[&second].as_str()), ("booked", "booked"));
    let (status, _) = book(&app.client, &app.base, provider, half_hour, &second_start).await;
    assert_eq!(status, StatusCode::CONFLICT, "10:30 to 10:45 is the haircut's");
}

#[tokio::test]
async fn a_sixty_minute_service_books_both_slots_or_neither() {
    let app = TestApp::spawn().await;
    let provider = app.provider(0).id;
    let short = service_with(&app.client, &app.base, provider, 30).await;
    let long = service_with(&app.client, &app.base, provider, 60).await;
    let doc = availability(&app.client, &app.base, provider, "?days=7", None).await;
    let free = doc.free_slots();
    let pairs = doc.back_to_back();
    // Take the second of two back-to-back slots.
    let (first_id, first_start) = free[pairs[0]].clone();
    let (_, second_start) = free[pairs[0] + 1].clone();
    assert_eq!(book(&app.client, &app.base, provider, short, &second_start).await.0, StatusCode::CREATED);
    let before = dump(&app.db).await;

    let (status, body) = book(&app.client, &app.base, provider, long, &first_start).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["type"], "urn:slotstream:problem:slot-unavailable");
    assert_eq!(dump(&app.db).await, before, "nothing changed");
    let doc = availability(&app.client, &app.base, provider, "?days=7", None).await;
    assert_eq!(doc.statuses()[&first_id], "available");

    // Two free back-to-back slots: both are booked together.
    let pair = *pairs.iter().find(|&&i| i > pairs[0] + 1).unwrap();
    let (a, a_start) = free[pair].clone();
    let (b, _) = free[pair + 1].clone();
    let (status, booking) = book(&app.client, &app.base, provider, long, &a_start).await;
    assert_eq!(status, StatusCode::CREATED, "{booking}");
    let doc = availability(&app.client, &app.base, provider, "?days=7", None).await;
    assert_eq!((doc.statuses()[&a].as_str(), doc.statuses()[&b].as_str()), ("booked", "booked"));
}

#[tokio::test]
async fn etag_law_holds_over_a_random_sequence_of_changes() {
    let app = TestApp::spawn().await;
    let provider = app.provider(0);
    let (pid, key) = (provider.id, provider.key.clone());
    let service = service_with(&app.client, &app.base, pid, 30).await;
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let mut bookings: Vec<(String, String)> = Vec::new();
    let mut seen: Vec<(String, String)> = Vec::new();
    let query = "?days=3";
    for _ in 0..40 {
        let doc = availability(&app.client, &app.base, pid, query, None).await;
        assert_eq!(doc.status, StatusCode::OK);
        let tag = doc.etag.clone().expect("etag");
        assert!(tag.starts_with('"'), "strong etag");
        seen.push((tag.clone(), doc.body.clone()));
        assert_eq!(availability(&app.client, &app.base, pid, query, Some(&tag)).await.status, StatusCode::NOT_MODIFIED);
        let free = doc.free_slots();
        match rng.random_range(0..4) {
            0 | 1 if !free.is_empty() => {
                let (_, start) = &free[rng.random_range(0..free.len())];
                let (status, body) = book(&app.client, &app.base, pid, service, start).await;
                assert_eq!(status, StatusCode::CREATED);
                bookings.push((body["id"].as_str().unwrap().to_owned(), body["token"].as_str().unwrap().to_owned()));
            }
            2 if !bookings.is_empty() => {
                let (id, token) = bookings.remove(rng.random_range(0..bookings.len()));
                assert_eq!(cancel(&app.client, &app.base, &id, Some(&token)).await, StatusCode::OK);
            }
            3 if !bookings.is_empty() && !free.is_empty() => {
                let (id, token) = &bookings[rng.random_range(0..bookings.len())];
                let (_, start) = &free[rng.random_range(0..free.len())];
                let response = app
                    .client
                    .post(app.url(&format!("/api/v1/bookings/{id}/reschedule")))
                    .bearer_auth(token)
                    .json(&json!({ "startTime": start }))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(response.status(), StatusCode::OK);
            }
            _ if !free.is_empty() => {
                let (slot, _) = &free[rng.random_range(0..free.len())];
                block(&app.client, &app.base, pid, &key, slot).await;
            }
            _ => {}
        }
        let stale = availability(&app.client, &app.base, pid, query, Some(&tag)).await;
        assert_eq!(stale.status, StatusCode::OK, "stale tag after a change → 200");
        // Repeat GETs of unchanged data give the same tag and body.
        let again = availability(&app.client, &app.base, pid, query, None).await;
        seen.push((again.etag.clone().unwrap(), again.body.clone()));
    }
    for (tag_a, body_a) in &seen {
        for (tag_b, body_b) in &seen {
            assert_eq!(tag_a == tag_b, body_a == body_b, "equal tags iff equal bodies");
        }
    }
    let distinct: HashSet<_> = seen.iter().map(|(t, _)| t).collect();
    assert!(distinct.len() > 20, "the sequence changed the data");
    // Lists, weak comparison and `*`.
    let current = availability(&app.client, &app.base, pid, query, None).await;
    let tag = current.etag.unwrap();
    for header in [format!("\"nope\", {tag}"), format!("W/{tag}"), "*".to_owned()] {
        assert_eq!(
            availability(&app.client, &app.base, pid, query, Some(&header)).await.status,
            StatusCode::NOT_MODIFIED,
            "{header}"
        );
    }
    let head = app.client.head(app.url(&format!("/api/v1/providers/{pid}/availability{query}"))).send().await.unwrap();
    assert_eq!(head.status(), StatusCode::OK);
    assert_eq!(head.headers()["etag"].to_str().unwrap(), tag);
    assert_eq!(head.headers()["cache-control"], "no-cache");
    // Last-Modified is left out only while the change's second is still running.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let head =
            app.client.head(app.url(&format!("/api/v1/providers/{pid}/availability{query}"))).send().await.unwrap();
        if head.headers().contains_key("last-modified") {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "Last-Modified never came");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn cancel_needs_the_bookings_own_token_or_its_providers_key() {
    let app = TestApp::spawn().await;
    let pid = app.provider(0).id;
    let service = service_with(&app.client, &app.base, pid, 30).await;
    let free = availability(&app.client, &app.base, pid, "", None).await.free_slots();
    let (slot, start) = free[0].clone();
    let (_, mine) = book(&app.client, &app.base, pid, service, &start).await;
    let (_, other) = book(&app.client, &app.base, pid, service, &free[1].1).await;
    let id = mine["id"].as_str().unwrap();
    let before = dump(&app.db).await;

    assert_eq!(cancel(&app.client, &app.base, id, None).await, StatusCode::UNAUTHORIZED);
    assert_eq!(
        cancel(&app.client, &app.base, id, Some("bk_wrong")).await,
        StatusCode::UNAUTHORIZED,
        "issued by nobody"
    );
    assert_eq!(cancel(&app.client, &app.base, id, Some(other["token"].as_str().unwrap())).await, StatusCode::FORBIDDEN);
    assert_eq!(
        cancel(&app.client, &app.base, id, Some(&app.provider(1).key)).await,
        StatusCode::FORBIDDEN,
        "another provider's key"
    );
    assert_eq!(dump(&app.db).await, before, "refusals change nothing");

    let token = mine["token"].as_str().unwrap();
    assert_eq!(cancel(&app.client, &app.base, id, Some(token)).await, StatusCode::OK);
    let doc = availability(&app.client, &app.base, pid, "", None).await;
    assert_eq!(doc.statuses()[&slot], "available");
    let last = entity::slot_event::Entity::find()
        .filter(entity::slot_event::Column::ProviderId.eq(pid))
        .filter(entity::slot_event::Column::Version.eq(doc.version()))
        .one(&app.db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(last.availability_id.to_string(), slot);
    assert_eq!(
        (last.previous_status, last.new_status),
        (Some(entity::availability_slot::Status::Booked), entity::availability_slot::Status::Available)
    );

    // Cancelling twice is harmless, and the provider's key may cancel too.
    let version = doc.version();
    assert_eq!(cancel(&app.client, &app.base, id, Some(token)).await, StatusCode::OK);
    assert_eq!(availability(&app.client, &app.base, pid, "", None).await.version(), version);
    assert_eq!(
        cancel(&app.client, &app.base, other["id"].as_str().unwrap(), Some(&app.provider(0).key)).await,
        StatusCode::OK
    );
}

#[tokio::test]
async fn the_same_idempotency_key_books_once_and_answers_the_same() {
    let app = TestApp::spawn().await;
    let pid = app.provider(1).id;
    let service = service_with(&app.client, &app.base, pid, 30).await;
    let start = availability(&app.client, &app.base, pid, "", None).await.free_slots()[3].1.clone();
    let send = |body: serde_json::Value| {
        app.client.post(app.url("/api/v1/bookings")).header("idempotency-key", "order-42").json(&body).send()
    };
    let first = send(booking_body(pid, service, &start)).await.unwrap();
    assert_eq!(first.status(), StatusCode::CREATED);
    let location = first.headers()["location"].to_str().unwrap().to_owned();
    let first: serde_json::Value = first.json().await.unwrap();
    let second = send(booking_body(pid, service, &start)).await.unwrap();
    assert_eq!(second.status(), StatusCode::CREATED);
    assert_eq!(second.headers()["location"].to_str().unwrap(), location);
    let second: serde_json::Value = second.json().await.unwrap();
    assert_eq!(first, second, "same response");
    assert_eq!(entity::booking::Entity::find().count(&app.db).await.unwrap(), 1);

    let mut other = booking_body(pid, service, &start);
    other["customer"]["name"] = json!("Someone Else");
    let reused = send(other).await.unwrap();
    assert_eq!(reused.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(entity::booking::Entity::find().count(&app.db).await.unwrap(), 1);

    // The Location answers for the booking's holder.
    let read = app.client.get(app.url(&location)).bearer_auth(first["token"].as_str().unwrap()).send().await.unwrap();
    assert_eq!(read.status(), StatusCode::OK);
    let read: serde_json::Value = read.json().await.unwrap();
    assert_eq!(read["id"], first["id"]);
    assert!(read.get("token").is_none(), "the token is shown once");
}

#[tokio::test]
async fn bad_input_gets_a_precise_4xx_problem_and_changes_nothing() {
    let app = TestApp::spawn().await;
    let pid = app.provider(0).id;
    let service = service_with(&app.client, &app.base, pid, 30).await;
    let start = availability(&app.client, &app.base, pid, "", None).await.free_slots()[0].1.clone();
    let before = dump(&app.db).await;
    let unknown = Uuid::new_v4();
    let gets = [
        ("/api/v1/providers/not-a-uuid/availability".to_owned(), 400),
        (format!("/api/v1/providers/{pid}/availability?startDate=2026-13-01"), 400),
        (format!("/api/v1/providers/{pid}/availability?startDate=yesterday"), 400),
        (format!("/api/v1/providers/{pid}/availability?days=0"), 422),
        (format!("/api/v1/providers/{pid}/availability?days=1000"), 422),
        (format!("/api/v1/providers/{pid}/availability?days=-1"), 400),
        (format!("/api/v1/providers/{pid}/availability?startDate=1900-01-01"), 422),
        (format!("/api/v1/providers/{pid}/availability?colour=red"), 400),
        (format!("/api/v1/providers/{unknown}/availability"), 404),
        (format!("/api/v1/providers/{unknown}/availability/stream"), 404),
        (format!("/api/v1/providers/{pid}/availability/stream?days=99"), 422),
        ("/api/v1/nothing-here".to_owned(), 404),
    ];
    for (path, expected) in gets {
        let response = app.client.get(app.url(&path)).send().await.unwrap();
        assert_problem(response, expected, &path).await;
    }
    let mut missing = booking_body(pid, service, &start);
    missing.as_object_mut().unwrap().remove("serviceId");
    let posts: Vec<(serde_json::Value, u16, &str)> = vec![
        (missing, 422, "missing serviceId"),
        (booking_body(unknown, service, &start), 404, "unknown provider"),
        (booking_body(pid, unknown, &start), 404, "unknown service"),
        (booking_body(pid, service, "2026-11-30 10:00"), 422, "not RFC 3339"),
        (
            json!({"providerId": "x", "serviceId": service, "startTime": start, "customer": {"name": "A", "email": "a@b.co"}}),
            422,
            "bad uuid",
        ),
        (
            {
                let mut b = booking_body(pid, service, &start);
                b["customer"]["email"] = json!("nope");
                b
            },
            422,
            "bad email",
        ),
        (
            {
                let mut b = booking_body(pid, service, &start);
                b["customer"]["name"] = json!("");
                b
            },
            422,
            "empty name",
        ),
        (
            {
                let mut b = booking_body(pid, service, &start);
                b["extra"] = json!(1);
                b
            },
            422,
            "unknown field",
        ),
    ];
    for (body, expected, what) in posts {
        let response = app.client.post(app.url("/api/v1/bookings")).json(&body).send().await.unwrap();
        assert_problem(response, expected, what).await;
    }
    let raw = [
        ("application/json", "{not json".to_owned(), 400, "syntax"),
        ("text/plain", "{}".to_owned(), 415, "content type"),
        ("application/json", "x".repeat(100_000), 413, "huge body"),
    ];
    for (content_type, body, expected, what) in raw {
        let response = app
            .client
            .post(app.url("/api/v1/bookings"))
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .unwrap();
        assert_problem(response, expected, what).await;
    }
    let response =
        app.client.post(app.url("/api/v1/bookings/not-a-uuid/cancel")).bearer_auth("x").send().await.unwrap();
    assert_problem(response, 400, "bad booking id").await;
    let response =
        app.client.post(app.url(&format!("/api/v1/bookings/{unknown}/cancel"))).bearer_auth("x").send().await.unwrap();
    assert_problem(response, 404, "unknown booking").await;
    let response = app.client.delete(app.url("/api/v1/bookings")).send().await.unwrap();
    assert_problem(response, 405, "method").await;
    assert_eq!(dump(&app.db).await, before, "bad input changed nothing");
}

async fn assert_problem(response: reqwest::Response, expected: u16, what: &str) {
    let status = response.status().as_u16();
    let content_type = response.headers().get("content-type").map(|v| v.to_str().unwrap().to_owned());
    let body: serde_json::Value = response.json().await.unwrap_or_default();
    assert_eq!(status, expected, "{what}: {body}");
    assert_eq!(content_type.as_deref(), Some("application/problem+json"), "{what}");
    assert_eq!(body["status"], expected, "{what}");
    assert!(body["detail"].as_str().is_some_and(|d| !d.is_empty()), "{what}: detail");
}

#[tokio::test]
async fn bookings_and_events_survive_a_restart() {
    let app = TestApp::spawn().await;
    let pid = app.provider(2).id;
    let service = service_with(&app.client, &app.base, pid, 30).await;
    let start = availability(&app.client, &app.base, pid, "", None).await.free_slots()[0].1.clone();
    let (status, booking) = book(&app.client, &app.base, pid, service, &start).await;
    assert_eq!(status, StatusCode::CREATED);
    let before = availability(&app.client, &app.base, pid, "", None).await;

    let (url, db, providers) = app.stop().await;
    let app = TestApp::start(url, db, providers, &[]).await;
    let after = availability(&app.client, &app.base, pid, "", None).await;
    assert_eq!(after.body, before.body);
    assert_eq!(after.etag, before.etag);
    assert_eq!(read_booking(&app.client, &app.base, &booking).await, StatusCode::OK);
    // From just before the booking (the seed's events, which opened the
    // slots, come before it).
    let booked_at = before.version();
    let resume = format!("?lastEventId={}", booked_at - 1);
    let mut stream = SseClient::connect(&app.client, &stream_url(&app.base, pid, &resume), None).await;
    let replayed = stream.take(1, Duration::from_secs(5)).await;
    assert_eq!(replayed[0].version(), booked_at);
    assert_eq!(replayed[0].json()["newStatus"], "booked");
}

#[tokio::test]
async fn the_provider_list_shows_what_a_customer_reads_before_booking() {
    let app = TestApp::spawn().await;
    let providers: serde_json::Value =
        app.client.get(app.url("/api/v1/providers")).send().await.unwrap().json().await.unwrap();
    let kasia = providers.as_array().unwrap().iter().find(|p| p["id"] == app.provider(0).id.to_string()).unwrap();
    assert!(kasia["address"].as_str().is_some_and(|a| a.contains("Warszawa")), "{kasia}");
    assert!(kasia["description"].as_str().is_some_and(|d| !d.is_empty()), "{kasia}");
    assert_eq!(kasia["currency"], "PLN");
    assert!(kasia["services"].as_array().unwrap().iter().all(|s| s["currency"] == "PLN"), "{kasia}");
}

#[tokio::test]
async fn a_booking_downloads_as_an_ics_event_for_its_token_holder_only() {
    use icalendar::{CalendarComponent, CalendarDateTime, Component, DatePerhapsTime, EventLike};

    let app = TestApp::spawn().await;
    let pid = app.provider(0).id;
    let service = service_with(&app.client, &app.base, pid, 60).await;
    // An hour needs two free slots back to back: the first free slot may be its day's last.
    let document = availability(&app.client, &app.base, pid, "?days=7", None).await;
    let free = document.free_slots();
    let start = &free[document.back_to_back()[0]].1;
    let (status, booking) = book(&app.client, &app.base, pid, service, start).await;
    assert_eq!(status, StatusCode::CREATED, "{booking}");
    let id = booking["id"].as_str().unwrap();
    let url = app.url(&format!("/api/v1/bookings/{id}/calendar.ics"));

    let anonymous = app.client.get(&url).send().await.unwrap();
    assert_problem(anonymous, 401, "no token").await;
    let wrong = app.client.get(&url).bearer_auth("bk_wrong").send().await.unwrap();
    assert_problem(wrong, 401, "a token nobody issued").await;
    let half_hour = service_with(&app.client, &app.base, pid, 30).await;
    let (_, other) = book(&app.client, &app.base, pid, half_hour, &free.last().unwrap().1).await;
    let another = app.client.get(&url).bearer_auth(other["token"].as_str().unwrap()).send().await.unwrap();
    assert_problem(another, 403, "another booking's token").await;

    let response = app.client.get(&url).bearer_auth(booking["token"].as_str().unwrap()).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "text/calendar; charset=utf-8");
    assert!(response.headers()["cache-control"].to_str().unwrap().contains("no-store"));
    let text = response.text().await.unwrap();
    let calendar: icalendar::Calendar = text.parse().expect("a calendar icalendar can parse");
    let events: Vec<_> = calendar
        .components
        .iter()
        .filter_map(|c| match c {
            CalendarComponent::Event(event) => Some(event),
            _ => None,
        })
        .collect();
    assert_eq!(events.len(), 1, "{text}");
    let event = events[0];
    let expected_start = chrono::DateTime::parse_from_rfc3339(start).unwrap().with_timezone(&chrono::Utc);
    assert_eq!(event.get_start(), Some(DatePerhapsTime::DateTime(CalendarDateTime::Utc(expected_start))), "{text}");
    assert_eq!(
        event.get_end(),
        Some(DatePerhapsTime::DateTime(CalendarDateTime::Utc(expected_start + chrono::TimeDelta::minutes(60)))),
        "{text}"
    );
    let summary = event.get_summary().unwrap();
    assert!(summary.contains("Haircut") && summary.contains("Kasia"), "{summary}");
    assert!(event.get_location().is_some_and(|l| l.contains("Warszawa")), "{text}");
    assert_eq!(event.get_uid(), Some(format!("{id}@slotstream").as_str()));
}

#[tokio::test]
async fn the_page_files_are_served_from_one_place_with_types_and_revalidation() {
    let app = TestApp::spawn().await;
    for (path, content_type) in [
        ("/", "text/html"),
        ("/slotstream.js", "text/javascript"),
        ("/app.js", "text/javascript"),
        ("/style.css", "text/css"),
        ("/favicon.ico", "image/"),
    ] {
        let response = app.client.get(app.url(path)).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        let actual = response.headers()["content-type"].to_str().unwrap().to_owned();
        assert!(actual.starts_with(content_type), "{path}: {actual}");
        assert_eq!(response.headers()["cache-control"], "no-cache", "{path}");
        let tag = response.headers()["etag"].clone();
        let again = app.client.get(app.url(path)).header("if-none-match", tag).send().await.unwrap();
        assert_eq!(again.status(), StatusCode::NOT_MODIFIED, "{path}");
    }
    // Neither a route nor a file: the API's 404, and no way out of the folder.
    for path in ["/nope.js", "/api/v1/nope", "/..%2fCargo.toml", "/static/../Cargo.toml"] {
        let response = app.client.get(app.url(path)).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{path}");
        assert_eq!(response.headers()["content-type"], "application/problem+json", "{path}");
    }
}

/// Booked and available slots of a provider's next 7 days, as the public document shows them.
async fn booked_and_free(app: &TestApp, provider: Uuid) -> (usize, usize) {
    let doc = availability(&app.client, &app.base, provider, "?days=7", None).await.json();
    let statuses: Vec<String> = doc["days"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|d| d["slots"].as_array().unwrap().iter().map(|s| s["status"].as_str().unwrap().to_owned()))
        .collect();
    (statuses.iter().filter(|s| *s == "booked").count(), statuses.iter().filter(|s| *s == "available").count())
}

#[tokio::test]
async fn demo_weeks_are_partly_booked_and_demo_traffic_books_and_cancels_through_the_app() {
    let app = TestApp::spawn_with(&["--demo-traffic", "--demo-traffic-millis", "100"]).await;
    // The step `serve` runs after seeding an empty database, here on the test's seed.
    let demo = slotstream::server::build_app(app.db.clone(), &serve_args(&app.database_url, &[])).await.unwrap();
    let booked = slotstream::cli::demo::book_demo_weeks(&demo).await.unwrap();
    assert!(booked > 0);
    for provider in &app.providers {
        let (booked, free) = booked_and_free(&app, provider.id).await;
        let share = booked as f64 / (booked + free) as f64;
        assert!((0.1..0.6).contains(&share), "{}: {booked} booked, {free} free", provider.name);
    }

    // Demo traffic: bookings and cancellations, each a real event in the log.
    let cancelled = || async {
        entity::slot_event::Entity::find()
            .filter(entity::slot_event::Column::PreviousStatus.eq(entity::slot_event::Status::Booked))
            .filter(entity::slot_event::Column::NewStatus.eq(entity::slot_event::Status::Available))
            .count(&app.db)
            .await
            .unwrap()
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while cancelled().await == 0 {
        assert!(Instant::now() < deadline, "no demo-traffic cancellation within 30 s");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
