//! `create_booking`: where a booking is created. Books the slots covering
//! `[start, start + service duration)`, all of them or none, directly or
//! from a hold (`hold_to_booking` does the hold's part), and inserts the
//! booking row and its webhook change in the same unit of work.
//!
//! With an `Idempotency-Key` (scoped to the client that sent it), a retry
//! books nothing twice and gets the booking as it is now, token included:
//! the key is looked up before and again under the provider lock, and
//! claimed by the transaction's first write, after every check that can
//! refuse the booking, so a refused request has written nothing.

use chrono::{DateTime, Utc};
use entity::booking;
use sea_orm::{ActiveModelTrait, ActiveValue::Set, ConnectionTrait, EntityTrait};
use serde::Deserialize;
use uuid::Uuid;

use super::hold_to_booking::HoldToBook;
use super::{BookingView, view};
use crate::app::storage::idempotency::{Idempotency, ScopedKey};
use crate::app::storage::slot_set::SlotSet;
use crate::app::upstream::refuse_if_booked_elsewhere;
use crate::app::{App, AppError, Credential, UnitOfWork, secrets};
use crate::domain::{Actor, check_customer};
use crate::events::{BookingChange, EventType};

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewBooking {
    pub provider_id: Uuid,
    pub service_id: Uuid,
    /// RFC 3339 instant, any offset (a slot's `startsAt`).
    #[schema(value_type = String, format = DateTime)]
    pub start_time: DateTime<chrono::FixedOffset>,
    pub customer: NewCustomer,
    /// Book the slots this hold holds (with the hold's token in
    /// `Authorization: Bearer`); the service and start must be the hold's.
    #[serde(default)]
    pub hold_id: Option<Uuid>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewCustomer {
    /// 1 to 200 characters with at least one letter or digit; no control,
    /// line-separator or bidi embedding/override/isolate characters.
    #[schema(min_length = 1, max_length = 200)]
    pub name: String,
    #[schema(max_length = 254)]
    pub email: String,
}

/// The customer's details as the domain allows them (422 otherwise).
fn validate_customer(customer: &NewCustomer) -> Result<(), AppError> {
    Ok(check_customer(&customer.name, &customer.email)?)
}

impl App {
    /// Book the slots covering `[start, start + service duration)`: all of
    /// them or none. With an `Idempotency-Key`, a retry by the same client
    /// (the key's scope) books nothing twice and gets the booking as it is
    /// now, token included. Returns the view and whether it was replayed
    /// from an earlier request.
    #[tracing::instrument(skip(self, request, idempotency_key, credential), fields(provider = %request.provider_id))]
    pub async fn create_booking(
        &self,
        request: NewBooking,
        idempotency_key: Option<ScopedKey<'_>>,
        credential: &Credential,
    ) -> Result<(BookingView, bool), AppError> {
        validate_customer(&request.customer)?;
        let idempotency = idempotency_key.map(|key| {
            let fingerprint = format!(
                "{}|{}|{}|{}|{}|{}",
                request.hold_id.map(|id| id.to_string()).unwrap_or_default(),
                request.provider_id,
                request.service_id,
                request.start_time.with_timezone(&Utc).to_rfc3339(),
                request.customer.name.trim(),
                request.customer.email.trim()
            );
            Idempotency::new(key, &fingerprint)
        });
        if let Some(idempotency) = &idempotency
            && let Some(replayed) = self.replay(&self.db, idempotency).await?
        {
            return Ok((replayed, true));
        }

        let span = self.service_span(request.provider_id, request.service_id, request.start_time).await?;
        let hold = match request.hold_id {
            Some(hold_id) => Some(
                HoldToBook::authorize(self, hold_id, credential, request.provider_id, request.service_id, &span)
                    .await?,
            ),
            None => None,
        };
        let ends_at = span.ends_at;

        let mut uow = UnitOfWork::begin(self, request.provider_id).await?;
        uow.require_active()?;
        refuse_if_booked_elsewhere(&uow, span.starts_at).await?;
        // Looked up again under the provider lock (and on SQLite the single
        // writer): a retry queued behind its original sees the booking, not
        // the slot it took.
        if let Some(idempotency) = &idempotency
            && let Some(replayed) = self.replay(&uow.tx, idempotency).await?
        {
            return Ok((replayed, true));
        }
        let booking_id = Uuid::new_v4();
        let token = secrets::generate("bk_");
        let now = Utc::now();
        let mut slot_set = SlotSet::new();
        let converted = match hold {
            // The held slots, held → booked: only this hold's token gets here.
            Some(hold) => Some(hold.book_slots(self, &mut uow, &mut slot_set, &span, booking_id, now).await?),
            None => {
                for index in slot_set.covering(&uow, &span).await? {
                    let event = slot_set.slot_mut(index).mark_as_booked(booking_id, Actor::Customer, now)?;
                    uow.record(event);
                }
                None
            }
        };
        // The key is claimed by the transaction's first write, after every
        // check that can refuse the booking: a refused request must not have
        // written (a dropped SQLite transaction only queues its rollback, and
        // could hold the write lock past the writer mutex). A duplicate at
        // another provider (PostgreSQL: not serialised by the provider lock)
        // waits here for this transaction or is waited for, and the loser
        // answers from the winner's committed record.
        if let Some(idempotency) = &idempotency
            && !idempotency.claim(&uow.tx, booking_id, &token, now).await?
        {
            drop(uow);
            return match self.replay(&self.db, idempotency).await? {
                Some(replayed) => Ok((replayed, true)),
                None => Err(AppError::IdempotencyInProgress(
                    "a request with this Idempotency-Key is still in progress; retry shortly".into(),
                )),
            };
        }
        slot_set.save(&uow).await?;
        if let Some(converted) = &converted {
            converted.mark_converted(&mut uow, now).await?;
        }

        let row = booking::ActiveModel {
            id: Set(booking_id),
            provider_id: Set(request.provider_id),
            service_id: Set(request.service_id),
            starts_at: Set(span.starts_at),
            ends_at: Set(ends_at),
            status: Set(booking::Status::Confirmed),
            customer_name: Set(request.customer.name.trim().to_owned()),
            customer_email: Set(request.customer.email.trim().to_owned()),
            token_hash: Set(secrets::hash(&token)),
            created_at: Set(now),
            updated_at: Set(now),
            cancelled_by: Set(None),
            cancellation_reason: Set(None),
        }
        .insert(&uow.tx)
        .await?;
        uow.record_booking(BookingChange::of(EventType::BookingCreated, &row, None));
        let answer = BookingView { token: Some(token), ..view(&row) };
        uow.commit(self).await?;
        if let Some(converted) = converted {
            converted.count_committed(self);
        }
        Ok((answer, false))
    }

    /// The answer for a key already used by this client: its booking as it
    /// is now (a cancellation shows), with the token unsealed.
    async fn replay(
        &self,
        db: &impl ConnectionTrait,
        idempotency: &Idempotency,
    ) -> Result<Option<BookingView>, AppError> {
        let Some(remembered) = idempotency.find(db).await? else { return Ok(None) };
        // The record commits with its booking and bookings are never deleted,
        // so a missing row means a moment between the two reads, at worst.
        let row = booking::Entity::find_by_id(remembered.booking_id).one(db).await?.ok_or_else(|| {
            AppError::IdempotencyInProgress("the booking for this Idempotency-Key is not readable yet; retry".into())
        })?;
        Ok(Some(BookingView { token: remembered.token, ..view(&row) }))
    }
}
