//! Bookings: what a customer (or the provider, with its key) does to take
//! and give back a provider's time. One command per file:
//!
//! - `create`: book the slots a service needs at a start, all or none, with
//!   a client-scoped `Idempotency-Key`, directly or from a hold;
//! - `cancel`, `reschedule`: release a booking's slots, or move them, in one
//!   transaction;
//! - `holds` and `hold_expiry`: slot holds while a customer fills in the
//!   booking form (create, renew, release) and the sweep that expires them;
//! - `hold_to_booking`: the one place where a hold becomes a booking;
//! - `icalendar_export`: a booking written as an iCalendar event.
//!
//! Invariants: who may read or change a booking or a hold is decided in
//! `authorization`; every slot change is made through the
//! `ProviderAvailability` aggregate in a `SlotSet`, inside one `UnitOfWork`
//! on the booking's provider, so it is recorded, versioned and announced
//! like every other change, and a slot is booked or held by one party at
//! most (the aggregate refuses the transition otherwise).

mod cancel;
mod create;
mod hold_expiry;
mod hold_to_booking;
mod holds;
mod icalendar_export;
mod reschedule;

use chrono::{DateTime, TimeDelta, Utc};
use entity::{booking, service};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

pub use cancel::Cancellation;
pub use create::{NewBooking, NewCustomer};
pub(super) use hold_expiry::prune_ended;
pub use hold_expiry::{ExpiryRetries, Sweep};
pub use holds::{HoldPolicy, HoldView, NewHold};

use super::storage::slot_set::{ServiceSpan, SlotSet};
use super::storage::unit_of_work::UnitOfWork;
use super::{App, AppError, Credential};
use crate::domain::Actor;

/// A booking as its holder sees it. `token` is only present in the answer
/// that created it (and in its replay to the same client).
#[derive(Clone, Debug, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BookingView {
    pub id: Uuid,
    pub provider_id: Uuid,
    pub service_id: Uuid,
    pub start_time: DateTime<Utc>,
    pub end_time: DateTime<Utc>,
    /// `confirmed` or `cancelled`.
    #[schema(value_type = String)]
    pub status: booking::Status,
    /// The booking's secret, shown only in the answer that created it (and
    /// in an `Idempotency-Key` replay to the client that sent it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    /// Who cancelled it (`customer`, `provider`, `admin`, `system`), once cancelled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cancelled_by: Option<String>,
    /// Why, when the one who cancelled said so.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cancellation_reason: Option<String>,
}

impl App {
    /// Read a booking (its holder or its provider only).
    pub async fn get_booking(&self, booking_id: Uuid, credential: &Credential) -> Result<BookingView, AppError> {
        let (row, _) = self.authorize_booking(booking_id, credential).await?;
        Ok(view(&row))
    }
}

impl App {
    /// The span `service_id` of `provider_id` needs from `start`: 404 for an
    /// unknown provider or service, 409 for a start in the past.
    pub(in crate::app) async fn service_span(
        &self,
        provider_id: Uuid,
        service_id: Uuid,
        start: DateTime<chrono::FixedOffset>,
    ) -> Result<ServiceSpan, AppError> {
        let provider = self.directory.get(provider_id).await?;
        let service = self.service_of(provider_id, service_id).await?;
        let starts_at = self.bookable_start(start)?;
        let duration = TimeDelta::minutes(i64::from(service.duration_minutes));
        ServiceSpan::new(provider.timezone, starts_at, duration)
    }

    /// Service `service_id` of `provider_id`, or a 404.
    pub(in crate::app) async fn service_of(
        &self,
        provider_id: Uuid,
        service_id: Uuid,
    ) -> Result<service::Model, AppError> {
        service::Entity::find_by_id(service_id)
            .filter(service::Column::ProviderId.eq(provider_id))
            .one(&self.db)
            .await?
            .ok_or_else(|| {
                AppError::NotFound(format!("service {service_id} does not exist for provider {provider_id}"))
            })
    }

    /// A requested start: within the bookable range (422 otherwise, checked
    /// before any zone conversion or arithmetic) and not begun (409).
    pub(super) fn bookable_start(&self, start: DateTime<chrono::FixedOffset>) -> Result<DateTime<Utc>, AppError> {
        let start = self.bookable_range().instant("startTime", &start)?;
        not_in_the_past(start)
    }
}

/// A slot that has already started cannot be booked.
fn not_in_the_past(start: DateTime<Utc>) -> Result<DateTime<Utc>, AppError> {
    if start <= Utc::now() {
        return Err(AppError::Conflict(format!("{} has already begun; pick a later slot", start.to_rfc3339())));
    }
    Ok(start)
}

pub(super) async fn reload(uow: &UnitOfWork, booking_id: Uuid) -> Result<booking::Model, AppError> {
    booking::Entity::find_by_id(booking_id)
        .one(&uow.tx)
        .await?
        .ok_or_else(|| AppError::NotFound(format!("booking {booking_id} does not exist")))
}

pub(super) fn view(row: &booking::Model) -> BookingView {
    BookingView {
        id: row.id,
        provider_id: row.provider_id,
        service_id: row.service_id,
        start_time: row.starts_at,
        end_time: row.ends_at,
        status: row.status,
        token: None,
        cancelled_by: row.cancelled_by.clone(),
        cancellation_reason: row.cancellation_reason.clone(),
    }
}

/// Release every slot `booking_id` holds in `slot_set` (loaded for it), by
/// `actor`, recording each change in `uow`.
async fn release_booked_slots(
    uow: &mut UnitOfWork,
    slot_set: &mut SlotSet,
    booking_id: Uuid,
    actor: Actor,
    now: DateTime<Utc>,
) -> Result<(), AppError> {
    slot_set.load_booking(uow, booking_id).await?;
    for index in slot_set.held_by(booking_id) {
        let event = slot_set.slot_mut(index).release(booking_id, actor, now)?;
        uow.record(event);
    }
    Ok(())
}
