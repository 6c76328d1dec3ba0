// The search API as this page calls it: one page of results (a conditional
// GET: the body of an answer already held is reused on a 304), retried while
// the server's index is still loading (503 with Retry-After), and the
// service-name suggestions.

import { ApiError, problemMessage } from '../slotstream.js';

/** Answers held per URL, for If-None-Match: { etag, body }. Bounded: the oldest go first. */
const held = new Map();
const HELD_MAX = 64;
/** Longest wait for a loading index between tries. */
const RETRY_MAX_MS = 5000;

const sleep = (ms, signal) =>
  new Promise((resolve, reject) => {
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener('abort', () => {
      clearTimeout(timer);
      reject(signal.reason);
    }, { once: true });
  });

/** How long a 503 asks us to wait (Retry-After in seconds), within reason. */
function retryAfterMs(response) {
  const seconds = Number(response.headers.get('Retry-After'));
  return Math.min(RETRY_MAX_MS, Number.isFinite(seconds) && seconds > 0 ? seconds * 1000 : 1000);
}

/**
 * One page of a search: `query` (URLSearchParams of params.apiQuery), `limit`,
 * `cursor` (the previous page's). Resolves { body, fresh } where `fresh` is
 * false when the server said nothing changed (304). Throws ApiError on a 4xx
 * or 5xx other than a loading index; an AbortError when `signal` aborts.
 */
export async function searchPage(query, { limit, cursor, signal } = {}) {
  const params = new URLSearchParams(query);
  params.set('limit', String(limit));
  if (cursor) params.set('cursor', cursor);
  const url = `/api/v1/search?${params}`;
  for (;;) {
    const known = held.get(url);
    const headers = { Accept: 'application/json' };
    if (known) headers['If-None-Match'] = known.etag;
    // no-store: the conditional request is ours, not the HTTP cache's.
    const response = await fetch(url, { headers, signal, cache: 'no-store' });
    if (response.status === 304 && known) return { body: known.body, fresh: false };
    if (response.status === 503) {
      await sleep(retryAfterMs(response), signal); // the index is loading: ask again
      continue;
    }
    if (!response.ok) throw new ApiError(response.status, await problemMessage(response));
    const body = await response.json();
    const etag = response.headers.get('ETag');
    held.delete(url);
    if (etag) held.set(url, { etag, body });
    if (held.size > HELD_MAX) held.delete(held.keys().next().value);
    return { body, fresh: true };
  }
}

/** Service names containing `text`, the most offered first: [{ name, providers }]. */
export async function suggestServices(text, { signal } = {}) {
  const response = await fetch(`/api/v1/search/services?${new URLSearchParams({ q: text })}`, {
    headers: { Accept: 'application/json' },
    signal,
  });
  if (!response.ok) throw new ApiError(response.status, await problemMessage(response));
  return (await response.json()).services ?? [];
}
