// The query form: service (with suggestions), day (today, tomorrow, a date)
// and time of day (a preset or from–to). Reads and fills the fields as a
// search (params.js); changing the day or the time of day searches at once,
// the service searches on Enter, on Search or when a suggestion is chosen.

import { DEFAULT_SEARCH, localDate, problemWith } from './params.js';
import { serviceSuggestions } from './suggest.js';

const $ = (id) => document.getElementById(id);

/** "00:00", "00:30", … "24:00" */
function halfHours(fromMinutes, toMinutes) {
  const list = [];
  for (let m = fromMinutes; m <= toMinutes; m += 30) {
    list.push(`${String(Math.floor(m / 60)).padStart(2, '0')}:${String(m % 60).padStart(2, '0')}`);
  }
  return list;
}

/**
 * @param {(search: object) => void} onSearch the customer asked for this search
 * @returns {{ fill(search): void, read(): object }}
 */
export function searchForm(onSearch) {
  const form = $('search-form');
  const fields = {
    service: $('service'),
    date: $('date'),
    dateField: $('date-field'),
    range: $('range-field'),
    from: $('from'),
    to: $('to'),
    error: $('form-error'),
  };
  fields.from.replaceChildren(...halfHours(0, 23 * 60 + 30).map((t) => new Option(t, t)));
  fields.to.replaceChildren(...halfHours(30, 24 * 60).map((t) => new Option(t === '24:00' ? '24:00 (midnight)' : t, t)));
  fields.date.min = localDate(0);

  const radio = (name) => form.querySelector(`input[name="${name}"]:checked`)?.value;

  function read() {
    return {
      service: fields.service.value.trim(),
      day: radio('day') ?? DEFAULT_SEARCH.day,
      date: fields.date.value,
      time: radio('time') ?? DEFAULT_SEARCH.time,
      from: fields.from.value,
      to: fields.to.value,
    };
  }

  /** Show or hide the date and the from–to fields as the choices say. */
  function reveal() {
    fields.dateField.hidden = radio('day') !== 'date';
    fields.range.hidden = radio('time') !== 'custom';
    // On a phone the chips scroll sideways: keep the chosen ones in sight.
    for (const checked of form.querySelectorAll('.chips input:checked')) {
      const chips = checked.closest('.chips');
      const chip = checked.closest('.chip');
      const box = chips.getBoundingClientRect();
      const at = chip.getBoundingClientRect();
      if (at.left < box.left || at.right > box.right) chips.scrollLeft += at.left - box.left - 8;
    }
  }

  function fill(search) {
    fields.service.value = search.service;
    form.querySelector(`input[name="day"][value="${search.day}"]`).checked = true;
    form.querySelector(`input[name="time"][value="${search.time}"]`).checked = true;
    fields.date.value = search.date || localDate(2);
    fields.from.value = search.from;
    fields.to.value = search.to;
    reveal();
  }

  /** Search, unless the fields say why not (then the message, and focus on what to change). */
  function submit({ focusOnError = true } = {}) {
    const search = read();
    const problem = problemWith(search);
    fields.error.textContent = problem;
    if (problem) {
      if (focusOnError) (search.day === 'date' && problem.includes('date') ? fields.date : fields.to).focus();
      return;
    }
    onSearch(search);
  }

  const suggestions = serviceSuggestions({
    input: fields.service,
    listbox: $('service-options'),
    onChoose: () => submit(),
  });

  form.addEventListener('submit', (event) => {
    event.preventDefault();
    suggestions.close();
    submit();
  });
  form.addEventListener('change', (event) => {
    if (event.target === fields.service) return; // typing searches on Enter or a chosen suggestion
    // "A date" and "From–to" show their fields (filled in already: the next Tab reaches them).
    reveal();
    submit({ focusOnError: false });
  });

  return { fill, read };
}
