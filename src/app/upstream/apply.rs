//! Applying what the upstream publishes: a batch of slot changes, or a
//! snapshot of a date range, in one unit of work on the provider (its lock
//! serialises them with each other, on every instance). Checked whole
//! before the lock is taken, so bad input changes nothing; the sequence is
//! compared and advanced under the lock (module `upstream`'s invariants).

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Timelike, Utc};
use entity::provider;
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QuerySelect};
use uuid::Uuid;

use super::{Applied, PublishedSlot, SLOTS_PER_BATCH_MAX, SlotChanges, SlotSnapshot, SnapshotRange};
use crate::app::catalogue::check_external_id;
use crate::app::storage::slot_set::{SlotSet, insert_new, to_row};
use crate::app::waitlist;
use crate::app::{App, AppError, UnitOfWork};
use crate::domain::{
    Actor, BookableRange, LocalSlot, Mirroring, ProviderAvailability, SlotStatus, UpstreamStatus, mirroring, place,
};

/// A published slot, checked and placed on the provider's calendar.
struct Placed<'a> {
    published: &'a PublishedSlot,
    local: LocalSlot,
}

impl App {
    /// Apply a batch of the upstream's slot changes to the provider
    /// `external_id` (`slotSource: external`).
    #[tracing::instrument(skip(self, batch), fields(sequence = batch.sequence, changes = batch.changes.len()))]
    pub async fn apply_slot_changes(&self, external_id: &str, batch: SlotChanges) -> Result<Applied, AppError> {
        self.mirror(external_id, batch.sequence, "changes", &batch.changes, None).await
    }

    /// Apply a snapshot: `snapshot.slots` are every slot of the local dates
    /// `range`; the provider's other slots there are removed.
    #[tracing::instrument(skip(self, snapshot), fields(sequence = snapshot.sequence, slots = snapshot.slots.len()))]
    pub async fn apply_snapshot(
        &self,
        external_id: &str,
        range: SnapshotRange,
        snapshot: SlotSnapshot,
    ) -> Result<Applied, AppError> {
        self.mirror(external_id, snapshot.sequence, "slots", &snapshot.slots, Some(range)).await
    }

