//! `baseline`: the floor every slotstream figure is held against in the same
//! `bench/run.sh` run. Bare axum (`axum::serve`, no middleware, no database,
//! no state but a broadcast channel): a hello route, and just enough of the
//! API's shape for `loadgen fanout` to drive it unchanged: an availability
//! document (its `version` and a few free slots), block/unblock, which
//! broadcast a `slot-changed` frame of the same size as slotstream's, and the
//! stream route, which writes each frame to every subscriber.
//!
//! `baseline --bind 127.0.0.1:18182` prints `baseline listening on ADDR`;
//! the provider to give `loadgen --provider` is `PROVIDER:baseline`.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::serve::ListenerExt;
use bytes::Bytes;
use clap::Parser;
use tokio::sync::broadcast;

/// The one provider the baseline knows.
const PROVIDER: &str = "00000000-0000-4000-8000-00000000b45e";
/// Free slots in its document (loadgen cycles over a few).
const SLOTS: usize = 16;

#[derive(Parser)]
#[command(name = "baseline", about = "Bare axum hello + SSE broadcaster: the benchmark's floor")]
struct Cli {
    #[arg(long, default_value = "127.0.0.1:18182")]
    bind: SocketAddr,
    /// Frames a subscriber may fall behind before it skips (slotstream's default buffer).
    #[arg(long, default_value_t = 256)]
    buffer: usize,
}

struct Baseline {
    version: AtomicI64,
    frames: broadcast::Sender<Bytes>,
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let cli = Cli::parse();
    let (frames, _) = broadcast::channel(cli.buffer);
    let state = Arc::new(Baseline { version: AtomicI64::new(0), frames });
    let app = Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/api/v1/providers/{provider}/availability", get(availability))
        .route("/api/v1/providers/{provider}/availability/stream", get(stream))
        .route("/api/v1/providers/{provider}/slots/{slot}/{action}", post(change))
        .with_state(state);
    let listener = tokio::net::TcpListener::bind(cli.bind).await?;
    println!("baseline listening on {} provider {PROVIDER}", listener.local_addr()?);
    // Events are small writes that must leave at once, as in slotstream.
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    axum::serve(listener, app).await
}

fn slot_id(n: usize) -> String {
    format!("00000000-0000-4000-8000-{n:012}")
}

/// The document's shape as loadgen reads it: `version`, and days of slots.
async fn availability(State(state): State<Arc<Baseline>>) -> Response {
    let tomorrow = chrono::Utc::now().date_naive() + chrono::Days::new(1);
    let slots: Vec<serde_json::Value> = (0..SLOTS)
        .map(|n| {
            let starts = tomorrow.and_hms_opt(8, 0, 0).unwrap() + chrono::TimeDelta::minutes(30 * n as i64);
            serde_json::json!({
                "availabilityId": slot_id(n),
                "startsAt": format!("{}Z", starts.format("%Y-%m-%dT%H:%M:%S")),
                "endsAt": format!("{}Z", (starts + chrono::TimeDelta::minutes(30)).format("%Y-%m-%dT%H:%M:%S")),
                "status": "available",
            })
        })
        .collect();
    let document = serde_json::json!({
        "providerId": PROVIDER,
        "version": state.version.load(Ordering::Acquire),
        "days": [{ "date": tomorrow.to_string(), "slots": slots }],
    });
    ([(header::CONTENT_TYPE, "application/json")], document.to_string()).into_response()
}

/// Block or unblock: the next version, one frame, broadcast to every stream.
async fn change(
    State(state): State<Arc<Baseline>>,
    Path((_, slot, action)): Path<(String, String, String)>,
) -> Response {
    let (previous, new) = if action == "block" { ("available", "blocked") } else { ("blocked", "available") };
    let version = state.version.fetch_add(1, Ordering::AcqRel) + 1;
    let data = serde_json::json!({
        "availabilityId": slot,
        "providerId": PROVIDER,
        "date": "2026-12-01",
        "startTime": "10:00",
        "endTime": "10:30",
        "previousStatus": previous,
        "newStatus": new,
        "changedAt": chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string(),
    });
    let _ = state.frames.send(Bytes::from(format!("id: {version}\nevent: slot-changed\ndata: {data}\n\n")));
    "{}".into_response()
}

async fn stream(State(state): State<Arc<Baseline>>) -> Response {
    let frames = state.frames.subscribe();
    let first = futures_util::stream::once(async { Ok::<_, Infallible>(Bytes::from_static(b"retry: 2000\n\n")) });
    let rest = futures_util::stream::unfold(frames, |mut frames| async move {
        loop {
            match frames.recv().await {
                Ok(frame) => return Some((Ok::<_, Infallible>(frame), frames)),
                Err(broadcast::error::RecvError::Lagged(_)) => continue,
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    });
    let mut response = Response::new(Body::from_stream(futures_util::StreamExt::chain(first, rest)));
    response.headers_mut().insert(header::CONTENT_TYPE, header::HeaderValue::from_static("text/event-stream"));
    response
}
