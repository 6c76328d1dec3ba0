// The provider's front desk (/provider.html): today's agenda as a timeline
// with a "now" line, or the week; kept live over the agenda stream; block
// and free times, cancel a booking with a reason, move a booking; print the
// day. Signed in by a one-use link from the marketplace
// (/provider.html#code=…), which becomes an HttpOnly session cookie.
//
// Modules: provider/api.js (the calls), provider/feed.js (document + stream),
// provider/timeline.js (drawing), provider/dialogs.js (cancel, move),
// provider/alerts.js (announcements, tab title count, sound). Words and
// dates come from app/format.js, shared with the booking page.
//
// URL query (optional): ?date=YYYY-MM-DD&view=day|week, kept current so a
// reload shows the same place.

import { api, ApiError, plainError } from './provider/api.js';
import { watchAgenda } from './provider/feed.js';
import { ARRIVAL_MS, countsText, dayCounts, drawDay, drawWeek, segments } from './provider/timeline.js';
import { closeDialogs, openCancel, openMove, setDialogContext } from './provider/dialogs.js';
import { announce, beep, clearCount, clearMessages, countArrival, setSound, setTitle, showError, soundOn } from './provider/alerts.js';
import { addDays, clockIn, dayLabel, instantAt, longDayLabel, minutes, todayIn, zoneInWords } from './app/format.js';

/** Days fetched at once: the week view, and the move dialog's choices. */
const RANGE_DAYS = 7;
/** How often the "now" line and the past/future of times are looked at. */
const TICK_MS = 15000;
const STATUS_WORDS = { connecting: 'Connecting…', live: 'Live', reconnecting: 'Reconnecting…' };

const $ = (id) => document.getElementById(id);
const ui = {
  providerName: $('provider-name'),
  connection: $('connection'),
  connectionState: $('connection-state'),
  sessionActions: $('session-actions'),
  sound: $('sound-toggle'),
  print: $('print'),
  signOut: $('sign-out'),
  loading: $('loading'),
  signedOut: $('signed-out'),
  signedOutReason: $('signed-out-reason'),
  view: $('agenda-view'),
  prev: $('prev'),
  next: $('next'),
  today: $('today'),
  dateInput: $('date-input'),
  viewDay: $('view-day'),
  viewWeek: $('view-week'),
  heading: $('agenda-heading'),
  zoneNote: $('zone-note'),
  summary: $('day-summary'),
  rangeForm: $('range-form'),
  rangeDay: $('range-day'),
  rangeFrom: $('range-from'),
  rangeTo: $('range-to'),
  rangeResult: $('range-result'),
  agenda: $('agenda'),
};

const state = {
  /** { providerId, name, timezone, expiresAt } */
  session: null,
  feed: null,
  view: 'day',
  /** The day shown (the week view starts on it). */
  date: null,
  /** The shown day follows the calendar past midnight while it is today. */
  followToday: true,
  /** The first day of the last document drawn: where a refused date goes back to. */
  shown: null,
  /** Booking id → when it arrived, for the highlight. */
  arrivals: new Map(),
  tick: 0,
  lastMinute: '',
};

const zone = () => state.session?.timezone ?? 'UTC';
const today = () => todayIn(zone());

// ---------------------------------------------------------------- signing in and out

function show(which) {
  document.body.dataset.session = which;
  ui.loading.hidden = which !== 'loading';
  ui.signedOut.hidden = which !== 'signed-out';
  ui.view.hidden = which !== 'signed-in';
  ui.sessionActions.hidden = which !== 'signed-in';
  ui.connection.hidden = which !== 'signed-in';
}

function signedOut(reason = '') {
  stop();
  state.session = null;
  state.shown = null;
  ui.providerName.textContent = '';
  ui.signedOutReason.textContent = reason;
  ui.signedOutReason.hidden = !reason;
  setTitle('Agenda — signed out');
  show('signed-out');
}

function stop() {
  state.feed?.close();
  state.feed = null;
  clearInterval(state.tick);
  state.tick = 0;
  state.arrivals.clear();
  closeDialogs();
  clearMessages();
  clearCount();
}

/** The code of a sign-in link (#code=…), taken out of the address bar at once. */
function takeCode() {
  const fragment = new URLSearchParams(location.hash.slice(1));
  const code = fragment.get('code');
  if (code === null) return null;
  history.replaceState(history.state, '', location.pathname + location.search);
  return code;
}

