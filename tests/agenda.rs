//! The provider's agenda (issue 24) against a real server, on SQLite and
//! (with `SLOTSTREAM_TEST_DATABASE_URL`) PostgreSQL: one-time sign-in links
//! and the session cookie's attributes; the private agenda and its stream
//! for their provider only; booking events after their slot events, with
//! exact resume; a revoked key, a sign-out and a deactivation ending
//! sessions and their open streams; cross-origin writes with the cookie
//! refused; range blocks; bad input; the same code twice at once; a sign-out
//! on one instance ending a stream on another.

mod common;

use std::time::Duration;

use common::*;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use uuid::Uuid;

const WAIT: Duration = Duration::from_secs(30);

/// A sign-in link minted with `key` for `provider`: its code.
async fn link_by_key(client: &reqwest::Client, base: &str, provider: Uuid, key: &str) -> String {
    let response =
        client.post(format!("{base}/api/v1/providers/{provider}/sign-in-links")).bearer_auth(key).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let body: Value = response.json().await.unwrap();
    let url = body["url"].as_str().unwrap();
    assert!(url.contains("/provider.html#code="), "{url}");
    url.split_once("#code=").unwrap().1.to_owned()
}

/// Exchange `code`: the status, the `Set-Cookie` value, the body.
async fn exchange(client: &reqwest::Client, base: &str, code: &str) -> (StatusCode, Option<String>, Value) {
    let response =
        client.post(format!("{base}/api/v1/provider-session")).json(&json!({ "code": code })).send().await.unwrap();
    let status = response.status();
    let cookie = response.headers().get("set-cookie").map(|v| v.to_str().unwrap().to_owned());
    (status, cookie, response.json().await.unwrap_or(Value::Null))
}

/// A signed-in session of `provider` (minted with its key): the cookie pair `slotstream_session=…`.
async fn signed_in(client: &reqwest::Client, base: &str, provider: Uuid, key: &str) -> String {
    let code = link_by_key(client, base, provider, key).await;
    let (status, cookie, body) = exchange(client, base, &code).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    cookie.unwrap().split(';').next().unwrap().to_owned()
}

fn agenda_url(base: &str, provider: Uuid, query: &str) -> String {
    format!("{base}/api/v1/providers/{provider}/agenda{query}")
}

/// The agenda stream, authenticated by `cookie`.
async fn agenda_stream(
    client: &reqwest::Client,
    base: &str,
    provider: Uuid,
    cookie: &str,
    after: Option<i64>,
) -> SseClient {
    let mut request = client.get(format!("{base}/api/v1/providers/{provider}/agenda/stream")).header("cookie", cookie);
    if let Some(after) = after {
        request = request.header("last-event-id", after.to_string());
    }
    let response = request.send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    SseClient::from_response(response)
}

