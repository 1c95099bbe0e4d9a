// Key format and stability: the same arguments give the same key in every process, forever.
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import ts from 'typescript';
import { afterAll, describe, expect, it } from 'vitest';
import * as core from '@stowage/core';
import * as memory from '@stowage/backend-memory';
import { CacheKeyError, LongKeys, StorageLevel } from '@stowage/core';
import * as decorator from '../src/index.js';
import { cached } from '../src/index.js';
import { collectKeys, GENERATION, keyCases } from './fixtures/key-cases.js';
import { counted, errorLog, memoryClient } from './helpers.js';

const packageDir = new URL('..', import.meta.url).pathname;
const scratch: string[] = [];
afterAll(() => {
  for (const dir of scratch) rmSync(dir, { recursive: true, force: true });
});

/**
 * Transpiles the package source and the key fixture into a directory under this package's
 * node_modules (so `@stowage/core` resolves), and returns it. No build step is needed.
 */
function transpileForChild(): string {
  const dir = mkdtempSync(join(packageDir, 'node_modules', '.key-child-'));
  scratch.push(dir);
  mkdirSync(join(dir, 'src'));
  const compile = (from: string, to: string): void => {
    const output = ts.transpileModule(readFileSync(from, 'utf8'), {
      compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 },
    });
    writeFileSync(to, output.outputText);
  };
  for (const file of readdirSync(join(packageDir, 'src'))) {
    if (file.endsWith('.ts')) {
      compile(join(packageDir, 'src', file), join(dir, 'src', file.replace(/\.ts$/, '.js')));
    }
  }
  compile(join(packageDir, 'test', 'fixtures', 'key-cases.ts'), join(dir, 'key-cases.js'));
  writeFileSync(join(dir, 'package.json'), '{"type":"module"}');
  writeFileSync(
    join(dir, 'main.js'),
    [
      "import * as core from '@stowage/core';",
      "import * as memory from '@stowage/backend-memory';",
      "import * as decorator from './src/index.js';",
      "import { collectKeys } from './key-cases.js';",
      'console.log(JSON.stringify(await collectKeys(core, memory, decorator)));',
    ].join('\n'),
  );
  return dir;
}

const entryKey = (hash: string): string => `golden:stack=acme:Rates.lookup:v${GENERATION}${hash}`;

describe('key stability', () => {
  it('gives the same keys in another process as in this one', async () => {
    const dir = transpileForChild();
    const { stdout } = await promisify(execFile)(process.execPath, [join(dir, 'main.js')], {
      cwd: dir,
      timeout: 15_000,
    });
    const childKeys = JSON.parse(stdout) as string[];
    const ownKeys = await collectKeys(core, memory, decorator);
    expect(ownKeys).toHaveLength(keyCases().length);
    expect(childKeys).toEqual(ownKeys);
  });

  it('matches the documented format, computed independently (golden keys)', async () => {
    const keys = await collectKeys(core, memory, decorator);
    // sha256('["EUR"]') and sha256('["EUR",{"day":"2026-11-25"}]'), first 32 hex digits.
    expect(keys.slice(0, 3)).toEqual([
      entryKey(''),
      entryKey(':295ee5e3a850de7229af4d9a967dae90'),
      entryKey(':5f95b5e5001853407f0033225786be1d'),
    ]);
  });

  it('ignores object key order and tells every other case apart', async () => {
    const keys = await collectKeys(core, memory, decorator);
    expect(keys[4]).toBe(keys[3]);
    expect(new Set(keys).size).toBe(keys.length - 1);
  });
});

