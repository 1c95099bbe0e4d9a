import { createHash } from 'node:crypto';
import type { RedisArg, RedisClientLike } from './client-like.js';
import { ignoreRejection, isNoScript, TIMED_OUT } from './replies.js';

/** A Lua script the backend runs with `EVALSHA`, sending the source with `EVAL` when the server lacks it. */
export interface LuaScript {
  /** The Lua source. */
  readonly source: string;
  /** Its SHA-1, hex, as `EVALSHA` wants it. */
  readonly sha: string;
}

function script(source: string): LuaScript {
  return { source, sha: createHash('sha1').update(source).digest('hex') };
}

// zlib's CRC-32 (reflected, polynomial 0xEDB88320) with LuaBitOp, which Redis loads for scripts,
// returned as 4 bytes big-endian — the checksum of the stored format (stored-format.ts). Only
// ever run over a key and a few dozen bytes, so a bitwise loop beats building a table per call.
const CRC32_LUA =
  'local function crc32(s) ' +
  'local c = 0xFFFFFFFF ' +
  'for i = 1, #s do ' +
  'c = bit.bxor(c, string.byte(s, i)) ' +
  'for _ = 1, 8 do ' +
  'if bit.band(c, 1) == 1 then c = bit.bxor(bit.rshift(c, 1), 0xEDB88320) ' +
  'else c = bit.rshift(c, 1) end ' +
  'end ' +
  'end ' +
  'c = bit.bnot(c) ' +
  'return string.char(bit.band(bit.rshift(c, 24), 255), bit.band(bit.rshift(c, 16), 255), ' +
  'bit.band(bit.rshift(c, 8), 255), bit.band(c, 255)) ' +
  'end ';

/**
 * `incr`/`decr`. KEYS[1]: the key. ARGV[1]: `INCRBY` or `DECRBY`; ARGV[2]: the delta, decimal.
 * Resolves the new value as decimal text (Lua numbers are doubles: the exact 64-bit result comes
 * from `GET`), nil for a missing key (never created: a miss stays a miss), or an error reply.
 *
 * - A raw value (no header): `INCRBY`/`DECRBY` itself, which checks the digits and the signed
 *   64-bit range.
 * - A value with the version-2 header whose payload is decimal text (a String `'7'`): the payload
 *   is checked against the stored checksum, the bare digits are set, `INCRBY`/`DECRBY` does the
 *   exact 64-bit arithmetic, and header + flags + new digits are set with a new checksum — all in
 *   one script, so no reader sees the bare digits. `KEEPTTL` keeps the TTL (Redis ≥ 6.0). When
 *   Redis refuses (not canonical, overflow), the original value is put back.
 * - Anything else (a version-1 header, a non-decimal payload, a failed checksum): an error reply
 *   that says "not an integer", which the backend turns into `CacheValueError`.
 */
export const COUNTER_SCRIPT: LuaScript = script(
  CRC32_LUA +
    'local key = KEYS[1] ' +
    "local v = redis.call('GET', key) " +
    'if not v then return false end ' +
    'if string.byte(v, 1) ~= 255 then ' +
    'redis.call(ARGV[1], key, ARGV[2]) ' +
    "return redis.call('GET', key) " +
    'end ' +
    "local notInteger = 'ERR value is not an integer or out of range' " +
    'if string.byte(v, 2) ~= 2 or #v < 11 then return redis.error_reply(notInteger) end ' +
    'local body = string.sub(v, 7) ' +
    'local digits = string.sub(v, 11) ' +
    "if #digits > 20 or not string.find(digits, '^%-?[0-9]+$') then " +
    'return redis.error_reply(notInteger) end ' +
    'if crc32(key .. body) ~= string.sub(v, 3, 6) then ' +
    "return redis.error_reply('ERR value is not an integer: it fails its checksum') end " +
    "redis.call('SET', key, digits, 'KEEPTTL') " +
    'local done = redis.pcall(ARGV[1], key, ARGV[2]) ' +
    "if type(done) == 'table' then " +
    "redis.call('SET', key, v, 'KEEPTTL') " +
    'return done ' +
    'end ' +
    "local result = redis.call('GET', key) " +
    'body = string.sub(body, 1, 4) .. result ' +
    "redis.call('SET', key, '\\255\\002' .. crc32(key .. body) .. body, 'KEEPTTL') " +
    'return result',
);

