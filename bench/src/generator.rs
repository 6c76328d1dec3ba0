//! The event generator of `fanout`: makes `slot-changed` events through the
//! real API and times each request. Either as the provider (block, then
//! unblock, with its key), as a customer (take a hold on a free slot, then
//! release it with the hold's token), or as the marketplace's booking system
//! (publish a slot taken, then free again, through the admin API's
//! slot changes), alternating over a few slots.

use std::io;
use std::time::Instant;

use crate::http::{self, Client};
use crate::stats::now_micros;
use crate::subscribers::{Provider, Slot, available_slots, parse_any_offset};

/// How `fanout` makes its events.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Via {
    /// The provider blocks a slot, then unblocks it (provider key).
    Block,
    /// A customer holds a slot, then releases the hold (no key needed).
    Holds,
    /// The booking system publishes a slot taken, then available again
    /// (`--provider ID:EXTERNAL_ID` of a `slotSource: external` provider,
    /// the operator token in `SLOTSTREAM_ADMIN_TOKEN`); its slots are
    /// published first, before the subscribers connect.
    Upstream,
}

/// What one generator request was.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Block,
    Unblock,
    Hold,
    Release,
    /// Published taken by the booking system.
    Take,
    /// Published available again.
    Free,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Block => "block",
            Kind::Unblock => "unblock",
            Kind::Hold => "hold",
            Kind::Release => "release",
            Kind::Take => "take",
            Kind::Free => "free",
        }
    }

    /// Whether the version a step of this kind made is timed from its
    /// request's sending to each receipt (`hold_sent` in `fanout`).
    pub fn timed(self) -> bool {
        matches!(self, Kind::Hold | Kind::Take | Kind::Free)
    }
}

/// One generator request: what, whether it made its event, when it was
/// sent (wall clock, as `changedAt`) and how long its answer took.
#[derive(Clone, Copy, Debug)]
pub struct Step {
    pub kind: Kind,
    pub ok: bool,
    pub sent_micros: i64,
    pub ms: f64,
}

/// One provider the events are made on.
pub struct Target {
    pub provider: Provider,
    via: Via,
    slots: Vec<Slot>,
    /// `Via::Holds`: the provider's service whose duration is one slot, so
    /// that each hold changes exactly one slot (one event).
    service_id: String,
    /// The hold the last step took, released by the next: (id, token).
    hold: Option<(String, String)>,
    /// `Via::Upstream`: the operator token, and the last sequence published.
    upstream: Option<(String, i64)>,
    steps: usize,
    /// The provider's version just before the first event.
    pub start_version: i64,
}

impl Target {
    /// Pick up to `count` free slots starting at least two hours from now
    /// (and, for holds, a service that fits one slot). A read: no event.
    pub async fn prepare(client: &mut Client, provider: &Provider, via: Via, count: usize) -> io::Result<Target> {
        if via == Via::Upstream {
            return Target::publish_slots(client, provider, count).await;
        }
        let mut slots = available_slots(client, &provider.id, 14, 120).await?;
        let mut service_id = String::new();
        match via {
            Via::Block => {
                if provider.key.is_none() {
                    return Err(http::bad("fanout --via block needs --provider ID:KEY (the key makes the events)"));
                }
            }
            Via::Holds => {
                let (id, minutes) = one_slot_service(client, &provider.id, &slots).await?;
                service_id = id;
                slots.retain(|slot| slot_minutes(slot) == Some(minutes));
            }
            Via::Upstream => unreachable!("prepared above"),
        }
        slots.truncate(count);
        if slots.is_empty() {
            return Err(http::bad(&format!("provider {} has no free future slot", provider.id)));
        }
        Ok(Target {
            provider: provider.clone(),
            via,
            slots,
            service_id,
            hold: None,
            upstream: None,
            steps: 0,
            start_version: 0,
        })
    }