/// POST `body` to `path` with the session cookie and `origin` (none when `None`).
async fn cookie_post(
    client: &reqwest::Client,
    base: &str,
    path: &str,
    cookie: &str,
    origin: Option<&str>,
    body: Value,
) -> (StatusCode, Value) {
    let mut request = client.post(format!("{base}{path}")).header("cookie", cookie).json(&body);
    if let Some(origin) = origin {
        request = request.header("origin", origin);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn a_sign_in_link_works_once_before_it_expires_and_sets_a_strict_http_only_cookie() {
    let (app, token, _dir) = admin_server().await;
    let kasia = app.provider(0).clone();
    let minted = app
        .client
        .post(app.url(&format!("/api/v1/providers/{}/sign-in-links", kasia.id)))
        .bearer_auth(&kasia.key)
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap();
    let url = minted["url"].as_str().unwrap();
    assert!(url.starts_with(&format!("{}/provider.html#code=sl_", app.base)), "the request's own origin: {url}");
    let code = url.split_once("#code=").unwrap().1.to_owned();
    let (status, cookie, body) = exchange(&app.client, &app.base, &code).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["providerId"], kasia.id.to_string());
    assert_eq!(body["timezone"], "Europe/Warsaw");
    let cookie = cookie.expect("Set-Cookie");
    let attributes: Vec<&str> = cookie.split(';').map(str::trim).collect();
    assert!(attributes[0].starts_with("slotstream_session=ps_"), "{cookie}");
    for wanted in ["HttpOnly", "SameSite=Strict", "Path=/", "Max-Age=43200"] {
        assert!(attributes.contains(&wanted), "{wanted} in {cookie}");
    }
    assert!(!attributes.contains(&"Secure"), "plain HTTP from no trusted proxy: {cookie}");
    let pair = attributes[0];

    // Once only.
    let (again, no_cookie, problem) = exchange(&app.client, &app.base, &code).await;
    assert_eq!((again, no_cookie), (StatusCode::UNAUTHORIZED, None), "{problem}");
    // The session answers who it is.
    let who = app.client.get(app.url("/api/v1/provider-session")).header("cookie", pair).send().await.unwrap();
    assert_eq!(who.status(), StatusCode::OK);
    assert_eq!(who.json::<Value>().await.unwrap()["name"], kasia.name);

    // The operator's link, then expired before use.
    let external_id = app.external_id(kasia.id).await;
    let (status, link) =
        admin(&app, &token, Method::POST, &format!("/api/v1/admin/providers/{external_id}/sign-in-links"), None).await;
    assert_eq!(status, StatusCode::CREATED, "{link}");
    let code = link["url"].as_str().unwrap().split_once("#code=").unwrap().1.to_owned();
    use sea_orm::{EntityTrait, sea_query::Expr};
    entity::provider_sign_in_link::Entity::update_many()
        .col_expr(
            entity::provider_sign_in_link::Column::ExpiresAt,
            Expr::value(chrono::Utc::now() - chrono::TimeDelta::seconds(1)),
        )
        .exec(&app.db)
        .await
        .unwrap();
    let (status, _, problem) = exchange(&app.client, &app.base, &code).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "an expired link: {problem}");
    for nonsense in ["", "sl_nope", &"x".repeat(5_000)] {
        let (status, _, _) = exchange(&app.client, &app.base, nonsense).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{nonsense:.10}");
    }
    // Another origin cannot sign this browser in.
    let code = link_by_key(&app.client, &app.base, kasia.id, &kasia.key).await;
    let response = app
        .client
        .post(app.url("/api/v1/provider-session"))
        .header("origin", "https://evil.example")
        .json(&json!({ "code": code }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let (status, _, _) = exchange(&app.client, &app.base, &code).await;
    assert_eq!(status, StatusCode::CREATED, "the refused attempt did not use the link up");
    // A session cannot mint links; a deactivated provider has none.
    let minted = app
        .client
        .post(app.url(&format!("/api/v1/providers/{}/sign-in-links", kasia.id)))
        .header("cookie", pair)
        .header("origin", &app.base)
        .send()
        .await
        .unwrap();
    assert_eq!(minted.status(), StatusCode::UNAUTHORIZED, "a cookie is no key");
}

#[tokio::test]
async fn the_agenda_and_its_stream_show_customers_to_their_provider_only() {
    let app = TestApp::spawn().await;
    let (kasia, other) = (app.provider(0).clone(), app.provider(1).clone());
    let service = service_with(&app.client, &app.base, kasia.id, 30).await;
    let document = availability(&app.client, &app.base, kasia.id, "?days=7", None).await;
    let (slot, start) = document.free_slots()[0].clone();
    let date = &start[..10];
    let body = json!({ "providerId": kasia.id, "serviceId": service, "startTime": start,
                       "customer": { "name": "Zofia Private", "email": "zofia@private.example" } });
    let (status, booking) = post_json(&app.client, &app.url("/api/v1/bookings"), &body).await;
    assert_eq!(status, StatusCode::CREATED, "{booking}");

    let kasia_cookie = signed_in(&app.client, &app.base, kasia.id, &kasia.key).await;
    let other_cookie = signed_in(&app.client, &app.base, other.id, &other.key).await;
    let url = agenda_url(&app.base, kasia.id, &format!("?date={date}&days=2"));
    for (credential, expected) in [
        (None, StatusCode::UNAUTHORIZED),
        (Some(("authorization", format!("Bearer {}", other.key))), StatusCode::FORBIDDEN),
        (Some(("cookie", other_cookie.clone())), StatusCode::FORBIDDEN),
        (Some(("authorization", "Bearer pk_made_up".to_owned())), StatusCode::UNAUTHORIZED),
        (Some(("cookie", "slotstream_session=ps_made_up".to_owned())), StatusCode::UNAUTHORIZED),
    ] {
        let mut request = app.client.get(&url);
        let mut stream = app.client.get(format!("{}/api/v1/providers/{}/agenda/stream", app.base, kasia.id));
        if let Some((name, value)) = &credential {
            request = request.header(*name, value);
            stream = stream.header(*name, value);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), expected, "{credential:?}");
        assert!(!response.text().await.unwrap().contains("Zofia"));
        assert_eq!(stream.send().await.unwrap().status(), expected, "stream, {credential:?}");
    }
    for credential in [("cookie", kasia_cookie.clone()), ("authorization", format!("Bearer {}", kasia.key))] {
        let response = app.client.get(&url).header(credential.0, &credential.1).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.headers()["cache-control"], "private, no-store");
        let agenda: Value = response.json().await.unwrap();
        let booked = agenda["days"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|d| d["slots"].as_array().unwrap())
            .find(|s| s["availabilityId"] == slot)
            .unwrap()
            .clone();
        assert_eq!(booked["status"], "booked");
        assert_eq!(booked["booking"]["customer"], json!({ "name": "Zofia Private", "email": "zofia@private.example" }));
        assert_eq!(booked["booking"]["id"], booking["id"]);
        assert!(agenda["services"].as_array().unwrap().iter().any(|s| s["id"] == service.to_string()));
    }
    // Never on a public surface.
    let public = availability(&app.client, &app.base, kasia.id, "?days=7", None).await;
    assert!(!public.body.contains("Zofia") && !public.body.contains("private.example"));
    // Bad input is a 4xx problem, never a 500, naming the parameter as sent.
    let past = app
        .client
        .get(agenda_url(&app.base, kasia.id, "?date=2000-01-01"))
        .header("cookie", &kasia_cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(past.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let detail = past.json::<Value>().await.unwrap()["detail"].as_str().unwrap().to_owned();
    assert!(detail.starts_with("date "), "{detail}");
    for query in ["?days=0", "?days=32", "?date=+262142-01-01", "?date=2026-13-01", "?date=9999-12-31", "?nope=1"] {
        let response = app
            .client
            .get(agenda_url(&app.base, kasia.id, query))
            .header("cookie", &kasia_cookie)
            .send()
            .await
            .unwrap();
        assert!(response.status().is_client_error(), "{query}: {}", response.status());
        assert_eq!(response.headers()["content-type"], "application/problem+json", "{query}");
    }
}

#[tokio::test]
async fn booking_events_follow_their_slot_events_carry_the_customer_and_resume_exactly() {
    let app = TestApp::spawn().await;
    let kasia = app.provider(0).clone();
    let cookie = signed_in(&app.client, &app.base, kasia.id, &kasia.key).await;
    let hour = service_with(&app.client, &app.base, kasia.id, 60).await;
    let document = availability(&app.client, &app.base, kasia.id, "?days=7", None).await;
    let free = document.free_slots();
    let pairs = document.back_to_back();
    let start = free[pairs[0]].1.clone();
    let later = free[*pairs.iter().find(|&&i| i > pairs[0] + 1).unwrap()].1.clone();
    let version = document.version();
    let mut stream = agenda_stream(&app.client, &app.base, kasia.id, &cookie, Some(version)).await;
    assert_eq!(stream.headers["cache-control"], "private, no-cache, no-transform");

    let body = json!({ "providerId": kasia.id, "serviceId": hour, "startTime": start,
                       "customer": { "name": "Ola Agenda", "email": "ola@example.com" } });
    let (status, booking) = post_json(&app.client, &app.url("/api/v1/bookings"), &body).await;
    assert_eq!(status, StatusCode::CREATED, "{booking}");
    let booking_id = booking["id"].as_str().unwrap();
    let created = stream.take(3, WAIT).await;
    let shape: Vec<(&str, Option<String>)> = created.iter().map(|e| (e.event.as_str(), e.id.clone())).collect();
    assert_eq!(
        shape,
        [
            ("slot-changed", Some((version + 1).to_string())),
            ("slot-changed", None),
            ("booking-created", Some((version + 2).to_string()))
        ],
        "the booking event carries the id of its transaction's last slot event"
    );
    assert_eq!(created[1].json()["version"], version + 2);
    let data = created[2].json();
    assert_eq!((data["bookingId"].as_str(), data["customer"]["name"].as_str()), (Some(booking_id), Some("Ola Agenda")));

    // Cancelled by the provider, with a reason the customer reads.
    let (status, cancelled) = cookie_post(
        &app.client,
        &app.base,
        &format!("/api/v1/bookings/{booking_id}/cancel"),
        &cookie,
        Some(&app.base),
        json!({ "reason": "  Kasia is ill today, sorry  " }),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{cancelled}");
    let events = stream.take(3, WAIT).await;
    assert_eq!(events[2].event, "booking-cancelled");
    assert_eq!(events[2].json()["by"], "provider");
    assert_eq!(events[2].json()["reason"], "Kasia is ill today, sorry");
    let read = app
        .client
        .get(app.url(&format!("/api/v1/bookings/{booking_id}")))
        .bearer_auth(booking["token"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap();
    assert_eq!((read["status"].as_str(), read["cancelledBy"].as_str()), (Some("cancelled"), Some("provider")));
    assert_eq!(read["cancellationReason"], "Kasia is ill today, sorry");
    // A customer's own cancellation says so, with no reason; an empty body
    // is no body, even labelled JSON (it was a 400).
    let (_, second) = post_json(&app.client, &app.url("/api/v1/bookings"), &body).await;
    let response = app
        .client
        .post(app.url(&format!("/api/v1/bookings/{}/cancel", second["id"].as_str().unwrap())))
        .bearer_auth(second["token"].as_str().unwrap())
        .header("content-type", "application/json")
        .body("")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.json::<Value>().await.unwrap()["cancelledBy"], "customer");
    let events = stream.take(6, WAIT).await;
    assert_eq!(events[5].json()["by"], "customer");
    assert!(events[5].json().get("reason").is_none());

    // Rescheduled by the provider's key.
    let (_, third) = post_json(&app.client, &app.url("/api/v1/bookings"), &body).await;
    let third_id = third["id"].as_str().unwrap();
    let response = app
        .client
        .post(app.url(&format!("/api/v1/bookings/{third_id}/reschedule")))
        .bearer_auth(&kasia.key)
        .json(&json!({ "startTime": later }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let events = stream.take(3 + 5, WAIT).await;
    let moved = events.last().unwrap();
    assert_eq!(moved.event, "booking-rescheduled");
    assert_eq!(moved.json()["previousStartTime"], third["startTime"]);

    // Resume between a slot event and its booking event: both again, nothing else.
    let resumed_from = version + 1;
    let mut resumed = agenda_stream(&app.client, &app.base, kasia.id, &cookie, Some(resumed_from)).await;
    let replay = resumed.take(2, WAIT).await;
    assert_eq!((replay[0].event.as_str(), replay[0].id.as_deref()), ("slot-changed", None));
    assert_eq!((replay[1].event.as_str(), replay[1].id.clone()), ("booking-created", Some((version + 2).to_string())));
    // Resume at the booking event's id: the next transaction, whole.
    let mut resumed = agenda_stream(&app.client, &app.base, kasia.id, &cookie, Some(version + 2)).await;
    let next = resumed.take(3, WAIT).await;
    assert_eq!(
        next.iter().map(|e| e.event.as_str()).collect::<Vec<_>>(),
        ["slot-changed", "slot-changed", "booking-cancelled"]
    );
    assert_eq!(next[0].json()["version"], version + 3);
}

#[tokio::test]
async fn a_revoked_key_a_sign_out_and_a_deactivation_end_sessions_and_their_open_streams() {
    let (app, token, _dir) = admin_server().await;
    let kasia = app.provider(0).clone();
    let external_id = app.external_id(kasia.id).await;
    let keys = format!("/api/v1/admin/providers/{external_id}/keys");
    let (status, issued) = admin(&app, &token, Method::POST, &keys, Some(json!({ "label": "front desk app" }))).await;
    assert_eq!(status, StatusCode::CREATED, "{issued}");
    let desk_key = issued["key"].as_str().unwrap().to_owned();
    let desk = signed_in(&app.client, &app.base, kasia.id, &desk_key).await;
    let seed = signed_in(&app.client, &app.base, kasia.id, &kasia.key).await;
    let unused = link_by_key(&app.client, &app.base, kasia.id, &desk_key).await;
    let mut desk_stream = agenda_stream(&app.client, &app.base, kasia.id, &desk, None).await;
    let mut seed_stream = agenda_stream(&app.client, &app.base, kasia.id, &seed, None).await;
    let mut key_stream = SseClient::from_response(
        app.client
            .get(format!("{}/api/v1/providers/{}/agenda/stream", app.base, kasia.id))
            .bearer_auth(&desk_key)
            .send()
            .await
            .unwrap(),
    );

    let (status, _) =
        admin(&app, &token, Method::DELETE, &format!("{keys}/{}", issued["id"].as_str().unwrap()), None).await;
    assert!(status.is_success(), "{status}");
    for stream in [&mut desk_stream, &mut key_stream] {
        let last = stream.next(WAIT).await.expect("a last frame");
        assert_eq!(last.event, "session-ended");
        assert!(stream.ended(WAIT).await, "the stream ends");
    }
    let agenda = app.client.get(agenda_url(&app.base, kasia.id, "")).header("cookie", &desk).send().await.unwrap();
    assert_eq!(agenda.status(), StatusCode::UNAUTHORIZED);
    let (status, _, _) = exchange(&app.client, &app.base, &unused).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "a revoked key's unused link is spoilt");
    // The session the other key began lives on.
    let agenda = app.client.get(agenda_url(&app.base, kasia.id, "")).header("cookie", &seed).send().await.unwrap();
    assert_eq!(agenda.status(), StatusCode::OK);

    // Signing out ends that session and its stream.
    let (status, _) =
        cookie_post(&app.client, &app.base, "/api/v1/provider-session/sign-out", &seed, Some(&app.base), json!({}))
            .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(seed_stream.next(WAIT).await.expect("a last frame").event, "session-ended");
    assert!(seed_stream.ended(WAIT).await);
    let who = app.client.get(app.url("/api/v1/provider-session")).header("cookie", &seed).send().await.unwrap();
    assert_eq!(who.status(), StatusCode::UNAUTHORIZED);

    // Deactivation ends every session of the provider.
    let fresh = signed_in(&app.client, &app.base, kasia.id, &kasia.key).await;
    let mut fresh_stream = agenda_stream(&app.client, &app.base, kasia.id, &fresh, None).await;
    app.deactivate(kasia.id).await;
    let last = fresh_stream.next(WAIT).await.expect("a last frame");
    assert!(["provider-deactivated", "session-ended"].contains(&last.event.as_str()), "{last:?}");
    assert!(fresh_stream.ended(WAIT).await);
    let who = app.client.get(app.url("/api/v1/provider-session")).header("cookie", &fresh).send().await.unwrap();
    assert_eq!(who.status(), StatusCode::UNAUTHORIZED);
    let minted = app
        .client
        .post(app.url(&format!("/api/v1/providers/{}/sign-in-links", kasia.id)))
        .bearer_auth(&kasia.key)
        .send()
        .await
        .unwrap();
    assert_eq!(minted.status(), StatusCode::GONE);
}

#[tokio::test]
async fn a_cookie_write_from_another_origin_is_refused_and_changes_nothing() {
    let app = TestApp::spawn_with(&["--cors-origins", "https://shop.example"]).await;
    let kasia = app.provider(0).clone();
    let cookie = signed_in(&app.client, &app.base, kasia.id, &kasia.key).await;
    let service = service_with(&app.client, &app.base, kasia.id, 30).await;
    let document = availability(&app.client, &app.base, kasia.id, "?days=7", None).await;
    let free = document.free_slots();
    let (_, booking) = book(&app.client, &app.base, kasia.id, service, &free[0].1).await;
    let booking_id = booking["id"].as_str().unwrap();
    let before = dump(&app.db).await;
    let cancel = format!("/api/v1/bookings/{booking_id}/cancel");
    let block = format!("/api/v1/providers/{}/slots/{}/block", kasia.id, free[1].0);
    let range = format!("/api/v1/providers/{}/slots/block", kasia.id);
    let range_body = json!({ "from": free[1].1, "to": free[3].1 });
    let sibling = app.base.replace("127.0.0.1", "localhost");
    for origin in [None, Some("https://evil.example"), Some("null"), Some(sibling.as_str())] {
        for (path, body) in [(&cancel, json!({})), (&block, json!({})), (&range, range_body.clone())] {
            let (status, problem) = cookie_post(&app.client, &app.base, path, &cookie, origin, body).await;
            assert_eq!(status, StatusCode::FORBIDDEN, "{origin:?} {path}: {problem}");
            assert_eq!(problem["type"], "urn:slotstream:problem:forbidden");
        }
    }
    assert_eq!(dump(&app.db).await, before, "nothing changed");
    // The server's own origin and an allowed CORS origin act.
    let (status, _) = cookie_post(&app.client, &app.base, &block, &cookie, Some(&app.base), json!({})).await;
    assert_eq!(status, StatusCode::OK);
    let (status, answer) =
        cookie_post(&app.client, &app.base, &cancel, &cookie, Some("https://shop.example"), json!({})).await;
    assert_eq!((status, answer["cancelledBy"].as_str()), (StatusCode::OK, Some("provider")));
}

#[tokio::test]
async fn a_range_block_takes_free_times_only_and_bad_ranges_are_refused() {
    let app = TestApp::spawn().await;
    let kasia = app.provider(0).clone();
    let service = service_with(&app.client, &app.base, kasia.id, 30).await;
    let document = availability(&app.client, &app.base, kasia.id, "?days=7", None).await;
    let pairs = document.back_to_back();
    let free = document.free_slots();
    // Three back-to-back free slots; the middle one booked.
    let first = *pairs.iter().find(|&&i| pairs.contains(&(i + 1))).expect("three in a row");
    let (status, _) = book(&app.client, &app.base, kasia.id, service, &free[first + 1].1).await;
    assert_eq!(status, StatusCode::CREATED);
    let path = format!("/api/v1/providers/{}/slots/block", kasia.id);
    let from = &free[first].1;
    let end = document.json()["days"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|d| d["slots"].as_array().unwrap())
        .find(|s| s["availabilityId"] == free[first + 2].0)
        .unwrap()["endsAt"]
        .as_str()
        .unwrap()
        .to_owned();
    let range = |action: &'static str| {
        let request = app
            .client
            .post(app.url(&format!("/api/v1/providers/{}/slots/{action}", kasia.id)))
            .bearer_auth(&kasia.key)
            .json(&json!({ "from": from, "to": end }));
        async move { request.send().await.unwrap().json::<Value>().await.unwrap() }
    };
    let blocked = range("block").await;
    assert_eq!(blocked["changed"], json!([free[first].0, free[first + 2].0]), "{blocked}");
    assert_eq!(blocked["skipped"], json!([{ "availabilityId": free[first + 1].0, "status": "booked" }]));
    let statuses = availability(&app.client, &app.base, kasia.id, "?days=7", None).await.statuses();
    assert_eq!(
        [&statuses[&free[first].0], &statuses[&free[first + 1].0], &statuses[&free[first + 2].0]],
        ["blocked", "booked", "blocked"]
    );
    let unblocked = range("unblock").await;
    assert_eq!(unblocked["changed"], json!([free[first].0, free[first + 2].0]), "{unblocked}");

    let before = dump(&app.db).await;
    for (body, expected) in [
        (json!({ "from": end, "to": from }), 422),
        (json!({ "from": from, "to": from }), 422),
        (json!({ "from": "2026-01-01T00:00:00Z", "to": "2026-03-01T00:00:00Z" }), 422),
        (json!({ "from": "+262142-01-01T00:00:00Z", "to": "+262142-01-02T00:00:00Z" }), 422),
        (json!({ "from": from }), 422),
        (json!({ "from": "noon", "to": end }), 422),
        (json!({ "from": from, "to": end, "extra": 1 }), 422),
    ] {
        let response = app.client.post(app.url(&path)).bearer_auth(&kasia.key).json(&body).send().await.unwrap();
        let status = response.status().as_u16();
        assert!(status == expected || status == 400, "{body}: {status}");
        assert_eq!(response.headers()["content-type"], "application/problem+json");
    }
    let other = app.provider(1).clone();
    let response = app
        .client
        .post(app.url(&path))
        .bearer_auth(&other.key)
        .json(&json!({ "from": from, "to": end }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN, "another provider's key");
    assert_eq!(dump(&app.db).await, before, "nothing changed");
}

#[tokio::test]
async fn the_same_code_exchanged_twice_at_once_makes_one_session() {
    let app = TestApp::spawn().await;
    let kasia = app.provider(0).clone();
    for _ in 0..5 {
        let code = link_by_key(&app.client, &app.base, kasia.id, &kasia.key).await;
        let attempts: Vec<_> = (0..8).map(|_| exchange(&app.client, &app.base, &code)).collect();
        let results = futures_util::future::join_all(attempts).await;
        let made: Vec<_> = results.iter().filter(|(status, _, _)| *status == StatusCode::CREATED).collect();
        assert_eq!(made.len(), 1, "{:?}", results.iter().map(|r| r.0).collect::<Vec<_>>());
        assert!(results.iter().all(|(s, _, _)| *s == StatusCode::CREATED || *s == StatusCode::UNAUTHORIZED));
    }
}

#[tokio::test]
async fn a_sign_out_on_one_instance_ends_the_agenda_stream_on_another() {
    if !postgres_only("two instances share only a PostgreSQL database") {
        return;
    }
    let (url, providers) = seeded_database().await;
    let (a, b) = tokio::join!(ServerProcess::start(&url, &[]), ServerProcess::start(&url, &[]));
    let client = reqwest::Client::new();
    let kasia = &providers[0];
    let cookie = signed_in(&client, &a.base, kasia.id, &kasia.key).await;
    let mut on_b = agenda_stream(&client, &b.base, kasia.id, &cookie, None).await;
    // A booking on A reaches B's agenda stream with its customer.
    let service = service_with(&client, &a.base, kasia.id, 30).await;
    let free = availability(&client, &a.base, kasia.id, "?days=7", None).await.free_slots();
    let (status, _) = book(&client, &a.base, kasia.id, service, &free[0].1).await;
    assert_eq!(status, StatusCode::CREATED);
    let events = on_b.take(2, WAIT).await;
    assert_eq!(events[1].event, "booking-created");
    let (status, _) =
        cookie_post(&client, &a.base, "/api/v1/provider-session/sign-out", &cookie, Some(&a.base), json!({})).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(on_b.next(WAIT).await.expect("a last frame").event, "session-ended");
    assert!(on_b.ended(WAIT).await);
}

/// Red-team findings on the first build: a session could manage webhooks (a
/// receiver outliving the session, carrying customer data) and open slots;
/// an exchange racing a revocation deadlocked on PostgreSQL (500); a
/// malformed `Host` went into the link; `--public-url` was not the server's
/// own origin; a reason could hold bidi overrides; a planted duplicate
/// cookie locked the desk out; ended sessions were never pruned.
#[tokio::test]
async fn a_session_reaches_the_front_desk_only_and_its_edges_hold() {
    let (app, token, _dir) =
        admin_server_with(&["--public-url", "https://slots.example", "--webhook-allow-private"]).await;
    let kasia = app.provider(0).clone();
    let cookie = signed_in(&app.client, &app.base, kasia.id, &kasia.key).await;
    let webhooks = format!("/api/v1/providers/{}/webhooks", kasia.id);
    let (status, _) = cookie_post(
        &app.client,
        &app.base,
        &webhooks,
        &cookie,
        Some(&app.base),
        json!({ "url": "http://127.0.0.1:9/x" }),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "a session adds no webhook");
    let listed = app.client.get(app.url(&webhooks)).header("cookie", &cookie).send().await.unwrap();
    assert_eq!(listed.status(), StatusCode::FORBIDDEN, "nor lists them");
    let slots = format!("/api/v1/providers/{}/slots", kasia.id);
    let body = json!({ "dates": ["2027-01-04"], "open": "20:00", "close": "21:00", "slotMinutes": 30 });
    let (status, _) = cookie_post(&app.client, &app.base, &slots, &cookie, Some(&app.base), body).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "nor opens slots");

    // --public-url names the links and counts as the server's own origin.
    let code = {
        let response = app
            .client
            .post(app.url(&format!("/api/v1/providers/{}/sign-in-links", kasia.id)))
            .bearer_auth(&kasia.key)
            .send()
            .await
            .unwrap();
        let url = response.json::<Value>().await.unwrap()["url"].as_str().unwrap().to_owned();
        assert!(url.starts_with("https://slots.example/provider.html#code="), "{url}");
        url.split_once("#code=").unwrap().1.to_owned()
    };
    let (status, _, _) = exchange(&app.client, &app.base, &code).await;
    assert_eq!(status, StatusCode::CREATED);
    let service = service_with(&app.client, &app.base, kasia.id, 30).await;
    let free = availability(&app.client, &app.base, kasia.id, "?days=7", None).await.free_slots();
    let (_, booking) = book(&app.client, &app.base, kasia.id, service, &free[0].1).await;
    let cancel = format!("/api/v1/bookings/{}/cancel", booking["id"].as_str().unwrap());
    // A reason may not reverse the text the customer reads; lines and tabs may stay.
    for bad in ["sorry \u{202E}txet", "a\u{2028}b", "bell\u{7}"] {
        let (status, _) = cookie_post(
            &app.client,
            &app.base,
            &cancel,
            &cookie,
            Some("https://slots.example"),
            json!({ "reason": bad }),
        )
        .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{bad:?}");
    }
    // A planted cookie of the same name before ours does not lock the desk out.
    let planted = format!("slotstream_session=ps_planted; {cookie}");
    let (status, cancelled) = cookie_post(
        &app.client,
        &app.base,
        &cancel,
        &planted,
        Some("https://slots.example"),
        json!({ "reason": "Closed:\tflood\r\nSorry" }),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{cancelled}");
    assert_eq!(cancelled["cancellationReason"], "Closed:\tflood\nSorry");

    // A Host that is no authority makes no link.
    let (no_public, _token, _dir2) = admin_server().await;
    let answer = mint_with_hosts(&no_public, &["evil.example/#"]).await;
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    assert!(!answer.contains("evil.example"), "{answer}");

    // Ended sessions and spent links are pruned with the history.
    let (status, _) =
        cookie_post(&app.client, &app.base, "/api/v1/provider-session/sign-out", &cookie, Some(&app.base), json!({}))
            .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    // An hour on: every link has expired (15 minutes), the live session has not (12 hours).
    let later = chrono::Utc::now() + chrono::TimeDelta::hours(1);
    app.app().prune_history(later - chrono::TimeDelta::days(3650), i64::MAX / 2, later).await.unwrap();
    use sea_orm::{EntityTrait, PaginatorTrait};
    let links = entity::provider_sign_in_link::Entity::find().count(&app.db).await.unwrap();
    let sessions = entity::provider_session::Entity::find().count(&app.db).await.unwrap();
    // The session of this test's second sign-in is live and expires in 12 h: kept.
    assert_eq!((links, sessions), (0, 1));
    let _ = token;
}

#[tokio::test]
async fn exchanges_racing_revocations_and_deactivations_never_answer_500() {
    let (app, token, _dir) = admin_server().await;
    let kasia = app.provider(0).clone();
    let external_id = app.external_id(kasia.id).await;
    let keys = format!("/api/v1/admin/providers/{external_id}/keys");
    for round in 0..40 {
        let (_, issued) = admin(&app, &token, Method::POST, &keys, Some(json!({ "label": format!("r{round}") }))).await;
        let key = issued["key"].as_str().unwrap().to_owned();
        let code = link_by_key(&app.client, &app.base, kasia.id, &key).await;
        let revoke = format!("{keys}/{}", issued["id"].as_str().unwrap());
        let (exchanged, revoked) =
            tokio::join!(exchange(&app.client, &app.base, &code), admin(&app, &token, Method::DELETE, &revoke, None));
        assert!(
            [StatusCode::CREATED, StatusCode::UNAUTHORIZED].contains(&exchanged.0),
            "round {round}: {:?}",
            exchanged
        );
        assert!(revoked.0.is_success(), "round {round}: {:?}", revoked);
        if let Some(cookie) = exchanged.1 {
            // Made before the revocation: ended by it.
            let pair = cookie.split(';').next().unwrap();
            let who = app.client.get(app.url("/api/v1/provider-session")).header("cookie", pair).send().await.unwrap();
            assert_eq!(who.status(), StatusCode::UNAUTHORIZED, "round {round}");
        }
    }
    let code = link_by_key(&app.client, &app.base, kasia.id, &kasia.key).await;
    let deactivate = format!("/api/v1/admin/providers/{external_id}/deactivate");
    let (exchanged, deactivated) =
        tokio::join!(exchange(&app.client, &app.base, &code), admin(&app, &token, Method::POST, &deactivate, None));
    assert!([StatusCode::CREATED, StatusCode::UNAUTHORIZED, StatusCode::GONE].contains(&exchanged.0), "{exchanged:?}");
    assert_eq!(deactivated.0, StatusCode::OK);
}

/// Over TLS the cookie is `__Host-slotstream_session`, `Secure`, and only it
/// counts: a plain `slotstream_session` (which a plain-HTTP service on the
/// same host or a sibling subdomain could plant) signs nobody in. The agenda
/// stream's first frame is a visible heartbeat saying the period.
#[tokio::test]
async fn over_tls_only_the_host_prefixed_secure_cookie_signs_in() {
    let app = TestApp::spawn_over(Protocol::H2Tls, &[]).await;
    let kasia = app.provider(0).clone();
    let code = link_by_key(&app.client, &app.base, kasia.id, &kasia.key).await;
    let (status, cookie, _) = exchange(&app.client, &app.base, &code).await;
    assert_eq!(status, StatusCode::CREATED);
    let cookie = cookie.unwrap();
    assert!(cookie.starts_with("__Host-slotstream_session=ps_"), "{cookie}");
    let attributes: Vec<&str> = cookie.split(';').map(str::trim).collect();
    for wanted in ["Secure", "HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(attributes.contains(&wanted), "{wanted} in {cookie}");
    }
    let token = attributes[0].split_once('=').unwrap().1;
    let who = |pair: String| {
        let request = app.client.get(app.url("/api/v1/provider-session")).header("cookie", pair);
        async move { request.send().await.unwrap().status() }
    };
    assert_eq!(who(format!("__Host-slotstream_session={token}")).await, StatusCode::OK);
    assert_eq!(who(format!("slotstream_session={token}")).await, StatusCode::UNAUTHORIZED, "a plain cookie over TLS");

    let mut stream =
        agenda_stream(&app.client, &app.base, kasia.id, &format!("__Host-slotstream_session={token}"), None).await;
    // The first frame: `next` reads it, skips it as a heartbeat and keeps its data.
    let deadline = tokio::time::Instant::now() + WAIT;
    while stream.heartbeat.is_none() && tokio::time::Instant::now() < deadline {
        assert!(stream.next(Duration::from_millis(100)).await.is_none(), "nothing but the heartbeat yet");
    }
    assert_eq!(stream.heartbeat.as_deref(), Some(r#"{"everySecs":15}"#));
}

/// A `Host` that is not one host and a numeric port, or two of them, makes no link.
#[tokio::test]
async fn a_link_is_made_only_on_one_well_formed_host() {
    let app = TestApp::spawn().await;
    for hosts in [&["evil.example:abc"][..], &["evil.example:99999"], &["a.example", "b.example"], &["u@evil.example"]]
    {
        let answer = mint_with_hosts(&app, hosts).await;
        assert!(answer.starts_with("HTTP/1.1 400"), "{hosts:?}: {answer}");
        assert!(!answer.contains("#code="), "{hosts:?}: {answer}");
    }
}

/// A sign-in link minted with the first demo provider's key over a raw
/// HTTP/1.1 connection sending `hosts` as its `Host` lines: the whole answer.
async fn mint_with_hosts(app: &TestApp, hosts: &[&str]) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let provider = app.provider(0);
    let host_lines: String = hosts.iter().map(|h| format!("Host: {h}\r\n")).collect();
    let request = format!(
        "POST /api/v1/providers/{}/sign-in-links HTTP/1.1\r\n{host_lines}Authorization: Bearer {}\r\n\
         Content-Length: 0\r\nConnection: close\r\n\r\n",
        provider.id, provider.key
    );
    let mut socket = tokio::net::TcpStream::connect(app.addr).await.unwrap();
    socket.write_all(request.as_bytes()).await.unwrap();
    let mut answer = String::new();
    socket.read_to_string(&mut answer).await.unwrap();
    answer
}
