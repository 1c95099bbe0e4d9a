// Leases on memcached, two protocols (issue 12): what a getOrSet miss costs, per op, when the
// lease is taken and committed with
//
// - the binary protocol (what @stowage/backend-memcached speaks): `getk` miss, `add` of a lease
//   marker (its answer carries the item's CAS), then a `set` carrying that CAS with a `getk`
//   read-back pipelined behind it — three round trips; four when the CAS must be read first
//   (a `getk` before the set), which is what the backend does for a marker it did not add itself;
// - memcached 1.6's meta protocol, whose leases are native: `mg <key> v c f N<ttl>` reads and, on
//   a miss, vivifies an empty item and hands this client the win flag `W` with the CAS; then
//   `ms <key> <len> C<cas> T<ttl> F<flags>` with an `mg` read-back pipelined — two round trips;
// - and, for reference, a binary miss without a lease: `getk` miss, then `set` + `getk`.
//
// Every op is checked (a miss, a won lease, a stored commit, the read-back) so the numbers are of
// work that happened. Each variant runs sequentially (one op at a time) and with 64 ops in flight
// on one connection (as the backend pipelines), interleaved over rounds; medians across rounds.
// It also prints what a plain text-protocol `get` (a Q2 Python service's pymemcache) sees of a
// meta-vivified item and of one invalidated with `md <key> I`.
//
// Usage: node bench/scripts/lease-protocols.mjs [--server=127.0.0.1:11211] [--rounds=5]
//        [--sequential=2000] [--concurrent=10000]
// Without --server it starts its own memcached on a free port of 127.0.0.1 and stops it by PID.
import { Buffer } from 'node:buffer';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { performance } from 'node:perf_hooks';
import process from 'node:process';
import { setTimeout as delay } from 'node:timers/promises';

const args = Object.fromEntries(
  process.argv.slice(2).map((arg) => {
    const [name, value = 'true'] = arg.replace(/^--/, '').split('=');
    return [name, value];
  }),
);
const ROUNDS = Number(args.rounds ?? 5);
const SEQUENTIAL_OPS = Number(args.sequential ?? 2000);
const CONCURRENT_OPS = Number(args.concurrent ?? 10000);
const IN_FLIGHT = 64;
const LEASE_FLAGS = 0x53544c45;
const LEASE_TTL = 10;
const VALUE_TTL = 60;
const VALUE = Buffer.alloc(100, 'v');

// ---- a memcached to measure against --------------------------------------------------------------

function memcachedBinary() {
  for (const candidate of ['/usr/bin/memcached', '/usr/local/bin/memcached']) {
    if (existsSync(candidate)) return candidate;
  }
  const which = spawnSync('sh', ['-c', 'command -v memcached'], { encoding: 'utf8' });
  if (which.status === 0 && which.stdout.trim() !== '') return which.stdout.trim();
  throw new Error('memcached is not installed (apt-get install memcached), or pass --server');
}

function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

async function startMemcached() {
  const port = await freePort();
  const root = process.getuid?.() === 0 ? ['-u', 'root'] : [];
  const child = spawn(
    memcachedBinary(),
    [...root, '-U', '0', '-l', '127.0.0.1', '-p', String(port), '-m', '256', '-t', '2'],
    { stdio: 'ignore' },
  );
  for (let attempt = 0; attempt < 100; attempt++) {
    const up = await new Promise((resolve) => {
      const socket = connect({ host: '127.0.0.1', port }, () => {
        socket.destroy();
        resolve(true);
      });
      socket.on('error', () => resolve(false));
    });
    if (up) return { host: '127.0.0.1', port, pid: child.pid };
    await delay(20);
  }
  process.kill(child.pid, 'SIGKILL');
  throw new Error('memcached did not start');
}

// ---- one connection, answers matched to requests in order ----------------------------------------

/** A socket whose requests each wait for `answers` replies, parsed by `parse`, in order. */
class Connection {
  #socket;
  #parse;
  #pending = [];
  #buffer = Buffer.alloc(0);

