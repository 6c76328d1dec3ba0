// slotstream.d.ts: the types of slotstream.js, the browser client of the
// slotstream API (DESIGN.md sections 3 and 4). Hand-written beside the
// module, which stays a plain ES module with no build step; CI checks an
// example against these declarations with `tsc --strict`
// (tests/react-app/src/, and the README's TypeScript blocks), and checks that
// every export of slotstream.js is declared here (tests/react-app/types.test.mjs).
//
// Identifiers are UUID strings; dates are `YYYY-MM-DD` and local times
// `HH:MM` in the provider's IANA timezone; instants are RFC 3339 strings.

/** A slot's status in an availability document. */
export type SlotStatus = 'available' | 'booked' | 'blocked' | 'held';

/** One slot of a day. */
export interface Slot {
  availabilityId: string;
  /** Local `HH:MM` in the provider's timezone. */
  startTime: string;
  endTime: string;
  /** The same moments as RFC 3339 instants with the provider's offset (post `startsAt` back as a booking's `startTime`). */
  startsAt: string;
  endsAt: string;
  status: SlotStatus;
  /** Where this time is booked, for a provider whose slots come from the marketplace's own booking system. */
  bookingUrl?: string;
}

export interface Day {
  date: string;
  slots: Slot[];
}

/** `GET /api/v1/providers/{providerId}/availability`. */
export interface AvailabilityDocument {
  providerId: string;
  /** IANA timezone of the provider; dates and times are local to it. */
  timezone: string;
  startDate: string;
  days: Day[];
  /** The provider's version: the ETag's basis and the stream's resume point. */
  version: number;
  /** `external` when the marketplace's booking system owns the slots; absent otherwise. */
  slotSource?: 'external';
}

/** Who made a change. */
export type Actor = 'customer' | 'provider' | 'admin' | 'system' | 'upstream';

/** The data of a `slot-changed` stream event (public: no customer data, no booking id). */
export interface SlotChangedEvent {
  availabilityId: string;
  providerId: string;
  date: string;
  startTime: string;
  endTime: string;
  previousStatus: SlotStatus | null;
  /** `removed`: a changed weekly schedule took the slot off the calendar. */
  newStatus: SlotStatus | 'removed';
  changedAt: string;
  startsAt?: string;
  endsAt?: string;
  changedBy?: Actor;
  /** The provider's version this change made. */
  version: number;
}

/** What a watch is doing: see {@link STATUSES}. */
export type WatchStatus = 'connecting' | 'live' | 'reconnecting' | 'paused' | 'polling' | 'ended';

/**
 * What onStatus reports: `connecting`, `live`, `reconnecting`, `paused` (tab hidden), `polling`, or `ended`
 * (the provider was deactivated: no more changes will come, and the watch stops).
 */
export declare const STATUSES: readonly WatchStatus[];

/** A watch's counters, for developers. */
export interface WatchStats {
  fetches: number;
  /** Conditional GETs answered `304 Not Modified` (polling). */
  notModified: number;
  events: number;
  duplicates: number;
  reconnects: number;
  resets: number;
  silences: number;
}

/** What onStatus receives beside the status. */
export interface WatchCounters extends WatchStats {
  version: number;
}

/** What onChange receives beside the document. */
export interface AvailabilityChange {
  /** The event just applied; absent after a fetch. */
  event?: SlotChangedEvent;
  version: number;
}

/** Reconnect timing (milliseconds). */
export interface ReconnectOptions {
  /** First reconnect delay, doubled per failure up to maxReconnectMs; each delay is jittered (default 250). */
  reconnectMs?: number;
  /** Default 1000. */
  maxReconnectMs?: number;
}

export interface WatchOptions extends ReconnectOptions {
  providerId: string;
  /** First day (`YYYY-MM-DD`); default: the provider's today. */
  startDate?: string;
  /** Days from startDate, 1 to 31 (default 7). */
  days?: number;
  /**
   * The whole document after the first fetch, every applied event and every refetch. It is the
   * watch's own object, changed in place by later events: copy what you keep (the React hook does).
   */
  onChange?: (doc: AvailabilityDocument, change: AvailabilityChange) => void;
  /** The stream said its resume point is gone; a refetch follows. */
  onReset?: (info: { version: number }) => void;
  /** Called when the status changes, and after every poll. */
  onStatus?: (status: WatchStatus, counters: WatchCounters) => void;
  /** The API's origin, '' (default) for the page's own. */
  baseUrl?: string;
  /** Poll interval when the browser has no EventSource (default 15000). */
  pollMs?: number;
  /** Close the stream once the tab has been hidden this long (default 30000). */
  hiddenCloseMs?: number;
}

/** A running watch (watchAvailability). */
export interface AvailabilityWatch {
  /** Stop: closes the stream, cancels timers and pending fetches. */
  close(): void;
  /** Fetch afresh, then stream (or poll) from the fetched version. */
  refresh(): Promise<void>;
  /** Poll now (after your own booking) when polling; the stream needs no nudge. */
  nudge(): void;
  readonly document: AvailabilityDocument | null;
  /** -1 until the first fetch. */
  readonly version: number;
  readonly status: WatchStatus;
  /** A copy of the counters. */
  readonly stats: WatchStats;
}

