//! `loadgen storm`: a reconnect storm. N subscribers of one provider behave
//! like `EventSource` (keep the last `id:`, honour each stream's own
//! `retry:`, reopen with `Last-Event-ID` until it works) while the provider
//! keeps making events through the API. The script kills the server once
//! told to (`storm_kill=1`), restarts it on the same port and database, and
//! writes the restarted server's listening time to `--restarted-file`.
//!
//! Figures: `reconnect_storm_secs` is the time from the restarted server
//! listening until every subscriber is current: connected to it again and
//! holding every event up to V*, the newest version the restarted server
//! reports committed when first asked right after it listens. Nothing
//! commits while the server is down (it is the only writer), so V* is the
//! version at the kill plus what the first requests after the restart made.
//! `reconnect_db_queries_per_subscriber` divides the restarted server's
//! stream-start reads, log reads and provider-directory reads (its
//! `/metrics`) by the subscribers.

use std::io;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::generator::{Step, Target, Via};
use crate::http::{self, Client};
use crate::stats::percentile_f64;
use crate::subscribers::{Crowd, Record, SubscribeOptions, Tally, version_of};

/// The server counters a storm's database work is read from: per-stream
/// start reads, log reads (shared catch-up pages; relay reads too, which
/// SQLite has none of), and reads of a provider's row into the cold
/// directory of the restarted server.
const QUERY_COUNTERS: [&str; 3] =
    ["slotstream_stream_start_reads_total", "slotstream_log_reads_total", "slotstream_directory_reads_total"];

pub struct StormOptions {
    /// Events per second, before, during and after the restart.
    pub rate: f64,
    /// Slots the events cycle over.
    pub slots: usize,
    /// Events every subscriber has received before `storm_kill=1`.
    pub events_before_kill: usize,
    /// Events made after every subscriber is current, before the final check.
    pub events_after: usize,
    /// Written by the script once the restarted server listens: its time
    /// (Unix seconds with a fraction).
    pub restarted_file: PathBuf,
    /// How long to wait for the restart, then for every subscriber to be current.
    pub timeout: Duration,
    pub drain_timeout: Duration,
}

pub async fn run(options: SubscribeOptions, storm: StormOptions) -> io::Result<bool> {
    let [provider] = options.providers.as_slice() else {
        return Err(http::bad("storm takes exactly one --provider ID:KEY"));
    };
    if !options.reconnect || options.many || options.transport != crate::subscribers::Transport::Http1 {
        return Err(http::bad("storm needs reconnecting HTTP/1.1 subscribers of one provider"));
    }
    let mut client = Client::new(options.server, None);
    let mut target = Target::prepare(&mut client, provider, Via::Block, storm.slots).await?;
    let crowd = Crowd::open(options.clone()).await?;
    crowd.report_connect();
    target.start_version = version_of(&mut client, &provider.id).await?;
    let start = target.start_version;

    let generator = Generator::start(target, options.server, storm.rate);
    // Every subscriber holds a Last-Event-ID before the kill.
    if !generator.wait_for(storm.events_before_kill, storm.timeout).await {
        return Err(http::bad("the generator made no events before the kill"));
    }
    let before_kill = version_of(&mut client, &provider.id).await?;
    if !crowd.drain(&[before_kill], 0, storm.drain_timeout).await {
        eprintln!("loadgen: not every subscriber had version {before_kill} before the kill");
    }
    println!("storm_kill=1");
    use std::io::Write;
    let _ = std::io::stdout().flush();

    let listening_at = wait_for_restart(&storm.restarted_file, storm.timeout).await?;
    let current = committed_version(&mut client, &provider.id, storm.timeout).await?;
    // Current: reopened on the restarted server, and holding V*.
    let all_current =
        crowd.wait_reopened(crowd.connected(), storm.timeout).await && crowd.drain(&[current], 0, storm.timeout).await;
    eprintln!("loadgen: {} streams reopened; every subscriber current: {all_current}", crowd.reopened());
    let generated = generator.generated();
    if !generator.wait_for(generated + storm.events_after, storm.timeout).await {
        eprintln!("loadgen: the restarted server made fewer than {} events in time", storm.events_after);
    }
    let steps = generator.stop().await;
    let end = version_of(&mut client, &provider.id).await?;
    let drained = crowd.drain(&[end], 0, storm.drain_timeout).await;
    let counters = query_counters(&mut client).await;
    let connected = crowd.connected();
    let records = crowd.close().await;

    let tally = Tally::of(&records, false, &[(start, end)], &[]);
    let storm_figures = StormFigures::of(&records, listening_at, current);
    println!("events_committed={}", end - start);
    println!("events_committed_before_kill={}", before_kill - start);
    println!("version_current_after_restart={current}");
    println!("generator_steps={}", steps.len());
    println!("generator_errors={}", steps.iter().filter(|s| !s.ok).count());
    println!("drained={drained}");
    storm_figures.print();
    match counters {
        Ok(counts) => {
            let total: f64 = counts.iter().sum();
            println!("reconnect_stream_start_reads={}", counts[0]);
            println!("reconnect_log_reads={}", counts[1]);
            println!("reconnect_directory_reads={}", counts[2]);
            println!("reconnect_db_queries_per_subscriber={:.4}", total / storm_figures.subscribers.max(1) as f64);
        }
        Err(error) => eprintln!("loadgen: /metrics not read: {error}"),
    }
    tally.print_latencies();
    tally.print_checks(connected);
    Ok(tally.lost == 0
        && tally.duplicated == 0
        && connected == options.subscribers
        && storm_figures.current == connected)
}

