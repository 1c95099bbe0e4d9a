import { CacheValueError, type StoredEntry } from '@stowage/core';
import type { FrameWriter } from './frame-writer.js';
import { Opcode, Status, statusText, type ResponseFrame } from './protocol.js';
import { Request, type RequestInfo } from './request.js';

const WRONG_KEY = 'an answer carried a different key than the one asked for';

/**
 * Checks the answer that closes a request: a `noop` sent right after the frames that carry a
 * value. A value is resolved only once this answer parses where the value ended, so bytes dropped
 * or inserted inside a value (a faulty middlebox) fail the request and reset the connection
 * instead of resolving the next answer's bytes as part of this value.
 */
function endOfRequest(frame: ResponseFrame): string | undefined {
  return frame.opcode === Opcode.Noop && frame.status === Status.Ok
    ? undefined
    : `expected the closing noop's answer, got opcode 0x${frame.opcode.toString(16)}`;
}

function entryOf(frame: ResponseFrame): StoredEntry {
  return { value: frame.value, flags: frame.extras.length >= 4 ? frame.extras.readUInt32BE(0) : 0 };
}

/** True for the statuses memcached answers when it refuses to store (`set` resolves `false`). */
function notStored(status: number): boolean {
  return (
    status === Status.ValueTooLarge ||
    status === Status.NotStored ||
    status === Status.KeyExists ||
    status === Status.OutOfMemory
  );
}

/** Where the key a read asked for sits in the frames sent, to compare with the key answered. */
export interface SentKey {
  /** The frames sent. */
  readonly writer: FrameWriter;
  /** Offset of the key in the writer's buffer. */
  readonly offset: number;
  /** Length of the key on the wire, in bytes (prefix included). */
  readonly length: number;
}

/**
 * `getk` then `noop`: one key; the answer's key is compared with the key asked for, and the value
 * resolves only once the `noop` answer shows where it ended.
 */
export class GetRequest extends Request<StoredEntry | undefined> {
  readonly #key: SentKey;
  #entry: StoredEntry | undefined;
  /** The item's CAS value when the key was found (see `ResponseFrame`); read by `deleteIf`. */
  casHigh = 0;
  casLow = 0;
  protected error: Error | undefined;

  constructor(info: RequestInfo, key: SentKey) {
    super(info);
    this.#key = key;
  }

  onFrame(frame: ResponseFrame, index: number): string | undefined {
    if (index === this.last) return endOfRequest(frame);
    if (frame.status === Status.Ok) {
      const key = this.#key;
      if (!key.writer.matches(key.offset, key.length, frame.key)) return WRONG_KEY;
      this.#entry = entryOf(frame);
      this.casHigh = frame.casHigh;
      this.casLow = frame.casLow;
    } else if (frame.status !== Status.KeyNotFound) {
      this.error ??= this.statusError(statusText(frame.status));
    }
    return undefined;
  }

  protected result(): StoredEntry | undefined {
    if (this.error !== undefined) throw this.error;
    return this.#entry;
  }
}

/** Where a `getMany` share's keys are in its frames and where its answers go. */
export interface GetManyFrames {
  /** The frames sent (their keys are compared with the echoed ones). */
  readonly writer: FrameWriter;
  /** Offset of frame i's key in the writer. */
  readonly keyOffsets: readonly number[];
  /** Length of frame i's key on the wire (prefix included). */
  readonly keyLengths: readonly number[];
  /** Result slot of frame i. */
  readonly slots: readonly number[];
  /** The results of the whole batch, aligned with its keys. */
  readonly results: Array<StoredEntry | undefined>;
}

/**
 * `getkq` × n then `noop`, to one server: one round trip. Hits answer with their key, misses stay
 * silent, the `noop` answer ends the batch.
 */
export class GetManyRequest extends Request<void> {
  override readonly quiet = true;
  readonly #writer: FrameWriter;
  readonly #keyOffsets: readonly number[];
  readonly #keyLengths: readonly number[];
  /** Result slot of frame i. */
  readonly #slots: readonly number[];
  readonly #results: Array<StoredEntry | undefined>;
  /**
   * Hits of frame i, kept here until the closing `noop` answered: a batch that fails later
   * (damaged stream, reset, timeout) must leave none of its hits in the shared results.
   */
  readonly #hits: Array<StoredEntry | undefined>;
  #error: Error | undefined;

