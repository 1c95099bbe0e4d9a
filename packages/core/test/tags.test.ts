// Tags (group invalidation). Two clients on one backend stand for two processes: each has its own
// single-flight and flights, they share the store, so what one busts the other must miss. Real
// processes on real memcached and Redis are in tags-processes.test.ts.
import { createHash } from 'node:crypto';
import { RecordingBackend } from '@stowage/testkit';
import { createMemoryBackend } from '@stowage/backend-memory';
import { describe, expect, it, vi } from 'vitest';
import {
  CacheClient,
  CacheKeyError,
  CacheValueError,
  StorageLevel,
  type CacheBackend,
  type CacheClientOptions,
} from '../src/index.js';
import { TAGGED_FLAGS } from '../src/tags/tag-header.js';
import { MAX_TAG_LENGTH, MAX_TAGS_PER_ENTRY } from '../src/tags/tag-options.js';
import { TAG_KEY_START } from '../src/tags/tag-versions.js';

/** A store that keeps leases (setIf, deleteIf), answering asynchronously like a server. */
function leaseStore(now?: () => number): RecordingBackend {
  return new RecordingBackend({ async: true, setIf: true, deleteIf: true, setAndRead: true, now });
}

/** Two "processes" on one store. */
function twoProcesses(
  store: CacheBackend,
  options: Omit<CacheClientOptions, 'backend'> = {},
): { a: CacheClient; b: CacheClient } {
  const a = new CacheClient({ prefix: 'app', ...options, backend: store, ownsBackend: false });
  const b = new CacheClient({ prefix: 'app', ...options, backend: store, ownsBackend: false });
  return { a, b };
}

/** The full key of a tag's version for a client whose key head is `head`. */
function versionKey(head: string, tag: string): string {
  return head + TAG_KEY_START + createHash('sha256').update(tag, 'utf8').digest('base64url');
}

/** A promise and the function that settles it: a gate a factory waits at. */
function gate(): { open: () => void; opened: Promise<void> } {
  let open: () => void = () => {};
  const opened = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { open, opened };
}

const STORES: ReadonlyArray<readonly [string, () => CacheBackend]> = [
  ['a lease store (setIf)', () => leaseStore()],
  ['the memory backend', () => createMemoryBackend()],
  ['a store without setIf (no leases)', () => new RecordingBackend({ async: true })],
];

