// The React app (src/main.tsx, built by Vite into dist/) in headless
// Chromium against a real slotstream server, which serves dist/ itself
// (`--static-dir`), so the app and the API share an origin. The app renders
// useAvailability's state; these tests book through the API and watch it
// arrive: over the stream, after a lost connection (resumed, not refetched),
// and by conditional polling where the browser has no EventSource.
//
// Run by run.sh after `vite build`; uses tests/browser/harness.mjs (the
// server binary, SLOTSTREAM_BIN, and Debian Chromium).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { OUTPUT_DIR, Server, checkPrerequisites, launchBrowser, removeTmp, sleep, until } from '../browser/harness.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const DIST = path.join(here, 'dist');
// Generous: CI is a loaded two-core machine.

let server;
let browser;
let provider;
let service;


before(async () => {
  checkPrerequisites();
  assert.ok(fs.existsSync(path.join(DIST, 'index.html')), 'no dist/: build the app first (bash tests/react-app/run.sh)');
  // The harness serves SLOTSTREAM_STATIC_DIR instead of the embedded page: here, the app.
  process.env.SLOTSTREAM_STATIC_DIR = DIST;
  server = await new Server('react').start();
  [provider] = await server.providers();
  service = provider.services.find((s) => s.durationMinutes === 30) ?? provider.services[0];
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await server?.stop();
  removeTmp();
});

