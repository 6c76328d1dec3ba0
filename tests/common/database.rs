//! Test databases: a fresh SQLite file, or a fresh database on the
//! PostgreSQL server named by `SLOTSTREAM_TEST_DATABASE_URL`; seeding them
//! with the demo providers; the visible skip of PostgreSQL-only tests; and a
//! dump of every table to prove a request changed nothing.

use std::io::Write;

use sea_orm::{ConnectionTrait, Database, DatabaseConnection};
use slotstream::cli::seed::SeededProvider;
use slotstream::server;
use uuid::Uuid;

/// The variable that points the suite at PostgreSQL (`.ci/run` sets it).
pub const DATABASE_URL_VAR: &str = "SLOTSTREAM_TEST_DATABASE_URL";

/// A fresh, empty database URL: a new SQLite file, or a new database on the
/// PostgreSQL server named by `SLOTSTREAM_TEST_DATABASE_URL` (a connection
/// failure there fails the test; it never skips).
pub async fn fresh_database_url() -> String {
    match std::env::var(DATABASE_URL_VAR) {
        Ok(base) if !base.is_empty() => {
            let admin = Database::connect(&base).await.expect("connect to SLOTSTREAM_TEST_DATABASE_URL");
            let name = format!("slotstream_t_{}", Uuid::new_v4().simple());
            admin.execute_unprepared(&format!("CREATE DATABASE {name}")).await.expect("create test database");
            admin.close().await.ok();
            let (prefix, _) = base.rsplit_once('/').expect("database URL ends with /dbname");
            format!("{prefix}/{name}")
        }
        _ => {
            let dir = std::env::temp_dir().join("slotstream-tests");
            std::fs::create_dir_all(&dir).expect("temp dir");
            let file = dir.join(format!("{}.db", Uuid::new_v4().simple()));
            format!("sqlite://{}?mode=rwc", file.display())
        }
    }
}

/// Demo providers in a test database: the first few of the demo's twenty
/// (each costs its slots and their events to seed); tests that need more
/// seed them (`slotstream::cli::seed::seed_demo`).
pub const TEST_PROVIDERS: usize = 5;

/// A fresh database with the first demo providers, left open with a pool of
/// `pool_size` connections: for tests that also read or write it directly.
pub async fn seeded_connection(pool_size: u32) -> (String, DatabaseConnection, Vec<SeededProvider>) {
    let url = fresh_database_url().await;
    let db = server::connect(&url, pool_size).await.expect("connect");
    let providers = slotstream::cli::seed::seed_demo(&db, TEST_PROVIDERS).await.expect("seed");
    (url, db, providers)
}

/// A fresh database with the first demo providers, closed again: for tests that
/// run the server as a child process.
pub async fn seeded_database() -> (String, Vec<SeededProvider>) {
    let (url, db, providers) = seeded_connection(2).await;
    db.close().await.expect("close");
    (url, providers)
}

/// True when the suite runs on PostgreSQL.
pub fn on_postgres() -> bool {
    std::env::var(DATABASE_URL_VAR).is_ok_and(|u| !u.is_empty())
}

/// For a test that only means something on PostgreSQL (several instances,
/// LISTEN/NOTIFY): true on PostgreSQL; on SQLite false, after a line
/// `SKIPPED (PostgreSQL only): <test>: <why>` on stderr. The caller returns
/// at once on false:
///
/// ```ignore
/// if !postgres_only("LISTEN/NOTIFY between instances") { return; }
/// ```
///
/// The line goes to the process's stderr itself, not through `eprintln!`,
/// which the test harness captures and shows only for failing tests: a skip
/// must never look like a pass.
pub fn postgres_only(why: &str) -> bool {
    if on_postgres() {
        return true;
    }
    // The harness names each test's thread after the test (except with
    // `--test-threads=1`, where tests run on `main`).
    let thread = std::thread::current();
    let test = thread.name().filter(|n| *n != "main").unwrap_or("a test");
    let line = format!("SKIPPED (PostgreSQL only): {test}: {why}; set {DATABASE_URL_VAR} (.ci/run does)\n");
    // Nowhere to report a failed write to stderr; the test still returns.
    let _ = std::io::stderr().lock().write_all(line.as_bytes());
    false
}

/// Every row of every table, as text, to prove a request changed nothing.
pub async fn dump(db: &DatabaseConnection) -> String {
    use sea_orm::EntityTrait;
    let mut out = String::new();
    out += &format!("{:?}\n", entity::provider::Entity::find().all(db).await.unwrap());
    out += &format!("{:?}\n", entity::service::Entity::find().all(db).await.unwrap());
    let mut slots = entity::availability_slot::Entity::find().all(db).await.unwrap();
    slots.sort_by_key(|s| s.id);
    out += &format!("{slots:?}\n");
    out += &format!("{:?}\n", entity::booking::Entity::find().all(db).await.unwrap());
    out += &format!("{:?}\n", entity::slot_event::Entity::find().all(db).await.unwrap());
    out += &format!("{:?}\n", entity::provider_key::Entity::find().all(db).await.unwrap());
    out += &format!("{:?}\n", entity::idempotency_key::Entity::find().all(db).await.unwrap());
    out += &format!("{:?}\n", entity::slot_hold::Entity::find().all(db).await.unwrap());
    out += &format!("{:?}\n", entity::booking_event::Entity::find().all(db).await.unwrap());
    out += &format!("{:?}\n", entity::webhook_subscription::Entity::find().all(db).await.unwrap());
    out
}
