//! `cancel_booking`: release a booking's slots and mark it cancelled, in
//! one unit of work on its provider (a released slot the schedule no longer
//! opens is withdrawn in it: `catalogue::withdraw_closed`). Cancelling again changes nothing (the
//! booking is re-read under the provider lock, so two cancellations at once
//! release once). Who cancelled, and the reason the provider gave, are kept
//! on the booking: the customer's page reads them, the webhook carries them.

use chrono::Utc;
use entity::booking;
use sea_orm::{ActiveModelTrait, ActiveValue::Set};
use serde::Deserialize;
use uuid::Uuid;

use super::{BookingView, release_booked_slots, reload, view};
use crate::app::catalogue::withdraw_closed;
use crate::app::storage::slot_set::SlotSet;
use crate::app::waitlist;
use crate::app::{App, AppError, Credential, UnitOfWork};
use crate::domain::forbidden_in_name;
use crate::events::{BookingChange, EventType};

/// The longest reason kept, in characters.
const REASON_MAX: usize = 500;

/// The optional body of a cancellation.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Cancellation {
    /// Why, in words for the customer (at most 500 characters).
    #[schema(max_length = 500)]
    pub reason: Option<String>,
}

impl Cancellation {
    /// The reason as kept: trimmed, `None` when blank; 422 when too long or
    /// holding what a customer's name may not (it is shown to the customer).
    fn reason(&self) -> Result<Option<String>, AppError> {
        let Some(reason) = self.reason.as_deref().map(str::trim).filter(|r| !r.is_empty()) else {
            return Ok(None);
        };
        // As in a customer's name (it is shown to the customer), but lines and tabs may stay.
        let reason = reason.replace("\r\n", "\n");
        if reason.chars().count() > REASON_MAX {
            return Err(AppError::Invalid(format!("reason must be at most {REASON_MAX} characters")));
        }
        if reason.chars().any(|c| forbidden_in_name(c) && !matches!(c, '\n' | '\t')) {
            return Err(AppError::Invalid(
                "reason must not hold control, line-separator or bidirectional-override characters".into(),
            ));
        }
        Ok(Some(reason))
    }
}

impl App {
    /// Cancel: release the booking's slots. Cancelling again changes nothing.
    #[tracing::instrument(skip(self, credential, cancellation))]
    pub async fn cancel_booking(
        &self,
        booking_id: Uuid,
        cancellation: Cancellation,
        credential: &Credential,
    ) -> Result<BookingView, AppError> {
        let reason = cancellation.reason()?;
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
        waitlist::offer_freed(self, &mut uow, &mut slot_set, None).await?;
        slot_set.save(&uow).await?;
        let mut active: booking::ActiveModel = row.into();
        active.status = Set(booking::Status::Cancelled);
        active.updated_at = Set(now);
        active.cancelled_by = Set(Some(grant.actor().as_str().to_owned()));
        active.cancellation_reason = Set(reason);
        let row = active.update(&uow.tx).await?;
        uow.record_booking(BookingChange::of(EventType::BookingCancelled, &row, None));
        uow.commit(self).await?;
        Ok(view(&row))
    }
}