/**
 * `deleteIf`, a compare-and-delete. KEYS[1]: the key. ARGV[1]: the stored form of the expected
 * entry. Unlinks the key and returns 1 only while it holds exactly those bytes; 0 otherwise
 * (other bytes, nothing, or not a string). The length is compared first so a large value is
 * never copied into the script.
 */
export const DELETE_IF_SCRIPT: LuaScript = script(
  "local n = redis.pcall('STRLEN', KEYS[1]) " +
    "if type(n) ~= 'number' or n ~= #ARGV[1] then return 0 end " +
    "if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end " +
    "return redis.call('UNLINK', KEYS[1])",
);

/**
 * What {@link SET_IF_SCRIPT} answers when the key did not hold the expected bytes: an integer
 * reply no other command of the backend answers (a read-back is a bulk string; `UNLINK`,
 * `PEXPIRE`, `EXISTS` and the compare-and-delete answer 0 or more), so a reply that strays in
 * from another command on a damaged stream can never pass for "compare failed".
 */
export const SET_IF_MISMATCH: number = -1;

/**
 * `setIf`, a compare-and-set that reads back. KEYS[1]: the key. ARGV[1]: the stored form of the
 * expected entry; ARGV[2]: the stored form of the new entry; ARGV[3]: the TTL in milliseconds,
 * `0` for no expiry; ARGV[4]: the last byte index the read-back may fetch (the `GETRANGE` bound of
 * every read). Returns {@link SET_IF_MISMATCH} when the key holds other bytes, nothing, or
 * another type (nothing written); otherwise sets the new bytes (a plain `SET`, which also drops
 * an old TTL, for `0`) and returns them as `GETRANGE` reads them, so the client checks what the
 * server holds, not what it sent. Lengths are compared first, as in {@link DELETE_IF_SCRIPT}.
 */
export const SET_IF_SCRIPT: LuaScript = script(
  `local mismatch = ${SET_IF_MISMATCH} ` +
    "local n = redis.pcall('STRLEN', KEYS[1]) " +
    "if type(n) ~= 'number' or n ~= #ARGV[1] then return mismatch end " +
    "if redis.call('GET', KEYS[1]) ~= ARGV[1] then return mismatch end " +
    "if ARGV[3] == '0' then redis.call('SET', KEYS[1], ARGV[2]) " +
    "else redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3]) end " +
    "return redis.call('GETRANGE', KEYS[1], 0, ARGV[4])",
);

/** One run of a script, for {@link runScript}. */
export interface ScriptRun {
  /** The connection to run it on. */
  readonly client: RedisClientLike;
  /** The script. */
  readonly script: LuaScript;
  /** `numkeys`, the keys, then the arguments, as `EVALSHA` takes them. */
  readonly args: readonly RedisArg[];
  /** The call's deadline, in milliseconds from `startedAt`. */
  readonly timeoutMs: number;
  /** When the call started, from `performance.now()`. */
  readonly startedAt: number;
}

/**
 * Runs a script: `EVALSHA`, then — when the server does not have it (first use, after a restart
 * or `SCRIPT FLUSH`) — `EVAL` with the source. The `EVAL` is bounded by what is left of the
 * call's deadline, not by ioredis's `commandTimeout`, which would give it a whole one more.
 */
export function runScript(run: ScriptRun): Promise<unknown> {
  const { client, script, args } = run;
  return client.callBuffer('evalsha', script.sha, ...args).catch((error: unknown) => {
    if (!isNoScript(error)) throw error;
    const left = run.timeoutMs - (performance.now() - run.startedAt);
    if (left <= 0) throw new Error(TIMED_OUT);
    const withSource = client.callBuffer('eval', script.source, ...args);
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(TIMED_OUT)), left);
    });
    // Rejected after the deadline won the race: nobody awaits it any more.
    withSource.catch(ignoreRejection);
    return Promise.race([withSource, late]).finally(() => clearTimeout(timer));
  });
}
