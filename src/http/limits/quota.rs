//! One quota per route group (reads, writes, holds, stream connections):
//! a per-client token bucket (governor, keyed on [`ClientIdentity`]) as a
//! layer, and the 429 it answers with.
//!
//! Invariant: a quota with a burst of 0 (or no refill) is switched off, not
//! a limiter that refuses everything.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderValue, Response, StatusCode, header};
use tower_governor::GovernorError;
use tower_governor::governor::{GovernorConfig, GovernorConfigBuilder};

use super::ClientIdentity;
use crate::http::error::problem;

/// One quota: a burst, refilled at `per_second` tokens a second.
#[derive(Clone, Copy, Debug)]
pub struct Quota {
    pub name: &'static str,
    pub burst: u32,
    pub per_second: f64,
}

impl Quota {
    /// Seconds the whole burst takes to refill (the draft's window `w`).
    fn window_secs(&self) -> u64 {
        (f64::from(self.burst) / self.per_second).ceil().max(1.0) as u64
    }
}

pub type Limiter = GovernorConfig<ClientIdentity, governor::middleware::NoOpMiddleware<governor::clock::QuantaInstant>>;

/// The middleware that applies one quota.
pub type LimitLayer = tower_governor::GovernorLayer<
    ClientIdentity,
    governor::middleware::NoOpMiddleware<governor::clock::QuantaInstant>,
    Body,
>;

/// `quota`'s per-client limit as a layer, or `None` when it is switched off.
pub fn layer(limiter: &Option<Arc<Limiter>>, quota: Quota) -> Option<LimitLayer> {
    limiter.clone().map(|limiter| tower_governor::GovernorLayer::new(limiter).error_handler(too_many_requests(quota)))
}

/// A limiter for `quota`, or `None` when it is switched off (burst 0).
pub fn limiter(quota: Quota, identity: ClientIdentity) -> Option<Arc<Limiter>> {
    // NaN refills nothing either.
    if quota.burst == 0 || quota.per_second.is_nan() || quota.per_second <= 0.0 {
        return None;
    }
    // governor's period is the time per token (not tokens per period).
    let period = Duration::from_secs_f64(1.0 / quota.per_second).max(Duration::from_nanos(1));
    GovernorConfigBuilder::default()
        .key_extractor(identity)
        .period(period)
        .burst_size(quota.burst)
        .finish()
        .map(Arc::new)
}

/// The 429 answer: problem+json, `Retry-After` rounded *up* (tower-governor
/// truncates to whole seconds, which would say 0 for a sub-second refill),
/// and the IETF draft's `RateLimit-Policy` / `RateLimit` headers.
pub fn too_many_requests(quota: Quota) -> impl Fn(GovernorError) -> Response<Body> + Send + Sync + 'static {
    move |error| match error {
        GovernorError::TooManyRequests { wait_time, .. } => {
            metrics::counter!("slotstream_rate_limited_total", "quota" => quota.name).increment(1);
            let retry_after = wait_time + 1;
            let mut response = problem(
                StatusCode::TOO_MANY_REQUESTS,
                "rate-limited",
                "Too many requests",
                &format!("the {} quota of this client is used up; retry in {retry_after} s", quota.name),
            );
            let headers = response.headers_mut();
            headers.insert(header::RETRY_AFTER, HeaderValue::from(retry_after));
            let policy = format!("\"{}\";q={};w={}", quota.name, quota.burst, quota.window_secs());
            let state = format!("\"{}\";r=0;t={retry_after}", quota.name);
            if let (Ok(policy), Ok(state)) = (HeaderValue::from_str(&policy), HeaderValue::from_str(&state)) {
                headers.insert("ratelimit-policy", policy);
                headers.insert("ratelimit", state);
            }
            response
        }
        GovernorError::UnableToExtractKey => problem(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "Internal server error",
            "the client could not be identified",
        ),
        GovernorError::Other { code, msg, .. } => {
            problem(code, "rate-limited", "Request refused", msg.as_deref().unwrap_or("refused"))
        }
    }
}
