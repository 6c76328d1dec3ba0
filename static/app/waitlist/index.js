// The waitlist with fair offers (DESIGN 4c, issue 25) on the customer's page:
// what app.js imports, and where the parts below are wired together.
//
// A fully booked day offers "Tell me if a time opens" (join.js); the entries
// are kept in this browser (storage.js) and listed under "Your bookings" with
// "Leave waitlist" (list.js). When a time opens that fits an entry, the
// server holds it for the first in line; the page asks whether the offer is
// the customer's and shows it as a banner with a countdown, "Book it" and
// "No thanks" (offers.js), and as a browser notification when the customer
// allowed them (notifications.js). The webhook's claim link opens the offer
// in any browser (claim-link.js). words.js says windows and times in words.

import { afterEntriesWritten, onEntriesWrittenElsewhere } from './storage.js';
import { renderWaitlist } from './list.js';
import { afterOffersChanged, checkAllEntries } from './offers.js';
import './join.js';

export { renderWaitlist } from './list.js';
export { checkAllEntries, streamBack, waitlistChanged } from './offers.js';
export { openOfferLink } from './claim-link.js';

let changed = () => {};

/** Called after the entries or the offers change (the times redraw "held for you" and the waitlist panel). */
export function onWaitlistChanged(callback) {
  changed = callback;
}

afterEntriesWritten(() => {
  renderWaitlist();
  changed();
});
afterOffersChanged(() => changed());
onEntriesWrittenElsewhere(() => {
  renderWaitlist();
  changed();
  checkAllEntries();
});
