// The messages between the stampede coordinator and its forked workers (Node IPC, JSON). Every
// request carries an id and is answered once with the same id, so the coordinator can await
// replies like function calls.

/** Where a worker finds one of the run's servers. */
export interface ServerAddress {
  /** `127.0.0.1`. */
  readonly host: string;
  /** The port it listens on. */
  readonly port: number;
}

/** Stowage's lease counters (from `CacheClient.stats()`), summed over a worker's calls. */
export interface LeaseCounts {
  /** Leases this process took (an `add` of a marker that succeeded). */
  readonly taken: number;
  /** Calls that found another process's lease and waited for its value. */
  readonly waits: number;
  /** Waits that ended without a value (the waiter then ran the factory itself). */
  readonly timeouts: number;
  /** Results not stored because the lease was gone by the commit. */
  readonly lost: number;
}

/** What one worker saw in one stampede round. */
export interface WorkerRound {
  /** How many times the factory ran in this process. */
  readonly runs: number;
  /** Latency of each call, in milliseconds, from the moment it was fired to its settling. */
  readonly latenciesMs: readonly number[];
  /** Calls that rejected. */
  readonly errors: number;
  /** The first rejection's message, if any. */
  readonly firstError?: string;
  /** Calls that resolved `undefined` or `null` instead of a value. */
  readonly empty: number;
  /** How late the calls were fired after the agreed start, in milliseconds. */
  readonly lateMs: number;
  /** Lease counters of this round (Stowage subjects only). */
  readonly leases?: LeaseCounts;
}

/** Connect to the servers and set the subjects up. */
export interface SetupRequest {
  readonly type: 'setup';
  readonly id: number;
  /** This worker's index (0-based), put in the factory's values. */
  readonly worker: number;
  /** Ids of the subjects to set up. */
  readonly subjects: readonly string[];
  readonly memcached?: ServerAddress;
  readonly redis?: ServerAddress;
}

/** Fire `calls` concurrent getOrSet calls on `key` at `startAt`. */
export interface RoundRequest {
  readonly type: 'round';
  readonly id: number;
  readonly subject: string;
  /** A key no subject has used before. */
  readonly key: string;
  /** When to fire, as `performance.timeOrigin + performance.now()` (epoch ms, shared by processes). */
  readonly startAt: number;
  /** Concurrent calls in this process. */
  readonly calls: number;
  /** How long the factory takes, in milliseconds. */
  readonly factoryMs: number;
}

/** One getOrSet on a key after its round: was the round's value stored? */
export interface CheckRequest {
  readonly type: 'check';
  readonly id: number;
  readonly subject: string;
  readonly key: string;
}

/** Tear every subject down and exit. */
export interface StopRequest {
  readonly type: 'stop';
  readonly id: number;
}

/** A message from the coordinator to a worker. */
export type ToWorker = SetupRequest | RoundRequest | CheckRequest | StopRequest;

/** A message from a worker to the coordinator: the answer to the request with the same id. */
export type FromWorker =
  | {
      readonly type: 'ready';
      readonly id: number;
      /** Subjects whose setup failed, with the reason. */
      readonly unavailable: Readonly<Record<string, string>>;
    }
  | { readonly type: 'round'; readonly id: number; readonly report: WorkerRound }
  | { readonly type: 'check'; readonly id: number; readonly stored: boolean }
  | { readonly type: 'stopped'; readonly id: number }
  | { readonly type: 'error'; readonly id: number; readonly error: string };

/** A request without its id (the pool numbers them). */
export type Request = ToWorker extends infer T
  ? T extends unknown
    ? Omit<T, 'id'>
    : never
  : never;
