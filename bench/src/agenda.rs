//! `agenda`: the provider's private agenda stream (issue 24). One target
//! provider's agenda and `--others` agendas of OTHER providers are open,
//! each on its own session cookie (signed in as the front-desk page is: a
//! sign-in link minted with the provider's key, its code exchanged for
//! `slotstream_session`). Bookings on the target are timed from their `201`
//! (committed) to their `booking-created` on the target's agenda; the other
//! agendas must receive nothing. Then, optionally, `--rss-streams` agenda
//! streams are opened over the other providers and the server's RSS growth
//! per stream is reported, and one sign-out among them is timed (every open
//! agenda stream checks its credential again when any session ends).

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::{Semaphore, mpsc, watch};

use crate::http::{self, Client};
use crate::sse::{self, Http1Body};
use crate::stats::{self, now_micros, percentile_f64};
use crate::subscribers::{Provider, available_slots, thirty_minute_service};

#[derive(Clone, Debug)]
pub struct AgendaOptions {
    pub server: SocketAddr,
    /// The first is the target; the others' agendas are spread over the rest.
    pub providers: Vec<Provider>,
    pub others: usize,
    pub bookings: usize,
    pub rate: f64,
    pub days: u32,
    pub lead_minutes: i64,
    pub event_timeout: Duration,
    pub settle: Duration,
    pub rss_streams: usize,
    pub server_pid: Option<u32>,
    pub sources: usize,
    pub connect_concurrency: usize,
    pub connect_timeout: Duration,
}

/// Sign in to `provider`'s agenda as a person does: a one-time link minted
/// with its key, its `#code=` exchanged for the session cookie. Returns the
/// cookie's value.
pub async fn sign_in(client: &mut Client, provider: &Provider) -> io::Result<String> {
    let key = provider.key.as_deref().ok_or_else(|| http::bad("agenda needs ID:KEY providers"))?;
    let bearer = format!("Bearer {key}");
    let path = format!("/api/v1/providers/{}/sign-in-links", provider.id);
    let link = client.post_json(&path, &[("Authorization", &bearer)], b"").await?;
    if link.status() != 201 {
        return Err(http::bad(&format!("sign-in link answered {}: {}", link.status(), link.text())));
    }
    let url = link.json()?["url"].as_str().unwrap_or("").to_owned();
    let code = url.split_once("#code=").map(|(_, c)| c.split('&').next().unwrap_or(c).to_owned());
    let code = code.ok_or_else(|| http::bad(&format!("no #code= in the link {url:?}")))?;
    let body = serde_json::json!({ "code": code }).to_string();
    let session = client.post_json("/api/v1/provider-session", &[], body.as_bytes()).await?;
    if session.status() != 201 {
        return Err(http::bad(&format!("provider-session answered {}: {}", session.status(), session.text())));
    }
    let cookie = session
        .head
        .headers
        .iter()
        .filter(|(name, _)| name.eq_ignore_ascii_case("set-cookie"))
        .find_map(|(_, value)| value.split(';').next().filter(|c| c.starts_with("slotstream_session=")))
        .ok_or_else(|| http::bad("no slotstream_session cookie"))?;
    Ok(cookie.to_owned())
}

/// What one agenda stream saw.
#[derive(Default)]
struct AgendaRecord {
    connected: bool,
    /// Frames with an `event:` (any name), `slot-changed` among them.
    events: usize,
    slot_changed: usize,
    booking_created: usize,
    ended_early: Option<String>,
}

struct Opened {
    connected: AtomicUsize,
    failed: AtomicUsize,
    gate: Semaphore,
}

/// Agenda streams open at once, each on its own cookie.
struct Agendas {
    stop: watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<AgendaRecord>>,
    opened: Arc<Opened>,
}

