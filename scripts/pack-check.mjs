#!/usr/bin/env node
// Proves a user can pick and install Stowage's packages alone: packs every publishable package,
// checks what its tarball and manifest carry (dist, LICENSE, README without links or references
// that only work inside this repository, repository/homepage/bugs), runs publint and attw on each
// tarball, installs the tarballs into a fresh project outside the workspace with npm, and runs
// every package's `scripts/pack-smoke/<package>.mjs` and `.cjs` there (ESM and CommonJS
// consumers). Then it sets up unit tests there as the decorator README says — vitest from the
// registry — and runs a test of a decorated service. With --json the last line is a JSON summary
// for scripts/test-all.mjs.
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
import { basename, join } from 'node:path';

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

// Where a user lands from npm: the manifest links and every link in a README must work outside the
// repository, so they are absolute and the same for every package.
const repositoryUrl = 'https://github.com/stowage/stowage';
const expectedMetadata = (dir) => ({
  repository: {
    type: 'git',
    url: `git+${repositoryUrl}.git`,
    directory: `packages/${basename(dir)}`,
  },
  homepage: `${repositoryUrl}/tree/main/packages/${basename(dir)}#readme`,
  bugs: { url: `${repositoryUrl}/issues` },
});

// What a tarball may hold: the build, and what npm packs whatever `files` says (package.json,
// README, LICENSE; CHANGELOG.md once changesets has versioned the package).
const shippable = /^package\/(dist\/.+|LICENSE|README\.md|CHANGELOG\.md|package\.json)$/;
const required = ['package/package.json', 'package/README.md', 'package/LICENSE'];

