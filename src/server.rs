//! Wiring: connect, migrate, start the background tasks (database health
//! prober, PostgreSQL relay, reconciler, event-log pruning, hold expiry,
//! webhook sender, limiter and metrics upkeep), serve (`connections`),
//! and stop: one `CancellationToken` says "the server is stopping" (the
//! accept loop, the streams and every background task end on it) and one
//! `TaskTracker` holds every background task, so that `Running::stop` returns
//! only once all of them have ended.

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use migration::{Migrator, MigratorTrait};
use sea_orm::{ConnectOptions, Database, DatabaseConnection, DbBackend, DbErr};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::{CancellationToken, DropGuard};
use tokio_util::task::TaskTracker;

use crate::app::{
    AdminToken, App, Clock, ExpiryRetries, HoldPolicy, PlannerPolicy, SessionPolicy, WaitlistPolicy, WebhookPolicy,
};
use crate::config::ServeArgs;
use crate::connections::{ConnectionPolicy, serve};
use crate::events::{Bus, reconcile, relay, versions};
use crate::http::limits::Quota;
use crate::http::limits::RateLimits;
use crate::http::{HttpContext, HttpSettings, HttpState};

/// SQLite's page cache per connection, in KiB when negative (PRAGMA
/// cache_size): 16 pooled connections hold at most 4 MiB together.
const SQLITE_CACHE_SIZE: &str = "-256";

/// Open the database (SQLite in WAL mode with a busy timeout) and migrate it.
pub async fn connect(url: &str, max_connections: u32) -> Result<DatabaseConnection, DbErr> {
    let mut options = ConnectOptions::new(url.to_owned());
    options
        .max_connections(max_connections)
        .connect_timeout(Duration::from_secs(5))
        .acquire_timeout(Duration::from_secs(5))
        .sqlx_logging(false)
        .set_application_name("slotstream")
        .map_sqlx_sqlite_opts(|o| {
            o.journal_mode(sea_orm::sqlx::sqlite::SqliteJournalMode::Wal)
                .synchronous(sea_orm::sqlx::sqlite::SqliteSynchronous::Normal)
                .busy_timeout(Duration::from_secs(10))
                .foreign_keys(true)
                // SQLite's default page cache (2 MB) is per connection, and
                // the pool hands reads to its connections in turn: large
                // reads filled every one, ~30 MB beyond the render cache's
                // budget (issue 21 item 18). The OS page cache still holds
                // the file; the render cache holds the hot documents.
                .pragma("cache_size", SQLITE_CACHE_SIZE)
        });
    let db = Database::connect(options).await?;
    Migrator::up(&db, None).await?;
    Ok(db)
}

/// The application over `db`, its bus primed with every provider's version.
pub async fn build_app(db: DatabaseConnection, args: &ServeArgs) -> Result<App, DbErr> {
    let postgres = db.get_database_backend() == DbBackend::Postgres;
    // On PostgreSQL the relay marks versions trusted once it listens.
    let bus = Bus::new(args.subscriber_buffer, !postgres);
    for (provider_id, version) in versions::all_committed(&db).await? {
        bus.observe_version(provider_id, version);
    }
    reconcile::deactivations(&db, &bus).await?;
    let holds = HoldPolicy {
        ttl: Duration::from_secs(args.hold_ttl_secs.max(1)),
        max_lifetime: Duration::from_secs(args.hold_max_secs.max(1)),
        per_client: args.max_holds_per_client,
    };
    let planner = PlannerPolicy { horizon_days: args.slot_horizon_days.max(1) };
    let webhooks = WebhookPolicy { allow_private: args.webhook_allow_private, ..WebhookPolicy::default() };
    let app = App::new(db, bus, args.render_cache_bytes)
        .with_hold_policy(holds)
        .with_waitlist_policy(WaitlistPolicy {
            offer_ttl: Duration::from_secs(args.waitlist_offer_secs.max(1)),
            per_client: args.max_waitlist_per_client,
        })
        .with_planner_policy(planner)
        .with_webhook_policy(webhooks)
        .with_session_policy(SessionPolicy {
            lifetime: chrono::TimeDelta::hours(i64::from(args.provider_session_hours)),
            ..SessionPolicy::default()
        })
        .with_clock(Clock::skewed(chrono::TimeDelta::seconds(args.clock_skew_secs)))
        .with_max_days_ahead(args.max_days_ahead);
    // From here on the search index hears of every provider's progress
    // (what came before, its first read finds in the database).
    app.bus.set_tap(app.search.tap());
    Ok(app)
}

