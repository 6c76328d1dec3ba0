//! Offers: the step a unit of work that frees slots runs before it saves
//! (`offer_freed`), and what an entry becomes when its offer's hold ends
//! (`offer_ended`) or is booked (`offer_claimed`). All inside the caller's
//! unit of work, under the provider lock (see the folder's header).

use std::collections::{BTreeSet, HashMap, HashSet};

use chrono::{DateTime, NaiveDate, TimeDelta, Utc};
use entity::{provider, service, slot_hold, waitlist_entry};
use sea_orm::{ActiveModelTrait, ActiveValue::Set, ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder};
use uuid::Uuid;

use crate::app::storage::slot_set::SlotSet;
use crate::app::{App, AppError, UnitOfWork, secrets};
use crate::domain::{Actor, SlotStatus, WaitWindow, first_fitting, slot_span};
use crate::events::{EventType, WaitlistChange};

/// How far ahead a time must begin to be offered.
const OFFER_LEAD: TimeDelta = TimeDelta::minutes(1);

/// The client scope of an offer's hold: no client's hash (those are 64 hex
/// digits), so offers never count against a customer's own holds.
const OFFER_SCOPE: &str = "waitlist-offer";

/// The window an entry was stored with (`None` if its stored times no
/// longer parse, which only a hand-edited row could cause).
pub(super) fn stored_window(entry: &waitlist_entry::Model) -> Option<WaitWindow> {
    let times: Vec<[String; 2]> = match &entry.times {
        Some(text) => serde_json::from_str(text).ok()?,
        None => Vec::new(),
    };
    WaitWindow::new(entry.from_date, entry.to_date, &times).ok()
}

/// The starts `entry` declined.
fn declined_starts(entry: &waitlist_entry::Model) -> Vec<DateTime<Utc>> {
    entry.declined.as_deref().and_then(|text| serde_json::from_str(text).ok()).unwrap_or_default()
}

/// A waiting entry's service: its length and name.
struct Wanted {
    duration: TimeDelta,
    name: String,
}

