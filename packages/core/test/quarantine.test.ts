// Late-write resurrection (transports-reliability F11): a write that timed out may land after a
// newer write that succeeded. After an indeterminate write the key is quarantined: reads see only
// writes confirmed since, and at the end of the window the key is rewritten or deleted.
import { describe, expect, it, vi } from 'vitest';
import { CacheClient, CacheTimeoutError, type CacheClientOptions } from '../src/index.js';
import { collect } from './helpers/events.js';
import { FaultBackend, faultClient } from './helpers/fault-backend.js';
import { RecordingBackend } from './helpers/recording-backend.js';

const QUARANTINE_MS = 150;

function setup(options: Omit<CacheClientOptions, 'backend'> = {}): {
  client: CacheClient;
  backend: FaultBackend;
  inner: RecordingBackend;
  read: (fullKey: string) => string | undefined;
} {
  const { client, backend, inner } = faultClient({
    timeoutMs: 50,
    quarantineMs: QUARANTINE_MS,
    compress: false,
    ...options,
  });
  const read = (fullKey: string): string | undefined => {
    const entry = inner.peek(fullKey);
    return entry === undefined ? undefined : Buffer.from(entry.value).toString('utf8');
  };
  return { client, backend, inner, read };
}

/** Makes the next write of `key` time out, leaving it held so the test can land it late. */
async function timeOutWrite(
  client: CacheClient,
  backend: FaultBackend,
  write: () => Promise<unknown>,
): Promise<void> {
  backend.mode = { kind: 'neverAnswer' };
  await expect(write()).rejects.toBeInstanceOf(CacheTimeoutError);
  backend.mode = { kind: 'pass' };
  expect(client).toBeDefined();
}

const waitForWindow = (check: () => void): Promise<void> =>
  vi.waitFor(check, { timeout: QUARANTINE_MS * 20, interval: 10 });

