//! Hold expiry: the sweep that ends every active hold whose time is up,
//! the recount of active holds behind the gauge, and the pruning of ended
//! holds.
//!
//! Safe to run on every instance at once: each due hold is ended through
//! `App::end_hold`, which re-reads it under the provider lock and acts only
//! if it is still active and due by the database's clock, so a hold is
//! expired once, and a hold converted into a booking meanwhile never. A hold
//! whose expiry fails is left out of the sweeps for a back-off
//! ([`ExpiryRetries`]), so it neither blocks the holds due after it nor is
//! retried in a tight loop.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use entity::slot_hold::{self, Status};
use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect};
use uuid::Uuid;

use crate::app::backoff::backoff;
use crate::app::{App, AppError};

/// What one expiry sweep did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Sweep {
    /// Due holds looked at (a full batch means more may be waiting).
    pub due: usize,
    /// Holds this sweep expired.
    pub expired: usize,
    /// Holds whose expiry failed (tried again after a back-off).
    pub failed: usize,
}

/// First and longest wait before a hold whose expiry failed is tried again.
const EXPIRY_RETRY_BASE: Duration = Duration::from_secs(1);
const EXPIRY_RETRY_MAX: Duration = Duration::from_secs(300);

/// Holds whose expiry failed, each left out of the sweeps until its back-off
/// has passed, so that a hold that cannot be expired (a constraint, a trigger,
/// a row the database refuses to change) neither blocks the holds due after
/// it nor is retried in a tight loop. Kept by the sweeping task, per instance.
#[derive(Debug, Default)]
pub struct ExpiryRetries {
    /// Per hold: failures in a row, and when it may be tried again.
    failing: HashMap<Uuid, (i32, Instant)>,
}

impl ExpiryRetries {
    /// Holds still backing off at `now`.
    fn waiting(&self, now: Instant) -> Vec<Uuid> {
        self.failing.iter().filter(|(_, (_, retry_at))| *retry_at > now).map(|(id, _)| *id).collect()
    }

    /// Record a failure of `hold_id` at `now` (`unit` in [0, 1) picks the
    /// jitter); returns its failures in a row.
    fn failed(&mut self, hold_id: Uuid, now: Instant, unit: f64) -> i32 {
        let (attempts, retry_at) = self.failing.entry(hold_id).or_insert((0, now));
        *attempts = attempts.saturating_add(1);
        *retry_at = now + backoff(EXPIRY_RETRY_BASE, EXPIRY_RETRY_MAX, *attempts, unit);
        *attempts
    }

    /// `hold_id` was expired, or found ended by someone else: forget it.
    fn succeeded(&mut self, hold_id: Uuid) {
        self.failing.remove(&hold_id);
    }
}

impl App {
    /// Expire every active hold whose time is up (at most `batch` of them,
    /// leaving out those `retries` holds back): its slots go back to
    /// `available` with their events. Safe to run on every instance at once.
    /// Each hold is expired on its own: one that fails is logged, counted
    /// (`slotstream_hold_expiry_failures_total`) and tried again after a
    /// back-off, and the others go on. An error is returned only when the
    /// due holds cannot be listed at all.
    pub async fn expire_due_holds(&self, batch: u64, retries: &mut ExpiryRetries) -> Result<Sweep, AppError> {
        let waiting = retries.waiting(Instant::now());
        let now = self.clock.shared_now(&self.db).await?;
        let due: Vec<(Uuid, Uuid)> = slot_hold::Entity::find()
            .select_only()
            .column(slot_hold::Column::Id)
            .column(slot_hold::Column::ProviderId)
            .filter(slot_hold::Column::Status.eq(Status::Active))
            .filter(slot_hold::Column::ExpiresAt.lte(now))
            .filter(slot_hold::Column::Id.is_not_in(waiting))
            .order_by_asc(slot_hold::Column::ExpiresAt)
            .limit(batch)
            .into_tuple()
            .all(&self.db)
            .await?;
        let mut sweep = Sweep { due: due.len(), ..Sweep::default() };
        for (hold_id, provider_id) in due {
            let still_due = |row: &slot_hold::Model, now: DateTime<Utc>| row.expires_at <= now;
            match self.end_hold(provider_id, hold_id, Status::Expired, None, still_due).await {
                Ok(ended) => {
                    retries.succeeded(hold_id);
                    sweep.expired += usize::from(ended);
                }
                Err(error) => {
                    let attempts = retries.failed(hold_id, Instant::now(), rand::random());
                    tracing::warn!(%error, hold = %hold_id, attempts, "hold expiry failed; retried later");
                    metrics::counter!("slotstream_hold_expiry_failures_total").increment(1);
                    sweep.failed += 1;
                }
            }
        }
        Ok(sweep)
    }

    /// Count the active holds of every instance into the
    /// `slotstream_holds_active` gauge (between counts, it follows this
    /// instance's own changes).
    pub async fn recount_active_holds(&self) -> Result<(), AppError> {
        let active =
            slot_hold::Entity::find().filter(slot_hold::Column::Status.eq(Status::Active)).count(&self.db).await?;
        self.gauges.holds_counted(active);
        Ok(())
    }
}

/// Delete holds that ended (released, expired, converted) and were created
/// before `before`: nothing refers to them once they end (their slots no
/// longer carry their id), and a table of every hold ever taken would only grow.
pub(in crate::app) async fn prune_ended(db: &impl ConnectionTrait, before: DateTime<Utc>) -> Result<u64, DbErr> {
    let pruned = slot_hold::Entity::delete_many()
        .filter(slot_hold::Column::Status.ne(Status::Active))
        .filter(slot_hold::Column::CreatedAt.lt(before))
        .exec(db)
        .await?;
    Ok(pruned.rows_affected)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_expiry_waits_longer_after_each_failure_and_is_forgotten_once_it_succeeds() {
        let (mut retries, hold, other) = (ExpiryRetries::default(), Uuid::new_v4(), Uuid::new_v4());
        let start = Instant::now();
        assert!(retries.waiting(start).is_empty());
        assert_eq!(retries.failed(hold, start, 0.0), 1);
        assert_eq!(retries.waiting(start), [hold]);
        // Jitter 0 halves the delay: 0.5 s after the first failure, 1 s after the second.
        assert!(retries.waiting(start + Duration::from_millis(500)).is_empty());
        assert_eq!(retries.failed(hold, start + Duration::from_secs(1), 0.0), 2);
        assert_eq!(retries.waiting(start + Duration::from_millis(1900)), [hold]);
        assert!(retries.waiting(start + Duration::from_secs(2)).is_empty());
        // Another hold's failure is its own.
        assert_eq!(retries.failed(other, start, 0.0), 1);
        retries.succeeded(hold);
        assert_eq!(retries.waiting(start), [other]);
        assert_eq!(retries.failed(hold, start, 0.0), 1, "a success starts the count again");
    }

    #[test]
    fn a_hold_that_always_fails_is_retried_at_most_every_five_minutes() {
        let (mut retries, hold) = (ExpiryRetries::default(), Uuid::new_v4());
        let start = Instant::now();
        for _ in 0..100 {
            retries.failed(hold, start, 0.999);
        }
        assert_eq!(retries.waiting(start + Duration::from_secs(299)), [hold]);
        assert!(retries.waiting(start + Duration::from_secs(300)).is_empty());
    }
}
