// Slotstream page: a week of a provider's slots, kept live with Server-Sent
// Events (falling back to conditional polling), with booking and cancelling.
// Opening the booking form holds the slot (DESIGN 4b) while the customer types;
// other viewers see it as "Someone is booking this" until it is booked or let go.
//
// URL query overrides (for tests and demos):
//   ?pollMs=15000       polling interval when the stream is not used
//   ?liveRetryMs=30000  how often, while polling, to try the stream again
//   ?reconnectMs=1000   first reconnect delay after a stream error (doubles)
//   ?provider=<id>      provider selected at start

const params = new URLSearchParams(location.search);
const numberParam = (name, fallback, min) => {
  const raw = params.get(name);
  const value = raw === null ? NaN : Number(raw);
  return Number.isFinite(value) && value >= min ? value : fallback;
};

const POLL_MS = numberParam('pollMs', 15000, 100);
const LIVE_RETRY_MS = numberParam('liveRetryMs', 30000, 100);
const RECONNECT_MS = numberParam('reconnectMs', 1000, 50);
const FAILURES_BEFORE_POLLING = 3;
const FAILURE_WINDOW_MS = 10000;
const LOAD_RETRY_MS = 3000;
const DAYS = 7;
const STORAGE_KEY = 'slotstream.bookings';
const CUSTOMER_KEY = 'slotstream.customer';

const MODE_TEXT = {
  connecting: 'Connecting…',
  live: 'Live',
  reconnecting: 'Reconnecting…',
  polling: 'Polling',
};

const $ = (id) => document.getElementById(id);
const ui = {
  provider: $('provider'),
  service: $('service'),
  prev: $('prev-week'),
  next: $('next-week'),
  weekLabel: $('week-label'),
  tzNote: $('timezone-note'),
  calendar: $('calendar'),
  connection: $('connection-state'),
  updated: $('updated'),
  pollStats: $('poll-stats'),
  announcer: $('announcer'),
  bookings: $('my-bookings'),
  noBookings: $('no-bookings'),
  dialog: $('book-dialog'),
  form: $('book-form'),
  summary: $('book-summary'),
  name: $('customer-name'),
  email: $('customer-email'),
  error: $('book-error'),
  submit: $('book-submit'),
  close: $('book-close'),
  holdStatus: $('hold-status'),
  countdown: $('hold-countdown'),
  retry: $('hold-retry'),
};

// ---------------------------------------------------------------- state

const state = {
  providers: [],
  provider: null,
  /** The requested first day (null: the provider's today). */
  startDate: null,
  /** The last availability document shown. */
  doc: null,
  etag: null,
  /** Resume point: the newest provider version reflected on the page. */
  version: 0,
  /** availabilityId -> { slot, date } */
  slots: new Map(),
  /** Bumped on every (re)load; stale async answers compare and bail. */
  generation: 0,
  /**
   * The booking dialog's session: { id, date, slot, service, provider, slotIds,
   * holdState, hold, holdPromise, releasing }. holdState is one of HOLD_STATES.
   */
  dialogSlot: null,
};

const feed = {
  mode: 'connecting',
  es: null,
  openedAt: 0,
  failures: [],
  reconnectTimer: 0,
  pollTimer: 0,
  liveRetryTimer: 0,
  loadRetryTimer: 0,
  refetchTimer: 0,
  polling: false,
  pollInFlight: false,
  pollFailed: false,
  polls: 0,
  notModified: 0,
};

const hasEventSource = () => typeof window.EventSource === 'function';

// ---------------------------------------------------------------- dates and labels

const WEEKDAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

const parseDate = (iso) => new Date(`${iso}T00:00:00Z`);
const isoDate = (date) => date.toISOString().slice(0, 10);
const addDays = (iso, n) => {
  const date = parseDate(iso);
  date.setUTCDate(date.getUTCDate() + n);
  return isoDate(date);
};
const dayLabel = (iso) => {
  const d = parseDate(iso);
  return `${WEEKDAYS[d.getUTCDay()]} ${d.getUTCDate()} ${MONTHS[d.getUTCMonth()]}`;
};
const minutes = (hhmm) => {
  const [h, m] = hhmm.split(':').map(Number);
  return h * 60 + m;
};
const hhmm = (total) => {
  const t = ((total % 1440) + 1440) % 1440;
  return `${String(Math.floor(t / 60)).padStart(2, '0')}:${String(t % 60).padStart(2, '0')}`;
};
const clock = (date = new Date()) =>
  [date.getHours(), date.getMinutes(), date.getSeconds()].map((n) => String(n).padStart(2, '0')).join(':');
const price = (cents) => `${(cents / 100).toFixed(2)}`;
const STATUS_TEXT = { available: 'Available', booked: 'Booked', blocked: 'Blocked', held: 'Someone is booking this' };
const mmss = (ms) => {
  const total = Math.max(0, Math.ceil(ms / 1000));
  return `${String(Math.floor(total / 60)).padStart(2, '0')}:${String(total % 60).padStart(2, '0')}`;
};

// ---------------------------------------------------------------- small helpers

