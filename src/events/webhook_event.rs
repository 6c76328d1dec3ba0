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
    WaitlistOffered,
    WaitlistFulfilled,
    WaitlistExpired,
}

impl EventType {
    pub const ALL: [EventType; 7] = [
        EventType::BookingCreated,
        EventType::BookingCancelled,
        EventType::BookingRescheduled,
        EventType::SlotChanged,
        EventType::WaitlistOffered,
        EventType::WaitlistFulfilled,
        EventType::WaitlistExpired,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EventType::BookingCreated => "booking.created",
            EventType::BookingCancelled => "booking.cancelled",
            EventType::BookingRescheduled => "booking.rescheduled",
            EventType::SlotChanged => "slot.changed",
            EventType::WaitlistOffered => "waitlist.offered",
            EventType::WaitlistFulfilled => "waitlist.fulfilled",
            EventType::WaitlistExpired => "waitlist.expired",
        }
    }

    /// The webhook lane its events are stored in (`position`).
    pub fn lane(self) -> Lane {
        match self {
            EventType::SlotChanged => Lane::Slot,
            EventType::BookingCreated | EventType::BookingCancelled | EventType::BookingRescheduled => Lane::Booking,
            EventType::WaitlistOffered | EventType::WaitlistFulfilled | EventType::WaitlistExpired => Lane::Waitlist,
        }
    }

    pub fn parse(text: &str) -> Option<EventType> {
        EventType::ALL.into_iter().find(|t| t.as_str() == text)
    }
}

/// Where a webhook event sits in its provider's order: every version has
/// three lanes, its slot event (`slot_event`), then its booking event
/// (`booking_event`), then its waitlist event (`waitlist_event`), at
/// position `3 × version + lane`. A subscription's cursor is the last
/// position delivered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lane {
    Slot = 0,
    Booking = 1,
    Waitlist = 2,
}

impl Lane {
    pub const COUNT: i64 = 3;

    /// The position of this lane's event of `version`.
    pub fn position(self, version: i64) -> i64 {
        Lane::COUNT * version + self as i64
    }

    /// The first version whose event in this lane is after `cursor`: the
    /// lane's versions above the returned one minus one.
    pub fn versions_after(self, cursor: i64) -> i64 {
        (cursor - self as i64).div_euclid(Lane::COUNT)
    }

    /// The position past every lane of `version`.
    pub fn past(version: i64) -> i64 {
        Lane::Waitlist.position(version)
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

/// A waitlist change for the webhooks (`waitlist.offered`, `.fulfilled`,
/// `.expired`), recorded in the unit of work that made it.
#[derive(Debug)]
pub struct WaitlistChange {
    pub kind: EventType,
    pub entry_id: Uuid,
    /// The webhook's `data` object.
    pub data: serde_json::Value,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lanes_order_each_version_slot_booking_waitlist_and_the_cursor_finds_what_follows() {
        assert_eq!([Lane::Slot, Lane::Booking, Lane::Waitlist].map(|l| l.position(7)), [21, 22, 23]);
        assert_eq!(Lane::past(7), 23);
        // After the booking event of 7: the slot lane from 8, the booking lane from 8, the waitlist lane from 7.
        let cursor = Lane::Booking.position(7);
        assert_eq!(Lane::Slot.versions_after(cursor), 7);
        assert_eq!(Lane::Booking.versions_after(cursor), 7);
        assert_eq!(Lane::Waitlist.versions_after(cursor), 6);
        // A fresh cursor (past version 0) and one before anything.
        assert_eq!(Lane::Slot.versions_after(Lane::past(0)), 0);
        assert_eq!(Lane::Waitlist.versions_after(0), -1);
    }
}
