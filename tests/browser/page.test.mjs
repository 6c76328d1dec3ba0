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
/** What the screen shows (a full-page capture draws the sticky top bar mid-page and a dialog over a page it does not cover). */
const screenShot = (page, name) => page.screenshot({ path: path.join(OUTPUT_DIR, name) });

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
      assert.equal(zoneNote, `Times are ${providerZone}; your time (Japan Standard Time) is shown under each.`);
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
    query: `?debug&pollMs=${POLL_MS}`, // the counters are in the developer panel
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
    query: '?debug', // the feed's own state is in the developer panel
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
    query: '?debug', // the fetch counter is in the developer panel
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

// ---------------------------------------------------------------- what a customer noticed (issue: page fixes and polish)

/** A provider of its own via the admin API, open every day `hours` in `timezone`, with one 30-minute service. */
async function ownProvider(server, externalId, { timezone = 'Europe/London', currency = 'GBP', priceMinor = 2500, hours = [['09:00', '17:00']], address } = {}) {
  const created = await server.admin('PUT', externalId, { name: `Provider ${externalId}`, timezone, currency, ...(address ? { address } : {}) });
  assert.ok([200, 201].includes(created.status), JSON.stringify(created.body));
  const service = await server.admin('PUT', `${externalId}/services/cut`, { name: 'Cut', durationMinutes: 30, priceMinor, currency });
  assert.ok([200, 201].includes(service.status), JSON.stringify(service.body));
  const days = ['monday', 'tuesday', 'wednesday', 'thursday', 'friday', 'saturday', 'sunday'];
  const schedule = await server.admin('PUT', `${externalId}/schedule`, { slotMinutes: 30, weekly: Object.fromEntries(days.map((d) => [d, hours])), exceptions: [] });
  assert.equal(schedule.status, 200, JSON.stringify(schedule.body));
  return { id: created.body.id, service: { id: service.body.id } };
}

/** Book `free` (a listed free time) through the form: the booking's JSON (with its token). */
async function bookThroughForm(page, free, name = 'Page Customer') {
  await page.click(slotSelector(free.id));
  await waitForForm(page);
  await page.fill('#customer-name', name);
  await page.fill('#customer-email', 'customer@example.com');
  const created = page.waitForResponse(isBookingCreate);
  await page.click('#book-submit');
  const answer = await created;
  assert.equal(answer.status(), 201);
  await page.waitForSelector('#done-dialog[open]');
  return answer.json();
}

/** WCAG contrast ratio of two CSS rgb() colours. */
function contrast(a, b) {
  const luminance = (css) => {
    const [r, g, bl] = css.match(/[\d.]+/g).slice(0, 3).map(Number).map((c) => {
      const s = c / 255;
      return s <= 0.03928 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4;
    });
    return 0.2126 * r + 0.7152 * g + 0.0722 * bl;
  };
  const [hi, lo] = [luminance(a), luminance(b)].sort((x, y) => y - x);
  return (hi + 0.05) / (lo + 0.05);
}

/** Whether two DOMRect-like boxes overlap. */
const overlap = (a, b) => a.x < b.x + b.width && b.x < a.x + a.width && a.y < b.y + b.height && b.y < a.y + a.height;

/** The toast's box, whether it is what the eye sees at its centre (nothing above it), and every visible button's box in the open dialog. */
const toastLayout = (page) => page.evaluate(() => {
  const toast = document.getElementById('toast');
  const box = toast.getBoundingClientRect();
  const top = document.elementFromPoint(box.x + box.width / 2, box.y + box.height / 2);
  const buttons = [...(document.querySelector('dialog[open]')?.querySelectorAll('button, a') ?? [])]
    .filter((b) => b.checkVisibility())
    .map((b) => { const r = b.getBoundingClientRect(); return { x: r.x, y: r.y, width: r.width, height: r.height, text: b.textContent }; });
  return { text: toast.textContent, box: { x: box.x, y: box.y, width: box.width, height: box.height }, onTop: Boolean(top && toast.contains(top)), buttons };
});

