//! Demo data: a few providers with realistic services and 14 days of slots
//! from today, seeded only into an empty database. Returns the provider keys,
//! which exist nowhere else in clear.

use chrono::{Datelike, Days, NaiveTime, Utc, Weekday};
use entity::{provider, provider_key, service};
use sea_orm::{ActiveValue::Set, DatabaseConnection, DbErr, EntityTrait, PaginatorTrait, TransactionTrait};
use uuid::Uuid;

use super::secrets;
use super::slots::to_row;
use crate::domain::{ProviderAvailability, slot_grid};

/// A provider the seed created, with its key (shown once).
#[derive(Clone, Debug)]
pub struct SeededProvider {
    pub id: Uuid,
    pub name: String,
    pub key: String,
}

struct DemoProvider {
    name: &'static str,
    timezone: &'static str,
    address: &'static str,
    description: &'static str,
    currency: &'static str,
    open: (u32, u32),
    close: (u32, u32),
    services: &'static [(&'static str, i32, i64)],
}

const DEMO: &[DemoProvider] = &[
    DemoProvider {
        name: "Kasia's Barber Shop",
        timezone: "Europe/Warsaw",
        address: "ul. Mokotowska 12, 00-561 Warszawa",
        description: "Classic cuts, hot-towel shaves and beard styling in the heart of Warsaw.",
        currency: "PLN",
        open: (9, 0),
        close: (17, 0),
        services: &[("Beard trim", 30, 4000), ("Haircut", 45, 7000), ("Haircut & beard", 60, 10000)],
    },
    DemoProvider {
        name: "Green Leaf Salon",
        timezone: "Europe/London",
        address: "14 Camden Passage, London N1 8ED",
        description: "A calm neighbourhood salon for cuts, colour and blow dries.",
        currency: "GBP",
        open: (10, 0),
        close: (18, 0),
        services: &[("Blow dry", 30, 2500), ("Cut & style", 60, 5500)],
    },
    DemoProvider {
        name: "Harbor Physio Clinic",
        timezone: "America/New_York",
        address: "210 Atlantic Ave, Brooklyn, NY 11201",
        description: "Physiotherapy for sports injuries, back pain and recovery after surgery.",
        currency: "USD",
        open: (8, 0),
        close: (16, 0),
        services: &[("Follow-up", 30, 6000), ("First consultation", 60, 12000)],
    },
];

/// Seed the demo providers if there are none yet. `None` when the database
/// already had providers.
pub async fn seed_if_empty(db: &DatabaseConnection) -> Result<Option<Vec<SeededProvider>>, DbErr> {
    if provider::Entity::find().count(db).await? > 0 {
        return Ok(None);
    }
    seed(db).await.map(Some)
}

/// Seed the demo providers (always adds new ones).
pub async fn seed(db: &DatabaseConnection) -> Result<Vec<SeededProvider>, DbErr> {
    let tx = db.begin().await?;
    let now = Utc::now();
    let mut seeded = Vec::new();
    for demo in DEMO {
        let id = Uuid::new_v4();
        provider::Entity::insert(provider::ActiveModel {
            id: Set(id),
            name: Set(demo.name.to_owned()),
            timezone: Set(demo.timezone.to_owned()),
            address: Set(Some(demo.address.to_owned())),
            description: Set(Some(demo.description.to_owned())),
            currency: Set(demo.currency.to_owned()),
            version: Set(0),
            updated_at: Set(now),
            previous_updated_at: Set(None),
        })
        .exec_without_returning(&tx)
        .await?;
        for &(name, minutes, price) in demo.services {
            service::Entity::insert(service::ActiveModel {
                id: Set(Uuid::new_v4()),
                provider_id: Set(id),
                name: Set(name.to_owned()),
                duration_minutes: Set(minutes),
                price_cents: Set(price),
                currency: Set(demo.currency.to_owned()),
            })
            .exec_without_returning(&tx)
            .await?;
        }
        let key = secrets::generate("pk_");
        provider_key::Entity::insert(provider_key::ActiveModel {
            id: Set(Uuid::new_v4()),
            provider_id: Set(id),
            key_hash: Set(secrets::hash(&key)),
            created_at: Set(now),
        })
        .exec_without_returning(&tx)
        .await?;

        let tz: chrono_tz::Tz = demo.timezone.parse().map_err(|_| DbErr::Custom("demo timezone".into()))?;
        let today = now.with_timezone(&tz).date_naive();
        let hm = |(h, m): (u32, u32)| NaiveTime::from_hms_opt(h, m, 0).unwrap_or(NaiveTime::MIN);
        let grid = slot_grid(hm(demo.open), hm(demo.close), 30);
        let mut rows = Vec::new();
        for offset in 0..14 {
            let date = today + Days::new(offset);
            if date.weekday() == Weekday::Sun {
                continue;
            }
            for &(start, end) in &grid {
                let (slot, _) = ProviderAvailability::open(Uuid::new_v4(), id, date, start, end, Some("seed"), now);
                rows.push(to_row(&slot));
            }
        }
        for chunk in rows.chunks(200) {
            entity::availability_slot::Entity::insert_many(chunk.to_vec()).exec_without_returning(&tx).await?;
        }
        seeded.push(SeededProvider { id, name: demo.name.to_owned(), key });
    }
    tx.commit().await?;
    Ok(seeded)
}
