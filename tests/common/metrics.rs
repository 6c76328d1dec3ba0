//! What a test reads of a server's insides from the outside: samples from
//! its Prometheus `/metrics` page, and the resident memory of a server
//! running as a child process.

/// The whole `/metrics` page.
pub async fn scrape(client: &reqwest::Client, base: &str) -> String {
    client.get(format!("{base}/metrics")).send().await.unwrap().text().await.unwrap()
}

/// The value of the unlabelled series `name` on a `/metrics` page, if present.
pub fn sample(text: &str, name: &str) -> Option<f64> {
    let prefix = format!("{name} ");
    text.lines().find_map(|l| l.strip_prefix(prefix.as_str())).map(|v| v.trim().parse::<f64>().expect("numeric sample"))
}

/// An unlabelled counter from `/metrics`; 0 before its first increment.
pub async fn counter(client: &reqwest::Client, base: &str, name: &str) -> u64 {
    sample(&scrape(client, base).await, name).map_or(0, |v| v as u64)
}

/// An unlabelled gauge from `/metrics`, which must be present.
pub async fn gauge(client: &reqwest::Client, base: &str, name: &str) -> f64 {
    sample(&scrape(client, base).await, name).unwrap_or_else(|| panic!("{name} present in /metrics"))
}

/// The metrics are the process's, shared by every server a test binary
/// starts: tests that read a gauge and tests that move it (open streams or
/// connections) in one binary take turns with this lock.
pub static GAUGES: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Waits (with room for a loaded machine) until the gauge `name` reads `value`.
pub async fn wait_for_gauge(client: &reqwest::Client, base: &str, name: &str, value: f64) {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(60);
    while gauge(client, base, name).await != value {
        assert!(tokio::time::Instant::now() < deadline, "{name} never reached {value}");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// `slotstream_stream_subscribers` from `/metrics`.
pub async fn subscriber_count(client: &reqwest::Client, base: &str) -> i64 {
    gauge(client, base, "slotstream_stream_subscribers").await as i64
}

/// Resident memory of a process, in KiB (Linux `/proc`).
pub fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS")
}