async function start() {
  const code = takeCode();
  let note = '';
  if (code !== null) {
    try {
      return signedIn(await api.signIn(code));
    } catch (error) {
      if (!(error instanceof ApiError) || error.status !== 401) {
        show('signed-out');
        ui.signedOutReason.textContent = `Could not sign in: ${plainError(error)}`;
        ui.signedOutReason.hidden = false;
        return;
      }
      note = 'That sign-in link has already been used or has expired.';
    }
  }
  try {
    const session = await api.session();
    signedIn(session);
    if (note) announce(`${note} You are still signed in on this browser.`);
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) return signedOut(note);
    signedOut(`Could not reach the server (${plainError(error)}). Reload the page to try again.`);
  }
}

function signedIn(session) {
  stop();
  state.session = session;
  state.shown = null;
  ui.providerName.textContent = session.name;
  setTitle(`Agenda — ${session.name}`);
  const query = new URLSearchParams(location.search);
  const asked = query.get('date');
  state.date = asked && /^\d{4}-\d{2}-\d{2}$/.test(asked) ? asked : today();
  state.followToday = state.date === today();
  state.view = query.get('view') === 'week' ? 'week' : 'day';
  ui.zoneNote.textContent = `All times are ${zoneInWords(zone())} (${zone()}).`;
  show('signed-in');
  drawChrome();
  ui.agenda.replaceChildren();
  ui.agenda.setAttribute('aria-busy', 'true');
  state.feed = watchAgenda({
    providerId: session.providerId,
    startDate: state.date,
    days: RANGE_DAYS,
    onChange,
    onStatus: showStatus,
    onEnd: (why) => signedOut(why === 'deactivated'
      ? 'This provider is no longer active on the marketplace.'
      : 'You were signed out: the session ended.'),
    onError: (error) => console.warn('agenda: fetch failed, retrying', error),
    onRefused,
  });
  state.tick = setInterval(onTick, TICK_MS);
  state.lastMinute = clockIn(new Date().toISOString(), zone());
  setDialogContext({ doc: () => state.feed?.document, zone, afterWrite, onWriteError });
}

function showStatus(status) {
  const previous = ui.connectionState.dataset.state;
  ui.connectionState.textContent = STATUS_WORDS[status] ?? status;
  ui.connectionState.dataset.state = status;
  if (previous === 'live' && status === 'reconnecting') announce('Connection lost; reconnecting.');
  if (previous === 'reconnecting' && status === 'live') announce('Back online; the agenda is up to date.');
}

// ---------------------------------------------------------------- changes from the feed

function bookingAt(doc, bookingId) {
  for (const day of doc.days) {
    for (const slot of day.slots) if (slot.booking?.id === bookingId) return slot.booking;
  }
  return null;
}

function bookingWords(booking) {
  const date = new Intl.DateTimeFormat('en-CA', { timeZone: zone(), year: 'numeric', month: '2-digit', day: '2-digit' }).format(new Date(booking.startsAt));
  const when = date === today() ? `today at ${clockIn(booking.startsAt, zone())}` : `${dayLabel(date)} at ${clockIn(booking.startsAt, zone())}`;
  return `${booking.customer?.name || 'A customer'}, ${booking.serviceName}, ${when}`;
}

/** The booking of a stream event, in the document's shape. */
const eventBooking = (event) => ({
  id: event.bookingId, serviceName: event.serviceName, startsAt: event.startTime, endsAt: event.endTime, customer: event.customer,
});

function onChange(doc, change) {
  const { arrived = [], type, event } = change;
  const now = Date.now();
  for (const id of arrived) state.arrivals.set(id, now);
  if (arrived.length > 0) {
    const words = arrived.map((id) => (type === 'booking-created' ? eventBooking(event) : bookingAt(doc, id))).filter(Boolean).map(bookingWords);
    announce(arrived.length === 1 ? `New booking: ${words[0]}.` : `${arrived.length} new bookings: ${words.join('; ')}.`);
    countArrival(arrived.length);
    beep();
  }
  if (type === 'booking-cancelled' && event.by !== 'provider') {
    announce(`Cancelled by the ${event.by ?? 'customer'}: ${bookingWords(eventBooking(event))}${event.reason ? ` (“${event.reason}”)` : ''}.`);
  }
  if (type === 'booking-rescheduled' && event.by && event.by !== 'provider') {
    announce(`Moved by the ${event.by}: ${bookingWords(eventBooking(event))}.`);
  }
  draw();
}

