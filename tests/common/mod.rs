//! Test support: a real server on an ephemeral port (in-process or as a
//! child process), over a fresh SQLite file or, when
//! `SLOTSTREAM_TEST_DATABASE_URL` is set, a fresh PostgreSQL database;
//! plus a small SSE wire-format client and API helpers.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::process::Stdio;
use std::time::Duration;

use clap::Parser;
use futures_util::StreamExt;
use reqwest::StatusCode;
use sea_orm::{ConnectionTrait, Database, DatabaseConnection};
use serde_json::{Value, json};
use slotstream::app::seed::SeededProvider;
use slotstream::config::{Cli, ServeArgs};
use slotstream::server::{self, Running};
use tokio::io::{AsyncBufReadExt, BufReader};
use uuid::Uuid;

/// A fresh, empty database URL: a new SQLite file, or a new database on the
/// PostgreSQL server named by `SLOTSTREAM_TEST_DATABASE_URL` (a connection
/// failure there fails the test; it never skips).
pub async fn fresh_database_url() -> String {
    match std::env::var("SLOTSTREAM_TEST_DATABASE_URL") {
        Ok(base) if !base.is_empty() => {
            let admin = Database::connect(&base).await.expect("connect to SLOTSTREAM_TEST_DATABASE_URL");
            let name = format!("slotstream_t_{}", Uuid::new_v4().simple());
            admin
                .execute_unprepared(&format!("CREATE DATABASE {name}"))
                .await
                .expect("create test database");
            admin.close().await.ok();
            let (prefix, _) = base.rsplit_once('/').expect("database URL ends with /dbname");
            format!("{prefix}/{name}")
        }
        _ => {
            let dir = std::env::temp_dir().join("slotstream-tests");
            std::fs::create_dir_all(&dir).expect("temp dir");
            let file = dir.join(format!("{}.db", Uuid::new_v4().simple()));
            format!("sqlite://{}?mode=rwc", file.display())
        }
    }
}

/// A fresh database with the demo providers, closed again: for tests that
/// run the server as a child process.
pub async fn seeded_database() -> (String, Vec<SeededProvider>) {
    let url = fresh_database_url().await;
    let db = server::connect(&url, 2).await.expect("connect");
    let providers = slotstream::app::seed::seed(&db).await.expect("seed");
    db.close().await.expect("close");
    (url, providers)
}

pub fn on_postgres() -> bool {
    std::env::var("SLOTSTREAM_TEST_DATABASE_URL").is_ok_and(|u| !u.is_empty())
}

/// Limits high enough that only the rate-limit tests (which lower them) meet them.
pub const GENEROUS_LIMITS: &[&str] = &[
    "--read-burst", "1000000", "--read-per-second", "1000000",
    "--write-burst", "1000000", "--write-per-second", "1000000",
    "--stream-burst", "1000000", "--stream-per-second", "1000000",
    "--max-streams-per-client", "100000",
];

pub fn serve_args(database_url: &str, extra: &[&str]) -> ServeArgs {
    let mut argv = vec!["slotstream", "--database-url", database_url];
    argv.extend_from_slice(GENEROUS_LIMITS);
    argv.extend_from_slice(extra);
    Cli::parse_from(argv).serve
}

/// Connections in the pool an in-process server shares with its test.
pub const POOL_SIZE: u32 = 8;

/// An in-process server.
pub struct TestApp {
    pub addr: SocketAddr,
    pub base: String,
    pub client: reqwest::Client,
    pub database_url: String,
    pub db: DatabaseConnection,
    pub providers: Vec<SeededProvider>,
    running: Option<Running>,
}

impl TestApp {
    /// A server on a fresh database with the demo providers.
    pub async fn spawn() -> TestApp {
        TestApp::spawn_with(&[]).await
    }

    pub async fn spawn_with(extra: &[&str]) -> TestApp {
        let url = fresh_database_url().await;
        let db = server::connect(&url, POOL_SIZE).await.expect("connect");
        let providers = slotstream::app::seed::seed(&db).await.expect("seed");
        TestApp::start(url, db, providers, extra).await
    }