function announce(message) {
  // Clear first so the same message twice is announced twice.
  ui.announcer.textContent = '';
  requestAnimationFrame(() => {
    ui.announcer.textContent = message;
  });
}

function markUpdated() {
  ui.updated.textContent = `updated ${clock()}`;
}

function setMode(mode) {
  const changed = feed.mode !== mode;
  feed.mode = mode;
  ui.connection.textContent = MODE_TEXT[mode];
  ui.connection.dataset.state = mode;
  ui.pollStats.hidden = mode !== 'polling' && feed.polls === 0;
  if (changed && mode !== 'connecting') {
    announce(
      mode === 'live'
        ? 'Live updates connected.'
        : mode === 'polling'
          ? 'Live updates unavailable; checking for changes periodically.'
          : 'Connection lost; reconnecting.',
    );
  }
}

function updatePollStats() {
  ui.pollStats.dataset.polls = String(feed.polls);
  ui.pollStats.dataset.notModified = String(feed.notModified);
  ui.pollStats.textContent = `${feed.polls} checks, ${feed.notModified} unchanged (304)`;
  ui.pollStats.hidden = false;
}

async function problemMessage(response) {
  try {
    const body = await response.json();
    return body.detail || body.title || `HTTP ${response.status}`;
  } catch {
    return `HTTP ${response.status}`;
  }
}

function selectedService() {
  return state.provider?.services.find((s) => s.id === ui.service.value) ?? state.provider?.services[0] ?? null;
}

function availabilityUrl(streaming) {
  const query = new URLSearchParams();
  if (state.startDate) query.set('startDate', state.startDate);
  query.set('days', String(DAYS));
  if (streaming) query.set('lastEventId', String(state.version));
  const base = `/api/v1/providers/${encodeURIComponent(state.provider.id)}/availability`;
  return `${base}${streaming ? '/stream' : ''}?${query}`;
}

// ---------------------------------------------------------------- calendar rendering

/** Whether this slot is held by this page's open booking form. */
function heldByMe(slot) {
  return slot.status === 'held' && Boolean(state.dialogSlot?.hold?.slotIds.includes(slot.availabilityId));
}

function slotLabel(date, slot, mine) {
  const status = slot.status !== 'held' ? slot.status : mine ? 'held for you' : 'someone is booking this';
  return `${dayLabel(date)} ${slot.startTime}, ${status}`;
}

function paintSlot(button, date, slot) {
  const mine = heldByMe(slot);
  button.dataset.status = slot.status;
  button.className = `slot ${slot.status}${mine ? ' mine' : ''}`;
  button.setAttribute('aria-label', slotLabel(date, slot, mine));
  button.setAttribute('aria-disabled', slot.status === 'available' ? 'false' : 'true');
  button.querySelector('.slot-text').textContent = mine ? 'Held for you' : (STATUS_TEXT[slot.status] ?? slot.status);
}

/** Repaint some slots in place (a hold taken or let go changes how they read). */
function repaintSlots(ids) {
  for (const id of ids) {
    const entry = state.slots.get(id);
    const button = buttonFor(id);
    if (entry && button) paintSlot(button, entry.date, entry.slot);
  }
}

function flash(button) {
  button.classList.remove('flash');
  void button.offsetWidth; // restart the animation
  button.classList.add('flash');
}

function buttonFor(id) {
  return ui.calendar.querySelector(`button[data-slot-id="${CSS.escape(id)}"]`);
}

/** The consecutive, contiguous free slots covering the service from this slot, or null. */
function serviceSlots(day, index, service) {
  const slots = [];
  let covered = 0;
  let end = null;
  for (let i = index; i < day.slots.length; i += 1) {
    const slot = day.slots[i];
    if (slot.status !== 'available') return null;
    if (end !== null && slot.startTime !== end) return null;
    slots.push(slot);
    covered += minutes(slot.endTime) - minutes(slot.startTime);
    end = slot.endTime;
    if (covered >= service.durationMinutes) return slots;
  }
  return null;
}

function fitsService(day, index, service) {
  return !service || serviceSlots(day, index, service) !== null;
}

function refreshBookable() {
  if (!state.doc) return;
  const service = selectedService();
  for (const day of state.doc.days) {
    day.slots.forEach((slot, index) => {
      const button = buttonFor(slot.availabilityId);
      if (!button) return;
      // A slot that has begun cannot be booked (the server refuses it too).
      const past = Date.parse(slot.startsAt) <= Date.now();
      const bookable = !past && fitsService(day, index, service);
      button.dataset.bookable = String(bookable);
      button.classList.toggle('past', past);
      button.classList.toggle('short', slot.status === 'available' && !past && !bookable);
    });
  }
}

