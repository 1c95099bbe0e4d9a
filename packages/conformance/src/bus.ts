import { BusAction, type BusHandlers, type BusMessage, type CacheBus } from '@stowage/core/backend';
import { afterEach, describe, expect, it } from 'vitest';

/** Options of {@link describeBusConformance}. */
export interface BusConformanceOptions {
  /**
   * Creates a new bus on the transport under test. Buses created by one run must reach each other
   * (the same server and channel); each is started and closed by the suite.
   */
  readonly create: () => CacheBus | Promise<CacheBus>;
  /**
   * Longest wait for a delivery, in milliseconds.
   * @default 2000
   */
  readonly deliveryMs?: number;
}

/** What one started bus received, and its handlers' calls in order. */
interface Started {
  readonly bus: CacheBus;
  readonly messages: BusMessage[];
  readonly calls: string[];
}

/**
 * Registers the shared bus conformance suite in the current vitest file: every `CacheBus` (the
 * Redis bus, or one you write over NATS or Postgres) must start live, deliver to every other bus
 * and back to its publisher, keep a publisher's order, carry any key exactly, never throw from
 * `publish`, and call nothing after `close()`.
 *
 * @example
 * describeBusConformance('redis', { create: () => createRedisBus({ url, channel: 'test' }) });
 */
export function describeBusConformance(name: string, options: BusConformanceOptions): void {
  const deliveryMs = options.deliveryMs ?? 2000;
  const open: CacheBus[] = [];

  async function start(): Promise<Started> {
    const bus = await options.create();
    open.push(bus);
    const messages: BusMessage[] = [];
    const calls: string[] = [];
    const handlers: BusHandlers = {
      message: (message) => {
        calls.push('message');
        messages.push(message);
      },
      lost: () => calls.push('lost'),
      live: () => calls.push('live'),
      warn: () => calls.push('warn'),
    };
    await bus.start(handlers);
    return { bus, messages, calls };
  }

  /** Resolves once `from` received `count` messages from `source`; rejects after deliveryMs. */
  async function received(to: Started, source: string, count: number): Promise<BusMessage[]> {
    const deadline = Date.now() + deliveryMs;
    for (;;) {
      const mine = to.messages.filter((message) => message.source === source);
      if (mine.length >= count) return mine;
      if (Date.now() > deadline) {
        throw new Error(`received ${mine.length} of ${count} messages within ${deliveryMs} ms`);
      }
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  }

  describe(`${name} bus conformance`, () => {
    afterEach(async () => {
      await Promise.all(open.splice(0).map((bus) => bus.close()));
    });

    it('start() resolves live: `live` was called once, nothing else', async () => {
      const a = await start();
      expect(a.calls).toEqual(['live']);
      expect(typeof a.bus.name).toBe('string');
    });

    it('delivers to every other bus and back to the publisher', async () => {
      const [a, b, c] = [await start(), await start(), await start()];
      const message = { action: BusAction.Delete, keys: ['app:k1', 'app:k2'], source: 'src-a' };
      a.bus.publish(message);
      for (const to of [a, b, c]) expect(await received(to, 'src-a', 1)).toEqual([message]);
    });

    it('keeps one publisher’s order', async () => {
      const [a, b] = [await start(), await start()];
      for (let i = 0; i < 100; i++) {
        a.bus.publish({ action: BusAction.Delete, keys: [`k${i}`], source: 'ordered' });
      }
      const got = await received(b, 'ordered', 100);
      expect(got.map((message) => message.keys[0])).toEqual(
        Array.from({ length: 100 }, (_, i) => `k${i}`),
      );
    });

    it('carries any key exactly, and 500 keys in one message', async () => {
      const [a, b] = [await start(), await start()];
      const hostile = [
        'tenant:stack=acme:ключ',
        '表情😀:key',
        'a'.repeat(250),
        'quote"back\\slash,comma;semi',
        '["json","looking"]',
        '1',
      ];
      const many = Array.from({ length: 500 }, (_, i) => `many:${i}`);
      a.bus.publish({ action: BusAction.Delete, keys: hostile, source: 'keys' });
      a.bus.publish({ action: BusAction.Delete, keys: many, source: 'keys' });
      a.bus.publish({ action: BusAction.Clear, keys: [], source: 'keys' });
      const got = await received(b, 'keys', 3);
      expect(got.map((message) => [message.action, message.keys])).toEqual([
        [BusAction.Delete, hostile],
        [BusAction.Delete, many],
        [BusAction.Clear, []],
      ]);
    });

    it('publish never throws: before start, and after close', async () => {
      const fresh = await options.create();
      open.push(fresh);
      expect(() =>
        fresh.publish({ action: BusAction.Delete, keys: ['k'], source: 'early' }),
      ).not.toThrow();
      const a = await start();
      await a.bus.close();
      expect(() =>
        a.bus.publish({ action: BusAction.Delete, keys: ['k'], source: 'late' }),
      ).not.toThrow();
    });

    it('close() is idempotent and nothing is called after it resolves', async () => {
      const [a, b] = [await start(), await start()];
      await b.bus.close();
      await b.bus.close();
      const before = b.calls.length;
      a.bus.publish({ action: BusAction.Delete, keys: ['after'], source: 'after-close' });
      await received(a, 'after-close', 1); // delivered to the one still open…
      await new Promise((resolve) => setTimeout(resolve, 50));
      expect(b.calls.length).toBe(before); // …and nothing reached the closed one
    });
  });
}
