// The shared recent-keys file across real processes: forked writers (test/fixtures/
// recent-keys-writer.mjs, on the built core) append at once, and are killed mid-write. Busting
// across processes on a real server is in e2e/test/recent-keys.test.ts.
import { fork, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RecordingBackend } from '@stowage/testkit';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CacheClient, readRecentKeysFile } from '../src/index.js';
import { processTag } from '../src/client/recent-keys-lock.js';

const WRITER = new URL('./fixtures/recent-keys-writer.mjs', import.meta.url).pathname;
const DIST = new URL('../dist/index.mjs', import.meta.url).pathname;

let dir: string;
let path: string;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'stowage-recent-procs-'));
  path = join(dir, 'keys.json');
});

afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

interface Writer {
  /** Resolves on the writer's first message of this type. */
  readonly next: (type: 'ready' | 'done') => Promise<void>;
  readonly warnings: string[];
  readonly kill: () => Promise<void>;
  readonly exited: Promise<void>;
}

function startWriter(config: Record<string, unknown>): Writer {
  const child = fork(WRITER, [JSON.stringify({ path, ...config })], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const warnings: string[] = [];
  const waiting = new Map<string, () => void>();
  child.on('message', (message: { type: string; message?: string }) => {
    if (message.type === 'warning') warnings.push(message.message ?? '');
    waiting.get(message.type)?.();
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return {
    next: (type) =>
      new Promise<void>((resolve, reject) => {
        waiting.set(type, resolve);
        void exited.then(() => reject(new Error(`writer exited before '${type}'`)));
      }),
    warnings,
    // By its own PID, never by name.
    kill: async () => {
      process.kill(child.pid as number, 'SIGKILL');
      await exited;
    },
    exited,
  };
}

const leftovers = (): string[] => readdirSync(dir).filter((name) => name !== 'keys.json');

describe('recent-keys file across processes', () => {
  it('4 processes × 5,000 keys at once: every key reaches the file (bound 20,000)', async () => {
    const writers = [0, 1, 2, 3].map((n) =>
      startWriter({ name: `w${n}`, recentKeys: 20_000, count: 5000 }),
    );
    await Promise.all(writers.map((writer) => writer.next('done')));
    await Promise.all(writers.map((writer) => writer.exited));
    // First: a warning (a lock not won in time, say) says why keys would be missing.
    expect(writers.flatMap((writer) => writer.warnings)).toEqual([]);
    const keys = new Set((await readRecentKeysFile(path)).map((entry) => entry.key));
    expect(keys.size).toBe(20_000);
    for (let n = 0; n < 4; n++) {
      for (let i = 0; i < 5000; i += 499) expect(keys.has(`w${n}-${i}`)).toBe(true);
    }
    expect(leftovers()).toEqual([]);
  }, 30_000);

  it('a writer killed (SIGKILL) at random points never leaves a torn file; the next writer takes over', async () => {
    let leftBehind = 0;
    for (let round = 0; round < 16; round++) {
      const writer = startWriter({ name: `k${round}`, recentKeys: 2000 });
      await writer.next('ready');
      await new Promise((resolve) => setTimeout(resolve, 20 + Math.random() * 60));
      // The first writer lives until its keys reached the file (a loaded machine may not have
      // flushed within 80 ms), so the takeover below has earlier keys to keep.
      if (round === 0) await untilFileHolds(1);
      await writer.kill();
      if (leftovers().length > 0) leftBehind++;
      // Parses completely, or this throws CacheDecodeError.
      await readRecentKeysFile(path);
      expect(writer.warnings.filter((message) => message.includes('not readable'))).toEqual([]);
    }
    // At least one kill landed mid-write (a lock, temporary file or lock candidate was left):
    // otherwise this test proved nothing.
    expect(leftBehind).toBeGreaterThan(0);
    const before = (await readRecentKeysFile(path)).map((entry) => entry.fullKey);
    expect(before.length).toBeGreaterThan(0);
    const client = new CacheClient({
      backend: new RecordingBackend(),
      prefix: 'after',
      localPath: path,
      recentKeys: 2000,
    });
    const warnings: string[] = [];
    client.on('warning', (warning) => warnings.push(warning.error.message));
    const started = Date.now();
    await client.set('k', 1);
    await client.close();
    expect(Date.now() - started).toBeLessThan(2000);
    expect(warnings).toEqual([]);
    const entries = await readRecentKeysFile(path);
    expect(entries.at(-1)?.fullKey).toBe('after:k');
    // Nothing the killed writers had flushed was lost in the takeover.
    expect(entries.map((entry) => entry.fullKey).slice(0, -1)).toEqual(before.slice(-1999));
    expect(leftovers()).toEqual([]);
  }, 30_000);

  /** Resolves once the shared file holds at least `count` keys; fails after 5 s. */
  async function untilFileHolds(count: number): Promise<void> {
    const deadline = Date.now() + 5000;
    for (;;) {
      const held = await readRecentKeysFile(path).catch(() => []);
      if (held.length >= count) return;
      if (Date.now() > deadline) throw new Error(`the file never held ${count} keys`);
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }

  /** A client on its own backend over the test's file: one more process, as far as the file goes. */
  function fileClient(): CacheClient {
    return new CacheClient({ backend: new RecordingBackend(), prefix: 'p', localPath: path });
  }

  /** A PID that existed and is gone: a process that ran and exited. */
  function deadPid(): string {
    return spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], {
      encoding: 'utf8',
    }).stdout;
  }

  it('takes over a lock whose holder is dead at once', async () => {
    writeFileSync(`${path}.lock`, `${deadPid()} ${processTag()}\n`);
    const client = fileClient();
    const started = Date.now();
    await client.set('k', 1);
    await client.close();
    expect(Date.now() - started).toBeLessThan(1000);
    expect((await readRecentKeysFile(path)).map((entry) => entry.fullKey)).toEqual(['p:k']);
    expect(leftovers()).toEqual([]);
  });

  it("waits for a live holder, and takes over a live holder's lock only past 30 s", async () => {
    writeFileSync(`${path}.lock`, `${process.pid} ${processTag()}\n`);
    const client = fileClient();
    await client.set('k', 1);
    await new Promise((resolve) => setTimeout(resolve, 400));
    expect(readdirSync(dir)).not.toContain('keys.json'); // still waiting for the lock
    const old = Date.now() / 1000 - 60;
    utimesSync(`${path}.lock`, old, old);
    await client.close();
    expect((await readRecentKeysFile(path)).map((entry) => entry.fullKey)).toEqual(['p:k']);
  });

  it('judges a lock from another host or PID namespace (a container) by its age, never its PID', async () => {
    // Its PID means nothing here: dead in this namespace, it may be alive in its own.
    writeFileSync(`${path}.lock`, `${deadPid()} 0badc0de\n`);
    const client = fileClient();
    await client.set('k', 1);
    await new Promise((resolve) => setTimeout(resolve, 400));
    expect(readdirSync(dir)).not.toContain('keys.json');
    const old = Date.now() / 1000 - 60;
    utimesSync(`${path}.lock`, old, old);
    await client.close();
    expect((await readRecentKeysFile(path)).map((entry) => entry.fullKey)).toEqual(['p:k']);
  });

  it('never keeps a process alive: a client left open with a flush pending does not hold up exit', () => {
    const script = `
      import { CacheClient } from ${JSON.stringify(DIST)};
      const backend = { name: 'stub', limits: { maxKeyBytes: 250, maxValueBytes: 1e6 }, capabilities: {},
        get: () => undefined, getMany: () => new Map(), set: () => true, setMany: () => [], add: () => true,
        delete: () => true, deleteMany: () => true, touch: () => true, incr: () => undefined,
        decr: () => undefined, flush: () => true, close: () => undefined };
      const client = new CacheClient({ backend, localPath: ${JSON.stringify(path)}, localFlushMs: 60000 });
      await client.set('k', 1);
      await client.bustRecent();
      await client.set('k', 1); // a flush is now pending, 60 s away: its timer must not hold the process
    `;
    const started = Date.now();
    const result = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
      encoding: 'utf8',
      timeout: 20_000,
    });
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
    expect(Date.now() - started).toBeLessThan(10_000);
  });
});
