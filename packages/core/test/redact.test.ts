import { describe, expect, it } from 'vitest';
import { redactUrl } from '../src/index.js';

describe('redactUrl', () => {
  it.each([
    ['redis://app:S3CRET@h1:6379/0', 'redis://app:***@h1:6379/0'],
    ['redis://app:S3CRET@h1:99999', 'redis://app:***@h1:99999'],
    ['memcached://u:p@h1:11211,h2:11211', 'memcached://u:***@h1:11211,h2:11211'],
    ['rediss://:only-password@h1', 'rediss://:***@h1'],
    ['redis://user-only@h1', 'redis://user-only@h1'],
    ['redis://h1:6379/0?x=a@b', 'redis://h1:6379/0?x=a@b'],
    ['not a url', 'not a url'],
  ])('redacts %j', (input, expected) => {
    expect(redactUrl(input)).toBe(expected);
  });

  it('accepts a URL object', () => {
    expect(redactUrl(new URL('redis://app:S3CRET@h1:6379'))).toBe('redis://app:***@h1:6379');
  });
});
