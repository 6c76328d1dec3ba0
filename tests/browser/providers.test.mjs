// Browser test of the results page (/providers.html) in real headless
// Chromium: every provider's next free times, live over one connection.
//
// Starts the server binary itself (SLOTSTREAM_BIN, default
// ../../target/debug/slotstream) on a fresh SQLite file, seeded with the demo
// providers until there are at least eight. Run with `bash tests/browser/run.sh`.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = path.dirname(fileURLToPath(import.meta.url));
const BIN = path.resolve(here, process.env.SLOTSTREAM_BIN ?? '../../target/debug/slotstream');
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'slotstream-providers-'));
const DATABASE = `sqlite://${path.join(tmp, 'results.db')}?mode=rwc`;
const ADMIN_TOKEN = `admin_${crypto.randomBytes(24).toString('hex')}`;
const ADMIN_TOKEN_FILE = path.join(tmp, 'admin-token');
// Generous: CI is a loaded two-core machine.
const WAIT_MS = 30000;

let server;
let base;
let browser;

/** Runs the demo seed until the database holds at least `count` providers. */
function seedAtLeast(count) {
  let seeded = 0;
  while (seeded < count) {
    const out = execFileSync(BIN, ['--database-url', DATABASE, 'seed'], { env: { ...process.env, RUST_LOG: 'warn' } });
    seeded += out.toString().split('\n').filter((line) => line.startsWith('demo provider')).length;
  }
}

async function until(what, check) {
  const deadline = Date.now() + WAIT_MS;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

async function metric(name) {
  const text = await (await fetch(`${base}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  return line ? Number(line.split(' ')[1]) : undefined;
}

before(async () => {
  seedAtLeast(8);
  fs.writeFileSync(ADMIN_TOKEN_FILE, ADMIN_TOKEN);
  // Port 0: the server prints the address it got.
  server = spawn(BIN, ['--database-url', DATABASE, '--bind', '127.0.0.1:0', '--no-seed', '--heartbeat-secs', '5',
    '--admin-token-file', ADMIN_TOKEN_FILE], {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, RUST_LOG: 'warn' },
  });
  let banner = '';
  base = await until('the server banner', async () => {
    const chunk = server.stdout.read();
    if (chunk) banner += chunk;
    const match = banner.match(/listening on (\S+)/);
    return match ? match[1] : null;
  });
  server.stdout.resume();
  await until('the server to be ready', async () => (await fetch(`${base}/readyz`).catch(() => null))?.ok);
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
});

after(async () => {
  await browser?.close();
  if (server && server.exitCode === null) {
    const exited = once(server, 'exit');
    server.kill('SIGTERM');
    await exited;
  }
  fs.rmSync(tmp, { recursive: true, force: true });
});

test('a booking for provider 7 updates its row without a reload, over one stream connection', async () => {
  const page = await browser.newPage();
  const streams = [];
  page.on('request', (request) => {
    if (request.url().includes('/api/v1/availability/stream')) streams.push(request.url());
  });
  await page.goto(`${base}/providers.html`);
  await page.evaluate(() => { window.notReloaded = true; });
  const providers = await (await fetch(`${base}/api/v1/providers`)).json();
  assert.ok(providers.length >= 8, `${providers.length} providers`);
  // Every provider gets its row with its next free times.
  await until('every row filled', () =>
    page.evaluate((n) => document.querySelectorAll('#results tr[data-version]').length === n, Math.min(providers.length, 50)));
  await until('the stream to be live', () => page.evaluate(() => document.getElementById('connection-state').dataset.state === 'live'));

  const seventh = await page.evaluate(() => {
    const row = document.querySelectorAll('#results tr')[6];
    return { providerId: row.dataset.providerId, version: row.dataset.version, first: row.querySelector('.times li')?.dataset.startsAt };
  });
  assert.ok(seventh.first, 'provider 7 shows a free time');
  const provider = providers.find((p) => p.id === seventh.providerId);
  const service = provider.services.find((s) => s.durationMinutes === 30) ?? provider.services[0];
  const booked = await fetch(`${base}/api/v1/bookings`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      providerId: provider.id,
      serviceId: service.id,
      startTime: seventh.first,
      customer: { name: 'Grace Hopper', email: 'grace@example.com' },
    }),
  });
  assert.equal(booked.status, 201, await booked.text());

  // The row changes in place: a newer version, and the booked time is gone.
  const after = await until('provider 7 row updated', () => page.evaluate(({ providerId: id, version }) => {
    const row = document.querySelector(`#results tr[data-provider-id="${id}"]`);
    if (!row || row.dataset.version === version) return null;
    return { times: [...row.querySelectorAll('.times li')].map((li) => li.dataset.startsAt) };
  }, seventh));
  assert.ok(!after.times.includes(seventh.first), `booked time still shown: ${after.times}`);
  assert.equal(await page.evaluate(() => window.notReloaded), true, 'no reload');
  // One connection for every provider: the page opened one stream, and the
  // server counts one open stream.
  assert.equal(await page.evaluate(() => window.slotstreamResults.streamsOpened), 1);
  assert.equal(streams.length, 1, streams.join('\n'));
  assert.equal(await metric('slotstream_active_streams'), 1);
  // Each provider links to its calendar.
  const href = await page.evaluate(() => document.querySelectorAll('#results tr')[6].querySelector('a').getAttribute('href'));
  assert.equal(href, `/?provider=${encodeURIComponent(provider.id)}`);
  await page.close();
});

