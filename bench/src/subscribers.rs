//! `fanout` and `hold`: many SSE subscribers (raw HTTP/1.1 sockets, or h2c
//! streams over a few connections), an event generator driving the real
//! API, and the delivery bookkeeping (latency, gaps, duplicates) that
//! `storm` shares. Subscribers can also reconnect as `EventSource` does.

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{Semaphore, SemaphorePermit, watch};

use crate::generator::{Kind, Step, Target, Via};
use crate::h2hold;
use crate::http::{self, Client};
use crate::sse::{self, Frames, Http1Body};
use crate::stats::{self, now_micros, percentile_f64, percentile_ms};

#[derive(Clone, Debug)]
pub struct Provider {
    pub id: String,
    pub key: Option<String>,
}

/// Parse `ID` or `ID:KEY`.
pub fn parse_provider(s: &str) -> Result<Provider, String> {
    let (id, key) = match s.split_once(':') {
        Some((id, key)) => (id, Some(key.to_owned())),
        None => (s, None),
    };
    if id.len() != 36 {
        return Err(format!("{id:?} is not a provider id (uuid)"));
    }
    Ok(Provider { id: id.to_owned(), key })
}

#[derive(Clone, Debug)]
pub struct SubscribeOptions {
    pub server: SocketAddr,
    pub providers: Vec<Provider>,
    pub subscribers: usize,
    pub sources: usize,
    pub connect_concurrency: usize,
    pub connect_timeout: Duration,
    pub server_pid: Option<u32>,
    /// Each subscriber opens one many-providers stream over every provider
    /// (`/api/v1/availability/stream?providerIds=…`) instead of one provider's.
    pub many: bool,
    pub transport: Transport,
    /// Behave like `EventSource` when a stream ends: wait the `retry:` the
    /// server advised, reopen with `Last-Event-ID`, and keep trying until it
    /// works (HTTP/1.1 only). Without it an ended stream counts as ended early.
    pub reconnect: bool,
}

/// How the subscribers reach the server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport {
    /// One raw HTTP/1.1 socket per subscriber.
    Http1,
    /// h2c streams (prior knowledge) spread round-robin over this many
    /// connections, as behind a proxy that speaks HTTP/2 to the backend.
    H2 { connections: usize },
}

/// The `retry:` an `EventSource` uses before the server advised one.
const DEFAULT_RETRY_MS: u64 = 3_000;

/// What one subscriber saw.
#[derive(Default)]
pub struct Record {
    pub connected: bool,
    /// Each `slot-changed` frame, in order (over every reconnection).
    pub events: Vec<Seen>,
    resets: u64,
    /// The stream ended (server closed it or an error) before we stopped it.
    ended_early: bool,
    error: Option<String>,
    /// The newest `id:` received: what a reconnection sends as `Last-Event-ID`.
    last_id: Option<i64>,
    /// The newest `retry:` received, in milliseconds.
    pub retry_ms: Option<u64>,
    /// The current connection has sent its `retry:` line.
    open: bool,
    /// Each time the stream ended and was reopened (`reconnect` only).
    pub reconnects: Vec<Reconnect>,
}

/// One end of a stream and its reopening.
#[derive(Debug)]
pub struct Reconnect {
    /// When the stream ended (wall clock, microseconds).
    pub lost_at: i64,
    /// When the reopened stream's `retry:` line arrived; `None` if it never did.
    pub reopened_at: Option<i64>,
    /// Attempts that failed first (refused, or ended before the `retry:` line).
    pub failed_attempts: u32,
}

/// One `slot-changed` frame as a subscriber received it.
pub struct Seen {
    /// Index of the event's provider in the options' list.
    provider: usize,
    /// The provider's version the event made.
    pub id: i64,
    /// From the event's `changedAt` to receipt, in microseconds.
    latency_us: u32,
    /// Its `newStatus` is `held` (a customer took a hold).
    held: bool,
    /// Wall-clock receipt time (microseconds), to time from a request's sending.
    pub received: i64,
}

struct Shared {
    connected: AtomicUsize,
    failed: AtomicUsize,
    /// Reopened streams (`reconnect`), for progress reports.
    reopened: AtomicUsize,
    /// Highest event id each subscriber has received (many-providers
    /// streams: how many events it has received).
    last_seen: Vec<AtomicI64>,
    gate: Semaphore,
}

