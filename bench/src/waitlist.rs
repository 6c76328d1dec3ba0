//! `waitlist`: a cancellation's way to the first customer in line (issue
//! 25). One provider with `--entries` waitlist entries for its 30-minute
//! service over the next 14 days (from tomorrow, its zone), joined one after
//! another; a local webhook receiver subscribed to `waitlist.offered`; one
//! public availability stream (the waiting page). Each round books a free
//! slot of that window, then cancels it, timed from just before the cancel:
//!
//! - `webhook`: until the receiver reads the `waitlist.offered` for that time;
//! - `banner`: until the stream shows the slot `held` and then the entry's
//!   `GET /api/v1/waitlist/{id}` answers `offered` for that time, as the page
//!   does before it shows its banner.
//!
//! The offer must go to the oldest waiting entry (the next in join order);
//! it is then claimed with the entry's token (the slot booked, the entry
//! fulfilled) and one more entry joins at the back, so that every
//! cancellation finds `--entries` waiting.

use std::collections::{HashMap, VecDeque};
use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use bytes::Bytes;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::{mpsc, oneshot, watch};

use crate::http::{self, Client};
use crate::sse::{self, Http1Body};
use crate::stats::{now_micros, percentile_f64};
use crate::subscribers::{Provider, parse_any_offset, thirty_minute_service};

#[derive(Clone, Debug)]
pub struct WaitlistOptions {
    pub server: SocketAddr,
    pub provider: Provider,
    /// Entries waiting before every cancellation.
    pub entries: usize,
    pub rounds: usize,
    /// Rounds per second (at most: a round waits for both of its arrivals).
    pub rate: f64,
    /// Days in the entries' window, from tomorrow.
    pub window_days: u32,
    /// Only slots starting at least this many minutes from now.
    pub lead_minutes: i64,
    /// How long a round waits for its webhook and its banner.
    pub timeout: Duration,
    /// Pause between a round's booking and its cancellation.
    pub settle: Duration,
}

/// One waitlist entry, as its customer keeps it.
#[derive(Clone, Debug)]
struct Entry {
    id: String,
    token: String,
}

/// A free slot of the window.
struct Slot {
    availability_id: String,
    starts_at: String,
    starts_micros: i64,
}

/// A `waitlist.offered` delivery, as the receiver read it.
#[derive(Debug)]
struct Offered {
    entry_id: String,
    hold_id: String,
    starts_at: String,
    starts_micros: i64,
    received: i64,
}

/// A `slot-changed` frame on the waiting page's stream.
#[derive(Debug)]
struct Changed {
    availability_id: String,
    previous: String,
    new: String,
    received: i64,
}

/// What the receiver saw besides the offers it passed on.
#[derive(Default)]
struct ReceiverCounts {
    deliveries: usize,
    duplicates: usize,
    ids: std::collections::HashSet<String>,
}

#[derive(Clone)]
struct ReceiverState {
    offers: mpsc::UnboundedSender<Offered>,
    counts: std::sync::Arc<std::sync::Mutex<ReceiverCounts>>,
}

/// The webhook receiver's one route: every delivery is answered `204`, its
/// `waitlist.offered` passed on with the time it was read. No signature check.
async fn receive(State(state): State<ReceiverState>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let received = now_micros();
    {
        let mut counts = state.counts.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        counts.deliveries += 1;
        if let Some(id) = headers.get("webhook-id").and_then(|v| v.to_str().ok())
            && !counts.ids.insert(id.to_owned())
        {
            counts.duplicates += 1;
        }
    }
    let Ok(json) = serde_json::from_slice::<serde_json::Value>(&body) else { return StatusCode::NO_CONTENT };
    if json["type"] == "waitlist.offered" {
        let data = &json["data"];
        let text = |key: &str| data[key].as_str().unwrap_or("").to_owned();
        let starts_at = text("startsAt");
        let _ = state.offers.send(Offered {
            entry_id: text("entryId"),
            hold_id: text("holdId"),
            starts_micros: parse_any_offset(&starts_at).unwrap_or(i64::MIN),
            starts_at,
            received,
        });
    }
    StatusCode::NO_CONTENT
}

