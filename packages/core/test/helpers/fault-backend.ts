// A wrapper that injects faults a real server cannot produce on demand: every call throws, never
// answers (until released), or answers late. Its answers are promises unless the mode is
// `alwaysThrow` or `pass` over a synchronous backend, so the client applies its deadline.
import {
  CacheClient,
  type Awaitable,
  type BackendCapabilities,
  type BackendLimits,
  type BackendWrite,
  type CacheBackend,
  type CacheClientOptions,
  type StoredEntry,
} from '../../src/index.js';
import { RecordingBackend, type RecordingBackendOptions } from './recording-backend.js';

/** What the wrapper does with a call. */
export type FaultMode =
  | { readonly kind: 'pass' }
  /** Throw `error` (a plain `Error` by default) synchronously. */
  | { readonly kind: 'alwaysThrow'; readonly error?: unknown }
  /** Return a promise that rejects with `error`. */
  | { readonly kind: 'alwaysReject'; readonly error?: unknown }
  /** Return a promise that settles only when the test calls `answerLate()` or `failLate()`. */
  | { readonly kind: 'neverAnswer' }
  /** Run the call after `ms` milliseconds. */
  | { readonly kind: 'delay'; readonly ms: number };

type Operation = Exclude<keyof CacheBackend, 'name' | 'capabilities' | 'limits'>;

interface Held {
  readonly run: () => unknown;
  readonly resolve: (value: unknown) => void;
  readonly reject: (error: unknown) => void;
}

/** Wraps `inner`; `mode` applies to the operations in `ops` (every operation by default). */
export class FaultBackend implements CacheBackend {
  readonly name: string;
  readonly capabilities: BackendCapabilities;
  readonly limits: BackendLimits;
  mode: FaultMode = { kind: 'pass' };
  /** Operations the mode applies to; `undefined` means all. */
  ops: ReadonlySet<string> | undefined;
  readonly #inner: CacheBackend;
  readonly #held: Held[] = [];
  setAndRead?: (key: string, entry: StoredEntry, ttl: number) => Awaitable<StoredEntry | undefined>;
  deleteIf?: (key: string, expected: StoredEntry) => Awaitable<boolean>;

  /**
   * @param options.timeoutMs - declared as `capabilities.timeoutMs` (a deadline the wrapper claims
   *   to enforce; it does not), to test what the client makes of the claim.
   */
  constructor(inner: CacheBackend, options: { timeoutMs?: unknown } = {}) {
    this.#inner = inner;
    this.name = `fault(${inner.name})`;
    this.capabilities = {
      ...inner.capabilities,
      ...('timeoutMs' in options ? { timeoutMs: options.timeoutMs as number } : {}),
    };
    this.limits = inner.limits;
    const setAndRead = inner.setAndRead;
    if (setAndRead !== undefined) {
      this.setAndRead = (key, entry, ttl) =>
        this.#apply('setAndRead', () => setAndRead.call(inner, key, entry, ttl)) as Awaitable<
          StoredEntry | undefined
        >;
    }
    const deleteIf = inner.deleteIf;
    if (deleteIf !== undefined) {
      this.deleteIf = (key, expected) =>
        this.#apply('deleteIf', () => deleteIf.call(inner, key, expected)) as Awaitable<boolean>;
    }
  }

  /** Calls held by `neverAnswer` that have not settled yet. */
  get pending(): number {
    return this.#held.length;
  }

  /** Runs every held call now and resolves it with the inner backend's answer (a late answer). */
  async answerLate(): Promise<void> {
    for (const held of this.#held.splice(0)) {
      try {
        held.resolve(await held.run());
      } catch (error) {
        held.reject(error);
      }
    }
  }

