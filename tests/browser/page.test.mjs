// Browser tests of the slotstream page and of its client module
// (static/slotstream.js) in real headless Chromium, at a phone (390x844)
// and a desktop viewport.
//
// Starts the server binary itself (SLOTSTREAM_BIN, default
// ../../target/debug/slotstream) on a fresh SQLite file and a free port; one
// server serves every test but the outage test, which stops and restarts its own.
// Screenshots go to test-output/. Run with `bash tests/browser/run.sh` from the repository root.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import ICAL from 'ical.js';
import { OUTPUT_DIR, Server, checkPrerequisites, launchBrowser, removeTmp, repoRoot, sleep } from './harness.mjs';

let browser;
let main; // shared by the scenarios that do not restart the server
let provider; // the provider the pages show first (the directory's first)
let shortService; // its 30-minute service
let holdsOn; // whether the server has slot holds (the page takes one when the form opens)
const servers = [];

const PHONE = { width: 390, height: 844 };
const DESKTOP = { width: 1280, height: 900 };

before(async () => {
  checkPrerequisites();
  main = new Server('main');
  servers.push(main);
  [browser] = await Promise.all([launchBrowser(), main.start()]);
  const providers = await main.providers();
  provider = providers[0];
  shortService = provider.services.find((s) => s.durationMinutes === 30) ?? provider.services[0];
  holdsOn = await main.holdsSupported(provider.id, shortService.id);
});

after(async () => {
  await browser?.close();
  await Promise.all(servers.map((s) => s.stop('SIGKILL')));
  removeTmp();
});

const slotSelector = (id, status) => `button[data-slot-id="${id}"]${status ? `[data-status="${status}"]` : ''}`;
const shot = (page, name) => page.screenshot({ path: path.join(OUTPUT_DIR, name), fullPage: true });

/**
 * A page in a fresh browser context. Every console error, page error and
 * failed or 4xx/5xx request of the page (favicon included) is collected in `page.problems`.
 */
async function newPage(server, { query = '', hash = '', init, setup, viewport = DESKTOP, timezoneId } = {}) {
  const context = await browser.newContext({ viewport, timezoneId, acceptDownloads: true, permissions: ['clipboard-read', 'clipboard-write'] });
  if (init) await context.addInitScript(init);
  const page = await context.newPage();
  const problems = [];
  page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
  page.on('console', (message) => { if (message.type() === 'error') problems.push(`console: ${message.text()}`); });
  page.on('response', (r) => {
    // Expected refusals the tests provoke (a taken hold, an injected version) are asserted where they happen.
    if (r.status() >= 400 && !/\/api\/v1\/(holds|bookings)/.test(r.url())) problems.push(`${r.status()} ${r.url()}`);
  });
  page.problems = problems;
  setup?.(page);
  await page.goto(`${server.base}/${query}${hash}`);
  return page;
}