    /// `Via::Upstream`: publish `count` available slots (`bench-0`…, 30
    /// minutes each from 10:00 UTC the day after tomorrow) as the booking
    /// system, the sequence starting at the clock's microseconds so a rerun
    /// is never stale.
    async fn publish_slots(client: &mut Client, provider: &Provider, count: usize) -> io::Result<Target> {
        let token = std::env::var("SLOTSTREAM_ADMIN_TOKEN")
            .map_err(|_| http::bad("fanout --via upstream needs the operator token in SLOTSTREAM_ADMIN_TOKEN"))?;
        if provider.key.is_none() {
            return Err(http::bad("fanout --via upstream needs --provider ID:EXTERNAL_ID"));
        }
        let day = (chrono::Utc::now() + chrono::TimeDelta::days(2)).date_naive();
        let first = day.and_hms_opt(10, 0, 0).expect("10:00").and_utc();
        let slots: Vec<Slot> = (0..count.min(16))
            .map(|i| {
                let starts = first + chrono::TimeDelta::minutes(30 * i as i64);
                Slot {
                    availability_id: format!("bench-{i}"),
                    starts_at: starts.to_rfc3339(),
                    ends_at: (starts + chrono::TimeDelta::minutes(30)).to_rfc3339(),
                }
            })
            .collect();
        let mut target = Target {
            provider: provider.clone(),
            via: Via::Upstream,
            slots,
            service_id: String::new(),
            hold: None,
            upstream: Some((token, now_micros())),
            steps: 0,
            start_version: 0,
        };
        let changes: Vec<_> = target.slots.iter().map(|slot| upstream_change(slot, "available")).collect();
        let response = target.publish(client, changes).await?;
        if response.status() != 200 {
            return Err(http::bad(&format!("slot-changes answered {}: {}", response.status(), response.text())));
        }
        Ok(target)
    }

    /// POST one batch of slot changes with the next sequence.
    async fn publish(&mut self, client: &mut Client, changes: Vec<serde_json::Value>) -> io::Result<http::Response> {
        let (token, sequence) = self.upstream.as_mut().ok_or_else(|| http::bad("not an upstream target"))?;
        *sequence += 1;
        let body = serde_json::json!({ "sequence": *sequence, "changes": changes }).to_string();
        let auth = format!("Bearer {token}");
        let path = format!("/api/v1/admin/providers/{}/slot-changes", self.provider.key.as_deref().unwrap_or(""));
        client.post_json(&path, &[("Authorization", &auth)], body.as_bytes()).await
    }

    /// Make the next event: block / hold on even steps, unblock / release
    /// on odd ones, moving to the next slot after each pair.
    pub async fn step(&mut self, client: &mut Client) -> Step {
        let j = self.steps;
        self.steps += 1;
        let slot = &self.slots[(j / 2) % self.slots.len()];
        let first = j.is_multiple_of(2);
        let kind = match (self.via, first) {
            (Via::Block, true) => Kind::Block,
            (Via::Block, false) => Kind::Unblock,
            (Via::Holds, true) => Kind::Hold,
            (Via::Holds, false) => Kind::Release,
            (Via::Upstream, true) => Kind::Take,
            (Via::Upstream, false) => Kind::Free,
        };
        let sent_micros = now_micros();
        let sent = Instant::now();
        let outcome = match kind {
            Kind::Block | Kind::Unblock => {
                let path =
                    format!("/api/v1/providers/{}/slots/{}/{}", self.provider.id, slot.availability_id, kind.name());
                let auth = format!("Bearer {}", self.provider.key.as_deref().unwrap_or(""));
                client.post_json(&path, &[("Authorization", &auth)], b"").await.map(|r| (r, 200))
            }
            Kind::Hold => {
                let body = serde_json::json!({
                    "providerId": self.provider.id,
                    "serviceId": self.service_id,
                    "startTime": slot.starts_at,
                })
                .to_string();
                client.post_json("/api/v1/holds", &[], body.as_bytes()).await.map(|r| (r, 201))
            }
            Kind::Take | Kind::Free => {
                let change = upstream_change(slot, if kind == Kind::Take { "taken" } else { "available" });
                self.publish(client, vec![change]).await.map(|r| (r, 200))
            }
            Kind::Release => match self.hold.take() {
                Some((id, token)) => {
                    let auth = format!("Bearer {token}");
                    client
                        .request("DELETE", &format!("/api/v1/holds/{id}"), &[("Authorization", &auth)], None)
                        .await
                        .map(|r| (r, 204))
                }
                None => Err(http::bad("no hold to release (taking it failed)")),
            },
        };
        let ms = sent.elapsed().as_secs_f64() * 1000.0;
        let ok = match outcome {
            Ok((response, expected)) if response.status() == expected => {
                if kind == Kind::Hold {
                    self.hold = hold_of(&response);
                    if self.hold.is_none() {
                        eprintln!("loadgen: hold answered without id/token: {}", response.text());
                    }
                }
                true
            }
            Ok((response, _)) => {
                eprintln!("loadgen: {} answered {}: {}", kind.name(), response.status(), response.text());
                false
            }
            Err(error) => {
                eprintln!("loadgen: {} failed: {error}", kind.name());
                false
            }
        };
        Step { kind, ok, sent_micros, ms }
    }
}

