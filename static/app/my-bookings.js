// The customer's bookings: kept in this browser (localStorage), listed with
// date, time and zone, price, Add to calendar (app/calendar.js), the manage
// link (app/manage-link.js) and a cancel that asks first; each checked with
// the server on load, when its time changes on the stream and when the tab
// is shown again, so one cancelled or moved elsewhere says so. A manage link opened in another
// browser adds the booking to that browser's list.

import { api, state, ui, announce } from './state.js';
import { clockIn, differentClock, longDayLabel, price, visitorZone, visitorZoneName, zoneInWords } from './format.js';
import { calendarChoices } from './calendar.js';
import { COPY_LABEL, copyManageLink } from './manage-link.js';
import { storedList } from './stored-list.js';
import { checkQueue } from './check-queue.js';

/** The customer's bookings, as bookingRecord makes them (and checkBooking updates them). */
const storedBookings = storedList('slotstream.bookings');
let changed = () => {};

/** Called after the list changes (the times redraw "your booking"). */
export function onBookingsChanged(callback) {
  changed = callback;
}

export function readBookings() {
  return storedBookings.read();
}

function writeBookings(list) {
  storedBookings.write(list);
  renderBookings();
  changed();
}

export function saveBooking(record) {
  writeBookings([...readBookings().filter((b) => b.id !== record.id), record]);
}

function removeBooking(id) {
  writeBookings(readBookings().filter((b) => b.id !== id));
}

/** The slots among `slots` that the customer's confirmed bookings with `providerId` cover. */
export function myBookingsAt(providerId, slots) {
  const mine = readBookings().filter((b) => b.providerId === providerId && b.status !== 'cancelled');
  return slots.filter((slot) => {
    const at = Date.parse(slot.startsAt);
    return mine.some((b) => at >= Date.parse(b.startsAt) && at < Date.parse(b.endsAt));
  });
}

/** A booking's date and wall-clock times in its provider's zone, from its instants. */
function localTimes(startsAt, endsAt, zone) {
  const local = (instant) =>
    new Intl.DateTimeFormat('en-GB', { timeZone: zone, hour: '2-digit', minute: '2-digit', hourCycle: 'h23' }).format(new Date(instant));
  const date = new Intl.DateTimeFormat('en-CA', { timeZone: zone, year: 'numeric', month: '2-digit', day: '2-digit' }).format(
    new Date(startsAt),
  );
  return { date, startTime: local(startsAt), endTime: local(endsAt), startsAt, endsAt };
}

/** A booking record from the API's answer and what the page knows of provider and service. */
export function bookingRecord(booking, provider, service, token) {
  const zone = provider.timezone;
  return {
    id: booking.id,
    token,
    status: booking.status,
    providerId: provider.id,
    providerName: provider.name,
    address: provider.address ?? '',
    timezone: zone,
    serviceName: service?.name ?? 'Appointment',
    priceCents: service?.priceCents ?? null,
    currency: service?.currency ?? provider.currency,
    ...localTimes(booking.startTime, booking.endTime, zone),
  };
}

/** "Tuesday 2 Dec 2026, 10:30–11:00 London time" */
export const whenText = (b) => `${longDayLabel(b.date)}, ${b.startTime}–${b.endTime} ${zoneInWords(b.timezone)}`;

/** Label/value pairs describing a booking (confirmation and list). */
export function details(b) {
  const rows = [
    ['Service', b.serviceName],
    ['When', whenText(b)],
    ['Where', [b.providerName, b.address].filter(Boolean).join(', ')],
  ];
  const visitor = visitorZone();
  if (differentClock(b.startsAt, b.timezone, visitor)) {
    const day = new Intl.DateTimeFormat('en-GB', { timeZone: visitor, weekday: 'short', day: 'numeric', month: 'short' }).format(new Date(b.startsAt));
    rows.splice(2, 0, ['Your time', `${day}, ${clockIn(b.startsAt, visitor)} ${visitorZoneName(b.startsAt)}`]);
  }
  if (b.priceCents !== null && b.priceCents !== undefined) rows.push(['Price', price(b.priceCents, b.currency)]);
  return rows;
}

export function fillDetails(dl, b) {
  dl.replaceChildren(
    ...details(b).flatMap(([label, value]) => {
      const dt = document.createElement('dt');
      dt.textContent = label;
      const dd = document.createElement('dd');
      dd.textContent = value;
      dd.dataset.field = label.toLowerCase();
      return [dt, dd];
    }),
  );
}

// ---------------------------------------------------------------- cancel, asked first

let cancelling = null;

function askCancel(b) {
  cancelling = b;
  ui.cancelSummary.textContent = `${b.serviceName}, ${whenText(b)}, at ${b.providerName}.`;
  ui.cancelError.textContent = '';
  ui.cancelConfirm.disabled = false;
  ui.cancel.showModal();
}

