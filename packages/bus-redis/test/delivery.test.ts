import { BusAction } from '@stowage/core/backend';
import { Redis as Redis5 } from 'ioredis5';
import { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { redisAvailable, sleep, trackUnhandledRejections, until, useRedis } from './helpers.js';

const del = (source: string, ...keys: string[]) => ({ action: BusAction.Delete, keys, source });

describe.runIf(redisAvailable)('redis bus delivery', () => {
  const redis = useRedis();
  trackUnhandledRejections();

  it('start() resolves after live; a message reaches the other bus and its publisher', async () => {
    const a = await redis.open();
    const b = await redis.open();
    expect(a.kinds()).toEqual(['live']);
    expect(a.bus.live).toBe(true);
    a.bus.publish(del('a', 'app:k1'));
    await until(() => b.messages('a').length === 1 && a.messages('a').length === 1, 2000, 'both');
    expect(b.messages('a')).toEqual([del('a', 'app:k1')]);
    expect(a.messages('a')).toEqual([del('a', 'app:k1')]); // echoed: the receiver filters
  });

  it('keeps one publisher’s order across a burst beyond the in-flight window', async () => {
    const a = await redis.open();
    const b = await redis.open();
    for (let i = 0; i < 2000; i++) a.bus.publish(del('ordered', `k${i}`));
    await until(() => b.messages('ordered').length === 2000, 5000, '2000 messages');
    expect(b.messages('ordered').map((m) => m.keys[0])).toEqual(
      Array.from({ length: 2000 }, (_, i) => `k${i}`),
    );
    expect(a.bus.queued).toBe(0);
  });

  it('round-trips lone surrogates, NUL, CRLF and long keys exactly', async () => {
    const a = await redis.open();
    const b = await redis.open();
    const keys = ['\ud800lone', 'x\udfff', 'nul\u0000byte', 'crlf\r\nflushall', 'é'.repeat(5000)];
    a.bus.publish({ action: BusAction.Delete, keys, source: 'odd' });
    await until(() => b.messages('odd').length === 1, 2000, 'odd keys');
    expect(b.messages('odd')[0]?.keys).toEqual(keys);
  });

  it('uses the channel option: other channels are not heard', async () => {
    const a = await redis.open({ channel: 'one' });
    const b = await redis.open({ channel: 'two' });
    const c = await redis.open({ url: `${redis.url}?channel=one` });
    a.bus.publish(del('ch', 'k'));
    await until(() => c.messages('ch').length === 1, 2000, 'same channel');
    await sleep(50);
    expect(b.messages()).toEqual([]);
  });

  it('drops garbage and foreign frames on the channel with a warning, never as a message', async () => {
    const a = await redis.open({ channel: 'garbage' });
    await redis.raw.connect().catch(() => undefined);
    const frames = [
      '[2,"d","src",["k"]]',
      'not json',
      '{"action":"delete"}',
      '[1,"x","src",["k"]]',
      '[1,"d","",["k"]]',
      '[1,"d","src",[1]]',
      '[1,"c","src",["k"]]',
      '[]',
      'null',
      '',
    ];
    for (const frame of frames) await redis.raw.publish('garbage', frame);
    await redis.raw.publish('garbage', Buffer.from([0xff, 0xfe, 0x00]));
    a.bus.publish(del('after', 'k'));
    await until(() => a.messages('after').length === 1, 2000, 'the good one after');
    expect(a.messages()).toEqual([del('after', 'k')]);
    // One warning per second at most: the first names the newer version; the rest are counted.
    expect(a.warnings()).toEqual([expect.stringMatching(/version 2 is not supported/)]);
    await sleep(1050);
    await redis.raw.publish('garbage', 'one more');
    await until(() => a.warnings().length === 2, 2000, 'the next warning');
    expect(a.warnings()[1]).toMatch(/"one more".*; 10 more dropped since the last warning/);
    expect(a.kinds().filter((k) => k === 'lost')).toEqual([]);
  });

  it('publishes before start are queued and sent once connected', async () => {
    const a = redis.make();
    const b = await redis.open();
    a.bus.publish(del('early', 'k1'));
    a.bus.publish(del('early', 'k2'));
    expect(a.bus.queued).toBe(2);
    await a.bus.start(a.handlers);
    await until(() => b.messages('early').length === 2, 2000, 'queued before start');
    expect(b.messages('early').map((m) => m.keys[0])).toEqual(['k1', 'k2']);
  });

  it('an invalid message becomes a clear, with a warning; publish never throws', async () => {
    const a = await redis.open();
    expect(() =>
      a.bus.publish({ action: 'drop' as never, keys: ['k'], source: 'bad-action' }),
    ).not.toThrow();
    expect(() => a.bus.publish(null as never)).not.toThrow();
    await until(() => a.messages().length === 2, 2000, 'two clears');
    expect(a.messages()).toEqual([
      { action: BusAction.Clear, keys: [], source: 'bad-action' },
      { action: BusAction.Clear, keys: [], source: 'redis-bus:invalid' },
    ]);
    expect(a.warnings()).toHaveLength(2);
  });

  it('overflow drops the queue and publishes one clear, with one warning', async () => {
    const b = await redis.open();
    const a = redis.make({ maxQueue: 100 });
    for (let i = 0; i < 250; i++) a.bus.publish(del('flood', `k${i}`));
    expect(a.bus.queued).toBeLessThanOrEqual(100);
    await a.bus.start(a.handlers);
    await until(() => a.bus.queued === 0, 2000, 'queue flushed');
    await until(() => b.messages('flood').length >= 1, 2000, 'the clear');
    await sleep(50);
    // Push 101 overflowed (queue → one clear), so did push 201; what is left: a clear, k201…k249.
    expect(b.messages('flood')).toEqual([
      { action: BusAction.Clear, keys: [], source: 'flood' },
      ...Array.from({ length: 49 }, (_, i) => del('flood', `k${201 + i}`)),
    ]);
    const overflows = a.warnings().filter((w) => /overflowed/.test(w));
    expect(overflows).toHaveLength(2); // reported at start(), though they happened before it
    expect(overflows[0]).toMatch(/101 unpublished messages over maxQueue 100/);
  });

  it('duplicates an ioredis 5 or 6 client, which it never uses or closes', async () => {
    const options = { host: '127.0.0.1', port: redis.server.port, lazyConnect: true };
    for (const client of [new Redis(options), new Redis5(options)]) {
      const a = await redis.open({ url: undefined, client });
      const b = await redis.open({ url: undefined, client });
      a.bus.publish(del('dup', 'k'));
      await until(() => b.messages('dup').length === 1, 2000, 'duplicated client delivery');
      await a.bus.close();
      expect(client.status).toBe('wait');
      client.disconnect();
    }
  });

  it('the heartbeat PING is answered in subscriber mode: RESP2 (ioredis 5, ioredis 6 with protocol 2) and RESP3', async () => {
    const options = { host: '127.0.0.1', port: redis.server.port, lazyConnect: true };
    const clients = [
      new Redis5(options),
      new Redis({ ...options, protocol: 2 }),
      new Redis(options),
    ];
    const probes = [];
    for (const client of clients) {
      probes.push(await redis.open({ url: undefined, client, heartbeatMs: 20, timeoutMs: 200 }));
    }
    await sleep(300); // about 15 PINGs each
    const info = await redis.raw.info('commandstats');
    expect(Number(/cmdstat_ping:calls=(\d+)/.exec(info)?.[1])).toBeGreaterThan(20);
    for (const probe of probes) {
      expect(probe.kinds()).toEqual(['live']);
      probe.bus.publish(del('hb', 'k'));
    }
    for (const probe of probes) await until(() => probe.messages('hb').length === 3, 2000, 'hb');
    for (const client of clients) client.disconnect();
  });
});
