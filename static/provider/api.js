// The provider's calls to the API, authenticated by the session cookie
// (HttpOnly, SameSite=Strict: the page never sees it; same-origin fetches
// carry it, and the browser adds the Origin header the server checks on
// writes). Every write sends a JSON body with Content-Type: application/json.
// Each call throws slotstream.js's ApiError (status and the problem's detail)
// on a non-2xx answer, and a TypeError when the server cannot be reached.

import { ApiError, problemMessage } from '../slotstream.js';

const enc = encodeURIComponent;

async function call(path, { method = 'GET', body } = {}) {
  const write = method !== 'GET';
  const response = await fetch(path, {
    method,
    headers: write ? { Accept: 'application/json', 'Content-Type': 'application/json' } : { Accept: 'application/json' },
    body: write ? JSON.stringify(body ?? {}) : undefined,
    cache: 'no-store',
    credentials: 'same-origin',
  });
  if (!response.ok) throw new ApiError(response.status, await problemMessage(response));
  if (response.status === 204) return null;
  const text = await response.text();
  return text ? JSON.parse(text) : null;
}

const provider = (id) => `/api/v1/providers/${enc(id)}`;

export const api = {
  /** Trade a sign-in link's one-use code for a session: { providerId, name, timezone, expiresAt }. */
  signIn: (code) => call('/api/v1/provider-session', { method: 'POST', body: { code } }),
  /** The session this browser has, or ApiError 401. */
  session: () => call('/api/v1/provider-session'),
  signOut: () => call('/api/v1/provider-session/sign-out', { method: 'POST' }),
  agenda: (providerId, date, days) => call(`${provider(providerId)}/agenda?${new URLSearchParams({ date, days: String(days) })}`),
  agendaStreamUrl: (providerId, lastEventId) =>
    `${provider(providerId)}/agenda/stream${lastEventId >= 0 ? `?lastEventId=${enc(lastEventId)}` : ''}`,
  block: (providerId, slotId) => call(`${provider(providerId)}/slots/${enc(slotId)}/block`, { method: 'POST' }),
  unblock: (providerId, slotId) => call(`${provider(providerId)}/slots/${enc(slotId)}/unblock`, { method: 'POST' }),
  /** Every free (block) or blocked (unblock) slot starting in [from, to): { changed, skipped }. */
  blockRange: (providerId, from, to) => call(`${provider(providerId)}/slots/block`, { method: 'POST', body: { from, to } }),
  unblockRange: (providerId, from, to) => call(`${provider(providerId)}/slots/unblock`, { method: 'POST', body: { from, to } }),
  cancel: (bookingId, reason) =>
    call(`/api/v1/bookings/${enc(bookingId)}/cancel`, { method: 'POST', body: reason ? { reason } : {} }),
  move: (bookingId, startTime) => call(`/api/v1/bookings/${enc(bookingId)}/reschedule`, { method: 'POST', body: { startTime } }),
};

/** An error in words a person at a front desk can act on. */
export function plainError(error) {
  if (error instanceof ApiError) {
    if (error.status === 401) return 'You are signed out. Open the sign-in link from your marketplace again.';
    if (error.status === 429) return `Too many changes at once; wait a moment and try again. (${error.message})`;
    if (error.status >= 500) return `The server had a problem (${error.message}). Try again in a moment.`;
    return error.message;
  }
  return 'Could not reach the server. Check the connection and try again.';
}

export { ApiError };