test('A1: a price is shown in its currency\'s own minor unit: a JPY service of priceMinor 4500 reads ¥4,500, not ¥45', async () => {
  const jpy = await ownProvider(main, 'browser-jpy', { timezone: 'Asia/Tokyo', currency: 'JPY', priceMinor: 4500 });
  const gbp = await ownProvider(main, 'browser-gbp', { currency: 'GBP', priceMinor: 2500 });
  const page = await newPage(main, { query: `?provider=${jpy.id}`, viewport: PHONE });
  await page.waitForSelector('.service-meta');
  const meta = await page.textContent('.service-meta');
  assert.match(meta, /[¥￥]4,500/, meta);
  const pounds = await newPage(main, { query: `?provider=${gbp.id}` });
  await pounds.waitForSelector('.service-meta');
  assert.match(await pounds.textContent('.service-meta'), /£25\.00/, 'two-decimal currencies unchanged');
  assert.deepEqual([...page.problems, ...pounds.problems], []);
  await Promise.all([page.context().close(), pounds.context().close()]);
});

test('A2: a booking cancelled or moved elsewhere (through the API, with its token) says so in Your bookings, live and on load, and loses Cancel and Add to calendar once cancelled', async () => {
  const own = await ownProvider(main, 'browser-stale');
  const page = await openPage(main, { query: `?provider=${own.id}`, service: own.service });
  await waitForState(page, 'Live');
  const [first, second, third] = await freeTimesOfOneDay(page, 3);
  const kept = await bookThroughForm(page, first, 'Stale One');
  await page.click('#done-close');
  const moved = await bookThroughForm(page, second, 'Stale Two');
  await page.click('#done-close');
  const entry = (b) => `#my-bookings li[data-booking-id="${b.id}"]`;
  await page.waitForSelector(`${entry(moved)} button.cancel-booking`);

  // Another tab (here the API) cancels the first with its token: the page learns it from the stream.
  const cancel = await main.json(`/api/v1/bookings/${kept.id}/cancel`, { method: 'POST', headers: { authorization: `Bearer ${kept.token}` } });
  assert.equal(cancel.status, 200);
  await page.waitForSelector(`${entry(kept)}[data-status="cancelled"]`, { timeout: 10000 });
  assert.match(await page.textContent(`${entry(kept)} .booking-note`), /^Cancelled/);
  assert.equal(await page.locator(`${entry(kept)} button.cancel-booking, ${entry(kept)} .ics, ${entry(kept)} .google-calendar`).count(), 0, 'no Cancel, no Add to calendar');

  // The second is moved to the third time: the new time is shown, with the old one.
  const target = await slotById(main, own.id, third.id);
  const reschedule = await main.json(`/api/v1/bookings/${moved.id}/reschedule`, {
    method: 'POST', headers: { authorization: `Bearer ${moved.token}`, 'content-type': 'application/json' }, body: JSON.stringify({ startTime: target.startsAt }),
  });
  assert.equal(reschedule.status, 200, JSON.stringify(reschedule.body));
  await page.waitForFunction(([sel, start]) => document.querySelector(`${sel} .when`)?.textContent.includes(`, ${start}–`), [entry(moved), target.startTime], { timeout: 10000 });
  assert.match(await page.textContent(`${entry(moved)} .booking-note`), new RegExp(`^Moved to this time \\(it was .+ ${second.start}\\)\\.$`));

  // On load (another visit), both still say so.
  await page.reload();
  await page.waitForSelector(`${entry(kept)}[data-status="cancelled"]`);
  await page.waitForSelector(`${entry(moved)} .booking-note`);
  assert.equal(await page.locator(`${entry(moved)} button.cancel-booking`).count(), 1, 'a moved booking can still be cancelled');
  assert.deepEqual(page.problems, []);
  await page.context().close();
});

test('A2: a booking outside the days on screen, cancelled elsewhere meanwhile, says so when the customer comes back to the tab', async () => {
  const own = await ownProvider(main, 'browser-stale-away');
  const page = await openPage(main, { query: `?provider=${own.id}`, service: own.service });
  await waitForState(page, 'Live');
  const [free] = await freeTimesOfOneDay(page, 1);
  const booking = await bookThroughForm(page, free, 'Away Customer');
  await page.click('#done-close');
  const entry = `#my-bookings li[data-booking-id="${booking.id}"]`;
  await page.waitForSelector(`${entry} button.cancel-booking`);
  // The customer looks at the next week: the stream on screen no longer carries the booking's day.
  const firstDay = await page.getAttribute('#day-strip button[data-date]', 'data-date');
  await page.click('#next-week');
  await page.waitForFunction((d) => document.querySelector('#day-strip button[data-date]')?.dataset.date > d, firstDay);
  await waitForState(page, 'Live');
  const cancel = await main.json(`/api/v1/bookings/${booking.id}/cancel`, { method: 'POST', headers: { authorization: `Bearer ${booking.token}` } });
  assert.equal(cancel.status, 200);
  // Away in another tab, then back to this one.
  await page.evaluate(() => document.dispatchEvent(new Event('visibilitychange')));
  await page.waitForSelector(`${entry}[data-status="cancelled"]`, { timeout: 10000 });
  assert.equal(await page.locator(`${entry} button.cancel-booking, ${entry} .ics`).count(), 0, 'no Cancel, no Add to calendar');
  assert.deepEqual(page.problems, []);
  await page.context().close();
});