describe('write quarantine', () => {
  it('never surfaces a timed-out write that lands after a newer confirmed one', async () => {
    const { client, backend, inner, read } = setup();
    await client.set('k', 'v0');
    await timeOutWrite(client, backend, () => client.set('k', 'v1'));
    expect(await client.set('k', 'v2')).toBe(true);
    await backend.answerLate(); // v1 lands on the server after v2
    expect(read('k')).toBe('v1');
    expect(await client.get('k')).toBe('v2');
    await waitForWindow(() => expect(read('k')).toBe('v2'));
    inner.calls.length = 0;
    expect(await client.get('k')).toBe('v2');
    expect(inner.ops).toEqual(['get']);
  });

  it('reads a miss without calling the backend until a write is confirmed', async () => {
    const { client, backend, inner } = setup();
    await client.set('k', 'v0');
    await timeOutWrite(client, backend, () => client.set('k', 'v1', { skipIntegrityCheck: true }));
    inner.calls.length = 0;
    expect(await client.get('k', 'default')).toBe('default');
    expect(await client.getMany(['k'])).toEqual(new Map());
    expect(inner.calls).toEqual([{ op: 'getMany', keys: ['k'] }]);
  });

  it('deletes the key at the end of the window when no write was confirmed', async () => {
    const { client, backend, read } = setup();
    await timeOutWrite(client, backend, () => client.set('k', 'v1'));
    await backend.answerLate();
    expect(read('k')).toBe('v1');
    await waitForWindow(() => expect(read('k')).toBeUndefined());
  });

  it('serves other keys of a getMany from the backend during the window', async () => {
    const { client, backend } = setup();
    await client.set('other', 'fine');
    await timeOutWrite(client, backend, () => client.set('k', 'v1'));
    expect(await client.getMany(['k', 'other'])).toEqual(new Map([['other', 'fine']]));
  });

  it('quarantines every key of a timed-out setMany', async () => {
    const { client, backend, read } = setup();
    await timeOutWrite(client, backend, () => client.setMany({ a: 'x', b: 'y' }));
    await backend.answerLate();
    expect(await client.getMany(['a', 'b'])).toEqual(new Map());
    await waitForWindow(() => {
      expect(read('a')).toBeUndefined();
      expect(read('b')).toBeUndefined();
    });
  });

  it('quarantines a key whose add timed out', async () => {
    const { client, backend, read } = setup();
    await timeOutWrite(client, backend, () => client.add('k', 'added'));
    await backend.answerLate();
    expect(await client.get('k')).toBeUndefined();
    await waitForWindow(() => expect(read('k')).toBeUndefined());
  });

  it('honours a delete confirmed during the window', async () => {
    const { client, backend, read } = setup();
    await timeOutWrite(client, backend, () => client.set('k', 'v1'));
    await client.set('k', 'v2');
    await client.delete('k');
    await backend.answerLate();
    expect(await client.get('k')).toBeUndefined();
    await waitForWindow(() => expect(read('k')).toBeUndefined());
  });

  it('does not resurrect a key that bustRecent deleted during the window', async () => {
    const { client, backend, read } = setup();
    await timeOutWrite(client, backend, () => client.set('k', 'v1'));
    await client.set('k', 'v2');
    expect(await client.bustRecent()).toBe(1);
    expect(await client.get('k')).toBeUndefined();
    await new Promise((resolve) => setTimeout(resolve, QUARANTINE_MS * 3));
    expect(read('k')).toBeUndefined();
  });

  it('does not resurrect a key that flushAll removed during the window', async () => {
    const { client, backend, read } = setup();
    await timeOutWrite(client, backend, () => client.set('k', 'v1'));
    await client.set('k', 'v2');
    await client.flushAll();
    expect(await client.get('k')).toBeUndefined();
    await new Promise((resolve) => setTimeout(resolve, QUARANTINE_MS * 3));
    expect(read('k')).toBeUndefined();
  });

  it('deletes instead of rewriting when the confirmed value expired during the window', async () => {
    let now = 1_000_000;
    const { client, backend, read } = setup({ now: () => now });
    await timeOutWrite(client, backend, () => client.set('k', 'v1'));
    await client.set('k', 'v2', { ttl: 1 });
    now += 2_000;
    expect(await client.get('k')).toBeUndefined();
    await waitForWindow(() => expect(read('k')).toBeUndefined());
  });

  it('rewrites the confirmed value with the TTL it has left', async () => {
    let now = 1_000_000;
    const { client, backend, inner } = setup({ now: () => now });
    await timeOutWrite(client, backend, () => client.set('k', 'v1'));
    await client.set('k', 'v2', { ttl: 100 });
    now += 40_000;
    inner.calls.length = 0;
    await waitForWindow(() => expect(inner.ops).toContain('set'));
    expect(inner.calls.find((call) => call.op === 'set')?.ttl).toBeCloseTo(60, 3);
  });

  it('counts increments confirmed during the window instead of rewriting the older value', async () => {
    const { client, backend, read } = setup();
    await timeOutWrite(client, backend, () => client.set('n', 1));
    await client.set('n', 5);
    expect(await client.incr('n', 2)).toBe(7);
    expect(await client.decr('n')).toBe(6);
    expect(await client.get('n')).toBe(6);
    await new Promise((resolve) => setTimeout(resolve, QUARANTINE_MS * 3));
    expect(read('n')).toBe('6');
    expect(await client.get('n')).toBe(6);
  });

  it('keeps the TTL of a touch confirmed during the window', async () => {
    let now = 1_000_000;
    const { client, backend, inner } = setup({ now: () => now });
    await timeOutWrite(client, backend, () => client.set('k', 'v1'));
    await client.set('k', 'v2', { ttl: 1 });
    expect(await client.touch('k', 100)).toBe(true);
    now += 2_000;
    expect(await client.get('k')).toBe('v2');
    inner.calls.length = 0;
    await waitForWindow(() => expect(inner.ops).toContain('set'));
    expect(inner.calls.find((call) => call.op === 'set')?.ttl).toBeCloseTo(98, 3);
  });

  it('retries a failed end-of-window action, then gives up with a quarantine warning', async () => {
    const { client, backend } = setup();
    const warnings = collect(client, 'warning');
    await timeOutWrite(client, backend, () => client.set('k', 'v1'));
    backend.ops = new Set(['delete']);
    backend.mode = { kind: 'alwaysReject', error: new Error('still down') };
    await vi.waitFor(() => expect(warnings).toHaveLength(1), { timeout: QUARANTINE_MS * 30 });
    expect(warnings[0]).toMatchObject({
      kind: 'quarantine',
      operation: 'quarantine',
      fullKey: 'k',
    });
    expect(warnings[0]?.error.message).toMatch(/still down/);
    backend.mode = { kind: 'pass' };
    expect(await client.get('k')).toBeUndefined(); // released: read from the backend again
  });

  it('is off with quarantineMs: 0', async () => {
    const { client, backend, inner } = setup({ quarantineMs: 0 });
    await timeOutWrite(client, backend, () => client.set('k', 'v1'));
    await backend.answerLate();
    expect(await client.get('k')).toBe('v1');
    expect(inner.ops).toContain('get');
  });

  it('is off for in-process backends, which cannot answer late', async () => {
    const inner = new RecordingBackend();
    const backend = new FaultBackend(inner, { inProcess: true });
    const client = new CacheClient({ backend, quarantineMs: QUARANTINE_MS });
    backend.mode = { kind: 'alwaysReject' };
    await expect(client.set('k', 1)).rejects.toMatchObject({ indeterminate: true });
    backend.mode = { kind: 'pass' };
    inner.put('k', '2', 3);
    expect(await client.get('k')).toBe(2);
  });

  it('drops pending windows on close', async () => {
    const { client, backend, read } = setup();
    await timeOutWrite(client, backend, () => client.set('k', 'v1'));
    await backend.answerLate();
    await client.close();
    await new Promise((resolve) => setTimeout(resolve, QUARANTINE_MS * 3));
    expect(read('k')).toBe('v1');
  });
});
