// Starts the compiled service (CommonJS, built by tsc with legacy decorators and design-type
// metadata, as the Nest CLI builds an app) on a free port of 127.0.0.1 and talks to it over HTTP:
// once on the memory backend, once on a real memcached started for this file and stopped by PID.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, hasBinary, startMemcached, type ServerHandle } from '@stowage/testkit';

const entry = join(__dirname, '..', 'dist', 'main.js');

interface Service {
  readonly base: string;
  /** GET or DELETE `path` as `tenant`; resolves the status, the JSON body and the time taken. */
  call(path: string, tenant?: string, method?: string): Promise<Answer>;
  stop(): Promise<string | number | null>;
}

interface Answer {
  readonly status: number;
  readonly body: Record<string, unknown>;
  readonly ms: number;
}

async function startService(env: Record<string, string>): Promise<Service> {
  const port = await freePort();
  const child: ChildProcess = spawn(process.execPath, [entry], {
    env: { ...process.env, ...env, HOST: '127.0.0.1', PORT: String(port), LOOKUP_DELAY_MS: '150' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const started = Date.now();
  while (!output.includes('listening on')) {
    if (child.exitCode !== null || Date.now() - started > 15_000) {
      child.kill('SIGKILL');
      throw new Error(`the service did not start: ${output}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  const base = `http://127.0.0.1:${port}`;
  return {
    base,
    async call(path, tenant, method = 'GET') {
      const begun = performance.now();
      const response = await fetch(`${base}${path}`, {
        method,
        headers: tenant === undefined ? {} : { 'x-tenant': tenant },
      });
      const body = (await response.json()) as Record<string, unknown>;
      return { status: response.status, body, ms: performance.now() - begun };
    },
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) {
        return child.exitCode ?? child.signalCode;
      }
      const exited = once(child, 'exit');
      child.kill('SIGTERM');
      const [code, signal] = (await exited) as [number | null, string | null];
      return code ?? signal;
    },
  };
}

function behaves(env: () => Record<string, string>): void {
  let service: Service;
  beforeAll(async () => {
    service = await startService(env());
  });
  afterAll(async () => {
    await service?.stop();
  });

  it('computes a plan once per tenant and serves it from the cache after', async () => {
    const first = await service.call('/plans/gold', 'acme');
    expect(first).toMatchObject({ status: 200, body: { id: 'gold', tenant: 'acme' } });
    expect(first.ms).toBeGreaterThanOrEqual(140);
    const again = await service.call('/plans/gold', 'acme');
    expect(again.body).toEqual(first.body);
    expect(again.ms).toBeLessThan(140);
    const other = await service.call('/plans/gold', 'globex');
    expect(other.body).toMatchObject({ id: 'gold', tenant: 'globex' });
    expect(other.body['computedAt']).not.toBe(first.body['computedAt']);
    expect((await service.call('/plans/gold', 'globex')).body).toEqual(other.body);
  });

  it("busts one tenant's entry without touching the other's", async () => {
    const acme = (await service.call('/plans/silver', 'acme')).body;
    const globex = (await service.call('/plans/silver', 'globex')).body;
    const bust = await service.call('/plans/silver', 'acme', 'DELETE');
    expect(bust.body).toEqual({ deleted: true });
    expect((await service.call('/plans/silver', 'acme')).body['computedAt']).not.toBe(
      acme['computedAt'],
    );
    expect((await service.call('/plans/silver', 'globex')).body).toEqual(globex);
  });

  it('refuses a request without a tenant', async () => {
    const refused = await service.call('/plans/gold');
    expect(refused).toMatchObject({ status: 400, body: { statusCode: 400 } });
  });

  it('stops on SIGTERM', async () => {
    expect(await service.stop()).toBe('SIGTERM');
  });
}

describe('the NestJS example on the memory backend', () => {
  behaves(() => ({ CACHE_URL: 'memory://' }));
});

describe.runIf(hasBinary('memcached'))('the NestJS example on a real memcached', () => {
  let memcached: ServerHandle;
  beforeAll(async () => {
    memcached = await startMemcached();
  });
  afterAll(async () => {
    await memcached?.stop();
  });
  behaves(() => ({ CACHE_URL: `memcached://${memcached.address}` }));
});
