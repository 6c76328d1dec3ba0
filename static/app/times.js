// Step 2: the strip of days and the list of times, drawn from the
// availability document. Only times that have not begun and that the chosen
// service fits are offered; other people's bookings, holds and the
// customer's own booking each read differently. A day with times but none
// that fits says "Fully booked" and offers the waitlist (app/waitlist/,
// through state.waitingFor and its join button).

import { state, ui, announce, DAYS } from './state.js';
import { addDays, clockIn, todayIn, dayLabel, dayOfMonth, differentClock, longDayLabel, month, visitorZone, visitorZoneName, weekday, zoneInWords } from './format.js';
import { myBookingsAt } from './my-bookings.js';
import { coveringSlots } from './slots.js';
import { pointSkipLink } from './skip-link.js';

/** Slots of the previous drawing, to flash the ones that changed. */
let shownStatus = new Map();

const isPast = (slot) => Date.parse(slot.startsAt) <= Date.now();

/** The consecutive, contiguous free slots covering the service from `index`, or null. */
export const serviceSlots = (day, index, service) => coveringSlots(day, index, service.durationMinutes);

/** How one slot reads for the chosen service: free (bookable), mine, taken, held, blocked, short, past. */
function slotKind(day, index, mineIds) {
  const slot = day.slots[index];
  if (mineIds.has(slot.availabilityId) && slot.status === 'booked') return 'mine';
  if (slot.status === 'booked') return 'taken';
  // Held by this page's form, or for this customer by a waitlist offer.
  if (slot.status === 'held') return state.heldByMe?.(slot) || state.offeredToMe?.(slot) ? 'held-mine' : 'held';
  if (slot.status === 'blocked') return 'blocked';
  if (isPast(slot)) return 'past';
  return state.service && serviceSlots(day, index, state.service) ? 'free' : 'short';
}

const KIND_WORDS = {
  free: 'free',
  mine: 'your booking',
  taken: 'booked',
  held: 'someone is booking this',
  'held-mine': 'held for you',
  blocked: 'not available',
  short: `not enough free time after it`,
};

function dayInfo(day) {
  const mineIds = new Set(myBookingsAt(state.provider.id, day.slots).map((s) => s.availabilityId));
  const kinds = day.slots.map((_, i) => slotKind(day, i, mineIds));
  const upcoming = day.slots.filter((s) => !isPast(s));
  // Today with nothing left is "no more times today", also when its times were never
  // published (a schedule set after they passed): "Closed" would be a guess.
  const today = day.date === todayIn(state.doc.timezone);
  const closed = day.slots.length === 0 && !today;
  const over = !closed && upcoming.length === 0;
  const free = kinds.filter((k) => k === 'free').length;
  return { kinds, free, mine: kinds.includes('mine'), closed, over, today, full: !closed && !over && free === 0 };
}

/** The strip's note under a day (short: seven days fit a phone's width), and its words for a screen reader. */
function dayNote(info) {
  if (info.closed) return ['Closed', 'closed'];
  if (info.over) return info.today ? ['No more times', 'no more times today'] : ['Over', 'over'];
  if (info.full) return ['Fully booked', 'fully booked'];
  return [`${info.free} free`, `${info.free} free`];
}

/** The first day with a free time for the service (or the first day). */
function defaultDay(doc) {
  return doc.days.find((d) => dayInfo(d).free > 0)?.date ?? doc.days[0]?.date ?? null;
}

export function zoneNote() {
  if (!state.doc || !state.provider) return '';
  const zone = state.doc.timezone;
  const words = zoneInWords(zone);
  const sample = state.doc.days.flatMap((d) => d.slots)[0]?.startsAt ?? new Date().toISOString();
  const visitor = visitorZone();
  return differentClock(sample, zone, visitor)
    ? `Times are ${words}; your time (${visitorZoneName(sample)}) is shown under each.`
    : `Times are ${words}.`;
}

