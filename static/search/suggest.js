// The service field's suggestions: an ARIA combobox (list autocomplete) over
// GET /api/v1/search/services. Typing (or focusing the empty field) lists up
// to ten names, the most offered first, each with how many providers offer
// it; ArrowDown/ArrowUp move through them, Enter or a tap chooses one,
// Escape closes the list. Choosing runs the search (onChoose).

import { suggestServices } from './api.js';

const TYPE_DELAY_MS = 150;

/**
 * @param {object} options
 * @param {HTMLInputElement} options.input role=combobox, aria-controls the listbox
 * @param {HTMLUListElement} options.listbox role=listbox
 * @param {(name: string) => void} options.onChoose
 */
export function serviceSuggestions({ input, listbox, onChoose }) {
  let options = [];
  let active = -1;
  let timer = 0;
  let controller = null;

  function close() {
    clearTimeout(timer);
    controller?.abort();
    listbox.hidden = true;
    input.setAttribute('aria-expanded', 'false');
    input.removeAttribute('aria-activedescendant');
    active = -1;
  }

  function setActive(index) {
    active = index;
    options.forEach((option, i) => option.setAttribute('aria-selected', String(i === index)));
    if (index >= 0) {
      input.setAttribute('aria-activedescendant', options[index].id);
      options[index].scrollIntoView({ block: 'nearest' });
    } else input.removeAttribute('aria-activedescendant');
  }

  function show(services) {
    options = services.map((service, i) => {
      const option = document.createElement('li');
      option.id = `service-option-${i}`;
      option.setAttribute('role', 'option');
      option.setAttribute('aria-selected', 'false');
      option.dataset.name = service.name;
      const name = document.createElement('span');
      name.className = 'option-name';
      name.textContent = service.name;
      const count = document.createElement('span');
      count.className = 'option-count';
      count.textContent = service.providers === 1 ? '1 provider' : `${service.providers} providers`;
      option.append(name, count);
      return option;
    });
    listbox.replaceChildren(...options);
    active = -1;
    input.removeAttribute('aria-activedescendant');
    const open = options.length > 0 && document.activeElement === input;
    listbox.hidden = !open;
    input.setAttribute('aria-expanded', String(open));
  }

  async function lookUp() {
    controller?.abort();
    controller = new AbortController();
    const text = input.value.trim();
    try {
      const services = await suggestServices(text, { signal: controller.signal });
      // The exact name typed already: nothing to suggest.
      const exact = services.length === 1 && services[0].name.toLowerCase() === text.toLowerCase();
      show(exact ? [] : services);
    } catch (error) {
      if (error?.name !== 'AbortError') show([]); // no suggestions; the search still works
    }
  }

  function choose(index) {
    const name = options[index]?.dataset.name;
    if (!name) return;
    input.value = name;
    close();
    onChoose(name);
  }

  input.addEventListener('input', () => {
    clearTimeout(timer);
    timer = setTimeout(lookUp, TYPE_DELAY_MS);
  });
  input.addEventListener('focus', () => {
    if (listbox.hidden) lookUp();
  });
  input.addEventListener('keydown', (event) => {
    const open = !listbox.hidden && options.length > 0;
    if (event.key === 'ArrowDown') {
      event.preventDefault();
      if (!open) return void lookUp();
      setActive((active + 1) % options.length);
    } else if (event.key === 'ArrowUp' && open) {
      event.preventDefault();
      setActive(active <= 0 ? options.length - 1 : active - 1);
    } else if (event.key === 'Enter' && open && active >= 0) {
      event.preventDefault(); // chosen here; the form is not submitted twice
      choose(active);
    } else if (event.key === 'Escape' && open) {
      event.preventDefault();
      close();
    }
  });
  input.addEventListener('blur', close);
  // pointerdown, not click: the field keeps the focus (a blur would close the list first).
  listbox.addEventListener('pointerdown', (event) => {
    const option = event.target.closest('[role="option"]');
    if (!option) return;
    event.preventDefault();
    choose(options.indexOf(option));
  });

  return { close };
}
