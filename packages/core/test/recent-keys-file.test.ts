// The shared recent-keys file (`localPath`) within one process: two clients on one backend stand
// for two processes (each has its own memory and its own flushes; they share only the file and
// the server). Forked processes are in recent-keys-processes.test.ts and e2e/.
import {
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RecordingBackend } from '@stowage/testkit';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  CacheClient,
  CacheConfigError,
  CacheDecodeError,
  CacheScopeError,
  CacheValueError,
  getCache,
  LocalCacheAction,
  readRecentKeysFile,
  RecentKey,
  StorageLevel,
  type CacheClientOptions,
} from '../src/index.js';
import { mergeRecentKeys } from '../src/client/recent-keys-sync.js';
import type { FileEntry } from '../src/client/recent-keys-file.js';
import { collect } from './helpers/events.js';

let dir: string;
let path: string;
const open: CacheClient[] = [];

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'stowage-recent-'));
  path = join(dir, 'recent-keys.json');
});

afterEach(async () => {
  await Promise.all(open.splice(0).map((client) => client.close()));
  rmSync(dir, { recursive: true, force: true });
});

/** A client on `backend` sharing the test's file; closed after the test. */
function clientOn(
  backend: RecordingBackend,
  options: Omit<CacheClientOptions, 'backend'> = {},
): CacheClient {
  const client = new CacheClient({
    backend,
    ownsBackend: false,
    prefix: 'app',
    localPath: path,
    ...options,
  });
  open.push(client);
  return client;
}

const fullKeysIn = async (file: string): Promise<string[]> =>
  (await readRecentKeysFile(file)).map((entry) => entry.fullKey);

describe('localPath: the file', () => {
  it('is written in the background within localFlushMs of a set, not during it', async () => {
    const client = clientOn(new RecordingBackend(), { localFlushMs: 30 });
    const started = Date.now();
    await client.set('a', 1, { ttl: 60 });
    expect(readdirSync(dir)).toEqual([]);
    await vi.waitFor(() => expect(readdirSync(dir)).toContain('recent-keys.json'), {
      timeout: 2000,
      interval: 5,
    });
    expect(Date.now() - started).toBeLessThan(1000);
    const [entry] = await readRecentKeysFile(path);
    expect(entry).toEqual(
      Object.assign(new RecentKey('a', 'app:', false, entry?.expiresAtMs, 'app:a'), {
        recordedAtMs: entry?.recordedAtMs,
      }),
    );
    expect(entry?.expiresAtMs).toBeGreaterThan(Date.now() + 50_000);
    // When the key was written to the file: how old the entry is.
    expect(entry?.recordedAtMs).toBeGreaterThanOrEqual(started);
    expect(entry?.recordedAtMs).toBeLessThanOrEqual(Date.now());
  });

  it('holds the format the README documents, written whole (no temporary or lock file left)', async () => {
    const client = clientOn(new RecordingBackend());
    await client.set('a', 1);
    await client.close();
    const document = JSON.parse(readFileSync(path, 'utf8')) as {
      format: string;
      version: number;
      keys: Array<Record<string, unknown>>;
    };
    expect(document).toMatchObject({ format: 'stowage/recent-keys', version: 1 });
    expect(document.keys).toEqual([
      {
        key: 'a',
        prefix: 'app:',
        full_key: 'app:a',
        is_encrypted: false,
        expire_time: null,
        recorded_at: expect.stringMatching(/^\d{4}-\d\d-\d\dT/) as unknown,
      },
    ]);
    expect(readdirSync(dir)).toEqual(['recent-keys.json']);
  });

  it('is read as [] when missing, and without expired keys', async () => {
    expect(await readRecentKeysFile(join(dir, 'missing.json'))).toEqual([]);
    await expect(readRecentKeysFile('')).rejects.toThrow(CacheConfigError);
    let now = Date.now();
    const client = clientOn(new RecordingBackend(), { now: () => now });
    await client.set('short', 1, { ttl: 1 });
    await client.set('long', 1, { ttl: 600 });
    await client.close();
    now += 5_000;
    expect((await readRecentKeysFile(path, { now: () => now })).map((entry) => entry.key)).toEqual([
      'long',
    ]);
  });

  it('keeps at most recentKeys entries, the newest', async () => {
    const client = clientOn(new RecordingBackend(), { recentKeys: 3 });
    await client.setMany({ a: 1, b: 2, c: 3, d: 4, e: 5 });
    await client.close();
    expect(await fullKeysIn(path)).toEqual(['app:c', 'app:d', 'app:e']);
  });

  it('names Q2 LocalCacheAction members under both spellings', () => {
    expect([
      LocalCacheAction.READ,
      LocalCacheAction.SET,
      LocalCacheAction.CLEAR,
      LocalCacheAction.UPDATE,
    ]).toEqual(['read', 'set', 'clear', 'update']);
    expect(LocalCacheAction.Update).toBe(LocalCacheAction.UPDATE);
  });
});

