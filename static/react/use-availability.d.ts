// use-availability.d.ts: the types of the React hook (use-availability.js).
// Needs no React types of its own: the hook takes and returns plain values.

import type { AvailabilityDocument, SlotChangedEvent, WatchStatus } from '../slotstream.js';

export interface UseAvailabilityOptions {
  /** Nothing is watched while it is empty (status `idle`). */
  providerId: string | null | undefined;
  /** First day (`YYYY-MM-DD`); default: the provider's today. */
  startDate?: string | undefined;
  /** Days from startDate, 1 to 31 (default 7). */
  days?: number | undefined;
  /** The API's origin, '' (default) for the page's own. */
  baseUrl?: string | undefined;
  /** Poll interval (ms) when the browser has no EventSource (default 15000). */
  pollMs?: number | undefined;
  reconnectMs?: number | undefined;
  maxReconnectMs?: number | undefined;
  hiddenCloseMs?: number | undefined;
}

export interface AvailabilityState {
  /** The provider's days, current; null until the first fetch. A new object on every change. */
  availability: AvailabilityDocument | null;
  /** `idle` without a providerId, else the watch's status (`live` while the stream is open). */
  status: WatchStatus | 'idle';
  /** When the availability last changed here (`Date.now()` of the fetch or event); null before. */
  lastUpdated: number | null;
  /** Fetch afresh (the stream resumes from the fetched version). */
  refresh(): Promise<void>;
}

export declare function useAvailability(options: UseAvailabilityOptions): AvailabilityState;

/**
 * A copy of a watch's document: after a fetch (no `event`) every day is copied; after an event
 * only the event's day, and the other days are `previous`'s own objects.
 */
export declare function snapshot(
  doc: AvailabilityDocument,
  previous: AvailabilityDocument | null,
  event?: SlotChangedEvent,
): AvailabilityDocument;
