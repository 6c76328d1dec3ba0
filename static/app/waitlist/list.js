// The entries listed under "Your bookings": what each waits for and how it
// stands, with "Leave waitlist" (asked of the server) while it waits, else
// "Remove from list".

import { api, ui, announce } from '../state.js';
import { action, showNoBookings } from '../my-bookings.js';
import { ACTIVE, readEntries, removeEntry, storedEntry } from './storage.js';
import { windowText } from './words.js';
import { removeOffer } from './offers.js';

/** What an entry's status means, as its list item says it. */
const STATUS_WORDS = {
  waiting: 'Waiting: if a time opens, it is held for you and shown at the top of this page.',
  offered: 'A time is held for you: Book it at the top of the page.',
  expired: 'A time was held for you but ran out; you are no longer on this waitlist.',
  notified: 'A time opened and you were told; you are no longer on this waitlist.',
};

export function renderWaitlist() {
  const now = Date.now();
  const list = readEntries()
    .filter((e) => Date.parse(e.expiresAt) > now)
    .sort((a, b) => a.from.localeCompare(b.from) || a.id.localeCompare(b.id));
  ui.waitlist.replaceChildren(...list.map(entryItem));
  showNoBookings();
}

function entryItem(e) {
  const active = ACTIVE.has(e.status);
  const li = document.createElement('li');
  li.dataset.entryId = e.id;
  li.dataset.status = e.status;
  li.classList.toggle('ended', !active);
  const text = document.createElement('div');
  text.className = 'booking-text';
  const title = document.createElement('strong');
  title.textContent = `Waitlist: ${e.serviceName} · ${e.providerName}`;
  const when = document.createElement('span');
  when.className = 'when';
  when.textContent = windowText(e);
  const note = document.createElement('span');
  note.className = 'booking-note';
  note.textContent = STATUS_WORDS[e.status] ?? '';
  text.append(title, when, note);
  const actions = document.createElement('div');
  actions.className = 'actions wrap';
  actions.append(active
    ? action('Leave waitlist', 'danger-outline leave-waitlist', (button) => leave(e.id, button), `Leave the waitlist for ${e.serviceName}, ${windowText(e)}`)
    : action('Remove from list', 'secondary remove-entry', () => removeEntry(e.id), `Remove the ended waitlist for ${e.serviceName}, ${windowText(e)}, from this list`));
  li.append(text, actions);
  return li;
}

async function leave(id, button) {
  const e = storedEntry(id);
  if (!e) return;
  button.disabled = true;
  try {
    await api.leaveWaitlist(id, e.token);
  } catch (error) {
    // Gone (404) or no longer this token's: nothing left to leave.
    if (![401, 403, 404].includes(error.status)) {
      button.disabled = false;
      announce(`Could not leave the waitlist: ${error.message}`);
      return;
    }
  }
  removeOffer(id);
  removeEntry(id);
  announce(`You left the waitlist for ${e.serviceName}, ${windowText(e)}.`);
}
