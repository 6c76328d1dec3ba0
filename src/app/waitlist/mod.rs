//! The waitlist with fair offers (DESIGN 4c, issue 25): a customer waits for
//! a time of one service of one provider; when such a time is freed, it is
//! held for the first customer in line, and only for them, for a while.
//!
//! - `entries`: join, read, leave; decline an offer.
//! - `offers`: the step every freeing unit of work runs before it saves
//!   (`offer_freed`: a cancellation, a reschedule, a released or expired
//!   hold, an unblock, a published change), and what happens to an entry when
//!   its offer's hold ends (`offer_ended`) or is booked (`offer_claimed`).
//!
//! Invariants: an offer is a hold (`slot_hold.waitlist_entry_id`) made in
//! the same unit of work as the change that freed its time, under the
//! provider lock; so a freed time is offered once at a time, whatever the
//! number of instances, and a crash either keeps both the freeing and the
//! offer or neither. The hold expires like any other (`hold_expiry`, by the
//! database's clock), and its end offers the time to the next entry in line
//! in that same unit of work, or leaves it available when nobody waits. An
//! entry has at most one live offer (`offer_hold_id` while `offered`).
//! Providers whose slots another system books get notify-only offers: the
//! first entry in line is told (`waitlist.offered` with `notifyOnly`), no
//! time is held, and the entry ends as `notified`.

mod entries;
mod offers;

use std::time::Duration;

pub use entries::{EntryView, NewEntry, OfferView};
pub(in crate::app) use offers::{offer_claimed, offer_ended, offer_freed, offer_opened};

use chrono::{DateTime, Utc};
use entity::waitlist_entry;
use sea_orm::{ColumnTrait, Condition, ConnectionTrait, DbErr, EntityTrait, QueryFilter};

/// Delete entries that stopped waiting, or whose window ended, before
/// `before`: nothing refers to them any more (their offers have ended).
pub(in crate::app) async fn prune_ended(db: &impl ConnectionTrait, before: DateTime<Utc>) -> Result<u64, DbErr> {
    let ended = Condition::all()
        .add(
            waitlist_entry::Column::Status
                .is_not_in([waitlist_entry::Status::Waiting, waitlist_entry::Status::Offered]),
        )
        .add(waitlist_entry::Column::EndedAt.lt(before));
    let lapsed = Condition::all()
        .add(waitlist_entry::Column::Status.eq(waitlist_entry::Status::Waiting))
        .add(waitlist_entry::Column::ExpiresAt.lt(before));
    let pruned = waitlist_entry::Entity::delete_many().filter(Condition::any().add(ended).add(lapsed)).exec(db).await?;
    Ok(pruned.rows_affected)
}

/// How long an offer holds its time, and how many entries one client may have.
#[derive(Clone, Copy, Debug)]
pub struct WaitlistPolicy {
    /// An offer's hold lasts this long; it is never renewed.
    pub offer_ttl: Duration,
    /// Active entries (waiting or offered) one client may have at once.
    pub per_client: u64,
}

impl Default for WaitlistPolicy {
    fn default() -> WaitlistPolicy {
        WaitlistPolicy { offer_ttl: Duration::from_secs(600), per_client: 5 }
    }
}
