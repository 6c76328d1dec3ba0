// One search's results: the pages loaded as the customer scrolls, a card
// per provider, and the cards kept current. A change on the stream to a
// shown provider first takes the times it overlaps off that card at once
// (within a second, whatever the load), then, debounced, the loaded range
// is read again (conditional GETs, pages of 50 from the start until every
// shown provider is found or the results end) and each card is brought up
// to date in place. Cards keep their places; one whose provider no longer
// has a fitting time says so. Every minute the range is read again too, as
// times that have begun drop out. Providers that start to fit later are
// shown by the next search, not inserted among the cards.

import { searchPage } from './api.js';
import { createCard, markGone, resultOf, updateCard, withoutOverlap } from './cards.js';
import { watchProviders } from './live.js';

/** Changes arriving together are read once. */
const REFRESH_DELAY_MS = 150;
/** The largest page the API gives, used to read the loaded range again. */
const REFRESH_PAGE = 50;
/** After a failed re-read, try again this much later. */
const REFRESH_RETRY_MS = 2000;
/** Times pass without events (a time that has begun is no longer offered): read again this often. */
const CLOCK_REFRESH_MS = 60000;

const aborted = (error) => error?.name === 'AbortError';

/**
 * @param {object} options
 * @param {HTMLElement} options.list where the cards go
 * @param {number} options.limit providers per page
 * @param {(view: object) => void} options.onState what to say: { phase, shown, open, done, error }
 * @param {(status: string) => void} options.onStatus the stream's status (see live.js)
 */
export function createResults({ list, limit, onState, onStatus, timing }) {
  /** The search under way: see start(). */
  let run = null;
  const live = watchProviders({
    onChange: changed,
    onOpen: () => run && scheduleRefresh(run),
    onGone: gone,
    onStatus,
    timing,
  });

  setInterval(() => {
    if (run && document.visibilityState === 'visible') scheduleRefresh(run);
  }, CLOCK_REFRESH_MS);

  function watched(r) {
    return [...r.cards.keys()].filter((id) => !r.gone.has(id));
  }

  function report(r) {
    if (r !== run) return;
    const cards = [...r.cards.values()];
    onState({
      phase: r.loading && cards.length === 0 ? 'searching' : r.loading ? 'loading' : 'idle',
      shown: cards.length,
      open: cards.filter((c) => c.dataset.state === 'open').length,
      done: r.done,
      error: r.error,
      search: r.search,
    });
  }

  /** A new search: the old one's requests are dropped, its cards removed. */
  function start(search, query) {
    if (run) {
      run.controller.abort();
      clearTimeout(run.refreshTimer);
    }
    run = {
      search,
      query,
      controller: new AbortController(),
      cards: new Map(),
      gone: new Set(),
      cursor: null,
      done: false,
      loading: false,
      error: null,
      refreshTimer: 0,
      refreshing: false,
      dirty: false,
      /** Changes seen while a re-read is under way, applied again over its answer. */
      seen: [],
    };
    list.replaceChildren();
    list.setAttribute('aria-busy', 'true');
    live.set([]);
    return loadMore();
  }

  /** The next page (after the last one loaded), when there is one. */
  async function loadMore() {
    const r = run;
    if (!r || r.loading || r.done) return;
    r.loading = true;
    r.error = null;
    report(r);
    try {
      const { body } = await searchPage(r.query, { limit, cursor: r.cursor, signal: r.controller.signal });
      if (r !== run) return;
      const fresh = body.results.filter((result) => !r.cards.has(result.providerId));
      for (const result of fresh) {
        const card = createCard(result);
        r.cards.set(result.providerId, card);
        list.append(card);
      }
      r.cursor = body.cursor ?? null;
      r.done = !body.cursor;
      live.set(watched(r));
    } catch (error) {
      if (aborted(error) || r !== run) return;
      r.error = error;
    } finally {
      r.loading = false;
      if (r === run) list.setAttribute('aria-busy', 'false');
      report(r);
    }
  }

  function changed(providerId, event) {
    const r = run;
    const card = r?.cards.get(providerId);
    if (!card || r.gone.has(providerId)) return;
    if (event) {
      const before = resultOf(card);
      const after = withoutOverlap(before, event);
      if (after !== before) {
        updateCard(card, after);
        report(r);
      }
      if (r.refreshing) r.seen.push(event);
    }
    scheduleRefresh(r);
  }

  function gone(providerId) {
    const r = run;
    const card = r?.cards.get(providerId);
    if (!card) return;
    r.gone.add(providerId);
    markGone(card);
    live.set(watched(r));
    report(r);
  }

  function scheduleRefresh(r) {
    if (r !== run || r.refreshTimer) return;
    r.refreshTimer = setTimeout(() => {
      r.refreshTimer = 0;
      refresh(r);
    }, REFRESH_DELAY_MS);
  }

  /** Read the loaded range again and bring every card up to date. */
  async function refresh(r) {
    if (r !== run) return;
    if (r.refreshing) {
      r.dirty = true;
      return;
    }
    const wanted = watched(r);
    if (wanted.length === 0) return;
    r.refreshing = true;
    r.seen = [];
    try {
      const found = new Map();
      let cursor = null;
      let end = false;
      const maxPages = Math.ceil(wanted.length / REFRESH_PAGE) + 1;
      for (let page = 0; page < maxPages; page += 1) {
        const { body } = await searchPage(r.query, { limit: REFRESH_PAGE, cursor, signal: r.controller.signal });
        if (r !== run) return;
        for (const result of body.results) found.set(result.providerId, result);
        if (!body.cursor) {
          end = true;
          break;
        }
        if (wanted.every((id) => found.has(id))) break;
        cursor = body.cursor;
      }
      for (const id of wanted) {
        const card = r.cards.get(id);
        if (!card || r.gone.has(id)) continue;
        let result = found.get(id);
        // Not found although the results ended: no fitting time left. Not found before the end
        // (read no further): it keeps the times the stream has not taken.
        if (!result && end) result = { ...resultOf(card), times: [] };
        if (!result) continue;
        for (const event of r.seen) if (event.providerId === id) result = withoutOverlap(result, event);
        updateCard(card, result);
      }
      report(r);
    } catch (error) {
      if (aborted(error) || r !== run) return;
      console.warn('search: re-reading the results failed; trying again', error);
      setTimeout(() => scheduleRefresh(r), REFRESH_RETRY_MS);
    } finally {
      r.refreshing = false;
      r.seen = [];
      if (r.dirty && r === run) {
        r.dirty = false;
        scheduleRefresh(r);
      }
    }
  }

  return {
    start,
    loadMore,
    get hasMore() {
      return Boolean(run && !run.done);
    },
    get loading() {
      return Boolean(run?.loading);
    },
    get live() {
      return live;
    },
  };
}
