//! `loadgen hangups`: clients that hang up mid-request (issue 21 item 5).
//! Each request is a batch GET of `--ids` provider ids nobody has, sent on
//! a fresh connection that is reset (`SO_LINGER` 0) right after the request
//! is written, so the server is cut off while it reads the ids. Reports the
//! server's RSS before, along the way and after (`hangups_rss_*_kib`), and
//! the providers its directory holds afterwards (`slotstream_directory_entries`),
//! which must not grow: nothing of a cancelled read may stay behind.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use tokio::io::AsyncWriteExt;

use crate::http::{self, Client};
use crate::stats;

#[derive(Clone, Copy)]
pub struct HangupOptions {
    pub server: SocketAddr,
    /// Requests in all.
    pub requests: usize,
    /// Connections in flight at once.
    pub concurrency: usize,
    /// Provider ids per request (the batch takes 1 to 50).
    pub ids: usize,
    pub sources: usize,
    /// The server's pid, for its RSS.
    pub server_pid: u32,
    /// RSS is sampled every this many requests.
    pub sample_every: usize,
}

pub async fn run(options: HangupOptions) -> io::Result<bool> {
    let mut client = Client::new(options.server, None);
    let entries_before = directory_entries(&mut client).await?;
    let rss_before = rss(options.server_pid)?;
    println!("hangups_rss_before_kib={rss_before}");

    let next = Arc::new(AtomicUsize::new(0));
    // Distinct ids from run to run: the high half is this run's start time.
    let run_id = stats::now_micros() as u64;
    let started = Instant::now();
    let workers: Vec<_> = (0..options.concurrency.max(1))
        .map(|worker| {
            let next = next.clone();
            tokio::spawn(async move {
                let source = http::source_addr(worker, options.sources);
                let mut failed = 0usize;
                loop {
                    let n = next.fetch_add(1, Ordering::Relaxed);
                    if n >= options.requests {
                        return failed;
                    }
                    if n > 0
                        && n.is_multiple_of(options.sample_every)
                        && let Ok(kib) = rss(options.server_pid)
                    {
                        println!("hangups_rss_at_{n}_kib={kib}");
                    }
                    let ids: Vec<String> = (0..options.ids)
                        .map(|i| format!("{:08x}-0000-4000-8000-{:012x}", run_id as u32, (n * options.ids + i) as u64))
                        .collect();
                    let request = format!(
                        "GET /api/v1/availability?providerIds={} HTTP/1.1\r\nhost: {}\r\n\r\n",
                        ids.join(","),
                        options.server
                    );
                    if hang_up(options.server, source, request.as_bytes()).await.is_err() {
                        failed += 1;
                    }
                }
            })
        })
        .collect();
    let mut failed = 0;
    for worker in workers {
        failed += worker.await.map_err(io::Error::other)?;
    }
    let secs = started.elapsed().as_secs_f64();
    // The server finishes (or drops) what it was doing for the last ones.
    let settled = wait_for_quiet(&mut client).await?;
    let rss_after = rss(options.server_pid)?;
    let entries_after = directory_entries(&mut client).await?;
    println!("hangups_requests={}", options.requests);
    println!("hangups_failed_connects={failed}");
    println!("hangups_secs={secs:.1}");
    println!("hangups_settled={settled}");
    println!("hangups_rss_after_kib={rss_after}");
    println!("hangups_rss_growth_kib={}", rss_after as i64 - rss_before as i64);
    println!("hangups_directory_entries_before={entries_before}");
    println!("hangups_directory_entries_after={entries_after}");
    Ok(entries_after <= entries_before)
}

/// Connect, write the request, reset the connection.
async fn hang_up(server: SocketAddr, source: std::net::IpAddr, request: &[u8]) -> io::Result<()> {
    let mut socket = http::connect(server, Some(source), Duration::from_secs(10)).await?;
    socket.write_all(request).await?;
    socket.set_zero_linger()?;
    drop(socket);
    Ok(())
}

fn rss(pid: u32) -> io::Result<u64> {
    stats::rss_kib(pid).ok_or_else(|| http::bad("the server's RSS is unreadable (--server-pid)"))
}

/// A sample from the server's `/metrics`.
async fn metric(client: &mut Client, name: &str) -> io::Result<f64> {
    let page = client.get("/metrics", &[]).await?.text();
    let prefix = format!("{name} ");
    Ok(page.lines().find_map(|l| l.strip_prefix(prefix.as_str())).and_then(|v| v.trim().parse().ok()).unwrap_or(0.0))
}

async fn directory_entries(client: &mut Client) -> io::Result<f64> {
    metric(client, "slotstream_directory_entries").await
}

/// Waits (up to 30 s) until only this client's connection is open on the
/// server; false if it never was.
async fn wait_for_quiet(client: &mut Client) -> io::Result<bool> {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if metric(client, "slotstream_open_connections").await? <= 1.0 {
            return Ok(true);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(false)
}
