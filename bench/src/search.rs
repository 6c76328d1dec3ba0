//! `loadgen search`: search by time under load. `connections` keep-alive
//! clients each send searches back to back for `secs` seconds, the queries
//! drawn from the catalogue's service names (`GET /api/v1/search/services`),
//! the next `days` dates and four windows of the day; meanwhile a writer
//! takes holds on times the searches found and releases them (`writes` per
//! second), so the index is being kept current while it answers. Then the
//! same queries again with `If-None-Match` (the 304 path). Prints latency
//! percentiles, throughput, the share of answers with results, and how
//! often a hold's time was still offered by a search that began after the
//! hold was answered (must be 0).

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::sync::Mutex;

use crate::http::{Client, source_addr};
use crate::stats::percentile_ms;

pub struct SearchOptions {
    pub server: SocketAddr,
    pub connections: usize,
    pub secs: f64,
    pub days: i64,
    pub writes: f64,
    pub sources: usize,
}

const WINDOWS: [(&str, &str); 4] = [("06:00", "12:00"), ("12:00", "17:00"), ("17:00", "24:00"), ("00:00", "24:00")];

/// A time a search offered: enough to hold it.
#[derive(Clone)]
struct Offered {
    /// The search that offered it.
    path: String,
    provider: String,
    service: String,
    starts_at: String,
}

/// Ok(true) when no search offered a held time.
pub async fn run(options: SearchOptions) -> io::Result<bool> {
    let mut client = Client::new(options.server, None);
    let names = service_names(&mut client).await?;
    let today = chrono::Utc::now().date_naive();
    let queries: Arc<Vec<String>> = Arc::new(
        names
            .iter()
            .flat_map(|name| {
                (0..options.days).flat_map(move |day| {
                    WINDOWS.iter().map(move |(from, to)| {
                        let date = today + chrono::TimeDelta::days(day);
                        format!("/api/v1/search?service={}&date={date}&from={from}&to={to}", encode(name))
                    })
                })
            })
            .collect(),
    );
    println!("search_queries={}", queries.len());

    // Phase 1: searches with a writer taking holds meanwhile.
    let offered: Arc<Mutex<Vec<Offered>>> = Arc::default();
    let stale = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let writer =
        tokio::spawn(write_holds(options.server, options.writes, offered.clone(), stale.clone(), stop.clone()));
    let (samples, with_results, errors, elapsed) = searchers(&options, &queries, false, Some(offered)).await;
    stop.store(true, Ordering::Relaxed);
    let (holds, checked) = writer.await.unwrap_or((0, 0));
    report("search", &samples, elapsed);
    println!("search_with_results_pct={:.1}", 100.0 * with_results as f64 / samples.len().max(1) as f64);
    println!("search_errors={errors}");
    println!("search_holds_taken={holds}");
    println!("search_holds_checked={checked}");
    println!("search_held_time_still_offered={}", stale.load(Ordering::Relaxed));

    // Phase 2: the same queries, conditional (the writer stopped: tags hold).
    let (samples, _, errors, elapsed) = searchers(&options, &queries, true, None).await;
    report("search_304", &samples, elapsed);
    println!("search_304_errors={errors}");
    Ok(stale.load(Ordering::Relaxed) == 0)
}

fn report(name: &str, samples: &[u32], elapsed: Duration) {
    let mut sorted = samples.to_vec();
    sorted.sort_unstable();
    println!("{name}_requests={}", sorted.len());
    println!("{name}_rps={:.0}", sorted.len() as f64 / elapsed.as_secs_f64());
    for (label, q) in [("p50", 0.5), ("p90", 0.9), ("p99", 0.99), ("p999", 0.999)] {
        println!("{name}_{label}_ms={:.2}", percentile_ms(&sorted, q));
    }
    println!("{name}_max_ms={:.2}", sorted.last().map_or(0.0, |us| f64::from(*us) / 1000.0));
}

async fn service_names(client: &mut Client) -> io::Result<Vec<String>> {
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        let response = client.get("/api/v1/search/services", &[]).await?;
        if response.status() == 200 {
            let body = response.json()?;
            let names: Vec<String> = body["services"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|s| s["name"].as_str().map(str::to_owned))
                .collect();
            return Ok(names);
        }
        if Instant::now() > deadline {
            return Err(io::Error::other(format!("search never became available: {}", response.status())));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| if b.is_ascii_alphanumeric() { (b as char).to_string() } else { format!("%{b:02X}") })
        .collect()
}

