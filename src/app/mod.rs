//! The application layer: one function per command or query, each one
//! database transaction. Takes the database and the bus; knows nothing of
//! HTTP. Open the folder of the capability you work on:
//!
//! - `agenda`: the provider's side: sign-in links and sessions for a person
//!   at the front desk, the private agenda and its stream.
//! - `bookings`: create, cancel, reschedule; slot holds and their expiry;
//!   where a hold becomes a booking; a booking as iCalendar.
//! - `catalogue`: providers, services, keys, weekly schedules, the planner
//!   of the rolling slot window, the provider's slot commands, the import.
//! - `queries`: the availability document, many providers at once, the
//!   change streams, the provider list and directory.
//! - `search`: search by time across providers, from an in-memory index
//!   the bus and the catalogue keep current.
//! - `storage`: the unit of work (where every write transaction begins and
//!   a commit becomes an event), the slot set, idempotency, secrets.
//! - `upstream`: slots published by the marketplace's own booking system
//!   (batches of changes, snapshots), for providers whose slots it owns.
//! - `waitlist`: customers waiting for a time, and the fair offers a freed
//!   time makes to the first of them.
//! - `webhooks`: webhook subscriptions, and the booking change a booking
//!   command records for them.
//!
//! Shared by all of them, so kept here at the top: `authorization` (who may
//! do what, decided in one place that every command needing a credential
//! calls), `error` (the layer's one error type), `clock` (the time several
//! instances compare), `backoff` (retry delays), `instance_gauges` (what
//! `/metrics` renders per instance), and `App` below, the cheap-clone handle
//! every command and query is a method of.
//!
//! Invariants: every slot change goes through the `ProviderAvailability`
//! aggregate in a `storage::slot_set::SlotSet` inside one
//! `storage::unit_of_work::UnitOfWork`, so it is recorded, versioned and
//! announced once committed; every write transaction begins through
//! `storage::write_transaction::WriteTransaction` (the single-writer lock
//! and `BEGIN IMMEDIATE` on SQLite, the row lock on PostgreSQL). The public API is the `pub use` list below:
//! callers (`http`, `cli`, `webhooks`, tests) need not know the folders.

mod agenda;
mod authorization;
pub(crate) mod backoff;
mod bookings;
mod catalogue;
mod clock;
mod error;
mod instance_gauges;
mod queries;
mod search;
mod storage;
mod upstream;
mod waitlist;
pub mod webhooks;

use std::sync::Arc;

use sea_orm::DatabaseConnection;

pub use agenda::{
    AgendaBody, AgendaBooking, AgendaCustomer, AgendaDay, AgendaDelivery, AgendaHold, AgendaService, AgendaSlot,
    SessionPolicy, SessionView, SignInCode, StartedSession,
};
pub use authorization::{AdminToken, Credential, Unauthenticated, VerifiedKeys};
pub use bookings::{
    BookingView, Cancellation, ExpiryRetries, HoldPolicy, HoldView, NewBooking, NewCustomer, NewHold, Sweep,
};
pub use catalogue::{
    AdminProvider, AdminProviderDetail, AdminService, Catalogue, CatalogueProvider, CatalogueService, HorizonRun,
    ImportFailure, ImportReport, IssuedKey, KeyView, NewKey, NewSlots, PlanConflict, PlannerPolicy, ProviderFields,
    RangeChanged, RangeSkipped, Replanned, ScheduleException, ScheduleInput, ServiceFields, SkippedSlot, SlotRange,
    SlotsCreated, StoppedAt, Tally, Upserted, check_external_id,
};
pub use clock::Clock;
pub use error::AppError;
pub use instance_gauges::InstanceGauges;
pub use queries::{
    AvailabilityBody, AvailabilityDocument, AvailabilityQuery, BatchBody, BatchConditional, BatchDocument, BatchQuery,
    BatchView, Conditional, DAYS_MAX, DayBody, FreeTime, HeldCopy, ManyChanges, NextFreeBody, PROVIDERS_MAX,
    ProviderDirectory, ProviderInfo, ProviderView, ServiceView, SlotBody, resolve_range,
};
pub use search::{
    LIMIT_DEFAULT as SEARCH_LIMIT_DEFAULT, LIMIT_MAX as SEARCH_LIMIT_MAX, SERVICE_TEXT_MAX, SearchBody, SearchCursor,
    SearchIndex, SearchPage, SearchQuery, ServiceSuggestions, keep_search_index,
};
pub use storage::idempotency::ScopedKey;
pub use storage::secrets;
pub use storage::unit_of_work::UnitOfWork;
pub use storage::write_transaction::WriteTransaction;
pub use upstream::{Applied, PublishedSlot, SlotChanges, SlotSnapshot, SnapshotRange};
pub use waitlist::{EntryView, NewEntry, OfferView, WaitlistPolicy};
pub use webhooks::{NewWebhook, WebhookPolicy, WebhookView};