/// What the reconnections show, relative to the restarted server's listening time.
struct StormFigures {
    /// Subscribers that reopened their stream on the restarted server.
    subscribers: usize,
    /// Subscribers current (reopened and holding every event up to V*).
    current: usize,
    /// Per current subscriber: seconds from listening until it was current.
    current_secs: Vec<f64>,
    /// Per reopened subscriber: seconds from listening to its `retry:` line.
    reopened_secs: Vec<f64>,
    /// Seconds from the first stream's end to the restarted server listening.
    outage_secs: f64,
    failed_attempts: u64,
    retry_ms: Vec<f64>,
}

impl StormFigures {
    fn of(records: &[Record], listening_at: i64, current_version: i64) -> StormFigures {
        let secs = |micros: i64| (micros - listening_at) as f64 / 1e6;
        let mut figures = StormFigures {
            subscribers: 0,
            current: 0,
            current_secs: Vec::new(),
            reopened_secs: Vec::new(),
            outage_secs: 0.0,
            failed_attempts: 0,
            retry_ms: records.iter().filter_map(|r| r.retry_ms).map(|ms| ms as f64).collect(),
        };
        let first_loss = records.iter().flat_map(|r| &r.reconnects).map(|r| r.lost_at).min();
        figures.outage_secs = first_loss.map_or(0.0, |lost| -secs(lost));
        for record in records {
            figures.failed_attempts += record.reconnects.iter().map(|r| u64::from(r.failed_attempts)).sum::<u64>();
            // The reopening that reached the restarted server: the last one.
            let Some(reopened) = record.reconnects.last().and_then(|r| r.reopened_at) else { continue };
            figures.subscribers += 1;
            figures.reopened_secs.push(secs(reopened));
            let has_current = record.events.iter().any(|e| e.id == current_version);
            let newest_needed = record.events.iter().filter(|e| e.id <= current_version).map(|e| e.received).max();
            if let (true, Some(received)) = (has_current, newest_needed) {
                figures.current += 1;
                figures.current_secs.push(secs(received.max(reopened)));
            }
        }
        for list in [&mut figures.current_secs, &mut figures.reopened_secs, &mut figures.retry_ms] {
            list.sort_by(f64::total_cmp);
        }
        figures
    }

