// Options are resolved by a pure function: these tests open no socket and need no memcached.
import { CacheErrorCode, DEFAULT_TIMEOUT_MS } from '@stowage/core';
import { MAX_TIMER_MS } from '@stowage/core/backend';
import { describe, expect, it } from 'vitest';
import {
  createBackendFromUrl,
  createMemcachedBackend,
  DEFAULT_MAX_VALUE_BYTES,
  MemcachedBackend,
  type MemcachedBackendOptions,
} from '../src/index.js';
import { resolveMemcachedOptions } from '../src/memcached-options.js';
import { MEMJS_CREDENTIALS, withEnv } from './helpers.js';

function configError(options: unknown): unknown {
  try {
    resolveMemcachedOptions(options as MemcachedBackendOptions);
  } catch (error) {
    return error;
  }
  return undefined;
}

describe('resolveMemcachedOptions', () => {
  it('applies every default', () => {
    expect(resolveMemcachedOptions({ servers: 'cache' })).toEqual({
      servers: [{ host: 'cache', port: 11211 }],
      distribution: 'ketama',
      keyPrefix: '',
      prefixBytes: 0,
      maxKeyBytes: 250,
      maxValueBytes: 1024 * 1024 - 512,
      timeoutMs: DEFAULT_TIMEOUT_MS,
      connectTimeoutMs: 2 * DEFAULT_TIMEOUT_MS,
      username: undefined,
      password: undefined,
      breaker: { threshold: 3, cooldownMs: 1000, maxCooldownMs: 10_000 },
    });
    expect(DEFAULT_MAX_VALUE_BYTES).toBe(1024 * 1024 - 512);
  });

  it('parses a comma list or an array of servers, default port and IPv6', () => {
    expect(resolveMemcachedOptions({ servers: 'a:1, b ,[::1]:3' }).servers).toEqual([
      { host: 'a', port: 1 },
      { host: 'b', port: 11211 },
      { host: '::1', port: 3 },
    ]);
    expect(resolveMemcachedOptions({ servers: ['x:5', '10.0.0.6'] }).servers).toEqual([
      { host: 'x', port: 5 },
      { host: '10.0.0.6', port: 11211 },
    ]);
  });

  it("counts the keyPrefix's UTF-8 bytes against memcached's 250-byte key limit", () => {
    expect(resolveMemcachedOptions({ servers: 'h', keyPrefix: 'app:' })).toMatchObject({
      prefixBytes: 4,
      maxKeyBytes: 246,
    });
    expect(resolveMemcachedOptions({ servers: 'h', keyPrefix: 'é:' })).toMatchObject({
      prefixBytes: 3,
      maxKeyBytes: 247,
    });
    expect(configError({ servers: 'h', keyPrefix: 'p'.repeat(250) })).toMatchObject({
      code: CacheErrorCode.Config,
      message: expect.stringContaining('leaves no room') as string,
    });
  });

  it('derives connectTimeoutMs from timeoutMs, capped at the longest timer', () => {
    expect(resolveMemcachedOptions({ servers: 'h', timeoutMs: 300 }).connectTimeoutMs).toBe(600);
    expect(
      resolveMemcachedOptions({ servers: 'h', timeoutMs: MAX_TIMER_MS }).connectTimeoutMs,
    ).toBe(MAX_TIMER_MS);
    expect(
      resolveMemcachedOptions({ servers: 'h', timeoutMs: 300, connectTimeoutMs: 50 })
        .connectTimeoutMs,
    ).toBe(50);
    expect(configError({ servers: 'h', timeoutMs: MAX_TIMER_MS + 1 })).toMatchObject({
      code: CacheErrorCode.Config,
    });
  });

  it('raises the default longest breaker cool-down to the first one when that is longer', () => {
    expect(resolveMemcachedOptions({ servers: 'h', breakerCooldownMs: 20_000 }).breaker).toEqual({
      threshold: 3,
      cooldownMs: 20_000,
      maxCooldownMs: 20_000,
    });
  });

  it('takes SASL credentials as a pair, from the options only', async () => {
    expect(resolveMemcachedOptions({ servers: 'h', username: 'u', password: 'p' })).toMatchObject({
      username: 'u',
      password: 'p',
    });
    await withEnv(
      { ...MEMJS_CREDENTIALS, MEMCACHIER_SERVERS: '127.0.0.1:1', MEMCACHE_SERVERS: '127.0.0.1:2' },
      () => {
        expect(resolveMemcachedOptions({ servers: 'h' })).toMatchObject({
          username: undefined,
          password: undefined,
        });
        expect(configError({})).toMatchObject({ code: CacheErrorCode.Config });
      },
    );
  });

  it('refuses the removed onError option and says where partial failures go now', () => {
    const error = configError({ servers: 'h', onError: () => undefined });
    expect(error).toMatchObject({ code: CacheErrorCode.Config });
    expect((error as Error).message).toMatch(/CacheBatchError/);
    expect((error as Error).message).toMatch(/`error` event/);
  });

  it.each([
    ['no options', undefined],
    ['no servers', {}],
    ['an empty string', { servers: '' }],
    ['an empty array', { servers: [] }],
    ['a number for servers', { servers: 11211 }],
    ['port 0', { servers: 'h:0' }],
    ['port 70000', { servers: 'h:70000' }],
    ['a space in a host', { servers: 'a b:1' }],
    ['a path after the port', { servers: 'h:1/0' }],
    ['a duplicate server', { servers: 'h:1,h:1' }],
    ['a keyPrefix with a space', { servers: 'h', keyPrefix: 'a b' }],
    ['a username without password', { servers: 'h', username: 'u' }],
    ['an empty password', { servers: 'h', username: 'u', password: '' }],
    ['a zero timeout', { servers: 'h', timeoutMs: 0 }],
    ['a fractional maxValueBytes', { servers: 'h', maxValueBytes: 1.5 }],
    ['a breakerThreshold of 0', { servers: 'h', breakerThreshold: 0 }],
    [
      'a max cooldown below the cooldown',
      { servers: 'h', breakerCooldownMs: 500, breakerMaxCooldownMs: 100 },
    ],
  ])('throws CacheConfigError for %s', (_label, options) => {
    expect(configError(options)).toMatchObject({ code: CacheErrorCode.Config });
  });
});

