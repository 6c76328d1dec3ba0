// Browser tests of the waitlist on the customer's page (DESIGN 4c, issue 25):
// a fully booked day offers "Tell me if a time opens"; the entry is listed
// under "Your bookings" and can be left; a cancellation holds the time for
// the waiting customer, whose open page shows the offer with a countdown,
// Book it and No thanks; the webhook's claim link opens the offer in a fresh
// browser.
//
// One server (the harness's, with --webhook-allow-private for the claim
// link's webhook and room for more than five entries from one client: every
// page here is 127.0.0.1). Each test makes a provider of its own, open every
// day 10:00–11:00 in Warsaw (two 30-minute times), and fills tomorrow, never
// "the first free time": CI may run late in the provider's day.
// Run with `bash tests/browser/run.sh` from the repository root.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { once } from 'node:events';
import path from 'node:path';
import { OUTPUT_DIR, Server, checkPrerequisites, launchBrowser, removeTmp, sleep, until } from './harness.mjs';

const PHONE = { width: 390, height: 844 };
const DESKTOP = { width: 1280, height: 900 };
const ZONE = 'Europe/Warsaw';
const EVERY_DAY = ['monday', 'tuesday', 'wednesday', 'thursday', 'friday', 'saturday', 'sunday'];
/** A generous deadline for anything a test waits for (a wait, not a speed claim): CI is a loaded two-core machine. */
const WAIT_MS = 20000;

let browser;
let server;
/** The webhook receiver: every delivery's body, in arrival order. */
const deliveries = [];
let receiver;

before(async () => {
  checkPrerequisites();
  server = new Server('waitlist', { args: ['--webhook-allow-private', '--max-waitlist-per-client', '100'] });
  receiver = http.createServer((request, response) => {
    let body = '';
    request.on('data', (chunk) => { body += chunk; });
    request.on('end', () => {
      try {
        deliveries.push(JSON.parse(body));
      } catch {
        deliveries.push({ unreadable: body });
      }
      response.writeHead(204).end();
    });
  });
  receiver.listen(0, '127.0.0.1');
  [browser] = await Promise.all([launchBrowser(), server.start(), once(receiver, 'listening')]);
});

after(async () => {
  await browser?.close();
  await server?.stop('SIGKILL');
  receiver?.close();
  removeTmp();
});

const shot = (page, name) => page.screenshot({ path: path.join(OUTPUT_DIR, name), fullPage: true });

/** YYYY-MM-DD plus `n` days. */
function addDays(iso, n) {
  const date = new Date(`${iso}T00:00:00Z`);
  date.setUTCDate(date.getUTCDate() + n);
  return date.toISOString().slice(0, 10);
}

/** Tomorrow in the providers' zone. */
const tomorrow = () => addDays(new Date().toLocaleDateString('en-CA', { timeZone: ZONE }), 1);


/** A provider of its own: every day `hours` (10:00–11:00) in Warsaw, one 30-minute service. { id, externalId, serviceId, name } */
async function newProvider(name, hours = ['10:00', '11:00']) {
  const externalId = `waitlist-${name}`;
  const created = await server.admin('PUT', externalId, { name: `Waitlist ${name}`, timezone: ZONE, currency: 'PLN', address: 'ul. Testowa 1, Warszawa' });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  const service = await server.admin('PUT', `${externalId}/services/cut`, { name: 'Cut', durationMinutes: 30, priceMinor: 5000, currency: 'PLN' });
  assert.equal(service.status, 201, JSON.stringify(service.body));
  const weekly = Object.fromEntries(EVERY_DAY.map((day) => [day, [hours]]));
  const schedule = await server.admin('PUT', `${externalId}/schedule`, { slotMinutes: 30, weekly });
  assert.ok(schedule.status < 300, JSON.stringify(schedule.body));
  return { id: created.body.id, externalId, serviceId: service.body.id, name: created.body.name };
}

/** The slots of one date, from the server. */
async function slotsOn(provider, date) {
  const { status, body } = await server.json(`/api/v1/providers/${provider.id}/availability?startDate=${date}&days=1`);
  assert.equal(status, 200, JSON.stringify(body));
  return body.days[0].slots;
}

