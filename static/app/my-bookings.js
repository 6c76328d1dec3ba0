// The customer's bookings: kept in this browser (localStorage), listed with
// date, time and zone, price, an .ics download, a manage link (booking id and
// token in the URL fragment, which browsers never send to a server) and a
// cancel that asks first. A manage link opened in another browser adds the
// booking to that browser's list.

import { api, state, ui, announce } from './state.js';
import { clockIn, differentClock, longDayLabel, price, visitorZone, zoneInWords } from './format.js';

const STORAGE_KEY = 'slotstream.bookings';
let memory = null; // when storage is disabled
let changed = () => {};

/** Called after the list changes (the times redraw "your booking"). */
export function onBookingsChanged(callback) {
  changed = callback;
}

export function readBookings() {
  if (memory) return memory;
  try {
    const list = JSON.parse(localStorage.getItem(STORAGE_KEY) ?? '[]');
    return Array.isArray(list) ? list : [];
  } catch {
    return [];
  }
}

function writeBookings(list) {
  try {
    localStorage.setItem(STORAGE_KEY, JSON.stringify(list));
    memory = null;
  } catch {
    memory = list; // storage full or disabled: kept for this page only
  }
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

/** A booking record from the API's answer and what the page knows of provider and service. */
export function bookingRecord(booking, provider, service, token) {
  const zone = provider.timezone;
  const local = (instant) =>
    new Intl.DateTimeFormat('en-GB', { timeZone: zone, hour: '2-digit', minute: '2-digit', hourCycle: 'h23' }).format(new Date(instant));
  const date = new Intl.DateTimeFormat('en-CA', { timeZone: zone, year: 'numeric', month: '2-digit', day: '2-digit' }).format(
    new Date(booking.startTime),
  );
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
    date,
    startTime: local(booking.startTime),
    endTime: local(booking.endTime),
    startsAt: booking.startTime,
    endsAt: booking.endTime,
  };
}

/** "Tuesday 2 Dec 2026, 10:30–11:00 London time" */
export const whenText = (b) => `${longDayLabel(b.date)}, ${b.startTime}–${b.endTime} ${zoneInWords(b.timezone)}`;

export const manageLink = (b) => `${location.origin}${location.pathname}#booking=${encodeURIComponent(b.id)}&token=${encodeURIComponent(b.token)}`;

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
    rows.splice(2, 0, ['Your time', `${day}, ${clockIn(b.startsAt, visitor)} ${zoneInWords(visitor)}`]);
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

/** Download the booking's .ics: fetched with the token in a header, saved from a Blob. */
export async function downloadCalendar(b) {
  try {
    const blob = await api.calendar(b.id, b.token);
    const url = URL.createObjectURL(blob);
    const link = document.createElement('a');
    link.href = url;
    link.download = `booking-${b.date}-${b.startTime.replace(':', '')}.ics`;
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
  } catch (error) {
    announce(`Could not get the calendar file: ${error.message}`);
  }
}

export async function copyManageLink(b, button) {
  const link = manageLink(b);
  try {
    await navigator.clipboard.writeText(link);
    announce('Manage link copied.');
  } catch {
    // No clipboard (insecure origin, or refused): show it to copy by hand.
    window.prompt('Your manage link (keep it private):', link);
  }
  if (button) {
    const text = button.textContent;
    button.textContent = 'Copied';
    setTimeout(() => { button.textContent = text; }, 1500);
  }
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

function action(label, className, onClick, ariaLabel) {
  const button = document.createElement('button');
  button.type = 'button';
  button.className = className;
  button.textContent = label;
  if (ariaLabel) button.setAttribute('aria-label', ariaLabel);
  button.addEventListener('click', () => onClick(button));
  return button;
}

export function renderBookings() {
  const now = Date.now();
  const list = readBookings()
    .filter((b) => Date.parse(b.endsAt) > now)
    .sort((a, b) => a.startsAt.localeCompare(b.startsAt));
  ui.bookings.replaceChildren(
    ...list.map((b) => {
      const li = document.createElement('li');
      li.dataset.bookingId = b.id;
      li.dataset.status = b.status;
      const title = document.createElement('strong');
      title.textContent = `${b.serviceName} · ${b.providerName}`;
      const when = document.createElement('span');
      when.className = 'when';
      when.textContent = whenText(b);
      const text = document.createElement('div');
      text.className = 'booking-text';
      text.append(title, when);
      const actions = document.createElement('div');
      actions.className = 'actions wrap';
      actions.append(
        action('Add to calendar', 'secondary ics', () => downloadCalendar(b)),
        action('Copy link', 'secondary copy-link', (button) => copyManageLink(b, button), 'Copy manage link'),
        action('Cancel', 'danger-outline cancel-booking', () => askCancel(b), `Cancel ${b.serviceName} on ${longDayLabel(b.date)} ${b.startTime}`),
      );
      li.append(text, actions);
      return li;
    }),
  );
  ui.noBookings.hidden = list.length > 0;
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
    announce(`Could not open that booking link (${error.message}).`);
    return null;
  }
}

window.addEventListener('storage', (event) => {
  if (event.key === STORAGE_KEY) {
    renderBookings();
    changed();
  }
});
