//! A slot's status, and why a transition between statuses was refused.
//!
//! `removed` exists only in events (a slot taken off the calendar for good);
//! no stored slot has it. The lower-case strings are the wire's and the
//! database's, so they are stable.

use chrono::{NaiveDate, NaiveTime};
use serde::Serialize;
use uuid::Uuid;

/// Status of a slot; serialised lower-case on the wire and in the database.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum SlotStatus {
    Available,
    Booked,
    Blocked,
    /// Held for a customer who is filling in the booking form.
    Held,
    /// Only in events: the slot was taken off the calendar for good (a
    /// changed weekly schedule no longer has it); no stored slot has it.
    Removed,
}

impl SlotStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            SlotStatus::Available => "available",
            SlotStatus::Booked => "booked",
            SlotStatus::Blocked => "blocked",
            SlotStatus::Held => "held",
            SlotStatus::Removed => "removed",
        }
    }

    pub fn parse(s: &str) -> Option<SlotStatus> {
        match s {
            "available" => Some(SlotStatus::Available),
            "booked" => Some(SlotStatus::Booked),
            "blocked" => Some(SlotStatus::Blocked),
            "held" => Some(SlotStatus::Held),
            "removed" => Some(SlotStatus::Removed),
            _ => None,
        }
    }
}

/// Why a transition was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TransitionError {
    #[error("slot {slot} at {date} {start} is {status}, not available")]
    NotAvailable { slot: Uuid, date: NaiveDate, start: NaiveTime, status: &'static str },
    #[error("slot {slot} is not booked by booking {booking}")]
    NotBookedBy { slot: Uuid, booking: Uuid },
    #[error("slot {slot} is not blocked")]
    NotBlocked { slot: Uuid },
    #[error("slot {slot} is not held by hold {hold}")]
    NotHeldBy { slot: Uuid, hold: Uuid },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_strings_round_trip() {
        for s in [SlotStatus::Available, SlotStatus::Booked, SlotStatus::Blocked, SlotStatus::Held] {
            assert_eq!(SlotStatus::parse(s.as_str()), Some(s));
        }
        assert_eq!(SlotStatus::parse("Booked"), None);
    }
}
