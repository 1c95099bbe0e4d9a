// The binary end to end on real servers: a memcached and a redis-server started on 127.0.0.1
// for this file and stopped by PID, data written by a real CacheClient (strings, JSON, integers,
// compressed, encrypted, scoped, graced, lease and not-found markers), every `--json` output
// parsed. With CI=true a missing binary fails the run instead of skipping.
import { createFernetCipher, getCache, StorageLevel, type CacheClient } from '@stowage/core';
import { newLeaseMarker } from '@stowage/core/backend';
import { hasBinary, startMemcached, startRedis, type ServerHandle } from '@stowage/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stowage, stowageJson } from './helpers.js';

const PASSPHRASE = 'correct horse battery staple';
const BIG = 'lorem ipsum dolor sit amet '.repeat(200); // 5400 bytes: over the 1 KiB compression threshold

const LONG_KEY = `long-${'k'.repeat(230)}`; // 238 bytes with the prefix: near memcached's 250

const kinds = [
  {
    system: 'memcached',
    available: hasBinary('memcached'),
    start: () => startMemcached(),
    scheme: 'memcached',
  },
  {
    system: 'redis',
    available: hasBinary('redis-server'),
    start: () => startRedis(),
    scheme: 'redis',
  },
] as const;

for (const kind of kinds) {
  describe.runIf(kind.available)(`stowage on a real ${kind.system}`, () => {
    let server: ServerHandle;
    let env: Record<string, string>;
    let writer: CacheClient;
    let sealed: CacheClient;

    beforeAll(async () => {
      server = await kind.start();
      const url = `${kind.scheme}://127.0.0.1:${server.port}`;
      env = { CACHE_URL: url, CACHE_PREFIX: 'billing' };
      writer = await getCache({ url, prefix: 'billing', env: {} });
      sealed = await getCache({ url, prefix: 'billing', encryptionKey: PASSPHRASE, env: {} });
      await writer.set('greeting', 'hello', { ttl: 300 });
      await writer.set('plan', { tier: 'gold', seats: 5 }, { ttl: 300 });
      await writer.set('count', 42, { ttl: 300 });
      await writer.set('big', BIG, { ttl: 300 });
      await writer.set('forever', 'stays', { ttl: 0 });
      await writer.set(LONG_KEY, 'long', { ttl: 300 });
      await writer.set('café-ünïcode', 'utf-8 key', { ttl: 300 });
      await sealed.set('card', { last4: '4242' }, { ttl: 300 });
      const python = await getCache({
        url,
        prefix: 'billing',
        cipher: createFernetCipher({ key: PASSPHRASE }),
        env: {},
      });
      await python.set('shared', { from: 'q2' }, { ttl: 300 }); // as a Q2 Python service would seal it
      await python.close();
      await writer
        .scoped(StorageLevel.Stack, { stack: 'acme' })
        .set('plan', { tier: 'silver' }, { ttl: 300 });
      await writer
        .scoped(StorageLevel.Stack, { stack: 'acme' })
        .scoped(StorageLevel.Session, { session: 's1' })
        .set('cart', ['apple'], { ttl: 300 });
      await writer.getOrSet('report', () => 'weekly', { ttl: 300, grace: 3600 });
      await writer.getOrSet('ghost', () => undefined, { negativeTtl: 300 });
      await writer.set('profile', { name: 'Ada' }, { ttl: 300, tags: ['user:1', 'team:9'] });
      await writer.getOrSet('digest', () => 'daily', { ttl: 300, grace: 60, tags: ['user:1'] });
      // A marker as a getOrSet in another process leaves it while it computes the value.
      await writer.backend.add(writer.fullKey('computing'), newLeaseMarker(), 60);
    });
    afterAll(async () => {
      await writer?.close();
      await sealed?.close();
      await server?.stop();
    });

    it('inspects a string: flags, sizes, TTL left on the server and the value', async () => {
      const { code, json } = await stowageJson(['inspect', 'greeting'], env);
      expect(code).toBe(0);
      expect(json).toMatchObject({
        key: 'greeting',
        fullKey: 'billing:greeting',
        found: true,
        scope: null,
        flags: 1,
        flagsName: 'String',
        kind: 'string',
        valueType: 'string',
        storedBytes: 5,
        rawBytes: 5,
        compressed: false,
        status: 'hit',
        value: 'hello',
      });
      expect(json['encryption']).toBeUndefined();
      const ttl = json['ttl'] as { state: string; ms: number };
      expect(ttl.state).toBe('expires');
      expect(ttl.ms).toBeGreaterThan(250_000);
      expect(ttl.ms).toBeLessThanOrEqual(300_000);
    });

    it('inspects JSON and integers with their Q2 flags', async () => {
      const plan = await stowageJson(['inspect', 'plan'], env);
      expect(plan.json).toMatchObject({
        flags: 2,
        flagsName: 'Json',
        value: { tier: 'gold', seats: 5 },
      });
      const count = await stowageJson(['inspect', 'count'], env);
      expect(count.json).toMatchObject({
        flags: 3,
        flagsName: 'Integer',
        kind: 'integer',
        value: 42,
      });
    });

    it('says a key never expires', async () => {
      const { json } = await stowageJson(['inspect', 'forever'], env);
      expect(json['ttl']).toEqual({ state: 'never' });
    });

    it('reads the TTL of a key near the length limit and of a non-ASCII key', async () => {
      for (const key of [LONG_KEY, 'café-ünïcode']) {
        const { json } = await stowageJson(['inspect', key], env);
        expect(json['value'], key).toBeDefined();
        expect((json['ttl'] as { state: string }).state, key).toBe('expires');
      }
    });

    it('shows compression with the stored and raw sizes', async () => {
      const { json } = await stowageJson(['inspect', 'big'], env);
      expect(json).toMatchObject({
        kind: 'string',
        compressed: true,
        rawBytes: BIG.length,
        value: BIG,
      });
      expect(json['storedBytes']).toBeLessThan(BIG.length / 4);
    });

    it('shows an encrypted entry: cipher and key id, and its value only with the key', async () => {
      const opened = await stowageJson(['inspect', 'card'], {
        ...env,
        CACHE_ENCRYPTION_KEY: PASSPHRASE,
      });
      expect(opened.json).toMatchObject({
        flags: 4,
        flagsName: 'Encrypted',
        kind: 'encrypted',
        valueType: 'json',
        encryption: { cipher: 'aes-256-gcm', keyId: 0, decrypts: true },
        status: 'hit',
        value: { last4: '4242' },
      });
      expect(opened.stdout + opened.stderr).not.toContain(PASSPHRASE);

      const closed = await stowageJson(['inspect', 'card'], env);
      expect(closed.code).toBe(0);
      expect(closed.json).toMatchObject({
        encryption: { cipher: 'aes-256-gcm', keyId: 0 },
        status: 'unreadable',
      });
      expect(closed.json['value']).toBeUndefined();
      expect(String(closed.json['decodeError'])).toContain('no encryption key');

      const wrong = await stowageJson(['inspect', 'card', '--encryption-key', 'not the key'], env);
      expect(wrong.json).toMatchObject({ encryption: { decrypts: false }, status: 'unreadable' });
    });

    it('recognises a Fernet item (Q2 Python) without opening it', async () => {
      const { code, json } = await stowageJson(['inspect', 'shared'], {
        ...env,
        CACHE_ENCRYPTION_KEY: PASSPHRASE,
      });
      expect(code).toBe(0);
      expect(json).toMatchObject({
        flagsName: 'Encrypted',
        encryption: { cipher: 'fernet', decrypts: false },
        status: 'unreadable',
      });
      expect(json['encryption']).not.toHaveProperty('keyId', expect.anything());
    });

    it('reads a scoped key with --level and --scope', async () => {
      const { json } = await stowageJson(
        ['inspect', 'plan', '--level', 'stack', '--scope', 'acme'],
        env,
      );
      expect(json).toMatchObject({
        fullKey: 'billing:stack=acme:plan',
        scope: { level: 'stack', stack: 'acme' },
        value: { tier: 'silver' },
      });
      const human = await stowage(['get', 'plan', '--level', 'stack', '--scope', 'acme'], env);
      expect(human.stdout).toBe('{\n  "tier": "silver"\n}\n');
    });

    it("reads a tenant's session key with --level session --stack", async () => {
      const args = ['get', 'cart', '--level', 'session', '--scope', 's1', '--stack', 'acme'];
      const { json } = await stowageJson(args, env);
      expect(json).toMatchObject({
        fullKey: 'billing:stack=acme:session=s1:cart',
        value: ['apple'],
      });
    });

    it('lets flags override the environment', async () => {
      const elsewhere = { ...env, CACHE_URL: 'memcached://127.0.0.1:1', CACHE_PREFIX: 'other' };
      const { code, json } = await stowageJson(
        ['get', 'greeting', '--url', env['CACHE_URL']!, '--prefix', 'billing'],
        elsewhere,
      );
      expect(code).toBe(0);
      expect(json).toMatchObject({ fullKey: 'billing:greeting', value: 'hello' });
      const otherPrefix = await stowageJson(['get', 'greeting', '--prefix', 'other'], env);
      expect(otherPrefix.code).toBe(3);
      expect(otherPrefix.json).toMatchObject({ fullKey: 'other:greeting', found: false });
    });

    it("names Stowage's own markers: grace, not-found and lease", async () => {
      const report = await stowageJson(['inspect', 'report'], env);
      expect(report.json).toMatchObject({
        flagsName: 'GRACE_FLAGS',
        kind: 'grace',
        valueType: 'string',
        status: 'hit',
        value: 'weekly',
      });
      const grace = report.json['grace'] as { freshUntil: string; staleUntil: string };
      expect(Date.parse(grace.staleUntil) - Date.parse(grace.freshUntil)).toBe(3_600_000);

      const ghost = await stowageJson(['inspect', 'ghost'], env);
      expect(ghost.json).toMatchObject({
        flagsName: 'NOT_FOUND_FLAGS',
        kind: 'notFound',
        status: 'notFound',
      });

      const lease = await stowageJson(['inspect', 'computing'], env);
      expect(lease.json).toMatchObject({
        flagsName: 'LEASE_FLAGS',
        kind: 'lease',
        status: 'lease',
      });
      const text = await stowage(['inspect', 'computing'], env);
      expect(text.stdout).toMatch(/flags:\s+1398033477 \(LEASE_FLAGS\)/);
    });

    it('names tagged entries and describes what is inside the tag header', async () => {
      const profile = await stowageJson(['inspect', 'profile'], env);
      expect(profile.json).toMatchObject({
        flagsName: 'TAGGED_FLAGS',
        kind: 'tagged',
        valueType: 'json',
        tags: { count: 2, innerFlags: 2 },
        status: 'hit',
        value: { name: 'Ada' },
      });
      const digest = await stowageJson(['inspect', 'digest'], env);
      expect(digest.json).toMatchObject({
        kind: 'tagged',
        valueType: 'string',
        tags: { count: 1 },
      });
      expect(digest.json['grace']).toBeDefined();
      const text = await stowage(['inspect', 'profile'], env);
      expect(text.stdout).toMatch(/tags:\s+2 \(names are not stored/);
      await writer.invalidateTags(['team:9']);
      const busted = await stowage(['get', 'profile'], env);
      expect(busted.code).toBe(3);
    });

    it('prints the stored bytes with --raw', async () => {
      const hex = await stowageJson(['inspect', 'greeting', '--raw', 'hex'], env);
      expect(hex.json['raw']).toEqual({
        encoding: 'hex',
        bytes: Buffer.from('hello').toString('hex'),
      });
      const base64 = await stowage(['inspect', 'greeting', '--raw', 'base64'], env);
      expect(base64.stdout).toContain(Buffer.from('hello').toString('base64'));
    });

    it('exits 3 for a key the server does not hold, with one JSON document', async () => {
      const inspect = await stowageJson(['inspect', 'nope'], env);
      expect(inspect.code).toBe(3);
      expect(inspect.json).toEqual({ key: 'nope', fullKey: 'billing:nope', found: false });
      const get = await stowage(['get', 'nope'], env);
      expect(get.code).toBe(3);
      expect(get.stdout).toBe('');
      expect(get.stderr).toContain("no entry under 'billing:nope'");
    });

    it('gets values as the service reads them', async () => {
      const text = await stowage(['get', 'greeting'], env);
      expect(text).toMatchObject({ code: 0, stdout: 'hello\n' });
      const count = await stowageJson(['get', 'count'], env);
      expect(count.json).toEqual({
        key: 'count',
        fullKey: 'billing:count',
        found: true,
        value: 42,
      });
      // Markers and undecodable items read as missing, as in the service, and say what they are.
      const lease = await stowage(['get', 'computing'], env);
      expect(lease.code).toBe(3);
      expect(lease.stderr).toContain(
        "the entry under 'billing:computing' reads as missing: it holds a lease marker",
      );
      const ghost = await stowageJson(['get', 'ghost'], env);
      expect(ghost.code).toBe(3);
      expect(ghost.json).toMatchObject({
        found: false,
        reason: expect.stringContaining('NOT_FOUND_FLAGS') as string,
      });
      const undecodable = await stowage(['get', 'card'], env);
      expect(undecodable.code).toBe(3);
      expect(undecodable.stderr).toContain(
        'reads as missing: it does not decode: item is encrypted and no encryption key',
      );
    });

    it('prints a large value whole through a pipe', async () => {
      const rows = Array.from({ length: 5000 }, (_, i) => ({
        id: i,
        name: `row ${i}`,
        note: 'x'.repeat(40),
      }));
      await writer.set('rows', rows, { ttl: 300 });
      const { code, json } = await stowageJson(['get', 'rows'], env);
      expect(code).toBe(0);
      expect(json['value']).toEqual(rows);
    });

    it('deletes keys and says which existed', async () => {
      await writer.set('doomed', 'bye');
      const { code, json } = await stowageJson(['delete', 'doomed', 'never-was'], env);
      expect(code).toBe(0);
      expect(json).toEqual({ deleted: ['billing:doomed'], missing: ['billing:never-was'] });
      expect(await writer.get('doomed')).toBeUndefined();
    });

    it("reports the server's counters and hit ratio", async () => {
      const { code, json } = await stowageJson(['stats'], env);
      expect(code).toBe(0);
      expect(json['backend']).toBe(kind.system);
      const servers = json['servers'] as Array<Record<string, unknown>>;
      expect(servers).toHaveLength(1);
      expect(servers[0]?.['server']).toBe(`127.0.0.1:${server.port}`);
      expect(servers[0]?.['version']).toMatch(/^\d+\.\d+/);
      const hits = json['hits'] as number;
      const misses = json['misses'] as number;
      expect(hits).toBeGreaterThan(0);
      expect(misses).toBeGreaterThan(0);
      expect(json['hitRatio']).toBeCloseTo(hits / (hits + misses), 10);
      const text = await stowage(['stats'], env);
      expect(text.stdout).toMatch(/hit ratio: \d+\.\d %/);
    });

    it('refuses to flush without --yes (exit 2), then flushes with it', async () => {
      const refused = await stowage(['flush'], env);
      expect(refused.code).toBe(2);
      expect(refused.stdout).toBe('');
      expect(refused.stderr).toContain('--yes');
      expect(await writer.get('greeting')).toBe('hello');

      const flushed = await stowageJson(['flush', '--yes'], env);
      expect(flushed.code).toBe(0);
      expect(flushed.json).toEqual({ flushed: true, url: env['CACHE_URL'] });
      expect(await writer.get('greeting')).toBeUndefined();
    });
  });
}
