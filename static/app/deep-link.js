// A link that opens a provider's page with a service and a time chosen, the
// booking form open and its hold taken, as a tap on the time would:
//   /?provider=<id>&service=<serviceId>&time=<startsAt, RFC 3339>
// (the search page's time buttons). linkedChoice() reads it before the
// provider is shown (selectProvider takes the service and the time's day);
// openLinkedTime() then waits for that day's times to be drawn and clicks
// the time's button, so the page's own handler opens the form and takes the
// hold. A time no longer free (taken, held, past, gone) is said, and the
// day's times are shown instead. The `time` leaves the address bar once
// used, so a reload does not take a second hold.

import { state, ui, announce, queryParam } from './state.js';
import { clockIn, dateIn, longDayLabel, zoneInWords } from './format.js';

/** How long to wait for the provider's times before giving up on the linked time. */
const WAIT_MS = 30000;

/**
 * The provider, service and time a link names: { providerId, serviceId, time, day }
 * (day: the time's date in the provider's zone), or null when it names no known provider.
 */
export function linkedChoice(providers) {
  const providerId = queryParam('provider');
  const provider = providers.find((p) => p.id === providerId);
  if (!provider) return null;
  const serviceId = queryParam('service');
  const time = queryParam('time');
  const instant = time ? Date.parse(time) : NaN;
  const service = provider.services.find((s) => s.id === serviceId);
  if (!service) return null;
  return {
    providerId,
    serviceId,
    time: Number.isFinite(instant) ? time : null,
    day: Number.isFinite(instant) ? dateIn(time, provider.timezone) : null,
  };
}

/** Once the linked day's times are on screen, open the form for the linked time (or say why not). */
export function openLinkedTime(link) {
  if (!link?.time) return;
  forgetTime();
  const at = Date.parse(link.time);
  const observer = new MutationObserver(settle);
  const timer = setTimeout(() => observer.disconnect(), WAIT_MS);
  observer.observe(ui.times, { childList: true });
  settle();

  function settle() {
    // Another provider or service chosen meanwhile: the link no longer applies.
    if (state.provider?.id !== link.providerId || state.service?.id !== link.serviceId) return stop();
    if (!state.doc) return; // not drawn yet
    stop();
    const day = state.doc.days.find((d) => d.date === link.day);
    const slot = day?.slots.find((s) => Date.parse(s.startsAt) === at);
    const button = slot && ui.times.querySelector(`button[data-slot-id="${CSS.escape(slot.availabilityId)}"]`);
    if (button?.dataset.kind === 'free') {
      button.click(); // exactly the customer's tap: the form opens and takes the hold
      return;
    }
    const zone = state.doc.timezone;
    announce(`${clockIn(link.time, zone)} ${zoneInWords(zone)} on ${longDayLabel(link.day)} is no longer free. Here are the other times that day.`);
    ui.times.focus();
  }

  function stop() {
    clearTimeout(timer);
    observer.disconnect();
  }
}

/** Take `time` out of the address bar (the provider and service stay). */
function forgetTime() {
  const url = new URL(location.href);
  url.searchParams.delete('time');
  history.replaceState(history.state, '', url);
}
