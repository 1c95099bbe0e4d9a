import type { StoredEntry } from '../backend/contract.js';
import { sameEntry } from '../bytes.js';

/**
 * How many in-doubt writes of one key the quarantine remembers for its compare-and-delete; past
 * this it deletes the key unconditionally when the window ends (a miss is always safe).
 */
const MAX_SUSPECTS = 8;
/** End-of-window attempts before the quarantine gives up on a key and warns. */
const MAX_ATTEMPTS = 3;

interface QuarantinedKey {
  /** The pending end-of-window timer, or `undefined` while the end action runs. */
  timer: NodeJS.Timeout | undefined;
  /**
   * The entries of writes whose outcome is unknown (they timed out): any of them may still land
   * on the server. `undefined` once there were more than {@link MAX_SUSPECTS}.
   */
  suspects: StoredEntry[] | undefined;
  /**
   * The last entry this process wrote and saw confirmed since the window began: the only bytes a
   * read of the key may return while the key is in doubt. `undefined` when there is none, or when
   * a later delete, counter update or flush made it stale.
   */
  confirmed: StoredEntry | undefined;
  attempts: number;
}

/** What the quarantine does when a key's window ends. */
export interface QuarantineActions {
  /**
   * Deletes the key only while it holds exactly `expected` (a compare-and-delete), so a newer
   * write by anyone survives; with `expected` undefined, deletes it whatever it holds.
   */
  delete(fullKey: string, expected: StoredEntry | undefined): Promise<unknown>;
  /** Reports an end-of-window action that failed for good. */
  onGiveUp(fullKey: string, error: unknown): void;
}

/**
 * Guards against late-write resurrection: a write that timed out may still land on the server
 * after a newer write, by this process or any other. The client never writes an older value back
 * to repair that (it could overwrite someone's newer write); it only deletes.
 *
 * After an indeterminate write the key is in doubt for `durationMs`:
 * - a read of the key returns what the server holds only if those are exactly the bytes this
 *   process last wrote and saw confirmed during the window; anything else (the late write, the
 *   value from before it, another process's write) reads as a miss;
 * - when the window ends, each in-doubt write is removed with a compare-and-delete: the key is
 *   deleted only while it still holds those bytes, so a newer write by anyone survives. A backend
 *   without compare-and-delete deletes the key outright.
 */
export class WriteQuarantine {
  readonly #durationMs: number;
  readonly #actions: QuarantineActions;
  readonly #keys = new Map<string, QuarantinedKey>();

  constructor(durationMs: number, actions: QuarantineActions) {
    this.#durationMs = durationMs;
    this.#actions = actions;
  }

  /** Number of keys in quarantine. */
  get size(): number {
    return this.#keys.size;
  }

  /** True when `fullKey` is quarantined. */
  has(fullKey: string): boolean {
    return this.#keys.has(fullKey);
  }

  /**
   * Filters what a read of a quarantined key found: the entry itself when it is exactly the one
   * this process confirmed during the window, else `undefined` (a miss).
   */
  admit(fullKey: string, found: StoredEntry | undefined): StoredEntry | undefined {
    const record = this.#keys.get(fullKey);
    if (record === undefined) return found;
    return record.confirmed !== undefined && sameEntry(found, record.confirmed) ? found : undefined;
  }

  /**
   * Starts (or restarts) the window of a key whose write of `entry` was indeterminate; `entry`
   * undefined when the bytes are not known (they are then deleted unconditionally).
   */
  begin(fullKey: string, entry: StoredEntry | undefined): void {
    let record = this.#keys.get(fullKey);
    if (record === undefined) {
      record = { timer: undefined, suspects: [], confirmed: undefined, attempts: 0 };
      this.#keys.set(fullKey, record);
    }
    clearTimeout(record.timer);
    if (entry === undefined || record.suspects === undefined) record.suspects = undefined;
    else if (record.suspects.length >= MAX_SUSPECTS) record.suspects = undefined;
    else record.suspects.push(entry);
    // What this process confirmed before may already be overwritten by the write in doubt.
    record.confirmed = undefined;
    record.attempts = 0;
    record.timer = this.#schedule(fullKey);
  }

  /**
   * Records the outcome of a confirmed operation on a quarantined key: `entry` is what the server
   * now holds because this process wrote it; `undefined` after a confirmed delete, a counter
   * update or anything else that leaves this process unable to vouch for the bytes.
   */
  confirm(fullKey: string, entry: StoredEntry | undefined): void {
    const record = this.#keys.get(fullKey);
    if (record !== undefined) record.confirmed = entry;
  }

  /** Records a server flush: no quarantined key has a value this process can vouch for. */
  confirmAllDeleted(): void {
    for (const record of this.#keys.values()) record.confirmed = undefined;
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
    const suspects = record.suspects;
    try {
      if (suspects === undefined) {
        await this.#actions.delete(fullKey, undefined);
      } else {
        for (const suspect of suspects) await this.#actions.delete(fullKey, suspect);
      }
    } catch (error) {
      if (this.#keys.get(fullKey) !== record || record.timer !== undefined) return;
      record.attempts++;
      if (record.attempts >= MAX_ATTEMPTS) {
        this.#keys.delete(fullKey);
        this.#actions.onGiveUp(fullKey, error);
      } else {
        record.timer = this.#schedule(fullKey);
      }
      return;
    }
    // A write that timed out while the action ran restarted the window (a new timer): keep the
    // record, with only the suspects not yet removed.
    if (this.#keys.get(fullKey) !== record) return;
    if (record.timer === undefined) {
      this.#keys.delete(fullKey);
    } else if (suspects !== undefined && record.suspects !== undefined) {
      record.suspects = record.suspects.filter((entry) => !suspects.includes(entry));
    }
  }
}