impl Agendas {
    /// Open one stream per `(provider id, cookie)`; the target's (index
    /// `report`, if any) sends each `booking-created`'s booking id and
    /// receipt time down `arrivals`. Waits until each is open or has failed.
    async fn open(
        options: &AgendaOptions,
        streams: Vec<(String, String)>,
        report: Option<(usize, mpsc::UnboundedSender<(String, i64)>)>,
    ) -> Agendas {
        let (stop, stop_rx) = watch::channel(false);
        let opened = Arc::new(Opened {
            connected: AtomicUsize::new(0),
            failed: AtomicUsize::new(0),
            gate: Semaphore::new(options.connect_concurrency.max(1)),
        });
        let total = streams.len();
        let mut tasks = Vec::with_capacity(total);
        for (i, (provider_id, cookie)) in streams.into_iter().enumerate() {
            let arrivals = report.as_ref().filter(|(at, _)| *at == i).map(|(_, tx)| tx.clone());
            tasks.push(tokio::spawn(agenda_stream(
                options.server,
                http::source_addr(i, options.sources),
                format!("/api/v1/providers/{provider_id}/agenda/stream"),
                cookie,
                options.connect_timeout,
                arrivals,
                opened.clone(),
                stop_rx.clone(),
            )));
        }
        let mut last_report = Instant::now();
        while opened.connected.load(Ordering::Relaxed) + opened.failed.load(Ordering::Relaxed) < total {
            if last_report.elapsed() > Duration::from_secs(5) {
                eprintln!("loadgen: {}/{total} agenda streams open", opened.connected.load(Ordering::Relaxed));
                last_report = Instant::now();
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Agendas { stop, tasks, opened }
    }

    fn connected(&self) -> usize {
        self.opened.connected.load(Ordering::Relaxed)
    }

    async fn close(self) -> Vec<AgendaRecord> {
        let _ = self.stop.send(true);
        let mut records = Vec::with_capacity(self.tasks.len());
        for task in self.tasks {
            records.push(task.await.unwrap_or_default());
        }
        records
    }
}

#[allow(clippy::too_many_arguments)]
async fn agenda_stream(
    server: SocketAddr,
    source: IpAddr,
    path: String,
    cookie: String,
    timeout: Duration,
    arrivals: Option<mpsc::UnboundedSender<(String, i64)>>,
    opened: Arc<Opened>,
    mut stop: watch::Receiver<bool>,
) -> AgendaRecord {
    let mut record = AgendaRecord::default();
    let mut permit = opened.gate.acquire().await.ok();
    let outcome: io::Result<()> = async {
        let mut stream = http::connect(server, Some(source), timeout).await?;
        let request = format!(
            "GET {path} HTTP/1.1\r\nHost: {server}\r\nAccept: text/event-stream\r\nCache-Control: no-cache\r\nCookie: {cookie}\r\n\r\n"
        );
        stream.write_all(request.as_bytes()).await?;
        let mut body = Http1Body::default();
        let deadline = tokio::time::Instant::now() + timeout + Duration::from_secs(10);
        loop {
            let read = tokio::select! {
                read = stream.read_buf(body.raw()) => read?,
                () = tokio::time::sleep_until(deadline), if !record.connected => {
                    return Err(io::Error::new(io::ErrorKind::TimedOut, "no retry: line in time"));
                }
                _ = stop.changed() => return Ok(()),
            };
            if read == 0 {
                return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "server closed the stream"));
            }
            let received = now_micros();
            if !body.advance()? {
                continue;
            }
            body.frames().drain(|frame| {
                let frame = sse::parse_frame(frame);
                if frame.retry.is_some() && !record.connected {
                    record.connected = true;
                    opened.connected.fetch_add(1, Ordering::Relaxed);
                    permit.take();
                }
                let Some(event) = frame.event else { return };
                record.events += 1;
                match event {
                    "slot-changed" => record.slot_changed += 1,
                    "booking-created" => {
                        record.booking_created += 1;
                        let id = frame
                            .data
                            .and_then(|d| serde_json::from_str::<serde_json::Value>(d).ok())
                            .and_then(|d| d["bookingId"].as_str().map(str::to_owned));
                        if let (Some(tx), Some(id)) = (&arrivals, id) {
                            let _ = tx.send((id, received));
                        }
                    }
                    _ => {}
                }
            });
        }
    }
    .await;
    if let Err(error) = outcome {
        if !record.connected {
            opened.failed.fetch_add(1, Ordering::Relaxed);
        }
        record.ended_early = Some(error.to_string());
    }
    record
}

/// Sign in `count` sessions spread round-robin over `providers`.
async fn sessions(client: &mut Client, providers: &[Provider], count: usize) -> io::Result<Vec<(String, String)>> {
    let mut out = Vec::with_capacity(count);
    for i in 0..count {
        let provider = &providers[i % providers.len()];
        out.push((provider.id.clone(), sign_in(client, provider).await?));
    }
    Ok(out)
}

fn print_quantiles(prefix: &str, mut ms: Vec<f64>) {
    ms.sort_by(f64::total_cmp);
    for (name, q) in [("p50", 0.50), ("p90", 0.90), ("p99", 0.99), ("max", 1.0)] {
        println!("{prefix}_{name}_ms={:.2}", percentile_f64(&ms, q));
    }
}

