//! The calendar at its edges, over real HTTP: daylight-saving changes in
//! Europe/Warsaw (the spring gap and the autumn overlap), a legacy slot whose
//! local time does not exist, the largest slot batch a request may create,
//! and customer names made of invisible or bidi-control characters.

mod common;

use chrono::{DateTime, Datelike, FixedOffset, NaiveDate, NaiveTime, TimeDelta, Utc};
use chrono_tz::Tz;
use common::*;
use reqwest::StatusCode;
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter};
use serde_json::{Value, json};
use uuid::Uuid;

/// The demo provider 0 lives in Europe/Warsaw.
const WARSAW: Tz = chrono_tz::Europe::Warsaw;

/// The year whose clock-change nights these tests use: far enough ahead that
/// all of its dates from March on are bookable (no earlier than yesterday),
/// and near enough that its October is within the default 730 days ahead.
fn test_year() -> i32 {
    (Utc::now().date_naive() + TimeDelta::days(366)).year()
}

/// The last Sunday of `month` in the test year: Europe/Warsaw's clock change.
fn last_sunday(month: u32) -> NaiveDate {
    let first_of_next = NaiveDate::from_ymd_opt(test_year(), month + 1, 1).unwrap();
    let last = first_of_next - TimeDelta::days(1);
    last - TimeDelta::days(i64::from(last.weekday().num_days_from_sunday()))
}

/// Warsaw's spring-forward night (02:00 CET becomes 03:00 CEST).
fn spring() -> NaiveDate {
    last_sunday(3)
}

/// Warsaw's fall-back night (03:00 CEST becomes 02:00 CET).
fn autumn() -> NaiveDate {
    last_sunday(10)
}

/// The first of June of the test year: a month with no clock change.
fn june() -> NaiveDate {
    NaiveDate::from_ymd_opt(test_year(), 6, 1).unwrap()
}

async fn create_slots(app: &TestApp, body: Value) -> (StatusCode, Option<String>, Value) {
    let provider = app.provider(0);
    let response = app
        .client
        .post(app.url(&format!("/api/v1/providers/{}/slots", provider.id)))
        .bearer_auth(&provider.key)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = response.status();
    let content_type = response.headers().get("content-type").map(|v| v.to_str().unwrap().to_owned());
    (status, content_type, response.json().await.unwrap_or(Value::Null))
}

/// A slot of an availability document with its instants parsed.
#[derive(Debug)]
struct RenderedSlot {
    id: String,
    date: NaiveDate,
    start_time: NaiveTime,
    end_time: NaiveTime,
    starts_at: DateTime<FixedOffset>,
    ends_at: DateTime<FixedOffset>,
    status: String,
}

fn rendered_slots(doc: &Value) -> Vec<RenderedSlot> {
    let time = |v: &Value| NaiveTime::parse_from_str(v.as_str().unwrap(), "%H:%M").unwrap();
    let instant = |v: &Value| DateTime::parse_from_rfc3339(v.as_str().unwrap()).unwrap();
    let mut out = Vec::new();
    for day in doc["days"].as_array().unwrap() {
        let date: NaiveDate = day["date"].as_str().unwrap().parse().unwrap();
        for slot in day["slots"].as_array().unwrap() {
            out.push(RenderedSlot {
                id: slot["availabilityId"].as_str().unwrap().to_owned(),
                date,
                start_time: time(&slot["startTime"]),
                end_time: time(&slot["endTime"]),
                starts_at: instant(&slot["startsAt"]),
                ends_at: instant(&slot["endsAt"]),
                status: slot["status"].as_str().unwrap().to_owned(),
            });
        }
    }
    out
}

/// The document for `query`, which must answer 200.
async fn document(app: &TestApp, query: &str) -> Value {
    let doc = availability(&app.client, &app.base, app.provider(0).id, query, None).await;
    assert_eq!(doc.status, StatusCode::OK, "GET {query}: {}", doc.body);
    doc.json()
}

