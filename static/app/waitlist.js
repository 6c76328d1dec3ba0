// The waitlist with fair offers (DESIGN 4c, issue 25) on the customer's
// page. A fully booked day offers "Tell me if a time opens" (a dialog: this
// day or the week from it, times of day, name and email); the entries are
// kept in this browser (localStorage, next to the bookings, each with its
// token) and listed under "Your bookings" with "Leave waitlist".
//
// When a time opens that fits an entry, the server holds it for the first in
// line; the public stream shows it turn `held`. A held time inside one of the
// stored entries' windows makes the page ask the server whether the offer is
// theirs (also on load, on a whole new document after a reset, when the
// stream is back, when the tab is shown and every minute). An offer shows as
// a banner at the top of the page with a live countdown, "Book it" (the
// offer's hold booked with the entry's token: directly with the name and
// email the entry was made with, else through the booking form) and
// "No thanks" (declined: the time passes to the next in line, the entry
// waits on); and as a browser notification when the customer allowed them.
//
// The webhook's claim link (`/?offer=<entryId>#token=<claim token>`) opens
// the offer in any browser: the token leaves the address bar at once and is
// kept for this tab only (sessionStorage); it reads the entry and books or
// declines the offer while the offer lives, nothing else.

import { api, state, ui, announce, queryParam } from './state.js';
import { addDays, clockIn, dateIn, dayLabel, dayWord, differentClock, longDayLabel, mmss, visitorZone, zoneInWords } from './format.js';
import { action, bookingRecord, saveBooking, showNoBookings } from './my-bookings.js';
import { localDeadline, openOfferForm, rememberCustomer, savedCustomer, showConfirmation } from './booking.js';

const STORAGE_KEY = 'slotstream.waitlist';
/** Claim links opened in this tab: { [entryId]: claim token }. */
const CLAIMS_KEY = 'slotstream.offerLinks';
/** '0' when the customer unticked "Notify me". */
const NOTIFY_KEY = 'slotstream.notifyOffers';
/** An entry in one of these still waits, or has a time held for it. */
const ACTIVE = new Set(['waiting', 'offered']);
/** An entry that became one of these leaves the list at once (booked: it is under Your bookings). */
const DROPPED = new Set(['fulfilled', 'left']);
/** Changes that arrive this close together are answered with one check per entry. */
const CHECK_COALESCE_MS = 100;
/** Entries are also checked this often: another provider's stream is not watched, a hidden tab's stream pauses. */
const CHECK_EVERY_MS = 60000;
/** After a countdown ends, ask again once the server has had time to pass the offer on. */
const AFTER_EXPIRY_MS = 2000;
/** Times of day a customer can wait for, in the provider's zone. */
const PARTS = [
  { id: 'morning', label: 'Morning, before 12:00', start: '00:00', end: '12:00' },
  { id: 'afternoon', label: 'Afternoon, 12:00–17:00', start: '12:00', end: '17:00' },
  { id: 'evening', label: 'Evening, from 17:00', start: '17:00', end: '24:00' },
];
/** What an entry's status means, as its list item says it. */
const STATUS_WORDS = {
  waiting: 'Waiting: if a time opens, it is held for you and shown at the top of this page.',
  offered: 'A time is held for you: Book it at the top of the page.',
  expired: 'A time was held for you but ran out; you are no longer on this waitlist.',
  notified: 'A time opened and you were told; you are no longer on this waitlist.',
};

let memory = null; // when storage is disabled
let changed = () => {};

/** Called after the entries or the offers change (the times redraw "held for you" and the waitlist panel). */
export function onWaitlistChanged(callback) {
  changed = callback;
}

// ---------------------------------------------------------------- storage

/** The stored entries: { id, token, providerId, providerName, timezone, serviceId, serviceName, from, to, times, status, expiresAt, name, email }. */
export function readEntries() {
  if (memory) return memory;
  try {
    const list = JSON.parse(localStorage.getItem(STORAGE_KEY) ?? '[]');
    return Array.isArray(list) ? list : [];
  } catch {
    return [];
  }
}

function writeEntries(list) {
  try {
    localStorage.setItem(STORAGE_KEY, JSON.stringify(list));
    memory = null;
  } catch {
    memory = list; // storage full or disabled: kept for this page only
  }
  renderWaitlist();
  changed();
}

const storedEntry = (id) => readEntries().find((e) => e.id === id) ?? null;

