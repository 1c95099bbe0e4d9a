// The publish queue against a scripted connection: error replies, timeouts and reconnects in the
// middle of a pipelined burst must keep the order and lose nothing.
import { EventEmitter } from 'node:events';
import { describe, expect, it } from 'vitest';
import type { BusTiming } from '../src/bus-options.js';
import type { BusConnection } from '../src/connection.js';
import { Publisher } from '../src/publisher.js';
import { sleep, until } from './helpers.js';

const TIMING: BusTiming = {
  connectTimeoutMs: 50,
  heartbeatMs: 20,
  timeoutMs: 30,
  reconnectMaxDelayMs: 10,
  closeTimeoutMs: 100,
};

/** Confirms each PUBLISH unless `fail` says otherwise; records what Redis accepted, in order. */
class FakeConnection extends EventEmitter {
  status = 'ready';
  readonly accepted: string[] = [];
  readonly calls: string[] = [];
  fail: (frame: string) => Error | 'hang' | undefined = () => undefined;
  connect(): Promise<unknown> {
    this.calls.push('connect');
    return Promise.resolve();
  }
  disconnect(reconnect?: boolean): void {
    this.calls.push(`disconnect(${String(reconnect)})`);
  }
  quit(): Promise<unknown> {
    this.calls.push('quit');
    return Promise.resolve('OK');
  }
  publish(_channel: string, frame: string): Promise<unknown> {
    const failure = this.fail(frame);
    if (failure === 'hang') return new Promise(() => undefined);
    if (failure !== undefined) return Promise.reject(failure);
    this.accepted.push(frame);
    return Promise.resolve(1);
  }
}

function publisher(connection: FakeConnection, maxQueue = 100) {
  const warnings: string[] = [];
  const pub = new Publisher(connection as unknown as BusConnection, 'ch', {
    timing: TIMING,
    maxQueue,
    warn: (error) => warnings.push(error.message),
  });
  return { pub, warnings };
}

describe('publish queue', () => {
  it('an error reply mid-burst: everything from the first unconfirmed is resent in order, one warning', async () => {
    const connection = new FakeConnection();
    let failures = 2;
    connection.fail = (frame) =>
      frame === 'f3' && failures-- > 0 ? new Error('NOPERM no publish') : undefined;
    const { pub, warnings } = publisher(connection);
    for (let i = 0; i < 6; i++) pub.enqueue(`f${i}`, 's');
    await until(() => pub.queued === 0, 1000, 'drained');
    // The PUBLISHes pipelined behind the refused f3 went through once early; after them the queue
    // is resent from f3, in order, until all of it is confirmed (at-least-once).
    expect(connection.accepted).toEqual([
      'f0',
      'f1',
      'f2',
      'f4',
      'f5',
      'f4',
      'f5',
      'f3',
      'f4',
      'f5',
    ]);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/NOPERM.*queued, retrying in order/);
    expect(connection.calls).not.toContain('disconnect(true)');
  });

  it('a PUBLISH timeout replaces the connection; nothing is sent while it is down, all of it after', async () => {
    const connection = new FakeConnection();
    connection.fail = () => new Error('Command timed out');
    const { pub } = publisher(connection);
    pub.enqueue('a', 's');
    await sleep(5);
    expect(connection.calls).toContain('disconnect(true)');
    connection.status = 'reconnecting';
    connection.fail = () => undefined;
    pub.enqueue('b', 's');
    await sleep(30);
    expect(connection.accepted).toEqual([]);
    connection.status = 'ready';
    connection.emit('ready');
    await until(() => pub.queued === 0, 1000, 'drained');
    expect(connection.accepted).toEqual(['a', 'b']);
  });

  it('close() tries once within closeTimeoutMs, then quits; later enqueues are ignored', async () => {
    const connection = new FakeConnection();
    connection.fail = () => 'hang';
    const { pub } = publisher(connection);
    pub.enqueue('x', 's');
    const started = performance.now();
    await pub.close();
    expect(performance.now() - started).toBeLessThan(TIMING.closeTimeoutMs * 2 + 50);
    expect(connection.calls).toContain('disconnect(false)');
    connection.fail = () => undefined;
    pub.enqueue('y', 's');
    await sleep(10);
    expect(connection.accepted).toEqual([]);
  });

  it('after ioredis gives up (end), it connects again and sends what waited', async () => {
    const connection = new FakeConnection();
    connection.status = 'end';
    const { pub } = publisher(connection);
    pub.enqueue('waiting', 's');
    connection.emit('end');
    await sleep(TIMING.reconnectMaxDelayMs + 20);
    expect(connection.calls).toEqual(['connect']);
    connection.status = 'ready';
    connection.emit('ready');
    await until(() => pub.queued === 0, 1000, 'drained');
    expect(connection.accepted).toEqual(['waiting']);
    await pub.close();
  });
});
