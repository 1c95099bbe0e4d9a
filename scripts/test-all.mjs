#!/usr/bin/env node
// The one command that runs every check: build, typecheck, lint, every package's vitest suite
// (against real memcached/redis-server started by the tests), and the packaging check.
// It ends with the plain line `N passed, N failed[, N skipped]` that CI reads, because CI does not
// read vitest's own summary. Exit code is non-zero when anything failed.
//
// Usage: node scripts/test-all.mjs [--only=<step,…>]  (steps: build,typecheck,lint,test,pack)
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const only = process.argv
  .find((arg) => arg.startsWith('--only='))
  ?.slice('--only='.length)
  .split(',');
const wants = (step) => only === undefined || only.includes(step);
const pnpm = process.env.npm_execpath?.includes('pnpm')
  ? [process.execPath, process.env.npm_execpath]
  : ['npx', '--yes', 'pnpm@10.34.9'];

let passed = 0;
let failed = 0;
let skipped = 0;
const failures = [];

function run(label, command, args, env = {}) {
  process.stdout.write(`\n=== ${label}: ${[command, ...args].join(' ')}\n`);
  const result = spawnSync(command, args, {
    cwd: root,
    stdio: 'inherit',
    env: { ...process.env, ...env },
  });
  return result.status === 0;
}

function check(label, ok) {
  if (ok) passed++;
  else {
    failed++;
    failures.push(label);
  }
}

function packagesWithScript(script) {
  const dirs = [];
  for (const group of ['packages', 'examples', 'bench', 'soak', 'e2e']) {
    const base = join(root, group);
    if (!existsSync(base)) continue;
    const candidates =
      group === 'bench' || group === 'soak' || group === 'e2e'
        ? [base]
        : readdirSync(base).map((name) => join(base, name));
    for (const dir of candidates) {
      const manifest = join(dir, 'package.json');
      if (!existsSync(manifest)) continue;
      const pkg = JSON.parse(readFileSync(manifest, 'utf8'));
      if (pkg.scripts?.[script] !== undefined) dirs.push({ dir, name: pkg.name });
    }
  }
  return dirs;
}

const turbo = (task, extra = []) => [
  ...pnpm.slice(1),
  'exec',
  'turbo',
  'run',
  task,
  '--continue',
  '--output-logs=errors-only',
  ...extra,
];

// 1. Build every package (tests import siblings from their dist).
if (wants('build') || wants('test') || wants('pack')) {
  check('build', run('build', pnpm[0], turbo('build')));
}
// 2. Types and lint, package by package; each failing package counts as one failed check.
if (wants('typecheck')) check('typecheck', run('typecheck', pnpm[0], turbo('typecheck')));
if (wants('lint')) {
  check('lint', run('lint', pnpm[0], turbo('lint')));
  check('format', run('format', pnpm[0], [...pnpm.slice(1), 'exec', 'prettier', '--check', '.']));
}

// 3. Every package's tests, one package at a time (fault tests are timing-sensitive on 2 cores),
//    each writing a JSON report that is counted here.
if (wants('test')) {
  for (const { dir } of packagesWithScript('test'))
    rmSync(join(dir, 'test-results.json'), { force: true });
  run('test', pnpm[0], turbo('test', ['--concurrency=1']), { STOWAGE_JSON_REPORT: '1' });
  for (const { dir, name } of packagesWithScript('test')) {
    const report = join(dir, 'test-results.json');
    if (!existsSync(report)) {
      check(`${name}: no test report (the test run crashed or was not started)`, false);
      continue;
    }
    const json = JSON.parse(readFileSync(report, 'utf8'));
    passed += json.numPassedTests ?? 0;
    failed += json.numFailedTests ?? 0;
    skipped += (json.numPendingTests ?? 0) + (json.numTodoTests ?? 0);
    if ((json.numFailedTests ?? 0) > 0) failures.push(`${name}: ${json.numFailedTests} failed`);
    if ((json.numTotalTests ?? 0) === 0) check(`${name}: ran no tests`, false);
    // A file that failed to load has no test results but counts as a failed suite.
    const brokenSuites = (json.testResults ?? []).filter(
      (suite) => suite.status === 'failed' && (suite.assertionResults ?? []).length === 0,
    );
    for (const suite of brokenSuites)
      check(`${name}: ${suite.name} failed to run: ${suite.message ?? ''}`, false);
  }
}

// 4. Packaging: pack every publishable package, install the tarballs in a fresh project outside
//    the workspace, and use them from ESM and CommonJS; publint and attw on each tarball.
if (wants('pack')) {
  const result = spawnSync(process.execPath, [join(root, 'scripts', 'pack-check.mjs'), '--json'], {
    cwd: root,
    stdio: ['ignore', 'pipe', 'inherit'],
    encoding: 'utf8',
  });
  const lines = result.stdout.trim().split('\n');
  let counted = false;
  for (const line of lines) {
    if (!line.startsWith('{')) {
      process.stdout.write(`${line}\n`);
      continue;
    }
    try {
      const summary = JSON.parse(line);
      if (summary.packCheck !== true) continue;
      counted = true;
      for (const item of summary.results) {
        process.stdout.write(
          `${item.ok ? 'ok  ' : 'FAIL'} pack: ${item.name}${item.ok ? '' : ` — ${item.detail}`}\n`,
        );
        check(`pack: ${item.name}`, item.ok);
      }
    } catch {
      process.stdout.write(`${line}\n`);
    }
  }
  if (!counted || result.status !== 0) check('pack: the packaging check did not finish', false);
}

if (failures.length > 0) {
  process.stdout.write('\nFailures:\n');
  for (const failure of failures) process.stdout.write(`  - ${failure}\n`);
}
process.stdout.write(
  `\n${passed} passed, ${failed} failed${skipped > 0 ? `, ${skipped} skipped` : ''}\n`,
);
process.exitCode = failed > 0 ? 1 : 0;
