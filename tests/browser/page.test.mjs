// Browser tests of the slotstream page in real headless Chromium.
//
// Starts the server binary itself (SLOTSTREAM_BIN, default
// ../../target/debug/slotstream) on a fresh SQLite file and a free port.
// Run with `bash tests/browser/run.sh` from the repository root.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = path.dirname(fileURLToPath(import.meta.url));
const repoRoot = path.resolve(here, '../..');
const BIN = path.resolve(here, process.env.SLOTSTREAM_BIN ?? '../../target/debug/slotstream');
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const OUTPUT_DIR = path.join(repoRoot, 'test-output');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'slotstream-browser-'));

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function freePort() {
  const server = net.createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address();
  server.close();
  await once(server, 'close');
  return port;
}

/** One slotstream process on a given database file and port; restartable. */
class Server {
  constructor(name, { dbFile, port } = {}) {
    this.name = name;
    this.dbFile = dbFile ?? path.join(tmp, `${name}.db`);
    this.port = port;
    this.proc = null;
    this.log = '';
  }

  get base() {
    return `http://127.0.0.1:${this.port}`;
  }

  async start() {
    this.port ??= await freePort();
    const args = [
      '--database-url', `sqlite://${this.dbFile}?mode=rwc`,
      '--bind', `127.0.0.1:${this.port}`,
      '--heartbeat-secs', '5',
      // Every page of every test is one client (127.0.0.1): the hold quota is a per-client
      // burst meant for one customer, not for a whole suite of them.
      '--hold-burst', '1000', '--hold-per-second', '1000',
    ];
    for (let attempt = 0; attempt < 20; attempt += 1) {
      const proc = spawn(BIN, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, RUST_LOG: 'warn' } });
      this.proc = proc;
      const exited = once(proc, 'exit').then(([code]) => ({ exited: code }));
      proc.stdout.on('data', (d) => { this.log += d; });
      proc.stderr.on('data', (d) => { this.log += d; });
      const outcome = await Promise.race([this.waitHealthy(), exited]);
      if (outcome === true) return this;
      if (this.proc.exitCode === null) proc.kill('SIGKILL');
      // Most likely the port is still held by the previous run: try again.
      if (!/listen|address/i.test(this.log)) break;
      await sleep(250);
    }
    throw new Error(`${this.name}: server did not become healthy\n${this.log}`);
  }

  async waitHealthy(timeoutMs = 20000) {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (this.proc.exitCode !== null) return false;
      try {
        const response = await fetch(`${this.base}/healthz`);
        if (response.ok) return true;
      } catch {
        // not up yet
      }
      await sleep(100);
    }
    return false;
  }

  async stop(signal = 'SIGTERM') {
    const proc = this.proc;
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
    const exited = once(proc, 'exit');
    proc.kill(signal);
    const timer = setTimeout(() => proc.kill('SIGKILL'), 10000);
    await exited;
    clearTimeout(timer);
  }

  async json(pathname, init) {
    const response = await fetch(`${this.base}${pathname}`, init);
    const text = await response.text();
    return { status: response.status, body: text ? JSON.parse(text) : null };
  }

  async providers() {
    const { status, body } = await this.json('/api/v1/providers');
    assert.equal(status, 200);
    return body;
  }

  /** Free slots of the week the page shows first, from tomorrow on (never in the past). */
  async freeSlots(providerId) {
    const { status, body } = await this.json(`/api/v1/providers/${providerId}/availability?days=7`);
    assert.equal(status, 200);
    return body.days
      .filter((day) => day.date > body.startDate)
      .flatMap((day) => day.slots.filter((s) => s.status === 'available').map((s) => ({ ...s, date: day.date })));
  }

  /**
   * Whether this server has slot holds (DESIGN 4b): hold a real free slot and
   * let it go again. A 404 for a real provider, service and slot means no route.
   */
  async holdsSupported(providerId, serviceId) {
    const [slot] = await this.freeSlots(providerId);
    const { status, body } = await this.json('/api/v1/holds', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ providerId, serviceId, startTime: slot.startsAt }),
    });
    if (status === 404) return false;
    assert.equal(status, 201, `probing POST /api/v1/holds: ${JSON.stringify(body)}`);
    const released = await fetch(`${this.base}/api/v1/holds/${body.id}`, {
      method: 'DELETE',
      headers: { authorization: `Bearer ${body.token}` },
    });
    assert.equal(released.status, 204);
    return true;
  }

  async book(providerId, serviceId, slot, name = 'API Customer') {
    return this.json('/api/v1/bookings', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        providerId,
        serviceId,
        startTime: slot.startsAt,
        customer: { name, email: 'api@example.com' },
      }),
    });
  }
}