function render(doc, { flashChanges = false } = {}) {
  const previous = state.slots;
  const focusedId = document.activeElement?.dataset?.slotId ?? null;

  state.doc = doc;
  state.version = Math.max(doc.version, 0);
  state.slots = new Map();
  for (const day of doc.days) {
    day.slots.sort((a, b) => a.startTime.localeCompare(b.startTime));
    for (const slot of day.slots) state.slots.set(slot.availabilityId, { slot, date: day.date });
  }

  const times = [...new Set(doc.days.flatMap((d) => d.slots.map((s) => s.startTime)))].sort();
  const table = document.createElement('table');
  table.className = 'grid';
  const caption = table.createCaption();
  caption.className = 'visually-hidden';
  caption.textContent = `Slots of ${state.provider.name}, ${dayLabel(doc.days[0]?.date ?? doc.startDate)} to ${dayLabel(
    doc.days[doc.days.length - 1]?.date ?? doc.startDate,
  )}, times in ${doc.timezone}`;

  const headRow = table.createTHead().insertRow();
  const corner = document.createElement('th');
  corner.scope = 'col';
  corner.innerHTML = '<span class="visually-hidden">Time</span>';
  headRow.append(corner);
  for (const day of doc.days) {
    const th = document.createElement('th');
    th.scope = 'col';
    th.dataset.date = day.date;
    const [weekday, ...rest] = dayLabel(day.date).split(' ');
    th.innerHTML = `<span class="weekday">${weekday}</span> <span class="date">${rest.join(' ')}</span>`;
    headRow.append(th);
  }

  const body = table.createTBody();
  const byDay = doc.days.map((day) => new Map(day.slots.map((s) => [s.startTime, s])));
  if (times.length === 0) {
    const row = body.insertRow();
    const cell = row.insertCell();
    cell.colSpan = doc.days.length + 1;
    cell.className = 'empty-week';
    cell.textContent = 'No slots this week.';
  }
  for (const time of times) {
    const row = body.insertRow();
    const th = document.createElement('th');
    th.scope = 'row';
    th.textContent = time;
    row.append(th);
    doc.days.forEach((day, i) => {
      const cell = row.insertCell();
      const slot = byDay[i].get(time);
      if (!slot) {
        cell.className = 'none';
        cell.innerHTML = '<span aria-hidden="true">·</span><span class="visually-hidden">no slot</span>';
        return;
      }
      const button = document.createElement('button');
      button.type = 'button';
      button.dataset.slotId = slot.availabilityId;
      button.dataset.date = day.date;
      button.dataset.start = slot.startTime;
      button.innerHTML = '<span class="slot-time" aria-hidden="true"></span><span class="slot-text"></span>';
      button.querySelector('.slot-time').textContent = slot.startTime;
      paintSlot(button, day.date, slot);
      cell.append(button);
      const before = previous.get(slot.availabilityId);
      if (flashChanges && before && before.slot.status !== slot.status) flash(button);
    });
  }

  ui.calendar.replaceChildren(table);
  ui.calendar.dataset.version = String(state.version);
  ui.calendar.setAttribute('aria-busy', 'false');
  refreshBookable();

  const first = doc.days[0]?.date ?? doc.startDate;
  const last = doc.days[doc.days.length - 1]?.date ?? doc.startDate;
  ui.weekLabel.textContent = `${dayLabel(first)} – ${dayLabel(last)} ${parseDate(last).getUTCFullYear()}`;
  ui.tzNote.textContent = `Times are local to ${state.provider.name} (${doc.timezone}).`;
  if (focusedId) buttonFor(focusedId)?.focus();
  markUpdated();
  syncDialogSlot();
}

/** Apply one slot-changed event in place. */
function applyEvent(event, id) {
  const version = Number(id);
  if (Number.isFinite(version) && version > state.version) {
    state.version = version;
    ui.calendar.dataset.version = String(version);
  }
  const entry = state.slots.get(event.availabilityId);
  // A changed weekly schedule took the slot off the calendar: re-read the week.
  if (event.newStatus === 'removed') {
    if (entry) scheduleRefetch();
    return;
  }
  if (!entry) {
    const first = state.doc?.days[0]?.date;
    const inWeek = first && event.date >= first && event.date < addDays(first, DAYS);
    if (inWeek) scheduleRefetch(); // a slot the page has never seen: re-read the week
    return;
  }
  entry.slot.status = event.newStatus;
  const button = buttonFor(event.availabilityId);
  if (button) {
    paintSlot(button, entry.date, entry.slot);
    flash(button);
  }
  refreshBookable();
  markUpdated();
  syncDialogSlot();
}

// ---------------------------------------------------------------- loading and the live feed

function stopFeed() {
  if (feed.es) {
    feed.es.close();
    feed.es = null;
  }
  for (const timer of ['reconnectTimer', 'pollTimer', 'liveRetryTimer', 'loadRetryTimer', 'refetchTimer']) {
    clearTimeout(feed[timer]);
    feed[timer] = 0;
  }
  feed.polling = false;
}

async function fetchAvailability(conditional) {
  const headers = { Accept: 'application/json' };
  if (conditional && state.etag) headers['If-None-Match'] = state.etag;
  return fetch(availabilityUrl(false), { headers, cache: 'no-store' });
}