/// A slot as the booking system publishes it (its id is `availability_id`).
fn upstream_change(slot: &Slot, status: &str) -> serde_json::Value {
    serde_json::json!({
        "externalSlotId": slot.availability_id,
        "startsAt": slot.starts_at,
        "endsAt": slot.ends_at,
        "status": status,
    })
}

/// The (id, token) of a `201` hold answer.
fn hold_of(response: &http::Response) -> Option<(String, String)> {
    let json = response.json().ok()?;
    Some((json["id"].as_str()?.to_owned(), json["token"].as_str()?.to_owned()))
}

/// A slot's length in minutes.
fn slot_minutes(slot: &Slot) -> Option<i64> {
    Some((parse_any_offset(&slot.ends_at)? - parse_any_offset(&slot.starts_at)?) / 60_000_000)
}

/// The provider's first service lasting exactly as long as one of `slots`:
/// its id and duration in minutes.
async fn one_slot_service(client: &mut Client, provider_id: &str, slots: &[Slot]) -> io::Result<(String, i64)> {
    let response = client.get("/api/v1/providers", &[]).await?;
    if response.status() != 200 {
        return Err(http::bad(&format!("providers answered {}", response.status())));
    }
    let json = response.json()?;
    let provider = json
        .as_array()
        .into_iter()
        .flatten()
        .find(|p| p["id"] == provider_id)
        .ok_or_else(|| http::bad(&format!("provider {provider_id} is not listed")))?;
    let services = provider["services"].as_array().cloned().unwrap_or_default();
    slots
        .iter()
        .filter_map(slot_minutes)
        .find_map(|minutes| {
            services.iter().find(|s| s["durationMinutes"].as_i64() == Some(minutes)).and_then(|s| {
                let id = s["id"].as_str()?;
                Some((id.to_owned(), minutes))
            })
        })
        .ok_or_else(|| http::bad(&format!("provider {provider_id} has no service as long as one slot")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slot(starts_at: &str, ends_at: &str) -> Slot {
        Slot { availability_id: String::new(), starts_at: starts_at.to_owned(), ends_at: ends_at.to_owned() }
    }

    #[test]
    fn slot_length_in_minutes_across_offsets() {
        assert_eq!(slot_minutes(&slot("2026-11-28T09:00:00+01:00", "2026-11-28T09:30:00+01:00")), Some(30));
        // A slot across a DST change: the offsets differ, the length is real time.
        assert_eq!(slot_minutes(&slot("2026-03-29T01:30:00+01:00", "2026-03-29T03:30:00+02:00")), Some(60));
        assert_eq!(slot_minutes(&slot("2026-11-28T09:00:00Z", "")), None);
    }
}
