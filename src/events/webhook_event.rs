//! What a webhook carries, below the layers that send it: the event types a
//! subscription can ask for (`EventType`, stored as a comma-separated list)
//! and the booking change a booking command records in its own unit of
//! work (`BookingChange`). Here, with the events, so that the application
//! layer (which records them) and the delivery (`crate::webhooks`, which
//! sends them) both look down at one definition and never at each other.

use chrono::{DateTime, Utc};
use entity::booking;
use uuid::Uuid;

/// The event types a subscription can ask for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventType {
    BookingCreated,
    BookingCancelled,
    BookingRescheduled,
    SlotChanged,
}

impl EventType {
    pub const ALL: [EventType; 4] =
        [EventType::BookingCreated, EventType::BookingCancelled, EventType::BookingRescheduled, EventType::SlotChanged];

    pub fn as_str(self) -> &'static str {
        match self {
            EventType::BookingCreated => "booking.created",
            EventType::BookingCancelled => "booking.cancelled",
            EventType::BookingRescheduled => "booking.rescheduled",
            EventType::SlotChanged => "slot.changed",
        }
    }

    pub fn parse(text: &str) -> Option<EventType> {
        EventType::ALL.into_iter().find(|t| t.as_str() == text)
    }
}

/// A subscription's stored event list, parsed (unknown names are skipped).
pub fn event_types(stored: &str) -> Vec<EventType> {
    stored.split(',').filter_map(EventType::parse).collect()
}

/// A booking change for the webhooks, recorded in the booking's unit of work.
#[derive(Debug)]
pub struct BookingChange {
    pub kind: EventType,
    pub booking_id: Uuid,
    /// The webhook's `data` object.
    pub data: serde_json::Value,
}

impl BookingChange {
    /// The event for `row` as it is after the change; `previous` is the
    /// booking's former (start, end) for a reschedule.
    pub fn of(
        kind: EventType,
        row: &booking::Model,
        previous: Option<(DateTime<Utc>, DateTime<Utc>)>,
    ) -> BookingChange {
        let mut data = serde_json::json!({
            "bookingId": row.id,
            "providerId": row.provider_id,
            "serviceId": row.service_id,
            "startTime": row.starts_at,
            "endTime": row.ends_at,
            "status": row.status,
            "customer": { "name": row.customer_name, "email": row.customer_email },
        });
        if row.status == booking::Status::Cancelled {
            // Who cancelled, and why when they said: the customer's side shows it.
            data["by"] = serde_json::json!(row.cancelled_by);
            if let Some(reason) = &row.cancellation_reason {
                data["reason"] = serde_json::json!(reason);
            }
        }
        if let Some((start, end)) = previous {
            data["previousStartTime"] = serde_json::json!(start);
            data["previousEndTime"] = serde_json::json!(end);
        }
        BookingChange { kind, booking_id: row.id, data }
    }
}
