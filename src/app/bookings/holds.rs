//! Slot holds: a customer filling in the booking form holds the slots of one
//! service at one start time for a short while (DESIGN 4b). Create (all the
//! slots or none, at most `HoldPolicy::per_client` active holds per client),
//! renew (never past the hold's maximum lifetime), release, and ending a
//! hold (`end_hold`, which release and expiry share). The booking that
//! converts a hold is `hold_to_booking`; the expiry sweep is `hold_expiry`.
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

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use entity::slot_hold::{self, Status};
use entity::waitlist_entry;
use sea_orm::{ActiveEnum, ActiveModelTrait, ActiveValue::Set, ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::app::catalogue::withdraw_closed;
use crate::app::storage::slot_set::SlotSet;
use crate::app::upstream::refuse_if_booked_elsewhere;
use crate::app::waitlist;
use crate::app::{App, AppError, Credential, InstanceGauges, UnitOfWork, secrets};
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

/// Count a committed change into hold status `status` in the metrics
/// (`slotstream_holds_total` by outcome: `created`, or the status the hold
/// ended in; and the active holds gauge).
pub(super) fn count_hold_change(status: Status, gauges: &InstanceGauges) {
    let outcome = if status == Status::Active { "created".to_owned() } else { status.to_value() };
    metrics::counter!("slotstream_holds_total", "outcome" => outcome).increment(1);
    gauges.holds_changed(if status == Status::Active { 1 } else { -1 });
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

/// `duration` after `now`, or the last instant there is (never a panic).
fn after(now: DateTime<Utc>, duration: Duration) -> DateTime<Utc> {
    TimeDelta::from_std(duration).ok().and_then(|d| now.checked_add_signed(d)).unwrap_or(DateTime::<Utc>::MAX_UTC)
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
        refuse_if_booked_elsewhere(&uow, span.starts_at).await?;
        let now = self.clock.shared_now(&uow.tx).await?;
        // Counted in the transaction, one step per client with the insert.
        uow.lock_client(&scope).await?;
        let active = slot_hold::Entity::find()
            .filter(slot_hold::Column::ClientScope.eq(scope.as_str()))
            .filter(slot_hold::Column::Status.eq(Status::Active))
            .filter(slot_hold::Column::ExpiresAt.gt(now))
            .count(&uow.tx)
            .await?;
        if active >= self.holds.per_client {
            return Err(AppError::TooManyHolds(format!(
                "this client already holds {active} slot(s), the most allowed at once; release one or book it"
            )));
        }
        let hold_id = Uuid::new_v4();
        let mut slot_set = SlotSet::new();
        for index in slot_set.covering(&uow, &span).await? {
            let event = slot_set.slot_mut(index).hold(hold_id, Actor::Customer, now)?;
            uow.record(event);
        }
        slot_set.save(&uow).await?;
        let token = secrets::generate("hd_");
        let row = slot_hold::ActiveModel {
            id: Set(hold_id),
            provider_id: Set(request.provider_id),
            service_id: Set(request.service_id),
            starts_at: Set(span.starts_at),
            ends_at: Set(span.ends_at),
            token_hash: Set(secrets::hash(&token)),
            client_scope: Set(scope),
            status: Set(Status::Active),
            created_at: Set(now),
            expires_at: Set(after(now, self.holds.ttl)),
            max_expires_at: Set(after(now, self.holds.max_lifetime.max(self.holds.ttl))),
            waitlist_entry_id: Set(None),
        }
        .insert(&uow.tx)
        .await?;
        uow.commit(self).await?;
        count_hold_change(Status::Active, &self.gauges);
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
            return Err(AppError::StateConflict(format!(
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
        self.end_hold(row.provider_id, hold_id, Status::Released, None, |_, _| true).await?;
        Ok(())
    }

    /// End hold `hold_id` as `outcome`, freeing its slots (withdrawing those
    /// the schedule no longer opens: `catalogue::withdraw_closed`), if under the
    /// provider lock it is still active and `applies` to it at the
    /// database's time. A waitlist offer's entry goes back in line, expires,
    /// or becomes `entry_after` when given (`waitlist::offer_ended`); the freed
    /// time is offered to the next entry in line (`waitlist::offer_freed`).
    /// Returns whether it did.
    pub(in crate::app) async fn end_hold(
        &self,
        provider_id: Uuid,
        hold_id: Uuid,
        outcome: Status,
        entry_after: Option<waitlist_entry::Status>,
        applies: impl Fn(&slot_hold::Model, DateTime<Utc>) -> bool,
    ) -> Result<bool, AppError> {
        let mut uow = UnitOfWork::begin(self, provider_id).await?;
        let row = reload(&uow, hold_id).await?;
        let now = self.clock.shared_now(&uow.tx).await?;
        if row.status != Status::Active || !applies(&row, now) {
            // Ended by someone else meanwhile: commit nothing, at once.
            uow.commit(self).await?;
            return Ok(false);
        }
        let mut slot_set = SlotSet::new();
        slot_set.load_hold(&uow, hold_id).await?;
        let by = if outcome == Status::Expired { Actor::System } else { Actor::Customer };
        let mut released = None;
        for index in slot_set.under_hold(hold_id) {
            let event = slot_set.slot_mut(index).release_hold(hold_id, by, now)?;
            released = Some(event.availability_id);
            uow.record(event);
        }
        let passed_over = waitlist::offer_ended(&mut uow, &row, outcome, entry_after, released, now).await?;
        withdraw_closed(&mut uow, &mut slot_set, now).await?;
        waitlist::offer_freed(self, &mut uow, &mut slot_set, passed_over).await?;
        slot_set.save(&uow).await?;
        set_status(&uow, row, outcome).await?;
        uow.commit(self).await?;
        count_hold_change(outcome, &self.gauges);
        Ok(true)
    }
}

pub(super) async fn set_status(uow: &UnitOfWork, row: slot_hold::Model, status: Status) -> Result<(), AppError> {
    let mut active: slot_hold::ActiveModel = row.into();
    active.status = Set(status);
    active.update(&uow.tx).await?;
    Ok(())
}

/// An active hold whose time is not up, or a 409 saying which it is not.
pub(super) fn require_live(row: &slot_hold::Model, now: DateTime<Utc>) -> Result<(), AppError> {
    if row.status != Status::Active {
        return Err(AppError::StateConflict(format!("hold {} has ended ({})", row.id, row.status.to_value())));
    }
    if row.expires_at <= now {
        return Err(AppError::StateConflict(format!("hold {} has expired; take a new one", row.id)));
    }
    Ok(())
}

pub(super) async fn reload(uow: &UnitOfWork, hold_id: Uuid) -> Result<slot_hold::Model, AppError> {
    slot_hold::Entity::find_by_id(hold_id)
        .one(&uow.tx)
        .await?
        .ok_or_else(|| AppError::NotFound(format!("hold {hold_id} does not exist")))
}
