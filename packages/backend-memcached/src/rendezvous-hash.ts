/**
 * pymemcache's key distribution, for fleets that share memcached servers with Python services
 * using `pymemcache.client.hash.HashClient` with its default hasher (`RendezvousHash`, the same in
 * pymemcache 3.5 and 4.0). Rendezvous (highest random weight) hashing: every server scores the
 * key with `murmur3_32(f"{node}-{key}", seed=0)` and the highest score wins; on a tie the server
 * whose name is greater (Python string order) wins. `node` is HashClient's node name,
 * `'%s:%s' % (host, port)` — the host as configured (an IPv6 address without its brackets, a
 * name never resolved) — and `key` is the key HashClient was given, without its `key_prefix`.
 *
 * pymemcache's murmur3 runs over the characters of that Python string, taking
 * `ord(character) & 0xff` as each byte, not over UTF-8: a key with non-ASCII characters hashes
 * code points cut to their low byte. This class does the same, so keys of any script land where
 * Python puts them. For a code point past U+FFFF (a UTF-16 surrogate pair in JavaScript) the low
 * byte is the low surrogate's low byte, and the pair counts as one character.
 *
 * Hot path: a key is turned into those bytes once per lookup, into a reused buffer; each server's
 * name prefix (`node-`) is hashed once, here, and a lookup only continues murmur3 from the state
 * after it. No allocation per lookup.
 */
export class RendezvousHash {
  /** Per server: murmur3's `h1` after the whole 4-byte blocks of `"<node>-"`. */
  readonly #states: Uint32Array;
  /** Per server: the 0–3 bytes of `"<node>-"` after its last whole block, packed low byte first. */
  readonly #tails: Uint32Array;
  /** Per server: how many tail bytes (0–3). */
  readonly #tailLengths: Uint8Array;
  /** Per server: characters in `"<node>-"`, for murmur3's final length mix. */
  readonly #prefixLengths: Uint32Array;
  /** Per server: its rank in Python string order of the names, for ties (higher wins). */
  readonly #ranks: Uint32Array;
  /** 3 bytes of room for a tail, then the key's bytes; grown if a key is ever longer. */
  #scratch = new Uint8Array(3 + 256);

  /**
   * @param nodes HashClient's node names, `host:port` with the host as the Python service
   *   configures it (IPv6 without brackets); the index is what {@link RendezvousHash.locate}
   *   returns
   */
  constructor(nodes: readonly string[]) {
    const count = nodes.length;
    this.#states = new Uint32Array(count);
    this.#tails = new Uint32Array(count);
    this.#tailLengths = new Uint8Array(count);
    this.#prefixLengths = new Uint32Array(count);
    this.#ranks = new Uint32Array(count);
    nodes.forEach((node, index) => {
      const bytes = lowBytes(`${node}-`);
      const whole = bytes.length & ~3;
      this.#states[index] = blocks(0, bytes, 0, whole);
      let tail = 0;
      for (let i = whole; i < bytes.length; i++) tail |= (bytes[i] as number) << (8 * (i - whole));
      this.#tails[index] = tail;
      this.#tailLengths[index] = bytes.length - whole;
      this.#prefixLengths[index] = bytes.length;
    });
    const order = nodes
      .map((_, index) => index)
      .sort((a, b) => compareCodePoints(nodes[a]!, nodes[b]!));
    order.forEach((index, rank) => {
      this.#ranks[index] = rank;
    });
  }

