//! Demo data: twenty providers in several timezones with realistic services
//! (each has a 30-minute one, which tests rely on) and a weekly schedule
//! (Monday to Saturday), seeded only into an empty
//! database, through the import path (`App::import_catalogue`), with one
//! key each. Their slots cover 14 days from today, which keeps a seeded test
//! database cheap; a running server's planner extends them to its window.
//! Returns the provider keys, which exist nowhere else in clear.

use chrono::Utc;
use entity::provider;
use sea_orm::{DatabaseConnection, DbErr, EntityTrait, PaginatorTrait};
use uuid::Uuid;

use crate::app::{
    App, AppError, Catalogue, CatalogueProvider, CatalogueService, NewKey, PlannerPolicy, ProviderFields,
    ScheduleInput, ServiceFields,
};
use crate::events::Bus;

/// Days of slots the seed plans (today included).
pub const SEED_HORIZON_DAYS: u32 = 14;

/// A provider the seed created, with its key (shown once).
#[derive(Clone, Debug)]
pub struct SeededProvider {
    pub id: Uuid,
    pub name: String,
    pub key: String,
}

struct DemoProvider {
    external_id: &'static str,
    name: &'static str,
    timezone: &'static str,
    address: &'static str,
    description: &'static str,
    currency: &'static str,
    /// Monday to Saturday, local `HH:MM`.
    hours: &'static [[&'static str; 2]],
    services: &'static [(&'static str, &'static str, i32, i64)],
}

