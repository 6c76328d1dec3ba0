// Shared set-up of the browser tests: the server binary on a fresh SQLite
// file and a free port (restartable, with an operator token for the admin
// API), headless Debian Chromium, and where screenshots go. Each test file
// runs in its own process, so each gets its own temporary folder and token.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

export const here = path.dirname(fileURLToPath(import.meta.url));
export const repoRoot = path.resolve(here, '../..');
export const BIN = path.resolve(here, process.env.SLOTSTREAM_BIN ?? '../../target/debug/slotstream');
export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
export const OUTPUT_DIR = path.join(repoRoot, 'test-output');
export const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'slotstream-browser-'));
// The operator token of every server here (the admin API deactivates a provider).
export const ADMIN_TOKEN = `admin_${crypto.randomBytes(24).toString('hex')}`;
export const ADMIN_TOKEN_FILE = path.join(tmp, 'admin-token');
fs.writeFileSync(ADMIN_TOKEN_FILE, ADMIN_TOKEN);

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Waits until `check()` gives something truthy (polled every 50 ms); returns it. */
export async function until(what, check, timeoutMs = 30000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

export async function freePort() {
  const server = net.createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address();
  server.close();
  await once(server, 'close');
  return port;
}

/** One slotstream process on a given database file and port, with `args` after the suite's own; restartable. */
export class Server {
  constructor(name, { dbFile, port, args = [] } = {}) {
    this.name = name;
    this.dbFile = dbFile ?? path.join(tmp, `${name}.db`);
    this.port = port;
    this.extraArgs = args;
    this.proc = null;
    this.log = '';
  }

  get base() {
    return `http://127.0.0.1:${this.port}`;
  }

  async start() {
    this.port ??= await freePort();
    const args = [
      '--database-url', `sqlite://${this.dbFile}?mode=rwc`,
      '--bind', `127.0.0.1:${this.port}`,
      '--heartbeat-secs', '5',
      // Every page of every test is one client (127.0.0.1): the hold quota is a per-client
      // burst meant for one customer, not for a whole suite of them.
      '--hold-burst', '1000', '--hold-per-second', '1000',
      // The same for the other quotas: the suite's racing bookings and reconnecting pages are one client.
      '--write-burst', '1000', '--write-per-second', '1000',
      '--read-burst', '1000', '--read-per-second', '1000',
      '--stream-burst', '1000', '--stream-per-second', '1000',
      '--admin-token-file', ADMIN_TOKEN_FILE,
      // Working on the page: serve static/ from disk, so an edit needs no rebuild.
      ...(process.env.SLOTSTREAM_STATIC_DIR ? ['--static-dir', process.env.SLOTSTREAM_STATIC_DIR] : []),
      ...this.extraArgs,
    ];
    for (let attempt = 0; attempt < 20; attempt += 1) {
      const proc = spawn(BIN, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, RUST_LOG: 'warn' } });
      this.proc = proc;
      const exited = once(proc, 'exit').then(([code]) => ({ exited: code }));
      proc.stdout.on('data', (d) => { this.log += d; });
      proc.stderr.on('data', (d) => { this.log += d; });
      const outcome = await Promise.race([this.waitHealthy(), exited]);
      if (outcome === true) return this;
      if (this.proc.exitCode === null) proc.kill('SIGKILL');
      // Most likely the port is still held by the previous run: try again.
      if (!/listen|address/i.test(this.log)) break;
      await sleep(250);
    }
    throw new Error(`${this.name}: server did not become healthy\n${this.log}`);
  }

  async waitHealthy(timeoutMs = 20000) {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (this.proc.exitCode !== null) return false;
      try {
        const response = await fetch(`${this.base}/healthz`);
        if (response.ok) return true;
      } catch {
        // not up yet
      }
      await sleep(100);
    }
    return false;
  }

  /**
   * Freeze the process (SIGSTOP) until `noticed()` resolves, then thaw it
   * (SIGCONT), also when `noticed()` fails: its connections stay open and say
   * nothing, as one a NAT forgot does, and no error reaches a page. Returns
   * the milliseconds from the freeze to the notice.
   */
  async frozenUntil(noticed) {
    const { pid } = this.proc;
    process.kill(pid, 'SIGSTOP');
    const frozenAt = Date.now();
    try {
      await noticed();
      return Date.now() - frozenAt;
    } finally {
      process.kill(pid, 'SIGCONT');
    }
  }

  async stop(signal = 'SIGTERM') {
    const proc = this.proc;
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
    const exited = once(proc, 'exit');
    proc.kill(signal);
    const timer = setTimeout(() => proc.kill('SIGKILL'), 10000);
    await exited;
    clearTimeout(timer);
  }

  async json(pathname, init) {
    const response = await fetch(`${this.base}${pathname}`, init);
    const text = await response.text();
    return { status: response.status, body: text ? JSON.parse(text) : null };
  }

  /** An admin API call (`pathname` under /api/v1/admin/providers/). */
  async admin(method, pathname, body) {
    return this.json(`/api/v1/admin/providers/${pathname}`, {
      method,
      headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
      body: body && JSON.stringify(body),
    });
  }

  async providers() {
    const { status, body } = await this.json('/api/v1/providers');
    assert.equal(status, 200);
    return body;
  }

  /** Free slots of the week the page shows first, from tomorrow on (never in the past). */
  async freeSlots(providerId) {
    const { status, body } = await this.json(`/api/v1/providers/${providerId}/availability?days=7`);
    assert.equal(status, 200);
    return body.days
      .filter((day) => day.date > body.startDate)
      .flatMap((day) => day.slots.filter((s) => s.status === 'available').map((s) => ({ ...s, date: day.date })));
  }

  /**
   * Whether this server has slot holds (DESIGN 4b): hold a real free slot and
   * let it go again. A 404 for a real provider, service and slot means no route.
   */
  async holdsSupported(providerId, serviceId) {
    const [slot] = await this.freeSlots(providerId);
    const { status, body } = await this.json('/api/v1/holds', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ providerId, serviceId, startTime: slot.startsAt }),
    });
    if (status === 404) return false;
    assert.equal(status, 201, `probing POST /api/v1/holds: ${JSON.stringify(body)}`);
    const released = await fetch(`${this.base}/api/v1/holds/${body.id}`, {
      method: 'DELETE',
      headers: { authorization: `Bearer ${body.token}` },
    });
    assert.equal(released.status, 204);
    return true;
  }

  async book(providerId, serviceId, slot, name = 'API Customer') {
    return this.json('/api/v1/bookings', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        providerId,
        serviceId,
        startTime: slot.startsAt,
        customer: { name, email: 'api@example.com' },
      }),
    });
  }
}

/** Headless Debian Chromium, as every browser test drives it (never a downloaded browser). */
export function launchBrowser() {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run', '--disable-sync'],
  });
}

/** The binary and the browser are there (asserted in each file's `before`); the screenshot folder exists. */
export function checkPrerequisites() {
  assert.ok(fs.existsSync(BIN), `server binary not found at ${BIN} (build it with cargo build, or set SLOTSTREAM_BIN)`);
  assert.ok(fs.existsSync(CHROMIUM), `chromium not found at ${CHROMIUM}`);
  fs.mkdirSync(OUTPUT_DIR, { recursive: true });
}

/** Remove this process's temporary folder (databases, the token file). */
export function removeTmp() {
  fs.rmSync(tmp, { recursive: true, force: true });
}
