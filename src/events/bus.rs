//! The in-process bus: one `tokio::sync::broadcast` channel per watched
//! provider, plus the latest version published of every provider (which the
//! 304 path reads instead of the database).
//!
//! The bus publishes each provider's events strictly in version order: an
//! event beyond a gap (a later commit announced before an earlier one) is not
//! sent; the bus records that a newer version exists, answers "ask the
//! database" for that provider's version until the gap is filled, and wakes
//! the reconciler (`events::reconcile`), which fills it from the log.
//!
//! A broadcast channel never blocks the publisher and holds a bounded ring of
//! events: a subscriber that falls more than `capacity` events behind gets
//! `Lagged` and catches up from the event log (see `subscription`), so a stalled
//! reader costs neither the publisher nor the other subscribers anything.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

use dashmap::DashMap;
use tokio::sync::{Notify, broadcast};
use uuid::Uuid;

use super::PublishedEvent;
use super::catch_up::CatchUp;

/// Cheap-clone handle to the bus.
#[derive(Clone)]
pub struct Bus {
    shared: Arc<Shared>,
}

struct Shared {
    providers: DashMap<Uuid, ProviderState>,
    capacity: usize,
    subscribers: AtomicUsize,
    /// False while the versions may be behind the database (PostgreSQL
    /// listener down or catching up); readers then ask the database.
    versions_trusted: AtomicBool,
    /// Woken when a provider falls behind a version it knows exists.
    behind: Notify,
    /// Log pages shared by subscribers that catch up from the same point.
    catch_up: CatchUp,
    /// Told of every provider's progress (see [`Tapped`]); set once.
    tap: OnceLock<Tap>,
}

/// What the bus tells its tap, for every provider whether watched or not,
/// in version order per provider (it is called under the provider's entry).
#[derive(Debug)]
pub enum Tapped {
    /// This event was published.
    Event(Arc<PublishedEvent>),
    /// The provider's version moved to `version` without its events being
    /// published here (another instance's change nobody here watches, a
    /// catalogue change, pruned history): whoever keeps a copy reads again.
    Version { provider_id: Uuid, version: i64 },
}

/// The bus's one observer of every provider (the search index's queue):
/// it must not block, as it runs inside `publish`.
pub type Tap = Arc<dyn Fn(Tapped) + Send + Sync>;

#[derive(Default)]
struct ProviderState {
    /// The newest version published (every event up to it was sent in order).
    version: i64,
    /// The newest version known to be committed; above `version` while a gap
    /// waits to be filled from the log.
    known: i64,
    sender: Option<broadcast::Sender<Arc<PublishedEvent>>>,
    /// The provider was deactivated: its channel is closed and no new one opens.
    ended: bool,
}

/// A live subscription to one provider. Dropping it (the client went away)
/// frees the provider's channel once nobody listens.
pub struct SubscriberGuard {
    /// `Some` until drop (which must release it before looking at the
    /// channel's receiver count), unless the provider had ended.
    receiver: Option<broadcast::Receiver<Arc<PublishedEvent>>>,
    bus: Bus,
    provider_id: Uuid,
}

impl SubscriberGuard {
    pub async fn recv(&mut self) -> Result<Arc<PublishedEvent>, broadcast::error::RecvError> {
        match self.receiver.as_mut() {
            Some(receiver) => receiver.recv().await,
            None => Err(broadcast::error::RecvError::Closed),
        }
    }
}

impl Drop for SubscriberGuard {
    fn drop(&mut self) {
        drop(self.receiver.take());
        self.bus.shared.subscribers.fetch_sub(1, Ordering::Relaxed);
        self.bus.shared.providers.remove_if_mut(&self.provider_id, |_, state| {
            // Keep the entry for its version; drop the channel nobody reads.
            if state.sender.as_ref().is_some_and(|s| s.receiver_count() == 0) {
                state.sender = None;
            }
            false
        });
    }
}

impl Bus {
    pub fn new(capacity: usize, versions_trusted: bool) -> Bus {
        Bus {
            shared: Arc::new(Shared {
                providers: DashMap::new(),
                capacity: capacity.max(1),
                subscribers: AtomicUsize::new(0),
                versions_trusted: AtomicBool::new(versions_trusted),
                behind: Notify::new(),
                catch_up: CatchUp::default(),
                tap: OnceLock::new(),
            }),
        }
    }

    /// Fan out committed events, in version order. Events at or below the
    /// version already published are dropped (on PostgreSQL they arrive twice:
    /// from the committing request and from the relay); an event beyond a gap
    /// is held back for the reconciler, which publishes the gap and it from
    /// the log, in order.
    pub fn publish(&self, events: &[Arc<PublishedEvent>]) {
        let mut fell_behind = false;
        for event in events {
            let mut state = self.shared.providers.entry(event.provider_id).or_default();
            state.known = state.known.max(event.version);
            if event.version <= state.version {
                continue;
            }
            if event.version != state.version + 1 {
                fell_behind = true;
                // Its copy-keepers must not answer as if it were not
                // committed (the search index reads the provider again).
                if let Some(tap) = self.shared.tap.get() {
                    tap(Tapped::Version { provider_id: event.provider_id, version: event.version });
                }
                continue;
            }
            state.version = event.version;
            if let Some(tap) = self.shared.tap.get() {
                tap(Tapped::Event(event.clone()));
            }
            if let Some(sender) = &state.sender {
                // An error only means nobody is listening right now.
                let _ = sender.send(event.clone());
            }
        }
        if fell_behind {
            self.shared.behind.notify_one();
        }
    }

