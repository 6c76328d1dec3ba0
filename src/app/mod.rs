//! The application layer: one function per command or query, each one
//! database transaction. Takes the database and the bus; knows nothing of HTTP.

mod availability;
mod bookings;
mod calendar;
mod error;
mod idempotency;
mod providers;
pub mod secrets;
pub mod seed;
mod slots;
mod unit_of_work;

use std::sync::Arc;

use sea_orm::DatabaseConnection;

pub use availability::{AvailabilityBody, AvailabilityDocument, DayBody, SlotBody, AvailabilityQuery, Conditional, DAYS_MAX, resolve_range};
pub use bookings::{BookingView, Credential, NewBooking, NewCustomer};
pub use error::AppError;
pub use idempotency::ScopedKey;
pub use providers::{ProviderDirectory, ProviderInfo, ProviderView, ServiceView};
pub use slots::{NewSlots, SlotsCreated};
pub use unit_of_work::UnitOfWork;

use crate::events::Bus;

/// Cheap-clone handle to everything the commands and queries need.
#[derive(Clone)]
pub struct App {
    pub db: DatabaseConnection,
    pub bus: Bus,
    pub directory: ProviderDirectory,
    /// Serialises write transactions on SQLite (one writer at a time, queued
    /// rather than failing with SQLITE_BUSY). Unused on PostgreSQL.
    writer: Arc<tokio::sync::Mutex<()>>,
    rendered: availability::RenderCache,
    /// Hashes of provider keys that have been verified at least once; the
    /// rate limiter lets such a key be a client of its own.
    pub verified_keys: Arc<dashmap::DashSet<String>>,
}

impl App {
    pub fn new(db: DatabaseConnection, bus: Bus) -> App {
        App {
            directory: ProviderDirectory::new(db.clone()),
            db,
            bus,
            writer: Arc::new(tokio::sync::Mutex::new(())),
            rendered: availability::RenderCache::default(),
            verified_keys: Arc::default(),
        }
    }
}
