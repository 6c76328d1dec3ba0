// Browser tests of the search page (/providers.html) in real headless
// Chromium, at a phone (390x844) and a desktop (1280x900) viewport: every
// control of the search (a suggested service, the day, the time of day, a
// from–to range), the cards with their zone, the keyboard-only path, more
// results on scrolling, the cards kept live over the many-providers stream
// (a time booked elsewhere leaves its card within a second; a card that
// loses its last time says so), and search → the provider's page with the
// time's form open and its hold taken → booked.
//
// Starts the server binary itself (SLOTSTREAM_BIN) on a fresh SQLite file
// with the twenty demo providers. Screenshots: test-output/search-*.png.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { OUTPUT_DIR, Server, checkPrerequisites, launchBrowser, removeTmp } from './harness.mjs';

// Generous: CI is a loaded two-core machine. Only "within a second" is tight, as the issue asks.
const WAIT_MS = 30000;
const PHONE = { width: 390, height: 844 };
const DESKTOP = { width: 1280, height: 900 };
const VIEWPORTS = [['390', PHONE], ['1280', DESKTOP]];

let browser;
let server;
/** A date (YYYY-MM-DD) a few days ahead, not a Sunday, with plenty of free times: the tests' day. */
let day;
/** Kasia's Barber Shop, its 30-minute "Beard trim" (only it offers one), and its free beard-trim times on `day`. */
let kasia;
let beard;

before(async () => {
  checkPrerequisites();
  // Several tests hold a time from the same address (127.0.0.1).
  server = new Server('search', { args: ['--max-holds-per-client', '20'] });
  [browser] = await Promise.all([launchBrowser(), server.start()]);
  const providers = await server.providers();
  kasia = providers.find((p) => p.name === "Kasia's Barber Shop");
  beard = kasia.services.find((s) => s.name === 'Beard trim');
  for (let ahead = 2; ahead < 7 && !day; ahead += 1) {
    const candidate = new Date(Date.now() + ahead * 86400000);
    if (candidate.getUTCDay() === 0) continue;
    const date = candidate.toISOString().slice(0, 10);
    const all = await search(`date=${date}&limit=50`);
    const trims = await search(`service=Beard%20trim&date=${date}&from=06:00&to=12:00&limit=50`);
    if (all.results.length >= 12 && trims.results.length === 1 && trims.results[0].times.length >= 3) day = date;
  }
  assert.ok(day, 'a day with free times ahead');
});

after(async () => {
  await browser?.close();
  await server?.stop('SIGKILL');
  removeTmp();
});

/** The search API's answer to a query string (every test compares the page with it); asked again while the index loads (503). */
async function search(query) {
  const deadline = Date.now() + WAIT_MS;
  for (;;) {
    const { status, body } = await server.json(`/api/v1/search?${query}`);
    if (status !== 503 || Date.now() > deadline) {
      assert.equal(status, 200, JSON.stringify(body));
      return body;
    }
    await new Promise((resolve) => setTimeout(resolve, 200)); // the server said Retry-After
  }
}

const shot = (page, name) => page.screenshot({ path: path.join(OUTPUT_DIR, `search-${name}.png`), fullPage: false });

/**
 * A page in a fresh context; `page.problems` collects page errors, console errors and 4xx/5xx
 * answers; `page.searches` the search API queries the page asked (URLSearchParams).
 */
async function openPage(url, viewport) {
  const context = await browser.newContext({ viewport, timezoneId: 'Europe/Warsaw', locale: 'en-US' });
  const page = await context.newPage();
  page.problems = [];
  page.searches = [];
  page.on('pageerror', (error) => page.problems.push(`page error: ${error.message}`));
  page.on('console', (message) => { if (message.type() === 'error') page.problems.push(`console: ${message.text()}`); });
  page.on('response', (r) => { if (r.status() >= 400) page.problems.push(`${r.status()} ${r.url()}`); });
  page.on('request', (request) => {
    const url = new URL(request.url());
    if (url.pathname === '/api/v1/search') page.searches.push(url.searchParams);
  });
  await page.goto(`${server.base}${url}`);
  return page;
}

