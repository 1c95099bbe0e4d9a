/**
 * `clear()`: removes every key that starts with the backend's `keyPrefix` — and only those,
 * whoever else shares the database — with `SCAN MATCH` steps, each followed by `UNLINK` of what
 * it found, on every node that holds data. Never `KEYS`, which would hold Redis's one thread for
 * the whole keyspace.
 */
import type { CallRunner } from './call-runner.js';
import type { RedisClientLike } from './client-like.js';
import { groupBySlot } from './cluster-slot.js';
import { discardReply, passReply } from './replies.js';

const GLOB_SPECIAL = /[*?[\]\\]/g;

/** The `SCAN MATCH` pattern of a namespace: the prefix with its glob characters escaped, then `*`. */
export function namespacePattern(keyPrefix: string): string {
  return `${keyPrefix.replace(GLOB_SPECIAL, '\\$&')}*`;
}

/** What {@link clearNamespace} needs of the backend. */
export interface NamespaceClear {
  /** Runs each step, with the backend's deadline and error mapping. */
  readonly runner: CallRunner;
  /** The namespace's pattern, from {@link namespacePattern}. */
  readonly pattern: string;
  /** `COUNT` of each `SCAN` step. */
  readonly batchSize: number;
  /** A Cluster: each node's finds are unlinked per hash slot. */
  readonly cluster: boolean;
}

/**
 * Walks every node holding data (the server, or every Cluster master). Each step has the call
 * deadline; the whole walk takes as many steps as the database needs.
 */
export async function clearNamespace(clear: NamespaceClear): Promise<void> {
  const nodes = await clear.runner.run({
    operation: 'clear',
    key: undefined,
    send: () => Promise.resolve(clear.runner.dataNodes()),
    decode: passReply,
  });
  for (const node of nodes) await clearNode(clear, node);
}

/** One node: `SCAN` steps until the cursor comes back to 0, each followed by `UNLINK`. */
async function clearNode(clear: NamespaceClear, node: RedisClientLike): Promise<void> {
  const { runner, pattern, batchSize } = clear;
  let cursor = '0';
  do {
    const [next, found] = await runner.run({
      operation: 'clear',
      key: undefined,
      send: async () => {
        const reply = await node.callBuffer('scan', cursor, 'match', pattern, 'count', batchSize);
        const [nextCursor, keys] = reply as [Buffer, Buffer[]];
        return [nextCursor.toString('latin1'), keys] as const;
      },
      decode: passReply,
    });
    cursor = next;
    if (found.length === 0) continue;
    // Multi-key commands cannot cross slots on a Cluster node.
    const groups = clear.cluster ? [...groupBySlot(found).values()] : [found.map((_, i) => i)];
    await runner.run({
      operation: 'clear',
      key: undefined,
      send: () =>
        Promise.all(
          groups.map((group) => node.callBuffer('unlink', ...group.map((i) => found[i] as Buffer))),
        ),
      decode: discardReply,
    });
  } while (cursor !== '0');
}
