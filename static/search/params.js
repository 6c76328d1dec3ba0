// The search the customer chose, in three forms: the form's fields, the
// page's own URL (so Back from a provider's page, a reload or a shared link
// shows the same search), and the API's query. Also the time-of-day presets
// and the page's tuning parameters (?pageSize=, for tests and demos).
//
// A search is { service, day, date, time, from, to }:
//   service  text the service name contains ('' for any service)
//   day      'today' | 'tomorrow' | 'date' (then `date`, YYYY-MM-DD)
//   time     'any' | 'morning' | 'afternoon' | 'evening' | 'custom' (then `from`, `to`, HH:MM, to may be 24:00)

/** The parts of the day, local times in each provider's zone; the whole appointment lies within. */
export const PRESETS = {
  any: { from: '00:00', to: '24:00', words: 'any time' },
  morning: { from: '06:00', to: '12:00', words: 'in the morning' },
  afternoon: { from: '12:00', to: '17:00', words: 'in the afternoon' },
  evening: { from: '17:00', to: '24:00', words: 'in the evening' },
};

/** Providers per page unless ?pageSize= says otherwise (1 to 50, the API's bounds). */
export const PAGE_SIZE = 10;

const DATE = /^\d{4}-\d{2}-\d{2}$/;
const CLOCK = /^(?:[01]\d|2[0-3]):[0-5]\d$|^24:00$/;

export const DEFAULT_SEARCH = Object.freeze({ service: '', day: 'today', date: '', time: 'any', from: '09:00', to: '17:00' });

/** The visitor's own calendar date (YYYY-MM-DD), `offset` days from today. */
export function localDate(offset = 0) {
  const now = new Date();
  const day = new Date(now.getFullYear(), now.getMonth(), now.getDate() + offset);
  const pad = (n) => String(n).padStart(2, '0');
  return `${day.getFullYear()}-${pad(day.getMonth() + 1)}-${pad(day.getDate())}`;
}

/** Minutes past midnight of HH:MM (24:00 is 1440). */
export const clockMinutes = (hhmm) => Number(hhmm.slice(0, 2)) * 60 + Number(hhmm.slice(3, 5));

/** Why a search cannot be asked (a sentence for the customer), or ''. */
export function problemWith(search) {
  if (search.day === 'date' && !DATE.test(search.date)) return 'Choose a date.';
  if (search.day === 'date' && search.date < localDate(0)) return 'Choose today or a later date.';
  if (search.time === 'custom') {
    if (!CLOCK.test(search.from) || !CLOCK.test(search.to)) return 'Choose a start and an end time.';
    if (clockMinutes(search.from) >= clockMinutes(search.to)) return 'The end time must be after the start time.';
  }
  return '';
}

/** The search a page URL names (anything unreadable falls back to the defaults). */
export function fromUrl(search = location.search) {
  const params = new URLSearchParams(search);
  const chosen = { ...DEFAULT_SEARCH, service: (params.get('service') ?? '').slice(0, 100) };
  const day = params.get('day') ?? 'today';
  if (day === 'today' || day === 'tomorrow') chosen.day = day;
  else if (DATE.test(day)) Object.assign(chosen, { day: 'date', date: day });
  const time = params.get('time') ?? 'any';
  const range = /^(\d\d:\d\d)-(\d\d:\d\d)$/.exec(time);
  if (PRESETS[time]) chosen.time = time;
  else if (range) Object.assign(chosen, { time: 'custom', from: range[1], to: range[2] });
  // A date gone by or a backwards range from an old link: the default in its place.
  if (problemWith({ ...chosen, time: 'any' })) Object.assign(chosen, { day: 'today', date: '' });
  if (problemWith(chosen)) Object.assign(chosen, { time: 'any', from: DEFAULT_SEARCH.from, to: DEFAULT_SEARCH.to });
  return chosen;
}

/** The page URL of a search (tuning parameters such as pageSize are kept). */
export function toUrl(search) {
  const params = new URLSearchParams(location.search);
  for (const name of ['service', 'day', 'time']) params.delete(name);
  if (search.service) params.set('service', search.service);
  if (search.day !== 'today') params.set('day', search.day === 'date' ? search.date : 'tomorrow');
  if (search.time !== 'any') params.set('time', search.time === 'custom' ? `${search.from}-${search.to}` : search.time);
  const query = params.toString();
  return `${location.pathname}${query ? `?${query}` : ''}`;
}

/** The window of the day a search asks for: { from, to }. */
export function windowOf(search) {
  return search.time === 'custom' ? { from: search.from, to: search.to } : PRESETS[search.time];
}

/**
 * The API query of a search (without limit and cursor). Today is each
 * provider's own today (no date sent); tomorrow and a date are the visitor's
 * calendar date, read in each provider's zone.
 */
export function apiQuery(search) {
  const query = new URLSearchParams();
  const service = search.service.trim();
  if (service) query.set('service', service);
  if (search.day === 'tomorrow') query.set('date', localDate(1));
  if (search.day === 'date') query.set('date', search.date);
  const { from, to } = windowOf(search);
  if (from !== '00:00') query.set('from', from);
  if (to !== '24:00') query.set('to', to);
  return query;
}

/** ?pageSize= (1 to 50), else PAGE_SIZE. */
export function pageSize(search = location.search) {
  const value = Number(new URLSearchParams(search).get('pageSize'));
  return Number.isInteger(value) && value >= 1 && value <= 50 ? value : PAGE_SIZE;
}
