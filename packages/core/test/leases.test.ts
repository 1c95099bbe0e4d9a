// Leases in getOrSet. Two clients on one backend stand for two processes: each has its own
// single-flight, they share the store, so what one does to a key the other's lease must see.
import { describe, expect, it } from 'vitest';
import { FaultBackend, RecordingBackend } from '@stowage/testkit';
import {
  CacheClient,
  CacheConfigError,
  CacheErrorCode,
  CacheLeaseTimeoutError,
  type CacheClientOptions,
  type CacheError,
} from '../src/index.js';
import { LEASE_FLAGS, newLeaseMarker } from '../src/backend/kit.js';

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** A store that keeps leases (setIf, deleteIf), answering asynchronously like a server. */
function leaseStore(): RecordingBackend {
  return new RecordingBackend({ async: true, setIf: true, deleteIf: true, setAndRead: true });
}

/** Two "processes" on one store. */
function twoProcesses(options: Omit<CacheClientOptions, 'backend'> = {}): {
  store: RecordingBackend;
  a: CacheClient;
  b: CacheClient;
} {
  const store = leaseStore();
  const a = new CacheClient({ ...options, backend: store, ownsBackend: false });
  const b = new CacheClient({ ...options, backend: store, ownsBackend: false });
  return { store, a, b };
}

/** A factory that counts its runs, takes `ms`, and can be told when it started. */
function slowFactory<V>(
  value: V,
  ms: number,
): {
  factory: () => Promise<V>;
  runs: () => number;
  started: Promise<void>;
} {
  let runs = 0;
  let onStart: () => void = () => {};
  const started = new Promise<void>((resolve) => {
    onStart = resolve;
  });
  return {
    factory: async () => {
      runs++;
      onStart();
      await sleep(ms);
      return value;
    },
    runs: () => runs,
    started,
  };
}

