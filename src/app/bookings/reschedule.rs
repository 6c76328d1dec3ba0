//! `reschedule_booking`: move a booking to a new start, releasing its slots
//! and booking the new ones in one unit of work, so on a conflict nothing
//! changes; a slot left behind that the schedule no longer opens is
//! withdrawn in it (`catalogue::withdraw_closed`). The booking keeps its
//! length (the service's duration when it was booked), measured in real
//! time in the provider's zone.

use chrono::{DateTime, Utc};
use entity::booking;
use sea_orm::{ActiveModelTrait, ActiveValue::Set};
use uuid::Uuid;

use super::{BookingView, release_booked_slots, reload, view};
use crate::app::catalogue::withdraw_closed;
use crate::app::storage::slot_set::{ServiceSpan, SlotSet};
use crate::app::upstream::refuse_if_booked_elsewhere;
use crate::app::waitlist;
use crate::app::{App, AppError, Credential, UnitOfWork};
use crate::events::{BookingChange, EventType};

impl App {
    /// Move a booking: release its slots and book the new ones, in one
    /// transaction. On conflict nothing changes.
    #[tracing::instrument(skip(self, credential))]
    pub async fn reschedule_booking(
        &self,
        booking_id: Uuid,
        new_start: DateTime<chrono::FixedOffset>,
        credential: &Credential,
    ) -> Result<BookingView, AppError> {
        let (row, grant) = self.authorize_booking(booking_id, credential).await?;
        let starts_at = self.bookable_start(new_start)?;
        let provider = self.directory.get(row.provider_id).await?;
        let mut uow = UnitOfWork::begin(self, row.provider_id).await?;
        uow.require_active()?;
        let row = reload(&uow, booking_id).await?;
        if row.status != booking::Status::Confirmed {
            return Err(AppError::StateConflict(format!("booking {booking_id} is cancelled and cannot be moved")));
        }
        let duration = row.ends_at - row.starts_at;
        let span = ServiceSpan::new(provider.timezone, starts_at, duration)?;
        refuse_if_booked_elsewhere(&uow, span.starts_at).await?;
        let now = Utc::now();

        let mut slot_set = SlotSet::new();
        release_booked_slots(&mut uow, &mut slot_set, booking_id, grant.actor(), now).await?;
        for index in slot_set.covering(&uow, &span).await? {
            let event = slot_set.slot_mut(index).mark_as_booked(booking_id, grant.actor(), now)?;
            uow.record(event);
        }
        // Only now: a slot the new span books again is not freed.
        withdraw_closed(&mut uow, &mut slot_set, now).await?;
        waitlist::offer_freed(self, &mut uow, &mut slot_set, None).await?;
        slot_set.save(&uow).await?;
        let previous = (row.starts_at, row.ends_at);
        let mut active: booking::ActiveModel = row.into();
        active.starts_at = Set(span.starts_at);
        active.ends_at = Set(span.ends_at);
        active.updated_at = Set(now);
        let row = active.update(&uow.tx).await?;
        uow.record_booking(BookingChange::of(EventType::BookingRescheduled, &row, Some(previous)));
        uow.commit(self).await?;
        Ok(view(&row))
    }
}