let browser;
let main; // shared by the scenarios that do not restart the server
let provider; // the provider the pages show
let shortService; // a 30-minute service of it
let holdsOn; // whether the server has slot holds (the page takes one when the form opens)
const servers = [];

before(async () => {
  assert.ok(fs.existsSync(BIN), `server binary not found at ${BIN} (build it with cargo build, or set SLOTSTREAM_BIN)`);
  assert.ok(fs.existsSync(CHROMIUM), `chromium not found at ${CHROMIUM}`);
  fs.mkdirSync(OUTPUT_DIR, { recursive: true });
  main = new Server('main');
  servers.push(main);
  [browser] = await Promise.all([
    chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run', '--disable-sync'],
    }),
    main.start(),
  ]);
  const providers = await main.providers();
  provider = providers[0];
  shortService = provider.services.find((s) => s.durationMinutes === 30) ?? provider.services[0];
  holdsOn = await main.holdsSupported(provider.id, shortService.id);
});

after(async () => {
  await browser?.close();
  await Promise.all(servers.map((s) => s.stop('SIGKILL')));
  fs.rmSync(tmp, { recursive: true, force: true });
});

const slotSelector = (id, status) => `button[data-slot-id="${id}"]${status ? `[data-status="${status}"]` : ''}`;

async function openPage(server, { query = '', init, setup, viewport, providerId = provider.id, serviceId = shortService.id } = {}) {
  const context = await browser.newContext({ viewport: viewport ?? { width: 1280, height: 900 } });
  if (init) await context.addInitScript(init);
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (error) => errors.push(error));
  page.errors = errors;
  setup?.(page);
  await page.goto(`${server.base}/${query}`);
  await page.waitForSelector('#provider:not([disabled])');
  if ((await page.inputValue('#provider')) !== providerId) await page.selectOption('#provider', providerId);
  await page.selectOption('#service', serviceId);
  await page.waitForSelector('button[data-slot-id]');
  return page;
}

const connectionState = (page) => page.textContent('#connection-state');

async function waitForState(page, text, timeout = 10000) {
  await page.waitForFunction((t) => document.getElementById('connection-state')?.textContent === t, text, { timeout });
}

/** The booking form is open and knows whether it holds its slot (data-hold is no longer "taking"). */
async function waitForForm(page) {
  await page.waitForSelector('#book-dialog[open]');
  await page.waitForFunction(() => {
    const hold = document.getElementById('book-dialog').dataset.hold;
    return hold && hold !== 'taking';
  }, null, { timeout: 10000 });
  return page.getAttribute('#book-dialog', 'data-hold');
}

const isHoldCreate = (r) => r.url().endsWith('/api/v1/holds') && r.request().method() === 'POST';
const isHoldRelease = (r) => /\/api\/v1\/holds\/[^/]+$/.test(r.url()) && r.request().method() === 'DELETE';
const isBookingCreate = (r) => r.url().endsWith('/api/v1/bookings') && r.request().method() === 'POST';

