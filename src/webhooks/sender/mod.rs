//! The webhook sender: for each subscription, the events after its stored
//! cursor, in log order, one at a time; the cursor moves on a 2xx only, so
//! nothing is lost across restarts and order holds per provider (a failing
//! event blocks the ones behind it until it is delivered or the
//! subscription is marked failing).
//!
//! One sender per subscription, also across instances: a sender first takes
//! the subscription's lease (a conditional UPDATE, the same on SQLite and
//! PostgreSQL), renews it whenever it stores the cursor, keeps it between
//! rounds while it is fresh, and gives all of its leases back when the server
//! stops. A crashed instance's lease runs out after the
//! delivery timeout plus a margin, and another instance resends what was not
//! acknowledged: at least once always, once in the normal case. A lease's
//! end is written and compared in the database's time (`Clock::shared_now`),
//! never an instance's own: an instance whose clock runs ahead would
//! otherwise take a live lease and send beside its holder.
//!
//! A slow receiver holds one of `--webhook-concurrency` permits and only its
//! own subscription's lease; bookings never wait on it (the sender runs after
//! the commit, on its own tasks), nor do other receivers while permits last.

use std::collections::HashSet;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeDelta, Utc};
use entity::{booking_event, slot_event, webhook_subscription};
use rand::Rng;
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{ColumnTrait, Condition, DbErr, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use uuid::Uuid;

use super::client::{AttemptError, WebhookClient};
use super::message::{self, Message};
use crate::app::App;
use crate::app::backoff::backoff;
use crate::app::webhooks::{ACTIVE, EventType, FAILING, event_types};
use crate::events::{event_log, versions};

/// The sender's flags (see `config`).
#[derive(Clone, Debug)]
pub struct SenderSettings {
    /// One attempt, connection included.
    pub timeout: Duration,
    /// Deliveries in flight at once (each to a different subscription).
    pub concurrency: usize,
    /// How often the subscriptions are looked at when no local commit wakes the sender.
    pub poll: Duration,
    /// The first retry's delay; each further one doubles, up to `retry_max`.
    pub retry_base: Duration,
    pub retry_max: Duration,
    /// Failing this long without a success marks the subscription `failing`.
    pub give_up_after: Duration,
    pub allow_private: bool,
}

/// Events read from the log per round.
const BATCH: u64 = 100;
/// Subscriptions looked at per poll.
const DUE_PER_POLL: u64 = 256;
/// How long a lease outlives the attempt it covers.
const LEASE_MARGIN: Duration = Duration::from_secs(30);
/// Longest a delivered position goes unstored while a batch is sent.
const STORE_EVERY: Duration = Duration::from_secs(1);
/// Stored error text, at most (the column's size).
const ERROR_MAX: usize = 500;

struct Sender {
    app: App,
    settings: SenderSettings,
    client: WebhookClient,
    /// This process's lease owner id.
    instance: Uuid,
    permits: Arc<Semaphore>,
    /// Subscriptions this process is delivering for now.
    in_flight: Mutex<HashSet<Uuid>>,
}

/// Run the sender until `stopping`; each subscription's delivery runs as a
/// task of its own on `tasks` and gives its lease back when the server stops.
pub async fn run(app: App, settings: SenderSettings, tasks: TaskTracker, stopping: CancellationToken) {
    let client = match WebhookClient::new(settings.timeout, settings.allow_private) {
        Ok(client) => client,
        Err(error) => {
            tracing::error!(%error, "webhook sender not started");
            return;
        }
    };
    let sender = Arc::new(Sender {
        permits: Arc::new(Semaphore::new(settings.concurrency.max(1))),
        app,
        settings,
        client,
        instance: Uuid::new_v4(),
        in_flight: Mutex::new(HashSet::new()),
    });
    let wake = sender.app.webhooks.wake.clone();
    // This sender's delivery tasks (also on the server's `tasks`): waited for
    // on stop, before the leases are given back.
    let jobs = TaskTracker::new();
    let mut last_census = Instant::now() - Duration::from_secs(60);
    loop {
        if let Err(error) = sender.start_due(&tasks, &jobs, &stopping).await {
            tracing::warn!(%error, "webhook poll failed");
        }
        metrics::counter!("slotstream_webhook_polls_total").increment(1);
        if last_census.elapsed() >= Duration::from_secs(5) {
            last_census = Instant::now();
            if let Ok(failing) = webhook_subscription::Entity::find()
                .filter(webhook_subscription::Column::Status.eq(FAILING))
                .count(&sender.app.db)
                .await
            {
                metrics::gauge!("slotstream_webhook_failing_subscriptions").set(failing as f64);
            }
            if let Err(error) = sender.forget_deleted().await {
                tracing::warn!(%error, "webhook lag series not checked");
            }
        }
        tokio::select! {
            () = wake.notified() => {}
            () = tokio::time::sleep(sender.settings.poll) => {}
            () = stopping.cancelled() => break,
        }
    }
    // Each task stores what its receiver acknowledged; then every lease goes
    // back at once, so a restarted or other instance goes on without waiting.
    jobs.close();
    jobs.wait().await;
    if let Err(error) = sender.release_leases().await {
        tracing::warn!(%error, "webhook leases not released; they run out by themselves");
    }
}

impl Sender {
    /// Start a delivery task for every due subscription this process is
    /// not already delivering for, while permits last. The task takes the
    /// lease itself: on SQLite every write waits its turn at the single
    /// writer, and the poll must not wait once per subscription.
    async fn start_due(
        self: &Arc<Self>,
        tasks: &TaskTracker,
        jobs: &TaskTracker,
        stopping: &CancellationToken,
    ) -> Result<(), DbErr> {
        for subscription in self.due().await? {
            if !self.in_flight.lock().unwrap_or_else(|e| e.into_inner()).insert(subscription.id) {
                continue;
            }
            let Ok(permit) = self.permits.clone().try_acquire_owned() else {
                self.done(subscription.id);
                break;
            };
            tasks.spawn(jobs.track_future(self.clone().deliver(subscription.id, permit, stopping.clone())));
        }
        Ok(())
    }

    fn done(&self, subscription_id: Uuid) {
        self.in_flight.lock().unwrap_or_else(|e| e.into_inner()).remove(&subscription_id);
    }

    /// Active subscriptions with events after their cursor, not backing off
    /// and not leased by a live sender.
    async fn due(&self) -> Result<Vec<webhook_subscription::Model>, DbErr> {
        use webhook_subscription::Column;
        let now = self.now().await?;
        // The provider's newest position: `2 × version + 1`.
        let head = event_log::provider_version_of(webhook_subscription::Entity, Column::ProviderId);
        webhook_subscription::Entity::find()
            .filter(Column::Status.eq(ACTIVE))
            .filter(Condition::any().add(Column::NextAttemptAt.is_null()).add(Column::NextAttemptAt.lte(now)))
            .filter(
                Condition::any()
                    .add(Column::LeaseUntil.is_null())
                    .add(Column::LeaseUntil.lt(now))
                    .add(Column::LeaseOwner.eq(self.instance)),
            )
            .filter(Expr::col((webhook_subscription::Entity, Column::Cursor)).lt(head.mul(2).add(1)))
            .order_by_asc(Column::Id)
            .limit(DUE_PER_POLL)
            .all(&self.app.db)
            .await
    }

    /// The database's time, which every instance's leases are measured in.
    async fn now(&self) -> Result<DateTime<Utc>, DbErr> {
        self.app.clock.shared_now(&self.app.db).await
    }

    /// A lease taken or renewed at `now` lasts this long.
    fn lease_until(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        now + TimeDelta::from_std(self.settings.timeout + LEASE_MARGIN).unwrap_or(TimeDelta::MAX)
    }

    /// Take the subscription's lease if nobody holds a live one.
    async fn take_lease(&self, subscription_id: Uuid) -> Result<bool, DbErr> {
        use webhook_subscription::Column;
        let _writer = self.app.write_lock().await;
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
            .exec(&self.app.db)
            .await?;
        Ok(taken.rows_affected == 1)
    }

    /// Deliver for one subscription until it is caught up, an attempt fails,
    /// or the server stops; then give the lease back.
    async fn deliver(self: Arc<Self>, id: Uuid, _permit: OwnedSemaphorePermit, stopping: CancellationToken) {
        let subscription = match self.claim(id).await {
            Ok(Some(subscription)) => subscription,
            Ok(None) => return self.done(id),
            Err(error) => {
                tracing::warn!(%error, subscription = %id, "webhook lease not taken");
                return self.done(id);
            }
        };
        // The newest position acknowledged by the receiver, for the stop
        // below: what was delivered is stored even if the server stops mid-batch.
        let acknowledged = AtomicI64::new(i64::MIN);
        tokio::select! {
            result = self.catch_up(subscription, &acknowledged) => {
                if let Err(error) = result {
                    tracing::warn!(%error, subscription = %id, "webhook delivery stopped");
                }
            }
            () = stopping.cancelled() => {
                let position = acknowledged.load(Ordering::Acquire);
                if position != i64::MIN && let Err(error) = self.advance(id, position).await {
                    tracing::warn!(%error, subscription = %id, "webhook cursor not stored; those events go again");
                }
            }
        }
        self.done(id);
    }

    /// The subscription, read under this sender's lease: kept from earlier
    /// rounds while it has at least half its margin left (the lease stays
    /// with the sender between rounds, so a round costs no write for it),
    /// otherwise taken anew. `None` if another sender holds it or it is no
    /// longer active. Read after the lease is known to be ours: the row the
    /// poll saw may be stale (another instance may have delivered and let go
    /// in between), and sending from a stale cursor would send twice.
    async fn claim(&self, id: Uuid) -> Result<Option<webhook_subscription::Model>, DbErr> {
        let ours = |row: &webhook_subscription::Model, until: DateTime<Utc>| {
            row.status == ACTIVE && row.lease_owner == Some(self.instance) && row.lease_until.is_some_and(|u| u > until)
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

    /// Send the events after the cursor in order until caught up or an
    /// attempt fails. The cursor is stored after each batch, before a
    /// failure is recorded, and at least every [`STORE_EVERY`] (which also
    /// renews the lease): one write per batch rather than per event.
    async fn catch_up(
        &self,
        mut subscription: webhook_subscription::Model,
        acknowledged: &AtomicI64,
    ) -> Result<(), DbErr> {
        let types = event_types(&subscription.events);
        let (mut cursor, mut stored) = (subscription.cursor, subscription.cursor);
        let mut stored_at = Instant::now();
        let lag = |versions: i64| self.app.gauges.webhook_lag(subscription.id, u64::try_from(versions).unwrap_or(0));
        loop {
            // The head first: every event at or below it is committed and visible.
            let head = versions::committed(&self.app.db, subscription.provider_id).await?.unwrap_or(0);
            let batch = self.load(subscription.provider_id, cursor, head, &types).await?;
            lag((2 * head + 1 - cursor) / 2);
            if batch.is_empty() {
                // Nothing more of the kinds asked for up to the head (the
                // cursor is never past it): skip to it.
                if 2 * head + 1 > stored {
                    self.advance(subscription.id, 2 * head + 1).await?;
                }
                lag(0);
                return Ok(());
            }
            for message in batch {
                match self.attempt(&subscription, &message).await {
                    Ok(()) => {
                        metrics::counter!("slotstream_webhook_deliveries_total", "outcome" => "delivered").increment(1);
                        let latency = (Utc::now() - message.occurred_at).to_std().unwrap_or_default();
                        metrics::histogram!("slotstream_webhook_delivery_seconds").record(latency.as_secs_f64());
                        cursor = message.position;
                        acknowledged.store(cursor, Ordering::Release);
                        // A success ends the run of failures (as `advance` stores it).
                        subscription.attempts = 0;
                        subscription.failing_since = None;
                        if stored_at.elapsed() >= STORE_EVERY {
                            if !self.advance(subscription.id, cursor).await? {
                                return Ok(()); // The lease was lost: another sender goes on.
                            }
                            (stored, stored_at) = (cursor, Instant::now());
                        }
                    }
                    Err(error) => {
                        metrics::counter!("slotstream_webhook_deliveries_total", "outcome" => error.outcome())
                            .increment(1);
                        if cursor > stored && !self.advance(subscription.id, cursor).await? {
                            return Ok(());
                        }
                        self.failed(&subscription, &error).await?;
                        return Ok(());
                    }
                }
            }
            if cursor > stored {
                if !self.advance(subscription.id, cursor).await? {
                    return Ok(());
                }
                (stored, stored_at) = (cursor, Instant::now());
            }
        }
    }

    async fn attempt(&self, subscription: &webhook_subscription::Model, message: &Message) -> Result<(), AttemptError> {
        let headers = message::signed_headers(message, &subscription.secret).map_err(AttemptError::Refused)?;
        self.client.post(&subscription.url, &headers, message.body.clone()).await
    }

    /// Up to [`BATCH`] messages of the types asked for after `cursor`, up to
    /// version `head`, in log order (each table read in order, then merged).
    async fn load(
        &self,
        provider_id: Uuid,
        cursor: i64,
        head: i64,
        types: &[EventType],
    ) -> Result<Vec<Message>, DbErr> {
        let mut messages = Vec::new();
        if types.contains(&EventType::SlotChanged) {
            let rows = slot_event::Entity::find()
                .filter(slot_event::Column::ProviderId.eq(provider_id))
                .filter(slot_event::Column::Version.gt(cursor.div_euclid(2)))
                .filter(slot_event::Column::Version.lte(head))
                .order_by_asc(slot_event::Column::Version)
                .limit(BATCH)
                .all(&self.app.db)
                .await?;
            messages.extend(rows.iter().map(message::slot_changed));
        }
        let kinds: Vec<&str> = types.iter().filter(|t| **t != EventType::SlotChanged).map(|t| t.as_str()).collect();
        if !kinds.is_empty() {
            let rows = booking_event::Entity::find()
                .filter(booking_event::Column::ProviderId.eq(provider_id))
                .filter(booking_event::Column::Version.gt((cursor - 1).div_euclid(2)))
                .filter(booking_event::Column::Version.lte(head))
                .filter(booking_event::Column::Kind.is_in(kinds))
                .order_by_asc(booking_event::Column::Version)
                .limit(BATCH)
                .all(&self.app.db)
                .await?;
            messages.extend(rows.iter().filter_map(message::booking));
        }
        messages.sort_by_key(|m| m.position);
        messages.truncate(BATCH as usize);
        Ok(messages)
    }

    /// Move the cursor to `position` (delivered), clear the failure state and
    /// renew the lease; false if this sender no longer holds the lease.
    async fn advance(&self, subscription_id: Uuid, position: i64) -> Result<bool, DbErr> {
        use webhook_subscription::Column;
        let _writer = self.app.write_lock().await;
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
            .exec(&self.app.db)
            .await?;
        Ok(moved.rows_affected == 1)
    }

    /// Record a failed attempt: the next one after an exponential, jittered
    /// delay, or `failing` once failures have lasted `give_up_after`.
    async fn failed(&self, subscription: &webhook_subscription::Model, error: &AttemptError) -> Result<(), DbErr> {
        use webhook_subscription::Column;
        let now = self.now().await?;
        let attempts = subscription.attempts.saturating_add(1);
        let failing_since = subscription.failing_since.unwrap_or(now);
        let gave_up = (now - failing_since).to_std().unwrap_or_default() >= self.settings.give_up_after;
        let delay = backoff(self.settings.retry_base, self.settings.retry_max, attempts, rand::rng().random());
        let mut text = error.to_string();
        text.truncate(text.floor_char_boundary(ERROR_MAX));
        tracing::info!(subscription = %subscription.id, attempts, %text, gave_up, "webhook attempt failed");
        let _writer = self.app.write_lock().await;
        webhook_subscription::Entity::update_many()
            .col_expr(Column::Attempts, Expr::value(attempts))
            .col_expr(Column::FailingSince, Expr::value(Some(failing_since)))
            .col_expr(Column::NextAttemptAt, Expr::value(Some(now + TimeDelta::from_std(delay).unwrap_or_default())))
            .col_expr(Column::LastError, Expr::value(Some(text)))
            .col_expr(Column::Status, Expr::value(if gave_up { FAILING } else { ACTIVE }))
            .filter(Column::Id.eq(subscription.id))
            .filter(Column::LeaseOwner.eq(self.instance))
            .exec(&self.app.db)
            .await?;
        Ok(())
    }

    /// Drop the lag series of subscriptions deleted meanwhile (through any instance).
    async fn forget_deleted(&self) -> Result<(), DbErr> {
        let shown = self.app.gauges.webhooks_shown();
        if shown.is_empty() {
            return Ok(());
        }
        let existing: Vec<Uuid> = webhook_subscription::Entity::find()
            .select_only()
            .column(webhook_subscription::Column::Id)
            .filter(webhook_subscription::Column::Id.is_in(shown))
            .into_tuple()
            .all(&self.app.db)
            .await?;
        self.app.gauges.webhooks_exist(&existing.into_iter().collect());
        Ok(())
    }

    /// Give back every lease this sender holds.
    async fn release_leases(&self) -> Result<(), DbErr> {
        use webhook_subscription::Column;
        let _writer = self.app.write_lock().await;
        webhook_subscription::Entity::update_many()
            .col_expr(Column::LeaseOwner, Expr::value(Option::<Uuid>::None))
            .col_expr(Column::LeaseUntil, Expr::value(Option::<DateTime<Utc>>::None))
            .filter(Column::LeaseOwner.eq(self.instance))
            .exec(&self.app.db)
            .await?;
        Ok(())
    }
}