/** Book every time of `date` through the API: the bookings (with their tokens), earliest first. */
async function fillDay(provider, date) {
  const slots = await slotsOn(provider, date);
  assert.equal(slots.length, 2, `two times on ${date}: ${JSON.stringify(slots)}`);
  const bookings = [];
  for (const slot of slots) {
    const { status, body } = await server.book(provider.id, provider.serviceId, slot, 'Someone Else');
    assert.equal(status, 201, JSON.stringify(body));
    bookings.push({ ...body, slot });
  }
  return bookings;
}

async function cancel(booking) {
  const { status, body } = await server.json(`/api/v1/bookings/${booking.id}/cancel`, { method: 'POST', headers: { authorization: `Bearer ${booking.token}` } });
  assert.equal(status, 200, JSON.stringify(body));
}

/** The entry as its token reads it now. */
async function entryNow(entry, token = entry.token) {
  const { status, body } = await server.json(`/api/v1/waitlist/${entry.id}`, { headers: { authorization: `Bearer ${token}` } });
  assert.equal(status, 200, JSON.stringify(body));
  return body;
}

/** Answers of the waitlist API the tests provoke on purpose; anything else 4xx/5xx is a problem. */
const isWaitlistCall = (r) => /\/api\/v1\/waitlist/.test(r.url());
const isJoin = (r) => r.url().endsWith('/api/v1/waitlist') && r.request().method() === 'POST';
const isBookingCreate = (r) => r.url().endsWith('/api/v1/bookings') && r.request().method() === 'POST';

/**
 * A page in a fresh browser context (no storage). Console errors, page errors
 * and 4xx/5xx answers are collected in `page.problems`, but for `expected`.
 */
async function newPage({ query = '', viewport = DESKTOP, timezoneId = 'Europe/London', init, expected = () => false } = {}) {
  const context = await browser.newContext({ viewport, timezoneId });
  if (init) await context.addInitScript(...init);
  const page = await context.newPage();
  const problems = [];
  page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
  page.on('console', (message) => { if (message.type() === 'error' && !/status of 40[34]/.test(message.text())) problems.push(`console: ${message.text()}`); });
  page.on('response', (r) => { if (r.status() >= 400 && !expected(r)) problems.push(`${r.status()} ${r.url()}`); });
  page.problems = problems;
  await page.goto(`${server.base}/${query}`);
  return page;
}

/** The page of `provider` with its service chosen and `date` shown. */
async function openDay(provider, date, options = {}) {
  const page = await newPage({ query: `?provider=${provider.id}`, ...options });
  await page.waitForSelector('.service input');
  await page.check(`.service input[value="${provider.serviceId}"]`);
  await page.waitForSelector(`#day-strip button[data-date="${date}"]`);
  await page.click(`#day-strip button[data-date="${date}"]`);
  await page.waitForSelector(`#times button[data-date="${date}"]`);
  await page.waitForFunction(() => document.getElementById('connection-state')?.textContent === 'Live', null, { timeout: WAIT_MS });
  return page;
}

/** Join the waitlist from the fully booked day shown: the entry the server made (with its token) and the request sent. */
async function joinFromPage(page, { name = 'Wanda Waiting', email = 'wanda@example.com', week = false, parts = [] } = {}) {
  await page.waitForSelector('#waitlist-panel:not([hidden]) #waitlist-join');
  await page.click('#waitlist-join');
  await page.waitForSelector('#waitlist-dialog[open]');
  await page.fill('#waitlist-name', name);
  await page.fill('#waitlist-email', email);
  if (week) await page.check('#waitlist-days input[value="week"]');
  for (const part of parts) await page.check(`#waitlist-parts input[value="${part}"]`);
  const joined = page.waitForResponse(isJoin);
  await page.click('#waitlist-submit');
  const response = await joined;
  assert.equal(response.status(), 201);
  const entry = await response.json();
  await page.waitForSelector('#waitlist-done:not([hidden])');
  assert.match(await page.textContent('#waitlist-done-text'), /^We will tell you if a time opens for Cut at /);
  await page.click('#waitlist-done-close');
  await page.waitForSelector('#waitlist-dialog:not([open])', { state: 'attached' });
  await page.waitForSelector(`#my-waitlist li[data-entry-id="${entry.id}"][data-status="waiting"]`);
  return { entry, request: JSON.parse(response.request().postData()) };
}

