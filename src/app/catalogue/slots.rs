//! Provider commands on slots: open new slots for dates, block and unblock
//! one slot or every slot starting in a range of instants (the front desk's
//! "closed 12:00 to 14:00"). The caller must present a key of that provider
//! or a signed-in session of it (`authorization`), and
//! the provider must be active (410 otherwise, checked under its lock).
//!
//! Slots are stored as a local date with local start and end times; a slot
//! denotes the instants `[I(start), I(end))`, where `I` maps a local time to
//! an instant in the provider's timezone, taking the earlier instant of an
//! ambiguous (fall-back) time (`domain::slot_span`). A new slot is created
//! if its start exists and it lasts `slotMinutes` of real time, whatever its
//! local end reads (`domain::fit_new_slots`: before a spring-forward gap the
//! end is after the gap); the others (starting in the gap, or ending in a
//! repeated hour's second pass) are skipped and listed in the answer.

use chrono::{DateTime, FixedOffset, NaiveDate, NaiveTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::app::storage::slot_set::{SlotSet, insert_new, to_row};
use crate::app::waitlist;
use crate::app::{App, AppError, Credential, UnitOfWork};
use crate::domain::{
    Actor, ProviderAvailability, SLOT_MINUTES_RANGE, SlotStatus, fit_new_slots, overlaps_locally, slot_grid, slot_span,
    to_local,
};

/// At most this many dates per request.
pub const DATES_MAX: usize = 31;
/// At most this many slots per request: 31 dates of round-the-clock 5-minute
/// slots (31 x 288), the most the per-field limits allow. The slot and event
/// inserts are chunked under both databases' bind limits, so such a batch is
/// one transaction on SQLite and PostgreSQL alike.
pub const SLOTS_MAX: usize = DATES_MAX * (24 * 60 / *SLOT_MINUTES_RANGE.start() as usize);

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewSlots {
    #[schema(min_items = 1, max_items = 31)]
    pub dates: Vec<NaiveDate>,
    /// Opening time, local `HH:MM`.
    pub open: String,
    /// Closing time, local `HH:MM`; `24:00` (or `00:00`) is the midnight ending the day.
    pub close: String,
    #[schema(minimum = 5, maximum = 480)]
    pub slot_minutes: u32,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SlotsCreated {
    pub created: usize,
    pub version: i64,
    /// Slots of the requested grid that a clock change leaves out (not those
    /// skipped because a slot is already there).
    pub skipped: Vec<SkippedSlot>,
}

/// A slot not created because of a daylight-saving change.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SkippedSlot {
    pub date: NaiveDate,
    /// Local `HH:MM`.
    pub start_time: String,
    pub end_time: String,
    /// `local-time-does-not-exist` (a spring-forward gap) or
    /// `clock-change-alters-length` (the slot would not last `slotMinutes`).
    pub reason: &'static str,
}

/// The longest range one block or unblock may cover.
const RANGE_MAX: TimeDelta = TimeDelta::days(31);

/// A range of instants: every slot starting in `[from, to)`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SlotRange {
    /// RFC 3339 instant: the first start included.
    #[schema(value_type = String, format = DateTime)]
    pub from: DateTime<FixedOffset>,
    /// RFC 3339 instant: starts from here on are not included (at most 31 days after `from`).
    #[schema(value_type = String, format = DateTime)]
    pub to: DateTime<FixedOffset>,
}

/// What a range block or unblock changed, and what it left as it was.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RangeChanged {
    /// The slots blocked (or unblocked).
    pub changed: Vec<Uuid>,
    /// Slots in the range left as they were: booked or held (a block), or not blocked (an unblock).
    pub skipped: Vec<RangeSkipped>,
    pub version: i64,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RangeSkipped {
    pub availability_id: Uuid,
    pub status: SlotStatus,
}