function saveEntry(record) {
  writeEntries([...readEntries().filter((e) => e.id !== record.id), record]);
}

function removeEntry(id) {
  if (storedEntry(id)) writeEntries(readEntries().filter((e) => e.id !== id));
}

function claimTokens() {
  try {
    return JSON.parse(sessionStorage.getItem(CLAIMS_KEY) ?? '{}') ?? {};
  } catch {
    return {};
  }
}

function writeClaimTokens(tokens) {
  try {
    sessionStorage.setItem(CLAIMS_KEY, JSON.stringify(tokens));
  } catch {
    // kept in memory only (`claims`)
  }
}

/** Offers opened from a claim link, by entry id: { id, token, claim: true, providerId, serviceId, from, to, times, … }. */
const claims = new Map();

function forgetClaim(id) {
  claims.delete(id);
  const tokens = claimTokens();
  if (id in tokens) {
    delete tokens[id];
    writeClaimTokens(tokens);
  }
}

/** Whoever can read entry `id` here: the stored entry (its own token), else a claim link. */
const sourceOf = (id) => storedEntry(id) ?? claims.get(id) ?? null;
/** Whether `source` still speaks for entry `id` (stored entries are read afresh each time: compared by token). */
const sameSource = (id, source) => sourceOf(id)?.token === source.token;

/** The entries and claim links to ask about: still waiting, or with a time held. */
const activeSources = () => [...readEntries().filter((e) => ACTIVE.has(e.status)), ...claims.values()];

/** Whether the customer waits for `serviceId` of `providerId` on `date` (the times' waitlist panel). */
state.waitingFor = (providerId, serviceId, date) =>
  activeSources().some((e) => e.providerId === providerId && e.serviceId === serviceId && e.from <= date && date <= e.to);

// ---------------------------------------------------------------- words

const zoneOf = (source) => source.timezone ?? state.providers.find((p) => p.id === source.providerId)?.timezone ?? 'UTC';

/** "until 12:00", "12:00–17:00", "from 17:00" */
function spanWords([start, end]) {
  if (start === '00:00') return `until ${end}`;
  if (end === '24:00') return `from ${start}`;
  return `${start}–${end}`;
}

/** "Thursday 4 Dec 2026, any time" or "Thu 4 Dec – Wed 10 Dec, 12:00–17:00 Warsaw time" */
export function windowText(e) {
  const days = e.from === e.to ? longDayLabel(e.from) : `${dayLabel(e.from)} – ${dayLabel(e.to)}`;
  const times = e.times?.length ? `${e.times.map(spanWords).join(', ')} ${zoneInWords(e.timezone ?? 'UTC')}` : 'any time';
  return `${days}, ${times}`;
}

/** An offer's time: { date, start, end, headline: "Thursday 14:30", when: "Thursday 4 Dec 2026, 14:30–15:00 Warsaw time" }. */
function offerTime(offer, zone) {
  const date = dateIn(offer.startsAt, zone);
  const start = clockIn(offer.startsAt, zone);
  const end = clockIn(offer.endsAt, zone);
  const visitor = visitorZone();
  const yours = differentClock(offer.startsAt, zone, visitor) ? ` (${clockIn(offer.startsAt, visitor)} your time)` : '';
  return { date, start, end, headline: `${dayWord(date, zone)} ${start}`, when: `${longDayLabel(date)}, ${start}–${end} ${zoneInWords(zone)}${yours}` };
}

// ---------------------------------------------------------------- the list under "Your bookings"

export function renderWaitlist() {
  const now = Date.now();
  const list = readEntries()
    .filter((e) => Date.parse(e.expiresAt) > now)
    .sort((a, b) => a.from.localeCompare(b.from) || a.id.localeCompare(b.id));
  ui.waitlist.replaceChildren(...list.map(entryItem));
  showNoBookings();
}

