// Stowage demo: a small "exchange rates" service cached with @cache, on a real memcached when one
// is installed (the demo starts its own on a free port of 127.0.0.1 and stops it by PID) and on
// the in-memory backend otherwise. It shows a miss then a hit, single-flight, two tenants with
// their own values, busting the keys one tenant used recently, and — on memcached — a frozen
// server: calls settle by their deadline and the service keeps answering.
import { getCache, StorageLevel, type CacheClient } from '@stowage/core';
import { cache, cached, cacheContext, type CacheContext } from '@stowage/decorator';
import { findBinary, startMemcached, type ServerHandle } from '@stowage/testkit';
import { setTimeout as sleep } from 'node:timers/promises';

// Short, so the frozen-server step is quick to watch; the default is 1000 ms.
const deadlineMs = 200;

let upstreamCalls = 0;

/** The slow dependency we protect: pretend it is a remote pricing API. */
async function fetchRate(currency: string): Promise<number> {
  upstreamCalls++;
  await sleep(100);
  return currency === 'EUR' ? 1.08 : 1.27;
}

/** A service per tenant: the client and the tenant come from the instance, not from globals. */
class PricingService {
  readonly #client: CacheClient;
  readonly #tenant: string;
  readonly #plan: string;

  constructor(client: CacheClient, tenant: string, plan: string) {
    this.#client = client;
    this.#tenant = tenant;
    this.#plan = plan;
  }

  get [cacheContext](): CacheContext {
    return { client: this.#client, stack: this.#tenant };
  }

  @cache({ ttl: '5m' }) // Stack level by default: one entry per tenant and arguments
  async rate(currency: string): Promise<number> {
    return fetchRate(currency);
  }

  @cache({ ttl: '1h' })
  async currentPlan(): Promise<string> {
    upstreamCalls++;
    await sleep(20);
    return this.#plan;
  }
}

const ms = (started: number): string => `${(performance.now() - started).toFixed(1)} ms`;

async function show<T>(label: string, run: () => Promise<T>): Promise<T> {
  const started = performance.now();
  const result = await run();
  console.log(`  ${label.padEnd(44)} → ${String(result).padEnd(17)} ${ms(started).padStart(9)}`);
  return result;
}

async function main(): Promise<void> {
  // A real server when this machine has one; the README's first command runs before any server
  // is installed, so memory must work too. CACHE_URL points the demo at a backend of your own.
  const url = process.env['CACHE_URL'];
  let server: ServerHandle | undefined;
  let why = 'memcached is not installed (apt-get install memcached)';
  if (url === undefined && findBinary('memcached') !== undefined) {
    // An installed memcached that cannot start (a sandbox, a broken package) must not end the
    // demo either: say why and run on memory.
    server = await startMemcached().catch((error: unknown) => {
      why = error instanceof Error ? error.message : String(error);
      return undefined;
    });
  }
  const client = await getCache({
    url: url ?? (server === undefined ? 'memory://' : `memcached://${server.address}`),
    prefix: 'demo',
    service: 'pricing',
    timeoutMs: deadlineMs,
    env: {},
  });
  try {
    if (server !== undefined)
      console.log(
        `Stowage demo on memcached ${server.address} (started by the demo, pid ${server.pid})\n`,
      );
    else if (url !== undefined) console.log(`Stowage demo on ${client.backend.name} (CACHE_URL)\n`);
    else console.log(`Stowage demo on the in-memory backend: ${why}\n`);
    const acme = new PricingService(client, 'acme', 'gold');
    const globex = new PricingService(client, 'globex', 'trial');

    console.log('1. @cache on a service method: the first call runs the upstream, then it hits');
    await show("acme.rate('EUR')  miss", () => acme.rate('EUR'));
    await show("acme.rate('EUR')  hit", () => acme.rate('EUR'));
    const before = upstreamCalls;
    await show("10 concurrent acme.rate('GBP')", async () => {
      await Promise.all(Array.from({ length: 10 }, () => acme.rate('GBP')));
      return `${upstreamCalls - before} run`; // single-flight: one upstream call for all ten
    });

    console.log('\n2. Two tenants, one method: each gets its own value');
    await show('acme.currentPlan()', () => acme.currentPlan());
    await show('globex.currentPlan()', () => globex.currentPlan());
    await show('acme.currentPlan()  hit', () => acme.currentPlan());

    console.log("\n3. Bust: the client remembers the keys it used; bust one tenant's");
    const acmeScope = client.scoped(StorageLevel.Stack, { stack: 'acme' });
    await show('acmeScope.bustRecent()  keys deleted', () => acmeScope.bustRecent());
    await show('acme.currentPlan()  miss again', () => acme.currentPlan());
    await show('globex.currentPlan()  still a hit', () => globex.currentPlan());

    console.log(
      '\n4. A frozen server (SIGSTOP): calls settle by their deadline instead of hanging',
    );
    if (server === undefined) {
      console.log('  skipped: only a memcached the demo started can be frozen');
    } else {
      // cached() is the same thing for a plain function: a Service-level entry shared by tenants.
      // onError sees the cache problems the call survived (by default, one process warning).
      const lookup = cached(fetchRate, {
        context: { client },
        storageLevel: StorageLevel.Service,
        onError: (error) => console.log(`  onError: ${error.code} ${error.message.split(';')[0]}`),
      });
      await show("lookup('EUR')  miss, then cached", () => lookup('EUR'));
      server.pause();
      console.log(`  memcached paused (pid ${server.pid}); deadline ${deadlineMs} ms`);
      await show("lookup('EUR')  fails open: runs upstream", () => lookup('EUR'));
      await show("client.get('rate')  CacheTimeoutError", () =>
        client.get('rate').then(String, (error: Error) => error.name),
      );
      server.resume();
      console.log('  memcached resumed');
      await show("lookup('EUR')  hit again", () => lookup('EUR'));
    }

    const stats = client.stats();
    console.log(
      `\n${stats.hits} hits, ${stats.misses} misses, ${stats.errors} errors, ${upstreamCalls} upstream calls`,
    );
  } finally {
    await client.close();
    await server?.stop();
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
