import { inflateSync } from 'node:zlib';
import {
  CacheReturnCode,
  DEFAULT_MAX_DECOMPRESSED_BYTES,
  GRACE_FLAGS,
  NOT_FOUND_FLAGS,
  type CacheCipher,
  type StoredEntry,
} from '@stowage/core';
import {
  LEASE_FLAGS,
  looksLikeZlib,
  TAG_VERSION_FLAGS,
  TAGGED_FLAGS,
  unwrapGraced,
  unwrapTagged,
} from '@stowage/core/backend';

/** What a stored entry is, by its flags: Q2's four types, and Stowage's own entries. */
export type EntryKind =
  | 'string'
  | 'json'
  | 'integer'
  | 'encrypted'
  | 'lease'
  | 'grace'
  | 'notFound'
  | 'tagged'
  | 'tagVersion'
  | 'unknown';

/** How an encrypted entry is sealed, as far as its bytes tell. */
export interface EncryptionAnatomy {
  /** `aes-256-gcm` (Stowage's default), `fernet` (shared with Python), or `unknown`. */
  readonly cipher: 'aes-256-gcm' | 'fernet' | 'unknown';
  /** The AES-256-GCM key id written in the item (key rotation); `undefined` for other ciphers. */
  readonly keyId: number | undefined;
  /** Whether the configured key opens it; `undefined` when no key is configured. */
  readonly decrypts: boolean | undefined;
}

/** When a graced entry stops being fresh and when it is gone (ISO 8601, the writer's clock). */
export interface GraceAnatomy {
  /** Until when the value is fresh (its `ttl`). */
  readonly freshUntil: string;
  /** Until when it may be served stale (`ttl` + `grace`); the server forgets it then. */
  readonly staleUntil: string;
  /** Whether a refresh lease is held in the header right now. */
  readonly refreshLeased: boolean;
}

/** A stored entry described layer by layer, without trusting or changing it. */
export interface EntryAnatomy {
  /** The 32-bit flags as stored. */
  readonly flags: number;
  /** The flags' name: `String`, `Json`, `Integer`, `Encrypted`, `LEASE_FLAGS`, `GRACE_FLAGS`, `NOT_FOUND_FLAGS`, or `unknown`. */
  readonly flagsName: string;
  /** What the flags say the entry is. */
  readonly kind: EntryKind;
  /** The value's Q2 type under encryption and grace (`string`, `json`, `integer`), when known. */
  readonly valueType: 'string' | 'json' | 'integer' | undefined;
  /** Bytes on the server. */
  readonly storedBytes: number;
  /** Whether a zlib layer is present; `undefined` when it is sealed inside a ciphertext the CLI cannot open. */
  readonly compressed: boolean | undefined;
  /** The payload's size after inflating and decrypting, in bytes; `undefined` when unknown. */
  readonly rawBytes: number | undefined;
  /** For encrypted entries. */
  readonly encryption: EncryptionAnatomy | undefined;
  /** For graced entries. */
  readonly grace: GraceAnatomy | undefined;
  /**
   * For tagged entries: how many tags the entry carries (their names are not stored, only their
   * digests), and the flags of the entry inside the tag header.
   */
  readonly tags: { readonly count: number; readonly innerFlags: number } | undefined;
}

const Q2_TYPES: Readonly<Record<number, 'string' | 'json' | 'integer'>> = {
  [CacheReturnCode.String]: 'string',
  [CacheReturnCode.Json]: 'json',
  [CacheReturnCode.Integer]: 'integer',
};

const FLAG_NAMES: Readonly<Record<number, string>> = {
  [CacheReturnCode.String]: 'String',
  [CacheReturnCode.Json]: 'Json',
  [CacheReturnCode.Integer]: 'Integer',
  [CacheReturnCode.Encrypted]: 'Encrypted',
  [LEASE_FLAGS]: 'LEASE_FLAGS',
  [GRACE_FLAGS]: 'GRACE_FLAGS',
  [NOT_FOUND_FLAGS]: 'NOT_FOUND_FLAGS',
  [TAGGED_FLAGS]: 'TAGGED_FLAGS',
  [TAG_VERSION_FLAGS]: 'TAG_VERSION_FLAGS',
};

const KINDS: Readonly<Record<number, EntryKind>> = {
  ...Q2_TYPES,
  [CacheReturnCode.Encrypted]: 'encrypted',
  [LEASE_FLAGS]: 'lease',
  [GRACE_FLAGS]: 'grace',
  [NOT_FOUND_FLAGS]: 'notFound',
  [TAGGED_FLAGS]: 'tagged',
  [TAG_VERSION_FLAGS]: 'tagVersion',
};

const AES_GCM_VERSION = 0x01;
const FERNET_TOKEN_START = 'gAAAA'; // base64 of Fernet's version byte 0x80 and a timestamp

/** Inflates like the codec does: bytes that start like zlib but do not inflate are plain. */
function unzip(bytes: Uint8Array): { readonly bytes: Uint8Array; readonly compressed: boolean } {
  if (!looksLikeZlib(bytes)) return { bytes, compressed: false };
  try {
    return {
      bytes: inflateSync(bytes, { maxOutputLength: DEFAULT_MAX_DECOMPRESSED_BYTES }),
      compressed: true,
    };
  } catch {
    return { bytes, compressed: false };
  }
}