/// A running server: its address and the handle that stops it. Dropping it
/// also begins the stop (without waiting), so a test that panics, or forgets
/// to stop, leaves no server behind.
pub struct Running {
    pub addr: SocketAddr,
    /// Where `/metrics` is served apart (`--metrics-bind`), if it is.
    pub metrics_addr: Option<SocketAddr>,
    pub app: App,
    /// Cancels the "server is stopping" token when `Running` is dropped.
    stopping: DropGuard,
    /// The background tasks and the accept loop.
    tasks: TaskTracker,
    served: JoinHandle<std::io::Result<()>>,
}

impl Running {
    /// Stop accepting, end streams, finish in-flight requests (for up to
    /// 10 s), end the background tasks; return once all that is done.
    pub async fn stop(self) -> std::io::Result<()> {
        self.stopping.token().cancel();
        self.finished().await
    }

    /// The token that stops this server when cancelled (what `stop` does,
    /// without waiting): for a signal handler while `finished` is awaited.
    pub fn stop_token(&self) -> CancellationToken {
        self.stopping.token().clone()
    }

    /// Wait until the server has stopped and every background task has ended.
    pub async fn finished(self) -> std::io::Result<()> {
        let served = self.served.await.unwrap_or(Ok(()));
        // The accept loop ends only on cancel, or if it panicked: stop the
        // background tasks in either case, or the wait below would not end.
        self.stopping.token().cancel();
        self.tasks.close();
        self.tasks.wait().await;
        served
    }
}

/// Background tasks and the HTTP server over `app`, on `listener`.
pub fn start(app: App, listener: TcpListener, args: &ServeArgs) -> std::io::Result<Running> {
    let addr = listener.local_addr()?;
    let stopping = CancellationToken::new();
    let tasks = TaskTracker::new();
    let postgres = app.db.get_database_backend() == DbBackend::Postgres;
    spawn_until_stopped(&tasks, &stopping, crate::health::probe(app.db.clone(), app.health.clone()));
    if postgres {
        let catalogue = app.clone();
        let on_catalogue = move |change: relay::CatalogueChange| catalogue.catalogue_changed(&change);
        let relayed = relay::run(app.db.clone(), app.bus.clone(), app.health.clone(), on_catalogue);
        spawn_until_stopped(&tasks, &stopping, relayed);
    }
    spawn_until_stopped(&tasks, &stopping, crate::app::keep_search_index(app.db.clone(), app.search.clone()));
    let reconcile_every = Duration::from_secs(args.reconcile_interval_secs.max(1));
    spawn_until_stopped(&tasks, &stopping, reconcile::run(app.db.clone(), app.bus.clone(), reconcile_every));
    spawn_until_stopped(&tasks, &stopping, prune_periodically(app.clone(), args.clone()));
    let sweep_every = Duration::from_millis(args.hold_sweep_millis.max(10));
    spawn_until_stopped(&tasks, &stopping, expire_holds_periodically(app.clone(), sweep_every));
    spawn_until_stopped(&tasks, &stopping, recount_holds_periodically(app.clone()));
    if args.demo_traffic {
        let every = Duration::from_millis(args.demo_traffic_millis.max(100));
        spawn_until_stopped(&tasks, &stopping, crate::cli::demo::run_traffic(app.clone(), every));
    }
    let plan_every = Duration::from_secs(args.plan_interval_secs.max(1));
    spawn_until_stopped(&tasks, &stopping, plan_periodically(app.clone(), plan_every));
    // Ends itself on `stopping`, once its deliveries have stored their cursors.
    tasks.spawn(crate::webhooks::sender::run(app.clone(), webhook_settings(args), tasks.clone(), stopping.clone()));
    if let Some(url) = &args.ingest_nats_url {
        let ingest = crate::ingest::IngestSettings {
            url: url.clone(),
            prefix: args.ingest_nats_prefix.clone(),
            stream: args.ingest_nats_stream.clone(),
            dead_letter_stream: args.ingest_nats_dead_letter_stream.clone(),
            consumer: args.ingest_nats_consumer.clone(),
        };
        // Ends itself on `stopping`; an unacknowledged message is redelivered.
        tasks.spawn(crate::ingest::run(app.clone(), ingest, stopping.clone()));
    }
    let mut settings = http_settings(args);
    settings.admin_token = admin_token(args)?;
    let metrics_listener = match args.metrics_bind {
        Some(bind) => Some(listen(bind)?),
        None => None,
    };
    let metrics_addr = metrics_listener.as_ref().map(TcpListener::local_addr).transpose()?;
    let rate_limits = RateLimits::new(&settings, &app);
    let identity = rate_limits.identity.clone();
    spawn_until_stopped(&tasks, &stopping, forget_idle_clients(rate_limits.clone()));
    spawn_until_stopped(&tasks, &stopping, drain_metrics());
    let connections = ConnectionPolicy::from_args(args);
    let heartbeats = crate::http::HeartbeatClock::new(settings.heartbeat, stopping.clone());
    // Ends itself on `stopping`, after telling every stream to end.
    tasks.spawn(heartbeats.clone().run());
    let state = HttpState::new(HttpContext {
        app: app.clone(),
        settings,
        rate_limits,
        stopping: stopping.clone(),
        expects_relay: postgres,
        max_connections: connections.max_total,
        heartbeats,
    });
    let tls = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => Some(crate::tls::acceptor(cert, key)?),
        _ => None,
    };
    if let Some(metrics_listener) = metrics_listener {
        let metrics = crate::http::Edge::plain(crate::http::metrics_router(state.clone()));
        let (connections, identity) = (connections.clone(), identity.clone());
        tasks.spawn(serve(metrics_listener, metrics, stopping.clone(), None, connections, identity));
    }
    let router = crate::http::router(state);
    // Not cut short like the tasks above: it ends itself, gracefully.
    let served = tasks.spawn(serve(listener, router, stopping.clone(), tls, connections, identity));
    Ok(Running { addr, metrics_addr, app, stopping: stopping.drop_guard(), tasks, served })
}

