//! `Idempotency-Key` on booking creation, as the IETF httpapi draft describes:
//! keys are scoped by client (another address replays nothing and learns no
//! token), concurrent duplicates never get a 5xx (at one provider or across
//! two), a replay shows the booking's current state, and no booking token
//! is stored in clear. SQLite, and PostgreSQL when
//! `SLOTSTREAM_TEST_DATABASE_URL` is set.

mod common;

use common::*;
use futures_util::future::join_all;
use reqwest::StatusCode;
use sea_orm::{EntityTrait, PaginatorTrait};
use serde_json::Value;
use uuid::Uuid;

/// One answer to a booking POST.
#[derive(Debug)]
struct Answer {
    status: StatusCode,
    replayed: bool,
    content_type: String,
    body: Value,
}

async fn post_booking(client: &reqwest::Client, app: &TestApp, key: &str, body: &Value) -> Answer {
    let response = client
        .post(app.url("/api/v1/bookings"))
        .header("idempotency-key", key)
        .json(body)
        .send()
        .await
        .expect("booking request");
    let status = response.status();
    let replayed = response.headers().get("idempotent-replayed").is_some_and(|v| v == "true");
    let content_type =
        response.headers().get("content-type").map(|v| v.to_str().unwrap_or_default().to_owned()).unwrap_or_default();
    let body = response.json().await.unwrap_or(Value::Null);
    Answer { status, replayed, content_type, body }
}

/// A free slot of `provider` for a 30-minute service: (service, startsAt).
async fn free_slot(app: &TestApp, provider: Uuid, nth: usize) -> (Uuid, String) {
    let service = service_with(&app.client, &app.base, provider, 30).await;
    let start = availability(&app.client, &app.base, provider, "", None).await.free_slots()[nth].1.clone();
    (service, start)
}

async fn bookings(app: &TestApp) -> u64 {
    entity::booking::Entity::find().count(&app.db).await.expect("count bookings")
}

/// Every answer is 201 (first or replayed) or one of the `allowed` 4xx as
/// problem+json; never a 5xx. Returns the 201s.
fn only_expected<'a>(answers: &'a [Answer], allowed: &[StatusCode]) -> Vec<&'a Answer> {
    for answer in answers {
        assert!(!answer.status.is_server_error(), "no 5xx: {answer:?}");
        if answer.status != StatusCode::CREATED {
            assert!(allowed.contains(&answer.status), "unexpected answer: {answer:?}");
            assert_eq!(answer.content_type, "application/problem+json", "{answer:?}");
            assert!(answer.body.get("token").is_none(), "{answer:?}");
        }
    }
    answers.iter().filter(|a| a.status == StatusCode::CREATED).collect()
}

/// The 409 a concurrent duplicate may get must say "in progress", not "slot taken".
fn conflicts_are_in_progress(answers: &[Answer]) {
    for answer in answers.iter().filter(|a| a.status == StatusCode::CONFLICT) {
        assert_eq!(answer.body["type"], "urn:slotstream:problem:idempotency-key-in-progress", "{answer:?}");
    }
}

#[tokio::test]
async fn one_key_at_two_providers_at_once_never_500s_and_books_once() {
    let app = TestApp::spawn().await;
    let (a, b) = (app.provider(0).id, app.provider(1).id);
    let (service_a, start_a) = free_slot(&app, a, 2).await;
    let (service_b, start_b) = free_slot(&app, b, 2).await;
    let body_a = booking_body(a, service_a, &start_a);
    let body_b = booking_body(b, service_b, &start_b);

    let requests = (0..30).map(|i| {
        let body = if i % 2 == 0 { &body_a } else { &body_b };
        post_booking(&app.client, &app, "shared-key-7", body)
    });
    let answers = join_all(requests).await;

    let created = only_expected(&answers, &[StatusCode::CONFLICT, StatusCode::UNPROCESSABLE_ENTITY]);
    conflicts_are_in_progress(&answers);
    assert!(!created.is_empty(), "the first request books: {answers:?}");
    assert_eq!(created.iter().filter(|a| !a.replayed).count(), 1, "one first answer: {answers:?}");
    let id = &created[0].body["id"];
    assert!(created.iter().all(|a| &a.body["id"] == id), "every 201 is the same booking");
    for answer in answers.iter().filter(|a| a.status == StatusCode::UNPROCESSABLE_ENTITY) {
        assert_eq!(answer.body["type"], "urn:slotstream:problem:idempotency-key-reused", "{answer:?}");
    }
    assert_eq!(bookings(&app).await, 1, "one booking for one key of one client");
}

