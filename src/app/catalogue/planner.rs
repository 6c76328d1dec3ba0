//! The planner: the rolling window of slots a weekly schedule opens, from
//! today to `horizon_days` ahead in the provider's zone.
//!
//! `plan_dates` plans dates in a unit of work, for one of two runs. A
//! re-plan (`set_schedule`): future slots the new schedule has are kept as
//! they are; future free slots (available or blocked) it no longer has are
//! withdrawn (`removed` events, rows deleted); booked and held ones are
//! never touched but reported as conflicts; the schedule's new slots are
//! opened where nothing kept overlaps them. An extension (`extend_horizon`,
//! the background job, and any caller with its own "now": the clock is a
//! parameter) opens the slots of the dates that came into the window since
//! the last run, and withdraws nothing. Slots that have started are left
//! alone either way; slots are DST-correct by `WeeklySchedule::slots_on`.
//! Each provider is planned under its lock and re-read there, so two
//! instances extending at once open each slot once.

use std::collections::BTreeMap;

use chrono::{DateTime, Days, NaiveDate, NaiveTime, Utc};
use chrono_tz::Tz;
use entity::{availability_slot, provider, provider_schedule};
use sea_orm::{ColumnTrait, Condition, EntityTrait, QueryFilter};
use serde::Serialize;
use uuid::Uuid;

use super::Upserted;
use super::schedule_input::{hhmm, stored_schedule};
use super::slots::SkippedSlot;
use crate::app::storage::slot_set::SlotSet;
use crate::app::storage::slot_set::{insert_new, to_row};
use crate::app::{App, AppError, UnitOfWork, waitlist};
use crate::domain::{
    Actor, Interval, PlannedSlot, ProviderAvailability, SlotStatus, WeeklySchedule, local_instant, overlaps_locally,
};

/// The rolling window the planner keeps generated.
#[derive(Clone, Copy, Debug)]
pub struct PlannerPolicy {
    /// Days from today (in the provider's zone) with slots, today included.
    pub horizon_days: u32,
}

impl Default for PlannerPolicy {
    fn default() -> PlannerPolicy {
        PlannerPolicy { horizon_days: 60 }
    }
}

/// What a schedule change did.
#[derive(Debug, Default, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Replanned {
    /// `created`, `changed`, or `unchanged` (then nothing was re-planned).
    pub schedule: Option<Upserted>,
    /// Slots opened.
    pub opened: usize,
    /// Free slots the new schedule no longer has, taken off the calendar.
    pub removed: usize,
    /// Booked or held slots the new schedule no longer has: left as they are.
    pub conflicts: Vec<PlanConflict>,
    /// Slots of the schedule a clock change leaves out.
    pub skipped: Vec<SkippedSlot>,
    /// The last local date planned.
    pub planned_through: Option<NaiveDate>,
    /// The provider's version after the change.
    pub version: i64,
    /// The slots opened, with their dates: offered to the waitlist.
    #[serde(skip)]
    pub(in crate::app) opened_slots: Vec<(Uuid, NaiveDate)>,
}

/// A booked or held slot outside the new schedule.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PlanConflict {
    pub availability_id: Uuid,
    pub date: NaiveDate,
    pub start_time: String,
    pub end_time: String,
    pub status: SlotStatus,
}

/// What one run of the rolling window did.
#[derive(Debug, Default)]
pub struct HorizonRun {
    /// Providers whose window was extended.
    pub providers: usize,
    pub opened: usize,
    /// Days the furthest-behind provider still lags its window's edge (a
    /// failure leaves it behind until the next run).
    pub lag_days: i64,
}

/// The provider's zone (a stored row names one this build knows).
pub(super) fn timezone_of(row: &provider::Model) -> Result<Tz, AppError> {
    row.timezone
        .parse()
        .map_err(|_| AppError::Internal(format!("provider {} has an unknown timezone {:?}", row.id, row.timezone)))
}