function sealedBy(token: Uint8Array): Pick<EncryptionAnatomy, 'cipher' | 'keyId'> {
  if (token[0] === AES_GCM_VERSION && token.byteLength > 2) {
    return { cipher: 'aes-256-gcm', keyId: token[1] };
  }
  const start = Buffer.from(token.subarray(0, FERNET_TOKEN_START.length)).toString('latin1');
  return start === FERNET_TOKEN_START
    ? { cipher: 'fernet', keyId: undefined }
    : { cipher: 'unknown', keyId: undefined };
}

type Layers = Omit<EntryAnatomy, 'flags' | 'flagsName' | 'kind' | 'storedBytes' | 'grace' | 'tags'>;

/** The layers of an encrypted payload: an outer zlib (Fernet), the token, an inner zlib (AES-GCM). */
function encryptedLayers(
  value: Uint8Array,
  fullKey: string,
  cipher: CacheCipher | undefined,
): Layers {
  const outer = unzip(value);
  const sealed = sealedBy(outer.bytes);
  const unknown = {
    valueType: undefined,
    compressed: outer.compressed ? true : undefined,
    rawBytes: undefined,
  };
  // Only the AES-GCM cipher built from the configured key is tried: it is the one getCache uses.
  if (cipher === undefined || sealed.cipher !== 'aes-256-gcm') {
    return {
      ...unknown,
      encryption: { ...sealed, decrypts: cipher === undefined ? undefined : false },
    };
  }
  let plain;
  try {
    plain = cipher.decrypt(outer.bytes, fullKey);
  } catch {
    return { ...unknown, encryption: { ...sealed, decrypts: false } };
  }
  const inner = unzip(plain.payload);
  return {
    valueType: Q2_TYPES[plain.flags],
    compressed: outer.compressed || inner.compressed,
    rawBytes: inner.bytes.byteLength,
    encryption: { ...sealed, decrypts: true },
  };
}

function payloadLayers(
  entry: StoredEntry,
  fullKey: string,
  cipher: CacheCipher | undefined,
): Layers {
  if (entry.flags === CacheReturnCode.Encrypted)
    return encryptedLayers(entry.value, fullKey, cipher);
  const valueType = Q2_TYPES[entry.flags];
  if (valueType === undefined) {
    return { valueType, compressed: undefined, rawBytes: undefined, encryption: undefined };
  }
  // Integers are never compressed (memcached's incr works on their bytes).
  const plain =
    valueType === 'integer' ? { bytes: entry.value, compressed: false } : unzip(entry.value);
  return {
    valueType,
    compressed: plain.compressed,
    rawBytes: plain.bytes.byteLength,
    encryption: undefined,
  };
}

/**
 * Describes `entry`, read under `fullKey`: its flags by name, sizes, compression, encryption
 * (cipher and key id from the item's header; `cipher` is tried to look inside) and a graced
 * entry's header. It decodes nothing into a value: the client does that.
 */
export function describeEntry(
  entry: StoredEntry,
  fullKey: string,
  cipher: CacheCipher | undefined,
): EntryAnatomy {
  const base = {
    flags: entry.flags,
    flagsName: FLAG_NAMES[entry.flags] ?? 'unknown',
    kind: KINDS[entry.flags] ?? 'unknown',
    storedBytes: entry.value.byteLength,
  } as const;
  if (entry.flags !== TAGGED_FLAGS)
    return { ...base, ...innerLayers(entry, fullKey, cipher), tags: undefined };
  // A tag header around a codec, grace or "not found" entry: describe what is inside it.
  const tagged = unwrapTagged(entry);
  if (tagged === undefined)
    return { ...base, ...UNKNOWN_LAYERS, grace: undefined, tags: undefined };
  return {
    ...base,
    ...innerLayers(tagged.inner, fullKey, cipher),
    tags: { count: tagged.stamps.length, innerFlags: tagged.inner.flags },
  };
}

const UNKNOWN_LAYERS: Layers = {
  valueType: undefined,
  compressed: undefined,
  rawBytes: undefined,
  encryption: undefined,
};

/** The payload layers and the grace header of an entry (inside a tag header, if there was one). */
function innerLayers(
  entry: StoredEntry,
  fullKey: string,
  cipher: CacheCipher | undefined,
): Layers & Pick<EntryAnatomy, 'grace'> {
  if (entry.flags !== GRACE_FLAGS)
    return { ...payloadLayers(entry, fullKey, cipher), grace: undefined };
  const graced = unwrapGraced(entry);
  if (graced === undefined) return { ...UNKNOWN_LAYERS, grace: undefined };
  const { meta, inner } = graced;
  return {
    ...payloadLayers(inner, fullKey, cipher),
    grace: {
      freshUntil: new Date(meta.freshUntil).toISOString(),
      staleUntil: new Date(meta.staleUntil).toISOString(),
      refreshLeased: meta.token !== '' && meta.leaseUntil > Date.now(),
    },
  };
}
