//! Conditional requests beyond `If-None-Match`: `If-Modified-Since` as RFC
//! 9110 says (never a stale date-based 304), and, with several instances on
//! PostgreSQL, never an older document than a tag the client already holds.

mod common;

use std::time::Duration;

use common::*;
use reqwest::StatusCode;
use uuid::Uuid;

const WAIT: Duration = Duration::from_secs(30);

/// The 14-day availability GET with `If-Modified-Since` and `If-None-Match` when given.
async fn get_since(
    client: &reqwest::Client,
    base: &str,
    provider: Uuid,
    since: Option<&str>,
    tag: Option<&str>,
) -> Availability {
    let headers: Vec<(&str, &str)> = [("if-modified-since", since), ("if-none-match", tag)]
        .into_iter()
        .filter_map(|(name, value)| Some((name, value?)))
        .collect();
    availability_with_headers(client, base, provider, "?days=14", &headers).await
}

/// GET until the answer carries `Last-Modified` (it is left out while the
/// change's second has not passed yet).
async fn dated(client: &reqwest::Client, base: &str, provider: Uuid) -> (String, i64) {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let answer = get_since(client, base, provider, None, None).await;
        assert_eq!(answer.status, StatusCode::OK);
        if let Some(date) = &answer.last_modified {
            return (date.clone(), answer.version());
        }
        assert!(tokio::time::Instant::now() < deadline, "no Last-Modified");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn if_modified_since_answers_304_until_a_change_then_200() {
    let app = TestApp::spawn().await;
    let provider = app.provider(0).clone();
    // The seed creates the provider and opens its slots in the same second,
    // so its first dated version is not alone in its second: one change
    // after that second has passed gives a version that is.
    dated(&app.client, &app.base, provider.id).await;
    let first_free = availability(&app.client, &app.base, provider.id, "?days=14", None).await.free_slots();
    block(&app.client, &app.base, provider.id, &provider.key, &first_free.last().unwrap().0).await;
    let (date, version) = dated(&app.client, &app.base, provider.id).await;

    // Last-Modified is never earlier than the data it describes.
    let stored = {
        use sea_orm::EntityTrait;
        entity::provider::Entity::find_by_id(provider.id).one(&app.db).await.unwrap().unwrap().updated_at
    };
    let sent = chrono::DateTime::parse_from_rfc2822(&date.replace("GMT", "+0000")).unwrap();
    assert!(sent >= stored, "Last-Modified {sent} is not earlier than the change at {stored}");

    let same = get_since(&app.client, &app.base, provider.id, Some(&date), None).await;
    assert_eq!(same.status, StatusCode::NOT_MODIFIED, "unchanged since that date");
    // If-None-Match takes precedence: a stale tag gets the document whatever the date says.
    let tagged = get_since(&app.client, &app.base, provider.id, Some(&date), Some("\"stale\"")).await;
    assert_eq!(tagged.status, StatusCode::OK);
    // A malformed date is ignored.
    assert_eq!(get_since(&app.client, &app.base, provider.id, Some("yesterday"), None).await.status, StatusCode::OK);

    // A change: the old date no longer validates, at once.
    let free = availability(&app.client, &app.base, provider.id, "?days=14", None).await.free_slots();
    block(&app.client, &app.base, provider.id, &provider.key, &free[0].0).await;
    let after = get_since(&app.client, &app.base, provider.id, Some(&date), None).await;
    assert_eq!(after.status, StatusCode::OK);
    assert_eq!(after.version(), version + 1);

    // Two changes in quick succession: a date that could name the first
    // never validates the second.
    for slot in [&free[1].0, &free[2].0] {
        block(&app.client, &app.base, provider.id, &provider.key, slot).await;
    }
    let (newest, newest_version) = dated(&app.client, &app.base, provider.id).await;
    assert_eq!(newest_version, version + 3);
    let answer = get_since(&app.client, &app.base, provider.id, Some(&newest), None).await;
    let row = {
        use sea_orm::EntityTrait;
        entity::provider::Entity::find_by_id(provider.id).one(&app.db).await.unwrap().unwrap()
    };
    let same_second = row.previous_updated_at.is_some_and(|p| {
        use chrono::{DurationRound, TimeDelta};
        let ceil = |t: chrono::DateTime<chrono::Utc>| {
            let whole = t.duration_trunc(TimeDelta::seconds(1)).unwrap();
            if whole == t { whole } else { whole + TimeDelta::seconds(1) }
        };
        ceil(p) == ceil(row.updated_at)
    });
    if same_second {
        assert_eq!(answer.status, StatusCode::OK, "two versions share the second: no date-based 304");
    } else {
        assert_eq!(answer.status, StatusCode::NOT_MODIFIED);
    }
}

/// A date later than the server's clock is invalid (RFC 9110 §13.1.3): it is
/// ignored, as if absent, so a client whose clock or date is wrong still
/// sees the data change instead of a 304 forever.
#[tokio::test]
async fn if_modified_since_in_the_future_is_ignored() {
    let app = TestApp::spawn().await;
    let provider = app.provider(0).clone();
    // A version alone in its second, which a date may validate (see above).
    dated(&app.client, &app.base, provider.id).await;
    let first_free = availability(&app.client, &app.base, provider.id, "?days=14", None).await.free_slots();
    block(&app.client, &app.base, provider.id, &provider.key, &first_free.last().unwrap().0).await;
    let (date, _) = dated(&app.client, &app.base, provider.id).await;
    let same = get_since(&app.client, &app.base, provider.id, Some(&date), None).await;
    assert_eq!(same.status, StatusCode::NOT_MODIFIED, "its own date validates it");
    let in_an_hour = httpdate::fmt_http_date(std::time::SystemTime::now() + Duration::from_secs(3600));
    for date in ["Fri, 31 Dec 9999 23:59:59 GMT", in_an_hour.as_str()] {
        let answer = get_since(&app.client, &app.base, provider.id, Some(date), None).await;
        assert_eq!(answer.status, StatusCode::OK, "If-Modified-Since: {date}");
    }
    // And after a change, too.
    let free = availability(&app.client, &app.base, provider.id, "?days=14", None).await.free_slots();
    block(&app.client, &app.base, provider.id, &provider.key, &free[0].0).await;
    let answer = get_since(&app.client, &app.base, provider.id, Some("Fri, 31 Dec 9999 23:59:59 GMT"), None).await;
    assert_eq!(answer.status, StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_instance_behind_never_answers_an_older_document_than_the_clients_tag() {
    if !postgres_only("two instances, one behind the other on LISTEN/NOTIFY") {
        return;
    }
    let (url, providers) = seeded_database().await;
    let (provider, other) = (&providers[0], &providers[1]);
    let a = ServerProcess::start(&url, &[]).await;
    let b = ServerProcess::start(&url, &[]).await;
    let client = reqwest::Client::new();
    // Subscribers on B make B's relay read the log for both providers.
    let _watching = SseClient::connect(&client, &stream_url(&b.base, provider.id, ""), None).await;
    let _watching_other = SseClient::connect(&client, &stream_url(&b.base, other.id, ""), None).await;
    let admin = sea_orm::Database::connect(&url).await.unwrap();
    let free = availability(&client, &a.base, provider.id, "?days=14", None).await.free_slots();
    let mut older = Vec::new();
    for (slot, _) in free.iter().take(5) {
        // B has the current document cached, as a busy instance would.
        availability(&client, &b.base, provider.id, "?days=14", None).await;
        // Keep B's relay busy with a queue of notifications about the other
        // provider (as a burst of commits elsewhere would): B's bus is then
        // behind A's next commit for a while.
        use sea_orm::ConnectionTrait;
        admin
            .execute_unprepared(&format!(
                "SELECT pg_notify('slot_events', '{}:-' || g) FROM generate_series(1, 3000) g",
                other.id
            ))
            .await
            .unwrap();
        block(&client, &a.base, provider.id, &provider.key, slot).await;
        let on_a = availability(&client, &a.base, provider.id, "?days=14", None).await;
        let on_b = availability(&client, &b.base, provider.id, "?days=14", on_a.etag.as_deref()).await;
        match on_b.status {
            StatusCode::NOT_MODIFIED => {}
            StatusCode::OK if on_b.version() >= on_a.version() => {}
            status => older.push((status, on_a.version(), on_b.version())),
        }
    }
    assert!(older.is_empty(), "B answered older states than the client's tag: {older:?}");
}