/** The live offer banner of an entry. */
const offerOf = (entry) => `#offers .offer:not(.ended)[data-entry-id="${entry.id}"]`;

// A stand-in for the browser's Notification API: permission as given, every
// notification and permission request recorded (headless Chromium has none to show).
const fakeNotifications = (permission) => {
  window.__notifications = [];
  window.__permissionAsked = 0;
  window.Notification = class {
    static permission = permission;
    static async requestPermission() {
      window.__permissionAsked += 1;
      window.Notification.permission = 'granted';
      return 'granted';
    }
    constructor(title, options) { window.__notifications.push({ title, ...options }); }
    close() {}
  };
};

test("a waiting customer's open page shows the offer within about a second of a cancellation, and books it from the banner", async (t) => {
  const provider = await newProvider('offer');
  const day = tomorrow();
  const [first] = await fillDay(provider, day);
  const page = await openDay(provider, day, { init: [fakeNotifications, 'granted'] });
  await page.click('#waitlist-join');
  await page.waitForSelector('#waitlist-dialog[open]');
  assert.ok(await page.isChecked('#waitlist-notify'), '"Notify me" ticked where notifications are allowed');
  await page.click('#waitlist-close');
  const { entry } = await joinFromPage(page);
  assert.match(await page.textContent('#waitlist-text'), /You are on the waitlist for Cut/);

  // Another customer cancels: the time is held for this one, and the open page says so.
  const cancelledAt = Date.now();
  await cancel(first);
  await page.waitForSelector(offerOf(entry), { timeout: 5000 });
  const shownAfter = Date.now() - cancelledAt;
  t.diagnostic(`the offer banner showed ${shownAfter} ms after the cancellation was sent`);
  assert.ok(shownAfter <= 5000, `${shownAfter} ms`);
  const title = await page.textContent(`${offerOf(entry)} .offer-title`);
  assert.match(title, /^(Today|Tomorrow) 10:00 opened for you, held for (09:[0-5]\d|10:00)$/, title);
  assert.equal(await page.getAttribute(`${offerOf(entry)} .offer-headline`, 'role'), 'alert', 'announced to screen readers');
  assert.match(await page.textContent(`${offerOf(entry)} .offer-when`), /Cut at Waitlist offer, \w+day \d+ \w+ \d{4}, 10:00–10:30 Warsaw time \(09:00 your time\)\./);
  // The countdown runs.
  const before = await page.textContent(`${offerOf(entry)} .countdown`);
  await page.waitForFunction(([s, text]) => document.querySelector(`${s} .countdown`).textContent !== text, [offerOf(entry), before], { timeout: 5000 });
  // The time reads "Held for you" in the list, and the system notification went out once.
  await page.waitForSelector(`#times button[data-slot-id="${first.slot.availabilityId}"].held-mine`);
  const notes = await page.evaluate(() => window.__notifications);
  assert.equal(notes.length, 1, JSON.stringify(notes));
  assert.match(notes[0].title, /^(Today|Tomorrow) 10:00 opened for you$/, 'Tomorrow, unless midnight passed meanwhile');
  const offered = await entryNow(entry);
  assert.equal(offered.status, 'offered');
  assert.equal(await page.getAttribute(offerOf(entry), 'data-hold-id'), offered.offer.holdId);
  await shot(page, 'waitlist-desktop-offer.png');

  // Book it: the name and email given when joining; the usual confirmation; the entry is done.
  const created = page.waitForResponse(isBookingCreate);
  await page.click(`${offerOf(entry)} .offer-book`);
  const response = await created;
  assert.equal(response.status(), 201);
  const sent = JSON.parse(response.request().postData());
  assert.equal(sent.holdId, offered.offer.holdId);
  assert.equal(sent.startTime, offered.offer.startsAt);
  assert.equal(response.request().headers().authorization, `Bearer ${entry.token}`);
  assert.deepEqual(sent.customer, { name: 'Wanda Waiting', email: 'wanda@example.com' });
  const booking = await response.json();
  await page.waitForSelector('#done-dialog[open]');
  assert.match(await page.textContent('#done-details dd[data-field="when"]'), /10:00–10:30 Warsaw time$/);
  await page.click('#done-close');
  await page.waitForSelector(`#my-bookings li[data-booking-id="${booking.id}"]`);
  await page.waitForSelector(`#my-waitlist li[data-entry-id="${entry.id}"]`, { state: 'detached' });
  assert.equal(await page.locator('#offers .offer').count(), 0, 'the banner is gone');
  await page.waitForSelector(`#times button[data-slot-id="${first.slot.availabilityId}"].mine`);

  assert.equal((await entryNow(entry)).status, 'fulfilled');
  const [slot] = await slotsOn(provider, day);
  assert.equal(slot.status, 'booked');
  assert.deepEqual(page.problems, []);
  await page.context().close();
});

