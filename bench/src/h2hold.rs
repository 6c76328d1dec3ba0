//! `loadgen h2-hold`: many SSE streams multiplexed over few HTTP/2
//! connections (h2c with prior knowledge, as a proxy speaks to a backend).
//! Opens `--streams` streams spread over `--connections` connections and
//! over the given providers, waits for every response head, lets the server
//! settle, and prints how many are held and the server's memory per stream;
//! with `--hold`, then keeps them open until SIGTERM/SIGINT (while another
//! `loadgen` times a fan-out beside them). Also the h2c handshake that
//! `fanout --h2-connections` uses.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use h2::client::SendRequest;

use crate::{http, stats};

pub struct H2HoldOptions {
    pub server: SocketAddr,
    /// Stream paths, given to the streams round-robin.
    pub paths: Vec<String>,
    pub streams: usize,
    pub connections: usize,
    pub server_pid: Option<u32>,
    pub connect_timeout: Duration,
    /// Keep the streams open after reporting, until SIGTERM/SIGINT.
    pub hold: bool,
}

/// Window sizes large enough that heartbeats nobody reads never stall a connection.
const WINDOW: u32 = 1 << 30;

/// An h2c connection (prior knowledge) to `server`, driven by its own task;
/// the handle opens streams on it.
pub async fn handshake(server: SocketAddr, timeout: Duration) -> io::Result<SendRequest<Bytes>> {
    let tcp = http::connect(server, None, timeout).await?;
    let (client, connection) = h2::client::Builder::new()
        .initial_window_size(WINDOW)
        .initial_connection_window_size(WINDOW)
        .handshake::<_, Bytes>(tcp)
        .await
        .map_err(io::Error::other)?;
    tokio::spawn(async move {
        if let Err(error) = connection.await {
            eprintln!("loadgen: h2 connection ended: {error}");
        }
    });
    Ok(client)
}

/// The GET that opens the SSE stream at `path`.
pub fn stream_request(server: SocketAddr, path: &str) -> io::Result<::http::Request<()>> {
    ::http::Request::get(format!("http://{server}{path}"))
        .header("accept", "text/event-stream")
        .body(())
        .map_err(io::Error::other)
}

pub async fn run(options: H2HoldOptions) -> io::Result<bool> {
    if options.paths.is_empty() {
        return Err(http::bad("h2-hold needs at least one --provider"));
    }
    let rss_before = options.server_pid.and_then(stats::rss_kib);
    let held = Arc::new(AtomicUsize::new(0));
    let per_connection = options.streams.div_ceil(options.connections.max(1));
    let paths = Arc::new(options.paths.clone());
    let started = Instant::now();
    let mut tasks = Vec::new();
    let mut first = 0;
    while first < options.streams {
        let n = per_connection.min(options.streams - first);
        let (held, paths, server, timeout) = (held.clone(), paths.clone(), options.server, options.connect_timeout);
        tasks.push(tokio::spawn(async move { connection(server, &paths, first, n, timeout, &held).await }));
        first += n;
    }
    // Each task returns its bodies once every head has come; keep them all.
    let mut bodies = Vec::new();
    let mut errors = 0usize;
    for task in tasks {
        match task.await {
            Ok(Ok(kept)) => bodies.push(kept),
            Ok(Err(error)) => {
                errors += 1;
                eprintln!("loadgen: h2 connection failed: {error}");
            }
            Err(error) => eprintln!("loadgen: h2 task panicked: {error}"),
        }
    }
    let connect_secs = started.elapsed().as_secs_f64();
    // Let the server finish what the last heads started before reading its memory.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let held = held.load(Ordering::Relaxed);
    println!("h2_streams_requested={}", options.streams);
    println!("h2_streams_held={held}");
    println!("h2_connections={}", options.connections);
    println!("h2_connections_failed={errors}");
    println!("h2_providers={}", options.paths.len());
    println!("h2_connect_secs={connect_secs:.1}");
    if let Some(pid) = options.server_pid
        && let (Some(before), Some(after)) = (rss_before, stats::rss_kib(pid))
    {
        println!("h2_server_rss_before_kib={before}");
        println!("h2_server_rss_after_kib={after}");
        println!("h2_rss_kib_per_stream={:.2}", after.saturating_sub(before) as f64 / held.max(1) as f64);
    }
    if options.hold {
        println!("holding=1");
        use std::io::Write;
        let _ = std::io::stdout().flush();
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        tokio::select! {
            _ = term.recv() => {}
            _ = tokio::signal::ctrl_c() => {}
        }
    }
    drop(bodies);
    Ok(held == options.streams)
}

/// One h2 connection with `n` streams open on it (streams `first..first + n`
/// of the whole run, each on `paths[k % len]`); returns them (and the
/// connection's handle) once every head has arrived.
async fn connection(
    server: SocketAddr,
    paths: &[String],
    first: usize,
    n: usize,
    timeout: Duration,
    held: &AtomicUsize,
) -> io::Result<(SendRequest<Bytes>, Vec<h2::RecvStream>)> {
    let mut client = handshake(server, timeout).await?;
    let mut pending = Vec::with_capacity(n);
    for k in first..first + n {
        client = client.ready().await.map_err(io::Error::other)?;
        let (response, _) =
            client.send_request(stream_request(server, &paths[k % paths.len()])?, true).map_err(io::Error::other)?;
        pending.push(response);
    }
    let mut bodies = Vec::with_capacity(n);
    for response in pending {
        let response = response.await.map_err(io::Error::other)?;
        if response.status() == 200 {
            held.fetch_add(1, Ordering::Relaxed);
            bodies.push(response.into_body());
        } else {
            eprintln!("loadgen: h2 stream answered {}", response.status());
        }
    }
    Ok((client, bodies))
}
