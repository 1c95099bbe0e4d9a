// A redis:// URL that fails to parse must not put its password into the error (it once did).
import { CacheConfigError } from '@stowage/core';
import { describe, expect, it } from 'vitest';
import { parseRedisUrl } from '../src/redis-url.js';

describe('redis:// URL safety', () => {
  it.each([['redis://app:S3CRET@h1:99999'], ['rediss://app:S3CRET@[::1']])(
    'never quotes the password of %j in its error',
    (text) => {
      let caught: unknown;
      try {
        parseRedisUrl(text);
      } catch (error) {
        caught = error;
      }
      expect(caught).toBeInstanceOf(CacheConfigError);
      const error = caught as Error & { cause?: unknown };
      expect(`${error.message} ${String(error.cause)}`).not.toContain('S3CRET');
      expect(error.message).toContain('app:***@');
    },
  );
});
