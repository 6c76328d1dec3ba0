// The provider's agenda, kept current: fetch the agenda document, then
// follow the agenda stream (Server-Sent Events, cookie auth) from exactly
// the version fetched, applying only what is newer.
//
// It follows slotstream.js's watchAvailability (same back-off, same "a
// refused stream is followed by one look at the document" rule) with what a
// front desk needs on top:
// - it never pauses while the tab is hidden: the desk must hear a booking
//   arrive (sound, tab title) while it looks at something else;
// - after a lost connection it resumes from its last id and, once the stream
//   is back, fetches the agenda afresh (events meanwhile are held and applied
//   after it, so nothing is lost or applied twice);
// - booking events fill in the customer's name and service; a booking event
//   carries the version of the last slot change of its transaction, so booking
//   events apply at an equal version too (they are idempotent), slot changes
//   only above it;
// - `session-ended` and a 401 end the watch as signed out; `provider-deactivated`
//   and a 410 end it as deactivated.

import { reconnectDelay, watchSilence } from '../slotstream.js';
import { api, ApiError } from './api.js';

const BOOKING_EVENTS = ['booking-created', 'booking-cancelled', 'booking-rescheduled'];

/**
 * @param {object} options
 * @param {string} options.providerId
 * @param {string} options.startDate first day shown (YYYY-MM-DD)
 * @param {number} options.days days from startDate
 * @param {(doc: object, change: {event?: object, type?: string, arrived?: string[]}) => void} options.onChange
 *   the whole document after each fetch and each applied event; `arrived`: bookings new to the page
 * @param {(status: string) => void} options.onStatus connecting, live, reconnecting
 * @param {(why: 'signed-out'|'deactivated') => void} options.onEnd the watch stopped for good
 * @param {(error: Error) => void} [options.onError] a fetch failed (it is retried)
 * @param {(error: ApiError) => void} [options.onRefused] the days asked for were refused (a 4xx); nothing is
 *   retried until setRange or refresh
 */
