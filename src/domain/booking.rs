//! A booking's own state: confirmed or cancelled. (Which slots it holds is
//! the slots' business: see `provider_availability`.)

/// Status of a booking; serialised lower-case.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum BookingStatus {
    Confirmed,
    Cancelled,
}

impl BookingStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            BookingStatus::Confirmed => "confirmed",
            BookingStatus::Cancelled => "cancelled",
        }
    }

    pub fn parse(s: &str) -> Option<BookingStatus> {
        match s {
            "confirmed" => Some(BookingStatus::Confirmed),
            "cancelled" => Some(BookingStatus::Cancelled),
            _ => None,
        }
    }
}