async function closePage(page) {
  assert.deepEqual(page.problems, [], 'no errors on the page');
  await page.context().close();
}

/** The cards on the page: provider, service, the times' startsAt, lost or not. */
const cardsOf = (page) => page.evaluate(() => [...document.querySelectorAll('#results .card')].map((card) => ({
  providerId: card.dataset.providerId,
  state: card.dataset.state,
  service: card.querySelector('.card-service').textContent,
  when: card.querySelector('.card-when').textContent,
  times: [...card.querySelectorAll('.card-times button')].map((b) => b.dataset.startsAt),
  labels: [...card.querySelectorAll('.card-times button')].map((b) => b.getAttribute('aria-label')),
  texts: [...card.querySelectorAll('.card-times button')].map((b) => b.textContent),
})));

/** Waits until the page's last search asked `expected` (a subset of its parameters; null: absent). */
async function waitForQuery(page, expected) {
  const deadline = Date.now() + WAIT_MS;
  for (;;) {
    const last = page.searches.filter((p) => !p.has('cursor')).at(-1);
    const fits = last && Object.entries(expected).every(([k, v]) => (v === null ? !last.has(k) : last.get(k) === v));
    if (fits) return last;
    if (Date.now() > deadline) throw new Error(`the page never searched ${JSON.stringify(expected)}; last: ${last}`);
    await page.waitForTimeout(50);
  }
}

/** Waits until the page's first cards are the API's first page for the same query, in its order, with the same times. */
async function waitForCardsOf(page, params) {
  const query = new URLSearchParams(params);
  query.delete('cursor');
  query.set('limit', '3');
  const expected = (await search(query)).results;
  await page.waitForFunction((ids) => {
    const cards = [...document.querySelectorAll('#results .card')].slice(0, ids.length).map((c) => c.dataset.providerId);
    return document.getElementById('results').getAttribute('aria-busy') === 'false' && cards.join() === ids.join();
  }, expected.map((r) => r.providerId), { timeout: WAIT_MS });
  const cards = await cardsOf(page);
  for (const [i, result] of expected.entries()) {
    assert.deepEqual(cards[i].times, result.times.map((t) => t.startsAt), `${result.name}'s times`);
  }
  return { expected, cards };
}

/** "17:30" of an instant in a zone. */
const clock = (instant, timeZone) => new Intl.DateTimeFormat('en-GB', { timeZone, hour: '2-digit', minute: '2-digit', hourCycle: 'h23' }).format(new Date(instant));
const city = (zone) => `${zone.split('/').pop().replaceAll('_', ' ')} time`;