  constructor(socket, parse) {
    this.#socket = socket;
    this.#parse = parse;
    socket.setNoDelay(true);
    socket.on('data', (chunk) => this.#receive(chunk));
  }

  static open(server, parse) {
    return new Promise((resolve, reject) => {
      const socket = connect({ host: server.host, port: server.port }, () =>
        resolve(new Connection(socket, parse)),
      );
      socket.once('error', reject);
    });
  }

  /** Writes `bytes` and resolves the next `answers` replies. */
  request(bytes, answers) {
    return new Promise((resolve, reject) => {
      this.#pending.push({ answers, replies: [], resolve, reject });
      this.#socket.write(bytes);
    });
  }

  #receive(chunk) {
    this.#buffer = this.#buffer.length === 0 ? chunk : Buffer.concat([this.#buffer, chunk]);
    for (;;) {
      const parsed = this.#parse(this.#buffer);
      if (parsed === undefined) return;
      this.#buffer = this.#buffer.subarray(parsed.used);
      const head = this.#pending[0];
      head.replies.push(parsed.reply);
      if (head.replies.length === head.answers) {
        this.#pending.shift();
        head.resolve(head.replies);
      }
    }
  }

  close() {
    this.#socket.destroy();
  }
}

// ---- binary protocol ---------------------------------------------------------------------------------

const Op = { Set: 0x01, Add: 0x02, Noop: 0x0a, GetK: 0x0c };

function frame({ opcode, key = '', extras = Buffer.alloc(0), value = Buffer.alloc(0), cas = 0n }) {
  const keyBytes = Buffer.from(key, 'latin1');
  const header = Buffer.alloc(24);
  header[0] = 0x80;
  header[1] = opcode;
  header.writeUInt16BE(keyBytes.length, 2);
  header[4] = extras.length;
  header.writeUInt32BE(extras.length + keyBytes.length + value.length, 8);
  header.writeBigUInt64BE(cas, 16);
  return Buffer.concat([header, extras, keyBytes, value]);
}

function storeExtras(flags, ttl) {
  const extras = Buffer.alloc(8);
  extras.writeUInt32BE(flags >>> 0, 0);
  extras.writeUInt32BE(ttl, 4);
  return extras;
}

const getk = (key) => Buffer.concat([frame({ opcode: Op.GetK, key }), frame({ opcode: Op.Noop })]);

function parseBinary(buffer) {
  if (buffer.length < 24) return undefined;
  const body = buffer.readUInt32BE(8);
  if (buffer.length < 24 + body) return undefined;
  const extras = buffer[4];
  const keyLength = buffer.readUInt16BE(2);
  return {
    used: 24 + body,
    reply: {
      opcode: buffer[1],
      status: buffer.readUInt16BE(6),
      cas: buffer.readBigUInt64BE(16),
      value: Buffer.from(buffer.subarray(24 + extras + keyLength, 24 + body)),
    },
  };
}

function expectStatus(reply, status, what) {
  if (reply.status !== status) throw new Error(`${what}: status 0x${reply.status.toString(16)}`);
}

/** `set` carrying `cas` + `getk` read-back + `noop`: the backend's setIf, one round trip. */
async function casSetAndRead(conn, key, cas) {
  const [set, read] = await conn.request(
    Buffer.concat([
      frame({ opcode: Op.Set, key, extras: storeExtras(1, VALUE_TTL), value: VALUE, cas }),
      getk(key),
    ]),
    3,
  );
  expectStatus(set, 0, 'CAS set');
  expectStatus(read, 0, 'read-back');
}

async function binaryMiss(conn, key) {
  const [miss] = await conn.request(getk(key), 2);
  expectStatus(miss, 1, 'getk miss');
}

async function binaryAdd(conn, key) {
  const marker = Buffer.from(`stowage-lease:bench.${key}`, 'latin1');
  const [added] = await conn.request(
    frame({ opcode: Op.Add, key, extras: storeExtras(LEASE_FLAGS, LEASE_TTL), value: marker }),
    1,
  );
  expectStatus(added, 0, 'add');
  return added.cas;
}

