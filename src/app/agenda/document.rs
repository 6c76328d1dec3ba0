//! The private agenda: a provider's days with who booked what, and the
//! holds in progress (never a hold's token). Read with the provider's key
//! or a signed-in session only; never cached, never on a public surface.

use std::collections::HashMap;

use chrono::{DateTime, Days, NaiveDate, Utc};
use entity::{booking, service, slot_hold};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use serde::Serialize;
use uuid::Uuid;

use crate::app::queries::{group_by_day, provider_and_slots, read_snapshot};
use crate::app::{App, AppError, Credential, resolve_range};
use crate::domain::SlotStatus;

/// What the agenda shows by default: one day.
const DEFAULT_DAYS: u32 = 1;

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AgendaBody {
    pub provider_id: Uuid,
    pub name: String,
    pub timezone: String,
    pub start_date: NaiveDate,
    /// The provider's version the agenda was read at: open the agenda
    /// stream with it as `Last-Event-ID` to miss nothing after it.
    pub version: i64,
    pub services: Vec<AgendaService>,
    pub days: Vec<AgendaDay>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AgendaService {
    pub id: Uuid,
    pub name: String,
    pub duration_minutes: i32,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AgendaDay {
    pub date: NaiveDate,
    pub slots: Vec<AgendaSlot>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AgendaSlot {
    pub availability_id: Uuid,
    /// Local `HH:MM`.
    pub start_time: String,
    pub end_time: String,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub status: SlotStatus,
    /// The booking that holds the slot, when booked here.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub booking: Option<AgendaBooking>,
    /// The hold in progress on the slot (a customer filling in the form).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hold: Option<AgendaHold>,
}

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AgendaBooking {
    pub id: Uuid,
    pub service_id: Uuid,
    pub service_name: Option<String>,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub customer: AgendaCustomer,
}

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct AgendaCustomer {
    pub name: String,
    pub email: String,
}

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AgendaHold {
    pub service_id: Uuid,
    pub service_name: Option<String>,
    pub expires_at: DateTime<Utc>,
}

impl App {
    /// The provider's agenda over `days` days (default 1) from `date`
    /// (default today in its zone), read from one snapshot.
    pub async fn agenda(
        &self,
        provider_id: Uuid,
        date: Option<NaiveDate>,
        days: Option<u32>,
        credential: &Credential,
    ) -> Result<AgendaBody, AppError> {
        self.authorize_provider(provider_id, credential).await?;
        let provider = self.directory.get(provider_id).await?;
        let (start, days) =
            resolve_range(&provider, "date", date, Some(days.unwrap_or(DEFAULT_DAYS)), &self.bookable_range())?;
        let end = start + Days::new(u64::from(days));
        let snapshot = read_snapshot(&self.db).await?;
        let (row, slots) = provider_and_slots(&snapshot, provider_id, start, end).await?;
        let services = service::Entity::find()
            .filter(service::Column::ProviderId.eq(provider_id))
            .order_by_asc(service::Column::Name)
            .all(&snapshot)
            .await?;
        let booking_ids: Vec<Uuid> = slots.iter().filter_map(|s| s.booking_id).collect();
        let hold_ids: Vec<Uuid> = slots.iter().filter_map(|s| s.hold_id).collect();
        let bookings = if booking_ids.is_empty() {
            Vec::new()
        } else {
            booking::Entity::find().filter(booking::Column::Id.is_in(dedup(booking_ids))).all(&snapshot).await?
        };
        let holds = if hold_ids.is_empty() {
            Vec::new()
        } else {
            slot_hold::Entity::find().filter(slot_hold::Column::Id.is_in(dedup(hold_ids))).all(&snapshot).await?
        };
        snapshot.commit().await?;

        let service_names: HashMap<Uuid, &str> = services.iter().map(|s| (s.id, s.name.as_str())).collect();
        let service_name = |id: Uuid| service_names.get(&id).map(|name| (*name).to_owned());
        let bookings: HashMap<Uuid, AgendaBooking> = bookings
            .into_iter()
            .map(|b| {
                let view = AgendaBooking {
                    id: b.id,
                    service_id: b.service_id,
                    service_name: service_name(b.service_id),
                    starts_at: b.starts_at,
                    ends_at: b.ends_at,
                    customer: AgendaCustomer { name: b.customer_name, email: b.customer_email },
                };
                (b.id, view)
            })
            .collect();
        let holds: HashMap<Uuid, AgendaHold> = holds
            .into_iter()
            .filter(|h| h.status == slot_hold::Status::Active)
            .map(|h| {
                let view = AgendaHold {
                    service_id: h.service_id,
                    service_name: service_name(h.service_id),
                    expires_at: h.expires_at,
                };
                (h.id, view)
            })
            .collect();
        let days = group_by_day(&provider, start, days, slots, |slot, starts_at, ends_at| {
            let status: SlotStatus = slot.status.into();
            AgendaSlot {
                availability_id: slot.id,
                start_time: slot.start_time.format("%H:%M").to_string(),
                end_time: slot.end_time.format("%H:%M").to_string(),
                starts_at: starts_at.to_utc(),
                ends_at: ends_at.to_utc(),
                status,
                booking: slot.booking_id.and_then(|id| bookings.get(&id).cloned()),
                hold: slot.hold_id.filter(|_| status == SlotStatus::Held).and_then(|id| holds.get(&id).cloned()),
            }
        });
        Ok(AgendaBody {
            provider_id,
            name: row.name,
            timezone: row.timezone,
            start_date: start,
            version: row.version,
            services: services
                .into_iter()
                .map(|s| AgendaService { id: s.id, name: s.name, duration_minutes: s.duration_minutes })
                .collect(),
            days: days.into_iter().map(|(date, slots)| AgendaDay { date, slots }).collect(),
        })
    }
}

fn dedup(mut ids: Vec<Uuid>) -> Vec<Uuid> {
    ids.sort_unstable();
    ids.dedup();
    ids
}
