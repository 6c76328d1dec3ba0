//! The search index: every active provider with its services and its free
//! slots as instants, in memory, so a search never scans the database.
//!
//! Kept current from two sources, in one queue (see `keeper`): the bus's
//! tap (each published event moves one slot in or out of a provider's free
//! list; a version moved without events marks the provider for a read) and
//! the catalogue's changes (a provider's name, address, services). Each
//! change takes a number as it is queued; a search waits until the keeper
//! has applied every change numbered before the search began, so what was
//! committed and announced before a search is in its answer.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock, RwLockReadGuard};
use std::time::Duration;

use chrono_tz::Tz;
use tokio::sync::{mpsc, watch};
use uuid::Uuid;

use crate::domain::{FreeSlot, SlotStatus, set_free, set_not_free};
use crate::events::{PublishedEvent, Tapped};

/// A provider as the search shows and matches it.
#[derive(Clone, Debug)]
pub struct IndexedProvider {
    pub id: Uuid,
    pub name: String,
    pub address: Option<String>,
    pub timezone: Tz,
    /// The version its free slots are as of.
    pub version: i64,
    pub services: Vec<IndexedService>,
    /// Available slots, sorted by (start, id).
    pub free: Vec<FreeSlot>,
}

#[derive(Clone, Debug)]
pub struct IndexedService {
    pub id: Uuid,
    pub name: String,
    /// The name lower-cased, for matching.
    pub folded: String,
    pub duration_minutes: u32,
    pub price_minor: i64,
    pub currency: String,
}

/// What the keeper applies, in the order it was queued.
#[derive(Debug)]
pub(super) enum Change {
    Bus(Tapped),
    /// A provider's catalogue entry (name, zone, services, active) changed.
    Catalogue(Uuid),
    /// Anything may have changed (the relay missed notifications).
    Everything,
}

/// Cheap-clone handle to the index.
#[derive(Clone)]
pub struct SearchIndex {
    shared: Arc<Shared>,
}

struct Shared {
    providers: RwLock<HashMap<Uuid, IndexedProvider>>,
    queue: mpsc::UnboundedSender<(u64, Change)>,
    /// Taken once by the keeper.
    receiver: Mutex<Option<mpsc::UnboundedReceiver<(u64, Change)>>>,
    /// The number of the last change queued (see `queue`).
    queued: Mutex<u64>,
    /// The number of the last change applied (every one before it too).
    applied: watch::Sender<u64>,
    /// False until the first full read is in.
    loaded: AtomicBool,
}

/// What the index holds (see [`SearchIndex::size`]).
#[derive(Clone, Copy, Debug, Default)]
pub struct IndexSize {
    pub providers: usize,
    pub free_slots: usize,
    /// Heap bytes of its tables and strings (the allocator's own overhead aside).
    pub bytes: usize,
}

/// Why a search could not be answered from the index.
#[derive(Debug, PartialEq, Eq)]
pub enum NotCurrent {
    /// The first full read has not finished (start-up).
    Loading,
    /// Changes queued before the search were not applied in time (the
    /// database the keeper reads is slow or gone).
    Behind,
}

impl Default for SearchIndex {
    fn default() -> SearchIndex {
        let (queue, receiver) = mpsc::unbounded_channel();
        SearchIndex {
            shared: Arc::new(Shared {
                providers: RwLock::default(),
                queue,
                receiver: Mutex::new(Some(receiver)),
                queued: Mutex::new(0),
                applied: watch::channel(0).0,
                loaded: AtomicBool::new(false),
            }),
        }
    }
}

impl SearchIndex {
    /// Queue a change for the keeper. Never blocks (the bus calls it inside `publish`).
    pub(super) fn queue(&self, change: Change) {
        // Numbered and sent under one lock: a number is only ever sent after
        // every smaller one, so "applied up to n" means every change up to n.
        let mut queued = self.shared.queued.lock().unwrap_or_else(|e| e.into_inner());
        *queued += 1;
        // An error only means the keeper has stopped (the server is stopping).
        let _ = self.shared.queue.send((*queued, change));
    }

    /// The tap the bus calls with every provider's progress.
    pub fn tap(&self) -> crate::events::Tap {
        let index = self.clone();
        Arc::new(move |tapped| index.queue(Change::Bus(tapped)))
    }

    /// A provider's catalogue entry changed (on this instance or, through
    /// the relay, on another).
    pub fn catalogue_changed(&self, provider_id: Option<Uuid>) {
        self.queue(provider_id.map_or(Change::Everything, Change::Catalogue));
    }

    pub(super) fn take_receiver(&self) -> Option<mpsc::UnboundedReceiver<(u64, Change)>> {
        self.shared.receiver.lock().unwrap_or_else(|e| e.into_inner()).take()
    }

    pub(super) fn mark_applied(&self, number: u64) {
        self.shared.applied.send_if_modified(|applied| {
            let moved = number > *applied;
            *applied = (*applied).max(number);
            moved
        });
    }

    pub(super) fn mark_loaded(&self) {
        self.shared.loaded.store(true, Ordering::Release);
    }