/// Offer the times this unit of work freed (`SlotSet::freed`) to the
/// waiting entries, oldest first: each entry in turn gets the earliest freed
/// time that fits its service and window, held for it (notify-only at a
/// provider whose slots another system books), until no freed time is left.
/// `passed_over` (the entry whose offer just ended) is not offered again
/// here. Returns the number of offers made. Call it after every other slot
/// change of the unit (withdrawals included), before `SlotSet::save`.
pub(in crate::app) async fn offer_freed(
    app: &App,
    uow: &mut UnitOfWork,
    slot_set: &mut SlotSet,
    passed_over: Option<Uuid>,
) -> Result<usize, AppError> {
    let freed = slot_set.freed();
    let (Some(tz), true, false) = (uow.timezone(), uow.provider().active, freed.is_empty()) else {
        return Ok(0);
    };
    let dates: BTreeSet<NaiveDate> = freed.iter().map(|&i| slot_set.slot(i).date).collect();
    let (Some(&first), Some(&last)) = (dates.first(), dates.last()) else { return Ok(0) };
    let mut waiting = waiting_between(uow.provider_id, first, last).order_by_asc(waitlist_entry::Column::Place);
    if let Some(entry_id) = passed_over {
        waiting = waiting.filter(waitlist_entry::Column::Id.ne(entry_id));
    }
    let entries = waiting.all(&uow.tx).await?;
    if entries.is_empty() {
        return Ok(0);
    }
    let service_ids: HashSet<Uuid> = entries.iter().map(|e| e.service_id).collect();
    let services: HashMap<Uuid, Wanted> = service::Entity::find()
        .filter(service::Column::ProviderId.eq(uow.provider_id))
        .filter(service::Column::Id.is_in(service_ids))
        .all(&uow.tx)
        .await?
        .into_iter()
        .map(|s| (s.id, Wanted { duration: TimeDelta::minutes(i64::from(s.duration_minutes)), name: s.name }))
        .collect();
    // A service may need the freed slot's neighbours: the whole days are loaded.
    for date in &dates {
        slot_set.load_date(uow, *date).await?;
    }
    let mut freed_ids: HashSet<Uuid> = freed.iter().map(|&i| slot_set.slot(i).id).collect();
    // Notify-only: slots already told to an entry (they stay available there).
    let mut told: HashSet<Uuid> = HashSet::new();
    let now = app.clock.shared_now(&uow.tx).await?;
    // A time about to begin is not offered: nobody could book it in time.
    let soonest = now + OFFER_LEAD;
    let notify_only = uow.provider().slot_source == provider::SlotSource::External;
    let mut offered = 0;
    for entry in entries {
        let (Some(wanted), Some(window)) = (services.get(&entry.service_id), stored_window(&entry)) else { continue };
        let declined = declined_starts(&entry);
        let fit = dates.iter().filter(|date| (window.from..=window.to).contains(*date)).find_map(|date| {
            let (mut day, indexes) = slot_set.on_date(*date);
            for slot in day.iter_mut().filter(|slot| told.contains(&slot.id)) {
                slot.status = SlotStatus::Held;
            }
            let positions = first_fitting(tz, &day, &freed_ids, wanted.duration, &window, &declined, soonest)?;
            Some(positions.into_iter().map(|p| indexes[p]).collect::<Vec<usize>>())
        });
        let Some(covering) = fit else { continue };
        // The freed slot it was offered for: notify-only, its event carries the change.
        let Some(reason) = covering.iter().rev().map(|&i| slot_set.slot(i).id).find(|id| freed_ids.contains(id)) else {
            continue;
        };
        let Some(offer) = Offer::at(slot_set, &covering, tz, wanted.duration) else { continue };
        // Offered once: held for this entry, or (notify-only, where it stays free) told to it alone.
        for &index in &covering {
            freed_ids.remove(&slot_set.slot(index).id);
        }
        let made = if notify_only {
            told.extend(covering.iter().map(|&i| slot_set.slot(i).id));
            notify(uow, entry, wanted, &offer, reason, now).await?
        } else {
            hold(app, uow, slot_set, entry, wanted, &covering, &offer, now).await?
        };
        offered += usize::from(made);
        if freed_ids.is_empty() {
            break;
        }
    }
    if offered > 0 {
        metrics::counter!("slotstream_waitlist_offers_total").increment(offered as u64);
    }
    Ok(offered)
}

/// The provider's waiting entries whose windows meet the dates `first..=last`.
fn waiting_between(provider_id: Uuid, first: NaiveDate, last: NaiveDate) -> sea_orm::Select<waitlist_entry::Entity> {
    waitlist_entry::Entity::find()
        .filter(waitlist_entry::Column::ProviderId.eq(provider_id))
        .filter(waitlist_entry::Column::Status.eq(waitlist_entry::Status::Waiting))
        .filter(waitlist_entry::Column::FromDate.lte(last))
        .filter(waitlist_entry::Column::ToDate.gte(first))
}

/// Offer slots a schedule opened in this unit (already inserted, with their
/// dates) to the waiting entries, as `offer_freed` does for freed ones, and
/// save what it holds. Returns the number of offers made.
pub(in crate::app) async fn offer_opened(
    app: &App,
    uow: &mut UnitOfWork,
    opened: &[(Uuid, NaiveDate)],
) -> Result<usize, AppError> {
    let dates: BTreeSet<NaiveDate> = opened.iter().map(|(_, date)| *date).collect();
    let (Some(&first), Some(&last)) = (dates.first(), dates.last()) else { return Ok(0) };
    // The rolling window opens a day for every provider every day: the days'
    // slots are read only where somebody waits for one of them.
    let waiting = waiting_between(uow.provider_id, first, last).count(&uow.tx).await?;
    if waiting == 0 {
        return Ok(0);
    }
    let mut slot_set = SlotSet::new();
    for date in dates {
        slot_set.load_date(uow, date).await?;
    }
    slot_set.count_as_freed(opened.iter().map(|(id, _)| *id));
    let offered = offer_freed(app, uow, &mut slot_set, None).await?;
    slot_set.save(uow).await?;
    Ok(offered)
}

/// The time an offer is for.
struct Offer {
    starts_at: DateTime<Utc>,
    ends_at: DateTime<Utc>,
    /// The slot whose event the waitlist change follows (the last it takes).
    last_slot: Uuid,
}

