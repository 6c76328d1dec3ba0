// The result cards: one per provider, with its service (duration, price),
// the day and zone its times are in, and the times as buttons whose
// accessible names say everything ("Book Haircut at Kasia's Barber Shop, Fri
// 4 Dec 10:00 Warsaw time"). Cards are updated in place, never redrawn: a
// time button that stays keeps its node (and the keyboard focus); when the
// focused time goes, focus moves to a neighbour. A card that has no fitting
// time left says so instead of vanishing.

import { clockIn, dateIn, dayWords, duration, priceMinor, zoneInWords, zoneLabel } from './format.js';

/** The provider's page with the service chosen and, when given, the time (the booking form opens, the hold taken). */
export function bookingUrl(result, startsAt) {
  const params = new URLSearchParams({ provider: result.providerId, service: result.service.id });
  if (startsAt) params.set('time', startsAt);
  return `/?${params}`;
}

const element = (tag, className, text) => {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
};

/** A new card for a search result. */
export function createCard(result) {
  const card = element('article', 'card');
  card.dataset.providerId = result.providerId;
  const headingId = `card-${result.providerId}`;
  card.setAttribute('aria-labelledby', headingId);
  const heading = element('h3', 'card-name');
  heading.id = headingId;
  heading.append(element('a', 'provider-link'));
  const address = element('p', 'card-address');
  const service = element('p', 'card-service');
  const when = element('p', 'card-when');
  const times = element('ul', 'card-times');
  const lost = element('p', 'card-lost');
  lost.hidden = true;
  lost.append(element('span', 'lost-words', 'No longer free at these times.'), ' ', element('a', 'lost-link', 'See other times'));
  card.append(heading, address, service, when, times, lost);
  updateCard(card, result);
  return card;
}

/** The result a card shows (as last drawn). */
const shown = new WeakMap();
export const resultOf = (card) => shown.get(card);

/** Bring a card up to date with `result` (same provider), in place. */
export function updateCard(card, result) {
  shown.set(card, result);
  const { name, address, service, timezone } = result;
  const link = card.querySelector('.provider-link');
  link.textContent = name;
  link.href = bookingUrl(result);
  card.querySelector('.card-address').textContent = address ?? '';
  card.querySelector('.card-address').hidden = !address;
  card.querySelector('.card-service').textContent =
    `${service.name} · ${duration(service.durationMinutes)} · ${priceMinor(service.priceMinor, service.currency)}`;
  const lostLink = card.querySelector('.lost-link');
  lostLink.href = bookingUrl(result);
  lostLink.setAttribute('aria-label', `See other times at ${name}`);
  const first = result.times[0];
  if (first) {
    const date = dateIn(first.startsAt, timezone);
    card.querySelector('.card-when').textContent = `${dayWords(date, timezone)} · ${zoneLabel(first.startsAt, timezone)}`;
    card.dataset.date = date;
  }
  const focusAt = drawTimes(card, result);
  const isLost = result.times.length === 0;
  card.classList.toggle('lost', isLost);
  card.dataset.state = isLost ? 'lost' : 'open';
  card.querySelector('.card-lost').hidden = !isLost;
  card.querySelector('.card-when').hidden = isLost;
  card.querySelector('.card-times').hidden = isLost;
  if (focusAt !== null) {
    // The focused time was taken: the time after it (or the last one, or the card's link) gets the focus.
    const buttons = card.querySelectorAll('.card-times button');
    (buttons[Math.min(focusAt, buttons.length - 1)] ?? card.querySelector('.lost-link'))?.focus();
  }
}

/** "Book Haircut at Kasia's Barber Shop, Fri 4 Dec 10:00 Warsaw time" */
function timeName(result, time) {
  const { timezone } = result;
  const day = dayWords(dateIn(time.startsAt, timezone), timezone);
  return `Book ${result.service.name} at ${result.name}, ${day} ${clockIn(time.startsAt, timezone)} ${zoneInWords(timezone)}`;
}

/** The time buttons of a card, as `result.times` says: kept, added or removed one by one. Returns where the focus was lost, or null. */
function drawTimes(card, result) {
  const list = card.querySelector('.card-times');
  const wanted = new Map(result.times.map((t) => [t.startsAt, t]));
  const focused = list.contains(document.activeElement) ? document.activeElement : null;
  let focusNext = null;
  const items = [...list.children];
  items.forEach((item, index) => {
    if (wanted.has(item.dataset.startsAt)) return;
    if (focused && item.contains(focused)) focusNext = index;
    item.remove();
  });
  const have = new Map([...list.children].map((item) => [item.dataset.startsAt, item]));
  let previous = null;
  for (const time of result.times) {
    let item = have.get(time.startsAt);
    if (!item) {
      item = element('li');
      item.dataset.startsAt = time.startsAt;
      const button = element('button', 'time', clockIn(time.startsAt, result.timezone));
      button.type = 'button';
      button.dataset.startsAt = time.startsAt;
      item.append(button);
    }
    // Names change with the service (a provider's best match may change) or the day word (midnight).
    const button = item.querySelector('button');
    button.setAttribute('aria-label', timeName(result, time));
    button.dataset.endsAt = time.endsAt;
    if (previous ? previous.nextSibling !== item : list.firstChild !== item) {
      if (previous) previous.after(item);
      else list.prepend(item);
    }
    previous = item;
  }
  return focusNext;
}

/**
 * The times of a result that a slot change leaves free: a slot that stopped
 * being available ([startsAt, endsAt) of the event) takes every time it overlaps.
 */
export function withoutOverlap(result, event) {
  if (event.newStatus === 'available' || !event.startsAt || !event.endsAt) return result;
  const from = Date.parse(event.startsAt);
  const to = Date.parse(event.endsAt);
  const times = result.times.filter((t) => Date.parse(t.endsAt) <= from || Date.parse(t.startsAt) >= to);
  return times.length === result.times.length ? result : { ...result, times };
}

/** A provider deactivated while shown: no times, and it says why. */
export function markGone(card) {
  const result = resultOf(card);
  if (result) updateCard(card, { ...result, times: [] });
  card.querySelector('.lost-words').textContent = 'Not taking bookings any more.';
  card.querySelector('.lost-link').hidden = true;
  card.dataset.state = 'gone';
}
