//! The domain: the `ProviderAvailability` aggregate, its events and the rules
//! for fitting a booking onto slots. Plain Rust: no I/O, no clock, no database.

mod availability;
mod schedule;

pub use availability::{
    AvailabilitySlotChangedEvent, ProviderAvailability, SlotStatus, TransitionError,
};
pub use schedule::{BookingStatus, ScheduleError, covering_slots, local_instant, slot_grid, to_local};