describe.each(STORES)('tags on %s', (_name, makeStore) => {
  it('a bust by one client is a miss for the other, on get, getMany, getEntry and getOrSet', async () => {
    const { a, b } = twoProcesses(makeStore());
    expect(await a.set('user:1', { name: 'Ann' }, { tags: ['user:1', 'users'] })).toBe(true);
    expect(await b.get('user:1')).toEqual({ name: 'Ann' });
    await b.invalidateTags(['users']);
    expect(await a.get('user:1')).toBeUndefined();
    expect(await a.getMany(['user:1'])).toEqual(new Map());
    expect(await a.getEntry('user:1')).toEqual({ status: 'miss' });
    let runs = 0;
    const fresh = await a.getOrSet('user:1', () => ({ name: `Ann ${++runs}` }), {
      tags: ['user:1', 'users'],
    });
    expect(fresh).toEqual({ name: 'Ann 1' });
    expect(await b.get('user:1')).toEqual({ name: 'Ann 1' });
  });

  it('a bust spares entries of other tags, and entries without tags', async () => {
    const { a, b } = twoProcesses(makeStore());
    await a.set('one', 1, { tags: ['t1'] });
    await a.set('two', 2, { tags: ['t2'] });
    await a.set('both', 3, { tags: ['t1', 't2'] });
    await a.set('none', 4);
    await b.deleteByTag('t1');
    expect(await a.getMany(['one', 'two', 'both', 'none'])).toEqual(
      new Map([
        ['two', 2],
        ['none', 4],
      ]),
    );
  });

  it("tenants' tags are separate: a tenant busts only its own", async () => {
    const root = new CacheClient({ backend: makeStore(), prefix: 'app' });
    const acme = root.scoped(StorageLevel.Stack, { stack: 'acme' });
    const globex = root.scoped(StorageLevel.Stack, { stack: 'globex' });
    await acme.set('profile', 'acme', { tags: ['user:1'] });
    await globex.set('profile', 'globex', { tags: ['user:1'] });
    await root.set('profile', 'root', { tags: ['user:1'] });
    await acme.invalidateTags(['user:1']);
    expect(await acme.get('profile')).toBeUndefined();
    expect(await globex.get('profile')).toBe('globex');
    expect(await root.get('profile')).toBe('root');
  });

  it('a factory running while its tag is busted: its result answers its caller, never a later read', async () => {
    const { a, b } = twoProcesses(makeStore());
    const inFactory = gate();
    const release = gate();
    let runs = 0;
    const pending = a.getOrSet(
      'report',
      async () => {
        runs++;
        inFactory.open();
        await release.opened;
        return 'computed before the bust';
      },
      { tags: ['reports'] },
    );
    await inFactory.opened;
    await b.invalidateTags(['reports']);
    release.open();
    expect(await pending).toBe('computed before the bust');
    expect(await a.get('report')).toBeUndefined();
    expect(await b.get('report')).toBeUndefined();
    const again = await b.getOrSet('report', () => `run ${++runs}`, { tags: ['reports'] });
    expect(again).toBe('run 2');
    expect(await a.get('report')).toBe('run 2');
  });

  it('a caller asking after the bust resolved never joins a flight that started before it', async () => {
    const { a } = twoProcesses(makeStore());
    const inFactory = gate();
    const release = gate();
    const before = a.getOrSet(
      'k',
      async () => {
        inFactory.open();
        await release.opened;
        return 'before';
      },
      { tags: ['t'] },
    );
    await inFactory.opened;
    await a.invalidateTags(['t']);
    const after = a.getOrSet('k', () => 'after', { tags: ['t'] });
    release.open();
    expect(await before).toBe('before');
    expect(await after).toBe('after');
    expect(await a.get('k')).toBe('after');
  });

  it("a tag version gone (evicted, expired) makes the tag's entries misses", async () => {
    const store = makeStore();
    const { a } = twoProcesses(store);
    await a.set('k', 'v', { tags: ['gone', 'kept'] });
    expect(await a.get('k')).toBe('v');
    await store.delete(versionKey('app:', 'gone'));
    expect(await a.get('k')).toBeUndefined();
    expect(await a.getOrSet('k', () => 'recomputed', { tags: ['gone', 'kept'] })).toBe(
      'recomputed',
    );
  });

  it('getOrSet with tags serves only an entry with exactly those tags (a changed tag list recomputes)', async () => {
    const { a } = twoProcesses(makeStore());
    await a.set('k', 'untagged');
    expect(await a.getOrSet('k', () => 'tagged', { tags: ['t'] })).toBe('tagged');
    expect(await a.getOrSet('k', () => 'other tags', { tags: ['t', 'u'] })).toBe('other tags');
    expect(await a.getOrSet('k', () => 'not again', { tags: ['u', 't', 'u'] })).toBe('other tags');
    await a.invalidateTags(['u']);
    expect(await a.getOrSet('k', () => 'after the bust', { tags: ['t', 'u'] })).toBe(
      'after the bust',
    );
  });

  it('a remembered "not found" (negativeTtl) is busted with its tags', async () => {
    const { a, b } = twoProcesses(makeStore());
    let runs = 0;
    const lookup = (): Promise<string | undefined> =>
      a.getOrSet('user:9', () => (++runs === 1 ? undefined : 'created'), {
        tags: ['user:9'],
        negativeTtl: 60,
      });
    expect(await lookup()).toBeUndefined();
    expect(await lookup()).toBeUndefined();
    expect(runs).toBe(1);
    await b.invalidateTags(['user:9']);
    expect(await lookup()).toBe('created');
    expect(runs).toBe(2);
  });

  it('noreply set, setAndReturn and getOrSet with afterMiss carry their tags too', async () => {
    const { a, b } = twoProcesses(makeStore());
    expect(await a.set('n', 1, { tags: ['t'], noreply: true })).toBeUndefined();
    expect(await a.setAndReturn('r', 2, { tags: ['t'] })).toBe(2);
    expect(await a.getOrSet('m', () => 3, { tags: ['t'], afterMiss: true })).toBe(3);
    await vi.waitFor(async () => expect((await b.getMany(['n', 'r', 'm'])).size).toBe(3));
    await b.invalidateTags(['t']);
    expect(await a.getMany(['n', 'r', 'm'])).toEqual(new Map());
  });

  it('setMany with tags: one set of versions for the batch, busted together', async () => {
    const { a, b } = twoProcesses(makeStore());
    expect(await a.setMany({ x: 1, y: 2 }, { tags: ['batch'] })).toEqual([]);
    expect(await b.getMany(['x', 'y'])).toEqual(
      new Map([
        ['x', 1],
        ['y', 2],
      ]),
    );
    await b.invalidateTags(['batch']);
    expect(await a.getMany(['x', 'y'])).toEqual(new Map());
  });
});

