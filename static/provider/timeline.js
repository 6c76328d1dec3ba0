// Drawing the agenda: a day as a timeline (one row per booking, hold, free
// or blocked time, each as tall as it is long, closed hours as gaps, a "now"
// line on today) and a week as seven such columns on one time scale. Only
// DOM building from the agenda document; what the buttons do is provider.js's.
//
// Every time is the provider's wall clock (the document's HH:MM, or an
// instant read with Intl.DateTimeFormat in the provider's zone).

import { clockIn, dayLabel, longDayLabel, minutes } from '../app/format.js';

/** How long a "new booking" highlight lasts (its CSS animation's length). */
export const ARRIVAL_MS = 4000;

/** Pixels per minute: a day's rows, and the week's fixed-height blocks. */
const DAY_PX_PER_MIN = 1.6;
const WEEK_PX_PER_MIN = 1.2;

const el = (tag, className, text) => {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
};

const isPast = (segment, now) => Date.parse(segment.endsAt) <= now;

function sameHold(a, b) {
  return (a.hold?.expiresAt ?? null) === (b.hold?.expiresAt ?? null) && (a.hold?.serviceId ?? null) === (b.hold?.serviceId ?? null);
}

/**
 * A day's slots as segments: a booking's slots as one, a hold's contiguous
 * slots as one, every free or blocked slot on its own (each has its button).
 * { kind, slots, startTime, endTime, startsAt, endsAt, booking?, hold? }
 */
export function segments(day) {
  const out = [];
  for (const slot of day.slots) {
    const kind = slot.status === 'available' ? 'free' : slot.status;
    const last = out.at(-1);
    const contiguous = last && last.endTime === slot.startTime;
    const joins =
      contiguous &&
      last.kind === kind &&
      ((kind === 'booked' && last.booking && slot.booking && last.booking.id === slot.booking.id) ||
        (kind === 'held' && sameHold(last.slots[0], slot)));
    if (joins) {
      last.slots.push(slot);
      last.endTime = slot.endTime;
      last.endsAt = slot.endsAt;
    } else {
      out.push({
        kind,
        slots: [slot],
        startTime: slot.startTime,
        endTime: slot.endTime,
        startsAt: slot.startsAt,
        endsAt: slot.endsAt,
        booking: kind === 'booked' ? slot.booking ?? null : null,
        hold: kind === 'held' ? slot.hold ?? {} : null,
      });
    }
  }
  return out;
}

/** Wall-clock length of a segment in minutes (for its height); its real length if the clock went backwards. */
function wallMinutes(startTime, endTime, startsAt, endsAt) {
  const wall = minutes(endTime) - minutes(startTime);
  return wall > 0 ? wall : Math.max(5, Math.round((Date.parse(endsAt) - Date.parse(startsAt)) / 60000));
}

/** Counts for a day's heading: bookings, free, blocked. */
export function dayCounts(day) {
  const segs = segments(day);
  return {
    bookings: new Set(segs.filter((s) => s.kind === 'booked').map((s) => s.booking?.id ?? s.startsAt)).size,
    free: segs.filter((s) => s.kind === 'free').length,
    blocked: segs.filter((s) => s.kind === 'blocked').length,
    held: segs.filter((s) => s.kind === 'held').length,
  };
}

export function countsText(counts) {
  const plural = (n, word) => `${n} ${word}${n === 1 ? '' : 's'}`;
  const parts = [plural(counts.bookings, 'booking'), `${counts.free} free`, `${counts.blocked} blocked`];
  if (counts.held) parts.push(`${counts.held} being booked`);
  return parts.join(' · ');
}

const customerName = (booking) => booking?.customer?.name || 'A customer';

/** "Someone is booking 14:30" */
export const heldWords = (segment) => `Someone is booking ${segment.startTime}`;

