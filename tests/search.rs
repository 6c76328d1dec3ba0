//! Search by time across providers (DESIGN 4c, issue 26): providers with a
//! free time for a matching service inside a window of a date in their own
//! zone, soonest first, paged by cursor, strong ETag and 304, answered from
//! the in-memory index the bus keeps current: a booking, a hold, a new
//! provider, a renamed service or a deactivation is in the very next answer
//! (on another instance within moments on PostgreSQL). Bad input is a 4xx
//! problem; nothing reaches a 5xx.

mod common;

use std::collections::{BTreeSet, HashSet};
use std::time::Duration;

use chrono::{DateTime, Datelike, FixedOffset, NaiveDate, TimeDelta, Utc, Weekday};
use common::*;
use reqwest::StatusCode;
use serde_json::{Value, json};
use uuid::Uuid;

/// A generous deadline for anything a test waits for (a wait, not a speed claim).
const WAIT: Duration = Duration::from_secs(60);

/// An answer of the search.
struct Found {
    status: StatusCode,
    etag: Option<String>,
    body: Value,
}

impl Found {
    fn results(&self) -> &Vec<Value> {
        self.body["results"].as_array().expect("results")
    }

    fn providers(&self) -> Vec<String> {
        self.results().iter().map(|r| r["providerId"].as_str().unwrap().to_owned()).collect()
    }

    fn of(&self, provider: Uuid) -> Option<&Value> {
        self.results().iter().find(|r| r["providerId"] == provider.to_string())
    }

    fn starts_of(&self, provider: Uuid) -> Vec<String> {
        self.of(provider).map_or_else(Vec::new, |r| {
            r["times"].as_array().unwrap().iter().map(|t| t["startsAt"].as_str().unwrap().to_owned()).collect()
        })
    }
}

/// `GET /api/v1/search?{query}` on `base`, with `If-None-Match: tag` when
/// given. Waits while the index is still loading (503 `search-unavailable`).
async fn search_at(client: &reqwest::Client, base: &str, query: &str, tag: Option<&str>) -> Found {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let mut request = client.get(format!("{base}/api/v1/search?{query}"));
        if let Some(tag) = tag {
            request = request.header("if-none-match", tag);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        let etag = response.headers().get("etag").map(|v| v.to_str().unwrap().to_owned());
        let text = response.text().await.unwrap();
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        if status == StatusCode::SERVICE_UNAVAILABLE && tokio::time::Instant::now() < deadline {
            assert_eq!(body["type"], "urn:slotstream:problem:search-unavailable", "{body}");
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        }
        return Found { status, etag, body };
    }
}

async fn search(app: &TestApp, query: &str) -> Found {
    let found = search_at(&app.client, &app.base, query, None).await;
    assert_eq!(found.status, StatusCode::OK, "{query}: {}", found.body);
    found
}

/// A working day (Monday to Saturday, when the demo providers open) at
/// least two days ahead: every zone's today is behind it.
fn working_day() -> NaiveDate {
    let mut date = Utc::now().date_naive() + TimeDelta::days(2);
    while date.weekday() == Weekday::Sun {
        date += TimeDelta::days(1);
    }
    date
}

/// The starts on `date` where back-to-back free slots of `provider` cover
/// `minutes` inside local `[from, to)` (`HH:MM`), from its availability
/// document: what the search must say, worked out another way.
async fn expected_starts(
    app: &TestApp,
    provider: Uuid,
    date: NaiveDate,
    minutes: i64,
    from: &str,
    to: &str,
) -> Vec<String> {
    let doc = availability(&app.client, &app.base, provider, &format!("?startDate={date}&days=1"), None).await.json();
    let slots: Vec<(DateTime<FixedOffset>, DateTime<FixedOffset>, String)> = doc["days"][0]["slots"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["status"] == "available")
        .map(|s| {
            let at = |k: &str| DateTime::parse_from_rfc3339(s[k].as_str().unwrap()).unwrap();
            (at("startsAt"), at("endsAt"), s["startTime"].as_str().unwrap().to_owned())
        })
        .collect();
    let mut starts = Vec::new();
    for (i, (start, end, local)) in slots.iter().enumerate() {
        let needed = *start + TimeDelta::minutes(minutes);
        let mut reach = *end;
        for (next_start, next_end, _) in &slots[i + 1..] {
            if reach >= needed || *next_start != reach {
                break;
            }
            reach = *next_end;
        }
        let end_local = needed.format("%H:%M").to_string();
        let inside = local.as_str() >= from
            && (end_local.as_str() <= to || to == "24:00")
            && needed.date_naive() == start.date_naive();
        if reach >= needed && inside && *start > Utc::now() {
            starts.push(start.to_rfc3339());
        }
    }
    starts
}

