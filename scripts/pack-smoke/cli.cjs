// Runs inside a fresh project that installed the packed tarballs with npm (scripts/pack-check.mjs).
// The CommonJS build of runCli loads the (ESM) backends with import().
const assert = require('node:assert/strict');
const { ExitCode, runCli } = require('@stowage/cli');

(async () => {
  const out = [];
  const io = {
    stdout: (text) => out.push(text),
    stderr: (text) => out.push(text),
    env: { CACHE_URL: 'memory://', CACHE_PREFIX: 'smoke' },
    isTTY: false,
  };
  assert.equal(await runCli(['delete', 'a', 'b', '--json'], io), ExitCode.Ok);
  assert.deepEqual(JSON.parse(out.join('')), { deleted: [], missing: ['smoke:a', 'smoke:b'] });
  console.log('cli CJS ok');
})().catch((error) => {
  console.error(error);
  process.exitCode = 1;
});
