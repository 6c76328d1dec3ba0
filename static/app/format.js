// Words and numbers the customer reads: days, times, zones, prices, countdowns.
// Dates (YYYY-MM-DD) are calendar days of the provider; instants are RFC 3339.

const WEEKDAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
const LONG_WEEKDAYS = ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday'];
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

const parseDate = (iso) => new Date(`${iso}T00:00:00Z`);

export function addDays(iso, n) {
  const date = parseDate(iso);
  date.setUTCDate(date.getUTCDate() + n);
  return date.toISOString().slice(0, 10);
}

/** "Tue 2 Dec" */
export function dayLabel(iso) {
  const d = parseDate(iso);
  return `${WEEKDAYS[d.getUTCDay()]} ${d.getUTCDate()} ${MONTHS[d.getUTCMonth()]}`;
}

/** "Tuesday 2 Dec 2026" */
export function longDayLabel(iso) {
  const d = parseDate(iso);
  return `${LONG_WEEKDAYS[d.getUTCDay()]} ${d.getUTCDate()} ${MONTHS[d.getUTCMonth()]} ${d.getUTCFullYear()}`;
}

export const weekday = (iso) => WEEKDAYS[parseDate(iso).getUTCDay()];
export const dayOfMonth = (iso) => String(parseDate(iso).getUTCDate());
export const month = (iso) => MONTHS[parseDate(iso).getUTCMonth()];

export function minutes(hhmm) {
  const [h, m] = hhmm.split(':').map(Number);
  return h * 60 + m;
}

export function hhmm(total) {
  const t = ((total % 1440) + 1440) % 1440;
  return `${String(Math.floor(t / 60)).padStart(2, '0')}:${String(t % 60).padStart(2, '0')}`;
}

/** "London time" for Europe/London, "New York time" for America/New_York. */
export function zoneInWords(timezone) {
  const city = timezone.split('/').pop().replaceAll('_', ' ');
  return `${city} time`;
}

/** The visitor's own zone (the browser's). */
export const visitorZone = () => Intl.DateTimeFormat().resolvedOptions().timeZone;

/**
 * The visitor's zone as the browser names it at an instant ("India Standard
 * Time", "British Summer Time"), not a city of the IANA name ("Calcutta time").
 */
export function visitorZoneName(instant = Date.now()) {
  const parts = new Intl.DateTimeFormat(undefined, { timeZoneName: 'long' }).formatToParts(new Date(instant));
  return parts.find((p) => p.type === 'timeZoneName')?.value ?? zoneInWords(visitorZone());
}

/** Whether the two zones show a different wall-clock time at this instant. */
export function differentClock(instant, zoneA, zoneB) {
  const at = (zone) => new Intl.DateTimeFormat('en-GB', { timeZone: zone, dateStyle: 'short', timeStyle: 'short' }).format(new Date(instant));
  try {
    return at(zoneA) !== at(zoneB);
  } catch {
    return false;
  }
}

/** "14:30" (and "Tue" when the day differs from `sameDayAs`) of an instant in a zone. */
export function clockIn(instant, zone) {
  return new Intl.DateTimeFormat('en-GB', { timeZone: zone, hour: '2-digit', minute: '2-digit', hourCycle: 'h23' }).format(
    new Date(instant),
  );
}

/**
 * "£25.00", "40,00 zł", "¥4,500": a price in its currency's minor unit (pence,
 * grosze, yen: ISO 4217's exponent, as Intl knows it), formatted in the currency.
 */
export function price(minor, currency) {
  try {
    const format = new Intl.NumberFormat(undefined, { style: 'currency', currency });
    return format.format(minor / 10 ** format.resolvedOptions().maximumFractionDigits);
  } catch {
    return `${(minor / 100).toFixed(2)} ${currency ?? ''}`.trim();
  }
}

/** "1 h 30 min", "45 min" */
export function duration(total) {
  const h = Math.floor(total / 60);
  const m = total % 60;
  return [h ? `${h} h` : '', m ? `${m} min` : ''].filter(Boolean).join(' ');
}

export function mmss(ms) {
  const total = Math.max(0, Math.ceil(ms / 1000));
  return `${String(Math.floor(total / 60)).padStart(2, '0')}:${String(total % 60).padStart(2, '0')}`;
}

/** The date (YYYY-MM-DD) an instant falls on in a zone. */
export function dateIn(instant, zone) {
  return new Intl.DateTimeFormat('en-CA', { timeZone: zone, year: 'numeric', month: '2-digit', day: '2-digit' }).format(new Date(instant));
}

/** Today's date (YYYY-MM-DD) in a zone. */
export const todayIn = (zone) => dateIn(Date.now(), zone);

/** "Thursday" for a date within the coming week, "Today", "Tomorrow"; "Thu 18 Dec" further off. */
export function dayWord(iso, zone) {
  const today = todayIn(zone);
  if (iso === today) return 'Today';
  if (iso === addDays(today, 1)) return 'Tomorrow';
  if (iso > today && iso < addDays(today, 7)) return LONG_WEEKDAYS[parseDate(iso).getUTCDay()];
  return dayLabel(iso);
}

/** Minutes past midnight of an instant on the wall clock of a zone. */
export const minutesIn = (instant, zone) => minutes(clockIn(instant, zone));

/** The zone's offset from UTC at an instant, in milliseconds (whole minutes). */
function offsetAt(t, zone) {
  const parts = Object.fromEntries(
    new Intl.DateTimeFormat('en-US', {
      timeZone: zone, hourCycle: 'h23', year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit',
    }).formatToParts(new Date(t)).map((p) => [p.type, p.value]),
  );
  const wall = Date.UTC(Number(parts.year), Number(parts.month) - 1, Number(parts.day), Number(parts.hour) % 24, Number(parts.minute));
  return wall - Math.floor(t / 60000) * 60000;
}

/**
 * The instant (a Date) when the zone's wall clock reads `hhmm` on `date`: the earlier one when the
 * time occurs twice (autumn), the first instant after the gap when it never occurs (spring), as the
 * server reads local times.
 */
export function instantAt(date, hhmm, zone) {
  const [y, mo, d] = date.split('-').map(Number);
  const wall = Date.UTC(y, mo - 1, d, 0, 0) + minutes(hhmm) * 60000;
  const offsets = [...new Set([-14, 0, 14].map((h) => offsetAt(wall + h * 3600000, zone)))];
  const exact = offsets.map((o) => wall - o).filter((t) => offsetAt(t, zone) === wall - t).sort((a, b) => a - b);
  if (exact.length) return new Date(exact[0]);
  // In a spring-forward gap: the wall time read with the offset before the jump lands just after it.
  return new Date(wall - offsetAt(wall - 14 * 3600000, zone));
}