function entryItem(e) {
  const active = ACTIVE.has(e.status);
  const li = document.createElement('li');
  li.dataset.entryId = e.id;
  li.dataset.status = e.status;
  li.classList.toggle('ended', !active);
  const text = document.createElement('div');
  text.className = 'booking-text';
  const title = document.createElement('strong');
  title.textContent = `Waitlist: ${e.serviceName} · ${e.providerName}`;
  const when = document.createElement('span');
  when.className = 'when';
  when.textContent = windowText(e);
  const note = document.createElement('span');
  note.className = 'booking-note';
  note.textContent = STATUS_WORDS[e.status] ?? '';
  text.append(title, when, note);
  const actions = document.createElement('div');
  actions.className = 'actions wrap';
  actions.append(active
    ? action('Leave waitlist', 'danger-outline leave-waitlist', (button) => leave(e.id, button), `Leave the waitlist for ${e.serviceName}, ${windowText(e)}`)
    : action('Remove from list', 'secondary remove-entry', () => removeEntry(e.id), `Remove the ended waitlist for ${e.serviceName}, ${windowText(e)}, from this list`));
  li.append(text, actions);
  return li;
}

async function leave(id, button) {
  const e = storedEntry(id);
  if (!e) return;
  button.disabled = true;
  try {
    await api.leaveWaitlist(id, e.token);
  } catch (error) {
    // Gone (404) or no longer this token's: nothing left to leave.
    if (![401, 403, 404].includes(error.status)) {
      button.disabled = false;
      announce(`Could not leave the waitlist: ${error.message}`);
      return;
    }
  }
  removeOffer(id);
  removeEntry(id);
  announce(`You left the waitlist for ${e.serviceName}, ${windowText(e)}.`);
}

// ---------------------------------------------------------------- asking the server

const pending = new Set();
let checkTimer = 0;

/** Check these entries soon, once each, however many changes touched them. */
function queueChecks(ids) {
  for (const id of ids) pending.add(id);
  if (pending.size === 0 || checkTimer) return;
  checkTimer = setTimeout(() => {
    checkTimer = 0;
    const ids = [...pending];
    pending.clear();
    ids.forEach(checkEntry);
  }, CHECK_COALESCE_MS);
}

/** Ask the server how entry `id` is now, with the token this page has for it. */
async function checkEntry(id) {
  const source = sourceOf(id);
  if (!source) return;
  let answer;
  try {
    answer = await api.waitlistEntry(id, source.token);
  } catch (error) {
    if (error.status === undefined || error.status === 429 || error.status >= 500) {
      console.debug(`slotstream: could not check waitlist entry ${id}`, error);
      return;
    }
    // 401, 403, 404, 410: gone for this token (a claim link's ends with its offer).
    if (!sameSource(id, source)) return;
    if (source.claim) {
      forgetClaim(id);
      showEnded(id, 'This offer has ended: the time is no longer held for you.');
    } else {
      removeOffer(id);
      removeEntry(id);
    }
    return;
  }
  // Unless the entry left this page meanwhile (left, booked, or a claim link replaced by the entry's own token).
  if (sameSource(id, source)) entryRead(source, answer.body, answer.response);
}

/** What the server said of an entry: store it, and show, keep or end its offer. */
function entryRead(source, entry, response) {
  const live = entry.status === 'offered' && entry.offer ? entry.offer : null;
  const deadline = live ? localDeadline(response, live.expiresAt) : 0;
  if (source.claim) Object.assign(source, { from: entry.from, to: entry.to, times: entry.times ?? null });
  else updateStored(source, entry);
  if (live && deadline > Date.now()) {
    showOffer(sourceOf(entry.id) ?? source, live, deadline);
    return;
  }
  if (entry.status === 'offered') {
    // Ran out (by this page's clock, or its hold already let go), not yet passed on: ask again in a moment.
    setTimeout(() => queueChecks([entry.id]), AFTER_EXPIRY_MS);
    return;
  }
  if (source.claim) forgetClaim(entry.id);
  if (offers.has(entry.id) || source.claim) showEnded(entry.id, endedWords(entry.status, source.claim));
}

function updateStored(stored, entry) {
  if (DROPPED.has(entry.status) || Date.parse(entry.expiresAt) <= Date.now()) {
    removeEntry(entry.id);
    return;
  }
  const next = { ...stored, status: entry.status, from: entry.from, to: entry.to, times: entry.times ?? null, expiresAt: entry.expiresAt };
  const same = ['status', 'from', 'to', 'expiresAt'].every((k) => next[k] === stored[k]) && JSON.stringify(next.times) === JSON.stringify(stored.times);
  if (!same) saveEntry(next);
}