impl App {
    /// Open the slots of every active provider's dates that entered its
    /// window since it was last planned, as of `now`.
    pub async fn extend_horizon(&self, now: DateTime<Utc>) -> Result<HorizonRun, AppError> {
        let horizon = u64::from(self.planner.horizon_days.max(1)) - 1;
        // No zone's today is later than tomorrow in UTC: a schedule planned
        // that far needs nothing, and is not even read.
        let latest_target = now.date_naive() + Days::new(1 + horizon);
        let schedules = provider_schedule::Entity::find()
            .filter(
                Condition::any()
                    .add(provider_schedule::Column::PlannedThrough.is_null())
                    .add(provider_schedule::Column::PlannedThrough.lt(latest_target)),
            )
            .all(&self.db)
            .await?;
        let mut providers: BTreeMap<Uuid, provider::Model> = BTreeMap::new();
        // Under both engines' limits on bound parameters.
        for chunk in schedules.chunks(1000) {
            let found = provider::Entity::find()
                .filter(provider::Column::Active.eq(true))
                .filter(provider::Column::Id.is_in(chunk.iter().map(|s| s.provider_id)))
                .all(&self.db)
                .await?;
            providers.extend(found.into_iter().map(|p| (p.id, p)));
        }
        let mut run = HorizonRun::default();
        for stored in schedules {
            let Some(provider) = providers.get(&stored.provider_id) else { continue };
            let tz = timezone_of(provider)?;
            let today = now.with_timezone(&tz).date_naive();
            let target = today + Days::new(horizon);
            if stored.planned_through.is_some_and(|through| through >= target) {
                continue;
            }
            match self.extend_provider(provider.id, tz, today, target, now).await {
                Ok(opened) => {
                    run.providers += 1;
                    run.opened += opened;
                }
                Err(error) => {
                    tracing::warn!(provider = %provider.id, %error, "planning the slot window failed");
                    let behind = stored.planned_through.map_or(horizon as i64 + 1, |t| (target - t).num_days());
                    run.lag_days = run.lag_days.max(behind);
                }
            }
        }
        metrics::counter!("slotstream_planner_slots_planned_total").increment(run.opened as u64);
        metrics::gauge!("slotstream_planner_horizon_lag_days").set(run.lag_days as f64);
        Ok(run)
    }

    /// One provider's window up to `target`, re-read under its lock (another
    /// instance may have planned it meanwhile).
    async fn extend_provider(
        &self,
        provider_id: Uuid,
        tz: Tz,
        today: NaiveDate,
        target: NaiveDate,
        now: DateTime<Utc>,
    ) -> Result<usize, AppError> {
        let mut uow = UnitOfWork::begin(self, provider_id).await?;
        // A switch to `external` drops the schedule; the source is checked
        // too, so the planner never opens a slot among the upstream's.
        if uow.require_own_slots().is_err() {
            return Ok(0);
        }
        let Some(stored) = provider_schedule::Entity::find_by_id(provider_id).one(&uow.tx).await? else {
            return Ok(0);
        };
        let from = match stored.planned_through {
            Some(through) if through >= target => return Ok(0),
            Some(through) => (through + Days::new(1)).max(today),
            None => today,
        };
        let schedule = stored_schedule(&stored)?;
        let planned = plan_dates(&mut uow, &schedule, tz, from, target, now, PlanRun::Extend).await?;
        // Dates that came into the window may be what someone waits for.
        waitlist::offer_opened(self, &mut uow, &planned.opened_slots).await?;
        provider_schedule::Entity::update_many()
            .col_expr(provider_schedule::Column::PlannedThrough, sea_orm::sea_query::Expr::value(Some(target)))
            .filter(provider_schedule::Column::ProviderId.eq(provider_id))
            .exec(&uow.tx)
            .await?;
        uow.commit(self).await?;
        Ok(planned.opened)
    }
}

/// Why dates are planned: a schedule the operator set (free slots it lacks
/// are withdrawn), or the system's rolling window (nothing is withdrawn).
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum PlanRun {
    Replan,
    Extend,
}

impl PlanRun {
    /// Who the slot changes are made by.
    fn actor(self) -> Actor {
        match self {
            PlanRun::Replan => Actor::Admin,
            PlanRun::Extend => Actor::System,
        }
    }
}

/// Whether a local start is still to come at `now`.
fn upcoming(tz: Tz, date: NaiveDate, start: NaiveTime, now: DateTime<Utc>) -> bool {
    local_instant(tz, date, start).is_ok_and(|at| at > now)
}

/// The planner's one decision on an existing slot: the schedule keeps it if
/// it is one of the slots the schedule opens on its date (`planned`, from
/// `WeeklySchedule::slots_on`), or if it has started (left alone).
fn keeps(planned: &[PlannedSlot], tz: Tz, slot: &ProviderAvailability, now: DateTime<Utc>) -> bool {
    planned.iter().any(|p| (p.start, p.end) == (slot.start_time, slot.end_time))
        || !upcoming(tz, slot.date, slot.start_time, now)
}