async function confirmCancel() {
  const b = cancelling;
  if (!b) return;
  ui.cancelConfirm.disabled = true;
  try {
    await api.cancel(b.id, b.token);
    removeBooking(b.id);
    ui.cancel.close();
    announce(`Cancelled ${b.serviceName} on ${longDayLabel(b.date)} ${b.startTime}.`);
  } catch (error) {
    if (error.status === 404) {
      removeBooking(b.id);
      ui.cancel.close();
      announce('That booking no longer exists; removed it from your list.');
      return;
    }
    ui.cancelError.textContent = `Could not cancel: ${error.message}`;
    ui.cancelConfirm.disabled = false;
  }
}

ui.cancelConfirm.addEventListener('click', confirmCancel);
ui.cancel.addEventListener('close', () => {
  cancelling = null;
});

// ---------------------------------------------------------------- the list

/** A list item's button. */
export function action(label, className, onClick, ariaLabel) {
  const button = document.createElement('button');
  button.type = 'button';
  button.className = className;
  button.textContent = label;
  if (ariaLabel) button.setAttribute('aria-label', ariaLabel);
  button.addEventListener('click', () => onClick(button));
  return button;
}

/** "Cancelled by the provider: <reason>", "Cancelled by the provider", "Cancelled". */
export function cancelledText(b) {
  const reason = b.cancellationReason?.trim();
  if (b.cancelledBy === 'provider') return reason ? `Cancelled by the provider: ${reason}` : 'Cancelled by the provider';
  return reason ? `Cancelled: ${reason}` : 'Cancelled';
}

export function renderBookings() {
  const now = Date.now();
  const list = readBookings()
    .filter((b) => Date.parse(b.endsAt) > now)
    .sort((a, b) => a.startsAt.localeCompare(b.startsAt));
  ui.bookings.replaceChildren(
    ...list.map((b) => {
      const cancelled = b.status === 'cancelled';
      const li = document.createElement('li');
      li.dataset.bookingId = b.id;
      li.tabIndex = -1; // the focus lands here after its confirmation closes
      li.dataset.status = b.status;
      li.classList.toggle('cancelled', cancelled);
      li.classList.toggle('moved', Boolean(b.movedFrom) && !cancelled);
      const title = document.createElement('strong');
      title.textContent = `${b.serviceName} · ${b.providerName}`;
      const when = document.createElement('span');
      when.className = 'when';
      when.textContent = whenText(b);
      const text = document.createElement('div');
      text.className = 'booking-text';
      text.append(title, when);
      if (cancelled || b.movedFrom) {
        const note = document.createElement('span');
        note.className = 'booking-note';
        note.textContent = cancelled ? cancelledText(b) : `Moved to this time (it was ${b.movedFrom}).`;
        text.append(note);
      }
      const actions = document.createElement('div');
      actions.className = 'actions wrap';
      if (cancelled) {
        actions.append(action('Remove from list', 'secondary remove-booking', () => removeBooking(b.id), `Remove the cancelled ${b.serviceName} on ${longDayLabel(b.date)} ${b.startTime} from this list`));
      } else {
        actions.append(
          ...calendarChoices(b),
          action(COPY_LABEL, 'secondary copy-link', (button) => copyManageLink(b, button)),
          action('Cancel', 'danger-outline cancel-booking', () => askCancel(b), `Cancel ${b.serviceName} on ${longDayLabel(b.date)} ${b.startTime}`),
        );
      }
      li.append(text, actions);
      return li;
    }),
  );
  showNoBookings();
}

/** Move the focus to a booking's entry in the list (after its confirmation closes); false when it is not listed. */
export function focusBooking(id) {
  const entry = ui.bookings.querySelector(`li[data-booking-id="${CSS.escape(id)}"]`);
  if (!entry) return false;
  entry.focus({ preventScroll: true });
  entry.scrollIntoView({ block: 'nearest' });
  return true;
}

/** "No bookings yet" while neither list (bookings, waitlists) has anything. */
export function showNoBookings() {
  ui.noBookings.hidden = ui.bookings.children.length > 0 || ui.waitlist.children.length > 0;
}

// ---------------------------------------------------------------- what the provider changed

/** Changes that arrive this close together are answered with one check per booking. */
const CHECK_COALESCE_MS = 100;

/**
 * Ask the server how a stored booking is now (its token as the bearer): the
 * provider may have cancelled it (with a reason) or moved it. Saved, and the
 * change said once. A booking the server no longer knows (404) leaves the list.
 */