pub(super) fn parse_local_time(field: &str, value: &str) -> Result<NaiveTime, AppError> {
    NaiveTime::parse_from_str(value, "%H:%M")
        .map_err(|_| AppError::Invalid(format!("{field} must be a local time HH:MM, got {value:?}")))
}

/// A closing time: `HH:MM`, or `24:00` for the midnight ending the day
/// (stored as 00:00, as a slot ending at midnight stores its end). The one
/// reader of `24:00`, for slots and weekly schedules alike.
pub(super) fn parse_close(field: &str, value: &str) -> Result<NaiveTime, AppError> {
    if value == "24:00" { Ok(NaiveTime::MIN) } else { parse_local_time(field, value) }
}

impl App {
    /// Open slots on each date from `open` to `close`; start times that
    /// already have a slot, or would overlap one, are skipped, and so are
    /// slots a clock change leaves out (listed in the answer).
    #[tracing::instrument(skip(self, request, credential))]
    pub async fn create_slots(
        &self,
        provider_id: Uuid,
        request: NewSlots,
        credential: &Credential,
    ) -> Result<SlotsCreated, AppError> {
        // The key only: opening slots is the marketplace's set-up, not the front desk's.
        self.authorize_provider_key(provider_id, credential).await?;
        let open = parse_local_time("open", &request.open)?;
        let close = parse_close("close", &request.close)?;
        if request.dates.is_empty() || request.dates.len() > DATES_MAX {
            return Err(AppError::Invalid(format!("dates must hold 1 to {DATES_MAX} dates")));
        }
        let range = self.bookable_range();
        for &date in &request.dates {
            range.date("dates", date)?;
        }
        if !SLOT_MINUTES_RANGE.contains(&request.slot_minutes) {
            let (min, max) = (SLOT_MINUTES_RANGE.start(), SLOT_MINUTES_RANGE.end());
            return Err(AppError::Invalid(format!("slotMinutes must be between {min} and {max}")));
        }
        if open >= close && close != NaiveTime::MIN {
            return Err(AppError::Invalid("open must be before close".into()));
        }
        let grid = slot_grid(open, close, request.slot_minutes);
        let mut dates = request.dates.clone();
        dates.sort();
        dates.dedup();
        if dates.len() * grid.len() > SLOTS_MAX {
            return Err(AppError::Invalid(format!("at most {SLOTS_MAX} slots per request")));
        }
        let timezone = self.directory.get(provider_id).await?.timezone;
        let mut uow = UnitOfWork::begin(self, provider_id).await?;
        uow.require_active()?;
        uow.require_own_slots()?;
        let mut slot_set = SlotSet::new();
        let mut rows = Vec::new();
        let mut opened = Vec::new();
        let mut skipped = Vec::new();
        let now = Utc::now();
        for date in dates {
            slot_set.load_date(&uow, date).await?;
            let (existing, _) = slot_set.on_date(date);
            let (fitted, left_out) = fit_new_slots(timezone, date, grid.iter().copied(), request.slot_minutes);
            skipped.extend(left_out.into_iter().map(|((start, end), reason)| SkippedSlot {
                date,
                start_time: start.format("%H:%M").to_string(),
                end_time: end.format("%H:%M").to_string(),
                reason: reason.as_str(),
            }));
            for (start, end) in fitted {
                if existing.iter().any(|s| overlaps_locally((s.start_time, s.end_time), (start, end))) {
                    continue;
                }
                let (slot, event) =
                    ProviderAvailability::open(Uuid::new_v4(), provider_id, date, start, end, Actor::Provider, now);
                rows.push(to_row(&slot, false));
                opened.push((slot.id, date));
                uow.record(event);
            }
        }
        let created = rows.len();
        insert_new(&uow, &rows).await?;
        waitlist::offer_opened(self, &mut uow, &opened).await?;
        let version = uow.next_version();
        uow.commit(self).await?;
        Ok(SlotsCreated { created, version, skipped })
    }

