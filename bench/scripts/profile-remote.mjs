// Profiles and compares the layers of one remote path (memcached or Redis; memory too): the raw
// client, Stowage's backend called directly, and the CacheClient on that backend, interleaved in
// rounds in one process, so the cost each layer adds can be told apart and profiled.
//
//   node scripts/profile-remote.mjs <memcached|redis|memory> <get|set|set-check|get-many> \
//     [--inflight=64] [--rounds=7] [--round-ms=400] [--layers=raw,backend,client] \
//     [--compare-core=/path/to/other/core/dist/index.mjs]
//   node --cpu-prof --cpu-prof-dir=/tmp/stowage-prof scripts/profile-remote.mjs redis get --layers=client
//   node scripts/profile-remote.mjs --summarize /tmp/stowage-prof/<file>.cpuprofile
//
// `--compare-core` adds a `client*` layer: the same CacheClient from another build of
// @stowage/core (say, a copy of packages/core/dist taken before a change), for before/after
// numbers from one run. Servers are started through @stowage/testkit and stopped by PID.
import { Buffer } from 'node:buffer';
import { performance } from 'node:perf_hooks';
import process from 'node:process';
import { parseArgs } from 'node:util';
import { createMemcachedBackend } from '@stowage/backend-memcached';
import { createMemoryBackend } from '@stowage/backend-memory';
import { createRedisBackend } from '@stowage/backend-redis';
import { CacheClient } from '@stowage/core';
import { startMemcached, startRedis } from '@stowage/testkit';
import { Cluster, Redis } from 'ioredis';
import { LRUCache } from 'lru-cache';
import memjs from 'memjs';
import { summarizeProfile } from './summarize-profile.mjs';
import { sampleValue } from './sample-value.mjs';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    summarize: { type: 'string' },
    inflight: { type: 'string', default: '64' },
    rounds: { type: 'string', default: '7' },
    'round-ms': { type: 'string', default: '400' },
    layers: { type: 'string', default: 'raw,backend,client' },
    'compare-core': { type: 'string' },
  },
});

if (values.summarize !== undefined) {
  summarizeProfile(values.summarize);
  process.exit(0);
}

const [where = 'redis', op = 'get'] = positionals;
const inflight = Number(values.inflight);
const rounds = Number(values.rounds);
const roundMs = Number(values['round-ms']);
const layers = values.layers.split(',');
const value = sampleValue;
const KEYS = 256;
const keys = Array.from({ length: KEYS }, (_, i) => `p:${i}`);
const batches = Array.from({ length: KEYS }, (_, b) =>
  Array.from({ length: 50 }, (_, i) => keys[(b + i) % KEYS]),
);

const stops = [];
let server;
if (where === 'memcached') server = await startMemcached();
if (where === 'redis') server = await startRedis();
if (server !== undefined) stops.push(() => server.stop());

/** Operations of a layer: `get`, `set`, `setCheck`, `getMany`, each returning a promise. */
function rawLayer() {
  if (where === 'memory') {
    const lru = new LRUCache({ max: 100_000 });
    return {
      get: async (key) => {
        const text = lru.get(key);
        return text === undefined ? undefined : JSON.parse(text);
      },
      set: async (key, v) => lru.set(key, JSON.stringify(v)),
      getMany: async (list) => list.map((key) => JSON.parse(lru.get(key))),
      close: async () => undefined,
    };
  }
  if (where === 'memcached') {
    const client = memjs.Client.create(server.address, { retries: 1, timeout: 1, keepAlive: true });
    const get = async (key) => {
      const { value: bytes } = await client.get(key);
      return bytes === null ? undefined : JSON.parse(bytes.toString());
    };
    return {
      get,
      set: (key, v) => client.set(key, JSON.stringify(v), { expires: 0 }),
      getMany: (list) => Promise.all(list.map(get)),
      close: async () => client.close(),
    };
  }
  const client = new Redis({ host: server.host, port: server.port, maxRetriesPerRequest: 1 });
  const parse = (text) => (text === null ? undefined : JSON.parse(text));
  return {
    get: async (key) => parse(await client.get(key)),
    set: (key, v) => client.set(key, JSON.stringify(v)),
    getMany: async (list) => (await client.mget(...list)).map(parse),
    close: async () => void (await client.quit()),
  };
}

function makeBackend() {
  if (where === 'memory') return createMemoryBackend({ maxEntries: 100_000 });
  if (where === 'memcached') return createMemcachedBackend({ servers: server.address });
  return createRedisBackend({
    driver: { Redis, Cluster },
    redisOptions: { host: server.host, port: server.port },
  });
}