async function checkBooking(id) {
  const stored = readBookings().find((b) => b.id === id);
  if (!stored || !stored.token) return;
  let fresh;
  try {
    fresh = await api.booking(stored.id, stored.token);
  } catch (error) {
    if (error.status === 404) removeBooking(stored.id);
    else console.debug(`slotstream: could not check booking ${id}`, error);
    return;
  }
  const b = readBookings().find((x) => x.id === id);
  if (!b) return;
  const next = { ...b, status: fresh.status };
  if (fresh.status === 'cancelled') {
    next.cancelledBy = fresh.cancelledBy ?? null;
    next.cancellationReason = fresh.cancellationReason ?? null;
  }
  const moved = fresh.startTime && Date.parse(fresh.startTime) !== Date.parse(b.startsAt);
  if (moved) {
    Object.assign(next, localTimes(fresh.startTime, fresh.endTime ?? b.endsAt, b.timezone));
    next.movedFrom = `${longDayLabel(b.date)} ${b.startTime}`;
  }
  const same = ['status', 'cancelledBy', 'cancellationReason', 'startsAt', 'endsAt'].every((k) => (next[k] ?? null) === (b[k] ?? null));
  if (same) return;
  saveBooking(next);
  if (next.status === 'cancelled' && b.status !== 'cancelled') {
    const words = cancelledText(next);
    announce(`Your ${next.serviceName} on ${longDayLabel(b.date)} ${b.startTime} was ${words[0].toLowerCase()}${words.slice(1)}`.replace(/([^.!?])$/, '$1.'));
  }
  else if (moved) announce(`Your ${next.serviceName} was moved to ${whenText(next)}.`);
}

/** Check these bookings soon, once each, however many changes touched them. */
const queueChecks = checkQueue(checkBooking, CHECK_COALESCE_MS);

/** Every stored booking still to come, checked against the server (page load). */
export function checkAllBookings() {
  const now = Date.now();
  queueChecks(readBookings().filter((b) => Date.parse(b.endsAt) > now && b.status !== 'cancelled').map((b) => b.id));
}

const overlaps = (aStart, aEnd, bStart, bEnd) => Date.parse(aStart) < Date.parse(bEnd) && Date.parse(bStart) < Date.parse(aEnd);

/**
 * The provider's availability changed. An event that touches one of the
 * customer's bookings with `providerId` (its time, or the time it was moved
 * from) gets that booking checked; a whole new document (a fetch after a
 * reset, or a poll) gets checked every booking whose slots no longer read
 * booked.
 */
export function availabilityChanged(providerId, doc, event) {
  const mine = readBookings().filter((b) => b.providerId === providerId && b.status !== 'cancelled' && Date.parse(b.endsAt) > Date.now());
  if (mine.length === 0) return;
  if (event) {
    const starts = event.startsAt;
    const ends = event.endsAt;
    queueChecks(
      mine
        .filter((b) => (starts && ends
          ? overlaps(starts, ends, b.startsAt, b.endsAt)
          : event.date === b.date && event.startTime >= b.startTime && event.startTime < b.endTime))
        .map((b) => b.id),
    );
    return;
  }
  const slots = doc.days.flatMap((d) => d.slots);
  queueChecks(
    mine
      .filter((b) => slots.some((s) => overlaps(s.startsAt, s.endsAt, b.startsAt, b.endsAt) && s.status !== 'booked'))
      .map((b) => b.id),
  );
}

/**
 * A manage link (`#booking=…&token=…`): read the booking with its token, add
 * it to this browser's list and take the fragment out of the address bar.
 * Returns the booking's provider id, or null.
 */
export async function openManageLink(providers) {
  const fragment = new URLSearchParams(location.hash.slice(1));
  const id = fragment.get('booking');
  const token = fragment.get('token');
  if (!id || !token) return null;
  history.replaceState(null, '', location.pathname + location.search);
  try {
    const booking = await api.booking(id, token);
    const provider = providers.find((p) => p.id === booking.providerId);
    if (!provider) throw new Error('unknown provider');
    const service = provider.services.find((s) => s.id === booking.serviceId);
    const record = bookingRecord(booking, provider, service, token);
    if (record.status === 'cancelled') {
      announce(`This booking (${record.serviceName}, ${whenText(record)}) was cancelled.`);
      return provider.id;
    }
    saveBooking(record);
    announce(`Your booking: ${record.serviceName}, ${whenText(record)}.`);
    requestAnimationFrame(() => ui.bookings.querySelector(`[data-booking-id="${CSS.escape(id)}"]`)?.scrollIntoView({ block: 'center' }));
    return provider.id;
  } catch (error) {
    announce(`Could not open that manage link (${error.message}).`);
    return null;
  }
}

// Changes the stream cannot tell this page (a booking outside the days on screen, or with
// another provider, cancelled or moved meanwhile): checked whenever the customer comes back.
document.addEventListener('visibilitychange', () => {
  if (document.visibilityState === 'visible') checkAllBookings();
});

storedBookings.onWrittenElsewhere(() => {
  renderBookings();
  changed();
});