/// Every slot's `startsAt`/`endsAt` denote its local date and times in
/// Warsaw, each slot lasts `minutes` of real time, and no two slots share an
/// instant.
fn assert_consistent_instants(slots: &[RenderedSlot], minutes: i64) {
    for slot in slots {
        let start = slot.starts_at.with_timezone(&WARSAW).naive_local();
        let end = slot.ends_at.with_timezone(&WARSAW).naive_local();
        assert_eq!((start.date(), start.time()), (slot.date, slot.start_time), "startsAt of {slot:?}");
        assert_eq!(end.time(), slot.end_time, "endsAt of {slot:?}");
        assert_eq!(slot.ends_at - slot.starts_at, TimeDelta::minutes(minutes), "real length of {slot:?}");
    }
    for (i, a) in slots.iter().enumerate() {
        for b in &slots[i + 1..] {
            assert!(a.ends_at <= b.starts_at || b.ends_at <= a.starts_at, "{a:?} and {b:?} share an instant");
        }
    }
}

/// No two confirmed bookings of the provider cover the same real instant.
async fn assert_no_two_bookings_share_an_instant(app: &TestApp) {
    let bookings = entity::booking::Entity::find()
        .filter(entity::booking::Column::ProviderId.eq(app.provider(0).id))
        .filter(entity::booking::Column::Status.eq(entity::booking::Status::Confirmed))
        .all(&app.db)
        .await
        .unwrap();
    for (i, a) in bookings.iter().enumerate() {
        for b in &bookings[i + 1..] {
            assert!(
                a.ends_at <= b.starts_at || b.ends_at <= a.starts_at,
                "bookings {} [{}, {}) and {} [{}, {}) overlap",
                a.id,
                a.starts_at,
                a.ends_at,
                b.id,
                b.starts_at,
                b.ends_at
            );
        }
    }
}