/** Words for a segment, for labels and announcements. */
export function segmentWords(segment) {
  const when = `${segment.startTime}–${segment.endTime}`;
  switch (segment.kind) {
    case 'booked':
      return segment.booking ? `${when}, booked: ${customerName(segment.booking)}, ${segment.booking.serviceName}` : `${when}, booked`;
    case 'held':
      return `${when}, ${heldWords(segment).toLowerCase()}`;
    case 'free':
      return `${when}, free`;
    case 'blocked':
      return `${when}, blocked`;
    default:
      return when;
  }
}

function arrivalStyle(node, bookingId, arrivals, now) {
  const at = bookingId ? arrivals.get(bookingId) : undefined;
  if (at === undefined || now - at >= ARRIVAL_MS) return;
  node.classList.add('arrived');
  // A redraw mid-highlight carries on where it was rather than starting again.
  node.style.animationDelay = `${-(now - at)}ms`;
}

function button(label, className, data, ariaLabel) {
  const b = el('button', className, label);
  b.type = 'button';
  Object.assign(b.dataset, data);
  if (ariaLabel) b.setAttribute('aria-label', ariaLabel);
  return b;
}

/** The focus key of a segment's button, so a redraw can give focus back to its successor. */
const keyOf = (action, segment) => `${action}:${segment.booking?.id ?? segment.slots[0].availabilityId}`;

/** One row of the day timeline. */
function dayRow(segment, { now, arrivals, zone }) {
  const li = el('li', `row ${segment.kind}`);
  li.dataset.kind = segment.kind;
  li.dataset.start = segment.startTime;
  li.dataset.startsAt = segment.startsAt;
  li.dataset.slotIds = segment.slots.map((s) => s.availabilityId).join(' ');
  const length = wallMinutes(segment.startTime, segment.endTime, segment.startsAt, segment.endsAt);
  li.style.setProperty('--minutes', String(length));
  li.classList.toggle('long', length >= 45);
  const past = isPast(segment, now);
  li.classList.toggle('past', past);

  const time = el('div', 'row-time');
  time.append(el('span', 'start', segment.startTime), el('span', 'end', segment.endTime));
  const card = el('div', 'card');
  const text = el('div', 'card-text');
  const actions = el('div', 'card-actions');
  const when = `${segment.startTime}–${segment.endTime}`;

  if (segment.kind === 'booked') {
    const b = segment.booking;
    if (b) li.dataset.bookingId = b.id;
    text.append(el('p', 'who', b ? customerName(b) : 'Booked'), el('p', 'what', b ? `${b.serviceName} · ${when}` : when));
    if (b?.customer?.email) {
      const mail = el('a', 'email', b.customer.email);
      // Encoded whole: an address holding `?cc=…&body=…` must not fill in a mail of its own.
      mail.href = `mailto:${encodeURIComponent(b.customer.email)}`;
      text.append(mail);
    }
    if (b && !past) {
      const who = `${customerName(b)}'s ${b.serviceName} at ${segment.startTime}`;
      actions.append(
        button('Move', 'secondary move', { action: 'move', bookingId: b.id, focusKey: keyOf('move', segment) }, `Move ${who}`),
        button('Cancel', 'danger-outline cancel', { action: 'cancel', bookingId: b.id, focusKey: keyOf('cancel', segment) }, `Cancel ${who}`),
      );
    }
    arrivalStyle(li, b?.id, arrivals, now);
  } else if (segment.kind === 'held') {
    text.append(el('p', 'who', heldWords(segment)), el('p', 'what', segment.hold?.serviceName ? `${segment.hold.serviceName} · ${when}` : when));
    if (segment.hold?.expiresAt) text.append(el('p', 'note', `Held until ${clockIn(segment.hold.expiresAt, zone)} unless they book`));
  } else if (segment.kind === 'free') {
    text.append(el('p', 'who', 'Free'), el('p', 'what', when));
    if (!past) {
      actions.append(button('Block', 'secondary block-one', { action: 'block', slotId: segment.slots[0].availabilityId, focusKey: keyOf('block', segment) }, `Block ${when}`));
    }
  } else if (segment.kind === 'blocked') {
    text.append(el('p', 'who', 'Blocked'), el('p', 'what', when));
    if (!past) {
      actions.append(button('Unblock', 'secondary unblock-one', { action: 'unblock', slotId: segment.slots[0].availabilityId, focusKey: keyOf('unblock', segment) }, `Unblock ${when}`));
    }
  } else {
    text.append(el('p', 'who', segment.kind), el('p', 'what', when));
  }
  card.append(text);
  if (actions.childElementCount) card.append(actions);
  li.append(time, card);
  return li;
}