test('A3: the focus stays on the chosen day button after choosing a day, and lands on the booking after its confirmation closes', async () => {
  // A provider of its own: the shared demo providers' weeks fill up as the suite books them.
  const own = await ownProvider(main, 'browser-focus');
  const page = await openPage(main, { query: `?provider=${own.id}`, service: own.service, viewport: PHONE });
  await waitForState(page, 'Live');
  // The strip's counts come with the week's document: wait for another day with free times.
  const other = await (await page.waitForFunction(() => {
    const current = document.querySelector('#day-strip [aria-selected="true"]')?.dataset.date;
    const days = [...document.querySelectorAll('#day-strip button[data-date]')];
    return days.find((d) => d.dataset.date !== current && Number(d.dataset.free) > 0)?.dataset.date;
  }, null, { timeout: 30000 })).jsonValue();
  assert.ok(other, 'another day with free times');
  await page.focus(`#day-strip button[data-date="${other}"]`);
  await page.keyboard.press('Enter');
  await page.waitForSelector(`#times button[data-date="${other}"]`);
  assert.deepEqual(await page.evaluate(() => ({ date: document.activeElement?.dataset.date, selected: document.activeElement?.getAttribute('aria-selected') })), { date: other, selected: 'true' });

  // Book from the keyboard; Done closes the confirmation and the focus lands on the booking just made.
  const [free] = await listedFree(page);
  await page.focus(slotSelector(free.id));
  await page.keyboard.press('Enter');
  await waitForForm(page);
  await page.keyboard.type('Keyboard Customer');
  await page.fill('#customer-email', 'keys@example.com');
  const created = page.waitForResponse(isBookingCreate);
  await page.keyboard.press('Enter');
  const booking = await (await created).json();
  await page.waitForSelector('#done-dialog[open]');
  assert.equal(await page.evaluate(() => document.activeElement.id), 'done-close');
  await page.keyboard.press('Enter');
  await page.waitForSelector('#done-dialog:not([open])', { state: 'attached' });
  await page.waitForFunction((id) => document.activeElement?.dataset.bookingId === id, booking.id, { timeout: 5000 });
  assert.deepEqual(page.problems, []);
  await page.context().close();
});

test('A4: "Skip to …" before a service is chosen leads to the services, visible; once times are shown, to the times', async () => {
  const page = await newPage(main, { viewport: PHONE });
  await page.waitForSelector('.service input');
  await page.keyboard.press('Tab');
  assert.equal(await page.evaluate(() => document.activeElement.className), 'skip-link');
  await page.keyboard.press('Enter');
  const landed = await page.evaluate(() => ({ visible: document.activeElement.checkVisibility(), inServices: Boolean(document.activeElement.closest('#services')), tag: document.activeElement.tagName }));
  assert.deepEqual(landed, { visible: true, inServices: true, tag: 'INPUT' });

  await page.check(`.service input[value="${shortService.id}"]`);
  await page.waitForSelector('#times button[data-slot-id]');
  await page.focus('.skip-link');
  assert.equal(await page.textContent('.skip-link'), 'Skip to the times');
  await page.keyboard.press('Enter');
  assert.deepEqual(await page.evaluate(() => ({ id: document.activeElement.id, visible: document.activeElement.checkVisibility() })), { id: 'times', visible: true });
  assert.deepEqual(page.problems, []);
  await page.context().close();
});

for (const [name, viewport] of [['phone', PHONE], ['desktop', DESKTOP]]) {
  test(`B: ${name}: tap targets are at least 44 px (‹ ›, every day, the provider select with ?debug)`, async () => {
    if ((await main.providers()).length < 2) await ownProvider(main, 'browser-second');
    const page = await openPage(main, { viewport, query: '?debug' });
    await waitForState(page, 'Live');
    const boxes = await page.$$eval('#prev-week, #next-week, #day-strip button, #provider', (els) =>
      els.map((e) => ({ what: e.id || e.dataset.date, width: e.getBoundingClientRect().width, height: e.getBoundingClientRect().height })));
    assert.equal(boxes.length, 2 + 7 + 1, JSON.stringify(boxes));
    const small = boxes.filter((b) => b.width < 44 || b.height < 44);
    assert.deepEqual(small, [], 'every target 44x44 or more');
    assert.equal(await page.evaluate(() => document.documentElement.scrollWidth), viewport.width, 'no sideways scroll');
    await shot(page, `page-${name}-fixed-times.png`);
    assert.deepEqual(page.problems, []);
    await page.context().close();
  });
}