/** Binary lease, CAS from the add's answer: getk miss, add, CAS set + read-back. */
async function binaryLease(conn, key) {
  await binaryMiss(conn, key);
  const cas = await binaryAdd(conn, key);
  await casSetAndRead(conn, key, cas);
}

/** Binary lease, CAS read first (a marker the backend did not add): getk, add, getk, CAS set. */
async function binaryLeaseReadCas(conn, key) {
  await binaryMiss(conn, key);
  await binaryAdd(conn, key);
  const [read] = await conn.request(getk(key), 2);
  expectStatus(read, 0, 'getk of the marker');
  await casSetAndRead(conn, key, read.cas);
}

/** Binary miss without a lease: getk miss, set + read-back. */
async function binaryNoLease(conn, key) {
  await binaryMiss(conn, key);
  await casSetAndRead(conn, key, 0n);
}

// ---- meta protocol -------------------------------------------------------------------------------------

/** One meta reply: its line, and the data block when the line is `VA <size> …`. */
function parseMeta(buffer) {
  const end = buffer.indexOf('\r\n');
  if (end < 0) return undefined;
  const line = buffer.toString('latin1', 0, end);
  if (!line.startsWith('VA ')) return { used: end + 2, reply: { line } };
  const size = Number(line.split(' ')[1]);
  if (buffer.length < end + 2 + size + 2) return undefined;
  return {
    used: end + 2 + size + 2,
    reply: { line, data: Buffer.from(buffer.subarray(end + 2, end + 2 + size)) },
  };
}

const metaFlag = (line, flag) => line.split(' ').find((token) => token.startsWith(flag));

/** Meta lease: `mg` vivifies on the miss and wins (`W`), then `ms C<cas>` + `mg` read-back. */
async function metaLease(conn, key) {
  const [lease] = await conn.request(`mg ${key} v c f N${LEASE_TTL}\r\n`, 1);
  if (metaFlag(lease.line, 'W') === undefined) throw new Error(`no win flag: ${lease.line}`);
  const cas = metaFlag(lease.line, 'c').slice(1);
  const [stored, read] = await conn.request(
    Buffer.concat([
      Buffer.from(`ms ${key} ${VALUE.length} C${cas} T${VALUE_TTL} F1\r\n`, 'latin1'),
      VALUE,
      Buffer.from(`\r\nmg ${key} v f\r\n`, 'latin1'),
    ]),
    2,
  );
  if (stored.line !== 'HD') throw new Error(`ms: ${stored.line}`);
  if (read.data?.length !== VALUE.length) throw new Error(`read-back: ${read.line}`);
}

// ---- measuring -------------------------------------------------------------------------------------------

const VARIANTS = [
  { name: 'binary, no lease (getk, set+getk)', trips: 2, protocol: 'binary', op: binaryNoLease },
  { name: 'binary lease (getk, add, cas set+getk)', trips: 3, protocol: 'binary', op: binaryLease },
  {
    name: 'binary lease, CAS read first (+getk)',
    trips: 4,
    protocol: 'binary',
    op: binaryLeaseReadCas,
  },
  { name: 'meta lease (mg N/W, ms C + mg)', trips: 2, protocol: 'meta', op: metaLease },
];

function percentile(sorted, p) {
  return sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))];
}

/** Runs `ops` misses with `inFlight` at a time; per-op latencies in µs and ops per second. */
async function run(conn, variant, { ops, inFlight, tag }) {
  const latencies = new Float64Array(ops);
  let next = 0;
  const started = performance.now();
  const worker = async () => {
    while (next < ops) {
      const index = next++;
      const opStarted = performance.now();
      await variant.op(conn, `lb:${tag}:${index}`);
      latencies[index] = (performance.now() - opStarted) * 1000;
    }
  };
  await Promise.all(Array.from({ length: inFlight }, worker));
  const seconds = (performance.now() - started) / 1000;
  const sorted = [...latencies].sort((a, b) => a - b);
  return { p50: percentile(sorted, 50), p99: percentile(sorted, 99), opsPerSecond: ops / seconds };
}