    /// A server on an existing database (after a restart).
    pub async fn start(
        database_url: String,
        db: DatabaseConnection,
        providers: Vec<SeededProvider>,
        extra: &[&str],
    ) -> TestApp {
        let args = serve_args(&database_url, extra);
        let app = server::build_app(db.clone(), &args).await.expect("app");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let running = server::start(app, listener, &args).expect("start");
        let addr = running.addr;
        let client = reqwest::Client::builder().timeout(Duration::from_secs(30)).build().expect("client");
        let app = TestApp {
            addr,
            base: format!("http://{addr}"),
            client,
            database_url,
            db,
            providers,
            running: Some(running),
        };
        app.wait_ready().await;
        app
    }

    pub async fn wait_ready(&self) {
        wait_ready(&self.client, &self.base).await;
    }

    /// Stop the server (graceful) and hand back what a restart needs.
    pub async fn stop(mut self) -> (String, DatabaseConnection, Vec<SeededProvider>) {
        if let Some(running) = self.running.take() {
            running.stop().await.expect("clean stop");
        }
        (self.database_url.clone(), self.db.clone(), self.providers.clone())
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub fn provider(&self, n: usize) -> &SeededProvider {
        &self.providers[n]
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(running) = self.running.take() {
            running.stop_token().cancel();
        }
    }
}

pub async fn wait_ready(client: &reqwest::Client, base: &str) {
    for _ in 0..200 {
        if let Ok(response) = client.get(format!("{base}/readyz")).send().await
            && response.status() == StatusCode::OK
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("server at {base} never became ready");
}

/// The server binary as a child process (for restarts, crashes, several instances).
pub struct ServerProcess {
    pub child: tokio::process::Child,
    pub base: String,
}

impl ServerProcess {
    pub async fn start(database_url: &str, extra: &[&str]) -> ServerProcess {
        let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_slotstream"));
        command
            .args(["--database-url", database_url, "--bind", "127.0.0.1:0", "--no-seed"])
            .args(GENEROUS_LIMITS)
            .args(extra)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true);
        let mut child = command.spawn().expect("spawn server binary");
        let stdout = child.stdout.take().expect("stdout");
        let mut lines = BufReader::new(stdout).lines();
        let base = loop {
            let line = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
                .await
                .expect("banner in time")
                .expect("read stdout")
                .expect("server printed its banner");
            if let Some(rest) = line.split("listening on ").nth(1) {
                break rest.split_whitespace().next().expect("address").to_owned();
            }
        };
        // Keep draining stdout so the child never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        let client = reqwest::Client::new();
        wait_ready(&client, &base).await;
        ServerProcess { child, base }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub async fn kill_hard(&mut self) {
        self.child.kill().await.expect("kill -9");
    }

    pub fn terminate(&self) {
        if let Some(pid) = self.child.id() {
            // SIGTERM through the shell's kill: no libc dependency in tests.
            std::process::Command::new("kill").args(["-TERM", &pid.to_string()]).status().expect("kill");
        }
    }
}

// ---------- API helpers ----------

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

pub struct Availability {
    pub status: StatusCode,
    pub etag: Option<String>,
    pub body: String,
}

impl Availability {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).expect("json body")
    }

    pub fn version(&self) -> i64 {
        self.json()["version"].as_i64().unwrap()
    }

    /// (availabilityId → status) over the document.
    pub fn statuses(&self) -> std::collections::BTreeMap<String, String> {
        slot_statuses(&self.json())
    }

    /// Available slots that start at least a minute from now, as (availabilityId, startsAt).
    /// Indexes `i` into `free_slots()` where slot `i + 1` starts as slot `i` ends.
    pub fn back_to_back(&self) -> Vec<usize> {
        let free = self.free_slots();
        let ends: std::collections::HashMap<String, String> = self.json()["days"].as_array().unwrap().iter()
            .flat_map(|d| d["slots"].as_array().unwrap().iter())
            .map(|s| (s["availabilityId"].as_str().unwrap().to_owned(), s["endsAt"].as_str().unwrap().to_owned()))
            .collect();
        (0..free.len().saturating_sub(1)).filter(|&i| ends[&free[i].0] == free[i + 1].1).collect()
    }