const DEMO: &[DemoProvider] = &[
    DemoProvider {
        external_id: "demo-kasias-barber-shop",
        name: "Kasia's Barber Shop",
        timezone: "Europe/Warsaw",
        address: "ul. Mokotowska 12, 00-561 Warszawa",
        description: "Classic cuts, hot-towel shaves and beard styling in the heart of Warsaw.",
        currency: "PLN",
        hours: &[["09:00", "17:00"]],
        services: &[
            ("beard", "Beard trim", 30, 4000),
            ("cut", "Haircut", 45, 7000),
            ("cut-beard", "Haircut & beard", 60, 10000),
        ],
    },
    DemoProvider {
        external_id: "demo-green-leaf-salon",
        name: "Green Leaf Salon",
        timezone: "Europe/London",
        address: "14 Camden Passage, London N1 8ED",
        description: "A calm neighbourhood salon for cuts, colour and blow dries.",
        currency: "GBP",
        hours: &[["10:00", "18:00"]],
        services: &[("blow-dry", "Blow dry", 30, 2500), ("cut-style", "Cut & style", 60, 5500)],
    },
    DemoProvider {
        external_id: "demo-harbor-physio",
        name: "Harbor Physio Clinic",
        timezone: "America/New_York",
        address: "210 Atlantic Ave, Brooklyn, NY 11201",
        description: "Physiotherapy for sports injuries, back pain and recovery after surgery.",
        currency: "USD",
        hours: &[["08:00", "16:00"]],
        services: &[("follow-up", "Follow-up", 30, 6000), ("first", "First consultation", 60, 12000)],
    },
    DemoProvider {
        external_id: "demo-wawel-dental",
        name: "Wawel Dental Studio",
        timezone: "Europe/Warsaw",
        address: "ul. Grodzka 40, 31-044 Kraków",
        description: "Check-ups, hygiene and gentle dentistry under the castle hill.",
        currency: "PLN",
        hours: &[["08:00", "12:00"], ["13:00", "18:00"]],
        services: &[("hygiene", "Hygiene & polish", 60, 25000), ("check-up", "Check-up", 30, 15000)],
    },
    DemoProvider {
        external_id: "demo-vistula-yoga",
        name: "Vistula Yoga Loft",
        timezone: "Europe/Warsaw",
        address: "ul. Wybrzeże Kościuszkowskie 31, 00-379 Warszawa",
        description: "Private yoga and breathwork sessions with a view of the river.",
        currency: "PLN",
        hours: &[["07:00", "11:00"], ["17:00", "21:00"]],
        services: &[("private", "Private session", 60, 18000), ("breath", "Breathwork", 30, 9000)],
    },
    DemoProvider {
        external_id: "demo-thames-tailors",
        name: "Thames Tailoring",
        timezone: "Europe/London",
        address: "3 Savile Row, London W1S 3PB",
        description: "Fittings and alterations by appointment.",
        currency: "GBP",
        hours: &[["09:30", "17:30"]],
        services: &[("fitting", "Fitting", 30, 4000), ("consult", "Bespoke consultation", 60, 9000)],
    },
    DemoProvider {
        external_id: "demo-camden-ink",
        name: "Camden Ink",
        timezone: "Europe/London",
        address: "22 Inverness St, London NW1 7HJ",
        description: "Custom tattoo consultations and small flash pieces.",
        currency: "GBP",
        hours: &[["12:00", "20:00"]],
        services: &[("consult", "Design consultation", 30, 0), ("flash", "Small flash piece", 60, 8000)],
    },
    DemoProvider {
        external_id: "demo-hudson-massage",
        name: "Hudson Massage Therapy",
        timezone: "America/New_York",
        address: "88 Greenwich St, New York, NY 10006",
        description: "Deep tissue and sports massage for busy people.",
        currency: "USD",
        hours: &[["10:00", "19:00"]],
        services: &[("massage-60", "Massage 60 min", 60, 11000), ("massage-30", "Massage 30 min", 30, 6500)],
    },
    DemoProvider {
        external_id: "demo-queens-pediatrics",
        name: "Queens Pediatric Care",
        timezone: "America/New_York",
        address: "37-12 Main St, Flushing, NY 11354",
        description: "Well-child visits and vaccinations.",
        currency: "USD",
        hours: &[["08:30", "12:30"], ["13:30", "17:00"]],
        services: &[("visit", "Well-child visit", 30, 9000)],
    },
    DemoProvider {
        external_id: "demo-lakeshore-vet",
        name: "Lakeshore Veterinary",
        timezone: "America/Chicago",
        address: "1550 N Lake Shore Dr, Chicago, IL 60610",
        description: "Check-ups and vaccinations for cats and dogs.",
        currency: "USD",
        hours: &[["08:00", "18:00"]],
        services: &[("check-up", "Check-up", 30, 7500), ("dental", "Dental cleaning", 90, 30000)],
    },
    DemoProvider {
        external_id: "demo-sunset-surf",
        name: "Sunset Surf School",
        timezone: "America/Los_Angeles",
        address: "2600 Ocean Front Walk, Venice, CA 90291",
        description: "Beginner surf lessons, boards and wetsuits included.",
        currency: "USD",
        hours: &[["07:00", "13:00"]],
        services: &[
            ("lesson", "Group lesson", 90, 8500),
            ("private", "Private lesson", 60, 15000),
            ("rental", "Board rental", 30, 2500),
        ],
    },
    DemoProvider {
        external_id: "demo-berlin-bikes",
        name: "Kreuzberg Bike Repair",
        timezone: "Europe/Berlin",
        address: "Oranienstraße 25, 10999 Berlin",
        description: "Service, tune-ups and wheel truing while you wait.",
        currency: "EUR",
        hours: &[["10:00", "18:00"]],
        services: &[("tune-up", "Tune-up", 60, 4900), ("flat", "Flat fix", 30, 1500)],
    },
    DemoProvider {
        external_id: "demo-lisbon-language",
        name: "Alfama Language Lab",
        timezone: "Europe/Lisbon",
        address: "Rua de São Miguel 12, 1100-544 Lisboa",
        description: "Portuguese conversation lessons, one to one.",
        currency: "EUR",
        hours: &[["09:00", "13:00"], ["15:00", "19:00"]],
        services: &[("lesson", "Lesson", 60, 3500), ("trial", "Trial lesson", 30, 1500)],
    },
    DemoProvider {
        external_id: "demo-paris-piano",
        name: "Atelier Piano Montmartre",
        timezone: "Europe/Paris",
        address: "18 Rue Lepic, 75018 Paris",
        description: "Piano lessons for all levels in a sunny Montmartre studio.",
        currency: "EUR",
        hours: &[["11:00", "20:00"]],
        services: &[("lesson-45", "Lesson 45 min", 45, 5000), ("lesson-30", "Lesson 30 min", 30, 3500)],
    },
    DemoProvider {
        external_id: "demo-prague-photo",
        name: "Vltava Photo Studio",
        timezone: "Europe/Prague",
        address: "Karmelitská 18, 118 00 Praha 1",
        description: "Portraits and passport photos, ready the same day.",
        currency: "CZK",
        hours: &[["09:00", "17:00"]],
        services: &[("passport", "Passport photos", 30, 35000), ("portrait", "Portrait session", 60, 150000)],
    },
    DemoProvider {
        external_id: "demo-tokyo-kaizen",
        name: "Kaizen Seitai Tokyo",
        timezone: "Asia/Tokyo",
        address: "2-14-5 Jingumae, Shibuya-ku, Tokyo 150-0001",
        description: "Japanese bodywork for posture and stiffness.",
        currency: "JPY",
        hours: &[["10:00", "20:00"]],
        services: &[("seitai", "Seitai session", 60, 8000), ("short", "Short session", 30, 4500)],
    },
    DemoProvider {
        external_id: "demo-sydney-smiles",
        name: "Harbour Smiles Sydney",
        timezone: "Australia/Sydney",
        address: "1 Macquarie Pl, Sydney NSW 2000",
        description: "General and cosmetic dentistry by the harbour.",
        currency: "AUD",
        hours: &[["08:00", "17:00"]],
        services: &[("check-up", "Check-up & clean", 60, 22000), ("emergency", "Emergency visit", 30, 15000)],
    },
    DemoProvider {
        external_id: "demo-toronto-tutor",
        name: "Annex Maths Tutoring",
        timezone: "America/Toronto",
        address: "360 Bloor St W, Toronto, ON M5S 1X1",
        description: "High-school and university maths, exam preparation.",
        currency: "CAD",
        hours: &[["15:00", "21:00"]],
        services: &[("session", "Tutoring session", 60, 7000), ("check-in", "Quick question session", 30, 3800)],
    },
    DemoProvider {
        external_id: "demo-gdansk-amber",
        name: "Amber Spa Gdańsk",
        timezone: "Europe/Warsaw",
        address: "ul. Długa 45, 80-827 Gdańsk",
        description: "Massage and facials in the old town.",
        currency: "PLN",
        hours: &[["10:00", "20:00"]],
        services: &[("facial", "Facial", 60, 22000), ("massage", "Back massage", 30, 12000)],
    },
    DemoProvider {
        external_id: "demo-edinburgh-climb",
        name: "Edinburgh Climbing Coach",
        timezone: "Europe/London",
        address: "12 South Bridge, Edinburgh EH1 1DD",
        description: "Bouldering and lead climbing coaching, gear provided.",
        currency: "GBP",
        hours: &[["16:00", "22:00"]],
        services: &[("coaching", "Coaching session", 90, 6000), ("taster", "Taster session", 30, 2000)],
    },
];

