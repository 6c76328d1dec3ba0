//! One write transaction on one provider's calendar.
//!
//! It takes the provider row first (a row lock on PostgreSQL; the process's
//! single-writer lock on SQLite, where writers queue instead of failing with
//! "database is locked"), which serialises the writers of one provider and
//! gives every transaction the same lock order. On commit it appends the
//! recorded events to the log as the next versions, advances the provider's
//! version by their number, NOTIFYs (PostgreSQL; delivered only if the
//! transaction commits) and, after the commit, publishes on the local bus.

use std::sync::Arc;

use chrono::Utc;
use sea_orm::{
    ConnectionTrait, DatabaseTransaction, DbBackend, DbErr, TransactionTrait,
};
use tokio::sync::OwnedMutexGuard;
use uuid::Uuid;

use super::{App, AppError};
use crate::domain::AvailabilitySlotChangedEvent;
use crate::events::{PublishedEvent, log, relay};

pub struct UnitOfWork {
    pub tx: DatabaseTransaction,
    pub provider_id: Uuid,
    base_version: i64,
    events: Vec<AvailabilitySlotChangedEvent>,
    /// Held until commit or drop (SQLite only).
    _writer: Option<OwnedMutexGuard<()>>,
}

impl UnitOfWork {
    pub async fn begin(app: &App, provider_id: Uuid) -> Result<UnitOfWork, AppError> {
        let backend = app.db.get_database_backend();
        let writer = match backend {
            DbBackend::Sqlite => Some(app.writer.clone().lock_owned().await),
            _ => None,
        };
        let tx = app.db.begin().await?;
        let lock_sql = match backend {
            DbBackend::Postgres => "SELECT version FROM provider WHERE id = ? FOR UPDATE",
            _ => "SELECT version FROM provider WHERE id = ?",
        };
        let row = tx
            .query_one_raw(log::statement(backend, lock_sql, vec![provider_id.into()]))
            .await?
            .ok_or_else(|| AppError::NotFound(format!("provider {provider_id} does not exist")))?;
        let base_version: i64 = row.try_get("", "version")?;
        Ok(UnitOfWork { tx, provider_id, base_version, events: Vec::new(), _writer: writer })
    }

    pub fn record(&mut self, event: AvailabilitySlotChangedEvent) {
        self.events.push(event);
    }

    /// The version the provider will have after commit.
    pub fn next_version(&self) -> i64 {
        self.base_version + self.events.len() as i64
    }

    /// Commit and publish. Returns the published events.
    pub async fn commit(self, app: &App) -> Result<Vec<Arc<PublishedEvent>>, AppError> {
        let UnitOfWork { tx, provider_id, base_version, events, _writer } = self;
        let published = log::append(&tx, base_version, &events).await?;
        if let Some(last) = published.last() {
            bump_version(&tx, provider_id, last.version).await?;
        }
        tx.commit().await?;
        drop(_writer);
        app.bus.publish(&published);
        metrics::counter!("slotstream_events_published_total").increment(published.len() as u64);
        Ok(published)
    }
}

async fn bump_version(tx: &DatabaseTransaction, provider_id: Uuid, version: i64) -> Result<(), DbErr> {
    let backend = tx.get_database_backend();
    tx.execute_raw(log::statement(
        backend,
        "UPDATE provider SET version = ?, updated_at = ? WHERE id = ?",
        vec![version.into(), Utc::now().into(), provider_id.into()],
    ))
    .await?;
    if backend == DbBackend::Postgres {
        tx.execute_raw(log::statement(
            backend,
            "SELECT pg_notify(?, ?)",
            vec![relay::CHANNEL.into(), format!("{provider_id}:{version}").into()],
        ))
        .await?;
    }
    Ok(())
}
