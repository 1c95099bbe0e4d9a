import {
  createAesGcmCipher,
  DEFAULT_TIMEOUT_MS,
  getCache,
  type CacheBackend,
  type CacheEntry,
  type StoredEntry,
} from '@stowage/core';
import { describeEntry, type EntryAnatomy } from '../anatomy.js';
import {
  JSON_OPTION,
  SCOPE_OPTIONS,
  stringFlag,
  type Command,
  type CommandContext,
} from '../command.js';
import { clientEnv, type CliConfig } from '../config.js';
import { ExitCode, UsageError } from '../exit-codes.js';
import { formatBytes, formatDuration, printJson, printRows, showValue } from '../output.js';
import { replayBackend } from '../replay-backend.js';
import { serverTtl, type ServerTtl } from '../server-ttl.js';
import { notFound, scopeLabel } from './shared.js';

/** What the client made of the entry: its status and value, or why it did not decode. */
interface Decoded {
  readonly entry: CacheEntry<unknown>;
  readonly error: string | undefined;
}

/** Decodes `stored` through a client configured like the real one, on a replay of the bytes. */
async function decode(
  stored: StoredEntry,
  at: { readonly key: string; readonly fullKey: string },
  context: {
    readonly config: CliConfig;
    readonly backend: CacheBackend;
    readonly env: CommandContext['io']['env'];
  },
): Promise<Decoded> {
  const { config } = context;
  const replay = await getCache({
    backend: replayBackend(stored, at.fullKey, context.backend),
    prefix: config.prefix,
    encryptionKey: config.encryptionKey,
    env: clientEnv(context.env),
    recentKeys: false,
  });
  let error: string | undefined;
  replay.on('warning', (warning) => {
    if (warning.kind === 'decode') error = warning.error.message;
  });
  try {
    const client = config.level === undefined ? replay : replay.scoped(config.level, config.scope);
    return { entry: await client.getEntry(at.key), error };
  } finally {
    await replay.close();
  }
}

function ttlText(ttl: ServerTtl): string {
  switch (ttl.state) {
    case 'expires':
      return `${formatDuration(ttl.ms)} left`;
    case 'never':
      return 'never expires';
    case 'missing':
      return 'gone (expired or deleted since the read)';
    default:
      return `unknown (${ttl.reason})`;
  }
}

function status(anatomy: EntryAnatomy, decoded: Decoded): string {
  if (anatomy.kind === 'lease')
    return 'lease marker: a getOrSet is computing this key; readers see a miss';
  if (decoded.entry.status === 'notFound')
    return 'not-found marker (negativeTtl): getOrSet answers undefined';
  if (decoded.entry.status === 'miss')
    return `unreadable: readers see a miss (${decoded.error ?? 'no value'})`;
  return decoded.entry.status === 'stale' ? 'stale (past its ttl, within its grace)' : 'hit';
}

function compressionText(anatomy: EntryAnatomy): string | undefined {
  if (anatomy.compressed === undefined)
    return anatomy.encryption === undefined ? undefined : 'unknown (sealed)';
  if (!anatomy.compressed) return 'no';
  return anatomy.rawBytes === undefined
    ? 'yes'
    : `yes (zlib, ${formatBytes(anatomy.rawBytes)} raw)`;
}

function encryptionText(anatomy: EntryAnatomy): string {
  const sealed = anatomy.encryption;
  if (sealed === undefined) return 'no';
  const keyId = sealed.keyId === undefined ? '' : `, key id ${sealed.keyId}`;
  const opens =
    sealed.decrypts === undefined
      ? ' (no key configured)'
      : sealed.decrypts
        ? ''
        : ' (the configured key does not open it)';
  return `${sealed.cipher}${keyId}${opens}`;
}

function rawBytes(stored: StoredEntry, encoding: string | undefined): string | undefined {
  if (encoding === undefined) return undefined;
  return Buffer.from(
    stored.value.buffer,
    stored.value.byteOffset,
    stored.value.byteLength,
  ).toString(encoding === 'hex' ? 'hex' : 'base64');
}

