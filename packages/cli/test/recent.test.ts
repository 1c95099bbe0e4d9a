// keys and bust on real servers: the shared recent-keys file written by real CacheClients with
// localPath (a tenant, a second tenant whose id extends the first, a session nested in the first,
// an unscoped key), read back and busted through the binary; and Redis SCAN for keys --scan.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { getCache, StorageLevel, type CacheClient } from '@stowage/core';
import { hasBinary, startMemcached, startRedis, type ServerHandle } from '@stowage/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../src/index.js';
import { stowage, stowageJson } from './helpers.js';

interface Listed {
  readonly key: string;
  readonly fullKey: string;
  readonly scope: string | null;
  readonly ttlMs: number | null;
  readonly ageMs: number | null;
  readonly recordedAt: string | null;
}

const keysOf = (json: Record<string, unknown>): string[] =>
  (json['keys'] as Listed[]).map((entry) => entry.fullKey).sort();

describe.runIf(hasBinary('memcached'))(
  'keys and bust over the recent-keys file (memcached)',
  () => {
    let server: ServerHandle;
    let dir: string;
    let env: Record<string, string>;
    let reader: CacheClient;

    beforeAll(async () => {
      server = await startMemcached();
      dir = mkdtempSync(join(tmpdir(), 'stowage-cli-'));
      const url = `memcached://127.0.0.1:${server.port}`;
      env = {
        CACHE_URL: url,
        CACHE_PREFIX: 'billing',
        CACHE_LOCAL_PATH: join(dir, 'recent-keys.json'),
      };
      const writer = await getCache({
        url,
        prefix: 'billing',
        localPath: env['CACHE_LOCAL_PATH'],
        env: {},
      });
      const acme = writer.scoped(StorageLevel.Stack, { stack: 'acme' });
      await writer.set('global', 'g', { ttl: 600 });
      await acme.set('plan', 'gold', { ttl: 600 });
      await acme.set('report:1', 'r1', { ttl: 600 });
      await acme.set('report:2', 'r2', { ttl: 600 });
      await writer
        .scoped(StorageLevel.Stack, { stack: 'acme2' })
        .set('plan', 'silver', { ttl: 600 });
      await acme
        .scoped(StorageLevel.Session, { session: 's1' })
        .set('cart', ['apple'], { ttl: 600 });
      await writer.close(); // writes what it recorded to the file
      reader = await getCache({ url, prefix: 'billing', env: {} });
    });
    afterAll(async () => {
      await reader?.close();
      await server?.stop();
      if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
    });

    it('lists every recent key with its scope and TTL left', async () => {
      const { code, json } = await stowageJson(['keys'], env);
      expect(code).toBe(0);
      expect(json['source']).toBe('file');
      expect(keysOf(json)).toEqual([
        'billing:global',
        'billing:stack=acme2:plan',
        'billing:stack=acme:plan',
        'billing:stack=acme:report:1',
        'billing:stack=acme:report:2',
        'billing:stack=acme:session=s1:cart',
      ]);
      const cart = (json['keys'] as Listed[]).find((entry) => entry.key === 'cart');
      expect(cart).toMatchObject({ scope: 'stack=acme session=s1' });
      expect(cart?.ttlMs).toBeGreaterThan(500_000);
      // Age: since a process last recorded the key in the file (this file's writer, moments ago).
      expect(cart?.ageMs).toBeGreaterThanOrEqual(0);
      expect(cart?.ageMs).toBeLessThan(60_000);
      expect(Date.parse(String(cart?.recordedAt))).toBeLessThanOrEqual(Date.now());
      const text = await stowage(['keys', '--level', 'stack', '--scope', 'acme2'], env);
      expect(text.stdout).toMatch(
        /^KEY\s+SCOPE\s+AGE\s+TTL LEFT\s+FULL KEY\nplan\s+stack=acme2\s+\d+ m?s\s+\d+ m \d+ s\s+billing:stack=acme2:plan\n1 key\n$/,
      );
    });

    it("lists one tenant's keys (its sessions included, never a tenant whose id extends it)", async () => {
      const acme = await stowageJson(['keys', '--level', 'stack', '--scope', 'acme'], env);
      expect(keysOf(acme.json)).toEqual([
        'billing:stack=acme:plan',
        'billing:stack=acme:report:1',
        'billing:stack=acme:report:2',
        'billing:stack=acme:session=s1:cart',
      ]);
      const reports = await stowageJson(
        ['keys', '--level', 'stack', '--scope', 'acme', '--key-prefix', 'report:'],
        env,
      );
      expect(keysOf(reports.json)).toEqual([
        'billing:stack=acme:report:1',
        'billing:stack=acme:report:2',
      ]);
    });

    it('bust --dry-run lists what it would delete and deletes nothing', async () => {
      const { code, json } = await stowageJson(
        ['bust', '--level', 'stack', '--scope', 'acme', '--key-prefix', 'report:', '--dry-run'],
        env,
      );
      expect(code).toBe(0);
      expect(json['dryRun']).toBe(true);
      expect(json['deleted']).toBe(0);
      expect(keysOf(json)).toEqual(['billing:stack=acme:report:1', 'billing:stack=acme:report:2']);
      const acme = reader.scoped(StorageLevel.Stack, { stack: 'acme' });
      expect(await acme.get('report:1')).toBe('r1');
    });

    it("busts one tenant's keys and leaves the others", async () => {
      const text = await stowage(
        ['bust', '--level', 'stack', '--scope', 'acme', '--key-prefix', 'report:'],
        env,
      );
      expect(text.code).toBe(0);
      expect(text.stdout).toContain('deleting:\n');
      expect(text.stdout).toMatch(/deleted 2 keys\n$/);
      const acme = reader.scoped(StorageLevel.Stack, { stack: 'acme' });
      expect(await acme.get('report:1')).toBeUndefined();
      expect(await acme.get('plan')).toBe('gold');

      const { json } = await stowageJson(['bust', '--level', 'stack', '--scope', 'acme'], env);
      expect(json['deleted']).toBe(2);
      expect(keysOf(json)).toEqual([
        'billing:stack=acme:plan',
        'billing:stack=acme:session=s1:cart',
      ]);
      expect(await acme.get('plan')).toBeUndefined();
      expect(
        await acme.scoped(StorageLevel.Session, { session: 's1' }).get('cart'),
      ).toBeUndefined();
      expect(await reader.scoped(StorageLevel.Stack, { stack: 'acme2' }).get('plan')).toBe(
        'silver',
      );
      expect(await reader.get('global')).toBe('g');
      // The busted keys left the file too.
      expect(keysOf((await stowageJson(['keys'], env)).json)).toEqual([
        'billing:global',
        'billing:stack=acme2:plan',
      ]);
    });

    it('draws a progress line on a terminal and erases it', async () => {
      const errors: string[] = [];
      const out: string[] = [];
      const code = await runCli(['bust', '--level', 'stack', '--scope', 'acme2'], {
        stdout: (text) => out.push(text),
        stderr: (text) => errors.push(text),
        env,
        isTTY: true,
      });
      expect(code).toBe(0);
      expect(errors.join('')).toContain('busting 1 keys…');
      expect(errors.at(-1)).toBe('\r\x1b[2K');
      expect(out.join('')).toContain('deleted 1 key\n');
    });

    it('reads keys with CACHE_LOCAL_PATH set, and never records its own reads in the file', async () => {
      const before = readFileSync(env['CACHE_LOCAL_PATH']!, 'utf8');
      const inspect = await stowageJson(['inspect', 'global'], env);
      expect(inspect.json).toMatchObject({ found: true, value: 'g' });
      const get = await stowage(['get', 'global'], env);
      expect(get).toMatchObject({ code: 0, stdout: 'g\n' });
      expect(readFileSync(env['CACHE_LOCAL_PATH']!, 'utf8')).toBe(before);
    });

    it('names a recent-keys file that is not one, exit 1', async () => {
      const bogus = join(dir, 'not-a-list.json');
      writeFileSync(bogus, '{"hello": "world"}');
      const run = await stowage(['keys', '--local-path', bogus], env);
      expect(run.code).toBe(1);
      expect(run.stdout).toBe('');
      expect(run.stderr).toContain(
        `recent-keys file ${bogus} is not readable as a recent-keys list`,
      );
    });

    it('asks for the recent-keys file, and refuses --scan off Redis', async () => {
      const { CACHE_LOCAL_PATH: _, ...withoutFile } = env;
      const bust = await stowage(['bust'], withoutFile);
      expect(bust.code).toBe(2);
      expect(bust.stderr).toContain('set CACHE_LOCAL_PATH or pass --local-path');
      const scan = await stowage(['keys', '--scan'], env);
      expect(scan.code).toBe(2);
      expect(scan.stderr).toContain('the memcached backend cannot list its keys');
    });
  },
);

