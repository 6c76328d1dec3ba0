//! A provider's weekly schedule as the admin API (`PUT …/schedule`) and an
//! import give it (`ScheduleInput`: local `HH:MM` intervals per weekday,
//! exceptions by date), checked into the domain's `WeeklySchedule`, written
//! one way only (`normalized`, so an unchanged schedule compares equal) and
//! read back from its stored row (`stored_schedule`, `schedule_of`). Apart
//! from `set_schedule` (the command that stores it) so that the command and
//! the `planner` (which reads stored schedules) both import it and neither
//! imports the other back.
//!
//! Not to be confused with `domain::weekly_schedule` (the opening hours
//! themselves and the slots they make on a date) or `domain::schedule`
//! (fitting a span onto slots in instants).

use std::collections::BTreeMap;

use chrono::{NaiveDate, NaiveTime, Weekday};
use entity::provider_schedule;
use sea_orm::EntityTrait;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::slots::{parse_close, parse_local_time};
use crate::app::AppError;
use crate::domain::{Interval, WeeklySchedule};

/// `PUT /api/v1/admin/providers/{externalId}/schedule` body (and an import's
/// `schedule`): local `HH:MM` intervals per weekday (`monday` … `sunday`;
/// a close of `24:00` is midnight), and exceptions by date.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ScheduleInput {
    #[schema(minimum = 5, maximum = 480)]
    pub slot_minutes: u32,
    #[serde(default)]
    pub weekly: BTreeMap<String, Vec<[String; 2]>>,
    #[serde(default)]
    pub exceptions: Vec<ScheduleException>,
}

/// A date with other hours (`intervals`), or none (`closed: true`).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ScheduleException {
    pub date: NaiveDate,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub closed: bool,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub intervals: Vec<[String; 2]>,
}

const WEEKDAYS: [(&str, Weekday); 7] = [
    ("monday", Weekday::Mon),
    ("tuesday", Weekday::Tue),
    ("wednesday", Weekday::Wed),
    ("thursday", Weekday::Thu),
    ("friday", Weekday::Fri),
    ("saturday", Weekday::Sat),
    ("sunday", Weekday::Sun),
];

fn interval(field: &str, [open, close]: &[String; 2]) -> Result<Interval, AppError> {
    Ok((parse_local_time(field, open)?, parse_close(field, close)?))
}

/// A local time as schedules and answers write it (`24:00` for a closing
/// midnight).
pub(super) fn hhmm(time: NaiveTime, is_close: bool) -> String {
    if is_close && time == NaiveTime::MIN { "24:00".to_owned() } else { time.format("%H:%M").to_string() }
}

fn texts(intervals: &[Interval]) -> Vec<[String; 2]> {
    intervals.iter().map(|&(open, close)| [hhmm(open, false), hhmm(close, true)]).collect()
}

impl ScheduleInput {
    /// The validated schedule (422 with the reason otherwise).
    pub fn to_schedule(&self) -> Result<WeeklySchedule, AppError> {
        let mut weekly = Vec::new();
        for (day, intervals) in &self.weekly {
            let Some(&(_, weekday)) = WEEKDAYS.iter().find(|(name, _)| name == day) else {
                return Err(AppError::Invalid(format!("weekly: {day:?} is not a weekday (monday … sunday)")));
            };
            let field = format!("weekly.{day}");
            weekly.push((weekday, intervals.iter().map(|i| interval(&field, i)).collect::<Result<_, _>>()?));
        }
        let mut exceptions = Vec::new();
        for exception in &self.exceptions {
            // Exactly one of the two: closed, or its own intervals.
            if exception.closed != exception.intervals.is_empty() {
                return Err(AppError::Invalid(format!(
                    "exception {}: give either closed: true or intervals",
                    exception.date
                )));
            }
            let field = format!("exceptions.{}", exception.date);
            let intervals = exception.intervals.iter().map(|i| interval(&field, i)).collect::<Result<_, _>>()?;
            exceptions.push((exception.date, intervals));
        }
        WeeklySchedule::new(self.slot_minutes, weekly, exceptions).map_err(|e| AppError::Invalid(e.to_string()))
    }

    /// The schedule written one way only (days and intervals in order), so
    /// an unchanged schedule compares equal to what is stored.
    pub(super) fn normalized(schedule: &WeeklySchedule) -> ScheduleInput {
        let weekly = WEEKDAYS
            .iter()
            .filter(|(_, weekday)| !schedule.weekday(*weekday).is_empty())
            .map(|&(name, weekday)| (name.to_owned(), texts(schedule.weekday(weekday))))
            .collect();
        let exceptions = schedule
            .exceptions()
            .iter()
            .map(|(&date, intervals)| ScheduleException {
                date,
                closed: intervals.is_empty(),
                intervals: texts(intervals),
            })
            .collect();
        ScheduleInput { slot_minutes: schedule.slot_minutes, weekly, exceptions }
    }
}

/// The schedule a stored row holds.
pub(super) fn stored_schedule(row: &provider_schedule::Model) -> Result<WeeklySchedule, AppError> {
    let input = ScheduleInput {
        slot_minutes: u32::try_from(row.slot_minutes).unwrap_or(0),
        weekly: serde_json::from_str(&row.weekly)
            .map_err(|e| AppError::Internal(format!("stored schedule of {}: {e}", row.provider_id)))?,
        exceptions: serde_json::from_str(&row.exceptions)
            .map_err(|e| AppError::Internal(format!("stored schedule of {}: {e}", row.provider_id)))?,
    };
    input.to_schedule()
}

/// The provider's weekly schedule as it was set (written one way only), or
/// `None` if it has none.
pub(super) async fn schedule_of(
    conn: &impl sea_orm::ConnectionTrait,
    provider_id: Uuid,
) -> Result<Option<ScheduleInput>, AppError> {
    let Some(row) = provider_schedule::Entity::find_by_id(provider_id).one(conn).await? else { return Ok(None) };
    Ok(Some(ScheduleInput::normalized(&stored_schedule(&row)?)))
}
