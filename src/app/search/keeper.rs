//! The task that keeps the search index current: first a full read of every
//! active provider, then, change by change from the index's queue, each
//! published event applied in place, and each provider whose copy cannot be
//! brought forward that way (a version moved without its events here, a
//! catalogue change, a new provider) read again from the database, in
//! batches. A change counts as applied only once every read it caused is in.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use chrono::{Days, Utc};
use sea_orm::{DatabaseConnection, DbErr};
use uuid::Uuid;

use super::index::{Applied, Change, SearchIndex};
use super::load;
use crate::app::backoff::backoff;
use crate::events::Tapped;

/// Changes applied under one write lock of the index at most.
const CHANGES_PER_BATCH: usize = 4_096;
/// How often the whole catalogue is compared with the index, whatever was announced.
const COMPARE_EVERY: Duration = Duration::from_secs(30);
/// How often free slots that have ended are dropped.
const TRIM_EVERY: Duration = Duration::from_secs(3_600);

/// Run until the queue closes (the server stopping drops the task first).
pub async fn run(db: DatabaseConnection, index: SearchIndex) {
    let Some(mut queue) = index.take_receiver() else { return };
    let mut failures = 0;
    while let Err(error) = load_all(&db, &index).await {
        tracing::warn!(%error, "search index: first read failed; retrying");
        failures += 1;
        tokio::time::sleep(retry_delay(failures)).await;
    }
    index.mark_loaded();
    let size = index.size();
    tracing::info!(
        providers = size.providers,
        free_slots = size.free_slots,
        bytes = size.bytes,
        "search index: loaded"
    );

    let mut to_read: HashSet<Uuid> = HashSet::new();
    let mut compare_all = false;
    let mut drained = 0;
    let mut trimmed = Instant::now();
    let mut compared = tokio::time::Instant::now();
    failures = 0;
    loop {
        let mut batch = Vec::new();
        if to_read.is_empty() && !compare_all {
            tokio::select! {
                change = queue.recv() => match change {
                    Some(change) => batch.push(change),
                    None => return,
                },
                // A change no notification announces (another process
                // importing into the same SQLite file) is met within this.
                // A sweep, not a change: no search waits for it, and one
                // that fails (the database away) is tried at the next.
                () = tokio::time::sleep_until(compared + COMPARE_EVERY) => {
                    compared = tokio::time::Instant::now();
                    match compare_catalogue(&db, &index).await {
                        Ok(moved) => to_read.extend(moved),
                        Err(error) => tracing::warn!(%error, "search index: catalogue sweep failed"),
                    }
                }
            }
        }
        while batch.len() < CHANGES_PER_BATCH {
            let Ok(change) = queue.try_recv() else { break };
            batch.push(change);
        }
        if let Some((number, _)) = batch.last() {
            drained = *number;
        }
        apply(&index, batch, &mut to_read, &mut compare_all);
        let read = async {
            if compare_all {
                to_read.extend(compare_catalogue(&db, &index).await?);
                compare_all = false;
                compared = tokio::time::Instant::now();
            }
            read_again(&db, &index, &to_read).await?;
            to_read.clear();
            Ok::<_, DbErr>(())
        };
        match read.await {
            Ok(()) => failures = 0,
            Err(error) => {
                tracing::warn!(%error, "search index: read failed; retrying");
                failures += 1;
                tokio::time::sleep(retry_delay(failures)).await;
                continue;
            }
        }
        if to_read.is_empty() && !compare_all {
            index.mark_applied(drained);
        }
        if trimmed.elapsed() >= TRIM_EVERY {
            trim(&index);
            trimmed = Instant::now();
        }
    }
}

fn retry_delay(failures: i32) -> Duration {
    backoff(Duration::from_millis(100), Duration::from_secs(5), failures, rand::random())
}

