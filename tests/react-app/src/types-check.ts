// Type-level checks of the package's declarations (tsc only; nothing runs):
// what must compile compiles, and each @ts-expect-error shows a type is not
// looser than the API (a wrong status, a missing field, a wrong callback).
import {
  STATUSES,
  client,
  reconnectDelay,
  watchAvailability,
  watchSilence,
  type AvailabilityWatch,
  type Booking,
  type SlotChangedEvent,
  type WatchStatus,
} from 'slotstream';
import { snapshot, useAvailability, type AvailabilityState } from 'slotstream/react';

export const statuses: readonly WatchStatus[] = STATUSES;
export const delay: number = reconnectDelay(3, { reconnectMs: 100 });

export function watch(providerId: string): AvailabilityWatch {
  const w = watchAvailability({
    providerId,
    startDate: '2030-01-07',
    days: 7,
    pollMs: 5000,
    onChange: (doc, { event, version }) => {
      const slot = doc.days[0]?.slots[0];
      if (slot && slot.status === 'held') console.log(slot.startsAt, version);
      if (event) console.log(event.newStatus === 'removed', event.previousStatus);
    },
    onStatus: (status, counters) => console.log(status, counters.notModified),
  });
  w.nudge();
  // @ts-expect-error `document` is read-only
  w.document = null;
  return w;
}

// @ts-expect-error providerId is required
watchAvailability({ days: 7 });
// @ts-expect-error onStatus gets a status, not a number
watchAvailability({ providerId: 'p', onStatus: (status: number) => status });

export async function book(providerId: string, serviceId: string, startTime: string): Promise<Booking> {
  const api = client('https://booking.example');
  const hold = await api.hold({ providerId, serviceId, startTime });
  const booking = await api.book(
    { providerId, serviceId, startTime, customer: { name: 'Ada', email: 'ada@example.com' }, holdId: hold.body.id },
    hold.body.token,
  );
  // @ts-expect-error a booking is confirmed or cancelled
  if (booking.status === 'pending') throw new Error('never');
  const ics: Blob = await api.calendar(booking.id, booking.token ?? '');
  console.log(ics.size);
  return booking;
}

export const silence = watchSilence(() => console.log('silent'));
silence.heartbeat({ data: '{"everySecs":15}' });

export function useCalendar(providerId: string | null): AvailabilityState {
  const state = useAvailability({ providerId, days: 3 });
  // @ts-expect-error status is a watch status or `idle`
  const wrong: 'open' = state.status;
  console.log(wrong);
  return state;
}

export function copy(event: SlotChangedEvent) {
  const doc = { providerId: 'p', timezone: 'Europe/Warsaw', startDate: '2030-01-07', days: [], version: 1 };
  return snapshot(doc, null, event);
}