/// How many finished handshakes the kernel keeps waiting for `accept` (it
/// caps this at `net.core.somaxconn`). The default `bind` gave 128 (129
/// handshakes completed with the server stopped, measured), which a burst of
/// connections on a busy machine overflows: the
/// overflowing clients believe they are connected while the server drops
/// their last ACK and retries its SYN-ACK for up to a minute, so those
/// sockets are neither refused by the caps nor closed by the greeting
/// deadline until long after (seen in CI: refusals 20 s after the burst).
const LISTEN_BACKLOG: u32 = 4096;

/// A listener on `addr`, bound at once (a taken port fails the start), with
/// a backlog deep enough for a burst.
pub fn listen(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() { tokio::net::TcpSocket::new_v4()? } else { tokio::net::TcpSocket::new_v6()? };
    socket.set_reuseaddr(true)?;
    socket.bind(addr).map_err(|e| std::io::Error::new(e.kind(), format!("cannot listen on {addr}: {e}")))?;
    socket.listen(LISTEN_BACKLOG)
}

/// Run `task` on `tasks` until `stopping` is cancelled, then drop it at its
/// next `.await`. No background task holds work that must finish (a read
/// from the log is repeated, a prune rolls back and runs again), so none of
/// them waits for anything once the server is stopping.
fn spawn_until_stopped(
    tasks: &TaskTracker,
    stopping: &CancellationToken,
    task: impl Future<Output = ()> + Send + 'static,
) {
    tasks.spawn(stopping.clone().run_until_cancelled_owned(task));
}

fn http_settings(args: &ServeArgs) -> HttpSettings {
    HttpSettings {
        heartbeat: Duration::from_secs(args.heartbeat_secs.max(1)),
        body_limit: args.body_limit,
        admin_body_limit: args.admin_body_limit,
        request_timeout: Duration::from_secs(args.request_timeout_secs.max(1)),
        read_quota: Quota { name: "reads", burst: args.read_burst, per_second: args.read_per_second },
        write_quota: Quota { name: "writes", burst: args.write_burst, per_second: args.write_per_second },
        stream_quota: Quota { name: "streams", burst: args.stream_burst, per_second: args.stream_per_second },
        hold_quota: Quota { name: "holds", burst: args.hold_burst, per_second: args.hold_per_second },
        max_streams_per_client: args.max_streams_per_client,
        max_streams: args.max_streams,
        trusted_proxies: args.trusted_proxies.clone(),
        cors_origins: args.cors_origins.clone(),
        retry: Duration::from_secs(2),
        ipv6_prefix_len: args.ipv6_prefix_len,
        static_dir: args.static_dir.clone(),
        admin_token: None,
        public_metrics: args.metrics_bind.is_none(),
        tls: args.tls_cert.is_some() && args.tls_key.is_some(),
        public_url: args.public_url.as_deref().map(|url| url.trim_end_matches('/').to_owned()),
    }
}

