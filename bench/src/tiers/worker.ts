// Process B of the delivery bound: keeps a copy of one key in its L1 and, when told, reads the
// key back to back (yielding to the event loop between reads, so the bus message can arrive)
// until it sees the value process A is writing, and says when.
import { setImmediate as nextTick } from 'node:timers/promises';
import { busFactory } from './bus.js';
import { DeliverySubject, epochMs, type FromWorker, type ToWorker } from './delivery-protocol.js';
import { bentoTierOps, stowageTierOps, type TierContext, type TierOps } from './subjects.js';

function send(message: FromWorker): void {
  process.send?.(message);
}

let ops: TierOps | undefined;
let key = '';

async function setup(message: Extract<ToWorker, { type: 'setup' }>): Promise<void> {
  const bus = busFactory(`redis://${message.redis.host}:${message.redis.port}`);
  const ctx: TierContext = { redis: message.redis, memcached: undefined, bus };
  key = message.key;
  // Both subjects keep far more than the one key: its copy is never evicted, only invalidated.
  ops =
    message.subject === DeliverySubject.Stowage
      ? stowageTierOps(ctx, { backend: 'redis', bus: true, skipIntegrityCheck: false }, 1000)
      : bentoTierOps(ctx, true, 1000);
  await ops.ready();
  await ops.get(key);
  send({
    type: 'ready',
    bus: message.subject === DeliverySubject.Stowage ? bus.kind : 'bentocache',
  });
}

async function watch(n: number): Promise<void> {
  const current = ops as TierOps;
  let reads = 0;
  for (;;) {
    const value = (await current.get(key)) as { n?: number } | undefined;
    reads++;
    if (value?.n === n) break;
    if (reads === 1) send({ type: 'watching', n });
    await nextTick();
  }
  send({ type: 'seen', n, at: epochMs(), reads });
}

process.on('message', (message: ToWorker) => {
  const run = async (): Promise<void> => {
    if (message.type === 'setup') await setup(message);
    else if (message.type === 'watch') await watch(message.n);
    else {
      await ops?.teardown();
      process.disconnect();
    }
  };
  run().catch((error: unknown) => {
    send({ type: 'error', message: error instanceof Error ? error.message : String(error) });
  });
});
