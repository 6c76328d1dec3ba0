//! Demo life, on top of the demo seed: partly-booked weeks for the demo
//! providers (run once, right after the seed fills an empty database at
//! `serve`), and the `--demo-traffic` task that books and cancels a slot
//! every few seconds so a newcomer sees the page change on its own. Both go
//! through the ordinary booking commands, so every change is a real event.

use std::collections::VecDeque;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use entity::availability_slot;
use rand::Rng;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use uuid::Uuid;

use crate::app::{App, AppError, Credential, NewBooking, NewCustomer, ProviderView};
use crate::domain::local_instant;

/// Share of each demo provider's free slots booked in advance.
const BOOKED_SHARE: f64 = 0.3;
/// Demo-traffic bookings kept at once: each tick books one and, past this, cancels the oldest.
const TRAFFIC_KEPT: usize = 3;
/// Demo traffic only touches the next few days, the ones a visitor looks at first.
const TRAFFIC_DAYS: i64 = 3;

const DEMO_CUSTOMERS: &[&str] = &["Alex Kim", "Maria Nowak", "Sam Taylor", "Priya Shah", "Jonas Berg", "Lena Fischer"];

/// A free slot's start as an instant, with the provider it belongs to.
struct FreeStart {
    provider_id: Uuid,
    starts_at: DateTime<Utc>,
}

/// The free slots of `provider` that start after `after` and before `before`, earliest first.
async fn free_starts(
    app: &App,
    provider: &ProviderView,
    after: DateTime<Utc>,
    before: DateTime<Utc>,
) -> Result<Vec<FreeStart>, AppError> {
    let tz: chrono_tz::Tz =
        provider.timezone.parse().map_err(|_| AppError::Internal(format!("time zone {}", provider.timezone)))?;
    let rows = availability_slot::Entity::find()
        .filter(availability_slot::Column::ProviderId.eq(provider.id))
        .filter(availability_slot::Column::Status.eq(availability_slot::Status::Available))
        .filter(availability_slot::Column::Date.gte(after.with_timezone(&tz).date_naive()))
        .filter(availability_slot::Column::Date.lte(before.with_timezone(&tz).date_naive()))
        .order_by_asc(availability_slot::Column::Date)
        .order_by_asc(availability_slot::Column::StartTime)
        .all(&app.db)
        .await?;
    Ok(rows
        .into_iter()
        .filter_map(|row| local_instant(tz, row.date, row.start_time).ok())
        .map(|start| start.with_timezone(&Utc))
        .filter(|start| *start > after && *start < before)
        .map(|starts_at| FreeStart { provider_id: provider.id, starts_at })
        .collect())
}

/// Book `start` with the provider's shortest service for a demo customer.
/// `None` when the slot is no longer free (someone was quicker).
async fn book_demo(app: &App, provider: &ProviderView, start: &FreeStart) -> Result<Option<(Uuid, String)>, AppError> {
    let Some(service) = provider.services.iter().min_by_key(|s| s.duration_minutes) else {
        return Ok(None);
    };
    let name = DEMO_CUSTOMERS[rand::rng().random_range(0..DEMO_CUSTOMERS.len())];
    let request = NewBooking {
        provider_id: start.provider_id,
        service_id: service.id,
        start_time: start.starts_at.fixed_offset(),
        customer: NewCustomer { name: name.to_owned(), email: "demo@example.com".to_owned() },
        hold_id: None,
    };
    match app.create_booking(request, None, &Credential::None).await {
        Ok((booking, _)) => Ok(booking.token.map(|token| (booking.id, token))),
        Err(AppError::Conflict(_)) => Ok(None),
        Err(error) => Err(error),
    }
}

/// Book about a third of every provider's free slots from an hour from now
/// on, so the demo week looks like a real, partly-booked one. Returns how
/// many bookings were made.
pub async fn book_demo_weeks(app: &App) -> Result<usize, AppError> {
    let after = Utc::now() + TimeDelta::hours(1);
    let before = after + TimeDelta::days(15);
    let mut booked = 0;
    for provider in app.list_providers().await? {
        for start in free_starts(app, &provider, after, before).await? {
            if rand::rng().random_bool(BOOKED_SHARE) && book_demo(app, &provider, &start).await?.is_some() {
                booked += 1;
            }
        }
    }
    Ok(booked)
}

/// Every `every`, book a random free slot of a random provider in the next
/// few days, and cancel the oldest demo booking once more than a few are
/// kept. Runs until the server stops (it is dropped at an `.await`).
pub async fn run_traffic(app: App, every: Duration) {
    let mut kept: VecDeque<(Uuid, String)> = VecDeque::new();
    loop {
        tokio::time::sleep(every).await;
        if let Err(error) = traffic_tick(&app, &mut kept).await {
            tracing::warn!(%error, "demo traffic");
        }
    }
}

async fn traffic_tick(app: &App, kept: &mut VecDeque<(Uuid, String)>) -> Result<(), AppError> {
    let providers = app.list_providers().await?;
    if providers.is_empty() {
        return Ok(());
    }
    let provider = &providers[rand::rng().random_range(0..providers.len())];
    let now = Utc::now();
    let starts = free_starts(app, provider, now + TimeDelta::minutes(5), now + TimeDelta::days(TRAFFIC_DAYS)).await?;
    if !starts.is_empty() {
        let start = &starts[rand::rng().random_range(0..starts.len())];
        if let Some(booking) = book_demo(app, provider, start).await? {
            kept.push_back(booking);
        }
    }
    while kept.len() > TRAFFIC_KEPT {
        if let Some((id, token)) = kept.pop_front() {
            app.cancel_booking(id, Default::default(), &Credential::Bearer(token)).await?;
        }
    }
    Ok(())
}
