// The webhook's claim link (`/?offer=<entryId>#token=<claim token>`) opens
// the offer in any browser: the token leaves the address bar at once and is
// kept for this tab only (sessionStorage); it reads the entry and books or
// declines the offer while the offer lives, nothing else.

import { api, announce, queryParam } from '../state.js';
import { dateIn } from '../format.js';
import { claims, claimTokens, forgetClaim, storedEntry, writeClaimTokens } from './storage.js';
import { entryRead, showEnded } from './offers.js';

/**
 * A claim link (`?offer=<entryId>#token=<claim token>`): read the entry with
 * the token (this browser's own token for it, if it has the entry), take the
 * fragment out of the address bar, and show the offer, or say plainly that
 * it ended. Returns { providerId, serviceId, day } to show, or null.
 */
export async function openOfferLink(providers) {
  const id = queryParam('offer');
  if (!id) return null;
  const fragment = new URLSearchParams(location.hash.slice(1));
  const fromLink = fragment.get('token');
  if (fromLink) {
    history.replaceState(null, '', location.pathname + location.search);
    writeClaimTokens({ ...claimTokens(), [id]: fromLink });
  }
  const stored = storedEntry(id);
  const token = stored?.token ?? fromLink ?? claimTokens()[id];
  if (!token) return null;
  let answer;
  try {
    answer = await api.waitlistEntry(id, token);
  } catch (error) {
    if (stored) return { providerId: stored.providerId, serviceId: stored.serviceId, day: stored.from };
    if (error.status === undefined) {
      announce(`Could not open this offer (${error.message}); reload the page to try again.`);
      return null;
    }
    forgetClaim(id);
    showEnded(id, 'This offer has ended: the time is no longer held for you.');
    return null;
  }
  const entry = answer.body;
  const provider = providers.find((p) => p.id === entry.providerId);
  if (!provider) return null;
  const service = provider.services.find((s) => s.id === entry.serviceId);
  let source = stored;
  if (!source) {
    source = {
      id, token, claim: true, providerId: provider.id, providerName: provider.name, timezone: provider.timezone,
      serviceId: entry.serviceId, serviceName: service?.name ?? 'Appointment', from: entry.from, to: entry.to, times: entry.times ?? null,
    };
    claims.set(id, source);
  }
  entryRead(source, entry, answer.response);
  const day = entry.offer ? dateIn(entry.offer.startsAt, provider.timezone) : entry.from;
  return { providerId: provider.id, serviceId: entry.serviceId, day };
}
