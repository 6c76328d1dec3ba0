//! Gauges this instance renders on `/metrics` itself rather than through
//! the process-wide recorder: the active holds (over every instance, kept
//! from this instance's own changes and recounted from the database every
//! few seconds, so that a scrape never queries the database) and each
//! webhook subscription's lag (a series that must go when its subscription
//! is deleted, which the recorder cannot do).
//!
//! Per `App`, not per process: tests run several servers in one process,
//! each on its own database.

use std::collections::{BTreeMap, HashSet};
use std::fmt::Write;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, Ordering};

use uuid::Uuid;

#[derive(Debug, Default)]
pub struct InstanceGauges {
    /// Active holds: the last recount plus this instance's changes since.
    holds_active: AtomicI64,
    /// Versions each subscription's sender is behind (`slotstream_webhook_lag_events`).
    webhook_lag: Mutex<BTreeMap<Uuid, u64>>,
    /// Subscriptions deleted through this instance: a sender still finishing
    /// a round for one must not bring its series back (ids are never reused).
    webhooks_deleted: Mutex<HashSet<Uuid>>,
}

impl InstanceGauges {
    /// A hold was created (`+1`) or ended (`-1`) here, and has committed.
    pub fn holds_changed(&self, delta: i64) {
        self.holds_active.fetch_add(delta, Ordering::Relaxed);
    }

    /// The database's count of active holds (every instance's). A change
    /// that commits between the count and this store is lost until the
    /// next recount, a few seconds later.
    pub fn holds_counted(&self, active: u64) {
        self.holds_active.store(i64::try_from(active).unwrap_or(i64::MAX), Ordering::Relaxed);
    }

    pub fn holds_active(&self) -> u64 {
        self.holds_active.load(Ordering::Relaxed).max(0) as u64
    }

    /// Subscription `id`'s sender is `lag` versions behind its provider.
    pub fn webhook_lag(&self, id: Uuid, lag: u64) {
        let deleted = self.webhooks_deleted.lock().unwrap_or_else(|e| e.into_inner());
        if !deleted.contains(&id) {
            self.lags().insert(id, lag);
        }
    }

    /// Subscription `id` was deleted: its series goes, for good.
    pub fn webhook_deleted(&self, id: Uuid) {
        let mut deleted = self.webhooks_deleted.lock().unwrap_or_else(|e| e.into_inner());
        deleted.insert(id);
        self.lags().remove(&id);
    }

    /// Subscriptions this instance shows a lag for.
    pub fn webhooks_shown(&self) -> Vec<Uuid> {
        self.lags().keys().copied().collect()
    }

    /// Keep only the series of subscriptions in `existing` (those deleted
    /// through another instance go).
    pub fn webhooks_exist(&self, existing: &HashSet<Uuid>) {
        self.lags().retain(|id, _| existing.contains(id));
    }

    /// The Prometheus text of these gauges, appended to `out`.
    pub fn render(&self, out: &mut String) {
        // Writing to a String cannot fail.
        let _ = writeln!(out, "# TYPE slotstream_holds_active gauge\nslotstream_holds_active {}", self.holds_active());
        let lags = self.lags();
        if !lags.is_empty() {
            out.push_str("# TYPE slotstream_webhook_lag_events gauge\n");
            for (id, lag) in lags.iter() {
                let _ = writeln!(out, "slotstream_webhook_lag_events{{subscription=\"{id}\"}} {lag}");
            }
        }
    }

    fn lags(&self) -> std::sync::MutexGuard<'_, BTreeMap<Uuid, u64>> {
        self.webhook_lag.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_deleted_subscriptions_series_is_gone_and_holds_never_read_negative() {
        let gauges = InstanceGauges::default();
        let (kept, deleted, elsewhere) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
        gauges.webhook_lag(kept, 3);
        gauges.webhook_lag(deleted, 1);
        gauges.webhook_lag(elsewhere, 2);
        gauges.webhook_deleted(deleted);
        // A sender finishing its round for the deleted one does not bring it back.
        gauges.webhook_lag(deleted, 0);
        gauges.webhooks_exist(&HashSet::from([kept]));
        gauges.holds_changed(-1);
        let mut text = String::new();
        gauges.render(&mut text);
        assert!(text.contains(&format!("slotstream_webhook_lag_events{{subscription=\"{kept}\"}} 3\n")), "{text}");
        assert!(!text.contains(&deleted.to_string()) && !text.contains(&elsewhere.to_string()), "{text}");
        assert!(text.contains("slotstream_holds_active 0\n"), "{text}");
        gauges.holds_counted(4);
        gauges.holds_changed(1);
        assert_eq!(gauges.holds_active(), 5);
    }
}
