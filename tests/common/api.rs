//! The public API as a test drives it: the provider directory, the
//! availability document (`Availability`, with its status, tags and slots),
//! bookings, cancellations, blocks, the stream's URL, and compressed bodies
//! decoded.

use std::collections::{BTreeMap, HashMap};

use reqwest::StatusCode;
use serde_json::{Value, json};
use uuid::Uuid;

/// The provider directory, `GET /api/v1/providers`.
pub async fn providers(client: &reqwest::Client, base: &str) -> Vec<Value> {
    client.get(format!("{base}/api/v1/providers")).send().await.unwrap().json().await.unwrap()
}

/// Service id of `provider` with `minutes` duration.
pub async fn service_with(client: &reqwest::Client, base: &str, provider: Uuid, minutes: i64) -> Uuid {
    let all = providers(client, base).await;
    let p = all.iter().find(|p| p["id"] == provider.to_string()).expect("provider listed");
    let s = p["services"].as_array().unwrap().iter().find(|s| s["durationMinutes"] == minutes).expect("service");
    s["id"].as_str().unwrap().parse().unwrap()
}

/// One answer to the availability GET.
pub struct Availability {
    pub status: StatusCode,
    pub etag: Option<String>,
    pub last_modified: Option<String>,
    pub body: String,
}

impl Availability {
    /// The body as JSON (fails the test on a 304's empty body).
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).expect("json body")
    }

    /// The document's version.
    pub fn version(&self) -> i64 {
        self.json()["version"].as_i64().unwrap()
    }

    /// (availabilityId → status) over the document.
    pub fn statuses(&self) -> BTreeMap<String, String> {
        slot_statuses(&self.json())
    }

    /// Indexes `i` into `free_slots()` where slot `i + 1` starts as slot `i` ends.
    pub fn back_to_back(&self) -> Vec<usize> {
        let free = self.free_slots();
        let ends: HashMap<String, String> = self.json()["days"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|d| d["slots"].as_array().unwrap().iter())
            .map(|s| (s["availabilityId"].as_str().unwrap().to_owned(), s["endsAt"].as_str().unwrap().to_owned()))
            .collect();
        (0..free.len().saturating_sub(1)).filter(|&i| ends[&free[i].0] == free[i + 1].1).collect()
    }

    /// Available slots that start at least a minute from now, as (availabilityId, startsAt).
    pub fn free_slots(&self) -> Vec<(String, String)> {
        let doc = self.json();
        let soon = chrono::Utc::now() + chrono::TimeDelta::minutes(1);
        let mut free = Vec::new();
        for day in doc["days"].as_array().unwrap() {
            for slot in day["slots"].as_array().unwrap() {
                let starts_at = chrono::DateTime::parse_from_rfc3339(slot["startsAt"].as_str().unwrap()).unwrap();
                if slot["status"] == "available" && starts_at > soon {
                    free.push((
                        slot["availabilityId"].as_str().unwrap().to_owned(),
                        slot["startsAt"].as_str().unwrap().to_owned(),
                    ));
                }
            }
        }
        free
    }
}

/// (availabilityId → status) over an availability document.
pub fn slot_statuses(doc: &Value) -> BTreeMap<String, String> {
    let mut map = BTreeMap::new();
    for day in doc["days"].as_array().unwrap() {
        for slot in day["slots"].as_array().unwrap() {
            map.insert(
                slot["availabilityId"].as_str().unwrap().to_owned(),
                slot["status"].as_str().unwrap().to_owned(),
            );
        }
    }
    map
}

/// The availability GET of `provider` with `query` (e.g. `"?days=7"`), sending
/// `If-None-Match` when given.
pub async fn availability(
    client: &reqwest::Client,
    base: &str,
    provider: Uuid,
    query: &str,
    if_none_match: Option<&str>,
) -> Availability {
    let headers: Vec<(&str, &str)> = if_none_match.map(|tag| ("if-none-match", tag)).into_iter().collect();
    availability_with_headers(client, base, provider, query, &headers).await
}

/// The availability GET with any request headers (conditional ones, say).
pub async fn availability_with_headers(
    client: &reqwest::Client,
    base: &str,
    provider: Uuid,
    query: &str,
    headers: &[(&str, &str)],
) -> Availability {
    let mut request = client.get(format!("{base}/api/v1/providers/{provider}/availability{query}"));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    let header = |name: &str| response.headers().get(name).map(|v| v.to_str().unwrap().to_owned());
    let (etag, last_modified) = (header("etag"), header("last-modified"));
    let body = response.text().await.unwrap();
    Availability { status, etag, last_modified, body }
}

/// A valid booking request body for Ada Lovelace.
pub fn booking_body(provider: Uuid, service: Uuid, starts_at: &str) -> Value {
    json!({
        "providerId": provider,
        "serviceId": service,
        "startTime": starts_at,
        "customer": { "name": "Ada Lovelace", "email": "ada@example.com" }
    })
}

/// `POST /api/v1/bookings`: the status and the JSON body (`Null` if none).
pub async fn book(
    client: &reqwest::Client,
    base: &str,
    provider: Uuid,
    service: Uuid,
    starts_at: &str,
) -> (StatusCode, Value) {
    post_json(client, &format!("{base}/api/v1/bookings"), &booking_body(provider, service, starts_at)).await
}