    async fn mirror(
        &self,
        external_id: &str,
        sequence: i64,
        field: &str,
        published: &[PublishedSlot],
        range: Option<SnapshotRange>,
    ) -> Result<Applied, AppError> {
        check_external_id("externalId", external_id)?;
        let bookable = self.bookable_range();
        check_batch(sequence, field, published, range, &bookable)?;
        let provider_id = provider::Entity::find()
            .select_only()
            .column(provider::Column::Id)
            .filter(provider::Column::ExternalId.eq(external_id))
            .into_tuple::<Uuid>()
            .one(&self.db)
            .await?
            .ok_or_else(|| AppError::NotFound(format!("provider {external_id:?} does not exist")))?;

        let mut uow = UnitOfWork::begin(self, provider_id).await?;
        uow.require_active()?;
        if uow.provider().slot_source != provider::SlotSource::External {
            return Err(AppError::StateConflict(format!(
                "provider {external_id:?} opens its own slots (slotSource schedule): set slotSource external \
                 to publish its slots from the marketplace's booking system"
            )));
        }
        let (version, last) = (uow.provider().version, uow.provider().external_sequence);
        if let Some(last) = last.filter(|&last| sequence <= last) {
            return Ok(Applied { applied: false, reason: Some("stale"), events: 0, version, sequence: last });
        }
        let tz = uow.timezone().ok_or_else(|| {
            AppError::StateConflict(format!("provider {external_id:?} has a timezone this build does not know"))
        })?;

        // The last change of each slot wins (module `upstream`).
        let mut latest: HashMap<&str, usize> = HashMap::new();
        for (position, slot) in published.iter().enumerate() {
            latest.insert(slot.external_slot_id.as_str(), position);
        }
        let mut placed = Vec::with_capacity(latest.len());
        let mut starts = HashMap::new();
        for (position, slot) in published.iter().enumerate() {
            if latest.get(slot.external_slot_id.as_str()) != Some(&position) {
                continue;
            }
            let local = place(tz, slot.starts_at.to_utc(), slot.ends_at.to_utc())
                .map_err(|error| AppError::Invalid(format!("{field}[{position}]: {error}")))?;
            // A local date no read could ask for (a zone far ahead of UTC or behind it).
            bookable.date(&format!("{field}[{position}]'s local date"), local.date)?;
            if let Some(range) = range
                && slot.status != UpstreamStatus::Removed
                && !(range.from..=range.to).contains(&local.date)
            {
                return Err(AppError::Invalid(format!(
                    "{field}[{position}] is on {}, outside the snapshot's dates {} to {}",
                    local.date, range.from, range.to
                )));
            }
            if slot.status != UpstreamStatus::Removed
                && let Some(other) = starts.insert((local.date, local.start_time), position)
            {
                return Err(AppError::Invalid(format!(
                    "{field}[{other}] and {field}[{position}] both start at {} {}: a provider has one slot per start",
                    local.date, local.start_time
                )));
            }
            placed.push(Placed { published: slot, local });
        }

        let mut slot_set = SlotSet::new();
        if let Some(range) = range {
            slot_set.load_dates(&uow, range.from, range.to).await?;
        }
        let ids: Vec<&str> = placed.iter().map(|p| p.published.external_slot_id.as_str()).collect();
        slot_set.load_upstream(&uow, &ids).await?;
        let kept = slot_set.upstream_index();
        let now = Utc::now();
        let mut listed = HashSet::new();
        let mut to_open = Vec::new();
        // First what changes or leaves the calendar, so the opened slots
        // below find their times as this batch leaves them.
        for Placed { published, local } in placed {
            let index = kept.get(&published.external_slot_id).copied();
            if published.status != UpstreamStatus::Removed {
                listed.extend(index);
            }
            let status = published.status.slot_status();
            match mirroring(index.map(|i| slot_set.slot(i)), &local, published.status) {
                Mirroring::Unchanged => {}
                Mirroring::Change | Mirroring::Remove => {
                    let Some(i) = index else { continue };
                    uow.record_if(slot_set.slot_mut(i).follow_upstream(status, Actor::Upstream, now));
                }
                Mirroring::Move => {
                    if let Some(i) = index {
                        uow.record_if(slot_set.slot_mut(i).follow_upstream(SlotStatus::Removed, Actor::Upstream, now));
                    }
                    to_open.push((published, local, status));
                }
                Mirroring::Open => to_open.push((published, local, status)),
            }
        }
        if let Some(range) = range {
            // Only the booking system's own slots: one made here before the
            // provider's source changed (a past booking's) is left alone.
            for index in slot_set.between(range.from, range.to) {
                if !listed.contains(&index) && slot_set.is_upstream(index) {
                    uow.record_if(slot_set.slot_mut(index).follow_upstream(SlotStatus::Removed, Actor::Upstream, now));
                }
            }
        }
        // A provider has one slot per local start: a kept slot still at a
        // time this batch opens is older news (a message about it was lost
        // or is late) and gives way.
        let dates: HashSet<_> = to_open.iter().map(|(_, local, _)| local.date).collect();
        for date in dates {
            slot_set.load_date(&uow, date).await?;
        }
        let by_start = slot_set.by_start();
        let mut opened = Vec::with_capacity(to_open.len());
        // The new slots that open available: told to the waitlist once inserted.
        let mut opened_free = Vec::new();
        for (published, local, status) in to_open {
            for &index in by_start.get(&(local.date, local.start_time)).into_iter().flatten() {
                if slot_set.slot(index).status == SlotStatus::Removed {
                    continue;
                }
                if !slot_set.is_upstream(index) {
                    return Err(AppError::StateConflict(format!(
                        "{} {} holds a slot made here, not by the booking system; it is not replaced",
                        local.date, local.start_time
                    )));
                }
                uow.record_if(slot_set.slot_mut(index).follow_upstream(SlotStatus::Removed, Actor::Upstream, now));
            }
            let row = open(&mut uow, &published.external_slot_id, local, status, now);
            if status == SlotStatus::Available
                && let sea_orm::ActiveValue::Set(id) = row.id
            {
                opened_free.push((id, local.date));
            }
            opened.push(row);
        }
        // Told, not held: the booking system owns these times.
        waitlist::offer_freed(self, &mut uow, &mut slot_set, None).await?;
        // Updates and deletes first: a moved slot's row gives up its upstream id before the new one takes it.
        slot_set.save(&uow).await?;
        insert_new(&uow, &opened).await?;
        waitlist::offer_opened(self, &mut uow, &opened_free).await?;
        provider::Entity::update_many()
            .col_expr(provider::Column::ExternalSequence, Expr::value(Some(sequence)))
            .filter(provider::Column::Id.eq(provider_id))
            .exec(&uow.tx)
            .await?;
        let next = uow.next_version();
        uow.commit(self).await?;
        metrics::counter!("slotstream_upstream_batches_applied_total").increment(1);
        Ok(Applied { applied: true, reason: None, events: (next - version) as usize, version: next, sequence })
    }
}

