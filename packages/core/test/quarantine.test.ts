// Late-write resurrection (transports-reliability F11): a write that timed out may land after a
// newer write that succeeded. After an indeterminate write the key is in doubt: this process reads
// only what it confirmed since, and at the end of the window the write in doubt is removed with a
// compare-and-delete. The client never writes an older value back (DESIGN D14).
import { describe, expect, it, vi } from 'vitest';
import { CacheClient, CacheTimeoutError, type CacheClientOptions } from '../src/index.js';
import { collect } from './helpers/events.js';
import { FaultBackend, RecordingBackend } from '@stowage/testkit';
import { faultClient } from './helpers/clients.js';

const QUARANTINE_MS = 150;

function setup(
  options: Omit<CacheClientOptions, 'backend'> = {},
  compareAndDelete = true,
): {
  client: CacheClient;
  backend: FaultBackend;
  inner: RecordingBackend;
  read: (fullKey: string) => string | undefined;
  /** A second process's client on the same server (no faults, its own quarantine). */
  other: CacheClient;
} {
  const { client, backend, inner } = faultClient(
    {
      timeoutMs: 50,
      quarantineMs: QUARANTINE_MS,
      compress: false,
      ...options,
    },
    { deleteIf: compareAndDelete },
  );
  const other = new CacheClient({
    backend: new FaultBackend(inner),
    compress: false,
    ownsBackend: false,
  });
  const read = (fullKey: string): string | undefined => {
    const entry = inner.peek(fullKey);
    return entry === undefined ? undefined : Buffer.from(entry.value).toString('utf8');
  };
  return { client, backend, inner, read, other };
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
    // The server holds the write in doubt: a miss, never v1 (older than the confirmed v2).
    expect(await client.get('k')).toBeUndefined();
    await waitForWindow(() => expect(read('k')).toBeUndefined());
    inner.calls.length = 0;
    expect(await client.get('k')).toBeUndefined();
    expect(inner.ops).toEqual(['get']);
  });

  it('never writes a value back: the end of the window only deletes', async () => {
    const { client, backend, inner, read } = setup();
    await timeOutWrite(client, backend, () => client.set('k', 'v1'));
    expect(await client.set('k', 'v2')).toBe(true);
    inner.calls.length = 0;
    await waitForWindow(() => expect(inner.ops).toContain('deleteIf'));
    expect(inner.ops).not.toContain('set');
    expect(inner.ops).not.toContain('setAndRead');
    expect(read('k')).toBe('v2'); // the compare-and-delete left the newer value alone
  });

  it("serves this process's confirmed write during the window when the server holds it", async () => {
    const { client, backend } = setup();
    await timeOutWrite(client, backend, () => client.set('k', 'v1'));
    backend.failLate(); // v1 never lands
    expect(await client.set('k', 'v2')).toBe(true);
    expect(await client.get('k')).toBe('v2');
    expect(await client.getMany(['k'])).toEqual(new Map([['k', 'v2']]));
  });

  it("keeps another process's newer write at the end of the window (compare-and-delete)", async () => {
    const { client, backend, read, other } = setup();
    await timeOutWrite(client, backend, () => client.set('k', 'v2'));
    await backend.answerLate(); // A's v2 lands
    expect(await other.set('k', 'v3')).toBe(true); // B writes a newer value
    // A cannot vouch for v3 during its window: a miss, never its own older v2.
    expect(await client.get('k')).toBeUndefined();
    await new Promise((resolve) => setTimeout(resolve, QUARANTINE_MS * 3));
    expect(read('k')).toBe('v3');
    expect(await other.get('k')).toBe('v3');
    expect(await client.get('k')).toBe('v3');
  });

  it("does not replace another process's newer write when its own confirmed write is older", async () => {
    const { client, backend, read, other } = setup();
    await timeOutWrite(client, backend, () => client.set('k', 'v1'));
    backend.failLate();
    expect(await client.set('k', 'v2')).toBe(true); // A confirms v2 during its window
    expect(await other.set('k', 'v3')).toBe(true); // then B writes v3
    expect(await client.get('k')).toBeUndefined(); // the server holds v3, not A's v2
    await new Promise((resolve) => setTimeout(resolve, QUARANTINE_MS * 3));
    expect(read('k')).toBe('v3');
    expect(await client.get('k')).toBe('v3');
  });

  it('deletes outright at the end of the window on a backend without compare-and-delete', async () => {
    const { client, backend, inner, read } = setup({}, false);
    await timeOutWrite(client, backend, () => client.set('k', 'v1'));
    await client.set('k', 'v2');
    inner.calls.length = 0;
    await waitForWindow(() => expect(read('k')).toBeUndefined());
    expect(inner.ops).toContain('delete');
    expect(inner.ops).not.toContain('set');
  });

  it('reads the server during the window and returns a miss for what it cannot vouch for', async () => {
    const { client, backend, inner } = setup();
    await client.set('k', 'v0');
    await timeOutWrite(client, backend, () => client.set('k', 'v1', { skipIntegrityCheck: true }));
    inner.calls.length = 0;
    expect(await client.get('k', 'default')).toBe('default');
    expect(await client.getMany(['k'])).toEqual(new Map());
    expect(inner.calls).toEqual([
      { op: 'get', keys: ['k'] },
      { op: 'getMany', keys: ['k'] },
    ]);
  });

  it('deletes the write in doubt at the end of the window when no write was confirmed', async () => {
    const { client, backend, read } = setup();
    await timeOutWrite(client, backend, () => client.set('k', 'v1'));
    await backend.answerLate();
    expect(read('k')).toBe('v1');
    await waitForWindow(() => expect(read('k')).toBeUndefined());
  });

  it('removes every write in doubt when several timed out', async () => {
    const { client, backend, read, inner } = setup();
    await timeOutWrite(client, backend, () => client.set('k', 'v1'));
    await timeOutWrite(client, backend, () => client.set('k', 'v2'));
    await backend.answerLate(); // both land, v2 last
    expect(read('k')).toBe('v2');
    inner.calls.length = 0;
    await waitForWindow(() => expect(read('k')).toBeUndefined());
    expect(inner.ops.filter((op) => op === 'deleteIf')).toHaveLength(2);
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

  it('removes a write in doubt that lands after a confirmed delete', async () => {
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

  it('reads a counter updated during the window as a miss, and leaves the count in place', async () => {
    const { client, backend, read } = setup();
    await timeOutWrite(client, backend, () => client.set('n', 1));
    backend.failLate();
    await client.set('n', 5);
    expect(await client.incr('n', 2)).toBe(7);
    expect(await client.decr('n')).toBe(6);
    expect(await client.get('n')).toBeUndefined();
    await new Promise((resolve) => setTimeout(resolve, QUARANTINE_MS * 3));
    expect(read('n')).toBe('6');
    expect(await client.get('n')).toBe(6);
  });

  it('keeps serving a confirmed write that was touched during the window', async () => {
    const { client, backend } = setup();
    await timeOutWrite(client, backend, () => client.set('k', 'v1'));
    backend.failLate();
    await client.set('k', 'v2', { ttl: 1 });
    expect(await client.touch('k', 100)).toBe(true);
    expect(await client.get('k')).toBe('v2');
  });

  it('retries a failed end-of-window action, then gives up with a quarantine warning', async () => {
    const { client, backend } = setup();
    const warnings = collect(client, 'warning');
    await timeOutWrite(client, backend, () => client.set('k', 'v1'));
    backend.ops = new Set(['deleteIf']);
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

  it('does not start for a write that failed synchronously: nothing is in flight to land late', async () => {
    const inner = new RecordingBackend();
    const backend = new FaultBackend(inner);
    const client = new CacheClient({ backend, quarantineMs: QUARANTINE_MS });
    backend.mode = { kind: 'alwaysThrow' };
    await expect(client.set('k', 1)).rejects.toMatchObject({ indeterminate: false });
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
