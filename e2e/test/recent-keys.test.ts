// Recent keys shared through a local file (`localPath`) by forked processes over a real
// memcached: one process's bustRecent() deletes what the others stored — within the bound — and a
// restart with seedFromFile busts the previous run's keys. Each process has its own memory and
// its own connections; they share only the file and the server.
import { fork, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createMemcachedBackend } from '@stowage/backend-memcached';
import { CacheClient, readRecentKeysFile } from '@stowage/core';
import { hasBinary, startMemcached, type ServerHandle } from '@stowage/testkit';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';

const WORKER = new URL('./fixtures/recent-keys-worker.mjs', import.meta.url).pathname;

interface Reply {
  readonly op: string;
  readonly busted?: number;
  readonly memory?: string[];
  readonly fullKeys?: string[];
  readonly warnings?: string[];
  readonly message?: string;
}

/** A forked worker: `send` resolves with its reply to one command. */
class KeysWorker {
  readonly #child: ChildProcess;
  readonly #replies: Array<(reply: Reply) => void> = [];
  readonly exited: Promise<void>;

  constructor(config: Record<string, unknown>) {
    this.#child = fork(WORKER, [JSON.stringify(config)], {
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    this.#child.on('message', (reply: Reply) => this.#replies.shift()?.(reply));
    this.exited = new Promise((resolve) => this.#child.once('exit', () => resolve()));
  }

  /** Resolves with the next reply (the first one is `ready`). */
  next(): Promise<Reply> {
    return new Promise((resolve, reject) => {
      this.#replies.push((reply) =>
        reply.op === 'failed' ? reject(new Error(reply.message)) : resolve(reply),
      );
    });
  }

  send(command: Record<string, unknown>): Promise<Reply> {
    const reply = this.next();
    this.#child.send(command);
    return reply;
  }

  /** Stops it by its own PID when it is still running. */
  stop(): void {
    if (this.#child.exitCode === null && this.#child.signalCode === null) {
      process.kill(this.#child.pid as number, 'SIGKILL');
    }
  }
}

const hasMemcached = hasBinary('memcached');

describe.skipIf(!hasMemcached)('recent keys across processes (memcached, localPath)', () => {
  let server: ServerHandle;
  let parent: CacheClient;
  let dir: string;
  let path: string;
  const workers: KeysWorker[] = [];

  beforeAll(async () => {
    server = await startMemcached();
    parent = new CacheClient({
      backend: createMemcachedBackend({ servers: [server.address] }),
      prefix: 'rk',
    });
  }, 30_000);

  afterAll(async () => {
    await parent?.close();
    await server?.stop();
  });

  beforeEach(async () => {
    await parent.flushAll();
    dir = mkdtempSync(join(tmpdir(), 'stowage-e2e-recent-'));
    path = join(dir, 'recent-keys.json');
  });

  afterEach(() => {
    for (const worker of workers.splice(0)) worker.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  async function start(name: string, extra: Record<string, unknown> = {}): Promise<KeysWorker> {
    const worker = new KeysWorker({ path, servers: [server.address], name, ...extra });
    workers.push(worker);
    await worker.next();
    return worker;
  }

  /** The full keys of `keys` the server still holds. */
  async function present(keys: readonly string[]): Promise<Set<string>> {
    const found = new Set<string>();
    for (let i = 0; i < keys.length; i += 1000) {
      const hits = await parent.getMany(keys.slice(i, i + 1000));
      for (const key of hits.keys()) found.add(`rk:${key}`);
    }
    return found;
  }

  it("4 processes × 5,000 sets; one process's bustRecent() deletes the file's keys and its own, no others", async () => {
    const bound = 1000;
    const all = await Promise.all([0, 1, 2, 3].map((n) => start(`w${n}`, { recentKeys: bound })));
    await Promise.all(all.map((worker) => worker.send({ op: 'set', count: 5000 })));
    const keys = [0, 1, 2, 3].flatMap((n) => Array.from({ length: 5000 }, (_, i) => `w${n}-${i}`));
    expect((await present(keys)).size).toBe(20_000);
    await new Promise((resolve) => setTimeout(resolve, 200)); // the last flushes (20 ms)
    // Worker 1 stores ten more once worker 0 is quiet, so the newest entries are surely another
    // process's; workers 1–3 then write their last changes and leave. Worker 0 stays to bust.
    await all[1]!.send({ op: 'set', count: 10, from: 5000 });
    keys.push(...Array.from({ length: 10 }, (_, i) => `w1-${5000 + i}`));
    for (const worker of all.slice(1)) {
      expect((await worker.send({ op: 'close' })).warnings).toEqual([]);
      await worker.exited;
    }
    const inFile = (await readRecentKeysFile(path)).map((entry) => entry.fullKey);
    expect(inFile).toHaveLength(bound);
    expect(inFile.slice(-10)).toEqual(keys.slice(-10).map((key) => `rk:${key}`));

    const { busted, memory } = await all[0]!.send({ op: 'bust' });
    const expected = new Set([...inFile, ...(memory ?? [])]);
    expect(busted).toBe(expected.size);
    const left = await present(keys);
    for (const fullKey of expected) expect(left.has(fullKey)).toBe(false);
    expect(left.size).toBe(keys.length - expected.size);
    expect(expected.has('rk:w1-5009')).toBe(true);
    expect(await readRecentKeysFile(path)).toEqual([]);
    expect((await all[0]!.send({ op: 'close' })).warnings).toEqual([]);
  }, 30_000);

  it("a restart with seedFromFile lists and busts the previous run's keys", async () => {
    const first = await start('run1', { recentKeys: 500 });
    await first.send({ op: 'set', count: 300 });
    await first.send({ op: 'close' });
    await first.exited;
    const keys = Array.from({ length: 300 }, (_, i) => `run1-${i}`);
    expect((await present(keys)).size).toBe(300);

    const restarted = await start('run2', { recentKeys: 500, seedFromFile: true });
    let listed: string[] = [];
    for (let tries = 0; tries < 50 && listed.length < 300; tries++) {
      listed = (await restarted.send({ op: 'list' })).fullKeys ?? [];
      if (listed.length < 300) await new Promise((resolve) => setTimeout(resolve, 10));
    }
    expect(listed).toEqual(keys.map((key) => `rk:${key}`));
    expect((await restarted.send({ op: 'bust' })).busted).toBe(300);
    expect((await present(keys)).size).toBe(0);
  }, 30_000);
});
