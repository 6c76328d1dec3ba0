//! One subscriber's gap-free, duplicate-free view of a provider's events.
//!
//! Order of work: subscribe to the live bus first, then read the committed
//! version (both before the stream's head goes out), then replay the log
//! after the resume point, then pass live events on, dropping those already
//! replayed. Any gap in the live sequence (the
//! subscriber lagged past the channel's ring, or a notification was lost, or
//! two commits were published out of order) is filled from the log, through
//! the catch-up cache shared with every subscriber of the process (see
//! `catch_up`), so a burst that makes all of them lag is read once. Only a
//! resume point the log no longer covers (pruned, from the future, or before
//! a version advanced with no event) or that is not a version at all gives `Reset`; the subscription then
//! continues live from the current version.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use futures_util::Stream;
use sea_orm::{DatabaseConnection, DbErr};
use tokio::sync::broadcast::error::RecvError;
use tokio_util::sync::ReusableBoxFuture;
use uuid::Uuid;

use super::catch_up::Page;
use super::{Bus, PublishedEvent, SubscriberGuard, event_log, versions};
use crate::health::DatabaseHealth;

/// Where a subscriber starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Resume {
    /// From now on.
    Live,
    /// Everything after this version.
    After(i64),
    /// The client sent a resume point that is not a version: it holds
    /// something, but what is unknown, so it starts over (`Reset`), as for a
    /// version that was never issued.
    Unknown,
}

/// What a subscriber receives.
#[derive(Clone, Debug)]
pub enum Delivery {
    Event(Arc<PublishedEvent>),
    /// The resume point is gone: re-fetch the state; the stream continues
    /// after `version`.
    Reset {
        version: i64,
    },
    /// The provider was deactivated: nothing more will come; the last.
    Ended,
}

/// Subscribe to a provider from `resume`: take the live subscription and
/// read the starting position now, before the caller answers. Every change
/// committed after this returns is then delivered, so a client that has seen
/// the stream open may write and count on seeing its change.
pub async fn subscribe(
    db: DatabaseConnection,
    bus: Bus,
    health: DatabaseHealth,
    provider_id: Uuid,
    resume: Resume,
) -> Result<Deliveries, DbErr> {
    let live = bus.subscribe(provider_id);
    let start = start(&db, &bus, provider_id, resume).await?;
    Ok(deliveries(db, bus, health, live, provider_id, start))
}

/// The subscriber's stream. Ends when the bus closes. A log read that
/// fails (the database is down) is tried again once `health` says the
/// database is reachable, after a pause that grows to a few seconds: the
/// stream stays open meanwhile (its heartbeats go on) and resumes from its
/// position, losing nothing; every subscriber waiting so meets the others
/// on the shared catch-up page when the database is back.
fn deliveries(
    db: DatabaseConnection,
    bus: Bus,
    health: DatabaseHealth,
    live: SubscriberGuard,
    provider_id: Uuid,
    start: Start,
) -> Deliveries {
    let (last, current, reset) = match start {
        Start::From { after, current } => (after, current, None),
        Start::Reset(version) => (version, version, Some(version)),
    };
    Deliveries {
        db,
        bus,
        health,
        provider_id,
        last,
        current,
        reset,
        // Replay first (or, later, fill a gap) from the log.
        need_catch_up: true,
        reading: None,
        replaying: None,
        live: ReusableBoxFuture::new(next_live(live)),
        ended: false,
    }
}

/// One subscriber's deliveries (see [`subscribe`]): the replay from the log,
/// then the live events, each gap filled from the log.
///
/// A `Stream` written by hand rather than a generator: it is polled twice
/// per delivered event and subscriber, and `async_stream`'s machinery (a
/// thread-local slot per poll, the generator around the receive) was about
/// 340 of the 4,400 instructions a delivery cost (BENCHMARKS.md, issue 27
/// item 5). The live receive is one future, reused in place.
pub struct Deliveries {
    db: DatabaseConnection,
    bus: Bus,
    health: DatabaseHealth,
    provider_id: Uuid,
    /// The newest version delivered (or skipped past by a reset).
    last: i64,
    /// Committed for sure at the start.
    current: i64,
    /// A reset to deliver first (the resume point was gone).
    reset: Option<i64>,
    /// A lag or a gap was seen: read the log from `last` before going on.
    need_catch_up: bool,
    /// A page of the log being read (boxed: it runs now and then, and
    /// keeping it out of the stream keeps each idle subscriber small).
    reading: Option<Pin<Box<dyn Future<Output = Page> + Send>>>,
    /// A page read, and how far into it the deliveries are.
    replaying: Option<(Page, usize)>,
    live: ReusableBoxFuture<'static, LiveReceipt>,
    ended: bool,
}

/// What the live receive gives, with the subscription back.
type LiveReceipt = (Result<Arc<PublishedEvent>, RecvError>, SubscriberGuard);

async fn next_live(mut live: SubscriberGuard) -> LiveReceipt {
    (live.recv().await, live)
}