    /// Take a free slot off the calendar (`blocked = true`) or put a blocked one back.
    #[tracing::instrument(skip(self, credential))]
    pub async fn set_slot_blocked(
        &self,
        provider_id: Uuid,
        slot_id: Uuid,
        blocked: bool,
        credential: &Credential,
    ) -> Result<crate::domain::SlotStatus, AppError> {
        self.authorize_provider(provider_id, credential).await?;
        let mut uow = UnitOfWork::begin(self, provider_id).await?;
        uow.require_active()?;
        uow.require_own_slots()?;
        let mut slot_set = SlotSet::new();
        let index = slot_set.load_slot(&uow, slot_id).await?;
        let slot = slot_set.slot_mut(index);
        let event =
            if blocked { slot.block(Actor::Provider, Utc::now())? } else { slot.unblock(Actor::Provider, Utc::now())? };
        let status = event.new_status;
        uow.record(event);
        waitlist::offer_freed(self, &mut uow, &mut slot_set, None).await?;
        slot_set.save(&uow).await?;
        uow.commit(self).await?;
        Ok(status)
    }
}

impl App {
    /// Block (`blocked = true`) every free slot starting in the range, or
    /// unblock every blocked one, in one unit of work; the others are left
    /// and listed. Nothing in the range: nothing changes (200, empty).
    #[tracing::instrument(skip(self, credential))]
    pub async fn set_range_blocked(
        &self,
        provider_id: Uuid,
        range: SlotRange,
        blocked: bool,
        credential: &Credential,
    ) -> Result<RangeChanged, AppError> {
        let bookable = self.bookable_range();
        let from = bookable.instant("from", &range.from)?;
        let to = bookable.instant("to", &range.to)?;
        if to <= from {
            return Err(AppError::Invalid("to must be after from".into()));
        }
        if to - from > RANGE_MAX {
            return Err(AppError::Invalid(format!("a range may cover at most {} days", RANGE_MAX.num_days())));
        }
        self.authorize_provider(provider_id, credential).await?;
        let timezone = self.directory.get(provider_id).await?.timezone;
        let mut uow = UnitOfWork::begin(self, provider_id).await?;
        uow.require_active()?;
        uow.require_own_slots()?;
        // The local dates the instants fall on, a day wider on each side: a
        // slot's local date may differ from its start's date by a DST hour.
        let first = to_local(timezone, from).0.pred_opt().unwrap_or(NaiveDate::MIN);
        let last = to_local(timezone, to).0.succ_opt().unwrap_or(NaiveDate::MAX);
        let mut slot_set = SlotSet::new();
        slot_set.load_dates(&uow, first, last).await?;
        let now = Utc::now();
        let mut changed = Vec::new();
        let mut skipped = Vec::new();
        for index in slot_set.indexes() {
            let slot = slot_set.slot_mut(index);
            let Ok((starts_at, _)) = slot_span(timezone, slot.date, slot.start_time, slot.end_time) else { continue };
            if starts_at < from || starts_at >= to {
                continue;
            }
            let (from_status, to_status) = if blocked {
                (SlotStatus::Available, SlotStatus::Blocked)
            } else {
                (SlotStatus::Blocked, SlotStatus::Available)
            };
            if slot.status == to_status {
                continue;
            }
            if slot.status != from_status {
                // Booked or held: the customer's time is never taken by a range.
                skipped.push(RangeSkipped { availability_id: slot.id, status: slot.status });
                continue;
            }
            let event = if blocked { slot.block(Actor::Provider, now)? } else { slot.unblock(Actor::Provider, now)? };
            changed.push(event.availability_id);
            uow.record(event);
        }
        waitlist::offer_freed(self, &mut uow, &mut slot_set, None).await?;
        slot_set.save(&uow).await?;
        let version = uow.next_version();
        uow.commit(self).await?;
        Ok(RangeChanged { changed, skipped, version })
    }
}