test('B: phone: the Live badge stays in view while the customer scrolls down the page', async () => {
  const page = await openPage(main, { viewport: PHONE });
  await waitForState(page, 'Live');
  await page.evaluate(() => window.scrollTo(0, document.documentElement.scrollHeight));
  await page.waitForFunction(() => window.scrollY > 100);
  const badge = await page.evaluate(() => {
    const el = document.getElementById('connection-state');
    const r = el.getBoundingClientRect();
    const top = document.elementFromPoint(r.x + r.width / 2, r.y + r.height / 2);
    return { inView: r.top >= 0 && r.bottom <= window.innerHeight && r.right <= window.innerWidth, seen: Boolean(top && el.contains(top)) };
  });
  assert.deepEqual(badge, { inView: true, seen: true });
  await screenShot(page, 'page-phone-fixed-scrolled.png');
  await page.context().close();
});

test('B: today after its last time reads "No more times today", not "Closed"', async () => {
  // A zone where it is now between 02:00 and 22:00, open 00:00–01:00 every day: today's times are over
  // (a schedule set now publishes none of them), tomorrow's are free.
  const zone = ['Europe/London', 'Asia/Tokyo', 'America/Los_Angeles', 'Pacific/Auckland']
    .find((z) => { const h = Number(new Date().toLocaleString('en-GB', { timeZone: z, hour: '2-digit', hourCycle: 'h23' })); return h >= 2 && h < 22; });
  const own = await ownProvider(main, 'browser-over', { timezone: zone, hours: [['00:00', '01:00']] });
  const page = await openPage(main, { query: `?provider=${own.id}`, service: own.service, viewport: PHONE });
  const today = await page.getAttribute('#day-strip button[data-date]', 'data-date');
  assert.equal(await page.textContent(`#day-strip button[data-date="${today}"] .wd`), 'Today');
  await page.click(`#day-strip button[data-date="${today}"]`);
  await page.waitForFunction(() => document.querySelector('#times .empty'));
  assert.equal(await page.textContent('#times .empty'), 'No more times today.');
  assert.equal(await page.textContent(`#day-strip button[data-date="${today}"] .note`), 'No more times');
  assert.match(await page.getAttribute(`#day-strip button[data-date="${today}"]`, 'aria-label'), /, no more times today$/);
  assert.ok(!(await page.textContent('#time-step')).includes('Closed'), 'never "Closed" for today');
  await shot(page, 'page-phone-fixed-no-more-today.png');
  assert.deepEqual(page.problems, []);
  await page.context().close();
});

test('B: the visitor\'s own zone is named as the browser names it ("India Standard Time", not "Calcutta time")', async () => {
  assert.notEqual(provider.timezone, 'Asia/Kolkata');
  const page = await openPage(main, { timezoneId: 'Asia/Kolkata' });
  const note = await page.textContent('#timezone-note');
  assert.match(note, /your time \(India Standard Time\) is shown under each/, note);
  assert.deepEqual(page.problems, []);
  await page.context().close();
});

test('B: booked times stay legible: text contrast of every time that cannot be booked is at least 4.5:1', async () => {
  const page = await openPage(main);
  await waitForState(page, 'Live');
  const [free] = await listedFree(page);
  assert.equal((await main.book(provider.id, shortService.id, await slotById(main, provider.id, free.id))).status, 201);
  await page.waitForSelector(`${slotSelector(free.id, 'booked')}.taken`);
  // Wait for the colour transition to end.
  await page.waitForFunction((sel) => document.querySelector(sel).getAnimations().length === 0, slotSelector(free.id));
  const styles = await page.$$eval('#times button.slot:not(.free)', (buttons) => buttons.flatMap((b) =>
    [b, ...b.children].map((el) => ({ kind: b.dataset.kind, text: el.textContent, color: getComputedStyle(el).color, background: getComputedStyle(b).backgroundColor }))));
  assert.ok(styles.some((s) => s.kind === 'taken'), 'a booked time is listed');
  const poor = styles.map((s) => ({ ...s, ratio: contrast(s.color, s.background) })).filter((s) => s.ratio < 4.5);
  assert.deepEqual(poor, [], 'contrast at least 4.5:1');
  assert.deepEqual(page.problems, []);
  await page.context().close();
});

