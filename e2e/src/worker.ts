// One process of the fleet the end-to-end tests build: it runs the parent's commands on its own
// CacheClients (its own connections to the servers) and reports every factory run as it starts,
// so the parent can count runs across processes and act while a factory is running.
import { CacheClient, StorageLevel } from '@stowage/core';
import { cached, invalidate } from '@stowage/decorator';
import { createBackend } from './backend.js';
import { errorText, settled, watchProcess } from './observe.js';
import {
  valueOf,
  type CachedCommand,
  type CallOutcome,
  type CallsReply,
  type ClientSpec,
  type Command,
  type FactorySpec,
  type GetOrSetCommand,
  type ReadReply,
  type ReleaseCommand,
  type StatsReply,
  type WorkerConfig,
  type WorkerMessage,
} from './protocol.js';

const config = JSON.parse(process.argv[2] ?? '{}') as WorkerConfig;
// Counted, not fatal: the parent asserts there are none.
const watched = watchProcess();

function send(message: WorkerMessage): void {
  process.send?.(message);
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** One client per distinct {@link ClientSpec}, created on first use. */
const clients = new Map<string, CacheClient>();

function clientFor(spec: ClientSpec = {}): CacheClient {
  const slot = JSON.stringify(spec);
  let client = clients.get(slot);
  if (client === undefined) {
    const timeoutMs = spec.timeoutMs ?? 1000;
    client = new CacheClient({
      backend: createBackend(config.backend, timeoutMs),
      prefix: config.prefix,
      service: config.service,
      timeoutMs,
      ...(spec.lease === undefined ? {} : { lease: spec.lease }),
    });
    clients.set(slot, client);
  }
  return client;
}

/** Gated factories waiting for a `release` of their command. */
const gates = new Map<number, { released: Promise<void>; release: () => void }>();

function gateOf(command: number): Promise<void> {
  let gate = gates.get(command);
  if (gate === undefined) {
    let release = (): void => undefined;
    const released = new Promise<void>((resolve) => {
      release = resolve;
    });
    gate = { released, release };
    gates.set(command, gate);
  }
  return gate.released;
}

let runs = 0;

/**
 * A factory run of `command`: reports its start before anything else (the parent acts on it),
 * takes its time or waits for its gate, and returns a value that names the run.
 */
async function factoryRun(command: number, spec: FactorySpec, started: string[]): Promise<string> {
  const run = `${config.name}:${process.pid}:${++runs}`;
  started.push(run);
  send({ type: 'started', command, run });
  // A gated run takes at least its time too: a release cannot make it instantaneous.
  await Promise.all([sleep(spec.ms), spec.gate === true ? gateOf(command) : undefined]);
  return valueOf(run);
}

/** Runs `calls` copies of `call` together at `startAt` and collects how each settled. */
async function concurrently(
  calls: number,
  startAt: number | undefined,
  call: () => Promise<unknown>,
): Promise<CallOutcome[]> {
  if (startAt !== undefined) await sleep(Math.max(0, startAt - Date.now()));
  const began = performance.now();
  return Promise.all(Array.from({ length: calls }, () => settled(call(), began)));
}

async function getOrSet(command: GetOrSetCommand): Promise<CallsReply> {
  const client = clientFor(command.client);
  const started: string[] = [];
  const calls = await concurrently(command.calls, command.startAt, () =>
    client.getOrSet(
      command.key,
      () => factoryRun(command.id, command.factory, started),
      command.options ?? { ttl: 60 },
    ),
  );
  return { calls, runs: started };
}

/**
 * The behaviour of the cached function `name`'s next runs. A run cannot take it from its caller:
 * concurrent calls share one run, which carries the first caller's context only. Commands for
 * one name never overlap in a worker, so "the current command" is well defined.
 */
const current = new Map<string, { command: number; factory: FactorySpec; started: string[] }>();
const functions = new Map<string, (arg: string) => Promise<string>>();

/** The worker's cached function `name` (one per name and single-flight setting). */
function cachedFunction(
  name: string,
  singleFlight: boolean,
  spec: ClientSpec | undefined,
): (arg: string) => Promise<string> {
  const slot = `${name}\0${String(singleFlight)}\0${JSON.stringify(spec ?? {})}`;
  let fn = functions.get(slot);
  if (fn === undefined) {
    const run = async (_arg: string): Promise<string> => {
      const now = current.get(name);
      if (now === undefined) throw new Error(`no command for ${name}`);
      return factoryRun(now.command, now.factory, now.started);
    };
    fn = cached(run, {
      context: { client: clientFor(spec) },
      storageLevel: StorageLevel.Service,
      key: name,
      timeout: 60,
      singleFlight,
      // A cache problem must fail the test, not vanish into a process warning.
      strict: true,
    });
    functions.set(slot, fn);
  }
  return fn;
}

async function callCached(command: CachedCommand): Promise<CallsReply> {
  const fn = cachedFunction(command.name, command.singleFlight, command.client);
  const started: string[] = [];
  current.set(command.name, { command: command.id, factory: command.factory, started });
  const calls = await concurrently(command.calls, command.startAt, () => fn(command.arg));
  return { calls, runs: started };
}

async function read(keys: readonly string[], spec: ClientSpec | undefined): Promise<ReadReply> {
  const client = clientFor(spec);
  const get: Record<string, unknown> = {};
  for (const key of keys) {
    const value = await client.get(key);
    if (value !== undefined) get[key] = value;
  }
  const many = await client.getMany(keys);
  return { get, getMany: Object.fromEntries(many) };
}

function stats(spec: ClientSpec | undefined): StatsReply {
  const s = clientFor(spec).stats();
  return {
    leasesTaken: s.leasesTaken,
    leaseWaits: s.leaseWaits,
    leaseTimeouts: s.leaseTimeouts,
    leasesLost: s.leasesLost,
    decodeErrors: s.decodeErrors,
    misses: s.misses,
    errors: s.errors,
    unhandledRejections: watched.unhandledRejections.length,
    uncaughtExceptions: watched.uncaughtExceptions.length,
    warnings: [...watched.warnings],
  };
}

async function close(): Promise<void> {
  await Promise.all([...clients.values()].map((client) => client.close()));
  clients.clear();
}

async function execute(command: Command): Promise<unknown> {
  switch (command.op) {
    case 'getOrSet':
      return getOrSet(command);
    case 'cached':
      return callCached(command);
    case 'invalidate':
      return invalidate(
        cachedFunction(command.name, command.singleFlight, command.client),
        command.arg,
      );
    case 'read':
      return read(command.keys, command.client);
    case 'stats':
      return stats(command.client);
    case 'close':
      return close();
  }
}

// Commands run concurrently: a `stats` or a `read` must answer while a gated factory waits.
process.on('message', (message: Command | ReleaseCommand) => {
  if (message.op === 'release') {
    void gateOf(message.target);
    gates.get(message.target)?.release();
    return;
  }
  execute(message).then(
    (reply) => {
      send({ type: 'reply', command: message.id, reply });
      if (message.op === 'close') process.disconnect();
    },
    (error: unknown) => {
      send({
        type: 'failed',
        command: message.id,
        error: errorText(error),
      });
    },
  );
});

send({ type: 'ready' });