for (const [size, viewport] of VIEWPORTS) {
  test(`${size}: every control searches (suggested service, day, time of day, from–to); the cards name the zone with the times`, async () => {
    const page = await openPage(`/providers.html?pageSize=3&day=${day}`, viewport);
    await waitForQuery(page, { date: day, service: null, from: null, to: null });
    const { expected, cards } = await waitForCardsOf(page, `date=${day}`);
    assert.ok(expected.length === 3, 'a full first page');
    // The zone is said with the times: on the card and in every time's accessible name.
    for (const [i, result] of expected.entries()) {
      const card = cards[i];
      assert.match(card.when, new RegExp(`${city(result.timezone)} \\(`), card.when);
      assert.deepEqual(card.texts, result.times.map((t) => clock(t.startsAt, result.timezone)));
      for (const [j, label] of card.labels.entries()) {
        assert.ok(label.startsWith(`Book ${result.service.name} at ${result.name}, `), label);
        assert.ok(label.endsWith(`${clock(result.times[j].startsAt, result.timezone)} ${city(result.timezone)}`), label);
      }
    }
    // Every time button, chip, button and card link is a tap target at least 44 px high and wide.
    const smallest = await page.evaluate(() => Math.min(...[...document.querySelectorAll('.card-times button, .chip span, #search-submit, .provider-link, #service')]
      .filter((b) => b.offsetParent).map((b) => Math.min(b.getBoundingClientRect().width, b.getBoundingClientRect().height))));
    assert.ok(smallest >= 44, `smallest tap target ${smallest}px`);
    // Nothing wider than the screen.
    assert.ok(await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth), 'no sideways scrolling');
    await shot(page, `${size}-results`);

    // The service, from a suggestion.
    await page.click('#service');
    await page.fill('#service', 'bea');
    const option = page.locator('#service-options [role="option"]', { hasText: 'Beard trim' });
    await option.waitFor({ timeout: WAIT_MS });
    assert.equal(await page.getAttribute('#service', 'aria-expanded'), 'true');
    await shot(page, `${size}-suggestions`);
    await option.click();
    assert.equal(await page.inputValue('#service'), 'Beard trim');
    await waitForQuery(page, { service: 'Beard trim', date: day });
    await waitForCardsOf(page, `service=Beard+trim&date=${day}`);
    assert.ok((await cardsOf(page)).every((c) => c.service.startsWith('Beard trim')));

    // Time of day: the presets, then from–to.
    await page.click('.chip:has(input[value="morning"])');
    await waitForQuery(page, { service: 'Beard trim', from: '06:00', to: '12:00' });
    await waitForCardsOf(page, `service=Beard+trim&date=${day}&from=06:00&to=12:00`);
    await page.click('.chip:has(input[value="evening"])');
    await waitForQuery(page, { from: '17:00', to: null });
    await page.click('.chip:has(input[value="afternoon"])');
    await waitForQuery(page, { from: '12:00', to: '17:00' });
    await page.click('.chip:has(input[value="custom"])');
    await page.selectOption('#from', '10:00');
    await page.selectOption('#to', '11:30');
    await waitForQuery(page, { service: 'Beard trim', date: day, from: '10:00', to: '11:30' });
    await waitForCardsOf(page, `service=Beard+trim&date=${day}&from=10:00&to=11:30`);
    // A backwards range is refused with a message, and not searched.
    const asked = page.searches.length;
    await page.selectOption('#to', '09:00');
    await page.waitForSelector('#form-error:has-text("end time must be after")');
    // (Live re-reads may ask again meanwhile, with the last good window: never with the backwards one.)
    assert.ok(page.searches.slice(asked).every((p) => p.get('to') !== '09:00'), 'the backwards range was not searched');
    await page.selectOption('#to', '12:00');
    await waitForQuery(page, { from: '10:00', to: '12:00' });
    await shot(page, `${size}-from-to`);

    // The day: today (each provider's own: no date sent), tomorrow (the visitor's), a date.
    await page.click('.chip:has(input[value="any"])');
    await page.fill('#service', '');
    await page.click('#search-submit');
    await page.click('.chip:has(input[value="today"])');
    await waitForQuery(page, { date: null, service: null, from: null });
    await waitForCardsOf(page, '');
    const tomorrow = await page.evaluate(() => {
      const d = new Date();
      d.setDate(d.getDate() + 1);
      return d.toLocaleDateString('en-CA');
    });
    await page.click('.chip:has(input[value="tomorrow"])');
    await waitForQuery(page, { date: tomorrow });
    await waitForCardsOf(page, `date=${tomorrow}`);
    await page.click('.chip:has(input[value="date"])');
    assert.ok(await page.isVisible('#date'), 'the date field shows');
    await page.fill('#date', day);
    await waitForQuery(page, { date: day });
    await waitForCardsOf(page, `date=${day}`);
    // The URL keeps the search (Back from a provider's page shows it again).
    assert.equal(new URL(page.url()).searchParams.get('day'), day);
    await shot(page, `${size}-date`);
    await closePage(page);
  });
}