test('B: phone: the booking form is a bottom sheet saying "Book 14:30" and "Keep looking"; a customer who loses the time is offered the nearest free times, and the toast lies above the backdrop and over no button', async () => {
  const page = await openPage(main, { viewport: PHONE });
  await waitForState(page, 'Live');
  const free = await freeTimesOfOneDay(page, 4);
  const lost = free[1];
  const slot = await slotById(main, provider.id, lost.id);
  // Someone else books this time just as the page asks to hold it: the hold is refused (409).
  await page.route('**/api/v1/holds', async (route) => {
    if (route.request().method() === 'POST') assert.equal((await main.book(provider.id, shortService.id, slot, 'Quicker Customer')).status, 201);
    await route.continue();
  }, { times: 1 });
  await page.click(slotSelector(lost.id));
  await page.waitForFunction(() => document.getElementById('book-dialog').dataset.hold === 'taken', null, { timeout: 10000 });
  const sheet = await page.evaluate(() => { const r = document.getElementById('book-dialog').getBoundingClientRect(); return { left: r.left, width: r.width, bottom: r.bottom }; });
  assert.deepEqual({ left: Math.round(sheet.left), width: Math.round(sheet.width), bottom: Math.round(sheet.bottom) }, { left: 0, width: PHONE.width, bottom: PHONE.height }, 'a sheet along the bottom edge');
  assert.equal(await page.textContent('#book-submit'), `Book ${lost.start}`);
  assert.equal(await page.textContent('#book-close'), 'Keep looking');
  await page.waitForSelector('#book-alternatives button.alternative');
  const offered = await page.$$eval('#book-alternatives button.alternative', (bs) => bs.map((b) => ({ id: b.dataset.slotId, text: b.textContent })));
  assert.ok(offered.length >= 2 && offered.length <= 3, JSON.stringify(offered));
  assert.ok(offered.every((o) => o.id !== lost.id), 'not the lost time');
  // The nearer of its neighbours on that day is among them.
  const [before, after] = await Promise.all([slotById(main, provider.id, free[0].id), slotById(main, provider.id, free[2].id)]);
  const distance = (s) => Math.abs(Date.parse(s.startsAt) - Date.parse(slot.startsAt));
  const nearest = distance(before) < distance(after) ? free[0] : free[2];
  assert.ok(offered.some((o) => o.id === nearest.id), `the nearest time, ${nearest.start}, is offered: ${JSON.stringify(offered)}`);
  await screenShot(page, 'page-phone-fixed-lost-race.png');

  // A toast said inside the open sheet: above the backdrop, over none of its buttons.
  await page.evaluate(async () => (await import('/app/state.js')).announce('A toast while the form is open.'));
  await page.waitForFunction(() => document.getElementById('toast').textContent === 'A toast while the form is open.');
  const layout = await toastLayout(page);
  assert.ok(layout.onTop, 'nothing lies over the toast');
  assert.deepEqual(layout.buttons.filter((b) => overlap(b, layout.box)), [], 'the toast covers no button');

  // One tap books the nearest time instead.
  const pick = offered.find((o) => o.id === nearest.id);
  const held = page.waitForResponse(isHoldCreate);
  await page.click(`#book-alternatives button[data-slot-id="${pick.id}"]`);
  assert.equal((await held).status(), 201);
  assert.equal(await waitForForm(page), 'held');
  assert.equal(await page.textContent('#book-submit'), `Book ${nearest.start}`);
  assert.ok(await page.isHidden('#book-alternatives'));
  await page.fill('#customer-name', 'Second Try');
  await page.fill('#customer-email', 'second@example.com');
  const created = page.waitForResponse(isBookingCreate);
  await page.click('#book-submit');
  assert.equal((await created).status(), 201);
  await page.waitForSelector('#done-dialog[open]');
  assert.match(await page.textContent('#done-details dd[data-field="when"]'), new RegExp(`${nearest.start}–`));
  assert.deepEqual(page.problems.filter((p) => !/status of 409/.test(p)), [], 'only the lost hold');
  await page.context().close();
});

