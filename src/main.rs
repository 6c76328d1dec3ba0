//! The `slotstream` binary: parse flags, then serve, migrate, seed or import.

use std::process::ExitCode;

use clap::Parser;
use slotstream::config::{Cli, Command, ServeArgs};
use slotstream::server;
use tracing_subscriber::EnvFilter;

/// jemalloc rather than glibc malloc: with thousands of streams held,
/// glibc's arenas made `_int_malloc` a fifth of the CPU of every other request
/// (BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// jemalloc's options, read at its start: freed pages go back to the system
/// about a second after they are freed (by jemalloc's own thread, so an idle
/// server returns them too) rather than ten, so a render cache evicting
/// documents does not leave their pages resident (issue 21 item 18).
/// `_RJEM_MALLOC_CONF` in the environment still overrides these.
#[unsafe(export_name = "_rjem_malloc_conf")]
static MALLOC_CONF: MallocConf = MallocConf(c"background_thread:true,dirty_decay_ms:1000,muzzy_decay_ms:0".as_ptr());

/// jemalloc's `const char *malloc_conf`, as C declares it.
#[repr(transparent)]
struct MallocConf(*const std::ffi::c_char);

// SAFETY: it points at a static string nobody writes.
unsafe impl Sync for MallocConf {}

/// SQLite allocates with the C library's malloc, not jemalloc, on each
/// pooled connection's own thread: glibc gave each thread an arena that kept
/// the memory of the large reads it served (~8 MiB over 16 connections, issue
/// 21 item 18). Two arenas for the whole process, before any such thread runs.
fn limit_c_malloc_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets an allocator parameter.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 2);
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    limit_c_malloc_arenas();
    tracing_subscriber::fmt()
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr)
        .with_env_filter(
            EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,sea_orm=warn,memory_serve=warn")),
        )
        .init();
    let cli = Cli::parse();
    let result = match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve(cli.serve).await,
        Command::Migrate => migrate(cli.serve).await,
        Command::Seed => seed(cli.serve).await,
        Command::Import { file } => import(cli.serve, file).await,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("slotstream: {message}");
            ExitCode::FAILURE
        }
    }
}

async fn connect(args: &ServeArgs) -> Result<sea_orm::DatabaseConnection, String> {
    server::connect(&args.database_url, args.db_max_connections)
        .await
        .map_err(|e| format!("cannot open database {}: {e}", redact(&args.database_url)))
}

async fn migrate(args: ServeArgs) -> Result<(), String> {
    connect(&args).await?;
    println!("slotstream: migrations applied to {}", redact(&args.database_url));
    Ok(())
}

async fn seed(args: ServeArgs) -> Result<(), String> {
    let db = connect(&args).await?;
    let seeded = slotstream::cli::seed::seed(&db).await.map_err(|e| format!("seed failed: {e}"))?;
    print_keys(&seeded);
    Ok(())
}

/// Apply a catalogue file to the database (a running server's too: on
/// PostgreSQL its instances hear of the changes through the relay; on SQLite
/// see README "Loading your providers").
async fn import(args: ServeArgs, file: std::path::PathBuf) -> Result<(), String> {
    let text = std::fs::read_to_string(&file).map_err(|e| format!("cannot read {}: {e}", file.display()))?;
    let catalogue = slotstream::app::Catalogue::parse(&text).map_err(|e| e.to_string())?;
    let db = connect(&args).await?;
    let app = server::build_app(db, &args).await.map_err(|e| format!("cannot read providers: {e}"))?;
    let started = std::time::Instant::now();
    let report = match app.import_catalogue(catalogue, chrono::Utc::now()).await {
        Ok(report) => report,
        Err(failure) => {
            // Stopped while applying: the counts of what was applied, as a
            // report; the message says which entries.
            if failure.stopped_at.is_some()
                && let Ok(applied) = serde_json::to_string(&failure.report)
            {
                println!("{applied}");
            }
            return Err(format!("import failed: {failure}"));
        }
    };
    let report = serde_json::to_string(&report).map_err(|e| e.to_string())?;
    println!("{report}");
    eprintln!("slotstream: imported {} in {:.2} s", file.display(), started.elapsed().as_secs_f64());
    Ok(())
}

async fn serve(args: ServeArgs) -> Result<(), String> {
    let db = connect(&args).await?;
    let seeded = if args.no_seed {
        None
    } else {
        slotstream::cli::seed::seed_if_empty(&db).await.map_err(|e| format!("seed failed: {e}"))?
    };
    let listener = server::listen(args.bind).map_err(|e| e.to_string())?;
    let app = server::build_app(db, &args).await.map_err(|e| format!("cannot read providers: {e}"))?;
    if seeded.is_some() {
        // A freshly seeded demo: give its weeks some bookings, as a real calendar has.
        match slotstream::cli::demo::book_demo_weeks(&app).await {
            Ok(booked) => tracing::info!(booked, "demo weeks partly booked"),
            Err(error) => tracing::warn!(%error, "could not book the demo weeks"),
        }
    }
    let signal = shutdown_signal()?;
    let running = server::start(app, listener, &args).map_err(|e| e.to_string())?;
    let scheme = if args.tls_cert.is_some() { "https" } else { "http" };
    println!(
        "slotstream listening on {scheme}://{addr} (database {db}); open {scheme}://{addr}/",
        addr = running.addr,
        db = redact(&args.database_url)
    );
    if let Some(metrics) = running.metrics_addr {
        println!("slotstream metrics on http://{metrics}/metrics");
    }
    if let Some(seeded) = &seeded {
        print_keys(seeded);
    }
    let stop = running.stop_token();
    tokio::spawn(async move {
        signal.await;
        tracing::info!("shutting down: ending streams, finishing requests");
        stop.cancel();
    });
    running.finished().await.map_err(|e| format!("server error: {e}"))
}

fn print_keys(seeded: &[slotstream::cli::seed::SeededProvider]) {
    for provider in seeded {
        println!("demo provider {:?} id={} key={}", provider.name, provider.id, provider.key);
    }
}

/// The URL without its password.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &url[scheme + 3..at];
            let user = userinfo.split(':').next().unwrap_or("");
            format!("{}{user}:***{}", &url[..scheme + 3], &url[at..])
        }
        _ => url.to_owned(),
    }
}

/// SIGTERM or SIGINT. Registered before the server announces itself, so a
/// signal sent right after start-up is never lost to the default action.
#[cfg(unix)]
fn shutdown_signal() -> Result<impl std::future::Future<Output = ()>, String> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut terminate = signal(SignalKind::terminate()).map_err(|e| format!("cannot handle SIGTERM: {e}"))?;
    let mut interrupt = signal(SignalKind::interrupt()).map_err(|e| format!("cannot handle SIGINT: {e}"))?;
    Ok(async move {
        tokio::select! {
            _ = terminate.recv() => {}
            _ = interrupt.recv() => {}
        }
    })
}

#[cfg(not(unix))]
fn shutdown_signal() -> Result<impl std::future::Future<Output = ()>, String> {
    Ok(async {
        let _ = tokio::signal::ctrl_c().await;
    })
}
