//! Slot holds: a customer filling in the booking form holds the slots of one
//! service at one start time for a short while (DESIGN 4b). Create (all the
//! slots or none, at most `HoldPolicy::per_client` active holds per client),
//! renew (never past the hold's maximum lifetime), release, the booking that
//! converts a hold (`bookings`), and expiry.
//!
//! Every change goes through a `UnitOfWork` on the hold's provider, so its
//! slot events reach the log, the version and every stream like a booking's.
//! Expiry re-reads the hold under the provider lock (a row lock on
//! PostgreSQL, the single writer on SQLite) and acts only if it is still
//! active and due: however many instances sweep, a hold is released once,
//! and a hold converted into a booking is never expired. Every instant a
//! hold's life is measured by (creation, expiry, "is it due?") is the
//! database's (`Clock::shared_now`), so an instance whose own clock is
//! ahead never expires a hold early.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeDelta, Utc};
use entity::slot_hold;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection, DbBackend, DbErr,
    EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, Statement,
};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::backoff::backoff;
use super::calendar::{Calendar, ServiceSpan};
use super::{App, AppError, Credential, InstanceGauges, UnitOfWork, secrets};
use crate::domain::Actor;

/// How long holds last and how many one client may have.
#[derive(Clone, Copy, Debug)]
pub struct HoldPolicy {
    /// A new hold's lifetime, and what a renewal extends it to (from now).
    pub ttl: Duration,
    /// No renewal moves a hold's expiry past this long after its creation.
    pub max_lifetime: Duration,
    /// Active holds one client scope may have at once.
    pub per_client: u64,
}

impl Default for HoldPolicy {
    fn default() -> HoldPolicy {
        HoldPolicy { ttl: Duration::from_secs(300), max_lifetime: Duration::from_secs(900), per_client: 2 }
    }
}

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

/// A hold's life: `active` until released, expired or converted into a booking.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum HoldStatus {
    Active,
    Released,
    Expired,
    Converted,
}

impl HoldStatus {
    pub(super) fn as_str(self) -> &'static str {
        match self {
            HoldStatus::Active => "active",
            HoldStatus::Released => "released",
            HoldStatus::Expired => "expired",
            HoldStatus::Converted => "converted",
        }
    }

    /// Count a committed change into hold status `self` (and the active holds).
    fn count(self, gauges: &InstanceGauges) {
        metrics::counter!("slotstream_holds_total", "outcome" => self.outcome()).increment(1);
        gauges.holds_changed(if self == HoldStatus::Active { 1 } else { -1 });
    }

    fn outcome(self) -> &'static str {
        match self {
            HoldStatus::Active => "created",
            other => other.as_str(),
        }
    }
}

/// `POST /api/v1/holds`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewHold {
    pub provider_id: Uuid,
    pub service_id: Uuid,
    /// RFC 3339 instant, any offset (a slot's `startsAt`).
    #[schema(value_type = String, format = DateTime)]
    pub start_time: DateTime<chrono::FixedOffset>,
}

/// A hold as its holder sees it. `token` is only in the answer that created it.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct HoldView {
    pub id: Uuid,
    pub provider_id: Uuid,
    pub service_id: Uuid,
    pub start_time: DateTime<Utc>,
    pub end_time: DateTime<Utc>,
    /// When the slots go back to `available` unless the hold is renewed or booked.
    pub expires_at: DateTime<Utc>,
    /// The hold's secret (`Authorization: Bearer` for renew, release and the
    /// booking), shown only in the answer that created it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
}

fn view(row: &slot_hold::Model, token: Option<String>) -> HoldView {
    HoldView {
        id: row.id,
        provider_id: row.provider_id,
        service_id: row.service_id,
        start_time: row.starts_at,
        end_time: row.ends_at,
        expires_at: row.expires_at,
        token,
    }
}

fn after(now: DateTime<Utc>, duration: Duration) -> DateTime<Utc> {
    now + TimeDelta::from_std(duration).unwrap_or(TimeDelta::MAX)
}