    /// The bus is level with `version` without sending its events (start-up,
    /// pruned history, or nobody here watches the provider).
    pub fn observe_version(&self, provider_id: Uuid, version: i64) {
        let mut state = self.shared.providers.entry(provider_id).or_default();
        if version > state.version
            && let Some(tap) = self.shared.tap.get()
        {
            tap(Tapped::Version { provider_id, version });
        }
        state.version = state.version.max(version);
        state.known = state.known.max(state.version);
    }

    /// Set the observer of every provider's progress (once; later calls are ignored).
    pub fn set_tap(&self, tap: Tap) {
        let _ = self.shared.tap.set(tap);
    }

    /// `version` is committed (a notification from another instance); until
    /// it is published, readers of this provider's version ask the database.
    pub fn note_committed(&self, provider_id: Uuid, version: i64) {
        let mut state = self.shared.providers.entry(provider_id).or_default();
        if version > state.known {
            state.known = version;
        }
    }

    /// The newest version published for a provider, when the bus is trusted
    /// to be current for it; `None` means "ask the database" (PostgreSQL
    /// listener not caught up, or a known version not yet published).
    pub fn trusted_version(&self, provider_id: Uuid) -> Option<i64> {
        if !self.shared.versions_trusted.load(Ordering::Acquire) {
            return None;
        }
        let state = self.shared.providers.get(&provider_id)?;
        (state.known <= state.version).then_some(state.version)
    }

    /// The newest version published, trusted or not (the relay's watermark).
    pub fn published_version(&self, provider_id: Uuid) -> i64 {
        self.shared.providers.get(&provider_id).map_or(0, |s| s.version)
    }

    /// Providers with a known version not yet published.
    pub fn lagging_providers(&self) -> Vec<Uuid> {
        self.shared.providers.iter().filter(|s| s.known > s.version).map(|s| *s.key()).collect()
    }

    /// How many providers have a known version not yet published
    /// (`slotstream_relay_providers_behind`; counted without collecting them).
    pub fn providers_behind(&self) -> usize {
        self.shared.providers.iter().filter(|s| s.known > s.version).count()
    }

    /// Resolves when some provider falls behind (see `publish`).
    pub async fn fell_behind(&self) {
        self.shared.behind.notified().await;
    }

    pub fn set_versions_trusted(&self, trusted: bool) {
        self.shared.versions_trusted.store(trusted, Ordering::Release);
    }

    pub fn versions_trusted(&self) -> bool {
        self.shared.versions_trusted.load(Ordering::Acquire)
    }

    /// Subscribe to a provider's live events. Subscribe *before* reading the
    /// log, so nothing committed in between can be missed.
    pub fn subscribe(&self, provider_id: Uuid) -> SubscriberGuard {
        let mut state = self.shared.providers.entry(provider_id).or_default();
        let capacity = self.shared.capacity;
        // An ended provider's subscribers get no receiver: their first
        // `recv` says `Closed`, and the subscription ends with `Ended`.
        let receiver =
            (!state.ended).then(|| state.sender.get_or_insert_with(|| broadcast::channel(capacity).0).subscribe());
        drop(state);
        self.shared.subscribers.fetch_add(1, Ordering::Relaxed);
        SubscriberGuard { receiver, bus: self.clone(), provider_id }
    }

    /// The provider was deactivated: close its channel (subscribers receive
    /// what was published before, then `Closed`) and open none again.
    pub fn end_provider(&self, provider_id: Uuid) {
        let mut state = self.shared.providers.entry(provider_id).or_default();
        state.ended = true;
        state.sender = None;
    }

    /// The provider was reactivated: new subscribers get a channel again.
    pub fn reopen_provider(&self, provider_id: Uuid) {
        if let Some(mut state) = self.shared.providers.get_mut(&provider_id) {
            state.ended = false;
        }
    }

    /// Make the ended providers exactly `deactivated` (what the database
    /// says, at start-up or after the relay missed notifications): end the
    /// ones not yet ended, open again any that were reactivated meanwhile.
    pub fn set_ended_providers(&self, deactivated: &HashSet<Uuid>) {
        for &provider_id in deactivated {
            self.end_provider(provider_id);
        }
        for mut state in self.shared.providers.iter_mut() {
            if state.ended && !deactivated.contains(state.key()) {
                state.ended = false;
            }
        }
    }

    /// Was the provider ended (`end_provider`)?
    pub fn has_ended(&self, provider_id: Uuid) -> bool {
        self.shared.providers.get(&provider_id).is_some_and(|s| s.ended)
    }

    /// Does anyone on this instance watch `provider_id`?
    pub fn has_subscribers(&self, provider_id: Uuid) -> bool {
        self.shared
            .providers
            .get(&provider_id)
            .is_some_and(|s| s.sender.as_ref().is_some_and(|tx| tx.receiver_count() > 0))
    }

    /// The shared catch-up cache of this process's subscribers.
    pub(super) fn catch_up(&self) -> &CatchUp {
        &self.shared.catch_up
    }

    /// Live subscribers over all providers.
    pub fn subscriber_count(&self) -> usize {
        self.shared.subscribers.load(Ordering::Relaxed)
    }
}
