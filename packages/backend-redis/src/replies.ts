/**
 * What a Redis reply or a rejection means to the backend: the error replies it recognises, the
 * `OK` of a write, and the small functions a call hands to the runner to read its reply
 * (`decode`) or turn an expected error into a result (`recover`).
 */

/**
 * ioredis's message when its `commandTimeout` expires. The backend's own timers reject with the
 * same message, so one check turns both into `CacheTimeoutError`.
 */
export const TIMED_OUT = 'Command timed out';

/** How ioredis's message starts for a command on a socket that cannot take it: nothing was sent. */
export const NOT_WRITABLE = "Stream isn't writeable";

/**
 * True for an error reply of the server (`-ERR …`, `-OOM …`), as opposed to a transport failure:
 * the server answered, so the command was not applied.
 */
export function isReplyError(error: unknown): boolean {
  return error instanceof Error && error.name === 'ReplyError';
}

function isReplyStartingWith(error: unknown, prefix: string): boolean {
  return isReplyError(error) && (error as Error).message.startsWith(prefix);
}

/** `NOSCRIPT`: the server lacks the script (first use, after a restart or `SCRIPT FLUSH`). */
export function isNoScript(error: unknown): boolean {
  return isReplyStartingWith(error, 'NOSCRIPT');
}

/** `WRONGTYPE`: the key holds a list, a hash, … — not a string, so not a cache entry. */
export function isWrongType(error: unknown): boolean {
  return isReplyStartingWith(error, 'WRONGTYPE');
}

/** `OOM`: `maxmemory` is reached and nothing can be evicted, so the server refuses writes. */
export function isOutOfMemory(error: unknown): boolean {
  return isReplyStartingWith(error, 'OOM');
}

/** True for the status reply `OK` (ioredis gives it as a Buffer to `callBuffer`). */
export function isOk(reply: unknown): boolean {
  return Buffer.isBuffer(reply)
    ? reply.length === 2 && reply[0] === 0x4f && reply[1] === 0x4b
    : reply === 'OK';
}

/** What a call's `recover` makes of an error it expects: the call resolves `value` instead. */
export interface Recovered<R> {
  /** The call's result. */
  readonly value: R;
}

/** The `recover` result of a write the server refused: resolves `false`, not stored. */
export const NOT_STORED: Recovered<false> = { value: false };

/** The `recover` result of a call that found no entry: resolves `undefined`, a miss. */
export const MISS: Recovered<undefined> = { value: undefined };

/** `recover` of a write: a server out of memory refuses it, which is "not stored", not a failure. */
export function notStoredWhenFull(error: unknown): Recovered<false> | undefined {
  return isOutOfMemory(error) ? NOT_STORED : undefined;
}

/** `recover` of a write that reads back: out of memory, the server holds nothing. */
export function missWhenFull(error: unknown): Recovered<undefined> | undefined {
  return isOutOfMemory(error) ? MISS : undefined;
}

/** `recover` of a read: a key of another Redis type is a miss, as `MGET` answers for it. */
export function missWhenNotString(error: unknown): Recovered<undefined> | undefined {
  return isWrongType(error) ? MISS : undefined;
}

/** One reply of a batch read: nil (a miss) for a key of another Redis type; else the error again. */
export function nilWhenNotString(error: unknown): null {
  if (isWrongType(error)) return null;
  throw error;
}

/** `decode` of a call whose reply is already its result. */
export function passReply<T>(reply: T): T {
  return reply;
}

/** `decode` of a call that resolves nothing (`deleteMany`, `flush`): the reply is dropped. */
export function discardReply(): undefined {
  return undefined;
}

/**
 * Handles a rejection nobody awaits any more — a reply whose call already failed, or a waiter
 * given up on — so it is not reported as unhandled. The call has its error already.
 */
export function ignoreRejection(): void {
  // Nothing to do: the call that sent the command reported its own outcome.
}
