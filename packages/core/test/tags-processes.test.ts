// Tags across real processes on real servers: a child process (node, on the built core, the
// worker inline below) and this test's client share one memcached or Redis started on a free
// loopback port. What one busts, the other must miss — memcached cannot list keys, so this is
// the versions' job alone. Servers are stopped by their own handle (PID), never by name.
import { spawn, type ChildProcess } from 'node:child_process';
import { hasBinary, startMemcached, startRedis, type ServerHandle } from '@stowage/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getCache, StorageLevel, type CacheClient } from '../src/index.js';

const DIST = new URL('../dist/index.mjs', import.meta.url).pathname;

// The child: answers { id, op, args } with { id, result } (or { id, error }) on IPC.
const WORKER = `
const core = await import(process.env.STOWAGE_CORE);
const cache = await core.getCache({ url: process.env.CACHE_URL, env: {}, prefix: 'app' });
const tenant = (id) => cache.scoped(core.StorageLevel.Stack, { stack: id });
const ops = {
  set: (key, value, tags) => cache.set(key, value, { tags }),
  get: (key) => cache.get(key),
  getOrSet: (key, value, tags) => cache.getOrSet(key, () => value, { tags }),
  invalidate: (tags) => cache.invalidateTags(tags),
  tenantSet: (id, key, value, tags) => tenant(id).set(key, value, { tags }),
  tenantInvalidate: (id, tags) => tenant(id).invalidateTags(tags),
};
process.on('message', async ({ id, op, args }) => {
  try {
    const result = await ops[op](...args);
    process.send({ id, result: result === undefined ? null : result });
  } catch (error) {
    process.send({ id, error: String(error) });
  }
});
process.on('disconnect', () => void cache.close().then(() => process.exit(0)));
process.send({ id: 0, result: 'ready' });
`;

/** A child process with its own client on `url`, driven over IPC. */
interface Worker {
  readonly call: (op: string, ...args: unknown[]) => Promise<unknown>;
  readonly stop: () => Promise<void>;
}

function startWorker(url: string): Promise<Worker> {
  const child: ChildProcess = spawn(process.execPath, ['--input-type=module', '-e', WORKER], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    env: { ...process.env, CACHE_URL: url, STOWAGE_CORE: DIST },
  });
  const waiting = new Map<number, (reply: { result?: unknown; error?: string }) => void>();
  let next = 1;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.on('message', (reply: { id: number; result?: unknown; error?: string }) => {
    waiting.get(reply.id)?.(reply);
    waiting.delete(reply.id);
  });
  const call = (op: string, ...args: unknown[]): Promise<unknown> =>
    new Promise((resolve, reject) => {
      const id = next++;
      waiting.set(id, (reply) =>
        reply.error === undefined ? resolve(reply.result) : reject(new Error(reply.error)),
      );
      child.send({ id, op, args });
    });
  return new Promise((resolve, reject) => {
    waiting.set(0, () =>
      resolve({
        call,
        stop: async () => {
          child.disconnect();
          await Promise.race([exited, new Promise((r) => setTimeout(r, 2000))]);
          // By its own PID, never by name.
          if (child.exitCode === null) process.kill(child.pid as number, 'SIGKILL');
        },
      }),
    );
    void exited.then(() => reject(new Error('the worker exited before it was ready')));
  });
}

/** A promise and the function that settles it. */
function gate(): { open: () => void; opened: Promise<void> } {
  let open: () => void = () => {};
  const opened = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { open, opened };
}

const SERVERS = [
  ['memcached', 'memcached', startMemcached, (port: number) => `memcached://127.0.0.1:${port}`],
  ['Redis', 'redis-server', startRedis, (port: number) => `redis://127.0.0.1:${port}`],
] as const;

describe.each(SERVERS)('tags across processes on real %s', (_name, binary, start, urlOf) => {
  if (!hasBinary(binary)) throw new Error(`${binary} is not installed: this suite needs it`);
  let server: ServerHandle;
  let cache: CacheClient;
  let worker: Worker;

  beforeAll(async () => {
    server = await start();
    const url = urlOf(server.port);
    cache = await getCache({ url, env: {}, prefix: 'app' });
    worker = await startWorker(url);
  }, 30_000);

  afterAll(async () => {
    await worker?.stop();
    await cache?.close();
    await server?.stop();
  });

  it("a bust in one process is a miss in the other, both ways; other tags' entries stay", async () => {
    await cache.set('profile', 'ann', { tags: ['user:1', 'users'] });
    await cache.set('team', 'red', { tags: ['team:1'] });
    expect(await worker.call('get', 'profile')).toBe('ann');
    await worker.call('invalidate', ['users']);
    expect(await cache.get('profile')).toBeUndefined();
    expect(await cache.get('team')).toBe('red');
    await worker.call('set', 'order', 7, ['order:7']);
    expect(await cache.get('order')).toBe(7);
    await cache.deleteByTag('order:7');
    expect(await worker.call('get', 'order')).toBeNull();
    expect(await worker.call('getOrSet', 'order', 8, ['order:7'])).toBe(8);
    expect(await cache.getOrSet('order', () => 9, { tags: ['order:7'] })).toBe(8);
  });

  it('a factory running in this process while the other busts its tag: never served after', async () => {
    const inFactory = gate();
    const release = gate();
    const pending = cache.getOrSet(
      'report',
      async () => {
        inFactory.open();
        await release.opened;
        return 'computed before the bust';
      },
      { tags: ['reports'] },
    );
    await inFactory.opened;
    await worker.call('invalidate', ['reports']);
    release.open();
    expect(await pending).toBe('computed before the bust');
    expect(await worker.call('get', 'report')).toBeNull();
    expect(await cache.get('report')).toBeUndefined();
    expect(await worker.call('getOrSet', 'report', 'fresh', ['reports'])).toBe('fresh');
    expect(await cache.get('report')).toBe('fresh');
  });

  it("a tenant's bust in one process spares another tenant's entries", async () => {
    const acme = cache.scoped(StorageLevel.Stack, { stack: 'acme' });
    const globex = cache.scoped(StorageLevel.Stack, { stack: 'globex' });
    await acme.set('cart', 'acme', { tags: ['cart'] });
    await globex.set('cart', 'globex', { tags: ['cart'] });
    await worker.call('tenantInvalidate', 'acme', ['cart']);
    expect(await acme.get('cart')).toBeUndefined();
    expect(await globex.get('cart')).toBe('globex');
  });
});