function drawStrip(doc) {
  const today = todayIn(doc.timezone);
  // Every button is drawn anew: a focused one hands the focus to its successor.
  const focusedDate = ui.dayStrip.contains(document.activeElement) ? document.activeElement.dataset.date : null;
  ui.dayStrip.replaceChildren(
    ...doc.days.map((day) => {
      const info = dayInfo(day);
      const button = document.createElement('button');
      button.type = 'button';
      button.role = 'tab';
      button.className = 'day';
      button.dataset.date = day.date;
      const [note, said] = dayNote(info);
      button.dataset.free = String(info.free);
      button.classList.toggle('closed', info.closed || info.over || info.full);
      button.classList.toggle('full', info.full);
      button.classList.toggle('over-today', info.over && info.today);
      button.classList.toggle('has-mine', info.mine);
      button.setAttribute('aria-selected', String(day.date === state.day));
      button.setAttribute('aria-label', `${longDayLabel(day.date)}, ${said}${info.mine ? ', your booking' : ''}`);
      button.innerHTML = '<span class="wd"></span><span class="dn"></span><span class="mo"></span><span class="note"></span>';
      button.querySelector('.wd').textContent = day.date === today ? 'Today' : weekday(day.date);
      button.querySelector('.dn').textContent = dayOfMonth(day.date);
      button.querySelector('.mo').textContent = month(day.date);
      button.querySelector('.note').textContent = note;
      return button;
    }),
  );
  ui.weekRange.textContent = doc.days.length ? `${dayLabel(doc.days[0].date)} – ${dayLabel(doc.days.at(-1).date)}` : '';
  if (focusedDate) dayButton(focusedDate)?.focus();
}

const dayButton = (date) => ui.dayStrip.querySelector(`button[data-date="${CSS.escape(date)}"]`);

function drawTimes(doc, flashChanges) {
  const day = doc.days.find((d) => d.date === state.day);
  const previous = shownStatus;
  shownStatus = new Map();
  if (!day) {
    ui.times.replaceChildren();
    ui.waitlistPanel.hidden = true;
    return;
  }
  ui.dayHeading.textContent = longDayLabel(day.date);
  const info = dayInfo(day);
  const { kinds } = info;
  const zone = doc.timezone;
  const visitor = visitorZone();
  const focusedId = document.activeElement?.dataset?.slotId ?? null;
  const buttons = [];
  day.slots.forEach((slot, i) => {
    const kind = kinds[i];
    if (kind === 'past') return; // not offered
    const button = document.createElement('button');
    button.type = 'button';
    button.className = `slot ${kind}`;
    button.dataset.slotId = slot.availabilityId;
    button.dataset.status = slot.status;
    button.dataset.kind = kind;
    button.dataset.date = day.date;
    button.dataset.start = slot.startTime;
    button.dataset.bookable = String(kind === 'free');
    // A provider whose times the marketplace's own booking system owns
    // (slotSource "external"): a free time is booked there, at its bookingUrl.
    const elsewhere = kind === 'free' && doc.slotSource === 'external';
    if (elsewhere && slot.bookingUrl) button.dataset.bookingUrl = slot.bookingUrl;
    button.setAttribute('aria-disabled', String(kind !== 'free'));
    const where = elsewhere ? ', books on the marketplace\'s site' : '';
    button.setAttribute('aria-label', `${dayLabel(day.date)} ${slot.startTime} ${zoneInWords(zone)}, ${KIND_WORDS[kind]}${where}`);
    const time = document.createElement('span');
    time.className = 'slot-time';
    time.textContent = slot.startTime;
    button.append(time);
    if (kind !== 'free') {
      const note = document.createElement('span');
      note.className = 'slot-note';
      note.textContent = { mine: 'Yours', taken: 'Booked', held: 'Being booked', 'held-mine': 'Held for you', blocked: 'Unavailable', short: 'Too short' }[kind];
      button.append(note);
    } else if (differentClock(slot.startsAt, zone, visitor)) {
      const theirs = document.createElement('span');
      theirs.className = 'slot-visitor';
      theirs.textContent = `${clockIn(slot.startsAt, visitor)} yours`;
      button.append(theirs);
    }
    const before = previous.get(slot.availabilityId);
    if (flashChanges && before && before !== kind) button.classList.add('flash');
    shownStatus.set(slot.availabilityId, kind);
    buttons.push(button);
  });
  if (buttons.length === 0) {
    const empty = document.createElement('p');
    empty.className = 'muted empty';
    empty.textContent = info.today ? 'No more times today.' : info.closed ? 'Closed on this day.' : 'No more times on this day.';
    ui.times.replaceChildren(empty);
  } else {
    ui.times.replaceChildren(...buttons);
  }
  if (focusedId) ui.times.querySelector(`[data-slot-id="${CSS.escape(focusedId)}"]`)?.focus();
  drawWaitlistPanel(day, info);
}