/** Where the "now" line goes on a day: the row it falls in and how far down, or null (not today, or outside the day). */
function nowPlace(segs, now) {
  for (const [i, s] of segs.entries()) {
    const a = Date.parse(s.startsAt);
    const b = Date.parse(s.endsAt);
    if (now < a) return { index: i, fraction: 0 };
    if (now < b) return { index: i, fraction: (now - a) / (b - a) };
  }
  return null;
}

function nowLine(zone, now) {
  const line = el('div', 'now-line');
  line.setAttribute('aria-hidden', 'true');
  const label = el('span', 'now-label', clockIn(new Date(now).toISOString(), zone));
  label.title = 'Now';
  line.append(label);
  return line;
}

/**
 * The day timeline.
 * @param {object} day the agenda document's day
 * @param {{ now: number, today: string, zone: string, arrivals: Map<string, number> }} context
 */
export function drawDay(day, context) {
  const { now, today, zone } = context;
  const wrap = el('div', 'timeline day-timeline');
  wrap.style.setProperty('--ppm', String(DAY_PX_PER_MIN));
  const segs = segments(day);
  if (segs.length === 0) {
    wrap.append(el('p', 'closed-day', `No opening hours on ${longDayLabel(day.date)}.`));
    return wrap;
  }
  const list = el('ol', 'rows');
  list.setAttribute('aria-label', `${longDayLabel(day.date)}, ${zoneWords(zone)}`);
  const place = day.date === today ? nowPlace(segs, now) : null;
  segs.forEach((segment, i) => {
    const previous = segs[i - 1];
    if (previous && previous.endTime !== segment.startTime) {
      const gap = el('li', 'row gap');
      gap.style.setProperty('--minutes', String(Math.min(60, Math.max(10, minutes(segment.startTime) - minutes(previous.endTime)))));
      const time = el('div', 'row-time');
      time.append(el('span', 'start', previous.endTime));
      gap.append(time, el('div', 'card', `Closed ${previous.endTime}–${segment.startTime}`));
      list.append(gap);
    }
    const row = dayRow(segment, context);
    if (place?.index === i) {
      const line = nowLine(zone, now);
      line.style.top = `${(place.fraction * 100).toFixed(2)}%`;
      row.append(line);
      row.classList.add('has-now');
    }
    list.append(row);
  });
  if (day.date === today && !place) {
    const after = el('li', 'row after-hours');
    after.append(el('div', 'row-time'), el('div', 'card', `Now ${clockIn(new Date(now).toISOString(), zone)}: the day's times are over.`));
    list.append(after);
  }
  wrap.append(list);
  return wrap;
}

const zoneWords = (zone) => `${zone.split('/').pop().replaceAll('_', ' ')} time`;

