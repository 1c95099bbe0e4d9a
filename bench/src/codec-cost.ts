import { randomBytes } from 'node:crypto';
import { CacheClient, createAesGcmCipher, type CacheCipher, type StoredEntry } from '@stowage/core';
import { createMemoryBackend } from '@stowage/backend-memory';
import { makeJsonPayload } from './payloads.js';
import { median } from './stats.js';

/** What one codec variant costs per value of one size. */
export interface CodecCost {
  /** `plain`, `zlib`, `aes-256-gcm` or `zlib+aes-256-gcm`. */
  readonly variant: string;
  /** JSON size of the value, in bytes. */
  readonly jsonBytes: number;
  /** Bytes stored after encoding. */
  readonly storedBytes: number;
  /** Median time of one `encode`, in microseconds. */
  readonly encodeUs: number;
  /** Median time of one `decode`, in microseconds. */
  readonly decodeUs: number;
  /** `encodeUs` minus the plain variant's: what this variant adds to a write. */
  readonly encodeAddedUs: number;
  /** `decodeUs` minus the plain variant's: what this variant adds to a read. */
  readonly decodeAddedUs: number;
}

/** Options of {@link measureCodecCost}. */
export interface CodecCostOptions {
  /** JSON sizes to measure, in bytes. @default [1024, 16384] */
  readonly sizes?: readonly number[];
  /** Rounds, interleaving the variants. */
  readonly rounds: number;
  /** Time per variant, operation and round, in milliseconds. */
  readonly durationMs: number;
}

/**
 * One codec variant, driven through the public client over a memory backend (the codec is not a
 * public export): `encode` is a `set` without the read-back, `decode` a `get` of a copy of the
 * stored entry (a new object, so the client decodes its bytes as it does for a remote backend).
 * The client's own work is the same in every variant; the "added" columns subtract it.
 */
interface Variant {
  readonly name: string;
  readonly encode: () => unknown;
  readonly decode: () => unknown;
  readonly stored: () => StoredEntry;
}

function variant(
  name: string,
  value: unknown,
  options: { compress: boolean; cipher?: CacheCipher },
): Variant {
  const backend = createMemoryBackend();
  const client = new CacheClient({ backend, compress: options.compress, cipher: options.cipher });
  const key = 'codec';
  void client.set(key, value, { skipIntegrityCheck: true });
  const stored = (): StoredEntry => {
    const entry = backend.get(key) as StoredEntry;
    return { value: entry.value, flags: entry.flags };
  };
  const copy = stored();
  // Only `get` is called on the reader's backend: it answers a new object with the stored bytes.
  const reader = new CacheClient({
    backend: {
      ...backend,
      name: 'copy',
      get: () => ({ value: copy.value, flags: copy.flags }),
    } as never,
    compress: options.compress,
    cipher: options.cipher,
  });
  return {
    name,
    encode: () => client.set(key, value, { skipIntegrityCheck: true }),
    decode: () => reader.get(key),
    stored,
  };
}

function variants(cipher: CacheCipher, value: unknown): Variant[] {
  return [
    variant('plain', value, { compress: false }),
    variant('zlib', value, { compress: true }),
    variant('aes-256-gcm', value, { compress: false, cipher }),
    variant('zlib+aes-256-gcm', value, { compress: true, cipher }),
  ];
}

/** Runs `fn` repeatedly for about `durationMs`; resolves microseconds per call. */
function timeLoop(fn: () => unknown, durationMs: number): number {
  const started = performance.now();
  const end = started + durationMs;
  let calls = 0;
  let now = started;
  while (now < end) {
    for (let i = 0; i < 16; i++) fn();
    calls += 16;
    now = performance.now();
  }
  return ((now - started) * 1000) / calls;
}

/**
 * Measures what compression and AES-256-GCM add per value, through @stowage/core's client and
 * cipher: encode and decode of a JSON value, variants interleaved round by round, medians.
 */
export function measureCodecCost(options: CodecCostOptions): CodecCost[] {
  const cipher = createAesGcmCipher({ keys: { id: 0, key: randomBytes(32) } });
  const results: CodecCost[] = [];
  for (const size of options.sizes ?? [1024, 16 * 1024]) {
    const value = makeJsonPayload(size, 7);
    const jsonBytes = Buffer.byteLength(JSON.stringify(value));
    const all = variants(cipher, value);
    const encodeUs = new Map<string, number[]>();
    const decodeUs = new Map<string, number[]>();
    for (let round = 0; round < options.rounds; round++) {
      for (let v = 0; v < all.length; v++) {
        const { name, encode, decode } = all[(v + round) % all.length] as Variant;
        const enc = timeLoop(encode, options.durationMs);
        const dec = timeLoop(decode, options.durationMs);
        encodeUs.set(name, [...(encodeUs.get(name) ?? []), enc]);
        decodeUs.set(name, [...(decodeUs.get(name) ?? []), dec]);
      }
    }
    const plainEncode = median(encodeUs.get('plain') ?? []);
    const plainDecode = median(decodeUs.get('plain') ?? []);
    for (const { name, stored } of all) {
      const enc = median(encodeUs.get(name) ?? []);
      const dec = median(decodeUs.get(name) ?? []);
      results.push({
        variant: name,
        jsonBytes,
        storedBytes: stored().value.byteLength,
        encodeUs: enc,
        decodeUs: dec,
        encodeAddedUs: enc - plainEncode,
        decodeAddedUs: dec - plainDecode,
      });
    }
  }
  return results;
}
