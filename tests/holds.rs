//! Slot holds (DESIGN 4b, issue 11): a held slot is nobody else's to book or
//! block, the holder books it through the hold, release and expiry give the
//! slot back with exactly one event each (after a restart, and with two
//! instances on PostgreSQL), holds take all of a service's slots or none,
//! and one client holds at most `--max-holds-per-client` at once.

mod common;

use std::time::Duration;

use common::*;
use futures_util::future::join_all;
use reqwest::StatusCode;
use sea_orm::{ActiveModelTrait, ActiveValue::Set, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter};
use serde_json::{Value, json};
use uuid::Uuid;

/// A generous deadline for anything a test waits for (a wait, not a speed claim).
const WAIT: Duration = Duration::from_secs(60);

/// `POST /api/v1/holds`: the status and the JSON body (`Null` if none).
async fn hold(
    client: &reqwest::Client,
    base: &str,
    provider: Uuid,
    service: Uuid,
    starts_at: &str,
) -> (StatusCode, Value) {
    let body = json!({ "providerId": provider, "serviceId": service, "startTime": starts_at });
    post_json(client, &format!("{base}/api/v1/holds"), &body).await
}

/// `POST /api/v1/holds/{id}/renew` with the hold's token.
async fn renew(client: &reqwest::Client, base: &str, held: &Value) -> (StatusCode, Value) {
    let response = client
        .post(format!("{base}/api/v1/holds/{}/renew", held["id"].as_str().unwrap()))
        .bearer_auth(held["token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// `DELETE /api/v1/holds/{id}` with the hold's token.
async fn release(client: &reqwest::Client, base: &str, held: &Value) -> StatusCode {
    client
        .delete(format!("{base}/api/v1/holds/{}", held["id"].as_str().unwrap()))
        .bearer_auth(held["token"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .status()
}

/// Book through `held` (its id in the body), with `token` as the bearer credential when given.
async fn book_held(
    client: &reqwest::Client,
    base: &str,
    held: &Value,
    starts_at: &str,
    token: Option<&str>,
) -> (StatusCode, Value) {
    let provider: Uuid = held["providerId"].as_str().unwrap().parse().unwrap();
    let service: Uuid = held["serviceId"].as_str().unwrap().parse().unwrap();
    let mut body = booking_body(provider, service, starts_at);
    body["holdId"] = held["id"].clone();
    let mut request = client.post(format!("{base}/api/v1/bookings")).json(&body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// The status of every slot of `provider` the GET shows, by id.
async fn status_of(app: &TestApp, provider: Uuid, availability_id: &str) -> String {
    let doc = availability(&app.client, &app.base, provider, "?days=14", None).await;
    doc.statuses()[availability_id].clone()
}

/// The next `slot-changed` event's (previous, new) status and its id.
async fn next_change(stream: &mut SseClient) -> (String, String, String) {
    loop {
        let event = stream.next(WAIT).await.expect("a slot-changed event in time");
        if event.event == "slot-changed" {
            let data = event.json();
            assert!(!event.data.contains("hold"), "public events carry no hold: {}", event.data);
            let status = |name: &str| data[name].as_str().unwrap_or("none").to_owned();
            return (status("previousStatus"), status("newStatus"), event.id.clone().expect("an id"));
        }
    }
}

#[tokio::test]
async fn a_held_slot_is_the_holders_alone_and_the_holder_books_it_through_the_hold() {
    let app = TestApp::spawn().await;
    let provider = app.provider(0).clone();
    let service = service_with(&app.client, &app.base, provider.id, 30).await;
    let before = availability(&app.client, &app.base, provider.id, "?days=14", None).await;
    let (slot, starts_at) = before.free_slots()[0].clone();
    let mut stream =
        SseClient::connect(&app.client, &stream_url(&app.base, provider.id, ""), Some(before.version())).await;

    let (status, held) = hold(&app.client, &app.base, provider.id, service, &starts_at).await;
    assert_eq!(status, StatusCode::CREATED, "{held}");
    assert!(held["token"].as_str().unwrap().starts_with("hd_"));
    assert!(held["expiresAt"].is_string() && held["endTime"].is_string());
    let document = availability(&app.client, &app.base, provider.id, "?days=14", None).await;
    assert_eq!(document.statuses()[&slot], "held");
    let (id, token) = (held["id"].as_str().unwrap(), held["token"].as_str().unwrap());
    assert!(!document.body.contains(id) && !document.body.contains(token), "the GET shows no hold id or token");

    // Nobody else books it, not even with the hold's id and no token, and
    // the provider cannot block it.
    let other = client_from("127.0.0.2");
    let (status, _) = book(&other, &app.base, provider.id, service, &starts_at).await;
    assert_eq!(status, StatusCode::CONFLICT);
    let (status, _) = book_held(&other, &app.base, &held, &starts_at, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = book_held(&other, &app.base, &held, &starts_at, Some(&provider.key)).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let blocked = app
        .client
        .post(app.url(&format!("/api/v1/providers/{}/slots/{slot}/block", provider.id)))
        .bearer_auth(&provider.key)
        .send()
        .await
        .unwrap();
    assert_eq!(blocked.status(), StatusCode::CONFLICT);
    // The hold's token with another start is refused as invalid.
    let other_start = &before.free_slots()[1].1;
    let (status, _) = book_held(&app.client, &app.base, &held, other_start, Some(token)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);

    let (status, booking) = book_held(&app.client, &app.base, &held, &starts_at, Some(token)).await;
    assert_eq!(status, StatusCode::CREATED, "{booking}");
    assert_eq!(read_booking(&app.client, &app.base, &booking).await, StatusCode::OK);
    assert_eq!(status_of(&app, provider.id, &slot).await, "booked");
    // The hold has ended: it can neither be renewed nor booked again, and releasing it frees nothing.
    assert_eq!(renew(&app.client, &app.base, &held).await.0, StatusCode::CONFLICT);
    assert_eq!(release(&app.client, &app.base, &held).await, StatusCode::NO_CONTENT);
    assert_eq!(status_of(&app, provider.id, &slot).await, "booked");

    let (p1, n1, id1) = next_change(&mut stream).await;
    let (p2, n2, id2) = next_change(&mut stream).await;
    assert_eq!([p1.as_str(), n1.as_str(), p2.as_str(), n2.as_str()], ["available", "held", "held", "booked"]);
    assert_ne!(id1, id2, "each event has its own id");
    assert_eq!(logged_transitions(&app.db, &slot).await, ["available->held", "held->booked"]);
}

#[tokio::test]
async fn release_gives_the_slot_back_and_renewal_stops_at_the_maximum_lifetime() {
    let app = TestApp::spawn_with(&["--hold-ttl-secs", "60", "--hold-max-secs", "61"]).await;
    let provider = app.provider(0).id;
    let service = service_with(&app.client, &app.base, provider, 30).await;
    let free = availability(&app.client, &app.base, provider, "?days=14", None).await.free_slots();
    let (slot, starts_at) = free[0].clone();

    let (status, held) = hold(&app.client, &app.base, provider, service, &starts_at).await;
    assert_eq!(status, StatusCode::CREATED);
    let created = chrono::DateTime::parse_from_rfc3339(held["expiresAt"].as_str().unwrap()).unwrap()
        - chrono::TimeDelta::seconds(60);
    let ceiling = created + chrono::TimeDelta::seconds(61);
    // Renew until refused: each renewal is later and never past the ceiling.
    let mut last = chrono::DateTime::parse_from_rfc3339(held["expiresAt"].as_str().unwrap()).unwrap();
    let deadline = tokio::time::Instant::now() + WAIT;
    let mut renewed = 0;
    loop {
        let (status, body) = renew(&app.client, &app.base, &held).await;
        if status == StatusCode::CONFLICT {
            break;
        }
        assert_eq!(status, StatusCode::OK, "{body}");
        assert!(body.get("token").is_none(), "a renewal does not show the token again");
        let expires = chrono::DateTime::parse_from_rfc3339(body["expiresAt"].as_str().unwrap()).unwrap();
        assert!(expires > last && expires <= ceiling + chrono::TimeDelta::milliseconds(1), "{expires} vs {ceiling}");
        last = expires;
        renewed += 1;
        assert!(tokio::time::Instant::now() < deadline, "renewal was never refused");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(renewed >= 1, "a renewal within the maximum lifetime succeeds");
    assert_eq!(status_of(&app, provider, &slot).await, "held", "a refused renewal keeps the hold");

    assert_eq!(release(&app.client, &app.base, &held).await, StatusCode::NO_CONTENT);
    assert_eq!(status_of(&app, provider, &slot).await, "available");
    assert_eq!(release(&app.client, &app.base, &held).await, StatusCode::NO_CONTENT, "twice is harmless");
    assert_eq!(renew(&app.client, &app.base, &held).await.0, StatusCode::CONFLICT);
    assert_eq!(logged_transitions(&app.db, &slot).await, ["available->held", "held->available"]);
    // Someone else's token cannot release a hold.
    let (_, second) = hold(&app.client, &app.base, provider, service, &starts_at).await;
    let forged = json!({ "id": second["id"], "token": held["token"] });
    assert_eq!(release(&app.client, &app.base, &forged).await, StatusCode::FORBIDDEN);
    assert_eq!(status_of(&app, provider, &slot).await, "held");
}

#[tokio::test]
async fn an_expired_hold_gives_the_slot_back_once_and_it_is_bookable_again() {
    let app = TestApp::spawn_with(&["--hold-ttl-secs", "1"]).await;
    let provider = app.provider(1).id;
    let service = service_with(&app.client, &app.base, provider, 30).await;
    let before = availability(&app.client, &app.base, provider, "?days=14", None).await;
    let (slot, starts_at) = before.free_slots()[0].clone();
    let mut stream =
        SseClient::connect(&app.client, &stream_url(&app.base, provider, ""), Some(before.version())).await;

    let (status, held) = hold(&app.client, &app.base, provider, service, &starts_at).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(next_change(&mut stream).await.1, "held");
    let (previous, new, _) = next_change(&mut stream).await;
    assert_eq!((previous.as_str(), new.as_str()), ("held", "available"));
    // The expired hold books nothing; anyone may book the slot now.
    let (status, _) = book_held(&app.client, &app.base, &held, &starts_at, held["token"].as_str()).await;
    assert_eq!(status, StatusCode::CONFLICT);
    let (status, _) = book(&client_from("127.0.0.2"), &app.base, provider, service, &starts_at).await;
    assert_eq!(status, StatusCode::CREATED);
    let (previous, new, _) = next_change(&mut stream).await;
    assert_eq!((previous.as_str(), new.as_str()), ("available", "booked"), "no second release in between");
    assert_eq!(logged_transitions(&app.db, &slot).await, ["available->held", "held->available", "available->booked"]);
    let row = entity::slot_hold::Entity::find_by_id(held["id"].as_str().unwrap().parse::<Uuid>().unwrap())
        .one(&app.db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.status, entity::slot_hold::Status::Expired);
}

#[tokio::test]
async fn a_hold_that_expired_while_the_server_was_down_is_released_at_start_up() {
    let app = TestApp::spawn().await;
    let provider = app.provider(0).id;
    let service = service_with(&app.client, &app.base, provider, 30).await;
    let (slot, starts_at) =
        availability(&app.client, &app.base, provider, "?days=14", None).await.free_slots()[0].clone();
    let (status, held) = hold(&app.client, &app.base, provider, service, &starts_at).await;
    assert_eq!(status, StatusCode::CREATED);
    let (url, db, providers) = app.stop().await;

    // Its time passes while the server is down.
    let id: Uuid = held["id"].as_str().unwrap().parse().unwrap();
    let row = entity::slot_hold::Entity::find_by_id(id).one(&db).await.unwrap().unwrap();
    let mut expired: entity::slot_hold::ActiveModel = row.into();
    expired.expires_at = Set(chrono::Utc::now() - chrono::TimeDelta::seconds(5));
    expired.update(&db).await.unwrap();

    // Only the sweep at start-up can release it: the next is an hour away.
    let app = TestApp::start(url, db, providers, &["--hold-sweep-millis", "3600000"]).await;
    let deadline = tokio::time::Instant::now() + WAIT;
    while status_of(&app, provider, &slot).await != "available" {
        assert!(tokio::time::Instant::now() < deadline, "the expired hold was not released at start-up");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(logged_transitions(&app.db, &slot).await, ["available->held", "held->available"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_release_each_of_fifty_expiring_holds_exactly_once() {
    if !postgres_only("two instances sweeping one PostgreSQL database") {
        return;
    }
    let (url, db, providers) = seeded_connection(4).await;
    let flags = ["--hold-ttl-secs", "3", "--max-holds-per-client", "1000"];
    let (a, b) = (ServerProcess::start(&url, &flags).await, ServerProcess::start(&url, &flags).await);
    let client = reqwest::Client::builder().timeout(CLIENT_TIMEOUT).build().unwrap();
    let mut slots = Vec::new();
    for provider in providers.iter().take(2) {
        let service = service_with(&client, &a.base, provider.id, 30).await;
        let free = availability(&client, &a.base, provider.id, "?days=14", None).await.free_slots();
        slots.extend(free.into_iter().take(25).map(|(slot, starts_at)| (provider.id, service, slot, starts_at)));
    }
    assert_eq!(slots.len(), 50);
    let creations = slots.iter().enumerate().map(|(n, (provider, service, _, starts_at))| {
        let base = if n % 2 == 0 { &a.base } else { &b.base };
        hold(&client, base, *provider, *service, starts_at)
    });
    for (status, body) in join_all(creations).await {
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }

    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let active = entity::slot_hold::Entity::find()
            .filter(entity::slot_hold::Column::Status.eq(entity::slot_hold::Status::Active))
            .all(&db)
            .await
            .unwrap();
        if active.is_empty() {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{} holds never expired", active.len());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for (_, _, slot, _) in &slots {
        assert_eq!(logged_transitions(&db, slot).await, ["available->held", "held->available"], "slot {slot}");
    }
    let held = entity::availability_slot::Entity::find()
        .filter(entity::availability_slot::Column::Status.eq(entity::availability_slot::Status::Held))
        .all(&db)
        .await
        .unwrap();
    assert!(held.is_empty(), "no slot stays held: {held:?}");
    let expired = entity::slot_hold::Entity::find()
        .filter(entity::slot_hold::Column::Status.eq(entity::slot_hold::Status::Expired))
        .all(&db)
        .await
        .unwrap();
    assert_eq!(expired.len(), 50);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_customers_racing_for_one_slot_get_exactly_one_hold() {
    let app = TestApp::spawn().await;
    let provider = app.provider(0).id;
    let service = service_with(&app.client, &app.base, provider, 30).await;
    let (slot, starts_at) =
        availability(&app.client, &app.base, provider, "?days=14", None).await.free_slots()[0].clone();
    let clients: Vec<reqwest::Client> = (0..20).map(|n| client_from(&format!("127.0.0.{}", 10 + n))).collect();
    let attempts = clients.iter().map(|client| hold(client, &app.base, provider, service, &starts_at));
    let statuses: Vec<StatusCode> = join_all(attempts).await.into_iter().map(|(s, _)| s).collect();
    assert_eq!(statuses.iter().filter(|s| **s == StatusCode::CREATED).count(), 1, "{statuses:?}");
    assert_eq!(statuses.iter().filter(|s| **s == StatusCode::CONFLICT).count(), 19, "{statuses:?}");
    assert_eq!(logged_transitions(&app.db, &slot).await, ["available->held"]);
}

#[tokio::test]
async fn a_hold_of_a_multi_slot_service_holds_all_its_slots_or_none() {
    let app = TestApp::spawn().await;
    let provider = app.provider(0).clone();
    let hour = service_with(&app.client, &app.base, provider.id, 60).await;
    let document = availability(&app.client, &app.base, provider.id, "?days=14", None).await;
    let free = document.free_slots();
    let pairs = document.back_to_back();
    let (first, second) = (pairs[0], pairs[2]);

    // The second half is blocked: nothing is held.
    block(&app.client, &app.base, provider.id, &provider.key, &free[first + 1].0).await;
    let (status, _) = hold(&app.client, &app.base, provider.id, hour, &free[first].1).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(status_of(&app, provider.id, &free[first].0).await, "available");
    assert_eq!(logged_transitions(&app.db, &free[first].0).await, [] as [&str; 0], "no event for a refused hold");

    let (status, held) = hold(&app.client, &app.base, provider.id, hour, &free[second].1).await;
    assert_eq!(status, StatusCode::CREATED, "{held}");
    assert_eq!(status_of(&app, provider.id, &free[second].0).await, "held");
    assert_eq!(status_of(&app, provider.id, &free[second + 1].0).await, "held");
    // Booking through it takes both.
    let (status, _) = book_held(&app.client, &app.base, &held, &free[second].1, held["token"].as_str()).await;
    assert_eq!(status, StatusCode::CREATED);
    for slot in [&free[second].0, &free[second + 1].0] {
        assert_eq!(logged_transitions(&app.db, slot).await, ["available->held", "held->booked"]);
    }
}

#[tokio::test]
async fn one_client_holds_at_most_the_cap_and_another_client_is_unaffected() {
    let app = TestApp::spawn().await;
    let provider = app.provider(2).id;
    let service = service_with(&app.client, &app.base, provider, 30).await;
    let free = availability(&app.client, &app.base, provider, "?days=14", None).await.free_slots();
    let greedy = client_from("127.0.0.2");

    let (first, second) = (
        hold(&greedy, &app.base, provider, service, &free[0].1).await,
        hold(&greedy, &app.base, provider, service, &free[1].1).await,
    );
    assert_eq!((first.0, second.0), (StatusCode::CREATED, StatusCode::CREATED));
    let response = greedy
        .post(app.url("/api/v1/holds"))
        .json(&json!({ "providerId": provider, "serviceId": service, "startTime": free[2].1 }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(response.headers()["content-type"], "application/problem+json");
    let problem: Value = response.json().await.unwrap();
    assert_eq!(problem["type"], "urn:slotstream:problem:too-many-holds");
    assert_eq!(status_of(&app, provider, &free[2].0).await, "available", "a refused hold holds nothing");

    let (status, _) = hold(&client_from("127.0.0.3"), &app.base, provider, service, &free[2].1).await;
    assert_eq!(status, StatusCode::CREATED, "another address has its own cap");
    assert_eq!(gauge(&app.client, &app.base, "slotstream_holds_active").await, 3.0);

    // Releasing one makes room again.
    assert_eq!(release(&greedy, &app.base, &first.1).await, StatusCode::NO_CONTENT);
    let (status, _) = hold(&greedy, &app.base, provider, service, &free[3].1).await;
    assert_eq!(status, StatusCode::CREATED);
}

#[tokio::test]
async fn a_booking_without_a_hold_ignores_an_authorization_header_it_does_not_need() {
    // A proxy's Basic credentials or a malformed token meant for someone
    // else must not turn an ordinary booking into a 401.
    let app = TestApp::spawn().await;
    let provider = app.provider(0).id;
    let service = service_with(&app.client, &app.base, provider, 30).await;
    let free = availability(&app.client, &app.base, provider, "?days=14", None).await.free_slots();
    for (n, authorization) in ["Basic dXNlcjpwYXNz", "Bearer "].into_iter().enumerate() {
        let response = app
            .client
            .post(app.url("/api/v1/bookings"))
            .header("authorization", authorization)
            .json(&booking_body(provider, service, &free[n].1))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::CREATED, "with {authorization:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_client_racing_for_holds_at_several_providers_still_gets_only_the_cap() {
    if !postgres_only("holds at different providers are written concurrently only on PostgreSQL") {
        return;
    }
    let app = TestApp::spawn().await;
    let greedy = client_from("127.0.0.2");
    let mut wanted = Vec::new();
    for provider in &app.providers {
        let service = service_with(&app.client, &app.base, provider.id, 30).await;
        let free = availability(&app.client, &app.base, provider.id, "?days=14", None).await.free_slots();
        wanted.extend(free.into_iter().take(4).map(|(_, starts_at)| (provider.id, service, starts_at)));
    }
    let attempts =
        wanted.iter().map(|(provider, service, starts_at)| hold(&greedy, &app.base, *provider, *service, starts_at));
    let statuses: Vec<StatusCode> = join_all(attempts).await.into_iter().map(|(s, _)| s).collect();
    assert_eq!(statuses.iter().filter(|s| **s == StatusCode::CREATED).count(), 2, "{statuses:?}");
    assert!(statuses.iter().all(|s| [StatusCode::CREATED, StatusCode::TOO_MANY_REQUESTS].contains(s)), "{statuses:?}");
}

#[tokio::test]
async fn ended_holds_are_pruned_after_a_day_and_active_ones_are_kept() {
    let app = TestApp::spawn().await;
    let provider = app.provider(0).id;
    let service = service_with(&app.client, &app.base, provider, 30).await;
    let free = availability(&app.client, &app.base, provider, "?days=14", None).await.free_slots();
    let (_, ended) = hold(&app.client, &app.base, provider, service, &free[0].1).await;
    let (_, active) = hold(&app.client, &app.base, provider, service, &free[1].1).await;
    assert_eq!(release(&app.client, &app.base, &ended).await, StatusCode::NO_CONTENT);
    // Both taken two days ago, as far as the table knows.
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, sea_query::Expr};
    entity::slot_hold::Entity::update_many()
        .col_expr(entity::slot_hold::Column::CreatedAt, Expr::value(chrono::Utc::now() - chrono::TimeDelta::days(2)))
        .filter(entity::slot_hold::Column::ProviderId.eq(provider))
        .exec(&app.db)
        .await
        .unwrap();

    // The pruning the server runs periodically (events: none old enough).
    let now = chrono::Utc::now();
    let pruner = slotstream::server::build_app(app.db.clone(), &serve_args(&app.database_url, &[])).await.unwrap();
    pruner
        .prune_history(now - chrono::TimeDelta::days(3650), i64::MAX / 2, now - chrono::TimeDelta::days(1))
        .await
        .unwrap();

    let id = |held: &Value| held["id"].as_str().unwrap().parse::<Uuid>().unwrap();
    let left = entity::slot_hold::Entity::find()
        .filter(entity::slot_hold::Column::ProviderId.eq(provider))
        .all(&app.db)
        .await
        .unwrap();
    assert_eq!(
        left.iter().map(|h| h.id).collect::<Vec<_>>(),
        [id(&active)],
        "the ended hold is gone, the active one kept"
    );
    assert_eq!(renew(&app.client, &app.base, &active).await.0, StatusCode::OK, "the active hold still works");
}

/// A trigger that makes the database refuse to expire the holds whose client
/// scope reads `refuses-to-expire` (as a constraint or a broken row would):
/// a real failure of the real database, on SQLite and PostgreSQL alike.
async fn refuse_expiry_of_marked_holds(db: &DatabaseConnection) {
    use sea_orm::ConnectionTrait;
    let statements: &[&str] = if on_postgres() {
        &[
            "CREATE FUNCTION refuse_expiry() RETURNS trigger LANGUAGE plpgsql AS \
             $$ BEGIN RAISE EXCEPTION 'this hold refuses to expire'; END $$",
            "CREATE TRIGGER hold_refuses_to_expire BEFORE UPDATE ON slot_hold FOR EACH ROW \
             WHEN (NEW.status = 'expired' AND OLD.client_scope = 'refuses-to-expire') EXECUTE FUNCTION refuse_expiry()",
        ]
    } else {
        &["CREATE TRIGGER hold_refuses_to_expire BEFORE UPDATE ON slot_hold \
           WHEN NEW.status = 'expired' AND OLD.client_scope = 'refuses-to-expire' \
           BEGIN SELECT RAISE(ABORT, 'this hold refuses to expire'); END"]
    };
    for statement in statements {
        db.execute_unprepared(statement).await.unwrap();
    }
}

async fn hold_status(db: &DatabaseConnection, hold_id: Uuid) -> entity::slot_hold::Status {
    entity::slot_hold::Entity::find_by_id(hold_id).one(db).await.unwrap().unwrap().status
}

#[tokio::test]
async fn a_hold_that_fails_to_expire_does_not_stop_the_others_and_is_retried_later() {
    let app = TestApp::spawn_with(&["--max-holds-per-client", "10", "--hold-sweep-millis", "50"]).await;
    let provider = app.provider(0).id;
    let service = service_with(&app.client, &app.base, provider, 30).await;
    let free = availability(&app.client, &app.base, provider, "?days=14", None).await.free_slots();
    let mut holds = Vec::new();
    for (_, starts_at) in free.iter().take(3) {
        let (status, held) = hold(&app.client, &app.base, provider, service, starts_at).await;
        assert_eq!(status, StatusCode::CREATED, "{held}");
        holds.push(held["id"].as_str().unwrap().parse::<Uuid>().unwrap());
    }
    refuse_expiry_of_marked_holds(&app.db).await;
    let failures_before = counter(&app.client, &app.base, "slotstream_hold_expiry_failures_total").await;

    // The first to fall due, so it heads every sweep's list, is the one that cannot be expired.
    let now = chrono::Utc::now();
    let refusing = holds[0];
    let row = entity::slot_hold::Entity::find_by_id(refusing).one(&app.db).await.unwrap().unwrap();
    let mut row: entity::slot_hold::ActiveModel = row.into();
    row.client_scope = Set("refuses-to-expire".into());
    row.expires_at = Set(now - chrono::TimeDelta::seconds(60));
    row.update(&app.db).await.unwrap();
    for (n, id) in holds[1..].iter().enumerate() {
        let row = entity::slot_hold::Entity::find_by_id(*id).one(&app.db).await.unwrap().unwrap();
        let mut row: entity::slot_hold::ActiveModel = row.into();
        row.expires_at = Set(now - chrono::TimeDelta::seconds(30 - n as i64));
        row.update(&app.db).await.unwrap();
    }

    let deadline = tokio::time::Instant::now() + WAIT;
    for id in &holds[1..] {
        while hold_status(&app.db, *id).await != entity::slot_hold::Status::Expired {
            assert!(tokio::time::Instant::now() < deadline, "hold {id}, due after a failing one, never expired");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    assert_eq!(hold_status(&app.db, refusing).await, entity::slot_hold::Status::Active);
    let failures = counter(&app.client, &app.base, "slotstream_hold_expiry_failures_total").await;
    assert!(failures > failures_before, "the failure is counted");

    // Once the database lets it, the failing hold is expired by a later try.
    use sea_orm::ConnectionTrait;
    let drop = if on_postgres() {
        "DROP TRIGGER hold_refuses_to_expire ON slot_hold"
    } else {
        "DROP TRIGGER hold_refuses_to_expire"
    };
    app.db.execute_unprepared(drop).await.unwrap();
    while hold_status(&app.db, refusing).await != entity::slot_hold::Status::Expired {
        assert!(tokio::time::Instant::now() < deadline, "the failing hold was never tried again");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_instance_whose_clock_runs_an_hour_ahead_neither_expires_a_hold_early_nor_refuses_its_booking() {
    if !postgres_only("two instances on one PostgreSQL database, one with its clock an hour ahead") {
        return;
    }
    let (url, db, providers) = seeded_connection(2).await;
    let on_time = ServerProcess::start(&url, &[]).await;
    let client = reqwest::Client::builder().timeout(CLIENT_TIMEOUT).build().unwrap();
    let provider = providers[0].id;
    let service = service_with(&client, &on_time.base, provider, 30).await;
    let (_, starts_at) = availability(&client, &on_time.base, provider, "?days=14", None).await.free_slots()[0].clone();
    let (status, held) = hold(&client, &on_time.base, provider, service, &starts_at).await;
    assert_eq!(status, StatusCode::CREATED, "{held}");
    let hold_id: Uuid = held["id"].as_str().unwrap().parse().unwrap();

    let ahead = ServerProcess::start(&url, &["--clock-skew-secs", "3600", "--hold-sweep-millis", "50"]).await;
    // Its sweeps run (and would find the hold an hour overdue by its own clock).
    let sweeps = counter(&client, &ahead.base, "slotstream_hold_sweeps_total").await;
    let deadline = tokio::time::Instant::now() + WAIT;
    while counter(&client, &ahead.base, "slotstream_hold_sweeps_total").await < sweeps + 5 {
        assert!(tokio::time::Instant::now() < deadline, "the skewed instance never swept");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        hold_status(&db, hold_id).await,
        entity::slot_hold::Status::Active,
        "expired early by an instance whose clock is ahead"
    );

    // The holder, sent to the skewed instance, books through the hold.
    let (status, body) = book_held(&client, &ahead.base, &held, &starts_at, held["token"].as_str()).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(hold_status(&db, hold_id).await, entity::slot_hold::Status::Converted);
}

/// Set `service`'s duration in the database, as the admin's upsert does.
async fn set_duration(db: &DatabaseConnection, service: Uuid, minutes: i32) {
    let row = entity::service::Entity::find_by_id(service).one(db).await.unwrap().expect("the service");
    let mut active: entity::service::ActiveModel = row.into();
    active.duration_minutes = Set(minutes);
    active.update(db).await.unwrap();
}

/// The confirmed bookings of `provider` as (start, end), sorted: none may overlap.
async fn confirmed_spans(db: &DatabaseConnection, provider: Uuid) -> Vec<(String, String)> {
    let mut rows = entity::booking::Entity::find()
        .filter(entity::booking::Column::ProviderId.eq(provider))
        .filter(entity::booking::Column::Status.eq(entity::booking::Status::Confirmed))
        .all(db)
        .await
        .unwrap();
    rows.sort_by_key(|r| r.starts_at);
    for pair in rows.windows(2) {
        assert!(pair[0].ends_at <= pair[1].starts_at, "bookings overlap: {:?} and {:?}", pair[0], pair[1]);
    }
    rows.iter().map(|r| (r.starts_at.to_rfc3339(), r.ends_at.to_rfc3339())).collect()
}

#[tokio::test]
async fn a_hold_whose_service_was_lengthened_or_shortened_books_nothing_and_no_booking_overlaps() {
    let app = TestApp::spawn().await;
    let provider = app.provider(0).clone();
    let half_hour = service_with(&app.client, &app.base, provider.id, 30).await;
    let hour = service_with(&app.client, &app.base, provider.id, 60).await;
    let document = availability(&app.client, &app.base, provider.id, "?days=14", None).await;
    let free = document.free_slots();
    let pairs = document.back_to_back();
    // Three slots back to back, twice over, far enough apart.
    let runs: Vec<usize> = pairs.iter().copied().filter(|i| pairs.contains(&(i + 1))).collect();
    let (first, later) = (runs[0], *runs.iter().find(|&&i| i >= runs[0] + 3).expect("a second run"));

    // Lengthened: the hold holds 30 minutes, the service now needs 90.
    let (status, held) = hold(&app.client, &app.base, provider.id, half_hour, &free[first].1).await;
    assert_eq!(status, StatusCode::CREATED, "{held}");
    set_duration(&app.db, half_hour, 90).await;
    let (status, refused) = book_held(&app.client, &app.base, &held, &free[first].1, held["token"].as_str()).await;
    assert_eq!(status, StatusCode::CONFLICT, "{refused}");
    assert_eq!(refused["type"], "urn:slotstream:problem:hold-no-longer-fits");
    assert_eq!(status_of(&app, provider.id, &free[first].0).await, "held", "the refusal changes nothing");
    // A second customer books inside the span the first would have claimed: it is free, and theirs.
    let other = client_from("127.0.0.2");
    let (status, booked) = book(&other, &app.base, provider.id, hour, &free[first + 1].1).await;
    assert_eq!(status, StatusCode::CREATED, "{booked}");
    assert_eq!(confirmed_spans(&app.db, provider.id).await.len(), 1);
    assert_eq!(release(&app.client, &app.base, &held).await, StatusCode::NO_CONTENT);

    // Shortened: the hold holds 60 minutes (two slots), the service now needs 30.
    let (status, held) = hold(&app.client, &app.base, provider.id, hour, &free[later].1).await;
    assert_eq!(status, StatusCode::CREATED, "{held}");
    set_duration(&app.db, hour, 30).await;
    let (status, refused) = book_held(&app.client, &app.base, &held, &free[later].1, held["token"].as_str()).await;
    assert_eq!(status, StatusCode::CONFLICT, "{refused}");
    assert_eq!(refused["type"], "urn:slotstream:problem:hold-no-longer-fits");
    for slot in [&free[later].0, &free[later + 1].0] {
        assert_eq!(
            logged_transitions(&app.db, slot).await,
            ["available->held"],
            "no slot booked for a time it is not in"
        );
    }
    // Released, the same customer books the 30 minutes they now need: one slot, no overlap.
    assert_eq!(release(&app.client, &app.base, &held).await, StatusCode::NO_CONTENT);
    let (status, booked) = book(&app.client, &app.base, provider.id, hour, &free[later].1).await;
    assert_eq!(status, StatusCode::CREATED, "{booked}");
    assert_eq!(status_of(&app, provider.id, &free[later + 1].0).await, "available");
    assert_eq!(confirmed_spans(&app.db, provider.id).await.len(), 2);
}
