//! `day`: a marketplace day (issue 27 item 1). Against one or more
//! instances on one PostgreSQL database, with a catalogue imported by
//! `bench/day_catalogue.py` (providers named in Zipf rank order):
//!
//! - viewers: h2c SSE streams, each on a provider drawn Zipf over the
//!   catalogue, spread round-robin over the instances;
//! - conditional polls (`If-None-Match` with the last ETag seen of that
//!   provider's 7-day availability), Zipf too, spread over the instances;
//! - bookings and holds (each hold released after `--hold-secs`), Zipf too;
//!   every write on a provider goes through instance `rank % instances`, so
//!   each receipt is known to be on the writing instance or on another;
//! - webhooks (every event type) for `--webhook-providers` providers to a
//!   local receiver.
//!
//! Reported: commit (`changedAt`) -> viewer receipt on the same instance and
//! on the other ones, the share of polls answered 304, CPU and RSS of the
//! servers, the servers' own read counters and PostgreSQL's transaction
//! counts per event, webhook lag, and every viewer's lost and duplicated
//! events (each viewer must see every version of its provider between the
//! version before the first write and the version after the last).

use std::collections::{HashMap, HashSet, VecDeque};
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use bytes::Bytes;
use tokio::sync::watch;

use crate::h2hold;
use crate::http::{self, Client};
use crate::sse::{self, Frames};
use crate::stats::{self, now_micros};
use crate::subscribers::{Slot, available_slots, open_h2_stream, read_h2_chunk};

#[derive(clap::Args, Debug)]
pub struct DayOptions {
    /// Another instance (the first is --server, put first by `main`); repeat for more.
    #[arg(long = "also")]
    pub instances: Vec<SocketAddr>,
    /// Each instance's pid, in order (CPU and RSS).
    #[arg(long = "server-pid")]
    pub server_pids: Vec<u32>,
    #[arg(long, default_value_t = 10_000)]
    pub viewers: usize,
    /// h2c streams per connection (at most 1,000).
    #[arg(long, default_value_t = 500)]
    pub streams_per_connection: usize,
    /// Zipf exponent over the providers' ranks.
    #[arg(long, default_value_t = 1.0)]
    pub zipf: f64,
    /// Conditional polls per second, over every instance.
    #[arg(long, default_value_t = 2000.0)]
    pub polls: f64,
    /// Keep-alive connections the polls spread over.
    #[arg(long, default_value_t = 64)]
    pub poll_connections: usize,
    #[arg(long, default_value_t = 50.0)]
    pub bookings: f64,
    #[arg(long, default_value_t = 20.0)]
    pub holds: f64,
    /// Seconds a hold is kept before its release.
    #[arg(long, default_value_t = 5.0)]
    pub hold_secs: f64,
    /// Concurrent writers the bookings and holds spread over (each
    /// waits for its answer: too few and the rate follows the latency).
    #[arg(long, default_value_t = 32)]
    pub writers: usize,
    /// Seconds of polling and writing.
    #[arg(long, default_value_t = 300.0)]
    pub secs: f64,
    #[arg(long, default_value_t = 100)]
    pub webhook_providers: usize,
    /// Seconds between "all viewers connected" and the first write.
    #[arg(long = "settle-secs", default_value = "2", value_parser = seconds)]
    pub settle: Duration,
    /// Seconds after the last write before the check.
    #[arg(long = "drain-secs", default_value = "10", value_parser = seconds)]
    pub drain: Duration,
    #[arg(skip = Duration::from_secs(30))]
    pub connect_timeout: Duration,
    /// psql connection string of the database (PostgreSQL's counts).
    #[arg(long)]
    pub pg_url: Option<String>,
    #[arg(long, default_value_t = 27)]
    pub seed: u64,
}

/// A number of seconds (fractions allowed) as a `Duration`.
fn seconds(text: &str) -> Result<Duration, String> {
    let secs: f64 = text.parse().map_err(|e| format!("{text:?}: {e}"))?;
    Duration::try_from_secs_f64(secs).map_err(|e| format!("{text:?}: {e}"))
}

/// A small deterministic generator (xorshift64*): no dependency for a few
/// draws per request.
#[derive(Clone)]
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Zipf over ranks 0..n: P(rank r) proportional to 1 / (r + 1)^s.
struct Zipf {
    cdf: Vec<f64>,
}

impl Zipf {
    fn new(n: usize, s: f64) -> Zipf {
        let mut cdf = Vec::with_capacity(n);
        let mut sum = 0.0;
        for r in 0..n {
            sum += 1.0 / ((r + 1) as f64).powf(s);
            cdf.push(sum);
        }
        for c in &mut cdf {
            *c /= sum;
        }
        Zipf { cdf }
    }

    fn sample(&self, rng: &mut Rng) -> usize {
        let u = rng.unit();
        self.cdf.partition_point(|&c| c < u).min(self.cdf.len() - 1)
    }
}

/// Latency histogram in microseconds: 0.1 ms buckets up to 100 ms, then
/// 10 ms buckets up to 60 s. Shared by every reader (atomics).
struct Histogram {
    buckets: Vec<AtomicU64>,
}

impl Histogram {
    const FINE: u64 = 1000;
    fn new() -> Histogram {
        Histogram { buckets: (0..Self::FINE + 6000).map(|_| AtomicU64::new(0)).collect() }
    }

