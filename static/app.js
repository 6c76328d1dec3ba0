// The booking page: provider header, service first, then a strip of days
// and the free times, kept live by slotstream.js's watchAvailability.
// Modules by concern: app/state.js (shared state, elements), app/format.js
// (words and numbers), app/times.js (days and times), app/booking.js (the
// form, its hold, the confirmation), app/my-bookings.js (the customer's
// bookings, manage link, cancel, .ics), app/waitlist/ (joining from a fully
// booked day, the offers' banner, the claim link; index.js is its door), and
// what the last two share: app/stored-list.js (a list kept in localStorage),
// app/stored-value.js (a choice kept there), app/check-queue.js (checks with
// the server, coalesced).
//
// URL query overrides (tests and demos):
//   ?debug                  the developer panel and the select of every provider
//   ?provider=<id>          provider shown first
//   ?offer=<entryId>        a waitlist offer's claim link (the token in the fragment)
//   ?service=<id>&time=<startsAt>  with ?provider: that service, and that time's form opened (app/deep-link.js)
//   ?reconnectMs=250        first reconnect delay (jittered, doubling to maxReconnectMs)
//   ?maxReconnectMs=1000    longest reconnect delay
//   ?pollMs=15000           poll interval when the browser has no EventSource
//   ?hiddenCloseMs=30000    close the stream after the tab is hidden this long

import { watchAvailability } from './slotstream.js';
import { $, api, state, ui, announce, debug, numberParam, queryParam, DAYS } from './app/state.js';
import { addDays, duration, price, todayIn } from './app/format.js';
import { drawTimesStep, serviceChanged, selectDay, shiftDays, announceUnbookable } from './app/times.js';
import { openForm, syncForm } from './app/booking.js';
import { availabilityChanged, checkAllBookings, onBookingsChanged, openManageLink, renderBookings } from './app/my-bookings.js';
import { checkAllEntries, onWaitlistChanged, openOfferLink, renderWaitlist, streamBack, waitlistChanged } from './app/waitlist/index.js';
import { linkedChoice, openLinkedTime } from './app/deep-link.js';

const LOAD_RETRY_MS = 3000;
/** What the customer reads; the feed's own words go to the developer panel. */
const CUSTOMER_STATUS = { connecting: 'Connecting…', live: 'Live', polling: 'Live', paused: 'Live', reconnecting: 'Reconnecting…', ended: 'Not taking bookings' };

function showStatus(status, info) {
  const customer = CUSTOMER_STATUS[status] ?? 'Reconnecting…';
  const previous = ui.connection.textContent;
  ui.connection.textContent = customer;
  ui.connection.dataset.state =
    customer === 'Live' ? 'live' : status === 'connecting' || status === 'ended' ? status : 'reconnecting';
  ui.feedMode.textContent = status;
  if (info) showStats(info);
  // Said only when it changes after the first connection: "Live" on arrival is what the badge is for.
  if (previous === 'Reconnecting…' && customer === 'Live') {
    announce('Back online; the times are up to date.');
    // A time may have been held for the customer meanwhile.
    if (state.provider) streamBack(state.provider.id);
  }
  if (previous === 'Live' && status === 'reconnecting') announce('Connection lost; reconnecting.');
  if (status === 'ended') announce(`${state.provider?.name ?? 'This provider'} is no longer taking bookings here.`);
  console.debug(`slotstream: ${status}`, info);
}

function showStats(info) {
  ui.pollStats.dataset.polls = String(info.fetches);
  ui.pollStats.dataset.notModified = String(info.notModified);
  ui.pollStats.textContent = `${info.fetches} fetches, ${info.notModified} unchanged (304), ${info.events} events, ${info.reconnects} reconnects`;
}

function watch(startDate) {
  state.watch?.close();
  state.doc = null;
  ui.times.setAttribute('aria-busy', 'true');
  const providerId = state.provider.id;
  state.watch = watchAvailability({
    providerId,
    startDate,
    days: DAYS,
    reconnectMs: numberParam('reconnectMs', 250, 10),
    maxReconnectMs: numberParam('maxReconnectMs', 1000, 10),
    pollMs: numberParam('pollMs', 15000, 100),
    hiddenCloseMs: numberParam('hiddenCloseMs', 30000, 0),
    onChange(doc, change) {
      if (state.provider?.id !== providerId) return;
      state.doc = doc;
      ui.feedVersion.textContent = String(doc.version);
      drawTimesStep({ flashChanges: true });
      syncForm();
      if (state.watch) showStats(state.watch.stats);
      if (change.event) console.debug('slotstream: event', change.version, change.event);
      // The provider may have cancelled or moved one of "Your bookings".
      availabilityChanged(providerId, doc, change.event);
      // A time held may be held for one of the customer's waitlist entries.
      waitlistChanged(providerId, change.event);
    },
    onReset: ({ version }) => console.info(`slotstream: reset after version ${version}; fetching afresh`),
    onStatus: showStatus,
  });
}