pub async fn run(options: AgendaOptions) -> io::Result<bool> {
    let (target, pool) = options.providers.split_first().ok_or_else(|| http::bad("no --provider"))?;
    if pool.is_empty() && (options.others > 0 || options.rss_streams > 0) {
        return Err(http::bad("the other agendas need a second --provider"));
    }
    let mut client = Client::new(options.server, None);

    // The target's 30-minute service and its free slots.
    let service_id = thirty_minute_service(&mut client, &target.id).await?;
    let slots = available_slots(&mut client, &target.id, options.days, options.lead_minutes).await?;
    if slots.is_empty() {
        return Err(http::bad("the target provider has no free slot"));
    }
    // Fewer free slots than bookings: each booking is cancelled once its
    // event has arrived, and its slot used again later.
    let reuse = options.bookings > slots.len();

    let signed_in = Instant::now();
    let mut streams = vec![(target.id.clone(), sign_in(&mut client, target).await?)];
    streams.extend(sessions(&mut client, pool, options.others).await?);
    eprintln!("loadgen: {} sessions signed in in {:.1}s", streams.len(), signed_in.elapsed().as_secs_f64());
    let (tx, mut arrivals) = mpsc::unbounded_channel();
    let agendas = Agendas::open(&options, streams, Some((0, tx))).await;
    println!("agendas_requested={}", options.others + 1);
    println!("agendas_open={}", agendas.connected());
    tokio::time::sleep(options.settle).await;

    let mut ticker = tokio::time::interval(Duration::from_secs_f64(1.0 / options.rate.max(0.001)));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut early: HashMap<String, i64> = HashMap::new();
    let (mut commit_to_event, mut sent_to_event, mut request_ms) = (Vec::new(), Vec::new(), Vec::new());
    let (mut booked, mut failed, mut missing, mut cancelled) = (0usize, 0usize, 0usize, 0usize);
    let started = Instant::now();
    for n in 0..options.bookings {
        ticker.tick().await;
        let slot = &slots[n % slots.len()];
        let body = serde_json::json!({
            "providerId": target.id,
            "serviceId": service_id,
            "startTime": slot.starts_at,
            "customer": {"name": format!("Agenda Bench {n}"), "email": format!("agenda{n}@example.com")},
        })
        .to_string();
        let sent = now_micros();
        let response = client.post_json("/api/v1/bookings", &[], body.as_bytes()).await?;
        let committed = now_micros();
        if response.status() != 201 {
            failed += 1;
            eprintln!("loadgen: booking {n} answered {}: {}", response.status(), response.text());
            continue;
        }
        booked += 1;
        request_ms.push((committed - sent) as f64 / 1000.0);
        let json = response.json()?;
        let id = json["id"].as_str().unwrap_or("").to_owned();
        // Its booking-created, perhaps already here.
        let deadline = tokio::time::Instant::now() + options.event_timeout;
        let arrived = loop {
            if let Some(at) = early.remove(&id) {
                break Some(at);
            }
            match tokio::time::timeout_at(deadline, arrivals.recv()).await {
                Ok(Some((booking, at))) if booking == id => break Some(at),
                Ok(Some((booking, at))) => {
                    early.insert(booking, at);
                }
                Ok(None) | Err(_) => break None,
            }
        };
        match arrived {
            // Negative when the event was read before the 201 was.
            Some(at) => {
                commit_to_event.push((at - committed) as f64 / 1000.0);
                sent_to_event.push((at - sent) as f64 / 1000.0);
            }
            None => missing += 1,
        }
        if reuse {
            let token = format!("Bearer {}", json["token"].as_str().unwrap_or(""));
            let path = format!("/api/v1/bookings/{id}/cancel");
            let cancel = client.post_json(&path, &[("Authorization", &token)], b"{}").await?;
            match cancel.status() {
                200 => cancelled += 1,
                status => eprintln!("loadgen: cancelling booking {n} answered {status}: {}", cancel.text()),
            }
        }
    }
    let booking_secs = started.elapsed().as_secs_f64();
    // Let anything late (or stray) arrive before counting.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let open_at_end = agendas.connected();
    let records = agendas.close().await;
    let (target_record, others) = records.split_first().expect("the target's stream");
    let others_open = others.iter().filter(|r| r.connected).count();
    let stray: usize = others.iter().map(|r| r.events).sum();
    let ended = records.iter().filter(|r| r.connected && r.ended_early.is_some()).count();
    for error in records.iter().filter_map(|r| r.ended_early.as_ref()).take(5) {
        eprintln!("loadgen: an agenda stream ended: {error}");
    }
    println!("target_provider={}", target.id);
    println!("other_agendas={}", others.len());
    println!("other_agendas_open={others_open}");
    println!("other_providers={}", pool.len().min(options.others));
    println!("free_slots={}", slots.len());
    println!("bookings_requested={}", options.bookings);
    println!("bookings_ok={booked}");
    println!("bookings_failed={failed}");
    println!("bookings_cancelled={cancelled}");
    println!("booking_rate_per_sec={:.2}", booked as f64 / booking_secs.max(1e-9));
    println!("booking_created_received={}", commit_to_event.len());
    println!("booking_created_missing={missing}");
    println!("target_slot_changed={}", target_record.slot_changed);
    println!("target_booking_created={}", target_record.booking_created);
    println!("target_events={}", target_record.events);
    println!("stray_events_on_other_agendas={stray}");
    println!("agenda_streams_ended_early={ended}");
    println!("agendas_open_at_end={open_at_end}");
    print_quantiles("commit_to_event", commit_to_event);
    print_quantiles("sent_to_event", sent_to_event);
    print_quantiles("booking_request", request_ms);
    let mut ok = failed == 0
        && missing == 0
        && stray == 0
        && ended == 0
        && others_open == options.others
        && target_record.connected
        && target_record.booking_created == booked;

    if options.rss_streams > 0 {
        ok &= rss(&options, &mut client, pool).await?;
    }
    Ok(ok)
}