impl App {
    /// Hold every slot `request`'s service needs at its start, all or none,
    /// for the client `client_scope` (the rate limiter's client identity).
    #[tracing::instrument(skip(self, request, client_scope), fields(provider = %request.provider_id))]
    pub async fn create_hold(&self, request: NewHold, client_scope: &str) -> Result<HoldView, AppError> {
        let span = self.service_span(request.provider_id, request.service_id, request.start_time).await?;
        let scope = secrets::hash(client_scope);
        let mut uow = UnitOfWork::begin(self, request.provider_id).await?;
        uow.require_active()?;
        let now = self.clock.shared_now(&uow.tx).await?;
        // Counted in the transaction, and the count and the insert are one
        // step per client: on SQLite the single writer sees to it; on
        // PostgreSQL the provider lock does not (one client may hold at
        // several providers at once), so a lock on the client's scope does.
        if uow.tx.get_database_backend() == DbBackend::Postgres {
            uow.tx
                .execute_raw(Statement::from_sql_and_values(
                    DbBackend::Postgres,
                    "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))",
                    [scope.clone().into()],
                ))
                .await?;
        }
        let active = slot_hold::Entity::find()
            .filter(slot_hold::Column::ClientScope.eq(scope.as_str()))
            .filter(slot_hold::Column::Status.eq(HoldStatus::Active.as_str()))
            .filter(slot_hold::Column::ExpiresAt.gt(now))
            .count(&uow.tx)
            .await?;
        if active >= self.holds.per_client {
            return Err(AppError::TooManyHolds(format!(
                "this client already holds {active} slot(s), the most allowed at once; release one or book it"
            )));
        }
        let hold_id = Uuid::new_v4();
        let mut calendar = Calendar::new();
        for index in calendar.covering(&uow, &span).await? {
            let event = calendar.slot_mut(index).hold(hold_id, Actor::Customer, now)?;
            uow.record(event);
        }
        calendar.save(&uow).await?;
        let token = secrets::generate("hd_");
        let row = slot_hold::ActiveModel {
            id: Set(hold_id),
            provider_id: Set(request.provider_id),
            service_id: Set(request.service_id),
            starts_at: Set(span.starts_at),
            ends_at: Set(span.ends_at),
            token_hash: Set(secrets::hash(&token)),
            client_scope: Set(scope),
            status: Set(HoldStatus::Active.as_str().to_owned()),
            created_at: Set(now),
            expires_at: Set(after(now, self.holds.ttl)),
            max_expires_at: Set(after(now, self.holds.max_lifetime.max(self.holds.ttl))),
        }
        .insert(&uow.tx)
        .await?;
        uow.commit(self).await?;
        HoldStatus::Active.count(&self.gauges);
        Ok(view(&row, Some(token)))
    }

    /// Extend an active hold to `now + ttl`, capped at its maximum lifetime.
    /// A hold that has ended, or cannot be extended any further, is a 409.
    #[tracing::instrument(skip(self, credential))]
    pub async fn renew_hold(&self, hold_id: Uuid, credential: &Credential) -> Result<HoldView, AppError> {
        let (row, _) = self.authorize_hold(hold_id, credential).await?;
        // Under the provider lock, so a renewal and the expiry sweep never
        // both act on what they read.
        let uow = UnitOfWork::begin(self, row.provider_id).await?;
        let row = reload(&uow, hold_id).await?;
        let now = self.clock.shared_now(&uow.tx).await?;
        require_live(&row, now)?;
        let expires_at = after(now, self.holds.ttl).min(row.max_expires_at);
        if expires_at <= row.expires_at {
            return Err(AppError::Conflict(format!(
                "hold {hold_id} has reached its maximum lifetime (until {}); book it or let it go",
                row.max_expires_at.to_rfc3339()
            )));
        }
        let mut active: slot_hold::ActiveModel = row.into();
        active.expires_at = Set(expires_at);
        let row = active.update(&uow.tx).await?;
        uow.commit(self).await?;
        Ok(view(&row, None))
    }

    /// Release a hold: its slots go back to `available`. Releasing a hold
    /// that has already ended changes nothing.
    #[tracing::instrument(skip(self, credential))]
    pub async fn release_hold(&self, hold_id: Uuid, credential: &Credential) -> Result<(), AppError> {
        let (row, _) = self.authorize_hold(hold_id, credential).await?;
        self.end_hold(row.provider_id, hold_id, HoldStatus::Released, |_, _| true).await?;
        Ok(())
    }

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
            .filter(slot_hold::Column::Status.eq(HoldStatus::Active.as_str()))
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
            match self.end_hold(provider_id, hold_id, HoldStatus::Expired, still_due).await {
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
        let active = slot_hold::Entity::find()
            .filter(slot_hold::Column::Status.eq(HoldStatus::Active.as_str()))
            .count(&self.db)
            .await?;
        self.gauges.holds_counted(active);
        Ok(())
    }

