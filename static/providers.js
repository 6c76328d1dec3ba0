// The results page: every provider with its next free times, live over ONE
// connection (browsers allow six per origin over HTTP/1.1).
//
// 1. GET /api/v1/availability?providerIds=…&view=next: every provider's next
//    free times and a `cursor`, the exact resume point of the stream;
// 2. EventSource /api/v1/availability/stream?providerIds=…&lastEventId=<cursor>:
//    every provider's changes; the browser resumes with the last event id;
// 3. on a change (or a per-provider `reset`), re-fetch that provider's
//    summary (a conditional GET: the browser revalidates with its ETag);
// 4. a provider deactivated meanwhile (its `provider-deactivated` event, or
//    a `gone` entry in the summary) reads "Not taking bookings"; the stream
//    goes on for the others.

const LIMIT = 3;
const MINUTES = 30;
// Changes to one provider arriving together are fetched once.
const REFETCH_DELAY_MS = 150;
const MAX_PROVIDERS = 50;

const ui = {
  results: document.getElementById('results'),
  connection: document.getElementById('connection-state'),
  updated: document.getElementById('updated'),
  announcer: document.getElementById('announcer'),
};

const state = {
  providers: [],
  rows: new Map(),
  pending: new Map(),
  source: null,
  // How many EventSources this page opened (the browser test reads it).
  streamsOpened: 0,
};
window.slotstreamResults = state;

function summaryUrl(ids) {
  const query = new URLSearchParams({ providerIds: ids.join(','), view: 'next', limit: String(LIMIT), minutes: String(MINUTES) });
  return `/api/v1/availability?${query}`;
}

function timeLabel(entry, time) {
  const today = new Intl.DateTimeFormat('en-CA', { timeZone: entry.timezone }).format(new Date());
  if (time.date === today) return `Today ${time.startTime}`;
  const day = new Date(`${time.date}T12:00:00Z`).toLocaleDateString('en-GB', { weekday: 'short', day: 'numeric', month: 'short', timeZone: 'UTC' });
  return `${day} ${time.startTime}`;
}

function showGone(providerId) {
  const row = state.rows.get(providerId);
  if (!row) return;
  row.dataset.gone = 'true';
  const none = document.createElement('li');
  none.className = 'none gone';
  none.textContent = 'Not taking bookings';
  row.querySelector('.times').replaceChildren(none);
}

function paintRow(entry) {
  if (entry.gone) return showGone(entry.providerId);
  const row = state.rows.get(entry.providerId);
  if (!row) return;
  const changed = row.dataset.version !== undefined && row.dataset.version !== String(entry.version);
  row.dataset.version = String(entry.version);
  const list = row.querySelector('.times');
  list.replaceChildren(...entry.next.map((time) => {
    const item = document.createElement('li');
    item.textContent = timeLabel(entry, time);
    item.dataset.startsAt = time.startsAt;
    return item;
  }));
  if (entry.next.length === 0) {
    const none = document.createElement('li');
    none.className = 'none';
    none.textContent = 'No free times this week';
    list.append(none);
  }
  if (changed) {
    row.classList.remove('changed');
    void row.offsetWidth;
    row.classList.add('changed');
  }
}

function buildRows() {
  ui.results.replaceChildren(...state.providers.map((provider) => {
    const row = document.createElement('tr');
    row.dataset.providerId = provider.id;
    const name = document.createElement('td');
    const link = document.createElement('a');
    link.href = `/?provider=${encodeURIComponent(provider.id)}`;
    link.textContent = provider.name;
    name.append(link);
    if (provider.address) {
      const address = document.createElement('span');
      address.className = 'address';
      address.textContent = provider.address;
      name.append(address);
    }
    const times = document.createElement('td');
    const list = document.createElement('ul');
    list.className = 'times';
    times.append(list);
    row.append(name, times);
    state.rows.set(provider.id, row);
    return row;
  }));
}

async function fetchSummary(ids) {
  const response = await fetch(summaryUrl(ids), { headers: { accept: 'application/json' } });
  if (!response.ok) throw new Error(`HTTP ${response.status}`);
  return response.json();
}

function setConnection(stateName, text) {
  ui.connection.dataset.state = stateName;
  ui.connection.textContent = text;
}

function refetchSoon(providerId) {
  if (state.pending.has(providerId)) return;
  state.pending.set(providerId, setTimeout(async () => {
    state.pending.delete(providerId);
    try {
      const summary = await fetchSummary([providerId]);
      summary.providers.forEach(paintRow);
      ui.updated.textContent = `updated ${new Date().toLocaleTimeString()}`;
    } catch (error) {
      ui.announcer.textContent = `Could not refresh a provider: ${error.message}`;
    }
  }, REFETCH_DELAY_MS));
}

function openStream(cursor) {
  const ids = state.providers.map((p) => p.id);
  const query = new URLSearchParams({ providerIds: ids.join(','), lastEventId: cursor });
  const source = new EventSource(`/api/v1/availability/stream?${query}`);
  state.source = source;
  state.streamsOpened += 1;
  source.onopen = () => setConnection('live', 'Live');
  source.addEventListener('slot-changed', (event) => {
    const change = JSON.parse(event.data);
    // Already in the row (a re-fetch got there first): nothing to do.
    const row = state.rows.get(change.providerId);
    if (row && Number(row.dataset.version) >= change.version) return;
    refetchSoon(change.providerId);
  });
  source.addEventListener('reset', (event) => refetchSoon(JSON.parse(event.data).providerId));
  source.addEventListener('provider-deactivated', (event) => showGone(JSON.parse(event.data).providerId));
  source.onerror = () => {
    if (source.readyState === EventSource.CLOSED) {
      // Refused (its cursor no longer fits): start again from a fresh GET.
      setConnection('offline', 'Reconnecting…');
      source.close();
      setTimeout(load, 2000);
    } else {
      setConnection('connecting', 'Reconnecting…');
    }
  };
}

async function load() {
  try {
    const providers = await (await fetch('/api/v1/providers')).json();
    state.providers = providers.slice(0, MAX_PROVIDERS);
    buildRows();
    const summary = await fetchSummary(state.providers.map((p) => p.id));
    summary.providers.forEach(paintRow);
    ui.updated.textContent = `updated ${new Date().toLocaleTimeString()}`;
    state.source?.close();
    openStream(summary.cursor);
  } catch (error) {
    setConnection('offline', 'Offline');
    ui.announcer.textContent = `Could not load the providers: ${error.message}`;
    setTimeout(load, 5000);
  }
}

load();