#[tokio::test]
async fn a_replay_from_another_address_gets_no_token_and_books_nothing_twice() {
    let app = TestApp::spawn().await;
    let pid = app.provider(0).id;
    let (service, start) = free_slot(&app, pid, 1).await;
    let body = booking_body(pid, service, &start);

    let first = post_booking(&app.client, &app, "order-1001", &body).await;
    assert_eq!(first.status, StatusCode::CREATED, "{first:?}");
    let token = first.body["token"].as_str().expect("token in the first answer").to_owned();

    // The same key and body from someone else: not a replay, but a new
    // request for a slot that is taken.
    let stranger = client_from("127.0.0.2");
    let other = post_booking(&stranger, &app, "order-1001", &body).await;
    assert_eq!(other.status, StatusCode::CONFLICT, "{other:?}");
    assert!(!other.replayed, "{other:?}");
    assert_eq!(other.content_type, "application/problem+json");
    assert_eq!(other.body["type"], "urn:slotstream:problem:slot-unavailable", "{other:?}");
    assert!(!other.body.to_string().contains(&token), "no token for another client: {other:?}");
    assert_eq!(bookings(&app).await, 1);

    // The genuine client still gets its replay.
    let again = post_booking(&app.client, &app, "order-1001", &body).await;
    assert_eq!((again.status, again.replayed), (StatusCode::CREATED, true), "{again:?}");
    assert_eq!(again.body["token"], token.as_str());
    assert_eq!(bookings(&app).await, 1);
}

#[tokio::test]
async fn a_replay_returns_the_token_and_the_bookings_current_status() {
    let app = TestApp::spawn().await;
    let pid = app.provider(1).id;
    let (service, start) = free_slot(&app, pid, 4).await;
    let body = booking_body(pid, service, &start);

    let first = post_booking(&app.client, &app, "checkout-abc", &body).await;
    assert_eq!((first.status, first.replayed), (StatusCode::CREATED, false), "{first:?}");
    assert_eq!(first.body["status"], "confirmed");
    let token = first.body["token"].as_str().expect("token").to_owned();
    let id = first.body["id"].as_str().expect("id").to_owned();

    // The first answer was lost: the retry must still hand over the token.
    let replay = post_booking(&app.client, &app, "checkout-abc", &body).await;
    assert_eq!((replay.status, replay.replayed), (StatusCode::CREATED, true), "{replay:?}");
    assert_eq!(replay.body, first.body, "same answer while nothing changed");

    assert_eq!(cancel(&app.client, &app.base, &id, Some(&token)).await, StatusCode::OK);
    let after = post_booking(&app.client, &app, "checkout-abc", &body).await;
    assert_eq!((after.status, after.replayed), (StatusCode::CREATED, true), "{after:?}");
    assert_eq!(after.body["id"], id.as_str());
    assert_eq!(after.body["status"], "cancelled", "a replay shows the current state: {after:?}");
    assert_eq!(bookings(&app).await, 1);
}

#[tokio::test]
async fn no_booking_token_or_idempotency_key_is_stored_in_clear() {
    let app = TestApp::spawn().await;
    let pid = app.provider(0).id;
    let (service, start) = free_slot(&app, pid, 3).await;
    let key = "client-key-5f1c9e";
    let first = post_booking(&app.client, &app, key, &booking_body(pid, service, &start)).await;
    assert_eq!(first.status, StatusCode::CREATED, "{first:?}");
    let token = first.body["token"].as_str().expect("token").to_owned();

    let rows = dump(&app.db).await;
    assert!(!rows.contains(&token), "the token is in a table:\n{rows}");
    assert!(!rows.contains(key), "the Idempotency-Key is in a table:\n{rows}");
    // On SQLite, also the raw bytes of the database and its write-ahead log.
    if let Some(path) = app.database_url.strip_prefix("sqlite://") {
        let path = path.split('?').next().unwrap_or(path);
        for file in [path.to_owned(), format!("{path}-wal")] {
            let Ok(bytes) = std::fs::read(&file) else { continue };
            let found = bytes.windows(token.len()).any(|w| w == token.as_bytes());
            assert!(!found, "the token is in {file}");
        }
    }
}