async function run(context: CommandContext): Promise<ExitCode> {
  const { io, flags, config } = context;
  const key = context.args[0] as string;
  const { client } = await context.open();
  const fullKey = client.fullKey(key);
  const backend = client.backend;
  // The raw entry, straight from the backend: flags and bytes as stored, before any decoding.
  const stored = await backend.get(fullKey);
  if (stored === undefined) return notFound(context, { key, fullKey });
  const cipher =
    config.encryptionKey === undefined
      ? undefined
      : createAesGcmCipher({ keys: { id: 0, key: config.encryptionKey } });
  const anatomy = describeEntry(stored, fullKey, cipher);
  const [decoded, ttl] = await Promise.all([
    decode(stored, { key, fullKey }, { config, backend, env: io.env }),
    serverTtl(backend, fullKey, backend.capabilities.timeoutMs ?? DEFAULT_TIMEOUT_MS),
  ]);
  const hasValue = decoded.entry.status === 'hit' || decoded.entry.status === 'stale';
  const value = hasValue ? (decoded.entry as { value: unknown }).value : undefined;
  const raw = rawBytes(stored, stringFlag(flags, 'raw'));
  if (flags['json'] === true) {
    printJson(io, {
      key,
      fullKey,
      found: true,
      scope: config.level === undefined ? null : { level: config.level, ...config.scope },
      ...anatomy,
      ttl,
      status:
        anatomy.kind === 'lease'
          ? 'lease'
          : decoded.entry.status === 'miss'
            ? 'unreadable'
            : decoded.entry.status,
      ...(hasValue ? { value } : {}),
      ...(decoded.error === undefined ? {} : { decodeError: decoded.error }),
      ...(raw === undefined ? {} : { raw: { encoding: flags['raw'], bytes: raw } }),
    });
    return ExitCode.Ok;
  }
  printRows(io, [
    ['key', key],
    ['full key', fullKey],
    ['scope', scopeLabel(config)],
    ['flags', `${anatomy.flags} (${anatomy.flagsName})`],
    [
      'type',
      anatomy.valueType === undefined || anatomy.kind === anatomy.valueType
        ? anatomy.kind
        : `${anatomy.kind}, holding ${anatomy.valueType}`,
    ],
    [
      'tags',
      anatomy.tags === undefined
        ? undefined
        : `${anatomy.tags.count} (names are not stored; busted by invalidateTags)`,
    ],
    ['stored size', formatBytes(anatomy.storedBytes)],
    ['compressed', compressionText(anatomy)],
    ['encrypted', encryptionText(anatomy)],
    [
      'grace',
      anatomy.grace === undefined
        ? undefined
        : `fresh until ${anatomy.grace.freshUntil}, served stale until ${anatomy.grace.staleUntil}${anatomy.grace.refreshLeased ? ', refresh in progress' : ''}`,
    ],
    ['ttl', ttlText(ttl)],
    ['status', status(anatomy, decoded)],
    [`raw (${String(flags['raw'])})`, raw],
  ]);
  if (hasValue) io.stdout(`value:\n${showValue(value)}\n`);
  return ExitCode.Ok;
}

/** `stowage inspect KEY`: what is stored under a key, layer by layer. */
export const inspectCommand: Command = {
  name: 'inspect',
  summary: "show a key's flags, codec, encryption, TTL and decoded value",
  usage: 'stowage inspect KEY [--level L --scope ID] [--raw hex|base64] [--json]',
  help: `Reads the entry under KEY once and describes it: its flags by name (Q2's String, Json,
Integer, Encrypted, or Stowage's LEASE_FLAGS, GRACE_FLAGS, NOT_FOUND_FLAGS), the value's type,
stored size, compression and raw size, cipher and key id, the grace header, the TTL left on the
server (memcached mg … t, Redis PTTL), and the value as the service's client decodes it.

Options:
  --raw ENCODING         also print the stored bytes, as hex or base64
  --json                 print one JSON document instead of text

Examples:
  CACHE_URL=memcached://10.0.0.5:11211 CACHE_PREFIX=billing stowage inspect plan --level stack --scope acme
  stowage inspect --url redis://cache:6379 --prefix billing session-count --json
  stowage inspect plan --raw hex`,
  options: { ...SCOPE_OPTIONS, ...JSON_OPTION, raw: { type: 'string' } },
  args: { min: 1, max: 1, name: 'KEY' },
  check: (_args, flags) => {
    const raw = flags['raw'];
    if (raw !== undefined && raw !== 'hex' && raw !== 'base64') {
      throw new UsageError(`--raw takes hex or base64; got '${String(raw)}'`);
    }
  },
  run,
};
