// Options are validated where the function is wrapped, before any call or I/O.
import { describe, expect, it } from 'vitest';
import { CacheConfigError } from '@stowage/core';
import { cache, cached, type CacheOptions } from '../src/index.js';

const wrap = (options: unknown) => () => cached(async function load() {}, options as CacheOptions);

describe('option validation', () => {
  it.each([
    [{ timeout: -1 }, '`timeout` must be a finite number of seconds ≥ 0; got -1'],
    [
      { timeout: '5 minutes' },
      "`timeout` must be a number of seconds or a string like '500ms', '30s', '5m', '1h', '7d'; got '5 minutes'",
    ],
    [{ timeout: 2 ** 31 }, '`timeout` must be at most 2147483647 seconds; got 2147483648'],
    [{ key: '' }, '`key` must be a non-empty string; got an empty string'],
    [{ key: 42 }, '`key` must be a non-empty string; got number'],
    [{ keyPrefix: 'a\nb' }, '`keyPrefix` must not contain whitespace or control characters'],
    [
      { storageLevel: 'tenant' },
      "`storageLevel` must be StorageLevel.Service, Stack or Session; got 'tenant'",
    ],
    [{ cacheNullish: 'yes' }, "`cacheNullish` must be true or false; got 'yes'"],
    [{ singleFlight: 1 }, '`singleFlight` must be true or false; got number'],
    [{ strict: null }, '`strict` must be true or false; got null'],
    [{ onError: 'log' }, "`onError` must be a function; got 'log'"],
    [{ generationWindow: -1 }, '`generationWindow` must be a finite number of seconds ≥ 0; got -1'],
    [
      { generationWindow: 'soon' },
      "`generationWindow` must be a number of seconds or a string like '500ms', '30s', '5m', '1h', '7d'; got 'soon'",
    ],
    [
      { tags: ['user:1'] },
      '`tags` must be a function of the arguments returning the tags; got object',
    ],
    [{ context: { client: {} } }, '`context`.client must be a CacheClient'],
    [{ context: 'acme' }, '`context` must be an object with `client`, `stack`, `session`…'],
    ['fast', "cache options must be an object; got 'fast'"],
  ])('refuses %j', (options, message) => {
    expect(wrap(options)).toThrow(CacheConfigError);
    expect(wrap(options)).toThrow(message);
    // The decorator factory validates the same way, when the class is defined.
    expect(() => cache(options as CacheOptions)).toThrow(message);
  });

  it('refuses what is not a function, and anonymous functions without a string key', () => {
    expect(() => cached('nope' as never)).toThrow('`fn` must be a function; got string');
    expect(() => cached(async () => 1)).toThrow(
      'the name of a cached function (give it a name or pass a string `key`) must be a non-empty string',
    );
    expect(() => cached((async () => 1).bind(null))).toThrow(/must not contain whitespace/);
    expect(() => cached(async () => 1, { key: 'named' })).not.toThrow();
  });
});
