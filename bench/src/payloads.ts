import { PayloadSize, type JsonValue } from './types.js';

/** Approximate JSON sizes, in bytes, of the payloads of the scenarios. */
export const PAYLOAD_BYTES: Readonly<Record<PayloadSize, number>> = {
  [PayloadSize.Small]: 100,
  [PayloadSize.Large]: 10 * 1024,
};

/** Short labels for tables. */
export const PAYLOAD_LABELS: Readonly<Record<PayloadSize, string>> = {
  [PayloadSize.Small]: '100 B',
  [PayloadSize.Large]: '10 KB',
};

// A seeded generator keeps payloads identical between runs, so results compare across runs.
function mulberry32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const NAMES = ['ada', 'grace', 'alan', 'edsger', 'barbara', 'donald', 'ken', 'margaret'];
const TAGS = ['billing', 'admin', 'beta', 'eu', 'us', 'mobile', 'web', 'trial'];

function record(random: () => number, id: number): JsonValue {
  const name = NAMES[Math.floor(random() * NAMES.length)] ?? 'ada';
  return {
    id,
    name,
    email: `${name}.${id}@example.com`,
    active: random() < 0.7,
    score: Math.round(random() * 10_000) / 100,
    tags: [TAGS[Math.floor(random() * TAGS.length)] ?? 'web'],
  };
}

/**
 * A JSON object of about `bytes` bytes when stringified, shaped like real cached data (records
 * with names, e-mails, flags and numbers), so compression ratios are realistic. Deterministic
 * for a given `bytes` and `seed`.
 */
export function makeJsonPayload(bytes: number, seed = 1): JsonValue {
  const random = mulberry32(seed);
  const first = record(random, 1000);
  if (JSON.stringify(first).length >= bytes * 0.8) return first;
  const items: JsonValue[] = [];
  const value = { page: 1, total: 0, items };
  while (JSON.stringify(value).length < bytes) {
    items.push(record(random, 1000 + items.length));
    value.total = items.length;
  }
  return value;
}
