//! Keeping the bus level with the log: whatever is committed is published;
//! and with the catalogue: whichever provider is deactivated is ended.
//!
//! A commit publishes its own events (see `app::unit_of_work`), and on
//! PostgreSQL the relay publishes other instances' commits. This module is
//! the one place that brings the bus level with the database from the log:
//! the relay calls it after a notification or a reconnect, and `run` calls it
//! whenever the bus noticed a gap and, as a safety net, on a fixed period for
//! every provider, so no path (a task that died between commit and publish, a
//! lost notification, another process writing the file) leaves the bus behind
//! the database for longer than one period.

use std::collections::HashSet;
use std::time::Duration;

use entity::provider;
use sea_orm::{ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, QuerySelect};
use uuid::Uuid;

use super::{Bus, catch_up, event_log, versions};

/// Publish a provider's committed events newer than what the bus has
/// published, in order. Versions the log no longer holds (pruned) are passed
/// over; subscribers behind them get a reset from their own catch-up.
pub async fn provider(db: &DatabaseConnection, bus: &Bus, provider_id: Uuid) -> Result<(), DbErr> {
    // Read first: every event up to it is in the log, unless pruned.
    let Some(committed) = versions::committed(db, provider_id).await? else { return Ok(()) };
    bus.note_committed(provider_id, committed);
    loop {
        let published = bus.published_version(provider_id);
        if published >= committed {
            return Ok(());
        }
        let events = event_log::after(db, provider_id, published, catch_up::PAGE as u64).await?;
        match events.first() {
            None => {
                bus.observe_version(provider_id, committed);
                return Ok(());
            }
            Some(first) if first.version != published + 1 => bus.observe_version(provider_id, first.version - 1),
            Some(_) => {}
        }
        bus.publish(&events);
    }
}

/// Bring the bus's ended providers level with the database's deactivated
/// ones: at start-up (the bus remembers nothing of its own), and when the
/// relay reconnects (a deactivation may have been announced while nobody
/// listened; its open streams end now).
pub async fn deactivations(db: &DatabaseConnection, bus: &Bus) -> Result<(), DbErr> {
    let deactivated: HashSet<Uuid> = provider::Entity::find()
        .select_only()
        .column(provider::Column::Id)
        .filter(provider::Column::Active.eq(false))
        .into_tuple::<Uuid>()
        .all(db)
        .await?
        .into_iter()
        .collect();
    bus.set_ended_providers(&deactivated);
    Ok(())
}

/// Bring every provider level with the database.
pub async fn all(db: &DatabaseConnection, bus: &Bus) -> Result<(), DbErr> {
    for (provider_id, version) in versions::all_committed(db).await? {
        if version > bus.published_version(provider_id) {
            provider(db, bus, provider_id).await?;
        }
    }
    Ok(())
}

/// Forever (the server drops it when stopping): fill gaps the bus reports at
/// once, and sweep every provider every `period`.
pub async fn run(db: DatabaseConnection, bus: Bus, period: Duration) {
    let mut next_sweep = tokio::time::Instant::now() + period;
    loop {
        tokio::select! {
            () = bus.fell_behind() => {
                for provider_id in bus.lagging_providers() {
                    if let Err(error) = provider(&db, &bus, provider_id).await {
                        tracing::warn!(%provider_id, %error, "reconcile: catch-up failed");
                    }
                }
            }
            () = tokio::time::sleep_until(next_sweep) => {
                next_sweep = tokio::time::Instant::now() + period;
                if let Err(error) = all(&db, &bus).await {
                    tracing::warn!(%error, "reconcile: sweep failed");
                }
            }
        }
    }
}
