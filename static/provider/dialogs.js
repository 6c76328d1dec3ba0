// The two dialogs of the agenda: cancel a booking with a reason, and move a
// booking to another free time of the day or the week. Each is a modal
// <dialog> (focus moves in; Escape or Back closes it; focus goes back to the
// button that opened it, or to its redrawn successor).

import { coveringSlots } from '../app/slots.js';
import { clockIn, dayLabel, longDayLabel } from '../app/format.js';
import { api, plainError } from './api.js';
import { announce } from './alerts.js';

const $ = (id) => document.getElementById(id);
const cancelDialog = $('cancel-dialog');
const cancelForm = $('cancel-form');
const cancelSummary = $('cancel-summary');
const cancelReason = $('cancel-reason');
const cancelCount = $('cancel-count');
const cancelError = $('cancel-error');
const cancelConfirm = $('cancel-confirm');
const moveDialog = $('move-dialog');
const moveForm = $('move-form');
const moveSummary = $('move-summary');
const moveChoices = $('move-choices');
const moveError = $('move-error');
const moveConfirm = $('move-confirm');

/** What a dialog needs from the page: the session and the current document, and what to do after a write. */
let context = null;
export function setDialogContext(value) {
  context = value;
}

/** The button that opened a dialog (its focus key survives a redraw). */
let opener = { key: null, node: null };

function rememberOpener(node) {
  opener = { key: node?.dataset?.focusKey ?? null, node };
}

function giveFocusBack() {
  const { key, node } = opener;
  const target =
    (node?.isConnected && node) ||
    (key && document.querySelector(`[data-focus-key="${CSS.escape(key)}"]`)) ||
    document.getElementById('agenda');
  target?.focus();
}

/** "Ada Lovelace · Haircut · Thu 3 Dec 14:30–15:15" */
function bookingLine(booking, zone) {
  const date = new Intl.DateTimeFormat('en-CA', { timeZone: zone, year: 'numeric', month: '2-digit', day: '2-digit' }).format(new Date(booking.startsAt));
  return `${booking.customer?.name || 'A customer'} · ${booking.serviceName} · ${dayLabel(date)} ${clockIn(booking.startsAt, zone)}–${clockIn(booking.endsAt, zone)}`;
}

// ---------------------------------------------------------------- cancel

let cancelling = null;

export function openCancel(booking, node) {
  if (!context) return;
  cancelling = booking;
  rememberOpener(node);
  cancelSummary.textContent = bookingLine(booking, context.zone());
  cancelReason.value = '';
  cancelCount.textContent = '0';
  cancelError.textContent = '';
  cancelConfirm.disabled = false;
  cancelDialog.showModal();
  cancelReason.focus();
}

cancelReason.addEventListener('input', () => {
  cancelCount.textContent = String(cancelReason.value.length);
});
$('cancel-keep').addEventListener('click', () => cancelDialog.close());
cancelForm.addEventListener('submit', async (event) => {
  event.preventDefault();
  const booking = cancelling;
  if (!booking) return;
  cancelConfirm.disabled = true;
  cancelError.textContent = '';
  const reason = cancelReason.value.trim();
  try {
    await api.cancel(booking.id, reason);
    cancelDialog.close();
    const whose = booking.customer?.name ? `${booking.customer.name}'s ${booking.serviceName}` : booking.serviceName;
    announce(`Cancelled ${whose} at ${clockIn(booking.startsAt, context.zone())}.`);
    context.afterWrite();
  } catch (error) {
    cancelError.textContent = `Could not cancel: ${plainError(error)}`;
    cancelConfirm.disabled = false;
    context.onWriteError?.(error);
  }
});
cancelDialog.addEventListener('close', () => {
  cancelling = null;
  giveFocusBack();
});

// ---------------------------------------------------------------- move

let moving = null;

