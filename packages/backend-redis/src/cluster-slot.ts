/** Number of hash slots in a Redis Cluster. */
export const CLUSTER_SLOTS = 16384;

// CRC16-CCITT (XMODEM), the checksum Redis Cluster hashes keys with (cluster spec, appendix A).
const TABLE = new Uint16Array(256);
for (let i = 0; i < 256; i++) {
  let crc = i << 8;
  for (let bit = 0; bit < 8; bit++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : crc << 1;
  TABLE[i] = crc & 0xffff;
}

function crc16(bytes: Uint8Array, start: number, end: number): number {
  let crc = 0;
  for (let i = start; i < end; i++) {
    crc = ((crc << 8) & 0xffff) ^ (TABLE[((crc >> 8) ^ (bytes[i] as number)) & 0xff] as number);
  }
  return crc;
}

const OPEN = 0x7b; // {
const CLOSE = 0x7d; // }

/**
 * The cluster hash slot of a key, as Redis computes it: CRC16 of the key's bytes modulo 16384,
 * or of its hash tag only — the part between the first `{` and the next `}`, when not empty.
 *
 * Not `cluster-key-slot` (ioredis's dependency), on purpose: for a key whose first tag is empty
 * and a later one is not (`foo{}{bar}`) it hashes the later tag, where Redis hashes the whole key
 * (8363 vs 4015, checked against a real server in the Cluster tests). ioredis recovers by
 * following the `MOVED` redirect; a batch grouped by a wrong slot would fail with `CROSSSLOT`.
 */
export function keySlot(key: string | Uint8Array): number {
  const bytes = typeof key === 'string' ? Buffer.from(key, 'utf8') : key;
  const open = bytes.indexOf(OPEN);
  if (open !== -1) {
    const close = bytes.indexOf(CLOSE, open + 1);
    if (close > open + 1) return crc16(bytes, open + 1, close) % CLUSTER_SLOTS;
  }
  return crc16(bytes, 0, bytes.length) % CLUSTER_SLOTS;
}

/** Positions of `keys` grouped by hash slot, each group in the order the keys were given. */
export function groupBySlot(keys: ReadonlyArray<string | Uint8Array>): Map<number, number[]> {
  const groups = new Map<number, number[]>();
  for (let i = 0; i < keys.length; i++) {
    const slot = keySlot(keys[i] as string | Uint8Array);
    const group = groups.get(slot);
    if (group === undefined) groups.set(slot, [i]);
    else group.push(i);
  }
  return groups;
}
