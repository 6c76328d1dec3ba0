//! Joining the waitlist, reading an entry, leaving it, declining an offer.
//! An entry answers to its token; its current offer also to the offer's
//! claim token (the link in `waitlist.offered`), which may read the entry
//! and book or decline the offer, not leave.

use chrono::{DateTime, NaiveDate, NaiveTime, Utc};
use entity::{slot_hold, waitlist_entry};
use sea_orm::{ActiveModelTrait, ActiveValue::Set, ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, QuerySelect};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::offers::stored_window;
use crate::app::authorization::EntryGrant;
use crate::app::{App, AppError, Credential, NewCustomer, UnitOfWork, secrets};
use crate::domain::{WaitWindow, check_customer, local_instant};

/// `POST /api/v1/waitlist`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewEntry {
    pub provider_id: Uuid,
    pub service_id: Uuid,
    /// First local date (`YYYY-MM-DD`, the provider's zone), today or later.
    pub from: NaiveDate,
    /// Last local date, at most 30 days after `from`.
    pub to: NaiveDate,
    /// Times of day (`[["14:00","18:00"]]`, local; "24:00" ends the day): the
    /// whole appointment must lie inside one. Whole days when absent.
    #[serde(default)]
    pub times: Option<Vec<[String; 2]>>,
    pub customer: NewCustomer,
}

/// An entry's current offer.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OfferView {
    /// Book it with `POST /api/v1/bookings` `{ holdId, … }` and this entry's token.
    pub hold_id: Uuid,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    /// When the time passes to the next in line unless booked.
    pub expires_at: DateTime<Utc>,
}

/// An entry as its holder sees it. `token` is only in the answer that made it.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EntryView {
    pub id: Uuid,
    pub provider_id: Uuid,
    pub service_id: Uuid,
    pub from: NaiveDate,
    pub to: NaiveDate,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub times: Option<Vec<[String; 2]>>,
    /// `waiting`, `offered`, `fulfilled`, `left`, `expired` (an offer ran
    /// out unclaimed) or `notified` (told of a time another system books).
    #[schema(value_type = String)]
    pub status: waitlist_entry::Status,
    pub created_at: DateTime<Utc>,
    /// The end of the window: the entry waits for nothing after it.
    pub expires_at: DateTime<Utc>,
    /// The time held for this entry now, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub offer: Option<OfferView>,
    /// The entry's secret (`Authorization: Bearer`), shown only in the answer that made it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
}

fn view(row: &waitlist_entry::Model, offer: Option<&slot_hold::Model>, token: Option<String>) -> EntryView {
    EntryView {
        id: row.id,
        provider_id: row.provider_id,
        service_id: row.service_id,
        from: row.from_date,
        to: row.to_date,
        times: stored_window(row).and_then(|w| w.times_text()),
        status: row.status,
        created_at: row.created_at,
        expires_at: row.expires_at,
        offer: offer.filter(|h| h.status == slot_hold::Status::Active).map(|h| OfferView {
            hold_id: h.id,
            starts_at: h.starts_at,
            ends_at: h.ends_at,
            expires_at: h.expires_at,
        }),
        token,
    }
}

