// A batch of which one part failed (one memcached server of several, a Redis Cluster node): the
// backend throws CacheBatchError with what the healthy part answered; the client counts and
// reports it, then returns the partial result or throws it (`partialBatches`). Deletes always
// throw. Real partial failures on real servers are in the memcached package and the conformance
// suite; this pins the client's side of the contract.
import { describe, expect, it } from 'vitest';
import {
  CacheBackendError,
  CacheBatchError,
  CacheClient,
  CacheConfigError,
  type BackendWrite,
  type CacheClientOptions,
  type ErrorEvent,
  type StoredEntry,
} from '../src/index.js';
import { RecordingBackend } from '@stowage/testkit';

/** Keys whose "server" is down: their share of a batch fails. */
const DOWN = /^down/;

/** A recording backend whose batches fail for keys matching {@link DOWN}, like one dead server. */
class SplitBackend extends RecordingBackend {
  /** Whether the failed share's writes may have been sent. */
  indeterminate = false;
  /** Writes of the failed share land anyway (a late answer), to test the quarantine. */
  landLate = false;

  #failure(operation: string, failedKeys: string[], extra: object): CacheBatchError {
    const failure = new CacheBackendError('server 2 did not answer', {
      backend: this.name,
      operation,
      indeterminate: this.indeterminate,
    });
    return new CacheBatchError(`${operation} failed on 1 of 2 servers`, {
      backend: this.name,
      operation,
      indeterminate: this.indeterminate,
      failures: [failure],
      failedKeys,
      ...extra,
    });
  }

  override async getMany(keys: readonly string[]): Promise<Array<StoredEntry | undefined>> {
    const entries = [...(await super.getMany(keys))];
    const failedKeys = keys.filter((key) => DOWN.test(key));
    if (failedKeys.length === 0) return entries;
    const partial = entries.map((entry, i) => (DOWN.test(keys[i] as string) ? undefined : entry));
    throw this.#failure('getMany', failedKeys, { entries: partial });
  }

  override async setMany(writes: readonly BackendWrite[], ttl: number): Promise<string[]> {
    const healthy = writes.filter((write) => !DOWN.test(write.key));
    const failed = writes.filter((write) => DOWN.test(write.key));
    const refused = [...(await super.setMany(this.landLate ? writes : healthy, ttl))];
    if (failed.length === 0) return refused;
    const failedKeys = failed.map((write) => write.key);
    throw this.#failure('setMany', failedKeys, { notStored: [...refused, ...failedKeys] });
  }

  override async deleteMany(keys: readonly string[]): Promise<void> {
    await super.deleteMany(keys.filter((key) => !DOWN.test(key)));
    const failedKeys = keys.filter((key) => DOWN.test(key));
    if (failedKeys.length > 0) throw this.#failure('deleteMany', failedKeys, {});
  }
}

function setup(options: Partial<CacheClientOptions> = {}): {
  client: CacheClient;
  backend: SplitBackend;
  errors: ErrorEvent[];
} {
  const backend = new SplitBackend({ async: true });
  const client = new CacheClient({ backend, compress: false, ...options });
  const errors: ErrorEvent[] = [];
  client.on('error', (event) => errors.push(event));
  return { client, backend, errors };
}

describe('partial batches', () => {
  it('getMany returns what the healthy part found, and counts and reports the failure', async () => {
    const { client, backend, errors } = setup();
    backend.put('up-1', '1', 3);
    backend.put('down-1', '2', 3);
    const found = await client.getMany(['up-1', 'down-1']);
    expect([...found]).toEqual([['up-1', 1]]);
    expect(client.stats()).toMatchObject({ errors: 1, hits: 1, misses: 1 });
    expect(errors).toHaveLength(1);
    expect(errors[0]?.error).toBeInstanceOf(CacheBatchError);
    expect((errors[0]?.error as CacheBatchError).failedKeys).toEqual(['down-1']);
  });

  it("getMany throws the CacheBatchError, partial result inside, with partialBatches: 'throw'", async () => {
    const { client, backend } = setup({ partialBatches: 'throw' });
    backend.put('up-1', '1', 3);
    const failure = await client.getMany(['up-1', 'down-1']).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(CacheBatchError);
    expect((failure as CacheBatchError).entries?.[0]?.flags).toBe(3);
    expect(client.stats()).toMatchObject({ errors: 1, hits: 0 });
  });

  it('setMany lists the keys of the failed part as not stored', async () => {
    const { client, backend, errors } = setup();
    expect(await client.setMany({ 'up-1': 1, 'down-1': 2, 'up-2': 3 })).toEqual(['down-1']);
    expect(backend.peek('up-2')).toBeDefined();
    expect(client.stats()).toMatchObject({ sets: 2, setFailures: 1, errors: 1 });
    expect(errors[0]?.error).toBeInstanceOf(CacheBatchError);
    await expect(
      setup({ partialBatches: 'throw' }).client.setMany({ 'up-1': 1, 'down-1': 2 }),
    ).rejects.toBeInstanceOf(CacheBatchError);
  });

  it('quarantines the failed part of an indeterminate setMany', async () => {
    const { client, backend } = setup({ quarantineMs: 60_000 });
    backend.indeterminate = true;
    backend.landLate = true; // the failed server applied the write after all
    expect(await client.setMany({ 'up-1': 1, 'down-1': 2 })).toEqual(['down-1']);
    expect(await client.get('up-1')).toBe(1);
    // In doubt: this process never saw the write confirmed, so the late value is not served.
    expect(backend.peek('down-1')).toBeDefined();
    expect(await client.get('down-1')).toBeUndefined();
    await client.close();
  });

  it('deleteMany and bustRecent throw a partial failure whatever partialBatches says', async () => {
    const { client, backend } = setup();
    backend.put('up-1', '1', 3);
    await expect(client.deleteMany(['up-1', 'down-1'])).rejects.toBeInstanceOf(CacheBatchError);
    expect(backend.peek('up-1')).toBeUndefined();
    await client.set('down-2', 'x');
    await expect(client.bustRecent()).rejects.toBeInstanceOf(CacheBatchError);
    expect(client.stats().errors).toBe(2);
  });

  it('rejects an unknown partialBatches value before any I/O', () => {
    expect(
      () =>
        new CacheClient({
          backend: new RecordingBackend(),
          partialBatches: 'ignore' as never,
        }),
    ).toThrow(CacheConfigError);
  });
});