for (const [size, viewport] of VIEWPORTS) {
  test(`${size}: keyboard only: a suggested service, a time of day, a time button, the booking form with its hold, booked`, async () => {
    const page = await openPage(`/providers.html?day=${day}`, viewport);
    await waitForQuery(page, { date: day });
    await page.keyboard.press('Tab'); // the skip link
    await page.keyboard.press('Tab');
    assert.equal(await page.evaluate(() => document.activeElement.id), 'service');
    await page.keyboard.type('trim');
    // The list for what was typed (focusing the empty field listed the most offered names first).
    await page.waitForFunction(() => [...document.querySelectorAll('#service-options [role="option"]')].map((o) => o.dataset.name).join() === 'Beard trim',
      null, { timeout: WAIT_MS });
    await page.keyboard.press('ArrowDown');
    assert.equal(await page.evaluate(() => document.getElementById(document.getElementById('service').getAttribute('aria-activedescendant'))?.dataset.name), 'Beard trim');
    await page.keyboard.press('Enter');
    await waitForQuery(page, { service: 'Beard trim' });
    // Past the Search button and the day (kept: its radio, then the date's fields) to the time of day.
    await page.keyboard.press('Tab');
    assert.equal(await page.evaluate(() => document.activeElement.id), 'search-submit');
    await page.keyboard.press('Tab');
    assert.equal(await page.evaluate(() => document.activeElement.value), 'date');
    for (let i = 0; i < 6 && (await page.evaluate(() => document.activeElement.name)) !== 'time'; i += 1) await page.keyboard.press('Tab');
    assert.equal(await page.evaluate(() => document.activeElement.value), 'any');
    // Arrows choose Morning, which searches at once.
    await page.keyboard.press('ArrowRight');
    await waitForQuery(page, { service: 'Beard trim', date: day, from: '06:00', to: '12:00' });
    const { expected } = await waitForCardsOf(page, `service=Beard+trim&date=${day}&from=06:00&to=12:00`);
    const [result] = expected;
    assert.equal(result.providerId, kasia.id);
    // On to the card: its name (a link to the provider's page), then its first time.
    await page.keyboard.press('Tab');
    assert.equal(await page.evaluate(() => document.activeElement.className), 'provider-link');
    await page.keyboard.press('Tab');
    const focused = await page.evaluate(() => document.activeElement.dataset.startsAt);
    assert.equal(focused, result.times[0].startsAt);
    await shot(page, `${size}-keyboard`);
    await page.keyboard.press('Enter');

    // The provider's page: the service chosen, the time's form open, its hold taken.
    await page.waitForSelector('#book-dialog[open]', { timeout: WAIT_MS });
    await page.waitForFunction(() => document.getElementById('book-dialog').dataset.hold === 'held', null, { timeout: WAIT_MS });
    assert.equal(await page.isChecked(`.service input[value="${beard.id}"]`), true);
    assert.equal(new URL(page.url()).searchParams.get('time'), null, 'the time leaves the address bar');
    assert.equal(await page.evaluate(() => document.activeElement.id), 'customer-name');
    await page.keyboard.type('Ada Lovelace');
    await page.keyboard.press('Tab');
    await page.keyboard.type('ada@example.com');
    await page.keyboard.press('Enter');
    await page.waitForSelector('#done-dialog[open]', { timeout: WAIT_MS });
    const slot = await slotAt(kasia.id, result.times[0].startsAt);
    assert.equal(slot.status, 'booked');
    await closePage(page);
  });
}

/** The availability slot starting at an instant, as any other viewer reads it. */
async function slotAt(providerId, startsAt) {
  const { body } = await server.json(`/api/v1/providers/${providerId}/availability?startDate=${day}&days=1`);
  return body.days.flatMap((d) => d.slots).find((s) => Date.parse(s.startsAt) === Date.parse(startsAt));
}