const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];

/** What a plain text `get` (pymemcache) returns for a vivified item, and after `md <key> I`. */
async function foreignView(server, conn) {
  const get = async (key) => {
    const reply = await new Promise((resolve) => {
      let data = '';
      const socket = connect({ host: server.host, port: server.port }, () =>
        socket.write(`get ${key}\r\n`),
      );
      socket.on('data', (chunk) => {
        data += chunk.toString('latin1');
        if (data.endsWith('END\r\n')) {
          socket.destroy();
          resolve(data);
        }
      });
    });
    return JSON.stringify(reply);
  };
  await conn.request(`mg lb:view:vivified v c f N${LEASE_TTL}\r\n`, 1);
  const vivified = await get('lb:view:vivified');
  await conn.request(
    Buffer.from(`ms lb:view:stale 3 T60 F1\r\nold\r\nmd lb:view:stale I T30\r\n`, 'latin1'),
    2,
  );
  const invalidated = await get('lb:view:stale');
  return { vivified, invalidated };
}

async function main() {
  let started;
  let server;
  if (args.server !== undefined) {
    const [host, port] = args.server.split(':');
    server = { host, port: Number(port ?? 11211) };
  } else {
    started = await startMemcached();
    server = started;
  }
  const version =
    started === undefined
      ? 'remote'
      : spawnSync(memcachedBinary(), ['-V'], { encoding: 'utf8' }).stdout.trim();
  const conns = {
    binary: await Connection.open(server, parseBinary),
    meta: await Connection.open(server, parseMeta),
  };
  try {
    // Warm-up: connections, allocator, JIT.
    for (const variant of VARIANTS) {
      await run(conns[variant.protocol], variant, {
        ops: 500,
        inFlight: 8,
        tag: `w:${variant.trips}${variant.protocol}`,
      });
    }
    const results = new Map(VARIANTS.map((variant) => [variant, { seq: [], conc: [] }]));
    for (let round = 0; round < ROUNDS; round++) {
      for (const [index, variant] of VARIANTS.entries()) {
        const conn = conns[variant.protocol];
        const tag = `${round}:${index}`;
        results
          .get(variant)
          .seq.push(await run(conn, variant, { ops: SEQUENTIAL_OPS, inFlight: 1, tag: `s${tag}` }));
        results
          .get(variant)
          .conc.push(
            await run(conn, variant, { ops: CONCURRENT_OPS, inFlight: IN_FLIGHT, tag: `c${tag}` }),
          );
      }
    }
    const out = (line) => process.stdout.write(`${line}\n`);
    out(`${version} on ${server.host}:${server.port}, node ${process.version}`);
    out(
      `miss path per op, µs; medians of ${ROUNDS} interleaved rounds (${SEQUENTIAL_OPS} sequential ops, ${CONCURRENT_OPS} ops with ${IN_FLIGHT} in flight, one connection)`,
    );
    out('');
    out(`${'variant'.padEnd(42)} RTs  seq p50  seq p99  64: p50  64: p99   64: ops/s`);
    for (const variant of VARIANTS) {
      const { seq, conc } = results.get(variant);
      const cell = (rows, field) =>
        median(rows.map((row) => row[field]))
          .toFixed(0)
          .padStart(7);
      out(
        `${variant.name.padEnd(42)} ${String(variant.trips).padStart(3)}  ${cell(seq, 'p50')}  ${cell(seq, 'p99')}  ${cell(conc, 'p50')}  ${cell(conc, 'p99')}  ${median(
          conc.map((row) => row.opsPerSecond),
        )
          .toFixed(0)
          .padStart(10)}`,
      );
    }
    const view = await foreignView(server, conns.meta);
    out('');
    out(`plain \`get\` of a meta-vivified item (lease in flight): ${view.vivified}`);
    out(`plain \`get\` after \`md <key> I\` (invalidated):         ${view.invalidated}`);
  } finally {
    conns.binary.close();
    conns.meta.close();
    if (started !== undefined) process.kill(started.pid, 'SIGKILL');
  }
}

await main();
