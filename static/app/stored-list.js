// A list of records kept in this browser's localStorage under one key (the
// customer's bookings, their waitlist entries): read afresh each time and
// written whole. When storage is full or disabled the list is kept in memory,
// for this page only. Another tab writing the same key is reported too.

/** The list stored under `key`: { read, write, onWrittenElsewhere }. */
export function storedList(key) {
  let memory = null; // when storage is disabled
  return {
    /** The records; [] when none are stored or what is stored is unreadable. */
    read() {
      if (memory) return memory;
      try {
        const list = JSON.parse(localStorage.getItem(key) ?? '[]');
        return Array.isArray(list) ? list : [];
      } catch {
        return [];
      }
    },
    /** Store `list` in place of the records. */
    write(list) {
      try {
        localStorage.setItem(key, JSON.stringify(list));
        memory = null;
      } catch {
        memory = list; // storage full or disabled: kept for this page only
      }
    },
    /** Run `callback` whenever another tab of this page writes the list. */
    onWrittenElsewhere(callback) {
      window.addEventListener('storage', (event) => {
        if (event.key === key) callback();
      });
    },
  };
}
