// The messages between the test (the parent) and its forked workers. A worker is one process of
// a fleet: its own CacheClient over its own connections, so a lease it takes is a lease another
// process has to find on the server — never a shortcut through shared memory.
import type { GetOrSetOptions, LeaseOptions } from '@stowage/core';

/** Where a worker's clients connect. */
export type BackendSpec =
  | { readonly kind: 'memcached'; readonly servers: readonly string[] }
  | { readonly kind: 'redis'; readonly url: string }
  | {
      readonly kind: 'cluster';
      readonly nodes: ReadonlyArray<{ readonly host: string; readonly port: number }>;
    };

/** What the parent passes in `argv[2]` (JSON). */
export interface WorkerConfig {
  /** Names this worker in run ids, so a value says which process computed it. */
  readonly name: string;
  readonly backend: BackendSpec;
  /** The client's `prefix`: the same in every process, so they share keys. */
  readonly prefix: string;
  /** The client's `service`: decorated functions are cached at Service level. */
  readonly service: string;
}

/**
 * Options of the client a command runs on. A worker keeps one client per distinct options, so a
 * test can use a short deadline or a short lease without changing the clients of other tests.
 */
export interface ClientSpec {
  /** The client's (and the backend's) deadline, in milliseconds. @default 1000 */
  readonly timeoutMs?: number;
  /** The client's `lease` option. @default the client's default (on) */
  readonly lease?: LeaseOptions;
}

/** How a factory (or a cached function) behaves while it runs. */
export interface FactorySpec {
  /** Milliseconds it takes (at least, when gated). */
  readonly ms: number;
  /**
   * `true`: it also waits for a `release` of its command, so the test decides what happens while
   * it runs (a delete, a kill, a paused server, every other process waiting).
   */
  readonly gate?: boolean;
}

/** Fields every command has. */
interface CommandBase {
  /** Unique per test run: replies, `started` events and `release` name it. */
  readonly id: number;
  readonly client?: ClientSpec;
}

/**
 * `calls` concurrent `client.getOrSet(key, factory)` calls, started together at `startAt`
 * (wall clock, milliseconds) so the processes of a fleet miss at the same moment.
 */
export interface GetOrSetCommand extends CommandBase {
  readonly op: 'getOrSet';
  readonly key: string;
  readonly calls: number;
  readonly factory: FactorySpec;
  readonly startAt?: number;
  /** The calls' options (grace, stale-while-revalidate). @default { ttl: 60 } */
  readonly options?: Pick<GetOrSetOptions, 'ttl' | 'grace' | 'staleWhileRevalidate'>;
}

/** `calls` concurrent calls of the worker's cached function `name` with one argument. */
export interface CachedCommand extends CommandBase {
  readonly op: 'cached';
  readonly name: string;
  readonly arg: string;
  readonly calls: number;
  readonly factory: FactorySpec;
  readonly singleFlight: boolean;
  readonly startAt?: number;
}

/** `invalidate()` of one call of the cached function `name`. */
export interface InvalidateCommand extends CommandBase {
  readonly op: 'invalidate';
  readonly name: string;
  readonly arg: string;
  readonly singleFlight: boolean;
}

/** A plain `get` and a `getMany` of `keys`. */
export interface ReadCommand extends CommandBase {
  readonly op: 'read';
  readonly keys: readonly string[];
}

/** The stats of the client `client` names, and the worker's process error counts. */
export interface StatsCommand extends CommandBase {
  readonly op: 'stats';
}

/** Closes every client and exits. */
export interface CloseCommand extends CommandBase {
  readonly op: 'close';
}

/** Ends the gated factories of command `target` (no reply). */
export interface ReleaseCommand {
  readonly op: 'release';
  readonly target: number;
}

export type Command =
  GetOrSetCommand | CachedCommand | InvalidateCommand | ReadCommand | StatsCommand | CloseCommand;

/** What one call settled with, and when (milliseconds since `startAt`, or since the command). */
export type CallOutcome =
  | { readonly ok: true; readonly value: unknown; readonly ms: number }
  | { readonly ok: false; readonly error: string; readonly ms: number };

/** The reply to a `getOrSet` or `cached` command. */
export interface CallsReply {
  readonly calls: readonly CallOutcome[];
  /** Run ids of the factory runs this command started in this worker. */
  readonly runs: readonly string[];
}

/** The reply to a `read` command: what `get` and `getMany` returned, by key. */
export interface ReadReply {
  /** `get(key)` of each key; a miss is absent. */
  readonly get: Readonly<Record<string, unknown>>;
  /** `getMany(keys)`: the hits. */
  readonly getMany: Readonly<Record<string, unknown>>;
}

/** The reply to a `stats` command. */
export interface StatsReply {
  readonly leasesTaken: number;
  readonly leaseWaits: number;
  readonly leaseTimeouts: number;
  readonly leasesLost: number;
  readonly decodeErrors: number;
  readonly misses: number;
  readonly errors: number;
  /** Of the whole process, since it started. */
  readonly unhandledRejections: number;
  readonly uncaughtExceptions: number;
  /** Process warnings (`name: message`) of the whole process, since it started. */
  readonly warnings: readonly string[];
}

/** What a worker sends to the parent. */
export type WorkerMessage =
  | { readonly type: 'ready' }
  /** A factory (or cached function) run began: sent before it does anything else. */
  | { readonly type: 'started'; readonly command: number; readonly run: string }
  | { readonly type: 'reply'; readonly command: number; readonly reply: unknown }
  | { readonly type: 'failed'; readonly command: number; readonly error: string };

/** The value a run returns: names the run, so a stored value says which process computed it. */
export function valueOf(run: string): string {
  return `computed|${run}`;
}