  constructor(info: RequestInfo, frames: GetManyFrames) {
    super(info);
    this.#writer = frames.writer;
    this.#keyOffsets = frames.keyOffsets;
    this.#keyLengths = frames.keyLengths;
    this.#slots = frames.slots;
    this.#results = frames.results;
    this.#hits = new Array<StoredEntry | undefined>(frames.slots.length);
  }

  onFrame(frame: ResponseFrame, index: number): string | undefined {
    if (index === this.last) return endOfRequest(frame);
    if (frame.status === Status.Ok) {
      if (
        !this.#writer.matches(
          this.#keyOffsets[index] as number,
          this.#keyLengths[index] as number,
          frame.key,
        )
      ) {
        return WRONG_KEY;
      }
      this.#hits[index] = entryOf(frame);
    } else if (frame.status !== Status.KeyNotFound) {
      this.#error ??= this.statusError(statusText(frame.status));
    }
    return undefined;
  }

  protected result(): void {
    if (this.#error !== undefined) throw this.#error;
    for (let index = 0; index < this.#hits.length; index++) {
      const hit = this.#hits[index];
      if (hit !== undefined) this.#results[this.#slots[index] as number] = hit;
    }
  }
}

/** `set` or `add`: resolves whether the server stored the item. */
export class StoreRequest extends Request<boolean> {
  /**
   * The stored item's CAS value, from the answer's header (0 when not stored, or on a server
   * started with `-C`): `add` remembers it so a lease's `setIf` needs no read first.
   */
  casHigh = 0;
  casLow = 0;
  #stored = false;
  #error: Error | undefined;

  onFrame(frame: ResponseFrame): string | undefined {
    if (frame.status === Status.Ok) {
      this.#stored = true;
      this.casHigh = frame.casHigh;
      this.casLow = frame.casLow;
    } else if (!notStored(frame.status)) {
      this.#error = this.statusError(statusText(frame.status));
    }
    return undefined;
  }

  protected result(): boolean {
    if (this.#error !== undefined) throw this.#error;
    return this.#stored;
  }
}

/**
 * `set`, `getk`, `noop` on the same connection: the read-back is guaranteed to see this write, and
 * resolves once the `noop` answer shows where its value ended.
 */
export class SetAndReadRequest extends GetRequest {
  override onFrame(frame: ResponseFrame, index: number): string | undefined {
    if (index > 0) return super.onFrame(frame, index);
    if (frame.status !== Status.Ok && !notStored(frame.status)) {
      this.error = this.statusError(statusText(frame.status));
    }
    return undefined;
  }
}

/** How the CAS `set` of a `setIf` ended. */
export const CasSetOutcome = {
  /** The item had the CAS sent: the entry is stored. */
  Stored: 'stored',
  /** The item has another CAS (`key exists`): someone wrote it since the CAS was read. */
  Changed: 'changed',
  /** No item (`key not found`): deleted, expired or flushed. */
  Gone: 'gone',
  /** The server refused to store (too large for its `-I`, out of memory); it unlinks the item. */
  Refused: 'refused',
} as const;

/** One of the {@link CasSetOutcome} values. */
export type CasSetOutcome = (typeof CasSetOutcome)[keyof typeof CasSetOutcome];

/**
 * `set` carrying a CAS value, `getk`, `noop` on the same connection (`setIf`): one round trip that
 * says how the set ended ({@link SetIfRequest.outcome}) and resolves what the key holds right
 * after it. The read-back's CAS (`casHigh`/`casLow`) lets a set refused for a stale CAS be retried
 * once, when the key still holds the expected bytes.
 */
export class SetIfRequest extends GetRequest {
  outcome: CasSetOutcome = CasSetOutcome.Refused;
  /** CAS of the item the set stored (when `outcome` is `stored`), from the answer's header. */
  storedCasHigh = 0;
  storedCasLow = 0;

  override onFrame(frame: ResponseFrame, index: number): string | undefined {
    if (index > 0) return super.onFrame(frame, index);
    if (frame.status === Status.Ok) {
      this.outcome = CasSetOutcome.Stored;
      this.storedCasHigh = frame.casHigh;
      this.storedCasLow = frame.casLow;
    } else if (frame.status === Status.KeyExists) {
      this.outcome = CasSetOutcome.Changed;
    } else if (frame.status === Status.KeyNotFound) {
      this.outcome = CasSetOutcome.Gone;
    } else if (!notStored(frame.status)) {
      this.error = this.statusError(statusText(frame.status));
    }
    return undefined;
  }
}

/**
 * `setq` × n then `noop`: only refusals answer; resolves the frame indexes that were not stored.
 * The frame of an entry the backend refused itself (oversized) is a `deleteq` of its key instead,
 * which removes the old value in the same round trip; "not found" is fine for those.
 */
export class SetManyRequest extends Request<number[]> {
  override readonly quiet = true;
  /** Indexes of the `deleteq` frames; `undefined` when there are none (the usual case). */
  readonly #deletes: ReadonlySet<number> | undefined;
  readonly #failed: number[] = [];
  #error: Error | undefined;

