//! Writes a booking as an iCalendar (RFC 5545) event, for the customer's calendar
//! app: written by the `icalendar` crate, with the instants in UTC so no
//! calendar has to know the provider's time zone.

use entity::{provider, service};
use icalendar::{Calendar, Component, Event, EventLike, EventStatus};
use sea_orm::EntityTrait;
use uuid::Uuid;

use crate::app::{App, AppError, Credential};

impl App {
    /// The booking as a one-event calendar (`text/calendar`), for its holder
    /// or its provider, as `get_booking` decides.
    pub async fn booking_as_icalendar(&self, booking_id: Uuid, credential: &Credential) -> Result<String, AppError> {
        let booking = self.get_booking(booking_id, credential).await?;
        let provider = provider::Entity::find_by_id(booking.provider_id).one(&self.db).await?;
        let service = service::Entity::find_by_id(booking.service_id).one(&self.db).await?;
        let (Some(provider), Some(service)) = (provider, service) else {
            return Err(AppError::NotFound(format!("booking {booking_id}")));
        };
        let mut event = Event::new();
        event
            // Stable, so importing the file again updates the event instead of adding a second one.
            .uid(&format!("{booking_id}@slotstream"))
            .summary(&format!("{} at {}", service.name, provider.name))
            .starts(booking.start_time)
            .ends(booking.end_time)
            .status(if booking.status == entity::booking::Status::Cancelled {
                EventStatus::Cancelled
            } else {
                EventStatus::Confirmed
            });
        if let Some(address) = provider.address.as_deref().filter(|a| !a.trim().is_empty()) {
            event.location(address);
        }
        Ok(Calendar::new().push(event.done()).done().to_string())
    }
}
