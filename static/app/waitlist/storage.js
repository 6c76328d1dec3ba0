// The customer's waitlist entries as this browser keeps them (localStorage,
// next to the bookings, each with its token), the claim links opened in this
// tab (sessionStorage, the token only), and the one question the other parts
// ask of both: who can read entry `id` here.

import { state } from '../state.js';
import { storedList } from '../stored-list.js';

/** Claim links opened in this tab: { [entryId]: claim token }. */
const CLAIMS_KEY = 'slotstream.offerLinks';
/** An entry in one of these still waits, or has a time held for it. */
export const ACTIVE = new Set(['waiting', 'offered']);

/** The stored entries: { id, token, providerId, providerName, timezone, serviceId, serviceName, from, to, times, status, expiresAt, name, email }. */
const storedEntries = storedList('slotstream.waitlist');
let written = () => {};

/** Called after every write of the entries from this page (index.js: the list redrawn, the page told). */
export function afterEntriesWritten(callback) {
  written = callback;
}

/** Run `callback` whenever another tab writes the entries. */
export const onEntriesWrittenElsewhere = (callback) => storedEntries.onWrittenElsewhere(callback);

export function readEntries() {
  return storedEntries.read();
}

export function writeEntries(list) {
  storedEntries.write(list);
  written();
}

export const storedEntry = (id) => readEntries().find((e) => e.id === id) ?? null;

export function saveEntry(record) {
  writeEntries([...readEntries().filter((e) => e.id !== record.id), record]);
}

export function removeEntry(id) {
  if (storedEntry(id)) writeEntries(readEntries().filter((e) => e.id !== id));
}

export function claimTokens() {
  try {
    return JSON.parse(sessionStorage.getItem(CLAIMS_KEY) ?? '{}') ?? {};
  } catch {
    return {};
  }
}

export function writeClaimTokens(tokens) {
  try {
    sessionStorage.setItem(CLAIMS_KEY, JSON.stringify(tokens));
  } catch {
    // kept in memory only (`claims`)
  }
}

/** Offers opened from a claim link, by entry id: { id, token, claim: true, providerId, serviceId, from, to, times, … }. */
export const claims = new Map();

export function forgetClaim(id) {
  claims.delete(id);
  const tokens = claimTokens();
  if (id in tokens) {
    delete tokens[id];
    writeClaimTokens(tokens);
  }
}

/** Whoever can read entry `id` here: the stored entry (its own token), else a claim link. */
export const sourceOf = (id) => storedEntry(id) ?? claims.get(id) ?? null;
/** Whether `source` still speaks for entry `id` (stored entries are read afresh each time: compared by token). */
export const sameSource = (id, source) => sourceOf(id)?.token === source.token;

/** The entries and claim links to ask about: still waiting, or with a time held. */
export const activeSources = () => [...readEntries().filter((e) => ACTIVE.has(e.status)), ...claims.values()];

/** Whether the customer waits for `serviceId` of `providerId` on `date` (the times' waitlist panel). */
state.waitingFor = (providerId, serviceId, date) =>
  activeSources().some((e) => e.providerId === providerId && e.serviceId === serviceId && e.from <= date && date <= e.to);