/** The server would not show the days asked for: say why, and go back to the days shown before. */
function onRefused(error) {
  const asked = state.date;
  showError(`Could not show ${longDayLabel(asked)}: ${plainError(error)}`);
  const back = state.shown && state.shown !== asked ? state.shown : today();
  if (back !== asked) goTo(back);
}

function afterWrite() {
  // The stream brings the change within milliseconds; without it, fetch.
  if (state.feed && state.feed.status !== 'live') state.feed.refresh();
}

function onWriteError(error) {
  if (error instanceof ApiError && error.status === 401) signedOut('You were signed out: the session ended.');
}

// ---------------------------------------------------------------- drawing

/** The parts that do not need the document: heading, buttons, the address bar. */
function drawChrome() {
  const week = state.view === 'week';
  ui.viewDay.setAttribute('aria-pressed', String(!week));
  ui.viewWeek.setAttribute('aria-pressed', String(week));
  ui.prev.setAttribute('aria-label', week ? 'Previous week' : 'Previous day');
  ui.next.setAttribute('aria-label', week ? 'Next week' : 'Next day');
  ui.dateInput.value = state.date;
  // The server shows nothing before yesterday.
  const yesterday = addDays(today(), -1);
  ui.dateInput.min = yesterday;
  ui.prev.disabled = state.date <= yesterday;
  ui.today.disabled = !week && state.date === today();
  const isToday = state.date === today();
  ui.heading.textContent = week
    ? `Week from ${longDayLabel(state.date)}`
    : `${isToday ? 'Today, ' : ''}${longDayLabel(state.date)}`;
  ui.rangeForm.hidden = week;
  ui.rangeDay.textContent = isToday ? 'today' : longDayLabel(state.date);
  document.body.dataset.view = state.view;
  const query = new URLSearchParams(location.search);
  query.set('date', state.date);
  query.set('view', state.view);
  history.replaceState(history.state, '', `${location.pathname}?${query}`);
}

/** Draw the agenda from the feed's document, keeping focus on the same button. */
function draw() {
  const doc = state.feed?.document;
  const range = state.feed?.range;
  // A fetch for other days is under way: keep what is shown until it lands.
  if (!doc || !range || doc.startDate !== range.startDate) return;
  const now = Date.now();
  for (const [id, at] of state.arrivals) if (now - at >= ARRIVAL_MS) state.arrivals.delete(id);
  const focusKey = ui.agenda.contains(document.activeElement) ? document.activeElement.dataset.focusKey : null;
  const context = { now, today: today(), zone: zone(), arrivals: state.arrivals };
  const day = doc.days.find((d) => d.date === state.date);
  if (state.view === 'week') {
    ui.agenda.replaceChildren(drawWeek(doc, context));
    const counts = doc.days.map(dayCounts).reduce((a, c) => ({
      bookings: a.bookings + c.bookings, free: a.free + c.free, blocked: a.blocked + c.blocked, held: a.held + c.held,
    }), { bookings: 0, free: 0, blocked: 0, held: 0 });
    ui.summary.textContent = `This week: ${countsText(counts)}`;
  } else if (day) {
    ui.agenda.replaceChildren(drawDay(day, context));
    ui.summary.textContent = countsText(dayCounts(day));
    setRangeDefaults(day);
  }
  state.shown = state.date;
  ui.agenda.dataset.version = String(doc.version);
  ui.agenda.setAttribute('aria-busy', 'false');
  if (focusKey) refocus(focusKey);
}

function refocus(key) {
  const find = (k) => ui.agenda.querySelector(`[data-focus-key="${CSS.escape(k)}"]`);
  const [action, id] = key.split(/:(.*)/s);
  const twin = { block: 'unblock', unblock: 'block' }[action];
  const target = find(key) ?? (twin ? find(`${twin}:${id}`) : null);
  (target ?? ui.agenda).focus();
}

