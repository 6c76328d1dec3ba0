#!/usr/bin/env python3
"""drive.py (used by ir-per-delivery.sh): hold N SSE subscribers of one
provider on a server running under callgrind, make two warm-up events, switch
instrumentation on, make E events (block/unblock, one at a time), wait until
every subscriber has every event, dump and switch instrumentation off.
Prints name=value lines (`chunks`: reads that brought bytes, over all
subscribers)."""
import argparse, asyncio, datetime, json, subprocess, sys, time, urllib.request

ap = argparse.ArgumentParser()
ap.add_argument("--port", type=int, required=True)
ap.add_argument("--provider", required=True)
ap.add_argument("--key", default="")
ap.add_argument("--subs", type=int, default=500)
ap.add_argument("--events", type=int, default=40)
ap.add_argument("--pid", type=int, required=True)
ap.add_argument("--timeout", type=float, default=600)
a = ap.parse_args()
base = f"http://127.0.0.1:{a.port}"


def log(*x):
    print("cgdrive:", *x, file=sys.stderr, flush=True)


def slots():
    with urllib.request.urlopen(f"{base}/api/v1/providers/{a.provider}/availability?days=14", timeout=120) as r:
        doc = json.load(r)
    soon = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(hours=2)
    out = []
    for day in doc["days"]:
        for s in day["slots"]:
            starts = datetime.datetime.fromisoformat(s["startsAt"].replace("Z", "+00:00"))
            if s["status"] == "available" and starts >= soon:
                out.append(s["availabilityId"])
    return out[:4]


step = 0


def event(ids):
    global step
    slot = ids[(step // 2) % len(ids)]
    action = "block" if step % 2 == 0 else "unblock"
    step += 1
    req = urllib.request.Request(f"{base}/api/v1/providers/{a.provider}/slots/{slot}/{action}", data=b"", method="POST")
    req.add_header("Authorization", f"Bearer {a.key}")
    req.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(req, timeout=120) as r:
        r.read()


MARKER = b"event: slot-changed"


class Sub:
    def __init__(self):
        self.events = 0
        self.chunks = 0
        self.tail = b""


async def subscriber(sub, ready):
    r, w = await asyncio.open_connection("127.0.0.1", a.port)
    w.write(f"GET /api/v1/providers/{a.provider}/availability/stream HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n".encode())
    await w.drain()
    head = await r.readuntil(b"\r\n\r\n")
    assert b" 200 " in head.split(b"\r\n")[0], head
    if not ready.done():
        ready.set_result(True)
    while True:
        data = await r.read(1 << 16)
        if not data:
            return
        sub.chunks += 1
        # A read may end inside a frame: the marker is counted over the
        # last 18 bytes before it too (shorter than the marker, so never twice).
        joined = sub.tail + data
        sub.events += joined.count(MARKER)
        sub.tail = joined[-(len(MARKER) - 1):]


async def main():
    ids = slots()
    log("slots", ids)
    subs = [Sub() for _ in range(a.subs)]
    tasks = []
    for i, s in enumerate(subs):
        f = asyncio.get_running_loop().create_future()
        tasks.append(asyncio.create_task(subscriber(s, f)))
        await asyncio.wait_for(f, 120)
    log("connected", len(subs))

    async def wait_all(n):
        deadline = time.time() + a.timeout
        while any(s.events < n for s in subs):
            if time.time() > deadline:
                raise SystemExit(f"timeout: {sum(s.events for s in subs)} of {n * len(subs)}")
            await asyncio.sleep(0.05)

    # Warm-up: two events.
    for _ in range(2):
        await asyncio.to_thread(event, ids)
    await wait_all(2)
    chunks0 = sum(s.chunks for s in subs)
    subprocess.run(["callgrind_control", "-i", "on", str(a.pid)], check=True, stdout=subprocess.DEVNULL)
    t = time.time()
    for _ in range(a.events):
        await asyncio.to_thread(event, ids)
    await wait_all(2 + a.events)
    secs = time.time() - t
    subprocess.run(["callgrind_control", "-d", str(a.pid)], check=True, stdout=subprocess.DEVNULL)
    subprocess.run(["callgrind_control", "-i", "off", str(a.pid)], check=True, stdout=subprocess.DEVNULL)
    print(f"subscribers={len(subs)}")
    print(f"events={a.events}")
    print(f"deliveries={a.events * len(subs)}")
    print(f"chunks={sum(s.chunks for s in subs) - chunks0}")
    print(f"secs={secs:.1f}")
    for t_ in tasks:
        t_.cancel()


asyncio.run(main())
