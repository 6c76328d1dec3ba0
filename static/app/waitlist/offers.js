// An offer: when a time opens that fits an entry, the server holds it for
// the first in line and the public stream shows it turn `held`. A held time
// inside one of the entries' windows makes the page ask the server whether
// the offer is theirs (also on load, on a whole new document after a reset,
// when the stream is back, when the tab is shown and every minute). An offer
// shows as a banner at the top of the page with a live countdown, "Book it"
// (the offer's hold booked with the entry's token: directly with the name and
// email the entry was made with, else through the booking form) and "No
// thanks" (declined: the time passes to the next in line, the entry waits
// on); and as a browser notification (notifications.js).

import { api, state, ui, announce } from '../state.js';
import { mmss } from '../format.js';
import { bookingRecord, saveBooking } from '../my-bookings.js';
import { localDeadline, openOfferForm, showConfirmation } from '../booking.js';
import { ACTIVE, activeSources, forgetClaim, readEntries, removeEntry, sameSource, saveEntry, sourceOf, storedEntry, writeEntries } from './storage.js';
import { offerTime, zoneOf } from './words.js';
import { notify } from './notifications.js';
import { checkQueue } from '../check-queue.js';

/** An entry that became one of these leaves the list at once (booked: it is under Your bookings). */
const DROPPED = new Set(['fulfilled', 'left']);
/** Changes that arrive this close together are answered with one check per entry. */
const CHECK_COALESCE_MS = 100;
/** Entries are also checked this often: another provider's stream is not watched, a hidden tab's stream pauses. */
const CHECK_EVERY_MS = 60000;
/** After a countdown ends, ask again once the server has had time to pass the offer on. */
const AFTER_EXPIRY_MS = 2000;
let changed = () => {};

/** Called after the offers shown change (index.js: the page told). */
export function afterOffersChanged(callback) {
  changed = callback;
}

// ---------------------------------------------------------------- asking the server

/** Check these entries soon, once each, however many changes touched them. */
const queueChecks = checkQueue(checkEntry, CHECK_COALESCE_MS);

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
export function entryRead(source, entry, response) {
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
export function showEnded(id, words) {
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

export function removeOffer(id) {
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

// ---------------------------------------------------------------- keeping up

setInterval(checkAllEntries, CHECK_EVERY_MS);
document.addEventListener('visibilitychange', () => {
  if (document.visibilityState === 'visible') checkAllEntries();
});
