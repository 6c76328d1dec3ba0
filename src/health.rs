//! Is the database reachable? What this instance knows of it, kept current
//! without a request ever waiting for the answer: a background prober pings
//! the database every [`PROBE_EVERY`], and a request that meets a
//! connection-level failure reports it at once (`http::unavailable`). Who
//! reads it: `/readyz` (answers from it, never from a query), the request
//! deadline that turns a wait on a dead database into a prompt 503, the
//! availability read that falls back on the render cache, and the stream
//! and relay tasks that wait for the database to come back.
//!
//! Also here: which database errors mean "unreachable" rather than "the
//! query failed" ([`is_unreachable`]), so the application layer maps them to
//! `AppError::DatabaseUnavailable` in one place.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use sea_orm::{DatabaseConnection, DbBackend, DbErr, RuntimeErr};
use tokio::sync::futures::OwnedNotified;
use tokio::sync::{Notify, watch};

/// How often the prober pings, whether the database is up or down: down,
/// it is how soon recovery is seen; up, how soon a quiet outage is.
pub const PROBE_EVERY: Duration = Duration::from_millis(500);

/// How long one ping (and, on PostgreSQL, the prober's own connect) may
/// take before the database counts as unreachable. A local database
/// answers in well under a millisecond, a loaded one in a few.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(1);

/// Cheap-clone handle to the reachability of the database.
#[derive(Clone)]
pub struct DatabaseHealth {
    shared: Arc<Shared>,
}

struct Shared {
    /// Read on every request: an atomic, not the watch's lock.
    reachable: AtomicBool,
    /// The same state for waiters (streams, the relay).
    changes: watch::Sender<bool>,
    /// Wakes every request waiting on a handler when the database becomes
    /// unreachable (`http::unavailable`): a handler stuck on a hung socket
    /// never wakes by itself, so its deadline must start from here. A
    /// `Notify`, not the watch: a pending request registers without a boxed
    /// future of its own.
    outages: Arc<Notify>,
    /// Failures reported so far: a ping that started before a failure was
    /// reported must not mark the database reachable again when it answers.
    failures: AtomicU64,
}

impl Default for DatabaseHealth {
    fn default() -> DatabaseHealth {
        DatabaseHealth::new()
    }
}

impl DatabaseHealth {
    /// Reachable: the server connected and migrated before anything reads it.
    pub fn new() -> DatabaseHealth {
        DatabaseHealth {
            shared: Arc::new(Shared {
                reachable: AtomicBool::new(true),
                changes: watch::Sender::new(true),
                outages: Arc::new(Notify::new()),
                failures: AtomicU64::new(0),
            }),
        }
    }

    pub fn is_reachable(&self) -> bool {
        self.shared.reachable.load(Ordering::Acquire)
    }

    /// A ping answered.
    pub fn mark_reachable(&self) {
        self.set(true, "");
    }

    /// How many failures have been reported: read before a ping starts.
    pub fn failures_seen(&self) -> u64 {
        self.shared.failures.load(Ordering::Acquire)
    }

    /// A ping that started when [`failures_seen`](Self::failures_seen) read
    /// `seen` answered: reachable, unless a failure was reported meanwhile
    /// (its answer may predate the outage that failure saw).
    pub fn mark_reachable_unless_failed_since(&self, seen: u64) {
        if self.failures_seen() == seen {
            self.mark_reachable();
        }
    }

    /// A ping or a request failed for want of the database; `why` is logged
    /// on the change only, not on every failure of an outage.
    pub fn mark_unreachable(&self, why: &str) {
        self.shared.failures.fetch_add(1, Ordering::AcqRel);
        self.set(false, why);
    }

    fn set(&self, reachable: bool, why: &str) {
        if self.shared.reachable.swap(reachable, Ordering::AcqRel) == reachable {
            return;
        }
        self.shared.changes.send_replace(reachable);
        if !reachable {
            self.shared.outages.notify_waiters();
        }
        self.set_gauge();
        if reachable {
            tracing::info!("database reachable again");
        } else {
            tracing::warn!(error = why, "database unreachable");
        }
    }

    /// `slotstream_database_reachable`: 1 or 0.
    fn set_gauge(&self) {
        metrics::gauge!("slotstream_database_reachable").set(if self.is_reachable() { 1.0 } else { 0.0 });
    }

    /// Resolves the next time the database is marked unreachable. It counts
    /// from its creation, not its first poll: made before a check of
    /// [`is_reachable`](Self::is_reachable), it misses no change after it.
    pub fn next_outage(&self) -> OwnedNotified {
        self.shared.outages.clone().notified_owned()
    }

    /// Resolves at once when reachable, else when it becomes so.
    pub async fn reachable(&self) {
        let mut changes = self.shared.changes.subscribe();
        // Errs only if the sender is gone, and `self` holds it.
        let _ = changes.wait_for(|reachable| *reachable).await;
    }

    /// Resolves the next time the database comes back after being
    /// unreachable (not at once when it is reachable now): for a task
    /// whose retry should start the moment it is back.
    pub async fn recovered(&self) {
        let mut changes = self.shared.changes.subscribe();
        let _ = changes.wait_for(|reachable| !*reachable).await;
        let _ = changes.wait_for(|reachable| *reachable).await;
    }
}

