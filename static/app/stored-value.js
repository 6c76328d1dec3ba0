// One string kept in this browser's localStorage under one key (a choice the
// customer or the desk made: "Notify me", the agenda's sound). When storage
// is disabled it reads as unset and writing it does nothing: the choice
// lasts for this page only.

/** The value stored under `key`: { read, write }. */
export function storedValue(key) {
  return {
    /** The stored string, or null when unset or unreadable. */
    read() {
      try {
        return localStorage.getItem(key);
      } catch {
        return null;
      }
    },
    write(value) {
      try {
        localStorage.setItem(key, value);
      } catch {
        // storage disabled: not kept
      }
    },
  };
}