for (const [size, viewport] of VIEWPORTS) {
  test(`${size}: more results load as the customer scrolls, each provider once, in the API's order`, async () => {
    const all = (await search(`date=${day}&limit=50`)).results;
    const page = await openPage(`/providers.html?pageSize=3&day=${day}`, viewport);
    await page.waitForSelector('#results .card');
    for (let rounds = 0; rounds < 40; rounds += 1) {
      if (await page.isVisible('#results-end')) break;
      const shown = (await cardsOf(page)).length;
      await page.evaluate(() => document.getElementById('more-marker').scrollIntoView({ block: 'end' }));
      await page.waitForFunction((n) => document.querySelectorAll('#results .card').length > n || !document.getElementById('results-end').hidden,
        shown, { timeout: WAIT_MS });
    }
    await page.waitForSelector('#results-end:not([hidden])', { timeout: WAIT_MS });
    const cards = await cardsOf(page);
    assert.deepEqual(cards.map((c) => c.providerId), all.map((r) => r.providerId));
    const pages = page.searches.filter((p) => p.get('limit') === '3');
    assert.ok(pages.filter((p) => p.has('cursor')).length >= Math.ceil(all.length / 3) - 1, `${pages.length} pages asked`);
    assert.match(await page.textContent('#result-count'), new RegExp(`^${all.length} providers have free times`));
    // One stream for all of them.
    await page.waitForFunction(() => window.slotstreamSearch.streams.streams === 1, null, { timeout: WAIT_MS });
    assert.equal(await page.isVisible('#show-more'), false, 'no "Show more" once every provider is shown');
    // Prices in the currency's own minor unit: yen have none (4500 is ¥4,500), złoty and pounds two.
    for (const [i, result] of all.entries()) {
      const { priceMinor, currency } = result.service;
      const format = new Intl.NumberFormat('en-US', { style: 'currency', currency });
      const price = format.format(priceMinor / 10 ** format.resolvedOptions().maximumFractionDigits);
      assert.ok(cards[i].service.endsWith(` · ${price}`), `${cards[i].service} ends with ${price}`);
    }
    assert.ok(all.some((r) => r.service.currency === 'JPY'), 'a yen price among them (no minor unit)');
    await shot(page, `${size}-scrolled`);
    await closePage(page);
  });
}

