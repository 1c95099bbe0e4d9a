import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import {
  CacheConfigError,
  CacheReturnCode,
  DEFAULT_TIMEOUT_MS,
  createAesGcmCipher,
  getCache,
} from '../src/index.js';
import { looksLikeZlib } from '../src/codec/zlib.js';
import { BACKEND_PACKAGES } from '../src/get-cache.js';
import { RecordingBackend } from '@stowage/testkit';
import { testBackendLoader } from './helpers/test-backend-module.js';

// Modules outside the workspace, so Node's own resolver answers (under node_modules, vitest
// leaves them to Node): a loader that imports by package name from a directory with no
// @stowage packages, and a fake installed backend whose own dependency is missing.
const outside = mkdtempSync(join(tmpdir(), 'stowage-get-cache-'));
const loaderPath = join(outside, 'empty', 'node_modules', 'loader', 'index.mjs');
mkdirSync(join(outside, 'empty', 'node_modules', 'loader'), { recursive: true });
writeFileSync(loaderPath, 'export const load = (name) => import(name);\n');
const brokenDir = join(outside, 'broken', 'node_modules', '@stowage', 'backend-memcached');
mkdirSync(brokenDir, { recursive: true });
writeFileSync(
  join(brokenDir, 'index.mjs'),
  "import 'stowage-test-missing-transport';\nexport const createBackendFromUrl = () => null;\n",
);

afterAll(() => {
  rmSync(outside, { recursive: true, force: true });
});

async function importOutside(packageName: string): Promise<unknown> {
  const loader = (await import(pathToFileURL(loaderPath).href)) as {
    load: (name: string) => Promise<unknown>;
  };
  return loader.load(packageName);
}