/// POST `body` as JSON to `url`: the status and the JSON answer (`Null` if none).
pub async fn post_json(client: &reqwest::Client, url: &str, body: &Value) -> (StatusCode, Value) {
    let response = client.post(url).json(body).send().await.unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// Read a booking (as answered to its creation) with its own token; the status.
pub async fn read_booking(client: &reqwest::Client, base: &str, booking: &Value) -> StatusCode {
    let id = booking["id"].as_str().expect("booking id");
    let token = booking["token"].as_str().expect("booking token");
    client.get(format!("{base}/api/v1/bookings/{id}")).bearer_auth(token).send().await.unwrap().status()
}

/// The ids of the first `n` free slots of `provider` over the next 14 days.
pub async fn free_slot_ids(client: &reqwest::Client, base: &str, provider: Uuid, n: usize) -> Vec<String> {
    let free = availability(client, base, provider, "?days=14", None).await.free_slots();
    free.into_iter().take(n).map(|(id, _)| id).collect()
}

/// Cancel `booking`, with `token` as the bearer credential when given.
pub async fn cancel(client: &reqwest::Client, base: &str, booking: &str, token: Option<&str>) -> StatusCode {
    let mut request = client.post(format!("{base}/api/v1/bookings/{booking}/cancel"));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().await.unwrap().status()
}

/// Block `slot` of `provider` with its `key`; fails the test unless it answers 200.
pub async fn block(client: &reqwest::Client, base: &str, provider: Uuid, key: &str, slot: &str) {
    let response = client
        .post(format!("{base}/api/v1/providers/{provider}/slots/{slot}/block"))
        .bearer_auth(key)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK, "block {slot}");
}

/// The URL of `provider`'s availability stream with `query`.
pub fn stream_url(base: &str, provider: Uuid, query: &str) -> String {
    format!("{base}/api/v1/providers/{provider}/availability/stream{query}")
}

/// A body sent with `Content-Encoding: encoding` (`gzip` or `br`), decoded.
pub fn decode(encoding: &str, bytes: &[u8]) -> Vec<u8> {
    use std::io::Read;
    let mut out = Vec::new();
    match encoding {
        "gzip" => flate2::read::GzDecoder::new(bytes).read_to_end(&mut out).expect("valid gzip"),
        "br" => brotli_decompressor::Decompressor::new(bytes, 4096).read_to_end(&mut out).expect("valid brotli"),
        other => panic!("unexpected encoding {other}"),
    };
    out
}

/// A free slot as the availability document shows it.
#[derive(Clone, Debug)]
pub struct FreeSlot {
    pub id: String,
    pub date: String,
    /// Local `HH:MM`.
    pub start_time: String,
    pub starts_at: String,
}

/// The free slots of `provider` over the next 14 days, in order: those of
/// `Availability::free_slots`, with their dates and local times.
pub async fn free_slots_of(client: &reqwest::Client, base: &str, provider: Uuid) -> Vec<FreeSlot> {
    let answer = availability(client, base, provider, "?days=14", None).await;
    let free: std::collections::HashSet<String> = answer.free_slots().into_iter().map(|(id, _)| id).collect();
    let doc = answer.json();
    doc["days"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|day| {
            day["slots"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|s| free.contains(s["availabilityId"].as_str().unwrap()))
                .map(|s| FreeSlot {
                    id: s["availabilityId"].as_str().unwrap().to_owned(),
                    date: day["date"].as_str().unwrap().to_owned(),
                    start_time: s["startTime"].as_str().unwrap().to_owned(),
                    starts_at: s["startsAt"].as_str().unwrap().to_owned(),
                })
        })
        .collect()
}

/// `POST /api/v1/waitlist` for `service` of `provider` from `from` to `to`
/// (dates), within `times` when given, as Grace Hopper at an address of her
/// own each time (one customer waits once for one thing): the status and the JSON answer.
pub async fn join_waitlist(
    client: &reqwest::Client,
    base: &str,
    provider: Uuid,
    service: Uuid,
    (from, to): (&str, &str),
    times: Option<Value>,
) -> (StatusCode, Value) {
    let mut body = json!({
        "providerId": provider, "serviceId": service, "from": from, "to": to,
        "customer": { "name": "Grace Hopper", "email": format!("grace+{}@example.com", Uuid::new_v4().simple()) },
    });
    if let Some(times) = times {
        body["times"] = times;
    }
    post_json(client, &format!("{base}/api/v1/waitlist"), &body).await
}

/// `GET /api/v1/waitlist/{id}` with `token`: the status and the JSON answer.
pub async fn waitlist_entry(client: &reqwest::Client, base: &str, entry: &Value, token: &str) -> (StatusCode, Value) {
    let id = entry["id"].as_str().expect("entry id");
    let response = client.get(format!("{base}/api/v1/waitlist/{id}")).bearer_auth(token).send().await.unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// The logged transitions of slot `availability_id`, in version order, as
/// "previous->new", after the event that opened the slot.
pub async fn logged_transitions(db: &sea_orm::DatabaseConnection, availability_id: &str) -> Vec<String> {
    use sea_orm::{ActiveEnum, ColumnTrait, EntityTrait, QueryFilter};
    let id: Uuid = availability_id.parse().unwrap();
    let mut rows = entity::slot_event::Entity::find()
        .filter(entity::slot_event::Column::AvailabilityId.eq(id))
        .filter(entity::slot_event::Column::PreviousStatus.is_not_null())
        .all(db)
        .await
        .unwrap();
    rows.sort_by_key(|r| r.version);
    let name = |status: Option<entity::slot_event::Status>| status.map_or("none".into(), |s| s.to_value());
    rows.iter().map(|r| format!("{}->{}", name(r.previous_status), name(Some(r.new_status)))).collect()
}