    /// End hold `hold_id` as `outcome`, freeing its slots, if under the
    /// provider lock it is still active and `applies` to it at the
    /// database's time. Returns whether it did.
    async fn end_hold(
        &self,
        provider_id: Uuid,
        hold_id: Uuid,
        outcome: HoldStatus,
        applies: impl Fn(&slot_hold::Model, DateTime<Utc>) -> bool,
    ) -> Result<bool, AppError> {
        let mut uow = UnitOfWork::begin(self, provider_id).await?;
        let row = reload(&uow, hold_id).await?;
        let now = self.clock.shared_now(&uow.tx).await?;
        if row.status != HoldStatus::Active.as_str() || !applies(&row, now) {
            // Ended by someone else meanwhile: commit nothing, at once.
            uow.commit(self).await?;
            return Ok(false);
        }
        let mut calendar = Calendar::new();
        calendar.load_hold(&uow, hold_id).await?;
        let by = if outcome == HoldStatus::Expired { Actor::System } else { Actor::Customer };
        for index in calendar.under_hold(hold_id) {
            let event = calendar.slot_mut(index).release_hold(hold_id, by, now)?;
            uow.record(event);
        }
        calendar.save(&uow).await?;
        set_status(&uow, row, outcome).await?;
        uow.commit(self).await?;
        outcome.count(&self.gauges);
        Ok(true)
    }

    /// Inside a booking's unit of work: move the slots `hold` holds from
    /// `held` to `booked` for `booking_id` (in `calendar`, saved by the
    /// caller). The hold must still be active and unexpired, be for the
    /// booking's service and start, and its slots must cover exactly the
    /// `span` the service needs now (a service lengthened or shortened since
    /// is a 409 `hold-no-longer-fits`, and nothing changes); `convert_hold`
    /// then ends it.
    pub(super) async fn book_held_slots(
        &self,
        uow: &mut UnitOfWork,
        calendar: &mut Calendar,
        hold_id: Uuid,
        span: &ServiceSpan,
        booking_id: Uuid,
        now: DateTime<Utc>,
    ) -> Result<slot_hold::Model, AppError> {
        let row = reload(uow, hold_id).await?;
        // Whether the hold is still live is the database's time to say:
        // the sweep of every instance compares its expiry with that clock.
        require_live(&row, self.clock.shared_now(&uow.tx).await?)?;
        calendar.load_hold(uow, hold_id).await?;
        let held = calendar.under_hold(hold_id);
        if !calendar.exactly_covers(&held, span) {
            return Err(AppError::HoldNoLongerFits(format!(
                "hold {hold_id} holds {} to {}, but the service now needs {} minutes from {}; release it and hold again",
                row.starts_at.to_rfc3339(),
                row.ends_at.to_rfc3339(),
                span.duration.num_minutes(),
                span.starts_at.to_rfc3339()
            )));
        }
        for index in held {
            let event = calendar.slot_mut(index).book_held(hold_id, booking_id, Actor::Customer, now)?;
            uow.record(event);
        }
        Ok(row)
    }
}

/// Mark `row` converted into a booking (in the booking's unit of work).
pub(super) async fn convert_hold(uow: &UnitOfWork, row: slot_hold::Model) -> Result<(), AppError> {
    set_status(uow, row, HoldStatus::Converted).await
}

/// Count a conversion, once its booking has committed.
pub(super) fn count_converted(app: &App) {
    HoldStatus::Converted.count(&app.gauges);
}

async fn set_status(uow: &UnitOfWork, row: slot_hold::Model, status: HoldStatus) -> Result<(), AppError> {
    let mut active: slot_hold::ActiveModel = row.into();
    active.status = Set(status.as_str().to_owned());
    active.update(&uow.tx).await?;
    Ok(())
}

/// An active hold whose time is not up, or a 409 saying which it is not.
fn require_live(row: &slot_hold::Model, now: DateTime<Utc>) -> Result<(), AppError> {
    if row.status != HoldStatus::Active.as_str() {
        return Err(AppError::Conflict(format!("hold {} has ended ({})", row.id, row.status)));
    }
    if row.expires_at <= now {
        return Err(AppError::Conflict(format!("hold {} has expired; take a new one", row.id)));
    }
    Ok(())
}

async fn reload(uow: &UnitOfWork, hold_id: Uuid) -> Result<slot_hold::Model, AppError> {
    slot_hold::Entity::find_by_id(hold_id)
        .one(&uow.tx)
        .await?
        .ok_or_else(|| AppError::NotFound(format!("hold {hold_id} does not exist")))
}

/// Delete holds that ended (released, expired, converted) and were created
/// before `before`: nothing refers to them once they end (their slots no
/// longer carry their id), and a table of every hold ever taken would only grow.
pub(super) async fn prune_ended(db: &DatabaseConnection, before: DateTime<Utc>) -> Result<u64, DbErr> {
    let pruned = slot_hold::Entity::delete_many()
        .filter(slot_hold::Column::Status.ne(HoldStatus::Active.as_str()))
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