// A README is read on npm, where the repository's internal notes and relative links do not exist.
const referenceRules = [
  [/DESIGN\.md/, 'names the internal DESIGN.md'],
  [/research\//, 'points to the internal research notes'],
  [/\bissues? \d+/i, 'names an internal issue ("issue N")'],
  [/(^|[\s(])#\d+\b/m, 'names an internal issue ("#N")'],
  [/§/, 'cites a section (§) of a document the reader does not have'],
  [/\bF-\d+\b/, 'names an internal fault id (F-N)'],
];
// Links are looked for outside code, where `get [cacheContext](): …` is not one.
const linkRules = [
  [/\]\((?!https?:\/\/|#|mailto:)[^)]*\)/, 'has a relative link, broken on npm'],
  [/^[ \t]*\[[^\]\n]+\]:[ \t]*(?!https?:\/\/|#|mailto:)\S/m, 'has a relative link definition'],
];

/** The text with code blocks (indented ones in lists too) and code spans blanked out; newlines stay, so line numbers hold. */
function prose(text) {
  const blank = (code) => code.replace(/[^\n]/g, ' ');
  return text.replace(/^ *```[^\n]*\n[\s\S]*?^ *```/gm, blank).replace(/`[^`\n]*`/g, blank);
}

function readmeProblems(text) {
  const problems = [];
  const rules = [
    ...referenceRules.map((rule) => [text, ...rule]),
    ...linkRules.map((rule) => [prose(text), ...rule]),
  ];
  for (const [searched, pattern, why] of rules) {
    const global = new RegExp(pattern.source, `${pattern.flags.replace('g', '')}g`);
    for (const match of searched.matchAll(global)) {
      const line = searched.slice(0, match.index).split('\n').length;
      problems.push(`line ${line}: ${why}: ${text.split('\n')[line - 1]?.trim()}`);
    }
  }
  return problems;
}

const packages = readdirSync(join(root, 'packages'))
  .map((name) => join(root, 'packages', name))
  .filter((dir) => existsSync(join(dir, 'package.json')))
  .map((dir) => ({ dir, manifest: JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) }))
  .filter(({ manifest }) => manifest.private !== true);

// The unit-test setup the decorator and core READMEs give, word for word. `npm i -D vitest`
// alone brings vite 8, whose oxc transform does not lower TC39 decorators (oxc-project/oxc#9170):
// a test file using `@cache` fails to load with "SyntaxError: Invalid or unexpected token" and no
// file or line. Vite 7 transforms TypeScript with esbuild, which lowers them.
const testRecipe = 'npm install --save-dev vitest@4 vite@7';
const decoratedServiceTest = `import { CacheClient } from '@stowage/core';
import { createMemoryBackend } from '@stowage/backend-memory';
import { cache, cacheContext, type CacheContext } from '@stowage/decorator';
import { expect, it } from 'vitest';

const client = new CacheClient({ backend: createMemoryBackend(), prefix: 'rates' });

class RateService {
  calls = 0;
  constructor(private readonly tenant: string) {}
  get [cacheContext](): CacheContext {
    return { client, stack: this.tenant };
  }
  @cache({ ttl: '5m' })
  async rate(currency: string): Promise<number> {
    this.calls++;
    return currency === 'EUR' ? 1.08 : 1.27;
  }
}

it('runs a decorated method once per tenant and arguments', async () => {
  const acme = new RateService('acme');
  expect(await acme.rate('EUR')).toBe(1.08);
  expect(await acme.rate('EUR')).toBe(1.08);
  expect(acme.calls).toBe(1);
  const globex = new RateService('globex');
  expect(await globex.rate('EUR')).toBe(1.08);
  expect(globex.calls).toBe(1);
});
`;

/** Runs vitest in `app` and reads its JSON report: passed and total tests, and the load error. */
function runVitest(app) {
  const report = join(app, 'vitest-report.json');
  rmSync(report, { force: true });
  const run = sh(
    process.execPath,
    [
      join(app, 'node_modules', 'vitest', 'vitest.mjs'),
      'run',
      '--reporter=json',
      `--outputFile=${report}`,
    ],
    app,
  );
  if (!existsSync(report)) return { ok: false, passed: 0, total: 0, error: run.output };
  const summary = JSON.parse(readFileSync(report, 'utf8'));
  const error = (summary.testResults ?? []).map((suite) => suite.message ?? '').join('\n');
  return {
    ok: run.ok,
    passed: summary.numPassedTests ?? 0,
    total: summary.numTotalTests ?? 0,
    error: `${error}\n${run.output}`.trim(),
  };
}

function unitTestsAsDocumented(app) {
  for (const readme of ['decorator', 'core']) {
    const text = readFileSync(join(root, 'packages', readme, 'README.md'), 'utf8');
    record(
      `packages/${readme}/README.md gives the test setup \`${testRecipe}\``,
      text.includes(testRecipe),
    );
  }
  mkdirSync(join(app, 'test'));
  writeFileSync(join(app, 'test', 'rate-service.test.ts'), decoratedServiceTest);
  // A user's usual settings; TC39 decorators, not experimentalDecorators.
  writeFileSync(
    join(app, 'tsconfig.json'),
    JSON.stringify({
      compilerOptions: { target: 'ES2022', module: 'NodeNext', strict: true, skipLibCheck: true },
    }),
  );
  const npmInstall = (...specs) =>
    sh(
      'npm',
      ['install', '--save-dev', '--no-audit', '--no-fund', '--loglevel=error', ...specs],
      app,
    );

  // First what a user types without reading further: the latest vitest 4 and whatever vite it
  // picks. This is expected to fail; when vite starts lowering decorators it passes, and this
  // check fails so the pin is dropped from the READMEs instead of staying on as folklore.
  const latest = npmInstall('vitest@4');
  record('npm install --save-dev vitest@4 in the fresh project', latest.ok, latest.output);
  if (!latest.ok) return;
  // The vite vitest runs on; npm hoists it, the name only labels the result.
  const viteManifest = join(app, 'node_modules', 'vite', 'package.json');
  const vite = existsSync(viteManifest)
    ? JSON.parse(readFileSync(viteManifest, 'utf8'))
    : { version: '(not hoisted)' };
  const unpinned = runVitest(app);
  record(
    `vitest 4 with vite ${vite.version} fails to load a TC39-decorated test, as the READMEs say`,
    !unpinned.ok && unpinned.total === 0 && /Invalid or unexpected token/.test(unpinned.error),
    unpinned.ok
      ? `vite ${vite.version} now runs TC39 decorators: remove the vite@7 pin from the decorator and core READMEs and from this check`
      : unpinned.error,
  );

  // Then the recipe the READMEs give: the decorated test must load and pass.
  const pinned = npmInstall(...testRecipe.split(' ').slice(3));
  record(`${testRecipe} in the fresh project`, pinned.ok, pinned.output);
  if (!pinned.ok) return;
  const result = runVitest(app);
  record(
    'a TC39-decorated service test passes with the documented setup',
    result.ok && result.total === 1 && result.passed === 1,
    result.error,
  );
}

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
    const entries = contents.output.split('\n');
    const extra = entries.filter((path) => !shippable.test(path));
    const missing = [...required, 'package/dist/'].filter(
      (path) => !entries.some((entry) => entry.startsWith(path)),
    );
    record(
      `${manifest.name}: tarball ships dist, README.md, LICENSE and package.json only`,
      contents.ok && extra.length === 0 && missing.length === 0,
      [...extra.map((p) => `not allowed: ${p}`), ...missing.map((p) => `missing: ${p}`)].join('\n'),
    );
    // The copy in each package is what npm packs; it must not drift from the repository's.
    const license = sh('tar', ['-xzOf', file, 'package/LICENSE'], root);
    record(
      `${manifest.name}: LICENSE is the repository's`,
      license.ok && license.output === readFileSync(join(root, 'LICENSE'), 'utf8').trim(),
      license.ok ? `packages/${basename(dir)}/LICENSE differs from LICENSE` : license.output,
    );
    const readme = sh('tar', ['-xzOf', file, 'package/README.md'], root);
    const problems = readme.ok ? readmeProblems(readme.output) : ['no README.md in the tarball'];
    record(
      `${manifest.name}: README works outside the repository (absolute links, no internal references)`,
      problems.length === 0,
      problems.join('\n'),
    );
    const wanted = expectedMetadata(dir);
    const wrong = Object.entries(wanted)
      .filter(([field, value]) => JSON.stringify(manifest[field]) !== JSON.stringify(value))
      .map(([field, value]) => `${field}: want ${JSON.stringify(value)}`);
    record(
      `${manifest.name}: package.json has repository, homepage and bugs`,
      wrong.length === 0,
      wrong.join('\n'),
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
    unitTestsAsDocumented(app);
  }
} finally {
  rmSync(work, { recursive: true, force: true });
}

const failed = results.filter((r) => !r.ok).length;
if (json) log(JSON.stringify({ packCheck: true, results }));
else log(`\n${results.length - failed} passed, ${failed} failed`);
process.exitCode = failed > 0 ? 1 : 0;
