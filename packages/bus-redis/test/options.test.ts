import { CacheConfigError } from '@stowage/core';
import { BusAction } from '@stowage/core/backend';
import { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import {
  createBusFromUrl,
  createRedisBus,
  decodeMessage,
  encodeMessage,
  MalformedFrameError,
  parseBusUrl,
  type RedisBusOptions,
} from '../src/index.js';

describe('options are checked before any I/O', () => {
  const bad: Array<[string, unknown, RegExp]> = [
    ['nothing', {}, /exactly one of `url` and `client`/],
    ['both', { url: 'redis://h', client: new Redis({ lazyConnect: true }) }, /exactly one/],
    ['not an object', null, /options object/],
    ['url type', { url: 42 }, /`url` must be a string/],
    ['bad url', { url: 'redis://u:S3CRET@h:99999' }, /not a valid URL/],
    ['scheme', { url: 'memcached://h' }, /redis:\/\/ or rediss:\/\//],
    ['db', { url: 'redis://h/x' }, /database number/],
    ['unknown query', { url: 'redis://h?keyPrefix=a' }, /unknown redis:\/\/ option 'keyPrefix'/],
    ['channel clash', { url: 'redis://h?channel=a', channel: 'b' }, /names channel 'a'/],
    ['empty channel', { url: 'redis://h', channel: '' }, /`channel` must be a non-empty/],
    ['client shape', { client: {} }, /`client` must be an ioredis client/],
    ['cluster client', { client: { duplicate() {}, isCluster: true } }, /is a Cluster/],
    [
      'redisOptions with client',
      { client: new Redis({ lazyConnect: true }), redisOptions: {} },
      /`redisOptions` applies to `url` only/,
    ],
    [
      'heartbeatMs',
      { url: 'redis://h', heartbeatMs: 0 },
      /`heartbeatMs` must be an integer from 10/,
    ],
    ['timeoutMs', { url: 'redis://h', timeoutMs: 1.5 }, /`timeoutMs`/],
    ['connectTimeoutMs', { url: 'redis://h', connectTimeoutMs: -1 }, /`connectTimeoutMs`/],
    ['maxQueue', { url: 'redis://h', maxQueue: 0 }, /`maxQueue`/],
    [
      'reconnectMaxDelayMs',
      { url: 'redis://h', reconnectMaxDelayMs: 2 ** 31 },
      /`reconnectMaxDelayMs`/,
    ],
    ['closeTimeoutMs', { url: 'redis://h', closeTimeoutMs: Number.NaN }, /`closeTimeoutMs`/],
  ];
  for (const [name, options, message] of bad) {
    it(`refuses ${name}`, () => {
      let thrown: unknown;
      try {
        createRedisBus(options as RedisBusOptions);
      } catch (error) {
        thrown = error;
      }
      expect(thrown).toBeInstanceOf(CacheConfigError);
      expect((thrown as Error).message).toMatch(message);
      expect((thrown as Error).message).not.toContain('S3CRET');
    });
  }

  it('opens nothing in the constructor, and close() before start() settles at once', async () => {
    const bus = createRedisBus({ url: 'redis://127.0.0.1:1', channel: 'x' });
    expect(bus.live).toBe(false);
    expect(bus.channel).toBe('x');
    bus.publish({ action: BusAction.Delete, keys: ['k'], source: 's' });
    expect(bus.queued).toBe(1);
    await bus.close();
    await expect(bus.start({ message() {}, lost() {}, live() {}, warn() {} })).resolves.toBe(
      undefined,
    );
  });

  it('createBusFromUrl takes { url, channel } (the BusModule shape)', async () => {
    const bus = createBusFromUrl({ url: 'redis://127.0.0.1:1' });
    expect(bus.name).toBe('redis-bus');
    expect(bus.channel).toBe('stowage:bus');
    expect(createBusFromUrl({ url: 'redis://h', channel: 'c' }).channel).toBe('c');
    expect(() => createBusFromUrl({ url: 'http://h' })).toThrow(CacheConfigError);
    await bus.close();
  });

  it('parses credentials, database and TLS from the URL', () => {
    expect(parseBusUrl('rediss://app:p%40ss@cache.example.com:6380/2?channel=c')).toEqual({
      redisOptions: {
        host: 'cache.example.com',
        port: 6380,
        username: 'app',
        password: 'p@ss',
        db: 2,
        tls: {},
      },
      channel: 'c',
    });
    expect(parseBusUrl('redis://[::1]').redisOptions).toEqual({ host: '::1', port: 6379 });
  });
});

describe('wire format', () => {
  it('is a compact versioned array and round-trips any key', () => {
    const keys = ['a', '\ud800', 'ключ', '"]\\', ''];
    const frame = encodeMessage({ action: BusAction.Delete, keys, source: 'src' });
    expect(frame.startsWith('[1,"d","src",[')).toBe(true);
    expect(decodeMessage(frame)).toEqual({ action: BusAction.Delete, keys, source: 'src' });
    expect(encodeMessage({ action: BusAction.Clear, keys: [], source: 's' })).toBe('[1,"c","s"]');
    expect(decodeMessage('[1,"c","s"]')).toEqual({
      action: BusAction.Clear,
      keys: [],
      source: 's',
    });
  });

  it('refuses anything else with MalformedFrameError, quoting at most 60 characters', () => {
    const frames = [
      '',
      '{}',
      '[1]',
      'not json',
      'null',
      '[]',
      '[2,"d","src",["k"]]',
      '[1,"x","src",["k"]]',
      '[1,"d","",["k"]]',
      '[1,"d","src",[1]]',
      '[1,"d","src","k"]',
      '[1,"c","src",["k"]]',
      '[1,"d","src",["k"],"extra"]',
      `[1,"c","${'x'.repeat(65)}"]`,
    ];
    for (const frame of frames) {
      expect(() => decodeMessage(frame)).toThrow(MalformedFrameError);
    }
    expect(() => decodeMessage('x'.repeat(1000))).toThrow(/"x{60}…"/);
  });
});