test('a booking and its cancellation on one page show on another live, without reload', async (t) => {
  const [page1, page2] = await Promise.all([openPage(main), openPage(main)]);
  await Promise.all([waitForState(page1, 'Live'), waitForState(page2, 'Live')]);
  await page2.evaluate(() => { window.__noReload = true; });

  const [slot] = await main.freeSlots(provider.id);
  const button = page1.locator(slotSelector(slot.availabilityId, 'available'));
  const label = await button.getAttribute('aria-label');
  assert.match(label, new RegExp(`^(Mon|Tue|Wed|Thu|Fri|Sat|Sun) \\d{1,2} [A-Z][a-z]{2} ${slot.startTime}, available$`));
  assert.equal(await page2.getAttribute(slotSelector(slot.availabilityId), 'data-status'), 'available');

  // Book on page 1 through the dialog, by keyboard for the form.
  await button.click();
  await page1.waitForSelector('#book-dialog[open]');
  await page1.fill('#customer-name', 'Ada Lovelace');
  await page1.fill('#customer-email', 'ada@example.com');
  const created = page1.waitForResponse(isBookingCreate);
  await page1.press('#customer-email', 'Enter');
  assert.equal((await created).status(), 201);
  assert.equal(Boolean((await created).request().postDataJSON().holdId), holdsOn, 'booked through a hold when the server has holds');
  const bookedAt = Date.now();
  await page2.waitForSelector(slotSelector(slot.availabilityId, 'booked'), { timeout: 2000 });
  t.diagnostic(`page 2 saw the booking ${Date.now() - bookedAt} ms after the 201`);
  await page1.waitForSelector(slotSelector(slot.availabilityId, 'booked'), { timeout: 2000 });
  assert.match(await page2.getAttribute(slotSelector(slot.availabilityId), 'aria-label'), /, booked$/);
  await page1.waitForSelector('#my-bookings li[data-booking-id]');
  assert.match(await page1.textContent('#my-bookings'), new RegExp(`${slot.startTime}.*${shortService.name}`));
  assert.equal(await page2.locator('#my-bookings li').count(), 0, 'bookings are per browser');
  assert.match(await page1.textContent('#updated'), /^updated \d\d:\d\d:\d\d$/);

  await page1.screenshot({ path: path.join(OUTPUT_DIR, 'calendar.png'), fullPage: true });
  t.diagnostic('screenshot: test-output/calendar.png');

  // Cancel on page 1.
  const cancelled = page1.waitForResponse((r) => /\/cancel$/.test(r.url()));
  await page1.click('#my-bookings li[data-booking-id] button.cancel-booking');
  assert.equal((await cancelled).status(), 200);
  const cancelledAt = Date.now();
  await page2.waitForSelector(slotSelector(slot.availabilityId, 'available'), { timeout: 2000 });
  t.diagnostic(`page 2 saw the cancellation ${Date.now() - cancelledAt} ms after the 200`);
  await page1.waitForSelector('#my-bookings li', { state: 'detached' });

  const [, other] = await main.freeSlots(provider.id);
  await page2.click(slotSelector(other.availabilityId, 'available'));
  assert.equal(await waitForForm(page2), holdsOn ? 'held' : 'none');
  if (holdsOn) {
    // Page 2's open form holds the slot: nobody else can book it meanwhile.
    assert.equal((await main.book(provider.id, shortService.id, other)).status, 409);
    assert.equal(await page2.textContent('#book-error'), '');
    assert.ok(await page2.isEnabled('#book-submit'));
  } else {
    // Without holds, a slot taken while page 2's dialog is open: page 2 says so at once.
    assert.equal((await main.book(provider.id, shortService.id, other)).status, 201);
    await page2.waitForFunction(() => /Someone else just took this slot/.test(document.getElementById('book-error').textContent));
    assert.ok(await page2.isDisabled('#book-submit'));
  }
  // Closing the form releases its hold (waited for: a hold left behind counts against this client's cap).
  const released = holdsOn ? page2.waitForResponse(isHoldRelease) : null;
  await page2.keyboard.press('Escape');
  if (holdsOn) assert.equal((await released).status(), 204);
  await page2.waitForSelector('#book-dialog:not([open])', { state: 'attached' });

  assert.equal(await page2.evaluate(() => window.__noReload), true, 'page 2 was not reloaded');
  assert.equal(await connectionState(page2), 'Live');
  assert.deepEqual([...page1.errors, ...page2.errors], []);

  // A phone-sized view for a look at the responsive layout.
  await page2.setViewportSize({ width: 390, height: 844 });
  await page2.screenshot({ path: path.join(OUTPUT_DIR, 'calendar-phone.png'), fullPage: true });
  t.diagnostic('screenshot: test-output/calendar-phone.png');
  await Promise.all([page1.context().close(), page2.context().close()]);
});

