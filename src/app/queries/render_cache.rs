//! The render cache: rendered availability documents by query, bounded by
//! their size in bytes (the least recently used beyond the budget go
//! first), for the 200 path of the single and the many-providers GETs.
//!
//! Invariants: an entry is served as current only when its version is the
//! one the bus trusts as newest committed (`App::current_document` checks);
//! otherwise it is only the last known document, answered while the
//! database is unreachable. The budget is `--render-cache-bytes`, counted
//! as each body's length plus a fixed overhead per entry, so that RSS
//! follows the budget. Each document let go to stay within it counts in
//! `slotstream_render_cache_evictions_total`.

use std::sync::Arc;

use super::availability_document::{AvailabilityDocument, CacheKey};

/// Bytes a cached document is counted for beyond its body (key, validators,
/// the cache's own bookkeeping).
const CACHE_ENTRY_OVERHEAD: u64 = 256;

/// Rendered documents by query, bounded by their size in bytes (least
/// recently used beyond the budget go first).
#[derive(Clone)]
pub(in crate::app) struct RenderCache(
    Arc<
        quick_cache::sync::Cache<
            CacheKey,
            Arc<AvailabilityDocument>,
            DocumentWeight,
            quick_cache::DefaultHashBuilder,
            CountEvictions,
        >,
    >,
);

#[derive(Clone)]
struct DocumentWeight;

impl quick_cache::Weighter<CacheKey, Arc<AvailabilityDocument>> for DocumentWeight {
    fn weight(&self, _: &CacheKey, document: &Arc<AvailabilityDocument>) -> u64 {
        document.body.len() as u64 + CACHE_ENTRY_OVERHEAD
    }
}

/// quick_cache's default lifecycle (evicted documents are dropped after the
/// shard's lock is released), counting each eviction: the least recently
/// used pushed out by a newer document, or a document too big for its
/// shard's share of the budget refused.
#[derive(Clone)]
struct CountEvictions;

/// The documents one cache operation evicted, dropped (and counted) after
/// the shard's lock is released.
#[derive(Default)]
struct Evicted(Vec<Arc<AvailabilityDocument>>);

impl Drop for Evicted {
    fn drop(&mut self) {
        if !self.0.is_empty() {
            metrics::counter!("slotstream_render_cache_evictions_total").increment(self.0.len() as u64);
        }
    }
}

impl quick_cache::Lifecycle<CacheKey, Arc<AvailabilityDocument>> for CountEvictions {
    type RequestState = Evicted;

    fn on_evict(&self, evicted: &mut Evicted, _: CacheKey, document: Arc<AvailabilityDocument>) {
        evicted.0.push(document);
    }
}

impl RenderCache {
    pub(in crate::app) fn new(max_bytes: u64) -> RenderCache {
        // The item estimate only sizes the initial tables.
        let estimated_items = (max_bytes / 16_384).clamp(16, 65_536) as usize;
        let options = quick_cache::OptionsBuilder::new()
            .estimated_items_capacity(estimated_items)
            .weight_capacity(max_bytes)
            .shards(shard_count(max_bytes))
            .build()
            .expect("both capacities set");
        RenderCache(Arc::new(quick_cache::sync::Cache::with_options(
            options,
            DocumentWeight,
            quick_cache::DefaultHashBuilder::default(),
            CountEvictions,
        )))
    }

    /// The document cached for `key`, if any (of whatever version).
    pub(super) fn get(&self, key: &CacheKey) -> Option<Arc<AvailabilityDocument>> {
        self.0.get(key)
    }

    /// Cache `document` for `key`, replacing what was there.
    pub(super) fn insert(&self, key: CacheKey, document: Arc<AvailabilityDocument>) {
        self.0.insert(key, document);
    }

    /// Bytes held now (reported as a metric).
    pub(super) fn weight(&self) -> u64 {
        self.0.weight()
    }
}

/// Each shard of the cache holds its share of the budget, and a document
/// bigger than its share is never cached: shards of at least
/// `SHARD_BYTES_MIN`, so that the largest documents (31 days of 5-minute
/// slots, ~1.8 MB) fit several to a shard; at most quick_cache's own
/// default (4 per core) against lock contention.
fn shard_count(max_bytes: u64) -> usize {
    const SHARD_BYTES_MIN: u64 = 8 * 1024 * 1024;
    let most = std::thread::available_parallelism().map_or(1, |n| n.get()) * 4;
    usize::try_from(max_bytes / SHARD_BYTES_MIN).unwrap_or(usize::MAX).clamp(1, most)
}