/// The first `count` demo providers, as an import file would give them:
/// the twenty of `DEMO`, then numbered copies of them (`#2`, `#3`, …) for
/// tests and benchmarks that need more.
fn demo_catalogue(count: usize) -> Catalogue {
    let providers = DEMO
        .iter()
        .cycle()
        .take(count)
        .enumerate()
        .map(|(index, demo)| {
            let round = index / DEMO.len();
            let (external_id, name) = match round {
                0 => (demo.external_id.to_owned(), demo.name.to_owned()),
                _ => (format!("{}-{}", demo.external_id, round + 1), format!("{} #{}", demo.name, round + 1)),
            };
            let hours: Vec<[String; 2]> = demo.hours.iter().map(|[a, b]| [(*a).to_owned(), (*b).to_owned()]).collect();
            let weekly = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday"]
                .into_iter()
                .map(|day| (day.to_owned(), hours.clone()))
                .collect();
            CatalogueProvider {
                external_id,
                fields: ProviderFields {
                    name,
                    timezone: demo.timezone.to_owned(),
                    address: Some(demo.address.to_owned()),
                    description: Some(demo.description.to_owned()),
                    currency: demo.currency.to_owned(),
                    slot_source: None,
                    booking_url: None,
                },
                services: demo
                    .services
                    .iter()
                    .map(|&(external_id, name, minutes, price)| CatalogueService {
                        external_id: external_id.to_owned(),
                        fields: ServiceFields {
                            name: name.to_owned(),
                            duration_minutes: minutes,
                            price_minor: price,
                            currency: demo.currency.to_owned(),
                        },
                    })
                    .collect(),
                schedule: Some(ScheduleInput { slot_minutes: 30, weekly, exceptions: Vec::new() }),
            }
        })
        .collect();
    Catalogue::new(providers)
}

/// Seed the demo providers if there are none yet. `None` when the database
/// already had providers.
pub async fn seed_if_empty(db: &DatabaseConnection) -> Result<Option<Vec<SeededProvider>>, DbErr> {
    if provider::Entity::find().count(db).await? > 0 {
        return Ok(None);
    }
    seed(db).await.map(Some)
}

/// Import the demo catalogue (a second seed leaves it as it is) and issue
/// each demo provider a new key.
pub async fn seed(db: &DatabaseConnection) -> Result<Vec<SeededProvider>, DbErr> {
    seed_demo(db, DEMO.len()).await
}

/// Import the first `count` demo providers (past the twenty of the demo,
/// numbered copies) and issue each a new key. Already imported ones are left
/// as they are. Tests take the few they need: each provider costs its
/// fourteen days of slots and their events.
pub async fn seed_demo(db: &DatabaseConnection, count: usize) -> Result<Vec<SeededProvider>, DbErr> {
    // An application of its own: nobody listens to its bus.
    let app = App::new(db.clone(), Bus::new(1, true), 0)
        .with_planner_policy(PlannerPolicy { horizon_days: SEED_HORIZON_DAYS });
    let failed = |e: AppError| DbErr::Custom(format!("demo seed: {e}"));
    let catalogue = demo_catalogue(count);
    let names: Vec<(String, String)> =
        catalogue.providers.iter().map(|p| (p.external_id.clone(), p.fields.name.clone())).collect();
    let report = app
        .import_catalogue(catalogue, Utc::now())
        .await
        .map_err(|failure| DbErr::Custom(format!("demo seed: {failure}")))?;
    let mut seeded = Vec::new();
    for ((external_id, name), id) in names.into_iter().zip(report.provider_ids) {
        let key = app.issue_key(&external_id, NewKey { label: Some("demo".into()) }).await.map_err(failed)?;
        seeded.push(SeededProvider { id, name, key: key.key });
    }
    Ok(seeded)
}