/** (Re)load the shown week, then (re)start the feed from its version. */
async function load() {
  if (!state.provider) return;
  const generation = ++state.generation;
  stopFeed();
  ui.calendar.setAttribute('aria-busy', 'true');
  try {
    const response = await fetchAvailability(false);
    if (generation !== state.generation) return;
    if (!response.ok) throw new Error(await problemMessage(response));
    const doc = await response.json();
    if (generation !== state.generation) return;
    state.etag = response.headers.get('ETag');
    if (!state.startDate) state.startDate = doc.startDate;
    render(doc, { flashChanges: state.slots.size > 0 });
    startFeed();
  } catch (error) {
    if (generation !== state.generation) return;
    announce(`Could not load availability (${error.message}); retrying.`);
    if (feed.mode !== 'polling') setMode(hasEventSource() ? 'reconnecting' : 'polling');
    feed.loadRetryTimer = setTimeout(load, LOAD_RETRY_MS);
  }
}

function scheduleRefetch() {
  if (feed.refetchTimer) return;
  feed.refetchTimer = setTimeout(() => {
    feed.refetchTimer = 0;
    load();
  }, 200);
}

function startFeed() {
  if (!hasEventSource()) {
    enterPolling(false);
  } else if (feed.mode === 'polling') {
    enterPolling(true);
  } else {
    openStream();
  }
}

function openStream() {
  clearTimeout(feed.reconnectTimer);
  clearTimeout(feed.liveRetryTimer);
  feed.reconnectTimer = 0;
  feed.liveRetryTimer = 0;
  if (feed.es) feed.es.close();
  const generation = state.generation;
  const es = new window.EventSource(availabilityUrl(true));
  feed.es = es;
  const current = () => feed.es === es && generation === state.generation;

  es.onopen = () => {
    if (!current()) return;
    feed.openedAt = Date.now();
    stopPolling();
    setMode('live');
    markUpdated();
  };
  es.addEventListener('slot-changed', (message) => {
    if (!current()) return;
    try {
      applyEvent(JSON.parse(message.data), message.lastEventId);
    } catch (error) {
      console.warn('bad slot-changed event', error);
    }
  });
  es.addEventListener('reset', () => {
    if (!current()) return;
    // The resume point is gone: read the week afresh and stream from there.
    load();
  });
  es.onerror = () => {
    if (!current()) return;
    es.close();
    feed.es = null;
    streamFailed();
  };
}

function streamFailed() {
  const now = Date.now();
  // A connection that stayed up a while wipes the slate.
  if (feed.openedAt && now - feed.openedAt > FAILURE_WINDOW_MS) feed.failures = [];
  feed.openedAt = 0;
  feed.failures = feed.failures.filter((t) => now - t < FAILURE_WINDOW_MS);
  feed.failures.push(now);
  if (feed.mode === 'polling') {
    scheduleLiveRetry();
  } else if (feed.failures.length >= FAILURES_BEFORE_POLLING) {
    enterPolling(true);
  } else {
    setMode('reconnecting');
    feed.reconnectTimer = setTimeout(openStream, RECONNECT_MS * 2 ** (feed.failures.length - 1));
  }
}

function scheduleLiveRetry(delay = LIVE_RETRY_MS) {
  if (!hasEventSource()) return;
  clearTimeout(feed.liveRetryTimer);
  feed.liveRetryTimer = setTimeout(openStream, delay);
}

function enterPolling(retryLive) {
  setMode('polling');
  updatePollStats();
  if (!feed.polling) {
    feed.polling = true;
    poll();
  }
  if (retryLive) scheduleLiveRetry();
}

function stopPolling() {
  feed.polling = false;
  clearTimeout(feed.pollTimer);
  feed.pollTimer = 0;
}

/** Ask now (after a booking or cancel) rather than at the next tick. */
function pollSoon() {
  if (!feed.polling || feed.pollInFlight) return;
  clearTimeout(feed.pollTimer);
  poll();
}

async function poll() {
  const generation = state.generation;
  feed.pollTimer = 0;
  feed.pollInFlight = true;
  try {
    const response = await fetchAvailability(true);
    if (generation !== state.generation || !feed.polling) return;
    feed.polls += 1;
    if (response.status === 304) {
      feed.notModified += 1;
      markUpdated();
    } else if (response.ok) {
      const doc = await response.json();
      if (generation !== state.generation || !feed.polling) return;
      state.etag = response.headers.get('ETag');
      render(doc, { flashChanges: true });
    } else {
      throw new Error(await problemMessage(response));
    }
    updatePollStats();
    if (feed.pollFailed) {
      // The server answers again: try the stream right away.
      feed.pollFailed = false;
      if (hasEventSource()) scheduleLiveRetry(0);
    }
  } catch {
    if (generation === state.generation) feed.pollFailed = true;
  } finally {
    feed.pollInFlight = false;
    if (generation === state.generation && feed.polling && !feed.pollTimer) {
      feed.pollTimer = setTimeout(poll, POLL_MS);
    }
  }
}

// ---------------------------------------------------------------- providers and services

