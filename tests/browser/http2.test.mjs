// HTTP/2 over TLS in real headless Chromium: the server started with a
// certificate made for this run (openssl, self-signed, so Chromium runs with
// --ignore-certificate-errors), one page opens three providers' streams with
// EventSource, and all of them ride one h2 connection (ALPN `h2`): the page's
// requests report `nextHopProtocol` h2 and the server counts one open
// connection. Each stream then gets its own provider's booking.
//
// Starts the server binary itself (SLOTSTREAM_BIN, default
// ../../target/debug/slotstream) on a fresh SQLite file and a free port.
// Run with `bash tests/browser/run.sh` from the repository root.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = path.dirname(fileURLToPath(import.meta.url));
const BIN = path.resolve(here, process.env.SLOTSTREAM_BIN ?? '../../target/debug/slotstream');
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'slotstream-h2-browser-'));

/** A self-signed certificate for 127.0.0.1, valid for a day. */
function makeCertificate() {
  const cert = path.join(tmp, 'cert.pem');
  const key = path.join(tmp, 'key.pem');
  execFileSync('openssl', [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
    '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=127.0.0.1',
    '-addext', 'subjectAltName=IP:127.0.0.1',
  ], { stdio: 'ignore' });
  return { cert, key };
}

/** The server on port 0 with TLS; resolves to its https base URL once it prints its banner. */
async function startServer() {
  const { cert, key } = makeCertificate();
  const proc = spawn(BIN, [
    '--database-url', `sqlite://${path.join(tmp, 'h2.db')}?mode=rwc`,
    '--bind', '127.0.0.1:0',
    '--tls-cert', cert, '--tls-key', key,
  ], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, RUST_LOG: 'warn' } });
  let log = '';
  proc.stderr.on('data', (d) => { log += d; });
  const base = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no banner in 30 s\n${log}`)), 30000);
    proc.stdout.on('data', (d) => {
      log += d;
      const found = /listening on (https:\/\/\S+)/.exec(log);
      if (found) {
        clearTimeout(timer);
        resolve(found[1]);
      }
    });
    proc.on('exit', (code) => reject(new Error(`server exited with ${code}\n${log}`)));
  });
  return { proc, base };
}

let server;
let browser;

after(async () => {
  await browser?.close();
  if (server && server.proc.exitCode === null) {
    const exited = once(server.proc, 'exit');
    server.proc.kill('SIGTERM');
    await exited;
  }
  fs.rmSync(tmp, { recursive: true, force: true });
});

test('three providers\' streams share one HTTP/2 connection over TLS', async () => {
  server = await startServer();
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--ignore-certificate-errors'] });
  const page = await browser.newPage();
  const landed = await page.goto(`${server.base}/healthz`);
  assert.equal(landed.status(), 200);

  const seen = await page.evaluate(async () => {
    const json = async (url, init) => (await fetch(url, init)).json();
    const providers = (await json('/api/v1/providers')).slice(0, 3);
    const sources = providers.map((p) => new EventSource(`/api/v1/providers/${p.id}/availability/stream`));
    await Promise.all(sources.map((source) => new Promise((resolve, reject) => {
      source.onopen = resolve;
      source.onerror = () => reject(new Error('a stream failed to open'));
    })));
    const firstEvents = sources.map((source) => new Promise((resolve) => {
      source.addEventListener('slot-changed', (e) => resolve(JSON.parse(e.data).providerId), { once: true });
    }));
    const metrics = await (await fetch('/metrics')).text();
    const connections = Number(/^slotstream_open_connections (\S+)$/m.exec(metrics)?.[1]);
    for (const provider of providers) {
      const service = [...provider.services].sort((a, b) => a.durationMinutes - b.durationMinutes)[0];
      const doc = await json(`/api/v1/providers/${provider.id}/availability?days=7`);
      const slot = doc.days
        .filter((day) => day.date > doc.startDate)
        .flatMap((day) => day.slots)
        .find((s) => s.status === 'available');
      const booked = await fetch('/api/v1/bookings', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          providerId: provider.id,
          serviceId: service.id,
          startTime: slot.startsAt,
          customer: { name: 'Ada Lovelace', email: 'ada@example.com' },
        }),
      });
      if (booked.status !== 201) throw new Error(`booking answered ${booked.status}: ${await booked.text()}`);
    }
    const delivered = await Promise.race([
      Promise.all(firstEvents),
      new Promise((_, reject) => setTimeout(() => reject(new Error('events did not arrive in 30 s')), 30000)),
    ]);
    sources.forEach((source) => source.close());
    const protocols = [...new Set(performance.getEntriesByType('resource').map((e) => e.nextHopProtocol))];
    const navigation = performance.getEntriesByType('navigation')[0].nextHopProtocol;
    return { ids: providers.map((p) => p.id), delivered, connections, protocols, navigation };
  });

  assert.equal(seen.ids.length, 3);
  assert.deepEqual(seen.delivered, seen.ids, 'each stream got its own provider\'s event');
  assert.equal(seen.navigation, 'h2');
  assert.deepEqual(seen.protocols, ['h2']);
  assert.equal(seen.connections, 1, 'three streams, the metrics scrape and the page on one connection');
});
