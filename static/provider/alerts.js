// How the agenda gets the desk's attention: an aria-live announcement, an
// error line, a count of new bookings in the tab title (cleared when the
// page is looked at again) and an optional beep (off until switched on;
// the choice is kept in this browser).

import { storedValue } from '../app/stored-value.js';

const ANNOUNCE_MS = 8000;
const ERROR_MS = 12000;
/** 'on' while the beep is switched on. */
const soundChoice = storedValue('slotstream.agenda.sound');

const announcer = document.getElementById('announcer');
const errorLine = document.getElementById('error-line');
let announceTimer = 0;
let errorTimer = 0;

/** Say something politely (screen readers and the floating line). */
export function announce(message) {
  // Cleared first so the same words twice are announced twice.
  announcer.textContent = '';
  clearTimeout(announceTimer);
  requestAnimationFrame(() => {
    announcer.textContent = message;
    announceTimer = setTimeout(() => { announcer.textContent = ''; }, ANNOUNCE_MS);
  });
}

/** Show an error in plain words (role=alert), until the next one or a while. */
export function showError(message) {
  errorLine.textContent = message;
  clearTimeout(errorTimer);
  errorTimer = setTimeout(() => { errorLine.textContent = ''; }, ERROR_MS);
}

export function clearMessages() {
  clearTimeout(announceTimer);
  clearTimeout(errorTimer);
  announcer.textContent = '';
  errorLine.textContent = '';
}

// ---------------------------------------------------------------- the tab title

let baseTitle = 'Agenda';
let unseen = 0;

const looking = () => document.visibilityState === 'visible' && document.hasFocus();

function drawTitle() {
  document.title = unseen > 0 ? `(${unseen}) ${baseTitle}` : baseTitle;
}

export function setTitle(title) {
  baseTitle = title;
  drawTitle();
}

/** A booking arrived: counted in the title unless someone is looking at the page. */
export function countArrival(n = 1) {
  if (looking()) return;
  unseen += n;
  drawTitle();
}

export function clearCount() {
  if (unseen === 0) return;
  unseen = 0;
  drawTitle();
}

function onLook() {
  if (looking()) clearCount();
}
document.addEventListener('visibilitychange', onLook);
window.addEventListener('focus', onLook);

// ---------------------------------------------------------------- sound

let audio = null;

export function soundOn() {
  return soundChoice.read() === 'on';
}

/** Switch the beep on or off; switching on (a click) is what lets the browser play it later. */
export function setSound(on) {
  soundChoice.write(on ? 'on' : 'off');
  if (on) {
    audio ??= new (window.AudioContext || window.webkitAudioContext)();
    audio.resume?.();
    beep();
  }
}

/** A short two-tone beep, when sound is on. */
export function beep() {
  if (!soundOn()) return;
  try {
    audio ??= new (window.AudioContext || window.webkitAudioContext)();
    const at = audio.currentTime;
    for (const [i, frequency] of [880, 1175].entries()) {
      const osc = audio.createOscillator();
      const gain = audio.createGain();
      osc.frequency.value = frequency;
      gain.gain.setValueAtTime(0.0001, at + i * 0.16);
      gain.gain.exponentialRampToValueAtTime(0.2, at + i * 0.16 + 0.02);
      gain.gain.exponentialRampToValueAtTime(0.0001, at + i * 0.16 + 0.14);
      osc.connect(gain).connect(audio.destination);
      osc.start(at + i * 0.16);
      osc.stop(at + i * 0.16 + 0.15);
      osc.onended = () => {
        osc.disconnect();
        gain.disconnect();
      };
    }
  } catch (error) {
    console.warn('agenda: no sound', error);
  }
}