    fn record(&self, us: i64) {
        let us = us.max(0) as u64;
        let i = if us < 100_000 { us / 100 } else { (Self::FINE + us / 10_000).min(Self::FINE + 5999) };
        self.buckets[i as usize].fetch_add(1, Ordering::Relaxed);
    }

    fn count(&self) -> u64 {
        self.buckets.iter().map(|b| b.load(Ordering::Relaxed)).sum()
    }

    /// The upper edge of the bucket holding quantile `q`, in milliseconds.
    fn quantile_ms(&self, q: f64) -> f64 {
        let total = self.count();
        if total == 0 {
            return 0.0;
        }
        let rank = ((q * total as f64).ceil() as u64).clamp(1, total);
        let mut seen = 0;
        for (i, b) in self.buckets.iter().enumerate() {
            seen += b.load(Ordering::Relaxed);
            if seen >= rank {
                let i = i as u64;
                return if i < Self::FINE { (i + 1) as f64 * 0.1 } else { (i - Self::FINE + 1) as f64 * 10.0 };
            }
        }
        f64::INFINITY
    }

    fn print(&self, prefix: &str) {
        println!("{prefix}_samples={}", self.count());
        for (name, q) in [("p50", 0.5), ("p90", 0.9), ("p99", 0.99), ("p999", 0.999), ("max", 1.0)] {
            println!("{prefix}_{name}_ms={:.1}", self.quantile_ms(q));
        }
    }
}

#[derive(Clone)]
struct Prov {
    id: String,
    external_id: String,
    service_id: String,
}

/// The catalogue's providers in rank order (their names sort by rank).
async fn catalogue(client: &mut Client) -> io::Result<Vec<Prov>> {
    let response = client.get("/api/v1/providers", &[]).await?;
    if response.status() != 200 {
        return Err(http::bad(&format!("providers answered {}", response.status())));
    }
    let json = response.json()?;
    let mut providers: Vec<(String, Prov)> = json
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| {
            let name = p["name"].as_str()?;
            let rank = name.strip_prefix("Day provider ")?;
            Some((
                name.to_owned(),
                Prov {
                    id: p["id"].as_str()?.to_owned(),
                    external_id: format!("day-{rank}"),
                    service_id: p["services"][0]["id"].as_str()?.to_owned(),
                },
            ))
        })
        .collect();
    providers.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(providers.into_iter().map(|(_, p)| p).collect())
}

/// Each provider's current version, 50 at a time through the batch GET.
async fn versions(client: &mut Client, providers: &[Prov], ranks: &[usize]) -> io::Result<HashMap<usize, i64>> {
    let mut out = HashMap::new();
    for chunk in ranks.chunks(50) {
        let ids: Vec<&str> = chunk.iter().map(|&r| providers[r].id.as_str()).collect();
        let response = client.get(&format!("/api/v1/availability?providerIds={}&days=1", ids.join(",")), &[]).await?;
        if response.status() != 200 {
            return Err(http::bad(&format!("batch availability answered {}: {}", response.status(), response.text())));
        }
        let json = response.json()?;
        for (k, document) in json["providers"].as_array().into_iter().flatten().enumerate() {
            let version = document["version"].as_i64().ok_or_else(|| http::bad("no version in the batch answer"))?;
            out.insert(chunk[k], version);
        }
    }
    Ok(out)
}

/// What one viewer saw.
#[derive(Default, Clone, Copy)]
struct Seen {
    first: Option<i64>,
    last: Option<i64>,
    received: u64,
    gaps: u64,
    duplicates: u64,
    ended_early: bool,
}

struct Viewers {
    connected: AtomicUsize,
    failed: AtomicUsize,
    same: Histogram,
    other: Histogram,
}

/// One viewer's stream, read until `stop`.
async fn viewer(
    client: h2::client::SendRequest<Bytes>,
    request: ::http::Request<()>,
    same_instance: bool,
    shared: Arc<Viewers>,
    timeout: Duration,
    mut stop: watch::Receiver<bool>,
) -> Seen {
    let mut seen = Seen::default();
    let mut head = false;
    let outcome: io::Result<()> = async {
        let mut body = open_h2_stream(client, request, timeout).await?;
        shared.connected.fetch_add(1, Ordering::Relaxed);
        head = true;
        let mut frames = Frames::default();
        let histogram = if same_instance { &shared.same } else { &shared.other };
        while let Some(received) = read_h2_chunk(&mut body, &mut frames, &mut stop).await? {
            frames.drain(|frame| {
                let frame = sse::parse_frame(frame);
                if frame.event != Some("slot-changed") {
                    return;
                }
                let (Some(id), Some(data)) = (frame.id, frame.data) else { return };
                seen.received += 1;
                match seen.last {
                    Some(last) if id <= last => {
                        seen.duplicates += 1;
                        return;
                    }
                    Some(last) if id > last + 1 => seen.gaps += (id - last - 1) as u64,
                    _ => {}
                }
                if seen.first.is_none() {
                    seen.first = Some(id);
                }
                seen.last = Some(id);
                if let Some(changed) = sse::changed_at_micros(data) {
                    histogram.record(received - changed);
                }
            });
        }
        Ok(())
    }
    .await;
    if let Err(error) = outcome {
        if !head {
            shared.failed.fetch_add(1, Ordering::Relaxed);
        }
        eprintln!("loadgen: viewer stream ended: {error}");
        seen.ended_early = true;
    }
    seen
}

