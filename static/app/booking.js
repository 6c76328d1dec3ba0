// The booking form: it holds the chosen time while the customer types
// (DESIGN 4b: taken when the form opens, renewed while it stays open,
// released when it closes, handed to the booking on submit) and shows the
// time left; on success a confirmation with service, date, time and zone,
// price, Add to calendar and the manage link. A server without holds (404)
// or one that refuses a hold for this client (429) books directly. A customer
// who loses the time to someone else is offered the nearest free times
// (app/alternatives.js). On a phone the form is a bottom sheet; its buttons
// say what they do ("Book 14:30", "Keep looking").
// The same form books a time a waitlist offer holds for the customer
// (openOfferForm): that hold is the offer's, so the form neither renews nor
// releases it (declining is the offer banner's "No thanks").

import { api, state, ui, announce } from './state.js';
import { clockIn, dateIn, dayLabel, duration, hhmm, longDayLabel, minutes, mmss, price, zoneInWords } from './format.js';
import { bookingRecord, fillDetails, focusBooking, saveBooking } from './my-bookings.js';
import { drawTimesStep, serviceSlots } from './times.js';
import { calendarChoices } from './calendar.js';
import { copyManageLink } from './manage-link.js';
import { drawAlternatives } from './alternatives.js';

const CUSTOMER_KEY = 'slotstream.customer';
/** Never renew more often than this, nor when less than twice this is left. */
const MIN_RENEW_MS = 5000;
/** Server and page clocks further apart than this are corrected (the Date header has 1 s steps). */
const CLOCK_SKEW_MS = 2000;
/**
 * holdState of a form session: taking (asking for a hold), held (ours,
 * renewed), none (booking without a hold), taken (someone else has the slot),
 * lost (our hold expired or ended; the customer may try again).
 */
const HOLD_STATES = ['taking', 'held', 'none', 'taken', 'lost'];
const BOOKABLE_HOLD_STATES = new Set(['held', 'none']);
const HOLD_GONE = new Set([404, 409, 410]);

/**
 * The form's session: { id, date, slot, service, provider, slotIds, holdState, hold, holdPromise, releasing, offer }.
 * `offer` ({ onBooked, returnTo }) when the hold is a waitlist offer's (openOfferForm).
 */
let open = null;
const timers = { renew: 0, tick: 0 };
/** The time button the form was opened from (by slot id: the list is redrawn meanwhile). */
let returnFocusTo = null;
let confirmed = null;

/** Whether a held slot is held by this page's open form. */
state.heldByMe = (slot) => Boolean(open?.hold?.slotIds.includes(slot.availabilityId));

const slotOf = (id) => {
  for (const day of state.doc?.days ?? []) {
    const slot = day.slots.find((s) => s.availabilityId === id);
    if (slot) return { day, slot };
  }
  return null;
};

/** The local time a server `expiresAt` falls at, corrected by the server's clock if it differs much. */
export function localDeadline(response, expiresAt) {
  const expires = Date.parse(expiresAt);
  const serverNow = Date.parse(response.headers.get('Date') ?? '');
  const offset = Number.isFinite(serverNow) ? Date.now() - serverNow : 0;
  return expires + (Math.abs(offset) > CLOCK_SKEW_MS ? offset : 0);
}

function stopHoldTimers() {
  clearTimeout(timers.renew);
  clearInterval(timers.tick);
  timers.renew = 0;
  timers.tick = 0;
}

function setHoldState(session, holdState) {
  if (!HOLD_STATES.includes(holdState)) throw new Error(`unknown hold state ${holdState}`);
  session.holdState = holdState;
  ui.dialog.dataset.hold = holdState;
  ui.holdStatus.hidden = holdState !== 'held';
  // An offer that ended cannot be taken again: it went to the next in line.
  ui.retry.hidden = holdState !== 'lost' || Boolean(session.offer);
  if (holdState === 'taken' || holdState === 'lost') ui.submit.disabled = true;
  if (holdState === 'held') {
    clearInterval(timers.tick);
    tickHold();
    timers.tick = setInterval(tickHold, 250);
    scheduleRenew(session);
  }
}

function withoutHold(session, message = '') {
  setHoldState(session, 'none');
  ui.error.textContent = message;
  syncForm();
}

function showTaken(session) {
  setHoldState(session, 'taken');
  ui.error.textContent = 'Someone else just took this time or is booking it. Please pick another time.';
  offerAlternatives(session);
  state.watch?.nudge();
}

/** The time went to someone else: the nearest free times, one tap each (kept current while shown). */
function offerAlternatives(session) {
  if (session.offer) return; // an offer's time is the only one held for the customer
  drawAlternatives(ui.alternatives, session, switchTime);
}