/** One block of the week grid (a button: it opens that day). */
function weekBlock(segment, day, origin, context) {
  const { now, arrivals } = context;
  const b = el('button', `block ${segment.kind}`);
  b.type = 'button';
  b.dataset.action = 'open-day';
  b.dataset.date = day.date;
  b.dataset.kind = segment.kind;
  b.dataset.start = segment.startTime;
  b.dataset.focusKey = `week:${day.date}:${segment.startTime}`;
  if (segment.booking) b.dataset.bookingId = segment.booking.id;
  const top = minutes(segment.startTime) - origin;
  const length = wallMinutes(segment.startTime, segment.endTime, segment.startsAt, segment.endsAt);
  b.style.top = `calc(${top} * var(--ppm) * 1px)`;
  b.style.height = `calc(${length} * var(--ppm) * 1px)`;
  b.classList.toggle('past', isPast(segment, now));
  b.setAttribute('aria-label', `${dayLabel(day.date)} ${segmentWords(segment)}. Open this day.`);
  const time = el('span', 'block-time', segment.startTime);
  const words = {
    booked: segment.booking ? customerName(segment.booking) : 'Booked',
    held: heldWords(segment),
    free: 'Free',
    blocked: 'Blocked',
  }[segment.kind] ?? segment.kind;
  if (segment.kind === 'booked' && segment.booking) {
    // The name matters most in a narrow column: its own line, then time and service.
    b.append(el('span', 'block-name', words), time, el('span', 'block-service', segment.booking.serviceName));
  } else {
    b.append(time, el('span', 'block-words', words));
  }
  arrivalStyle(b, segment.booking?.id, arrivals, now);
  return b;
}

/** The week: seven columns on one time scale, today's with a "now" line. */
export function drawWeek(doc, context) {
  const { now, today, zone } = context;
  const all = doc.days.flatMap((d) => d.slots);
  const wrap = el('div', 'timeline week-timeline');
  const shortest = Math.min(30, ...all.map((s) => wallMinutes(s.startTime, s.endTime, s.startsAt, s.endsAt)));
  wrap.style.setProperty('--ppm', String(Math.max(WEEK_PX_PER_MIN, 30 / shortest)));
  if (all.length === 0) {
    wrap.append(el('p', 'closed-day', 'No opening hours in these seven days.'));
    return wrap;
  }
  const origin = Math.floor(Math.min(...all.map((s) => minutes(s.startTime))) / 60) * 60;
  const endMinutes = Math.max(...all.map((s) => minutes(s.startTime) + wallMinutes(s.startTime, s.endTime, s.startsAt, s.endsAt)));
  const close = Math.ceil(endMinutes / 60) * 60;
  wrap.style.setProperty('--span', String(close - origin));

  const axis = el('div', 'axis');
  axis.setAttribute('aria-hidden', 'true');
  axis.append(el('div', 'column-head'));
  const hours = el('div', 'axis-hours');
  for (let m = origin; m <= close; m += 60) {
    const mark = el('span', 'hour', `${String(Math.floor(m / 60) % 24).padStart(2, '0')}:00`);
    mark.style.top = `calc(${m - origin} * var(--ppm) * 1px)`;
    hours.append(mark);
  }
  axis.append(hours);
  wrap.append(axis);

  for (const day of doc.days) {
    const column = el('section', 'column');
    column.dataset.date = day.date;
    column.classList.toggle('today', day.date === today);
    const head = el('div', 'column-head');
    const open = button(day.date === today ? `Today ${dayLabel(day.date).replace(/^\w+ /, '')}` : dayLabel(day.date), 'day-link', {
      action: 'open-day', date: day.date, focusKey: `week-head:${day.date}`,
    });
    head.append(open, el('span', 'column-counts', countsText(dayCounts(day)).replace(/ · \d+ blocked/, '')));
    column.setAttribute('aria-label', longDayLabel(day.date));
    const lane = el('div', 'lane');
    for (let m = origin; m < close; m += 60) {
      const rule = el('span', 'hour-rule');
      rule.style.top = `calc(${m - origin} * var(--ppm) * 1px)`;
      lane.append(rule);
    }
    const segs = segments(day);
    if (segs.length === 0) lane.append(el('p', 'closed-note', 'Closed'));
    for (const segment of segs) lane.append(weekBlock(segment, day, origin, context));
    if (day.date === today) {
      const at = minutes(clockIn(new Date(now).toISOString(), zone));
      if (at >= origin && at <= close) {
        const line = nowLine(zone, now);
        line.style.top = `calc(${at - origin} * var(--ppm) * 1px)`;
        lane.append(line);
      }
    }
    column.append(head, lane);
    wrap.append(column);
  }
  return wrap;
}