  /** Index of the server HashClient would pick for `key` (the key as HashClient gets it). */
  locate(key: string): number {
    const keyLength = this.#fill(key);
    const scratch = this.#scratch;
    let winner = 0;
    let best = -1;
    for (let node = 0; node < this.#states.length; node++) {
      const tailLength = this.#tailLengths[node] as number;
      const tail = this.#tails[node] as number;
      // The node's tail bytes go right before the key, so murmur3 reads one contiguous run.
      for (let i = 0; i < tailLength; i++) scratch[3 - tailLength + i] = (tail >>> (8 * i)) & 0xff;
      const run = tailLength + keyLength;
      const start = 3 - tailLength;
      const whole = run & ~3;
      let h1 = blocks(this.#states[node] as number, scratch, start, start + whole);
      h1 = finish(
        h1,
        scratch,
        start + whole,
        run - whole,
        (this.#prefixLengths[node] as number) + keyLength,
      );
      if (
        h1 > best ||
        (h1 === best && (this.#ranks[node] as number) > (this.#ranks[winner] as number))
      ) {
        best = h1;
        winner = node;
      }
    }
    return winner;
  }

  /** Writes the key's bytes (`ord(c) & 0xff` per character) after the tail room; returns how many. */
  #fill(key: string): number {
    if (this.#scratch.length < 3 + key.length) this.#scratch = new Uint8Array(3 + key.length);
    const scratch = this.#scratch;
    let length = 0;
    for (let i = 0; i < key.length; i++) {
      const unit = key.charCodeAt(i);
      // A high surrogate followed by a low one is one Python character: keep the low one's byte.
      if (unit >= 0xd800 && unit <= 0xdbff && i + 1 < key.length) {
        const next = key.charCodeAt(i + 1);
        if (next >= 0xdc00 && next <= 0xdfff) continue;
      }
      scratch[3 + length++] = unit & 0xff;
    }
    return length;
  }
}

const C1 = 0xcc9e2d51;
const C2 = 0x1b873593;

/** The bytes pymemcache's murmur3 reads from a Python string: each character's low byte. */
function lowBytes(text: string): Uint8Array {
  const bytes: number[] = [];
  for (const character of text) bytes.push((character.codePointAt(0) as number) & 0xff);
  return Uint8Array.from(bytes);
}

function scramble(k1: number): number {
  k1 = Math.imul(k1, C1);
  k1 = (k1 << 15) | (k1 >>> 17);
  return Math.imul(k1, C2);
}

/** murmur3_32's body over the 4-byte blocks in `bytes[from, to)`, from state `h1`. */
function blocks(h1: number, bytes: Uint8Array, from: number, to: number): number {
  for (let i = from; i < to; i += 4) {
    const k1 =
      (bytes[i] as number) |
      ((bytes[i + 1] as number) << 8) |
      ((bytes[i + 2] as number) << 16) |
      ((bytes[i + 3] as number) << 24);
    h1 ^= scramble(k1);
    h1 = (h1 << 13) | (h1 >>> 19);
    h1 = (Math.imul(h1, 5) + 0xe6546b64) | 0;
  }
  return h1;
}

/** murmur3_32's tail (`count` 0–3 bytes at `at`) and finalisation; unsigned result. */
function finish(h1: number, bytes: Uint8Array, at: number, count: number, length: number): number {
  let k1 = 0;
  if (count === 3) k1 ^= (bytes[at + 2] as number) << 16;
  if (count >= 2) k1 ^= (bytes[at + 1] as number) << 8;
  if (count >= 1) h1 ^= scramble(k1 ^ (bytes[at] as number));
  h1 ^= length;
  h1 ^= h1 >>> 16;
  h1 = Math.imul(h1, 0x85ebca6b);
  h1 ^= h1 >>> 13;
  h1 = Math.imul(h1, 0xc2b2ae35);
  h1 ^= h1 >>> 16;
  return h1 >>> 0;
}

/** Python's `str` order: by code point (JavaScript's `<` compares UTF-16 units). */
function compareCodePoints(a: string, b: string): number {
  const left = Array.from(a, (character) => character.codePointAt(0) as number);
  const right = Array.from(b, (character) => character.codePointAt(0) as number);
  for (let i = 0; i < Math.min(left.length, right.length); i++) {
    if (left[i] !== right[i]) return (left[i] as number) - (right[i] as number);
  }
  return left.length - right.length;
}

/** murmur3_32 as pymemcache computes it over a Python string (seed 0); for tests and tools. */
export function pymemcacheMurmur3(text: string): number {
  const bytes = lowBytes(text);
  const whole = bytes.length & ~3;
  return finish(blocks(0, bytes, 0, whole), bytes, whole, bytes.length - whole, bytes.length);
}
