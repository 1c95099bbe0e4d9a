import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { CacheKeyError, cacheKey, stableStringify } from '../src/index.js';

describe('stableStringify', () => {
  it('ignores object key order at every depth', () => {
    expect(stableStringify({ b: 1, a: { d: [1, { y: 2, x: 1 }], c: 2 } })).toBe(
      stableStringify({ a: { c: 2, d: [1, { x: 1, y: 2 }] }, b: 1 }),
    );
  });

  it('keeps array order significant', () => {
    expect(stableStringify([1, 2])).not.toBe(stableStringify([2, 1]));
  });

  it.each<[string, unknown, unknown]>([
    ['a Date and its ISO string', new Date('2026-01-02T03:04:05.000Z'), '2026-01-02T03:04:05.000Z'],
    ['a bigint and the number', 10n, 10],
    ['a bigint and its text', 10n, '10n'],
    ['undefined and null', undefined, null],
    ['NaN and null', Number.NaN, null],
    ['NaN and the string NaN', Number.NaN, 'NaN'],
    ['Infinity and -Infinity', Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY],
    ['a Map and an object', new Map([['a', 1]]), { a: 1 }],
    ['a Set and an array', new Set([1]), [1]],
    ['a missing and an undefined property', {}, { a: undefined }],
    ['a string and a number', '1', 1],
    ['a Uint8Array and a Buffer', new Uint8Array([1]), Buffer.from([1])],
    ['an empty Map and an empty Set', new Map(), new Set()],
    ['a tagged-looking string and the tag', '~u', undefined],
  ])('tells %s apart', (_name, a, b) => {
    expect(stableStringify(a)).not.toBe(stableStringify(b));
  });

  it('gives Maps and Sets the same text whatever their insertion order', () => {
    expect(
      stableStringify(
        new Map([
          ['a', 1],
          ['b', 2],
        ]),
      ),
    ).toBe(
      stableStringify(
        new Map([
          ['b', 2],
          ['a', 1],
        ]),
      ),
    );
    expect(stableStringify(new Set(['x', 'y']))).toBe(stableStringify(new Set(['y', 'x'])));
  });

  it('treats -0 as 0', () => {
    expect(stableStringify(-0)).toBe(stableStringify(0));
  });

  it('accepts the same object twice when it is not a cycle', () => {
    const shared = { a: 1 };
    expect(stableStringify([shared, shared])).toBe('[{"a":1},{"a":1}]');
  });

  it('accepts objects without a prototype', () => {
    const bare = Object.assign(Object.create(null) as object, { a: 1 });
    expect(stableStringify(bare)).toBe(stableStringify({ a: 1 }));
  });

  it('uses toJSON of a class instance that has one', () => {
    class Money {
      readonly cents: number;
      constructor(cents: number) {
        this.cents = cents;
      }
      toJSON(): unknown {
        return { cents: this.cents };
      }
    }
    expect(stableStringify(new Money(5))).not.toBe(stableStringify(new Money(6)));
  });

  it.each<[string, unknown, RegExp]>([
    ['a class instance', new (class Handler {})(), /Handler instance/],
    ['a function', () => 1, /function/],
    ['a symbol', Symbol('s'), /symbol/],
    [
      'a cycle',
      (() => {
        const o: Record<string, unknown> = {};
        o['self'] = o;
        return o;
      })(),
      /cycle/,
    ],
    ['a nested function', { a: [1, { f: () => 1 }] }, /#0\.a\[1\]\.f/],
    [
      'nesting deeper than 64 levels',
      JSON.parse('['.repeat(70) + ']'.repeat(70)) as unknown,
      /deeper/,
    ],
  ])('refuses %s with CacheKeyError naming the path', (_name, value, message) => {
    expect(() => stableStringify(value)).toThrow(CacheKeyError);
    expect(() => stableStringify(value)).toThrow(message);
  });
});

describe('cacheKey', () => {
  function lookup(): void {}

  it('is the function name alone without arguments', () => {
    expect(cacheKey(lookup)).toBe('lookup');
    expect(cacheKey('Rates.lookup', [])).toBe('Rates.lookup');
  });

  it('appends the first 32 hex digits of the SHA-256 of the stable arguments', () => {
    const text = `[${stableStringify('EUR')},${stableStringify({ day: 1 })}]`;
    const digest = createHash('sha256').update(text).digest('hex').slice(0, 32);
    expect(cacheKey('Rates.lookup', ['EUR', { day: 1 }])).toBe(`Rates.lookup:${digest}`);
  });

  it('hashes the arguments as UTF-8, beyond ASCII too', () => {
    const text = `[${stableStringify('é😀键')}]`;
    const digest = createHash('sha256').update(text, 'utf8').digest('hex').slice(0, 32);
    expect(cacheKey('f', ['é😀键'])).toBe(`f:${digest}`);
  });

  it('gives every argument its own digest, past the memo of recent digests and for long ones', () => {
    const expected = (arg: unknown): string =>
      `f:${createHash('sha256')
        .update(`[${stableStringify(arg)}]`)
        .digest('hex')
        .slice(0, 32)}`;
    const args = [
      ...Array.from({ length: 3000 }, (_, i) => `k${i}`),
      'x'.repeat(2000),
      { id: 1 },
      7,
    ];
    for (let round = 0; round < 2; round++) {
      for (const arg of args) expect(cacheKey('f', [arg])).toBe(expected(arg));
    }
  });

  it('gives the same key for the same arguments in any key order', () => {
    expect(cacheKey(lookup, [{ a: 1, b: 2 }])).toBe(cacheKey(lookup, [{ b: 2, a: 1 }]));
  });

  it('gives different keys for different arguments', () => {
    expect(cacheKey(lookup, [1])).not.toBe(cacheKey(lookup, [2]));
    expect(cacheKey(lookup, [1, 2])).not.toBe(cacheKey(lookup, [[1, 2]]));
  });

  it("names anonymous functions 'anonymous' and replaces unsafe characters", () => {
    expect(
      cacheKey(
        (
          () => () =>
            1
        )(),
      ),
    ).toBe('anonymous');
    expect(cacheKey('my method\n', [])).toBe('my_method_');
  });

  it('refuses arguments that cannot be keyed with CacheKeyError', () => {
    expect(() => cacheKey(lookup, [new (class Db {})()])).toThrow(CacheKeyError);
  });

  it('gives the same key in another process', () => {
    const dist = fileURLToPath(new URL('../dist/index.mjs', import.meta.url));
    expect(existsSync(dist), 'build @stowage/core first (turbo run build)').toBe(true);
    const args = [
      'EUR',
      { b: [1, 2n, undefined], a: new Date(0), m: new Map([['k', new Set([3, 1])]]) },
      Number.NaN,
    ];
    const script = `
      import { cacheKey } from ${JSON.stringify(dist)};
      const args = ['EUR', { a: new Date(0), m: new Map([['k', new Set([1, 3])]]), b: [1, 2n, undefined] }, NaN];
      process.stdout.write(cacheKey('Rates.lookup', args));
    `;
    const child = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
      encoding: 'utf8',
    });
    expect(child.stderr).toBe('');
    expect(child.stdout).toBe(cacheKey('Rates.lookup', args));
  });
});