use crate::domain::BookableRange;
use crate::events::Bus;
/// What the change stream delivers and where it resumes; `sse` writes it on the wire.
pub use crate::events::{Delivery, Resume, cursor, sse};

/// Days ahead of today accepted by default: two years.
pub const DEFAULT_MAX_DAYS_AHEAD: u32 = 730;

/// Cheap-clone handle to everything the commands and queries need.
#[derive(Clone)]
pub struct App {
    pub db: DatabaseConnection,
    pub bus: Bus,
    /// Is the database reachable, as far as this instance knows (kept by
    /// `health::probe` and by the requests that meet an outage).
    pub health: crate::health::DatabaseHealth,
    pub directory: ProviderDirectory,
    /// Serialises write transactions on SQLite (one writer at a time, queued
    /// rather than failing with SQLITE_BUSY). Unused on PostgreSQL. Taken
    /// only by `storage::write_transaction`.
    writer: Arc<tokio::sync::Mutex<()>>,
    rendered: queries::RenderCache,
    /// Provider keys verified at least once (by `authorization`); the rate
    /// limiter lets such a key be a client of its own.
    pub verified_keys: VerifiedKeys,
    /// Hold lifetimes and the per-client cap (`with_hold_policy`).
    pub holds: HoldPolicy,
    /// Waitlist offers' lifetime and the per-client cap (`with_waitlist_policy`).
    pub waitlist: WaitlistPolicy,
    /// The rolling slot window (`with_planner_policy`).
    pub planner: PlannerPolicy,
    /// Provider sessions' lifetime, and the signal that one ended (`with_session_policy`).
    pub sessions: SessionPolicy,
    /// Webhook targets allowed, and the sender's wake-up (`with_webhook_policy`).
    pub webhooks: WebhookPolicy,
    /// Gauges `/metrics` renders for this instance (active holds, webhook lag).
    pub gauges: Arc<InstanceGauges>,
    /// The time: the database's for what instances compare (`with_clock`).
    pub clock: Clock,
    /// Every active provider's services and free slots, for search by time.
    pub search: SearchIndex,
    /// How many days ahead of today a date or instant is accepted
    /// (`--max-days-ahead`, `with_max_days_ahead`; see [`App::bookable_range`]).
    pub max_days_ahead: u32,
}

impl App {
    /// `render_cache_bytes` bounds the rendered availability documents kept.
    pub fn new(db: DatabaseConnection, bus: Bus, render_cache_bytes: u64) -> App {
        App {
            directory: ProviderDirectory::new(db.clone()),
            db,
            bus,
            health: crate::health::DatabaseHealth::new(),
            writer: Arc::new(tokio::sync::Mutex::new(())),
            rendered: queries::RenderCache::new(render_cache_bytes),
            verified_keys: VerifiedKeys::default(),
            holds: HoldPolicy::default(),
            planner: PlannerPolicy::default(),
            waitlist: WaitlistPolicy::default(),
            sessions: SessionPolicy::default(),
            webhooks: WebhookPolicy::default(),
            gauges: Arc::default(),
            clock: Clock::default(),
            max_days_ahead: DEFAULT_MAX_DAYS_AHEAD,
            search: SearchIndex::default(),
        }
    }

