//! The domain: the `ProviderAvailability` aggregate, its events and the rules
//! for fitting a booking onto slots. Plain Rust: no I/O, no clock, no database.

mod actor;
mod bookable_range;
mod customer;
mod local_time;
mod provider_availability;
mod time_search;
mod upstream;
mod waitlist;
mod weekly_schedule;

pub use actor::Actor;
pub use bookable_range::{BookableRange, OutOfRange};
pub use customer::{CustomerError, EMAIL_MAX, NAME_MAX, check_customer, forbidden_in_name};
pub use local_time::{
    ScheduleError, SkipReason, covering_slots, covers_exactly, fit_new_slot, fit_new_slots, local_instant,
    overlaps_locally, slot_grid, slot_span, to_local,
};
pub use provider_availability::{AvailabilitySlotChangedEvent, ProviderAvailability, SlotStatus, TransitionError};
pub use time_search::{FreeSlot, day_window, fitting_times, rfc3339_in, set_free, set_not_free};
pub use upstream::{LocalSlot, Mirroring, UpstreamSlotError, UpstreamStatus, mirroring, place};
pub use waitlist::{TimeOfDay, WaitWindow, WaitWindowError, first_fitting};
pub use weekly_schedule::{Interval, PlannedSlot, SLOT_MINUTES_RANGE, WeeklySchedule, WeeklyScheduleError};