    fn print(&self) {
        println!("reconnect_subscribers={}", self.subscribers);
        println!("reconnect_current_subscribers={}", self.current);
        // Undefined unless every subscriber got current.
        let storm = if self.current == self.subscribers && self.current > 0 {
            format!("{:.2}", self.current_secs.last().copied().unwrap_or(0.0))
        } else {
            "nan".to_owned()
        };
        println!("reconnect_storm_secs={storm}");
        println!("reconnect_storm_p50_secs={:.2}", percentile_f64(&self.current_secs, 0.5));
        println!("reconnect_reopened_p50_secs={:.2}", percentile_f64(&self.reopened_secs, 0.5));
        println!("reconnect_reopened_max_secs={:.2}", percentile_f64(&self.reopened_secs, 1.0));
        println!("reconnect_outage_secs={:.2}", self.outage_secs);
        println!("reconnect_failed_attempts={}", self.failed_attempts);
        println!("retry_advised_min_ms={:.0}", percentile_f64(&self.retry_ms, 0.0));
        println!("retry_advised_max_ms={:.0}", percentile_f64(&self.retry_ms, 1.0));
    }
}

/// The restarted server's listening time (Unix microseconds), once the
/// script has written it.
async fn wait_for_restart(file: &PathBuf, timeout: Duration) -> io::Result<i64> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Ok(text) = std::fs::read_to_string(file)
            && let Ok(secs) = text.trim().parse::<f64>()
        {
            return Ok((secs * 1e6) as i64);
        }
        if Instant::now() >= deadline {
            return Err(http::bad(&format!("no restart time in {} after {timeout:?}", file.display())));
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// The provider's committed version, asking until the server answers.
async fn committed_version(client: &mut Client, provider_id: &str, timeout: Duration) -> io::Result<i64> {
    let deadline = Instant::now() + timeout;
    loop {
        match version_of(client, provider_id).await {
            Ok(version) => return Ok(version),
            Err(error) if Instant::now() >= deadline => return Err(error),
            Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
        }
    }
}

/// The sum of each of `QUERY_COUNTERS` over its label sets, from `/metrics`.
async fn query_counters(client: &mut Client) -> io::Result<Vec<f64>> {
    let response = client.get("/metrics", &[]).await?;
    if response.status() != 200 {
        return Err(http::bad(&format!("/metrics answered {}", response.status())));
    }
    let text = response.text();
    Ok(QUERY_COUNTERS
        .iter()
        .map(|name| {
            text.lines()
                .filter(|line| line.strip_prefix(name).is_some_and(|rest| rest.starts_with([' ', '{'])))
                .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
                .sum()
        })
        .collect())
}

/// The event generator, running in its own task at a fixed rate through the
/// server's restart: refused requests are steps that failed, and it goes on.
struct Generator {
    stop: Arc<AtomicBool>,
    steps: tokio::sync::watch::Receiver<usize>,
    task: tokio::task::JoinHandle<Vec<Step>>,
}

impl Generator {
    fn start(mut target: Target, server: std::net::SocketAddr, rate: f64) -> Generator {
        let stop = Arc::new(AtomicBool::new(false));
        let (count, steps) = tokio::sync::watch::channel(0usize);
        let stopping = stop.clone();
        let task = tokio::spawn(async move {
            let mut client = Client::new(server, None);
            let mut ticker = tokio::time::interval(Duration::from_secs_f64(1.0 / rate.max(0.001)));
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let (mut steps, mut made) = (Vec::new(), 0);
            while !stopping.load(Ordering::Relaxed) {
                ticker.tick().await;
                let step = target.step(&mut client).await;
                made += usize::from(step.ok);
                steps.push(step);
                let _ = count.send(made);
            }
            steps
        });
        Generator { stop, steps, task }
    }

    /// Steps that made their event so far.
    fn generated(&self) -> usize {
        *self.steps.borrow()
    }

    /// Wait until `n` steps have made their event (false: not within `timeout`).
    async fn wait_for(&self, n: usize, timeout: Duration) -> bool {
        let mut steps = self.steps.clone();
        tokio::time::timeout(timeout, steps.wait_for(|&done| done >= n)).await.is_ok_and(|made| made.is_ok())
    }

    async fn stop(self) -> Vec<Step> {
        self.stop.store(true, Ordering::Relaxed);
        self.task.await.unwrap_or_default()
    }
}
