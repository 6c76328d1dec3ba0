// The test app: the seed design's ProviderCalendar on useAvailability, in
// TypeScript, bundled by Vite from the installed package (file:../../static).
// Query: `provider` (default the first listed), `startDate`, `days`, `poll`
// (pollMs), `readme` (also render the README's ProviderCalendar).
// For the test, every slot carries its id and status, the calendar its
// status and version, and window.dayRenders counts each day's renders.
import { StrictMode, memo, useEffect, useState } from 'react';
import { createRoot } from 'react-dom/client';
import { ApiError, client, type Day, type Provider } from 'slotstream';
import { useAvailability } from 'slotstream/react';
import { ProviderCalendar as ReadmeCalendar } from '../readme/calendar';

declare global {
  interface Window {
    dayRenders: Record<string, number>;
  }
}

const params = new URLSearchParams(location.search);
const numberParam = (name: string): number | undefined => (params.has(name) ? Number(params.get(name)) : undefined);
window.dayRenders = {};

const DaySlots = memo(function DaySlots({ day }: { day: Day }) {
  window.dayRenders[day.date] = (window.dayRenders[day.date] ?? 0) + 1;
  return (
    <li className="day" data-date={day.date}>
      <h3>{day.date}</h3>
      <ul>
        {day.slots.map((slot) => (
          <li key={slot.availabilityId} data-availability-id={slot.availabilityId} data-status={slot.status}>
            {slot.startTime} {slot.status}
          </li>
        ))}
      </ul>
    </li>
  );
});

function Calendar({ providerId }: { providerId: string | null }) {
  const { availability, status, lastUpdated, refresh } = useAvailability({
    providerId,
    startDate: params.get('startDate') ?? undefined,
    days: numberParam('days'),
    pollMs: numberParam('poll'),
  });
  return (
    <section id="calendar" data-status={status} data-provider-id={availability?.providerId ?? ''} data-version={availability?.version ?? ''}>
      <p>
        <b id="status">{status}</b>, last updated {lastUpdated === null ? 'never' : new Date(lastUpdated).toLocaleTimeString()}{' '}
        <button type="button" onClick={() => void refresh()}>
          Refresh
        </button>
      </p>
      <ol>{availability?.days.map((day) => <DaySlots key={day.date} day={day} />)}</ol>
    </section>
  );
}

function App() {
  const [providers, setProviders] = useState<Provider[]>([]);
  const [providerId, setProviderId] = useState<string | null>(params.get('provider'));
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    client()
      .providers()
      .then(
        (list) => {
          setProviders(list);
          setProviderId((chosen) => chosen ?? list[0]?.id ?? null);
        },
        (e: unknown) => setError(e instanceof ApiError ? `${e.status}: ${e.message}` : String(e)),
      );
  }, []);
  return (
    <main>
      <h1>slotstream React example</h1>
      {error !== null && <p role="alert">{error}</p>}
      <select id="provider" value={providerId ?? ''} onChange={(e) => setProviderId(e.target.value || null)}>
        <option value="">Choose a provider</option>
        {providers.map((p) => (
          <option key={p.id} value={p.id}>
            {p.name}
          </option>
        ))}
      </select>
      <Calendar providerId={providerId} />
      {params.has('readme') && providerId !== null && (
        <div id="readme-example">
          <ReadmeCalendar providerId={providerId} />
        </div>
      )}
    </main>
  );
}

const root = document.getElementById('root');
if (!root) throw new Error('no #root');
createRoot(root).render(
  <StrictMode>
    <App />
  </StrictMode>,
);