impl Offer {
    fn at(slot_set: &SlotSet, covering: &[usize], tz: chrono_tz::Tz, duration: TimeDelta) -> Option<Offer> {
        let first = slot_set.slot(*covering.first()?);
        let (start, _) = slot_span(tz, first.date, first.start_time, first.end_time).ok()?;
        let starts_at = start.to_utc();
        Some(Offer {
            starts_at,
            ends_at: starts_at.checked_add_signed(duration)?,
            last_slot: slot_set.slot(*covering.last()?).id,
        })
    }
}

/// The webhook data every waitlist event carries about an entry and its time.
fn change_data(entry: &waitlist_entry::Model, starts_at: DateTime<Utc>, ends_at: DateTime<Utc>) -> serde_json::Value {
    serde_json::json!({
        "entryId": entry.id,
        "providerId": entry.provider_id,
        "serviceId": entry.service_id,
        "startsAt": starts_at,
        "endsAt": ends_at,
        "customer": { "name": entry.customer_name, "email": entry.customer_email },
    })
}

/// Hold the slots at `covering` for `entry` and record the offer. Returns
/// whether it was recorded (always, unless the slot event is already taken).
#[allow(clippy::too_many_arguments)]
async fn hold(
    app: &App,
    uow: &mut UnitOfWork,
    slot_set: &mut SlotSet,
    entry: waitlist_entry::Model,
    wanted: &Wanted,
    covering: &[usize],
    offer: &Offer,
    now: DateTime<Utc>,
) -> Result<bool, AppError> {
    let hold_id = Uuid::new_v4();
    for &index in covering {
        let event = slot_set.slot_mut(index).hold(hold_id, Actor::System, now)?;
        uow.record(event);
    }
    // Never past the appointment's start: an offer of a time that has begun is worth nothing.
    let ttl = TimeDelta::from_std(app.waitlist.offer_ttl).unwrap_or(TimeDelta::MAX);
    let expires_at = now.checked_add_signed(ttl).map_or(offer.starts_at, |at| at.min(offer.starts_at));
    // The claim link's token: it reaches this offer's hold, and reads the
    // entry while the offer lives (the entry's own token does too).
    let claim_token = secrets::generate("of_");
    slot_hold::ActiveModel {
        id: Set(hold_id),
        provider_id: Set(entry.provider_id),
        service_id: Set(entry.service_id),
        starts_at: Set(offer.starts_at),
        ends_at: Set(offer.ends_at),
        token_hash: Set(secrets::hash(&claim_token)),
        client_scope: Set(OFFER_SCOPE.to_owned()),
        status: Set(slot_hold::Status::Active),
        created_at: Set(now),
        expires_at: Set(expires_at),
        // An offer is never renewed: the next in line is waiting.
        max_expires_at: Set(expires_at),
        waitlist_entry_id: Set(Some(entry.id)),
    }
    .insert(&uow.tx)
    .await?;
    let mut data = change_data(&entry, offer.starts_at, offer.ends_at);
    data["serviceName"] = wanted.name.clone().into();
    data["holdId"] = serde_json::json!(hold_id);
    data["expiresAt"] = serde_json::json!(expires_at);
    data["notifyOnly"] = false.into();
    data["claimLink"] = format!("/?offer={}#token={claim_token}", entry.id).into();
    let entry_id = entry.id;
    let mut active: waitlist_entry::ActiveModel = entry.into();
    active.status = Set(waitlist_entry::Status::Offered);
    active.offer_hold_id = Set(Some(hold_id));
    active.update(&uow.tx).await?;
    app.gauges.holds_changed(1);
    let change = WaitlistChange { kind: EventType::WaitlistOffered, entry_id, data };
    Ok(uow.record_waitlist(change, offer.last_slot))
}