function endedWords(status, claim) {
  if (status === 'expired') return 'The time held for you ran out and went to the next in line.';
  if (status === 'fulfilled') return 'You booked this time.';
  if (status === 'left') return 'You left this waitlist, so the time went to the next in line.';
  if (claim) return 'This offer has ended: the time is no longer held for you.';
  return 'The time held for you has ended; you are still on the waitlist.';
}

/** Every entry and claim link still waiting (page load, the tab shown again, every minute); ended entries past their window are forgotten. */
export function checkAllEntries() {
  const now = Date.now();
  const list = readEntries();
  const kept = list.filter((e) => ACTIVE.has(e.status) || Date.parse(e.expiresAt) > now);
  if (kept.length < list.length) writeEntries(kept);
  queueChecks(activeSources().map((s) => s.id));
}

/** Whether a `slot-changed` event's slot lies in the window of `source` (loosely: the server decides). */
function inWindow(source, event) {
  if (event.providerId && event.providerId !== source.providerId) return false;
  if (!source.from || event.date < source.from || event.date > source.to) return false;
  return !source.times?.length || source.times.some(([start, end]) => event.startTime >= start && event.startTime < end);
}

/** Whether the event touches the time of the offer shown for `id` (it may have been booked, declined elsewhere or passed on). */
function touchesOffer(id, event) {
  const shown = offers.get(id);
  if (!shown || shown.ended || !event.startsAt || !event.endsAt) return false;
  return Date.parse(event.startsAt) < Date.parse(shown.offer.endsAt) && Date.parse(shown.offer.startsAt) < Date.parse(event.endsAt);
}

/**
 * The availability of `providerId` changed (app.js, from the stream). A
 * time that turned held inside a stored window is perhaps held for this
 * customer: ask. A whole new document (first fetch, a reset, a poll) may
 * follow missed events: ask for every entry with that provider.
 */
export function waitlistChanged(providerId, event) {
  const here = activeSources().filter((s) => s.providerId === providerId);
  if (!event) {
    queueChecks(here.map((s) => s.id));
    return;
  }
  queueChecks(here.filter((s) => (event.newStatus === 'held' && inWindow(s, event)) || touchesOffer(s.id, event)).map((s) => s.id));
}

/** The stream of `providerId` is back after a break: anything may have been missed. */
export function streamBack(providerId) {
  queueChecks(activeSources().filter((s) => s.providerId === providerId).map((s) => s.id));
}

// ---------------------------------------------------------------- offers: the banner

/** Offers shown, by entry id: { source, offer, deadline, el, ended }. */
const offers = new Map();
let ticker = 0;
/** Offers already told through a browser notification (by hold id). */
const notified = new Set();

/** Whether a held slot is held for one of this customer's entries (the times read "Held for you"). */
state.offeredToMe = (slot) => {
  const at = Date.parse(slot.startsAt);
  return [...offers.values()].some((o) => !o.ended && o.source.providerId === state.provider?.id
    && at >= Date.parse(o.offer.startsAt) && at < Date.parse(o.offer.endsAt));
};

function showOffer(source, offer, deadline) {
  const current = offers.get(source.id);
  if (current && !current.ended && current.offer.holdId === offer.holdId) {
    current.deadline = deadline;
    current.source = source;
    return;
  }
  const zone = zoneOf(source);
  const time = offerTime(offer, zone);
  const el = document.createElement('article');
  el.className = 'offer';
  el.dataset.entryId = source.id;
  el.dataset.holdId = offer.holdId;
  el.setAttribute('aria-labelledby', `offer-title-${source.id}`);
  el.innerHTML = `<p class="offer-title"><span class="offer-headline" role="alert"></span>, held for <span class="countdown" role="timer">--:--</span></p>
    <p class="offer-when"></p>
    <p class="error" role="alert"></p>
    <div class="actions wrap"><button type="button" class="primary offer-book">Book it</button><button type="button" class="secondary offer-decline">No thanks</button></div>`;
  el.querySelector('.offer-title').id = `offer-title-${source.id}`;
  el.querySelector('.offer-headline').textContent = `${time.headline} opened for you`;
  el.querySelector('.offer-when').textContent = `${source.serviceName ?? 'Appointment'} at ${source.providerName ?? 'the provider'}, ${time.when}.`;
  el.querySelector('.offer-book').addEventListener('click', (event) => bookOffer(source.id, event.currentTarget));
  el.querySelector('.offer-decline').addEventListener('click', () => declineOffer(source.id));
  const shown = { source, offer, deadline, el, ended: false };
  if (current) current.el.replaceWith(el);
  else ui.offers.append(el);
  offers.set(source.id, shown);
  ui.offers.hidden = false;
  tick();
  if (!ticker) ticker = setInterval(tick, 250);
  notify(shown, time);
  changed();
}