#[tokio::test]
async fn twenty_identical_retries_at_once_book_once() {
    let app = TestApp::spawn().await;
    let pid = app.provider(1).id;
    let (service, start) = free_slot(&app, pid, 5).await;
    let body = booking_body(pid, service, &start);

    let answers = join_all((0..20).map(|_| post_booking(&app.client, &app, "retry-storm", &body))).await;

    let created = only_expected(&answers, &[StatusCode::CONFLICT]);
    conflicts_are_in_progress(&answers);
    assert_eq!(created.iter().filter(|a| !a.replayed).count(), 1, "one first answer: {answers:?}");
    let first = &created[0].body;
    assert!(first["token"].is_string(), "{first}");
    for answer in &created {
        assert_eq!(answer.body["id"], first["id"]);
        assert_eq!(answer.body["token"], first["token"], "every 201 carries the token");
    }
    assert_eq!(bookings(&app).await, 1);
}

#[tokio::test]
async fn thirty_keyed_bookings_of_one_slot_give_one_201_and_409s_never_500() {
    let app = TestApp::spawn().await;
    let pid = app.provider(0).id;
    let (service, start) = free_slot(&app, pid, 6).await;
    let body = booking_body(pid, service, &start);

    // Each its own key: the losers' failed attempts must leave nothing
    // behind that trips the next writer.
    let keys: Vec<String> = (0..30).map(|i| format!("distinct-{i}")).collect();
    let answers = join_all(keys.iter().map(|key| post_booking(&app.client, &app, key, &body))).await;

    let created = only_expected(&answers, &[StatusCode::CONFLICT]);
    assert_eq!(created.len(), 1, "one booking: {answers:?}");
    for answer in answers.iter().filter(|a| a.status == StatusCode::CONFLICT) {
        assert_eq!(answer.body["type"], "urn:slotstream:problem:slot-unavailable", "{answer:?}");
    }
    assert_eq!(bookings(&app).await, 1);
}

#[tokio::test]
async fn a_verified_provider_key_is_one_client_from_any_address() {
    let app = TestApp::spawn().await;
    let pid = app.provider(0).id;
    let key = app.provider(0).key.clone();
    let (service, start) = free_slot(&app, pid, 7).await;
    let body = booking_body(pid, service, &start);
    // A key becomes its own client once it has been verified (here by
    // reading a booking with it).
    let (status, other) = book(&app.client, &app.base, pid, service, &free_slot(&app, pid, 8).await.1).await;
    assert_eq!(status, StatusCode::CREATED);
    let other = app.url(&format!("/api/v1/bookings/{}", other["id"].as_str().unwrap()));
    let read = app.client.get(other).bearer_auth(&key).send().await.unwrap();
    assert_eq!(read.status(), StatusCode::OK);

    let send = |client: reqwest::Client| {
        let request = client
            .post(app.url("/api/v1/bookings"))
            .header("idempotency-key", "backend-77")
            .bearer_auth(&key)
            .json(&body);
        async move { request.send().await.expect("booking request") }
    };
    let first = send(app.client.clone()).await;
    assert_eq!(first.status(), StatusCode::CREATED);
    let first: Value = first.json().await.unwrap();
    // The marketplace's back end retries from another of its machines.
    let retry = send(client_from("127.0.0.3")).await;
    assert_eq!(retry.status(), StatusCode::CREATED);
    assert_eq!(retry.headers().get("idempotent-replayed").map(|v| v.as_bytes()), Some(&b"true"[..]));
    let retry: Value = retry.json().await.unwrap();
    assert_eq!(retry["token"], first["token"]);
    assert_eq!(bookings(&app).await, 2);
}
