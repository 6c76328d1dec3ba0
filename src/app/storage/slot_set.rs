//! The slot set: a working copy of some of a provider's slots inside a unit of work:
//! loaded as `ProviderAvailability` aggregates, changed through the aggregate
//! (whose events are recorded), and saved back with conditional updates
//! (`... WHERE id = ? AND status = <status as loaded>`), so even a writer
//! that bypassed the provider lock could never double-book. A slot whose
//! aggregate was withdrawn (`removed`) is deleted, guarded the same way.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, NaiveDate, TimeDelta, Utc};
use chrono_tz::Tz;
use entity::availability_slot;
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter};
use uuid::Uuid;

use super::unit_of_work::UnitOfWork;
use crate::app::AppError;
use crate::domain::{ProviderAvailability, SlotStatus, covering_slots, covers_exactly, to_local};

/// The time a service needs from a start, in its provider's zone: what a
/// booking or a hold takes the covering slots of.
pub struct ServiceSpan {
    pub timezone: Tz,
    pub starts_at: DateTime<Utc>,
    pub duration: TimeDelta,
    pub ends_at: DateTime<Utc>,
    /// The provider's local date of the start.
    pub date: NaiveDate,
}

impl ServiceSpan {
    /// `duration` from `starts_at` (already within the bookable range) in
    /// `timezone`; an end past the calendar's limits is refused, not a panic.
    pub fn new(timezone: Tz, starts_at: DateTime<Utc>, duration: TimeDelta) -> Result<ServiceSpan, AppError> {
        let ends_at = starts_at.checked_add_signed(duration).ok_or_else(|| {
            AppError::Invalid("startTime plus the service's duration is past the slot_set's end".into())
        })?;
        let (date, _) = to_local(timezone, starts_at);
        Ok(ServiceSpan { timezone, starts_at, duration, ends_at, date })
    }
}

/// A working set of one provider's slots, loaded in a unit of work, changed
/// through their aggregates and saved back by [`SlotSet::save`].
pub struct SlotSet {
    slots: Vec<ProviderAvailability>,
    /// Each slot as loaded: its status guards the update, and a slot equal
    /// to it needs no write.
    loaded: HashMap<Uuid, ProviderAvailability>,
    /// The loaded slots the planner opened from the weekly schedule
    /// (`from_schedule`), as opposed to those a provider key made by hand.
    from_schedule: HashSet<Uuid>,
    /// The upstream's id of each loaded slot mirrored from the marketplace's
    /// booking system (`external_slot_id`).
    external_ids: HashMap<Uuid, String>,
    /// Slots opened in this unit of work before they were loaded (the
    /// planner's): `freed` while available, as if they had just been freed.
    opened: HashSet<Uuid>,
}

impl SlotSet {
    pub fn new() -> SlotSet {
        SlotSet {
            slots: Vec::new(),
            loaded: HashMap::new(),
            from_schedule: HashSet::new(),
            external_ids: HashMap::new(),
            opened: HashSet::new(),
        }
    }

    /// Load one date's slots (skipping any already loaded).
    pub async fn load_date(&mut self, uow: &UnitOfWork, date: NaiveDate) -> Result<(), AppError> {
        self.load_where(uow, availability_slot::Column::Date.eq(date)).await
    }

    /// Load the slots on the dates `from..=through` (skipping any already loaded).
    pub async fn load_dates(&mut self, uow: &UnitOfWork, from: NaiveDate, through: NaiveDate) -> Result<(), AppError> {
        self.load_where(uow, availability_slot::Column::Date.between(from, through)).await
    }

    /// Load `span`'s date and return the indexes of the slots covering it
    /// exactly (a 409 if there are none such).
    pub async fn covering(&mut self, uow: &UnitOfWork, span: &ServiceSpan) -> Result<Vec<usize>, AppError> {
        self.load_date(uow, span.date).await?;
        let (day, indexes) = self.on_date(span.date);
        let positions = covering_slots(span.timezone, &day, span.starts_at, span.duration)?;
        Ok(positions.into_iter().map(|position| indexes[position]).collect())
    }

    /// Whether the loaded slots at `indexes`, and only they, cover `span`
    /// exactly (see [`covers_exactly`]).
    pub fn exactly_covers(&self, indexes: &[usize], span: &ServiceSpan) -> bool {
        let slots: Vec<ProviderAvailability> = indexes.iter().map(|&i| self.slots[i].clone()).collect();
        covers_exactly(span.timezone, &slots, span.starts_at, span.duration)
    }

    /// Load the slots a booking holds.
    pub async fn load_booking(&mut self, uow: &UnitOfWork, booking_id: Uuid) -> Result<(), AppError> {
        self.load_where(uow, availability_slot::Column::BookingId.eq(booking_id)).await
    }