/// The server's RSS growth per open agenda stream (sessions signed in
/// first, so only the streams are in the difference), then one sign-out
/// while they are open: the server CPU it costs.
async fn rss(options: &AgendaOptions, client: &mut Client, pool: &[Provider]) -> io::Result<bool> {
    let n = options.rss_streams;
    let signed_in = Instant::now();
    let streams = sessions(client, pool, n).await?;
    let (_, extra) = sessions(client, pool, 1).await?.pop().expect("one session");
    eprintln!("loadgen: {} sessions signed in in {:.1}s", n + 1, signed_in.elapsed().as_secs_f64());
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = options.server_pid.and_then(stats::rss_kib);
    let opened_at = Instant::now();
    let agendas = Agendas::open(options, streams, None).await;
    let open_secs = opened_at.elapsed().as_secs_f64();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let after = options.server_pid.and_then(stats::rss_kib);
    let held = agendas.connected();
    println!("rss_agendas_requested={n}");
    println!("rss_agendas_open={held}");
    println!("rss_agenda_providers={}", pool.len().min(n));
    println!("rss_open_secs={open_secs:.2}");
    if let (Some(before), Some(after)) = (before, after) {
        println!("server_rss_before_kib={before}");
        println!("server_rss_after_kib={after}");
        println!("rss_kib_per_agenda={:.2}", after.saturating_sub(before) as f64 / held.max(1) as f64);
    }

    // One sign-out elsewhere wakes every open agenda stream to check its
    // credential again (a database read each): the server's CPU for it.
    let pid = options.server_pid.map(|p| p.to_string());
    let idle_before = pid.as_deref().and_then(stats::cpu_ms);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let cpu_before = pid.as_deref().and_then(stats::cpu_ms);
    if let (Some(b), Some(a)) = (idle_before, cpu_before) {
        println!("idle_server_cpu_ms_2s={}", a.saturating_sub(b));
    }
    let origin = format!("http://{}", options.server);
    let sent = Instant::now();
    let out =
        client.post_json("/api/v1/provider-session/sign-out", &[("Cookie", &extra), ("Origin", &origin)], b"").await?;
    let sign_out_ms = sent.elapsed().as_secs_f64() * 1000.0;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let cpu_after = pid.as_deref().and_then(stats::cpu_ms);
    println!("signout_status={}", out.status());
    println!("signout_request_ms={sign_out_ms:.2}");
    if let (Some(b), Some(a)) = (cpu_before, cpu_after) {
        println!("signout_server_cpu_ms_2s={}", a.saturating_sub(b));
    }
    let still = agendas.connected();
    let records = agendas.close().await;
    let ended = records.iter().filter(|r| r.connected && r.ended_early.is_some()).count();
    let stray: usize = records.iter().map(|r| r.events).sum();
    println!("rss_agendas_ended_early={ended}");
    println!("rss_agendas_stray_events={stray}");
    Ok(held == n && still == n && ended == 0 && out.status() == 204)
}
