//! Exponential back-off with jitter, for work that failed and is tried again
//! later: webhook attempts (per subscription) and hold expiry (per hold).
//! Plain arithmetic, no clock: the caller adds the delay to its own "now".

use std::time::Duration;

/// The delay before retry number `attempts` (1 = the first retry): `base`
/// doubled per earlier attempt, capped at `max`, times a jitter factor in
/// [0.5, 1) from `unit` (uniform in [0, 1)), so work that failed together
/// does not all come back at once.
pub fn backoff(base: Duration, max: Duration, attempts: i32, unit: f64) -> Duration {
    let doublings = attempts.saturating_sub(1).clamp(0, 30) as u32;
    let delay = base.saturating_mul(1u32 << doublings).min(max);
    delay.mul_f64(0.5 + unit.clamp(0.0, 1.0) / 2.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_with_jitter_up_to_the_cap() {
        let base = Duration::from_secs(1);
        let max = Duration::from_secs(3600);
        assert_eq!(backoff(base, max, 1, 0.0), Duration::from_millis(500));
        assert_eq!(backoff(base, max, 3, 0.0), Duration::from_secs(2));
        assert!(backoff(base, max, 3, 0.999) < Duration::from_secs(4));
        assert_eq!(backoff(base, max, 40, 0.0), Duration::from_secs(1800));
        // At the cap, a day of retries is about 24 + 12 attempts, never a tight loop.
        assert!(backoff(base, max, 1000, 0.5) >= Duration::from_secs(2700));
    }
}