fn local_times(slots: &[RenderedSlot]) -> Vec<String> {
    slots.iter().map(|s| s.start_time.format("%H:%M").to_string()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spring_night_has_a_slot_for_every_real_half_hour_and_bookings_never_share_an_instant() {
    let app = TestApp::spawn().await;
    let provider = app.provider(0).id;
    // The spring night in Warsaw: 02:00 CET jumps to 03:00 CEST. Between 01:00
    // and 04:00 local there are four real half hours: 01:00, 01:30 (which
    // ends at 03:00 on the wall clock), 03:00 and 03:30.
    let (status, _, created) = create_slots(
        &app,
        json!({ "dates": [spring().to_string()], "open": "01:00", "close": "04:00", "slotMinutes": 30 }),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    // Every range that covers the date answers 200.
    for query in [
        &format!("?startDate={}&days=1", spring()),
        &format!("?startDate={}&days=7", spring() - TimeDelta::days(6)),
        &format!("?startDate={}-03-01&days=31", test_year()),
    ] {
        document(&app, query).await;
    }
    let slots = rendered_slots(&document(&app, &format!("?startDate={}&days=1", spring())).await);
    assert_eq!(local_times(&slots), ["01:00", "01:30", "03:00", "03:30"], "no slot starts inside the gap");
    assert_eq!(slots[1].end_time, NaiveTime::from_hms_opt(3, 0, 0).unwrap(), "01:30 ends after the gap");
    assert_consistent_instants(&slots, 30);
    assert_eq!(created["created"], 4, "{created}");
    let skipped: Vec<(&str, &str)> = created["skipped"]
        .as_array()
        .expect("skipped slots listed")
        .iter()
        .map(|s| {
            assert_eq!(s["date"], spring().to_string());
            assert_eq!(s["reason"], "local-time-does-not-exist", "{s}");
            (s["startTime"].as_str().unwrap(), s["endTime"].as_str().unwrap())
        })
        .collect();
    assert_eq!(skipped, [("02:00", "02:30"), ("02:30", "03:00")]);

    // 60 minutes from 01:30+01:00 end at 03:30+02:00: the 01:30 and 03:00 slots.
    let hour = service_with(&app.client, &app.base, provider, 60).await;
    let half_hour = service_with(&app.client, &app.base, provider, 30).await;
    let (status, body) = book(&app.client, &app.base, provider, hour, &format!("{}T01:30:00+01:00", spring())).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["endTime"], format!("{}T01:30:00Z", spring()), "{body}");
    // 03:00+02:00 (also written 02:00+01:00) is taken by it.
    for start in [format!("{}T03:00:00+02:00", spring()), format!("{}T02:00:00+01:00", spring())] {
        let (status, body) = book(&app.client, &app.base, provider, half_hour, &start).await;
        assert_eq!(status, StatusCode::CONFLICT, "{start}: {body}");
    }
    for start in [format!("{}T01:00:00+01:00", spring()), format!("{}T01:30:00Z", spring())] {
        let (status, body) = book(&app.client, &app.base, provider, half_hour, &start).await;
        assert_eq!(status, StatusCode::CREATED, "{start}: {body}");
    }
    assert_no_two_bookings_share_an_instant(&app).await;
    let slots = rendered_slots(&document(&app, &format!("?startDate={}&days=1", spring())).await);
    assert!(slots.iter().all(|s| s.status == "booked"), "{slots:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn autumn_overlap_books_by_instant_never_the_slot_an_hour_earlier() {
    let app = TestApp::spawn().await;
    let provider = app.provider(0).id;
    // The autumn night in Warsaw: 03:00 CEST falls back to 02:00 CET; 02:00-03:00 happens twice.
    let (status, _, created) = create_slots(
        &app,
        json!({ "dates": [autumn().to_string()], "open": "01:00", "close": "04:00", "slotMinutes": 30 }),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    // The second 02:00 (+01:00) is an hour after the slot: it must not take it.
    let half_hour = service_with(&app.client, &app.base, provider, 30).await;
    let (status, body) =
        book(&app.client, &app.base, provider, half_hour, &format!("{}T02:00:00+01:00", autumn())).await;
    assert_eq!(status, StatusCode::CONFLICT, "02:00+01:00 has no slot: {body}");
    // 02:30 (the earlier, +02:00) plus 30 minutes is the second 02:00 (+01:00), an end
    // before its start on the wall clock: not created; the second pass has no slots.
    assert_eq!(created["created"], 5, "{created}");
    assert_eq!(
        created["skipped"],
        json!([{ "date": autumn().to_string(), "startTime": "02:30", "endTime": "03:00", "reason": "clock-change-alters-length" }])
    );
    let slots = rendered_slots(&document(&app, &format!("?startDate={}&days=1", autumn())).await);
    assert_eq!(local_times(&slots), ["01:00", "01:30", "02:00", "03:00", "03:30"]);
    assert_consistent_instants(&slots, 30);
    let first_two = slots.iter().find(|s| s.start_time == NaiveTime::from_hms_opt(2, 0, 0).unwrap()).unwrap();
    assert_eq!(first_two.starts_at.to_rfc3339(), format!("{}T02:00:00+02:00", autumn()), "the earlier 02:00");
    let slots = rendered_slots(&document(&app, &format!("?startDate={}&days=1", autumn())).await);
    assert!(slots.iter().all(|s| s.status == "available"), "{slots:?}");

    // The first 02:00 (+02:00) books exactly that slot.
    let (status, booked) =
        book(&app.client, &app.base, provider, half_hour, &format!("{}T02:00:00+02:00", autumn())).await;
    assert_eq!(status, StatusCode::CREATED, "{booked}");
    assert_eq!(booked["startTime"], format!("{}T00:00:00Z", autumn()));
    let slots = rendered_slots(&document(&app, &format!("?startDate={}&days=1", autumn())).await);
    let taken: Vec<&str> = slots.iter().filter(|s| s.status == "booked").map(|s| s.id.as_str()).collect();
    assert_eq!(taken, [first_two.id.as_str()]);

    // Rescheduling onto the second 02:00 is refused and changes nothing.
    let response = app
        .client
        .post(app.url(&format!("/api/v1/bookings/{}/reschedule", booked["id"].as_str().unwrap())))
        .bearer_auth(booked["token"].as_str().unwrap())
        .json(&json!({ "startTime": format!("{}T02:00:00+01:00", autumn()) }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CONFLICT);
    let again = rendered_slots(&document(&app, &format!("?startDate={}&days=1", autumn())).await);
    let still: Vec<&str> = again.iter().filter(|s| s.status == "booked").map(|s| s.id.as_str()).collect();
    assert_eq!(still, taken);
    // And the slot after the repeated hour is still bookable by its own instant.
    let (status, body) =
        book(&app.client, &app.base, provider, half_hour, &format!("{}T03:00:00+01:00", autumn())).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_no_two_bookings_share_an_instant(&app).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_legacy_slot_inside_the_gap_is_left_out_not_an_error() {
    let app = TestApp::spawn().await;
    let provider = app.provider(0).id;
    let date = spring();
    let hm = |h, m| NaiveTime::from_hms_opt(h, m, 0).unwrap();
    // As an older build could have stored them: one slot in the gap, one ending in it, one fine.
    let rows = [(hm(2, 30), hm(3, 0)), (hm(1, 30), hm(2, 0)), (hm(10, 0), hm(10, 30))];
    for (start, end) in rows {
        entity::availability_slot::Entity::insert(entity::availability_slot::ActiveModel {
            id: Set(Uuid::new_v4()),
            provider_id: Set(provider),
            date: Set(date),
            start_time: Set(start),
            end_time: Set(end),
            status: Set(entity::availability_slot::Status::Available),
            booking_id: Set(None),
            hold_id: Set(None),
            last_modified_at: Set(Utc::now()),
            last_modified_by: Set(Some("provider".into())),
            from_schedule: Set(false),
            external_slot_id: Set(None),
        })
        .exec_without_returning(&app.db)
        .await
        .unwrap();
    }
    for query in
        [&format!("?startDate={}&days=1", spring()), &format!("?startDate={}&days=7", spring() - TimeDelta::days(3))]
    {
        let slots = rendered_slots(&document(&app, query).await);
        assert_eq!(local_times(&slots), ["10:00"], "{query}");
    }
    // Creating slots over the legacy rows skips them instead of failing.
    let (status, _, created) = create_slots(
        &app,
        json!({ "dates": [spring().to_string()], "open": "01:00", "close": "04:00", "slotMinutes": 30 }),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let slots = rendered_slots(&document(&app, &format!("?startDate={}&days=1", spring())).await);
    assert_eq!(local_times(&slots), ["01:00", "03:00", "03:30", "10:00"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thirty_one_days_of_five_minute_slots_round_the_clock_in_one_request() {
    let app = TestApp::spawn().await;
    let provider = app.provider(0).id;
    // June: no clock change in Warsaw, so every one of 31 x 288 slots exists.
    let first = june();
    let dates: Vec<String> = (0..31).map(|n| (first + TimeDelta::days(n)).to_string()).collect();
    let version_before = document(&app, &format!("?startDate={}&days=1", june())).await["version"].as_i64().unwrap();
    let (status, _, created) =
        create_slots(&app, json!({ "dates": dates, "open": "00:00", "close": "24:00", "slotMinutes": 5 })).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["created"], 31 * 288);
    assert_eq!(created["skipped"], json!([]));
    assert_eq!(created["version"], version_before + 31 * 288, "one event per slot");

    let doc = document(&app, &format!("?startDate={}&days=31", june())).await;
    assert_eq!(doc["version"], created["version"]);
    let slots = rendered_slots(&doc);
    assert_eq!(slots.len(), 31 * 288);
    let last = slots.last().unwrap();
    assert_eq!((last.start_time.to_string().as_str(), last.end_time.to_string().as_str()), ("23:55:00", "00:00:00"));
    assert_eq!(last.ends_at.to_rfc3339(), format!("{}T00:00:00+02:00", june() + TimeDelta::days(31)));
    let events = entity::slot_event::Entity::find()
        .filter(entity::slot_event::Column::ProviderId.eq(provider))
        // After the seed's own events.
        .filter(entity::slot_event::Column::Version.gt(version_before))
        .all(&app.db)
        .await
        .unwrap();
    assert_eq!(events.len(), 31 * 288, "every event in the log");

    // Beyond the limits: 32 dates, or slots under 5 minutes.
    let mut too_many = dates.clone();
    too_many.push((june() + TimeDelta::days(31)).to_string());
    for body in [
        json!({ "dates": too_many, "open": "00:00", "close": "24:00", "slotMinutes": 5 }),
        json!({ "dates": [(june() + TimeDelta::days(31)).to_string()], "open": "00:00", "close": "24:00", "slotMinutes": 4 }),
    ] {
        let (status, content_type, problem) = create_slots(&app, body).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
        assert_eq!(content_type.as_deref(), Some("application/problem+json"));
        assert_eq!(problem["status"], 422);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn names_without_a_visible_letter_or_with_bidi_controls_are_refused() {
    let app = TestApp::spawn().await;
    let provider = app.provider(0).id;
    let service = service_with(&app.client, &app.base, provider, 30).await;
    let free = availability(&app.client, &app.base, provider, "?days=14", None).await.free_slots();
    let starts_at = &free[0].1;
    let post = |name: &str| {
        let mut body = booking_body(provider, service, starts_at);
        body["customer"]["name"] = json!(name);
        app.client.post(app.url("/api/v1/bookings")).json(&body).send()
    };
    let refused = [
        "\u{200B}",
        "\u{200B}\u{200C}\u{200D}\u{2060}\u{FEFF}",
        "\u{202E}",
        "\u{202E}\u{202C}",
        "\u{2066}\u{2069}",
        "\u{200E}\u{200F}\u{061C}",
        "Ada \u{202E}ecalevol",
        "\u{2067}Ada\u{2069}",
        "Ada\u{2028}Lovelace",
    ];
    for name in refused {
        let response = post(name).await.unwrap();
        assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY, "{name:?}");
        assert_eq!(response.headers()["content-type"], "application/problem+json", "{name:?}");
    }
    let bookings = entity::booking::Entity::find().all(&app.db).await.unwrap();
    assert!(bookings.is_empty(), "nothing booked for an invisible name");

    for (name, (_, starts_at)) in ["Zoë Łukasiewicz-Núñez", "山田太郎", "محمد"].into_iter().zip(&free) {
        let mut body = booking_body(provider, service, starts_at);
        body["customer"]["name"] = json!(name);
        let response = app.client.post(app.url("/api/v1/bookings")).json(&body).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::CREATED, "{name}");
    }
}

/// A year as RFC 3339 and ISO 8601 write it: four digits, or signed and
/// expanded beyond them (`+262142`, `-000001`), as chrono reads them.
fn year_text(year: i32) -> String {
    if (0..=9999).contains(&year) { format!("{year:04}") } else { format!("{year:+07}") }
}

/// Years at and around every limit (chrono's, the four-digit one, the Unix
/// epoch, today's and the bookable range's), or any year chrono knows.
fn any_year() -> impl proptest::strategy::Strategy<Value = i32> {
    use proptest::prelude::*;
    let today = Utc::now().date_naive().format("%Y").to_string().parse::<i32>().unwrap();
    prop_oneof![
        prop::sample::select(vec![-262_143, -262_142, -1, 0, 1, 1969, 1970, 9999, 10_000, 262_141, 262_142]),
        (today - 2..=today + 3),
        (-262_143..=262_142),
    ]
}

/// A date, valid or not (day 29 to 31 of any month, month 13).
fn any_date() -> impl proptest::strategy::Strategy<Value = String> {
    use proptest::prelude::*;
    (any_year(), 1u32..=13, 1u32..=31).prop_map(|(y, m, d)| format!("{}-{m:02}-{d:02}", year_text(y)))
}

/// An RFC 3339 instant with any offset up to ±23:59, valid or not.
fn any_instant() -> impl proptest::strategy::Strategy<Value = String> {
    use proptest::prelude::*;
    let offset = prop_oneof![
        Just("Z".to_owned()),
        (prop::bool::ANY, 0u32..=23, 0u32..=59)
            .prop_map(|(east, h, m)| format!("{}{h:02}:{m:02}", if east { '+' } else { '-' })),
    ];
    (any_date(), 0u32..=24, 0u32..=59, offset)
        .prop_map(|(date, h, m, offset)| format!("{date}T{h:02}:{m:02}:00{offset}"))
}

/// Every field that takes an instant or a date, against the real server,
/// over extremes, random years and offsets: never a 5xx, never a dropped
/// connection, a problem+json for every refusal, and 422 for an instant
/// outside the bookable range (yesterday to `--max-days-ahead` days ahead).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_instant_or_date_anywhere_gets_a_server_error_or_a_dropped_connection() {
    use proptest::test_runner::{Config, TestCaseError, TestRunner};

    let app = TestApp::spawn().await;
    let provider = app.provider(0).clone();
    let service = service_with(&app.client, &app.base, provider.id, 30).await;
    let free = availability(&app.client, &app.base, provider.id, "?days=14", None).await.free_slots();
    let (status, booking) = book(&app.client, &app.base, provider.id, service, &free[0].1).await;
    assert_eq!(status, StatusCode::CREATED, "{booking}");
    let (booking_id, token) =
        (booking["id"].as_str().unwrap().to_owned(), booking["token"].as_str().unwrap().to_owned());
    let range = (Utc::now().date_naive() - TimeDelta::days(1), Utc::now().date_naive() + TimeDelta::days(730));
    let bookable = |instant: &str| {
        DateTime::parse_from_rfc3339(instant).is_ok_and(|t| (range.0..=range.1).contains(&t.naive_utc().date()))
    };

    let handle = tokio::runtime::Handle::current();
    let mut runner = TestRunner::new(Config { cases: 40, failure_persistence: None, ..Config::default() });
    let inputs = (any_instant(), any_date(), 0u32..=40);
    let outcome = tokio::task::block_in_place(|| {
        runner.run(&inputs, |(instant, date, days)| {
            handle.block_on(async {
                let client = &app.client;
                let pid = provider.id;
                let requests = [
                    client.post(app.url("/api/v1/bookings")).json(&booking_body(pid, service, &instant)),
                    client
                        .post(app.url("/api/v1/holds"))
                        .json(&json!({ "providerId": pid, "serviceId": service, "startTime": instant })),
                    client
                        .post(app.url(&format!("/api/v1/bookings/{booking_id}/reschedule")))
                        .bearer_auth(&token)
                        .json(&json!({ "startTime": instant })),
                    client
                        .post(app.url(&format!("/api/v1/providers/{pid}/slots")))
                        .bearer_auth(&provider.key)
                        .json(&json!({ "dates": [date], "open": "09:00", "close": "10:00", "slotMinutes": 30 })),
                    client.get(app.url(&format!("/api/v1/providers/{pid}/availability?startDate={date}&days={days}"))),
                    client
                        .get(app.url(&format!("/api/v1/availability?providerIds={pid}&startDate={date}&days={days}"))),
                    client.get(
                        app.url(&format!("/api/v1/providers/{pid}/availability/stream?startDate={date}&days={days}")),
                    ),
                ];
                for (n, request) in requests.into_iter().enumerate() {
                    let what = format!("request {n} with {instant:?} / {date:?} / {days}");
                    let response = request
                        .send()
                        .await
                        .map_err(|e| TestCaseError::fail(format!("{what}: connection dropped: {e}")))?;
                    let status = response.status();
                    if status.is_server_error() {
                        return Err(TestCaseError::fail(format!("{what}: {status}")));
                    }
                    let problem =
                        response.headers().get("content-type").is_some_and(|v| v == "application/problem+json");
                    if status.is_client_error() && !problem {
                        return Err(TestCaseError::fail(format!("{what}: {status} without problem+json")));
                    }
                    if n < 3 && !bookable(&instant) && status != StatusCode::UNPROCESSABLE_ENTITY {
                        return Err(TestCaseError::fail(format!("{what}: {status}, not 422")));
                    }
                }
                Ok(())
            })
        })
    });
    if let Err(failure) = outcome {
        panic!("{failure}");
    }
    // The booking is where it was: no request above moved it.
    assert_eq!(read_booking(&app.client, &app.base, &booking).await, StatusCode::OK);
}
