//! What the webhook sender reads and writes on a subscription's row: which
//! subscriptions are due, the lease (one sender per subscription across
//! instances), the cursor and the failure state.
//!
//! Invariants: every lease end is written and compared in the database's
//! time (`Clock::shared_now`), never an instance's own, so an instance whose
//! clock runs ahead cannot take a live lease; the cursor and the failure
//! state are written only under this sender's lease (`LeaseOwner` in every
//! UPDATE's filter), and the cursor only ever moves forward.

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use entity::webhook_subscription::{self, Status};
use rand::Rng;
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{ColumnTrait, Condition, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use uuid::Uuid;

use super::Sender;
use crate::app::WriteTransaction;
use crate::app::backoff::backoff;
use crate::events::{Lane, event_log};
use crate::webhooks::client::AttemptError;

/// Subscriptions looked at per poll.
const DUE_PER_POLL: u64 = 256;
/// How long a lease outlives the attempt it covers.
const LEASE_MARGIN: Duration = Duration::from_secs(30);
/// Stored error text, at most (the column's size).
const ERROR_MAX: usize = 500;

impl Sender {
    /// Active subscriptions with events after their cursor, not backing off
    /// and not leased by a live sender.
    pub(super) async fn due(&self) -> Result<Vec<webhook_subscription::Model>, DbErr> {
        use webhook_subscription::Column;
        let now = self.now().await?;
        // The provider's newest position: `2 × version + 1`.
        let head = event_log::provider_version_of(webhook_subscription::Entity, Column::ProviderId);
        webhook_subscription::Entity::find()
            .filter(Column::Status.eq(Status::Active))
            .filter(Condition::any().add(Column::NextAttemptAt.is_null()).add(Column::NextAttemptAt.lte(now)))
            .filter(
                Condition::any()
                    .add(Column::LeaseUntil.is_null())
                    .add(Column::LeaseUntil.lt(now))
                    .add(Column::LeaseOwner.eq(self.instance)),
            )
            .filter(
                Expr::col((webhook_subscription::Entity, Column::Cursor)).lt(head.mul(Lane::COUNT).add(Lane::past(0))),
            )
            .order_by_asc(Column::Id)
            .limit(DUE_PER_POLL)
            .all(&self.app.db)
            .await
    }

    /// The database's time, which every instance's leases are measured in.
    pub(super) async fn now(&self) -> Result<DateTime<Utc>, DbErr> {
        self.app.clock.shared_now(&self.app.db).await
    }

    /// A lease taken or renewed at `now` lasts this long.
    pub(super) fn lease_until(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        now + TimeDelta::from_std(self.settings.timeout + LEASE_MARGIN).unwrap_or(TimeDelta::MAX)
    }

    /// Take the subscription's lease if nobody holds a live one.
    pub(super) async fn take_lease(&self, subscription_id: Uuid) -> Result<bool, DbErr> {
        use webhook_subscription::Column;
        let write = WriteTransaction::begin(&self.app).await?;
        let now = self.now().await?;
        let taken = webhook_subscription::Entity::update_many()
            .col_expr(Column::LeaseOwner, Expr::value(Some(self.instance)))
            .col_expr(Column::LeaseUntil, Expr::value(Some(self.lease_until(now))))
            .filter(Column::Id.eq(subscription_id))
            .filter(
                Condition::any()
                    .add(Column::LeaseUntil.is_null())
                    .add(Column::LeaseUntil.lt(now))
                    .add(Column::LeaseOwner.eq(self.instance)),
            )
            .exec(&write.tx)
            .await?;
        write.commit().await?;
        Ok(taken.rows_affected == 1)
    }

    /// The subscription, read under this sender's lease: kept from earlier
    /// rounds while it has at least half its margin left (the lease stays
    /// with the sender between rounds, so a round costs no write for it),
    /// otherwise taken anew. `None` if another sender holds it or it is no
    /// longer active. Read after the lease is known to be ours: the row the
    /// poll saw may be stale (another instance may have delivered and let go
    /// in between), and sending from a stale cursor would send twice.
    pub(super) async fn claim(&self, id: Uuid) -> Result<Option<webhook_subscription::Model>, DbErr> {
        let ours = |row: &webhook_subscription::Model, until: DateTime<Utc>| {
            row.status == Status::Active
                && row.lease_owner == Some(self.instance)
                && row.lease_until.is_some_and(|u| u > until)
        };
        let now = self.now().await?;
        let keep_until = now + TimeDelta::from_std(LEASE_MARGIN / 2).unwrap_or_default();
        let row = webhook_subscription::Entity::find_by_id(id).one(&self.app.db).await?;
        if row.as_ref().is_some_and(|row| ours(row, keep_until)) {
            return Ok(row);
        }
        if !self.take_lease(id).await? {
            return Ok(None);
        }
        let row = webhook_subscription::Entity::find_by_id(id).one(&self.app.db).await?;
        Ok(row.filter(|row| ours(row, now)))
    }

    /// Move the cursor to `position` (delivered), clear the failure state and
    /// renew the lease; false if this sender no longer holds the lease.
    pub(super) async fn advance(&self, subscription_id: Uuid, position: i64) -> Result<bool, DbErr> {
        use webhook_subscription::Column;
        let write = WriteTransaction::begin(&self.app).await?;
        let now = self.now().await?;
        let moved = webhook_subscription::Entity::update_many()
            .col_expr(Column::Cursor, Expr::value(position))
            .col_expr(Column::Attempts, Expr::value(0))
            .col_expr(Column::NextAttemptAt, Expr::value(Option::<DateTime<Utc>>::None))
            .col_expr(Column::FailingSince, Expr::value(Option::<DateTime<Utc>>::None))
            .col_expr(Column::LeaseUntil, Expr::value(Some(self.lease_until(now))))
            .filter(Column::Id.eq(subscription_id))
            .filter(Column::LeaseOwner.eq(self.instance))
            .filter(Column::Cursor.lt(position))
            .exec(&write.tx)
            .await?;
        write.commit().await?;
        Ok(moved.rows_affected == 1)
    }

    /// Record a failed attempt: the next one after an exponential, jittered
    /// delay, or `failing` once failures have lasted `give_up_after`.
    pub(super) async fn failed(
        &self,
        subscription: &webhook_subscription::Model,
        error: &AttemptError,
    ) -> Result<(), DbErr> {
        use webhook_subscription::Column;
        let now = self.now().await?;
        let attempts = subscription.attempts.saturating_add(1);
        let failing_since = subscription.failing_since.unwrap_or(now);
        let gave_up = (now - failing_since).to_std().unwrap_or_default() >= self.settings.give_up_after;
        let delay = backoff(self.settings.retry_base, self.settings.retry_max, attempts, rand::rng().random());
        let mut text = error.to_string();
        text.truncate(text.floor_char_boundary(ERROR_MAX));
        tracing::info!(subscription = %subscription.id, attempts, %text, gave_up, "webhook attempt failed");
        let write = WriteTransaction::begin(&self.app).await?;
        webhook_subscription::Entity::update_many()
            .col_expr(Column::Attempts, Expr::value(attempts))
            .col_expr(Column::FailingSince, Expr::value(Some(failing_since)))
            .col_expr(Column::NextAttemptAt, Expr::value(Some(now + TimeDelta::from_std(delay).unwrap_or_default())))
            .col_expr(Column::LastError, Expr::value(Some(text)))
            .col_expr(Column::Status, Expr::value(if gave_up { Status::Failing } else { Status::Active }))
            .filter(Column::Id.eq(subscription.id))
            .filter(Column::LeaseOwner.eq(self.instance))
            .exec(&write.tx)
            .await?;
        write.commit().await?;
        Ok(())
    }

    /// Give back every lease this sender holds.
    pub(super) async fn release_leases(&self) -> Result<(), DbErr> {
        use webhook_subscription::Column;
        let write = WriteTransaction::begin(&self.app).await?;
        webhook_subscription::Entity::update_many()
            .col_expr(Column::LeaseOwner, Expr::value(Option::<Uuid>::None))
            .col_expr(Column::LeaseUntil, Expr::value(Option::<DateTime<Utc>>::None))
            .filter(Column::LeaseOwner.eq(self.instance))
            .exec(&write.tx)
            .await?;
        write.commit().await?;
        Ok(())
    }
}
