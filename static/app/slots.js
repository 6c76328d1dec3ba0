// Pure helpers over an availability (or agenda) document's slots, shared by
// the booking page and the provider's agenda. No DOM, no state.

import { minutes } from './format.js';

const isAvailable = (slot) => slot.status === 'available';

/**
 * The consecutive, contiguous slots of `day` from `index` that together last
 * at least `needed` minutes, each of them free by `isFree`; or null. As the
 * server books: a service that ends inside a slot takes that slot whole (a
 * 45-minute haircut at 10:00 takes the 10:00 and 10:30 half hours).
 */
export function coveringSlots(day, index, needed, isFree = isAvailable) {
  const slots = [];
  let covered = 0;
  let end = null;
  for (let i = index; i < day.slots.length; i += 1) {
    const slot = day.slots[i];
    if (!isFree(slot)) return null;
    if (end !== null && slot.startTime !== end) return null;
    slots.push(slot);
    // The real length (an instant pair), so a slot stretched over a spring-forward gap counts 30 minutes, not 90.
    covered += slotMinutes(slot);
    end = slot.endTime;
    if (covered >= needed) return slots;
  }
  return null;
}

/** A slot's real length in minutes (from its instants; its wall-clock times when they are missing). */
export function slotMinutes(slot) {
  if (slot.startsAt && slot.endsAt) return Math.round((Date.parse(slot.endsAt) - Date.parse(slot.startsAt)) / 60000);
  return minutes(slot.endTime) - minutes(slot.startTime);
}
