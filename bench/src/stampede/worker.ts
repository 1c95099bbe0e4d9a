// One process of the stampede (built to dist/stampede-worker.mjs and forked by the coordinator):
// it sets the subjects up on the coordinator's servers, and for each round fires its concurrent
// getOrSet calls on the round's key at the agreed moment, then reports factory runs and latencies.
import type { ServerHandle } from '@stowage/testkit';
import type { BenchContext, JsonValue } from '../types.js';
import type {
  CheckRequest,
  FromWorker,
  LeaseCounts,
  RoundRequest,
  ServerAddress,
  SetupRequest,
  ToWorker,
  WorkerRound,
} from './protocol.js';
import { STAMPEDE_SUBJECTS, type StampedeHandle } from './subjects.js';

const handles = new Map<string, StampedeHandle>();
let workerIndex = 0;

const message = (error: unknown): string =>
  (error instanceof Error ? error.message : String(error)).split('\n')[0] ?? '';

const sleep = (ms: number): Promise<void> =>
  new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));

/** Wall-clock milliseconds on the clock every process shares (sub-millisecond precision). */
const now = (): number => performance.timeOrigin + performance.now();

/** A server the coordinator owns: this process only connects to it, never controls it. */
function remoteServer(
  name: string,
  address: ServerAddress | undefined,
): () => Promise<ServerHandle> {
  return async () => {
    if (address === undefined) throw new Error(`${name} is not part of this run`);
    const notOurs = (): never => {
      throw new Error(`${name} belongs to the coordinator`);
    };
    return {
      host: address.host,
      port: address.port,
      pid: 0,
      address: `${address.host}:${address.port}`,
      pause: notOurs,
      resume: notOurs,
      kill: async () => notOurs(),
      restart: async () => notOurs(),
      stop: async () => undefined,
    };
  };
}

async function setup(request: SetupRequest): Promise<FromWorker> {
  workerIndex = request.worker;
  const ctx: BenchContext = {
    memcached: remoteServer('memcached', request.memcached),
    redis: remoteServer('redis-server', request.redis),
  };
  const unavailable: Record<string, string> = {};
  for (const id of request.subjects) {
    const subject = STAMPEDE_SUBJECTS.find((s) => s.id === id);
    try {
      if (subject === undefined) throw new Error('unknown subject');
      handles.set(id, await subject.setup(ctx));
    } catch (error) {
      unavailable[id] = message(error);
    }
  }
  return { type: 'ready', id: request.id, unavailable };
}

function handleOf(id: string): StampedeHandle {
  const handle = handles.get(id);
  if (handle === undefined) throw new Error(`${id} is not set up in this worker`);
  return handle;
}

function leaseDelta(after: LeaseCounts, before: LeaseCounts): LeaseCounts {
  return {
    taken: after.taken - before.taken,
    waits: after.waits - before.waits,
    timeouts: after.timeouts - before.timeouts,
    lost: after.lost - before.lost,
  };
}

/** Fires the round's calls together at `startAt` and waits for every one to settle. */
async function round(request: RoundRequest): Promise<WorkerRound> {
  const handle = handleOf(request.subject);
  let runs = 0;
  const factory = async (): Promise<JsonValue> => {
    runs++;
    const run = runs;
    await sleep(request.factoryMs);
    return { key: request.key, worker: workerIndex, run };
  };
  const before = handle.leaseCounts?.();
  await sleep(request.startAt - now());
  const lateMs = Math.max(0, now() - request.startAt);
  const latenciesMs = new Array<number>(request.calls).fill(0);
  let errors = 0;
  let empty = 0;
  let firstError: string | undefined;
  const calls: Promise<void>[] = [];
  // One synchronous loop, so all calls are in flight before the first answer can arrive.
  for (let i = 0; i < request.calls; i++) {
    const began = performance.now();
    calls.push(
      handle.getOrSet(request.key, factory).then(
        (value) => {
          latenciesMs[i] = performance.now() - began;
          if (value === undefined || value === null) empty++;
        },
        (error: unknown) => {
          latenciesMs[i] = performance.now() - began;
          errors++;
          firstError ??= message(error);
        },
      ),
    );
  }
  await Promise.all(calls);
  const after = handle.leaseCounts?.();
  return {
    runs,
    latenciesMs,
    errors,
    empty,
    lateMs,
    ...(firstError === undefined ? {} : { firstError }),
    ...(before === undefined || after === undefined ? {} : { leases: leaseDelta(after, before) }),
  };
}

/** One more getOrSet on the round's key: the factory runs only if nothing was stored. */
async function check(request: CheckRequest): Promise<boolean> {
  let ran = false;
  await handleOf(request.subject).getOrSet(request.key, async () => {
    ran = true;
    return 'check';
  });
  return !ran;
}

async function answer(request: ToWorker): Promise<FromWorker> {
  switch (request.type) {
    case 'setup':
      return setup(request);
    case 'round':
      return { type: 'round', id: request.id, report: await round(request) };
    case 'check':
      return { type: 'check', id: request.id, stored: await check(request) };
    case 'stop':
      await Promise.allSettled([...handles.values()].map((handle) => handle.teardown()));
      return { type: 'stopped', id: request.id };
  }
}

const send = process.send?.bind(process);
if (send === undefined) throw new Error('stampede-worker runs only as a forked child of the bench');

process.on('message', (request: ToWorker) => {
  answer(request).then(
    (reply) => {
      // After `stopped`, exit whatever sockets a library left open.
      send(reply, undefined, {}, () => {
        if (reply.type === 'stopped') process.exit(0);
      });
    },
    (error: unknown) => {
      send({ type: 'error', id: request.id, error: message(error) });
    },
  );
});
// The coordinator died or cut the channel: nothing more will come.
process.on('disconnect', () => process.exit(0));
