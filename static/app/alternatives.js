// The nearest free times, offered as buttons to a customer who lost a race
// (someone else held or booked the time first: a 409), so the next try is
// one tap rather than a search. Read from the live availability document.

import { state } from './state.js';
import { dayLabel } from './format.js';
import { serviceSlots } from './times.js';

/** How many times are offered. */
const COUNT = 3;

/**
 * The `count` free times of the shown document nearest to `startsAt` that
 * `service` fits, other than `exceptId`, in time order: [{ slot, date }].
 */
export function nearestFree(doc, service, startsAt, exceptId, count = COUNT) {
  const at = Date.parse(startsAt);
  const now = Date.now();
  const free = doc.days.flatMap((day) =>
    day.slots
      .map((slot, i) => ({ slot, date: day.date, fits: Boolean(serviceSlots(day, i, service)) }))
      .filter(({ slot, fits }) => fits && slot.availabilityId !== exceptId && Date.parse(slot.startsAt) > now));
  return free
    .sort((a, b) => Math.abs(Date.parse(a.slot.startsAt) - at) - Math.abs(Date.parse(b.slot.startsAt) - at))
    .slice(0, count)
    .sort((a, b) => Date.parse(a.slot.startsAt) - Date.parse(b.slot.startsAt));
}

/**
 * Fill `container` (its `.alternative-times` list) with buttons for the
 * times nearest to the lost one of `session`; `onPick(slotId, date)` when
 * one is chosen. Hidden when there is none (or the document is another provider's).
 */
export function drawAlternatives(container, session, onPick) {
  const doc = state.doc;
  const list = container.querySelector('.alternative-times');
  const shown = doc && state.provider?.id === session.provider.id && state.service?.id === session.service.id
    ? nearestFree(doc, session.service, session.slot.startsAt, session.id)
    : [];
  const focused = list.contains(document.activeElement) ? document.activeElement.dataset.slotId : null;
  list.replaceChildren(
    ...shown.map(({ slot, date }) => {
      const button = document.createElement('button');
      button.type = 'button';
      button.className = 'secondary alternative';
      button.dataset.slotId = slot.availabilityId;
      button.textContent = date === session.date ? slot.startTime : `${dayLabel(date)} ${slot.startTime}`;
      button.addEventListener('click', () => onPick(slot.availabilityId, date));
      return button;
    }),
  );
  container.hidden = shown.length === 0;
  if (focused) list.querySelector(`[data-slot-id="${CSS.escape(focused)}"]`)?.focus();
}
