// Words and numbers on the search page's cards: prices in the currency's own
// minor unit, days and clock times in the provider's zone, and the zone said
// with them ("Warsaw time, CET").

import { clockIn, dateIn, dayLabel, duration, price, zoneInWords } from '../app/format.js';

// Prices are the customer page's own (`price`: ISO 4217's exponent, as Intl knows it).
export { clockIn, dateIn, dayLabel, duration, price as priceMinor, zoneInWords };

/** The zone's short name at an instant ("CET", "GMT", "GMT-5"), or ''. */
export function zoneAbbreviation(instant, zone) {
  try {
    const parts = new Intl.DateTimeFormat('en-GB', { timeZone: zone, timeZoneName: 'short' }).formatToParts(new Date(instant));
    return parts.find((p) => p.type === 'timeZoneName')?.value ?? '';
  } catch {
    return '';
  }
}

/** "Warsaw time (CET)": how a card names the zone its times are in. */
export function zoneLabel(instant, zone) {
  const short = zoneAbbreviation(instant, zone);
  return short ? `${zoneInWords(zone)} (${short})` : zoneInWords(zone);
}

/**
 * "Sat 5 Dec", or "Today, Fri 4 Dec" on the provider's own today. Never
 * "Tomorrow": a provider's tomorrow may be the visitor's today (Sydney and
 * Warsaw), so the date is always said.
 */
export function dayWords(date, zone) {
  return date === dateIn(Date.now(), zone) ? `Today, ${dayLabel(date)}` : dayLabel(date);
}
