// `frozenValues`: hits share one deep-frozen value per in-process entry instead of a fresh copy.
// Off, every hit is a copy of its own. On, the value is frozen everywhere (so code behaves the
// same on every backend) and decoded once where the entry object is kept in this process.
import { describe, expect, it } from 'vitest';
import { RecordingBackend } from '@stowage/testkit';
import { CacheClient, CacheConfigError, type CacheClientOptions } from '../src/index.js';

interface Item {
  name: string;
  tags: string[];
  nested: { n: number };
}

const item = (): Item => ({ name: 'a', tags: ['x', 'y'], nested: { n: 1 } });

/** An in-process backend (it keeps the entry objects it is given, as the memory backend does). */
function client(options: Omit<CacheClientOptions<Item>, 'backend'> = {}): CacheClient<Item> {
  return new CacheClient<Item>({ backend: new RecordingBackend(), compress: false, ...options });
}

/** A backend that keeps copies of the bytes, as a remote server hands back new objects. */
function remoteLike(): RecordingBackend {
  const backend = new RecordingBackend({ async: true });
  backend.tamper = (_key, entry) => ({ value: Buffer.from(entry.value), flags: entry.flags });
  return backend;
}

function isDeepFrozen(value: unknown): boolean {
  if (typeof value !== 'object' || value === null) return true;
  return Object.isFrozen(value) && Object.values(value).every((inner) => isDeepFrozen(inner));
}

describe('frozenValues off (the default)', () => {
  it('hands every hit a fresh copy that the caller may change', async () => {
    const cache = client();
    await cache.set('k', item());
    const first = (await cache.get('k')) as Item;
    first.tags.push('changed');
    const second = await cache.get('k');
    expect(second).toEqual(item());
    expect(second).not.toBe(first);
    expect(Object.isFrozen(second)).toBe(false);
  });
});

describe('frozenValues on', () => {
  it('hands every hit of an in-process entry the same deep-frozen value', async () => {
    const cache = client({ frozenValues: true });
    await cache.set('k', item());
    const first = await cache.get('k');
    const second = await cache.get('k');
    const many = await cache.getMany(['k']);
    expect(first).toEqual(item());
    expect(second).toBe(first);
    expect(many.get('k')).toBe(first);
    expect(isDeepFrozen(first)).toBe(true);
  });

  it('makes a change to a hit throw instead of reaching the next caller', async () => {
    const cache = client({ frozenValues: true });
    await cache.set('k', item());
    const hit = (await cache.get('k')) as Item;
    expect(() => hit.tags.push('changed')).toThrow(TypeError);
    expect(() => {
      hit.nested.n = 2;
    }).toThrow(TypeError);
    expect(await cache.get('k')).toEqual(item());
  });

  it('serves the new value after a write, and never freezes what the caller passed in', async () => {
    const cache = client({ frozenValues: true });
    const written = item();
    await cache.set('k', written);
    expect(await cache.get('k')).toEqual(item());
    expect(Object.isFrozen(written)).toBe(false);
    await cache.set('k', { ...item(), name: 'b' });
    expect(await cache.get('k')).toMatchObject({ name: 'b' });
    const computed = await cache.getOrSet('other', () => item());
    expect(Object.isFrozen(computed)).toBe(false);
    expect(isDeepFrozen(await cache.getOrSet('other', () => item()))).toBe(true);
  });

  it('freezes values read from a remote-like backend too, a copy per read', async () => {
    const cache = new CacheClient<Item>({ backend: remoteLike(), frozenValues: true });
    await cache.set('k', item());
    const first = await cache.get('k');
    const second = await cache.get('k');
    expect(first).toEqual(item());
    expect(isDeepFrozen(first)).toBe(true);
    expect(second).not.toBe(first);
  });

  it('shares one frozen value per L1 copy over a remote-like backend', async () => {
    const cache = new CacheClient<Item>({ backend: remoteLike(), frozenValues: true, l1: true });
    await cache.set('k', item());
    await cache.get('k'); // fills the L1 from the backend
    const first = await cache.get('k');
    const second = await cache.get('k');
    expect(first).toEqual(item());
    expect(second).toBe(first);
    expect(isDeepFrozen(first)).toBe(true);
    await cache.close();
  });

  it('keeps strings, numbers, null and graced values working', async () => {
    const cache = new CacheClient<unknown>({
      backend: new RecordingBackend({ setAndRead: true }),
      frozenValues: true,
      compress: false,
    });
    await cache.set('s', 'text');
    await cache.set('n', 42);
    await cache.set('null', null);
    expect(await cache.get('s')).toBe('text');
    expect(await cache.get('n')).toBe(42);
    expect(await cache.get('null')).toBeNull();
    expect(await cache.get('null', 'missing')).toBeNull();
    await cache.getOrSet('g', () => ({ list: [1, 2] }), { ttl: 60, grace: 60 });
    const graced = await cache.getOrSet('g', () => ({ list: [3] }), { ttl: 60, grace: 60 });
    expect(graced).toEqual({ list: [1, 2] });
    expect(isDeepFrozen(graced)).toBe(true);
  });

  it('runs the deserializer on every hit, with the frozen value, and returns what it returns', async () => {
    const seen: unknown[] = [];
    const cache = client({
      frozenValues: true,
      deserializer: (value) => {
        seen.push(value);
        return { ...(value as Item), name: 'deserialized' };
      },
    });
    await cache.set('k', item());
    const first = await cache.get('k');
    const second = await cache.get('k');
    expect(first).toMatchObject({ name: 'deserialized', tags: ['x', 'y'] });
    expect(second).not.toBe(first);
    expect(Object.isFrozen(first)).toBe(false);
    expect(seen).toHaveLength(2);
    expect(seen[1]).toBe(seen[0]);
    expect(isDeepFrozen(seen[0])).toBe(true);
  });

  it('turns a deserializer that changes its input into a miss and a warning, not a corrupt hit', async () => {
    const cache = client({
      frozenValues: true,
      deserializer: (value) => {
        (value as Item).name = 'changed in place';
        return value as Item;
      },
    });
    const warnings: unknown[] = [];
    cache.on('warning', (warning) => warnings.push(warning));
    await cache.set('k', item());
    expect(await cache.get('k')).toBeUndefined();
    expect(warnings).toHaveLength(1);
  });

  it.each([['yes'], [1], [null]])('refuses frozenValues: %j before any I/O', (value) => {
    expect(
      () =>
        new CacheClient({
          backend: new RecordingBackend(),
          frozenValues: value as unknown as boolean,
        }),
    ).toThrow(
      new CacheConfigError(
        `\`frozenValues\` must be true or false; got ${value === null ? 'object' : typeof value === 'string' ? `'${value}'` : typeof value}`,
      ),
    );
  });
});