/** The countdowns; one that reaches zero ends its banner, and the server is asked what became of it. */
function tick() {
  let live = 0;
  for (const [id, shown] of offers) {
    if (shown.ended) continue;
    const remaining = shown.deadline - Date.now();
    shown.el.querySelector('.countdown').textContent = mmss(remaining);
    if (remaining > 0) {
      live += 1;
    } else {
      showEnded(id, 'The time held for you ran out and went to the next in line.');
      setTimeout(() => queueChecks([id]), AFTER_EXPIRY_MS);
    }
  }
  if (live === 0) {
    clearInterval(ticker);
    ticker = 0;
  }
}

/** The banner of entry `id` says its offer ended (`words`), with an OK that closes it. */
function showEnded(id, words) {
  const shown = offers.get(id);
  const hadFocus = Boolean(shown?.el.contains(document.activeElement));
  if (shown?.ended && shown.words === words) return;
  const headline = shown?.offer ? `${offerTime(shown.offer, zoneOf(shown.source)).headline} is no longer held for you` : 'This offer has ended';
  const el = document.createElement('article');
  el.className = 'offer ended';
  el.dataset.entryId = id;
  el.setAttribute('aria-labelledby', `offer-title-${id}`);
  el.innerHTML = `<p class="offer-title"><span class="offer-headline" role="alert"></span></p>
    <p class="offer-why"></p>
    <div class="actions wrap"><button type="button" class="secondary offer-dismiss">OK</button></div>`;
  el.querySelector('.offer-title').id = `offer-title-${id}`;
  el.querySelector('.offer-headline').textContent = headline;
  el.querySelector('.offer-why').textContent = `${words} You can pick another free time below.`;
  el.querySelector('.offer-dismiss').addEventListener('click', () => {
    removeOffer(id);
    focusTimes();
  });
  if (shown) shown.el.replaceWith(el);
  else ui.offers.append(el);
  offers.set(id, { ...(shown ?? { source: sourceOf(id), offer: null, deadline: 0 }), el, ended: true, words });
  ui.offers.hidden = false;
  if (hadFocus) el.querySelector('.offer-dismiss').focus();
  changed();
}

function removeOffer(id) {
  const shown = offers.get(id);
  if (!shown) return;
  shown.el.remove();
  offers.delete(id);
  ui.offers.hidden = offers.size === 0;
  changed();
}

/** Focus somewhere sensible after a banner with focus in it went away. */
function focusTimes() {
  if (!ui.picker.hidden) ui.times.focus();
}

function setBusy(shown, busy, label) {
  for (const button of shown.el.querySelectorAll('button')) button.disabled = busy;
  const book = shown.el.querySelector('.offer-book');
  if (book) book.textContent = busy && label ? label : 'Book it';
}

/** The provider and service objects a booking record is made from (the directory's, else what the entry knows). */
function providerAndService(source) {
  const provider = state.providers.find((p) => p.id === source.providerId)
    ?? { id: source.providerId, name: source.providerName ?? 'The provider', timezone: zoneOf(source), address: '' };
  const service = provider.services?.find((s) => s.id === source.serviceId) ?? { id: source.serviceId, name: source.serviceName ?? 'Appointment' };
  return { provider, service };
}

/** Book it: with the name and email the entry was made with, else through the booking form. */
async function bookOffer(id, button) {
  const shown = offers.get(id);
  if (!shown || shown.ended) return;
  const { source, offer } = shown;
  const { provider, service } = providerAndService(source);
  const form = () => openOfferForm({
    provider, service, startsAt: offer.startsAt, endsAt: offer.endsAt, holdId: offer.holdId,
    token: source.token, deadline: shown.deadline, onBooked: () => offerBooked(id), returnTo: button,
  });
  if (!source.name || !source.email) {
    form();
    return;
  }
  setBusy(shown, true, 'Booking…');
  shown.el.querySelector('.error').textContent = '';
  try {
    const booking = await api.book(
      { providerId: provider.id, serviceId: service.id, startTime: offer.startsAt, holdId: offer.holdId, customer: { name: source.name, email: source.email } },
      source.token,
    );
    const record = bookingRecord(booking, provider, service, booking.token);
    saveBooking(record);
    offerBooked(id);
    showConfirmation(record);
    state.watch?.nudge();
  } catch (error) {
    if (offers.get(id) !== shown) return;
    setBusy(shown, false);
    if ([401, 403, 404, 409, 410].includes(error.status)) {
      showEnded(id, 'The time is no longer held for you.');
      queueChecks([id]);
    } else if (error.status === 422) {
      form(); // the stored name or email no longer passes: let the customer correct them
    } else {
      shown.el.querySelector('.error').textContent = `Booking failed: ${error.message}. Please try again.`;
    }
  }
}

