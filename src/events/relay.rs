//! The PostgreSQL relay: every instance `LISTEN`s on `slot_events`; each
//! committing transaction `NOTIFY`s `<provider>:<version>` (delivered only on
//! commit). On a notification the relay reads the provider's new rows from the
//! log and publishes them on the local bus. After any reconnect it catches up
//! every provider from the log, so a lost notification costs latency, never an
//! event. While disconnected the bus's versions are marked untrusted and the
//! 304 path reads versions from the database. It runs until the server
//! drops it when stopping (see `server`).
//!
//! A second channel, `catalogue_changes`, carries changes to the catalogue
//! that instances cache: a provider changed, was deactivated or reactivated, a key was
//! revoked ([`CatalogueChange`]; this module encodes and decodes it). After a
//! reconnect, when such a notification may have been lost, the relay reports
//! `Everything` and the caches start over.

use std::time::Duration;

use sea_orm::sqlx::postgres::PgListener;
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, DbErr, Statement};
use uuid::Uuid;

use super::{Bus, reconcile};
use crate::health::DatabaseHealth;

/// The NOTIFY channel.
pub const CHANNEL: &str = "slot_events";

/// The NOTIFY channel of catalogue changes.
pub const CATALOGUE_CHANNEL: &str = "catalogue_changes";

/// A change to what instances cache about the catalogue.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CatalogueChange {
    /// The provider's name, timezone or profile changed.
    Provider(Uuid),
    /// The provider was deactivated: its streams end.
    Deactivated(Uuid),
    /// The provider was reactivated: its streams may open again.
    Reactivated(Uuid),
    /// The provider key with this hash was revoked.
    KeyRevoked(String),
    /// A person signed out of this provider's agenda: its open agenda
    /// streams check their sessions again.
    SessionEnded(Uuid),
    /// Notifications may have been lost: forget everything cached.
    Everything,
}

impl CatalogueChange {
    /// The NOTIFY payload: `provider:<id>`, `deactivated:<id>`, `reactivated:<id>`, `key:<hash>`, `session-ended:<id>`.
    pub fn payload(&self) -> String {
        match self {
            CatalogueChange::Provider(id) => format!("provider:{id}"),
            CatalogueChange::Deactivated(id) => format!("deactivated:{id}"),
            CatalogueChange::Reactivated(id) => format!("reactivated:{id}"),
            CatalogueChange::KeyRevoked(hash) => format!("key:{hash}"),
            CatalogueChange::SessionEnded(id) => format!("session-ended:{id}"),
            CatalogueChange::Everything => "everything".to_owned(),
        }
    }

    fn parse(payload: &str) -> Option<CatalogueChange> {
        match payload.split_once(':') {
            Some(("provider", id)) => Some(CatalogueChange::Provider(id.parse().ok()?)),
            Some(("deactivated", id)) => Some(CatalogueChange::Deactivated(id.parse().ok()?)),
            Some(("reactivated", id)) => Some(CatalogueChange::Reactivated(id.parse().ok()?)),
            Some(("session-ended", id)) => Some(CatalogueChange::SessionEnded(id.parse().ok()?)),
            Some(("key", hash)) if !hash.is_empty() => Some(CatalogueChange::KeyRevoked(hash.to_owned())),
            None if payload == "everything" => Some(CatalogueChange::Everything),
            _ => None,
        }
    }
}

/// Tell every instance (this one too) about `change` when `conn`'s
/// transaction commits. PostgreSQL only: on SQLite there is one instance,
/// which applies the change itself.
pub async fn notify_catalogue(conn: &impl ConnectionTrait, change: &CatalogueChange) -> Result<(), DbErr> {
    if conn.get_database_backend() == DbBackend::Postgres {
        conn.execute_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT pg_notify($1, $2)",
            [CATALOGUE_CHANNEL.into(), change.payload().into()],
        ))
        .await?;
    }
    Ok(())
}

/// The bus's versions are trusted exactly while the relay listens and has
/// caught up; `slotstream_relay_listening` tells operators (and tests) which.
fn trust_versions(bus: &Bus, trusted: bool) {
    bus.set_versions_trusted(trusted);
    metrics::gauge!("slotstream_relay_listening").set(if trusted { 1.0 } else { 0.0 });
}