/** Book another time in the same form: the lost one is let go, the chosen day shown behind. */
function switchTime(slotId, date) {
  const previous = open;
  open = null;
  dropHold(previous);
  state.day = date;
  drawTimesStep();
  openForm(slotId, ui.times.querySelector(`[data-slot-id="${CSS.escape(slotId)}"]`));
}

async function takeHold(session) {
  setHoldState(session, 'taking');
  let answer;
  try {
    answer = await api.hold({ providerId: session.provider.id, serviceId: session.service.id, startTime: session.slot.startsAt });
  } catch (error) {
    if (open !== session) return;
    if (error.status === 409) showTaken(session);
    else if (error.status === 404) withoutHold(session); // a server without holds: book directly
    else withoutHold(session, `This time is not reserved while you fill in the form (${error.message}); you can still book it.`);
    return;
  }
  const held = { id: answer.body.id, token: answer.body.token, deadline: localDeadline(answer.response, answer.body.expiresAt), slotIds: session.slotIds };
  if (open !== session) {
    releaseHold(held); // the form was closed while we asked
    return;
  }
  session.hold = held;
  setHoldState(session, 'held');
  drawTimesStep();
}

function scheduleRenew(session) {
  clearTimeout(timers.renew);
  timers.renew = 0;
  const remaining = (session.hold?.deadline ?? 0) - Date.now();
  if (remaining < 2 * MIN_RENEW_MS || session.hold?.atMaximum) return;
  timers.renew = setTimeout(() => renewHold(session), Math.max(remaining / 2, MIN_RENEW_MS));
}

async function renewHold(session) {
  const held = session.hold;
  if (!held || session.holdState !== 'held') return;
  clearTimeout(timers.renew);
  timers.renew = 0;
  let status = 0;
  let answer = null;
  try {
    answer = await api.renewHold(held);
    status = 200;
  } catch (error) {
    status = error.status ?? 0; // 0: offline for now; the hold we have still counts
  }
  if (session.hold !== held || session.holdState !== 'held') return;
  // 409 with our slot still held and time left: at its maximum lifetime; it still counts until the countdown ends.
  const stillOurs = slotOf(session.id)?.slot.status === 'held' && held.deadline > Date.now();
  if (status === 409 && stillOurs) {
    held.atMaximum = true;
    tickHold();
    return;
  }
  if (HOLD_GONE.has(status)) {
    holdLost(session, 'ended');
    return;
  }
  if (answer?.body?.expiresAt) held.deadline = localDeadline(answer.response, answer.body.expiresAt);
  tickHold();
  if (session.holdState === 'held') scheduleRenew(session);
}

function tickHold() {
  const session = open;
  if (!session?.hold || session.holdState !== 'held') return;
  const remaining = session.hold.deadline - Date.now();
  ui.countdown.textContent = mmss(remaining);
  if (remaining <= 0) holdLost(session, 'expired');
}

function releaseHold(held, options) {
  return api.releaseHold(held, options).then(
    () => undefined,
    () => undefined, // the server lets it expire
  );
}

function dropHold(session, options) {
  stopHoldTimers();
  const held = session?.hold;
  if (!held) return;
  session.hold = null;
  // An offer's hold stays the customer's until it is booked, declined or runs out.
  if (session.offer) return;
  // Also after expiry: the server may not have swept it yet, and a retry needs the slot back.
  session.releasing = releaseHold(held, options);
  drawTimesStep();
}

function holdLost(session, reason) {
  dropHold(session, { keepalive: reason === 'hidden' });
  setHoldState(session, 'lost');
  if (session.offer) {
    ui.error.textContent = 'The time held for you has ended, so it is no longer reserved for you.';
    return;
  }
  const why = { expired: 'Your hold on this time has expired', hidden: 'Your hold on this time was released when you left the page' }[reason] ?? 'Your hold on this time has ended';
  ui.error.textContent = `${why}, so it is no longer reserved for you. Try again to hold it if it is still free.`;
}

async function retryHold() {
  const session = open;
  if (!session || session.holdState !== 'lost') return;
  ui.retry.disabled = true;
  await session.releasing;
  ui.retry.disabled = false;
  if (open !== session || session.holdState !== 'lost') return;
  const status = slotOf(session.id)?.slot.status;
  if (status === 'booked' || status === 'blocked') {
    showTaken(session);
    return;
  }
  ui.error.textContent = '';
  ui.alternatives.hidden = true;
  ui.submit.disabled = false;
  session.holdPromise = takeHold(session);
  await session.holdPromise;
  if (session.holdState === 'held') ui.submit.focus();
}

