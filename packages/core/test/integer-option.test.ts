import { describe, expect, it } from 'vitest';
import { integerOption } from '../src/backend/kit.js';
import { CacheConfigError } from '../src/index.js';

describe('integerOption', () => {
  it('returns the value, or the fallback when the value is undefined', () => {
    expect(integerOption(5, 'size', 10)).toBe(5);
    expect(integerOption(undefined, 'size', 10)).toBe(10);
  });

  it('accepts the bounds themselves', () => {
    expect(integerOption(0, 'retries', 1, { min: 0 })).toBe(0);
    expect(integerOption(100, 'batch', 1, { max: 100 })).toBe(100);
  });

  it.each([
    [0, {}, /`n` must be a positive integer; got 0/],
    [1.5, {}, /`n` must be a positive integer; got 1.5/],
    ['3', {}, /`n` must be a positive integer; got 3/],
    [Number.NaN, {}, /`n` must be a positive integer; got NaN/],
    [2 ** 53, {}, /`n` must be a positive integer/],
    [-1, { min: 0 }, /`n` must be an integer ≥ 0; got -1/],
    [101, { max: 100 }, /`n` must be an integer from 1 to 100; got 101/],
  ])('rejects %s with a CacheConfigError naming the option', (value, range, message) => {
    expect(() => integerOption(value, 'n', 1, range)).toThrow(CacheConfigError);
    expect(() => integerOption(value, 'n', 1, range)).toThrow(message);
  });
});