/** The offer became a booking: the entry is done (fulfilled) and leaves the list. */
function offerBooked(id) {
  removeOffer(id);
  removeEntry(id);
  forgetClaim(id);
}

/** No thanks: the time passes to the next in line; the entry waits on. */
async function declineOffer(id) {
  const shown = offers.get(id);
  if (!shown || shown.ended) return;
  const { source } = shown;
  setBusy(shown, true);
  try {
    await api.declineOffer(id, source.token);
  } catch (error) {
    if (error.status === undefined || error.status === 429 || error.status >= 500) {
      setBusy(shown, false);
      shown.el.querySelector('.error').textContent = `Could not decline: ${error.message}. Please try again.`;
      return;
    }
    // 401, 403, 404: the offer is gone already.
  }
  const { headline } = offerTime(shown.offer, zoneOf(source));
  removeOffer(id);
  focusTimes();
  const stored = storedEntry(id);
  if (stored) saveEntry({ ...stored, status: 'waiting' });
  forgetClaim(id);
  announce(`No thanks: ${headline} goes to the next in line. You stay on the waitlist.`);
  queueChecks([id]);
}

// ---------------------------------------------------------------- browser notifications

const notificationsAvailable = () => typeof window.Notification === 'function';
const wantsNotifications = () => {
  try {
    return localStorage.getItem(NOTIFY_KEY) !== '0';
  } catch {
    return true;
  }
};

function setWantsNotifications(on) {
  try {
    localStorage.setItem(NOTIFY_KEY, on ? '1' : '0');
  } catch {
    // this page only
  }
}

/** A system notification for a new offer, once, when the customer allowed them (never asked for here). */
function notify(shown, time) {
  if (!notificationsAvailable() || Notification.permission !== 'granted' || !wantsNotifications()) return;
  if (notified.has(shown.offer.holdId)) return;
  notified.add(shown.offer.holdId);
  try {
    const note = new Notification(`${time.headline} opened for you`, {
      body: `${shown.source.serviceName ?? 'Appointment'} at ${shown.source.providerName ?? 'the provider'}: held for you for ${mmss(shown.deadline - Date.now())}. Book it on the page.`,
      tag: `slotstream-offer-${shown.offer.holdId}`,
    });
    note.onclick = () => {
      window.focus();
      shown.el.querySelector('.offer-book')?.focus();
      note.close();
    };
  } catch (error) {
    // Some browsers (Chrome on Android) notify only from a service worker: the banner is there.
    console.debug('slotstream: no notification', error);
  }
}

// ---------------------------------------------------------------- joining: the dialog

const $ = (id) => document.getElementById(id);
/** The join dialog's elements (only this module uses them). */
const join = {
  dialog: $('waitlist-dialog'),
  form: $('waitlist-form'),
  summary: $('waitlist-summary'),
  dayLabel: $('waitlist-day'),
  weekLabel: $('waitlist-week'),
  parts: $('waitlist-parts'),
  name: $('waitlist-name'),
  email: $('waitlist-email'),
  notifyField: $('waitlist-notify-field'),
  notify: $('waitlist-notify'),
  error: $('waitlist-error'),
  submit: $('waitlist-submit'),
  close: $('waitlist-close'),
  done: $('waitlist-done'),
  doneText: $('waitlist-done-text'),
  doneClose: $('waitlist-done-close'),
};

/** What the open dialog joins: { provider, service, date, zone, parts }. */
let joining = null;

/** The parts of the day that have times on the day's `slots` (only those are worth a choice). */
const partsWithTimes = (slots) => PARTS.filter((p) => slots.some((s) => s.startTime >= p.start && s.startTime < p.end));

