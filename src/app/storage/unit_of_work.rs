//! `UnitOfWork`: one write transaction on one provider's calendar and the
//! one place where a commit becomes a published event; and `CatalogueWrite`,
//! the catalogue's writes that change no slot (providers, services, keys).
//! Both begin through `write_transaction::WriteTransaction`, the one door.
//!
//! It takes the provider row first (a row lock on PostgreSQL; the process's
//! single-writer lock on SQLite, where writers queue instead of failing with
//! "database is locked"), which serialises the writers of one provider and
//! gives every transaction the same lock order. On commit it appends the
//! recorded events to the log as the next versions, advances the provider's
//! version by their number, NOTIFYs (PostgreSQL; delivered only if the
//! transaction commits) and, after the commit, publishes on the local bus.
//!
//! A booking command also records its booking change (for webhooks): it is
//! written to `booking_event` in the same transaction, at the version the
//! transaction commits (its last slot event's), so the webhook sender sees it
//! after that transaction's slot events and before the next transaction's.
//! A waitlist change (an offer made, fulfilled, expired) is written to
//! `waitlist_event` at the version of the last slot event recorded before
//! it: each follows the slot events that made it.
//!
//! Commit and publish run in a task of their own: a client that hangs up, or
//! the request timeout, drops the request's future but cannot cut between
//! `COMMIT` and the publish, so a committed change is always announced. On
//! SQLite the publish happens before the writer lock is released, so commits
//! are published in version order.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use entity::{booking_event, provider, waitlist_event};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseTransaction, DbBackend, DbErr,
    EntityTrait, QueryFilter, SqlErr, Statement,
};
use tokio::sync::OwnedMutexGuard;
use uuid::Uuid;

use super::write_transaction::WriteTransaction;
use crate::app::{App, AppError};
use crate::domain::AvailabilitySlotChangedEvent;
use crate::events::{BookingChange, WaitlistChange};
use crate::events::{Bus, PublishedEvent, event_log, relay};

pub struct UnitOfWork {
    pub tx: DatabaseTransaction,
    pub provider_id: Uuid,
    /// The provider's row as locked: its version (the base of the events'
    /// versions), its `updated_at` (the new one is never earlier), its
    /// activity, slot source, booking URL and upstream sequence.
    provider: provider::Model,
    /// The provider's zone, in which each recorded event's slot gets its
    /// instants (`None` only for a zone this build does not know).
    timezone: Option<Tz>,
    events: Vec<AvailabilitySlotChangedEvent>,
    /// The booking change this transaction makes, if it is a booking command.
    booking_change: Option<BookingChange>,
    /// The waitlist changes it makes, each at the version of the slot event before it.
    waitlist_changes: Vec<(i64, WaitlistChange)>,
    /// Held until the commit is published, or until drop (SQLite only).
    writer: Option<OwnedMutexGuard<()>>,
}

impl UnitOfWork {
    pub async fn begin(app: &App, provider_id: Uuid) -> Result<UnitOfWork, AppError> {
        let (write, row) = WriteTransaction::begin_on_provider(app, provider_id).await?;
        let row = row.ok_or_else(|| AppError::NotFound(format!("provider {provider_id} does not exist")))?;
        let (tx, writer) = write.into_parts();
        Ok(UnitOfWork {
            tx,
            provider_id,
            timezone: row.timezone.parse().ok(),
            provider: row,
            events: Vec::new(),
            booking_change: None,
            waitlist_changes: Vec::new(),
            writer,
        })
    }

    /// `Gone` (410) if the provider is deactivated: checked under the
    /// provider lock, so no booking, hold or provider write (slots, blocks,
    /// webhooks) slips in beside a deactivation on another instance.
    /// Cancelling, releasing and expiring still work.
    pub fn require_active(&self) -> Result<(), AppError> {
        if self.provider.active {
            Ok(())
        } else {
            Err(AppError::Gone(format!(
                "provider {} is deactivated and takes no bookings, holds or changes",
                self.provider_id
            )))
        }
    }

    /// The provider's row, as locked.
    pub fn provider(&self) -> &provider::Model {
        &self.provider
    }