/// Poll counters, shared by the pollers.
#[derive(Default)]
struct Polls {
    conditional: AtomicU64,
    not_modified: AtomicU64,
    unconditional: AtomicU64,
    errors: AtomicU64,
}

/// A poller: `rate` conditional GETs a second on one instance.
#[allow(clippy::too_many_arguments)]
async fn poller(
    server: SocketAddr,
    providers: Arc<Vec<Prov>>,
    zipf: Arc<Zipf>,
    etags: Arc<Mutex<HashMap<usize, String>>>,
    counts: Arc<Polls>,
    latency: Arc<Histogram>,
    rate: f64,
    seed: u64,
    mut stop: watch::Receiver<bool>,
) {
    let mut client = Client::new(server, None);
    let mut rng = Rng(seed | 1);
    let mut ticker = tokio::time::interval(Duration::from_secs_f64(1.0 / rate.max(0.001)));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            _ = stop.changed() => return,
        }
        let rank = zipf.sample(&mut rng);
        let path = format!("/api/v1/providers/{}/availability?days=7", providers[rank].id);
        let tag = etags.lock().unwrap_or_else(|p| p.into_inner()).get(&rank).cloned();
        let sent = Instant::now();
        let response = match &tag {
            Some(tag) => client.get(&path, &[("If-None-Match", tag)]).await,
            None => client.get(&path, &[]).await,
        };
        latency.record(sent.elapsed().as_micros() as i64);
        let counter = if tag.is_some() { &counts.conditional } else { &counts.unconditional };
        counter.fetch_add(1, Ordering::Relaxed);
        match response {
            Ok(r) if r.status() == 304 => {
                counts.not_modified.fetch_add(1, Ordering::Relaxed);
            }
            Ok(r) if r.status() == 200 => {
                if let Some(etag) = r.head.header("etag") {
                    etags.lock().unwrap_or_else(|p| p.into_inner()).insert(rank, etag.to_owned());
                }
            }
            Ok(r) => {
                counts.errors.fetch_add(1, Ordering::Relaxed);
                eprintln!("loadgen: poll answered {}", r.status());
            }
            Err(error) => {
                counts.errors.fetch_add(1, Ordering::Relaxed);
                eprintln!("loadgen: poll failed: {error}");
            }
        }
    }
}

/// Free slots per provider, fetched on first use; holds put theirs back.
struct Slots {
    free: Mutex<HashMap<usize, VecDeque<Slot>>>,
}

#[derive(Default)]
struct Writes {
    bookings_ok: AtomicU64,
    holds_ok: AtomicU64,
    releases_ok: AtomicU64,
    conflicts: AtomicU64,
    errors: AtomicU64,
    /// A provider with no free slot left: the write went to the next rank.
    fallbacks: AtomicU64,
    per_instance: Vec<AtomicU64>,
}

