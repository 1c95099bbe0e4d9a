import { hasBinary, startRedis, type ServerHandle } from '@stowage/testkit';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, expect } from 'vitest';
import type { BusHandlers, BusMessage } from '@stowage/core/backend';
import { createRedisBus, type RedisBus, type RedisBusOptions } from '../src/index.js';

/** Whether redis-server is installed; with CI=true a missing binary throws instead. */
export const redisAvailable: boolean = hasBinary('redis-server');

export const sleep = (ms: number): Promise<void> =>
  new Promise((resolve) => setTimeout(resolve, ms));

/** One handler call, with when it happened (performance.now()). */
export interface Call {
  readonly kind: 'message' | 'lost' | 'live' | 'warn';
  readonly at: number;
  readonly message?: BusMessage;
  readonly error?: Error;
}

/** A bus and everything its handlers were called with. */
export interface Probe {
  readonly bus: RedisBus;
  readonly calls: Call[];
  readonly handlers: BusHandlers;
  /** Messages delivered, in order. */
  messages(source?: string): BusMessage[];
  kinds(): string[];
  warnings(): string[];
}

/** A bus with recording handlers (not started). */
export function probeBus(options: RedisBusOptions): Probe {
  const bus = createRedisBus(options);
  const calls: Call[] = [];
  const at = (): number => performance.now();
  const handlers: BusHandlers = {
    message: (message) => calls.push({ kind: 'message', at: at(), message }),
    lost: (error) => calls.push({ kind: 'lost', at: at(), error }),
    live: () => calls.push({ kind: 'live', at: at() }),
    warn: (error) => calls.push({ kind: 'warn', at: at(), error }),
  };
  return {
    bus,
    calls,
    handlers,
    messages: (source) =>
      calls
        .filter((call) => call.kind === 'message')
        .map((call) => call.message as BusMessage)
        .filter((message) => source === undefined || message.source === source),
    kinds: () => calls.map((call) => call.kind),
    warnings: () =>
      calls.filter((call) => call.kind === 'warn').map((call) => call.error?.message ?? ''),
  };
}

/** Polls `check` every 5 ms until it is true; throws after `ms`. */
export async function until(check: () => boolean, ms: number, what: string): Promise<number> {
  const started = performance.now();
  for (;;) {
    if (check()) return performance.now() - started;
    if (performance.now() - started > ms) throw new Error(`not within ${ms} ms: ${what}`);
    await sleep(5);
  }
}

/** A server for the enclosing `describe`; buses made with `open` are closed after each test. */
export interface Fixture {
  readonly server: ServerHandle;
  readonly url: string;
  /** A plain client to publish garbage and look at the server. */
  readonly raw: Redis;
  /** A started, live bus (closed after the test). */
  open(options?: Partial<RedisBusOptions>): Promise<Probe>;
  /** A bus not started yet (closed after the test). */
  make(options?: Partial<RedisBusOptions>): Probe;
}

export function useRedis(): Fixture {
  const state = {} as { server: ServerHandle; raw: Redis };
  const buses: Probe[] = [];
  const fixture: Fixture = {
    get server() {
      return state.server;
    },
    get url() {
      return `redis://127.0.0.1:${state.server.port}`;
    },
    get raw() {
      return state.raw;
    },
    make(options = {}) {
      const probe = probeBus({ url: fixture.url, ...options });
      buses.push(probe);
      return probe;
    },
    async open(options = {}) {
      const probe = fixture.make(options);
      await probe.bus.start(probe.handlers);
      return probe;
    },
  };
  beforeAll(async () => {
    state.server = await startRedis();
    state.raw = new Redis({ host: '127.0.0.1', port: state.server.port, lazyConnect: true });
    state.raw.on('error', () => undefined);
  });
  afterEach(async () => {
    await Promise.all(buses.splice(0).map((probe) => probe.bus.close()));
  });
  afterAll(async () => {
    state.raw?.disconnect();
    await state.server?.stop();
  });
  return fixture;
}

/** Asserts no unhandled rejection happened in the file's tests. */
export function trackUnhandledRejections(): void {
  const reasons: unknown[] = [];
  const onUnhandled = (reason: unknown): void => {
    reasons.push(reason);
  };
  beforeAll(() => {
    process.on('unhandledRejection', onUnhandled);
  });
  afterEach(() => {
    expect(reasons).toEqual([]);
  });
  afterAll(() => {
    process.off('unhandledRejection', onUnhandled);
  });
}

/** The p-th percentile (0–100) of `values`. */
export function percentile(values: readonly number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
}
