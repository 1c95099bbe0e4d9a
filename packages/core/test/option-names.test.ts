// Options nobody reads are refused before any I/O, naming what to use: a Q2 port or a typo must
// not run believing it has a setting it does not.
import { RecordingBackend } from '@stowage/testkit';
import { describe, expect, it } from 'vitest';
import { CacheClient, CacheConfigError, getCache } from '../src/index.js';

const build = (extra: Record<string, unknown>): CacheClient =>
  new CacheClient({ backend: new RecordingBackend(), ...extra });

describe('unknown options', () => {
  it.each([
    ['cachemockParams', { foo: 1 }, /CacheClient has no option `cachemockParams`: .*memory:\/\//],
    ['cachemock_params', {}, /no option `cachemock_params`: .*in-memory backend/],
    ['timeout', 60, /`defaultTtl` for the default time to live, or `timeoutMs`/],
    ['expire', 60, /use `defaultTtl`/],
    ['encryption_key', 'k', /did you mean `encryptionKey`\?/],
    ['timeoutMS', 5, /did you mean `timeoutMs`\?/],
    ['local_path', '/tmp/x', /did you mean `localPath`\?/],
    ['prefx', 'app', /the options are `backend`, `prefix`, /],
    ['constructor', 1, /no option `constructor`: the options are `backend`/],
  ])('refuses %s with a CacheConfigError naming what to use', (name, value, message) => {
    const attempt = (): CacheClient => build({ [name]: value });
    expect(attempt).toThrow(CacheConfigError);
    expect(attempt).toThrow(message);
  });

  it('takes an option set to undefined as left out', () => {
    expect(build({ somethingElse: undefined }).keyPrefix).toBe('');
  });

  it('refuses unknown getCache options before loading any backend', async () => {
    let loaded = 0;
    const load = async (): Promise<unknown> => {
      loaded++;
      return {};
    };
    await expect(
      getCache({ cachemockParams: {}, env: {}, loadBackendModule: load } as never),
    ).rejects.toThrow(/getCache has no option `cachemockParams`/);
    await expect(getCache({ urll: 'memory://', env: {} } as never)).rejects.toThrow(
      /getCache has no option `urll`: the options are .*`url`/,
    );
    expect(loaded).toBe(0);
  });

  it("keeps getCache's own options (url, env, loadBackendModule) away from the client", async () => {
    const backend = new RecordingBackend();
    const client = await getCache({
      url: 'memory://',
      env: { CACHE_PREFIX: 'svc' },
      loadBackendModule: async () => ({ createBackendFromUrl: () => backend }),
    });
    expect(client.keyPrefix).toBe('svc:');
    expect(client.backend).toBe(backend);
    await client.close();
  });
});