function drawParts(parts) {
  join.parts.hidden = parts.length < 2;
  join.parts.replaceChildren(
    join.parts.querySelector('legend'),
    ...parts.map((part) => {
      const label = document.createElement('label');
      const input = document.createElement('input');
      input.type = 'checkbox';
      input.name = 'waitlist-part';
      input.value = part.id;
      label.append(input, ` ${part.label}`);
      return label;
    }),
  );
}

/** The ticked parts as spans (neighbours joined: an appointment must lie inside one), or null for any time. */
function chosenTimes(parts) {
  const ticked = [...join.parts.querySelectorAll('input:checked')].map((input) => input.value);
  if (ticked.length === 0 || ticked.length === parts.length) return null;
  const spans = [];
  for (const part of PARTS.filter((p) => ticked.includes(p.id))) {
    const last = spans.at(-1);
    if (last && last[1] === part.start) last[1] = part.end;
    else spans.push([part.start, part.end]);
  }
  return spans;
}

/** Open the dialog for the shown day's service (the waitlist panel's button). */
function openJoin() {
  const { provider, service, day, doc } = state;
  if (!provider || !service || !day || !doc) return;
  const zone = doc.timezone;
  const slots = doc.days.find((d) => d.date === day)?.slots ?? [];
  joining = { provider, service, date: day, zone, parts: partsWithTimes(slots) };
  join.summary.textContent = `${service.name} at ${provider.name}. Times are ${zoneInWords(zone)}.`;
  join.dayLabel.textContent = `Only ${longDayLabel(day)}`;
  join.weekLabel.textContent = `Any day from ${dayLabel(day)} to ${dayLabel(addDays(day, 6))}`;
  join.form.querySelector('input[value="day"]').checked = true;
  drawParts(joining.parts);
  const saved = savedCustomer();
  if (saved && !join.name.value) join.name.value = saved.name ?? '';
  if (saved && !join.email.value) join.email.value = saved.email ?? '';
  join.notifyField.hidden = !notificationsAvailable() || Notification.permission === 'denied';
  join.notify.checked = notificationsAvailable() && Notification.permission === 'granted' && wantsNotifications();
  join.error.textContent = '';
  join.submit.disabled = false;
  join.submit.textContent = 'Tell me';
  join.form.hidden = false;
  join.done.hidden = true;
  join.dialog.showModal();
  join.form.querySelector('input[value="day"]').focus();
}

async function submitJoin(event) {
  event.preventDefault();
  const target = joining;
  if (!target) return;
  const name = join.name.value.trim();
  const email = join.email.value.trim();
  if (!name) {
    join.error.textContent = 'Please enter your name.';
    join.name.focus();
    return;
  }
  if (!email || !join.email.checkValidity()) {
    join.error.textContent = 'Please enter a valid email address.';
    join.email.focus();
    return;
  }
  const week = join.form.querySelector('input[name="waitlist-days"]:checked')?.value === 'week';
  const times = chosenTimes(target.parts);
  const request = {
    providerId: target.provider.id,
    serviceId: target.service.id,
    from: target.date,
    to: week ? addDays(target.date, 6) : target.date,
    ...(times ? { times } : {}),
    customer: { name, email },
  };
  join.error.textContent = '';
  join.submit.disabled = true;
  join.submit.textContent = 'Joining…';
  let entry;
  try {
    entry = await api.joinWaitlist(request);
  } catch (error) {
    join.submit.disabled = false;
    join.submit.textContent = 'Tell me';
    join.error.textContent = joinError(error, target);
    return;
  }
  rememberCustomer(name, email);
  const record = {
    id: entry.id,
    token: entry.token,
    providerId: target.provider.id,
    providerName: target.provider.name,
    timezone: target.zone,
    serviceId: target.service.id,
    serviceName: target.service.name,
    from: entry.from,
    to: entry.to,
    times: entry.times ?? null,
    status: entry.status,
    expiresAt: entry.expiresAt,
    name,
    email,
  };
  saveEntry(record);
  showJoined(record);
}

function joinError(error, target) {
  if (error.status === undefined) return `Could not join the waitlist: ${error.message}. Please try again.`;
  if (error.status === 422) return `Please check your details: ${error.message}`;
  if (error.status === 410) return `${target.provider.name} is no longer taking bookings here.`;
  if (error.status === 429) return `Could not join: ${error.message}. You can leave a waitlist under Your bookings.`;
  return `Could not join the waitlist: ${error.message}`;
}