function fillServices() {
  const previous = ui.service.value;
  ui.service.replaceChildren(
    ...state.provider.services.map((s) => {
      const option = new Option(`${s.name} · ${s.durationMinutes} min · ${price(s.priceCents)}`, s.id);
      return option;
    }),
  );
  if (state.provider.services.some((s) => s.id === previous)) ui.service.value = previous;
  ui.service.disabled = state.provider.services.length === 0;
}

function selectProvider(id) {
  state.provider = state.providers.find((p) => p.id === id) ?? state.providers[0] ?? null;
  if (!state.provider) return;
  ui.provider.value = state.provider.id;
  state.startDate = null;
  state.doc = null;
  state.etag = null;
  state.slots = new Map();
  fillServices();
  load();
}

async function loadProviders() {
  try {
    const response = await fetch('/api/v1/providers', { headers: { Accept: 'application/json' } });
    if (!response.ok) throw new Error(await problemMessage(response));
    state.providers = await response.json();
  } catch (error) {
    announce(`Could not load providers (${error.message}); retrying.`);
    setTimeout(loadProviders, LOAD_RETRY_MS);
    return;
  }
  ui.provider.replaceChildren(...state.providers.map((p) => new Option(p.name, p.id)));
  ui.provider.disabled = state.providers.length === 0;
  if (state.providers.length === 0) {
    ui.calendar.textContent = 'No providers yet.';
    return;
  }
  selectProvider(params.get('provider') ?? state.providers[0].id);
}

// ---------------------------------------------------------------- bookings (local)

function readBookings() {
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
  } catch {
    // Storage full or disabled: the list lives for this page only.
  }
  renderBookings(list);
}

let memoryBookings = null;
function renderBookings(list = memoryBookings ?? readBookings()) {
  memoryBookings = list;
  const sorted = [...list].sort((a, b) => (a.date + a.startTime).localeCompare(b.date + b.startTime));
  ui.bookings.replaceChildren(
    ...sorted.map((booking) => {
      const li = document.createElement('li');
      li.dataset.bookingId = booking.id;
      li.dataset.status = booking.status;
      const text = document.createElement('span');
      text.className = 'booking-text';
      text.innerHTML = '<strong></strong><span></span>';
      text.firstChild.textContent = `${dayLabel(booking.date)} ${booking.startTime}–${booking.endTime}`;
      text.lastChild.textContent = ` ${booking.serviceName} · ${booking.providerName}`;
      const cancel = document.createElement('button');
      cancel.type = 'button';
      cancel.className = 'secondary cancel-booking';
      cancel.textContent = 'Cancel';
      cancel.setAttribute(
        'aria-label',
        `Cancel ${booking.serviceName} on ${dayLabel(booking.date)} ${booking.startTime}`,
      );
      cancel.addEventListener('click', () => cancelBooking(booking, cancel));
      li.append(text, cancel);
      return li;
    }),
  );
  ui.noBookings.hidden = sorted.length > 0;
}

