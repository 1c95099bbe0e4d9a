// Starts the compiled HTTP example on a free port on 127.0.0.1 and talks to it over real HTTP.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '@stowage/testkit';

const entry = fileURLToPath(new URL('../dist/http-server.js', import.meta.url));
let child: ChildProcess;
let base: string;
let stderr = '';

beforeAll(async () => {
  const port = await freePort();
  child = spawn(process.execPath, [entry], {
    env: { ...process.env, PORT: String(port), HOST: '127.0.0.1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  let stdout = '';
  child.stdout!.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  const started = Date.now();
  while (!stdout.includes('listening on')) {
    if (child.exitCode !== null) throw new Error(`server exited: ${stderr}`);
    if (Date.now() - started > 15_000) throw new Error(`server did not start: ${stderr}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  base = `http://127.0.0.1:${port}`;
});

afterAll(async () => {
  if (child.exitCode === null) {
    const exited = once(child, 'exit');
    child.kill('SIGTERM');
    await exited;
  }
});

async function get(
  path: string,
  tenant?: string,
  session?: string,
): Promise<Record<string, unknown>> {
  const headers: Record<string, string> = {};
  if (tenant !== undefined) headers['x-tenant'] = tenant;
  if (session !== undefined) headers['x-session'] = session;
  const response = await fetch(`${base}${path}`, { headers });
  expect(response.status).toBe(200);
  return (await response.json()) as Record<string, unknown>;
}

describe('HTTP service with a per-request cache scope', () => {
  it('serves a session its own cached profile', async () => {
    const first = await get('/profile', 'acme', 's1');
    const second = await get('/profile', 'acme', 's1');
    expect(first).toEqual({ tenant: 'acme', session: 's1', greeting: 'hello s1', version: 1 });
    expect(second).toEqual(first);
  });

  it('never serves one tenant or session another one’s data, under concurrent requests', async () => {
    const users = [
      ['acme', 's1'],
      ['acme', 's2'],
      ['globex', 's3'],
      ['globex', 's4'],
    ] as const;
    const requests = [];
    for (let round = 0; round < 5; round++) {
      for (const [tenant, session] of users) {
        requests.push(
          get('/profile', tenant, session).then((body) => ({ tenant, session, body })),
          get('/plan', tenant, session).then((body) => ({ tenant, session, body })),
        );
      }
    }
    for (const { tenant, session, body } of await Promise.all(requests)) {
      expect(body['tenant']).toBe(tenant);
      if ('session' in body) expect(body['session']).toBe(session);
    }
    const stats = await get('/stats');
    // s1 was cached by the previous test; three new sessions and two tenants computed once each.
    expect(stats).toMatchObject({ profile: 4, plan: 2 });
  });

  it('refreshes one tenant’s plans without touching the other’s', async () => {
    const acmeBefore = await get('/plan', 'acme');
    const globexBefore = await get('/plan', 'globex');
    const response = await fetch(`${base}/plan/refresh`, {
      method: 'POST',
      headers: { 'x-tenant': 'acme' },
    });
    expect(await response.json()).toEqual({ refreshed: true });
    const acmeAfter = await get('/plan', 'acme');
    expect(acmeAfter['version']).not.toBe(acmeBefore['version']);
    expect(await get('/plan', 'globex')).toEqual(globexBefore);
  });

  it('shares Service-level entries across tenants', async () => {
    const acme = await get('/rates/EUR', 'acme');
    const globex = await get('/rates/EUR', 'globex');
    expect(globex).toEqual(acme);
    expect((await get('/stats'))['rates']).toBe(1);
  });

  it('runs uncached without a tenant and reports it once, never sharing another scope', async () => {
    const before = (await get('/stats'))['plan'] as number;
    const first = await get('/plan');
    const second = await get('/plan');
    expect(first['tenant']).toBeUndefined();
    expect(second['version']).toBe((first['version'] as number) + 1);
    expect((await get('/stats'))['plan']).toBe(before + 2);
    expect(
      stderr.match(/CacheScopeError: ProfileService\.plan: Stack level needs `scope\.stack`/g),
    ).toHaveLength(1);
  });
});
