// Browser notifications of an offer: whether the customer wants them ("Notify
// me" in the join dialog, kept in localStorage) and one system notification
// per offer, only when the customer allowed them. The permission is asked for
// from the join dialog's click (join.js), never on load.

import { mmss } from '../format.js';
import { storedValue } from '../stored-value.js';

/** '0' when the customer unticked "Notify me". */
const notifyChoice = storedValue('slotstream.notifyOffers');
/** Offers already told through a browser notification (by hold id). */
const notified = new Set();

export const notificationsAvailable = () => typeof window.Notification === 'function';
export const wantsNotifications = () => notifyChoice.read() !== '0';

export function setWantsNotifications(on) {
  notifyChoice.write(on ? '1' : '0');
}

/** A system notification for a new offer, once, when the customer allowed them (never asked for here). */
export function notify(shown, time) {
  if (!notificationsAvailable() || Notification.permission !== 'granted' || !wantsNotifications()) return;
  if (notified.has(shown.offer.holdId)) return;
  notified.add(shown.offer.holdId);
  try {
    const note = new Notification(`${time.headline} opened for you`, {
      body: `${shown.source.serviceName ?? 'Appointment'} at ${shown.source.providerName ?? 'the provider'}: held for you for ${mmss(shown.deadline - Date.now())}. Book it on the page.`,
      tag: `slotstream-offer-${shown.offer.holdId}`,
    });
    note.onclick = () => {
      window.focus();
      shown.el.querySelector('.offer-book')?.focus();
      note.close();
    };
  } catch (error) {
    // Some browsers (Chrome on Android) notify only from a service worker: the banner is there.
    console.debug('slotstream: no notification', error);
  }
}
