// A wrapper that injects faults a real server cannot produce on demand: every call throws, never
// answers (until released), or answers late. Its answers are promises unless the mode is
// `alwaysThrow`, or `pass` over a synchronous backend. Wraps any backend of core's contract
// (structurally; see backend-shape.ts), so core's and the decorator's tests share it.
import type { Answer, Entry, Warning, Write } from './backend-shape.js';
import type { RecordingBackend } from './recording-backend.js';

/** What the wrapper does with a call. */
export type BackendFaultMode =
  | { readonly kind: 'pass' }
  /** Throw `error` (a plain `Error` by default) synchronously. */
  | { readonly kind: 'alwaysThrow'; readonly error?: unknown }
  /** Return a promise that rejects with `error`. */
  | { readonly kind: 'alwaysReject'; readonly error?: unknown }
  /** Return a promise that settles only when the test calls `answerLate()` or `failLate()`. */
  | { readonly kind: 'neverAnswer' }
  /** Run the call after `ms` milliseconds. */
  | { readonly kind: 'delay'; readonly ms: number };

/** The backend methods a {@link FaultBackend} wraps: core's `CacheBackend`, by shape. */
export interface WrappableBackend {
  readonly name: string;
  readonly capabilities: object;
  readonly limits: { readonly maxKeyBytes: number; readonly maxValueBytes: number };
  get(key: string): Answer<Entry | undefined>;
  getMany(keys: readonly string[]): Answer<ReadonlyArray<Entry | undefined>>;
  set(key: string, entry: Entry, ttl: number): Answer<boolean>;
  setAndRead?(key: string, entry: Entry, ttl: number): Answer<Entry | undefined>;
  setMany(writes: readonly Write[], ttl: number): Answer<readonly string[]>;
  add(key: string, entry: Entry, ttl: number): Answer<boolean>;
  touch(key: string, ttl: number): Answer<boolean>;
  incr(key: string, delta: bigint): Answer<bigint | undefined>;
  decr(key: string, delta: bigint): Answer<bigint | undefined>;
  delete(key: string): Answer<boolean>;
  deleteIf?(key: string, expected: Entry): Answer<boolean>;
  setIf?(
    key: string,
    expected: Entry,
    entry: Entry,
    ttl: number,
  ): Answer<Entry | false | undefined>;
  deleteMany(keys: readonly string[]): Answer<void>;
  clear(): Answer<void>;
  flush(delay: number): Answer<void>;
  onWarning?(listener: (warning: Warning) => void): () => void;
  close(): Answer<void>;
}

interface Held {
  readonly run: () => unknown;
  readonly resolve: (value: unknown) => void;
  readonly reject: (error: unknown) => void;
}

/** A refused TCP connection, as a transport would throw it. */
export function refusedError(): Error {
  return Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:11211'), {
    code: 'ECONNREFUSED',
  });
}

/** Wraps `inner`; `mode` applies to the operations in `ops` (every operation by default). */
export class FaultBackend<B extends WrappableBackend = RecordingBackend> {
  readonly name: string;
  readonly capabilities: B['capabilities'] & { readonly timeoutMs?: number | undefined };
  readonly limits: B['limits'];
  mode: BackendFaultMode = { kind: 'pass' };
  /** Operations the mode applies to; `undefined` or empty means all. */
  ops: ReadonlySet<string> | undefined;
  /** Calls made through the wrapper, faulty or not. */
  calls = 0;
  readonly #inner: B;
  readonly #held: Held[] = [];
  setAndRead?: (key: string, entry: Entry, ttl: number) => Answer<Entry | undefined>;
  deleteIf?: (key: string, expected: Entry) => Answer<boolean>;
  setIf?: (
    key: string,
    expected: Entry,
    entry: Entry,
    ttl: number,
  ) => Answer<Entry | false | undefined>;
  onWarning?: (listener: (warning: Warning) => void) => () => void;

