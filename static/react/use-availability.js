// use-availability.js: a React hook over slotstream.js. The seed design's
// `useAvailabilityPolling(providerId, startDate, days)` fetched the whole
// week every 15 seconds; this one keeps it live with watchAvailability:
// one fetch, then the stream's changes from exactly the fetched version
// (reconnecting and resuming with no gap), or polls with If-None-Match
// (mostly 304s) only when the browser has no EventSource.
//
//   import { useAvailability } from 'slotstream/react';
//   const { availability, status, lastUpdated } = useAvailability({ providerId, startDate, days: 7 });
//
// Each change renders a new document object; a day the change did not touch
// keeps its object, so memoised day components skip it. Changing providerId,
// startDate, days or baseUrl starts a new watch (the old one is closed, and
// its document is not shown for the new query); unmounting closes it.

import { useCallback, useEffect, useRef, useState } from 'react';
import { watchAvailability } from '../slotstream.js';

/** The slots of a day, copied (the watch changes its own document in place). */
const copyDay = (day) => ({ ...day, slots: day.slots.map((slot) => ({ ...slot })) });

/**
 * A snapshot of the watch's document: after a fetch, a full copy; after an
 * event, only the event's day is copied and the others are `previous`'s.
 */
export function snapshot(doc, previous, event) {
  const sameDays =
    event && previous && previous.days.length === doc.days.length && previous.days.every((d, i) => d.date === doc.days[i].date);
  if (!sameDays) return { ...doc, days: doc.days.map(copyDay) };
  return { ...doc, days: doc.days.map((day, i) => (day.date === event.date ? copyDay(day) : previous.days[i])) };
}

/**
 * Keep one provider's availability current in a component.
 *
 * @param {object} options `providerId` (nothing is watched while it is empty), `startDate`
 *   (`YYYY-MM-DD`, default the provider's today), `days` (default 7), `baseUrl`, and the module's
 *   timing options `pollMs`, `reconnectMs`, `maxReconnectMs`, `hiddenCloseMs`
 * @returns {{ availability: object|null, status: string, lastUpdated: number|null, refresh(): Promise<void> }}
 */
export function useAvailability({ providerId, startDate, days = 7, baseUrl = '', pollMs, reconnectMs, maxReconnectMs, hiddenCloseMs } = {}) {
  // The query this state belongs to: a state left by an earlier query is never shown for this one.
  const query = JSON.stringify([providerId || null, startDate || null, days, baseUrl]);
  const [state, setState] = useState(null);
  const watchRef = useRef(null);

  useEffect(() => {
    if (!providerId) return undefined;
    let stopped = false;
    /** This watch's last snapshot. */
    let latest = null;
    const update = (change) =>
      setState((previous) => {
        const base = previous?.query === query ? previous : { query, availability: null, status: 'connecting', lastUpdated: null };
        const next = change(base);
        // Nothing new (a poll that found no change): the same state, so no render.
        if (!next && base === previous) return previous;
        return { ...base, ...next };
      });
    const timing = Object.fromEntries(
      Object.entries({ pollMs, reconnectMs, maxReconnectMs, hiddenCloseMs }).filter(([, value]) => value !== undefined),
    );
    const watch = watchAvailability({
      providerId,
      startDate,
      days,
      baseUrl,
      ...timing,
      onChange: (doc, { event }) => {
        if (stopped) return;
        // Copied now: the watch goes on changing `doc` in place before React runs the update.
        latest = snapshot(doc, latest, event);
        const change = { availability: latest, lastUpdated: Date.now() };
        update(() => change);
      },
      onStatus: (status) => {
        if (stopped) return;
        update((base) => (base.status === status ? null : { status }));
      },
    });
    watchRef.current = watch;
    return () => {
      stopped = true;
      watch.close();
      if (watchRef.current === watch) watchRef.current = null;
    };
    // `query` stands for providerId, startDate, days and baseUrl.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [query, pollMs, reconnectMs, maxReconnectMs, hiddenCloseMs]);

  const refresh = useCallback(() => watchRef.current?.refresh() ?? Promise.resolve(), []);
  if (!providerId) return { availability: null, status: 'idle', lastUpdated: null, refresh };
  if (state?.query !== query) return { availability: null, status: 'connecting', lastUpdated: null, refresh };
  return { availability: state.availability, status: state.status, lastUpdated: state.lastUpdated, refresh };
}