describe.runIf(hasBinary('redis-server'))('keys --scan on Redis', () => {
  let server: ServerHandle;
  let env: Record<string, string>;

  beforeAll(async () => {
    server = await startRedis();
    const url = `redis://127.0.0.1:${server.port}`;
    env = { CACHE_URL: url, CACHE_PREFIX: 'billing' };
    const writer = await getCache({ url, prefix: 'billing', env: {} });
    await writer.scoped(StorageLevel.Stack, { stack: 'acme' }).set('plan', 'gold', { ttl: 600 });
    await writer.scoped(StorageLevel.Stack, { stack: 'acme' }).set('forever', 'f', { ttl: 0 });
    await writer.scoped(StorageLevel.Stack, { stack: 'acme2' }).set('plan', 'silver', { ttl: 600 });
    await writer.set('star*key', 'glob characters match themselves', { ttl: 600 });
    await writer.close();
  });
  afterAll(async () => {
    await server?.stop();
  });

  it("lists a tenant's keys from the server with their TTLs", async () => {
    const { code, json } = await stowageJson(
      ['keys', '--scan', '--level', 'stack', '--scope', 'acme'],
      env,
    );
    expect(code).toBe(0);
    expect(json['source']).toBe('scan');
    const keys = json['keys'] as Listed[];
    expect(keys.map((entry) => entry.fullKey)).toEqual([
      'billing:stack=acme:forever',
      'billing:stack=acme:plan',
    ]);
    expect(keys[0]).toMatchObject({
      key: 'forever',
      scope: 'stack=acme',
      ttlMs: null,
      ageMs: null,
    });
    expect(keys[1]?.ttlMs).toBeGreaterThan(500_000);
  });

  it('matches a key prefix literally', async () => {
    const { json } = await stowageJson(['keys', '--scan', '--key-prefix', 'star*'], env);
    expect(keysOf(json)).toEqual(['billing:star*key']);
    const none = await stowageJson(['keys', '--scan', '--key-prefix', 'sta?'], env);
    expect(keysOf(none.json)).toEqual([]);
  });
});
