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
//! and a hold converted into a booking is never expired.

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use entity::slot_hold;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection, DbBackend, DbErr,
    EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, Statement,
};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::calendar::Calendar;
use super::{App, AppError, Credential, UnitOfWork, secrets};

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

    fn count(self) {
        metrics::counter!("slotstream_holds_total", "outcome" => self.outcome()).increment(1);
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
        let now = Utc::now();
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
            let event = calendar.slot_mut(index).hold(hold_id, Some("customer"), now)?;
            uow.record(event);
        }
        calendar.save(&uow).await?;
        let token = secrets::generate("hd_");
        let row = slot_hold::ActiveModel {
            id: Set(hold_id),
            provider_id: Set(request.provider_id),
            service_id: Set(request.service_id),
            starts_at: Set(span.starts_at),
            ends_at: Set(span.starts_at + span.duration),
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
        HoldStatus::Active.count();
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
        let now = Utc::now();
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
        self.end_hold(row.provider_id, hold_id, HoldStatus::Released, |_| true).await?;
        Ok(())
    }

    /// Expire every active hold whose time is up (at most `batch` of them):
    /// its slots go back to `available` with their events. Safe to run on
    /// every instance at once. Returns how many this call expired.
    pub async fn expire_due_holds(&self, batch: u64) -> Result<usize, AppError> {
        let due: Vec<(Uuid, Uuid)> = slot_hold::Entity::find()
            .select_only()
            .column(slot_hold::Column::Id)
            .column(slot_hold::Column::ProviderId)
            .filter(slot_hold::Column::Status.eq(HoldStatus::Active.as_str()))
            .filter(slot_hold::Column::ExpiresAt.lte(Utc::now()))
            .order_by_asc(slot_hold::Column::ExpiresAt)
            .limit(batch)
            .into_tuple()
            .all(&self.db)
            .await?;
        let mut expired = 0;
        for (hold_id, provider_id) in due {
            let still_due = |row: &slot_hold::Model| row.expires_at <= Utc::now();
            if self.end_hold(provider_id, hold_id, HoldStatus::Expired, still_due).await? {
                expired += 1;
            }
        }
        Ok(expired)
    }

    /// Active holds, over every instance (the `slotstream_holds_active` gauge).
    pub async fn active_holds(&self) -> Result<u64, AppError> {
        Ok(slot_hold::Entity::find()
            .filter(slot_hold::Column::Status.eq(HoldStatus::Active.as_str()))
            .count(&self.db)
            .await?)
    }

    /// End hold `hold_id` as `outcome`, freeing its slots, if under the
    /// provider lock it is still active and `applies` to it. Returns whether it did.
    async fn end_hold(
        &self,
        provider_id: Uuid,
        hold_id: Uuid,
        outcome: HoldStatus,
        applies: impl Fn(&slot_hold::Model) -> bool,
    ) -> Result<bool, AppError> {
        let mut uow = UnitOfWork::begin(self, provider_id).await?;
        let row = reload(&uow, hold_id).await?;
        if row.status != HoldStatus::Active.as_str() || !applies(&row) {
            // Ended by someone else meanwhile: commit nothing, at once.
            uow.commit(self).await?;
            return Ok(false);
        }
        let now = Utc::now();
        let mut calendar = Calendar::new();
        calendar.load_hold(&uow, hold_id).await?;
        let by = if outcome == HoldStatus::Expired { "expiry" } else { "customer" };
        for index in calendar.under_hold(hold_id) {
            let event = calendar.slot_mut(index).release_hold(hold_id, Some(by), now)?;
            uow.record(event);
        }
        calendar.save(&uow).await?;
        set_status(&uow, row, outcome).await?;
        uow.commit(self).await?;
        outcome.count();
        Ok(true)
    }

    /// Inside a booking's unit of work: move the slots `hold` holds from
    /// `held` to `booked` for `booking_id` (in `calendar`, saved by the
    /// caller). The hold must still be active and unexpired, and be for the
    /// booking's service and start; `convert_hold` then ends it.
    pub(super) async fn book_held_slots(
        &self,
        uow: &mut UnitOfWork,
        calendar: &mut Calendar,
        hold_id: Uuid,
        booking_id: Uuid,
        now: DateTime<Utc>,
    ) -> Result<slot_hold::Model, AppError> {
        let row = reload(uow, hold_id).await?;
        require_live(&row, now)?;
        calendar.load_hold(uow, hold_id).await?;
        for index in calendar.under_hold(hold_id) {
            let event = calendar.slot_mut(index).book_held(hold_id, booking_id, Some("customer"), now)?;
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
pub(super) fn count_converted() {
    HoldStatus::Converted.count();
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
