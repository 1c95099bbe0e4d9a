// Runs the compiled demo of the options and instance styles and checks what it reports.
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { expect, it } from 'vitest';

it('caches through the options and the instance, and reports a missing session', async () => {
  const entry = fileURLToPath(new URL('../dist/main.js', import.meta.url));
  const { stdout, stderr } = await promisify(execFile)(process.execPath, [entry], {
    timeout: 15_000,
  });
  expect(stdout).toContain('3 + 10 lookups, upstream calls: 2');
  expect(stdout).toContain('acme sees acme-1, acme-2');
  expect(stdout).toContain('globex sees globex-1, globex-2');
  expect(stdout).toContain('upstream account calls: 2\n');
  expect(stdout).toContain("after invalidate(acme, 'accounts'): upstream account calls: 3");
  expect(stdout).toContain('upstream activity calls: 2, warnings: 1');
  expect(stdout).toMatch(/demo:stack=acme:AccountHandler\.accounts:v[\w-]{8}\n/);
  expect(stderr).toContain(
    'CacheScopeError: AccountHandler.recentActivity: Session level needs `scope.session`',
  );
});
