"""A batch of 5,000 new slots onto dates that already hold 0, 5,000, 10,000
and 15,000 of the provider's slots (issue 23, red team finding 5): prints
each batch's time. Usage: python3 bench/upstream_batch.py BASE_URL ADMIN_TOKEN
against a server started with --admin-token-file and --request-timeout-secs 300.
"""
import json, sys, time, urllib.request, datetime
base, token = sys.argv[1], sys.argv[2]
def call(method, path, body):
    req = urllib.request.Request(base + path, data=json.dumps(body).encode(), method=method,
        headers={"Authorization": "Bearer " + token, "content-type": "application/json"})
    with urllib.request.urlopen(req, timeout=300) as r:
        return json.loads(r.read())
call("PUT", "/api/v1/admin/providers/perf", {"name": "P", "timezone": "Etc/UTC", "currency": "PLN", "slotSource": "external"})
day0 = datetime.date.today() + datetime.timedelta(days=2)
def slots(first, n):
    # Batch k's slots interleave with the earlier batches' on the same 15 dates.
    k = first // 5000
    out = []
    for i in range(n):
        d = day0 + datetime.timedelta(days=i // 350)
        t = datetime.datetime.combine(d, datetime.time(0, 0), tzinfo=datetime.timezone.utc) + datetime.timedelta(minutes=4 * (i % 350) + k)
        out.append({"externalSlotId": f"p{first + i}", "startsAt": t.strftime("%Y-%m-%dT%H:%M:%SZ"),
                    "endsAt": (t + datetime.timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%SZ"), "status": "available"})
    return out
for k in range(4):
    t = time.time()
    r = call("POST", "/api/v1/admin/providers/perf/slot-changes", {"sequence": k + 1, "changes": slots(5000 * k, 5000)})
    print(f"batch {k}: {r['events']} events in {time.time() - t:.2f} s (calendar had {5000 * k} slots)")