/// A writer: `bookings` bookings and `holds` holds a second (each hold
/// released `hold_secs` later), providers drawn Zipf; each provider's
/// writes through instance `rank % instances`.
#[allow(clippy::too_many_arguments)]
async fn writer(
    instances: Vec<SocketAddr>,
    providers: Arc<Vec<Prov>>,
    zipf: Arc<Zipf>,
    slots: Arc<Slots>,
    writes: Arc<Writes>,
    latency: Arc<Histogram>,
    (bookings, holds, hold_secs): (f64, f64, f64),
    seed: u64,
    mut stop: watch::Receiver<bool>,
) {
    let mut clients: Vec<Client> = instances.iter().map(|&a| Client::new(a, None)).collect();
    let mut rng = Rng(seed | 1);
    let rate = bookings + holds;
    if rate <= 0.0 {
        return;
    }
    let mut ticker = tokio::time::interval(Duration::from_secs_f64(1.0 / rate));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut pending: VecDeque<(Instant, usize, Slot, String, String)> = VecDeque::new();
    let mut n = seed as usize * 1_000_000;
    let mut stopping = false;
    loop {
        if !stopping {
            tokio::select! {
                _ = ticker.tick() => {}
                _ = stop.changed() => stopping = true,
            }
        }
        // Releases that are due (all of them once stopping).
        while let Some((due, ..)) = pending.front() {
            if !stopping && *due > Instant::now() {
                break;
            }
            let (_, rank, slot, id, token) = pending.pop_front().expect("front");
            let instance = rank % clients.len();
            let auth = format!("Bearer {token}");
            let sent = Instant::now();
            match clients[instance]
                .request("DELETE", &format!("/api/v1/holds/{id}"), &[("Authorization", &auth)], None)
                .await
            {
                Ok(r) if r.status() == 204 => {
                    latency.record(sent.elapsed().as_micros() as i64);
                    writes.releases_ok.fetch_add(1, Ordering::Relaxed);
                    writes.per_instance[instance].fetch_add(1, Ordering::Relaxed);
                    slots.free.lock().unwrap_or_else(|p| p.into_inner()).entry(rank).or_default().push_back(slot);
                }
                Ok(r) => {
                    writes.errors.fetch_add(1, Ordering::Relaxed);
                    eprintln!("loadgen: release answered {}: {}", r.status(), r.text());
                }
                Err(error) => {
                    writes.errors.fetch_add(1, Ordering::Relaxed);
                    eprintln!("loadgen: release failed: {error}");
                }
            }
        }
        if stopping {
            return;
        }
        let booking = rng.unit() * rate < bookings;
        // A provider with a free slot: the drawn one, else the next ranks.
        let mut rank = zipf.sample(&mut rng);
        let mut slot = None;
        for _ in 0..providers.len() {
            let known = slots.free.lock().unwrap_or_else(|p| p.into_inner()).contains_key(&rank);
            if !known {
                let instance = rank % clients.len();
                let fetched = available_slots(&mut clients[instance], &providers[rank].id, 31, 120).await;
                let fetched = fetched.unwrap_or_else(|error| {
                    eprintln!("loadgen: slots of rank {rank}: {error}");
                    Vec::new()
                });
                slots.free.lock().unwrap_or_else(|p| p.into_inner()).entry(rank).or_insert_with(|| fetched.into());
            }
            // Drawn at random among the provider's free slots, as customers choose.
            let taken = {
                let mut free = slots.free.lock().unwrap_or_else(|p| p.into_inner());
                let list = free.get_mut(&rank).expect("filled");
                if list.is_empty() { None } else { list.swap_remove_back((rng.next() % list.len() as u64) as usize) }
            };
            if taken.is_some() {
                slot = taken;
                break;
            }
            writes.fallbacks.fetch_add(1, Ordering::Relaxed);
            rank = (rank + 1) % providers.len();
        }
        let Some(slot) = slot else { continue };
        let instance = rank % clients.len();
        let provider = &providers[rank];
        n += 1;
        let sent = Instant::now();
        let answer = if booking {
            let body = serde_json::json!({
                "providerId": provider.id,
                "serviceId": provider.service_id,
                "startTime": slot.starts_at,
                "customer": {"name": format!("Day Customer {n}"), "email": format!("day{n}@example.com")},
            })
            .to_string();
            clients[instance].post_json("/api/v1/bookings", &[], body.as_bytes()).await
        } else {
            let body = serde_json::json!({
                "providerId": provider.id,
                "serviceId": provider.service_id,
                "startTime": slot.starts_at,
            })
            .to_string();
            clients[instance].post_json("/api/v1/holds", &[], body.as_bytes()).await
        };
        match answer {
            Ok(r) if r.status() == 201 => {
                latency.record(sent.elapsed().as_micros() as i64);
                writes.per_instance[instance].fetch_add(1, Ordering::Relaxed);
                if booking {
                    writes.bookings_ok.fetch_add(1, Ordering::Relaxed);
                } else {
                    writes.holds_ok.fetch_add(1, Ordering::Relaxed);
                    let json = r.json().unwrap_or_default();
                    let (Some(id), Some(token)) = (json["id"].as_str(), json["token"].as_str()) else {
                        eprintln!("loadgen: hold answered without id/token");
                        continue;
                    };
                    let due = Instant::now() + Duration::from_secs_f64(hold_secs);
                    pending.push_back((due, rank, slot, id.to_owned(), token.to_owned()));
                }
            }
            Ok(r) if r.status() == 409 => {
                writes.conflicts.fetch_add(1, Ordering::Relaxed);
            }
            Ok(r) => {
                writes.errors.fetch_add(1, Ordering::Relaxed);
                eprintln!(
                    "loadgen: {} answered {}: {}",
                    if booking { "booking" } else { "hold" },
                    r.status(),
                    r.text()
                );
            }
            Err(error) => {
                writes.errors.fetch_add(1, Ordering::Relaxed);
                eprintln!("loadgen: write failed: {error}");
            }
        }
    }
}

/// The webhook receiver's state.
struct Hooks {
    ids: Mutex<HashSet<String>>,
    deliveries: AtomicU64,
    duplicates: AtomicU64,
    /// Commit (`changedAt`, else the payload's `timestamp`) -> receipt.
    lag: Histogram,
    /// The newest `slot.changed` version per provider id, and how many came.
    versions: Mutex<HashMap<String, (i64, u64)>>,
}

async fn receive(State(hooks): State<Arc<Hooks>>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let received = now_micros();
    hooks.deliveries.fetch_add(1, Ordering::Relaxed);
    if let Some(id) = headers.get("webhook-id").and_then(|v| v.to_str().ok())
        && !hooks.ids.lock().unwrap_or_else(|p| p.into_inner()).insert(id.to_owned())
    {
        hooks.duplicates.fetch_add(1, Ordering::Relaxed);
        return StatusCode::NO_CONTENT;
    }
    let Ok(json) = serde_json::from_slice::<serde_json::Value>(&body) else { return StatusCode::NO_CONTENT };
    let data = &json["data"];
    let at = data["changedAt"].as_str().or(json["timestamp"].as_str()).and_then(crate::subscribers::parse_any_offset);
    if let Some(at) = at {
        hooks.lag.record(received - at);
    }
    if json["type"] == "slot.changed"
        && let (Some(provider), Some(version)) = (data["providerId"].as_str(), data["version"].as_i64())
    {
        let mut versions = hooks.versions.lock().unwrap_or_else(|p| p.into_inner());
        let entry = versions.entry(provider.to_owned()).or_insert((0, 0));
        entry.0 = entry.0.max(version);
        entry.1 += 1;
    }
    StatusCode::NO_CONTENT
}