/// A new mirrored slot in `status`: its event recorded, its row returned.
fn open(
    uow: &mut UnitOfWork,
    external_slot_id: &str,
    local: LocalSlot,
    status: SlotStatus,
    now: DateTime<Utc>,
) -> entity::availability_slot::ActiveModel {
    let (slot, event) = ProviderAvailability::open_as(
        status,
        Uuid::new_v4(),
        uow.provider_id,
        local.date,
        local.start_time,
        local.end_time,
        Actor::Upstream,
        now,
    );
    uow.record(event);
    let mut row = to_row(&slot, false);
    row.external_slot_id = sea_orm::ActiveValue::Set(Some(external_slot_id.to_owned()));
    row
}

/// Everything about a batch that needs no database: its size, its
/// sequence, each slot's id and instants, the snapshot's dates.
fn check_batch(
    sequence: i64,
    field: &str,
    published: &[PublishedSlot],
    range: Option<SnapshotRange>,
    bookable: &BookableRange,
) -> Result<(), AppError> {
    if sequence < 0 {
        return Err(AppError::Invalid(format!("sequence must be 0 or more, got {sequence}")));
    }
    if published.len() > SLOTS_PER_BATCH_MAX {
        return Err(AppError::Invalid(format!(
            "{field} may hold at most {SLOTS_PER_BATCH_MAX} slots, got {}; send several batches",
            published.len()
        )));
    }
    if let Some(range) = range {
        bookable.date("from", range.from)?;
        bookable.date("to", range.to)?;
        if range.to < range.from {
            return Err(AppError::Invalid(format!("to ({}) must not be before from ({})", range.to, range.from)));
        }
    }
    for (position, slot) in published.iter().enumerate() {
        check_external_id(&format!("{field}[{position}].externalSlotId"), &slot.external_slot_id)?;
        for (name, instant) in [("startsAt", &slot.starts_at), ("endsAt", &slot.ends_at)] {
            let name = format!("{field}[{position}].{name}");
            bookable.instant(&name, instant)?;
            // Slots are kept to the minute: a second or a fraction would be
            // dropped by the database, two times that differ only there would
            // meet as one, and a repeat of the batch would look like a move.
            if instant.second() != 0 || instant.nanosecond() != 0 {
                return Err(AppError::Invalid(format!("{name} must be a whole minute, got {}", instant.to_rfc3339())));
            }
        }
    }
    Ok(())
}