test('the page shows Reconnecting… while the server is down and catches up after restart', async (t) => {
  const server = new Server('restart');
  servers.push(server);
  await server.start();
  const [local] = await server.providers();
  const service = local.services.find((s) => s.durationMinutes === 30) ?? local.services[0];
  try {
    const page = await openPage(server, {
      query: '?reconnectMs=2000&liveRetryMs=2000&pollMs=1000',
      providerId: local.id,
      serviceId: service.id,
    });
    await waitForState(page, 'Live');
    await page.evaluate(() => { window.__noReload = true; });
    const streamRequests = [];
    page.on('request', (r) => { if (r.url().includes('/availability/stream')) streamRequests.push({ at: Date.now(), url: r.url() }); });

    const [whileDown, afterRestart] = await server.freeSlots(local.id);

    await server.stop('SIGTERM');
    await waitForState(page, 'Reconnecting…', 5000);

    // Change data while the page cannot reach the server: a second process on
    // the same database file (another port) takes a booking, then goes away.
    const side = new Server('side', { dbFile: server.dbFile });
    servers.push(side);
    await side.start();
    assert.equal((await side.book(local.id, service.id, whileDown)).status, 201);
    await side.stop('SIGTERM');
    assert.equal(await page.getAttribute(slotSelector(whileDown.availabilityId), 'data-status'), 'available');

    // Back on the same port and database; book again at once, likely before the page reconnects.
    await server.start();
    const restartedAt = Date.now();
    assert.equal((await server.book(local.id, service.id, afterRestart)).status, 201);
    const reconnectedFirst = streamRequests.some((r) => r.at >= restartedAt && r.at < Date.now());
    t.diagnostic(`second booking made ${reconnectedFirst ? 'after' : 'before'} the page reconnected`);

    await waitForState(page, 'Live', 15000);
    await page.waitForSelector(slotSelector(whileDown.availabilityId, 'booked'), { timeout: 5000 });
    await page.waitForSelector(slotSelector(afterRestart.availabilityId, 'booked'), { timeout: 5000 });
    const resumed = streamRequests.at(-1);
    assert.match(resumed.url, /lastEventId=\d+/, 'the stream resumes from a version');
    assert.equal(await page.evaluate(() => window.__noReload), true, 'the page was not reloaded');
    assert.deepEqual(page.errors, []);
    await page.context().close();
  } finally {
    await server.stop('SIGTERM');
  }
});

