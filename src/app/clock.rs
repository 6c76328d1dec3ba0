//! Time that several instances compare: lease expiry (webhook senders) and
//! hold expiry. Each instance's own clock may be off by seconds or hours
//! (a VM resumed, NTP not yet synced); an instant written by one instance and
//! compared by another must come from one clock they share, the database's.
//! `Clock::shared_now` reads it; `Clock::local_now` is this host's clock, for
//! what no other instance compares with.
//!
//! `--clock-skew-secs` (hidden) moves this instance's local clock, so that a
//! test can run two instances whose clocks disagree.

use chrono::{DateTime, TimeDelta, Utc};
use sea_orm::{ConnectionTrait, DbBackend, DbErr, Statement};

/// This instance's view of the time.
#[derive(Clone, Copy, Debug, Default)]
pub struct Clock {
    /// Added to the host's clock (tests only: a host whose clock is wrong).
    skew: TimeDelta,
}

impl Clock {
    /// A clock `skew` off the host's (`--clock-skew-secs`).
    pub fn skewed(skew: TimeDelta) -> Clock {
        Clock { skew }
    }

    /// This host's clock: for instants only this instance reads.
    pub fn local_now(&self) -> DateTime<Utc> {
        Utc::now() + self.skew
    }

    /// The database's clock: for every instant another instance compares
    /// with (a lease's end, a hold's expiry). One round trip on `conn` (a
    /// transaction's, when the instant is compared inside it).
    pub async fn shared_now(&self, conn: &impl ConnectionTrait) -> Result<DateTime<Utc>, DbErr> {
        let backend = conn.get_database_backend();
        let sql = match backend {
            DbBackend::Postgres => "SELECT clock_timestamp() AS now",
            // Milliseconds are what SQLite's clock offers.
            _ => "SELECT strftime('%Y-%m-%dT%H:%M:%fZ', 'now') AS now",
        };
        let row = conn
            .query_one_raw(Statement::from_string(backend, sql))
            .await?
            .ok_or_else(|| DbErr::Custom("the database did not tell the time".into()))?;
        match backend {
            DbBackend::Postgres => row.try_get::<DateTime<Utc>>("", "now"),
            _ => {
                let text: String = row.try_get("", "now")?;
                parse_sqlite_now(&text)
            }
        }
    }
}

/// SQLite's `strftime('%Y-%m-%dT%H:%M:%fZ', 'now')`, an RFC 3339 instant.
fn parse_sqlite_now(text: &str) -> Result<DateTime<Utc>, DbErr> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| DbErr::Custom(format!("the database's time {text:?} is not an instant: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_time_is_read_to_the_millisecond() {
        let t = parse_sqlite_now("2026-12-03T06:10:00.123Z").unwrap();
        assert_eq!(t.timestamp_millis(), 1_796_278_200_123);
        assert!(parse_sqlite_now("06:10").is_err());
    }

    #[test]
    fn a_skewed_clock_is_off_by_its_skew() {
        let clock = Clock::skewed(TimeDelta::hours(1));
        let off = clock.local_now() - Utc::now();
        assert!(off > TimeDelta::minutes(59) && off <= TimeDelta::hours(1), "{off}");
    }
}
