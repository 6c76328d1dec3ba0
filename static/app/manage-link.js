// The manage link of a booking (`/#booking=<id>&token=<token>`: the token in
// the URL fragment, which browsers never send to a server) and the words for
// it, one wording wherever the page, the calendar file or a button names it.

import { announce } from './state.js';

/** What every button that copies it says. */
export const COPY_LABEL = 'Copy manage link';

export const manageLink = (b) => `${location.origin}${location.pathname}#booking=${encodeURIComponent(b.id)}&token=${encodeURIComponent(b.token)}`;

/** "Manage link (to see or cancel this booking): https://…", for calendar entries. */
export const manageLinkLine = (b) => `Manage link (to see or cancel this booking): ${manageLink(b)}`;

export async function copyManageLink(b, button) {
  const link = manageLink(b);
  try {
    await navigator.clipboard.writeText(link);
    announce('Manage link copied.');
  } catch {
    // No clipboard (insecure origin, or refused): show it to copy by hand.
    window.prompt('Your manage link (keep it private):', link);
  }
  if (button) {
    button.textContent = 'Copied';
    setTimeout(() => { button.textContent = COPY_LABEL; }, 1500);
  }
}