function showJoined(record) {
  const told = join.notify.checked && notificationsAvailable() && Notification.permission === 'granted'
    ? ' This device will also notify you while this page is open.'
    : '';
  join.doneText.textContent = `We will tell you if a time opens for ${record.serviceName} at ${record.providerName}, ${windowText(record)}. `
    + 'The first time that opens is held for the first person in line, for a few minutes, and shown at the top of this page with Book it and No thanks. '
    + `Your place is listed under Your bookings, where you can leave it.${told}`;
  join.form.hidden = true;
  join.done.hidden = false;
  join.doneClose.focus();
  announce(`You are on the waitlist for ${record.serviceName}, ${windowText(record)}.`);
}

/** "Notify me": the browser asks for permission now, from this click, never on load. */
async function notifyToggled() {
  if (!join.notify.checked) {
    setWantsNotifications(false);
    return;
  }
  setWantsNotifications(true);
  if (!notificationsAvailable() || Notification.permission === 'granted') return;
  let answer = 'denied';
  try {
    answer = await Notification.requestPermission();
  } catch {
    // an old browser's callback form: treated as refused
  }
  if (answer !== 'granted') {
    join.notify.checked = false;
    join.notifyField.hidden = answer === 'denied';
    announce('Notifications are off in this browser; this page still shows a time held for you.');
  }
}

join.form.addEventListener('submit', submitJoin);
join.notify.addEventListener('change', notifyToggled);
join.close.addEventListener('click', () => join.dialog.close());
join.doneClose.addEventListener('click', () => join.dialog.close());
join.dialog.addEventListener('close', () => {
  joining = null;
  if (!ui.waitlistPanel.hidden) (ui.waitlistJoin.hidden ? ui.times : ui.waitlistJoin).focus();
});
ui.waitlistJoin.addEventListener('click', openJoin);

// ---------------------------------------------------------------- the claim link

/**
 * A claim link (`?offer=<entryId>#token=<claim token>`): read the entry with
 * the token (this browser's own token for it, if it has the entry), take the
 * fragment out of the address bar, and show the offer, or say plainly that
 * it ended. Returns { providerId, serviceId, day } to show, or null.
 */
export async function openOfferLink(providers) {
  const id = queryParam('offer');
  if (!id) return null;
  const fragment = new URLSearchParams(location.hash.slice(1));
  const fromLink = fragment.get('token');
  if (fromLink) {
    history.replaceState(null, '', location.pathname + location.search);
    writeClaimTokens({ ...claimTokens(), [id]: fromLink });
  }
  const stored = storedEntry(id);
  const token = stored?.token ?? fromLink ?? claimTokens()[id];
  if (!token) return null;
  let answer;
  try {
    answer = await api.waitlistEntry(id, token);
  } catch (error) {
    if (stored) return { providerId: stored.providerId, serviceId: stored.serviceId, day: stored.from };
    if (error.status === undefined) {
      announce(`Could not open this offer (${error.message}); reload the page to try again.`);
      return null;
    }
    forgetClaim(id);
    showEnded(id, 'This offer has ended: the time is no longer held for you.');
    return null;
  }
  const entry = answer.body;
  const provider = providers.find((p) => p.id === entry.providerId);
  if (!provider) return null;
  const service = provider.services.find((s) => s.id === entry.serviceId);
  let source = stored;
  if (!source) {
    source = {
      id, token, claim: true, providerId: provider.id, providerName: provider.name, timezone: provider.timezone,
      serviceId: entry.serviceId, serviceName: service?.name ?? 'Appointment', from: entry.from, to: entry.to, times: entry.times ?? null,
    };
    claims.set(id, source);
  }
  entryRead(source, entry, answer.response);
  const day = entry.offer ? dateIn(entry.offer.startsAt, provider.timezone) : entry.from;
  return { providerId: provider.id, serviceId: entry.serviceId, day };
}

// ---------------------------------------------------------------- keeping up

setInterval(checkAllEntries, CHECK_EVERY_MS);
document.addEventListener('visibilitychange', () => {
  if (document.visibilityState === 'visible') checkAllEntries();
});
window.addEventListener('storage', (event) => {
  if (event.key === STORAGE_KEY) {
    renderWaitlist();
    changed();
    checkAllEntries();
  }
});
