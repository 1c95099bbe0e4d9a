#!/usr/bin/env node
// Proves a user can pick and install Stowage's packages alone: packs every publishable package,
// runs publint and attw on each tarball, installs the tarballs into a fresh project outside the
// workspace with npm, and runs every package's `scripts/pack-smoke/<package>.mjs` and `.cjs` there (ESM
// and CommonJS consumers). With --json the last line is a JSON summary for scripts/test-all.mjs.
import { spawnSync } from 'node:child_process';
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const json = process.argv.includes('--json');
const pnpm = ['npx', '--yes', 'pnpm@10.34.9'];
const results = [];
const log = (text) => process.stdout.write(`${text}\n`);

function sh(command, args, cwd, extra = {}) {
  const result = spawnSync(command, args, {
    cwd,
    encoding: 'utf8',
    env: { ...process.env, ...extra },
  });
  return { ok: result.status === 0, output: `${result.stdout ?? ''}${result.stderr ?? ''}`.trim() };
}

function record(name, ok, detail = '') {
  results.push({ name, ok, detail: detail.slice(-2000) });
  if (!json) log(`${ok ? 'ok  ' : 'FAIL'} ${name}${ok ? '' : `\n${detail}`}`);
}

const packages = readdirSync(join(root, 'packages'))
  .map((name) => join(root, 'packages', name))
  .filter((dir) => existsSync(join(dir, 'package.json')))
  .map((dir) => ({ dir, manifest: JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) }))
  .filter(({ manifest }) => manifest.private !== true);

const work = mkdtempSync(join(tmpdir(), 'stowage-pack-'));
const tarballs = join(work, 'tarballs');
mkdirSync(tarballs);
try {
  const packed = [];
  for (const { dir, manifest } of packages) {
    if (!existsSync(join(dir, 'dist'))) {
      record(`${manifest.name}: built`, false, 'no dist/ — run the build first');
      continue;
    }
    const before = new Set(readdirSync(tarballs));
    const pack = sh(pnpm[0], [...pnpm.slice(1), 'pack', '--pack-destination', tarballs], dir);
    const tarball = readdirSync(tarballs).find((file) => !before.has(file));
    record(`${manifest.name}: pnpm pack`, pack.ok && tarball !== undefined, pack.output);
    if (tarball === undefined) continue;
    const file = join(tarballs, tarball);
    packed.push({ dir, manifest, file });
    const lint = sh(pnpm[0], [...pnpm.slice(1), 'exec', 'publint', 'run', '--strict', dir], root);
    record(`${manifest.name}: publint`, lint.ok, lint.output);
    const types = sh(
      pnpm[0],
      [...pnpm.slice(1), 'exec', 'attw', file, '--profile', 'node16', '--format', 'table-flipped'],
      root,
    );
    record(`${manifest.name}: attw (types resolve for ESM and CommonJS)`, types.ok, types.output);
    const contents = sh('tar', ['-tzf', file], root);
    const leaked = contents.output.split('\n').filter((path) => /\/(test|src)\//.test(path));
    record(
      `${manifest.name}: tarball ships dist only`,
      contents.ok && leaked.length === 0,
      leaked.join('\n'),
    );
  }

  // A fresh project outside the workspace, installed from the tarballs with plain npm.
  const app = join(work, 'app');
  mkdirSync(app);
  writeFileSync(
    join(app, 'package.json'),
    JSON.stringify({ name: 'stowage-pack-check', private: true, version: '1.0.0' }),
  );
  const installable = packed.filter(({ manifest }) => manifest.name !== '@stowage/conformance');
  const install = sh(
    'npm',
    [
      'install',
      '--no-audit',
      '--no-fund',
      '--loglevel=error',
      ...installable.map(({ file }) => file),
    ],
    app,
  );
  record('npm install of the tarballs into a fresh project', install.ok, install.output);
  if (install.ok) {
    // The smoke scripts test the installed set, not one package: they live outside the packages,
    // one pair per package (`<package directory>.mjs` / `.cjs`).
    const smokeDir = join(root, 'scripts', 'pack-smoke');
    for (const { dir, manifest } of installable) {
      const base = dir.split('/').at(-1);
      for (const script of [`${base}.mjs`, `${base}.cjs`]) {
        // A missing script is a failure, not a skip: a new package must not pass unsmoked.
        if (!existsSync(join(smokeDir, script))) {
          record(`${manifest.name}: scripts/pack-smoke/${script} exists`, false, 'no smoke script');
          continue;
        }
        const target = join(app, script);
        cpSync(join(smokeDir, script), target);
        const run = sh(process.execPath, [target], app);
        record(`${manifest.name}: ${script} runs from the installed tarball`, run.ok, run.output);
      }
    }
  }
} finally {
  rmSync(work, { recursive: true, force: true });
}

const failed = results.filter((r) => !r.ok).length;
if (json) log(JSON.stringify({ packCheck: true, results }));
else log(`\n${results.length - failed} passed, ${failed} failed`);
process.exitCode = failed > 0 ? 1 : 0;
