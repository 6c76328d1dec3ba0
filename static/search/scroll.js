// More results as the customer scrolls: an IntersectionObserver watches a
// marker under the last card and asks for the next page when it comes near
// the screen. The "Show more providers" button under it does the same for a
// keyboard, a screen reader, or a browser without the observer.

/** Load this far ahead of the marker coming into view. */
const AHEAD = '600px 0px';

/**
 * @param {object} options
 * @param {HTMLElement} options.list the cards' container
 * @param {HTMLElement} options.marker an element under the list
 * @param {HTMLButtonElement} options.button "Show more providers"
 * @param {() => boolean} options.hasMore whether another page exists
 * @param {() => Promise<void>} options.loadMore loads it
 * @returns {{ update(): void }} call after every change of the results
 */
export function infiniteScroll({ list, marker, button, hasMore, loadMore }) {
  let near = false;
  /** The page on its way, if any: one at a time. */
  let pending = null;

  function more() {
    if (pending) return pending;
    if (!hasMore()) return Promise.resolve();
    pending = loadMore().finally(() => {
      pending = null;
      // Still near the marker (a tall screen, short cards): the next page too.
      if (near && hasMore()) requestAnimationFrame(more);
    });
    return pending;
  }

  if ('IntersectionObserver' in window) {
    const observer = new IntersectionObserver((entries) => {
      near = entries.some((entry) => entry.isIntersecting);
      if (near) more();
    }, { rootMargin: AHEAD });
    observer.observe(marker);
  }

  button.addEventListener('click', async () => {
    // Keyboard users stay where they were reading: the first new card's link gets the focus.
    const before = list.children.length;
    await more();
    list.children[before]?.querySelector('.provider-link')?.focus();
  });

  return {
    update() {
      button.hidden = !hasMore();
      if (near && hasMore()) more();
    },
  };
}
