// Node tests of the client package (static/) as npm sees it, no browser:
// every export of slotstream.js and of the React hook is declared in its
// .d.ts (and nothing declared is missing), `npm pack` ships exactly the
// module, the hook and their types, and the hook's snapshot copies what a
// change touched and shares the rest. Run by run.sh with --preserve-symlinks,
// so the linked package finds this folder's React.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const pkg = path.resolve(here, '../../static');

/** The value exports a .d.ts declares (functions, constants, classes). */
function declared(file) {
  const text = fs.readFileSync(path.join(pkg, file), 'utf8');
  return [...text.matchAll(/^export (?:declare )?(?:function|const|class) (\w+)/gm)].map((m) => m[1]).sort();
}

test('every export of slotstream.js is declared in slotstream.d.ts, and only those', async () => {
  const module = await import('slotstream');
  assert.deepEqual(Object.keys(module).sort(), declared('slotstream.d.ts'));
});

test('every export of the React hook is declared in use-availability.d.ts, and only those', async () => {
  const module = await import('slotstream/react');
  assert.deepEqual(Object.keys(module).sort(), declared('react/use-availability.d.ts'));
  assert.equal(typeof module.useAvailability, 'function');
});

test('npm pack ships the module, the hook and their types, and nothing of the page', () => {
  const [packed] = JSON.parse(execFileSync('npm', ['pack', '--dry-run', '--json', pkg], { cwd: here, encoding: 'utf8' }));
  const files = packed.files.map((f) => f.path).sort();
  assert.deepEqual(files, ['package.json', 'react/use-availability.d.ts', 'react/use-availability.js', 'slotstream.d.ts', 'slotstream.js']);
  const manifest = JSON.parse(fs.readFileSync(path.join(pkg, 'package.json'), 'utf8'));
  for (const entry of Object.values(manifest.exports)) {
    for (const target of typeof entry === 'string' ? [entry] : Object.values(entry)) {
      assert.ok(fs.existsSync(path.join(pkg, target)), `${target} exists`);
    }
  }
  assert.deepEqual(Object.keys(manifest.dependencies ?? {}), [], 'no dependencies');
  assert.ok(manifest.peerDependencies.react, 'React is a peer');
});

const slot = (id, status = 'available') => ({ availabilityId: id, startTime: '10:00', endTime: '10:30', startsAt: 'x', endsAt: 'y', status });
const documentOf = () => ({
  providerId: 'p',
  timezone: 'Europe/Warsaw',
  startDate: '2030-01-07',
  version: 1,
  days: [
    { date: '2030-01-07', slots: [slot('a'), slot('b')] },
    { date: '2030-01-08', slots: [slot('c')] },
  ],
});

test('snapshot after a fetch copies every day and slot: the watch changing its own document in place changes no snapshot', async () => {
  const { snapshot } = await import('slotstream/react');
  const doc = documentOf();
  const first = snapshot(doc, null);
  assert.deepEqual(first, doc);
  doc.days[0].slots[0].status = 'booked';
  doc.days[1].slots.splice(0, 1);
  assert.equal(first.days[0].slots[0].status, 'available');
  assert.equal(first.days[1].slots.length, 1);
});

test('snapshot after an event copies only its day; the other days keep their objects', async () => {
  const { snapshot } = await import('slotstream/react');
  const doc = documentOf();
  const first = snapshot(doc, null);
  doc.days[1].slots[0].status = 'held';
  doc.version = 2;
  const event = { availabilityId: 'c', date: '2030-01-08', newStatus: 'held', version: 2 };
  const second = snapshot(doc, first, event);
  assert.notEqual(second, first);
  assert.equal(second.version, 2);
  assert.equal(second.days[0], first.days[0], 'untouched day: the same object');
  assert.notEqual(second.days[1], first.days[1]);
  assert.equal(second.days[1].slots[0].status, 'held');
  assert.equal(first.days[1].slots[0].status, 'available', 'the earlier snapshot is unchanged');

  // A removed slot: its day loses it.
  doc.days[0].slots.splice(1, 1);
  const third = snapshot(doc, second, { availabilityId: 'b', date: '2030-01-07', newStatus: 'removed', version: 3 });
  assert.deepEqual(third.days[0].slots.map((s) => s.availabilityId), ['a']);
  assert.equal(third.days[1], second.days[1]);
});

test('snapshot copies everything when the days are not the earlier ones (a refetch for other dates)', async () => {
  const { snapshot } = await import('slotstream/react');
  const first = snapshot(documentOf(), null);
  const other = documentOf();
  other.days[1].date = '2030-01-09';
  const next = snapshot(other, first, { availabilityId: 'a', date: '2030-01-07', newStatus: 'booked', version: 2 });
  assert.notEqual(next.days[0], first.days[0]);
  assert.equal(next.days[1].date, '2030-01-09');
});