/** The backend called directly with pre-encoded bytes: the transport's cost without the client. */
function backendLayer() {
  const backend = makeBackend();
  const entry = { value: Buffer.from(JSON.stringify(value)), flags: 2 };
  const decode = (e) => (e === undefined ? undefined : JSON.parse(Buffer.from(e.value).toString()));
  return {
    get: async (key) => decode(await backend.get(`b:${key}`)),
    set: async (key) => backend.set(`b:${key}`, entry, 0),
    setCheck: async (key) => backend.setAndRead(`b:${key}`, entry, 0),
    getMany: async (list) => (await backend.getMany(list.map((key) => `b:${key}`))).map(decode),
    close: async () => backend.close(),
  };
}

function clientLayer(Client, prefix) {
  const cache = new Client({ backend: makeBackend(), prefix, compress: false });
  return {
    get: (key) => cache.get(key),
    set: (key, v) => cache.set(key, v, { skipIntegrityCheck: true }),
    setCheck: (key, v) => cache.set(key, v),
    getMany: (list) => cache.getMany(list),
    close: () => cache.close(),
  };
}

const built = new Map();
for (const layer of layers) {
  if (layer === 'raw') built.set('raw', rawLayer());
  else if (layer === 'backend') built.set('backend', backendLayer());
  else if (layer === 'client') built.set('client', clientLayer(CacheClient, 'c'));
  else throw new Error(`unknown layer '${layer}'`);
}
if (values['compare-core'] !== undefined) {
  const other = await import(values['compare-core']);
  built.set('client*', clientLayer(other.CacheClient, 'o'));
}

const opName = { get: 'get', set: 'set', 'set-check': 'setCheck', 'get-many': 'getMany' }[op];
if (opName === undefined) throw new Error(`unknown operation '${op}'`);
for (const [name, layer] of built) {
  for (const key of keys) await (layer.set ?? layer.setCheck)(key, value);
  if (layer[opName] === undefined) {
    process.stdout.write(`${name}: no ${op}; left out\n`);
    built.delete(name);
  }
}

async function round(fn, ms) {
  let next = 0;
  let stop = false;
  const cpu = process.cpuUsage();
  const started = performance.now();
  const end = started + ms;
  const worker = async () => {
    while (!stop) {
      const i = next++;
      if ((i & 15) === 0 && performance.now() >= end) {
        stop = true;
        next--;
        return;
      }
      await fn(i);
    }
  };
  await Promise.all(Array.from({ length: inflight }, worker));
  const elapsed = performance.now() - started;
  const used = process.cpuUsage(cpu);
  return { opsPerSec: (next / elapsed) * 1000, cpuUsPerOp: (used.user + used.system) / next };
}

const median = (list) => {
  const sorted = [...list].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
};
const steps = new Map(
  [...built].map(([name, layer]) => {
    const fn = layer[opName];
    const step =
      opName === 'getMany'
        ? (i) => fn(batches[i & (KEYS - 1)])
        : (i) => fn(keys[i & (KEYS - 1)], value);
    return [name, step];
  }),
);
const results = new Map([...steps.keys()].map((name) => [name, { ops: [], cpu: [], ratio: [] }]));
const names = [...steps.keys()];
for (const name of names) await round(steps.get(name), Math.min(200, roundMs)); // warm-up
for (let r = 0; r < rounds; r++) {
  const inRound = new Map();
  for (let k = 0; k < names.length; k++) {
    const name = names[(k + r) % names.length];
    globalThis.gc?.({ type: 'minor' });
    const result = await round(steps.get(name), roundMs);
    inRound.set(name, result);
    results.get(name).ops.push(result.opsPerSec);
    results.get(name).cpu.push(result.cpuUsPerOp);
  }
  const base = inRound.get(names[0]);
  for (const [name, result] of inRound) {
    results.get(name).ratio.push(result.opsPerSec / base.opsPerSec);
  }
}
process.stdout.write(
  `${where} ${op}, ${inflight} in flight, ${rounds} × ${roundMs} ms; ratios to '${names[0]}'\n`,
);
for (const [name, r] of results) {
  process.stdout.write(
    `${name.padEnd(8)} ${Math.round(median(r.ops)).toString().padStart(8)} ops/s  ratio ${median(r.ratio).toFixed(2)}  CPU ${median(r.cpu).toFixed(2).padStart(6)} µs/op\n`,
  );
}
for (const layer of built.values()) await layer.close();
for (const stop of stops) await stop();
