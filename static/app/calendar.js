// A booking in the customer's calendar: the .ics file and links that open
// the same event in Google Calendar and Outlook, all written here from the
// stored booking. Each carries the place (the provider's address) and the
// manage link, which only this browser can add: the server keeps the token
// hashed, so its own calendar.ics (GET /api/v1/bookings/{id}/calendar.ics)
// cannot name it.

import { announce } from './state.js';
import { manageLink, manageLinkLine } from './manage-link.js';

const title = (b) => `${b.serviceName} at ${b.providerName}`;
/** Where: the provider's address (its name when it has none). */
const place = (b) => b.address || b.providerName;

/** 20261204T093000Z: an instant in iCalendar's (and Google's) UTC form. */
const utcStamp = (instant) => new Date(instant).toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, '');

/** A TEXT value escaped as RFC 5545 section 3.3.11 asks. */
const icsText = (value) => value.replace(/[\\;,]/g, (c) => `\\${c}`).replace(/\r?\n/g, '\\n');

/** One content line folded at 75 octets (RFC 5545 section 3.1), never inside a character. */
function fold(line) {
  const encoder = new TextEncoder();
  const parts = [];
  let current = '';
  for (const char of line) {
    const limit = parts.length === 0 ? 75 : 74; // a continuation starts with a space
    if (encoder.encode(current + char).length > limit) {
      parts.push(current);
      current = '';
    }
    current += char;
  }
  parts.push(current);
  return parts.join('\r\n ');
}

/** The booking as an iCalendar file: one event, UTC times, place, manage link; the booking's id as UID (importing again updates it). */
export function icsFile(b, now = Date.now()) {
  const lines = [
    'BEGIN:VCALENDAR',
    'VERSION:2.0',
    'PRODID:-//slotstream//booking page//EN',
    'CALSCALE:GREGORIAN',
    'METHOD:PUBLISH',
    'BEGIN:VEVENT',
    `UID:${b.id}@slotstream`,
    `DTSTAMP:${utcStamp(now)}`,
    `DTSTART:${utcStamp(b.startsAt)}`,
    `DTEND:${utcStamp(b.endsAt)}`,
    `SUMMARY:${icsText(title(b))}`,
    `LOCATION:${icsText(place(b))}`,
    `DESCRIPTION:${icsText(manageLinkLine(b))}`,
    `URL:${manageLink(b)}`,
    'STATUS:CONFIRMED',
    'END:VEVENT',
    'END:VCALENDAR',
  ];
  return `${lines.map(fold).join('\r\n')}\r\n`;
}

/** Google Calendar's "add event" page, filled in. */
export function googleCalendarUrl(b) {
  const url = new URL('https://calendar.google.com/calendar/render');
  url.search = new URLSearchParams({
    action: 'TEMPLATE',
    text: title(b),
    dates: `${utcStamp(b.startsAt)}/${utcStamp(b.endsAt)}`,
    details: manageLinkLine(b),
    location: place(b),
  }).toString();
  return url.href;
}

/** Outlook's (outlook.live.com) "new event" page, filled in. */
export function outlookCalendarUrl(b) {
  const url = new URL('https://outlook.live.com/calendar/0/deeplink/compose');
  url.search = new URLSearchParams({
    subject: title(b),
    startdt: new Date(b.startsAt).toISOString(),
    enddt: new Date(b.endsAt).toISOString(),
    body: manageLinkLine(b),
    location: place(b),
  }).toString();
  return url.href;
}

/** Save the booking's .ics (a Blob: nothing leaves the browser). */
export function downloadCalendar(b) {
  try {
    const url = URL.createObjectURL(new Blob([icsFile(b)], { type: 'text/calendar;charset=utf-8' }));
    const link = document.createElement('a');
    link.href = url;
    link.download = `booking-${b.date}-${b.startTime.replace(':', '')}.ics`;
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
  } catch (error) {
    announce(`Could not make the calendar file: ${error.message}`);
  }
}

/** A link styled as a button that opens a calendar's page in a new tab. */
function calendarLink(label, href, className, ariaLabel) {
  const link = document.createElement('a');
  link.className = `button-link secondary ${className}`;
  link.href = href;
  link.target = '_blank';
  link.rel = 'noopener noreferrer';
  link.textContent = label;
  link.setAttribute('aria-label', ariaLabel);
  return link;
}

/** "Add to calendar" as three choices: the .ics file, Google, Outlook. */
export function calendarChoices(b) {
  const ics = document.createElement('button');
  ics.type = 'button';
  ics.className = 'secondary ics';
  ics.textContent = 'Add to calendar (.ics)';
  ics.addEventListener('click', () => downloadCalendar(b));
  return [
    ics,
    calendarLink('Google', googleCalendarUrl(b), 'google-calendar', 'Add to Google Calendar (opens a new tab)'),
    calendarLink('Outlook', outlookCalendarUrl(b), 'outlook-calendar', 'Add to Outlook Calendar (opens a new tab)'),
  ];
}