/**
 * Keep one provider's availability current: fetch, then stream from exactly the fetched version
 * (reconnecting with jittered back-off, refetching on `reset`), or poll with If-None-Match when
 * the browser has no EventSource.
 */
export declare function watchAvailability(options: WatchOptions): AvailabilityWatch;

/** The wait (ms) before reconnect number `failures + 1`: jittered, doubling up to maxReconnectMs. */
export declare function reconnectDelay(failures: number, options?: ReconnectOptions): number;

/** A watch for a stream gone silent (watchSilence). */
export interface SilenceWatch {
  /** Call on every event. */
  heard(): void;
  /** Call on each `heartbeat` event (`{"everySecs":N}`). */
  heartbeat(message: { data: string }): void;
  /** Call when the stream closes. */
  stop(): void;
}

/** After three heartbeat periods of nothing, `onSilent` runs once. Open streams with `heartbeat=event`. */
export declare function watchSilence(onSilent: () => void): SilenceWatch;

/** The `detail` (or title) of a problem+json answer, or `HTTP <status>`. */
export declare function problemMessage(response: Response): Promise<string>;

/** An Error carrying the HTTP status and the problem's detail. */
export declare class ApiError extends Error {
  constructor(status: number, message: string);
  status: number;
}

/** A provider with its services (`GET /api/v1/providers`). */
export interface Provider {
  id: string;
  name: string;
  timezone: string;
  address: string | null;
  description: string | null;
  /** ISO 4217 code of the provider's prices. */
  currency: string;
  version: number;
  services: Service[];
}

export interface Service {
  id: string;
  name: string;
  durationMinutes: number;
  /** Price in the currency's minor unit (`4000` with `PLN` is 40.00 zł). */
  priceCents: number;
  currency: string;
}

export interface Customer {
  name: string;
  email: string;
}

/** `POST /api/v1/holds`. */
export interface NewHold {
  providerId: string;
  serviceId: string;
  /** RFC 3339, any offset (a slot's `startsAt`). */
  startTime: string;
}

export interface Hold {
  id: string;
  providerId: string;
  serviceId: string;
  startTime: string;
  endTime: string;
  expiresAt: string;
  /** Only in the answer that created it. */
  token?: string;
}

/** `POST /api/v1/bookings`; with `holdId`, the hold's token goes as `holdToken`. */
export interface NewBooking {
  providerId: string;
  serviceId: string;
  startTime: string;
  customer: Customer;
  holdId?: string;
}

export interface Booking {
  id: string;
  providerId: string;
  serviceId: string;
  startTime: string;
  endTime: string;
  status: 'confirmed' | 'cancelled';
  /** The booking's secret, only in the answer that created it. */
  token?: string;
  cancelledBy?: Actor;
  cancellationReason?: string;
}

/** `POST /api/v1/waitlist`. */
export interface NewWaitlistEntry {
  providerId: string;
  serviceId: string;
  /** First and last local dates. */
  from: string;
  to: string;
  /** Local times of day (`[["14:00","18:00"]]`); whole days when absent. */
  times?: [string, string][];
  customer: Customer;
}

export interface WaitlistOffer {
  holdId: string;
  startsAt: string;
  endsAt: string;
  expiresAt: string;
}

export interface WaitlistEntry {
  id: string;
  providerId: string;
  serviceId: string;
  from: string;
  to: string;
  times?: [string, string][];
  status: 'waiting' | 'offered' | 'fulfilled' | 'left' | 'expired' | 'notified';
  createdAt: string;
  expiresAt: string;
  offer?: WaitlistOffer;
  /** Only in the answer that made it. */
  token?: string;
}

/** An answer with its Response (for its headers, e.g. Date). */
export interface Answer<T> {
  response: Response;
  body: T;
}

/** A hold's id and token. */
export interface HoldCredential {
  id: string;
  token: string;
}

/** The API's calls (client); each rejects with ApiError on a non-2xx answer. */
export interface Client {
  providers(): Promise<Provider[]>;
  hold(hold: NewHold): Promise<Answer<Hold>>;
  renewHold(hold: HoldCredential): Promise<Answer<Hold>>;
  releaseHold(hold: HoldCredential, options?: { keepalive?: boolean }): Promise<Answer<null>>;
  book(booking: NewBooking, holdToken?: string): Promise<Booking>;
  booking(id: string, token: string): Promise<Booking>;
  cancel(id: string, token: string): Promise<Booking>;
  joinWaitlist(entry: NewWaitlistEntry): Promise<WaitlistEntry>;
  waitlistEntry(id: string, token: string): Promise<Answer<WaitlistEntry>>;
  leaveWaitlist(id: string, token: string): Promise<Answer<null>>;
  declineOffer(id: string, token: string): Promise<Answer<null>>;
  /** The booking's iCalendar file (the token goes in a header, never in a URL). */
  calendar(id: string, token: string): Promise<Blob>;
}

/** The API's calls against `baseUrl` ('' for the page's own origin). */
export declare function client(baseUrl?: string): Client;