    pub fn free_slots(&self) -> Vec<(String, String)> {
        let doc = self.json();
        let soon = chrono::Utc::now() + chrono::TimeDelta::minutes(1);
        let mut free = Vec::new();
        for day in doc["days"].as_array().unwrap() {
            for slot in day["slots"].as_array().unwrap() {
                let starts_at = chrono::DateTime::parse_from_rfc3339(slot["startsAt"].as_str().unwrap()).unwrap();
                if slot["status"] == "available" && starts_at > soon {
                    free.push((slot["availabilityId"].as_str().unwrap().to_owned(), slot["startsAt"].as_str().unwrap().to_owned()));
                }
            }
        }
        free
    }
}

pub fn slot_statuses(doc: &Value) -> std::collections::BTreeMap<String, String> {
    let mut map = std::collections::BTreeMap::new();
    for day in doc["days"].as_array().unwrap() {
        for slot in day["slots"].as_array().unwrap() {
            map.insert(slot["availabilityId"].as_str().unwrap().to_owned(), slot["status"].as_str().unwrap().to_owned());
        }
    }
    map
}

pub async fn availability(client: &reqwest::Client, base: &str, provider: Uuid, query: &str, if_none_match: Option<&str>) -> Availability {
    let mut request = client.get(format!("{base}/api/v1/providers/{provider}/availability{query}"));
    if let Some(tag) = if_none_match {
        request = request.header("if-none-match", tag);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    let etag = response.headers().get("etag").map(|v| v.to_str().unwrap().to_owned());
    let body = response.text().await.unwrap();
    Availability { status, etag, body }
}

pub fn booking_body(provider: Uuid, service: Uuid, starts_at: &str) -> Value {
    json!({
        "providerId": provider,
        "serviceId": service,
        "startTime": starts_at,
        "customer": { "name": "Ada Lovelace", "email": "ada@example.com" }
    })
}

pub async fn book(client: &reqwest::Client, base: &str, provider: Uuid, service: Uuid, starts_at: &str) -> (StatusCode, Value) {
    let response = client
        .post(format!("{base}/api/v1/bookings"))
        .json(&booking_body(provider, service, starts_at))
        .send()
        .await
        .unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

pub async fn cancel(client: &reqwest::Client, base: &str, booking: &str, token: Option<&str>) -> StatusCode {
    let mut request = client.post(format!("{base}/api/v1/bookings/{booking}/cancel"));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().await.unwrap().status()
}

// ---------- SSE client ----------

#[derive(Clone, Debug, PartialEq)]
pub struct SseEvent {
    pub id: Option<String>,
    pub event: String,
    pub data: String,
}

impl SseEvent {
    pub fn version(&self) -> i64 {
        self.id.as_deref().expect("event id").parse().expect("numeric id")
    }

    pub fn json(&self) -> Value {
        serde_json::from_str(&self.data).expect("event data is JSON")
    }
}

/// Reads the SSE wire format from a real HTTP response.
pub struct SseClient {
    stream: std::pin::Pin<Box<dyn futures_util::Stream<Item = reqwest::Result<bytes::Bytes>> + Send>>,
    buffer: String,
    pub saw_retry: bool,
    pub comments: usize,
    pub headers: reqwest::header::HeaderMap,
}

impl SseClient {
    pub async fn connect(client: &reqwest::Client, url: &str, last_event_id: Option<i64>) -> SseClient {
        let mut request = client.get(url).header("accept", "text/event-stream");
        if let Some(id) = last_event_id {
            request = request.header("last-event-id", id.to_string());
        }
        let response = request.send().await.expect("stream request");
        assert_eq!(response.status(), StatusCode::OK, "stream opened");
        let headers = response.headers().clone();
        SseClient { stream: Box::pin(response.bytes_stream()), buffer: String::new(), saw_retry: false, comments: 0, headers }
    }

    /// The next event (not comments or the retry line), or `None` on timeout or end.
    pub async fn next(&mut self, within: Duration) -> Option<SseEvent> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            while let Some(end) = self.buffer.find("\n\n") {
                let frame: String = self.buffer.drain(..end + 2).collect();
                if let Some(event) = self.parse(&frame) {
                    return Some(event);
                }
            }
            let chunk = tokio::time::timeout_at(deadline, self.stream.next()).await.ok()??;
            self.buffer.push_str(std::str::from_utf8(&chunk.ok()?).expect("utf-8"));
        }
    }

    /// Collect `n` events, failing the test if they do not come within `within`.
    pub async fn take(&mut self, n: usize, within: Duration) -> Vec<SseEvent> {
        let deadline = tokio::time::Instant::now() + within;
        let mut events = Vec::with_capacity(n);
        while events.len() < n {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match self.next(left).await {
                Some(event) => events.push(event),
                None => panic!("expected {n} events, got {}: {:?}", events.len(), events.last()),
            }
        }
        events
    }

    /// True when the server ended the stream within `within`.
    pub async fn ended(&mut self, within: Duration) -> bool {
        matches!(tokio::time::timeout(within, async {
            loop {
                match self.stream.next().await {
                    None | Some(Err(_)) => return,
                    Some(Ok(_)) => {}
                }
            }
        }).await, Ok(()))
    }

    fn parse(&mut self, frame: &str) -> Option<SseEvent> {
        let mut id = None;
        let mut event = None;
        let mut data: Vec<&str> = Vec::new();
        for line in frame.lines() {
            if line.starts_with(':') {
                self.comments += 1;
                continue;
            }
            let (field, value) = line.split_once(':').map(|(f, v)| (f, v.strip_prefix(' ').unwrap_or(v))).unwrap_or((line, ""));
            match field {
                "id" => id = Some(value.to_owned()),
                "event" => event = Some(value.to_owned()),
                "data" => data.push(value),
                "retry" => self.saw_retry = true,
                _ => {}
            }
        }
        if data.is_empty() {
            return None;
        }
        Some(SseEvent { id, event: event.unwrap_or_else(|| "message".into()), data: data.join("\n") })
    }
}