describe('the backend wires the resolved options', () => {
  it('declares its capabilities and limits from them', () => {
    const backend = createMemcachedBackend({ servers: '127.0.0.1:11211' });
    expect(backend).toBeInstanceOf(MemcachedBackend);
    expect(backend.capabilities).toEqual({
      ttlPrecision: 'seconds',
      scopedClear: false,
      counters: 'unsigned64',
      delayedFlush: true,
      timeoutMs: 1000,
    });
    expect(backend.limits).toEqual({ maxKeyBytes: 250, maxValueBytes: DEFAULT_MAX_VALUE_BYTES });
    // The deadline it enforces itself is its own `timeoutMs`.
    const quick = createMemcachedBackend({ servers: 'h', timeoutMs: 250, keyPrefix: 'app:' });
    expect(quick.capabilities.timeoutMs).toBe(250);
    expect(quick.limits.maxKeyBytes).toBe(246);
  });

  it('names its servers host:port in configuration order, IPv6 in brackets', () => {
    expect(createMemcachedBackend({ servers: 'a:1, b ,[::1]:3' }).servers).toEqual([
      'a:1',
      'b:11211',
      '[::1]:3',
    ]);
  });

  it('throws the resolver’s CacheConfigError from the constructor and from a URL', () => {
    expect(() => createMemcachedBackend({ servers: 'h:0' })).toThrow(
      expect.objectContaining({ code: CacheErrorCode.Config }) as Error,
    );
    return withEnv({ MEMCACHIER_SERVERS: '127.0.0.1:1' }, () => {
      expect(() => createBackendFromUrl('memcached://')).toThrow(/servers/);
    });
  });
});
