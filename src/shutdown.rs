//! Waiting on the shutdown signal: a `watch` channel that turns true when the
//! server begins to stop. Background loops sleep through it, so they end at
//! once instead of at their next tick.

use std::time::Duration;

use tokio::sync::watch;

/// Sleep for `delay`; `true` if shutdown began meanwhile (or its sender is gone).
pub async fn sleep_or_shutdown(delay: Duration, shutdown: &mut watch::Receiver<bool>) -> bool {
    tokio::select! {
        _ = tokio::time::sleep(delay) => false,
        _ = shutdown.changed() => true,
    }
}

/// Resolves once `stop` turns true (or its sender is gone).
pub async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|stopping| *stopping).await;
}