fn service_named(app_services: &[Value], name: &str) -> Uuid {
    let service = app_services.iter().find(|s| s["name"] == name).unwrap_or_else(|| panic!("no service {name}"));
    service["id"].as_str().unwrap().parse().unwrap()
}

async fn services_of(app: &TestApp, provider: Uuid) -> Vec<Value> {
    let listed = providers(&app.client, &app.base).await;
    let entry = listed.iter().find(|p| p["id"] == provider.to_string()).expect("listed");
    entry["services"].as_array().unwrap().clone()
}

#[tokio::test]
async fn providers_with_a_fitting_time_come_soonest_first_with_their_service_and_times() {
    let app = TestApp::spawn().await;
    let kasia = app.provider(0).id;
    let date = working_day();
    let found = search(&app, &format!("service=HAIRCUT&date={date}&from=12:00&to=16:00")).await;
    let result = found.of(kasia).expect("Kasia's Barber Shop cuts hair");
    assert_eq!(result["name"], "Kasia's Barber Shop");
    assert_eq!(result["timezone"], "Europe/Warsaw");
    assert_eq!(result["address"], "ul. Mokotowska 12, 00-561 Warszawa");
    assert_eq!(result["service"]["name"], "Haircut", "of Haircut (45 min) and Haircut & beard, the shorter at a tie");
    assert_eq!(result["service"]["durationMinutes"], 45);
    assert_eq!(result["service"]["priceMinor"], 7000);
    assert_eq!(result["service"]["currency"], "PLN");
    let expected = expected_starts(&app, kasia, date, 45, "12:00", "16:00").await;
    assert!(!expected.is_empty());
    assert_eq!(found.starts_of(kasia), expected.iter().take(5).cloned().collect::<Vec<_>>());
    for time in result["times"].as_array().unwrap() {
        let (start, end) = (time["startsAt"].as_str().unwrap(), time["endsAt"].as_str().unwrap());
        let minutes =
            (DateTime::parse_from_rfc3339(end).unwrap() - DateTime::parse_from_rfc3339(start).unwrap()).num_minutes();
        assert_eq!(minutes, 45, "{start}–{end}: the service's end");
        assert!(start.ends_with("+01:00") || start.ends_with("+02:00"), "{start}: the provider's own offset");
    }
    // Every result matches, and they come soonest first.
    let firsts: Vec<String> = found
        .results()
        .iter()
        .inspect(|r| assert!(r["service"]["name"].as_str().unwrap().to_lowercase().contains("haircut"), "{r}"))
        .map(|r| r["times"][0]["startsAt"].as_str().unwrap().to_owned())
        .collect();
    let instants: Vec<DateTime<FixedOffset>> =
        firsts.iter().map(|t| DateTime::parse_from_rfc3339(t).unwrap()).collect();
    assert!(instants.windows(2).all(|w| w[0] <= w[1]), "soonest first: {firsts:?}");
    // A window where the shop is closed finds no time of it.
    let closed = search(&app, &format!("service=haircut&date={date}&from=19:00&to=24:00")).await;
    assert!(closed.of(kasia).is_none(), "{}", closed.body);
}