/** The server's open streams (`/metrics`). */
async function activeStreams() {
  const text = await (await fetch(`${server.base}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith('slotstream_active_streams '));
  return line ? Number(line.split(' ')[1]) : undefined;
}

/** A booking of the first free time (from tomorrow on) that takes, through `via` (a Server). */
async function bookFree(via = server) {
  for (const slot of await via.freeSlots(provider.id)) {
    const { status, body } = await via.book(provider.id, service.id, slot, 'React Watcher');
    if (status === 201) return { slot, booking: body };
    assert.equal(status, 409, JSON.stringify(body));
  }
  throw new Error('no free time to book');
}

/**
 * The app for the first provider (`query` added to its URL); `watch(page)` runs before it loads.
 * `page.problems` collects page errors and console errors.
 */
async function openApp(context, query = '', watch = () => {}) {
  const page = await context.newPage();
  page.problems = [];
  page.on('pageerror', (error) => page.problems.push(String(error)));
  page.on('console', (message) => {
    if (message.type() === 'error') page.problems.push(message.text());
  });
  watch(page);
  await page.goto(`${server.base}/?provider=${provider.id}${query}`);
  return page;
}

const calendarStatus = (page) => page.evaluate(() => document.getElementById('calendar')?.dataset.status);
const slotStatus = (page, id) =>
  page.evaluate((slotId) => document.querySelector(`[data-availability-id="${slotId}"]`)?.dataset.status, id);
const waitForStatus = (page, status) => until(`the calendar to be ${status}`, async () => (await calendarStatus(page)) === status);

test('a booking made through the API reaches the React app over the stream; only its day re-renders; a cancellation frees it again', async () => {
  const context = await browser.newContext();
  const page = await openApp(context, '&readme');
  await waitForStatus(page, 'live');
  await until('the slots', () => page.evaluate(() => document.querySelectorAll('[data-availability-id]').length > 0));
  await page.evaluate(() => { window.notReloaded = true; });
  const versionBefore = Number(await page.evaluate(() => document.getElementById('calendar').dataset.version));
  const rendersBefore = await page.evaluate(() => ({ ...window.dayRenders }));
  const readmeBooked = () => page.evaluate(() => document.querySelectorAll('#readme-example span.booked').length);
  const readmeBookedBefore = await readmeBooked();
  assert.match(await page.textContent('#readme-example'), /^live, updated /, 'the README example says live');

  const { slot, booking } = await bookFree();
  await until('the booked time to read booked', async () => (await slotStatus(page, slot.availabilityId)) === 'booked');
  const versionAfter = Number(await page.evaluate(() => document.getElementById('calendar').dataset.version));
  assert.ok(versionAfter > versionBefore, `version ${versionBefore} -> ${versionAfter}`);
  assert.equal(await page.evaluate(() => window.notReloaded), true, 'no reload');
  await until('the README example to show it', async () => (await readmeBooked()) > readmeBookedBefore);

  // Only the booked day's component rendered again: the others kept their objects (memo).
  const rendersAfter = await page.evaluate(() => ({ ...window.dayRenders }));
  for (const [date, count] of Object.entries(rendersBefore)) {
    if (date === slot.date) assert.ok(rendersAfter[date] > count, `${date} re-rendered`);
    else assert.equal(rendersAfter[date], count, `${date} (not ${slot.date}) rendered again`);
  }

  const cancelled = await fetch(`${server.base}/api/v1/bookings/${booking.id}/cancel`, {
    method: 'POST',
    headers: { authorization: `Bearer ${booking.token}` },
  });
  assert.equal(cancelled.status, 200);
  await until('the time to be free again', async () => (await slotStatus(page, slot.availabilityId)) === 'available');
  assert.equal(await calendarStatus(page), 'live');
  fs.writeFileSync(path.join(OUTPUT_DIR, 'react-app.png'), await page.screenshot({ fullPage: true }));
  assert.deepEqual(page.problems, []);
  await context.close();
});

test('after a lost connection the hook resumes from its version: a booking made meanwhile arrives without a refetch', async () => {
  const context = await browser.newContext();
  const documents = [];
  const streams = [];
  const page = await openApp(context, '', (p) =>
    p.on('response', (response) => {
      const url = new URL(response.url());
      if (url.pathname.endsWith('/availability')) documents.push(response.status());
      if (url.pathname.endsWith('/availability/stream')) streams.push({ lastEventId: url.searchParams.get('lastEventId'), status: response.status() });
    }));
  await waitForStatus(page, 'live');
  await until('the slots', () => page.evaluate(() => document.querySelectorAll('[data-availability-id]').length > 0));
  const version = await page.evaluate(() => document.getElementById('calendar').dataset.version);
  const documentsBefore = documents.length;

  // The server goes away; while it is gone, another instance on the same database takes a booking.
  await server.stop();
  await waitForStatus(page, 'reconnecting');
  const other = await new Server('react-other', { dbFile: server.dbFile }).start();
  let booked;
  try {
    booked = await bookFree(other);
  } finally {
    await other.stop();
  }
  assert.equal(await slotStatus(page, booked.slot.availabilityId), 'available', 'not seen yet');

  await server.start();
  await until('the booking to arrive', async () => (await slotStatus(page, booked.slot.availabilityId)) === 'booked');
  await waitForStatus(page, 'live');
  assert.deepEqual(page.problems.filter((p) => !/ERR_CONNECTION_REFUSED|Failed to load resource/.test(p)), []);
  // Resumed: a stream from the version it had, and no new document.
  assert.ok(streams.some((s) => s.lastEventId === version && s.status === 200), JSON.stringify(streams));
  assert.equal(documents.length, documentsBefore, 'no refetch of the document');
  await context.close();
});

test('without EventSource the hook polls with If-None-Match: 304s while nothing changes, and a booking arrives with the next 200', async () => {
  const context = await browser.newContext();
  await context.addInitScript(() => {
    delete window.EventSource;
  });
  const polls = [];
  const page = await openApp(context, '&poll=250', (p) =>
    p.on('response', (response) => {
      const url = new URL(response.url());
      if (url.pathname.endsWith('/availability/stream')) polls.push({ stream: true });
      if (!url.pathname.endsWith('/availability')) return;
      const ifNoneMatch = response.request().headers()['if-none-match'] ?? null;
      polls.push({ status: response.status(), ifNoneMatch, etag: response.headers().etag ?? null });
    }));
  await waitForStatus(page, 'polling');
  const notModified = () => polls.filter((p) => p.status === 304);
  await until('two 304s', () => notModified().length >= 2);

  const [first] = polls;
  assert.equal(first.status, 200);
  assert.equal(first.ifNoneMatch, null, 'the first GET is unconditional');
  for (const poll of notModified()) assert.equal(poll.ifNoneMatch, first.etag);
  assert.ok(!polls.some((p) => p.stream), 'no stream without EventSource');

  const { slot } = await bookFree();
  await until('the booking to arrive by polling', async () => (await slotStatus(page, slot.availabilityId)) === 'booked');
  const changed = polls.find((p, i) => i > 0 && p.status === 200);
  assert.ok(changed, JSON.stringify(polls));
  assert.equal(changed.ifNoneMatch, first.etag, 'asked conditionally');
  assert.notEqual(changed.etag, first.etag);
  // And the polls after it ask with the new tag.
  await until('a 304 for the new tag', () => polls.some((p) => p.status === 304 && p.ifNoneMatch === changed.etag));
  assert.equal(await calendarStatus(page), 'polling');
  assert.deepEqual(page.problems, []);
  await context.close();
});

test('another provider starts a new watch and closes the old stream; no provider watches nothing (idle, no stream)', async () => {
  const [first, second] = await server.providers();
  const context = await browser.newContext();
  const streams = [];
  const page = await openApp(context, '', (p) =>
    p.on('request', (request) => {
      const url = new URL(request.url());
      if (url.pathname.endsWith('/availability/stream')) streams.push(url.pathname);
    }));
  await waitForStatus(page, 'live');
  const shownProvider = () => page.evaluate(() => document.getElementById('calendar').dataset.providerId);
  assert.equal(await shownProvider(), first.id);
  await until('one open stream', async () => (await activeStreams()) === 1);

  await page.selectOption('#provider', second.id);
  // Never the first provider's days under the second's name: empty until its own arrive.
  assert.ok([second.id, ''].includes(await shownProvider()));
  await until('the second provider live', async () => (await shownProvider()) === second.id && (await calendarStatus(page)) === 'live');
  assert.ok(streams.at(-1).includes(second.id), streams.join('\n'));
  await until('the first stream closed', async () => (await activeStreams()) === 1);

  await page.selectOption('#provider', '');
  await waitForStatus(page, 'idle');
  assert.equal(await page.evaluate(() => document.querySelectorAll('[data-availability-id]').length), 0);
  await until('no open stream', async () => (await activeStreams()) === 0);
  assert.deepEqual(page.problems, []);
  await context.close();
});