describe('key parts', () => {
  it('puts keyPrefix before the name and keeps hashing the arguments with a string key', async () => {
    const { client } = memoryClient();
    const { fn, runs } = counted((id: number) => id);
    const user = cached(fn, { key: 'user', keyPrefix: 'v2', context: { client, stack: 'acme' } });
    await user(1);
    await user(2);
    expect(runs()).toBe(2);
    const keys = client.recentKeys().map((entry) => entry.key);
    expect(keys).toContain('v2:user:version');
    const entries = keys.filter((key) => key !== 'v2:user:version');
    expect(entries).toEqual([
      expect.stringMatching(/^v2:user:v[\w-]{8}:[0-9a-f]{32}$/),
      expect.stringMatching(/^v2:user:v[\w-]{8}:[0-9a-f]{32}$/),
    ]);
    expect(entries[0]).not.toBe(entries[1]);
  });

  it('uses a key function for the name part, with the arguments hash still appended', async () => {
    const { client } = memoryClient();
    const user = cached(
      async function findUser(id: number) {
        return id;
      },
      {
        key: (id: number) => `user-${id}`,
        context: { client, stack: 'acme' },
      },
    );
    await user(42);
    expect(client.recentKeys().map((entry) => entry.key)).toEqual([
      // The generation belongs to the function (its name), so invalidateAll covers every key.
      'findUser:version',
      expect.stringMatching(/^user-42:v[\w-]{8}:[0-9a-f]{32}$/),
    ]);
  });

  it('bypasses and reports a key function that throws or returns an unusable name', async () => {
    const { client } = memoryClient();
    const log = errorLog();
    const { fn, runs } = counted((name: string) => name);
    const read = cached(fn, {
      key: (name: string) => {
        if (name === 'boom') throw new Error('boom');
        return name;
      },
      context: { client, stack: 'acme' },
      onError: log.onError,
    });
    await read('boom');
    await read('has space');
    await read('');
    expect(runs()).toBe(3);
    expect(log.errors.map(({ error }) => error.message)).toEqual([
      'the `key` function of fn threw',
      "the `key` function of fn must not contain whitespace or control characters; got 'has space'",
      'the `key` function of fn must be a non-empty string; got an empty string',
    ]);
  });
});

describe('arguments that cannot be keyed safely', () => {
  class Opaque {
    readonly id: number;
    constructor(id: number) {
      this.id = id;
    }
  }
  const cycle: Record<string, unknown> = {};
  cycle['self'] = cycle;

  it.each([
    [
      'a class instance without toJSON',
      new Opaque(1),
      /#0 cannot be keyed safely: it is a Opaque instance/,
    ],
    ['a function', () => 1, /#0 cannot be keyed safely: it is a function/],
    ['a symbol', Symbol('s'), /#0 cannot be keyed safely: it is a symbol/],
    ['a cycle', cycle, /#0\.self cannot be keyed safely: it contains a cycle/],
  ])('bypass the cache and are reported: %s', async (_what, arg, message) => {
    const { client } = memoryClient();
    const log = errorLog();
    const { fn, runs } = counted((_value: unknown) => 'computed');
    const read = cached(fn, {
      key: 'read',
      context: { client, stack: 'acme' },
      onError: log.onError,
    });
    expect(await read(arg)).toBe('computed');
    expect(await read(arg)).toBe('computed');
    expect(runs()).toBe(2);
    expect(log.errors.map(({ error }) => error)).toEqual([
      expect.any(CacheKeyError),
      expect.any(CacheKeyError),
    ]);
    expect(log.errors[0]?.error.message).toMatch(message);
    expect(client.recentKeys()).toEqual([]);
  });

  it('key objects that have a toJSON method (URL, Date)', async () => {
    const { client } = memoryClient();
    const { fn, runs } = counted((url: URL) => url.host);
    const host = cached(fn, { key: 'host', context: { client, stack: 'acme' } });
    await host(new URL('https://example.com/a'));
    await host(new URL('https://example.com/a'));
    await host(new URL('https://example.com/b'));
    expect(runs()).toBe(2);
  });

  it('bypass with a report when the key is too long for memcached, unless the client hashes long keys', async () => {
    const log = errorLog();
    const longName = 'x'.repeat(240);
    const { client } = memoryClient();
    const { fn, runs } = counted((n: number) => n);
    const read = cached(fn, {
      key: longName,
      context: { client, stack: 'acme' },
      onError: log.onError,
    });
    await read(1);
    await read(1);
    expect(runs()).toBe(2);
    expect(log.codes()).toEqual(['E_CACHE_KEY', 'E_CACHE_KEY']);

    const hashing = memoryClient(undefined, { longKeys: LongKeys.Hash }).client;
    const hashed = cached(fn, { key: longName, context: { client: hashing, stack: 'acme' } });
    await hashed(1);
    await hashed(1);
    expect(runs()).toBe(3);
  });

  it('refuses a string key with whitespace when the function is wrapped', () => {
    expect(() => cached(async () => 1, { key: 'rates lookup' })).toThrow(
      "`key` must not contain whitespace or control characters; got 'rates lookup'",
    );
  });

  it('uses the storage level in the key, never the instance', async () => {
    const { client } = memoryClient();
    const read = cached(async (n: number) => n, {
      key: 'read',
      storageLevel: StorageLevel.Session,
      context: { client, session: 's1' },
    });
    await read.call({ unrelated: 'instance' }, 1);
    expect(client.recentKeys().map((entry) => entry.fullKey)).toEqual([
      'session=s1:read:version',
      expect.stringMatching(/^session=s1:read:v[\w-]{8}:[0-9a-f]{32}$/),
    ]);
  });
});