/** The range form starts at the day's first time still to come, an hour long (unless the provider typed). */
function setRangeDefaults(day) {
  if (ui.rangeForm.dataset.touched === state.date) return;
  const now = Date.now();
  const upcoming = day.slots.find((s) => Date.parse(s.endsAt) > now) ?? day.slots[0];
  if (!upcoming) return;
  ui.rangeFrom.value = upcoming.startTime;
  const to = Math.min(minutes(upcoming.startTime) + 60, minutes(day.slots.at(-1).endTime) || 1440);
  ui.rangeTo.value = `${String(Math.floor(to / 60) % 24).padStart(2, '0')}:${String(to % 60).padStart(2, '0')}`;
}

// ---------------------------------------------------------------- moving about

function goTo(date, view = state.view) {
  state.date = date;
  state.view = view;
  state.followToday = date === today();
  drawChrome();
  const range = state.feed?.range;
  const inRange = range && date >= range.startDate && date < addDays(range.startDate, range.days);
  // The week starts on the shown day; a day inside the fetched week needs no fetch.
  if (view === 'week' ? range?.startDate !== date : !inRange) {
    ui.agenda.setAttribute('aria-busy', 'true');
    state.feed?.setRange(date, RANGE_DAYS);
  } else {
    draw();
  }
}

const step = () => (state.view === 'week' ? 7 : 1);
ui.prev.addEventListener('click', () => {
  const yesterday = addDays(today(), -1);
  const target = addDays(state.date, -step());
  goTo(target < yesterday ? yesterday : target);
});
ui.next.addEventListener('click', () => goTo(addDays(state.date, step())));
ui.today.addEventListener('click', () => goTo(today()));
ui.dateInput.addEventListener('change', () => {
  if (/^\d{4}-\d{2}-\d{2}$/.test(ui.dateInput.value)) goTo(ui.dateInput.value);
});
ui.viewDay.addEventListener('click', () => goTo(state.date, 'day'));
ui.viewWeek.addEventListener('click', () => goTo(state.date, 'week'));

// Keyboard: ←/→ move a day (or week) when focus is not in a field.
document.addEventListener('keydown', (event) => {
  if (!state.session || event.altKey || event.ctrlKey || event.metaKey) return;
  if (document.querySelector('dialog[open]') || event.target.closest?.('input, textarea, select')) return;
  if (event.key === 'ArrowLeft') ui.prev.click();
  else if (event.key === 'ArrowRight') ui.next.click();
});

/** Each tick: the "now" line moves, times that began lose their buttons, midnight turns the page. */
function onTick() {
  if (!state.session) return;
  const minute = clockIn(new Date().toISOString(), zone());
  if (minute === state.lastMinute) return;
  state.lastMinute = minute;
  const shownIsYesterday = state.followToday && state.date !== today();
  if (shownIsYesterday) goTo(today());
  else draw();
}

// ---------------------------------------------------------------- actions

function segmentOfBooking(bookingId) {
  const doc = state.feed?.document;
  if (!doc) return null;
  for (const day of doc.days) {
    const found = segments(day).find((s) => s.booking?.id === bookingId);
    if (found) return found;
  }
  return null;
}

/** Slots with a block or unblock on the way: a second press waits (the button keeps focus, unlike a disabled one). */
const pendingSlots = new Set();

async function slotAction(kind, slotId, button) {
  if (pendingSlots.has(slotId)) return;
  pendingSlots.add(slotId);
  button.setAttribute('aria-disabled', 'true');
  try {
    if (kind === 'block') await api.block(state.session.providerId, slotId);
    else await api.unblock(state.session.providerId, slotId);
    const start = button.closest('[data-start]')?.dataset.start ?? '';
    announce(kind === 'block' ? `Blocked ${start}.` : `${start} is free again.`);
    afterWrite();
  } catch (error) {
    onWriteError(error);
    showError(`Could not ${kind} ${button.closest('[data-start]')?.dataset.start ?? 'that time'}: ${plainError(error)}`);
  } finally {
    pendingSlots.delete(slotId);
    button.removeAttribute('aria-disabled');
  }
}

