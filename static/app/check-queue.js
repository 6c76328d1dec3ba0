// Checks of stored records against the server (the customer's bookings,
// their waitlist entries), coalesced: changes that arrive close together are
// answered with one check per record, however many of them touched it.

/** A function that queues ids for `check(id)`: each runs once, `ms` after the first id of a batch was queued. */
export function checkQueue(check, ms) {
  const pending = new Set();
  let timer = 0;
  return (ids) => {
    for (const id of ids) pending.add(id);
    if (pending.size === 0 || timer) return;
    timer = setTimeout(() => {
      timer = 0;
      const queued = [...pending];
      pending.clear();
      queued.forEach(check);
    }, ms);
  };
}
