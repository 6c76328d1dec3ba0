//! `ingest`: the sustained rate at which the marketplace's booking system
//! can publish slot changes into slotstream, over HTTP (the admin API's
//! `slot-changes`, one batch after another on one connection) or NATS
//! JetStream (every batch published, then the wait until the provider's
//! version shows them all applied). Each batch changes every one of
//! `--changes` slots (opened available, then taken and freed in turn), so
//! each batch is `--changes` events.

use std::io;
use std::time::{Duration, Instant};

use crate::http::{self, Client};
use crate::stats::now_micros;
use crate::subscribers::version_of;

/// How the batches travel.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Transport {
    Http,
    Nats,
}

#[derive(Clone, Debug)]
pub struct IngestOptions {
    /// The provider's id (its version is read from its document).
    pub provider_id: String,
    /// Its external id (the admin API's and the subject's).
    pub external_id: String,
    pub batches: usize,
    pub changes: usize,
    pub via: Transport,
    pub nats_url: String,
    pub nats_prefix: String,
}

/// Slot `i` of the run: 5 minutes, from 02:00 UTC three days ahead, 200 a day.
fn slot(i: usize, status: &str) -> serde_json::Value {
    let day = (chrono::Utc::now() + chrono::TimeDelta::days(3 + (i / 200) as i64)).date_naive();
    let starts = day.and_hms_opt(2, 0, 0).expect("02:00").and_utc() + chrono::TimeDelta::minutes(5 * (i % 200) as i64);
    serde_json::json!({
        "externalSlotId": format!("ingest-{i}"),
        "startsAt": starts.to_rfc3339(),
        "endsAt": (starts + chrono::TimeDelta::minutes(5)).to_rfc3339(),
        "status": status,
    })
}

pub async fn run(server: std::net::SocketAddr, options: IngestOptions) -> io::Result<bool> {
    let token = std::env::var("SLOTSTREAM_ADMIN_TOKEN")
        .map_err(|_| http::bad("ingest needs the operator token in SLOTSTREAM_ADMIN_TOKEN"))?;
    let mut client = Client::new(server, None);
    let start_version = version_of(&mut client, &options.provider_id).await?;
    let first_sequence = now_micros();
    // Batch 0 opens the slots; then they are taken and freed in turn.
    let bodies: Vec<String> = (0..options.batches)
        .map(|b| {
            let status = match b % 2 {
                _ if b == 0 => "available",
                1 => "taken",
                _ => "available",
            };
            let changes: Vec<_> = (0..options.changes).map(|i| slot(i, status)).collect();
            serde_json::json!({ "sequence": first_sequence + b as i64, "changes": changes }).to_string()
        })
        .collect();
    let expected = start_version + (options.batches * options.changes) as i64;
    let started = Instant::now();
    let mut errors = 0;
    match options.via {
        Transport::Http => {
            let path = format!("/api/v1/admin/providers/{}/slot-changes", options.external_id);
            let auth = format!("Bearer {token}");
            for body in &bodies {
                let response = client.post_json(&path, &[("Authorization", &auth)], body.as_bytes()).await?;
                if response.status() != 200 {
                    errors += 1;
                    eprintln!("loadgen: slot-changes answered {}: {}", response.status(), response.text());
                }
            }
        }
        Transport::Nats => {
            let nats = async_nats::connect(&options.nats_url).await.map_err(io::Error::other)?;
            let context = async_nats::jetstream::new(nats);
            let subject = format!("{}.slot-changes.{}", options.nats_prefix, options.external_id);
            let mut acks = Vec::with_capacity(bodies.len());
            for body in bodies {
                acks.push(context.publish(subject.clone(), body.into()).await.map_err(io::Error::other)?);
            }
            for ack in acks {
                if ack.await.is_err() {
                    errors += 1;
                }
            }
        }
    }
    let published_secs = started.elapsed().as_secs_f64();
    // Applied: the provider's version shows every change.
    let deadline = Instant::now() + Duration::from_secs(600);
    let mut version = version_of(&mut client, &options.provider_id).await?;
    while version < expected && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
        version = version_of(&mut client, &options.provider_id).await?;
    }
    let secs = started.elapsed().as_secs_f64();
    let applied = version - start_version;
    let name = match options.via {
        Transport::Http => "http",
        Transport::Nats => "nats",
    };
    println!("ingest_{name}_batches={}", options.batches);
    println!("ingest_{name}_changes_per_batch={}", options.changes);
    println!("ingest_{name}_events_applied={applied}");
    println!("ingest_{name}_publish_secs={published_secs:.2}");
    println!("ingest_{name}_secs={secs:.2}");
    println!("ingest_{name}_changes_per_sec={:.0}", applied as f64 / secs.max(1e-9));
    println!("ingest_{name}_batches_per_sec={:.1}", options.batches as f64 / secs.max(1e-9));
    println!("ingest_{name}_errors={errors}");
    Ok(errors == 0 && version == expected)
}
