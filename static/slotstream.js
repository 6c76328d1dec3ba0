// slotstream.js: the browser client of the slotstream API, an ES module with
// no build step. The booking page is built on it; any front end can import it:
//
//   import { watchAvailability } from 'https://booking.example/slotstream.js';
//   const watch = watchAvailability({ providerId, days: 7, onChange: (doc) => render(doc) });
//
// watchAvailability fetches the availability document, then streams changes
// (Server-Sent Events) from exactly the version it fetched, applying only
// events newer than what it has. It reconnects with jittered back-off and
// never gives up; on `reset` (the resume point is gone) it fetches afresh.
// A stream the server refuses (a 204 for a deactivated provider, which
// EventSource does not retry, or any error status) is followed by a
// conditional GET of the document: a 410 says the provider is gone and the
// watch ends; anything else, and the stream is tried again.
// Without EventSource it polls with If-None-Match. While the tab is hidden
// for a while it closes the stream, and resumes from its last id when shown.

/**
 * What onStatus reports: `connecting`, `live`, `reconnecting`, `paused` (tab hidden), `polling`, or `ended`
 * (the provider was deactivated: no more changes will come, and the watch stops).
 */
export const STATUSES = ['connecting', 'live', 'reconnecting', 'paused', 'polling', 'ended'];

const DEFAULTS = {
  baseUrl: '',
  days: 7,
  /** First reconnect delay, doubled per failure up to maxReconnectMs; each delay is jittered. */
  reconnectMs: 250,
  maxReconnectMs: 1000,
  /** Poll interval when EventSource is missing. */
  pollMs: 15000,
  /** Close the stream once the tab has been hidden this long. */
  hiddenCloseMs: 30000,
};

/**
 * The wait before reconnect number `failures + 1`: the step doubles from `reconnectMs` per failure up
 * to `maxReconnectMs`, and the wait is half the step plus a random half, so many clients do not return
 * at once. Shared by every live view built on this module (the booking page, the provider's agenda).
 */
export function reconnectDelay(failures, { reconnectMs = DEFAULTS.reconnectMs, maxReconnectMs = DEFAULTS.maxReconnectMs } = {}) {
  const step = Math.min(maxReconnectMs, reconnectMs * 2 ** Math.min(failures, 10));
  return step / 2 + Math.random() * (step / 2);
}

/**
 * A watch for a stream gone silent. A connection can die without an error (a
 * Wi-Fi change, a NAT that forgot it) and EventSource then waits for ever.
 * Streams opened with `heartbeat=event` send a visible `heartbeat` event
 * (`{"everySecs":N}`) first and then every period: `heard()` on every event,
 * `heartbeat(message)` on those; after three periods of nothing `onSilent`
 * runs once. `stop()` when the stream closes.
 */
export function watchSilence(onSilent) {
  let periodMs = 15000;
  let timer = 0;
  const heard = () => {
    clearTimeout(timer);
    timer = setTimeout(onSilent, 3 * periodMs);
  };
  return {
    heard,
    heartbeat(message) {
      try {
        const every = Number(JSON.parse(message.data).everySecs);
        if (Number.isFinite(every) && every > 0) periodMs = every * 1000;
      } catch {
        // An unreadable heartbeat still says the stream is alive; the period stays.
      }
      heard();
    },
    stop() {
      clearTimeout(timer);
      timer = 0;
    },
  };
}

/** The `detail` (or title) of a problem+json answer, or the status. */
export async function problemMessage(response) {
  try {
    const body = await response.json();
    return body.detail || body.title || `HTTP ${response.status}`;
  } catch {
    return `HTTP ${response.status}`;
  }
}

/** An Error carrying the HTTP status and the problem's detail. */
export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