    /// Load the slots a hold holds.
    pub async fn load_hold(&mut self, uow: &UnitOfWork, hold_id: Uuid) -> Result<(), AppError> {
        self.load_where(uow, availability_slot::Column::HoldId.eq(hold_id)).await
    }

    /// Load the unit of work's provider's slots matching `condition`
    /// (skipping any already loaded).
    async fn load_where(&mut self, uow: &UnitOfWork, condition: Expr) -> Result<(), AppError> {
        let rows = availability_slot::Entity::find()
            .filter(availability_slot::Column::ProviderId.eq(uow.provider_id))
            .filter(condition)
            .all(&uow.tx)
            .await?;
        self.add(rows);
        Ok(())
    }

    /// Load the slots mirrored under these upstream ids (skipping any already
    /// loaded), in chunks under both databases' bind limits.
    pub async fn load_upstream(&mut self, uow: &UnitOfWork, external_ids: &[&str]) -> Result<(), AppError> {
        for chunk in external_ids.chunks(500) {
            let chunk: Vec<String> = chunk.iter().map(|id| (*id).to_owned()).collect();
            self.load_where(uow, availability_slot::Column::ExternalSlotId.is_in(chunk)).await?;
        }
        Ok(())
    }

    /// The index of each loaded slot by its upstream id.
    pub fn upstream_index(&self) -> HashMap<String, usize> {
        (0..self.slots.len())
            .filter_map(|i| self.external_ids.get(&self.slots[i].id).map(|external| (external.clone(), i)))
            .collect()
    }

    /// Whether the loaded slot at `index` is mirrored from the booking system.
    pub fn is_upstream(&self, index: usize) -> bool {
        self.external_ids.contains_key(&self.slots[index].id)
    }

    /// The indexes of the loaded slots by local date and start.
    pub fn by_start(&self) -> HashMap<(NaiveDate, chrono::NaiveTime), Vec<usize>> {
        let mut starts: HashMap<_, Vec<usize>> = HashMap::new();
        for (index, slot) in self.slots.iter().enumerate() {
            starts.entry((slot.date, slot.start_time)).or_default().push(index);
        }
        starts
    }

    /// Indexes of the loaded slots on the dates `from..=through`.
    pub fn between(&self, from: NaiveDate, through: NaiveDate) -> Vec<usize> {
        self.indexes_where(|slot| (from..=through).contains(&slot.date))
    }

    /// Indexes of the loaded slots held by the hold `hold_id`.
    pub fn under_hold(&self, hold_id: Uuid) -> Vec<usize> {
        self.indexes_where(|slot| slot.hold_id == Some(hold_id))
    }

    /// Load one slot by id; `NotFound` unless it is this provider's.
    pub async fn load_slot(&mut self, uow: &UnitOfWork, slot_id: Uuid) -> Result<usize, AppError> {
        let row = availability_slot::Entity::find_by_id(slot_id)
            .filter(availability_slot::Column::ProviderId.eq(uow.provider_id))
            .one(&uow.tx)
            .await?
            .ok_or_else(|| AppError::NotFound(format!("slot {slot_id} does not exist for this provider")))?;
        self.add(vec![row]);
        Ok(self.slots.iter().position(|s| s.id == slot_id).unwrap_or(0))
    }

    fn add(&mut self, rows: Vec<availability_slot::Model>) {
        for row in rows {
            if self.loaded.contains_key(&row.id) {
                continue;
            }
            if row.from_schedule {
                self.from_schedule.insert(row.id);
            }
            if let Some(external_id) = &row.external_slot_id {
                self.external_ids.insert(row.id, external_id.clone());
            }
            let slot = from_row(row);
            self.loaded.insert(slot.id, slot.clone());
            self.slots.push(slot);
        }
    }

    /// Every loaded slot's index, in load order.
    pub fn indexes(&self) -> std::ops::Range<usize> {
        0..self.slots.len()
    }

    pub fn slot(&self, index: usize) -> &ProviderAvailability {
        &self.slots[index]
    }

    pub fn slot_mut(&mut self, index: usize) -> &mut ProviderAvailability {
        &mut self.slots[index]
    }

    /// Indexes of the loaded slots held by `booking_id`.
    pub fn held_by(&self, booking_id: Uuid) -> Vec<usize> {
        self.indexes_where(|slot| slot.booking_id == Some(booking_id))
    }

    fn indexes_where(&self, matches: impl Fn(&ProviderAvailability) -> bool) -> Vec<usize> {
        (0..self.slots.len()).filter(|&i| matches(&self.slots[i])).collect()
    }

