import { BusAction, type BusMessage } from '@stowage/core/backend';

/**
 * Version of the wire format. A frame is a JSON array: `[1, "d", source, [keys…]]` for a delete,
 * `[1, "c", source]` for a clear. JSON because `JSON.stringify` escapes lone surrogates, so every
 * JavaScript string (any full key) round-trips exactly through Redis's bytes; an array because it
 * is a third the size of an object with named fields. A later version gets a new first element,
 * and a process that does not know it drops the frame with a warning.
 */
export const WIRE_VERSION = 1;

/** Longest `source` a message may carry, in UTF-16 code units (the contract's limit). */
export const MAX_SOURCE_LENGTH = 64;

const ACTION_CODE = { [BusAction.Delete]: 'd', [BusAction.Clear]: 'c' } as const;

/** Why a message cannot be published as it is; `undefined` when it can. */
export function messageProblem(message: unknown): string | undefined {
  if (typeof message !== 'object' || message === null) return 'a bus message must be an object';
  const { action, keys, source } = message as Partial<Record<keyof BusMessage, unknown>>;
  if (action !== BusAction.Delete && action !== BusAction.Clear) {
    return `a bus message's action must be 'delete' or 'clear'; got ${String(action)}`;
  }
  if (!isSource(source)) {
    return `a bus message's source must be a string of 1 to ${MAX_SOURCE_LENGTH} characters`;
  }
  if (!Array.isArray(keys) || !keys.every((key) => typeof key === 'string')) {
    return "a bus message's keys must be an array of strings";
  }
  return undefined;
}

function isSource(source: unknown): source is string {
  return typeof source === 'string' && source.length > 0 && source.length <= MAX_SOURCE_LENGTH;
}

/** Encodes a message already checked by {@link messageProblem}. */
export function encodeMessage(message: BusMessage): string {
  return message.action === BusAction.Clear
    ? JSON.stringify([WIRE_VERSION, ACTION_CODE.clear, message.source])
    : JSON.stringify([WIRE_VERSION, ACTION_CODE.delete, message.source, message.keys]);
}

/** The frame of a `clear` from `source`. */
export function clearFrame(source: string): string {
  return JSON.stringify([WIRE_VERSION, ACTION_CODE.clear, source]);
}

/** Bytes of a frame quoted in a warning: enough to recognise it, never a whole payload. */
const QUOTED_LENGTH = 60;

/** Thrown by {@link decodeMessage} for a frame that is not a bus message of this version. */
export class MalformedFrameError extends Error {
  constructor(why: string, frame: string) {
    const quoted = frame.length > QUOTED_LENGTH ? `${frame.slice(0, QUOTED_LENGTH)}…` : frame;
    super(`dropped a message on the bus channel: ${why} (${JSON.stringify(quoted)})`);
    this.name = 'MalformedFrameError';
  }
}

/** Decodes a frame; throws {@link MalformedFrameError} for anything else on the channel. */
export function decodeMessage(frame: string): BusMessage {
  let parsed: unknown;
  try {
    parsed = JSON.parse(frame);
  } catch {
    throw new MalformedFrameError('not a stowage bus frame', frame);
  }
  if (!Array.isArray(parsed)) throw new MalformedFrameError('not a stowage bus frame', frame);
  const [version, code, source, keys] = parsed as unknown[];
  if (version !== WIRE_VERSION) {
    throw new MalformedFrameError(
      typeof version === 'number'
        ? `wire format version ${version} is not supported (this version reads ${WIRE_VERSION})`
        : 'not a stowage bus frame',
      frame,
    );
  }
  if (!isSource(source)) throw new MalformedFrameError('bad source', frame);
  if (code === ACTION_CODE.clear && parsed.length === 3) {
    return { action: BusAction.Clear, keys: [], source };
  }
  if (
    code === ACTION_CODE.delete &&
    parsed.length === 4 &&
    Array.isArray(keys) &&
    keys.every((key) => typeof key === 'string')
  ) {
    return { action: BusAction.Delete, keys, source };
  }
  throw new MalformedFrameError('bad action or keys', frame);
}