test('without EventSource the page polls with If-None-Match, gets 304s, and picks up changes', async (t) => {
  const POLL_MS = 700;
  const seen = { notModified: 0, conditional: 0 };
  const page = await openPage(main, {
    query: `?pollMs=${POLL_MS}`,
    init: () => { delete window.EventSource; },
    setup: (p) => p.on('response', (r) => {
      if (!/\/availability\?/.test(r.url())) return;
      if (r.request().headers()['if-none-match']) seen.conditional += 1;
      if (r.status() === 304) seen.notModified += 1;
    }),
  });
  await waitForState(page, 'Polling');
  await page.waitForFunction(() => Number(document.getElementById('poll-stats').dataset.notModified) >= 2, null, {
    timeout: POLL_MS * 6,
  });
  assert.ok(seen.notModified >= 1, `observed ${seen.notModified} 304 responses`);
  assert.ok(seen.conditional >= seen.notModified);
  t.diagnostic(`page counted ${await page.getAttribute('#poll-stats', 'data-not-modified')} 304s; observed ${seen.notModified}`);

  const [slot] = await main.freeSlots(provider.id);
  assert.equal((await main.book(provider.id, shortService.id, slot)).status, 201);
  const bookedAt = Date.now();
  await page.waitForSelector(slotSelector(slot.availabilityId, 'booked'), { timeout: POLL_MS * 2 + 1000 });
  t.diagnostic(`poll picked the booking up after ${Date.now() - bookedAt} ms`);
  assert.equal(await connectionState(page), 'Polling');
  await page.context().close();

  // A real 409: a polling page that has not seen the booking yet tries to take the slot.
  // With holds the 409 answers the hold the form asks for; without, the booking.
  const slow = await openPage(main, { query: '?pollMs=600000', init: () => { delete window.EventSource; } });
  await waitForState(slow, 'Polling');
  const [taken] = await main.freeSlots(provider.id);
  assert.equal((await main.book(provider.id, shortService.id, taken)).status, 201);
  const holdAnswer = holdsOn ? slow.waitForResponse(isHoldCreate) : null;
  await slow.click(slotSelector(taken.availabilityId, 'available'));
  if (holdsOn) {
    assert.equal((await holdAnswer).status(), 409);
    assert.equal(await waitForForm(slow), 'taken');
  } else {
    assert.equal(await waitForForm(slow), 'none');
    await slow.fill('#customer-name', 'Late Larry');
    await slow.fill('#customer-email', 'larry@example.com');
    const answer = slow.waitForResponse(isBookingCreate);
    await slow.click('#book-submit');
    assert.equal((await answer).status(), 409);
  }
  await slow.waitForFunction(() => /Someone else just took this slot/.test(document.getElementById('book-error').textContent));
  assert.ok(await slow.isDisabled('#book-submit'));
  // The page re-reads at once after a 409.
  await slow.waitForSelector(slotSelector(taken.availabilityId, 'booked'), { timeout: 3000 });
  assert.deepEqual([...page.errors, ...slow.errors], []);
  await slow.context().close();
});

test('week navigation, service fit and keyboard booking', async () => {
  const page = await openPage(main);
  await waitForState(page, 'Live');
  const firstWeek = await page.textContent('#week-label');
  const firstDay = await page.getAttribute('thead th[data-date]', 'data-date');
  await page.click('#next-week');
  await page.waitForFunction((d) => document.querySelector('thead th[data-date]')?.dataset.date !== d, firstDay);
  assert.notEqual(await page.textContent('#week-label'), firstWeek);
  await waitForState(page, 'Live');
  await page.click('#prev-week');
  await page.waitForFunction((d) => document.querySelector('thead th[data-date]')?.dataset.date === d, firstDay);

  // A 60-minute service cannot start in a day's last 30-minute slot.
  const long = provider.services.find((s) => s.durationMinutes >= 60);
  if (long) {
    await page.selectOption('#service', long.id);
    // The first day after today that has slots (the day after today may be closed, e.g. a Sunday).
    const lastOfDay = await page.evaluate(() => {
      for (const th of [...document.querySelectorAll('thead th[data-date]')].slice(1)) {
        const buttons = [...document.querySelectorAll(`button[data-date="${th.dataset.date}"]`)];
        if (buttons.length > 0) return buttons.at(-1).dataset.bookable;
      }
      return 'no slots this week';
    });
    assert.equal(lastOfDay, 'false');
    await page.selectOption('#service', shortService.id);
  }

  // Keyboard: focus a free slot, Enter opens the dialog, Escape closes it and focus returns.
  const [slot] = await main.freeSlots(provider.id);
  await page.focus(slotSelector(slot.availabilityId));
  await page.keyboard.press('Enter');
  await page.waitForSelector('#book-dialog[open]');
  assert.equal(await page.evaluate(() => document.activeElement.id), 'customer-name');
  // Closing the form releases its hold (waited for: a hold left behind counts against this client's cap).
  const released = holdsOn ? page.waitForResponse(isHoldRelease) : null;
  await page.keyboard.press('Escape');
  if (holdsOn) assert.equal((await released).status(), 204);
  await page.waitForSelector('#book-dialog:not([open])', { state: 'attached' });
  assert.equal(await page.evaluate(() => document.activeElement.dataset.slotId), slot.availabilityId);
  assert.equal(await page.getAttribute('#announcer', 'aria-live'), 'polite');
  assert.deepEqual(page.errors, []);
  await page.context().close();
});