    /// Indexes of the slots the schedule opened that this unit of work freed:
    /// loaded booked or held, available now (a booking or hold ended).
    pub fn freed_from_schedule(&self) -> Vec<usize> {
        self.indexes_where(|slot| {
            slot.status == SlotStatus::Available
                && self.from_schedule.contains(&slot.id)
                && self.loaded.get(&slot.id).is_some_and(|l| matches!(l.status, SlotStatus::Booked | SlotStatus::Held))
        })
    }

    /// Indexes of the slots this unit of work made available: loaded booked,
    /// held or blocked, or opened (`count_as_freed`), available now.
    pub fn freed(&self) -> Vec<usize> {
        self.indexes_where(|slot| {
            slot.status == SlotStatus::Available
                && (self.opened.contains(&slot.id)
                    || self.loaded.get(&slot.id).is_some_and(|l| l.status != SlotStatus::Available))
        })
    }

    /// Count these slots (opened in this unit of work) as `freed`.
    pub fn count_as_freed(&mut self, ids: impl IntoIterator<Item = Uuid>) {
        self.opened.extend(ids);
    }

    /// Indexes of the loaded slots on `date`, as a sub-slice view's mapping.
    pub fn on_date(&self, date: NaiveDate) -> (Vec<ProviderAvailability>, Vec<usize>) {
        let indexes = self.indexes_where(|slot| slot.date == date);
        (indexes.iter().map(|&i| self.slots[i].clone()).collect(), indexes)
    }

    /// Write every changed slot back, each guarded by the status it was
    /// loaded with; a withdrawn one is deleted.
    pub async fn save(&self, uow: &UnitOfWork) -> Result<(), AppError> {
        for slot in &self.slots {
            let Some(loaded) = self.loaded.get(&slot.id) else { continue };
            if slot == loaded {
                continue;
            }
            let was = availability_slot::Column::Status.eq(availability_slot::Status::from(loaded.status));
            let result = if slot.status == SlotStatus::Removed {
                availability_slot::Entity::delete_many()
                    .filter(availability_slot::Column::Id.eq(slot.id))
                    .filter(was)
                    .exec(&uow.tx)
                    .await?
                    .rows_affected
            } else {
                availability_slot::Entity::update_many()
                    .col_expr(
                        availability_slot::Column::Status,
                        Expr::value(availability_slot::Status::from(slot.status)),
                    )
                    .col_expr(availability_slot::Column::BookingId, Expr::value(slot.booking_id))
                    .col_expr(availability_slot::Column::HoldId, Expr::value(slot.hold_id))
                    .col_expr(availability_slot::Column::LastModifiedAt, Expr::value(slot.last_modified_at))
                    .col_expr(availability_slot::Column::LastModifiedBy, Expr::value(slot.last_modified_by.clone()))
                    .filter(availability_slot::Column::Id.eq(slot.id))
                    .filter(was)
                    .exec(&uow.tx)
                    .await?
                    .rows_affected
            };
            if result != 1 {
                return Err(AppError::Conflict(format!(
                    "slot {} changed while this request was being handled",
                    slot.id
                )));
            }
        }
        Ok(())
    }
}

pub fn from_row(row: availability_slot::Model) -> ProviderAvailability {
    ProviderAvailability {
        id: row.id,
        provider_id: row.provider_id,
        date: row.date,
        start_time: row.start_time,
        end_time: row.end_time,
        status: row.status.into(),
        booking_id: row.booking_id,
        hold_id: row.hold_id,
        last_modified_at: row.last_modified_at,
        last_modified_by: row.last_modified_by,
    }
}

/// Insert new slots' rows in the unit of work, in chunks under both
/// databases' bind limits (12 columns × 200 rows).
pub async fn insert_new(uow: &UnitOfWork, rows: &[availability_slot::ActiveModel]) -> Result<(), AppError> {
    for chunk in rows.chunks(200) {
        availability_slot::Entity::insert_many(chunk.to_vec()).exec_without_returning(&uow.tx).await?;
    }
    Ok(())
}

/// The row of a new slot; `from_schedule` if the planner opened it from the
/// weekly schedule (not a provider key by hand).
pub fn to_row(slot: &ProviderAvailability, from_schedule: bool) -> availability_slot::ActiveModel {
    availability_slot::ActiveModel {
        id: Set(slot.id),
        provider_id: Set(slot.provider_id),
        date: Set(slot.date),
        start_time: Set(slot.start_time),
        end_time: Set(slot.end_time),
        status: Set(slot.status.into()),
        booking_id: Set(slot.booking_id),
        hold_id: Set(slot.hold_id),
        last_modified_at: Set(slot.last_modified_at),
        last_modified_by: Set(slot.last_modified_by.clone()),
        from_schedule: Set(from_schedule),
        external_slot_id: Set(None),
    }
}
