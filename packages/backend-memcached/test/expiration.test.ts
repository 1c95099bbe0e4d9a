// TTL and flush-delay conversion to memcached's numbers: pure functions, no server needed.
import { CacheErrorCode, MAX_TTL_SECONDS } from '@stowage/core';
import { describe, expect, it } from 'vitest';
import { RELATIVE_TTL_LIMIT, toExpiration, toFlushDelay } from '../src/expiration.js';

describe('toExpiration', () => {
  const now = Date.UTC(2030, 0, 1);

  it('sends seconds, fractions rounded up, 0 as no expiry, over 30 days as absolute Unix time', () => {
    expect(toExpiration(0, now)).toBe(0);
    expect(toExpiration(0.2, now)).toBe(1);
    expect(toExpiration(59.5, now)).toBe(60);
    expect(toExpiration(RELATIVE_TTL_LIMIT, now)).toBe(30 * 86_400);
    expect(toExpiration(RELATIVE_TTL_LIMIT + 1, now)).toBe(now / 1000 + 30 * 86_400 + 1);
  });

  it.each([-1, Number.NaN, Infinity, MAX_TTL_SECONDS + 1, '5' as never])(
    'refuses a TTL of %s with CacheValueError',
    (bad) => {
      expect(() => toExpiration(bad, now)).toThrow(
        expect.objectContaining({ code: CacheErrorCode.Value }) as Error,
      );
    },
  );
});

describe('toFlushDelay', () => {
  it('sends 0 as now and adds the second memcached takes off a delay', () => {
    expect(toFlushDelay(0)).toBe(0);
    expect(toFlushDelay(1)).toBe(2);
    expect(toFlushDelay(RELATIVE_TTL_LIMIT - 1)).toBe(RELATIVE_TTL_LIMIT);
  });

  it.each([-1, 0.5, RELATIVE_TTL_LIMIT, Number.NaN])(
    'refuses a delay of %s with CacheValueError',
    (bad) => {
      expect(() => toFlushDelay(bad)).toThrow(
        expect.objectContaining({ code: CacheErrorCode.Value }) as Error,
      );
    },
  );
});