for (const [size, viewport] of VIEWPORTS) {
  test(`${size}: a time booked elsewhere leaves its card within a second; a card that loses its last time says so`, async () => {
    const page = await openPage(`/providers.html?day=${day}&pageSize=50`, viewport);
    await waitForCardsOf(page, `date=${day}`);
    await page.waitForSelector('#connection-state[data-state="live"]', { timeout: WAIT_MS });
    // A card with several times (not Kasia's: the last part takes hers): its second time, booked through the API.
    const cards = await cardsOf(page);
    const target = cards.find((c) => c.providerId !== kasia.id && c.times.length >= 3);
    const result = (await search(`date=${day}&limit=50`)).results.find((r) => r.providerId === target.providerId);
    const time = target.times[1];
    const booked = await server.book(result.providerId, result.service.id, { startsAt: time });
    assert.equal(booked.status, 201, JSON.stringify(booked.body));
    const bookedAt = Date.now();
    await page.waitForFunction(({ id, at }) => !document.querySelector(`.card[data-provider-id="${id}"] button[data-starts-at="${at}"]`),
      { id: target.providerId, at: time }, { timeout: WAIT_MS });
    const took = Date.now() - bookedAt;
    assert.ok(took < 1000, `the time left its card after ${took} ms`);
    // Read again, the card holds what the API now says (the times the booking did not touch, and the next ones).
    const now = (await search(`date=${day}&limit=50`)).results.find((r) => r.providerId === target.providerId);
    assert.ok(now.times.length > 0);
    await page.waitForFunction(({ id, times }) => [...document.querySelectorAll(`.card[data-provider-id="${id}"] .card-times button`)]
      .map((b) => b.dataset.startsAt).join() === times.join(), { id: target.providerId, times: now.times.map((t) => t.startsAt) }, { timeout: WAIT_MS });
    assert.equal((await cardsOf(page)).find((c) => c.providerId === target.providerId).state, 'open');

    // Kasia's beard trim in a window that fits one time only: booked elsewhere, her card says so.
    const { results: [trim] } = await search(`service=Beard+trim&date=${day}&limit=1`);
    const only = trim.times.at(-1).startsAt;
    const from = clock(only, trim.timezone);
    const to = clock(trim.times.at(-1).endsAt, trim.timezone);
    const narrow = await openPage(`/providers.html?service=Beard+trim&day=${day}&time=${from}-${to}`, viewport);
    await waitForCardsOf(narrow, `service=Beard+trim&date=${day}&from=${from}&to=${to}`);
    await narrow.waitForSelector('#connection-state[data-state="live"]', { timeout: WAIT_MS });
    assert.deepEqual((await cardsOf(narrow)).map((c) => c.times), [[only]]);
    const second = await server.book(kasia.id, beard.id, { startsAt: only });
    assert.equal(second.status, 201, JSON.stringify(second.body));
    const secondAt = Date.now();
    await narrow.waitForSelector(`.card[data-provider-id="${kasia.id}"][data-state="lost"]`, { timeout: WAIT_MS });
    assert.ok(Date.now() - secondAt < 1000, `the card said so after ${Date.now() - secondAt} ms`);
    assert.ok(await narrow.isVisible(`.card[data-provider-id="${kasia.id}"] .card-lost:has-text("No longer free at these times")`));
    // Its link to the provider's other times: a tap target too, to Kasia's page with the service chosen.
    const other = await narrow.evaluate(() => { const a = document.querySelector('.lost-link'); return { href: a.getAttribute('href'), height: a.getBoundingClientRect().height }; });
    assert.equal(other.href, `/?provider=${kasia.id}&service=${beard.id}`);
    assert.ok(other.height >= 44, `${other.height}px`);
    assert.match(await narrow.textContent('#result-count'), /^None of these providers has a free time left/);
    await shot(narrow, `${size}-lost`);
    // Still lost after the search was read again (the stream's own change is not undone by a stale answer).
    await narrow.waitForFunction(() => window.slotstreamSearch.streams.events >= 1);
    await closePage(narrow);
    await closePage(page);
  });
}

for (const [size, viewport] of VIEWPORTS) {
  test(`${size}: search → tap a time → the provider's page with the form open and the time held (another viewer sees it held) → booked`, async () => {
    const page = await openPage(`/providers.html?day=${day}&time=afternoon`, viewport);
    const { expected } = await waitForCardsOf(page, `date=${day}&from=12:00&to=17:00`);
    const result = expected.find((r) => r.providerId !== kasia.id) ?? expected[0];
    const time = result.times[0].startsAt;
    const button = page.locator(`.card[data-provider-id="${result.providerId}"] button[data-starts-at="${time}"]`);
    await button.scrollIntoViewIfNeeded();
    await shot(page, `${size}-before-tap`);
    await button.click();
    await page.waitForSelector('#book-dialog[open]', { timeout: WAIT_MS });
    await page.waitForFunction(() => document.getElementById('book-dialog').dataset.hold === 'held', null, { timeout: WAIT_MS });
    const url = new URL(page.url());
    assert.equal(url.pathname, '/');
    assert.equal(url.searchParams.get('provider'), result.providerId);
    assert.equal(url.searchParams.get('service'), result.service.id);
    const summary = await page.textContent('#book-summary');
    for (const part of [result.service.name, result.name, clock(time, result.timezone)]) assert.ok(summary.includes(part), `${part} in ${summary}`);
    // Another viewer: the API, and another customer's page open on that day.
    assert.equal((await slotAt(result.providerId, time)).status, 'held');
    const other = await openPage(`/?provider=${result.providerId}&service=${result.service.id}`, DESKTOP);
    const held = await slotAt(result.providerId, time);
    await other.waitForSelector('.service input:checked', { timeout: WAIT_MS });
    await other.click(`.day[data-date="${day}"]`);
    await other.waitForSelector(`#times button[data-slot-id="${held.availabilityId}"][data-status="held"]`, { timeout: WAIT_MS });
    await shot(page, `${size}-held`);
    await page.fill('#customer-name', 'Grace Hopper');
    await page.fill('#customer-email', 'grace@example.com');
    await page.click('#book-submit');
    await page.waitForSelector('#done-dialog[open]', { timeout: WAIT_MS });
    await shot(page, `${size}-booked`);
    assert.equal((await slotAt(result.providerId, time)).status, 'booked');
    await other.waitForSelector(`#times button[data-slot-id="${held.availabilityId}"][data-status="booked"]`, { timeout: WAIT_MS });
    await closePage(other);
    await closePage(page);
  });
}