/** Books the first free time a row shows, through the API. */
async function bookFirstShown(page, providers, index) {
  const row = await page.evaluate((i) => {
    const tr = document.querySelectorAll('#results tr')[i];
    return { providerId: tr.dataset.providerId, version: tr.dataset.version, first: tr.querySelector('.times li')?.dataset.startsAt };
  }, index);
  const provider = providers.find((p) => p.id === row.providerId);
  const service = provider.services.find((s) => s.durationMinutes === 30) ?? provider.services[0];
  const booked = await fetch(`${base}/api/v1/bookings`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ providerId: provider.id, serviceId: service.id, startTime: row.first, customer: { name: 'Ada Lovelace', email: 'ada@example.com' } }),
  });
  assert.equal(booked.status, 201, await booked.text());
  return row;
}

test('a provider deactivated while the page is open reads "Not taking bookings", and the others stay live on the same stream', async () => {
  const admin = (method, pathname, body) => fetch(`${base}/api/v1/admin/providers/${pathname}`, {
    method,
    headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
    body: body && JSON.stringify(body),
  });
  const created = await admin('PUT', 'browser-leaving', { name: 'Aaron Leaving', timezone: 'Europe/Warsaw', currency: 'PLN' });
  const createdText = await created.text();
  assert.equal(created.status, 201, createdText);
  const leaving = JSON.parse(createdText).id;
  const page = await browser.newPage();
  await page.goto(`${base}/providers.html`);
  const providers = await (await fetch(`${base}/api/v1/providers`)).json();
  await until('every row filled', () =>
    page.evaluate((n) => document.querySelectorAll('#results tr[data-version]').length === n, Math.min(providers.length, 50)));
  await until('the stream to be live', () => page.evaluate(() => document.getElementById('connection-state').dataset.state === 'live'));
  assert.ok(await page.evaluate((id) => !!document.querySelector(`#results tr[data-provider-id="${id}"]`), leaving), 'listed');

  const deactivated = await admin('POST', 'browser-leaving/deactivate');
  assert.equal(deactivated.status, 200, await deactivated.text());
  await until('the row to say so', () => page.evaluate((id) =>
    document.querySelector(`#results tr[data-provider-id="${id}"] .times`)?.textContent === 'Not taking bookings', leaving));

  // Another provider's booking still reaches its row, over the same stream.
  const index = await page.evaluate((id) => [...document.querySelectorAll('#results tr')].findIndex((tr) =>
    tr.dataset.providerId !== id && tr.querySelector('.times li')?.dataset.startsAt), leaving);
  const other = await bookFirstShown(page, providers, index);
  await until('the other row updated', () => page.evaluate(({ providerId, version }) =>
    document.querySelector(`#results tr[data-provider-id="${providerId}"]`).dataset.version !== version, other));
  assert.equal(await page.evaluate(() => window.slotstreamResults.streamsOpened), 1, 'no reconnect');
  assert.equal(await page.evaluate(() => document.getElementById('connection-state').dataset.state), 'live');
  await page.close();
});