  constructor(info: RequestInfo, deletes: ReadonlySet<number> | undefined) {
    super(info);
    this.#deletes = deletes;
  }

  onFrame(frame: ResponseFrame, index: number): string | undefined {
    if (index === this.last) return endOfRequest(frame);
    if (this.#deletes?.has(index) === true) {
      if (frame.status !== Status.Ok && frame.status !== Status.KeyNotFound) {
        this.#error ??= this.statusError(statusText(frame.status));
      }
    } else if (notStored(frame.status)) {
      this.#failed.push(index);
    } else if (frame.status !== Status.Ok) {
      this.#error ??= this.statusError(statusText(frame.status));
    }
    return undefined;
  }

  protected result(): number[] {
    if (this.#error !== undefined) throw this.#error;
    return this.#failed;
  }
}

/** `delete`, `touch`: resolves `true` when the key existed. */
export class ExistsRequest extends Request<boolean> {
  #found = false;
  #error: Error | undefined;

  onFrame(frame: ResponseFrame): string | undefined {
    if (frame.status === Status.Ok) this.#found = true;
    else if (frame.status !== Status.KeyNotFound) {
      this.#error = this.statusError(statusText(frame.status));
    }
    return undefined;
  }

  protected result(): boolean {
    if (this.#error !== undefined) throw this.#error;
    return this.#found;
  }
}

/**
 * `delete` with a CAS value: resolves `true` when it deleted, `false` when the item changed since
 * it was read (`key exists`: someone wrote it) or is gone.
 */
export class CompareDeleteRequest extends Request<boolean> {
  #deleted = false;
  #error: Error | undefined;

  onFrame(frame: ResponseFrame): string | undefined {
    if (frame.status === Status.Ok) this.#deleted = true;
    else if (frame.status !== Status.KeyNotFound && frame.status !== Status.KeyExists) {
      this.#error = this.statusError(statusText(frame.status));
    }
    return undefined;
  }

  protected result(): boolean {
    if (this.#error !== undefined) throw this.#error;
    return this.#deleted;
  }
}

/**
 * `deleteq` × n then `noop` (only failures answer), or a single `flush`: resolves when every
 * frame succeeded; "not found" counts as success.
 */
export class AckRequest extends Request<void> {
  override readonly quiet = true;
  #error: Error | undefined;

  onFrame(frame: ResponseFrame): string | undefined {
    if (frame.status !== Status.Ok && frame.status !== Status.KeyNotFound) {
      this.#error ??= this.statusError(statusText(frame.status));
    }
    return undefined;
  }

  protected result(): void {
    if (this.#error !== undefined) throw this.#error;
  }
}

/**
 * `incr` / `decr`, then `noop` (the counter answer carries a value). The 8-byte answer is read as
 * an unsigned 64-bit integer (memjs computes `(hi << 8) + lo` and reports 2^32 + 6 as 262).
 */
export class CounterRequest extends Request<bigint | undefined> {
  #value: bigint | undefined;
  #error: Error | undefined;

  onFrame(frame: ResponseFrame, index: number): string | undefined {
    if (index === this.last) return endOfRequest(frame);
    if (frame.status === Status.Ok) {
      if (frame.value.length !== 8) return `a counter answer of ${frame.value.length} bytes`;
      this.#value = frame.value.readBigUInt64BE(0);
    } else if (frame.status === Status.NonNumeric) {
      this.#error = new CacheValueError(
        `cannot ${this.info.operation === 'incr' ? 'increment' : 'decrement'} a value that is not an unsigned 64-bit decimal integer`,
        this.info.key,
      );
    } else if (frame.status !== Status.KeyNotFound) {
      this.#error = this.statusError(statusText(frame.status));
    }
    return undefined;
  }

  protected result(): bigint | undefined {
    if (this.#error !== undefined) throw this.#error;
    return this.#value;
  }
}
