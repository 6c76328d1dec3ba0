//! Where a hold becomes a booking, in one place: `create_booking` with a
//! `holdId` goes through the three steps here, in this order.
//!
//! 1. [`HoldToBook::authorize`], before the transaction: the hold's token
//!    (and only it) reaches the hold, and the booking asks for exactly the
//!    hold's provider, service and start (422 otherwise).
//! 2. [`HoldToBook::book_slots`], inside the booking's unit of work, under
//!    the provider lock: the hold is re-read and must still be active and
//!    unexpired by the database's clock (the one every instance's expiry
//!    sweep compares with), and its slots must cover exactly the span the
//!    service needs now (a service lengthened or shortened since is a 409
//!    `hold-no-longer-fits`, and nothing changes). The held slots go
//!    `held → booked` for the new booking.
//! 3. [`HeldSlotsBooked::mark_converted`] in the same transaction, after the
//!    slots are saved, ends the hold as `converted`; once the booking has
//!    committed, [`HeldSlotsBooked::count_committed`] counts it.
//!
//! Because steps 2 and 3 run in the booking's transaction under the provider
//! lock, and expiry re-reads a hold under the same lock, a hold converted
//! into a booking is never expired, and an expired one never booked.

use chrono::{DateTime, Utc};
use entity::slot_hold;
use uuid::Uuid;

use super::holds::{count_hold_change, reload, require_live, set_status};
use crate::app::storage::slot_set::{ServiceSpan, SlotSet};
use crate::app::waitlist;
use crate::app::{App, AppError, Credential, UnitOfWork};
use crate::domain::Actor;

/// A hold its token has reached, for the booking request's provider,
/// service and start (step 1).
pub(super) struct HoldToBook {
    hold_id: Uuid,
}

/// A hold whose slots this transaction booked (step 2), as re-read under
/// the provider lock.
pub(super) struct HeldSlotsBooked {
    row: slot_hold::Model,
    booking_id: Uuid,
    /// The last slot booked (a waitlist offer's fulfilment follows its event).
    last_slot: Option<Uuid>,
}

impl HoldToBook {
    /// The hold `hold_id` for a booking of `service_id` of `provider_id` over
    /// `span`, if `credential` is its token and it is for exactly those.
    pub(super) async fn authorize(
        app: &App,
        hold_id: Uuid,
        credential: &Credential,
        provider_id: Uuid,
        service_id: Uuid,
        span: &ServiceSpan,
    ) -> Result<HoldToBook, AppError> {
        let (hold, _) = app.authorize_hold(hold_id, credential).await?;
        if hold.provider_id != provider_id || hold.service_id != service_id || hold.starts_at != span.starts_at {
            return Err(AppError::Invalid(format!(
                "providerId, serviceId and startTime must be those of hold {}",
                hold.id
            )));
        }
        Ok(HoldToBook { hold_id: hold.id })
    }

    /// Inside the booking's unit of work: move the slots the hold holds from
    /// `held` to `booked` for `booking_id` (in `slot_set`, saved by the
    /// caller), if the hold is still live and still fits `span`.
    pub(super) async fn book_slots(
        self,
        app: &App,
        uow: &mut UnitOfWork,
        slot_set: &mut SlotSet,
        span: &ServiceSpan,
        booking_id: Uuid,
        now: DateTime<Utc>,
    ) -> Result<HeldSlotsBooked, AppError> {
        let hold_id = self.hold_id;
        let row = reload(uow, hold_id).await?;
        // Whether the hold is still live is the database's time to say:
        // the sweep of every instance compares its expiry with that clock.
        require_live(&row, app.clock.shared_now(&uow.tx).await?)?;
        slot_set.load_hold(uow, hold_id).await?;
        let held = slot_set.under_hold(hold_id);
        if !slot_set.exactly_covers(&held, span) {
            return Err(AppError::HoldNoLongerFits(format!(
                "hold {hold_id} holds {} to {}, but the service now needs {} minutes from {}; release it and hold again",
                row.starts_at.to_rfc3339(),
                row.ends_at.to_rfc3339(),
                span.duration.num_minutes(),
                span.starts_at.to_rfc3339()
            )));
        }
        let mut last_slot = None;
        for index in held {
            let event = slot_set.slot_mut(index).book_held(hold_id, booking_id, Actor::Customer, now)?;
            last_slot = Some(event.availability_id);
            uow.record(event);
        }
        Ok(HeldSlotsBooked { row, booking_id, last_slot })
    }
}

impl HeldSlotsBooked {
    /// End the hold as `converted`, in the booking's unit of work; a
    /// waitlist offer's entry is fulfilled.
    pub(super) async fn mark_converted(&self, uow: &mut UnitOfWork, now: DateTime<Utc>) -> Result<(), AppError> {
        if let Some(slot) = self.last_slot {
            waitlist::offer_claimed(uow, &self.row, self.booking_id, slot, now).await?;
        }
        set_status(uow, self.row.clone(), slot_hold::Status::Converted).await
    }

    /// Count the conversion in the metrics, once its booking has committed.
    pub(super) fn count_committed(self, app: &App) {
        count_hold_change(slot_hold::Status::Converted, &app.gauges);
    }
}
