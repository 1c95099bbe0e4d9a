/**
 * Checks every reply before it becomes a result: a read's value against its checksum and the
 * size bound, a write's `OK`, an `UNLINK`'s integer, a counter's decimal. A reply that cannot be
 * the call's own means the connection's reply stream is damaged or out of step: the reader has
 * the connection reset (`desync`) and the call rejects — a damaged reply never becomes a hit.
 */
import { CacheDecodeError, type CacheBackendError } from '@stowage/core';
import type { BackendWarning, StoredEntry } from '@stowage/core/backend';
import { isOk } from './replies.js';
import { SET_IF_MISMATCH } from './scripts.js';
import { HEADER_BYTES, readStored, StoredProblem } from './stored-format.js';

/** A decimal counter value as the counter script returns it (anything else is a damaged reply). */
const DECIMAL_REPLY = /^-?\d{1,20}$/;

/** Resets the connection after a reply that cannot be the call's; returns the call's error. */
export type Desync = (
  operation: string,
  key: string | undefined,
  what: string,
) => CacheBackendError;

/** Where a read's reply belongs, for {@link ReplyReader.entry}. */
export interface ReadAt {
  /** The Redis key the value must belong to (the checksum covers it), `keyPrefix` included. */
  readonly full: string;
  /** The backend's key, for errors and warnings. */
  readonly key: string;
  /** The backend method, for errors and warnings. */
  readonly operation: string;
}

/** Checks the replies of one backend (see the module comment) and reports what it absorbs. */
export class ReplyReader {
  /** Largest stored value a read accepts, in bytes: `maxValueBytes` + the header. */
  readonly maxStored: number;
  readonly #maxValueBytes: number;
  readonly #desync: Desync;
  readonly #warningListeners = new Set<(warning: BackendWarning) => void>();

  constructor(options: { readonly maxValueBytes: number; readonly desync: Desync }) {
    this.#maxValueBytes = options.maxValueBytes;
    this.maxStored = options.maxValueBytes + HEADER_BYTES;
    this.#desync = options.desync;
  }

  /** Adds a listener for values read as a miss because they are too large; returns its remover. */
  onWarning(listener: (warning: BackendWarning) => void): () => void {
    this.#warningListeners.add(listener);
    return () => {
      this.#warningListeners.delete(listener);
    };
  }

  /**
   * Turns one read reply into an entry, or `undefined` for a miss.
   *
   * - nothing (nil, or the empty string `GETRANGE` answers for a missing key): a miss;
   * - a value longer than the limit (`GETRANGE` stops one byte past it): a miss plus a warning;
   * - a version-1 value (no checksum): a miss;
   * - a version-2 value that is truncated or fails its checksum, or a reply of a type no read
   *   answers: the reply stream is damaged or out of step — `desync`, never a hit.
   */
  entry(reply: unknown, at: ReadAt): StoredEntry | undefined {
    const { full, key, operation } = at;
    if (reply === null) return undefined;
    if (!Buffer.isBuffer(reply)) {
      throw this.#desync(operation, key, `a reply of type ${typeof reply}`);
    }
    if (reply.length === 0) return undefined;
    if (reply.length > this.maxStored) return this.#oversize(operation, key);
    const read = readStored(reply, full);
    if (typeof read !== 'string') return read;
    if (read === StoredProblem.Legacy) return undefined;
    throw this.#desync(
      operation,
      key,
      read === StoredProblem.Checksum ? 'a value that fails its checksum' : 'a truncated value',
    );
  }

  /**
   * The reply of the compare-and-set script: `false` for its mismatch reply (nothing written),
   * otherwise the read-back, checked as {@link entry} checks any read — so a damaged read-back
   * is `desync`, never a hit. Any other integer belongs to another command: `desync`.
   */
  compareSet(reply: unknown, at: ReadAt): StoredEntry | false | undefined {
    if (reply === SET_IF_MISMATCH) return false;
    if (typeof reply === 'number') {
      throw this.#desync(at.operation, at.key, 'an integer that is not a compare-and-set reply');
    }
    return this.entry(reply, at);
  }

  /** The reply to a `SET`: `OK`. Any other reply belongs to another command (`desync`). */
  stored(reply: unknown, operation: string, key: string): true {
    if (isOk(reply)) return true;
    throw this.#desync(operation, key, 'a reply that is not a SET reply');
  }

  /** The reply to a `SET NX`: `OK`, or nil when the key exists; else as {@link stored}. */
  added(reply: unknown, key: string): boolean {
    return reply === null ? false : this.stored(reply, 'add', key);
  }

  /** An integer reply (`UNLINK`, `PEXPIRE`, a script's count); anything else is `desync`. */
  integer(reply: unknown, operation: string, key: string | undefined): number {
    if (typeof reply === 'number') return reply;
    throw this.#desync(operation, key, 'a reply that is not an integer');
  }

  /** The counter script's reply: decimal text, or nil for a missing key; anything else `desync`. */
  counter(reply: unknown, operation: string, key: string): bigint | undefined {
    if (reply === null || reply === undefined || reply === false) return undefined;
    const text = Buffer.isBuffer(reply) ? reply.toString('latin1') : undefined;
    if (text === undefined || !DECIMAL_REPLY.test(text)) {
      throw this.#desync(operation, key, 'a counter reply that is not a decimal');
    }
    return BigInt(text);
  }

  /**
   * Reports a value over the limit, read as a miss. Its length is not known: the bounded
   * `GETRANGE` stopped one byte past the limit, which is the point.
   */
  #oversize(operation: string, key: string): undefined {
    if (this.#warningListeners.size === 0) return undefined;
    const error = new CacheDecodeError(
      `redis ${operation}: the value under '${key}' is more than ${this.maxStored} bytes, over \`maxValueBytes\` (${this.#maxValueBytes}) plus the ${HEADER_BYTES}-byte header; read as a miss, and no more of it was fetched`,
      { key },
    );
    for (const listener of this.#warningListeners) {
      try {
        listener({ operation, key, error });
      } catch {
        // A listener's bug must not turn a miss into a failed read.
      }
    }
    return undefined;
  }
}