impl Shared {
    /// Account for the frames one read brought: the first `retry:` of a
    /// connection opens it (the first one of all connects the subscriber
    /// and frees its handshake permit), and the newest event moves
    /// `last_seen`.
    fn after_read(&self, i: usize, record: &mut Record, read: FramesRead, permit: &mut Option<SemaphorePermit<'_>>) {
        if read.retry && !record.open {
            record.open = true;
            if !record.connected {
                record.connected = true;
                self.connected.fetch_add(1, Ordering::Relaxed);
                permit.take();
            } else if let Some(reconnect) = record.reconnects.last_mut() {
                reconnect.reopened_at = Some(read.received);
                self.reopened.fetch_add(1, Ordering::Relaxed);
            }
        }
        if let Some(id) = read.newest {
            self.last_seen[i].fetch_max(id, Ordering::Relaxed);
        }
    }

    /// The subscriber is done for good before it was stopped.
    fn ended(&self, i: usize, record: &mut Record, error: io::Error) {
        record.ended_early = true;
        record.error = Some(error.to_string());
        if !record.connected {
            self.failed.fetch_add(1, Ordering::Relaxed);
        }
        self.last_seen[i].store(i64::MAX, Ordering::Relaxed);
    }
}

/// What the frames of one read brought.
struct FramesRead {
    received: i64,
    retry: bool,
    /// The newest position (see `Shared::last_seen`).
    newest: Option<i64>,
}

