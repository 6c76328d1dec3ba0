//! A small client for the SSE wire format, read from a real HTTP response:
//! frames split on blank lines, `id:`/`event:`/`data:` fields, comments
//! (heartbeats) counted and the `retry:` line noted, so tests check the
//! bytes the server writes rather than trusting a library's reading of them.

use std::collections::BTreeMap;
use std::time::Duration;

use futures_util::StreamExt;
use reqwest::StatusCode;
use serde_json::Value;

/// One event off the wire (comments and the `retry:` line are not events).
#[derive(Clone, Debug, PartialEq)]
pub struct SseEvent {
    pub id: Option<String>,
    pub event: String,
    pub data: String,
}

impl SseEvent {
    /// The event's id as a version number.
    pub fn version(&self) -> i64 {
        self.id.as_deref().expect("event id").parse().expect("numeric id")
    }

    /// The event's data as JSON.
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.data).expect("event data is JSON")
    }
}

/// `statuses` (availabilityId → status, as `Availability::statuses` gives)
/// after each event's `newStatus` in turn: what a client
/// that applies the stream to a GET's document would show.
pub fn replay(mut statuses: BTreeMap<String, String>, events: &[SseEvent]) -> BTreeMap<String, String> {
    for event in events {
        let data = event.json();
        statuses.insert(
            data["availabilityId"].as_str().unwrap().to_owned(),
            data["newStatus"].as_str().unwrap().to_owned(),
        );
    }
    statuses
}

/// Reads the SSE wire format from a real HTTP response.
pub struct SseClient {
    stream: std::pin::Pin<Box<dyn futures_util::Stream<Item = reqwest::Result<bytes::Bytes>> + Send>>,
    /// Bytes read but not yet split into frames.
    buffer: String,
    /// A `retry:` line has arrived.
    pub saw_retry: bool,
    /// The `retry:` line's delay in milliseconds.
    pub retry_millis: Option<u64>,
    /// Comment lines (heartbeats) seen so far.
    pub comments: usize,
    /// The data of the last visible heartbeat (`event: heartbeat`, the
    /// agenda stream's), which `next` skips as it skips comments.
    pub heartbeat: Option<String>,
    /// The response's headers.
    pub headers: reqwest::header::HeaderMap,
    /// The HTTP version the stream came over.
    pub version: reqwest::Version,
}

impl SseClient {
    /// Opens `url` as a stream (resuming after `last_event_id` through the
    /// `Last-Event-ID` header when given); fails the test unless it answers 200.
    pub async fn connect(client: &reqwest::Client, url: &str, last_event_id: Option<i64>) -> SseClient {
        let mut request = client.get(url).header("accept", "text/event-stream");
        if let Some(id) = last_event_id {
            request = request.header("last-event-id", id.to_string());
        }
        let response = request.send().await.expect("stream request");
        assert_eq!(response.status(), StatusCode::OK, "stream opened");
        SseClient::from_response(response)
    }

    /// Reads the stream of a response already checked to be one.
    pub fn from_response(response: reqwest::Response) -> SseClient {
        let headers = response.headers().clone();
        let version = response.version();
        SseClient {
            version,
            stream: Box::pin(response.bytes_stream()),
            buffer: String::new(),
            saw_retry: false,
            retry_millis: None,
            comments: 0,
            heartbeat: None,
            headers,
        }
    }

    /// The next event (not comments or the retry line), or `None` on timeout or end.
    pub async fn next(&mut self, within: Duration) -> Option<SseEvent> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            while let Some(end) = self.buffer.find("\n\n") {
                let frame: String = self.buffer.drain(..end + 2).collect();
                if let Some(event) = self.parse(&frame) {
                    return Some(event);
                }
            }
            let chunk = tokio::time::timeout_at(deadline, self.stream.next()).await.ok()??;
            self.buffer.push_str(std::str::from_utf8(&chunk.ok()?).expect("utf-8"));
        }
    }

    /// Collect `n` events, failing the test if they do not come within `within`.
    pub async fn take(&mut self, n: usize, within: Duration) -> Vec<SseEvent> {
        let deadline = tokio::time::Instant::now() + within;
        let mut events = Vec::with_capacity(n);
        while events.len() < n {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match self.next(left).await {
                Some(event) => events.push(event),
                None => panic!("expected {n} events, got {}: {:?}", events.len(), events.last()),
            }
        }
        events
    }

    /// True when the server ended the stream, cleanly, within `within`
    /// (what comes before the end is read and dropped). A cut connection or
    /// the client's own timeout is not an end: a stream the server forgot
    /// to finish would otherwise pass once the client gave up on it.
    pub async fn ended(&mut self, within: Duration) -> bool {
        matches!(
            tokio::time::timeout(within, async {
                loop {
                    match self.stream.next().await {
                        None => return true,
                        Some(Err(_)) => return false,
                        Some(Ok(_)) => {}
                    }
                }
            })
            .await,
            Ok(true)
        )
    }

    fn parse(&mut self, frame: &str) -> Option<SseEvent> {
        let mut id = None;
        let mut event = None;
        let mut data: Vec<&str> = Vec::new();
        for line in frame.lines() {
            if line.starts_with(':') {
                self.comments += 1;
                continue;
            }
            let (field, value) =
                line.split_once(':').map(|(f, v)| (f, v.strip_prefix(' ').unwrap_or(v))).unwrap_or((line, ""));
            match field {
                "id" => id = Some(value.to_owned()),
                "event" => event = Some(value.to_owned()),
                "data" => data.push(value),
                "retry" => {
                    self.saw_retry = true;
                    self.retry_millis = value.parse().ok();
                }
                _ => {}
            }
        }
        if data.is_empty() {
            return None;
        }
        if event.as_deref() == Some("heartbeat") {
            self.heartbeat = Some(data.join("\n"));
            return None;
        }
        Some(SseEvent { id, event: event.unwrap_or_else(|| "message".into()), data: data.join("\n") })
    }
}
