//! `cancel_booking`: release a booking's slots and mark it cancelled, in
//! one unit of work on its provider (a released slot the schedule no longer
//! opens is withdrawn in it: `catalogue::withdraw_closed`). Cancelling again changes nothing (the
//! booking is re-read under the provider lock, so two cancellations at once
//! release once).

use chrono::Utc;
use entity::booking;
use sea_orm::{ActiveModelTrait, ActiveValue::Set};
use uuid::Uuid;

use super::{BookingView, release_booked_slots, reload, view};
use crate::app::catalogue::withdraw_closed;
use crate::app::storage::slot_set::SlotSet;
use crate::app::{App, AppError, Credential, UnitOfWork};
use crate::events::{BookingChange, EventType};

impl App {
    /// Cancel: release the booking's slots. Cancelling again changes nothing.
    #[tracing::instrument(skip(self, credential))]
    pub async fn cancel_booking(&self, booking_id: Uuid, credential: &Credential) -> Result<BookingView, AppError> {
        let (row, grant) = self.authorize_booking(booking_id, credential).await?;
        let mut uow = UnitOfWork::begin(self, row.provider_id).await?;
        let row = reload(&uow, booking_id).await?;
        if row.status == booking::Status::Cancelled {
            return Ok(view(&row));
        }
        let now = Utc::now();
        let mut slot_set = SlotSet::new();
        release_booked_slots(&mut uow, &mut slot_set, booking_id, grant.actor(), now).await?;
        withdraw_closed(&mut uow, &mut slot_set, now).await?;
        slot_set.save(&uow).await?;
        let mut active: booking::ActiveModel = row.into();
        active.status = Set(booking::Status::Cancelled);
        active.updated_at = Set(now);
        let row = active.update(&uow.tx).await?;
        uow.record_booking(BookingChange::of(EventType::BookingCancelled, &row, None));
        uow.commit(self).await?;
        Ok(view(&row))
    }
}
