// Starts the compiled service on free ports of 127.0.0.1, sends a few requests, and reads back
// what a user would see: the spans the console exporter printed and the Prometheus endpoint.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, hasBinary, startMemcached, type ServerHandle } from '@stowage/testkit';

const entry = fileURLToPath(new URL('../dist/main.js', import.meta.url));

interface Service {
  readonly base: string;
  readonly metricsUrl: string;
  readonly output: () => string;
  stop(): Promise<number | null>;
}

async function startService(env: Record<string, string>): Promise<Service> {
  const [port, metricsPort] = [await freePort(), await freePort()];
  const child: ChildProcess = spawn(process.execPath, [entry], {
    env: {
      ...process.env,
      ...env,
      HOST: '127.0.0.1',
      PORT: String(port),
      METRICS_PORT: String(metricsPort),
      LOOKUP_DELAY_MS: '40',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  await waitFor(
    () => stdout.includes('listening on'),
    () => `the service did not start: ${stderr}`,
    child,
  );
  return {
    base: `http://127.0.0.1:${port}`,
    metricsUrl: `http://127.0.0.1:${metricsPort}/metrics`,
    output: () => stdout,
    async stop() {
      if (child.exitCode !== null) return child.exitCode;
      const exited = once(child, 'exit');
      child.kill('SIGTERM');
      const [code] = (await exited) as [number | null];
      return code;
    },
  };
}

async function waitFor(
  done: () => boolean,
  why: () => string,
  child?: ChildProcess,
  ms = 10_000,
): Promise<void> {
  const started = Date.now();
  while (!done()) {
    if (child?.exitCode != null) throw new Error(`exited early: ${why()}`);
    if (Date.now() - started > ms) throw new Error(why());
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** One span as ConsoleSpanExporter prints it (`console.dir` of its export info). */
interface PrintedSpan {
  readonly name: string;
  readonly traceId: string;
  readonly id: string;
  readonly parentId: string | undefined;
  readonly attributes: Readonly<Record<string, string | number | boolean>>;
}

/** Reads the spans back from the console output: each is a `{ … }` block starting a line. */
function printedSpans(output: string): PrintedSpan[] {
  return output
    .split(/^\{$/m)
    .slice(1)
    .map((block) => {
      const field = (name: string): string | undefined =>
        new RegExp(`^  ${name}: '([^']*)'`, 'm').exec(block)?.[1];
      const parent = /^ {2}parentSpanContext: \{\s*traceId: '(\w+)',\s*spanId: '(\w+)'/m.exec(
        block,
      );
      const section = /^ {2}attributes: \{([\s\S]*?)\}[,\n]/m.exec(block)?.[1] ?? '';
      const attributes: Record<string, string | number | boolean> = {};
      for (const [, key, raw] of section.matchAll(/'([\w.]+)': ('[^']*'|[\d.]+|true|false)/g)) {
        attributes[key!] = raw!.startsWith("'")
          ? raw!.slice(1, -1)
          : raw === 'true' || raw === 'false'
            ? raw === 'true'
            : Number(raw);
      }
      return {
        name: field('name') ?? '',
        traceId: field('traceId') ?? '',
        id: field('id') ?? '',
        parentId: parent?.[2],
        attributes,
      };
    });
}

/** Sum of the samples of `metric` whose labels include every `label="value"` given. */
function metricValue(text: string, metric: string, labels: Record<string, string>): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    const match = /^(\w+)\{([^}]*)\} (\S+)$/.exec(line);
    if (match?.[1] !== metric) continue;
    if (Object.entries(labels).every(([key, value]) => match[2]!.includes(`${key}="${value}"`))) {
      sum += Number(match[3]);
    }
  }
  return sum;
}

async function request(
  base: string,
  path: string,
  method = 'GET',
): Promise<{ cache: string | null; body: Record<string, unknown> }> {
  const response = await fetch(`${base}${path}`, { method });
  expect(response.status).toBe(200);
  return {
    cache: response.headers.get('x-cache'),
    body: (await response.json()) as Record<string, unknown>,
  };
}

/** The same requests on every backend; returns what the test checks afterwards. */
async function exercise(service: Service): Promise<void> {
  const first = await request(service.base, '/products/42');
  const second = await request(service.base, '/products/42');
  expect([first.cache, second.cache]).toEqual(['miss', 'hit']);
  expect(second.body).toEqual(first.body);
  // Four concurrent misses on one key share one lookup.
  const together = await Promise.all(
    Array.from({ length: 4 }, () => request(service.base, '/products/7')),
  );
  expect(together.filter((r) => r.cache === 'miss')).toHaveLength(1);
  expect((await request(service.base, '/products/42', 'DELETE')).body).toEqual({ deleted: true });
  expect((await request(service.base, '/products/42')).cache).toBe('miss');
}

const SERVER_SPANS = 8;

function checkSpans(spans: readonly PrintedSpan[], dbSystem: string): void {
  const servers = spans.filter((s) => s.name.endsWith('/products/:id'));
  const byId = new Map(spans.map((s) => [s.id, s]));
  const cacheSpans = spans.filter((s) => s.name.startsWith('stowage '));
  expect(servers).toHaveLength(SERVER_SPANS);
  // Every cache span sits in a request's trace: a getOrSet or delete under the server span, a
  // factory run under its getOrSet.
  for (const span of cacheSpans) {
    const parent = byId.get(span.parentId ?? '');
    expect(parent, `${span.name} has no printed parent`).toBeDefined();
    expect(parent!.traceId).toBe(span.traceId);
    if (span.name === 'stowage factory') expect(parent!.name).toBe('stowage getOrSet');
    else expect(servers).toContain(parent);
  }
  const getOrSets = cacheSpans.filter((s) => s.name === 'stowage getOrSet');
  expect(getOrSets).toHaveLength(7);
  for (const span of getOrSets) {
    expect(span.attributes).toMatchObject({
      'db.system.name': dbSystem,
      'db.operation.name': 'getOrSet',
    });
  }
  const outcomes = getOrSets.map((s) => s.attributes['stowage.outcome']);
  expect(outcomes.filter((o) => o === 'miss').length).toBeGreaterThanOrEqual(3);
  expect(outcomes).toContain('hit');
  expect(cacheSpans.filter((s) => s.name === 'stowage factory')).toHaveLength(3);
  expect(cacheSpans.filter((s) => s.name === 'stowage delete')).toHaveLength(1);
}

async function checkMetrics(metricsUrl: string, dbSystem: string): Promise<void> {
  const response = await fetch(metricsUrl);
  expect(response.status).toBe(200);
  const text = await response.text();
  const system = { db_system_name: dbSystem };
  const getOrSet = { ...system, db_operation_name: 'getOrSet' };
  expect(metricValue(text, 'db_client_operation_duration_count', getOrSet)).toBe(7);
  expect(metricValue(text, 'stowage_client_factory_duration_count', system)).toBe(3);
  expect(metricValue(text, 'stowage_client_hits_total', getOrSet)).toBeGreaterThanOrEqual(1);
  expect(metricValue(text, 'stowage_client_misses_total', getOrSet)).toBeGreaterThanOrEqual(3);
  expect(
    metricValue(text, 'db_client_operation_duration_count', {
      ...system,
      db_operation_name: 'delete',
    }),
  ).toBe(1);
}

describe('on the memory backend (the default)', () => {
  let service: Service;
  beforeAll(async () => {
    service = await startService({ CACHE_URL: '' });
  });
  afterAll(async () => {
    await service?.stop();
  });

  it('prints nested spans and serves the stowage metrics to Prometheus', async () => {
    await exercise(service);
    await waitFor(
      () =>
        printedSpans(service.output()).filter((s) => s.name.endsWith('/products/:id')).length >=
        SERVER_SPANS,
      () => `the server spans were not all printed:\n${service.output()}`,
    );
    checkSpans(printedSpans(service.output()), 'stowage.memory');
    await checkMetrics(service.metricsUrl, 'stowage.memory');
    // SIGTERM shuts down cleanly: requests, cache, then telemetry.
    expect(await service.stop()).toBe(0);
  });
});

describe.runIf(hasBinary('memcached'))('on memcached (CACHE_URL)', () => {
  let memcached: ServerHandle;
  let service: Service;
  beforeAll(async () => {
    memcached = await startMemcached();
    service = await startService({ CACHE_URL: `memcached://${memcached.address}` });
  });
  afterAll(async () => {
    await service?.stop();
    await memcached?.stop();
  });

  it('names the system and the server on every cache span', async () => {
    await exercise(service);
    await waitFor(
      () =>
        printedSpans(service.output()).filter((s) => s.name.endsWith('/products/:id')).length >=
        SERVER_SPANS,
      () => `the server spans were not all printed:\n${service.output()}`,
    );
    const spans = printedSpans(service.output());
    checkSpans(spans, 'memcached');
    for (const span of spans.filter((s) => s.name === 'stowage getOrSet')) {
      expect(span.attributes).toMatchObject({
        'server.address': '127.0.0.1',
        'server.port': memcached.port,
      });
    }
    await checkMetrics(service.metricsUrl, 'memcached');
  });
});