/** Open the form for a free time. */
export function openForm(slotId, button) {
  const found = slotOf(slotId);
  const service = state.service;
  if (!found || !service) return;
  const { day, slot } = found;
  const covered = serviceSlots(day, day.slots.indexOf(slot), service);
  if (!covered || Date.parse(slot.startsAt) <= Date.now()) return;
  const session = {
    id: slotId,
    date: day.date,
    slot: { ...slot },
    service,
    provider: state.provider,
    slotIds: covered.map((s) => s.availabilityId),
    holdState: 'taking',
    hold: null,
    holdPromise: null,
    releasing: null,
  };
  open = session;
  const end = hhmm(minutes(slot.startTime) + service.durationMinutes);
  resetForm(`${serviceWords(service)} at ${state.provider.name}, ${longDayLabel(day.date)}, ${slot.startTime}–${end} ${zoneInWords(state.doc.timezone)}.`);
  returnFocusTo = button?.dataset.slotId ?? null;
  session.holdPromise = takeHold(session);
  // Already open when the customer picked one of the nearest free times.
  if (!ui.dialog.open) ui.dialog.showModal();
  focusFirstEmpty();
}

/**
 * Open the form for a time a waitlist offer holds for the customer (DESIGN 4c):
 * `holdId` and `token` (the entry's, or the claim link's) book it, until
 * `deadline` (local milliseconds). `onBooked(record)` after the booking;
 * focus goes back to `returnTo` when the form closes unbooked.
 */
export function openOfferForm({ provider, service, startsAt, endsAt, holdId, token, deadline, onBooked, returnTo }) {
  if (ui.dialog.open) return;
  const zone = provider.timezone;
  const date = dateIn(startsAt, zone);
  const session = {
    id: null,
    date,
    slot: { startsAt, startTime: clockIn(startsAt, zone) },
    service,
    provider,
    slotIds: [],
    holdState: 'taking',
    hold: { id: holdId, token, deadline, slotIds: [], atMaximum: true }, // an offer is never renewed
    holdPromise: Promise.resolve(),
    releasing: null,
    offer: { onBooked, returnTo },
  };
  open = session;
  resetForm(`${serviceWords(service)} at ${provider.name}, ${longDayLabel(date)}, ${session.slot.startTime}–${clockIn(endsAt, zone)} ${zoneInWords(zone)}.`);
  returnFocusTo = null;
  ui.dialog.showModal();
  setHoldState(session, 'held');
  focusFirstEmpty();
}

/** "Haircut (45 min, 70,00 zł)" */
function serviceWords(service) {
  const parts = [service.durationMinutes ? duration(service.durationMinutes) : '', service.priceCents != null ? price(service.priceCents, service.currency) : ''];
  const meta = parts.filter(Boolean).join(', ');
  return meta ? `${service.name} (${meta})` : service.name;
}

/** "Book 14:30": the submit button of the open form. */
const bookLabel = () => (open ? `Book ${open.slot.startTime}` : 'Book');

function resetForm(summary) {
  ui.summary.textContent = summary;
  ui.error.textContent = '';
  ui.alternatives.hidden = true;
  ui.submit.disabled = false;
  ui.submit.textContent = bookLabel();
  ui.countdown.textContent = '--:--';
  const saved = savedCustomer();
  if (saved && !ui.name.value) ui.name.value = saved.name ?? '';
  if (saved && !ui.email.value) ui.email.value = saved.email ?? '';
}

const focusFirstEmpty = () => (ui.name.value ? (ui.email.value ? ui.submit : ui.email) : ui.name).focus();

/** The name and email this browser last booked (or joined a waitlist) with, or null. */
export function savedCustomer() {
  try {
    const saved = JSON.parse(localStorage.getItem(CUSTOMER_KEY) ?? 'null');
    return saved && typeof saved === 'object' ? saved : null;
  } catch {
    return null;
  }
}

/**
 * The name and email typed into a form (`nameInput`, `emailInput`), trimmed;
 * or null, once `error` says which one to correct and it has the focus.
 */
export function enteredCustomer(nameInput, emailInput, error) {
  const name = nameInput.value.trim();
  const email = emailInput.value.trim();
  if (!name) {
    error.textContent = 'Please enter your name.';
    nameInput.focus();
    return null;
  }
  if (!email || !emailInput.checkValidity()) {
    error.textContent = 'Please enter a valid email address.';
    emailInput.focus();
    return null;
  }
  return { name, email };
}

/** Remember the customer's name and email for the next form. */
export function rememberCustomer(name, email) {
  try {
    localStorage.setItem(CUSTOMER_KEY, JSON.stringify({ name, email }));
  } catch {
    // not remembered
  }
}