async function cancelBooking(booking, button) {
  button.disabled = true;
  button.textContent = 'Cancelling…';
  try {
    const response = await fetch(`/api/v1/bookings/${encodeURIComponent(booking.id)}/cancel`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${booking.token}`, Accept: 'application/json' },
    });
    if (response.ok || response.status === 404) {
      writeBookings(readBookings().filter((b) => b.id !== booking.id));
      announce(
        response.ok
          ? `Cancelled ${booking.serviceName} on ${dayLabel(booking.date)} ${booking.startTime}.`
          : 'That booking no longer exists; removed it from your list.',
      );
      (ui.bookings.querySelector('button') ?? ui.provider).focus();
      pollSoon();
      return;
    }
    announce(`Could not cancel: ${await problemMessage(response)}`);
  } catch (error) {
    announce(`Could not cancel: ${error.message}`);
  }
  button.disabled = false;
  button.textContent = 'Cancel';
}

// ---------------------------------------------------------------- slot holds

// The form's hold (DESIGN 4b): taken when the form opens, renewed while it stays
// open, released when it closes, and handed to the booking on submit. A server
// without holds (404) or one that refuses a hold for this client (429) leaves
// the form booking directly, as before holds existed.

const HOLDS_URL = '/api/v1/holds';
/** Never renew more often than this, nor when less than twice this is left. */
const MIN_RENEW_MS = 5000;
/** Server and page clocks further apart than this are corrected (the Date header has 1 s steps). */
const CLOCK_SKEW_MS = 2000;

/**
 * holdState of a dialog session: taking (asking for a hold), held (ours,
 * renewed), none (booking without a hold), taken (someone else has the slot),
 * lost (our hold expired or ended; the customer may try again).
 */
const HOLD_STATES = ['taking', 'held', 'none', 'taken', 'lost'];
const BOOKABLE_HOLD_STATES = new Set(['held', 'none']);
const HOLD_GONE = new Set([404, 409, 410]);

const holdTimers = { renew: 0, tick: 0 };

const holdUrl = (id, action = '') => `${HOLDS_URL}/${encodeURIComponent(id)}${action}`;

/** The local time a server `expiresAt` falls at, corrected by the server's clock if it differs much. */
function localDeadline(response, expiresAt) {
  const expires = Date.parse(expiresAt);
  const serverNow = Date.parse(response.headers.get('Date') ?? '');
  const offset = Number.isFinite(serverNow) ? Date.now() - serverNow : 0;
  return expires + (Math.abs(offset) > CLOCK_SKEW_MS ? offset : 0);
}

function stopHoldTimers() {
  clearTimeout(holdTimers.renew);
  clearInterval(holdTimers.tick);
  holdTimers.renew = 0;
  holdTimers.tick = 0;
}

function setHoldState(open, holdState) {
  if (!HOLD_STATES.includes(holdState)) throw new Error(`unknown hold state ${holdState}`);
  open.holdState = holdState;
  ui.dialog.dataset.hold = holdState;
  ui.holdStatus.hidden = holdState !== 'held';
  ui.retry.hidden = holdState !== 'lost';
  if (holdState === 'taken' || holdState === 'lost') ui.submit.disabled = true;
  if (holdState === 'held') {
    clearInterval(holdTimers.tick);
    tickHold();
    holdTimers.tick = setInterval(tickHold, 250);
    scheduleRenew(open);
  }
}

/** Book without a hold, with an optional word to the customer why. */
function withoutHold(open, message = '') {
  setHoldState(open, 'none');
  ui.error.textContent = message;
  syncDialogSlot(); // taken while we asked?
}

function showTaken(open) {
  setHoldState(open, 'taken');
  ui.error.textContent = 'Someone else just took this slot or is booking it. Please pick another time.';
  pollSoon();
}

/** Ask for a hold on the dialog's slots; the outcome lands in open.holdState. */
async function takeHold(open) {
  setHoldState(open, 'taking');
  let response;
  let body = null;
  try {
    response = await fetch(HOLDS_URL, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
      body: JSON.stringify({ providerId: open.provider.id, serviceId: open.service.id, startTime: open.slot.startsAt }),
    });
    if (response.status === 201) body = await response.json();
  } catch (error) {
    if (state.dialogSlot === open) {
      withoutHold(open, `This slot is not reserved while you fill in the form (${error.message}); you can still book it.`);
    }
    return;
  }
  if (response.status === 201 && body?.id && body?.token) {
    const held = { id: body.id, token: body.token, deadline: localDeadline(response, body.expiresAt), slotIds: open.slotIds };
    if (state.dialogSlot !== open) {
      // The form was closed while we asked: let the slot go at once.
      releaseHold(held);
      return;
    }
    open.hold = held;
    setHoldState(open, 'held');
    repaintSlots(held.slotIds);
    return;
  }
  if (state.dialogSlot !== open) return;
  if (response.status === 409) {
    showTaken(open);
  } else if (response.status === 404) {
    withoutHold(open); // a server without holds: book directly, as before
  } else if (response.status === 429) {
    withoutHold(open, 'This slot is not reserved while you fill in the form (too many holds from your network); you can still book it.');
  } else {
    withoutHold(open, `This slot is not reserved while you fill in the form (${await problemMessage(response)}); you can still book it.`);
  }
}

/** Renew at half the remaining time; near the end (or at the server's maximum lifetime) the countdown just runs out. */
function scheduleRenew(open) {
  clearTimeout(holdTimers.renew);
  holdTimers.renew = 0;
  const remaining = (open.hold?.deadline ?? 0) - Date.now();
  if (remaining < 2 * MIN_RENEW_MS || open.hold?.atMaximum) return;
  holdTimers.renew = setTimeout(() => renewHold(open), Math.max(remaining / 2, MIN_RENEW_MS));
}

async function renewHold(open) {
  const held = open.hold;
  if (!held || open.holdState !== 'held') return;
  clearTimeout(holdTimers.renew);
  holdTimers.renew = 0;
  let response;
  let body = null;
  try {
    response = await fetch(holdUrl(held.id, '/renew'), {
      method: 'POST',
      headers: { Authorization: `Bearer ${held.token}`, Accept: 'application/json' },
    });
    if (response.ok) body = await response.json();
  } catch {
    response = null; // offline for now: the hold we have still counts; try again later
  }
  if (open.hold !== held || open.holdState !== 'held') return;
  // 409 with our slot still shown held and time left: the hold is at its maximum lifetime and
  // cannot be extended, but it still counts; stop renewing and let the countdown run out.
  const stillOurs = state.slots.get(open.id)?.slot.status === 'held' && held.deadline > Date.now();
  if (response?.status === 409 && stillOurs) {
    held.atMaximum = true;
    tickHold();
    return;
  }
  if (response && HOLD_GONE.has(response.status)) {
    holdLost(open, 'ended');
    return;
  }
  if (response?.ok && body?.expiresAt) held.deadline = localDeadline(response, body.expiresAt);
  tickHold();
  if (open.holdState === 'held') scheduleRenew(open);
}

/** Show the time left; at zero the hold has expired. */
function tickHold() {
  const open = state.dialogSlot;
  if (!open?.hold || open.holdState !== 'held') return;
  const remaining = open.hold.deadline - Date.now();
  ui.countdown.textContent = mmss(remaining);
  if (remaining <= 0) holdLost(open, 'expired');
}

function releaseHold(held, { keepalive = false } = {}) {
  return fetch(holdUrl(held.id), {
    method: 'DELETE',
    keepalive,
    headers: { Authorization: `Bearer ${held.token}` },
  }).then(
    () => undefined,
    () => undefined, // the server lets it expire
  );
}

/** Let the dialog's hold go (form closed, page hidden, hold expired). */
function dropHold(open, options) {
  stopHoldTimers();
  const held = open?.hold;
  if (!held) return;
  open.hold = null;
  // Also after expiry: the server may not have swept it yet, and a retry needs the slot back.
  open.releasing = releaseHold(held, options);
  repaintSlots(held.slotIds);
}

function holdLost(open, reason) {
  dropHold(open, { keepalive: reason === 'hidden' });
  setHoldState(open, 'lost');
  ui.error.textContent = `${
    reason === 'expired'
      ? 'Your hold on this slot has expired'
      : reason === 'hidden'
        ? 'Your hold on this slot was released when you left the page'
        : 'Your hold on this slot has ended'
  }, so it is no longer reserved for you. Try again to hold it if it is still free.`;
}

/** "Try again": hold the slot anew if it is free again. */
async function retryHold() {
  const open = state.dialogSlot;
  if (!open || open.holdState !== 'lost') return;
  ui.retry.disabled = true;
  await open.releasing;
  ui.retry.disabled = false;
  if (state.dialogSlot !== open || open.holdState !== 'lost') return;
  const status = state.slots.get(open.id)?.slot.status;
  if (status === 'booked' || status === 'blocked') {
    showTaken(open);
    return;
  }
  ui.error.textContent = '';
  ui.submit.disabled = false;
  open.holdPromise = takeHold(open);
  await open.holdPromise;
  if (open.holdState === 'held') ui.submit.focus();
}

// ---------------------------------------------------------------- booking dialog

let returnFocusTo = null;

function openDialog(slotId) {
  const entry = state.slots.get(slotId);
  const service = selectedService();
  if (!entry || !service) return;
  const button = buttonFor(slotId);
  if (entry.slot.status === 'held') {
    announce(`Someone is booking ${dayLabel(entry.date)} ${entry.slot.startTime} right now. It may free up in a few minutes.`);
    return;
  }
  if (entry.slot.status !== 'available') {
    announce(`${dayLabel(entry.date)} ${entry.slot.startTime} is ${entry.slot.status}.`);
    return;
  }
  if (button?.classList.contains('past')) {
    announce(`${dayLabel(entry.date)} ${entry.slot.startTime} has already begun.`);
    return;
  }
  const day = state.doc?.days.find((d) => d.date === entry.date);
  const covered = day ? serviceSlots(day, day.slots.indexOf(entry.slot), service) : null;
  if (button?.dataset.bookable === 'false' || !covered) {
    announce(
      `${service.name} takes ${service.durationMinutes} minutes; ${dayLabel(entry.date)} ${entry.slot.startTime} is not followed by enough free time. Pick another start.`,
    );
    return;
  }
  const open = {
    id: slotId,
    date: entry.date,
    slot: { ...entry.slot },
    service,
    provider: state.provider,
    slotIds: covered.map((s) => s.availabilityId),
    holdState: 'taking',
    hold: null,
    holdPromise: null,
    releasing: null,
  };
  state.dialogSlot = open;
  const end = hhmm(minutes(entry.slot.startTime) + service.durationMinutes);
  ui.summary.textContent = `${service.name} (${service.durationMinutes} min, ${price(service.priceCents)}) at ${state.provider.name}, ${dayLabel(entry.date)} ${entry.slot.startTime}–${end}.`;
  ui.error.textContent = '';
  ui.submit.disabled = false;
  ui.submit.textContent = 'Confirm booking';
  ui.countdown.textContent = '--:--';
  try {
    const saved = JSON.parse(localStorage.getItem(CUSTOMER_KEY) ?? 'null');
    if (saved && !ui.name.value) ui.name.value = saved.name ?? '';
    if (saved && !ui.email.value) ui.email.value = saved.email ?? '';
  } catch {
    // no saved customer
  }
  returnFocusTo = button;
  open.holdPromise = takeHold(open);
  ui.dialog.showModal();
  (ui.name.value ? ui.email.value ? ui.submit : ui.email : ui.name).focus();
}

function closeDialog() {
  if (ui.dialog.open) ui.dialog.close();
}

/** While the dialog is open, tell the user at once if the slot was taken. */
function syncDialogSlot() {
  const open = state.dialogSlot;
  if (!open || !ui.dialog.open) return;
  const status = state.slots.get(open.id)?.slot.status;
  if (!status) return;
  if (open.holdState === 'held') {
    // Our own hold reads as held. Back to available means the server let it go
    // (or this is a stale read): the renewal answers which.
    if (status === 'available') renewHold(open);
    return;
  }
  if (open.holdState === 'none' && status !== 'available' && ui.submit.textContent !== 'Booking…') {
    ui.error.textContent = 'Someone else just took this slot. Please pick another time.';
    ui.submit.disabled = true;
  }
}

async function submitBooking(event) {
  event.preventDefault();
  const open = state.dialogSlot;
  if (!open) return;
  const name = ui.name.value.trim();
  const email = ui.email.value.trim();
  if (!name) {
    ui.error.textContent = 'Please enter your name.';
    ui.name.focus();
    return;
  }
  if (!email || !ui.email.checkValidity()) {
    ui.error.textContent = 'Please enter a valid email address.';
    ui.email.focus();
    return;
  }
  ui.submit.disabled = true;
  ui.submit.textContent = 'Booking…';
  await open.holdPromise; // a quick submit waits for the hold being taken
  if (state.dialogSlot !== open) return;
  if (!BOOKABLE_HOLD_STATES.has(open.holdState)) {
    ui.submit.textContent = 'Confirm booking';
    return; // the message about the hold stays
  }
  ui.error.textContent = '';
  const held = open.holdState === 'held' ? open.hold : null;
  const headers = { 'Content-Type': 'application/json', Accept: 'application/json' };
  if (held) headers.Authorization = `Bearer ${held.token}`;
  try {
    const response = await fetch('/api/v1/bookings', {
      method: 'POST',
      headers,
      body: JSON.stringify({
        providerId: open.provider.id,
        serviceId: open.service.id,
        startTime: open.slot.startsAt,
        customer: { name, email },
        ...(held ? { holdId: held.id } : {}),
      }),
    });
    if (response.status === 201) {
      const booking = await response.json();
      // The hold became this booking: nothing to release.
      stopHoldTimers();
      open.hold = null;
      try {
        localStorage.setItem(CUSTOMER_KEY, JSON.stringify({ name, email }));
      } catch {
        // not remembered
      }
      const record = {
        id: booking.id,
        token: booking.token,
        status: booking.status,
        providerId: open.provider.id,
        providerName: open.provider.name,
        serviceName: open.service.name,
        date: open.date,
        startTime: open.slot.startTime,
        endTime: hhmm(minutes(open.slot.startTime) + open.service.durationMinutes),
        startsAt: booking.startTime,
      };
      writeBookings([...readBookings().filter((b) => b.id !== record.id), record]);
      state.dialogSlot = null;
      closeDialog();
      announce(`Booked ${record.serviceName} on ${dayLabel(record.date)} ${record.startTime}.`);
      pollSoon();
      return;
    }
    ui.submit.textContent = 'Confirm booking';
    if (held && open.hold === held && (response.status === 409 || response.status === 410)) {
      holdLost(open, 'ended');
      pollSoon();
      return;
    }
    if (response.status === 409) {
      ui.error.textContent = 'Someone else just took this slot. Please pick another time.';
      announce('Someone else just took this slot.');
      pollSoon();
      return; // keep the button disabled: this slot cannot be booked
    }
    ui.error.textContent =
      response.status === 422
        ? `Please check your details: ${await problemMessage(response)}`
        : `Booking failed: ${await problemMessage(response)}`;
    ui.submit.disabled = false;
  } catch (error) {
    ui.submit.textContent = 'Confirm booking';
    ui.error.textContent = `Booking failed: ${error.message}. Please try again.`;
    ui.submit.disabled = false;
  }
}

// ---------------------------------------------------------------- wiring

ui.provider.addEventListener('change', () => selectProvider(ui.provider.value));
ui.service.addEventListener('change', refreshBookable);
ui.prev.addEventListener('click', () => {
  if (!state.startDate) return;
  state.startDate = addDays(state.startDate, -DAYS);
  load();
});
ui.next.addEventListener('click', () => {
  if (!state.startDate) return;
  state.startDate = addDays(state.startDate, DAYS);
  load();
});
ui.calendar.addEventListener('click', (event) => {
  const button = event.target.closest('button[data-slot-id]');
  if (button) openDialog(button.dataset.slotId);
});
ui.calendar.addEventListener('animationend', (event) => event.target.classList?.remove('flash'));
ui.form.addEventListener('submit', submitBooking);
ui.close.addEventListener('click', closeDialog);
ui.retry.addEventListener('click', retryHold);
ui.dialog.addEventListener('close', () => {
  // Cancel, Escape or a booking: a hold still held is let go (a booked one is already cleared).
  const open = state.dialogSlot;
  state.dialogSlot = null;
  dropHold(open);
  if (returnFocusTo?.isConnected) returnFocusTo.focus();
  returnFocusTo = null;
});
window.addEventListener('pagehide', () => {
  // Leaving with the form open: release now (keepalive outlives the page) rather than leave it to expiry.
  const open = state.dialogSlot;
  if (open?.holdState === 'held') holdLost(open, 'hidden');
});
window.addEventListener('storage', (event) => {
  if (event.key === STORAGE_KEY) renderBookings(readBookings());
});

setMode('connecting');
renderBookings(readBookings());
loadProviders();
