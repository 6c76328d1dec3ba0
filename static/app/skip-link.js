// The "Skip to …" link at the top of the page: it leads to the times once
// they are shown, and to the services before (a skip to a hidden list would
// leave the keyboard nowhere). Following it moves the focus there.

import { $ } from './state.js';

const link = document.querySelector('.skip-link');

/** Where the link leads now: the times when `timesShown`, else the services (the chosen one, or the first). */
export function pointSkipLink(timesShown) {
  link.href = timesShown ? '#times' : '#services';
  link.textContent = timesShown ? 'Skip to the times' : 'Skip to the services';
}

link.addEventListener('click', (event) => {
  const target = link.hash === '#times' ? $('times') : $('services').querySelector('input:checked') ?? $('services').querySelector('input');
  if (!target || target.closest('[hidden]')) return;
  event.preventDefault();
  target.focus();
  target.scrollIntoView({ block: 'start' });
});
