#!/usr/bin/env python3
"""The catalogue of "a marketplace day" (bash bench/run.sh --day), for `slotstream import`.

    python3 bench/day_catalogue.py PROVIDERS HOT > day.json

PROVIDERS providers `day-00000`... named in Zipf rank order ("Day provider 00000" is the
most viewed: `loadgen day` sorts by name), in four timezones. Each has one service as long as
one of its slots, so a hold or a booking changes exactly one slot (one event). The HOT first
ones are big: 15-minute slots 08:00-20:00 every day (48 a day); the rest open on Wednesdays
09:00-12:00 in 60-minute slots (3 a week). The planner fills each one's 60-day window."""
import json
import sys

providers = int(sys.argv[1]) if len(sys.argv) > 1 else 10000
hot = int(sys.argv[2]) if len(sys.argv) > 2 else 100
zones = [("Europe/Warsaw", "PLN"), ("Europe/London", "GBP"), ("America/New_York", "USD"), ("Asia/Tokyo", "JPY")]
days = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
out = []
for n in range(providers):
    zone, currency = zones[n % 4]
    if n < hot:
        minutes, weekly = 15, {d: [["08:00", "20:00"]] for d in days}
    else:
        minutes, weekly = 60, {"wednesday": [["09:00", "12:00"]]}
    out.append({
        "externalId": f"day-{n:05d}",
        "name": f"Day provider {n:05d}",
        "timezone": zone,
        "address": f"{n} Day Street",
        "currency": currency,
        "services": [{"externalId": "visit", "name": "Visit", "durationMinutes": minutes,
                      "priceMinor": 5000, "currency": currency}],
        "schedule": {"slotMinutes": minutes, "weekly": weekly, "exceptions": []},
    })
json.dump({"providers": out}, sys.stdout)