pub fn stream_url(base: &str, provider: Uuid, query: &str) -> String {
    format!("{base}/api/v1/providers/{provider}/availability/stream{query}")
}

/// `slotstream_stream_subscribers` from `/metrics`.
pub async fn subscriber_count(client: &reqwest::Client, base: &str) -> i64 {
    let text = client.get(format!("{base}/metrics")).send().await.unwrap().text().await.unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix("slotstream_stream_subscribers "))
        .and_then(|v| v.trim().parse().ok())
        .expect("subscriber metric present")
}

/// An unlabelled counter from `/metrics`; 0 before its first increment.
pub async fn counter(client: &reqwest::Client, base: &str, name: &str) -> u64 {
    let text = client.get(format!("{base}/metrics")).send().await.unwrap().text().await.unwrap();
    let prefix = format!("{name} ");
    text.lines()
        .find_map(|l| l.strip_prefix(prefix.as_str()))
        .map_or(0, |v| v.trim().parse::<f64>().expect("numeric counter") as u64)
}

/// Every row of every table, as text, to prove a request changed nothing.
pub async fn dump(db: &DatabaseConnection) -> String {
    use sea_orm::EntityTrait;
    let mut out = String::new();
    out += &format!("{:?}\n", entity::provider::Entity::find().all(db).await.unwrap());
    out += &format!("{:?}\n", entity::service::Entity::find().all(db).await.unwrap());
    let mut slots = entity::availability_slot::Entity::find().all(db).await.unwrap();
    slots.sort_by_key(|s| s.id);
    out += &format!("{slots:?}\n");
    out += &format!("{:?}\n", entity::booking::Entity::find().all(db).await.unwrap());
    out += &format!("{:?}\n", entity::slot_event::Entity::find().all(db).await.unwrap());
    out += &format!("{:?}\n", entity::provider_key::Entity::find().all(db).await.unwrap());
    out += &format!("{:?}\n", entity::idempotency_key::Entity::find().all(db).await.unwrap());
    out
}