test('phone: a fully booked day says so in the strip; joining from there lists the entry under Your bookings, and Leave waitlist takes it off (the server says left)', async (t) => {
  // 11:30 and 12:00: a morning time and an afternoon time, so the dialog offers the two parts of the day.
  const provider = await newProvider('full', ['11:30', '12:30']);
  const day = tomorrow();
  await fillDay(provider, day);
  const page = await openDay(provider, day, { viewport: PHONE, init: [fakeNotifications, 'default'] });
  const strip = `#day-strip button[data-date="${day}"]`;
  assert.equal(await page.textContent(`${strip} .note`), 'Fully booked');
  assert.match(await page.getAttribute(strip, 'aria-label'), /, fully booked$/);
  assert.equal(await page.textContent(`#day-strip button[data-date="${addDays(day, 1)}"] .note`), '2 free');
  assert.match(await page.textContent('#waitlist-text'), /^Fully booked for Cut on \w+day \d+ \w+ \d{4}\.$/);
  assert.equal(await page.evaluate(() => document.documentElement.scrollWidth), PHONE.width, 'no sideways scroll at 390 px');

  // The dialog: this day or the week from it, and the parts of the day this day has times in.
  await page.click('#waitlist-join');
  await page.waitForSelector('#waitlist-dialog[open]');
  assert.deepEqual(await page.$$eval('#waitlist-parts input', (inputs) => inputs.map((i) => i.value)), ['morning', 'afternoon']);
  // Never asked on load, nor on opening the dialog: only when "Notify me" is ticked.
  assert.equal(await page.evaluate(() => window.__permissionAsked), 0);
  await page.check('#waitlist-notify');
  await page.waitForFunction(() => window.__permissionAsked === 1);
  // The form checks its fields as the booking form does.
  await page.fill('#waitlist-name', '');
  await page.click('#waitlist-submit');
  assert.equal(await page.textContent('#waitlist-error'), 'Please enter your name.');
  await page.fill('#waitlist-name', 'Piotr Phone');
  await page.fill('#waitlist-email', 'not an email');
  await page.click('#waitlist-submit');
  assert.equal(await page.textContent('#waitlist-error'), 'Please enter a valid email address.');
  assert.equal(await page.evaluate(() => document.documentElement.scrollWidth), PHONE.width, 'the dialog fits too');
  await shot(page, 'waitlist-phone-join.png');
  await page.click('#waitlist-close');
  const { entry, request } = await joinFromPage(page, { name: 'Piotr Phone', email: 'piotr@example.com', week: true, parts: ['afternoon'] });
  assert.deepEqual(
    { from: request.from, to: request.to, times: request.times },
    { from: day, to: addDays(day, 6), times: [['12:00', '17:00']] },
    'this day and the six after it, in the afternoon',
  );
  const item = `#my-waitlist li[data-entry-id="${entry.id}"]`;
  assert.match(await page.textContent(item), /Waitlist: Cut · Waitlist full/);
  assert.match(await page.textContent(`${item} .when`), /^\w{3} \d+ \w{3} – \w{3} \d+ \w{3}, 12:00–17:00 Warsaw time$/);
  assert.match(await page.textContent(item), /Waiting: if a time opens/);
  assert.ok(await page.isHidden('#no-bookings'));
  assert.ok(await page.isHidden('#waitlist-join'), 'no second join for a day already waited for');
  assert.equal(await page.evaluate(() => document.documentElement.scrollWidth), PHONE.width);
  await shot(page, 'waitlist-phone-listed.png');

  // After a reload the entry is still there, checked against the server.
  const checked = page.waitForResponse((r) => r.url().endsWith(`/api/v1/waitlist/${entry.id}`) && r.request().method() === 'GET');
  await page.reload();
  assert.equal((await checked).status(), 200);
  await page.waitForSelector(`${item}[data-status="waiting"]`);

  // Leave: gone from the list, and the server says left.
  const left = page.waitForResponse((r) => r.url().endsWith(`/api/v1/waitlist/${entry.id}`) && r.request().method() === 'DELETE');
  await page.click(`${item} button.leave-waitlist`);
  assert.equal((await left).status(), 204);
  await page.waitForSelector(item, { state: 'detached' });
  assert.equal((await entryNow(entry)).status, 'left');
  assert.ok(await page.isVisible('#no-bookings'));
  assert.deepEqual(page.problems, []);
  await page.context().close();
});