describe('tags: input', () => {
  const hostile: ReadonlyArray<readonly [string, unknown, RegExp]> = [
    ['a string instead of a list', 'user:1', /must be an array of strings, not a string/],
    ['an empty tag', [''], /must not be empty/],
    ['a number', [1], /must be a string; got number/],
    ['null', [null], /got null/],
    ['a tag too long', ['x'.repeat(MAX_TAG_LENGTH + 1)], /at most 256 characters/],
    ['a lone surrogate', ['\uD800'], /lone UTF-16 surrogate/],
    [
      'too many tags',
      Array.from({ length: MAX_TAGS_PER_ENTRY + 1 }, (_, i) => `t${i}`),
      /at most 32 distinct tags/,
    ],
  ];

  it.each(hostile)(
    'refuses %s with CacheValueError before any I/O',
    async (_name, tags, message) => {
      const store = new RecordingBackend();
      const cache = new CacheClient({ backend: store });
      const options = { tags } as never;
      const calls: Array<() => Promise<unknown>> = [
        () => cache.set('k', 1, options),
        () => cache.set('k', 1, { ...(options as object), noreply: true } as never),
        () => cache.setMany({ k: 1 }, options),
        () => cache.getOrSet('k', () => 1, options),
      ];
      // invalidateTags takes up to 1000 tags: 33 are fine there.
      if (!/distinct/.test(message.source)) calls.push(() => cache.invalidateTags(tags as never));
      for (const call of calls) {
        const error = await call().then(
          () => undefined,
          (e: unknown) => e,
        );
        expect(error).toBeInstanceOf(CacheValueError);
        expect((error as Error).message).toMatch(message);
      }
      expect(store.calls).toEqual([]);
    },
  );

  it('takes any well-formed string: whitespace, separators, scope forms, emoji are hashed, never keys', async () => {
    const { a, b } = twoProcesses(leaseStore());
    const odd = [
      'user 1\r\n',
      ':',
      'stack=acme',
      'stowage-tag=x',
      '💥',
      'x'.repeat(MAX_TAG_LENGTH),
    ];
    for (const [i, tag] of odd.entries()) await a.set(`k${i}`, i, { tags: [tag] });
    await b.invalidateTags([odd[0] as string, odd[3] as string]);
    expect([...(await a.getMany(odd.map((_, i) => `k${i}`))).keys()]).toEqual([
      'k1',
      'k2',
      'k4',
      'k5',
    ]);
  });

  it('no caller key can name a tag version', async () => {
    const cache = new CacheClient({ backend: new RecordingBackend(), prefix: 'app' });
    expect(() => cache.fullKey('stowage-tag=abc')).toThrow(CacheKeyError);
    const hashing = new CacheClient({
      backend: new RecordingBackend(),
      prefix: 'app',
      longKeys: 'hash-unsafe',
    });
    expect(hashing.fullKey('stowage-tag=abc').startsWith('app:stowage-tag=')).toBe(false);
  });

  it('a value that would not fit with its tag header is refused before any I/O', async () => {
    const store = new RecordingBackend({ maxValueBytes: 200 });
    const cache = new CacheClient({ backend: store, compress: false });
    await expect(cache.set('k', 'x'.repeat(150), { tags: ['a', 'b', 'c'] })).rejects.toThrow(
      /with its tag header/,
    );
    expect(store.calls).toEqual([]);
  });

  it('deleteByTag takes one tag; add takes none; [] and no tags are untagged writes', async () => {
    const store = new RecordingBackend();
    const cache = new CacheClient({ backend: store });
    await expect(cache.deleteByTag(['t'] as never)).rejects.toThrow(CacheValueError);
    await expect(cache.add('k', 1, { tags: ['t'] } as never)).rejects.toThrow(/does not take/);
    await expect(
      cache.invalidateTags(Array.from({ length: 1001 }, (_, i) => `t${i}`)),
    ).rejects.toThrow(/at most 1000/);
    await cache.set('k', 1, { tags: [] });
    expect(store.calls.map((call) => call.op)).toEqual(['set', 'get']);
    await cache.invalidateTags([]);
    expect(store.calls).toHaveLength(2);
  });
});