for (const [name, viewport] of [['phone', PHONE], ['desktop', DESKTOP]]) {
  test(`B: ${name}: the confirmation offers the .ics, Google and Outlook (place and manage link in each), one wording for the manage link, and its toast lies above the backdrop over no button`, async () => {
    const page = await openPage(main, { viewport });
    await waitForState(page, 'Live');
    const [free] = await listedFree(page);
    const slot = await slotById(main, provider.id, free.id);
    const booking = await bookThroughForm(page, free, 'Calendar Customer');
    await page.waitForFunction(() => document.getElementById('toast').textContent.startsWith('Booked '));
    const layout = await toastLayout(page);
    assert.ok(layout.onTop, 'the toast is seen, above the backdrop');
    assert.deepEqual(layout.buttons.filter((b) => overlap(b, layout.box)), [], 'the toast covers no button');
    await screenShot(page, `page-${name}-fixed-confirmation.png`);

    const manage = new RegExp(`#booking=${booking.id}&token=bk_`);
    const stamp = (iso) => new Date(iso).toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, '');
    const google = new URL(await page.getAttribute('#done-calendar a.google-calendar', 'href'));
    assert.equal(google.origin + google.pathname, 'https://calendar.google.com/calendar/render');
    assert.equal(google.searchParams.get('action'), 'TEMPLATE');
    assert.match(google.searchParams.get('text'), new RegExp(shortService.name));
    assert.equal(google.searchParams.get('dates'), `${stamp(slot.startsAt)}/${stamp(slot.endsAt)}`);
    assert.match(google.searchParams.get('details'), manage);
    assert.equal(google.searchParams.get('location'), provider.address);
    const outlook = new URL(await page.getAttribute('#done-calendar a.outlook-calendar', 'href'));
    assert.equal(outlook.origin + outlook.pathname, 'https://outlook.live.com/calendar/0/deeplink/compose');
    assert.match(outlook.searchParams.get('subject'), new RegExp(shortService.name));
    assert.equal(outlook.searchParams.get('startdt'), new Date(slot.startsAt).toISOString());
    assert.equal(outlook.searchParams.get('enddt'), new Date(slot.endsAt).toISOString());
    assert.match(outlook.searchParams.get('body'), manage);
    assert.equal(outlook.searchParams.get('location'), provider.address);
    const [download] = await Promise.all([page.waitForEvent('download'), page.click('#done-ics')]);
    const event = parseIcs(fs.readFileSync(await download.path(), 'utf8'));
    assert.equal(event.location, provider.address);
    assert.match(event.description, manage);
    assert.equal(event.startDate.toJSDate().toISOString(), new Date(slot.startsAt).toISOString());
    assert.equal(event.endDate.toJSDate().toISOString(), new Date(slot.endsAt).toISOString());

    // One wording for the manage link, in the confirmation and in Your bookings.
    await page.click('#done-close');
    const entry = `#my-bookings li[data-booking-id="${booking.id}"]`;
    await page.waitForSelector(`${entry} a.google-calendar`);
    assert.equal(await page.getAttribute(`${entry} a.google-calendar`, 'href'), google.href);
    const copyLabels = await page.$$eval('#done-copy, #my-bookings .copy-link', (bs) => bs.map((b) => b.textContent));
    assert.deepEqual([...new Set(copyLabels)], ['Copy manage link']);
    const words = await page.evaluate(() => document.body.innerText);
    assert.ok(!/copy link|booking link/i.test(words), 'no other name for it');
    await page.locator('.bookings-section').screenshot({ path: path.join(OUTPUT_DIR, `page-${name}-fixed-bookings.png`) });
    assert.deepEqual(page.problems, []);
    await page.context().close();
  });
}

test('B: the developer panel and the all-providers select only with ?debug', async () => {
  if ((await main.providers()).length < 2) await ownProvider(main, 'browser-second');
  const plain = await newPage(main);
  await plain.waitForSelector('.service input');
  await waitForState(plain, 'Live');
  assert.ok(await plain.isHidden('#dev-panel'), 'no developer panel');
  assert.ok(await plain.isHidden('#provider'), 'no select of every provider');
  const debug = await newPage(main, { query: '?debug' });
  await debug.waitForSelector('.service input');
  await waitForState(debug, 'Live');
  assert.ok(await debug.isVisible('#dev-panel'));
  assert.ok(await debug.isVisible('#provider'));
  assert.deepEqual([...plain.problems, ...debug.problems], []);
  await Promise.all([plain.context().close(), debug.context().close()]);
});
