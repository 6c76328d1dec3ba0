//! Who made a change to a slot: what every transition of the
//! `ProviderAvailability` aggregate is told, and what its event says
//! (`changedBy` on the stream and in webhooks).

use serde::Serialize;

/// Who made a change: the customer (with a booking's or a hold's token, or
/// none), the provider (with its key), the operator (admin API, import),
/// the system itself (hold expiry, the rolling slot window, seeding), or the
/// marketplace's own booking system publishing its slots' changes (`upstream`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Actor {
    Customer,
    Provider,
    Admin,
    System,
    Upstream,
}

impl Actor {
    const ALL: [Actor; 5] = [Actor::Customer, Actor::Provider, Actor::Admin, Actor::System, Actor::Upstream];

    pub fn as_str(self) -> &'static str {
        match self {
            Actor::Customer => "customer",
            Actor::Provider => "provider",
            Actor::Admin => "admin",
            Actor::System => "system",
            Actor::Upstream => "upstream",
        }
    }

    /// The actor a stored string names; `None` for anything else (slots and
    /// events written before actors were recorded said "planner", "expiry"…).
    pub fn parse(s: &str) -> Option<Actor> {
        Actor::ALL.into_iter().find(|a| a.as_str() == s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actors_round_trip_and_serialise_lower_case() {
        for actor in Actor::ALL {
            assert_eq!(Actor::parse(actor.as_str()), Some(actor));
            assert_eq!(serde_json::to_string(&actor).unwrap(), format!("\"{}\"", actor.as_str()));
        }
        assert_eq!(Actor::parse("planner"), None);
    }
}