impl App {
    /// Join the waitlist for the client `client_scope` (the rate limiter's
    /// client identity): at most `WaitlistPolicy::per_client` active entries each.
    #[tracing::instrument(skip(self, request, client_scope), fields(provider = %request.provider_id))]
    pub async fn join_waitlist(&self, request: NewEntry, client_scope: &str) -> Result<EntryView, AppError> {
        let customer = &request.customer;
        check_customer(&customer.name, &customer.email)?;
        let bookable = self.bookable_range();
        bookable.date("from", request.from)?;
        bookable.date("to", request.to)?;
        let window = WaitWindow::new(request.from, request.to, request.times.as_deref().unwrap_or(&[]))
            .map_err(|error| AppError::Invalid(format!("from, to, times: {error}")))?;
        let provider = self.directory.get(request.provider_id).await?;
        let today = Utc::now().with_timezone(&provider.timezone).date_naive();
        if window.to < today {
            return Err(AppError::Invalid(format!("to is in the past (today is {today} at the provider)")));
        }
        if window.from < today {
            return Err(AppError::Invalid(format!("from is in the past (today is {today} at the provider)")));
        }
        // Checked before the transaction: a 404 needs no lock.
        self.service_of(request.provider_id, request.service_id).await?;
        let expires_at = window
            .to
            .succ_opt()
            .and_then(|next| local_instant(provider.timezone, next, NaiveTime::MIN).ok())
            .map_or_else(|| bookable.end(), |t| t.to_utc());
        let scope = secrets::hash(client_scope);
        let uow = UnitOfWork::begin(self, request.provider_id).await?;
        uow.require_active()?;
        uow.lock_client(&scope).await?;
        let now = self.clock.shared_now(&uow.tx).await?;
        let active = waitlist_entry::Entity::find()
            .filter(waitlist_entry::Column::ClientScope.eq(scope.as_str()))
            .filter(
                waitlist_entry::Column::Status
                    .is_in([waitlist_entry::Status::Waiting, waitlist_entry::Status::Offered]),
            )
            .filter(waitlist_entry::Column::ExpiresAt.gt(now))
            .count(&uow.tx)
            .await?;
        // The same customer waiting twice for the same thing would take two
        // places in line (and two offers): the second join is refused.
        let email = request.customer.email.trim().to_owned();
        let times = window.times_text().map(|t| serde_json::json!(t).to_string());
        let same = waitlist_entry::Entity::find()
            .filter(waitlist_entry::Column::ProviderId.eq(request.provider_id))
            .filter(waitlist_entry::Column::ServiceId.eq(request.service_id))
            .filter(waitlist_entry::Column::FromDate.eq(window.from))
            .filter(waitlist_entry::Column::ToDate.eq(window.to))
            .filter(
                waitlist_entry::Column::Status
                    .is_in([waitlist_entry::Status::Waiting, waitlist_entry::Status::Offered]),
            )
            .all(&uow.tx)
            .await?
            .into_iter()
            .find(|e| e.customer_email.eq_ignore_ascii_case(&email) && e.times == times);
        if let Some(same) = same {
            return Err(AppError::StateConflict(format!(
                "{email} already waits for this service and window (entry {}); leave it first to change it",
                same.id
            )));
        }
        if active >= self.waitlist.per_client {
            return Err(AppError::TooManyEntries(format!(
                "this client already waits in {active} waitlist entr{}, the most allowed at once; leave one first",
                if active == 1 { "y" } else { "ies" }
            )));
        }
        let token = secrets::generate("wl_");
        // Under the provider's lock: each join takes the next place.
        let last: Option<i64> = waitlist_entry::Entity::find()
            .select_only()
            .column_as(waitlist_entry::Column::Place.max(), "place")
            .filter(waitlist_entry::Column::ProviderId.eq(request.provider_id))
            .into_tuple::<Option<i64>>()
            .one(&uow.tx)
            .await?
            .flatten();
        let row = waitlist_entry::ActiveModel {
            id: Set(Uuid::new_v4()),
            provider_id: Set(request.provider_id),
            service_id: Set(request.service_id),
            from_date: Set(window.from),
            to_date: Set(window.to),
            times: Set(times),
            customer_name: Set(request.customer.name.trim().to_owned()),
            customer_email: Set(email),
            token_hash: Set(secrets::hash(&token)),
            client_scope: Set(scope),
            status: Set(waitlist_entry::Status::Waiting),
            place: Set(last.unwrap_or(0) + 1),
            created_at: Set(now),
            expires_at: Set(expires_at),
            offer_hold_id: Set(None),
            declined: Set(None),
            ended_at: Set(None),
        }
        .insert(&uow.tx)
        .await?;
        uow.commit(self).await?;
        metrics::counter!("slotstream_waitlist_entries_total").increment(1);
        Ok(view(&row, None, Some(token)))
    }

    /// Read an entry and its current offer (its token, or its offer's claim token).
    pub async fn get_waitlist_entry(&self, entry_id: Uuid, credential: &Credential) -> Result<EntryView, AppError> {
        let (row, _) = self.authorize_entry(entry_id, credential).await?;
        let offer = match row.offer_hold_id {
            Some(hold_id) => slot_hold::Entity::find_by_id(hold_id).one(&self.db).await?,
            None => None,
        };
        Ok(view(&row, offer.as_ref(), None))
    }

    /// Leave the waitlist (the entry's own token only). A time held for the
    /// entry passes to the next in line. Leaving twice changes nothing.
    #[tracing::instrument(skip(self, credential))]
    pub async fn leave_waitlist(&self, entry_id: Uuid, credential: &Credential) -> Result<(), AppError> {
        let (row, grant) = self.authorize_entry(entry_id, credential).await?;
        if grant != EntryGrant::Entry {
            return Err(AppError::Forbidden("only the entry's own token may leave the waitlist".into()));
        }
        // An offer made between the read and the lock is ended too: at most
        // once more, since a left entry is offered nothing.
        for _ in 0..3 {
            let uow = UnitOfWork::begin(self, row.provider_id).await?;
            let Some(entry) = waitlist_entry::Entity::find_by_id(entry_id).one(&uow.tx).await? else {
                return Ok(());
            };
            match (entry.status, entry.offer_hold_id) {
                (waitlist_entry::Status::Waiting, _) => {
                    let mut active: waitlist_entry::ActiveModel = entry.into();
                    active.status = Set(waitlist_entry::Status::Left);
                    active.ended_at = Set(Some(self.clock.shared_now(&uow.tx).await?));
                    active.update(&uow.tx).await?;
                    uow.commit(self).await?;
                    return Ok(());
                }
                (waitlist_entry::Status::Offered, Some(hold_id)) => {
                    drop(uow);
                    let left = Some(waitlist_entry::Status::Left);
                    self.end_hold(row.provider_id, hold_id, slot_hold::Status::Released, left, |_, _| true).await?;
                }
                // Fulfilled, left, expired, notified: nothing to leave.
                _ => return Ok(()),
            }
        }
        Err(AppError::StateConflict(format!("waitlist entry {entry_id} kept changing; retry")))
    }

    /// Decline the entry's current offer: the time passes to the next in
    /// line, and the entry waits on. Without a live offer nothing changes.
    #[tracing::instrument(skip(self, credential))]
    pub async fn decline_offer(&self, entry_id: Uuid, credential: &Credential) -> Result<(), AppError> {
        let (row, _) = self.authorize_entry(entry_id, credential).await?;
        if let Some(hold_id) = row.offer_hold_id {
            self.end_hold(row.provider_id, hold_id, slot_hold::Status::Released, None, |_, _| true).await?;
        }
        Ok(())
    }
}
