// Runs inside a fresh project that installed the packed tarballs with npm (scripts/pack-check.mjs).
// The `stowage` bin npm linked from the tarball runs, and its backends resolve from the install.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { ExitCode, runCli } from '@stowage/cli';

const bin = join(process.cwd(), 'node_modules', '.bin', 'stowage');
const help = spawnSync(bin, ['--help'], { encoding: 'utf8' });
assert.equal(help.status, 0, help.stderr);
assert.match(help.stdout, /stowage inspect|inspect {2}/);

const missing = spawnSync(bin, ['get', 'nothing-here', '--url', 'memory://', '--json'], {
  encoding: 'utf8',
});
assert.equal(missing.status, 3, missing.stderr);
assert.deepEqual(JSON.parse(missing.stdout), {
  key: 'nothing-here',
  fullKey: 'nothing-here',
  found: false,
});

const out = [];
const code = await runCli(['flush'], {
  stdout: (text) => out.push(text),
  stderr: (text) => out.push(text),
  env: { CACHE_URL: 'memory://' },
  isTTY: false,
});
assert.equal(code, ExitCode.Usage);
assert.match(out.join(''), /--yes/);
console.log('cli ESM ok');