async function request(baseUrl, path, { method = 'GET', token, body, keepalive = false } = {}) {
  const headers = { Accept: 'application/json' };
  if (token) headers.Authorization = `Bearer ${token}`;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const response = await fetch(`${baseUrl}${path}`, {
    method,
    headers,
    keepalive,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (!response.ok) throw new ApiError(response.status, await problemMessage(response));
  return { response, body: response.status === 204 ? null : await response.json() };
}

const enc = encodeURIComponent;

/** The API's calls, with `baseUrl` ('' for the same origin). Each throws ApiError on a non-2xx answer. */
export function client(baseUrl = '') {
  return {
    providers: async () => (await request(baseUrl, '/api/v1/providers')).body,
    /** Hold slots while the customer fills in a form: { id, token, expiresAt, … } and the response (its Date header). */
    hold: (hold) => request(baseUrl, '/api/v1/holds', { method: 'POST', body: hold }),
    renewHold: (hold) => request(baseUrl, `/api/v1/holds/${enc(hold.id)}/renew`, { method: 'POST', token: hold.token }),
    releaseHold: (hold, { keepalive = false } = {}) =>
      request(baseUrl, `/api/v1/holds/${enc(hold.id)}`, { method: 'DELETE', token: hold.token, keepalive }),
    /** Book; with `holdId` in `booking`, `holdToken` is the hold's token. */
    book: async (booking, holdToken) =>
      (await request(baseUrl, '/api/v1/bookings', { method: 'POST', body: booking, token: holdToken })).body,
    booking: async (id, token) => (await request(baseUrl, `/api/v1/bookings/${enc(id)}`, { token })).body,
    cancel: async (id, token) =>
      (await request(baseUrl, `/api/v1/bookings/${enc(id)}/cancel`, { method: 'POST', token })).body,
    /** Join a waitlist (DESIGN 4c): { providerId, serviceId, from, to, times?, customer } → the entry with its token (shown once). */
    joinWaitlist: async (entry) => (await request(baseUrl, '/api/v1/waitlist', { method: 'POST', body: entry })).body,
    /** A waitlist entry and its current `offer`, with the entry's token or its offer's claim token: { body, response } (its Date header). */
    waitlistEntry: (id, token) => request(baseUrl, `/api/v1/waitlist/${enc(id)}`, { token }),
    /** Leave a waitlist (the entry's own token). */
    leaveWaitlist: (id, token) => request(baseUrl, `/api/v1/waitlist/${enc(id)}`, { method: 'DELETE', token }),
    /** Decline the time held for an entry: it passes to the next in line, and the entry waits on. */
    declineOffer: (id, token) => request(baseUrl, `/api/v1/waitlist/${enc(id)}/offer`, { method: 'DELETE', token }),
    /** The booking's iCalendar file as a Blob (the token goes in a header, never in a URL). */
    calendar: async (id, token) => {
      const response = await fetch(`${baseUrl}/api/v1/bookings/${enc(id)}/calendar.ics`, {
        headers: { Authorization: `Bearer ${token}` },
      });
      if (!response.ok) throw new ApiError(response.status, await problemMessage(response));
      return response.blob();
    },
  };
}

/**
 * Keep one provider's availability current.
 *
 * @param {object} options
 * @param {string} options.providerId
 * @param {string} [options.startDate] first day (YYYY-MM-DD); default: the provider's today
 * @param {number} [options.days] days from startDate (default 7)
 * @param {(doc: object, change: {event?: object, version: number}) => void} [options.onChange]
 *   the whole document after the first fetch, every applied event, every refetch
 * @param {(info: {version: number}) => void} [options.onReset] the stream said its resume point is gone (a refetch follows)
 * @param {(status: string, info: object) => void} [options.onStatus] one of STATUSES, with counters for
 *   developers; called when the status changes and after every poll
 * @returns {{ close(): void, refresh(): Promise<void>, readonly document: object|null, readonly version: number }}
 */
export function watchAvailability(options) {
  const settings = { ...DEFAULTS, ...options };
  const { providerId, baseUrl } = settings;
  if (!providerId) throw new TypeError('watchAvailability: providerId is required');
  const streaming = typeof globalThis.EventSource === 'function';
  const base = `${baseUrl}/api/v1/providers/${enc(providerId)}/availability`;

  let doc = null;
  let etag = null;
  let version = -1;
  let source = null;
  /** The silence watch of the open stream (watchSilence). */
  let silence = null;
  let closed = false;
  let status = null;
  let failures = 0;
  let timer = 0;
  let hiddenTimer = 0;
  let generation = 0;
  const stats = { fetches: 0, notModified: 0, events: 0, duplicates: 0, reconnects: 0, resets: 0, silences: 0 };

  const query = (extra = {}) => {
    const params = new URLSearchParams();
    if (settings.startDate) params.set('startDate', settings.startDate);
    params.set('days', String(settings.days));
    for (const [key, value] of Object.entries(extra)) params.set(key, String(value));
    return params;
  };

  /** Status changes, and every poll (its counters), go to onStatus. */
  function setStatus(next, always = false) {
    if (status === next && !always) return;
    status = next;
    settings.onStatus?.(next, { version, ...stats });
  }

  function clearTimers() {
    clearTimeout(timer);
    timer = 0;
  }

  function closeStream() {
    silence?.stop();
    silence = null;
    if (source) source.close();
    source = null;
  }

  /** Jittered exponential back-off (reconnectDelay). */
  function backoff() {
    const delay = reconnectDelay(failures, settings);
    failures += 1;
    return delay;
  }

  function retryLater(what) {
    clearTimers();
    stats.reconnects += 1;
    timer = setTimeout(what, backoff());
  }

  /** Fetch the document (conditionally when polling); replaces what we have. */
  async function load({ conditional = false } = {}) {
    const mine = ++generation;
    const headers = { Accept: 'application/json' };
    if (conditional && etag) headers['If-None-Match'] = etag;
    const response = await fetch(`${base}?${query()}`, { headers, cache: 'no-store' });
    if (mine !== generation || closed) return false;
    stats.fetches += 1;
    if (response.status === 304) {
      stats.notModified += 1;
      return true;
    }
    if (!response.ok) throw new ApiError(response.status, await problemMessage(response));
    const body = await response.json();
    if (mine !== generation || closed) return false;
    doc = body;
    etag = response.headers.get('ETag');
    version = doc.version;
    if (!settings.startDate) settings.startDate = doc.startDate;
    settings.onChange?.(doc, { version });
    return true;
  }

  /** Apply one `slot-changed` event if it is newer than the document. */
  function apply(message) {
    const id = Number(message.lastEventId);
    if (!Number.isFinite(id) || id <= version) {
      stats.duplicates += 1;
      return;
    }
    let event;
    try {
      event = JSON.parse(message.data);
    } catch (error) {
      console.warn('slotstream: unreadable event', error);
      return;
    }
    version = id;
    doc.version = id;
    stats.events += 1;
    const day = doc.days.find((d) => d.date === event.date);
    const slot = day?.slots.find((s) => s.availabilityId === event.availabilityId);
    if (slot && event.newStatus === 'removed') {
      // A changed weekly schedule took the slot off the calendar.
      day.slots.splice(day.slots.indexOf(slot), 1);
    } else if (slot) {
      slot.status = event.newStatus;
    } else if (day && event.newStatus !== 'removed') {
      // A slot this document has never seen (the provider opened it): read the days afresh.
      refresh();
      return;
    }
    settings.onChange?.(doc, { event, version });
  }

  function openStream() {
    clearTimers();
    closeStream();
    if (closed) return;
    const es = new EventSource(`${base}/stream?${query({ lastEventId: version, heartbeat: 'event' })}`);
    source = es;
    const watch = watchSilence(() => {
      if (source !== es || closed) return;
      stats.silences += 1;
      closeStream();
      setStatus('reconnecting');
      retryLater(openStream);
    });
    silence = watch;
    watch.heard();
    es.addEventListener('heartbeat', (message) => watch.heartbeat(message));
    es.onopen = () => {
      if (source !== es) return;
      watch.heard();
      failures = 0;
      setStatus('live');
    };
    es.addEventListener('slot-changed', (message) => {
      if (source !== es) return;
      watch.heard();
      apply(message);
    });
    es.addEventListener('provider-deactivated', () => {
      if (source === es) end();
    });
    es.addEventListener('reset', () => {
      if (source !== es) return;
      stats.resets += 1;
      settings.onReset?.({ version });
      closeStream();
      refresh();
    });
    es.onerror = () => {
      if (source !== es) return;
      // CLOSED: the server answered, but not with a stream (EventSource gives no status).
      const refused = es.readyState === EventSource.CLOSED;
      // Our own back-off rather than EventSource's fixed retry: closed here, reopened from `version`.
      closeStream();
      setStatus('reconnecting');
      retryLater(refused ? learnWhyRefused : openStream);
    };
  }

  /** The stream was refused: a conditional GET tells a deactivated provider (410, the watch ends) from the rest. */
  async function learnWhyRefused() {
    clearTimers();
    if (closed) return;
    try {
      await load({ conditional: true });
    } catch (error) {
      if (error instanceof ApiError && error.status === 410) return end();
    }
    if (!closed) openStream();
  }

  async function poll() {
    clearTimers();
    if (closed) return;
    try {
      await load({ conditional: true });
      failures = 0;
      setStatus('polling', true);
      timer = setTimeout(poll, settings.pollMs);
    } catch {
      setStatus('reconnecting');
      retryLater(poll);
    }
  }

  /** The provider was deactivated (its last event, a refused stream, or 410 Gone): nothing more will change. */
  function end() {
    closed = true;
    clearTimers();
    closeStream();
    setStatus('ended');
  }

  /** Fetch afresh, then stream (or poll) from the fetched version. Retries until it works. */
  async function refresh() {
    clearTimers();
    closeStream();
    if (closed) return;
    try {
      if (!(await load())) return;
    } catch (error) {
      if (error instanceof ApiError && error.status === 410) return end();
      if (closed) return;
      setStatus('reconnecting');
      retryLater(refresh);
      return;
    }
    if (streaming) openStream();
    else poll();
  }

  function onVisibility() {
    if (closed) return;
    clearTimeout(hiddenTimer);
    hiddenTimer = 0;
    if (document.visibilityState === 'hidden') {
      hiddenTimer = setTimeout(() => {
        if (closed || document.visibilityState !== 'hidden') return;
        clearTimers();
        closeStream();
        setStatus('paused');
      }, settings.hiddenCloseMs);
    } else if (status === 'paused') {
      // Resume exactly where we stopped: the stream replays every change after `version`.
      if (streaming) openStream();
      else poll();
    }
  }

  if (typeof document !== 'undefined') document.addEventListener('visibilitychange', onVisibility);
  setStatus('connecting');
  refresh();

  return {
    close() {
      closed = true;
      generation += 1;
      clearTimers();
      clearTimeout(hiddenTimer);
      closeStream();
      if (typeof document !== 'undefined') document.removeEventListener('visibilitychange', onVisibility);
    },
    refresh,
    /** Poll now (after our own booking) when polling; the stream needs no nudge. */
    nudge() {
      if (!streaming && !closed) poll();
    },
    get document() {
      return doc;
    },
    get version() {
      return version;
    },
    get status() {
      return status;
    },
    get stats() {
      return { ...stats };
    },
  };
}