test('390: a linked time taken meanwhile: the page says so and shows that day\'s times, no form, no hold', async () => {
  const { results: [trim] } = await search(`service=Beard+trim&date=${day}&limit=1`);
  const time = trim.times[0].startsAt;
  const booked = await server.book(kasia.id, beard.id, { startsAt: time });
  assert.equal(booked.status, 201, JSON.stringify(booked.body));
  const page = await openPage(`/?provider=${kasia.id}&service=${beard.id}&time=${encodeURIComponent(time)}`, PHONE);
  await page.waitForSelector('#announcer:has-text("is no longer free")', { timeout: WAIT_MS });
  assert.match(await page.textContent('#announcer'), new RegExp(`${clock(time, trim.timezone)} Warsaw time`));
  assert.equal(await page.getAttribute(`.day[data-date="${day}"]`, 'aria-selected'), 'true');
  assert.equal(await page.locator('#book-dialog[open]').count(), 0);
  assert.equal(await page.isChecked(`.service input[value="${beard.id}"]`), true);
  await shot(page, '390-taken-link');
  await closePage(page);
});

test('1280: a provider deactivated while shown says it no longer takes bookings; the other cards stay live on the stream', async () => {
  const page = await openPage(`/providers.html?day=${day}&pageSize=50`, DESKTOP);
  await waitForCardsOf(page, `date=${day}`);
  await page.waitForSelector('#connection-state[data-state="live"]', { timeout: WAIT_MS });
  const leaving = (await server.providers()).find((p) => p.name === 'Edinburgh Climbing Coach');
  await page.waitForSelector(`.card[data-provider-id="${leaving.id}"][data-state="open"]`);
  const deactivated = await server.admin('POST', 'demo-edinburgh-climb/deactivate');
  assert.equal(deactivated.status, 200, JSON.stringify(deactivated.body));
  await page.waitForSelector(`.card[data-provider-id="${leaving.id}"][data-state="gone"]:has-text("Not taking bookings any more")`, { timeout: WAIT_MS });
  // Another card still hears its changes.
  const other = (await cardsOf(page)).find((c) => c.providerId !== leaving.id && c.providerId !== kasia.id && c.times.length > 0);
  const result = (await search(`date=${day}&limit=50`)).results.find((r) => r.providerId === other.providerId);
  const booked = await server.book(result.providerId, result.service.id, { startsAt: other.times.at(-1) });
  assert.equal(booked.status, 201, JSON.stringify(booked.body));
  await page.waitForFunction(({ id, at }) => !document.querySelector(`.card[data-provider-id="${id}"] button[data-starts-at="${at}"]`),
    { id: other.providerId, at: other.times.at(-1) }, { timeout: WAIT_MS });
  await page.waitForSelector('#connection-state[data-state="live"]', { timeout: WAIT_MS });
  await page.locator(`.card[data-provider-id="${leaving.id}"]`).scrollIntoViewIfNeeded();
  await shot(page, '1280-gone');
  await closePage(page);
});
