// The page's shared state and its elements, one object each, so the other
// modules agree on what is selected and what is shown.

import { client } from '../slotstream.js';

export const api = client('');

const params = new URLSearchParams(location.search);
/** A number from the URL query (tests and demos tune timings there), else the fallback. */
export function numberParam(name, fallback, min) {
  const raw = params.get(name);
  const value = raw === null ? NaN : Number(raw);
  return Number.isFinite(value) && value >= min ? value : fallback;
}
export const queryParam = (name) => params.get(name);

export const DAYS = 7;

export const state = {
  providers: [],
  provider: null,
  /** The chosen service; none until the customer picks one. */
  service: null,
  /** The availability document being shown (kept current by watchAvailability). */
  doc: null,
  /** The day whose times are listed. */
  day: null,
  /** The watch over the provider's availability. */
  watch: null,
};

/** The element with this id. */
export const $ = (id) => document.getElementById(id);
export const ui = {
  providerPick: $('provider-pick'),
  provider: $('provider'),
  connection: $('connection-state'),
  providerName: $('provider-name'),
  providerAddress: $('provider-address'),
  providerDescription: $('provider-description'),
  announcer: $('announcer'),
  services: $('services'),
  tzNote: $('timezone-note'),
  picker: $('time-picker'),
  chooseFirst: $('choose-service-first'),
  prev: $('prev-week'),
  next: $('next-week'),
  dayStrip: $('day-strip'),
  dayHeading: $('day-heading'),
  times: $('times'),
  waitlistPanel: $('waitlist-panel'),
  waitlistText: $('waitlist-text'),
  waitlistJoin: $('waitlist-join'),
  bookings: $('my-bookings'),
  waitlist: $('my-waitlist'),
  offers: $('offers'),
  noBookings: $('no-bookings'),
  feedMode: $('feed-mode'),
  feedVersion: $('feed-version'),
  pollStats: $('poll-stats'),
  dialog: $('book-dialog'),
  form: $('book-form'),
  summary: $('book-summary'),
  name: $('customer-name'),
  email: $('customer-email'),
  error: $('book-error'),
  submit: $('book-submit'),
  close: $('book-close'),
  holdStatus: $('hold-status'),
  countdown: $('hold-countdown'),
  retry: $('hold-retry'),
  done: $('done-dialog'),
  doneDetails: $('done-details'),
  doneIcs: $('done-ics'),
  doneCopy: $('done-copy'),
  doneClose: $('done-close'),
  cancel: $('cancel-dialog'),
  cancelSummary: $('cancel-summary'),
  cancelError: $('cancel-error'),
  cancelConfirm: $('cancel-confirm'),
};

/** How long an announcement stays on screen. */
const ANNOUNCE_MS = 6000;
let announceTimer = 0;

export function announce(message) {
  // Cleared first so the same message twice is announced twice.
  ui.announcer.textContent = '';
  clearTimeout(announceTimer);
  requestAnimationFrame(() => {
    ui.announcer.textContent = message;
    announceTimer = setTimeout(() => { ui.announcer.textContent = ''; }, ANNOUNCE_MS);
  });
}