/// The operator token from `--admin-token-file`, kept only as its hash;
/// `None` (no admin routes) without the flag.
fn admin_token(args: &ServeArgs) -> std::io::Result<Option<AdminToken>> {
    let Some(path) = &args.admin_token_file else { return Ok(None) };
    let text = std::fs::read_to_string(path).map_err(|e| {
        std::io::Error::new(e.kind(), format!("cannot read the admin token file {}: {e}", path.display()))
    })?;
    AdminToken::new(text.trim()).map(Some).map_err(|reason| {
        std::io::Error::new(std::io::ErrorKind::InvalidData, format!("admin token file {}: {reason}", path.display()))
    })
}

/// Keep every scheduled provider's slots generated to the end of its
/// window: at once, then every `every` (a new day enters the window at
/// each provider's local midnight).
async fn plan_periodically(app: App, every: Duration) {
    loop {
        match app.extend_horizon(chrono::Utc::now()).await {
            Ok(run) if run.providers > 0 => {
                tracing::info!(providers = run.providers, slots = run.opened, "slot window extended");
            }
            Ok(_) => {}
            Err(error) => tracing::warn!(%error, "slot planning failed"),
        }
        metrics::counter!("slotstream_planner_runs_total").increment(1);
        tokio::time::sleep(every).await;
    }
}

fn webhook_settings(args: &ServeArgs) -> crate::webhooks::SenderSettings {
    crate::webhooks::SenderSettings {
        timeout: Duration::from_millis(args.webhook_timeout_millis.max(1)),
        concurrency: args.webhook_concurrency.max(1),
        poll: Duration::from_millis(args.webhook_poll_millis.max(10)),
        retry_base: Duration::from_millis(args.webhook_retry_base_millis.max(1)),
        retry_max: Duration::from_secs(args.webhook_retry_max_secs.max(1)),
        give_up_after: Duration::from_secs(args.webhook_give_up_secs),
        allow_private: args.webhook_allow_private,
    }
}

/// Fold recorded histogram samples into their buckets every few seconds.
/// The Prometheus exporter otherwise keeps every sample until `/metrics` is
/// scraped: with a delivery-lag sample per event per subscriber, an
/// unscraped server would grow without bound.
async fn drain_metrics() {
    loop {
        tokio::time::sleep(Duration::from_secs(5)).await;
        crate::http::metrics_handle().run_upkeep();
    }
}

async fn forget_idle_clients(rate_limits: RateLimits) {
    loop {
        tokio::time::sleep(Duration::from_secs(60)).await;
        rate_limits.forget_idle_clients();
    }
}

/// Release expired holds: at once (a hold that expired while the server was
/// down is released at start-up), then every `every`. Each hold is
/// re-checked under its provider's lock, so several instances sweeping at
/// once release it once.
async fn expire_holds_periodically(app: App, every: Duration) {
    /// Holds expired per sweep; a fuller backlog takes the next sweep at once.
    const BATCH: u64 = 100;
    let mut retries = ExpiryRetries::default();
    loop {
        let swept = app.expire_due_holds(BATCH, &mut retries).await;
        metrics::counter!("slotstream_hold_sweeps_total").increment(1);
        match swept {
            Ok(sweep) if sweep.due as u64 == BATCH => continue,
            Ok(_) => {}
            Err(error) => tracing::warn!(%error, "hold expiry sweep failed"),
        }
        tokio::time::sleep(every).await;
    }
}

/// Recount the active holds of every instance for `/metrics` every few
/// seconds (between counts the gauge follows this instance's own changes):
/// a scrape itself never queries the database.
async fn recount_holds_periodically(app: App) {
    loop {
        if let Err(error) = app.recount_active_holds().await {
            tracing::warn!(%error, "active holds not counted");
        }
        tokio::time::sleep(Duration::from_secs(5)).await;
    }
}

async fn prune_periodically(app: App, args: ServeArgs) {
    let every = Duration::from_secs(args.prune_interval_secs.max(1));
    loop {
        tokio::time::sleep(every).await;
        let now = chrono::Utc::now();
        let cutoff = now - chrono::TimeDelta::hours(args.event_retention_hours as i64);
        // A retry comes within minutes: a day is plenty for idempotency records and ended holds.
        let records_before = now - chrono::TimeDelta::hours(24);
        match app.prune_history(cutoff, args.event_retention_count, records_before).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(pruned = n, "event log pruned"),
            Err(error) => tracing::warn!(%error, "prune failed"),
        }
        metrics::counter!("slotstream_prune_runs_total").increment(1);
    }
}
