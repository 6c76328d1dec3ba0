// Keeps the shown providers' times live over ONE many-providers stream
// (GET /api/v1/availability/stream?providerIds=…, up to 50 ids; a further
// stream per further 50 shown, which infinite scroll rarely reaches).
//
// The search answers are the truth; the stream only says when to ask again:
// - every `slot-changed` of a shown provider → onChange(providerId, event);
// - a `reset` (its resume point is gone) → onChange(providerId, null);
// - every stream that opens (first time, after a new page of results, after
//   a reconnect) → onOpen(): whatever changed before it opened is read then.
//   So no cursor is kept, and a reconnect loses nothing;
// - `provider-deactivated` → onGone(providerId).
// Reconnects use slotstream.js's jittered back-off; a stream gone silent is
// noticed through its visible heartbeats (watchSilence); while the tab is
// hidden for a while the streams close, and showing it again reopens them.

import { reconnectDelay, watchSilence } from '../slotstream.js';

/** The API's bound on one stream's providers. */
export const IDS_PER_STREAM = 50;
const HIDDEN_CLOSE_MS = 30000;
/** A stream the server refused (a 204 when every provider on it was deactivated): ask again rarely. */
const REFUSED_RETRY_MS = 15000;

/**
 * @param {object} handlers
 * @param {(providerId: string, event: object|null) => void} handlers.onChange
 * @param {() => void} handlers.onOpen
 * @param {(providerId: string) => void} handlers.onGone
 * @param {(status: 'idle'|'connecting'|'live'|'reconnecting'|'paused') => void} handlers.onStatus
 * @param {{ reconnectMs?: number, maxReconnectMs?: number }} [handlers.timing]
 */
export function watchProviders({ onChange, onOpen, onGone, onStatus, timing = {} }) {
  /** One entry per chunk of ids: { ids, key, source, silence, timer, failures, open }. */
  let streams = [];
  let status = null;
  let hidden = false;
  let hiddenTimer = 0;
  // How many EventSources were opened (the browser test reads it).
  const stats = { opened: 0, events: 0 };

  function report() {
    let next = 'idle';
    if (hidden) next = 'paused';
    else if (streams.length) {
      if (streams.every((s) => s.open)) next = 'live';
      else next = streams.some((s) => s.failures > 0) ? 'reconnecting' : 'connecting';
    }
    if (next === status) return;
    status = next;
    onStatus?.(next);
  }

  function stop(stream) {
    clearTimeout(stream.timer);
    stream.silence?.stop();
    stream.source?.close();
    Object.assign(stream, { source: null, silence: null, timer: 0, open: false });
  }

  function retry(stream, delay) {
    stop(stream);
    stream.failures += 1;
    stream.timer = setTimeout(() => connect(stream), delay);
    report();
  }

  function connect(stream) {
    stop(stream);
    if (hidden) return;
    const query = new URLSearchParams({ providerIds: stream.key, heartbeat: 'event' });
    const source = new EventSource(`/api/v1/availability/stream?${query}`);
    stats.opened += 1;
    stream.source = source;
    const mine = () => stream.source === source;
    stream.silence = watchSilence(() => {
      if (mine()) retry(stream, reconnectDelay(stream.failures, timing));
    });
    stream.silence.heard();
    source.onopen = () => {
      if (!mine()) return;
      stream.silence.heard();
      stream.failures = 0;
      stream.open = true;
      report();
      onOpen();
    };
    source.addEventListener('heartbeat', (message) => mine() && stream.silence.heartbeat(message));
    source.addEventListener('slot-changed', (message) => {
      if (!mine()) return;
      stream.silence.heard();
      stats.events += 1;
      let event;
      try {
        event = JSON.parse(message.data);
      } catch {
        return;
      }
      if (stream.ids.includes(event.providerId)) onChange(event.providerId, event);
    });
    source.addEventListener('reset', (message) => {
      if (!mine()) return;
      const { providerId } = JSON.parse(message.data);
      onChange(providerId, null);
    });
    source.addEventListener('provider-deactivated', (message) => {
      if (!mine()) return;
      onGone(JSON.parse(message.data).providerId);
    });
    source.onerror = () => {
      if (!mine()) return;
      // CLOSED: the server answered without a stream (EventSource does not retry those).
      const refused = source.readyState === EventSource.CLOSED;
      retry(stream, refused ? REFUSED_RETRY_MS : reconnectDelay(stream.failures, timing));
    };
    report();
  }

  /** Watch exactly these providers (in the order shown): streams whose ids are unchanged stay open. */
  function set(ids) {
    const chunks = [];
    for (let i = 0; i < ids.length; i += IDS_PER_STREAM) chunks.push(ids.slice(i, i + IDS_PER_STREAM));
    const next = chunks.map((chunk, i) => {
      const key = chunk.join(',');
      const existing = streams[i];
      if (existing?.key === key) return existing;
      if (existing) stop(existing);
      const stream = { ids: chunk, key, source: null, silence: null, timer: 0, failures: 0, open: false };
      connect(stream);
      return stream;
    });
    streams.slice(next.length).forEach(stop);
    streams = next;
    report();
  }

  function onVisibility() {
    clearTimeout(hiddenTimer);
    if (document.visibilityState === 'hidden') {
      hiddenTimer = setTimeout(() => {
        hidden = true;
        streams.forEach(stop);
        report();
      }, HIDDEN_CLOSE_MS);
    } else if (hidden) {
      hidden = false;
      streams.forEach(connect); // each open reads the results afresh
    }
  }
  document.addEventListener('visibilitychange', onVisibility);

  return {
    set,
    close() {
      streams.forEach(stop);
      streams = [];
      document.removeEventListener('visibilitychange', onVisibility);
      report();
    },
    get status() {
      return status;
    },
    get stats() {
      return { ...stats, streams: streams.length };
    },
  };
}