    /// The same application with `clock` (a skewed one, in tests).
    pub fn with_clock(mut self, clock: Clock) -> App {
        self.clock = clock;
        self
    }

    /// The same application accepting dates up to `days` ahead of today.
    pub fn with_max_days_ahead(mut self, days: u32) -> App {
        self.max_days_ahead = days;
        self
    }

    /// The dates and instants a request or an import may name, as of now:
    /// yesterday to `max_days_ahead` days ahead.
    pub fn bookable_range(&self) -> BookableRange {
        BookableRange::around(chrono::Utc::now().date_naive(), self.max_days_ahead)
    }

    /// The same application with `policy` for webhooks.
    pub fn with_webhook_policy(mut self, policy: WebhookPolicy) -> App {
        self.webhooks = policy;
        self
    }

    /// The same application with `policy` for slot holds.
    pub fn with_hold_policy(mut self, policy: HoldPolicy) -> App {
        self.holds = policy;
        self
    }

    /// The same application with `policy` for the waitlist.
    pub fn with_waitlist_policy(mut self, policy: WaitlistPolicy) -> App {
        self.waitlist = policy;
        self
    }

    /// The same application with `policy` for provider sessions.
    pub fn with_session_policy(mut self, policy: SessionPolicy) -> App {
        self.sessions = policy;
        self
    }

    /// The same application with `policy` for the rolling slot window.
    pub fn with_planner_policy(mut self, policy: PlannerPolicy) -> App {
        self.planner = policy;
        self
    }

    /// Delete events older than `older_than` and beyond the newest `keep` of
    /// each provider, and idempotency records, ended holds, expired sign-in
    /// links and ended sessions from before `records_before`, in one write
    /// transaction. Returns the number of events deleted.
    pub async fn prune_history(
        &self,
        older_than: chrono::DateTime<chrono::Utc>,
        keep: i64,
        records_before: chrono::DateTime<chrono::Utc>,
    ) -> Result<u64, AppError> {
        use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
        let write = WriteTransaction::begin(self).await?;
        let pruned = crate::events::event_log::prune(&write.tx, older_than, keep).await?;
        entity::idempotency_key::Entity::delete_many()
            .filter(entity::idempotency_key::Column::CreatedAt.lt(records_before))
            .exec(&write.tx)
            .await?;
        bookings::prune_ended(&write.tx, records_before).await?;
        storage::sessions::prune(&write.tx, records_before).await?;
        waitlist::prune_ended(&write.tx, records_before).await?;
        // Booking events exist for webhooks: kept as long as slot events,
        // and until every active subscription has delivered them.
        // So do waitlist events.
        use crate::events::Lane;
        use sea_orm::sea_query::{Expr, ExprTrait};
        let position = |version: Expr, lane: Lane| version.mul(Lane::COUNT).add(lane as i64);
        entity::booking_event::Entity::delete_many()
            .filter(entity::booking_event::Column::OccurredAt.lt(older_than))
            .filter(crate::events::event_log::delivered_to_webhooks(
                entity::booking_event::Entity,
                entity::booking_event::Column::ProviderId,
                position(
                    Expr::col((entity::booking_event::Entity, entity::booking_event::Column::Version)),
                    Lane::Booking,
                ),
            ))
            .exec(&write.tx)
            .await?;
        entity::waitlist_event::Entity::delete_many()
            .filter(entity::waitlist_event::Column::OccurredAt.lt(older_than))
            .filter(crate::events::event_log::delivered_to_webhooks(
                entity::waitlist_event::Entity,
                entity::waitlist_event::Column::ProviderId,
                position(
                    Expr::col((entity::waitlist_event::Entity, entity::waitlist_event::Column::Version)),
                    Lane::Waitlist,
                ),
            ))
            .exec(&write.tx)
            .await?;
        write.commit().await?;
        Ok(pruned)
    }
}