  /** Rejects every held call now (a late failure), without running it. */
  failLate(error: unknown = new Error('late failure')): void {
    for (const held of this.#held.splice(0)) held.reject(error);
  }

  #apply(op: Operation, run: () => unknown): unknown {
    const mode = this.ops === undefined || this.ops.has(op) ? this.mode : { kind: 'pass' as const };
    switch (mode.kind) {
      case 'pass':
        return run();
      // Faults may be non-Error values on purpose: backends can throw anything.
      case 'alwaysThrow':
        // eslint-disable-next-line @typescript-eslint/only-throw-error
        throw mode.error ?? new Error(`injected ${op} failure`);
      case 'alwaysReject':
        // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors
        return Promise.reject(mode.error ?? new Error(`injected ${op} failure`));
      case 'neverAnswer':
        return new Promise((resolve, reject) => {
          this.#held.push({ run, resolve, reject });
        });
      case 'delay':
        return new Promise((resolve, reject) => {
          setTimeout(() => {
            try {
              resolve(run());
            } catch (error) {
              // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors
              reject(error);
            }
          }, mode.ms);
        });
    }
  }

  get(key: string): Awaitable<StoredEntry | undefined> {
    return this.#apply('get', () => this.#inner.get(key)) as Awaitable<StoredEntry | undefined>;
  }

  getMany(keys: readonly string[]): Awaitable<ReadonlyArray<StoredEntry | undefined>> {
    return this.#apply('getMany', () => this.#inner.getMany(keys)) as Awaitable<
      ReadonlyArray<StoredEntry | undefined>
    >;
  }

  set(key: string, entry: StoredEntry, ttl: number): Awaitable<boolean> {
    return this.#apply('set', () => this.#inner.set(key, entry, ttl)) as Awaitable<boolean>;
  }

  setMany(writes: readonly BackendWrite[], ttl: number): Awaitable<readonly string[]> {
    return this.#apply('setMany', () => this.#inner.setMany(writes, ttl)) as Awaitable<
      readonly string[]
    >;
  }

  add(key: string, entry: StoredEntry, ttl: number): Awaitable<boolean> {
    return this.#apply('add', () => this.#inner.add(key, entry, ttl)) as Awaitable<boolean>;
  }

  touch(key: string, ttl: number): Awaitable<boolean> {
    return this.#apply('touch', () => this.#inner.touch(key, ttl)) as Awaitable<boolean>;
  }

  incr(key: string, delta: bigint): Awaitable<bigint | undefined> {
    return this.#apply('incr', () => this.#inner.incr(key, delta)) as Awaitable<bigint | undefined>;
  }

  decr(key: string, delta: bigint): Awaitable<bigint | undefined> {
    return this.#apply('decr', () => this.#inner.decr(key, delta)) as Awaitable<bigint | undefined>;
  }

  delete(key: string): Awaitable<boolean> {
    return this.#apply('delete', () => this.#inner.delete(key)) as Awaitable<boolean>;
  }

  deleteMany(keys: readonly string[]): Awaitable<void> {
    return this.#apply('deleteMany', () => this.#inner.deleteMany(keys)) as Awaitable<void>;
  }

  clear(): Awaitable<void> {
    return this.#apply('clear', () => this.#inner.clear()) as Awaitable<void>;
  }

  flush(delay: number): Awaitable<void> {
    return this.#apply('flush', () => this.#inner.flush(delay)) as Awaitable<void>;
  }

  close(): Awaitable<void> {
    return this.#apply('close', () => this.#inner.close()) as Awaitable<void>;
  }
}

/** A client on a {@link FaultBackend} (remote: the client applies deadlines) over a recording backend. */
export function faultClient(
  options: Omit<CacheClientOptions, 'backend'> = {},
  backendOptions: RecordingBackendOptions = {},
): {
  client: CacheClient;
  backend: FaultBackend;
  inner: RecordingBackend;
} {
  const inner = new RecordingBackend(backendOptions);
  const backend = new FaultBackend(inner);
  return { client: new CacheClient({ ...options, backend }), backend, inner };
}