function drawProvider() {
  const p = state.provider;
  ui.providerName.textContent = p.name;
  ui.providerAddress.textContent = p.address ?? '';
  ui.providerDescription.textContent = p.description ?? '';
  document.title = `Book ${p.name}`;
  document.querySelector('meta[name="description"]')?.setAttribute('content', `Book ${p.name} online${p.address ? `, ${p.address}` : ''}: see free times live.`);
  ui.services.replaceChildren(
    ui.services.querySelector('legend'),
    ...p.services.map((s) => {
      const label = document.createElement('label');
      label.className = 'service';
      label.innerHTML = '<input type="radio" name="service"><span class="service-name"></span><span class="service-meta"></span>';
      const input = label.querySelector('input');
      input.value = s.id;
      input.checked = state.service?.id === s.id;
      label.querySelector('.service-name').textContent = s.name;
      label.querySelector('.service-meta').textContent = `${duration(s.durationMinutes)} · ${price(s.priceCents, s.currency)}`;
      return label;
    }),
  );
}

/** Show a provider; a link (a waitlist offer's) may also name the service and the day. */
function selectProvider(id, { serviceId = null, day = null } = {}) {
  state.provider = state.providers.find((p) => p.id === id) ?? state.providers[0] ?? null;
  if (!state.provider) return;
  ui.provider.value = state.provider.id;
  state.service = state.provider.services.find((s) => s.id === serviceId) ?? null;
  state.day = day;
  drawProvider();
  drawTimesStep();
  // A day past the first week starts the strip there.
  const later = day && day > addDays(todayIn(state.provider.timezone), DAYS - 1);
  watch(later ? day : undefined);
}

async function loadProviders() {
  try {
    state.providers = await api.providers();
  } catch (error) {
    announce(`Could not load the booking page (${error.message}); retrying.`);
    setTimeout(loadProviders, LOAD_RETRY_MS);
    return;
  }
  ui.provider.replaceChildren(...state.providers.map((p) => new Option(p.name, p.id)));
  ui.providerPick.hidden = !debug || state.providers.length < 2;
  if (state.providers.length === 0) {
    ui.providerName.textContent = 'Nothing to book yet';
    return;
  }
  const fromLink = await openManageLink(state.providers);
  const offered = await openOfferLink(state.providers);
  // A search result's time (?provider=&service=&time=): that service and day, the time's form opened.
  const linked = !offered && !fromLink ? linkedChoice(state.providers) : null;
  if (offered) selectProvider(offered.providerId, offered);
  else if (linked) {
    selectProvider(linked.providerId, linked);
    openLinkedTime(linked);
  }
  else selectProvider(fromLink ?? queryParam('provider') ?? state.providers[0].id);
}

ui.provider.addEventListener('change', () => selectProvider(ui.provider.value));
ui.services.addEventListener('change', (event) => {
  state.service = state.provider?.services.find((s) => s.id === event.target.value) ?? null;
  serviceChanged();
  // On a phone the times are below: bring them into view.
  if (window.matchMedia('(max-width: 720px)').matches) document.getElementById('time-step').scrollIntoView({ block: 'start', behavior: 'smooth' });
});
ui.dayStrip.addEventListener('click', (event) => {
  const button = event.target.closest('button[data-date]');
  if (button) selectDay(button.dataset.date);
});
ui.prev.addEventListener('click', () => shiftDays(-1, watch));
ui.next.addEventListener('click', () => shiftDays(1, watch));
ui.times.addEventListener('click', (event) => {
  const button = event.target.closest('button[data-slot-id]');
  if (!button) return;
  // Booked in the marketplace's own system: follow the time's link (the
  // server accepts only absolute http(s) templates), never hold or book here.
  if (button.dataset.kind === 'free' && state.doc?.slotSource === 'external') {
    if (button.dataset.bookingUrl) window.location.assign(button.dataset.bookingUrl);
    else announce(`${state.provider?.name ?? 'This provider'} takes bookings on the marketplace's own site.`);
    return;
  }
  if (button.dataset.kind === 'free') openForm(button.dataset.slotId, button);
  else announceUnbookable(button);
});
ui.times.addEventListener('animationend', (event) => event.target.classList?.remove('flash'));
onBookingsChanged(() => drawTimesStep());
onWaitlistChanged(() => drawTimesStep());
window.addEventListener('hashchange', async () => {
  const providerId = await openManageLink(state.providers);
  if (providerId && providerId !== state.provider?.id) selectProvider(providerId);
});

$('dev-panel').hidden = !debug;
renderBookings();
renderWaitlist();
checkAllBookings();
checkAllEntries();
loadProviders();
