//! Command-line flags, each with an environment fallback (`--help` lists both).

use std::net::SocketAddr;

use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "slotstream",
    version,
    args_override_self = true,
    about = "Live slot availability: ETag/304 API and per-provider Server-Sent Events"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub serve: ServeArgs,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the API and the page (the default).
    Serve,
    /// Apply migrations and exit.
    Migrate,
    /// Apply migrations, add the demo providers, print their keys and exit.
    Seed,
    /// Apply a catalogue file (JSON, or a providers or services CSV) with the
    /// admin API's upserts, print what was created, changed and left, and exit.
    Import {
        /// The catalogue file (README "Loading your providers").
        file: std::path::PathBuf,
    },
}

#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "SLOTSTREAM_BIND", default_value = "127.0.0.1:8080", global = true)]
    pub bind: SocketAddr,

    /// Database URL: `sqlite://FILE?mode=rwc` or `postgres://user@host/db`.
    #[arg(long, env = "DATABASE_URL", default_value = "sqlite://slotstream.db?mode=rwc", global = true)]
    pub database_url: String,

    /// Do not seed demo data into an empty database.
    #[arg(long, env = "SLOTSTREAM_NO_SEED", global = true)]
    pub no_seed: bool,

    /// Maximum database connections.
    #[arg(long, env = "SLOTSTREAM_DB_MAX_CONNECTIONS", default_value_t = 16, global = true)]
    pub db_max_connections: u32,

    /// Keep slot events at least this many hours (older ones are pruned,
    /// never a provider's newest).
    #[arg(long, env = "SLOTSTREAM_EVENT_RETENTION_HOURS", default_value_t = 168, global = true)]
    pub event_retention_hours: u64,

    /// Keep at most this many events per provider.
    #[arg(long, env = "SLOTSTREAM_EVENT_RETENTION_COUNT", default_value_t = 10_000, global = true)]
    pub event_retention_count: i64,

    /// Seconds between event-log prunes.
    #[arg(long, env = "SLOTSTREAM_PRUNE_INTERVAL_SECS", default_value_t = 300, global = true)]
    pub prune_interval_secs: u64,

    /// Seconds between stream heartbeats.
    #[arg(long, env = "SLOTSTREAM_HEARTBEAT_SECS", default_value_t = 15, global = true)]
    pub heartbeat_secs: u64,

    /// Events a stream subscriber may fall behind before it is caught up from the log.
    #[arg(long, env = "SLOTSTREAM_SUBSCRIBER_BUFFER", default_value_t = 256, global = true)]
    pub subscriber_buffer: usize,

    /// Bytes of rendered availability documents kept in memory (least
    /// recently used beyond it are dropped).
    #[arg(long, env = "SLOTSTREAM_RENDER_CACHE_BYTES", default_value_t = 64 * 1024 * 1024, global = true)]
    pub render_cache_bytes: u64,

    /// Seconds between sweeps that bring the event bus level with the
    /// database, a safety net behind the publish that follows every commit.
    #[arg(long, env = "SLOTSTREAM_RECONCILE_INTERVAL_SECS", default_value_t = 5, global = true)]
    pub reconcile_interval_secs: u64,

    /// Largest request body, in bytes.
    #[arg(long, env = "SLOTSTREAM_BODY_LIMIT", default_value_t = 16 * 1024, global = true)]
    pub body_limit: usize,

    /// Largest request body on the admin API, in bytes: a batch of slot
    /// changes or a snapshot of a provider's slots from the marketplace's
    /// booking system is larger than anything a customer sends.
    #[arg(long, env = "SLOTSTREAM_ADMIN_BODY_LIMIT", default_value_t = 4 * 1024 * 1024, global = true)]
    pub admin_body_limit: usize,

    /// Read quota (providers, availability): requests in a burst.
    #[arg(long, env = "SLOTSTREAM_READ_BURST", default_value_t = 60, global = true)]
    pub read_burst: u32,

    /// Read quota: tokens refilled per second.
    #[arg(long, env = "SLOTSTREAM_READ_PER_SECOND", default_value_t = 20.0, global = true)]
    pub read_per_second: f64,

    /// Write quota (bookings, provider endpoints): requests in a burst.
    #[arg(long, env = "SLOTSTREAM_WRITE_BURST", default_value_t = 10, global = true)]
    pub write_burst: u32,

    /// Write quota: tokens refilled per second.
    #[arg(long, env = "SLOTSTREAM_WRITE_PER_SECOND", default_value_t = 1.0, global = true)]
    pub write_per_second: f64,

    /// Hold quota (creating, renewing and releasing slot holds): requests in a burst.
    #[arg(long, env = "SLOTSTREAM_HOLD_BURST", default_value_t = 10, global = true)]
    pub hold_burst: u32,

    /// Hold quota: tokens refilled per second.
    #[arg(long, env = "SLOTSTREAM_HOLD_PER_SECOND", default_value_t = 0.5, global = true)]
    pub hold_per_second: f64,

    /// Seconds a new hold lasts, and what each renewal extends it to.
    #[arg(long, env = "SLOTSTREAM_HOLD_TTL_SECS", default_value_t = 300, global = true,
          value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub hold_ttl_secs: u64,

    /// Hours a provider's signed-in session (the agenda page's cookie) lasts (1 to 720).
    #[arg(long, env = "SLOTSTREAM_PROVIDER_SESSION_HOURS", default_value_t = 12,
          value_parser = clap::value_parser!(u32).range(1..=720), global = true)]
    pub provider_session_hours: u32,

    /// The public origin of this server (e.g. `https://slots.example`), which
    /// sign-in links start with. Default: the origin the minting request named.
    #[arg(long, env = "SLOTSTREAM_PUBLIC_URL", value_parser = parse_public_url, global = true)]
    pub public_url: Option<String>,

    /// Seconds from its creation past which no renewal extends a hold.
    #[arg(long, env = "SLOTSTREAM_HOLD_MAX_SECS", default_value_t = 900, global = true,
          value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub hold_max_secs: u64,

    /// Active holds one client (the rate limiter's client identity) may have at once.
    #[arg(long, env = "SLOTSTREAM_MAX_HOLDS_PER_CLIENT", default_value_t = 2, global = true)]
    pub max_holds_per_client: u64,

    /// Seconds a waitlist offer holds its time for the first customer in line
    /// before it passes to the next.
    #[arg(long, env = "SLOTSTREAM_WAITLIST_OFFER_SECS", default_value_t = 600, global = true,
          value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub waitlist_offer_secs: u64,

    /// Active waitlist entries one client (the rate limiter's client identity) may have at once.
    #[arg(long, env = "SLOTSTREAM_MAX_WAITLIST_PER_CLIENT", default_value_t = 5, global = true)]
    pub max_waitlist_per_client: u64,

    /// Milliseconds between sweeps that release expired holds.
    #[arg(long, env = "SLOTSTREAM_HOLD_SWEEP_MILLIS", default_value_t = 250, global = true)]
    pub hold_sweep_millis: u64,

    /// Stream quota (new stream connections): connections in a burst.
    #[arg(long, env = "SLOTSTREAM_STREAM_BURST", default_value_t = 20, global = true)]
    pub stream_burst: u32,

    /// Stream quota: tokens refilled per second.
    #[arg(long, env = "SLOTSTREAM_STREAM_PER_SECOND", default_value_t = 0.5, global = true)]
    pub stream_per_second: f64,

    /// Concurrent streams one client may hold.
    #[arg(long, env = "SLOTSTREAM_MAX_STREAMS_PER_CLIENT", default_value_t = 20, global = true)]
    pub max_streams_per_client: usize,

    /// Concurrent streams the server holds in total (mind `ulimit -n`).
    #[arg(long, env = "SLOTSTREAM_MAX_STREAMS", default_value_t = 15_000, global = true)]
    pub max_streams: usize,

    /// Reverse proxies whose `X-Forwarded-For` / `Forwarded` are believed
    /// (comma-separated IP addresses). None by default.
    #[arg(long, env = "SLOTSTREAM_TRUSTED_PROXIES", value_delimiter = ',', global = true)]
    pub trusted_proxies: Vec<std::net::IpAddr>,

    /// Origins allowed to call the API and open streams from other sites
    /// (comma-separated, e.g. `https://shop.example`). Default: same origin only.
    #[arg(long, env = "SLOTSTREAM_CORS_ORIGINS", value_delimiter = ',', global = true)]
    pub cors_origins: Vec<String>,

    /// Connections open at once, in total; beyond it a new connection is
    /// closed at once. Default: the descriptor limit (`ulimit -n`, raised to
    /// its hard limit at start) less 256 for the database, files and webhooks.
    #[arg(long, env = "SLOTSTREAM_MAX_CONNECTIONS", global = true)]
    pub max_connections: Option<usize>,

    /// Connections one client (the rate limiter's client identity: its
    /// address, an IPv6 client by its prefix) may hold open at once. A
    /// trusted proxy's connections count in the total only.
    #[arg(long, env = "SLOTSTREAM_MAX_CONNECTIONS_PER_CLIENT", default_value_t = 64, global = true)]
    pub max_connections_per_client: usize,

    /// Seconds a new connection may take, from accept, to send its first
    /// request head (HTTP/1.1) or its HTTP/2 preface and SETTINGS, and an
    /// HTTP/1.1 connection each later request head; it is closed otherwise.
    #[arg(long, env = "SLOTSTREAM_HEADER_TIMEOUT_SECS", default_value_t = 10, global = true,
        value_parser = clap::value_parser!(u64).range(1..=3_600))]
    pub header_timeout_secs: u64,

    /// Seconds an HTTP/2 connection may stay open with no request or
    /// stream in flight; then it is closed (GOAWAY).
    #[arg(long, env = "SLOTSTREAM_H2_IDLE_TIMEOUT_SECS", default_value_t = 60, global = true,
        value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub h2_idle_timeout_secs: u64,

    /// Seconds between HTTP/2 keep-alive PINGs; a peer that does not answer
    /// one within 20 s is dropped (0: no PINGs).
    #[arg(long, env = "SLOTSTREAM_H2_KEEPALIVE_SECS", default_value_t = 30, global = true)]
    pub h2_keepalive_secs: u64,

    /// Seconds a client may take over the TLS handshake (with `--tls-cert`).
    #[arg(long, env = "SLOTSTREAM_TLS_HANDSHAKE_TIMEOUT_SECS", default_value_t = 10, global = true,
        value_parser = clap::value_parser!(u64).range(1..=3_600))]
    pub tls_handshake_timeout_secs: u64,

    /// Seconds an ordinary (non-stream) request may take.
    #[arg(long, env = "SLOTSTREAM_REQUEST_TIMEOUT_SECS", default_value_t = 10, global = true)]
    pub request_timeout_secs: u64,

    /// Consume slot changes from the marketplace's booking system through NATS
    /// JetStream at this URL (`nats://127.0.0.1:4222`): subject
    /// `slotstream.slot-changes.<externalProviderId>`, the admin API's JSON.
    #[arg(long, env = "SLOTSTREAM_INGEST_NATS_URL", global = true)]
    pub ingest_nats_url: Option<String>,

    /// The first token of the ingest subjects: `<prefix>.slot-changes.<id>`
    /// and `<prefix>.dead-letter.<id>` (several deployments on one NATS each
    /// take their own).
    #[arg(long, env = "SLOTSTREAM_INGEST_NATS_PREFIX", default_value = "slotstream", global = true)]
    pub ingest_nats_prefix: String,

    /// The JetStream stream of `slotstream.slot-changes.>` (created if missing).
    #[arg(long, env = "SLOTSTREAM_INGEST_NATS_STREAM", default_value = "SLOTSTREAM_SLOT_CHANGES", global = true)]
    pub ingest_nats_stream: String,

    /// The stream of `slotstream.dead-letter.>`, where messages that cannot be
    /// applied go (created if missing).
    #[arg(
        long,
        env = "SLOTSTREAM_INGEST_NATS_DEAD_LETTER_STREAM",
        default_value = "SLOTSTREAM_DEAD_LETTERS",
        global = true
    )]
    pub ingest_nats_dead_letter_stream: String,

    /// The durable consumer's name, the same on every instance.
    #[arg(long, env = "SLOTSTREAM_INGEST_NATS_CONSUMER", default_value = "slotstream", global = true)]
    pub ingest_nats_consumer: String,

    /// Allow webhooks to private, loopback, link-local and similar addresses
    /// (refused by default: a receiver URL must not reach inside the network).
    #[arg(long, env = "SLOTSTREAM_WEBHOOK_ALLOW_PRIVATE", global = true)]
    pub webhook_allow_private: bool,

    /// Milliseconds one webhook attempt may take, connecting included.
    #[arg(long, env = "SLOTSTREAM_WEBHOOK_TIMEOUT_MILLIS", default_value_t = 10_000, global = true)]
    pub webhook_timeout_millis: u64,

    /// Webhook deliveries in flight at once (each to a different subscription).
    #[arg(long, env = "SLOTSTREAM_WEBHOOK_CONCURRENCY", default_value_t = 32, global = true)]
    pub webhook_concurrency: usize,

    /// Milliseconds between looks at the webhook subscriptions (a commit on
    /// this instance wakes the sender at once; this covers the others).
    #[arg(long, env = "SLOTSTREAM_WEBHOOK_POLL_MILLIS", default_value_t = 500, global = true)]
    pub webhook_poll_millis: u64,

    /// Milliseconds before the first webhook retry; each further retry waits
    /// twice as long (with jitter), up to `--webhook-retry-max-secs`.
    #[arg(long, env = "SLOTSTREAM_WEBHOOK_RETRY_BASE_MILLIS", default_value_t = 5_000, global = true)]
    pub webhook_retry_base_millis: u64,

    /// Longest wait between webhook retries, in seconds.
    #[arg(long, env = "SLOTSTREAM_WEBHOOK_RETRY_MAX_SECS", default_value_t = 3_600, global = true)]
    pub webhook_retry_max_secs: u64,

    /// Seconds of failed attempts after which a subscription is marked
    /// `failing` (delivery stops until it is re-enabled). Default: a day.
    #[arg(long, env = "SLOTSTREAM_WEBHOOK_GIVE_UP_SECS", default_value_t = 86_400, global = true)]
    pub webhook_give_up_secs: u64,

    /// IPv6 clients are told apart by this many leading bits (1 to 128):
    /// one host commonly owns a whole /64.
    #[arg(long, env = "SLOTSTREAM_IPV6_PREFIX_LEN", default_value_t = 64, global = true,
        value_parser = clap::value_parser!(u8).range(1..=128))]
    pub ipv6_prefix_len: u8,

    /// Book and cancel a demo slot every few seconds, so the page shows live
    /// changes without a second window. Off by default.
    #[arg(long, env = "SLOTSTREAM_DEMO_TRAFFIC", global = true)]
    pub demo_traffic: bool,

    /// Milliseconds between demo-traffic changes (with `--demo-traffic`).
    #[arg(long, env = "SLOTSTREAM_DEMO_TRAFFIC_MILLIS", default_value_t = 4000, global = true)]
    pub demo_traffic_millis: u64,

    /// Serve the page's files (`index.html`, `slotstream.js`, …) at `/` from
    /// this folder instead of the copy built into the binary: for working on
    /// the page without rebuilding (`--static-dir static`).
    #[arg(long, env = "SLOTSTREAM_STATIC_DIR", global = true)]
    pub static_dir: Option<std::path::PathBuf>,

    /// File holding the operator token of the admin API (`/api/v1/admin/…`,
    /// `Authorization: Bearer <token>`; at least 32 characters). Without it
    /// the admin routes do not exist (404).
    #[arg(long, env = "SLOTSTREAM_ADMIN_TOKEN_FILE", global = true)]
    pub admin_token_file: Option<std::path::PathBuf>,

    /// Days of slots kept generated from each provider's weekly schedule,
    /// today (in its timezone) included.
    #[arg(long, env = "SLOTSTREAM_SLOT_HORIZON_DAYS", default_value_t = 60, global = true,
        value_parser = clap::value_parser!(u32).range(1..=366))]
    pub slot_horizon_days: u32,

    /// Days ahead of today (UTC) that a booking, hold, reschedule, slot,
    /// availability read, schedule exception or import may name; anything
    /// outside yesterday..today + this is refused with 422.
    #[arg(long, env = "SLOTSTREAM_MAX_DAYS_AHEAD", default_value_t = crate::app::DEFAULT_MAX_DAYS_AHEAD, global = true,
        value_parser = clap::value_parser!(u32).range(1..=3660))]
    pub max_days_ahead: u32,

    /// Seconds between runs of the job that extends the slot window.
    #[arg(long, env = "SLOTSTREAM_PLAN_INTERVAL_SECS", default_value_t = 60, global = true)]
    pub plan_interval_secs: u64,

    /// Serve `/metrics` on this address only (a private interface, for the
    /// Prometheus scraper); `/metrics` on `--bind` then answers 404. Default:
    /// `/metrics` on `--bind`, under the read quota.
    #[arg(long, env = "SLOTSTREAM_METRICS_BIND", global = true)]
    pub metrics_bind: Option<SocketAddr>,

    /// Seconds added to this instance's own clock: for tests of instances
    /// whose clocks disagree (leases and hold expiry use the database's clock).
    #[arg(
        long,
        env = "SLOTSTREAM_CLOCK_SKEW_SECS",
        default_value_t = 0,
        hide = true,
        allow_negative_numbers = true,
        global = true
    )]
    pub clock_skew_secs: i64,

    /// PEM certificate chain: serve TLS (ALPN `h2` and `http/1.1`) instead of
    /// cleartext. Needs `--tls-key`. Cleartext serves HTTP/1.1 and h2c (prior knowledge).
    #[arg(long, env = "SLOTSTREAM_TLS_CERT", requires = "tls_key", global = true)]
    pub tls_cert: Option<std::path::PathBuf>,

    /// PEM private key for `--tls-cert`.
    #[arg(long, env = "SLOTSTREAM_TLS_KEY", requires = "tls_cert", global = true)]
    pub tls_key: Option<std::path::PathBuf>,
}