/// Parse every complete frame in `frames` into `record`; the same for every
/// transport, so HTTP/1.1 and h2 subscribers are timed and checked alike.
fn take_frames(frames: &mut Frames, watch: &Watch, received: i64, record: &mut Record) -> FramesRead {
    let mut read = FramesRead { received, retry: false, newest: None };
    frames.drain(|frame| {
        let frame = sse::parse_frame(frame);
        if let Some(ms) = frame.retry {
            read.retry = true;
            record.retry_ms = Some(ms);
        }
        // (provider, version): from the id on a provider's stream,
        // from the data on a many-providers one (its id is a cursor).
        let position = match watch {
            Watch::One(home) => frame.id.map(|id| (*home, id)),
            Watch::Many(ids) => frame
                .data
                .and_then(sse::provider_and_version)
                .and_then(|(provider, version)| Some((ids.iter().position(|id| id == provider)?, version))),
        };
        if let (Watch::One(_), Some(id)) = (watch, frame.id) {
            record.last_id = Some(id);
        }
        match (frame.event, position) {
            (Some("slot-changed"), Some((provider, id))) => {
                let latency = frame
                    .data
                    .and_then(sse::changed_at_micros)
                    .map_or(u32::MAX, |at| (received - at).clamp(0, i64::from(u32::MAX - 1)) as u32);
                let held = frame.data.is_some_and(|d| d.contains(r#""newStatus":"held""#));
                record.events.push(Seen { provider, id, latency_us: latency, held, received });
                read.newest = Some(if matches!(watch, Watch::Many(_)) { record.events.len() as i64 } else { id });
            }
            (Some("reset"), _) => record.resets += 1,
            _ => {}
        }
    });
    read
}

/// Subscribers connected and running.
pub struct Crowd {
    options: SubscribeOptions,
    shared: Arc<Shared>,
    stop: watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<Record>>,
    pub rss_before_kib: Option<u64>,
    pub connect_secs: f64,
}

impl Crowd {
    /// Open every subscriber (at most `connect_concurrency` handshakes at a
    /// time) and wait until each has its `retry:` line or has failed.
    pub async fn open(options: SubscribeOptions) -> io::Result<Crowd> {
        let rss_before_kib = options.server_pid.and_then(stats::rss_kib);
        let shared = Arc::new(Shared {
            connected: AtomicUsize::new(0),
            failed: AtomicUsize::new(0),
            reopened: AtomicUsize::new(0),
            last_seen: (0..options.subscribers).map(|_| AtomicI64::new(i64::MIN)).collect(),
            gate: Semaphore::new(options.connect_concurrency.max(1)),
        });
        let (stop, stop_rx) = watch::channel(false);
        let started = Instant::now();
        let h2_clients = match options.transport {
            Transport::Http1 => Vec::new(),
            Transport::H2 { connections } => {
                let mut clients = Vec::with_capacity(connections.max(1));
                for _ in 0..connections.max(1) {
                    clients.push(h2hold::handshake(options.server, options.connect_timeout).await?);
                }
                clients
            }
        };
        let mut tasks = Vec::with_capacity(options.subscribers);
        let ids: Arc<Vec<String>> = Arc::new(options.providers.iter().map(|p| p.id.clone()).collect());
        let many_path = format!("/api/v1/availability/stream?providerIds={}", ids.join(","));
        for i in 0..options.subscribers {
            let home = i % options.providers.len();
            let (path, watch) = if options.many {
                (many_path.clone(), Watch::Many(ids.clone()))
            } else {
                (format!("/api/v1/providers/{}/availability/stream", ids[home]), Watch::One(home))
            };
            let task = match options.transport {
                Transport::Http1 => tokio::spawn(subscriber(
                    i,
                    Dial { server: options.server, source: http::source_addr(i, options.sources), path },
                    watch,
                    options.connect_timeout,
                    options.reconnect,
                    shared.clone(),
                    stop_rx.clone(),
                )),
                Transport::H2 { .. } => tokio::spawn(h2_subscriber(
                    i,
                    h2_clients[i % h2_clients.len()].clone(),
                    h2hold::stream_request(options.server, &path)?,
                    watch,
                    options.connect_timeout,
                    shared.clone(),
                    stop_rx.clone(),
                )),
            };
            tasks.push(task);
        }
        let total = options.subscribers;
        let mut last_report = Instant::now();
        loop {
            let connected = shared.connected.load(Ordering::Relaxed);
            let failed = shared.failed.load(Ordering::Relaxed);
            if connected + failed >= total {
                break;
            }
            if last_report.elapsed() > Duration::from_secs(5) {
                eprintln!("loadgen: {connected}/{total} subscribers connected, {failed} failed");
                last_report = Instant::now();
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let connect_secs = started.elapsed().as_secs_f64();
        Ok(Crowd { options, shared, stop, tasks, rss_before_kib, connect_secs })
    }

    pub fn connected(&self) -> usize {
        self.shared.connected.load(Ordering::Relaxed)
    }

    pub fn failed(&self) -> usize {
        self.shared.failed.load(Ordering::Relaxed)
    }

    /// Streams reopened after they ended (`reconnect`).
    pub fn reopened(&self) -> usize {
        self.shared.reopened.load(Ordering::Relaxed)
    }

    /// Wait until `n` streams have reopened (`reconnect`), or `timeout`.
    pub async fn wait_reopened(&self, n: usize, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while self.reopened() < n {
            if Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        true
    }

    /// Print the connection figures (and the server's memory growth).
    pub fn report_connect(&self) {
        println!("subscribers_requested={}", self.options.subscribers);
        println!("subscribers_connected={}", self.connected());
        println!("subscribers_failed={}", self.failed());
        println!("connect_secs={:.2}", self.connect_secs);
        if let Some(pid) = self.options.server_pid {
            // Let the last handshakes settle before reading the memory.
            std::thread::sleep(Duration::from_millis(500));
            if let (Some(before), Some(after)) = (self.rss_before_kib, stats::rss_kib(pid)) {
                println!("server_rss_before_kib={before}");
                println!("server_rss_after_kib={after}");
                let held = self.connected().max(1) as f64;
                println!("rss_kib_per_subscriber={:.2}", after.saturating_sub(before) as f64 / held);
            }
        }
    }

    /// Wait until every connected subscriber of provider `p` has seen
    /// `targets[p]` (many-providers streams: as many events as committed
    /// over all), or `timeout`.
    pub async fn drain(&self, targets: &[i64], committed: i64, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            let all = (0..self.options.subscribers).all(|i| {
                let target = if self.options.many { committed } else { targets[i % targets.len()] };
                self.shared.last_seen[i].load(Ordering::Relaxed) >= target
                    || self.shared.last_seen[i].load(Ordering::Relaxed) == i64::MAX // failed / ended
            });
            if all {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Stop every subscriber and collect what each saw.
    pub async fn close(self) -> Vec<Record> {
        let _ = self.stop.send(true);
        let mut records = Vec::with_capacity(self.tasks.len());
        for task in self.tasks {
            records.push(task.await.unwrap_or_default());
        }
        records
    }
}

/// What one subscriber watches.
enum Watch {
    /// One provider's stream (index in the options' list).
    One(usize),
    /// One many-providers stream over all of them (their ids, in order).
    Many(Arc<Vec<String>>),
}

/// Where an HTTP/1.1 subscriber connects from and to.
struct Dial {
    server: SocketAddr,
    source: IpAddr,
    path: String,
}

impl Dial {
    /// Connect and send the stream's GET (with `Last-Event-ID` when resuming).
    async fn open(&self, last_id: Option<i64>, timeout: Duration) -> Result<TcpStream, String> {
        let (server, path) = (self.server, &self.path);
        let mut request = format!(
            "GET {path} HTTP/1.1\r\nHost: {server}\r\nAccept: text/event-stream\r\nCache-Control: no-cache\r\n"
        );
        if let Some(id) = last_id {
            request.push_str(&format!("Last-Event-ID: {id}\r\n"));
        }
        request.push_str("\r\n");
        let mut stream =
            http::connect(server, Some(self.source), timeout).await.map_err(|e| format!("connect: {e}"))?;
        stream.write_all(request.as_bytes()).await.map_err(|e| format!("write: {e}"))?;
        Ok(stream)
    }
}

/// One HTTP/1.1 subscriber: open the stream (a few tries: a full accept
/// queue drops SYNs), read it until stopped; with `reconnect`, reopen it
/// as `EventSource` does whenever it ends.
async fn subscriber(
    i: usize,
    dial: Dial,
    watch: Watch,
    connect_timeout: Duration,
    reconnect: bool,
    shared: Arc<Shared>,
    mut stop: watch::Receiver<bool>,
) -> Record {
    let mut record = Record::default();
    let mut permit = shared.gate.acquire().await.ok();
    let mut stream = None;
    let mut last_error = String::new();
    for attempt in 0..5 {
        match dial.open(None, connect_timeout).await {
            Ok(s) => {
                stream = Some(s);
                break;
            }
            Err(e) => last_error = e,
        }
        tokio::time::sleep(Duration::from_millis(200 * (attempt + 1))).await;
    }
    let Some(mut stream) = stream else {
        shared.ended(i, &mut record, io::Error::other(last_error));
        return record;
    };
    loop {
        let ended =
            match read_http1(&mut stream, i, &watch, &shared, &mut record, &mut stop, connect_timeout, &mut permit)
                .await
            {
                Ok(()) => return record,
                Err(error) => error,
            };
        if !(reconnect && record.connected) {
            shared.ended(i, &mut record, ended);
            return record;
        }
        // A connection that never sent its `retry:` line is one more failed
        // attempt of the reconnection under way, not a new one.
        if record.open || record.reconnects.is_empty() {
            record.reconnects.push(Reconnect { lost_at: now_micros(), reopened_at: None, failed_attempts: 0 });
        } else if let Some(reconnect) = record.reconnects.last_mut() {
            reconnect.failed_attempts += 1;
        }
        record.open = false;
        let delay = Duration::from_millis(record.retry_ms.unwrap_or(DEFAULT_RETRY_MS));
        stream = loop {
            tokio::select! {
                () = tokio::time::sleep(delay) => {}
                _ = stop.changed() => return record,
            }
            match dial.open(record.last_id, connect_timeout).await {
                Ok(stream) => break stream,
                Err(_) => {
                    if let Some(reconnect) = record.reconnects.last_mut() {
                        reconnect.failed_attempts += 1;
                    }
                }
            }
        };
    }
}

/// Read one HTTP/1.1 stream into `record` until it ends (an error) or
/// `stop` (`Ok`).
#[allow(clippy::too_many_arguments)]
async fn read_http1(
    stream: &mut TcpStream,
    i: usize,
    watch: &Watch,
    shared: &Shared,
    record: &mut Record,
    stop: &mut watch::Receiver<bool>,
    connect_timeout: Duration,
    permit: &mut Option<SemaphorePermit<'_>>,
) -> io::Result<()> {
    let mut body = Http1Body::default();
    body.raw().reserve(4096);
    let handshake_deadline = tokio::time::Instant::now() + connect_timeout + Duration::from_secs(10);
    loop {
        let read = if record.open {
            tokio::select! {
                read = stream.read_buf(body.raw()) => read,
                _ = stop.changed() => return Ok(()),
            }
        } else {
            tokio::select! {
                read = stream.read_buf(body.raw()) => read,
                () = tokio::time::sleep_until(handshake_deadline) => {
                    return Err(io::Error::new(io::ErrorKind::TimedOut, "no retry: line in time"));
                }
                _ = stop.changed() => return Ok(()),
            }
        };
        let n = read?;
        if n == 0 {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "server closed the stream"));
        }
        let received = now_micros();
        if !body.advance()? {
            continue;
        }
        let read = take_frames(body.frames(), watch, received, record);
        shared.after_read(i, record, read, permit);
    }
}

/// Send `request` on an h2 connection and wait (up to `timeout`) for a 200
/// head: the event stream's body.
pub(crate) async fn open_h2_stream(
    client: h2::client::SendRequest<bytes::Bytes>,
    request: ::http::Request<()>,
    timeout: Duration,
) -> io::Result<h2::RecvStream> {
    let mut client = client.ready().await.map_err(io::Error::other)?;
    let (response, _) = client.send_request(request, true).map_err(io::Error::other)?;
    let response = tokio::time::timeout(timeout, response)
        .await
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "no h2 response head in time"))?
        .map_err(io::Error::other)?;
    if response.status() != 200 {
        return Err(http::bad(&format!("stream answered {}", response.status())));
    }
    Ok(response.into_body())
}

/// The next chunk of an h2 event stream, appended to `frames` (its flow
/// control window given back): the time it was read (µs since the epoch),
/// or `None` once `stop` changes. The server ending the stream is an error.
pub(crate) async fn read_h2_chunk(
    body: &mut h2::RecvStream,
    frames: &mut Frames,
    stop: &mut watch::Receiver<bool>,
) -> io::Result<Option<i64>> {
    let data = tokio::select! {
        data = body.data() => data,
        _ = stop.changed() => return Ok(None),
    };
    let received = now_micros();
    let data = data
        .ok_or_else(|| io::Error::new(io::ErrorKind::UnexpectedEof, "server ended the stream"))?
        .map_err(io::Error::other)?;
    let _ = body.flow_control().release_capacity(data.len());
    frames.buffer().extend_from_slice(&data);
    Ok(Some(received))
}

/// One h2 subscriber: a stream on a shared h2c connection, read until
/// stopped. (No reconnection: the storm is measured over HTTP/1.1.)
async fn h2_subscriber(
    i: usize,
    client: h2::client::SendRequest<bytes::Bytes>,
    request: ::http::Request<()>,
    watch: Watch,
    connect_timeout: Duration,
    shared: Arc<Shared>,
    mut stop: watch::Receiver<bool>,
) -> Record {
    let mut record = Record::default();
    let mut permit = shared.gate.acquire().await.ok();
    let outcome: io::Result<()> = async {
        let mut body = open_h2_stream(client, request, connect_timeout).await?;
        let mut frames = Frames::default();
        while let Some(received) = read_h2_chunk(&mut body, &mut frames, &mut stop).await? {
            let read = take_frames(&mut frames, &watch, received, &mut record);
            shared.after_read(i, &mut record, read, &mut permit);
        }
        Ok(())
    }
    .await;
    if let Err(error) = outcome {
        shared.ended(i, &mut record, error);
    }
    record
}

#[derive(Clone, Debug)]
pub struct FanoutOptions {
    pub events: usize,
    pub rate: f64,
    pub slots: usize,
    pub drain_timeout: Duration,
    pub settle: Duration,
    pub via: Via,
}

/// `fanout`: connect, generate events through the API, drain, report.
pub async fn fanout(options: SubscribeOptions, fanout: FanoutOptions) -> io::Result<bool> {
    let mut client = Client::new(options.server, None);
    // Pick the slots before any subscriber connects (a read, no event).
    let mut targets = Vec::new();
    for provider in &options.providers {
        targets.push(Target::prepare(&mut client, provider, fanout.via, fanout.slots).await?);
    }

    let crowd = Crowd::open(options.clone()).await?;
    crowd.report_connect();
    tokio::time::sleep(fanout.settle).await;
    for target in &mut targets {
        target.start_version = version_of(&mut client, &target.provider.id).await?;
    }

    // Generate.
    let server_cpu_before = options.server_pid.and_then(|pid| stats::cpu_ms(&pid.to_string()));
    let own_cpu_before = stats::cpu_ms("self");
    let started = Instant::now();
    let mut ticker = tokio::time::interval(Duration::from_secs_f64(1.0 / fanout.rate.max(0.001)));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // Per provider, the steps in order.
    let mut steps: Vec<Vec<Step>> = vec![Vec::new(); targets.len()];
    for n in 0..fanout.events {
        ticker.tick().await;
        let p = n % targets.len();
        steps[p].push(targets[p].step(&mut client).await);
    }
    let generator_errors = steps.iter().flatten().filter(|s| !s.ok).count();
    let mut generator_ms: Vec<f64> = steps.iter().flatten().map(|s| s.ms).collect();
    let generate_secs = started.elapsed().as_secs_f64();
    let mut end_versions = Vec::new();
    for target in &targets {
        end_versions.push(version_of(&mut client, &target.provider.id).await?);
    }
    let committed: i64 = targets.iter().zip(&end_versions).map(|(t, e)| e - t.start_version).sum();
    let drained = crowd.drain(&end_versions, committed, fanout.drain_timeout).await;
    let busy_secs = started.elapsed().as_secs_f64();
    let server_cpu = server_cpu_before
        .zip(options.server_pid.and_then(|pid| stats::cpu_ms(&pid.to_string())))
        .map(|(before, after)| after.saturating_sub(before));
    let own_cpu = own_cpu_before.zip(stats::cpu_ms("self")).map(|(b, a)| a.saturating_sub(b));
    let connected = crowd.connected();
    let records = crowd.close().await;

    // Analysis.
    // The version each hold made, with its POST's sending time: known when
    // every step of that provider made exactly one event (each successful
    // step is then start + k + 1).
    let hold_sent: Vec<HashMap<i64, i64>> = targets
        .iter()
        .zip(&end_versions)
        .zip(&steps)
        .map(|((target, end), steps)| {
            let exact = steps.iter().all(|s| s.ok) && end - target.start_version == steps.len() as i64;
            if !exact {
                return HashMap::new();
            }
            (target.start_version + 1..)
                .zip(steps)
                .filter(|(_, s)| s.kind.timed())
                .map(|(version, s)| (version, s.sent_micros))
                .collect()
        })
        .collect();
    let ranges: Vec<(i64, i64)> = targets.iter().zip(&end_versions).map(|(t, end)| (t.start_version, *end)).collect();
    let mut tally = Tally::of(&records, options.many, &ranges, &hold_sent);
    generator_ms.sort_by(f64::total_cmp);
    println!("providers={}", targets.len());
    println!("events_requested={}", fanout.events);
    println!("events_committed={committed}");
    println!("event_rate_per_sec={:.1}", fanout.events as f64 / generate_secs.max(1e-9));
    println!("generator_errors={generator_errors}");
    println!("generator_request_p50_ms={:.2}", generator_ms.get(generator_ms.len() / 2).copied().unwrap_or(0.0));
    println!("generator_request_max_ms={:.2}", generator_ms.last().copied().unwrap_or(0.0));
    println!("drained={drained}");
    tally.print_latencies();
    if fanout.via == Via::Upstream {
        report_published(&steps, std::mem::take(&mut tally.hold_sent_to_receipt));
    }
    if fanout.via == Via::Holds {
        report_holds(
            &steps,
            std::mem::take(&mut tally.hold_latencies),
            std::mem::take(&mut tally.hold_sent_to_receipt),
        );
    }
    // CPU spent from the first event to the last delivery (includes the
    // generator's requests and idle heartbeats: small next to the fan-out).
    println!("events_window_secs={busy_secs:.2}");
    let per_delivery = |ms: u64| ms as f64 * 1000.0 / tally.latencies.len().max(1) as f64;
    if let Some(ms) = server_cpu {
        println!("server_cpu_ms={ms}");
        println!("server_cpu_us_per_delivery={:.2}", per_delivery(ms));
    }
    if let Some(ms) = own_cpu {
        println!("loadgen_cpu_ms={ms}");
        println!("loadgen_cpu_us_per_delivery={:.2}", per_delivery(ms));
    }
    tally.print_checks(connected);
    Ok(tally.lost == 0 && tally.duplicated == 0 && connected == options.subscribers)
}

/// Every subscriber's deliveries checked against the versions committed:
/// each must receive every id in `(start, end]` of each provider it
/// watches exactly once. Shared by `fanout` (over HTTP/1.1 or h2) and `storm`.
#[derive(Default)]
pub struct Tally {
    /// changedAt → receipt of every first delivery, in microseconds, sorted.
    pub latencies: Vec<u32>,
    hold_latencies: Vec<u32>,
    hold_sent_to_receipt: Vec<u32>,
    pub lost: u64,
    pub duplicated: u64,
    unexpected: u64,
    out_of_order: u64,
    resets: u64,
    ended_early: usize,
    errors: HashMap<String, usize>,
}

impl Tally {
    /// `ranges[p]` is provider `p`'s (start, end] versions; `hold_sent[p]`
    /// maps a version a hold made to its POST's sending time (may be empty).
    pub fn of(records: &[Record], many: bool, ranges: &[(i64, i64)], hold_sent: &[HashMap<i64, i64>]) -> Tally {
        let mut tally = Tally::default();
        for (i, record) in records.iter().enumerate() {
            if let Some(error) = &record.error {
                *tally.errors.entry(error.clone()).or_default() += 1;
            }
            if !record.connected {
                continue;
            }
            if record.ended_early {
                tally.ended_early += 1;
            }
            tally.resets += record.resets;
            // The providers this subscriber watches: its own, or all of them.
            let watched: Vec<usize> = if many { (0..ranges.len()).collect() } else { vec![i % ranges.len()] };
            for p in watched {
                let (start, end) = ranges[p];
                let mut seen = vec![false; (end - start).max(0) as usize];
                let mut last = i64::MIN;
                for &Seen { id, latency_us: latency, held, received, .. } in
                    record.events.iter().filter(|e| e.provider == p)
                {
                    if id <= last {
                        tally.out_of_order += u64::from(id < last);
                    }
                    last = last.max(id);
                    if id <= start || id > end {
                        tally.unexpected += 1;
                        continue;
                    }
                    let slot = &mut seen[(id - start - 1) as usize];
                    if *slot {
                        tally.duplicated += 1;
                        continue;
                    }
                    *slot = true;
                    tally.latencies.push(latency);
                    if held {
                        tally.hold_latencies.push(latency);
                    }
                    if let Some(sent) = hold_sent.get(p).and_then(|sent| sent.get(&id)) {
                        tally.hold_sent_to_receipt.push((received - sent).clamp(0, i64::from(u32::MAX)) as u32);
                    }
                }
                tally.lost += seen.iter().filter(|s| !**s).count() as u64;
            }
        }
        tally.latencies.sort_unstable();
        tally
    }

    /// `deliveries` and the changedAt → receipt percentiles.
    pub fn print_latencies(&self) {
        println!("deliveries={}", self.latencies.len());
        for (name, q) in [("p50", 0.50), ("p90", 0.90), ("p99", 0.99), ("max", 1.0)] {
            println!("latency_{name}_ms={:.2}", percentile_ms(&self.latencies, q));
        }
    }

    /// Losses, duplicates and the streams' ends (`connected` subscribers).
    pub fn print_checks(&self, connected: usize) {
        println!("events_lost={}", self.lost);
        println!("events_duplicated={}", self.duplicated);
        println!("events_out_of_order={}", self.out_of_order);
        println!("events_unexpected={}", self.unexpected);
        println!("resets={}", self.resets);
        println!("streams_ended_early={}", self.ended_early);
        println!("subscribers_held={}", connected - self.ended_early);
        for (error, count) in &self.errors {
            eprintln!("loadgen: {count} subscriber(s): {error}");
        }
    }
}

/// The hold figures of `fanout --via holds`: delivery latency of the `held`
/// frames alone, from the hold POST's sending to receipt, and the request
/// times of taking and releasing holds.
fn report_holds(steps: &[Vec<Step>], mut latencies: Vec<u32>, mut sent_to_receipt: Vec<u32>) {
    latencies.sort_unstable();
    sent_to_receipt.sort_unstable();
    let quantiles = [("p50", 0.50), ("p90", 0.90), ("p99", 0.99), ("max", 1.0)];
    println!("hold_deliveries={}", latencies.len());
    for (name, q) in quantiles {
        println!("hold_latency_{name}_ms={:.2}", percentile_ms(&latencies, q));
    }
    // Empty when some step failed: the versions cannot be matched to holds then.
    println!("hold_sent_deliveries={}", sent_to_receipt.len());
    for (name, q) in quantiles {
        println!("hold_sent_to_receipt_{name}_ms={:.2}", percentile_ms(&sent_to_receipt, q));
    }
    for (kind, prefix) in [(Kind::Hold, "hold_request"), (Kind::Release, "release_request")] {
        let mut ms: Vec<f64> = steps.iter().flatten().filter(|s| s.kind == kind && s.ok).map(|s| s.ms).collect();
        ms.sort_by(f64::total_cmp);
        println!("{prefix}s_ok={}", ms.len());
        for (name, q) in quantiles {
            println!("{prefix}_{name}_ms={:.2}", percentile_f64(&ms, q));
        }
    }
}

/// The figures of `fanout --via upstream`: from the booking system's POST
/// of a change to each viewer's receipt of its event, and the POSTs' times.
fn report_published(steps: &[Vec<Step>], mut sent_to_receipt: Vec<u32>) {
    sent_to_receipt.sort_unstable();
    let quantiles = [("p50", 0.50), ("p90", 0.90), ("p99", 0.99), ("max", 1.0)];
    println!("publish_to_receipt_deliveries={}", sent_to_receipt.len());
    for (name, q) in quantiles {
        println!("publish_to_receipt_{name}_ms={:.2}", percentile_ms(&sent_to_receipt, q));
    }
    let mut ms: Vec<f64> = steps.iter().flatten().filter(|s| s.ok).map(|s| s.ms).collect();
    ms.sort_by(f64::total_cmp);
    for (name, q) in quantiles {
        println!("publish_request_{name}_ms={:.2}", percentile_f64(&ms, q));
    }
}

/// `hold`: connect and keep the subscribers until `hold` has passed, a
/// SIGTERM/SIGINT, or standard input closes (`until_eof`).
pub async fn hold(options: SubscribeOptions, hold: Option<Duration>, until_eof: bool) -> io::Result<bool> {
    let crowd = Crowd::open(options.clone()).await?;
    crowd.report_connect();
    println!("holding=1");
    use std::io::Write;
    let _ = std::io::stdout().flush();
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    let (eof_tx, eof_rx) = tokio::sync::oneshot::channel::<()>();
    if until_eof {
        // A plain thread: tokio's stdin needs a feature the server's build
        // does not enable (keeping the features equal avoids rebuilds).
        std::thread::spawn(move || {
            use std::io::Read;
            let mut buf = [0u8; 256];
            let mut stdin = std::io::stdin();
            while matches!(stdin.read(&mut buf), Ok(n) if n > 0) {}
            let _ = eof_tx.send(());
        });
    } else {
        std::mem::forget(eof_tx);
    }
    let eof = async {
        let _ = eof_rx.await;
    };
    let timer = async {
        match hold {
            Some(d) => tokio::time::sleep(d).await,
            None => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
        _ = eof => {}
        _ = timer => {}
    }
    let connected = crowd.connected();
    let records = crowd.close().await;
    let ended = records.iter().filter(|r| r.connected && r.ended_early).count();
    println!("streams_ended_early={ended}");
    println!("subscribers_held={}", connected - ended);
    Ok(ended == 0 && connected == options.subscribers)
}

pub struct Slot {
    pub availability_id: String,
    pub starts_at: String,
    pub ends_at: String,
}

/// The id of `provider_id`'s 30-minute service, from the provider list.
pub async fn thirty_minute_service(client: &mut Client, provider_id: &str) -> io::Result<String> {
    let providers = client.get("/api/v1/providers", &[]).await?.json()?;
    providers
        .as_array()
        .into_iter()
        .flatten()
        .find(|p| p["id"] == provider_id)
        .and_then(|p| {
            p["services"].as_array()?.iter().find(|s| s["durationMinutes"].as_i64() == Some(30))?["id"].as_str()
        })
        .map(str::to_owned)
        .ok_or_else(|| http::bad(&format!("provider {provider_id} has no 30-minute service")))
}

/// Available slots of the next `days` days starting at least `lead_minutes`
/// from now, in time order.
pub async fn available_slots(
    client: &mut Client,
    provider_id: &str,
    days: u32,
    lead_minutes: i64,
) -> io::Result<Vec<Slot>> {
    let response = client.get(&format!("/api/v1/providers/{provider_id}/availability?days={days}"), &[]).await?;
    if response.status() != 200 {
        return Err(http::bad(&format!("availability answered {}: {}", response.status(), response.text())));
    }
    let json = response.json()?;
    let earliest = now_micros() + lead_minutes * 60_000_000;
    let mut slots = Vec::new();
    for day in json["days"].as_array().into_iter().flatten() {
        for slot in day["slots"].as_array().into_iter().flatten() {
            let starts_at = slot["startsAt"].as_str().unwrap_or("");
            let starts = parse_any_offset(starts_at);
            if slot["status"] == "available" && starts.is_some_and(|t| t >= earliest) {
                slots.push(Slot {
                    availability_id: slot["availabilityId"].as_str().unwrap_or("").to_owned(),
                    starts_at: starts_at.to_owned(),
                    ends_at: slot["endsAt"].as_str().unwrap_or("").to_owned(),
                });
            }
        }
    }
    Ok(slots)
}

/// RFC 3339 with any offset, to Unix microseconds.
pub fn parse_any_offset(s: &str) -> Option<i64> {
    if let Some(t) = sse::parse_utc_micros(s) {
        return Some(t);
    }
    // `...+02:00` / `...-05:00`: parse the local part as UTC, then shift.
    if s.len() < 25 {
        return None;
    }
    let (local, offset) = s.split_at(s.len() - 6);
    let sign = match offset.as_bytes()[0] {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let hours: i64 = offset[1..3].parse().ok()?;
    let minutes: i64 = offset[4..6].parse().ok()?;
    let t = sse::parse_utc_micros(&format!("{local}Z"))?;
    Some(t - sign * (hours * 3600 + minutes * 60) * 1_000_000)
}

/// The provider's current version, from its availability document.
pub async fn version_of(client: &mut Client, provider_id: &str) -> io::Result<i64> {
    let response = client.get(&format!("/api/v1/providers/{provider_id}/availability?days=1"), &[]).await?;
    if response.status() != 200 {
        return Err(http::bad(&format!("availability answered {}", response.status())));
    }
    response.json()?["version"].as_i64().ok_or_else(|| http::bad("no version in availability"))
}
