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

use std::sync::Arc;
use std::time::Duration;

use futures_util::Stream;
use sea_orm::{DatabaseConnection, DbErr};
use tokio::sync::broadcast::error::RecvError;
use uuid::Uuid;

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
) -> Result<impl Stream<Item = Delivery> + Send + 'static, DbErr> {
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
    mut live: SubscriberGuard,
    provider_id: Uuid,
    start: Start,
) -> impl Stream<Item = Delivery> + Send + 'static {
    async_stream::stream! {
        let (mut last, current) = match start {
            Start::From { after, current } => (after, current),
            Start::Reset(version) => {
                yield Delivery::Reset { version };
                (version, version)
            }
        };
        // Replay (or, later, fill a gap) from the log.
        let mut need_catch_up = true;
        loop {
            if need_catch_up {
                need_catch_up = false;
                // Committed for sure: read at the start, or published since
                // (a lag or a gap means the bus has published past `last`).
                let known = current.max(bus.published_version(provider_id));
                let mut pause = RETRY_FIRST;
                loop {
                    // Boxed: the future runs now and then, and keeping it out
                    // of the generator keeps each idle subscriber small.
                    let page = match Box::pin(bus.catch_up().page(&db, provider_id, last, known)).await {
                        Ok(page) => page,
                        Err(error) => {
                            tracing::debug!(%provider_id, %error, ?pause, "catch-up failed; retrying");
                            Box::pin(retry_later(&health, pause)).await;
                            pause = (pause * 2).min(RETRY_MAX);
                            continue;
                        }
                    };
                    for event in page.after(last) {
                        if event.version != last + 1 {
                            // Pruned while we were behind.
                            last = event.version;
                            yield Delivery::Reset { version: last };
                            continue;
                        }
                        last = event.version;
                        yield Delivery::Event(event.clone());
                    }
                    if !page.is_full() {
                        break;
                    }
                }
            }
            match live.recv().await {
                Ok(event) if event.version <= last => {}
                Ok(event) if event.version == last + 1 => {
                    last = event.version;
                    yield Delivery::Event(event);
                }
                Ok(_) | Err(RecvError::Lagged(_)) => need_catch_up = true,
                Err(RecvError::Closed) => {
                    if bus.has_ended(provider_id) {
                        yield Delivery::Ended;
                    }
                    return;
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