/// Run the searchers; (latencies in µs, answers with results, errors, elapsed).
async fn searchers(
    options: &SearchOptions,
    queries: &Arc<Vec<String>>,
    conditional: bool,
    offered: Option<Arc<Mutex<Vec<Offered>>>>,
) -> (Vec<u32>, u64, u64, Duration) {
    let started = Instant::now();
    let until = started + Duration::from_secs_f64(options.secs);
    let mut tasks = Vec::new();
    for i in 0..options.connections {
        let queries = queries.clone();
        let offered = offered.clone();
        let mut client = Client::new(options.server, Some(source_addr(i, options.sources)));
        tasks.push(tokio::spawn(async move {
            let mut samples = Vec::new();
            let (mut with_results, mut errors) = (0u64, 0u64);
            let mut tags: std::collections::HashMap<String, String> = std::collections::HashMap::new();
            let mut n = i;
            while Instant::now() < until {
                n = n.wrapping_mul(2_654_435_761).wrapping_add(12_345);
                let path = &queries[n % queries.len()];
                let tag = tags.get(path).cloned();
                let headers: Vec<(&str, &str)> =
                    tag.as_deref().filter(|_| conditional).map(|t| vec![("If-None-Match", t)]).unwrap_or_default();
                let sent = Instant::now();
                let response = client.get(path, &headers).await;
                let took = sent.elapsed().as_micros().min(u128::from(u32::MAX)) as u32;
                match response {
                    Ok(response) if response.status() == 200 || response.status() == 304 => {
                        samples.push(took);
                        if let Some(etag) = response.head.header("etag") {
                            tags.insert(path.clone(), etag.to_owned());
                        }
                        if response.status() == 200 {
                            let body = response.json().unwrap_or(Value::Null);
                            let results = body["results"].as_array().cloned().unwrap_or_default();
                            if !results.is_empty() {
                                with_results += 1;
                            }
                            if let (Some(offered), Some(first)) = (&offered, results.first()) {
                                let mut offered = offered.lock().await;
                                if offered.len() < 10_000 {
                                    offered.push(Offered {
                                        path: path.clone(),
                                        provider: first["providerId"].as_str().unwrap_or_default().to_owned(),
                                        service: first["service"]["id"].as_str().unwrap_or_default().to_owned(),
                                        starts_at: first["times"][0]["startsAt"]
                                            .as_str()
                                            .unwrap_or_default()
                                            .to_owned(),
                                    });
                                }
                            }
                        }
                    }
                    _ => errors += 1,
                }
            }
            (samples, with_results, errors)
        }));
    }
    let mut all = Vec::new();
    let (mut with_results, mut errors) = (0, 0);
    for task in tasks {
        if let Ok((samples, w, e)) = task.await {
            all.extend(samples);
            with_results += w;
            errors += e;
        }
    }
    (all, with_results, errors, started.elapsed())
}

/// Hold times the searches found, `rate` a second; right after each hold is
/// answered, search that provider's service on that date and count the held
/// time if it is still offered; then release the hold. (holds, checks).
async fn write_holds(
    server: SocketAddr,
    rate: f64,
    offered: Arc<Mutex<Vec<Offered>>>,
    stale: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
) -> (u64, u64) {
    if rate <= 0.0 {
        return (0, 0);
    }
    let mut client = Client::new(server, None);
    let every = Duration::from_secs_f64(1.0 / rate);
    let (mut holds, mut checks) = (0, 0);
    while !stop.load(Ordering::Relaxed) {
        tokio::time::sleep(every).await;
        let pick = {
            let offered = offered.lock().await;
            // Spread over what was found, without a random source.
            (!offered.is_empty()).then(|| offered[(holds as usize).wrapping_mul(7_919) % offered.len()].clone())
        };
        let Some(pick) = pick else { continue };
        let body = json!({ "providerId": pick.provider, "serviceId": pick.service, "startTime": pick.starts_at });
        let Ok(response) = client.post_json("/api/v1/holds", &[], body.to_string().as_bytes()).await else { continue };
        if response.status() != 201 {
            continue;
        }
        holds += 1;
        let hold = response.json().unwrap_or(Value::Null);
        // The same search again, begun after the hold was answered: the
        // held time must not be among the provider's times.
        if still_offered(&mut client, &pick).await {
            stale.fetch_add(1, Ordering::Relaxed);
        }
        checks += 1;
        let id = hold["id"].as_str().unwrap_or_default();
        let token = format!("Bearer {}", hold["token"].as_str().unwrap_or_default());
        let _ = client.request("DELETE", &format!("/api/v1/holds/{id}"), &[("Authorization", &token)], None).await;
    }
    (holds, checks)
}

/// Does `pick`'s search offer its time at its provider now?
async fn still_offered(client: &mut Client, pick: &Offered) -> bool {
    let Ok(response) = client.get(&pick.path, &[]).await else { return false };
    let body = response.json().unwrap_or(Value::Null);
    body["results"].as_array().into_iter().flatten().any(|result| {
        result["providerId"] == pick.provider.as_str()
            && result["times"].as_array().into_iter().flatten().any(|t| t["startsAt"] == pick.starts_at.as_str())
    })
}
