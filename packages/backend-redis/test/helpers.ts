import { hasBinary, startRedis, type ServerHandle } from '@stowage/testkit';
import { afterAll, afterEach, beforeAll, expect } from 'vitest';
import { Redis } from 'ioredis';
import * as ioredis5 from 'ioredis5';
import type { RedisDriver } from '../src/index.js';

/** Whether redis-server is installed; with CI=true a missing binary throws instead. */
export const redisAvailable: boolean = hasBinary('redis-server');

/**
 * Both ioredis majors the peer range allows: ioredis 6 is what the package resolves (the default
 * driver), ioredis 5 is passed as `driver`. Suites that matter run against each.
 */
export const drivers: ReadonlyArray<readonly [label: string, driver: RedisDriver | undefined]> = [
  ['ioredis 6', undefined],
  ['ioredis 5', ioredis5],
];

/** Starts a redis-server for one test file; stop it in `afterAll`. */
export async function startServer(): Promise<ServerHandle> {
  return startRedis();
}

/** A plain ioredis client to look at the server directly, bypassing the backend. */
export function inspector(port: number): Redis {
  const client = new Redis({ host: '127.0.0.1', port, lazyConnect: true, maxRetriesPerRequest: 1 });
  client.on('error', () => undefined);
  return client;
}

export const sleep = (ms: number): Promise<void> =>
  new Promise((resolve) => setTimeout(resolve, ms));

/** Milliseconds `run` took to settle, and what it settled with. */
export async function timed<T>(
  run: () => Promise<T>,
): Promise<{ ms: number; value?: T; error?: unknown }> {
  const started = performance.now();
  try {
    const value = await run();
    return { ms: performance.now() - started, value };
  } catch (error) {
    return { ms: performance.now() - started, error };
  }
}

/** A readable one-line description of anything thrown. */
export function errorText(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : JSON.stringify(error);
}

/** A server and an inspector for the enclosing `describe`, started in `beforeAll`, stopped in `afterAll`. */
export interface RedisFixture {
  readonly server: ServerHandle;
  readonly raw: Redis;
}

/** Starts a redis-server and an inspector client around the enclosing `describe` block. */
export function useRedisServer(): RedisFixture {
  const fixture = {} as { server: ServerHandle; raw: Redis };
  beforeAll(async () => {
    fixture.server = await startServer();
    fixture.raw = inspector(fixture.server.port);
  });
  afterAll(async () => {
    fixture.raw?.disconnect();
    await fixture.server?.stop();
  });
  return fixture;
}

/**
 * Collects the file's unhandled rejections; every test then asserts there were none (a damaged
 * or stalled connection must never leave a promise without a handler).
 */
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

/**
 * Calls per command since the last `CONFIG RESETSTAT`, from `INFO commandstats`; the
 * inspector's own `INFO` and `CONFIG RESETSTAT` are left out, since they are not the backend's.
 */
export async function commandCalls(raw: Redis): Promise<Record<string, number>> {
  const info = await raw.info('commandstats');
  const calls: Record<string, number> = {};
  for (const match of info.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) {
    calls[match[1] as string] = Number(match[2]);
  }
  delete calls['info'];
  delete calls['config|resetstat'];
  return calls;
}
