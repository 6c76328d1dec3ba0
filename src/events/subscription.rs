//! One subscriber's gap-free, duplicate-free view of a provider's events.
//!
//! Order of work: subscribe to the live bus first, then read the committed
//! version (and replay the log after the resume point), then pass live events
//! on, dropping those already replayed. Any gap in the live sequence (the
//! subscriber lagged past the channel's ring, or a notification was lost, or
//! two commits were published out of order) is filled from the log. Only a
//! resume point the log no longer covers (pruned, or from the future) gives
//! `Reset`; the subscription then continues live from the current version.

use std::sync::Arc;

use futures_util::Stream;
use sea_orm::{DatabaseConnection, DbErr};
use tokio::sync::broadcast::error::RecvError;
use uuid::Uuid;

use super::{Bus, PublishedEvent, log};

/// How many log rows one catch-up read takes at a time.
const CATCH_UP_PAGE: u64 = 500;

/// Where a subscriber starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Resume {
    /// From now on.
    Live,
    /// Everything after this version.
    After(i64),
}

/// What a subscriber receives.
#[derive(Clone, Debug)]
pub enum Delivery {
    Event(Arc<PublishedEvent>),
    /// The resume point is gone: re-fetch the state; the stream continues
    /// after `version`.
    Reset { version: i64 },
}

/// The subscriber's stream. Ends when the bus closes or the database fails
/// (the client reconnects with its last id and loses nothing).
pub fn subscribe(
    db: DatabaseConnection,
    bus: Bus,
    provider_id: Uuid,
    resume: Resume,
) -> impl Stream<Item = Delivery> + Send + 'static {
    async_stream::stream! {
        let mut live = bus.subscribe(provider_id);
        // Database futures are boxed: they run once, and keeping them out of
        // the generator keeps each idle subscriber small.
        let mut last = match Box::pin(start(&db, provider_id, resume)).await {
            Ok(Start::From(version)) => version,
            Ok(Start::Reset(version)) => {
                yield Delivery::Reset { version };
                version
            }
            Err(error) => {
                tracing::warn!(%provider_id, %error, "stream could not start");
                return;
            }
        };
        // Replay (or, later, fill a gap) from the log.
        let mut need_catch_up = true;
        loop {
            if need_catch_up {
                need_catch_up = false;
                loop {
                    let page = match Box::pin(log::after(&db, provider_id, last, CATCH_UP_PAGE)).await {
                        Ok(page) => page,
                        Err(error) => {
                            tracing::warn!(%provider_id, %error, "catch-up failed; ending stream");
                            return;
                        }
                    };
                    let full = page.len() as u64 == CATCH_UP_PAGE;
                    for event in page {
                        if event.version != last + 1 {
                            // Pruned while we were behind.
                            last = event.version;
                            yield Delivery::Reset { version: last };
                            continue;
                        }
                        last = event.version;
                        yield Delivery::Event(event);
                    }
                    if !full {
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
                Err(RecvError::Closed) => return,
            }
        }
    }
}

enum Start {
    From(i64),
    Reset(i64),
}

async fn start(db: &DatabaseConnection, provider_id: Uuid, resume: Resume) -> Result<Start, DbErr> {
    let current = log::current_version(db, provider_id).await?.unwrap_or(0);
    let after = match resume {
        Resume::Live => return Ok(Start::From(current)),
        Resume::After(after) => after,
    };
    if after > current || after < 0 {
        return Ok(Start::Reset(current));
    }
    if after == current {
        return Ok(Start::From(after));
    }
    match log::oldest_kept(db, provider_id).await? {
        Some(oldest) if oldest <= after + 1 => Ok(Start::From(after)),
        _ => Ok(Start::Reset(current)),
    }
}
