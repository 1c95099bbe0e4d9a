// A memcached:// URL with a path used to be silently accepted (the path ignored), and a URL
// that failed to parse put its password into the error.
import { CacheConfigError } from '@stowage/core';
import { describe, expect, it } from 'vitest';
import { createBackendFromUrl } from '../src/index.js';

function failure(run: () => unknown): Error {
  try {
    run();
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected a throw');
}

describe('memcached:// URL safety', () => {
  it.each([['memcached://h1:11211/0'], ['memcached://h1:11211/app']])(
    'refuses a path in %j instead of ignoring it',
    (text) => {
      const error = failure(() => createBackendFromUrl(new URL(text)));
      expect(error).toBeInstanceOf(CacheConfigError);
      expect(error.message).toMatch(/no path/);
    },
  );

  it('refuses a path in a string URL with a server list', () => {
    const error = failure(() => createBackendFromUrl('memcached://h1:11211,h2:11211/0'));
    expect(error).toBeInstanceOf(CacheConfigError);
    expect(error.message).toMatch(/no path/);
  });

  it('never quotes the password of a URL it refuses', () => {
    for (const text of ['memcached://app:S3CRET@h1:11211/0', 'memcached://app:S3CRET@h1 x']) {
      const error = failure(() =>
        text.includes(' ') ? createBackendFromUrl(text) : createBackendFromUrl(new URL(text)),
      );
      expect(error).toBeInstanceOf(CacheConfigError);
      expect(error.message).not.toContain('S3CRET');
    }
    const withPath = failure(() => createBackendFromUrl(new URL('memcached://app:S3CRET@h1/0')));
    expect(withPath.message).toContain('app:***@');
  });
});
