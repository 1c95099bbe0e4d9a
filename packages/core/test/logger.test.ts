// The `logger` option: warnings and absorbed errors reach any console/pino/winston-shaped logger
// as one string each, keys left out; a broken logger never fails a call; a bad one is refused.
import { FaultBackend, RecordingBackend } from '@stowage/testkit';
import { describe, expect, it } from 'vitest';
import { CacheClient, CacheConfigError, getCache, type CacheLogger } from '../src/index.js';

interface Lines {
  readonly logger: CacheLogger;
  readonly lines: Record<'debug' | 'info' | 'warn' | 'error', string[]>;
}

function recordingLogger(): Lines {
  const lines = {
    debug: [] as string[],
    info: [] as string[],
    warn: [] as string[],
    error: [] as string[],
  };
  const logger: CacheLogger = {
    debug: (message) => lines.debug.push(message),
    info: (message) => lines.info.push(message),
    warn: (message) => lines.warn.push(message),
    error: (message) => lines.error.push(message),
  };
  return { logger, lines };
}

describe('logger', () => {
  it('gets a warning as one line with its kind, operation and code, without the key', async () => {
    const { logger, lines } = recordingLogger();
    const backend = new RecordingBackend();
    const client = new CacheClient({ backend, logger, prefix: 'app' });
    backend.put('app:user-42@example.com', 'abc', 99);
    expect(await client.get('user-42@example.com')).toBeUndefined();
    expect(lines.warn).toHaveLength(1);
    expect(lines.warn[0]).toMatch(/^stowage: decode warning in get: .*\[E_CACHE_DECODE\]$/);
    expect(lines.warn[0]).not.toContain('user-42');
    expect(lines.error).toEqual([]);
  });

  it("gets getOrSet's absorbed backend errors at error level, and the factory's value is returned", async () => {
    const { logger, lines } = recordingLogger();
    const backend = new FaultBackend(new RecordingBackend());
    backend.mode = { kind: 'alwaysReject', error: new Error('ECONNREFUSED') };
    const client = new CacheClient({ backend, logger, lease: false });
    expect(await client.getOrSet('k', () => 7)).toBe(7);
    expect(lines.error.length).toBeGreaterThanOrEqual(1);
    expect(lines.error[0]).toMatch(
      /getOrSet absorbed a backend error.*ECONNREFUSED.*\[E_CACHE_BACKEND\]/,
    );
  });

  it("leaves a call's own onError in charge: the logger gets nothing then", async () => {
    const { logger, lines } = recordingLogger();
    const backend = new FaultBackend(new RecordingBackend());
    backend.mode = { kind: 'alwaysReject' };
    const client = new CacheClient({ backend, logger, lease: false });
    const seen: string[] = [];
    expect(await client.getOrSet('k', () => 1, { onError: (e) => seen.push(e.code) })).toBe(1);
    expect(seen.length).toBeGreaterThanOrEqual(1);
    expect(lines.error).toEqual([]);
  });

  it('absorbs a logger that throws: the call still answers', async () => {
    const backend = new FaultBackend(new RecordingBackend());
    backend.mode = { kind: 'alwaysReject' };
    const throwing: CacheLogger = {
      debug: () => {},
      info: () => {},
      warn: () => {
        throw new Error('logger down');
      },
      error: () => {
        throw new Error('logger down');
      },
    };
    const client = new CacheClient({ backend, logger: throwing, lease: false });
    expect(await client.getOrSet('k', () => 'v')).toBe('v');
  });

  it('accepts console as it is, and shares the logger with scoped clients', () => {
    const client = new CacheClient({ backend: new RecordingBackend(), logger: console });
    expect(client.logger).toBe(console);
    expect(client.scoped('stack', { stack: 'acme' }).logger).toBe(console);
  });

  it.each([
    [null, /must be an object/],
    ['console', /must be an object/],
    [{ warn() {}, error() {}, info() {} }, /no debug\(\) method/],
    [{ debug() {}, info() {}, warn: 'x', error() {} }, /no warn\(\) method/],
  ])('refuses %j with a CacheConfigError naming what is missing', (logger, message) => {
    const build = (): CacheClient =>
      new CacheClient({
        backend: new RecordingBackend(),
        logger: logger as unknown as CacheLogger,
      });
    expect(build).toThrow(CacheConfigError);
    expect(build).toThrow(message);
  });

  it('is passed through by getCache', async () => {
    const { logger } = recordingLogger();
    const client = await getCache({ backend: new RecordingBackend(), logger });
    expect(client.logger).toBe(logger);
    await client.close();
  });
});