ui.agenda.addEventListener('click', (event) => {
  const button = event.target.closest('button[data-action]');
  if (!button || !state.session) return;
  const { action } = button.dataset;
  if (action === 'block' || action === 'unblock') return slotAction(action, button.dataset.slotId, button);
  if (action === 'open-day') {
    goTo(button.dataset.date, 'day');
    ui.agenda.focus();
    return;
  }
  const segment = segmentOfBooking(button.dataset.bookingId);
  if (!segment?.booking) return;
  if (action === 'cancel') openCancel(segment.booking, button);
  if (action === 'move') openMove(segment.booking, button);
});
ui.agenda.addEventListener('animationend', (event) => {
  if (event.animationName === 'arrived') event.target.classList.remove('arrived');
});

ui.rangeFrom.addEventListener('input', () => { ui.rangeForm.dataset.touched = state.date; });
ui.rangeTo.addEventListener('input', () => { ui.rangeForm.dataset.touched = state.date; });
ui.rangeForm.addEventListener('submit', async (event) => {
  event.preventDefault();
  const kind = event.submitter?.value === 'unblock' ? 'unblock' : 'block';
  const from = ui.rangeFrom.value;
  const to = ui.rangeTo.value;
  if (!/^\d\d:\d\d$/.test(from) || !/^\d\d:\d\d$/.test(to)) {
    ui.rangeResult.textContent = 'Enter both times, for example 12:00 and 14:00.';
    return;
  }
  // "to" at or before "from" reads as past midnight only when it is 00:00.
  const toDate = to === '00:00' ? addDays(state.date, 1) : state.date;
  if (to !== '00:00' && minutes(to) <= minutes(from)) {
    ui.rangeResult.textContent = `The end (${to}) must be after the start (${from}).`;
    return;
  }
  const fromAt = instantAt(state.date, from, zone()).toISOString();
  const toAt = instantAt(toDate, to, zone()).toISOString();
  const buttons = ui.rangeForm.querySelectorAll('button');
  buttons.forEach((b) => { b.disabled = true; });
  ui.rangeResult.textContent = kind === 'block' ? 'Blocking…' : 'Freeing…';
  try {
    const result = kind === 'block'
      ? await api.blockRange(state.session.providerId, fromAt, toAt)
      : await api.unblockRange(state.session.providerId, fromAt, toAt);
    ui.rangeResult.textContent = rangeWords(kind, from, to, result);
    afterWrite();
  } catch (error) {
    onWriteError(error);
    ui.rangeResult.textContent = `Could not ${kind === 'block' ? 'block' : 'free'} ${from}–${to}: ${plainError(error)}`;
  } finally {
    buttons.forEach((b) => { b.disabled = false; });
  }
});

function rangeWords(kind, from, to, result) {
  const changed = result?.changed?.length ?? 0;
  const skipped = result?.skipped ?? [];
  const times = (n) => `${n} time${n === 1 ? '' : 's'}`;
  let words = changed === 0
    ? `Nothing to ${kind === 'block' ? 'block' : 'free'} from ${from} to ${to}: no ${kind === 'block' ? 'free' : 'blocked'} times there.`
    : `${kind === 'block' ? 'Blocked' : 'Freed'} ${times(changed)} from ${from} to ${to}.`;
  const kept = skipped.filter((s) => s.status === 'booked' || s.status === 'held').length;
  if (kept) words += ` ${times(kept)} already booked or being booked ${kept === 1 ? 'was' : 'were'} left as ${kept === 1 ? 'it was' : 'they were'}.`;
  return words;
}

// ---------------------------------------------------------------- the top bar

function drawSound() {
  const on = soundOn();
  ui.sound.setAttribute('aria-pressed', String(on));
  ui.sound.textContent = on ? 'Sound: on' : 'Sound: off';
}
ui.sound.addEventListener('click', () => {
  setSound(!soundOn());
  drawSound();
});
drawSound();

ui.print.addEventListener('click', () => {
  if (state.view !== 'day') goTo(state.date, 'day');
  window.print();
});

ui.signOut.addEventListener('click', async () => {
  ui.signOut.disabled = true;
  try {
    await api.signOut();
    signedOut('You signed out.');
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) signedOut('You signed out.');
    else showError(`Could not sign out: ${plainError(error)}`);
  } finally {
    ui.signOut.disabled = false;
  }
});

// A new sign-in link pasted into this tab.
window.addEventListener('hashchange', () => {
  if (new URLSearchParams(location.hash.slice(1)).has('code')) start();
});

start();