#[tokio::test]
async fn a_booking_a_hold_and_a_cancellation_are_in_the_very_next_answer_and_change_the_tag() {
    let app = TestApp::spawn().await;
    let kasia = app.provider(0).id;
    let date = working_day();
    let query = format!("service=beard%20trim&date={date}");
    let before = search(&app, &query).await;
    let first = before.starts_of(kasia)[0].clone();
    let tag = before.etag.clone().expect("an ETag");
    assert!(tag.starts_with('"'), "strong: {tag}");
    let again = search_at(&app.client, &app.base, &query, Some(&tag)).await;
    assert_eq!(again.status, StatusCode::NOT_MODIFIED, "nothing changed: 304");
    assert_eq!(again.etag.as_deref(), Some(tag.as_str()));

    let beard = service_named(&services_of(&app, kasia).await, "Beard trim");
    let (status, booking) = book(&app.client, &app.base, kasia, beard, &first).await;
    assert_eq!(status, StatusCode::CREATED, "{booking}");
    // No wait: the answer after the booking's answer has it.
    let after = search_at(&app.client, &app.base, &query, Some(&tag)).await;
    assert_eq!(after.status, StatusCode::OK, "booked since: the old tag no longer matches");
    assert!(!after.starts_of(kasia).contains(&first), "{first} was just booked");
    assert_ne!(after.etag, before.etag);

    let id = booking["id"].as_str().unwrap();
    assert_eq!(cancel(&app.client, &app.base, id, booking["token"].as_str()).await, StatusCode::OK);
    let cancelled = search(&app, &query).await;
    assert_eq!(cancelled.starts_of(kasia)[0], first, "free again");
    assert_eq!(cancelled.body, before.body);
    assert_eq!(cancelled.etag, before.etag, "equal bodies, equal tags");

    let (status, hold) = post_json(
        &app.client,
        &app.url("/api/v1/holds"),
        &json!({ "providerId": kasia, "serviceId": beard, "startTime": first }),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{hold}");
    assert!(!search(&app, &query).await.starts_of(kasia).contains(&first), "held: not offered to others");
    let released = app
        .client
        .delete(app.url(&format!("/api/v1/holds/{}", hold["id"].as_str().unwrap())))
        .bearer_auth(hold["token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(released.status(), StatusCode::NO_CONTENT);
    assert_eq!(search(&app, &query).await.starts_of(kasia)[0], first);
}

#[tokio::test]
async fn a_service_fits_only_where_its_whole_length_lies_inside_the_window_and_the_free_slots() {
    let app = TestApp::spawn().await;
    let wawel = app.provider(3).id;
    let date = working_day();
    // Open 08:00-12:00 and 13:00-18:00: an hour between 11:00 and 14:00 fits at 11:00 and 13:00 only.
    let found = search(&app, &format!("service=hygiene&date={date}&from=11:00&to=14:00")).await;
    let local: Vec<String> = found.starts_of(wawel).iter().map(|t| t[11..16].to_owned()).collect();
    assert_eq!(
        local,
        expected_starts(&app, wawel, date, 60, "11:00", "14:00")
            .await
            .iter()
            .map(|t| t[11..16].to_owned())
            .collect::<Vec<_>>()
    );
    assert!(local.iter().all(|t| t == "11:00" || t == "13:00"), "{local:?}");
}

#[tokio::test]
async fn pages_follow_each_other_by_cursor_without_gaps_or_repeats() {
    let app = TestApp::spawn().await;
    let date = working_day();
    let all = search(&app, &format!("date={date}&limit=50")).await;
    assert!(all.body.get("cursor").is_none(), "one page holds them all");
    let everyone = all.providers();
    assert!(everyone.len() >= 5, "{}", all.body);
    let mut walked = Vec::new();
    let mut query = format!("date={date}&limit=2");
    loop {
        let page = search(&app, &query).await;
        assert!(page.results().len() <= 2);
        walked.extend(page.providers());
        match page.body["cursor"].as_str() {
            Some(cursor) => query = format!("date={date}&limit=2&cursor={cursor}"),
            None => break,
        }
    }
    assert_eq!(walked, everyone, "the pages in a row are the one long page");
}

#[tokio::test]
async fn suggestions_name_the_services_on_offer() {
    let app = TestApp::spawn().await;
    // Wait for the index to load.
    search(&app, "").await;
    let answer: Value =
        app.client.get(app.url("/api/v1/search/services?q=HAIR")).send().await.unwrap().json().await.unwrap();
    let names: BTreeSet<&str> =
        answer["services"].as_array().unwrap().iter().map(|s| s["name"].as_str().unwrap()).collect();
    assert!(names.contains("Haircut") && names.contains("Haircut & beard"), "{answer}");
    assert!(names.iter().all(|n| n.to_lowercase().contains("hair")), "{answer}");
}

#[tokio::test]
async fn bad_input_is_a_4xx_problem_and_nothing_is_a_5xx() {
    let app = TestApp::spawn().await;
    let date = working_day();
    // Wait for the index, so no answer below is its 503.
    search(&app, "").await;
    let long = "x".repeat(101);
    let cases = [
        (format!("date={date}&from=18:00&to=09:00"), StatusCode::UNPROCESSABLE_ENTITY),
        (format!("date={date}&from=10:00&to=10:00"), StatusCode::UNPROCESSABLE_ENTITY),
        (format!("date={date}&from=9:00"), StatusCode::UNPROCESSABLE_ENTITY),
        (format!("date={date}&to=25:00"), StatusCode::UNPROCESSABLE_ENTITY),
        ("date=2026-13-01".to_owned(), StatusCode::BAD_REQUEST),
        ("date=tomorrow".to_owned(), StatusCode::BAD_REQUEST),
        ("date=%2B262142-01-01".to_owned(), StatusCode::UNPROCESSABLE_ENTITY),
        ("date=%2B262143-01-01".to_owned(), StatusCode::BAD_REQUEST),
        ("date=9999-12-31".to_owned(), StatusCode::UNPROCESSABLE_ENTITY),
        ("date=1970-01-01".to_owned(), StatusCode::UNPROCESSABLE_ENTITY),
        ("limit=0".to_owned(), StatusCode::UNPROCESSABLE_ENTITY),
        ("limit=51".to_owned(), StatusCode::UNPROCESSABLE_ENTITY),
        ("limit=99999999999999999999999".to_owned(), StatusCode::BAD_REQUEST),
        ("cursor=garbage".to_owned(), StatusCode::BAD_REQUEST),
        (format!("service={long}"), StatusCode::UNPROCESSABLE_ENTITY),
        ("providerId=1".to_owned(), StatusCode::BAD_REQUEST),
    ];
    for (query, status) in cases {
        let response = app.client.get(app.url(&format!("/api/v1/search?{query}"))).send().await.unwrap();
        assert_eq!(response.status(), status, "{query}");
        let kind = response.headers()["content-type"].to_str().unwrap().to_owned();
        assert_eq!(kind, "application/problem+json", "{query}");
    }
    for odd in ["service=%00%FF", "service=%E2%80%AE", "service=%25", "service=_", "from=00:00&to=24:00", "date="] {
        let response = app.client.get(app.url(&format!("/api/v1/search?{odd}"))).send().await.unwrap();
        assert!(response.status().is_success() || response.status().is_client_error(), "{odd}: {}", response.status());
    }
    let response = app.client.get(app.url(&format!("/api/v1/search/services?q={long}"))).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn a_new_provider_a_renamed_service_and_a_deactivation_reach_the_search() {
    let (app, token, _dir) = admin_server().await;
    let date = working_day();
    let (status, created) = put(
        &app,
        &token,
        "/api/v1/admin/providers/search-nails",
        json!({ "name": "Kyoto Nails", "timezone": "Asia/Tokyo", "address": "1 Shijo, Kyoto", "currency": "JPY" }),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let id: Uuid = created["id"].as_str().unwrap().parse().unwrap();
    let service = json!({ "name": "Gel manicure", "durationMinutes": 60, "priceMinor": 4500, "currency": "JPY" });
    let (status, _) = put(&app, &token, "/api/v1/admin/providers/search-nails/services/gel", service).await;
    assert_eq!(status, StatusCode::CREATED);
    let weekly: serde_json::Map<String, Value> =
        ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
            .iter()
            .map(|day| ((*day).to_owned(), json!([["10:00", "16:00"]])))
            .collect();
    let (status, body) = put(
        &app,
        &token,
        "/api/v1/admin/providers/search-nails/schedule",
        json!({ "slotMinutes": 30, "weekly": weekly }),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    let found = search(&app, &format!("service=manicure&date={date}")).await;
    let result = found.of(id).expect("the new provider, at once");
    assert_eq!(result["service"]["priceMinor"], 4500);
    assert_eq!(result["service"]["currency"], "JPY");
    assert!(result["times"][0]["startsAt"].as_str().unwrap().ends_with("+09:00"));
    assert_eq!(&result["times"][0]["startsAt"].as_str().unwrap()[11..16], "10:00");

    let renamed = json!({ "name": "Gel nails", "durationMinutes": 60, "priceMinor": 5000, "currency": "JPY" });
    let (status, _) = put(&app, &token, "/api/v1/admin/providers/search-nails/services/gel", renamed).await;
    assert_eq!(status, StatusCode::OK);
    assert!(search(&app, &format!("service=manicure&date={date}")).await.of(id).is_none(), "renamed away");
    let found = search(&app, &format!("service=gel%20nails&date={date}")).await;
    assert_eq!(found.of(id).expect("found by its new name")["service"]["priceMinor"], 5000);
    // Longer: an hour and a half fits from 10:00 to 14:30 only.
    let longer = json!({ "name": "Gel nails", "durationMinutes": 330, "priceMinor": 5000, "currency": "JPY" });
    put(&app, &token, "/api/v1/admin/providers/search-nails/services/gel", longer).await;
    let found = search(&app, &format!("service=gel%20nails&date={date}")).await;
    let local: Vec<String> = found.starts_of(id).iter().map(|t| t[11..16].to_owned()).collect();
    assert_eq!(local, ["10:00", "10:30"], "5.5 hours inside 10:00-16:00");

    let (status, _) =
        admin(&app, &token, reqwest::Method::POST, "/api/v1/admin/providers/search-nails/deactivate", None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(search(&app, &format!("date={date}&limit=50")).await.of(id).is_none(), "deactivated: gone at once");
    let (status, _) =
        admin(&app, &token, reqwest::Method::POST, "/api/v1/admin/providers/search-nails/reactivate", None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(search(&app, &format!("date={date}&limit=50")).await.of(id).is_some(), "back at once");
}

#[tokio::test]
async fn bookings_racing_searches_never_leave_a_taken_time_in_an_answer_given_after_it() {
    let app = TestApp::spawn().await;
    let kasia = app.provider(0).id;
    let date = working_day();
    let beard = service_named(&services_of(&app, kasia).await, "Beard trim");
    let query = format!("service=beard%20trim&date={date}&limit=50");
    let times = search(&app, &query).await.starts_of(kasia);
    let mut taken: HashSet<String> = HashSet::new();
    for start in times.iter().take(4) {
        let searcher = {
            let (client, base, query) = (app.client.clone(), app.base.clone(), query.clone());
            tokio::spawn(async move { search_at(&client, &base, &query, None).await })
        };
        let (status, _) = book(&app.client, &app.base, kasia, beard, start).await;
        assert_eq!(status, StatusCode::CREATED);
        taken.insert(start.clone());
        assert_eq!(searcher.await.unwrap().status, StatusCode::OK);
        let after = search(&app, &query).await.starts_of(kasia);
        assert!(after.iter().all(|t| !taken.contains(t)), "{after:?} offers a booked time of {taken:?}");
    }
}

#[tokio::test]
async fn a_restart_loads_the_index_from_the_database() {
    let app = TestApp::spawn().await;
    let kasia = app.provider(0).id;
    let date = working_day();
    let query = format!("service=haircut&date={date}");
    let first = search(&app, &query).await.starts_of(kasia)[0].clone();
    let haircut = service_named(&services_of(&app, kasia).await, "Haircut");
    assert_eq!(book(&app.client, &app.base, kasia, haircut, &first).await.0, StatusCode::CREATED);
    let before = search(&app, &query).await;
    let (url, db, providers) = app.stop().await;
    let app = TestApp::start(url, db, providers, &[]).await;
    let after = search(&app, &query).await;
    assert_eq!(after.body, before.body, "the same answer from the database as kept live");
    assert!(!after.starts_of(kasia).contains(&first));
}

#[tokio::test]
async fn a_booking_on_one_instance_leaves_the_other_instances_search_at_once() {
    if !postgres_only("two instances share only a PostgreSQL database") {
        return;
    }
    let (url, seeded) = seeded_database().await;
    let (a, b, client) = two_instances(&url, &[]).await;
    let kasia = seeded[0].id;
    let date = working_day();
    let query = format!("service=beard%20trim&date={date}");
    let on_b = search_at(&client, &b.url(""), &query, None).await;
    let first = on_b.starts_of(kasia)[0].clone();
    let listed = providers(&client, &a.url("")).await;
    let services =
        listed.iter().find(|p| p["id"] == kasia.to_string()).unwrap()["services"].as_array().unwrap().clone();
    let beard = service_named(&services, "Beard trim");
    let (status, _) = book(&client, &a.url(""), kasia, beard, &first).await;
    assert_eq!(status, StatusCode::CREATED);
    // Instance B learns of it by NOTIFY: wait for that, not for a time.
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let found = search_at(&client, &b.url(""), &query, None).await;
        assert_eq!(found.status, StatusCode::OK);
        if !found.starts_of(kasia).contains(&first) {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "instance B still offers a time booked on A");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let on_a = search_at(&client, &a.url(""), &query, None).await;
    let on_b = search_at(&client, &b.url(""), &query, None).await;
    assert_eq!(on_a.body, on_b.body, "both instances give one answer");
}

#[tokio::test]
async fn the_same_search_many_times_at_once_gives_one_answer() {
    let app = TestApp::spawn().await;
    let query = format!("service=a&date={}&limit=50", working_day());
    search(&app, &query).await;
    let answers =
        futures_util::future::join_all((0..20).map(|_| search_at(&app.client, &app.base, &query, None))).await;
    let first = &answers[0];
    assert_eq!(first.status, StatusCode::OK);
    for answer in &answers {
        assert_eq!((answer.status, &answer.etag, &answer.body), (first.status, &first.etag, &first.body));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn while_the_database_is_down_the_search_answers_from_memory_and_catches_up_after() {
    if !postgres_only("stops and starts a private PostgreSQL cluster") {
        return;
    }
    let cluster = PrivateCluster::start();
    let db = slotstream::server::connect(&cluster.url(), POOL_SIZE).await.expect("connect");
    let providers = slotstream::cli::seed::seed_demo(&db, TEST_PROVIDERS).await.expect("seed");
    let app = TestApp::start(cluster.url(), db, providers, &[]).await;
    let kasia = app.provider(0).id;
    let beard = service_named(&services_of(&app, kasia).await, "Beard trim");
    let query = format!("service=beard%20trim&date={}", working_day());
    let before = search(&app, &query).await;

    cluster.stop();
    let during = search_at(&app.client, &app.base, &query, None).await;
    assert_eq!(during.status, StatusCode::OK, "{}", during.body);
    assert_eq!(during.body, before.body, "the index needs no database to answer");
    let again = search_at(&app.client, &app.base, &query, before.etag.as_deref()).await;
    assert_eq!(again.status, StatusCode::NOT_MODIFIED);

    cluster.start_again();
    let first = before.starts_of(kasia)[0].clone();
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let (status, _) = book(&app.client, &app.base, kasia, beard, &first).await;
        if status == StatusCode::CREATED {
            break;
        }
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "only the outage refuses it");
        assert!(tokio::time::Instant::now() < deadline, "the database never came back");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(!search(&app, &query).await.starts_of(kasia).contains(&first), "booked after the outage: gone");
}

/// Red team, issue 26: every time the search offers can be held as it is:
/// an `external` provider's times (booked in the marketplace's own system,
/// a hold is `409 books-elsewhere`) are not offered, nor a west-of-UTC
/// evening of the last bookable date (past the range a hold accepts); one
/// provider counts once per suggested name however it spells it.
#[tokio::test]
async fn every_time_offered_can_be_held_as_it_is() {
    let (app, token, _dir) =
        admin_server_with(&["--max-days-ahead", "3", "--max-holds-per-client", "100", "--hold-burst", "100"]).await;
    let last = Utc::now().date_naive() + TimeDelta::days(3);
    let weekly: serde_json::Map<String, Value> =
        ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
            .iter()
            .map(|day| ((*day).to_owned(), json!([["10:00", "16:00"]])))
            .collect();
    let provider = json!({ "name": "Pago Pago Spa", "timezone": "Pacific/Pago_Pago", "currency": "USD" });
    assert_eq!(put(&app, &token, "/api/v1/admin/providers/far-west", provider).await.0, StatusCode::CREATED);
    for (id, name) in [("a", "Zyxeta"), ("b", "Zyxfoo"), ("c", "zyxeta")] {
        let service = json!({ "name": name, "durationMinutes": 30, "priceMinor": 100, "currency": "USD" });
        put(&app, &token, &format!("/api/v1/admin/providers/far-west/services/{id}"), service).await;
    }
    let (status, body) =
        put(&app, &token, "/api/v1/admin/providers/far-west/schedule", json!({ "slotMinutes": 30, "weekly": weekly }))
            .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // 10:00-16:00 at -11:00 is 21:00-03:00 UTC: on the last date, only the times before midnight UTC are bookable.
    let found = search(&app, &format!("service=zyxeta&date={last}&limit=50")).await;
    let times: Vec<String> = found
        .results()
        .iter()
        .flat_map(|r| r["times"].as_array().unwrap().clone())
        .map(|t| t["startsAt"].as_str().unwrap().to_owned())
        .collect();
    assert!(!times.is_empty(), "{}", found.body);
    let result = &found.results()[0];
    for starts_at in &times {
        let (status, hold) = post_json(
            &app.client,
            &app.url("/api/v1/holds"),
            &json!({ "providerId": result["providerId"], "serviceId": result["service"]["id"], "startTime": starts_at }),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED, "{starts_at}: {hold}");
    }

    // Suggestions: three services, two names.
    let answer: Value =
        app.client.get(app.url("/api/v1/search/services?q=zyx")).send().await.unwrap().json().await.unwrap();
    let counts: Vec<(String, u64)> = answer["services"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["name"].as_str().unwrap().to_lowercase(), s["providers"].as_u64().unwrap()))
        .collect();
    assert_eq!(counts, [("zyxeta".to_owned(), 1), ("zyxfoo".to_owned(), 1)], "{answer}");

    // An external provider's times are booked elsewhere: not offered.
    let external = json!({ "name": "Elm Barbers", "timezone": "Europe/Warsaw", "currency": "PLN", "slotSource": "external",
        "bookingUrl": "https://book.example.com/elm/{externalSlotId}" });
    assert_eq!(put(&app, &token, "/api/v1/admin/providers/ext-elm", external).await.0, StatusCode::CREATED);
    let service = json!({ "name": "Zyxexternal", "durationMinutes": 30, "priceMinor": 100, "currency": "PLN" });
    put(&app, &token, "/api/v1/admin/providers/ext-elm/services/cut", service).await;
    let date = working_day();
    let at = |hh: &str| format!("{date}T{hh}:00+01:00");
    let changes = json!({ "sequence": 1, "changes": [{ "externalSlotId": "av-1", "startsAt": at("14:00"), "endsAt": at("14:30"), "status": "available" }] });
    let (status, applied) =
        admin(&app, &token, reqwest::Method::POST, "/api/v1/admin/providers/ext-elm/slot-changes", Some(changes)).await;
    assert_eq!(status, StatusCode::OK, "{applied}");
    assert!(search(&app, &format!("service=zyxexternal&date={date}")).await.results().is_empty(), "books elsewhere");
}