    /// 409 `conflict` for a provider whose slots the marketplace's booking
    /// system owns (`slotSource: external`): its slots are not opened,
    /// blocked or planned here, only mirrored (`app::upstream`).
    pub fn require_own_slots(&self) -> Result<(), AppError> {
        if self.provider.slot_source == provider::SlotSource::Schedule {
            Ok(())
        } else {
            Err(AppError::StateConflict(format!(
                "provider {}'s slots come from the marketplace's booking system (slotSource external); \
                 they change only through its slot changes",
                self.provider_id
            )))
        }
    }

    /// Make a count of one client's things (holds, waitlist entries) and the
    /// insert after it one step per client: on SQLite the single writer sees
    /// to it; on PostgreSQL the provider lock does not (one client may act at
    /// several providers at once), so a transaction lock on `client_scope` does.
    pub async fn lock_client(&self, client_scope: &str) -> Result<(), AppError> {
        if self.tx.get_database_backend() == DbBackend::Postgres {
            self.tx
                .execute_raw(Statement::from_sql_and_values(
                    DbBackend::Postgres,
                    "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))",
                    [client_scope.into()],
                ))
                .await?;
        }
        Ok(())
    }

    /// The provider's zone, as locked (`None` for a zone this build does not know).
    pub fn timezone(&self) -> Option<Tz> {
        self.timezone
    }

    /// Record a slot's event, with the instants its slot denotes in the provider's zone.
    pub fn record(&mut self, event: AvailabilitySlotChangedEvent) {
        self.events.push(match self.timezone {
            Some(tz) => event.located(tz),
            None => event,
        });
    }

    /// Record a slot's event, if a transition raised one.
    pub fn record_if(&mut self, event: Option<AvailabilitySlotChangedEvent>) {
        if let Some(event) = event {
            self.record(event);
        }
    }

    /// Record the booking change this transaction makes (one per transaction).
    pub fn record_booking(&mut self, change: BookingChange) {
        self.booking_change = Some(change);
    }

    /// Record a waitlist change at the version of the last event recorded
    /// so far for slot `after_slot` (the slot an offer held, an expiry
    /// released, a claim booked, a notification was about). Each change
    /// needs a slot event of its own: `false` (nothing recorded) when that
    /// event already carries one, or when there is none.
    pub fn record_waitlist(&mut self, change: WaitlistChange, after_slot: Uuid) -> bool {
        let Some(position) = self.events.iter().rposition(|event| event.availability_id == after_slot) else {
            return false;
        };
        let version = self.provider.version + position as i64 + 1;
        if self.waitlist_changes.iter().any(|(taken, _)| *taken == version) {
            return false;
        }
        self.waitlist_changes.push((version, change));
        true
    }

    /// The version the provider will have after commit.
    pub fn next_version(&self) -> i64 {
        self.provider.version + self.events.len() as i64
    }

    /// Commit and publish, to completion even if the caller is dropped.
    /// Returns the published events.
    pub async fn commit(self, app: &App) -> Result<Vec<Arc<PublishedEvent>>, AppError> {
        let bus = app.bus.clone();
        let wake_webhooks = app.webhooks.wake.clone();
        let commit = tokio::spawn(async move {
            let published = self.commit_and_publish(bus).await;
            wake_webhooks.notify_one();
            published
        });
        match commit.await {
            Ok(result) => result,
            Err(error) => Err(AppError::Internal(format!("commit task failed: {error}"))),
        }
    }

    async fn commit_and_publish(self, bus: Bus) -> Result<Vec<Arc<PublishedEvent>>, AppError> {
        let UnitOfWork { tx, provider_id, provider, events, booking_change, waitlist_changes, writer, .. } = self;
        let (base_version, base_updated_at) = (provider.version, provider.updated_at);
        let published = event_log::append(&tx, base_version, &events).await?;
        if let Some(change) = booking_change {
            // A booking command always changes at least one slot, so this
            // version is its own transaction's and the key is unique.
            let version = base_version + events.len() as i64;
            booking_event::ActiveModel {
                provider_id: Set(provider_id),
                version: Set(version),
                kind: Set(change.kind.as_str().to_owned()),
                booking_id: Set(change.booking_id),
                data: Set(change.data.to_string()),
                occurred_at: Set(Utc::now()),
            }
            .insert(&tx)
            .await?;
        }
        for (version, change) in waitlist_changes {
            waitlist_event::ActiveModel {
                provider_id: Set(provider_id),
                version: Set(version),
                kind: Set(change.kind.as_str().to_owned()),
                entry_id: Set(change.entry_id),
                data: Set(change.data.to_string()),
                occurred_at: Set(Utc::now()),
            }
            .insert(&tx)
            .await?;
        }
        if let Some(last) = published.last() {
            advance_version_with(&tx, provider_id, last.version, base_updated_at, &events).await?;
        }
        tx.commit().await?;
        bus.publish(&published);
        drop(writer);
        metrics::counter!("slotstream_events_published_total").increment(published.len() as u64);
        Ok(published)
    }
}