/// The public availability stream from `version` on: every `slot-changed`
/// down `changes`; `open` fires at its `retry:` line. Ends on `stop`, or
/// with the reason it ended early.
async fn waiting_page(
    server: SocketAddr,
    provider_id: String,
    version: i64,
    changes: mpsc::UnboundedSender<Changed>,
    open: oneshot::Sender<()>,
    mut stop: watch::Receiver<bool>,
) -> Option<String> {
    let mut open = Some(open);
    let outcome: io::Result<()> = async {
        let mut stream = http::connect(server, None, Duration::from_secs(10)).await?;
        let request = format!(
            "GET /api/v1/providers/{provider_id}/availability/stream HTTP/1.1\r\nHost: {server}\r\n\
             Accept: text/event-stream\r\nCache-Control: no-cache\r\nLast-Event-ID: {version}\r\n\r\n"
        );
        stream.write_all(request.as_bytes()).await?;
        let mut body = Http1Body::default();
        loop {
            let read = tokio::select! {
                read = stream.read_buf(body.raw()) => read?,
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
                if frame.retry.is_some()
                    && let Some(open) = open.take()
                {
                    let _ = open.send(());
                }
                if frame.event != Some("slot-changed") {
                    return;
                }
                let Some(data) = frame.data.and_then(|d| serde_json::from_str::<serde_json::Value>(d).ok()) else {
                    return;
                };
                let text = |key: &str| data[key].as_str().unwrap_or("").to_owned();
                let _ = changes.send(Changed {
                    availability_id: text("availabilityId"),
                    previous: text("previousStatus"),
                    new: text("newStatus"),
                    received,
                });
            });
        }
    }
    .await;
    outcome.err().map(|error| error.to_string())
}

/// `GET availability?days=N` of the provider: the JSON document.
async fn availability(client: &mut Client, provider_id: &str, days: u32) -> io::Result<serde_json::Value> {
    let response = client.get(&format!("/api/v1/providers/{provider_id}/availability?days={days}"), &[]).await?;
    if response.status() != 200 {
        return Err(http::bad(&format!("availability answered {}: {}", response.status(), response.text())));
    }
    response.json()
}

/// The free slots of the document's days `from..=to` (local dates) that
/// start at least `lead_minutes` from now, in time order.
fn free_slots(document: &serde_json::Value, from: &str, to: &str, lead_minutes: i64) -> Vec<Slot> {
    let earliest = now_micros() + lead_minutes * 60_000_000;
    let mut slots = Vec::new();
    for day in document["days"].as_array().into_iter().flatten() {
        let date = day["date"].as_str().unwrap_or("");
        if date < from || date > to {
            continue;
        }
        for slot in day["slots"].as_array().into_iter().flatten() {
            let starts_at = slot["startsAt"].as_str().unwrap_or("");
            let Some(starts_micros) = parse_any_offset(starts_at) else { continue };
            if slot["status"] == "available" && starts_micros >= earliest {
                slots.push(Slot {
                    availability_id: slot["availabilityId"].as_str().unwrap_or("").to_owned(),
                    starts_at: starts_at.to_owned(),
                    starts_micros,
                });
            }
        }
    }
    slots
}

/// Join the waitlist as customer `n`.
async fn join(
    client: &mut Client,
    options: &WaitlistOptions,
    service_id: &str,
    window: (&str, &str),
    n: usize,
) -> io::Result<(Entry, f64)> {
    let body = serde_json::json!({
        "providerId": options.provider.id,
        "serviceId": service_id,
        "from": window.0,
        "to": window.1,
        "customer": {"name": format!("Waiting Customer {n}"), "email": format!("waiting{n}@example.com")},
    })
    .to_string();
    let sent = now_micros();
    let response = client.post_json("/api/v1/waitlist", &[], body.as_bytes()).await?;
    let ms = (now_micros() - sent) as f64 / 1000.0;
    if response.status() != 201 {
        return Err(http::bad(&format!("joining the waitlist answered {}: {}", response.status(), response.text())));
    }
    let json = response.json()?;
    let text = |key: &str| json[key].as_str().unwrap_or("").to_owned();
    Ok((Entry { id: text("id"), token: text("token") }, ms))
}

