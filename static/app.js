// Slotstream page: a week of a provider's slots, kept live with Server-Sent
// Events (falling back to conditional polling), with booking and cancelling.
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
  /** The slot the booking dialog is open for. */
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
const STATUS_TEXT = { available: 'Available', booked: 'Booked', blocked: 'Blocked' };

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

function slotLabel(date, slot) {
  return `${dayLabel(date)} ${slot.startTime}, ${slot.status}`;
}

function paintSlot(button, date, slot) {
  button.dataset.status = slot.status;
  button.className = `slot ${slot.status}`;
  button.setAttribute('aria-label', slotLabel(date, slot));
  button.setAttribute('aria-disabled', slot.status === 'available' ? 'false' : 'true');
  button.querySelector('.slot-text').textContent = STATUS_TEXT[slot.status] ?? slot.status;
}

function flash(button) {
  button.classList.remove('flash');
  void button.offsetWidth; // restart the animation
  button.classList.add('flash');
}

function buttonFor(id) {
  return ui.calendar.querySelector(`button[data-slot-id="${CSS.escape(id)}"]`);
}

/** Consecutive, contiguous free slots covering the service from this slot. */
function fitsService(day, index, service) {
  if (!service) return true;
  let covered = 0;
  let end = null;
  for (let i = index; i < day.slots.length; i += 1) {
    const slot = day.slots[i];
    if (slot.status !== 'available') return false;
    if (end !== null && slot.startTime !== end) return false;
    covered += minutes(slot.endTime) - minutes(slot.startTime);
    end = slot.endTime;
    if (covered >= service.durationMinutes) return true;
  }
  return false;
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

// ---------------------------------------------------------------- booking dialog

let returnFocusTo = null;

function openDialog(slotId) {
  const entry = state.slots.get(slotId);
  const service = selectedService();
  if (!entry || !service) return;
  const button = buttonFor(slotId);
  if (entry.slot.status !== 'available') {
    announce(`${dayLabel(entry.date)} ${entry.slot.startTime} is ${entry.slot.status}.`);
    return;
  }
  if (button?.classList.contains('past')) {
    announce(`${dayLabel(entry.date)} ${entry.slot.startTime} has already begun.`);
    return;
  }
  if (button?.dataset.bookable === 'false') {
    announce(
      `${service.name} takes ${service.durationMinutes} minutes; ${dayLabel(entry.date)} ${entry.slot.startTime} is not followed by enough free time. Pick another start.`,
    );
    return;
  }
  state.dialogSlot = { id: slotId, date: entry.date, slot: { ...entry.slot }, service, provider: state.provider };
  const end = hhmm(minutes(entry.slot.startTime) + service.durationMinutes);
  ui.summary.textContent = `${service.name} (${service.durationMinutes} min, ${price(service.priceCents)}) at ${state.provider.name}, ${dayLabel(entry.date)} ${entry.slot.startTime}–${end}.`;
  ui.error.textContent = '';
  ui.submit.disabled = false;
  ui.submit.textContent = 'Confirm booking';
  try {
    const saved = JSON.parse(localStorage.getItem(CUSTOMER_KEY) ?? 'null');
    if (saved && !ui.name.value) ui.name.value = saved.name ?? '';
    if (saved && !ui.email.value) ui.email.value = saved.email ?? '';
  } catch {
    // no saved customer
  }
  returnFocusTo = button;
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
  const entry = state.slots.get(open.id);
  if (entry && entry.slot.status !== 'available' && ui.submit.textContent !== 'Booking…') {
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
  ui.error.textContent = '';
  ui.submit.disabled = true;
  ui.submit.textContent = 'Booking…';
  try {
    const response = await fetch('/api/v1/bookings', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
      body: JSON.stringify({
        providerId: open.provider.id,
        serviceId: open.service.id,
        startTime: open.slot.startsAt,
        customer: { name, email },
      }),
    });
    if (response.status === 201) {
      const booking = await response.json();
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
ui.dialog.addEventListener('close', () => {
  state.dialogSlot = null;
  if (returnFocusTo?.isConnected) returnFocusTo.focus();
  returnFocusTo = null;
});
window.addEventListener('storage', (event) => {
  if (event.key === STORAGE_KEY) renderBookings(readBookings());
});

setMode('connecting');
renderBookings(readBookings());
loadProviders();
