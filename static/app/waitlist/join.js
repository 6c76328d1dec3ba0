// Joining: a fully booked day's "Tell me if a time opens" opens a dialog
// (this day or the week from it, times of day, name and email, "Notify me");
// the entry the server makes is stored with its token, and the dialog says
// what happens next.

import { $, api, state, ui, announce } from '../state.js';
import { addDays, dayLabel, longDayLabel, zoneInWords } from '../format.js';
import { enteredCustomer, rememberCustomer, savedCustomer } from '../booking.js';
import { saveEntry } from './storage.js';
import { windowText } from './words.js';
import { notificationsAvailable, setWantsNotifications, wantsNotifications } from './notifications.js';

/** Times of day a customer can wait for, in the provider's zone. */
const PARTS = [
  { id: 'morning', label: 'Morning, before 12:00', start: '00:00', end: '12:00' },
  { id: 'afternoon', label: 'Afternoon, 12:00–17:00', start: '12:00', end: '17:00' },
  { id: 'evening', label: 'Evening, from 17:00', start: '17:00', end: '24:00' },
];

/** The join dialog's elements (only this module uses them). */
const join = {
  dialog: $('waitlist-dialog'),
  form: $('waitlist-form'),
  summary: $('waitlist-summary'),
  dayLabel: $('waitlist-day'),
  weekLabel: $('waitlist-week'),
  parts: $('waitlist-parts'),
  name: $('waitlist-name'),
  email: $('waitlist-email'),
  notifyField: $('waitlist-notify-field'),
  notify: $('waitlist-notify'),
  error: $('waitlist-error'),
  submit: $('waitlist-submit'),
  close: $('waitlist-close'),
  done: $('waitlist-done'),
  doneText: $('waitlist-done-text'),
  doneClose: $('waitlist-done-close'),
};

/** What the open dialog joins: { provider, service, date, zone, parts }. */
let joining = null;

/** The parts of the day that have times on the day's `slots` (only those are worth a choice). */
const partsWithTimes = (slots) => PARTS.filter((p) => slots.some((s) => s.startTime >= p.start && s.startTime < p.end));

function drawParts(parts) {
  join.parts.hidden = parts.length < 2;
  join.parts.replaceChildren(
    join.parts.querySelector('legend'),
    ...parts.map((part) => {
      const label = document.createElement('label');
      const input = document.createElement('input');
      input.type = 'checkbox';
      input.name = 'waitlist-part';
      input.value = part.id;
      label.append(input, ` ${part.label}`);
      return label;
    }),
  );
}

/** The ticked parts as spans (neighbours joined: an appointment must lie inside one), or null for any time. */
function chosenTimes(parts) {
  const ticked = [...join.parts.querySelectorAll('input:checked')].map((input) => input.value);
  if (ticked.length === 0 || ticked.length === parts.length) return null;
  const spans = [];
  for (const part of PARTS.filter((p) => ticked.includes(p.id))) {
    const last = spans.at(-1);
    if (last && last[1] === part.start) last[1] = part.end;
    else spans.push([part.start, part.end]);
  }
  return spans;
}

/** Open the dialog for the shown day's service (the waitlist panel's button). */
function openJoin() {
  const { provider, service, day, doc } = state;
  if (!provider || !service || !day || !doc) return;
  const zone = doc.timezone;
  const slots = doc.days.find((d) => d.date === day)?.slots ?? [];
  joining = { provider, service, date: day, zone, parts: partsWithTimes(slots) };
  join.summary.textContent = `${service.name} at ${provider.name}. Times are ${zoneInWords(zone)}.`;
  join.dayLabel.textContent = `Only ${longDayLabel(day)}`;
  join.weekLabel.textContent = `Any day from ${dayLabel(day)} to ${dayLabel(addDays(day, 6))}`;
  join.form.querySelector('input[value="day"]').checked = true;
  drawParts(joining.parts);
  const saved = savedCustomer();
  if (saved && !join.name.value) join.name.value = saved.name ?? '';
  if (saved && !join.email.value) join.email.value = saved.email ?? '';
  join.notifyField.hidden = !notificationsAvailable() || Notification.permission === 'denied';
  join.notify.checked = notificationsAvailable() && Notification.permission === 'granted' && wantsNotifications();
  join.error.textContent = '';
  join.submit.disabled = false;
  join.submit.textContent = 'Tell me';
  join.form.hidden = false;
  join.done.hidden = true;
  join.dialog.showModal();
  join.form.querySelector('input[value="day"]').focus();
}