/// Listen, catch up and relay, reconnecting forever; catalogue changes go
/// to `on_catalogue`. While the database is down the retries back off (to
/// one every 5 s: one instance, one connection attempt), and the moment
/// `health` sees it back the relay reconnects and catches up, so that open
/// streams resume at once, from the log.
pub async fn run(
    db: DatabaseConnection,
    bus: Bus,
    health: DatabaseHealth,
    on_catalogue: impl Fn(CatalogueChange) + Send + 'static,
) {
    let mut backoff = Duration::from_millis(100);
    loop {
        trust_versions(&bus, false);
        let mut listener = match connect(&db).await {
            Ok(listener) => listener,
            Err(error) => {
                if health.is_reachable() {
                    tracing::warn!(%error, ?backoff, "event relay: cannot listen; retrying");
                }
                retry_after(&health, &mut backoff).await;
                continue;
            }
        };
        if let Err(error) = async {
            reconcile::all(&db, &bus).await?;
            reconcile::deactivations(&db, &bus).await
        }
        .await
        {
            tracing::warn!(%error, "event relay: catch-up failed; reconnecting");
            retry_after(&health, &mut backoff).await;
            continue;
        }
        // Anything may have changed while nobody listened.
        on_catalogue(CatalogueChange::Everything);
        trust_versions(&bus, true);
        backoff = Duration::from_millis(100);
        tracing::info!("event relay: listening on {CHANNEL}");
        loop {
            match listener.try_recv().await {
                Ok(Some(notification)) if notification.channel() == CATALOGUE_CHANNEL => {
                    match CatalogueChange::parse(notification.payload()) {
                        Some(change) => on_catalogue(change),
                        None => {
                            tracing::warn!(payload = notification.payload(), "event relay: unreadable catalogue change")
                        }
                    }
                }
                Ok(Some(notification)) => match parse_payload(notification.payload()) {
                    // Nobody here watches that provider: the payload's
                    // version is all the 304 path needs, and the log is
                    // not read (every instance reading it for every
                    // event would grow with events × instances).
                    Some((provider_id, version)) if !bus.has_subscribers(provider_id) => {
                        bus.observe_version(provider_id, version);
                    }
                    Some((provider_id, version)) => {
                        bus.note_committed(provider_id, version);
                        if let Err(error) = reconcile::provider(&db, &bus, provider_id).await {
                            tracing::warn!(%error, "event relay: read failed; reconnecting");
                            break;
                        }
                    }
                    None => tracing::warn!(payload = notification.payload(), "event relay: unreadable notification"),
                },
                // `None`: the connection dropped; notifications may be lost.
                Ok(None) | Err(_) => {
                    tracing::warn!("event relay: listener connection lost; reconnecting");
                    break;
                }
            }
        }
    }
}

/// Wait `backoff` (doubled for next time, up to 5 s), or less if the
/// database comes back meanwhile.
async fn retry_after(health: &DatabaseHealth, backoff: &mut Duration) {
    tokio::select! {
        () = tokio::time::sleep(*backoff) => {}
        () = health.recovered() => {}
    }
    *backoff = (*backoff * 2).min(Duration::from_secs(5));
}

async fn connect(db: &DatabaseConnection) -> Result<PgListener, sea_orm::sqlx::Error> {
    let mut listener = PgListener::connect_with(db.get_postgres_connection_pool()).await?;
    // Reconnects are ours to make, after which we catch up. Not eager: a
    // lost connection must say so at once (the versions stop being trusted
    // then), not after the pool's acquire timeout spent reconnecting to a
    // database that is down.
    listener.ignore_pool_close_event(true);
    listener.eager_reconnect(false);
    listener.listen_all([CHANNEL, CATALOGUE_CHANNEL]).await?;
    Ok(listener)
}

/// The notification a commit sends: `<provider>:<version>`.
pub fn payload(provider_id: Uuid, version: i64) -> String {
    format!("{provider_id}:{version}")
}

fn parse_payload(payload: &str) -> Option<(Uuid, i64)> {
    let (provider, version) = payload.split_once(':')?;
    Some((provider.parse().ok()?, version.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_round_trips_and_rejects_garbage() {
        let id = Uuid::new_v4();
        assert_eq!(parse_payload(&payload(id, 42)), Some((id, 42)));
        assert_eq!(parse_payload("nope"), None);
        assert_eq!(parse_payload(&format!("{id}:x")), None);
    }

    #[test]
    fn catalogue_changes_round_trip_and_reject_garbage() {
        let id = Uuid::new_v4();
        for change in [
            CatalogueChange::Provider(id),
            CatalogueChange::Deactivated(id),
            CatalogueChange::Reactivated(id),
            CatalogueChange::KeyRevoked("ab12".into()),
            CatalogueChange::SessionEnded(id),
            CatalogueChange::Everything,
        ] {
            assert_eq!(CatalogueChange::parse(&change.payload()), Some(change));
        }
        assert_eq!(CatalogueChange::parse("provider:nope"), None);
        assert_eq!(CatalogueChange::parse("key:"), None);
        assert_eq!(CatalogueChange::parse("whatever"), None);
    }
}
