import { describe, expect, it } from 'vitest';
import {
  CacheBackendError,
  CacheConfigError,
  CacheError,
  CacheErrorCode,
  CacheKeyError,
  CacheTimeoutError,
  isCacheError,
} from '../src/index.js';

describe('isCacheError', () => {
  it('matches Stowage errors and their codes', () => {
    const error = new CacheKeyError('bad key', 'a b');
    expect(isCacheError(error)).toBe(true);
    expect(isCacheError(error, CacheErrorCode.Key)).toBe(true);
    expect(isCacheError(error, CacheErrorCode.Value)).toBe(false);
    expect(error).toBeInstanceOf(CacheError);
    expect(error.name).toBe('CacheKeyError');
  });

  it('matches an error from a second copy of the package by name and code', () => {
    const foreign = Object.assign(new Error('from another copy'), {
      name: 'CacheConfigError',
      code: 'E_CACHE_CONFIG',
    });
    expect(foreign).not.toBeInstanceOf(CacheConfigError);
    expect(isCacheError(foreign, CacheErrorCode.Config)).toBe(true);
  });

  it('rejects look-alikes with unknown codes or other names', () => {
    expect(
      isCacheError(Object.assign(new Error('x'), { name: 'CacheError', code: 'E_OTHER' })),
    ).toBe(false);
    expect(
      isCacheError(Object.assign(new Error('x'), { name: 'TypeError', code: 'E_CACHE_KEY' })),
    ).toBe(false);
    expect(isCacheError(null)).toBe(false);
    expect(isCacheError('E_CACHE_KEY')).toBe(false);
  });

  it('makes timeouts backend errors with their own code, indeterminate for writes', () => {
    const timeout = new CacheTimeoutError('slow', {
      backend: 'memcached',
      operation: 'set',
      key: 'k',
      indeterminate: true,
      timeoutMs: 5,
    });
    expect(timeout).toBeInstanceOf(CacheBackendError);
    expect(timeout.code).toBe(CacheErrorCode.Timeout);
    expect(timeout.indeterminate).toBe(true);
    expect(timeout.timeoutMs).toBe(5);
  });
});
