// How the waitlist says things, in the provider's zone: an entry's window
// ("Thursday 4 Dec 2026, any time", "Thu 4 Dec – Wed 10 Dec, 12:00–17:00
// Warsaw time") and an offer's time.

import { state } from '../state.js';
import { clockIn, dateIn, dayLabel, dayWord, differentClock, longDayLabel, visitorZone, zoneInWords } from '../format.js';

export const zoneOf = (source) => source.timezone ?? state.providers.find((p) => p.id === source.providerId)?.timezone ?? 'UTC';

/** "until 12:00", "12:00–17:00", "from 17:00" */
function spanWords([start, end]) {
  if (start === '00:00') return `until ${end}`;
  if (end === '24:00') return `from ${start}`;
  return `${start}–${end}`;
}

/** "Thursday 4 Dec 2026, any time" or "Thu 4 Dec – Wed 10 Dec, 12:00–17:00 Warsaw time" */
export function windowText(e) {
  const days = e.from === e.to ? longDayLabel(e.from) : `${dayLabel(e.from)} – ${dayLabel(e.to)}`;
  const times = e.times?.length ? `${e.times.map(spanWords).join(', ')} ${zoneInWords(e.timezone ?? 'UTC')}` : 'any time';
  return `${days}, ${times}`;
}

/** An offer's time: { date, start, end, headline: "Thursday 14:30", when: "Thursday 4 Dec 2026, 14:30–15:00 Warsaw time" }. */
export function offerTime(offer, zone) {
  const date = dateIn(offer.startsAt, zone);
  const start = clockIn(offer.startsAt, zone);
  const end = clockIn(offer.endsAt, zone);
  const visitor = visitorZone();
  const yours = differentClock(offer.startsAt, zone, visitor) ? ` (${clockIn(offer.startsAt, visitor)} your time)` : '';
  return { date, start, end, headline: `${dayWord(date, zone)} ${start}`, when: `${longDayLabel(date)}, ${start}–${end} ${zoneInWords(zone)}${yours}` };
}