/// Wait until `rx` brings a message `matches` accepts, or `deadline`;
/// the others are counted in `skipped`.
async fn wait_for<T>(
    rx: &mut mpsc::UnboundedReceiver<T>,
    deadline: tokio::time::Instant,
    skipped: &mut Vec<T>,
    matches: impl Fn(&T) -> bool,
) -> Option<T> {
    loop {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Some(message)) if matches(&message) => return Some(message),
            Ok(Some(message)) => skipped.push(message),
            Ok(None) | Err(_) => return None,
        }
    }
}

/// What the waiting page of `entry` does when the stream shows `slot` held:
/// it asks the entry. Returns when the answer was read, whether it said
/// `offered` for that time, the offer's hold, and when the `held` frame came.
async fn banner(
    page: &mut Client,
    changes: &mut mpsc::UnboundedReceiver<Changed>,
    entry: &Entry,
    slot: &Slot,
    deadline: tokio::time::Instant,
    held_from: &mut HashMap<String, usize>,
) -> io::Result<Option<(i64, i64, bool, String)>> {
    let mut others = Vec::new();
    let held =
        wait_for(changes, deadline, &mut others, |c| c.availability_id == slot.availability_id && c.new == "held")
            .await;
    let Some(held) = held else { return Ok(None) };
    *held_from.entry(held.previous.clone()).or_default() += 1;
    let bearer = format!("Bearer {}", entry.token);
    let answer = page.get(&format!("/api/v1/waitlist/{}", entry.id), &[("Authorization", &bearer)]).await?;
    let read = now_micros();
    if answer.status() != 200 {
        eprintln!("loadgen: the entry's check answered {}: {}", answer.status(), answer.text());
        return Ok(Some((held.received, read, false, String::new())));
    }
    let json = answer.json()?;
    let offer = &json["offer"];
    let ours = json["status"] == "offered"
        && offer["startsAt"].as_str().and_then(parse_any_offset) == Some(slot.starts_micros);
    Ok(Some((held.received, read, ours, offer["holdId"].as_str().unwrap_or("").to_owned())))
}

fn print_quantiles(prefix: &str, mut ms: Vec<f64>) {
    ms.sort_by(f64::total_cmp);
    for (name, q) in [("p50", 0.50), ("p90", 0.90), ("p99", 0.99), ("max", 1.0)] {
        println!("{prefix}_{name}_ms={:.2}", percentile_f64(&ms, q));
    }
}

