// An in-process hit stays synchronous inside the client: the only promise a `get` of a memory-like
// backend creates is the one it returns (no deadline timer, no awaited backend promise, no
// `async` frame). Counted with async_hooks, which sees every promise created while enabled.
import { createHook } from 'node:async_hooks';
import { describe, expect, it, vi } from 'vitest';
import { CacheClient } from '../src/index.js';
import { RecordingBackend } from '@stowage/testkit';

/** How many promises `run` creates synchronously. */
function promisesCreatedBy(run: () => unknown): number {
  let created = 0;
  const hook = createHook({
    init(_id, type) {
      if (type === 'PROMISE') created++;
    },
  });
  hook.enable();
  try {
    run();
  } finally {
    hook.disable();
  }
  return created;
}

describe('the in-process hot path', () => {
  it('creates one promise, the one returned, for a get hit, a getMany hit and a getOrSet hit', async () => {
    const client = new CacheClient({ backend: new RecordingBackend(), compress: false });
    await client.set('k', { id: 7 });
    await client.get('k'); // warm: first calls may initialise lazily
    expect(promisesCreatedBy(() => client.get('k'))).toBe(1);
    expect(promisesCreatedBy(() => client.getMany(['k']))).toBe(1);
    expect(promisesCreatedBy(() => client.getOrSet('k', () => ({ id: 8 })))).toBe(1);
    expect(await client.get('k')).toEqual({ id: 7 });
    // The count sees more where there are more: a backend answering with promises.
    const remote = new CacheClient({ backend: new RecordingBackend({ async: true }) });
    expect(promisesCreatedBy(() => remote.get('k'))).toBeGreaterThan(1);
  });

  it('arms no timer for a synchronous answer, and one for a promise', async () => {
    const spy = vi.spyOn(globalThis, 'setTimeout');
    try {
      const sync = new CacheClient({ backend: new RecordingBackend() });
      await sync.set('k', 1);
      await sync.get('k');
      expect(spy).not.toHaveBeenCalled();
      const remote = new CacheClient({ backend: new RecordingBackend({ async: true }) });
      await remote.get('k');
      expect(spy).toHaveBeenCalledTimes(1);
    } finally {
      spy.mockRestore();
    }
  });
});
