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
//!
//! The sender's parts: this file runs the poll loop and one task per
//! subscription being delivered for; `lease` owns what the sender reads and
//! writes on a subscription's row (which are due, the lease, the cursor, the
//! failure state), always in the database's time; `send` reads the log and
//! sends it in order.

use std::collections::HashSet;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use entity::webhook_subscription;
use sea_orm::{ColumnTrait, DbErr, EntityTrait, PaginatorTrait, QueryFilter, QuerySelect};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use uuid::Uuid;

use super::client::WebhookClient;
use crate::app::App;

mod lease;
mod send;

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

struct Sender {
    app: App,
    settings: SenderSettings,
    client: WebhookClient,
    /// This process's lease owner id.
    instance: Uuid,
    permits: Arc<Semaphore>,
    in_flight: Mutex<InFlight>,
}

/// The subscriptions this process is delivering for now, and those of them
/// found due again meanwhile (an event committed while the task was
/// finishing: its batch was read before the commit). One lock over both, so
/// a task cannot end between a wake-up being noted and being seen.
#[derive(Default)]
struct InFlight {
    running: HashSet<Uuid>,
    again: HashSet<Uuid>,
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
        in_flight: Mutex::new(InFlight::default()),
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
                .filter(webhook_subscription::Column::Status.eq(webhook_subscription::Status::Failing))
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
            {
                let mut in_flight = self.in_flight.lock().unwrap_or_else(|e| e.into_inner());
                if !in_flight.running.insert(subscription.id) {
                    // Its task goes round once more before it ends.
                    in_flight.again.insert(subscription.id);
                    continue;
                }
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
        let mut in_flight = self.in_flight.lock().unwrap_or_else(|e| e.into_inner());
        in_flight.running.remove(&subscription_id);
        in_flight.again.remove(&subscription_id);
    }

    /// The task for `subscription_id` ends, unless it was found due again
    /// meanwhile: then it stays running and goes round once more (`true`).
    fn ends(&self, subscription_id: Uuid) -> bool {
        let mut in_flight = self.in_flight.lock().unwrap_or_else(|e| e.into_inner());
        if in_flight.again.remove(&subscription_id) {
            return false;
        }
        in_flight.running.remove(&subscription_id);
        true
    }

    /// Deliver for one subscription until it is caught up (and stays so: a
    /// wake-up while it ran sends it round again, rather than waiting for the
    /// next poll), an attempt fails, or the server stops.
    async fn deliver(self: Arc<Self>, id: Uuid, _permit: OwnedSemaphorePermit, stopping: CancellationToken) {
        loop {
            if !self.deliver_once(id, &stopping).await || stopping.is_cancelled() || self.ends(id) {
                break;
            }
        }
        self.done(id);
    }

    /// One round of `deliver`; `false` when it cannot go on (no lease, a
    /// failure, the server stopping).
    async fn deliver_once(&self, id: Uuid, stopping: &CancellationToken) -> bool {
        let subscription = match self.claim(id).await {
            Ok(Some(subscription)) => subscription,
            Ok(None) => return false,
            Err(error) => {
                tracing::warn!(%error, subscription = %id, "webhook lease not taken");
                return false;
            }
        };
        // The newest position acknowledged by the receiver, for the stop
        // below: what was delivered is stored even if the server stops mid-batch.
        let acknowledged = AtomicI64::new(i64::MIN);
        tokio::select! {
            result = self.send_pending(subscription, &acknowledged) => match result {
                Ok(caught_up) => caught_up,
                Err(error) => {
                    tracing::warn!(%error, subscription = %id, "webhook delivery stopped");
                    false
                }
            },
            () = stopping.cancelled() => {
                let position = acknowledged.load(Ordering::Acquire);
                if position != i64::MIN && let Err(error) = self.advance(id, position).await {
                    tracing::warn!(%error, subscription = %id, "webhook cursor not stored; those events go again");
                }
                false
            }
        }
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
}