test('No thanks declines the offer from the keyboard: the entry waits on, the offer is gone, and with nobody else in line the time is free', async () => {
  const provider = await newProvider('decline');
  const day = tomorrow();
  const [first] = await fillDay(provider, day);
  const page = await openDay(provider, day);
  const { entry } = await joinFromPage(page);
  await cancel(first);
  await page.waitForSelector(offerOf(entry), { timeout: 5000 });
  await page.waitForSelector(`#my-waitlist li[data-entry-id="${entry.id}"][data-status="offered"]`);

  const declined = page.waitForResponse((r) => r.url().endsWith(`/api/v1/waitlist/${entry.id}/offer`) && r.request().method() === 'DELETE');
  await page.focus(`${offerOf(entry)} .offer-decline`);
  await page.keyboard.press('Enter');
  assert.equal((await declined).status(), 204);
  await page.waitForSelector('#offers .offer', { state: 'detached' });
  assert.ok(await page.isHidden('#offers'));
  await page.waitForFunction(() => /goes to the next in line/.test(document.getElementById('announcer').textContent));

  const now = await entryNow(entry);
  assert.equal(now.status, 'waiting');
  assert.equal(now.offer, undefined);
  await page.waitForSelector(`#my-waitlist li[data-entry-id="${entry.id}"][data-status="waiting"]`);
  // Nobody else waits: the time is free again, live.
  await page.waitForSelector(`#times button[data-slot-id="${first.slot.availabilityId}"].free`, { timeout: 5000 });
  assert.equal((await slotsOn(provider, day))[0].status, 'available');
  assert.deepEqual(page.problems, []);
  await page.context().close();
});

