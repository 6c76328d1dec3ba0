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
/** `?debug` in the URL: the developer panel and the all-providers select are shown. */
export const debug = params.has('debug');

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
  toast: $('toast'),
  services: $('services'),
  tzNote: $('timezone-note'),
  picker: $('time-picker'),
  chooseFirst: $('choose-service-first'),
  prev: $('prev-week'),
  next: $('next-week'),
  dayStrip: $('day-strip'),
  weekRange: $('week-range'),
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
  alternatives: $('book-alternatives'),
  done: $('done-dialog'),
  doneDetails: $('done-details'),
  doneCalendar: $('done-calendar'),
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

/**
 * Say `message`: to a screen reader through the live region (#announcer), and
 * on screen as a toast. With a dialog open the toast goes inside it, on top:
 * a dialog is drawn above everything else (its backdrop too), and inside it
 * the toast takes its own room rather than lying over the dialog's buttons.
 */
export function announce(message) {
  // Cleared first so the same message twice is announced twice.
  ui.announcer.textContent = '';
  clearTimeout(announceTimer);
  requestAnimationFrame(() => {
    ui.announcer.textContent = message;
    const dialog = document.querySelector('dialog[open]');
    if (dialog) dialog.prepend(ui.toast);
    else if (ui.toast.parentElement !== document.body) document.body.append(ui.toast);
    ui.toast.textContent = message;
    announceTimer = setTimeout(() => {
      ui.announcer.textContent = '';
      ui.toast.textContent = '';
    }, ANNOUNCE_MS);
  });
}
