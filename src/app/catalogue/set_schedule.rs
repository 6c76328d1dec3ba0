//! `set_schedule`: where a provider's weekly schedule is set. The schedule
//! as given (`schedule_input`) is checked, stored written one way only (so
//! an unchanged schedule compares equal and writes nothing), and re-planned
//! (`planner`) in the same unit of work as it is stored.
//!
//! Not to be confused with `domain::weekly_schedule` (the opening hours
//! themselves and the slots they make on a date) or `domain::schedule`
//! (fitting a span onto slots in instants).

use chrono::{DateTime, Days, Utc};
use entity::provider_schedule;
use sea_orm::ActiveValue::Set;
use sea_orm::EntityTrait;

use super::planner::{PlanRun, Replanned, plan_dates, timezone_of};
use super::schedule_input::ScheduleInput;
use super::{Upserted, provider_by_external_id};
use crate::app::{App, AppError, UnitOfWork, waitlist};
use crate::domain::BookableRange;

impl App {
    /// Set the provider's weekly schedule and re-plan its window from `now`.
    #[tracing::instrument(skip(self, input, now))]
    pub async fn set_schedule(
        &self,
        external_id: &str,
        input: &ScheduleInput,
        now: DateTime<Utc>,
    ) -> Result<Replanned, AppError> {
        let schedule = input.to_schedule()?;
        // Exceptions name dates: only those a request may name (as of `now`).
        let range = BookableRange::around(now.date_naive(), self.max_days_ahead);
        for &date in schedule.exceptions().keys() {
            range.date("exceptions.date", date)?;
        }
        let normal = ScheduleInput::normalized(&schedule);
        let weekly = serde_json::to_string(&normal.weekly).map_err(|e| AppError::Internal(e.to_string()))?;
        let exceptions = serde_json::to_string(&normal.exceptions).map_err(|e| AppError::Internal(e.to_string()))?;
        let provider = provider_by_external_id(&self.db, external_id)
            .await?
            .ok_or_else(|| AppError::NotFound(format!("provider {external_id:?} does not exist")))?;
        let tz = timezone_of(&provider)?;
        let same = |stored: &provider_schedule::Model| {
            stored.slot_minutes as u32 == schedule.slot_minutes
                && stored.weekly == weekly
                && stored.exceptions == exceptions
        };
        let unchanged = |stored: &provider_schedule::Model, version| Replanned {
            schedule: Some(Upserted::Unchanged),
            planned_through: stored.planned_through,
            version,
            ..Replanned::default()
        };
        // A sync mostly finds the schedule as it is: say so without a write.
        if provider.active
            && let Some(stored) = provider_schedule::Entity::find_by_id(provider.id).one(&self.db).await?
            && same(&stored)
        {
            return Ok(unchanged(&stored, provider.version));
        }
        let mut uow = UnitOfWork::begin(self, provider.id).await?;
        uow.require_active()?;
        uow.require_own_slots()?;
        let stored = provider_schedule::Entity::find_by_id(provider.id).one(&uow.tx).await?;
        if let Some(stored) = stored.as_ref().filter(|s| same(s)) {
            return Ok(unchanged(stored, uow.next_version()));
        }
        let today = now.with_timezone(&tz).date_naive();
        let through = today + Days::new(u64::from(self.planner.horizon_days.max(1)) - 1);
        let mut replanned = plan_dates(&mut uow, &schedule, tz, today, through, now, PlanRun::Replan).await?;
        waitlist::offer_opened(self, &mut uow, &replanned.opened_slots).await?;
        let row = provider_schedule::ActiveModel {
            provider_id: Set(provider.id),
            slot_minutes: Set(schedule.slot_minutes as i32),
            weekly: Set(weekly),
            exceptions: Set(exceptions),
            planned_through: Set(Some(through)),
            updated_at: Set(now),
        };
        if stored.is_some() {
            provider_schedule::Entity::update(row).exec(&uow.tx).await?;
        } else {
            provider_schedule::Entity::insert(row).exec_without_returning(&uow.tx).await?;
        }
        replanned.schedule = Some(if stored.is_some() { Upserted::Changed } else { Upserted::Created });
        replanned.planned_through = Some(through);
        replanned.version = uow.next_version();
        uow.commit(self).await?;
        metrics::counter!("slotstream_planner_slots_planned_total").increment(replanned.opened as u64);
        metrics::counter!("slotstream_planner_slots_removed_total").increment(replanned.removed as u64);
        metrics::counter!("slotstream_planner_conflicts_total").increment(replanned.conflicts.len() as u64);
        Ok(replanned)
    }
}