describe('getCache', () => {
  it('uses memory:// and @stowage/backend-memory when nothing is configured', async () => {
    const { load, created } = testBackendLoader();
    const cache = await getCache({ env: {}, loadBackendModule: load });
    expect(created).toHaveLength(1);
    expect(created[0]?.packageName).toBe('@stowage/backend-memory');
    expect(created[0]?.url.href).toBe('memory://');
    expect(created[0]?.options.timeoutMs).toBe(DEFAULT_TIMEOUT_MS);
    expect(cache.backend).toBe(created[0]?.backend);
  });

  it.each([
    ['memory://?maxEntries=5', '@stowage/backend-memory'],
    ['memcached://10.0.0.5:11211', '@stowage/backend-memcached'],
    ['redis://localhost:6379/0', '@stowage/backend-redis'],
    ['rediss://cache.example:6380', '@stowage/backend-redis'],
  ])('loads the package for CACHE_URL=%s', async (url, packageName) => {
    const { load, created } = testBackendLoader();
    await getCache({ env: { CACHE_URL: url }, loadBackendModule: load });
    expect(created[0]?.packageName).toBe(packageName);
    expect(created[0]?.url.href).toBe(new URL(url).href);
    expect(BACKEND_PACKAGES[new URL(url).protocol]).toBe(packageName);
  });

  it('passes every host of a multi-server memcached URL to the backend', async () => {
    const { load, created } = testBackendLoader();
    await getCache({
      env: { CACHE_URL: 'memcached://h1:11211,h2:11212,h3/?retries=1' },
      loadBackendModule: load,
    });
    expect(created[0]?.packageName).toBe('@stowage/backend-memcached');
    expect(created[0]?.options.hosts).toEqual(['h1:11211', 'h2:11212', 'h3']);
    expect(created[0]?.url.host).toBe('h1:11211');
    expect(created[0]?.url.searchParams.get('retries')).toBe('1');
  });

  it('passes the single host of an ordinary URL as hosts', async () => {
    const { load, created } = testBackendLoader();
    await getCache({ url: 'redis://:secret@localhost:6379/2', env: {}, loadBackendModule: load });
    expect(created[0]?.options.hosts).toEqual(['localhost:6379']);
    expect(created[0]?.url.password).toBe('secret');
  });

  it('lets the url option win over CACHE_URL', async () => {
    const { load, created } = testBackendLoader();
    await getCache({
      url: 'redis://localhost',
      env: { CACHE_URL: 'memcached://x:1' },
      loadBackendModule: load,
    });
    expect(created[0]?.packageName).toBe('@stowage/backend-redis');
  });

  it('uses a backend instance without loading anything', async () => {
    const { load, created } = testBackendLoader();
    const backend = new RecordingBackend();
    const cache = await getCache({
      backend,
      url: 'ftp://ignored',
      env: { CACHE_URL: 'nope://' },
      loadBackendModule: load,
    });
    expect(cache.backend).toBe(backend);
    expect(created).toEqual([]);
  });

  it('reads CACHE_PREFIX, and the prefix option wins', async () => {
    const { load } = testBackendLoader();
    const fromEnv = await getCache({ env: { CACHE_PREFIX: 'svc' }, loadBackendModule: load });
    const fromOption = await getCache({
      prefix: 'opt',
      env: { CACHE_PREFIX: 'svc' },
      loadBackendModule: load,
    });
    expect(fromEnv.keyPrefix).toBe('svc:');
    expect(fromOption.keyPrefix).toBe('opt:');
  });

  it('refuses a bad CACHE_PREFIX with CacheConfigError', async () => {
    const { load } = testBackendLoader();
    await expect(
      getCache({ env: { CACHE_PREFIX: 'a:b' }, loadBackendModule: load }),
    ).rejects.toThrow(CacheConfigError);
  });

  it('turns encryption on from CACHE_ENCRYPTION_KEY', async () => {
    const backend = new RecordingBackend();
    const cache = await getCache({ backend, env: { CACHE_ENCRYPTION_KEY: 'passphrase' } });
    await cache.set('k', 'secret');
    expect(cache.encrypted).toBe(true);
    expect(backend.peek('k')?.flags).toBe(CacheReturnCode.Encrypted);
  });

  it('ignores CACHE_ENCRYPTION_KEY when a cipher is given', async () => {
    const backend = new RecordingBackend();
    const cipher = createAesGcmCipher({ keys: { id: 9, key: Buffer.alloc(32, 9) } });
    const cache = await getCache({ backend, cipher, env: { CACHE_ENCRYPTION_KEY: 'other' } });
    await cache.set('k', 'v');
    expect(backend.peek('k')?.value[1]).toBe(9);
  });

  it('lets the encryptionKey option win over CACHE_ENCRYPTION_KEY', async () => {
    const backend = new RecordingBackend();
    const writer = await getCache({ backend, encryptionKey: 'a', env: {} });
    const reader = await getCache({
      backend,
      encryptionKey: 'a',
      env: { CACHE_ENCRYPTION_KEY: 'b' },
    });
    await writer.set('k', 'v');
    expect(await reader.get('k')).toBe('v');
  });

  it.each<[string, string, boolean]>([
    ['true', 'abc', true],
    ['TRUE', 'abc', true],
    ['1', 'abc', true],
    ['yes', 'abc', true],
    ['false', 'a'.repeat(5000), false],
    ['0', 'a'.repeat(5000), false],
    ['no', 'a'.repeat(5000), false],
    ['threshold:100', 'a'.repeat(100), true],
    ['threshold:100', 'a'.repeat(99), false],
  ])('reads CACHE_COMPRESS_DATA=%s', async (setting, value, compressed) => {
    const backend = new RecordingBackend();
    const cache = await getCache({ backend, env: { CACHE_COMPRESS_DATA: setting } });
    await cache.set('k', value);
    expect(looksLikeZlib(backend.peek('k')!.value)).toBe(compressed);
  });

  it('lets the compress option win over CACHE_COMPRESS_DATA, even a malformed one', async () => {
    const backend = new RecordingBackend();
    const cache = await getCache({
      backend,
      compress: false,
      env: { CACHE_COMPRESS_DATA: 'maybe' },
    });
    await cache.set('k', 'a'.repeat(5000));
    expect(looksLikeZlib(backend.peek('k')!.value)).toBe(false);
  });

  it('reads CACHE_TIMEOUT_MS and passes it to the backend', async () => {
    const { load, created } = testBackendLoader();
    await getCache({
      env: { CACHE_URL: 'redis://x', CACHE_TIMEOUT_MS: '250' },
      loadBackendModule: load,
    });
    expect(created[0]?.options.timeoutMs).toBe(250);
  });

  it('lets the timeoutMs option win over CACHE_TIMEOUT_MS', async () => {
    const { load, created } = testBackendLoader();
    await getCache({
      timeoutMs: 75,
      env: { CACHE_URL: 'redis://x', CACHE_TIMEOUT_MS: 'not a number' },
      loadBackendModule: load,
    });
    expect(created[0]?.options.timeoutMs).toBe(75);
  });

  it('ignores empty and blank environment variables', async () => {
    const { load, created } = testBackendLoader();
    const cache = await getCache({
      env: {
        CACHE_URL: ' ',
        CACHE_PREFIX: '',
        CACHE_COMPRESS_DATA: '  ',
        CACHE_TIMEOUT_MS: '',
      },
      loadBackendModule: load,
    });
    expect(created[0]?.url.href).toBe('memory://');
    expect(cache.keyPrefix).toBe('');
    expect(cache.encrypted).toBe(false);
  });

  it.each([[''], ['   '], ['\t\n']])(
    'refuses a set but blank CACHE_ENCRYPTION_KEY %j instead of storing unencrypted',
    async (blank) => {
      const { load, created } = testBackendLoader();
      const error = await getCache({
        env: { CACHE_ENCRYPTION_KEY: blank },
        loadBackendModule: load,
      }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(CacheConfigError);
      expect((error as Error).message).toMatch(/CACHE_ENCRYPTION_KEY is set but empty/);
      expect(created).toEqual([]);
    },
  );

  it.each([
    ['a bad port', 'redis://app:S3CRET@h1:99999'],
    ['a bad host list', 'memcached://app:S3CRET@h1:11211,:x'],
    ['an encoded password', 'redis://app:S3%43RET@h1:99999/0'],
  ])('never puts the password of an unparsable CACHE_URL in the error (%s)', async (_name, url) => {
    const { load } = testBackendLoader();
    const error = (await getCache({ env: { CACHE_URL: url }, loadBackendModule: load }).catch(
      (e: unknown) => e,
    )) as Error & { cause?: unknown };
    expect(error).toBeInstanceOf(CacheConfigError);
    expect(error.message).toMatch(/not a valid URL/);
    expect(error.message).toContain('app:***@');
    const everything = JSON.stringify({
      message: error.message,
      stack: error.stack,
      cause: String(error.cause),
    });
    expect(everything).not.toMatch(/S3CRET|S3%43RET/);
  });

  it.each<[string, Record<string, string>, RegExp]>([
    ['CACHE_TIMEOUT_MS=abc', { CACHE_TIMEOUT_MS: 'abc' }, /CACHE_TIMEOUT_MS/],
    ['CACHE_TIMEOUT_MS=0', { CACHE_TIMEOUT_MS: '0' }, /CACHE_TIMEOUT_MS/],
    ['CACHE_TIMEOUT_MS=-5', { CACHE_TIMEOUT_MS: '-5' }, /CACHE_TIMEOUT_MS/],
    ['CACHE_TIMEOUT_MS=1.5', { CACHE_TIMEOUT_MS: '1.5' }, /CACHE_TIMEOUT_MS/],
    ['CACHE_TIMEOUT_MS=3000000000', { CACHE_TIMEOUT_MS: '3000000000' }, /CACHE_TIMEOUT_MS/],
    ['CACHE_COMPRESS_DATA=maybe', { CACHE_COMPRESS_DATA: 'maybe' }, /CACHE_COMPRESS_DATA/],
    [
      'CACHE_COMPRESS_DATA=threshold:x',
      { CACHE_COMPRESS_DATA: 'threshold:x' },
      /CACHE_COMPRESS_DATA/,
    ],
    ['an unknown scheme', { CACHE_URL: 'ftp://cache.example' }, /scheme 'ftp:' is not supported/],
    ['an http URL', { CACHE_URL: 'http://cache.example' }, /not supported/],
    ['a malformed URL', { CACHE_URL: 'not a url' }, /not a valid URL/],
    ['a malformed multi-host URL', { CACHE_URL: 'memcached://h1:11211,:x' }, /not a valid URL/],
  ])('refuses %s with CacheConfigError', async (_name, env, message) => {
    const { load, created } = testBackendLoader();
    const error = await getCache({ env, loadBackendModule: load }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CacheConfigError);
    expect((error as Error).message).toMatch(message);
    expect(created).toEqual([]);
  });

  it('names the package to install when the backend package is not installed', async () => {
    const error = (await getCache({
      env: { CACHE_URL: 'memcached://127.0.0.1:11211' },
      loadBackendModule: importOutside,
    }).catch((e: unknown) => e)) as CacheConfigError;
    expect(error).toBeInstanceOf(CacheConfigError);
    expect(error.message).toMatch(/needs the package @stowage\/backend-memcached/);
    expect(error.message).toMatch(/npm install @stowage\/backend-memcached/);
    expect((error.cause as { code?: string }).code).toBe('ERR_MODULE_NOT_FOUND');
  });

  it('names the real missing module when the backend package is installed but broken', async () => {
    const error = (await getCache({
      env: { CACHE_URL: 'memcached://127.0.0.1:11211' },
      loadBackendModule: (name) =>
        import(pathToFileURL(join(outside, 'broken', 'node_modules', name, 'index.mjs')).href),
    }).catch((e: unknown) => e)) as CacheConfigError;
    expect(error).toBeInstanceOf(CacheConfigError);
    expect(error.message).toMatch(/stowage-test-missing-transport/);
    expect(error.message).not.toMatch(/needs the package/);
  });

  it('refuses a module that does not export createBackendFromUrl', async () => {
    await expect(
      getCache({ env: {}, loadBackendModule: async () => ({ something: 1 }) }),
    ).rejects.toThrow(/does not export createBackendFromUrl/);
  });

  it('wraps any other load failure in CacheConfigError', async () => {
    const boom = new Error('syntax error in backend');
    const error = (await getCache({
      env: {},
      loadBackendModule: () => Promise.reject(boom),
    }).catch((e: unknown) => e)) as CacheConfigError;
    expect(error).toBeInstanceOf(CacheConfigError);
    expect(error.cause).toBe(boom);
  });

  it('reads process.env when no env is given', async () => {
    const { load, created } = testBackendLoader();
    const saved = process.env['CACHE_URL'];
    process.env['CACHE_URL'] = 'redis://from-process-env';
    try {
      await getCache({ loadBackendModule: load });
    } finally {
      if (saved === undefined) delete process.env['CACHE_URL'];
      else process.env['CACHE_URL'] = saved;
    }
    expect(created[0]?.url.host).toBe('from-process-env');
  });
});

describe('getCache in production', () => {
  it('refuses to fall back to process memory when CACHE_URL is missing and NODE_ENV is production', async () => {
    let loaded = 0;
    const load = async (): Promise<unknown> => {
      loaded++;
      return {};
    };
    const refused = getCache({ env: { NODE_ENV: 'production' }, loadBackendModule: load });
    await expect(refused).rejects.toBeInstanceOf(CacheConfigError);
    await expect(refused).rejects.toThrow(
      /CACHE_URL is not set and NODE_ENV is production.*CACHE_URL=memory:\/\//,
    );
    expect(loaded).toBe(0);
  });

  it('takes memory:// in production when it is asked for by name', async () => {
    const { load, created } = testBackendLoader();
    const cache = await getCache({
      env: { NODE_ENV: 'production', CACHE_URL: 'memory://' },
      loadBackendModule: load,
    });
    expect(created[0]?.url.href).toBe('memory://');
    await cache.close();
  });
});

describe('getCache loads one copy of core', () => {
  // Real processes on the built packages: what a CommonJS or ESM app gets from the registry.
  const fixture = (name: string): Record<string, unknown> =>
    JSON.parse(
      execFileSync(process.execPath, [join(import.meta.dirname, 'fixtures', name)], {
        encoding: 'utf8',
        env: { ...process.env, NODE_ENV: 'test' },
      }),
    ) as Record<string, unknown>;

  it.each(['one-core.cjs', 'one-core.mjs'])(
    '%s: a backend error is instanceof the CacheError the app imported',
    (name) => {
      const result = fixture(name);
      expect(result).toMatchObject({
        thrown: 'CacheConfigError',
        instanceOfCacheError: true,
        instanceOfConfigError: true,
        backend: 'memory',
      });
      expect(String(result['fromBackend'])).toMatch(/maxEntries/);
      if (name.endsWith('.cjs')) expect(result['coreCopies']).toBe(1);
    },
  );
});