/// Sum of a counter over its label sets whose labels contain `filter`.
fn counter(text: &str, name: &str, filter: &str) -> f64 {
    text.lines()
        .filter(|line| line.strip_prefix(name).is_some_and(|rest| rest.starts_with([' ', '{'])))
        .filter(|line| line.contains(filter))
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

const COUNTERS: [(&str, &str, &str); 7] = [
    ("log_reads", "slotstream_log_reads_total", ""),
    ("directory_reads", "slotstream_directory_reads_total", ""),
    ("stream_start_reads", "slotstream_stream_start_reads_total", ""),
    ("relay_carried_events", "slotstream_relay_notifications_total", "carried=\"events\""),
    ("relay_carried_version", "slotstream_relay_notifications_total", "carried=\"version\""),
    ("events_published", "slotstream_events_published_total", ""),
    ("events_delivered", "slotstream_events_delivered_total", ""),
];

async fn read_counters(server: SocketAddr) -> Vec<f64> {
    let mut client = Client::new(server, None);
    match client.get("/metrics", &[]).await {
        Ok(r) if r.status() == 200 => {
            let text = r.text();
            COUNTERS.iter().map(|(_, name, filter)| counter(&text, name, filter)).collect()
        }
        _ => vec![f64::NAN; COUNTERS.len()],
    }
}

/// PostgreSQL's own counts for the database: transactions (commits +
/// rollbacks), rows returned, rows fetched.
fn pg_counts(url: &Option<String>) -> Option<[f64; 3]> {
    let url = url.as_ref()?;
    let output = std::process::Command::new("psql")
        .args([
            url.as_str(),
            "-Atc",
            "SELECT xact_commit + xact_rollback, tup_returned, tup_fetched FROM pg_stat_database \
             WHERE datname = current_database()",
        ])
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&output.stdout);
    let v: Vec<f64> = text.trim().split('|').filter_map(|s| s.parse().ok()).collect();
    (v.len() == 3).then(|| [v[0], v[1], v[2]])
}

/// Busy and total jiffies of the whole machine (`/proc/stat`'s first line).
fn machine_jiffies() -> (u64, u64) {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let fields: Vec<u64> =
        stat.lines().next().unwrap_or("").split_whitespace().skip(1).filter_map(|f| f.parse().ok()).collect();
    let total: u64 = fields.iter().sum();
    // idle and iowait are the 4th and 5th.
    let idle = fields.get(3).copied().unwrap_or(0) + fields.get(4).copied().unwrap_or(0);
    (total - idle, total)
}

/// CPU milliseconds of every PostgreSQL process (`comm` = postgres).
fn postgres_cpu_ms() -> u64 {
    let Ok(dir) = std::fs::read_dir("/proc") else { return 0 };
    dir.filter_map(Result::ok)
        .filter(|e| e.file_name().to_str().is_some_and(|n| n.bytes().all(|b| b.is_ascii_digit())))
        .filter(|e| std::fs::read_to_string(e.path().join("comm")).is_ok_and(|c| c.trim() == "postgres"))
        .filter_map(|e| stats::cpu_ms(e.file_name().to_str()?))
        .sum()
}

fn cpu_ms(pids: &[u32]) -> Vec<u64> {
    pids.iter().map(|pid| stats::cpu_ms(&pid.to_string()).unwrap_or(0)).collect()
}

fn rss_kib(pids: &[u32]) -> Vec<u64> {
    pids.iter().map(|&pid| stats::rss_kib(pid).unwrap_or(0)).collect()
}

