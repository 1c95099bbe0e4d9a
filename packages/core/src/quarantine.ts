import type { StoredEntry } from './backend.js';

/** The last confirmed write to a quarantined key. */
interface ConfirmedWrite {
  readonly entry: StoredEntry;
  /** TTL of the write, in seconds (0 = none). */
  readonly ttlSeconds: number;
  /** When it was written, in epoch milliseconds. */
  readonly writtenAtMs: number;
}

interface QuarantinedKey {
  /** The pending end-of-window timer, or `undefined` while the end action runs. */
  timer: NodeJS.Timeout | undefined;
  latest: ConfirmedWrite | undefined;
  attempts: number;
  /** Bumped by every begin/confirm, so an end action that raced with one does not drop it. */
  generation: number;
}

/** What the quarantine does when a key's window ends. */
export interface QuarantineActions {
  /** Deletes the key on the server. */
  delete(fullKey: string): Promise<unknown>;
  /** Writes the last confirmed value again, with the TTL it has left. */
  rewrite(fullKey: string, entry: StoredEntry, ttlSeconds: number): Promise<unknown>;
  /** Reports an end-of-window action that failed for good. */
  onGiveUp(fullKey: string, error: unknown): void;
}

const MAX_ATTEMPTS = 3;

/**
 * Guards against late-write resurrection: a write that timed out may still land on the server
 * after a newer write that succeeded. After an indeterminate write the key is quarantined for
 * `durationMs`: reads see the last write confirmed during the window (or a miss), and when the
 * window ends the key is rewritten with that value or deleted, so the stale bytes never surface.
 */
export class WriteQuarantine {
  readonly #durationMs: number;
  readonly #actions: QuarantineActions;
  readonly #now: () => number;
  readonly #keys = new Map<string, QuarantinedKey>();

  constructor(durationMs: number, actions: QuarantineActions, now: () => number) {
    this.#durationMs = durationMs;
    this.#actions = actions;
    this.#now = now;
  }

  /** Number of keys in quarantine. */
  get size(): number {
    return this.#keys.size;
  }

  /** True when `fullKey` is quarantined. */
  has(fullKey: string): boolean {
    return this.#keys.has(fullKey);
  }

  /** The last write confirmed during the window, if it has not expired. */
  latest(fullKey: string): StoredEntry | undefined {
    const latest = this.#keys.get(fullKey)?.latest;
    if (latest === undefined) return undefined;
    if (latest.ttlSeconds > 0 && this.#now() >= latest.writtenAtMs + latest.ttlSeconds * 1000)
      return undefined;
    return latest.entry;
  }

  /** Starts (or restarts) the window for a key whose write was indeterminate. */
  begin(fullKey: string): void {
    const existing = this.#keys.get(fullKey);
    if (existing !== undefined) clearTimeout(existing.timer);
    const record: QuarantinedKey = existing ?? {
      timer: undefined,
      latest: undefined,
      attempts: 0,
      generation: 0,
    };
    record.generation++;
    record.timer = this.#schedule(fullKey);
    this.#keys.set(fullKey, record);
  }

  /** Records a confirmed write during the window; `undefined` records a confirmed delete. */
  confirm(fullKey: string, entry: StoredEntry | undefined, ttlSeconds = 0): void {
    const record = this.#keys.get(fullKey);
    if (record === undefined) return;
    record.generation++;
    record.latest =
      entry === undefined ? undefined : { entry, ttlSeconds, writtenAtMs: this.#now() };
  }

  /**
   * Records a counter update (`incr`/`decr`) confirmed during the window: the remembered value
   * becomes the server's new count, keeping its flags and TTL. Without a remembered value the
   * key stays a miss and is deleted at the end of the window.
   */
  confirmCount(fullKey: string, count: bigint): void {
    const record = this.#keys.get(fullKey);
    if (record?.latest === undefined) return;
    record.generation++;
    const { entry, ttlSeconds, writtenAtMs } = record.latest;
    record.latest = {
      entry: { value: Buffer.from(count.toString(), 'latin1'), flags: entry.flags },
      ttlSeconds,
      writtenAtMs,
    };
  }

  /** Records a `touch` confirmed during the window: the remembered value gets the new TTL. */
  confirmTouch(fullKey: string, ttlSeconds: number): void {
    const record = this.#keys.get(fullKey);
    if (record?.latest === undefined) return;
    record.generation++;
    record.latest = { entry: record.latest.entry, ttlSeconds, writtenAtMs: this.#now() };
  }

  /**
   * Records that every quarantined key was removed (a server flush): reads see misses and each
   * window ends with a delete, so no remembered value is written back after the flush.
   */
  confirmAllDeleted(): void {
    for (const record of this.#keys.values()) {
      record.generation++;
      record.latest = undefined;
    }
  }

  /** Cancels every window (on close); pending end-of-window actions are dropped. */
  clear(): void {
    for (const record of this.#keys.values()) clearTimeout(record.timer);
    this.#keys.clear();
  }

  #schedule(fullKey: string): NodeJS.Timeout {
    const timer = setTimeout(() => void this.#end(fullKey), this.#durationMs);
    timer.unref();
    return timer;
  }

  async #end(fullKey: string): Promise<void> {
    const record = this.#keys.get(fullKey);
    if (record === undefined) return;
    record.timer = undefined;
    const generation = record.generation;
    const latest = record.latest;
    try {
      if (latest === undefined) {
        await this.#actions.delete(fullKey);
      } else {
        const remaining =
          latest.ttlSeconds === 0
            ? 0
            : latest.ttlSeconds - (this.#now() - latest.writtenAtMs) / 1000;
        if (latest.ttlSeconds !== 0 && remaining <= 0) await this.#actions.delete(fullKey);
        else await this.#actions.rewrite(fullKey, latest.entry, remaining);
      }
      if (this.#keys.get(fullKey) !== record) return;
      if (record.generation === generation) this.#keys.delete(fullKey);
      // A confirm raced with the action: run the end again with the newer value.
      else record.timer ??= this.#schedule(fullKey);
    } catch (error) {
      if (this.#keys.get(fullKey) !== record || record.timer !== undefined) return;
      record.attempts++;
      if (record.attempts >= MAX_ATTEMPTS) {
        this.#keys.delete(fullKey);
        this.#actions.onGiveUp(fullKey, error);
      } else {
        record.timer = this.#schedule(fullKey);
      }
    }
  }
}