test('a stream that keeps failing falls back to Polling, then goes back to Live', async () => {
  let block = true;
  const page = await openPage(main, {
    query: '?reconnectMs=200&liveRetryMs=1000&pollMs=500',
    setup: (p) => p.route('**/availability/stream**', (route) => (block ? route.abort('connectionrefused') : route.continue())),
  });
  await waitForState(page, 'Polling', 8000);
  await page.waitForFunction(() => Number(document.getElementById('poll-stats').dataset.polls) >= 1);
  block = false;
  await waitForState(page, 'Live', 8000);

  // Live again: changes arrive through the stream.
  const [slot] = await main.freeSlots(provider.id);
  assert.equal((await main.book(provider.id, shortService.id, slot)).status, 201);
  await page.waitForSelector(slotSelector(slot.availabilityId, 'booked'), { timeout: 2000 });
  assert.equal(await connectionState(page), 'Live');
  assert.deepEqual(page.errors, []);
  await page.context().close();
});

const NO_HOLDS = 'SKIPPED: this server has no slot holds yet (POST /api/v1/holds answered 404); runs once the server side of issue 11 lands';

/** Open the form on a slot and wait for the page's hold; returns the hold the server gave ({ id, token, … }). */
async function openHeld(page, slotId) {
  const created = page.waitForResponse(isHoldCreate);
  await page.click(slotSelector(slotId, 'available'));
  const response = await created;
  assert.equal(response.status(), 201);
  assert.equal(await waitForForm(page), 'held');
  return response.json();
}