export function watchAgenda(options) {
  const settings = { reconnectMs: 250, maxReconnectMs: 1000, ...options };
  const { providerId } = settings;

  let doc = null;
  let version = -1;
  /** The stream's last event id: where a reconnect resumes (the server replays everything after it). */
  let cursor = -1;
  let source = null;
  let closed = false;
  let status = null;
  let failures = 0;
  let timer = 0;
  let generation = 0;
  /** A connection was lost since the last fetch: fetch afresh once the stream is back. */
  let gap = false;
  /** Events that arrive while a fetch over an open stream is under way, applied after it. */
  let held = null;
  const stats = { fetches: 0, events: 0, duplicates: 0, reconnects: 0, resets: 0, silences: 0 };
  /** The silence watch of the open stream (watchSilence): a desk's page stays open all day. */
  let silence = null;

  function setStatus(next) {
    if (status === next) return;
    status = next;
    settings.onStatus?.(next);
  }

  function clearTimer() {
    clearTimeout(timer);
    timer = 0;
  }

  function closeStream() {
    silence?.stop();
    silence = null;
    source?.close();
    source = null;
    held = null;
  }

  function retryLater(what) {
    clearTimer();
    stats.reconnects += 1;
    timer = setTimeout(what, reconnectDelay(failures, settings));
    failures += 1;
  }

  function end(why) {
    if (closed) return;
    closed = true;
    generation += 1;
    clearTimer();
    closeStream();
    window.removeEventListener('online', onOnline);
    settings.onEnd?.(why);
  }

  /** Booking ids a document shows. */
  const bookingIds = (d) => new Set(d ? d.days.flatMap((day) => day.slots.map((s) => s.booking?.id).filter(Boolean)) : []);

  /** Fetch the document; replaces what we have. Returns false when overtaken or closed. */
  async function load({ diff = false } = {}) {
    const mine = ++generation;
    const body = await api.agenda(providerId, settings.startDate, settings.days);
    if (mine !== generation || closed) return false;
    stats.fetches += 1;
    // Bookings made while we were away are new to the desk too (a fresh range's are not).
    const before = diff && doc ? bookingIds(doc) : null;
    doc = body;
    version = body.version;
    cursor = body.version;
    const arrived = before ? [...bookingIds(doc)].filter((id) => !before.has(id)) : [];
    settings.onChange?.(doc, { arrived });
    return true;
  }

  const slotsOf = (d) => d.days.flatMap((day) => day.slots);

  /** The slots of the document inside [from, to). */
  function slotsIn(from, to) {
    const a = Date.parse(from);
    const b = Date.parse(to);
    return slotsOf(doc).filter((s) => Date.parse(s.startsAt) >= a && Date.parse(s.startsAt) < b);
  }

  function fillBooking(event) {
    const booking = {
      id: event.bookingId,
      serviceId: event.serviceId,
      serviceName: event.serviceName,
      startsAt: event.startTime,
      endsAt: event.endTime,
      customer: event.customer ?? null,
    };
    for (const slot of slotsIn(event.startTime, event.endTime)) {
      slot.booking = booking;
      slot.status = 'booked';
      delete slot.hold;
    }
  }

  function clearBooking(bookingId) {
    for (const slot of slotsOf(doc)) {
      if (slot.booking?.id !== bookingId) continue;
      delete slot.booking;
      // The slot-changed events of the same transaction say what it is now; until then it is no longer booked.
      if (slot.status === 'booked') slot.status = 'available';
    }
  }

  /**
   * Apply one event if it is newer than the document. The server writes an
   * `id:` only on the last frame of a version (a booking's slot changes and
   * its booking event share one), so a slot change's own version is in its
   * data, and the stream's id (the resume cursor) may lag behind it.
   */
  function apply(type, message) {
    let event;
    try {
      event = JSON.parse(message.data);
    } catch (error) {
      console.warn('agenda: unreadable event', error);
      return;
    }
    const id = Number(message.lastEventId);
    if (Number.isFinite(id) && id > cursor) cursor = id;
    const isBooking = BOOKING_EVENTS.includes(type);
    const at = !isBooking && Number.isFinite(event.version) ? event.version : id;
    if (!Number.isFinite(at) || at < version || (at === version && !isBooking)) {
      stats.duplicates += 1;
      return;
    }
    version = at;
    doc.version = at;
    stats.events += 1;
    if (isBooking && !event.serviceName) {
      // Booking events may leave the service's name out: the document's services know it.
      event.serviceName = doc.services?.find((s) => s.id === event.serviceId)?.name ?? 'Appointment';
    }
    let arrived = [];
    if (type === 'slot-changed') {
      const day = doc.days.find((d) => d.date === event.date);
      const slot = day?.slots.find((s) => s.availabilityId === event.availabilityId);
      if (slot && event.newStatus === 'removed') {
        day.slots.splice(day.slots.indexOf(slot), 1);
      } else if (slot) {
        slot.status = event.newStatus;
        if (event.newStatus !== 'booked') delete slot.booking;
        if (event.newStatus !== 'held') delete slot.hold;
        // A hold's service and end are not in the public change; the agenda shows the hold by its time.
        if (event.newStatus === 'held' && !slot.hold) slot.hold = {};
      } else if (day) {
        // A slot this document has never seen (opened meanwhile): read the days afresh.
        resync();
        return;
      }
    } else if (type === 'booking-created') {
      const known = bookingIds(doc).has(event.bookingId);
      fillBooking(event);
      if (!known && event.status !== 'cancelled') arrived = [event.bookingId];
    } else if (type === 'booking-cancelled') {
      clearBooking(event.bookingId);
    } else if (type === 'booking-rescheduled') {
      clearBooking(event.bookingId);
      fillBooking(event);
    }
    settings.onChange?.(doc, { event, type, arrived });
  }

  function onEvent(es, type) {
    return (message) => {
      if (source !== es) return;
      silence?.heard();
      if (held) held.push([type, message]);
      else apply(type, message);
    };
  }

  function openStream() {
    clearTimer();
    closeStream();
    if (closed) return;
    const es = new EventSource(api.agendaStreamUrl(providerId, cursor));
    source = es;
    silence = watchSilence(() => {
      if (source !== es || closed) return;
      stats.silences += 1;
      closeStream();
      gap = true;
      setStatus('reconnecting');
      retryLater(openStream);
    });
    silence.heard();
    es.addEventListener('heartbeat', (message) => {
      if (source === es) silence.heartbeat(message);
    });
    es.onopen = () => {
      if (source !== es) return;
      silence?.heard();
      failures = 0;
      setStatus('live');
      if (gap) {
        gap = false;
        resync();
      }
    };
    for (const type of ['slot-changed', ...BOOKING_EVENTS]) es.addEventListener(type, onEvent(es, type));
    es.addEventListener('reset', () => {
      if (source !== es) return;
      stats.resets += 1;
      refresh({ diff: true });
    });
    es.addEventListener('session-ended', () => {
      if (source === es) end('signed-out');
    });
    es.addEventListener('provider-deactivated', () => {
      if (source === es) end('deactivated');
    });
    es.onerror = () => {
      if (source !== es) return;
      // CLOSED: the server answered, but not with a stream (a 401, a 204 for a deactivated provider, …).
      const refused = es.readyState === EventSource.CLOSED;
      closeStream();
      gap = true;
      setStatus('reconnecting');
      retryLater(refused ? learnWhyRefused : openStream);
    };
  }

  /** The stream was refused: one look at the document tells signed out (401) or deactivated (410) from the rest. */
  async function learnWhyRefused() {
    clearTimer();
    if (closed) return;
    try {
      if (!(await load({ diff: true }))) return;
      gap = false;
    } catch (error) {
      if (stopsWatch(error)) return;
    }
    if (!closed) openStream();
  }

  function stopsWatch(error) {
    if (!(error instanceof ApiError)) return false;
    if (error.status === 401) end('signed-out');
    else if (error.status === 410) end('deactivated');
    else return false;
    return true;
  }

  /** Fetch afresh over the open stream: events arriving meanwhile wait, and those newer than the fetch apply after it. */
  async function resync() {
    if (closed || !source || held) return;
    const es = source;
    held = [];
    try {
      await load({ diff: true });
    } catch (error) {
      if (stopsWatch(error)) return;
      settings.onError?.(error);
    }
    if (source !== es || closed) return;
    const waiting = held ?? [];
    held = null;
    for (const [type, message] of waiting) apply(type, message);
  }

  /** Fetch afresh, then stream from the fetched version. Retries until it works. */
  async function refresh({ diff = false } = {}) {
    clearTimer();
    closeStream();
    if (closed) return;
    try {
      if (!(await load({ diff }))) return;
      gap = false;
    } catch (error) {
      if (stopsWatch(error) || closed) return;
      if (refusedForGood(error)) {
        // Asking again would get the same answer (days out of range, …): the page decides what to show instead.
        settings.onRefused?.(error);
        return;
      }
      settings.onError?.(error);
      setStatus('reconnecting');
      retryLater(() => refresh({ diff: true }));
      return;
    }
    openStream();
  }

  /** A 4xx that retrying cannot change (not a timeout or a rate limit). */
  const refusedForGood = (error) =>
    error instanceof ApiError && error.status >= 400 && error.status < 500 && ![408, 425, 429].includes(error.status);

  /** The device is back on a network: no need to wait out the back-off. */
  function onOnline() {
    if (closed || status !== 'reconnecting' || !timer) return;
    clearTimer();
    failures = 0;
    if (doc) openStream();
    else refresh();
  }

  window.addEventListener('online', onOnline);
  setStatus('connecting');
  refresh();

  return {
    /** Stop for good: no stream, no timer, no listener. */
    close() {
      closed = true;
      generation += 1;
      clearTimer();
      closeStream();
      window.removeEventListener('online', onOnline);
    },
    /** Show other days: fetch them and stream on. */
    setRange(startDate, days) {
      settings.startDate = startDate;
      settings.days = days;
      refresh();
    },
    /** Fetch afresh now (after a write while the stream is down). */
    refresh: () => refresh({ diff: true }),
    get document() {
      return doc;
    },
    get version() {
      return version;
    },
    get status() {
      return status;
    },
    get range() {
      return { startDate: settings.startDate, days: settings.days };
    },
    get stats() {
      return { ...stats };
    },
  };
}
