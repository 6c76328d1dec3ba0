//! Shared catch-up: subscribers that must read the log from the same point
//! (a burst larger than their buffer made them all lag at once, or many
//! resume from the same id) share one log read per page, and the events of
//! that page, rendered once, are shared too.
//!
//! Pages are aligned: the page with key `k` (a multiple of [`PAGE`]) holds
//! the first [`PAGE`] events after version `k`, so subscribers a few events
//! apart still meet on the same page. A full page of committed events never
//! changes, so serving it from the cache is always correct. A page that was
//! not full ends at the head of the log as it was when read; it serves a
//! subscriber only while it reaches the newest version that subscriber knows
//! to be committed, and is read again (once, however many wait) when it does
//! not. A subscriber that gets a page ending before newer events simply
//! catches up again from its new position, as before this cache.
//!
//! The cache is per process (owned by the [`Bus`](super::Bus)) and bounded
//! in bytes by `quick_cache`, whose placeholder guard gives the single flight.

use std::sync::Arc;

use quick_cache::Weighter;
use quick_cache::sync::{Cache, EntryAction, EntryResult};
use sea_orm::{DatabaseConnection, DbErr};
use uuid::Uuid;

use super::{PublishedEvent, event_log};

/// Events per page (one log read).
pub const PAGE: i64 = 500;

/// The cache's bound: about a hundred pages of typical events (≈330 bytes
/// each, frame included), enough for several bursts in flight at once.
const CACHE_BYTES: u64 = 16 * 1024 * 1024;

/// Cheap-clone handle to the per-process page cache.
#[derive(Clone)]
pub struct CatchUp {
    pages: Arc<Cache<(Uuid, i64), Page, PageWeight>>,
}

/// Up to [`PAGE`] committed events of one provider, oldest first.
#[derive(Clone)]
pub struct Page(Arc<PageInner>);

struct PageInner {
    events: Vec<Arc<PublishedEvent>>,
    /// The version the page starts after (its cache key).
    after: i64,
    /// Approximate bytes held, computed once for the cache's weigher.
    bytes: u64,
}

impl Page {
    fn new(after: i64, events: Vec<Arc<PublishedEvent>>) -> Page {
        let per_event = std::mem::size_of::<PublishedEvent>() + std::mem::size_of::<Arc<PublishedEvent>>() + 16;
        let bytes = events.iter().map(|e| (e.frame.len() + per_event) as u64).sum::<u64>() + 64;
        Page(Arc::new(PageInner { events, after, bytes }))
    }

    /// More events may follow in the log: read the next page.
    pub fn is_full(&self) -> bool {
        self.0.events.len() as i64 >= PAGE
    }

    /// The page's events, oldest first.
    pub fn events(&self) -> &[Arc<PublishedEvent>] {
        &self.0.events
    }

    /// The page's events newer than `version`.
    pub fn after(&self, version: i64) -> impl Iterator<Item = &Arc<PublishedEvent>> {
        self.0.events.iter().skip_while(move |e| e.version <= version)
    }

    /// The newest version the page covers: its last event, or where it starts.
    fn end(&self) -> i64 {
        self.0.events.last().map_or(self.0.after, |e| e.version)
    }

    /// Good for a reader that knows `known` is committed: a full page always
    /// (nothing can be added inside it), a tail page only if it reaches `known`.
    fn serves(&self, known: i64) -> bool {
        self.is_full() || self.end() >= known
    }
}

/// The aligned start of the page that holds the event after `last`.
fn page_start(last: i64) -> i64 {
    last - last.rem_euclid(PAGE)
}

#[derive(Clone)]
struct PageWeight;

impl Weighter<(Uuid, i64), Page> for PageWeight {
    fn weight(&self, _key: &(Uuid, i64), page: &Page) -> u64 {
        page.0.bytes
    }
}

impl Default for CatchUp {
    fn default() -> CatchUp {
        CatchUp::new(CACHE_BYTES)
    }
}

impl CatchUp {
    /// A cache holding at most about `max_bytes` of events.
    pub fn new(max_bytes: u64) -> CatchUp {
        let estimated_pages = (max_bytes / (PAGE as u64 * 330)).max(1) as usize;
        CatchUp { pages: Arc::new(Cache::with_weighter(estimated_pages, max_bytes, PageWeight)) }
    }

    /// The page holding the events that follow `last` (version `last + 1`
    /// onwards, or the first kept after it), covering `known` if it is not
    /// full. `known` must be a committed version (one the bus published, or
    /// read from the database). Concurrent callers for the same page share
    /// one read.
    pub async fn page(&self, db: &DatabaseConnection, provider_id: Uuid, last: i64, known: i64) -> Result<Page, DbErr> {
        let key = (provider_id, page_start(last));
        // Decided under the shard's lock, so of many readers that find a
        // stale tail page only the first reads it again; the others wait
        // for that read.
        let guard = match self
            .pages
            .entry_async(&key, |_, page| {
                if page.serves(known) { EntryAction::Retain(page.clone()) } else { EntryAction::ReplaceWithGuard }
            })
            .await
        {
            EntryResult::Retained(page) => return Ok(page),
            EntryResult::Vacant(guard) | EntryResult::Replaced(guard, _) => Some(guard),
            // Not produced by the callback above or by the async lookup;
            // read without the cache rather than fail.
            EntryResult::Removed(..) | EntryResult::Timeout => None,
        };
        // On error the guard is dropped unfilled and a waiter reads instead.
        let page = Page::new(key.1, event_log::after(db, provider_id, key.1, PAGE as u64).await?);
        if let Some(guard) = guard {
            // Refused only when the page outweighs the cache: still served.
            let _ = guard.insert(page.clone());
        }
        Ok(page)
    }
}

#[cfg(test)]
mod tests {
    use chrono::{NaiveDate, NaiveTime, Utc};

    use super::*;
    use crate::domain::{AvailabilitySlotChangedEvent, SlotStatus};

    fn page(after: i64, versions: impl Iterator<Item = i64>) -> Page {
        let event = AvailabilitySlotChangedEvent {
            availability_id: Uuid::nil(),
            provider_id: Uuid::nil(),
            date: NaiveDate::MIN,
            start_time: NaiveTime::MIN,
            end_time: NaiveTime::MIN,
            previous_status: None,
            new_status: SlotStatus::Available,
            booking_id: None,
            changed_at: Utc::now(),
            changed_by: None,
            span: None,
        };
        Page::new(after, versions.map(|v| PublishedEvent::new(v, &event)).collect())
    }

    #[test]
    fn subscribers_a_few_events_apart_share_a_page() {
        assert_eq!([0, 1, 499].map(page_start), [0; 3]);
        assert_eq!([500, 999].map(page_start), [500; 2]);
        assert_eq!(page_start(1234), 1000);
    }

    #[test]
    fn a_reader_gets_only_the_events_after_its_position() {
        let versions: Vec<i64> = page(0, 1..=5).after(3).map(|e| e.version).collect();
        assert_eq!(versions, [4, 5]);
        assert_eq!(page(0, 1..=5).after(5).count(), 0);
    }

    #[test]
    fn a_tail_page_serves_only_readers_it_reaches_and_a_full_page_serves_all() {
        let tail = page(500, 501..=620);
        assert!(!tail.is_full());
        assert!(tail.serves(620) && tail.serves(10));
        assert!(!tail.serves(621), "read again: newer events are committed");
        let empty = page(500, std::iter::empty());
        assert!(empty.serves(500) && !empty.serves(501), "an empty page ends where it starts");
        let full = page(0, 1..=PAGE);
        assert!(full.is_full() && full.serves(i64::MAX));
    }
}
