// Command-line mistakes: each one exits with code 2 and a message that names the mistake and
// the fix, before anything is opened (no server runs for these tests; the URLs point nowhere).
import { describe, expect, it } from 'vitest';
import { stowage } from './helpers.js';

const NOWHERE = { CACHE_URL: 'memcached://127.0.0.1:1' };

describe('usage errors exit 2 before any I/O', () => {
  it.each([
    [['inspect', 'k', '--nope'], "Unknown option '--nope'"],
    [['frobnicate'], "unknown command 'frobnicate'"],
    [['get'], 'get takes one KEY; got none'],
    [['get', 'a', 'b'], "get takes one KEY; got 'a' 'b'"],
    [['stats', 'extra'], 'stats takes no arguments'],
    [
      ['get', 'k', '--level', 'tenantish', '--scope', 'x'],
      "--level must be service, stack or session; got 'tenantish'",
    ],
    [['get', 'k', '--level', 'stack'], '--level stack needs --scope <stack id>'],
    [['get', 'k', '--scope', 'acme'], '--scope and --stack need --level'],
    [
      ['get', 'k', '--level', 'stack', '--scope', 'a', '--stack', 'b'],
      '--stack names the tenant of a session',
    ],
    [['inspect', 'k', '--raw', 'octal'], "--raw takes hex or base64; got 'octal'"],
    [['get', 'k', '--timeout', '1.5s'], '--timeout takes a whole number of milliseconds'],
    [['get', 'two words'], 'whitespace'],
    [['flush'], "run 'stowage flush --yes' if you mean it"],
  ])('stowage %j', async (args, message) => {
    const run = await stowage(args, NOWHERE);
    expect(run.code).toBe(2);
    expect(run.stdout).toBe('');
    expect(run.stderr).toContain(message);
  });

  it('asks for a URL when neither --url nor CACHE_URL is set', async () => {
    const run = await stowage(['get', 'k']);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('set CACHE_URL or pass --url');
  });

  it('names an unsupported URL scheme', async () => {
    const run = await stowage(['get', 'k', '--url', 'mongodb://db:27017']);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain("scheme 'mongodb:' is not supported");
  });

  it('prints help with examples, per command and overall, exit 0', async () => {
    const help = await stowage(['inspect', '--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('Usage: stowage inspect KEY');
    expect(help.stdout).toContain('Examples:');
    expect(help.stdout).toContain('--level LEVEL');
    const overview = await stowage(['--help']);
    expect(overview.code).toBe(0);
    for (const name of ['inspect', 'get', 'delete', 'stats', 'flush'])
      expect(overview.stdout).toContain(`  ${name} `);
    const none = await stowage([]);
    expect(none.code).toBe(2);
    expect(none.stderr).toContain('Usage: stowage COMMAND');
  });
});

describe('errors', () => {
  it('exits 1 when the server is unreachable, without printing the password or the encryption key', async () => {
    const run = await stowage(['get', 'k', '--timeout', '300'], {
      CACHE_URL: 'redis://app:S3CRET-PASSWORD@127.0.0.1:1',
      CACHE_ENCRYPTION_KEY: 'TOP-SECRET-PASSPHRASE',
    });
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/^stowage get: /);
    expect(run.stdout + run.stderr).not.toContain('S3CRET-PASSWORD');
    expect(run.stdout + run.stderr).not.toContain('TOP-SECRET-PASSPHRASE');
  });

  it('refuses stats on the in-process memory backend, saying which URLs have servers', async () => {
    const run = await stowage(['stats', '--url', 'memory://']);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('use a memcached:// or redis:// URL');
  });
});