describe('localPath: across clients', () => {
  it("busts another process's keys and removes them from the file", async () => {
    const backend = new RecordingBackend();
    const a = clientOn(backend);
    const b = clientOn(backend);
    await a.setMany({ x: 1, y: 2 });
    await a.close();
    await b.set('z', 3);
    expect(await b.bustRecent()).toBe(3);
    expect(backend.keys()).toEqual([]);
    expect(await readRecentKeysFile(path)).toEqual([]);
  });

  it('removes a key deleted in one client from the file, but keeps one recorded after', async () => {
    const backend = new RecordingBackend();
    const a = clientOn(backend);
    const b = clientOn(backend, { timeoutMs: 1 });
    await a.setMany({ x: 1, y: 2 });
    await a.close();
    await new Promise((resolve) => setTimeout(resolve, 5));
    await b.delete('x');
    await b.close();
    expect(await fullKeysIn(path)).toEqual(['app:y']);
  });

  it('shares hashed long keys (their stored form is checked against prefix + key, not refused)', async () => {
    const backend = new RecordingBackend();
    const a = clientOn(backend, { longKeys: 'hash' });
    const long = 'k'.repeat(400);
    await a.scoped(StorageLevel.Stack, { stack: 'acme' }).set(long, 1);
    await a.close();
    const b = clientOn(backend, { longKeys: 'hash' });
    const warnings = collect(b, 'warning');
    expect(backend.keys()[0]).toMatch(/^app:stack=acme:k+#[0-9a-f]{64}$/);
    expect(await b.bustRecent({ level: StorageLevel.Stack, scope: { stack: 'acme' } })).toBe(1);
    expect(backend.keys()).toEqual([]);
    expect(warnings).toEqual([]);
  });

  it('busts with a clock that stands still (an injected one) without waiting for it', async () => {
    const backend = new RecordingBackend();
    const client = clientOn(backend, { now: () => 1_800_000_000_000, localFlushMs: 1 });
    await client.set('a', 1);
    await new Promise((resolve) => setTimeout(resolve, 20)); // a flush took the batch at this time
    expect(await client.bustRecent()).toBe(1);
    expect(backend.keys()).toEqual([]);
  });

  it('clears the file on flushAll', async () => {
    const backend = new RecordingBackend();
    const a = clientOn(backend);
    await a.set('x', 1);
    await a.close();
    await new Promise((resolve) => setTimeout(resolve, 5));
    const b = clientOn(backend, { timeoutMs: 1 });
    await b.flushAll();
    await b.close();
    expect(await readRecentKeysFile(path)).toEqual([]);
  });

  it('seedFromFile lists the previous run, and a restart busts it either way', async () => {
    const backend = new RecordingBackend();
    const first = clientOn(backend);
    await first.setMany({ x: 1, y: 2 });
    await first.close();
    const seeded = clientOn(backend, { seedFromFile: true });
    await vi.waitFor(() => expect(seeded.recentKeys()).toHaveLength(2), { interval: 5 });
    expect(seeded.recentKeys().map((entry) => entry.fullKey)).toEqual(['app:x', 'app:y']);
    const unseeded = clientOn(backend);
    expect(unseeded.recentKeys()).toEqual([]);
    expect(await unseeded.bustRecent()).toBe(2);
    expect(backend.keys()).toEqual([]);
  });
});

describe('localPath: a corrupt or foreign file', () => {
  it.each([
    ['torn JSON', '{"format":"stowage/recent-keys","version":1,"keys":[{"key":"a"'],
    ['a foreign JSON file', '{"name":"my-app","version":"1.0.0"}'],
    ['an empty file', ''],
    [
      'a forged entry naming a key outside its prefix',
      JSON.stringify({
        format: 'stowage/recent-keys',
        version: 1,
        keys: [
          {
            key: 'x',
            prefix: 'app:stack=a:',
            full_key: 'app:stack=b:x',
            is_encrypted: false,
            expire_time: null,
            recorded_at: new Date().toISOString(),
          },
        ],
      }),
    ],
    [
      'a forged hashed entry whose digest is of another key',
      JSON.stringify({
        format: 'stowage/recent-keys',
        version: 1,
        keys: [
          {
            key: 'x',
            prefix: 'app:stack=a:',
            full_key: `app:stack=a:#${'0'.repeat(64)}`,
            is_encrypted: false,
            expire_time: null,
            recorded_at: new Date().toISOString(),
          },
        ],
      }),
    ],
  ])('%s: readRecentKeysFile throws, a client warns and starts a fresh list', async (_, text) => {
    writeFileSync(path, text);
    await expect(readRecentKeysFile(path)).rejects.toThrow(CacheDecodeError);
    const backend = new RecordingBackend();
    backend.put('app:stack=b:x', 'tenant b', 1);
    const client = clientOn(backend);
    const warnings = collect(client, 'warning');
    await client.set('fresh', 1);
    expect(await client.bustRecent()).toBe(1);
    expect(backend.keys()).toEqual(['app:stack=b:x']);
    expect(warnings.map((w) => [w.kind, w.operation])).toContainEqual(['recentKeys', 'recentKeys']);
    expect(warnings[0]?.error.message).toContain(path);
    await client.close();
    expect(await readRecentKeysFile(path)).toEqual([]);
  });

  it('a directory that does not exist is a warning, never a crash, and the keys wait in memory', async () => {
    path = join(dir, 'no-such-dir', 'keys.json');
    const client = clientOn(new RecordingBackend(), { localFlushMs: 1 });
    const warnings = collect(client, 'warning');
    await client.set('a', 1);
    await vi.waitFor(() => expect(warnings.length).toBeGreaterThan(0), { interval: 5 });
    expect(warnings[0]).toMatchObject({ kind: 'recentKeys' });
    expect(warnings[0]?.error).toBeInstanceOf(CacheConfigError);
    expect(client.recentKeys().map((entry) => entry.key)).toEqual(['a']);
  });
});

describe('localPath: a file that cannot be read', () => {
  it('is never taken for an empty list: a flush keeps its keys, a bust deletes its own and rejects', async () => {
    // A directory where the file should be: it exists, and reading it fails (EISDIR) — as a file
    // without read permission would for a user other than root.
    mkdirSync(path);
    const backend = new RecordingBackend();
    const client = clientOn(backend, { localFlushMs: 1 });
    const warnings = collect(client, 'warning');
    await client.set('mine', 1);
    await vi.waitFor(() => expect(warnings.length).toBeGreaterThan(0), { interval: 5 });
    expect(warnings[0]?.error).toBeInstanceOf(CacheConfigError);
    expect(statSync(path).isDirectory()).toBe(true);
    const busted = client.bustRecent();
    await expect(busted).rejects.toThrow(CacheConfigError);
    await expect(busted).rejects.toThrow(path);
    expect(backend.keys()).toEqual([]);
  });
});

describe('bustRecent({ level, scope }) and ({ prefix })', () => {
  async function tenants(): Promise<{ backend: RecordingBackend; root: CacheClient }> {
    const backend = new RecordingBackend();
    const writer = clientOn(backend);
    // Tenant 'a' is a prefix of tenant 'ab' and of 'a-b'; 'a' has a session of its own.
    for (const stack of ['a', 'ab', 'a-b']) {
      await writer.scoped(StorageLevel.Stack, { stack }).set('plan', stack);
    }
    await writer.scoped(StorageLevel.Session, { stack: 'a', session: 's1' }).set('cart', 1);
    await writer.setMany({ 'user:1': 1, 'user:10': 2, 'other:1': 3 });
    await writer.close();
    return { backend, root: clientOn(backend) };
  }

  it('busts one tenant and its sessions, never a tenant whose id it prefixes', async () => {
    const { backend, root } = await tenants();
    expect(await root.bustRecent({ level: StorageLevel.Stack, scope: { stack: 'a' } })).toBe(2);
    expect(backend.keys().sort()).toEqual(
      [
        'app:other:1',
        'app:stack=a-b:plan',
        'app:stack=ab:plan',
        'app:user:1',
        'app:user:10',
      ].sort(),
    );
    expect((await fullKeysIn(path)).sort()).toEqual(backend.keys().sort());
  });

  it("a scoped client's bustRecent() busts its own scope only", async () => {
    const { backend, root } = await tenants();
    expect(await root.scoped(StorageLevel.Stack, { stack: 'ab' }).bustRecent()).toBe(1);
    expect(backend.keys()).not.toContain('app:stack=ab:plan');
    expect(backend.keys()).toContain('app:stack=a:plan');
  });

  it('busts caller keys by prefix in one scope only', async () => {
    const { backend, root } = await tenants();
    // 'st' would reach every tenant's keys if it were matched against full keys.
    expect(await root.bustRecent({ prefix: 'st' })).toBe(0);
    expect(await root.bustRecent({ prefix: 'user:1' })).toBe(2);
    expect(backend.keys()).toContain('app:other:1');
    expect(backend.keys()).toContain('app:stack=a:plan');
    const tenantA = { level: StorageLevel.Stack, scope: { stack: 'a' } } as const;
    expect(await root.bustRecent({ ...tenantA, prefix: 'cart' })).toBe(0);
    expect(await root.bustRecent({ ...tenantA, prefix: 'pl' })).toBe(1);
    expect(backend.keys()).toContain('app:stack=a:session=s1:cart');
  });

  it('never busts keys of another service sharing the file', async () => {
    const backend = new RecordingBackend();
    // Its head 'app:x|' starts with this client's 'app:' but is no scope of it.
    const other = clientOn(backend, { prefix: 'app:x', keySeparator: '|' });
    await other.set('y', 1);
    await other.close();
    expect(await clientOn(backend).bustRecent()).toBe(0);
    expect(backend.keys()).toEqual(['app:x|y']);
  });

  it('refuses bad options before any I/O', async () => {
    const backend = new RecordingBackend();
    const client = clientOn(backend);
    backend.calls.length = 0;
    await expect(client.bustRecent({ level: StorageLevel.Stack })).rejects.toThrow(CacheScopeError);
    await expect(client.bustRecent({ prefix: '' })).rejects.toThrow(CacheValueError);
    await expect(client.bustRecent({ prefix: 'a b' })).rejects.toThrow(CacheValueError);
    expect(backend.calls).toEqual([]);
    expect(readdirSync(dir)).toEqual([]);
  });
});

describe('localPath options', () => {
  it.each([
    [{ seedFromFile: true }, /need `localPath`/],
    [{ localFlushMs: 10 }, /need `localPath`/],
    [{ localPath: '' }, /`localPath` must be/],
    [{ localPath: 'a\0b' }, /`localPath` must be/],
    [{ localPath: '/tmp/x.json', recentKeys: false as const }, /`recentKeys` above 0/],
    [{ localPath: '/tmp/x.json', localFlushMs: 0 }, /`localFlushMs` must be/],
    [{ localPath: '/tmp/x.json', recentKeys: 100_001 }, /at most 100000 with `localPath`/],
    [{ localPath: '/tmp/x.json', seedFromFile: 'yes' as unknown as boolean }, /`seedFromFile`/],
  ])('refuses %o with CacheConfigError', (options, message) => {
    expect(() => new CacheClient({ backend: new RecordingBackend(), ...options })).toThrow(
      CacheConfigError,
    );
    expect(() => new CacheClient({ backend: new RecordingBackend(), ...options })).toThrow(message);
  });

  it('getCache reads CACHE_LOCAL_PATH', async () => {
    const client = await getCache({
      backend: new RecordingBackend(),
      env: { CACHE_LOCAL_PATH: path, CACHE_PREFIX: 'env' },
    });
    await client.set('k', 1);
    await client.close();
    expect(await fullKeysIn(path)).toEqual(['env:k']);
  });
});

describe('mergeRecentKeys', () => {
  const entry = (fullKey: string, recordedAtMs: number, expiresAtMs?: number): FileEntry => ({
    key: fullKey,
    prefix: '',
    fullKey,
    isEncrypted: false,
    expiresAtMs,
    recordedAtMs,
  });

  it('drops entries recorded before their removal, keeps later ones, moves changes last', () => {
    const merged = mergeRecentKeys(
      [entry('old', 10), entry('newer', 30), entry('moved', 5), entry('keep', 1)],
      {
        changed: [new RecentKey('moved', '', false, 500)],
        removed: new Map([
          ['old', 20],
          ['newer', 20],
        ]),
        clearedAtMs: undefined,
        fromSeq: 0,
      },
      { nowMs: 100, takenAtMs: 100, maxSize: 10 },
    );
    expect(merged.map((e) => [e.fullKey, e.recordedAtMs])).toEqual([
      ['newer', 30],
      ['keep', 1],
      ['moved', 100],
    ]);
  });

  it('keeps the later expiry of a changed key (pruning early would lose it), prunes expired', () => {
    const merged = mergeRecentKeys(
      [entry('forever', 1), entry('gone', 1, 50)],
      {
        changed: [new RecentKey('forever', '', false, 200)],
        removed: new Map(),
        clearedAtMs: undefined,
        fromSeq: 0,
      },
      { nowMs: 100, takenAtMs: 100, maxSize: 10 },
    );
    expect(merged.map((e) => [e.fullKey, e.expiresAtMs])).toEqual([['forever', undefined]]);
  });

  it('clears what was recorded before a clear and keeps the bound', () => {
    const merged = mergeRecentKeys(
      [entry('before', 10), entry('after', 30)],
      {
        changed: [new RecentKey('a'), new RecentKey('b')],
        removed: new Map(),
        clearedAtMs: 20,
        fromSeq: 0,
      },
      { nowMs: 100, takenAtMs: 100, maxSize: 2 },
    );
    expect(merged.map((e) => e.fullKey)).toEqual(['a', 'b']);
  });
});