describe('getOrSet leases', () => {
  it('runs the factory once across processes; the others wait and read the value', async () => {
    const { a, b } = twoProcesses();
    const { factory, runs } = slowFactory({ n: 1 }, 60);
    const calls = [a, b].flatMap((client) =>
      Array.from({ length: 20 }, () => client.getOrSet('k', factory)),
    );
    const results = await Promise.all(calls);
    expect(runs()).toBe(1);
    expect(results).toEqual(Array.from({ length: 40 }, () => ({ n: 1 })));
    expect(a.stats().leasesTaken + b.stats().leasesTaken).toBe(1);
    expect(a.stats().leaseWaits + b.stats().leaseWaits).toBe(1);
    expect(await b.get('k')).toEqual({ n: 1 });
  });

  it('holds the lease as a marker under the key itself, which readers see as a miss', async () => {
    const { store, a, b } = twoProcesses();
    const { factory, started } = slowFactory('v', 50);
    const pending = a.getOrSet('k', factory);
    await started;
    expect(store.peek(a.fullKey('k'))?.flags).toBe(LEASE_FLAGS);
    expect(await b.get('k', 'default')).toBe('default');
    expect((await b.getMany(['k'])).size).toBe(0);
    expect(b.stats().decodeErrors).toBe(0);
    expect(await pending).toBe('v');
    expect(await b.get('k')).toBe('v');
  });

  it.each([
    ['delete', (client: CacheClient) => client.delete('k')],
    ['deleteMany', (client: CacheClient) => client.deleteMany(['k'])],
    ['flushAll', (client: CacheClient) => client.flushAll()],
  ])('does not store over a %s by another process while the factory runs', async (_name, bust) => {
    const { a, b } = twoProcesses();
    const { factory, started } = slowFactory('stale', 40);
    const pending = a.getOrSet('k', factory);
    await started;
    await bust(b);
    expect(await pending).toBe('stale');
    expect(await b.get('k')).toBeUndefined();
    expect(a.stats().leasesLost).toBe(1);
  });

  it('does not store over a raw delete of the full key on the store (another language)', async () => {
    const { store, a } = twoProcesses();
    const { factory, started } = slowFactory('stale', 30);
    const pending = a.getOrSet('k', factory);
    await started;
    await store.delete(a.fullKey('k'));
    await pending;
    expect(store.peek(a.fullKey('k'))).toBeUndefined();
  });

  it("keeps another process's newer write instead of the factory's result", async () => {
    const { a, b } = twoProcesses();
    const { factory, started } = slowFactory('older', 30);
    const pending = a.getOrSet('k', factory);
    await started;
    expect(await b.set('k', 'newer')).toBe(true);
    expect(await pending).toBe('older');
    expect(await a.get('k')).toBe('newer');
  });

  it('releases the lease when the factory throws or returns undefined, so a waiter takes over', async () => {
    const { store, a, b } = twoProcesses();
    const failing = a.getOrSet('k', async () => {
      await sleep(30);
      throw new Error('upstream down');
    });
    await sleep(5);
    const waiter = b.getOrSet('k', () => 'from b');
    await expect(failing).rejects.toThrow('upstream down');
    expect(await waiter).toBe('from b');
    expect(await a.get('k')).toBe('from b');
    expect(await a.getOrSet('u', () => undefined)).toBeUndefined();
    expect(store.peek(a.fullKey('u'))).toBeUndefined();
    expect(store.ops.filter((op) => op === 'deleteIf')).toHaveLength(2);
  });

  it("takes over a dead holder's lease once it expires", async () => {
    const { store, a } = twoProcesses();
    // A process that died holding a 100 ms lease.
    await store.add(a.fullKey('k'), newLeaseMarker(), 0.1);
    const started = performance.now();
    expect(await a.getOrSet('k', () => 'mine')).toBe('mine');
    expect(performance.now() - started).toBeGreaterThanOrEqual(90);
    expect(await a.get('k')).toBe('mine');
    expect(a.stats().leaseWaits).toBe(1);
  });

  it('renews its lease while a long factory runs, so the result still lands', async () => {
    const { store, a, b } = twoProcesses({ lease: { ttl: '100ms' } });
    const { factory, started } = slowFactory('slow', 350);
    const pending = a.getOrSet('k', factory);
    await started;
    await sleep(250);
    expect(store.peek(a.fullKey('k'))?.flags).toBe(LEASE_FLAGS);
    expect(await pending).toBe('slow');
    expect(await b.get('k')).toBe('slow');
    expect(store.ops.filter((op) => op === 'setIf').length).toBeGreaterThanOrEqual(3);
  });

  it("a waiter gives up after `wait`: computes unstored by default, or throws with onTimeout 'throw'", async () => {
    const { a, b } = twoProcesses();
    const { factory, started } = slowFactory('holder', 200);
    const holder = a.getOrSet('k', factory);
    await started;
    expect(await b.getOrSet('k', () => 'waiter', { lease: { wait: '30ms' } })).toBe('waiter');
    const thrown: unknown = await b
      .getOrSet('k', () => 'never', { lease: { wait: 0.03, onTimeout: 'throw' } })
      .catch((error: unknown) => error);
    expect(thrown).toBeInstanceOf(CacheLeaseTimeoutError);
    expect((thrown as CacheError).code).toBe(CacheErrorCode.LeaseTimeout);
    expect((thrown as CacheLeaseTimeoutError).waitedMs).toBeGreaterThanOrEqual(25);
    expect(b.stats().leaseTimeouts).toBe(2);
    expect(await holder).toBe('holder');
    expect(await b.get('k')).toBe('holder');
  });

  it('goes straight to waiting when its read finds a marker (no add first)', async () => {
    const { store, a, b } = twoProcesses();
    const { factory, started } = slowFactory('v', 40);
    const holder = a.getOrSet('k', factory);
    await started;
    const before = store.calls.length;
    expect(await b.getOrSet('k', () => 'other')).toBe('v');
    const ops = store.ops.slice(before);
    expect(ops[0]).toBe('get');
    expect(ops[1]).toBe('get');
    await holder;
  });

  it('lease: false (client or call) stores without a lease, as before', async () => {
    const off = new CacheClient({ backend: leaseStore(), lease: false });
    await off.getOrSet('k', () => 1);
    const store = off.backend as RecordingBackend;
    expect(store.ops).toEqual(['get', 'setAndRead']);
    const on = new CacheClient({ backend: leaseStore() });
    await on.getOrSet('k', () => 1, { lease: false });
    expect((on.backend as RecordingBackend).ops).toEqual(['get', 'setAndRead']);
    await on.getOrSet('j', () => 1);
    expect((on.backend as RecordingBackend).ops.slice(2)).toEqual(['get', 'add', 'setIf']);
  });

  it('takes no lease on a backend without setIf', async () => {
    const store = new RecordingBackend({ async: true });
    const client = new CacheClient({ backend: store });
    expect(await client.getOrSet('k', () => 'v', { lease: true })).toBe('v');
    expect(store.ops).not.toContain('add');
    expect(await client.get('k')).toBe('v');
  });

  it('afterMiss skips the read, and still returns a value someone stored', async () => {
    const { store, a } = twoProcesses();
    await a.getOrSet('k', () => 'v', { afterMiss: true });
    expect(store.ops).toEqual(['add', 'setIf']);
    let runs = 0;
    const again = await a.getOrSet(
      'k',
      () => {
        runs++;
        return 'other';
      },
      { afterMiss: true },
    );
    expect([again, runs]).toEqual(['v', 0]);
  });

  it('singleFlight: false runs its own factory, and stores only under its own lease', async () => {
    const { a } = twoProcesses();
    const first = slowFactory('first', 40);
    const second = slowFactory('second', 10);
    const results = await Promise.all([
      a.getOrSet('k', first.factory, { singleFlight: false }),
      a.getOrSet('k', second.factory, { singleFlight: false }),
    ]);
    expect(results).toEqual(['first', 'second']);
    expect([first.runs(), second.runs()]).toEqual([1, 1]);
    expect(await a.get('k')).toBe('first');
  });

  it('a key holding what it cannot read is replaced as before leases', async () => {
    const { store, a } = twoProcesses();
    store.put(a.fullKey('k'), 'garbage', 99);
    expect(await a.getOrSet('k', () => 'v')).toBe('v');
    expect(await a.get('k')).toBe('v');
  });

  it('fails open when taking the lease fails: the factory runs, nothing is stored', async () => {
    const backend = new FaultBackend(leaseStore());
    backend.mode = { kind: 'alwaysReject', error: new Error('down') };
    backend.ops = new Set(['add']);
    const client = new CacheClient({ backend });
    const errors: CacheError[] = [];
    expect(await client.getOrSet('k', () => 'v', { onError: (e) => errors.push(e) })).toBe('v');
    expect(errors.map((e) => e.code)).toEqual([CacheErrorCode.Backend]);
    expect(await client.get('k')).toBeUndefined();
    await expect(client.getOrSet('k', () => 'v', { strict: true })).rejects.toMatchObject({
      code: CacheErrorCode.Backend,
    });
  });

  it('fails open when the commit fails, and releases nothing it does not hold', async () => {
    const inner = leaseStore();
    const backend = new FaultBackend(inner);
    backend.mode = { kind: 'alwaysReject', error: new Error('reset') };
    backend.ops = new Set(['setIf']);
    const client = new CacheClient({ backend, quarantineMs: 0 });
    const errors: CacheError[] = [];
    expect(await client.getOrSet('k', () => 'v', { onError: (e) => errors.push(e) })).toBe('v');
    expect(errors).toHaveLength(1);
    expect(inner.peek(client.fullKey('k'))).toBeUndefined();
  });

  it('rejects bad lease options before any I/O', async () => {
    expect(() => new CacheClient({ backend: leaseStore(), lease: { ttl: 0 } })).toThrow(
      CacheConfigError,
    );
    expect(
      () => new CacheClient({ backend: leaseStore(), lease: { onTimeout: 'later' as 'throw' } }),
    ).toThrow(/onTimeout/);
    expect(() => new CacheClient({ backend: leaseStore(), lease: 'yes' as never })).toThrow(
      CacheConfigError,
    );
    const client = new CacheClient({ backend: leaseStore() });
    await expect(client.getOrSet('k', () => 1, { lease: { wait: -1 } })).rejects.toBeInstanceOf(
      CacheConfigError,
    );
    expect((client.backend as RecordingBackend).calls).toHaveLength(0);
  });

  it('a delete in this process while its own factory runs wins too', async () => {
    const { a } = twoProcesses();
    const { factory, started } = slowFactory('stale', 30);
    const pending = a.getOrSet('k', factory);
    await started;
    await a.delete('k');
    expect(await pending).toBe('stale');
    expect(await a.get('k')).toBeUndefined();
  });

  it("gives a marker one more second on a 'seconds' backend, so renewals at ttl/2 always find it", async () => {
    const store = leaseStore();
    Object.defineProperty(store, 'capabilities', {
      value: { ...store.capabilities, ttlPrecision: 'seconds' },
    });
    const client = new CacheClient({ backend: store, lease: { ttl: '1s' } });
    await client.getOrSet('k', () => 'v');
    expect(store.calls.find((call) => call.op === 'add')?.ttl).toBe(2);
    const precise = leaseStore();
    await new CacheClient({ backend: precise, lease: { ttl: '1s' } }).getOrSet('k', () => 'v');
    expect(precise.calls.find((call) => call.op === 'add')?.ttl).toBe(1);
  });

  it('many concurrent factories do not make Node warn of an abort-listener leak', async () => {
    const warnings: Error[] = [];
    const onWarning = (warning: Error): void => {
      warnings.push(warning);
    };
    process.on('warning', onWarning);
    try {
      const client = new CacheClient({ backend: leaseStore() });
      await Promise.all(
        Array.from({ length: 30 }, (_, i) =>
          client.getOrSet(`k${i}`, () => sleep(5).then(() => i)),
        ),
      );
      await sleep(10);
    } finally {
      process.off('warning', onWarning);
    }
    expect(warnings.map((warning) => warning.name)).not.toContain('MaxListenersExceededWarning');
  });
});