/** While the form is open, tell the customer at once if the time was taken (called on every change). */
export function syncForm() {
  const session = open;
  if (!session || !ui.dialog.open) return;
  const status = slotOf(session.id)?.slot.status;
  if (!status) return;
  if (session.holdState === 'held') {
    // Back to available means the server let our hold go (or a stale read): the renewal answers which.
    if (status === 'available') renewHold(session);
    return;
  }
  if (session.holdState === 'none' && status !== 'available' && ui.submit.textContent !== 'Booking…') {
    ui.error.textContent = 'Someone else just took this time. Please pick another time.';
    ui.submit.disabled = true;
    offerAlternatives(session);
  } else if (!ui.alternatives.hidden) {
    offerAlternatives(session); // the nearest free times change too
  }
}

async function submit(event) {
  event.preventDefault();
  const session = open;
  if (!session) return;
  const customer = enteredCustomer(ui.name, ui.email, ui.error);
  if (!customer) return;
  const { name, email } = customer;
  ui.submit.disabled = true;
  ui.submit.textContent = 'Booking…';
  await session.holdPromise; // a quick submit waits for the hold
  if (open !== session) return;
  if (!BOOKABLE_HOLD_STATES.has(session.holdState)) {
    ui.submit.textContent = bookLabel();
    return; // the message about the hold stays
  }
  ui.error.textContent = '';
  const held = session.holdState === 'held' ? session.hold : null;
  try {
    const booking = await api.book(
      {
        providerId: session.provider.id,
        serviceId: session.service.id,
        startTime: session.slot.startsAt,
        customer: { name, email },
        ...(held ? { holdId: held.id } : {}),
      },
      held?.token,
    );
    stopHoldTimers();
    session.hold = null; // the hold became this booking: nothing to release
    rememberCustomer(name, email);
    const record = bookingRecord(booking, session.provider, session.service, booking.token);
    saveBooking(record);
    open = null;
    ui.dialog.close();
    showConfirmation(record);
    session.offer?.onBooked?.(record);
    state.watch?.nudge();
  } catch (error) {
    ui.submit.textContent = bookLabel();
    if (error.status === undefined) {
      ui.error.textContent = `Booking failed: ${error.message}. Please try again.`;
      ui.submit.disabled = false;
    } else if (held && session.hold === held && (error.status === 409 || error.status === 410)) {
      holdLost(session, 'ended');
      offerAlternatives(session);
      state.watch?.nudge();
    } else if (error.status === 409) {
      ui.error.textContent = 'Someone else just took this time. Please pick another time.';
      announce('Someone else just took this time.');
      offerAlternatives(session);
      state.watch?.nudge(); // the button stays disabled: this time cannot be booked
    } else {
      ui.error.textContent = error.status === 422 ? `Please check your details: ${error.message}` : `Booking failed: ${error.message}`;
      ui.submit.disabled = false;
    }
  }
}

/** The "You're booked" dialog for a booking just made. */
export function showConfirmation(record) {
  confirmed = record;
  fillDetails(ui.doneDetails, record);
  const choices = calendarChoices(record);
  choices[0].id = 'done-ics';
  ui.doneCalendar.replaceChildren(...choices);
  ui.done.showModal();
  ui.doneClose.focus();
  announce(`Booked ${record.serviceName} on ${dayLabel(record.date)} at ${record.startTime} ${zoneInWords(record.timezone)}.`);
}

ui.form.addEventListener('submit', submit);
ui.close.addEventListener('click', () => ui.dialog.close());
ui.retry.addEventListener('click', retryHold);
ui.dialog.addEventListener('close', () => {
  // Back, Escape or a booking: a hold still held is let go (a booked one is already cleared).
  const session = open;
  open = null;
  dropHold(session);
  if (returnFocusTo) ui.times.querySelector(`[data-slot-id="${CSS.escape(returnFocusTo)}"]`)?.focus();
  else if (session?.offer?.returnTo?.isConnected) session.offer.returnTo.focus();
  returnFocusTo = null;
});
ui.doneCopy.addEventListener('click', () => confirmed && copyManageLink(confirmed, ui.doneCopy));
ui.doneClose.addEventListener('click', () => ui.done.close());
ui.done.addEventListener('close', () => {
  // The focus goes to the booking just made (Your bookings), else back to the times.
  if (!confirmed || !focusBooking(confirmed.id)) ui.times.focus();
});
window.addEventListener('pagehide', () => {
  // Leaving with the form open: release now (keepalive outlives the page) rather than leave it to expiry.
  if (open?.holdState === 'held') holdLost(open, 'hidden');
});
