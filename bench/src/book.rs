//! `book`: booking throughput over many providers, then contention on single
//! slots (exactly one of K simultaneous POSTs may win).

use std::collections::BTreeMap;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::Barrier;

use crate::http::{self, Client};
use crate::stats::percentile_f64;
use crate::subscribers::available_slots;

#[derive(Clone, Debug)]
pub struct BookOptions {
    pub server: SocketAddr,
    pub clients: usize,
    pub duration: Duration,
    pub days: u32,
    pub lead_minutes: i64,
    pub contention: usize,
    pub contention_rounds: usize,
    pub sources: usize,
    pub max_providers: usize,
}

#[derive(Clone)]
struct Job {
    body: Arc<Vec<u8>>,
}

fn booking_body(provider_id: &str, service_id: &str, starts_at: &str, n: usize) -> Vec<u8> {
    serde_json::json!({
        "providerId": provider_id,
        "serviceId": service_id,
        "startTime": starts_at,
        "customer": {"name": format!("Bench Customer {n}"), "email": format!("bench{n}@example.com")},
    })
    .to_string()
    .into_bytes()
}

pub async fn run(options: BookOptions) -> io::Result<bool> {
    let mut client = Client::new(options.server, None);
    let response = client.get("/api/v1/providers", &[]).await?;
    if response.status() != 200 {
        return Err(http::bad(&format!("providers answered {}", response.status())));
    }
    let providers = response.json()?;
    // Per provider: its 30-minute service and its free future slots.
    let mut per_provider: Vec<Vec<Job>> = Vec::new();
    let mut n = 0usize;
    let read_started = Instant::now();
    for provider in providers.as_array().into_iter().flatten().take(options.max_providers) {
        let id = provider["id"].as_str().unwrap_or("");
        let Some(service) =
            provider["services"].as_array().into_iter().flatten().find(|s| s["durationMinutes"].as_i64() == Some(30))
        else {
            continue;
        };
        let service_id = service["id"].as_str().unwrap_or("");
        let slots = available_slots(&mut client, id, options.days, options.lead_minutes).await?;
        per_provider.push(
            slots
                .iter()
                .map(|slot| {
                    n += 1;
                    Job { body: Arc::new(booking_body(id, service_id, &slot.starts_at, n)) }
                })
                .collect(),
        );
    }
    eprintln!(
        "loadgen: {} providers, {} free slots read in {:.1}s",
        per_provider.len(),
        n,
        read_started.elapsed().as_secs_f64()
    );
    // Contention slots: one from each of the first providers, taken off the end.
    let mut contended = Vec::new();
    for round in 0..options.contention_rounds {
        let count = per_provider.len();
        if count == 0 {
            break;
        }
        if let Some(job) = per_provider[round % count].pop() {
            contended.push(job);
        }
    }
    // Interleave the rest over providers so concurrent clients rarely share one.
    let mut queue = Vec::with_capacity(n);
    let longest = per_provider.iter().map(Vec::len).max().unwrap_or(0);
    for i in 0..longest {
        for jobs in &per_provider {
            if let Some(job) = jobs.get(i) {
                queue.push(job.clone());
            }
        }
    }
    let queue = Arc::new(queue);

    // Throughput.
    let next = Arc::new(AtomicUsize::new(0));
    let start = Arc::new(Barrier::new(options.clients + 1));
    let mut tasks = Vec::new();
    for c in 0..options.clients {
        let (queue, next, start) = (queue.clone(), next.clone(), start.clone());
        let mut client = Client::new(options.server, Some(http::source_addr(c, options.sources)));
        let duration = options.duration;
        tasks.push(tokio::spawn(async move {
            let connected = client.ensure_connected().await;
            start.wait().await;
            let mut tally = Tally::default();
            if let Err(error) = connected {
                tally.count(format!("connect error: {error}"));
                return tally;
            }
            let deadline = Instant::now() + duration;
            while Instant::now() < deadline {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(job) = queue.get(i) else {
                    tally.exhausted = true;
                    break;
                };
                let sent = Instant::now();
                match client.post_json("/api/v1/bookings", &[], &job.body).await {
                    Ok(response) => {
                        tally.latencies_ms.push(sent.elapsed().as_secs_f64() * 1000.0);
                        match response.status() {
                            201 => tally.ok += 1,
                            409 => tally.conflict += 1,
                            status => tally.count(format!("{status}: {}", response.text())),
                        }
                    }
                    Err(error) => tally.count(format!("error: {error}")),
                }
            }
            tally
        }));
    }
    start.wait().await;
    let started = Instant::now();
    let mut total = Tally::default();
    for task in tasks {
        if let Ok(tally) = task.await {
            total.merge(tally);
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    total.latencies_ms.sort_by(f64::total_cmp);
    println!("booking_providers={}", per_provider.len());
    println!("booking_clients={}", options.clients);
    println!("booking_secs={elapsed:.2}");
    println!("bookings_ok={}", total.ok);
    println!("bookings_conflict={}", total.conflict);
    println!("bookings_failed={}", total.other.values().sum::<usize>());
    println!("booking_queue_exhausted={}", total.exhausted);
    println!("booking_rps={:.1}", total.ok as f64 / elapsed.max(1e-9));
    println!("booking_latency_p50_ms={:.2}", percentile_f64(&total.latencies_ms, 0.5));
    println!("booking_latency_p99_ms={:.2}", percentile_f64(&total.latencies_ms, 0.99));
    for (what, count) in total.other.iter().take(10) {
        eprintln!("loadgen: {count} booking(s): {what}");
    }

    // Contention: K pre-connected clients POST the same slot at once.
    let k = options.contention.max(2);
    let mut clients = Vec::with_capacity(k);
    for c in 0..k {
        let mut client = Client::new(options.server, Some(http::source_addr(c, options.sources)));
        client.ensure_connected().await?;
        clients.push(client);
    }
    let mut double = 0usize;
    let mut successes = 0usize;
    let mut zero_rounds = 0usize;
    let mut statuses: BTreeMap<u16, usize> = BTreeMap::new();
    for job in &contended {
        let barrier = Arc::new(Barrier::new(k));
        let mut tasks = Vec::with_capacity(k);
        for mut client in clients.drain(..) {
            let (barrier, body) = (barrier.clone(), job.body.clone());
            tasks.push(tokio::spawn(async move {
                barrier.wait().await;
                let status = client.post_json("/api/v1/bookings", &[], &body).await.map(|r| r.status());
                (client, status)
            }));
        }
        let mut wins = 0usize;
        for task in tasks {
            let (client, status) = task.await.map_err(|e| http::bad(&e.to_string()))?;
            clients.push(client);
            let status = status.unwrap_or(0);
            *statuses.entry(status).or_default() += 1;
            if status == 201 {
                wins += 1;
            }
        }
        successes += wins;
        double += wins.saturating_sub(1);
        if wins == 0 {
            zero_rounds += 1;
        }
    }
    println!("contended_rounds={}", contended.len());
    println!("contended_clients={k}");
    println!("contended_successes={successes}");
    println!("contended_statuses={}", statuses.iter().map(|(s, c)| format!("{s}x{c}")).collect::<Vec<_>>().join(","));
    println!("contended_zero_success_rounds={zero_rounds}");
    println!("contended_double_bookings={double}");
    Ok(double == 0 && zero_rounds == 0)
}

#[derive(Default)]
struct Tally {
    ok: usize,
    conflict: usize,
    other: BTreeMap<String, usize>,
    exhausted: bool,
    latencies_ms: Vec<f64>,
}

impl Tally {
    fn count(&mut self, what: String) {
        *self.other.entry(what.chars().take(200).collect()).or_default() += 1;
    }

    fn merge(&mut self, other: Tally) {
        self.ok += other.ok;
        self.conflict += other.conflict;
        for (k, v) in other.other {
            *self.other.entry(k).or_default() += v;
        }
        self.exhausted |= other.exhausted;
        self.latencies_ms.extend(other.latencies_ms);
    }
}