/// Does `error` say the database cannot be reached (no connection to be
/// had, the connection broke, the server is shutting down or starting),
/// rather than that a statement failed?
pub fn is_unreachable(error: &DbErr) -> bool {
    use sea_orm::sqlx::Error;
    match error {
        // Timed out waiting for a connection (while the database refuses
        // them, the pool retries until its acquire timeout), or closed.
        DbErr::ConnectionAcquire(_) => true,
        DbErr::Conn(RuntimeErr::SqlxError(error))
        | DbErr::Exec(RuntimeErr::SqlxError(error))
        | DbErr::Query(RuntimeErr::SqlxError(error)) => match &**error {
            Error::Io(_) | Error::Tls(_) | Error::PoolTimedOut | Error::PoolClosed | Error::WorkerCrashed => true,
            // SQLSTATE class 08 (connection exception); 57P01..57P03: the
            // server is shutting down, crashed or is starting up.
            Error::Database(error) => {
                error.code().is_some_and(|code| code.starts_with("08") || matches!(&*code, "57P01" | "57P02" | "57P03"))
            }
            _ => false,
        },
        DbErr::Conn(_) => true,
        _ => false,
    }
}

/// Ping the database every [`PROBE_EVERY`] and keep `health` current, until
/// the server drops this task. On PostgreSQL over a connection of its own,
/// so that a pool busy with requests is not taken for a database gone.
pub async fn probe(db: DatabaseConnection, health: DatabaseHealth) {
    let mut own = None;
    loop {
        let seen = health.failures_seen();
        let answered = match db.get_database_backend() {
            DbBackend::Postgres => ping_own_connection(&db, &mut own).await,
            _ => match tokio::time::timeout(PROBE_TIMEOUT, db.ping()).await {
                Ok(result) => result.map_err(|e| e.to_string()),
                Err(_) => Err("ping timed out".to_owned()),
            },
        };
        match answered {
            Ok(()) => health.mark_reachable_unless_failed_since(seen),
            Err(why) => health.mark_unreachable(&why),
        }
        // Set every round as well: the recorder may be installed after
        // `DatabaseHealth::new`, and the gauge must show from the start.
        health.set_gauge();
        tokio::time::sleep(PROBE_EVERY).await;
    }
}

/// Ping over the prober's own connection, opening it (again) if needed; a
/// connection that failed is dropped, and the next round opens another.
async fn ping_own_connection(
    db: &DatabaseConnection,
    own: &mut Option<sea_orm::sqlx::PgConnection>,
) -> Result<(), String> {
    use sea_orm::sqlx::Connection;
    let answered = tokio::time::timeout(PROBE_TIMEOUT, async {
        if own.is_none() {
            let options = db.get_postgres_connection_pool().connect_options();
            *own = Some(sea_orm::sqlx::PgConnection::connect_with(&options).await?);
        }
        match own.as_mut() {
            Some(connection) => connection.ping().await,
            None => Ok(()),
        }
    })
    .await;
    let result = match answered {
        Ok(result) => result.map_err(|e| e.to_string()),
        Err(_) => Err("ping timed out".to_owned()),
    };
    if result.is_err() {
        *own = None;
    }
    result
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use sea_orm::{ConnAcquireErr, DbErr, RuntimeErr};

    use super::*;

    fn sqlx(error: sea_orm::sqlx::Error) -> RuntimeErr {
        RuntimeErr::SqlxError(Arc::new(error))
    }

    #[test]
    fn connection_failures_are_unreachable_and_statement_failures_are_not() {
        let refused = || sea_orm::sqlx::Error::Io(std::io::Error::from(std::io::ErrorKind::ConnectionRefused));
        assert!(is_unreachable(&DbErr::ConnectionAcquire(ConnAcquireErr::Timeout)));
        assert!(is_unreachable(&DbErr::ConnectionAcquire(ConnAcquireErr::ConnectionClosed)));
        assert!(is_unreachable(&DbErr::Conn(sqlx(refused()))));
        assert!(is_unreachable(&DbErr::Query(sqlx(refused()))), "a pooled connection broke mid-query");
        assert!(is_unreachable(&DbErr::Exec(sqlx(sea_orm::sqlx::Error::PoolTimedOut))));
        assert!(!is_unreachable(&DbErr::Query(sqlx(sea_orm::sqlx::Error::RowNotFound))));
        assert!(!is_unreachable(&DbErr::RecordNotFound("x".into())));
        assert!(!is_unreachable(&DbErr::Custom("x".into())));
        assert!(!is_unreachable(&DbErr::Exec(RuntimeErr::Internal("syntax".into()))));
    }

    #[test]
    fn a_ping_that_started_before_a_reported_failure_does_not_mark_the_database_reachable() {
        let health = DatabaseHealth::new();
        let seen = health.failures_seen();
        health.mark_unreachable("a request saw the connection refused");
        health.mark_reachable_unless_failed_since(seen);
        assert!(!health.is_reachable(), "the ping's answer predates the failure");
        let seen = health.failures_seen();
        health.mark_reachable_unless_failed_since(seen);
        assert!(health.is_reachable(), "a ping started after it counts");
    }

    #[tokio::test]
    async fn waiters_wake_on_the_change_they_wait_for() {
        let health = DatabaseHealth::new();
        health.reachable().await;
        let recovered = tokio::spawn({
            let health = health.clone();
            async move { health.recovered().await }
        });
        tokio::task::yield_now().await;
        assert!(!recovered.is_finished(), "reachable now is not a recovery");
        health.mark_unreachable("test");
        assert!(!health.is_reachable());
        let waiting = tokio::spawn({
            let health = health.clone();
            async move { health.reachable().await }
        });
        tokio::task::yield_now().await;
        assert!(!waiting.is_finished());
        health.mark_reachable();
        tokio::time::timeout(Duration::from_secs(5), waiting).await.unwrap().unwrap();
        tokio::time::timeout(Duration::from_secs(5), recovered).await.unwrap().unwrap();
    }
}