/// The first date whose slots the index keeps: yesterday in UTC covers
/// every zone's today.
fn since() -> chrono::NaiveDate {
    let today = Utc::now().date_naive();
    today.checked_sub_days(Days::new(1)).unwrap_or(today)
}

async fn load_all(db: &DatabaseConnection, index: &SearchIndex) -> Result<(), DbErr> {
    let mut after = None;
    loop {
        let ids = load::active_ids_after(db, after).await?;
        let Some(&last) = ids.last() else { return Ok(()) };
        let read = load::providers(db, &ids, since()).await?;
        let mut providers = index.write();
        for provider in read.providers {
            providers.insert(provider.id, provider);
        }
        drop(providers);
        after = Some(last);
    }
}

/// Apply a batch of changes under one write lock; note which providers
/// must be read again.
fn apply(index: &SearchIndex, batch: Vec<(u64, Change)>, to_read: &mut HashSet<Uuid>, compare_all: &mut bool) {
    let mut providers = index.write();
    for (_, change) in batch {
        match change {
            Change::Bus(Tapped::Event(event)) => {
                if to_read.contains(&event.provider_id) {
                    continue;
                }
                match providers.get_mut(&event.provider_id) {
                    Some(provider) => {
                        if let Applied::Gap = provider.apply(&event) {
                            to_read.insert(event.provider_id);
                        }
                    }
                    // New, or deactivated (then the read finds it gone again).
                    None => {
                        to_read.insert(event.provider_id);
                    }
                }
            }
            Change::Bus(Tapped::Version { provider_id, version }) => {
                if providers.get(&provider_id).is_none_or(|provider| version > provider.version) {
                    to_read.insert(provider_id);
                }
            }
            Change::Catalogue(provider_id) => {
                to_read.insert(provider_id);
            }
            Change::Everything => *compare_all = true,
        }
    }
}

/// Read `ids` again, in batches. Each batch is one snapshot, and no event
/// is applied while it is read (this task applies them), so the events still
/// queued continue each copy exactly: those at or below its version are
/// skipped, the next applied, one past a gap makes it read again.
async fn read_again(db: &DatabaseConnection, index: &SearchIndex, ids: &HashSet<Uuid>) -> Result<(), DbErr> {
    let ids: Vec<Uuid> = ids.iter().copied().collect();
    for chunk in ids.chunks(load::BATCH) {
        let read = load::providers(db, chunk, since()).await?;
        metrics::counter!("slotstream_search_index_reads_total").increment(chunk.len() as u64);
        let mut providers = index.write();
        for id in read.gone {
            providers.remove(&id);
        }
        for provider in read.providers {
            providers.insert(provider.id, provider);
        }
    }
    Ok(())
}

/// After notifications may have been lost: every provider's catalogue is
/// compared with the copy (kept in place when only names or services
/// changed) and those whose version moved are returned, to be read again.
async fn compare_catalogue(db: &DatabaseConnection, index: &SearchIndex) -> Result<Vec<Uuid>, DbErr> {
    let catalogue = load::catalogue(db).await?;
    let mut providers = index.write();
    let mut moved = Vec::new();
    for (row, services) in catalogue {
        match providers.get_mut(&row.id) {
            Some(_) if !load::searchable(&row) => {
                providers.remove(&row.id);
            }
            Some(held) if held.version == row.version && held.timezone.name() == row.timezone => {
                held.name = row.name;
                held.address = row.address;
                held.services = services;
            }
            Some(_) => moved.push(row.id),
            None if load::searchable(&row) => moved.push(row.id),
            None => {}
        }
    }
    Ok(moved)
}

/// Drop free slots that ended before yesterday (nobody can book them).
fn trim(index: &SearchIndex) {
    let Some(cutoff) = since().and_hms_opt(0, 0, 0) else { return };
    let cutoff = cutoff.and_utc().timestamp();
    for provider in index.write().values_mut() {
        provider.free.retain(|slot| slot.end >= cutoff);
    }
}