/// After a booking or hold ended in `uow` (cancel, reschedule, release,
/// expiry): withdraw each slot it freed in `slot_set` that the planner
/// opened but the provider's current schedule no longer opens (what a
/// re-plan reported as a conflict), by the planner's decision (`keeps`),
/// with the `removed` event a re-plan raises, before the caller saves. So
/// such a slot is never available, not even between two transactions.
/// Slots made by hand with a provider key are left as they are. Returns
/// the number withdrawn.
pub(in crate::app) async fn withdraw_closed(
    uow: &mut UnitOfWork,
    slot_set: &mut SlotSet,
    now: DateTime<Utc>,
) -> Result<usize, AppError> {
    let freed = slot_set.freed_from_schedule();
    if freed.is_empty() {
        return Ok(0);
    }
    // Read under the provider lock: a schedule change waits for this unit.
    let Some(stored) = provider_schedule::Entity::find_by_id(uow.provider_id).one(&uow.tx).await? else {
        return Ok(0);
    };
    let Some(tz) = uow.timezone() else { return Ok(0) };
    let schedule = stored_schedule(&stored)?;
    let mut planned_on: BTreeMap<NaiveDate, Vec<PlannedSlot>> = BTreeMap::new();
    let mut withdrawn = 0;
    for index in freed {
        let slot = slot_set.slot_mut(index);
        let planned = planned_on.entry(slot.date).or_insert_with(|| schedule.slots_on(tz, slot.date).0);
        if keeps(planned, tz, slot, now) {
            continue;
        }
        let event = slot.withdraw(Actor::System, now)?;
        uow.record(event);
        withdrawn += 1;
    }
    metrics::counter!("slotstream_planner_slots_removed_total").increment(withdrawn as u64);
    Ok(withdrawn)
}

/// Plan the dates `from..=through` in the unit of work for `run` (see the
/// module header).
/// Slots that have started are left alone either way.
pub(super) async fn plan_dates(
    uow: &mut UnitOfWork,
    schedule: &WeeklySchedule,
    tz: Tz,
    from: NaiveDate,
    through: NaiveDate,
    now: DateTime<Utc>,
    run: PlanRun,
) -> Result<Replanned, AppError> {
    let (withdraw, by) = (run == PlanRun::Replan, run.actor());
    let mut slot_set = SlotSet::new();
    slot_set.load_dates(uow, from, through).await?;
    let mut outcome = Replanned::default();
    let mut new_rows = Vec::new();
    let mut withdrawn = Vec::new();
    for date in from.iter_days().take_while(|d| *d <= through) {
        let (planned, skipped) = schedule.slots_on(tz, date);
        outcome.skipped.extend(skipped.into_iter().map(|(slot, reason)| SkippedSlot {
            date,
            start_time: hhmm(slot.start, false),
            end_time: hhmm(slot.end, true),
            reason: reason.as_str(),
        }));
        let (existing, _) = slot_set.on_date(date);
        let mut kept: Vec<Interval> = Vec::new();
        for mut slot in existing {
            let span = (slot.start_time, slot.end_time);
            if keeps(&planned, tz, &slot, now) || !withdraw {
                kept.push(span);
                continue;
            }
            match slot.status {
                SlotStatus::Available | SlotStatus::Blocked => {
                    uow.record(slot.withdraw(by, now)?);
                    withdrawn.push((slot.id, slot.status));
                }
                status => {
                    kept.push(span);
                    outcome.conflicts.push(PlanConflict {
                        availability_id: slot.id,
                        date,
                        start_time: hhmm(slot.start_time, false),
                        end_time: hhmm(slot.end_time, true),
                        status,
                    });
                }
            }
        }
        for slot in planned {
            if !upcoming(tz, date, slot.start, now) || kept.iter().any(|&k| overlaps_locally(k, (slot.start, slot.end)))
            {
                continue;
            }
            let (opened, event) =
                ProviderAvailability::open(Uuid::new_v4(), uow.provider_id, date, slot.start, slot.end, by, now);
            new_rows.push(to_row(&opened, true));
            outcome.opened_slots.push((opened.id, date));
            uow.record(event);
        }
    }
    // Deleted only if still free as loaded: the provider lock makes this
    // certain, the status filter makes it checkable.
    for chunk in withdrawn.chunks(500) {
        let deleted = availability_slot::Entity::delete_many()
            .filter(availability_slot::Column::Id.is_in(chunk.iter().map(|(id, _)| *id)))
            .filter(
                availability_slot::Column::Status
                    .is_in([availability_slot::Status::Available, availability_slot::Status::Blocked]),
            )
            .exec(&uow.tx)
            .await?;
        if deleted.rows_affected != chunk.len() as u64 {
            return Err(AppError::Conflict("slots changed while the schedule was being applied; retry".into()));
        }
    }
    insert_new(uow, &new_rows).await?;
    outcome.opened = new_rows.len();
    outcome.removed = withdrawn.len();
    Ok(outcome)
}
