/* global setImmediate */
// Why two harnesses disagree on Redis at 64 in flight: runs raw ioredis and Stowage's client in
// the shape of the bench (256 keys, interleaved 300 ms rounds, warm-up) and in the shape of an
// independent closed-loop harness (10,000 keys picked at random, each subject run once for a long
// stretch, optionally without warm-up), changing one factor at a time.
//
//   node --expose-gc scripts/harness-shapes.mjs <get|set|set-check|get-many> [--keys=10000]
//     [--pick=random|seq] [--mode=interleaved|sequential] [--rounds=5] [--round-ms=300]
//     [--warmup-ms=150] [--inflight=64] [--subjects=raw,stowage,stowage-url,raw6,raw-ap]
//
// Prints ops/s per subject, its ratio to `raw` and the client CPU per operation, plus the
// redis-server CPU per operation (INFO's used_cpu_user + used_cpu_sys), so a server-bound or
// client-bound run shows. The server is started through @stowage/testkit and stopped by PID.
import { performance } from 'node:perf_hooks';
import process from 'node:process';
import { parseArgs } from 'node:util';
import { createRedisBackend } from '@stowage/backend-redis';
import { CacheClient } from '@stowage/core';
import { startRedis } from '@stowage/testkit';
import { Cluster, Redis } from 'ioredis';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    keys: { type: 'string', default: '10000' },
    pick: { type: 'string', default: 'random' },
    mode: { type: 'string', default: 'interleaved' },
    rounds: { type: 'string', default: '5' },
    'round-ms': { type: 'string', default: '300' },
    'warmup-ms': { type: 'string', default: '150' },
    inflight: { type: 'string', default: '64' },
    subjects: { type: 'string', default: 'raw,stowage' },
    // `tick`: all workers start in one tick (the bench); `staggered`: one worker per macrotask.
    start: { type: 'string', default: 'tick' },
    // `shared`: server and harness float over the machine's cores; `split`: the harness on CPU 0
    // and the server on CPU 1 (taskset), as on a machine where neither waits for the other.
    cpus: { type: 'string', default: 'shared' },
    // Clients (connections) per subject; the loops are spread over them round-robin.
    clients: { type: 'string', default: '1' },
    // `none`: a loop calls again as soon as its call settles (the continuations of one reply
    // chunk share a tick); `immediate`: it waits for `setImmediate` first, so every call starts
    // in a macrotask of its own, as calls made by separate incoming requests do.
    yield: { type: 'string', default: 'none' },
  },
});
const [op = 'get'] = positionals;
const keyCount = Number(values.keys);
const inflight = Number(values.inflight);
const rounds = Number(values.rounds);
const roundMs = Number(values['round-ms']);
const warmupMs = Number(values['warmup-ms']);
// A 104-byte JSON record, the independent harness's value size.
const value = {
  id: 1000,
  name: 'donald',
  email: 'donald.1000@example.com',
  active: true,
  score: 52.74,
  tags: ['billing', 'vip'],
};
const server = await startRedis();
if (values.cpus === 'split') {
  const { execFileSync } = await import('node:child_process');
  execFileSync('taskset', ['-p', '-c', '0', String(process.pid)]);
  execFileSync('taskset', ['-a', '-p', '-c', '1', String(server.pid)]);
}

function rawSubject(RedisClass, options = {}) {
  const client = new RedisClass({
    host: server.host,
    port: server.port,
    maxRetriesPerRequest: 1,
    ...options,
  });
  const parse = (text) => (text === null ? undefined : JSON.parse(text));
  return {
    get: async (key) => parse(await client.get(key)),
    set: (key, v) => client.set(key, JSON.stringify(v)),
    setCheck: async (key, v) => {
      const text = JSON.stringify(v);
      const [, read] = await Promise.all([client.set(key, text), client.get(key)]);
      return read === text;
    },
    getMany: async (list) => (await client.mget(...list)).map(parse),
    close: async () => void (await client.quit()),
  };
}

function stowageSubject(prefix, backend) {
  const cache = new CacheClient({ backend, prefix, compress: false });
  return {
    get: (key) => cache.get(key),
    set: (key, v) => cache.set(key, v, { skipIntegrityCheck: true }),
    setCheck: (key, v) => cache.set(key, v),
    getMany: (list) => cache.getMany(list),
    close: () => cache.close(),
  };
}

const makers = {
  raw: () => rawSubject(Redis),
  'raw-ap': () => rawSubject(Redis, { enableAutoPipelining: true }),
  raw6: async () => {
    const { Redis: Redis6 } =
      await import('../../packages/backend-redis/node_modules/ioredis/built/index.js');
    return rawSubject(Redis6);
  },
  // The bench's configuration: the backend on the bench's own ioredis 5 (`driver`).
  stowage: () =>
    stowageSubject(
      'a',
      createRedisBackend({
        driver: { Redis, Cluster },
        redisOptions: { host: server.host, port: server.port },
      }),
    ),
  // The backend as it was before its own shared deadline: ioredis's `commandTimeout` per command.
  'stowage-ct': () =>
    stowageSubject(
      'c',
      createRedisBackend({
        driver: { Redis, Cluster },
        redisOptions: { host: server.host, port: server.port, commandTimeout: 1000 },
      }),
    ),
  // What a user of `getCache` / `url` gets: the ioredis the backend package resolves itself.
  'stowage-url': () =>
    stowageSubject('u', createRedisBackend({ url: `redis://${server.host}:${server.port}` })),
};