impl Deliveries {
    /// Start reading the log page after `last`, up to what is committed for
    /// sure: read at the start, or published since (a lag or a gap means the
    /// bus has published past `last`).
    fn read_page(&mut self) {
        let known = self.current.max(self.bus.published_version(self.provider_id));
        let (db, bus, health, provider_id, last) =
            (self.db.clone(), self.bus.clone(), self.health.clone(), self.provider_id, self.last);
        self.reading = Some(Box::pin(async move {
            let mut pause = RETRY_FIRST;
            loop {
                match bus.catch_up().page(&db, provider_id, last, known).await {
                    Ok(page) => return page,
                    Err(error) => {
                        tracing::debug!(%provider_id, %error, ?pause, "catch-up failed; retrying");
                        retry_later(&health, pause).await;
                        pause = (pause * 2).min(RETRY_MAX);
                    }
                }
            }
        }));
    }

    /// The next delivery of the page being replayed, if it has one.
    fn next_replayed(&mut self) -> Option<Delivery> {
        let (page, at) = self.replaying.as_mut()?;
        while let Some(event) = page.events().get(*at) {
            *at += 1;
            if event.version <= self.last {
                continue;
            }
            if event.version != self.last + 1 {
                // Pruned while we were behind.
                self.last = event.version;
                return Some(Delivery::Reset { version: self.last });
            }
            self.last = event.version;
            return Some(Delivery::Event(event.clone()));
        }
        let full = page.is_full();
        self.replaying = None;
        if full {
            self.read_page();
        }
        None
    }
}

impl Stream for Deliveries {
    type Item = Delivery;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Delivery>> {
        let this = &mut *self;
        if let Some(version) = this.reset.take() {
            return Poll::Ready(Some(Delivery::Reset { version }));
        }
        loop {
            if this.ended {
                return Poll::Ready(None);
            }
            if let Some(delivery) = this.next_replayed() {
                return Poll::Ready(Some(delivery));
            }
            if let Some(reading) = this.reading.as_mut() {
                let page = ready!(reading.as_mut().poll(cx));
                this.reading = None;
                this.replaying = Some((page, 0));
                continue;
            }
            if std::mem::take(&mut this.need_catch_up) {
                this.read_page();
                continue;
            }
            let (received, live) = ready!(this.live.poll(cx));
            let closed = matches!(received, Err(RecvError::Closed));
            if !closed {
                this.live.set(next_live(live));
            }
            match received {
                Ok(event) if event.version <= this.last => {}
                Ok(event) if event.version == this.last + 1 => {
                    this.last = event.version;
                    return Poll::Ready(Some(Delivery::Event(event)));
                }
                Ok(_) | Err(RecvError::Lagged(_)) => this.need_catch_up = true,
                Err(RecvError::Closed) => {
                    this.ended = true;
                    if this.bus.has_ended(this.provider_id) {
                        return Poll::Ready(Some(Delivery::Ended));
                    }
                    return Poll::Ready(None);
                }
            }
        }
    }
}

/// The first and the longest pause before a failed log read is tried again.
const RETRY_FIRST: Duration = Duration::from_millis(200);
const RETRY_MAX: Duration = Duration::from_secs(5);

/// Wait `pause`, then until the database is reachable.
async fn retry_later(health: &DatabaseHealth, pause: Duration) {
    tokio::time::sleep(pause).await;
    health.reachable().await;
}

enum Start {
    /// Deliver everything after `after`; `current` was committed at the start.
    From {
        after: i64,
        current: i64,
    },
    Reset(i64),
}

/// Where the subscriber starts. In a reconnect storm (a restart, a proxy
/// dropping every connection) every subscriber of the process passes here at
/// once, so the usual path reads nothing of its own: the current version is
/// the bus's when trusted, and a resume point is checked against the shared,
/// cached catch-up page that the replay reads next anyway. Only the rare
/// cases read the database per subscriber (counted in
/// `slotstream_stream_start_reads_total`): an untrusted bus, a resume point
/// past what the bus has published (another instance's, not yet relayed),
/// and one the page does not show covered (pruned, or a reset is due).
async fn start(db: &DatabaseConnection, bus: &Bus, provider_id: Uuid, resume: Resume) -> Result<Start, DbErr> {
    let start_reads = metrics::counter!("slotstream_stream_start_reads_total");
    let trusted = bus.trusted_version(provider_id);
    let current = match (trusted, resume) {
        (Some(current), Resume::Live | Resume::Unknown) => current,
        (Some(current), Resume::After(after)) if after <= current => current,
        _ => {
            start_reads.increment(1);
            versions::committed(db, provider_id).await?.unwrap_or(0)
        }
    };
    let after = match resume {
        Resume::Live => return Ok(Start::From { after: current, current }),
        Resume::Unknown => return Ok(Start::Reset(current)),
        Resume::After(after) => after,
    };
    if after > current || after < 0 {
        return Ok(Start::Reset(current));
    }
    if after == current {
        return Ok(Start::From { after, current });
    }
    let page = Box::pin(bus.catch_up().page(db, provider_id, after, current)).await?;
    if page.after(after).next().is_some_and(|event| event.version == after + 1) {
        return Ok(Start::From { after, current });
    }
    // The log itself says whether it holds `after + 1`. It does not when
    // that was pruned, or when the version advanced with no event (a
    // timezone change, a deactivation, a reactivation: `advance_version`):
    // either way what the client holds is stale, and it starts over.
    start_reads.increment(1);
    let next = event_log::after(db, provider_id, after, 1).await?;
    if next.first().is_some_and(|event| event.version == after + 1) {
        Ok(Start::From { after, current })
    } else {
        Ok(Start::Reset(current))
    }
}