test('the claim link of the waitlist.offered webhook opens the offer in a fresh browser, which books it through the booking form; opened again, it says the offer ended', async (t) => {
  const provider = await newProvider('claim');
  const key = await server.admin('POST', `${provider.externalId}/keys`, { label: 'browser test' });
  assert.equal(key.status, 201, JSON.stringify(key.body));
  const hook = await server.json(`/api/v1/providers/${provider.id}/webhooks`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key.body.key}`, 'content-type': 'application/json' },
    body: JSON.stringify({ url: `http://127.0.0.1:${receiver.address().port}/hooks`, events: ['waitlist.offered'] }),
  });
  assert.equal(hook.status, 201, JSON.stringify(hook.body));
  const day = tomorrow();
  const [first] = await fillDay(provider, day);
  // Joined elsewhere (through the API): this browser has never seen the entry.
  const joined = await server.json('/api/v1/waitlist', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ providerId: provider.id, serviceId: provider.serviceId, from: day, to: day, times: [['09:00', '12:00']], customer: { name: 'Clara Claim', email: 'clara@example.com' } }),
  });
  assert.equal(joined.status, 201, JSON.stringify(joined.body));
  const entry = joined.body;
  await cancel(first);
  const offered = await until('the waitlist.offered delivery', () =>
    deliveries.find((d) => d.type === 'waitlist.offered' && d.data?.entryId === entry.id));
  const { claimLink } = offered.data;
  assert.match(claimLink, new RegExp(`^/\\?offer=${entry.id}#token=of_`));

  // A fresh browser: the provider, service and day are chosen, the banner shows, the token leaves the address bar.
  const page = await newPage({ query: claimLink.slice(1), viewport: PHONE });
  await page.waitForSelector(offerOf(entry), { timeout: WAIT_MS });
  const url = new URL(page.url());
  assert.equal(url.hash, '', 'the claim token is not left in the address bar');
  assert.equal(url.searchParams.get('offer'), entry.id);
  assert.match(await page.textContent(`${offerOf(entry)} .offer-title`), /^(Today|Tomorrow) 10:00 opened for you, held for \d\d:\d\d$/);
  assert.equal(await page.textContent('#provider-name'), provider.name);
  assert.ok(await page.isChecked(`.service input[value="${provider.serviceId}"]`));
  await page.waitForSelector(`#day-strip button[data-date="${day}"][aria-selected="true"]`);
  await page.waitForSelector(`#times button[data-slot-id="${first.slot.availabilityId}"].held-mine`);
  assert.equal(await page.locator('#my-waitlist li').count(), 0, 'a claim link is not an entry of this browser');
  assert.equal(await page.evaluate(() => document.documentElement.scrollWidth), PHONE.width);
  await shot(page, 'waitlist-phone-claim.png');

  // Book it: this browser knows no name, so the booking form asks, counting down the offer's time.
  const held = await entryNow(entry);
  await page.click(`${offerOf(entry)} .offer-book`);
  await page.waitForSelector('#book-dialog[open][data-hold="held"]');
  assert.ok(await page.isVisible('#hold-status'));
  assert.match(await page.textContent('#hold-countdown'), /^(09:[0-5]\d|10:00)$/);
  assert.match(await page.textContent('#book-summary'), /^Cut \(30 min, .+\) at Waitlist claim, \w+day \d+ \w+ \d{4}, 10:00–10:30 Warsaw time\.$/);
  await page.fill('#customer-name', 'Clara Claim');
  await page.fill('#customer-email', 'clara@example.com');
  const created = page.waitForResponse(isBookingCreate);
  await page.click('#book-submit');
  const response = await created;
  assert.equal(response.status(), 201, await response.text());
  assert.equal(JSON.parse(response.request().postData()).holdId, held.offer.holdId);
  assert.match(response.request().headers().authorization, /^Bearer of_/, 'booked with the claim token');
  const booking = await response.json();
  await page.waitForSelector('#done-dialog[open]');
  await page.click('#done-close');
  await page.waitForSelector(`#my-bookings li[data-booking-id="${booking.id}"]`);
  await page.waitForSelector('#offers .offer', { state: 'detached' });
  assert.equal((await entryNow(entry)).status, 'fulfilled');
  assert.deepEqual(page.problems, []);

  // The same link again, in another fresh browser: the offer ended, and the page says so plainly.
  const again = await newPage({ query: claimLink.slice(1), expected: isWaitlistCall });
  await again.waitForSelector(`#offers .offer.ended[data-entry-id="${entry.id}"]`, { timeout: WAIT_MS });
  assert.match(await again.textContent('#offers .offer.ended'), /This offer has ended: the time is no longer held for you\./);
  assert.equal(new URL(again.url()).hash, '');
  await again.click('#offers .offer-dismiss');
  await again.waitForSelector('#offers .offer', { state: 'detached' });
  assert.deepEqual(again.problems, []);
  await Promise.all([page.context().close(), again.context().close()]);
});