describe('tags: cost and shape', () => {
  it('getOrSet with tags: a hit is one backend round trip (one getMany)', async () => {
    const store = leaseStore();
    const cache = new CacheClient({ backend: store, prefix: 'app' });
    await cache.getOrSet('k', () => 'v', { tags: ['a', 'b'] });
    store.calls.length = 0;
    expect(await cache.getOrSet('k', () => 'not run', { tags: ['b', 'a'] })).toBe('v');
    expect(store.calls).toEqual([
      { op: 'getMany', keys: ['app:k', versionKey('app:', 'a'), versionKey('app:', 'b')] },
    ]);
  });

  it('get and getMany of tagged entries: two round trips, the versions batched', async () => {
    const store = leaseStore();
    const cache = new CacheClient({ backend: store, prefix: 'app' });
    await cache.set('x', 1, { tags: ['a', 'b'] });
    await cache.set('y', 2, { tags: ['b', 'c'] });
    store.calls.length = 0;
    expect(await cache.get('x')).toBe(1);
    expect(store.calls.map((call) => call.op)).toEqual(['get', 'getMany']);
    store.calls.length = 0;
    expect(await cache.getMany(['x', 'y'])).toEqual(
      new Map([
        ['x', 1],
        ['y', 2],
      ]),
    );
    expect(store.calls.map((call) => call.op)).toEqual(['getMany', 'getMany']);
    expect(new Set(store.calls[1]?.keys)).toEqual(
      new Set(['a', 'b', 'c'].map((tag) => versionKey('app:', tag))),
    );
  });

  it('a bust is one deleteMany of the version keys; the first tagged write after it creates them with add', async () => {
    const store = leaseStore();
    const cache = new CacheClient({ backend: store, prefix: 'app' });
    await cache.invalidateTags(['a', 'b']);
    expect(store.calls).toEqual([
      { op: 'deleteMany', keys: [versionKey('app:', 'a'), versionKey('app:', 'b')] },
    ]);
    store.calls.length = 0;
    await cache.set('k', 1, { tags: ['a'], skipIntegrityCheck: true });
    expect(store.calls.map((call) => call.op)).toEqual(['getMany', 'add', 'set']);
  });

  it('an encrypted cache stores no tag name, in the entry or in any key', async () => {
    const store = new RecordingBackend();
    const cache = new CacheClient({
      backend: store,
      prefix: 'app',
      encryptionKey: 'k'.repeat(32),
    });
    await cache.set('k', 'secret', { tags: ['tenant-acme-user-42'] });
    const entry = store.peek('app:k');
    expect(entry?.flags).toBe(TAGGED_FLAGS);
    expect(Buffer.from(entry?.value ?? []).toString('latin1')).not.toContain('acme');
    expect(store.calls.flatMap((call) => call.keys).join(' ')).not.toContain('acme');
    expect(await cache.get('k')).toBe('secret');
  });

  it('version keys are not recent keys: bustRecent deletes entries, never versions', async () => {
    const store = new RecordingBackend();
    const cache = new CacheClient({ backend: store, prefix: 'app' });
    await cache.set('k', 1, { tags: ['t'] });
    expect(cache.recentKeys().map((entry) => entry.key)).toEqual(['k']);
    expect(await cache.bustRecent()).toBe(1);
    expect(store.peek(versionKey('app:', 't'))).toBeDefined();
  });
});