/// `--public-url`: an origin, `http(s)://host[:port]` (a trailing `/` is
/// dropped), nothing else: links are built on it, and it is compared with
/// `Origin` headers, which never carry a path.
fn parse_public_url(text: &str) -> Result<String, String> {
    let trimmed = text.trim_end_matches('/');
    let uri: axum::http::Uri = trimmed.parse().map_err(|e| format!("not a URL: {e}"))?;
    let scheme_ok = matches!(uri.scheme_str(), Some("http" | "https"));
    let bare = uri.path_and_query().is_none_or(|p| p.as_str().is_empty() || p.as_str() == "/");
    match uri.authority() {
        Some(authority) if scheme_ok && bare && !authority.as_str().contains('@') => {
            Ok(format!("{}://{}", uri.scheme_str().unwrap_or("https"), authority.as_str().to_ascii_lowercase()))
        }
        _ => {
            Err(format!("{text:?} must be an origin like https://slots.example (scheme, host, optional port; no path)"))
        }
    }
}

#[cfg(test)]
mod public_url_tests {
    use super::parse_public_url;

    #[test]
    fn a_public_url_is_an_origin_and_nothing_else() {
        assert_eq!(parse_public_url("https://Slots.Example/").as_deref(), Ok("https://slots.example"));
        assert_eq!(parse_public_url("http://127.0.0.1:8080").as_deref(), Ok("http://127.0.0.1:8080"));
        for bad in [
            "slots.example",
            "javascript:alert(1)//",
            " https://slots.example",
            "https://slots.example/desk",
            "ftp://x.example",
            "https://u@x.example",
            "https://x.example/?a=1",
        ] {
            assert!(parse_public_url(bad).is_err(), "{bad}");
        }
    }
}