    /// Wait (up to `patience`) until every change queued before now is
    /// applied, then read the providers.
    pub async fn current(
        &self,
        patience: Duration,
    ) -> Result<RwLockReadGuard<'_, HashMap<Uuid, IndexedProvider>>, NotCurrent> {
        if !self.shared.loaded.load(Ordering::Acquire) {
            return Err(NotCurrent::Loading);
        }
        let target = *self.shared.queued.lock().unwrap_or_else(|e| e.into_inner());
        let mut applied = self.shared.applied.subscribe();
        let caught_up = applied.wait_for(|applied| *applied >= target);
        match tokio::time::timeout(patience, caught_up).await {
            Ok(Ok(_)) => Ok(self.read()),
            _ => Err(NotCurrent::Behind),
        }
    }

    pub(super) fn read(&self) -> RwLockReadGuard<'_, HashMap<Uuid, IndexedProvider>> {
        self.shared.providers.read().unwrap_or_else(|e| e.into_inner())
    }

    pub(super) fn write(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<Uuid, IndexedProvider>> {
        self.shared.providers.write().unwrap_or_else(|e| e.into_inner())
    }

    /// What the index holds now, for `/metrics` and the benchmark.
    pub fn size(&self) -> IndexSize {
        let providers = self.read();
        let mut size = IndexSize {
            providers: providers.len(),
            free_slots: 0,
            // The map's table: a key and a value per bucket, a control byte each.
            bytes: providers.capacity() * (size_of::<Uuid>() + size_of::<IndexedProvider>() + 1),
        };
        for provider in providers.values() {
            size.free_slots += provider.free.len();
            size.bytes += provider.free.capacity() * size_of::<FreeSlot>()
                + provider.services.capacity() * size_of::<IndexedService>()
                + provider.name.capacity()
                + provider.address.as_ref().map_or(0, String::capacity)
                + provider
                    .services
                    .iter()
                    .map(|s| s.name.capacity() + s.folded.capacity() + s.currency.capacity())
                    .sum::<usize>();
        }
        size
    }
}

/// What one published event does to a provider's copy.
pub(super) enum Applied {
    /// Applied (or already in): the copy is at the event's version.
    Current,
    /// The copy missed versions before it: read the provider again.
    Gap,
}

impl IndexedProvider {
    /// Apply the provider's next event: its slot goes in the free list if it
    /// is now available (with instants), out of it otherwise.
    pub(super) fn apply(&mut self, event: &PublishedEvent) -> Applied {
        if event.version <= self.version {
            return Applied::Current;
        }
        if event.version != self.version + 1 {
            return Applied::Gap;
        }
        self.version = event.version;
        match (event.new_status, event.span_seconds) {
            (SlotStatus::Available, Some((start, end))) => {
                set_free(&mut self.free, FreeSlot { start, end, id: event.availability_id });
            }
            (_, span) => {
                set_not_free(&mut self.free, event.availability_id, span.map(|(start, _)| start));
            }
        }
        Applied::Current
    }
}

#[cfg(test)]
mod tests {
    use chrono::{NaiveDate, NaiveTime, TimeDelta, TimeZone, Utc};

    use super::*;
    use crate::domain::AvailabilitySlotChangedEvent;

    fn event(version: i64, slot: u128, status: SlotStatus, hour: u32) -> Arc<PublishedEvent> {
        let date = NaiveDate::from_ymd_opt(2030, 3, 4).unwrap();
        let start = Utc.from_utc_datetime(&date.and_hms_opt(hour, 0, 0).unwrap());
        PublishedEvent::new(
            version,
            &AvailabilitySlotChangedEvent {
                availability_id: Uuid::from_u128(slot),
                provider_id: Uuid::nil(),
                date,
                start_time: NaiveTime::from_hms_opt(hour, 0, 0).unwrap(),
                end_time: NaiveTime::from_hms_opt(hour, 30, 0).unwrap(),
                previous_status: None,
                new_status: status,
                booking_id: None,
                changed_at: Utc::now(),
                changed_by: None,
                span: Some((start, start + TimeDelta::minutes(30))),
            },
        )
    }

    #[test]
    fn events_move_slots_in_and_out_of_the_free_list_in_version_order() {
        let mut provider = IndexedProvider {
            id: Uuid::nil(),
            name: "p".into(),
            address: None,
            timezone: chrono_tz::UTC,
            version: 0,
            services: Vec::new(),
            free: Vec::new(),
        };
        assert!(matches!(provider.apply(&event(1, 1, SlotStatus::Available, 9)), Applied::Current));
        assert!(matches!(provider.apply(&event(2, 2, SlotStatus::Available, 10)), Applied::Current));
        assert_eq!(provider.free.len(), 2);
        assert!(matches!(provider.apply(&event(3, 1, SlotStatus::Held, 9)), Applied::Current));
        assert_eq!(provider.free.iter().map(|s| s.id.as_u128()).collect::<Vec<_>>(), [2]);
        assert!(matches!(provider.apply(&event(2, 1, SlotStatus::Available, 9)), Applied::Current), "old: ignored");
        assert_eq!(provider.free.len(), 1);
        assert!(matches!(provider.apply(&event(5, 2, SlotStatus::Booked, 10)), Applied::Gap), "4 is missing");
        assert_eq!((provider.version, provider.free.len()), (3, 1), "nothing applied past a gap");
        assert!(matches!(provider.apply(&event(4, 2, SlotStatus::Removed, 10)), Applied::Current));
        assert!(provider.free.is_empty());
    }
}