/** Free start times a booking could move to, by day: its own slots count as free. */
function choices(doc, booking, minutesNeeded) {
  const now = Date.now();
  const ownOrFree = (slot) => slot.status === 'available' || slot.booking?.id === booking.id;
  return doc.days
    .map((day) => ({
      date: day.date,
      starts: day.slots
        .map((slot, i) => ({ slot, fits: coveringSlots(day, i, minutesNeeded, ownOrFree) }))
        .filter(({ slot, fits }) => fits && Date.parse(slot.startsAt) > now && slot.startsAt !== booking.startsAt)
        .map(({ slot }) => slot),
    }))
    .filter((d) => d.starts.length > 0);
}

function bookingMinutes(doc, booking) {
  const service = doc.services?.find((s) => s.id === booking.serviceId);
  return service?.durationMinutes ?? Math.round((Date.parse(booking.endsAt) - Date.parse(booking.startsAt)) / 60000);
}

export function openMove(booking, node) {
  if (!context) return;
  const doc = context.doc();
  moving = booking;
  rememberOpener(node);
  moveSummary.textContent = bookingLine(booking, context.zone());
  moveError.textContent = '';
  moveConfirm.disabled = true;
  const zone = context.zone();
  const bookingDate = new Intl.DateTimeFormat('en-CA', { timeZone: zone, year: 'numeric', month: '2-digit', day: '2-digit' }).format(new Date(booking.startsAt));
  const byDay = choices(doc, booking, bookingMinutes(doc, booking));
  // The booking's own day first, then the rest of the week in order.
  byDay.sort((a, b) => (a.date === bookingDate ? -1 : b.date === bookingDate ? 1 : a.date.localeCompare(b.date)));
  if (byDay.length === 0) {
    const none = document.createElement('p');
    none.className = 'muted';
    none.textContent = `No free time in these seven days is long enough for ${booking.serviceName}.`;
    moveChoices.replaceChildren(none);
  } else {
    moveChoices.replaceChildren(
      ...byDay.map(({ date, starts }) => {
        const set = document.createElement('fieldset');
        set.className = 'move-day';
        const legend = document.createElement('legend');
        legend.textContent = date === bookingDate ? `Same day, ${longDayLabel(date)}` : longDayLabel(date);
        set.append(legend);
        for (const slot of starts) {
          const label = document.createElement('label');
          label.className = 'move-time';
          const input = document.createElement('input');
          input.type = 'radio';
          input.name = 'move-to';
          input.value = slot.startsAt;
          input.dataset.date = date;
          input.dataset.start = slot.startTime;
          const span = document.createElement('span');
          span.textContent = slot.startTime;
          label.append(input, span);
          set.append(label);
        }
        return set;
      }),
    );
  }
  moveDialog.showModal();
  (moveChoices.querySelector('input') ?? $('move-close')).focus();
}

moveChoices.addEventListener('change', () => {
  moveConfirm.disabled = !moveChoices.querySelector('input:checked');
});
$('move-close').addEventListener('click', () => moveDialog.close());
moveForm.addEventListener('submit', async (event) => {
  event.preventDefault();
  const booking = moving;
  const chosen = moveChoices.querySelector('input:checked');
  if (!booking || !chosen) return;
  moveConfirm.disabled = true;
  moveError.textContent = '';
  try {
    await api.move(booking.id, chosen.value);
    moveDialog.close();
    announce(`Moved ${booking.customer?.name || 'the booking'} to ${dayLabel(chosen.dataset.date)} ${chosen.dataset.start}.`);
    context.afterWrite();
  } catch (error) {
    moveError.textContent = `Could not move it: ${plainError(error)}`;
    moveConfirm.disabled = false;
    context.onWriteError?.(error);
  }
});
moveDialog.addEventListener('close', () => {
  moving = null;
  giveFocusBack();
});

/** Close whichever dialog is open (signed out, or the page is going). */
export function closeDialogs() {
  if (cancelDialog.open) cancelDialog.close();
  if (moveDialog.open) moveDialog.close();
}
