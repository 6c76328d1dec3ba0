//! Wiring: connect, migrate, start the background tasks (PostgreSQL
//! relay, event-log pruning), serve with graceful shutdown.

use std::net::SocketAddr;
use std::time::Duration;

use migration::{Migrator, MigratorTrait};
use sea_orm::{ConnectOptions, Database, DatabaseConnection, DbBackend, DbErr};
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::app::App;
use crate::config::ServeArgs;
use crate::events::{Bus, reconcile, relay, versions};
use crate::http::limits::Quota;
use crate::shutdown::{sleep_or_shutdown, stopped};
use crate::http::{AppState, HttpSettings, Protection, SharedState};

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
    Ok(App::new(db, bus, args.render_cache_bytes))
}

/// A running server: its address and the handle that stops it.
pub struct Running {
    pub addr: SocketAddr,
    pub app: App,
    shutdown: watch::Sender<bool>,
    served: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Running {
    /// Stop accepting, end streams, finish in-flight requests.
    pub async fn stop(self) -> std::io::Result<()> {
        let _ = self.shutdown.send(true);
        self.served.await.unwrap_or(Ok(()))
    }

    pub fn shutdown_sender(&self) -> watch::Sender<bool> {
        self.shutdown.clone()
    }

    /// Wait until the server has stopped.
    pub async fn finished(self) -> std::io::Result<()> {
        self.served.await.unwrap_or(Ok(()))
    }
}

/// Background tasks and the HTTP server over `app`, on `listener`.
pub fn start(app: App, listener: TcpListener, args: &ServeArgs) -> std::io::Result<Running> {
    let addr = listener.local_addr()?;
    let (shutdown, shutdown_rx) = watch::channel(false);
    let postgres = app.db.get_database_backend() == DbBackend::Postgres;
    if postgres {
        tokio::spawn(relay::run(app.db.clone(), app.bus.clone(), shutdown_rx.clone()));
    }
    let reconcile_every = Duration::from_secs(args.reconcile_interval_secs.max(1));
    tokio::spawn(reconcile::run(app.db.clone(), app.bus.clone(), reconcile_every, shutdown_rx.clone()));
    tokio::spawn(prune_periodically(app.clone(), args.clone(), shutdown_rx.clone()));
    let settings = http_settings(args);
    let protection = Protection::new(&settings, &app);
    tokio::spawn(forget_idle_clients(protection.clone(), shutdown_rx.clone()));
    tokio::spawn(drain_metrics(shutdown_rx.clone()));
    let state = AppState::new(SharedState {
        app: app.clone(),
        settings,
        protection,
        shutdown: shutdown_rx.clone(),
        expects_relay: postgres,
    });
    let router = crate::http::router(state);
    let served = tokio::spawn(serve(listener, router, shutdown_rx));
    Ok(Running { addr, app, shutdown, served })
}

/// Largest request head (request line and headers) the parser buffers. It is
/// also the size of each connection's read buffer, which an open stream keeps
/// for its whole life: hyper's default lets it grow to 16 KiB.
const REQUEST_HEAD_MAX: usize = 8 * 1024;

/// Accept connections and serve HTTP/1.1 on each, until `stop` turns true;
/// then stop accepting and wait for in-flight requests (streams end on the
/// same signal). Written against hyper directly rather than `axum::serve` to
/// set `TCP_NODELAY` (events are small writes that must leave at once) and
/// the read buffer size above.
async fn serve(listener: TcpListener, router: axum::Router, mut stop: watch::Receiver<bool>) -> std::io::Result<()> {
    use hyper_util::rt::{TokioIo, TokioTimer};
    use hyper_util::service::TowerToHyperService;
    use tower::ServiceExt;

    let mut http = hyper::server::conn::http1::Builder::new();
    http.max_buf_size(REQUEST_HEAD_MAX).timer(TokioTimer::new()).header_read_timeout(Duration::from_secs(10));
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of file descriptors, most likely: wait, do not spin.
                    tracing::warn!(%error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = stopped(&mut stop) => break,
        };
        let _ = stream.set_nodelay(true);
        let service = router.clone().map_request(move |mut request: axum::http::Request<hyper::body::Incoming>| {
            request.extensions_mut().insert(axum::extract::ConnectInfo(peer));
            request
        });
        let connection = http.serve_connection(TokioIo::new(stream), TowerToHyperService::new(service));
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            // A client going away mid-request is not an error worth logging.
            let _ = connection.await;
        });
    }
    drop(listener);
    if tokio::time::timeout(Duration::from_secs(10), graceful.shutdown()).await.is_err() {
        tracing::warn!("shutdown: some connections did not finish within 10 s");
    }
    Ok(())
}

fn http_settings(args: &ServeArgs) -> HttpSettings {
    HttpSettings {
        heartbeat: Duration::from_secs(args.heartbeat_secs.max(1)),
        body_limit: args.body_limit,
        request_timeout: Duration::from_secs(args.request_timeout_secs.max(1)),
        read_quota: Quota { name: "reads", burst: args.read_burst, per_second: args.read_per_second },
        write_quota: Quota { name: "writes", burst: args.write_burst, per_second: args.write_per_second },
        stream_quota: Quota { name: "streams", burst: args.stream_burst, per_second: args.stream_per_second },
        max_streams_per_client: args.max_streams_per_client,
        max_streams: args.max_streams,
        trusted_proxies: args.trusted_proxies.clone(),
        cors_origins: args.cors_origins.clone(),
        retry: Duration::from_secs(2),
        ipv6_prefix_len: args.ipv6_prefix_len,
    }
}

/// Fold recorded histogram samples into their buckets every few seconds.
/// The Prometheus exporter otherwise keeps every sample until `/metrics` is
/// scraped: with a delivery-lag sample per event per subscriber, an
/// unscraped server would grow without bound.
async fn drain_metrics(mut shutdown: watch::Receiver<bool>) {
    while !sleep_or_shutdown(Duration::from_secs(5), &mut shutdown).await {
        crate::http::metrics_handle().run_upkeep();
    }
}

async fn forget_idle_clients(protection: Protection, mut shutdown: watch::Receiver<bool>) {
    while !sleep_or_shutdown(Duration::from_secs(60), &mut shutdown).await {
        protection.forget_idle_clients();
    }
}

async fn prune_periodically(app: App, args: ServeArgs, mut shutdown: watch::Receiver<bool>) {
    let every = Duration::from_secs(args.prune_interval_secs.max(1));
    while !sleep_or_shutdown(every, &mut shutdown).await {
        let now = chrono::Utc::now();
        let cutoff = now - chrono::TimeDelta::hours(args.event_retention_hours as i64);
        // A retry comes within minutes; a day is plenty for idempotency records.
        let records_before = now - chrono::TimeDelta::hours(24);
        match app.prune_history(cutoff, args.event_retention_count, records_before).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(pruned = n, "event log pruned"),
            Err(error) => tracing::warn!(%error, "prune failed"),
        }
        metrics::counter!("slotstream_prune_runs_total").increment(1);
    }
}
