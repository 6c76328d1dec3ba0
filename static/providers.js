// The search page (/providers.html): find a free time across providers by
// service, day and time of day; each result is a provider's card whose
// times are buttons, and a tap opens that provider's page with the time
// chosen and held (/?provider=…&service=…&time=…, app/deep-link.js).
// Results stay live over one many-providers stream and load as the
// customer scrolls. Modules under search/:
//   params.js   the search as fields, page URL and API query; time-of-day presets
//   api.js      the search API (conditional GETs, a loading index retried), suggestions
//   suggest.js  the service combobox
//   form.js     the query form
//   cards.js    the provider cards, updated in place
//   results.js  one search's pages and keeping its cards current
//   live.js     the many-providers stream(s)
//   scroll.js   more results on scrolling (IntersectionObserver, and a button)
//   format.js   prices, days, times and zones on the cards
//
// URL query: service, day (tomorrow | YYYY-MM-DD), time (morning | afternoon |
// evening | HH:MM-HH:MM) name the search; ?pageSize=N (1–50) sets the page size.

import { apiQuery, fromUrl, pageSize, toUrl, windowOf, PRESETS } from './search/params.js';
import { searchForm } from './search/form.js';
import { createResults } from './search/results.js';
import { infiniteScroll } from './search/scroll.js';
import { bookingUrl, resultOf } from './search/cards.js';
import { dayLabel } from './search/format.js';

const $ = (id) => document.getElementById(id);
const ui = {
  cards: $('results'),
  count: $('result-count'),
  more: $('show-more'),
  marker: $('more-marker'),
  end: $('results-end'),
  connection: $('connection-state'),
};

const CONNECTION_WORDS = { idle: 'Live', connecting: 'Connecting…', live: 'Live', reconnecting: 'Reconnecting…', paused: 'Live' };

/** "Haircut, tomorrow, in the evening" */
function searchWords(search) {
  const what = search.service ? `“${search.service}”` : 'any service';
  const day = search.day === 'date' ? dayLabel(search.date) : search.day;
  const { from, to } = windowOf(search);
  const when = search.time === 'custom' ? `from ${from} to ${to}` : PRESETS[search.time].words;
  return `${what}, ${day}, ${when}`;
}

function showState(view) {
  let words;
  if (view.phase === 'searching') words = 'Searching…';
  else if (view.error && view.shown === 0) words = `The search failed (${view.error.message}). Try again.`;
  else if (view.shown === 0) words = `No free times for ${searchWords(view.search)}. Try another day or time of day.`;
  else if (view.open === 0 && view.done) words = `None of these providers has a free time left for ${searchWords(view.search)}.`;
  else {
    const n = view.open;
    const providers = n === 1 ? '1 provider has' : `${n} providers have`;
    words = view.done
      ? `${providers} free times for ${searchWords(view.search)}.`
      : `${providers} free times for ${searchWords(view.search)} so far; more load as you scroll.`;
  }
  // Said only when it changes: a live update that changes nothing is not announced again.
  if (ui.count.textContent !== words) ui.count.textContent = words;
  ui.end.hidden = !(view.done && view.shown > 0);
  ui.end.textContent = view.shown > 0 ? `That is every provider with a free time (${view.shown} shown).` : '';
  if (view.error && view.shown > 0) ui.more.textContent = 'Could not load more. Try again';
  else ui.more.textContent = 'Show more providers';
  scroll.update();
}

function showConnection(status) {
  const words = CONNECTION_WORDS[status] ?? 'Reconnecting…';
  ui.connection.textContent = words;
  ui.connection.dataset.state = words === 'Live' ? 'live' : status === 'connecting' ? 'connecting' : 'reconnecting';
}

const results = createResults({ list: ui.cards, limit: pageSize(), onState: showState, onStatus: showConnection });
const scroll = infiniteScroll({
  list: ui.cards,
  marker: ui.marker,
  button: ui.more,
  hasMore: () => results.hasMore,
  loadMore: () => results.loadMore(),
});

function run(search, { push = true } = {}) {
  const url = toUrl(search);
  if (push && url !== `${location.pathname}${location.search}`) history.replaceState(null, '', url);
  results.start(search, apiQuery(search));
}

const form = searchForm((search) => run(search));

// A time button: that provider's page, the service and time chosen (the page takes the hold).
ui.cards.addEventListener('click', (event) => {
  const button = event.target.closest('button.time');
  if (!button) return;
  const result = resultOf(button.closest('.card'));
  if (result) location.assign(bookingUrl(result, button.dataset.startsAt));
});

// Back from a provider's page may restore this page from the cache, streams closed: search afresh.
window.addEventListener('pageshow', (event) => {
  if (event.persisted) run(form.read(), { push: false });
});

// The browser test reads the page's live state here.
window.slotstreamSearch = {
  get streams() {
    return results.live.stats;
  },
};

const initial = fromUrl();
form.fill(initial);
run(initial, { push: false });