async function submitJoin(event) {
  event.preventDefault();
  const target = joining;
  const customer = target && enteredCustomer(join.name, join.email, join.error);
  if (!customer) return;
  const week = join.form.querySelector('input[name="waitlist-days"]:checked')?.value === 'week';
  const times = chosenTimes(target.parts);
  const request = {
    providerId: target.provider.id,
    serviceId: target.service.id,
    from: target.date,
    to: week ? addDays(target.date, 6) : target.date,
    ...(times ? { times } : {}),
    customer,
  };
  join.error.textContent = '';
  join.submit.disabled = true;
  join.submit.textContent = 'Joining…';
  let entry;
  try {
    entry = await api.joinWaitlist(request);
  } catch (error) {
    join.submit.disabled = false;
    join.submit.textContent = 'Tell me';
    join.error.textContent = joinError(error, target);
    return;
  }
  rememberCustomer(customer.name, customer.email);
  const record = {
    id: entry.id,
    token: entry.token,
    providerId: target.provider.id,
    providerName: target.provider.name,
    timezone: target.zone,
    serviceId: target.service.id,
    serviceName: target.service.name,
    from: entry.from,
    to: entry.to,
    times: entry.times ?? null,
    status: entry.status,
    expiresAt: entry.expiresAt,
    name: customer.name,
    email: customer.email,
  };
  saveEntry(record);
  showJoined(record);
}

function joinError(error, target) {
  if (error.status === undefined) return `Could not join the waitlist: ${error.message}. Please try again.`;
  if (error.status === 422) return `Please check your details: ${error.message}`;
  if (error.status === 410) return `${target.provider.name} is no longer taking bookings here.`;
  if (error.status === 429) return `Could not join: ${error.message}. You can leave a waitlist under Your bookings.`;
  return `Could not join the waitlist: ${error.message}`;
}

function showJoined(record) {
  const told = join.notify.checked && notificationsAvailable() && Notification.permission === 'granted'
    ? ' This device will also notify you while this page is open.'
    : '';
  join.doneText.textContent = `We will tell you if a time opens for ${record.serviceName} at ${record.providerName}, ${windowText(record)}. `
    + 'The first time that opens is held for the first person in line, for a few minutes, and shown at the top of this page with Book it and No thanks. '
    + `Your place is listed under Your bookings, where you can leave it.${told}`;
  join.form.hidden = true;
  join.done.hidden = false;
  join.doneClose.focus();
  announce(`You are on the waitlist for ${record.serviceName}, ${windowText(record)}.`);
}

/** "Notify me": the browser asks for permission now, from this click, never on load. */
async function notifyToggled() {
  if (!join.notify.checked) {
    setWantsNotifications(false);
    return;
  }
  setWantsNotifications(true);
  if (!notificationsAvailable() || Notification.permission === 'granted') return;
  let answer = 'denied';
  try {
    answer = await Notification.requestPermission();
  } catch {
    // an old browser's callback form: treated as refused
  }
  if (answer !== 'granted') {
    join.notify.checked = false;
    join.notifyField.hidden = answer === 'denied';
    announce('Notifications are off in this browser; this page still shows a time held for you.');
  }
}

join.form.addEventListener('submit', submitJoin);
join.notify.addEventListener('change', notifyToggled);
join.close.addEventListener('click', () => join.dialog.close());
join.doneClose.addEventListener('click', () => join.dialog.close());
join.dialog.addEventListener('close', () => {
  joining = null;
  if (!ui.waitlistPanel.hidden) (ui.waitlistJoin.hidden ? ui.times : ui.waitlistJoin).focus();
});
ui.waitlistJoin.addEventListener('click', openJoin);