/// Tell `entry` of a time nothing here can hold (the provider's slots are
/// booked in another system): the entry ends as `notified`. Returns whether
/// the change was recorded (`false`, and nothing changed, when its slot's
/// event already carries a waitlist change).
async fn notify(
    uow: &mut UnitOfWork,
    entry: waitlist_entry::Model,
    wanted: &Wanted,
    offer: &Offer,
    freed_slot: Uuid,
    now: DateTime<Utc>,
) -> Result<bool, AppError> {
    let mut data = change_data(&entry, offer.starts_at, offer.ends_at);
    data["serviceName"] = wanted.name.clone().into();
    data["holdId"] = serde_json::Value::Null;
    data["notifyOnly"] = true.into();
    let entry_id = entry.id;
    if !uow.record_waitlist(WaitlistChange { kind: EventType::WaitlistOffered, entry_id, data }, freed_slot) {
        return Ok(false);
    }
    let mut active: waitlist_entry::ActiveModel = entry.into();
    active.status = Set(waitlist_entry::Status::Notified);
    active.ended_at = Set(Some(now));
    active.update(&uow.tx).await?;
    Ok(true)
}

/// The offer held by `hold` ended as `outcome` (its slots released in this
/// unit, the last of them `released_slot`): its entry goes back in line
/// after a decline, ends as `expired` (webhook `waitlist.expired`) when the
/// offer ran out, or becomes `entry_after` when the caller says (leaving).
/// Returns the entry, which the freed time must not be offered straight back to.
pub(in crate::app) async fn offer_ended(
    uow: &mut UnitOfWork,
    hold: &slot_hold::Model,
    outcome: slot_hold::Status,
    entry_after: Option<waitlist_entry::Status>,
    released_slot: Option<Uuid>,
    now: DateTime<Utc>,
) -> Result<Option<Uuid>, AppError> {
    let Some(entry_id) = hold.waitlist_entry_id else { return Ok(None) };
    let Some(entry) = waitlist_entry::Entity::find_by_id(entry_id).one(&uow.tx).await? else { return Ok(None) };
    if entry.offer_hold_id != Some(hold.id) {
        return Ok(Some(entry_id));
    }
    // An offer cut short by its appointment's start (`hold`) did not run its
    // course: the entry waits on, as after a decline, rather than ending.
    let ran_its_course = hold.expires_at < hold.starts_at;
    let status = entry_after.unwrap_or(match outcome {
        slot_hold::Status::Expired if ran_its_course => waitlist_entry::Status::Expired,
        _ => waitlist_entry::Status::Waiting,
    });
    if status == waitlist_entry::Status::Expired
        && let Some(slot) = released_slot
    {
        let change = WaitlistChange {
            kind: EventType::WaitlistExpired,
            entry_id,
            data: change_data(&entry, hold.starts_at, hold.ends_at),
        };
        uow.record_waitlist(change, slot);
    }
    let mut declined = declined_starts(&entry);
    let mut active: waitlist_entry::ActiveModel = entry.into();
    if status == waitlist_entry::Status::Waiting {
        // Declined: never this start again, for this entry.
        declined.push(hold.starts_at);
        active.declined = Set(Some(serde_json::json!(declined).to_string()));
    }
    active.status = Set(status);
    active.offer_hold_id = Set(None);
    if !status.is_active() {
        active.ended_at = Set(Some(now));
    }
    active.update(&uow.tx).await?;
    Ok(Some(entry_id))
}

/// The offer held by `hold` was booked as `booking_id` in this unit (the
/// last slot it booked `booked_slot`): its entry is fulfilled (webhook
/// `waitlist.fulfilled`).
pub(in crate::app) async fn offer_claimed(
    uow: &mut UnitOfWork,
    hold: &slot_hold::Model,
    booking_id: Uuid,
    booked_slot: Uuid,
    now: DateTime<Utc>,
) -> Result<(), AppError> {
    let Some(entry_id) = hold.waitlist_entry_id else { return Ok(()) };
    let Some(entry) = waitlist_entry::Entity::find_by_id(entry_id).one(&uow.tx).await? else { return Ok(()) };
    let mut data = change_data(&entry, hold.starts_at, hold.ends_at);
    data["bookingId"] = serde_json::json!(booking_id);
    uow.record_waitlist(WaitlistChange { kind: EventType::WaitlistFulfilled, entry_id, data }, booked_slot);
    let mut active: waitlist_entry::ActiveModel = entry.into();
    active.status = Set(waitlist_entry::Status::Fulfilled);
    active.offer_hold_id = Set(None);
    active.ended_at = Set(Some(now));
    active.update(&uow.tx).await?;
    Ok(())
}