/** The booking page with `service` chosen and its times listed. */
async function openPage(server, { service = shortService, ...options } = {}) {
  const page = await newPage(server, options);
  await page.waitForSelector('.service input');
  await page.check(`.service input[value="${service.id}"]`);
  await page.waitForSelector('#times button[data-slot-id]');
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

/** The free times the page lists for the shown day: [{ id, start }]. */
const listedFree = (page) =>
  page.$$eval('#times button.slot.free', (buttons) => buttons.map((b) => ({ id: b.dataset.slotId, start: b.dataset.start })));

/**
 * At least `count` free times of one day: the selected day's when it has them, else the strip's
 * first day that does (late in the provider's day, today may have one time left or none).
 */
async function freeTimesOfOneDay(page, count) {
  const selected = await page.getAttribute('#day-strip [aria-selected="true"]', 'data-date');
  const day = await page.$$eval('#day-strip button[data-date]', (days, n) =>
    days.find((d) => Number(d.dataset.free) >= n)?.dataset.date, count);
  assert.ok(day, `a day with ${count} free times`);
  if (day !== selected) {
    await page.click(`#day-strip button[data-date="${day}"]`);
    await page.waitForSelector(`#times button[data-date="${day}"]`);
  }
  const free = await listedFree(page);
  assert.ok(free.length >= count, `${free.length} free times on ${day}`);
  return free;
}

/** The slot (with startsAt) of an availability id, from the server. */
async function slotById(server, providerId, id) {
  const { body } = await server.json(`/api/v1/providers/${providerId}/availability?days=14`);
  for (const day of body.days) {
    const slot = day.slots.find((s) => s.availabilityId === id);
    if (slot) return { ...slot, date: day.date };
  }
  throw new Error(`slot ${id} not found`);
}

const isHoldCreate = (r) => r.url().endsWith('/api/v1/holds') && r.request().method() === 'POST';
const isHoldRelease = (r) => /\/api\/v1\/holds\/[^/]+$/.test(r.url()) && r.request().method() === 'DELETE';
const isBookingCreate = (r) => r.url().endsWith('/api/v1/bookings') && r.request().method() === 'POST';

/** The VEVENT of an .ics file, parsed by ical.js. */
function parseIcs(text) {
  const calendar = new ICAL.Component(ICAL.parse(text));
  const events = calendar.getAllSubcomponents('vevent');
  assert.equal(events.length, 1, text);
  return new ICAL.Event(events[0]);
}

// The desktop visitor is in another zone than the provider: times are shown in both.
for (const [name, viewport, timezoneId] of [['phone', PHONE, 'Europe/London'], ['desktop', DESKTOP, 'Asia/Tokyo']]) {
  test(`${name}: a customer books through the day strip and time list, gets a confirmation and an .ics, and cancels after being asked; the manage link opens the booking elsewhere`, async (t) => {
    const page = await newPage(main, { viewport, timezoneId });
    await page.waitForSelector('.service input');
    await waitForState(page, 'Live');
    // The provider, not the product; no service picked for the customer; prices with their currency.
    assert.equal(await page.textContent('#provider-name'), provider.name);
    assert.equal(await page.title(), `Book ${provider.name}`);
    assert.equal(await page.textContent('#provider-address'), provider.address);
    assert.equal(await page.locator('.service input:checked').count(), 0, 'no service is pre-picked');
    assert.ok(await page.isHidden('#time-picker'), 'times come after the service');
    const firstService = await page.textContent('.service');
    assert.ok(firstService.includes(provider.services[0].name), firstService);
    assert.match(firstService, /\d+ (min|h).*([£$€]|zł|PLN|GBP|USD)/, 'duration and price with its currency');
    assert.ok(await page.isHidden('#poll-stats'), 'counters stay in the developer panel');
    if (name === 'phone') await shot(page, 'page-phone-start.png');

    await page.check(`.service input[value="${shortService.id}"]`);
    await page.waitForSelector('#times button[data-slot-id]');
    const zoneNote = await page.textContent('#timezone-note');
    const providerZone = `${provider.timezone.split('/').pop().replaceAll('_', ' ')} time`; // "London time"
    if (timezoneId === 'Asia/Tokyo') {
      assert.equal(zoneNote, `Times are ${providerZone}; your time (Tokyo time) is shown under each.`);
      assert.match(await page.textContent('#times button.slot.free .slot-visitor'), /^\d\d:\d\d yours$/);
    } else {
      assert.equal(zoneNote, `Times are ${providerZone}.`);
    }
    // The first day with free times is selected; pick another day with free times from the strip.
    const selected = await page.getAttribute('#day-strip [aria-selected="true"]', 'data-date');
    assert.notEqual(await page.getAttribute('#day-strip [aria-selected="true"]', 'data-free'), '0');
    const other = await page.$$eval('#day-strip button[data-date]', (days, current) =>
      days.filter((d) => d.dataset.date !== current && Number(d.dataset.free) > 0).map((d) => d.dataset.date)[0], selected);
    await page.click(`#day-strip button[data-date="${other}"]`);
    await page.waitForSelector(`#times button[data-date="${other}"]`);
    const labels = await page.$$eval('#times button.slot', (buttons) => buttons.map((b) => b.querySelector('.slot-time').textContent));
    assert.ok(labels.every((l) => /^\d\d:\d\d$/.test(l)), `buttons are labelled by the time: ${labels}`);
    if (name === 'phone') {
      // Phone first: the whole strip and the first times fit the screen's width, no sideways scroll.
      assert.equal(await page.evaluate(() => document.documentElement.scrollWidth), PHONE.width);
    }
    const [free] = await listedFree(page);
    const slot = await slotById(main, provider.id, free.id);
    await shot(page, `page-${name}-times.png`);

    // Book: the form holds the time and counts down.
    await page.click(slotSelector(free.id));
    assert.equal(await waitForForm(page), holdsOn ? 'held' : 'none');
    if (holdsOn) assert.match(await page.textContent('#hold-countdown'), /^\d\d:[0-5]\d$/);
    await page.fill('#customer-name', 'Ada Lovelace');
    await page.fill('#customer-email', 'ada@example.com');
    const created = page.waitForResponse(isBookingCreate);
    await page.press('#customer-email', 'Enter');
    assert.equal((await created).status(), 201);
    const booking = await (await created).json();

    // The confirmation: service, date, time with zone, price.
    await page.waitForSelector('#done-dialog[open]');
    assert.equal(await page.textContent('#done-details dd[data-field="service"]'), shortService.name);
    assert.match(await page.textContent('#done-details dd[data-field="when"]'), new RegExp(`${slot.startTime}–\\d\\d:\\d\\d ${providerZone}$`));
    assert.match(await page.textContent('#done-details dd[data-field="price"]'), /\d/);
    await shot(page, `page-${name}-confirmation.png`);

    // The .ics: downloaded with the token in a header, parsed, the right start instant.
    const [download] = await Promise.all([page.waitForEvent('download'), page.click('#done-ics')]);
    const ics = fs.readFileSync(await download.path(), 'utf8');
    const event = parseIcs(ics);
    assert.equal(event.startDate.toJSDate().toISOString(), new Date(slot.startsAt).toISOString());
    assert.match(event.summary, new RegExp(shortService.name));
    assert.equal(event.location, provider.address);
    await page.click('#done-copy');
    const link = await page.evaluate(() => navigator.clipboard.readText());
    assert.match(link, new RegExp(`#booking=${booking.id}&token=bk_`));
    await page.click('#done-close');

    // Your booking looks different from other people's.
    await page.waitForSelector(`${slotSelector(free.id, 'booked')}.mine`);
    assert.equal(await page.textContent(`${slotSelector(free.id)} .slot-note`), 'Yours');
    await page.waitForSelector(`#my-bookings li[data-booking-id="${booking.id}"]`);
    assert.match(await page.textContent('#my-bookings'), new RegExp(`${slot.startTime}–\\d\\d:\\d\\d ${providerZone}`));
    await shot(page, `page-${name}-booked.png`);

    // The manage link in a fresh browser: the booking is shown there, and the fragment leaves the address bar.
    const elsewhere = await newPage(main, { viewport, timezoneId, hash: link.slice(link.indexOf('#')) });
    await elsewhere.waitForSelector(`#my-bookings li[data-booking-id="${booking.id}"]`);
    assert.equal(new URL(elsewhere.url()).hash, '');
    // Cancel asks first: "Keep it" keeps it.
    await elsewhere.click(`#my-bookings li[data-booking-id="${booking.id}"] button.cancel-booking`);
    await elsewhere.waitForSelector('#cancel-dialog[open]');
    assert.match(await elsewhere.textContent('#cancel-summary'), new RegExp(shortService.name));
    await shot(elsewhere, `page-${name}-cancel-confirm.png`);
    await elsewhere.click('#cancel-keep');
    await elsewhere.waitForSelector('#cancel-dialog:not([open])', { state: 'attached' });
    assert.equal((await main.json(`/api/v1/bookings/${booking.id}`, { headers: { authorization: `Bearer ${booking.token}` } })).body.status, 'confirmed');
    // Then yes: cancelled, and the first browser sees the time free again, live.
    await elsewhere.click(`#my-bookings li[data-booking-id="${booking.id}"] button.cancel-booking`);
    const cancelled = elsewhere.waitForResponse((r) => /\/cancel$/.test(r.url()));
    await elsewhere.click('#cancel-confirm');
    assert.equal((await cancelled).status(), 200);
    await elsewhere.waitForSelector('#my-bookings li', { state: 'detached' });
    await page.waitForSelector(`${slotSelector(free.id, 'available')}.free`, { timeout: 5000 });

    assert.deepEqual([...page.problems, ...elsewhere.problems], [], 'no console errors, failed loads or error answers');
    t.diagnostic(`screenshots: test-output/page-${name}-*.png`);
    await Promise.all([page.context().close(), elsewhere.context().close()]);
  });
}

test('the strip moves by a week and back (not before today), and a time can be booked from the keyboard', async () => {
  const page = await openPage(main, { viewport: PHONE });
  await waitForState(page, 'Live');
  const firstDay = await page.getAttribute('#day-strip button[data-date]', 'data-date');
  assert.ok(await page.isDisabled('#prev-week'), 'no days before today');
  assert.equal(await page.textContent('#day-strip button[data-date] .wd'), 'Today');
  await page.click('#next-week');
  await page.waitForFunction((d) => document.querySelector('#day-strip button[data-date]')?.dataset.date > d, firstDay);
  await waitForState(page, 'Live');
  assert.ok(await page.isEnabled('#prev-week'));
  await page.click('#prev-week');
  await page.waitForFunction((d) => document.querySelector('#day-strip button[data-date]')?.dataset.date === d, firstDay);

  // Keyboard: a free time, Enter opens the form with focus in it; Escape closes it and focus returns.
  const [free] = await listedFree(page);
  await page.focus(slotSelector(free.id));
  const released = holdsOn ? page.waitForResponse(isHoldRelease) : null;
  await page.keyboard.press('Enter');
  await waitForForm(page);
  assert.equal(await page.evaluate(() => document.activeElement.id), 'customer-name');
  await page.keyboard.press('Escape');
  if (holdsOn) assert.equal((await released).status(), 204);
  await page.waitForSelector('#book-dialog:not([open])', { state: 'attached' });
  assert.equal(await page.evaluate(() => document.activeElement.dataset.slotId), free.id);
  assert.deepEqual(page.problems, []);
  await page.context().close();
});

test('a booking on one page shows on another live; a held time reads "Being booked" there', async (t) => {
  const [page1, page2] = await Promise.all([openPage(main), openPage(main)]);
  await Promise.all([waitForState(page1, 'Live'), waitForState(page2, 'Live')]);
  const day = await page1.getAttribute('#day-strip [aria-selected="true"]', 'data-date');
  await page2.click(`#day-strip button[data-date="${day}"]`);
  const [free] = await listedFree(page1);

  await page1.click(slotSelector(free.id));
  assert.equal(await waitForForm(page1), holdsOn ? 'held' : 'none');
  if (holdsOn) {
    await page2.waitForSelector(slotSelector(free.id, 'held'), { timeout: 5000 });
    assert.equal(await page2.textContent(`${slotSelector(free.id)} .slot-note`), 'Being booked');
    await page1.waitForSelector(`${slotSelector(free.id, 'held')}.held-mine`);
    // The held time is not offered: a click tells the customer instead of opening the form.
    await page2.click(slotSelector(free.id), { force: true });
    await page2.waitForFunction(() => /Someone is booking/.test(document.getElementById('announcer').textContent));
    assert.equal(await page2.locator('#book-dialog[open]').count(), 0);
    await shot(page2, 'page-desktop-held.png');
  }
  await page1.fill('#customer-name', 'Grace Hopper');
  await page1.fill('#customer-email', 'grace@example.com');
  const created = page1.waitForResponse(isBookingCreate);
  await page1.click('#book-submit');
  assert.equal((await created).status(), 201);
  const bookedAt = Date.now();
  await page2.waitForSelector(`${slotSelector(free.id, 'booked')}.taken`, { timeout: 2000 });
  t.diagnostic(`page 2 saw the booking ${Date.now() - bookedAt} ms after the 201`);
  assert.equal(await page2.textContent(`${slotSelector(free.id)} .slot-note`), 'Booked');
  assert.equal(await page2.locator('#my-bookings li').count(), 0, 'bookings are per browser');
  assert.deepEqual([...page1.problems, ...page2.problems], []);
  await Promise.all([page1.context().close(), page2.context().close()]);
});

test('after a 5 s outage the page is current within 2 s of the server being back, without reload', async (t) => {
  const server = new Server('restart');
  servers.push(server);
  await server.start();
  // This server has a database of its own: its own providers.
  const [local] = await server.providers();
  const service = local.services.find((s) => s.durationMinutes === 30) ?? local.services[0];
  try {
    const page = await openPage(server, { service });
    await waitForState(page, 'Live');
    await page.evaluate(() => { window.__noReload = true; });
    const [whileDown, afterRestart] = await freeTimesOfOneDay(page, 2);
    const streamUrls = [];
    page.on('request', (r) => { if (r.url().includes('/availability/stream')) streamUrls.push(r.url()); });

    const downAt = Date.now();
    await server.stop('SIGTERM');
    await waitForState(page, 'Reconnecting…', 5000);
    // Change data while the page cannot reach the server: a second process on the same database (another port).
    const side = new Server('side', { dbFile: server.dbFile });
    servers.push(side);
    await side.start();
    assert.equal((await side.book(local.id, service.id, await slotById(side, local.id, whileDown.id))).status, 201);
    await side.stop('SIGTERM');
    const outage = 5000 - (Date.now() - downAt);
    if (outage > 0) await sleep(outage);

    await server.start();
    const backAt = Date.now();
    assert.equal((await server.book(local.id, service.id, await slotById(server, local.id, afterRestart.id))).status, 201);
    await page.waitForSelector(slotSelector(whileDown.id, 'booked'), { timeout: 10000 });
    await page.waitForSelector(slotSelector(afterRestart.id, 'booked'), { timeout: 10000 });
    const current = Date.now() - backAt;
    t.diagnostic(`down ${backAt - downAt} ms; current ${current} ms after the server was back`);
    assert.ok(current <= 2000, `current ${current} ms after the server was back`);
    await waitForState(page, 'Live', 5000);
    assert.match(streamUrls.at(-1), /lastEventId=\d+/, 'the stream resumes from a version');
    assert.equal(await page.evaluate(() => window.__noReload), true);
    // Failed connections while the server is down are expected; nothing else.
    assert.deepEqual(page.problems.filter((p) => !/ERR_CONNECTION_REFUSED|Failed to load resource|EventSource/.test(p)), []);
    await page.context().close();
  } finally {
    await server.stop('SIGTERM');
  }
});

test('a stream gone silent (the server frozen, the connection open) is opened again: the page says so and goes on live', async (t) => {
  const server = new Server('silent');
  servers.push(server);
  await server.start();
  const [local] = await server.providers();
  const service = local.services.find((s) => s.durationMinutes === 30) ?? local.services[0];
  try {
    const page = await openPage(server, { service });
    await waitForState(page, 'Live');
    const [later] = await listedFree(page);
    const noticed = await server.frozenUntil(() => waitForState(page, 'Reconnecting…', 60000));
    // Heartbeats every 5 s (the harness's --heartbeat-secs): three missed make a silence.
    assert.ok(noticed >= 9000, `not taken for dead while heartbeats were due: ${noticed} ms`);
    assert.equal((await server.book(local.id, service.id, await slotById(server, local.id, later.id))).status, 201);
    await page.waitForSelector(slotSelector(later.id, 'booked'), { timeout: 10000 });
    await waitForState(page, 'Live', 10000);
    t.diagnostic(`the silence was noticed ${noticed} ms after the server froze`);
    await page.context().close();
  } finally {
    await server.stop('SIGTERM');
  }
});

test('without EventSource the page polls with If-None-Match, gets 304s, picks up changes, and still reads Live', async (t) => {
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
  await waitForState(page, 'Live');
  await page.waitForFunction(() => Number(document.getElementById('poll-stats').dataset.notModified) >= 2, null, { timeout: POLL_MS * 8 });
  assert.ok(seen.notModified >= 1 && seen.conditional >= seen.notModified, JSON.stringify(seen));
  assert.equal(await page.textContent('#feed-mode'), 'polling');
  const [free] = await listedFree(page);
  assert.equal((await main.book(provider.id, shortService.id, await slotById(main, provider.id, free.id))).status, 201);
  await page.waitForSelector(slotSelector(free.id, 'booked'), { timeout: POLL_MS * 3 + 2000 });
  assert.equal(await connectionState(page), 'Live');
  assert.ok(!(await page.textContent('body')).includes('Polling'), 'the word stays in the developer panel');
  assert.deepEqual(page.problems, []);
  await page.context().close();
});

test('a stream that keeps failing is retried with jittered back-off, never given up for a slow poll', async (t) => {
  let block = true;
  const attempts = [];
  const page = await openPage(main, {
    setup: (p) => p.route((url) => url.pathname.endsWith('/availability/stream'), (route) => {
      attempts.push(Date.now());
      return block ? route.abort('connectionrefused') : route.continue();
    }),
  });
  await waitForState(page, 'Reconnecting…');
  while (attempts.length < 6) await sleep(100);
  const gaps = attempts.slice(1).map((at, i) => at - attempts[i]);
  t.diagnostic(`gaps between attempts: ${gaps.join(', ')} ms`);
  assert.ok(gaps.every((gap) => gap < 2500), `the back-off stays short: ${gaps}`);
  assert.equal(new Set(gaps.map((g) => Math.round(g / 10))).size > 1, true, 'jittered, not a fixed beat');
  assert.equal(await page.textContent('#feed-mode'), 'reconnecting', 'never "polling" while EventSource exists');
  block = false;
  await waitForState(page, 'Live', 5000);
  const [free] = await listedFree(page);
  assert.equal((await main.book(provider.id, shortService.id, await slotById(main, provider.id, free.id))).status, 201);
  await page.waitForSelector(slotSelector(free.id, 'booked'), { timeout: 3000 });
  assert.deepEqual(page.problems.filter((p) => !/ERR_CONNECTION_REFUSED/.test(p)), [], 'only the refused connections the test made');
  await page.context().close();
});

test('a stream that says reset makes the page fetch afresh and go on live', async () => {
  // The first document claims a version far ahead: the stream cannot resume from it and answers `reset`.
  let injected = false;
  const fetches = [];
  const page = await openPage(main, {
    setup: (p) => p.route((url) => /\/availability$/.test(url.pathname), async (route) => {
      fetches.push(route.request().url());
      const response = await route.fetch();
      if (injected) return route.fulfill({ response });
      injected = true;
      const body = await response.json();
      body.version += 1000;
      return route.fulfill({ json: body });
    }),
  });
  await page.waitForFunction(() => document.getElementById('poll-stats').dataset.polls === '2', null, { timeout: 10000 });
  await waitForState(page, 'Live');
  const { body } = await main.json(`/api/v1/providers/${provider.id}/availability?days=7`);
  await page.waitForFunction((v) => Number(document.getElementById('times').dataset.version) === v, body.version);
  const [free] = await listedFree(page);
  assert.equal((await main.book(provider.id, shortService.id, await slotById(main, provider.id, free.id))).status, 201);
  await page.waitForSelector(slotSelector(free.id, 'booked'), { timeout: 3000 });
  assert.equal(fetches.length, 2, 'one fetch, then one refetch on reset');
  assert.deepEqual(page.problems, []);
  await page.context().close();
});

// ---------------------------------------------------------------- slotstream.js on its own

/** A blank page on the server's origin with the client module imported as window.slotstream. */
async function modulePage(server, init) {
  const page = await newPage(server, { query: 'favicon.ico', init });
  await page.evaluate(async () => { window.slotstream = await import('/slotstream.js'); });
  return page;
}

/** Slot statuses of a document, by id. */
const statuses = (doc) => Object.fromEntries(doc.days.flatMap((d) => d.slots.map((s) => [s.availabilityId, s.status])));

test('slotstream.js: fetch-to-stream hand-over loses and repeats nothing while bookings race', async (t) => {
  const page = await modulePage(main);
  const slots = (await main.freeSlots(provider.id)).slice(0, 40);
  // Book in the background while the watch fetches and opens its stream.
  const racing = (async () => {
    for (let i = 0; i < slots.length; i += 4) {
      await Promise.all(slots.slice(i, i + 4).map((slot) => main.book(provider.id, shortService.id, slot)));
    }
  })();
  await page.evaluate((providerId) => {
    window.seen = [];
    window.watch = window.slotstream.watchAvailability({
      providerId,
      days: 14,
      onChange: (doc, change) => window.seen.push(change.event ? change.version : `doc ${change.version}`),
      onStatus: (status) => { window.status = status; },
    });
  }, provider.id);
  await racing;
  const { body: truth } = await main.json(`/api/v1/providers/${provider.id}/availability?days=14`);
  await page.waitForFunction((v) => window.watch.version === v, truth.version, { timeout: 10000 });
  const { doc, seen, stats } = await page.evaluate(() => ({ doc: window.watch.document, seen: window.seen, stats: window.watch.stats }));
  assert.deepEqual(statuses(doc), statuses(truth), 'no gap: the watched document equals a fresh read');
  const versions = seen.filter((v) => typeof v === 'number');
  assert.ok(versions.every((v, i) => i === 0 || v > versions[i - 1]), `each event applied once, in order: ${seen}`);
  assert.equal(typeof seen[0], 'string', 'the fetched document comes first');
  t.diagnostic(`fetched ${seen[0]}, then ${versions.length} events; ${stats.duplicates} older events skipped`);
  await page.evaluate(() => window.watch.close());
  assert.deepEqual(page.problems, []);
  await page.context().close();
});

test('slotstream.js: a tab hidden for a while closes its stream and resumes exactly from its last id', async () => {
  // The page's visibility, stubbed: the test hides and shows it.
  const page = await modulePage(main, () => {
    window.__visibility = 'visible';
    Object.defineProperty(Document.prototype, 'visibilityState', { configurable: true, get: () => window.__visibility });
    Object.defineProperty(Document.prototype, 'hidden', { configurable: true, get: () => window.__visibility === 'hidden' });
  });
  const streams = [];
  page.on('request', (r) => { if (r.url().includes('/availability/stream')) streams.push(new URL(r.url())); });
  await page.evaluate((providerId) => {
    window.statuses = [];
    window.watch = window.slotstream.watchAvailability({
      providerId, days: 14, hiddenCloseMs: 300,
      onStatus: (status) => window.statuses.push(status),
    });
  }, provider.id);
  await page.waitForFunction(() => window.watch.status === 'live');
  const [first, second] = await main.freeSlots(provider.id);
  assert.equal((await main.book(provider.id, shortService.id, first)).status, 201);
  const { body: before } = await main.json(`/api/v1/providers/${provider.id}/availability?days=14`);
  await page.waitForFunction((v) => window.watch.version === v, before.version);

  await page.evaluate(() => { window.__visibility = 'hidden'; document.dispatchEvent(new Event('visibilitychange')); });
  await page.waitForFunction(() => window.watch.status === 'paused');
  const opened = streams.length;
  assert.equal((await main.book(provider.id, shortService.id, second)).status, 201);
  await sleep(300);
  assert.equal(streams.length, opened, 'no stream while hidden');
  assert.equal(await page.evaluate(() => window.watch.version), before.version, 'nothing arrives while closed');

  await page.evaluate(() => { window.__visibility = 'visible'; document.dispatchEvent(new Event('visibilitychange')); });
  await page.waitForFunction(() => window.watch.status === 'live');
  assert.equal(streams.at(-1).searchParams.get('lastEventId'), String(before.version), 'resumed from its last id');
  const { body: after } = await main.json(`/api/v1/providers/${provider.id}/availability?days=14`);
  await page.waitForFunction((v) => window.watch.version === v, after.version);
  assert.deepEqual(statuses(await page.evaluate(() => window.watch.document)), statuses(after));
  assert.deepEqual(page.problems, []);
  await page.context().close();
});

test('slotstream.js: a stream refused for a deactivated provider ends the watch after one look at the document, not a reconnect loop', async () => {
  const created = await main.admin('PUT', 'browser-refused', { name: 'Refused Stream', timezone: 'Europe/Warsaw', currency: 'PLN' });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  const providerId = created.body.id;
  // Visibility stubbed as above: hidden, the watch closes its stream; the
  // provider is deactivated meanwhile; shown, the reopened stream is refused.
  const page = await modulePage(main, () => {
    window.__visibility = 'visible';
    Object.defineProperty(Document.prototype, 'visibilityState', { configurable: true, get: () => window.__visibility });
    Object.defineProperty(Document.prototype, 'hidden', { configurable: true, get: () => window.__visibility === 'hidden' });
  });
  const answers = [];
  page.on('response', (r) => { if (r.url().includes(`/providers/${providerId}/`)) answers.push(`${r.status()} ${new URL(r.url()).pathname.endsWith('/stream') ? 'stream' : 'document'}`); });
  await page.evaluate((id) => {
    window.statuses = [];
    window.watch = window.slotstream.watchAvailability({
      providerId: id, days: 7, hiddenCloseMs: 200, reconnectMs: 50, maxReconnectMs: 100,
      onStatus: (status) => window.statuses.push(status),
    });
  }, providerId);
  await page.waitForFunction(() => window.watch.status === 'live');
  await page.evaluate(() => { window.__visibility = 'hidden'; document.dispatchEvent(new Event('visibilitychange')); });
  await page.waitForFunction(() => window.watch.status === 'paused');
  assert.equal((await main.admin('POST', 'browser-refused/deactivate')).status, 200);
  const before = answers.length;
  await page.evaluate(() => { window.__visibility = 'visible'; document.dispatchEvent(new Event('visibilitychange')); });
  await page.waitForFunction(() => window.watch.status === 'ended', null, { timeout: 10000 });
  // Give a reconnect loop (the old behaviour) time to show itself.
  await sleep(500);
  assert.deepEqual(answers.slice(before), ['204 stream', '410 document'], 'one refused stream, one look at the document, then nothing');
  assert.deepEqual(page.problems.filter((p) => !p.startsWith('410 ') && !/status of 410/.test(p)), [], 'only the 410 it asked for');
  await page.context().close();
});

test("the README's module example runs as written (with this server's address)", async (t) => {
  const readme = fs.readFileSync(path.join(repoRoot, 'README.md'), 'utf8');
  const block = readme.match(/<!-- slotstream.js example -->\n```js\n([\s\S]*?)```/);
  assert.ok(block, 'README has a js block');
  const code = block[1].replaceAll('http://127.0.0.1:8080', main.base);
  assert.ok(code.trim().split('\n').length <= 5, 'five lines');
  const page = await newPage(main, { query: 'favicon.ico' });
  const logged = [];
  page.on('console', (m) => logged.push(m.text()));
  await page.addScriptTag({ type: 'module', content: code });
  await page.waitForFunction(() => true);
  const deadline = Date.now() + 10000;
  while (!(logged.some((l) => /^live$/.test(l)) && logged.some((l) => /\d+ free/.test(l))) && Date.now() < deadline) await sleep(100);
  t.diagnostic(`logged: ${logged.join(' | ')}`);
  assert.ok(logged.some((l) => /\d+ free/.test(l)) && logged.includes('live'), logged.join(' | '));
  assert.deepEqual(page.problems, []);
  await page.context().close();
});

// ---------------------------------------------------------------- holds

const NO_HOLDS = 'SKIPPED: this server has no slot holds (POST /api/v1/holds answered 404)';

test('holds: a hold that ends while the form is open is told plainly, and Try again holds the time anew', async (t) => {
  if (!holdsOn) return t.skip(NO_HOLDS);
  const page = await openPage(main);
  await waitForState(page, 'Live');
  const [free] = await listedFree(page);
  const created = page.waitForResponse(isHoldCreate);
  await page.click(slotSelector(free.id));
  const first = await (await created).json();
  assert.equal(await waitForForm(page), 'held');

  // The hold ends behind the page's back (as at expiry); the page's renewal finds it gone.
  const gone = await fetch(`${main.base}/api/v1/holds/${first.id}`, { method: 'DELETE', headers: { authorization: `Bearer ${first.token}` } });
  assert.equal(gone.status, 204);
  await page.waitForFunction(() => document.getElementById('book-dialog').dataset.hold === 'lost', null, { timeout: 10000 });
  assert.match(await page.textContent('#book-error'), /no longer reserved for you/);
  assert.ok(await page.isDisabled('#book-submit'));

  const retaken = page.waitForResponse(isHoldCreate);
  await page.click('#hold-retry');
  assert.equal((await retaken).status(), 201);
  assert.equal(await waitForForm(page), 'held');
  assert.ok(await page.isEnabled('#book-submit'));
  const release = page.waitForResponse(isHoldRelease);
  await page.keyboard.press('Escape');
  assert.equal((await release).status(), 204);
  // The renewal's 404/409 is how the page learnt the hold was gone; Chromium logs any such answer.
  assert.deepEqual(page.problems.filter((p) => !/status of (404|409)/.test(p)), []);
  await page.context().close();
});

test("a provider whose slots the marketplace's booking system owns: its times follow their booking URL, never a hold, and change live", async () => {
  const external = 'browser-external';
  const created = await main.admin('PUT', external, {
    name: 'Upstream Barber', timezone: 'Europe/Warsaw', currency: 'PLN',
    slotSource: 'external', bookingUrl: `${main.base}/favicon.ico?slot={externalSlotId}&at={startsAt}`,
  });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  const service = await main.admin('PUT', `${external}/services/cut`, { name: 'Cut', durationMinutes: 30, priceMinor: 5000, currency: 'PLN' });
  assert.equal(service.status, 201);
  // Tomorrow 10:00 and 10:30 in Warsaw, as the booking system publishes them.
  const tomorrow = new Date(Date.now() + 86400000).toLocaleDateString('en-CA', { timeZone: 'Europe/Warsaw' });
  const at = (hhmm) => {
    // The instant of local `hhmm` tomorrow in Warsaw (+01:00 or +02:00): the one whose Warsaw clock reads it.
    for (const zone of ['+01:00', '+02:00']) {
      const instant = new Date(`${tomorrow}T${hhmm}:00${zone}`);
      if (instant.toLocaleTimeString('en-GB', { timeZone: 'Europe/Warsaw', hour: '2-digit', minute: '2-digit' }) === hhmm) return instant;
    }
    throw new Error('no such local time');
  };
  const slot = (id, hhmm, status) => ({ externalSlotId: id, startsAt: at(hhmm).toISOString(), endsAt: new Date(at(hhmm).getTime() + 1800000).toISOString(), status });
  const published = await main.admin('POST', `${external}/slot-changes`, { sequence: 1, changes: [slot('ext-10', '10:00', 'available'), slot('ext-11', '10:30', 'available')] });
  assert.equal(published.status, 200, JSON.stringify(published.body));

  const page = await openPage(main, { query: `?provider=${created.body.id}`, service: { id: service.body.id } });
  await waitForState(page, 'Live');
  const free = await listedFree(page);
  assert.deepEqual(free.map((f) => f.start), ['10:00', '10:30']);
  // The booking system takes 10:30: every viewer sees it within a second or so.
  assert.equal((await main.admin('POST', `${external}/slot-changes`, { sequence: 2, changes: [slot('ext-11', '10:30', 'taken')] })).status, 200);
  await page.waitForSelector(`${slotSelector(free[1].id)}[data-kind="taken"]`, { timeout: 5000 });
  // Choosing 10:00 goes to the marketplace's booking page for that slot; no hold is taken here.
  const holds = [];
  page.on('request', (r) => { if (/\/api\/v1\/(holds|bookings)/.test(r.url())) holds.push(r.url()); });
  await Promise.all([
    page.waitForURL(/favicon\.ico\?slot=ext-10&at=/, { timeout: 10000 }),
    page.click(slotSelector(free[0].id)),
  ]);
  assert.ok(page.url().includes(`at=${at('10:00').toISOString().replace('.000Z', 'Z')}`), page.url());
  assert.deepEqual(holds, [], 'no hold and no booking through slotstream');
  assert.deepEqual(page.problems, []);
  await page.context().close();
});