pub async fn run(options: WaitlistOptions) -> io::Result<bool> {
    let provider = &options.provider;
    let key = provider.key.as_deref().ok_or_else(|| http::bad("waitlist needs an ID:KEY provider"))?;
    let mut client = Client::new(options.server, None);
    let mut page = Client::new(options.server, None);

    // The provider's 30-minute service, and the window: tomorrow in its zone
    // (the document's second day) and the `window_days - 1` days after it.
    let service_id = thirty_minute_service(&mut client, &provider.id).await?;
    let days = options.window_days.max(1) + 1;
    let document = availability(&mut client, &provider.id, days).await?;
    let dates: Vec<String> = document["days"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|d| d["date"].as_str().map(str::to_owned))
        .collect();
    let (Some(from), Some(to)) = (dates.get(1).cloned(), dates.get(days as usize - 1).cloned()) else {
        return Err(http::bad(&format!("the availability document has {} days, not {days}", dates.len())));
    };

    // The receiver, subscribed to `waitlist.offered` only.
    let (offers_tx, mut offers) = mpsc::unbounded_channel();
    let counts = std::sync::Arc::new(std::sync::Mutex::new(ReceiverCounts::default()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let hooks = format!("http://{}/hooks", listener.local_addr()?);
    let router = axum::Router::new()
        .route("/hooks", axum::routing::post(receive))
        .with_state(ReceiverState { offers: offers_tx, counts: counts.clone() });
    let receiver = tokio::spawn(async move { axum::serve(listener, router).await });
    let bearer = format!("Bearer {key}");
    let subscription = serde_json::json!({ "url": hooks, "events": ["waitlist.offered"] }).to_string();
    let path = format!("/api/v1/providers/{}/webhooks", provider.id);
    let subscribed = client.post_json(&path, &[("Authorization", &bearer)], subscription.as_bytes()).await?;
    if subscribed.status() != 201 {
        return Err(http::bad(&format!("subscribing answered {}: {}", subscribed.status(), subscribed.text())));
    }

    // The line, in join order.
    let started = std::time::Instant::now();
    let mut line = VecDeque::with_capacity(options.entries);
    let mut join_ms = Vec::with_capacity(options.entries + options.rounds);
    for n in 0..options.entries {
        let (entry, ms) = join(&mut client, &options, &service_id, (&from, &to), n).await?;
        line.push_back(entry);
        join_ms.push(ms);
    }
    let join_secs = started.elapsed().as_secs_f64();
    let mut tokens: HashMap<String, String> = line.iter().map(|e| (e.id.clone(), e.token.clone())).collect();
    let mut joined = options.entries;
    eprintln!("loadgen: {joined} entries joined in {join_secs:.1}s ({from}..{to})");

    // The free slots of the window, and the waiting page from the current version.
    let document = availability(&mut client, &provider.id, days).await?;
    let version = document["version"].as_i64().ok_or_else(|| http::bad("no version in availability"))?;
    let slots = free_slots(&document, &from, &to, options.lead_minutes);
    if slots.len() < options.rounds {
        return Err(http::bad(&format!(
            "{} free slots in {from}..{to}, fewer than the {} rounds (each takes a fresh one)",
            slots.len(),
            options.rounds
        )));
    }
    let (changes_tx, mut changes) = mpsc::unbounded_channel();
    let (open_tx, open_rx) = oneshot::channel();
    let (stop, stop_rx) = watch::channel(false);
    let stream = tokio::spawn(waiting_page(options.server, provider.id.clone(), version, changes_tx, open_tx, stop_rx));
    tokio::time::timeout(Duration::from_secs(10), open_rx)
        .await
        .map_err(|_| http::bad("the waiting page's stream did not open in 10 s"))?
        .map_err(|_| http::bad("the waiting page's stream ended before its retry: line"))?;
    page.ensure_connected().await?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    // Offers no round made (the planner opening a day of the window while
    // the entries joined, say): those entries no longer wait.
    let mut stray_offers = Vec::new();
    while let Ok(offer) = offers.try_recv() {
        stray_offers.push(offer);
    }
    let offered_before = stray_offers.len();
    if offered_before > 0 {
        eprintln!("loadgen: {offered_before} offers before the first cancellation (an opened day?)");
    }

    let mut ticker = tokio::time::interval(Duration::from_secs_f64(1.0 / options.rate.max(0.001)));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let (mut webhook_ms, mut banner_ms, mut held_ms, mut check_ms, mut cancel_ms) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let (mut rounds, mut violations, mut lost, mut not_offered) = (0usize, 0usize, 0usize, 0usize);
    let (mut claimed, mut claim_failed, mut book_failed, mut cancel_failed) = (0usize, 0usize, 0usize, 0usize);
    let mut held_from: HashMap<String, usize> = HashMap::new();
    let mut slot_index = 0;
    let started = std::time::Instant::now();
    while rounds + lost < options.rounds && slot_index < slots.len() {
        ticker.tick().await;
        let slot = &slots[slot_index];
        slot_index += 1;
        let n = rounds + lost;
        let booking = serde_json::json!({
            "providerId": provider.id,
            "serviceId": service_id,
            "startTime": slot.starts_at,
            "customer": {"name": format!("Cancelling Customer {n}"), "email": format!("cancelling{n}@example.com")},
        })
        .to_string();
        let booked = client.post_json("/api/v1/bookings", &[], booking.as_bytes()).await?;
        if booked.status() != 201 {
            book_failed += 1;
            eprintln!("loadgen: booking for round {n} answered {}: {}", booked.status(), booked.text());
            continue;
        }
        let booked = booked.json()?;
        let cancel_path = format!("/api/v1/bookings/{}/cancel", booked["id"].as_str().unwrap_or(""));
        let cancel_bearer = format!("Bearer {}", booked["token"].as_str().unwrap_or(""));
        while let Ok(offer) = offers.try_recv() {
            stray_offers.push(offer);
        }
        line.retain(|e| !stray_offers.iter().any(|o| o.entry_id == e.id));
        let expected = line.front().cloned().ok_or_else(|| http::bad("nobody waits"))?;
        if !options.settle.is_zero() {
            tokio::time::sleep(options.settle).await;
        }

        let sent = now_micros();
        let deadline = tokio::time::Instant::now() + options.timeout;
        let cancel = async {
            let answer = client.post_json(&cancel_path, &[("Authorization", &cancel_bearer)], b"{}").await;
            (answer, now_micros())
        };
        let hook = wait_for(&mut offers, deadline, &mut stray_offers, |o| o.starts_micros == slot.starts_micros);
        let shown = banner(&mut page, &mut changes, &expected, slot, deadline, &mut held_from);
        let ((cancelled, cancel_read), hook, shown) = tokio::join!(cancel, hook, shown);
        let cancelled = cancelled?;
        if cancelled.status() != 200 {
            cancel_failed += 1;
            eprintln!("loadgen: cancel for round {n} answered {}: {}", cancelled.status(), cancelled.text());
        }
        cancel_ms.push((cancel_read - sent) as f64 / 1000.0);
        let shown = shown?;
        // Whom it went to, and its hold: from the webhook, or else from the page.
        let offered = match (&hook, &shown) {
            (Some(hook), _) => Some((hook.entry_id.clone(), hook.hold_id.clone(), hook.starts_at.clone())),
            (None, Some((_, _, true, hold))) => Some((expected.id.clone(), hold.clone(), slot.starts_at.clone())),
            (None, _) => None,
        };
        match (&hook, &shown) {
            (Some(hook), Some((held_at, read_at, ours, page_hold))) => {
                rounds += 1;
                webhook_ms.push((hook.received - sent) as f64 / 1000.0);
                held_ms.push((held_at - sent) as f64 / 1000.0);
                check_ms.push((read_at - held_at) as f64 / 1000.0);
                if *ours {
                    banner_ms.push((read_at - sent) as f64 / 1000.0);
                } else {
                    not_offered += 1;
                }
                if hook.entry_id != expected.id || !ours || *page_hold != hook.hold_id {
                    violations += 1;
                    eprintln!(
                        "loadgen: round {n}: offered to {} (position {:?} in line), expected {} (its page saw it offered: {ours})",
                        hook.entry_id,
                        line.iter().position(|e| e.id == hook.entry_id),
                        expected.id
                    );
                }
            }
            _ => {
                lost += 1;
                eprintln!(
                    "loadgen: round {n} ({}) lost: webhook {}, held frame {}",
                    slot.starts_at,
                    if hook.is_some() { "arrived" } else { "missing" },
                    if shown.is_some() { "arrived" } else { "missing" }
                );
            }
        }
        let Some((entry_id, hold_id, starts_at)) = offered else { continue };

        // The customer claims it with the entry's token; the entry leaves
        // the line and another joins at its back.
        let token = tokens.remove(&entry_id).unwrap_or_default();
        let claim = serde_json::json!({
            "providerId": provider.id,
            "serviceId": service_id,
            "startTime": starts_at,
            "holdId": hold_id,
            "customer": {"name": format!("Claiming Customer {n}"), "email": format!("claiming{n}@example.com")},
        })
        .to_string();
        let claim_bearer = format!("Bearer {token}");
        let answer =
            client.post_json("/api/v1/bookings", &[("Authorization", &claim_bearer)], claim.as_bytes()).await?;
        if answer.status() == 201 {
            claimed += 1;
        } else {
            claim_failed += 1;
            eprintln!("loadgen: claim for round {n} answered {}: {}", answer.status(), answer.text());
        }
        line.retain(|e| e.id != entry_id);
        let (entry, ms) = join(&mut client, &options, &service_id, (&from, &to), joined).await?;
        joined += 1;
        join_ms.push(ms);
        tokens.insert(entry.id.clone(), entry.token.clone());
        line.push_back(entry);
    }
    let rounds_secs = started.elapsed().as_secs_f64();

    // Anything late, stray or twice.
    tokio::time::sleep(Duration::from_millis(500)).await;
    while let Ok(offer) = offers.try_recv() {
        stray_offers.push(offer);
    }
    for offer in stray_offers.iter().take(5) {
        eprintln!("loadgen: a waitlist.offered no round waited for: {offer:?}");
    }
    let _ = stop.send(true);
    let ended = stream.await.unwrap_or(Some("the stream's task failed".to_owned()));
    if let Some(reason) = &ended {
        eprintln!("loadgen: the waiting page's stream ended: {reason}");
    }
    receiver.abort();
    let counts = counts.lock().unwrap_or_else(|poisoned| poisoned.into_inner());

    println!("provider={}", provider.id);
    println!("service={service_id}");
    println!("window={from}..{to}");
    println!("entries_waiting={}", options.entries);
    println!("entries_joined={joined}");
    println!("join_secs={join_secs:.2}");
    println!("free_slots={}", slots.len());
    println!("rounds_requested={}", options.rounds);
    println!("rounds={rounds}");
    println!("rounds_secs={rounds_secs:.2}");
    println!("lost={lost}");
    println!("violations={violations}");
    println!("banner_not_offered={not_offered}");
    println!("claims_ok={claimed}");
    println!("claims_failed={claim_failed}");
    println!("bookings_failed={book_failed}");
    println!("cancels_failed={cancel_failed}");
    let mut from_counts: Vec<_> = held_from.into_iter().collect();
    from_counts.sort();
    let from_counts: Vec<String> = from_counts.into_iter().map(|(from, n)| format!("{from}:{n}")).collect();
    println!("held_frames_from={}", from_counts.join(","));
    println!("webhook_deliveries={}", counts.deliveries);
    println!("webhook_duplicates={}", counts.duplicates);
    println!("offers_before_rounds={offered_before}");
    println!("stray_offers={}", stray_offers.len());
    println!("stream_ended_early={}", u8::from(ended.is_some()));
    println!("webhook_over_100ms={}", webhook_ms.iter().filter(|&&ms| ms > 100.0).count());
    print_quantiles("webhook", webhook_ms);
    print_quantiles("banner", banner_ms);
    print_quantiles("held_frame", held_ms);
    print_quantiles("entry_check", check_ms);
    print_quantiles("cancel_request", cancel_ms);
    print_quantiles("join_request", join_ms);
    Ok(rounds == options.rounds
        && lost == 0
        && violations == 0
        && claim_failed == 0
        && cancel_failed == 0
        && counts.duplicates == 0
        && stray_offers.is_empty()
        && ended.is_none())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn free_slots_are_the_available_ones_of_the_window_from_the_lead_on() {
        let document = serde_json::json!({ "days": [
            { "date": "2099-03-01", "slots": [
                { "availabilityId": "a", "startsAt": "2099-03-01T09:00:00Z", "status": "available" } ] },
            { "date": "2099-03-02", "slots": [
                { "availabilityId": "b", "startsAt": "2099-03-02T10:00:00+01:00", "status": "available" },
                { "availabilityId": "c", "startsAt": "2099-03-02T10:30:00+01:00", "status": "booked" },
                { "availabilityId": "d", "startsAt": "2099-03-02T11:00:00+01:00", "status": "held" } ] },
            { "date": "2099-03-03", "slots": [
                { "availabilityId": "e", "startsAt": "2099-03-03T09:00:00Z", "status": "available" } ] },
            { "date": "2099-03-04", "slots": [
                { "availabilityId": "f", "startsAt": "2099-03-04T09:00:00Z", "status": "available" } ] },
        ] });
        let slots = free_slots(&document, "2099-03-02", "2099-03-03", 60);
        let ids: Vec<&str> = slots.iter().map(|s| s.availability_id.as_str()).collect();
        assert_eq!(ids, ["b", "e"]);
        assert_eq!(slots[0].starts_micros, parse_any_offset("2099-03-02T09:00:00Z").unwrap());
        // Nothing starts far enough ahead.
        assert!(free_slots(&document, "2099-03-02", "2099-03-03", 60 * 24 * 365 * 100).is_empty());
    }
}
