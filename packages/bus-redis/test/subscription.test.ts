// The subscriber's state machine against a scripted connection: what a real server cannot be made
// to do on demand (a handshake that never completes, a SUBSCRIBE confirmed after its connection
// closed, an error the socket survives).
import { EventEmitter } from 'node:events';
import { describe, expect, it } from 'vitest';
import type { BusTiming } from '../src/bus-options.js';
import type { BusConnection } from '../src/connection.js';
import { Subscription } from '../src/subscription.js';
import { sleep } from './helpers.js';

const TIMING: BusTiming = {
  connectTimeoutMs: 50,
  heartbeatMs: 20,
  timeoutMs: 30,
  reconnectMaxDelayMs: 10,
  closeTimeoutMs: 50,
};

class FakeConnection extends EventEmitter {
  status = 'wait';
  readonly calls: string[] = [];
  subscribeReply: (() => Promise<unknown>) | undefined;
  pingReply: () => Promise<unknown> = () => Promise.resolve('PONG');
  connect(): Promise<unknown> {
    this.calls.push('connect');
    return Promise.resolve();
  }
  disconnect(reconnect?: boolean): void {
    this.calls.push(`disconnect(${String(reconnect)})`);
  }
  quit(): Promise<unknown> {
    return Promise.resolve('OK');
  }
  subscribe(): Promise<unknown> {
    this.calls.push('subscribe');
    return this.subscribeReply?.() ?? Promise.resolve(1);
  }
  publish(): Promise<unknown> {
    return Promise.resolve(1);
  }
  ping(): Promise<unknown> {
    this.calls.push('ping');
    return this.pingReply();
  }
}

function subscription(connection: FakeConnection) {
  const events: string[] = [];
  const sub = new Subscription(connection as unknown as BusConnection, 'ch', {
    timing: TIMING,
    events: {
      frame: (text) => events.push(`frame:${text}`),
      live: () => events.push('live'),
      lost: (error) => events.push(`lost:${error.message}`),
      warn: (error) => events.push(`warn:${error.message}`),
    },
  });
  return { sub, events };
}

describe('subscription state machine', () => {
  it('a connection that never gets to a confirmed SUBSCRIBE is replaced after connectTimeoutMs', async () => {
    const connection = new FakeConnection();
    const { sub, events } = subscription(connection);
    sub.start();
    connection.emit('connect'); // TCP up, handshake never answered
    await sleep(TIMING.connectTimeoutMs + 30);
    expect(connection.calls).toEqual(['connect', 'disconnect(true)']);
    expect(events).toEqual([expect.stringMatching(/^warn:.*not subscribed within 50 ms/)]);
    await sub.close(10);
  });

  it('a SUBSCRIBE confirmed after its connection closed does not make the bus live', async () => {
    const connection = new FakeConnection();
    let confirm!: (value: unknown) => void;
    connection.subscribeReply = () => new Promise((resolve) => (confirm = resolve));
    const { sub, events } = subscription(connection);
    connection.emit('ready');
    connection.emit('close');
    confirm(1);
    await sleep(5);
    expect(sub.live).toBe(false);
    expect(events).toEqual([]);
    await sub.close(10);
  });

  it('an error while live is a loss and forces a reconnect; one lost per loss', async () => {
    const connection = new FakeConnection();
    const { sub, events } = subscription(connection);
    connection.emit('ready');
    await sleep(5);
    expect(events).toEqual(['live']);
    connection.emit('error', new Error('ECONNRESET'));
    connection.emit('close');
    connection.emit('end');
    expect(events).toEqual(['live', 'lost:ECONNRESET']);
    expect(connection.calls.at(-1)).toBe('disconnect(true)');
    connection.emit('ready');
    await sleep(5);
    expect(events).toEqual(['live', 'lost:ECONNRESET', 'live']);
    await sub.close(10);
  });

  it('a PING without a reply within timeoutMs is a loss; replies keep it live', async () => {
    const connection = new FakeConnection();
    const { sub, events } = subscription(connection);
    connection.emit('ready');
    await sleep(TIMING.heartbeatMs * 4);
    expect(connection.calls.filter((c) => c === 'ping').length).toBeGreaterThanOrEqual(2);
    expect(events).toEqual(['live']);
    connection.pingReply = () => new Promise(() => undefined); // frozen
    await sleep(TIMING.heartbeatMs + TIMING.timeoutMs + 30);
    expect(events).toEqual(['live', expect.stringMatching(/^lost:.*PING within 30 ms/)]);
    expect(connection.calls.at(-1)).toBe('disconnect(true)');
    await sub.close(10);
  });

  it('after close nothing is reported and no timer runs', async () => {
    const connection = new FakeConnection();
    const { sub, events } = subscription(connection);
    connection.emit('ready');
    await sleep(5);
    await sub.close(10);
    const calls = connection.calls.length;
    connection.emit('message', 'ch', 'x');
    connection.emit('close');
    connection.emit('error', new Error('late'));
    await sleep(TIMING.heartbeatMs * 3);
    expect(events).toEqual(['live']);
    expect(connection.calls.length).toBe(calls);
  });

  it('after ioredis gives up (end), the bus connects again by itself', async () => {
    const connection = new FakeConnection();
    const { sub, events } = subscription(connection);
    sub.start();
    connection.emit('ready');
    await sleep(5);
    connection.emit('end');
    expect(events).toEqual(['live', expect.stringMatching(/^lost:/)]);
    await sleep(TIMING.reconnectMaxDelayMs + 20);
    expect(connection.calls.filter((c) => c === 'connect')).toHaveLength(2);
    await sub.close(10);
  });
});