  /**
   * @param options.timeoutMs - declared as `capabilities.timeoutMs` (a deadline the wrapper claims
   *   to enforce; it does not), to test what the client makes of the claim.
   */
  constructor(inner: B, options: { readonly timeoutMs?: unknown } = {}) {
    this.#inner = inner;
    this.name = `fault(${inner.name})`;
    this.capabilities = {
      ...inner.capabilities,
      ...('timeoutMs' in options ? { timeoutMs: options.timeoutMs as number } : {}),
    };
    this.limits = inner.limits;
    // Offered only when the inner backend has them, as the contract's optional methods.
    if (inner.setAndRead !== undefined) {
      this.setAndRead = (key, entry, ttl) =>
        this.#apply('setAndRead', () => inner.setAndRead?.(key, entry, ttl)) as Answer<
          Entry | undefined
        >;
    }
    if (inner.deleteIf !== undefined) {
      this.deleteIf = (key, expected) =>
        this.#apply('deleteIf', () => inner.deleteIf?.(key, expected)) as Answer<boolean>;
    }
    if (inner.setIf !== undefined) {
      this.setIf = (key, expected, entry, ttl) =>
        this.#apply('setIf', () => inner.setIf?.(key, expected, entry, ttl)) as Answer<
          Entry | false | undefined
        >;
    }
    // Never faulted: subscribing does not talk to a server, and the inner backend's warnings
    // must still reach the client through the wrapper.
    if (inner.onWarning !== undefined) {
      this.onWarning = (listener) => inner.onWarning?.(listener) ?? ((): void => {});
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

  #apply(op: string, run: () => unknown): unknown {
    this.calls++;
    const ops = this.ops;
    const faulty = ops === undefined || ops.size === 0 || ops.has(op);
    const mode = faulty ? this.mode : { kind: 'pass' as const };
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

  get(key: string): Answer<Entry | undefined> {
    return this.#apply('get', () => this.#inner.get(key)) as Answer<Entry | undefined>;
  }

  getMany(keys: readonly string[]): Answer<ReadonlyArray<Entry | undefined>> {
    return this.#apply('getMany', () => this.#inner.getMany(keys)) as Answer<
      ReadonlyArray<Entry | undefined>
    >;
  }

  set(key: string, entry: Entry, ttl: number): Answer<boolean> {
    return this.#apply('set', () => this.#inner.set(key, entry, ttl)) as Answer<boolean>;
  }

  setMany(writes: readonly Write[], ttl: number): Answer<readonly string[]> {
    return this.#apply('setMany', () => this.#inner.setMany(writes, ttl)) as Answer<
      readonly string[]
    >;
  }

  add(key: string, entry: Entry, ttl: number): Answer<boolean> {
    return this.#apply('add', () => this.#inner.add(key, entry, ttl)) as Answer<boolean>;
  }

  touch(key: string, ttl: number): Answer<boolean> {
    return this.#apply('touch', () => this.#inner.touch(key, ttl)) as Answer<boolean>;
  }

  incr(key: string, delta: bigint): Answer<bigint | undefined> {
    return this.#apply('incr', () => this.#inner.incr(key, delta)) as Answer<bigint | undefined>;
  }

  decr(key: string, delta: bigint): Answer<bigint | undefined> {
    return this.#apply('decr', () => this.#inner.decr(key, delta)) as Answer<bigint | undefined>;
  }

  delete(key: string): Answer<boolean> {
    return this.#apply('delete', () => this.#inner.delete(key)) as Answer<boolean>;
  }

  deleteMany(keys: readonly string[]): Answer<void> {
    return this.#apply('deleteMany', () => this.#inner.deleteMany(keys)) as Answer<void>;
  }

  clear(): Answer<void> {
    return this.#apply('clear', () => this.#inner.clear()) as Answer<void>;
  }

  flush(delay: number): Answer<void> {
    return this.#apply('flush', () => this.#inner.flush(delay)) as Answer<void>;
  }

  close(): Answer<void> {
    return this.#apply('close', () => this.#inner.close()) as Answer<void>;
  }
}
