import { randomBytes } from 'node:crypto';
import {
  Codec,
  createAesGcmCipher,
  DEFAULT_MAX_DECOMPRESSED_BYTES,
  type CacheCipher,
  type StoredEntry,
} from '@stowage/core';
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

interface Variant {
  readonly name: string;
  readonly codec: Codec;
}

function variants(cipher: CacheCipher): Variant[] {
  const base = {
    acceptPlaintext: false,
    maxDecompressedBytes: DEFAULT_MAX_DECOMPRESSED_BYTES,
    serializer: undefined,
    deserializer: undefined,
  };
  return [
    { name: 'plain', codec: new Codec({ ...base, compress: false, cipher: undefined }) },
    { name: 'zlib', codec: new Codec({ ...base, compress: true, cipher: undefined }) },
    { name: 'aes-256-gcm', codec: new Codec({ ...base, compress: false, cipher }) },
    { name: 'zlib+aes-256-gcm', codec: new Codec({ ...base, compress: true, cipher }) },
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
 * Measures what compression and AES-256-GCM add per value, through @stowage/core's own `Codec`
 * and cipher: encode and decode of a JSON value, variants interleaved round by round, medians.
 */
export function measureCodecCost(options: CodecCostOptions): CodecCost[] {
  const cipher = createAesGcmCipher({ keys: { id: 0, key: randomBytes(32) } });
  const all = variants(cipher);
  const fullKey = 'bench:codec:key';
  const results: CodecCost[] = [];
  for (const size of options.sizes ?? [1024, 16 * 1024]) {
    const value = makeJsonPayload(size, 7);
    const jsonBytes = Buffer.byteLength(JSON.stringify(value));
    const encoded = new Map<string, StoredEntry>();
    for (const { name, codec } of all) encoded.set(name, codec.encode(value, fullKey, 'key'));
    const encodeUs = new Map<string, number[]>();
    const decodeUs = new Map<string, number[]>();
    for (let round = 0; round < options.rounds; round++) {
      for (let v = 0; v < all.length; v++) {
        const { name, codec } = all[(v + round) % all.length] as Variant;
        const entry = encoded.get(name) as StoredEntry;
        const enc = timeLoop(() => codec.encode(value, fullKey, 'key'), options.durationMs);
        const dec = timeLoop(() => codec.decode(entry, fullKey), options.durationMs);
        encodeUs.set(name, [...(encodeUs.get(name) ?? []), enc]);
        decodeUs.set(name, [...(decodeUs.get(name) ?? []), dec]);
      }
    }
    const plainEncode = median(encodeUs.get('plain') ?? []);
    const plainDecode = median(decodeUs.get('plain') ?? []);
    for (const { name } of all) {
      const enc = median(encodeUs.get(name) ?? []);
      const dec = median(decodeUs.get(name) ?? []);
      results.push({
        variant: name,
        jsonBytes,
        storedBytes: (encoded.get(name) as StoredEntry).value.byteLength,
        encodeUs: enc,
        decodeUs: dec,
        encodeAddedUs: enc - plainEncode,
        decodeAddedUs: dec - plainDecode,
      });
    }
  }
  return results;
}
