//! The one door for every write transaction (STYLE 17): every write to the
//! database, a booking's unit of work, a catalogue change, a webhook
//! subscription's removal, the webhook sender's leases and cursors, the
//! pruning of history, begins here and nowhere else.
//!
//! Why it exists: the single-writer lock, `BEGIN IMMEDIATE` and the row lock
//! were written out in several places, and a second copy is where the next
//! race hides (a writer that forgets the lock meets `SQLITE_BUSY`, or
//! interleaves with one that took it).
//!
//! What a write transaction takes:
//! - SQLite: the process's single-writer lock (queued, so no writer ever
//!   meets `SQLITE_BUSY`), held until the transaction ends or its commit is
//!   published, then `BEGIN IMMEDIATE`, so the database's write lock is
//!   taken at `BEGIN`, where the busy timeout applies, not on a first write
//!   after reads (which fails at once if another connection still holds it,
//!   e.g. a dropped transaction whose rollback is queued but not yet run).
//! - PostgreSQL: no process-wide lock; the lock the caller names. `begin_on_provider`
//!   locks the provider row (`SELECT … FOR UPDATE`), which serialises the
//!   writers of one provider across instances and gives every transaction
//!   the same lock order; `begin` locks only the rows its statements write,
//!   each as it is written (conditional updates of one row, deletes).

use entity::provider;
use sea_orm::{
    ConnectionTrait, DatabaseTransaction, DbBackend, DbErr, EntityTrait, QuerySelect, SqliteTransactionMode,
    TransactionOptions, TransactionTrait,
};
use tokio::sync::OwnedMutexGuard;
use uuid::Uuid;

use crate::app::App;

/// A write transaction, begun the one way (module header).
pub struct WriteTransaction {
    pub tx: DatabaseTransaction,
    /// The single-writer lock (SQLite only), held until this ends.
    writer: Option<OwnedMutexGuard<()>>,
}

impl WriteTransaction {
    /// A write transaction that names no row up front: on PostgreSQL its
    /// statements lock the rows they write.
    pub async fn begin(app: &App) -> Result<WriteTransaction, DbErr> {
        let writer = match app.db.get_database_backend() {
            DbBackend::Sqlite => Some(app.writer.clone().lock_owned().await),
            _ => None,
        };
        let options = TransactionOptions {
            sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
            ..TransactionOptions::default()
        };
        let tx = app.db.begin_with_options(options).await?;
        Ok(WriteTransaction { tx, writer })
    }

    /// A write transaction on one provider's calendar: the provider row,
    /// read first and locked (`FOR UPDATE`) on PostgreSQL; `None` if there
    /// is no such provider.
    pub async fn begin_on_provider(
        app: &App,
        provider_id: Uuid,
    ) -> Result<(WriteTransaction, Option<provider::Model>), DbErr> {
        let write = WriteTransaction::begin(app).await?;
        let mut find = provider::Entity::find_by_id(provider_id);
        if write.tx.get_database_backend() == DbBackend::Postgres {
            find = find.lock_exclusive();
        }
        let row = find.one(&write.tx).await?;
        Ok((write, row))
    }

    pub async fn commit(self) -> Result<(), DbErr> {
        self.tx.commit().await
    }

    /// The transaction and the writer lock, for a commit that must release
    /// the lock only after it has published (`UnitOfWork`, `CatalogueWrite`).
    pub fn into_parts(self) -> (DatabaseTransaction, Option<OwnedMutexGuard<()>>) {
        (self.tx, self.writer)
    }
}