/// Move the provider to `version`, its `updated_at` to now (never backwards,
/// whatever the clocks of several instances say), and NOTIFY the instances.
pub(in crate::app) async fn advance_version(
    tx: &DatabaseTransaction,
    provider_id: Uuid,
    version: i64,
    base_updated_at: DateTime<Utc>,
) -> Result<(), DbErr> {
    advance_version_with(tx, provider_id, version, base_updated_at, &[]).await
}

/// `advance_version` to the last of `events` (the versions up to `version`),
/// whose notification carries them when they fit (see `relay::payload`), so
/// other instances publish them without reading the log.
async fn advance_version_with(
    tx: &DatabaseTransaction,
    provider_id: Uuid,
    version: i64,
    base_updated_at: DateTime<Utc>,
    events: &[AvailabilitySlotChangedEvent],
) -> Result<(), DbErr> {
    let updated_at = Utc::now().max(base_updated_at);
    provider::Entity::update_many()
        .col_expr(provider::Column::Version, Expr::value(version))
        .col_expr(provider::Column::UpdatedAt, Expr::value(updated_at))
        .col_expr(provider::Column::PreviousUpdatedAt, Expr::value(Some(base_updated_at)))
        .filter(provider::Column::Id.eq(provider_id))
        .exec(tx)
        .await?;
    if tx.get_database_backend() == DbBackend::Postgres {
        tx.execute_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT pg_notify($1, $2)",
            [relay::CHANNEL.into(), relay::payload(provider_id, version, events).into()],
        ))
        .await?;
    }
    Ok(())
}

/// A write transaction outside a unit of work (the catalogue changes no
/// slots), begun through the same door (`WriteTransaction::begin`).
pub(in crate::app) struct CatalogueWrite {
    pub tx: DatabaseTransaction,
    _writer: Option<OwnedMutexGuard<()>>,
}

impl CatalogueWrite {
    pub async fn begin(app: &App) -> Result<CatalogueWrite, AppError> {
        let (tx, writer) = WriteTransaction::begin(app).await?.into_parts();
        Ok(CatalogueWrite { tx, _writer: writer })
    }

    pub async fn commit(self) -> Result<(), AppError> {
        self.tx.commit().await.map_err(conflict_on_duplicate)
    }

    /// Commit, then run `follow_up` (this instance's own repair after the
    /// change: its bus level with a version advanced without an event, its
    /// directory and the bus's ended providers), before the writer is
    /// released: in a task of its own, so a dropped request (a client that
    /// hangs up) cannot cut between the commit and the follow-up and leave
    /// this instance showing the old state (STYLE 14). Other instances hear
    /// the NOTIFY. `follow_up` runs only if the commit succeeded.
    pub async fn commit_then(self, follow_up: impl FnOnce() + Send + 'static) -> Result<(), AppError> {
        let CatalogueWrite { tx, _writer: writer } = self;
        let commit = tokio::spawn(async move {
            tx.commit().await.map_err(conflict_on_duplicate)?;
            follow_up();
            drop(writer);
            Ok(())
        });
        commit.await.map_err(|error| AppError::Internal(format!("commit task failed: {error}")))?
    }
}

/// A unique violation a catalogue write could not avoid: the caller may
/// retry (and then finds what the other write made).
pub(in crate::app) fn conflict_on_duplicate(error: DbErr) -> AppError {
    match error.sql_err() {
        Some(SqlErr::UniqueConstraintViolation(_)) => {
            AppError::StateConflict("the same external id was created concurrently; retry".into())
        }
        _ => AppError::from(error),
    }
}
