//! `loadgen h2-hold`: many SSE streams multiplexed over few HTTP/2
//! connections (h2c with prior knowledge, as a proxy speaks to a backend).
//! Opens `--streams` streams spread over `--connections` connections, waits
//! for every response head, lets the server settle, and prints how many are
//! held and the server's memory per stream.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::{http, stats};

pub struct H2HoldOptions {
    pub server: SocketAddr,
    pub path: String,
    pub streams: usize,
    pub connections: usize,
    pub server_pid: Option<u32>,
    pub connect_timeout: Duration,
}

/// Window sizes large enough that heartbeats nobody reads never stall a connection.
const WINDOW: u32 = 1 << 30;

pub async fn run(options: H2HoldOptions) -> io::Result<bool> {
    let rss_before = options.server_pid.and_then(stats::rss_kib);
    let held = Arc::new(AtomicUsize::new(0));
    let per_connection = options.streams.div_ceil(options.connections.max(1));
    let started = Instant::now();
    let mut tasks = Vec::new();
    let mut left = options.streams;
    while left > 0 {
        let n = per_connection.min(left);
        left -= n;
        let (held, path, server, timeout) =
            (held.clone(), options.path.clone(), options.server, options.connect_timeout);
        tasks.push(tokio::spawn(async move { connection(server, &path, n, timeout, &held).await }));
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
    println!("h2_connect_secs={connect_secs:.1}");
    if let Some(pid) = options.server_pid
        && let (Some(before), Some(after)) = (rss_before, stats::rss_kib(pid))
    {
        println!("h2_server_rss_before_kib={before}");
        println!("h2_server_rss_after_kib={after}");
        println!("h2_rss_kib_per_stream={:.2}", after.saturating_sub(before) as f64 / held.max(1) as f64);
    }
    drop(bodies);
    Ok(held == options.streams)
}

/// One h2 connection with `n` streams open on it; returns them (and the
/// connection's handle) once every head has arrived.
async fn connection(
    server: SocketAddr,
    path: &str,
    n: usize,
    timeout: Duration,
    held: &AtomicUsize,
) -> io::Result<(h2::client::SendRequest<bytes::Bytes>, Vec<h2::RecvStream>)> {
    let tcp = http::connect(server, None, timeout).await?;
    let (mut client, connection) = h2::client::Builder::new()
        .initial_window_size(WINDOW)
        .initial_connection_window_size(WINDOW)
        .handshake::<_, bytes::Bytes>(tcp)
        .await
        .map_err(io::Error::other)?;
    tokio::spawn(async move {
        if let Err(error) = connection.await {
            eprintln!("loadgen: h2 connection ended: {error}");
        }
    });
    let mut pending = Vec::with_capacity(n);
    for _ in 0..n {
        client = client.ready().await.map_err(io::Error::other)?;
        let request = ::http::Request::get(format!("http://{server}{path}"))
            .header("accept", "text/event-stream")
            .body(())
            .map_err(io::Error::other)?;
        let (response, _) = client.send_request(request, true).map_err(io::Error::other)?;
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