pub async fn run(options: DayOptions) -> io::Result<bool> {
    let instances = options.instances.clone();
    let k = instances.len();
    let mut client = Client::new(instances[0], None);
    let providers = Arc::new(catalogue(&mut client).await?);
    if providers.is_empty() {
        return Err(http::bad("no `Day provider` in the catalogue (import bench/day_catalogue.py's file)"));
    }
    let zipf = Arc::new(Zipf::new(providers.len(), options.zipf));
    let mut rng = Rng(options.seed | 1);
    println!("instances={k}");
    println!("providers={}", providers.len());
    println!("zipf_s={}", options.zipf);

    // Webhooks: every tenth rank from the top, a key each, every event type.
    let hooks = Arc::new(Hooks {
        ids: Mutex::default(),
        deliveries: AtomicU64::new(0),
        duplicates: AtomicU64::new(0),
        lag: Histogram::new(),
        versions: Mutex::default(),
    });
    let mut hook_ranks: Vec<usize> = (0..options.webhook_providers).map(|i| (i * 10) % providers.len()).collect();
    hook_ranks.sort_unstable();
    hook_ranks.dedup();
    if !hook_ranks.is_empty() {
        let token = std::env::var("SLOTSTREAM_ADMIN_TOKEN")
            .map_err(|_| http::bad("--webhook-providers needs the operator token in SLOTSTREAM_ADMIN_TOKEN"))?;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}/hooks", listener.local_addr()?);
        let router = axum::Router::new().route("/hooks", axum::routing::post(receive)).with_state(hooks.clone());
        tokio::spawn(async move { axum::serve(listener, router).await });
        let admin = format!("Bearer {token}");
        for &rank in &hook_ranks {
            let provider = &providers[rank];
            let path = format!("/api/v1/admin/providers/{}/keys", provider.external_id);
            let r = client.post_json(&path, &[("Authorization", &admin)], br#"{"label":"day bench"}"#).await?;
            let json = r.json()?;
            let key = json["key"].as_str().ok_or_else(|| http::bad(&format!("issuing a key answered {}", r.text())))?;
            let bearer = format!("Bearer {key}");
            let body = serde_json::json!({ "url": url }).to_string();
            let path = format!("/api/v1/providers/{}/webhooks", provider.id);
            let r = client.post_json(&path, &[("Authorization", &bearer)], body.as_bytes()).await?;
            if r.status() != 201 {
                return Err(http::bad(&format!("subscribing answered {}: {}", r.status(), r.text())));
            }
        }
        println!("webhook_providers={}", hook_ranks.len());
    }

    // Viewers.
    let rss_before = rss_kib(&options.server_pids);
    let ranks: Vec<usize> = (0..options.viewers).map(|_| zipf.sample(&mut rng)).collect();
    let mut distinct: Vec<usize> = ranks.iter().copied().collect::<HashSet<_>>().into_iter().collect();
    distinct.sort_unstable();
    let mut per_rank: HashMap<usize, usize> = HashMap::new();
    for &r in &ranks {
        *per_rank.entry(r).or_default() += 1;
    }
    println!("viewers_requested={}", options.viewers);
    println!("viewed_providers={}", distinct.len());
    println!("top_provider_viewers={}", per_rank.get(&0).copied().unwrap_or(0));
    println!("providers_with_1000_viewers_or_more={}", per_rank.values().filter(|&&n| n >= 1000).count());
    let shared = Arc::new(Viewers {
        connected: AtomicUsize::new(0),
        failed: AtomicUsize::new(0),
        same: Histogram::new(),
        other: Histogram::new(),
    });
    let (stop_tx, stop_rx) = watch::channel(false);
    let connect_started = Instant::now();
    let mut tasks: Vec<(usize, tokio::task::JoinHandle<Seen>)> = Vec::with_capacity(options.viewers);
    let per_connection = options.streams_per_connection.clamp(1, 1000);
    for (instance, &server) in instances.iter().enumerate() {
        let mine: Vec<usize> = (instance..options.viewers).step_by(k).collect();
        for chunk in mine.chunks(per_connection) {
            let h2 = h2hold::handshake(server, options.connect_timeout).await?;
            for &i in chunk {
                let rank = ranks[i];
                let request = h2hold::stream_request(
                    server,
                    &format!("/api/v1/providers/{}/availability/stream", providers[rank].id),
                )?;
                let task = tokio::spawn(viewer(
                    h2.clone(),
                    request,
                    rank % k == instance,
                    shared.clone(),
                    options.connect_timeout,
                    stop_rx.clone(),
                ));
                tasks.push((i, task));
            }
            // Let this connection's heads come before the next one's requests pile up.
            while shared.connected.load(Ordering::Relaxed) + shared.failed.load(Ordering::Relaxed) + 2 * per_connection
                < tasks.len()
            {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }
    let deadline = Instant::now() + Duration::from_secs(120);
    while shared.connected.load(Ordering::Relaxed) + shared.failed.load(Ordering::Relaxed) < options.viewers
        && Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let connected = shared.connected.load(Ordering::Relaxed);
    println!("viewers_connected={connected}");
    println!("viewers_failed={}", shared.failed.load(Ordering::Relaxed));
    println!("viewers_connect_secs={:.1}", connect_started.elapsed().as_secs_f64());
    tokio::time::sleep(options.settle).await;
    let rss_after = rss_kib(&options.server_pids);
    for (n, (before, after)) in rss_before.iter().zip(&rss_after).enumerate() {
        println!("server{n}_rss_before_kib={before}");
        println!("server{n}_rss_after_kib={after}");
    }
    let rss_total: u64 = rss_after.iter().zip(&rss_before).map(|(a, b)| a.saturating_sub(*b)).sum();
    println!("rss_kib_per_viewer={:.2}", rss_total as f64 / connected.max(1) as f64);
    println!("server_rss_total_mib={:.1}", rss_after.iter().sum::<u64>() as f64 / 1024.0);

    // The versions before the first write, then the day.
    let start_versions = versions(&mut client, &providers, &distinct).await?;
    let hook_start = versions(&mut client, &providers, &hook_ranks).await?;
    let counters_before: Vec<Vec<f64>> =
        futures_util::future::join_all(instances.iter().map(|&s| read_counters(s))).await;
    let pg_before = pg_counts(&options.pg_url);
    let cpu_before = cpu_ms(&options.server_pids);
    let own_before = stats::cpu_ms("self").unwrap_or(0);
    let machine_before = machine_jiffies();
    let postgres_before = postgres_cpu_ms();
    let started = Instant::now();

    let (work_tx, work_rx) = watch::channel(false);
    let etags = Arc::new(Mutex::new(HashMap::new()));
    let polls = Arc::new(Polls::default());
    let poll_latency = Arc::new(Histogram::new());
    let mut workers = Vec::new();
    let poll_connections = options.poll_connections.max(1);
    if options.polls > 0.0 {
        for w in 0..poll_connections {
            workers.push(tokio::spawn(poller(
                instances[w % k],
                providers.clone(),
                zipf.clone(),
                etags.clone(),
                polls.clone(),
                poll_latency.clone(),
                options.polls / poll_connections as f64,
                options.seed.wrapping_add(1000 + w as u64),
                work_rx.clone(),
            )));
        }
    }
    let slots = Arc::new(Slots { free: Mutex::default() });
    let writes = Arc::new(Writes { per_instance: (0..k).map(|_| AtomicU64::new(0)).collect(), ..Writes::default() });
    let write_latency = Arc::new(Histogram::new());
    let writers = options.writers.max(1);
    for w in 0..writers {
        workers.push(tokio::spawn(writer(
            instances.clone(),
            providers.clone(),
            zipf.clone(),
            slots.clone(),
            writes.clone(),
            write_latency.clone(),
            (options.bookings / writers as f64, options.holds / writers as f64, options.hold_secs),
            options.seed.wrapping_add(2000 + w as u64),
            work_rx.clone(),
        )));
    }
    // Poll and write for `secs`, then stop the pollers and writers (the
    // writers release the holds they still have).
    // Halfway, the same counters again: the second half is the steady state
    // (every viewed or polled provider's directory entry warm by then).
    tokio::time::sleep(Duration::from_secs_f64(options.secs / 2.0)).await;
    let half_at = started.elapsed().as_secs_f64();
    let cpu_half = cpu_ms(&options.server_pids);
    let counters_half: Vec<Vec<f64>> =
        futures_util::future::join_all(instances.iter().map(|&s| read_counters(s))).await;
    let pg_half = pg_counts(&options.pg_url);
    tokio::time::sleep(Duration::from_secs_f64(options.secs / 2.0)).await;
    let elapsed = started.elapsed().as_secs_f64();
    let cpu_after = cpu_ms(&options.server_pids);
    let own_after = stats::cpu_ms("self").unwrap_or(0);
    let machine_after = machine_jiffies();
    let postgres_after = postgres_cpu_ms();
    let counters_mid: Vec<Vec<f64>> = futures_util::future::join_all(instances.iter().map(|&s| read_counters(s))).await;
    let pg_mid = pg_counts(&options.pg_url);
    let _ = work_tx.send(true);
    for worker in workers {
        let _ = worker.await;
    }
    let writes_stopped = Instant::now();
    // Drain: until every viewer's provider has reached its final version.
    let end_versions = loop {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let end = versions(&mut client, &providers, &distinct).await?;
        if writes_stopped.elapsed() >= options.drain {
            break end;
        }
    };
    let hook_end = versions(&mut client, &providers, &hook_ranks).await?;
    let _ = stop_tx.send(true);
    let mut lost = 0u64;
    let mut duplicated = 0u64;
    let mut received = 0u64;
    let mut ended_early = 0u64;
    let mut expected = 0u64;
    for (i, task) in tasks {
        let Ok(seen) = task.await else { continue };
        let rank = ranks[i];
        let (start, end) = (start_versions[&rank], end_versions[&rank]);
        expected += (end - start) as u64;
        received += seen.received;
        duplicated += seen.duplicates;
        ended_early += u64::from(seen.ended_early);
        lost += match (seen.first, seen.last) {
            (Some(first), Some(last)) => (first - start - 1).max(0) as u64 + seen.gaps + (end - last).max(0) as u64,
            _ => (end - start).max(0) as u64,
        };
    }
    let events: i64 = distinct.iter().map(|r| end_versions[r] - start_versions[r]).sum();

    println!("day_secs={elapsed:.1}");
    println!("bookings={}", writes.bookings_ok.load(Ordering::Relaxed));
    println!("holds={}", writes.holds_ok.load(Ordering::Relaxed));
    println!("releases={}", writes.releases_ok.load(Ordering::Relaxed));
    println!("write_conflicts={}", writes.conflicts.load(Ordering::Relaxed));
    println!("write_errors={}", writes.errors.load(Ordering::Relaxed));
    println!("write_fallbacks={}", writes.fallbacks.load(Ordering::Relaxed));
    for (n, c) in writes.per_instance.iter().enumerate() {
        println!("writes_instance{n}={}", c.load(Ordering::Relaxed));
    }
    write_latency.print("write_request");
    println!("events_on_viewed_providers={events}");
    println!("deliveries_expected={expected}");
    println!("deliveries_received={received}");
    println!("events_lost={lost}");
    println!("events_duplicated={duplicated}");
    println!("viewers_ended_early={ended_early}");
    shared.same.print("receipt_same_instance");
    shared.other.print("receipt_other_instance");
    let conditional = polls.conditional.load(Ordering::Relaxed);
    let unconditional = polls.unconditional.load(Ordering::Relaxed);
    let not_modified = polls.not_modified.load(Ordering::Relaxed);
    println!("polls={}", conditional + unconditional);
    println!("polls_per_sec={:.0}", (conditional + unconditional) as f64 / elapsed);
    println!("polls_conditional={conditional}");
    println!("polls_first_unconditional={unconditional}");
    println!("polls_304={not_modified}");
    println!("polls_304_share_of_conditional={:.3}", not_modified as f64 / conditional.max(1) as f64);
    println!("polls_304_share_of_all={:.3}", not_modified as f64 / (conditional + unconditional).max(1) as f64);
    println!("poll_errors={}", polls.errors.load(Ordering::Relaxed));
    poll_latency.print("poll_request");
    let minutes = elapsed / 60.0;
    let cpu: Vec<f64> = cpu_after.iter().zip(&cpu_before).map(|(a, b)| (a - b) as f64 / 1000.0).collect();
    for (n, c) in cpu.iter().enumerate() {
        println!("server{n}_cpu_secs={c:.1}");
    }
    let cpu_total: f64 = cpu.iter().sum();
    println!("server_cpu_secs={cpu_total:.1}");
    println!("server_cpu_cores={:.2}", cpu_total / elapsed);
    println!(
        "server_cpu_secs_per_1000_viewers_per_minute={:.3}",
        cpu_total / (connected.max(1) as f64 / 1000.0) / minutes
    );
    println!("loadgen_cpu_secs={:.1}", (own_after - own_before) as f64 / 1000.0);
    // PostgreSQL's processes that ended within the window are not counted.
    println!("postgres_cpu_secs={:.1}", postgres_after.saturating_sub(postgres_before) as f64 / 1000.0);
    let (busy, total) = (machine_after.0 - machine_before.0, machine_after.1 - machine_before.1);
    println!("machine_busy_share={:.3}", busy as f64 / total.max(1) as f64);
    // Events committed in the window on every provider (not only viewed
    // ones): each instance counts the commits made through it.
    let published: f64 = counters_before.iter().zip(&counters_mid).map(|(b, a)| a[5] - b[5]).sum();
    println!("events_committed={published}");
    for (n, (before, after)) in counters_before.iter().zip(&counters_mid).enumerate() {
        for (j, (name, ..)) in COUNTERS.iter().enumerate() {
            println!("server{n}_{name}={}", after[j] - before[j]);
        }
    }
    let reads: f64 =
        counters_before.iter().zip(&counters_mid).map(|(b, a)| (a[0] - b[0]) + (a[1] - b[1]) + (a[2] - b[2])).sum();
    println!("server_reads_per_event={:.3}", reads / published.max(1.0));
    if let (Some(before), Some(after)) = (pg_before, pg_mid) {
        let xacts = after[0] - before[0];
        println!("pg_transactions={xacts}");
        println!("pg_transactions_per_event={:.2}", xacts / published.max(1.0));
        println!("pg_transactions_per_viewer={:.4}", xacts / connected.max(1) as f64);
        println!("pg_transactions_per_sec={:.0}", xacts / elapsed);
        println!("pg_rows_returned_per_event={:.0}", (after[1] - before[1]) / published.max(1.0));
        println!("pg_rows_fetched_per_event={:.0}", (after[2] - before[2]) / published.max(1.0));
    }
    // The second half alone.
    let half_secs = elapsed - half_at;
    let half_events: f64 = counters_half.iter().zip(&counters_mid).map(|(b, a)| a[5] - b[5]).sum();
    let half_cpu: f64 = cpu_after.iter().zip(&cpu_half).map(|(a, b)| (a - b) as f64 / 1000.0).sum();
    println!("second_half_secs={half_secs:.1}");
    println!("second_half_events_committed={half_events}");
    println!("second_half_server_cpu_cores={:.2}", half_cpu / half_secs);
    println!(
        "second_half_server_cpu_secs_per_1000_viewers_per_minute={:.3}",
        half_cpu / (connected.max(1) as f64 / 1000.0) / (half_secs / 60.0)
    );
    for (n, (before, after)) in counters_half.iter().zip(&counters_mid).enumerate() {
        println!(
            "second_half_server{n}_log_directory_start_reads={}/{}/{}",
            after[0] - before[0],
            after[1] - before[1],
            after[2] - before[2]
        );
        println!("second_half_server{n}_relay_carried_version={}", after[4] - before[4]);
    }
    let half_reads: f64 =
        counters_half.iter().zip(&counters_mid).map(|(b, a)| (a[0] - b[0]) + (a[1] - b[1]) + (a[2] - b[2])).sum();
    println!("second_half_server_reads_per_event={:.3}", half_reads / half_events.max(1.0));
    if let (Some(before), Some(after)) = (pg_half, pg_mid) {
        let xacts = after[0] - before[0];
        println!("second_half_pg_transactions_per_event={:.2}", xacts / half_events.max(1.0));
        println!("second_half_pg_transactions_per_sec={:.0}", xacts / half_secs);
    }
    println!("webhook_deliveries={}", hooks.deliveries.load(Ordering::Relaxed));
    println!("webhook_duplicates={}", hooks.duplicates.load(Ordering::Relaxed));
    hooks.lag.print("webhook_lag");
    let mut hook_expected = 0i64;
    let mut hook_behind = 0i64;
    {
        let got = hooks.versions.lock().unwrap_or_else(|p| p.into_inner());
        for &rank in &hook_ranks {
            let (start, end) = (hook_start[&rank], hook_end[&rank]);
            hook_expected += end - start;
            let newest = got.get(&providers[rank].id).map_or(start, |v| v.0);
            hook_behind += (end - newest.max(start)).max(0);
        }
        println!("webhook_slot_changed_received={}", got.values().map(|v| v.1).sum::<u64>());
    }
    println!("webhook_slot_changed_expected={hook_expected}");
    println!("webhook_versions_not_delivered_at_end={hook_behind}");
    Ok(lost == 0 && duplicated == 0 && connected == options.viewers)
}