describe('tags: versions in doubt', () => {
  it("two writers creating one version at once: the loser of the add uses the winner's", async () => {
    const store = leaseStore();
    const { a, b } = twoProcesses(store);
    await Promise.all([a.set('x', 1, { tags: ['t'] }), b.set('y', 2, { tags: ['t'] })]);
    const adds = store.calls.filter((call) => call.op === 'add');
    expect(adds).toHaveLength(2);
    expect(await a.getMany(['x', 'y'])).toEqual(
      new Map([
        ['x', 1],
        ['y', 2],
      ]),
    );
    await b.invalidateTags(['t']);
    expect(await a.getMany(['x', 'y'])).toEqual(new Map());
  });

  it('a version key holding something else is replaced, which busts it', async () => {
    const store = new RecordingBackend();
    const cache = new CacheClient({ backend: store, prefix: 'app' });
    await cache.set('old', 'v', { tags: ['t'] });
    await store.set(versionKey('app:', 't'), { value: Buffer.from('junk'), flags: 0 }, 0);
    expect(await cache.get('old')).toBeUndefined();
    expect(await cache.set('new', 'w', { tags: ['t'] })).toBe(true);
    expect(await cache.get('new')).toBe('w');
    expect(store.peek(versionKey('app:', 't'))?.value.byteLength).toBe(16);
  });

  it('a tag header that does not parse is a miss and a decode warning', async () => {
    const store = new RecordingBackend();
    const cache = new CacheClient({ backend: store, prefix: 'app' });
    const warnings: string[] = [];
    cache.on('warning', (event) => warnings.push(event.error.message));
    await store.set('app:k', { value: Buffer.from([1, 0, 0, 0, 1, 5]), flags: TAGGED_FLAGS }, 0);
    expect(await cache.get('k')).toBeUndefined();
    expect(await cache.getOrSet('k', () => 'computed', { tags: ['t'] })).toBe('computed');
    expect(warnings.some((message) => /malformed tag header/.test(message))).toBe(true);
  });
});

describe('tags with grace and leases', () => {
  it('a busted entry is never served stale, not even within its grace', async () => {
    let now = 1_000_000;
    const clock = (): number => now;
    const store = leaseStore(clock);
    const { a, b } = twoProcesses(store, { now: clock });
    const options = { tags: ['t'], ttl: 10, grace: '1h' } as const;
    expect(await a.getOrSet('k', () => 'first', options)).toBe('first');
    now += 11_000; // stale: past its ttl, within its grace
    expect(await a.getEntry('k')).toMatchObject({ status: 'stale', value: 'first' });
    await b.invalidateTags(['t']);
    expect(await a.getEntry('k')).toEqual({ status: 'miss' });
    const failing = a.getOrSet(
      'k',
      () => {
        throw new Error('the factory fails');
      },
      options,
    );
    await expect(failing).rejects.toThrow('the factory fails');
  });

  it('a stale tagged entry refreshed under its stamp stays tagged', async () => {
    let now = 1_000_000;
    const clock = (): number => now;
    const store = leaseStore(clock);
    const { a, b } = twoProcesses(store, { now: clock });
    const options = { tags: ['t'], ttl: 10, grace: '1h' } as const;
    await a.getOrSet('k', () => 'first', options);
    now += 11_000;
    expect(await a.getOrSet('k', () => 'refreshed', options)).toBe('refreshed');
    expect(await b.get('k')).toBe('refreshed');
    await b.invalidateTags(['t']);
    expect(await a.get('k')).toBeUndefined();
  });

  it('after a bust, two processes recompute once: the lease replaces the busted entry', async () => {
    const store = leaseStore();
    const { a, b } = twoProcesses(store);
    await a.set('hot', 'old', { tags: ['t'] });
    await b.invalidateTags(['t']);
    let runs = 0;
    const release = gate();
    const factory = async (): Promise<string> => {
      runs++;
      await release.opened;
      return 'new';
    };
    const first = a.getOrSet('hot', factory, { tags: ['t'] });
    const second = b.getOrSet('hot', factory, { tags: ['t'] });
    await new Promise((resolve) => setTimeout(resolve, 30));
    release.open();
    expect(await Promise.all([first, second])).toEqual(['new', 'new']);
    expect(runs).toBe(1);
    expect(await a.get('hot')).toBe('new');
  });

  it('a waiter never takes a value committed across a bust', async () => {
    const store = leaseStore();
    const { a, b } = twoProcesses(store);
    // A third process busts: b's own bust would supersede its own waiting flight (stored nothing).
    const { a: c } = twoProcesses(store);
    const inFactory = gate();
    const release = gate();
    const holder = a.getOrSet(
      'k',
      async () => {
        inFactory.open();
        await release.opened;
        return 'stale result';
      },
      { tags: ['t'] },
    );
    await inFactory.opened;
    // b waits on a's lease; a's value lands after the bust and must not reach b.
    const waiter = b.getOrSet('k', () => 'fresh', { tags: ['t'], lease: { wait: 5 } });
    await new Promise((resolve) => setTimeout(resolve, 20));
    await c.invalidateTags(['t']);
    release.open();
    expect(await holder).toBe('stale result');
    expect(await waiter).toBe('fresh');
    expect(await a.get('k')).toBe('fresh');
  });
});