/** Under a fully booked day: "Tell me if a time opens", or that the customer already waits for it. */
function drawWaitlistPanel(day, info) {
  const service = state.service;
  ui.waitlistPanel.hidden = !info.full || !service;
  if (ui.waitlistPanel.hidden) return;
  const waiting = state.waitingFor?.(state.provider.id, service.id, day.date);
  ui.waitlistPanel.dataset.date = day.date;
  ui.waitlistPanel.dataset.waiting = String(Boolean(waiting));
  ui.waitlistText.textContent = waiting
    ? `You are on the waitlist for ${service.name} on ${longDayLabel(day.date)}: if a time opens, it is held for you and shown at the top of this page.`
    : `Fully booked for ${service.name} on ${longDayLabel(day.date)}.`;
  ui.waitlistJoin.hidden = Boolean(waiting);
}

/** Draw (or redraw) the strip and the times from the current document. */
export function drawTimesStep({ flashChanges = false } = {}) {
  const doc = state.doc;
  ui.picker.hidden = !state.service || !doc;
  ui.chooseFirst.hidden = Boolean(state.service);
  pointSkipLink(!ui.picker.hidden);
  if (!doc || !state.provider) return;
  ui.times.dataset.version = String(doc.version);
  ui.times.setAttribute('aria-busy', 'false');
  ui.tzNote.textContent = zoneNote();
  if (!state.day || !doc.days.some((d) => d.date === state.day)) state.day = defaultDay(doc);
  ui.prev.disabled = doc.startDate <= todayIn(doc.timezone);
  drawStrip(doc);
  drawTimes(doc, flashChanges);
}

/** A service was chosen: pick the first day it has free times, unless the shown day has some. */
export function serviceChanged() {
  if (state.doc) {
    const shown = state.doc.days.find((d) => d.date === state.day);
    if (!shown || dayInfo(shown).free === 0) state.day = defaultDay(state.doc);
  }
  drawTimesStep();
}

/** The customer chose a day: its times are listed, and the focus stays on the day's (new) button. */
export function selectDay(date) {
  state.day = date;
  drawTimesStep();
  dayButton(date)?.focus();
}

/** The next or previous DAYS days. */
export function shiftDays(direction, restart) {
  const start = state.doc?.startDate;
  if (!start) return;
  state.day = null;
  restart(addDays(start, direction * DAYS));
}

export function announceUnbookable(button) {
  const kind = button.dataset.kind;
  const when = `${dayLabel(button.dataset.date)} ${button.dataset.start}`;
  const words = {
    held: `Someone is booking ${when} right now. It may free up in a few minutes.`,
    taken: `${when} is already booked.`,
    mine: `${when} is your booking: see Your bookings below.`,
    'held-mine': `${when} is held for you: Book it at the top of the page.`,
    short: `${state.service?.name} takes ${state.service?.durationMinutes} minutes; ${when} is not followed by enough free time.`,
  };
  announce(words[kind] ?? `${when} cannot be booked.`);
}