test('holds: page B sees the slot held while A fills in the form, free when A closes it, booked when A books through the hold', async (t) => {
  if (!holdsOn) return t.skip(NO_HOLDS);
  const [pageA, pageB] = await Promise.all([openPage(main), openPage(main)]);
  await Promise.all([waitForState(pageA, 'Live'), waitForState(pageB, 'Live')]);
  const released = [];
  pageA.on('response', (r) => { if (isHoldRelease(r)) released.push(r.status()); });
  const [slot] = await main.freeSlots(provider.id);
  const id = slot.availabilityId;

  // A opens the form: the slot is held, for everyone, without anything private in public answers.
  const first = await openHeld(pageA, id);
  await pageB.waitForSelector(slotSelector(id, 'held'), { timeout: 10000 });
  assert.equal(await pageB.textContent(`${slotSelector(id)} .slot-text`), 'Someone is booking this');
  assert.match(await pageB.getAttribute(slotSelector(id), 'aria-label'), /, someone is booking this$/);
  assert.equal(await pageB.getAttribute(slotSelector(id), 'aria-disabled'), 'true');
  // The held slot is aria-disabled, which Playwright's actionability checks refuse to click;
  // a person can still click it, and must be told rather than given the form.
  await pageB.click(slotSelector(id), { force: true });
  await pageB.waitForFunction(() => /Someone is booking/.test(document.getElementById('announcer').textContent));
  assert.equal(await pageB.locator('#book-dialog[open]').count(), 0, 'a held slot does not open the form');
  await pageA.waitForSelector(`${slotSelector(id, 'held')}.mine`, { timeout: 10000 });
  assert.equal(await pageA.textContent(`${slotSelector(id)} .slot-text`), 'Held for you');
  assert.ok(await pageA.isVisible('#hold-status'));
  assert.match(await pageA.textContent('#hold-countdown'), /^\d\d:[0-5]\d$/);
  assert.notEqual(await pageA.textContent('#hold-countdown'), '00:00');
  const publicWeek = await (await fetch(`${main.base}/api/v1/providers/${provider.id}/availability?days=7`)).text();
  assert.ok(!publicWeek.includes(first.id) && !publicWeek.includes(first.token), 'no hold id or token in public answers');
  await pageB.screenshot({ path: path.join(OUTPUT_DIR, 'calendar-held.png'), fullPage: true });
  t.diagnostic('screenshot: test-output/calendar-held.png');

  // A closes the form (Escape): the hold is released and B sees the slot free again.
  const release = pageA.waitForResponse(isHoldRelease);
  await pageA.keyboard.press('Escape');
  assert.equal((await release).status(), 204);
  await pageB.waitForSelector(slotSelector(id, 'available'), { timeout: 10000 });

  // A opens the form again and books through the new hold.
  await pageA.waitForSelector(slotSelector(id, 'available'), { timeout: 10000 });
  const second = await openHeld(pageA, id);
  assert.notEqual(second.id, first.id);
  await pageB.waitForSelector(slotSelector(id, 'held'), { timeout: 10000 });
  await pageA.fill('#customer-name', 'Grace Hopper');
  await pageA.fill('#customer-email', 'grace@example.com');
  const created = pageA.waitForResponse(isBookingCreate);
  await pageA.click('#book-submit');
  const booking = await created;
  assert.equal(booking.status(), 201);
  assert.equal(booking.request().postDataJSON().holdId, second.id);
  assert.equal(booking.request().headers().authorization, `Bearer ${second.token}`);
  await pageB.waitForSelector(slotSelector(id, 'booked'), { timeout: 10000 });
  await pageA.waitForSelector(slotSelector(id, 'booked'), { timeout: 10000 });
  await pageA.waitForSelector('#book-dialog:not([open])', { state: 'attached' });
  assert.deepEqual(released, [204], 'one release (the closed form); a hold turned into a booking is not released');
  assert.deepEqual([...pageA.errors, ...pageB.errors], []);
  await Promise.all([pageA.context().close(), pageB.context().close()]);
});

test('holds: a hold that ends while the form is open is told plainly, and Try again holds the slot anew', async (t) => {
  if (!holdsOn) return t.skip(NO_HOLDS);
  const page = await openPage(main);
  await waitForState(page, 'Live');
  const [slot] = await main.freeSlots(provider.id);
  const first = await openHeld(page, slot.availabilityId);

  // The hold ends behind the page's back (as at expiry): the slot turns available,
  // the page's renewal finds the hold gone, and the customer is told.
  const gone = await fetch(`${main.base}/api/v1/holds/${first.id}`, {
    method: 'DELETE',
    headers: { authorization: `Bearer ${first.token}` },
  });
  assert.equal(gone.status, 204);
  await page.waitForFunction(() => document.getElementById('book-dialog').dataset.hold === 'lost', null, { timeout: 10000 });
  assert.match(await page.textContent('#book-error'), /no longer reserved for you/);
  assert.ok(await page.isDisabled('#book-submit'));
  assert.ok(await page.isVisible('#hold-retry'));

  // Try again: the slot is free, so the page holds it again and the form can book.
  const retaken = page.waitForResponse(isHoldCreate);
  await page.click('#hold-retry');
  assert.equal((await retaken).status(), 201);
  assert.equal(await waitForForm(page), 'held');
  assert.equal(await page.textContent('#book-error'), '');
  assert.ok(await page.isEnabled('#book-submit'));
  const release = page.waitForResponse(isHoldRelease);
  await page.keyboard.press('Escape');
  assert.equal((await release).status(), 204);
  assert.deepEqual(page.errors, []);
  await page.context().close();
});