const names = values.subjects.split(',');
const clientCount = Number(values.clients);
const subjects = new Map();
for (const name of names) {
  const make = makers[name];
  if (make === undefined) throw new Error(`unknown subject ${name}`);
  const made = [];
  for (let c = 0; c < clientCount; c++) made.push(await make());
  const pick = (w) => made[w % clientCount];
  subjects.set(name, {
    get: (key, v, w) => pick(w).get(key, v),
    set: (key, v, w) => pick(w).set(key, v),
    setCheck: (key, v, w) => pick(w).setCheck(key, v),
    getMany: (list, w) => pick(w).getMany(list),
    close: () => Promise.all(made.map((m) => m.close())),
  });
}
const opName = { get: 'get', set: 'set', 'set-check': 'setCheck', 'get-many': 'getMany' }[op];
const keys = Array.from({ length: keyCount }, (_, i) => `k:${i}`);
for (const [name, s] of subjects) {
  for (let i = 0; i < keys.length; i += 64) {
    await Promise.all(keys.slice(i, i + 64).map((key, j) => s.set(`${name}:${key}`, value, j)));
  }
}

let seed = 12345;
const random = () => {
  seed = (seed * 1103515245 + 12345) & 0x7fffffff;
  return seed;
};
function stepOf(name, s) {
  const fn = s[opName];
  const own = keys.map((key) => `${name}:${key}`);
  const pickKey =
    values.pick === 'random' ? () => own[random() % keyCount] : (i) => own[i % keyCount];
  if (opName === 'getMany') {
    return (i, w) =>
      fn(
        Array.from({ length: 50 }, (_, j) => own[(i + j * 7) % keyCount]),
        w,
      );
  }
  return (i, w) => fn(pickKey(i), value, w);
}

const redisCpu = async (client) => {
  const info = await client.info('cpu');
  const user = Number(/used_cpu_user:([\d.]+)/.exec(info)?.[1]);
  const sys = Number(/used_cpu_sys:([\d.]+)/.exec(info)?.[1]);
  return (user + sys) * 1e6;
};
const probe = new Redis({ host: server.host, port: server.port });

const yieldEach = values.yield === 'immediate';
async function run(step, ms) {
  let next = 0;
  let stop = false;
  const cpu = process.cpuUsage();
  const serverBefore = await redisCpu(probe);
  const started = performance.now();
  const end = started + ms;
  const worker = async (w) => {
    while (!stop) {
      const i = next++;
      if ((i & 15) === 0 && performance.now() >= end) {
        stop = true;
        next--;
        return;
      }
      await step(i, w);
      if (yieldEach) await new Promise((resolve) => setImmediate(resolve));
    }
  };
  const workers = [];
  for (let w = 0; w < inflight; w++) {
    workers.push(worker(w));
    if (values.start === 'staggered') await new Promise((resolve) => setImmediate(resolve));
  }
  await Promise.all(workers);
  const elapsed = performance.now() - started;
  const used = process.cpuUsage(cpu);
  const serverUs = (await redisCpu(probe)) - serverBefore;
  return {
    opsPerSec: (next / elapsed) * 1000,
    cpuUsPerOp: (used.user + used.system) / next,
    serverUsPerOp: serverUs / next,
  };
}

const median = (list) => [...list].sort((a, b) => a - b)[Math.floor(list.length / 2)];
const steps = new Map([...subjects].map(([name, s]) => [name, stepOf(name, s)]));
const results = new Map(names.map((name) => [name, { ops: [], cpu: [], server: [], ratio: [] }]));
if (warmupMs > 0) for (const name of names) await run(steps.get(name), warmupMs);
const order = (r) =>
  values.mode === 'interleaved' ? names.map((_, k) => names[(k + r) % names.length]) : names;
for (let r = 0; r < rounds; r++) {
  const inRound = new Map();
  for (const name of order(r)) {
    globalThis.gc?.({ type: 'minor' });
    const result = await run(steps.get(name), roundMs);
    inRound.set(name, result);
    const into = results.get(name);
    into.ops.push(result.opsPerSec);
    into.cpu.push(result.cpuUsPerOp);
    into.server.push(result.serverUsPerOp);
  }
  const base = inRound.get(names[0]);
  for (const [name, result] of inRound) {
    results.get(name).ratio.push(result.opsPerSec / base.opsPerSec);
  }
}
process.stdout.write(
  `redis ${op}, ${inflight} in flight, ${keyCount} keys (${values.pick}), ${values.mode}, ${rounds} × ${roundMs} ms, warm-up ${warmupMs} ms; ratios to '${names[0]}'\n`,
);
for (const [name, r] of results) {
  process.stdout.write(
    `${name.padEnd(12)} ${Math.round(median(r.ops)).toString().padStart(8)} ops/s  ratio ${median(r.ratio).toFixed(2)}  client CPU ${median(r.cpu).toFixed(2).padStart(6)} µs/op  server CPU ${median(r.server).toFixed(2).padStart(6)} µs/op\n`,
  );
}
for (const s of subjects.values()) await s.close();
await probe.quit();
await server.stop();
