#!/usr/bin/env python3
"""Silent connections against the release build (issue 21 item 1).

Opens N TCP connections that never send a byte, first all from one address
(127.0.0.1), then spread over many addresses (127.0.1.x, each under the
per-client cap), and while they are held times fresh requests from another
address (127.0.0.2, a new connection each: `GET /healthz`). Then it waits
for the server to close the silent ones (`--header-timeout-secs`) and says
how long that took. Prints one `name=value` line per figure.

    cargo build --release && python3 bench/silent_connections.py
    BIN=target/release/slotstream SILENT=19000 python3 bench/silent_connections.py

Needs: Linux (all of 127/8 is loopback), the descriptor limit (`ulimit -n`)
above SILENT for this script; the server raises its own to the hard limit.
"""

import http.client
import os
import re
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.environ.get("BIN", os.path.join(ROOT, "target/release/slotstream"))
SILENT = int(os.environ.get("SILENT", "19000"))
PER_CLIENT = 64  # the default --max-connections-per-client
HEADER_TIMEOUT = 10  # the default --header-timeout-secs
PROBES = 50


def figure(name, value):
    print(f"{name}={value}", flush=True)


def start_server(workdir):
    db = f"sqlite://{workdir}/bench.db?mode=rwc"
    server = subprocess.Popen(
        [BIN, "--database-url", db, "--bind", "127.0.0.1:0",
         # Only the connection defaults are under test: quotas out of the way.
         "--read-burst", "100000000", "--read-per-second", "100000000"],
        stdout=subprocess.PIPE, stderr=open(f"{workdir}/server.log", "w"), text=True,
        env={**os.environ, "RUST_LOG": "warn"},
    )
    for line in server.stdout:
        match = re.search(r"listening on (?:http://)?(\S+)", line)
        if match:
            host, port = match.group(1).rsplit(":", 1)
            return server, host, int(port)
    sys.exit("the server printed no banner")


def request_from(source, host, port, path="/healthz"):
    """Seconds a request over a new connection from `source` takes; None if refused."""
    started = time.perf_counter()
    try:
        connection = http.client.HTTPConnection(host, port, timeout=30, source_address=(source, 0))
        connection.request("GET", path)
        response = connection.getresponse()
        body = response.read()
        connection.close()
        if response.status != 200:
            return None
        return time.perf_counter() - started, body
    except OSError:
        return None


def probe(host, port):
    """Latencies (ms) of PROBES requests from 127.0.0.2; failures count as None."""
    results = [request_from("127.0.0.2", host, port) for _ in range(PROBES)]
    served = [r[0] * 1000 for r in results if r]
    return served, PROBES - len(served)


def metric(host, port, name):
    result = request_from("127.0.0.2", host, port, "/metrics")
    if not result:
        return None
    for line in result[1].decode().splitlines():
        if line.startswith(name + " "):
            return float(line.split()[-1])
    return 0.0


def open_silent(host, port, sources):
    """One silent connection per entry of `sources` (a source address each)."""
    sockets = []
    started = time.perf_counter()
    for source in sources:
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.bind((source, 0))
        s.settimeout(5)
        try:
            s.connect((host, port))
            sockets.append(s)
        except OSError:
            s.close()
    return sockets, time.perf_counter() - started


def wait_closed(sockets, within):
    """Seconds until the server has closed every socket of `sockets`."""
    started = time.perf_counter()
    for s in sockets:
        s.settimeout(max(0.1, within - (time.perf_counter() - started)))
        try:
            while s.recv(4096):
                pass
        except OSError:
            pass
    return time.perf_counter() - started


def report(label, sockets, opened_secs, host, port):
    served, failed = probe(host, port)
    figure(f"{label}_held", len(sockets))
    figure(f"{label}_open_secs", f"{opened_secs:.2f}")
    figure(f"{label}_other_address_failed", failed)
    if served:
        figure(f"{label}_other_address_p50_ms", f"{statistics.median(served):.2f}")
        figure(f"{label}_other_address_max_ms", f"{max(served):.2f}")
    figure(f"{label}_open_connections_gauge", metric(host, port, "slotstream_open_connections"))
    closed = wait_closed(sockets, HEADER_TIMEOUT * 3)
    figure(f"{label}_all_closed_secs", f"{closed:.2f}")
    for s in sockets:
        s.close()


def main():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    if hard < SILENT + 100:
        sys.exit(f"ulimit -n is {hard}: below SILENT={SILENT} + 100")
    with tempfile.TemporaryDirectory() as workdir:
        server, host, port = start_server(workdir)
        try:
            figure("silent_target", SILENT)
            served, failed = probe(host, port)
            figure("idle_other_address_p50_ms", f"{statistics.median(served):.2f}")
            # All from one address: the per-client cap keeps 64, closes the rest at once.
            sockets, secs = open_silent(host, port, ["127.0.0.1"] * SILENT)
            report("one_address", sockets, secs, host, port)
            figure("refused_per_client", metric(host, port, 'slotstream_connections_refused_total{reason="per_client"}'))
            # Spread over many addresses, each within its cap: all are admitted,
            # held by the server until the header timeout closes them.
            sources = [f"127.0.{1 + i // (PER_CLIENT * 250)}.{1 + (i // PER_CLIENT) % 250}" for i in range(SILENT)]
            sockets, secs = open_silent(host, port, sources)
            report("many_addresses", sockets, secs, host, port)
            figure("greeting_timeouts", metric(host, port, 'slotstream_connections_timed_out_total{phase="greeting"}'))
        finally:
            server.terminate()
            server.wait(timeout=30)


if __name__ == "__main__":
    main()
