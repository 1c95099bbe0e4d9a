import { spawnSync } from 'node:child_process';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { serversRequired } from '@stowage/testkit';
import { afterAll, afterEach, beforeAll, expect } from 'vitest';
import type { StoredEntry } from '@stowage/core';

/** Result of a call observed with a harness deadline. */
export interface Settled<T> {
  /** `ok`, `error`, or `hung` when the harness deadline passed first. */
  readonly outcome: 'ok' | 'error' | 'hung';
  readonly value?: T;
  readonly error?: unknown;
  /** Milliseconds until it settled (or until the harness gave up). */
  readonly ms: number;
}

/**
 * Runs `call` and measures when it settles; gives up after `hangMs` so a hang fails the test
 * quickly instead of timing out the suite.
 */
export async function settle<T>(call: () => Promise<T>, hangMs = 5000): Promise<Settled<T>> {
  const started = performance.now();
  let timer: NodeJS.Timeout | undefined;
  const hung = new Promise<Settled<T>>((resolve) => {
    timer = setTimeout(() => resolve({ outcome: 'hung', ms: performance.now() - started }), hangMs);
  });
  const done = call().then(
    (value): Settled<T> => ({ outcome: 'ok', value, ms: performance.now() - started }),
    (error: unknown): Settled<T> => ({ outcome: 'error', error, ms: performance.now() - started }),
  );
  try {
    return await Promise.race([done, hung]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Slack on top of the contract's "deadline + 50 ms", for a shared 2-core machine under load.
 * The defects these tests guard against are hangs of seconds, so the margin still catches them.
 */
export const LOAD_SLACK_MS = 150;

/** Asserts the call settled by `deadlineMs` + 50 ms (+ load slack). */
export function expectSettledBy(result: Settled<unknown>, deadlineMs: number): void {
  expect(result.outcome).not.toBe('hung');
  expect(result.ms).toBeLessThanOrEqual(deadlineMs + 50 + LOAD_SLACK_MS);
}

/** Collects unhandled rejections and uncaught exceptions of the file; every test asserts none. */
export function trackProcessErrors(): { readonly errors: unknown[] } {
  const errors: unknown[] = [];
  const onError = (error: unknown): void => {
    errors.push(error);
  };
  beforeAll(() => {
    process.on('unhandledRejection', onError);
    process.on('uncaughtException', onError);
  });
  afterEach(() => {
    expect(errors).toEqual([]);
  });
  afterAll(() => {
    process.off('unhandledRejection', onError);
    process.off('uncaughtException', onError);
  });
  return { errors };
}

/** An entry with UTF-8 text. */
export function entry(text: string | Uint8Array, flags = 1): StoredEntry {
  return { value: typeof text === 'string' ? Buffer.from(text, 'utf8') : text, flags };
}

/** Text of an entry, or undefined. */
export function textOf(found: StoredEntry | undefined): string | undefined {
  return found === undefined ? undefined : Buffer.from(found.value).toString('utf8');
}

/** Runs `run` with extra environment variables set, then restores the environment. */
export async function withEnv<T>(
  vars: Record<string, string>,
  run: () => T | Promise<T>,
): Promise<T> {
  const saved = { ...process.env };
  Object.assign(process.env, vars);
  try {
    return await run();
  } finally {
    process.env = saved;
  }
}

/** memjs's credential variables, all set: the backend must ignore every one of them. */
export const MEMJS_CREDENTIALS: Readonly<Record<string, string>> = {
  MEMCACHIER_USERNAME: 'alice',
  MEMCACHIER_PASSWORD: 's3cret',
  MEMCACHE_USERNAME: 'alice',
  MEMCACHE_PASSWORD: 's3cret',
};

export const sleep = (ms: number): Promise<void> =>
  new Promise((resolve) => setTimeout(resolve, ms));

/** Polls `check` every 25 ms until it returns true or `ms` passed; returns the elapsed time or -1. */
export async function waitFor(check: () => Promise<boolean>, ms: number): Promise<number> {
  const started = performance.now();
  while (performance.now() - started < ms) {
    if (await check().catch(() => false)) return performance.now() - started;
    await sleep(25);
  }
  return -1;
}

/** A request frame as seen on the wire. */
export interface WireFrame {
  readonly opcode: number;
  readonly key: string;
  readonly opaque: number;
  /** The CAS value in the request header (0n: none; a `set` then stores unconditionally). */
  readonly cas: bigint;
}

/**
 * A pass-through TCP proxy that records the binary-protocol frames clients send and in how many
 * socket reads they arrived, to prove what goes on the wire.
 */
export class RecordingProxy {
  readonly frames: WireFrame[] = [];
  /** Number of client connections accepted. */
  connections = 0;
  #server: Server | undefined;
  readonly #sockets = new Set<Socket>();

  private constructor() {}

  static async start(targetPort: number): Promise<RecordingProxy> {
    const proxy = new RecordingProxy();
    const server = createServer((client) => {
      proxy.connections++;
      proxy.#sockets.add(client);
      const upstream = createConnection({ host: '127.0.0.1', port: targetPort });
      proxy.#sockets.add(upstream);
      let pending = Buffer.alloc(0);
      client.on('data', (chunk: Buffer) => {
        pending = Buffer.concat([pending, chunk]);
        while (pending.length >= 24) {
          const body = pending.readUInt32BE(8);
          if (pending.length < 24 + body) break;
          const extras = pending[4] as number;
          const keyLength = pending.readUInt16BE(2);
          proxy.frames.push({
            opcode: pending[1] as number,
            key: pending.subarray(24 + extras, 24 + extras + keyLength).toString('utf8'),
            opaque: pending.readUInt32BE(12),
            cas: pending.readBigUInt64BE(16),
          });
          pending = pending.subarray(24 + body);
        }
        upstream.write(chunk);
      });
      upstream.on('data', (chunk: Buffer) => client.write(chunk));
      const close = (): void => {
        client.destroy();
        upstream.destroy();
      };
      client.on('close', close);
      upstream.on('close', close);
      client.on('error', close);
      upstream.on('error', close);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    proxy.#server = server;
    return proxy;
  }

  get address(): string {
    const address = this.#server?.address();
    return typeof address === 'object' && address !== null ? `127.0.0.1:${address.port}` : '';
  }

  /** Forgets what was recorded. */
  clear(): void {
    this.frames.length = 0;
  }

  async close(): Promise<void> {
    for (const socket of this.#sockets) socket.destroy();
    const server = this.#server;
    if (server !== undefined) await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

/** The Python with Debian's python3-pymemcache (`PYTHON_BIN` overrides). */
const PYTHON = process.env['PYTHON_BIN'] ?? '/usr/bin/python3';

/** The Python interop peers in `fixtures/`: one server's `Client`, or a fleet's `HashClient`. */
export const PEERS: { readonly client: string; readonly hashClient: string } = {
  client: new URL('./fixtures/pymemcache_peer.py', import.meta.url).pathname,
  hashClient: new URL('./fixtures/pymemcache_hash_peer.py', import.meta.url).pathname,
};

/** Runs a Python peer with a JSON job on stdin and returns its JSON answer. */
export function runPeer(job: unknown, peer: string = PEERS.client): Record<string, unknown> {
  const result = spawnSync(PYTHON, [peer], {
    input: JSON.stringify(job),
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
  });
  if (result.status !== 0) throw new Error(`pymemcache peer failed: ${result.stderr}`);
  return JSON.parse(result.stdout) as Record<string, unknown>;
}

/**
 * Whether the Python interop tests can run: python3-pymemcache and python3-cryptography are
 * installed. When servers are required (CI) and they are missing, this throws instead of skipping.
 */
export function pymemcacheInstalled(): boolean {
  const found = spawnSync(PYTHON, ['-c', 'import pymemcache, cryptography']).status === 0;
  if (!found && serversRequired()) {
    throw new Error(
      'python3-pymemcache and python3-cryptography are required when CI=true (apt-get install python3-pymemcache python3-cryptography)',
    );
  }
  return found;
}
