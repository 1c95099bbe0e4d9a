import type { Attributes } from '@opentelemetry/api';
import { STOWAGE_ATTRIBUTES as A } from './semconv.js';
import type { TraceContextLike } from './trace-context.js';

/**
 * `db.system.name` of the bundled backends that have a well-known value in the semantic
 * conventions. Other backends get `stowage.<name>` (see {@link dbSystemNameOf}).
 */
export const WELL_KNOWN_SYSTEMS: Readonly<Record<string, string>> = {
  memcached: 'memcached',
  redis: 'redis',
};

/** Backends that run in the process: they have no server, so no `server.*` attributes. */
const IN_PROCESS_BACKENDS: ReadonlySet<string> = new Set(['memory']);

/** Multi-key operations, which carry `stowage.key_count`. */
const MULTI_KEY_OPERATIONS: ReadonlySet<string> = new Set(['getMany', 'setMany', 'deleteMany']);

/** A server as `server.address` and, when known, `server.port`. */
export interface ServerAttributes {
  /** Host name, IP address (IPv6 without brackets) or socket path. */
  readonly address: string;
  /** TCP port (1–65535); `undefined` when the server string has none. */
  readonly port: number | undefined;
}

/** What the attributes of a call depend on besides its context, fixed at install. */
export interface AttributeSettings {
  /** The `dbSystemNames` option: `db.system.name` by backend name. */
  readonly systemNames: Readonly<Record<string, string>>;
  /** The `serverAddress` / `serverPort` options; `undefined` when not given. */
  readonly server: ServerAttributes | undefined;
}

/**
 * `db.system.name` for a backend: the caller's mapping, then the well-known values, then
 * `stowage.<backend>`. Not `other_sql`, the conventions' only fallback: it means "some SQL
 * database", and an in-process LRU or a custom key-value store is neither; the conventions allow
 * a custom value when no listed one applies, and the `stowage.` namespace keeps it from
 * colliding with a value they add later.
 */
export function dbSystemNameOf(backend: string, settings: AttributeSettings): string {
  return settings.systemNames[backend] ?? WELL_KNOWN_SYSTEMS[backend] ?? `stowage.${backend}`;
}

/**
 * Splits `host:port` (or `[v6]:port`) into its parts; a string without a usable port is all
 * address. Never throws: a server string comes from whatever backend published it.
 */
export function parseServer(server: string): ServerAttributes {
  const colon = server.lastIndexOf(':');
  const port = colon > 0 ? Number(server.slice(colon + 1)) : Number.NaN;
  const bracketed = server.startsWith('[') && server.lastIndexOf(']') === colon - 1;
  const isV6WithoutPort = !bracketed && server.indexOf(':') !== colon;
  if (!Number.isInteger(port) || port <= 0 || port > 65_535 || isV6WithoutPort) {
    return { address: server, port: undefined };
  }
  const host = server.slice(0, colon);
  return { address: bracketed ? host.slice(1, -1) : host, port };
}

/**
 * The server of a call: the one the backend reported in the context (newer cores), else the
 * `serverAddress`/`serverPort` options for backends that are not in process, else none.
 */
export function serverOf(
  context: TraceContextLike,
  settings: AttributeSettings,
): ServerAttributes | undefined {
  if (typeof context.server === 'string' && context.server !== '') {
    return parseServer(context.server);
  }
  return IN_PROCESS_BACKENDS.has(context.backend) ? undefined : settings.server;
}

/**
 * Attributes shared by a call's span and its metric points: `db.system.name`,
 * `db.operation.name` and the server. Low cardinality by construction — never the key.
 */
export function commonAttributes(
  context: TraceContextLike,
  settings: AttributeSettings,
): Attributes {
  const attributes: Attributes = {
    [A.dbSystemName]: dbSystemNameOf(context.backend, settings),
    [A.dbOperationName]: context.operation,
  };
  const server = serverOf(context, settings);
  if (server !== undefined) {
    attributes[A.serverAddress] = server.address;
    if (server.port !== undefined) attributes[A.serverPort] = server.port;
  }
  return attributes;
}

/** Span attributes known when a call starts, beyond {@link commonAttributes}. */
export function startAttributes(context: TraceContextLike): Attributes {
  const attributes: Attributes = {};
  if (context.level !== undefined) attributes[A.level] = context.level;
  if (context.key !== undefined) attributes[A.key] = context.key;
  if (MULTI_KEY_OPERATIONS.has(context.operation)) attributes[A.keyCount] = context.keyCount;
  // The conventions count a batch as separate operations sent together, never one operation on
  // many keys ("Redis MGET with multiple keys" is their counter-example): setMany writes one
  // entry per key (pipelined SETs, one memcached set each), getMany and deleteMany do not.
  if (context.operation === 'setMany' && context.keyCount !== 1) {
    attributes[A.dbOperationBatchSize] = context.keyCount;
  }
  return attributes;
}

/** Span attributes known when a call ends: outcome, bytes and lease wait. */
export function endAttributes(context: TraceContextLike): Attributes {
  const attributes: Attributes = {};
  if (context.outcome !== undefined) attributes[A.outcome] = context.outcome;
  if (context.bytesIn !== undefined) attributes[A.bytesIn] = context.bytesIn;
  if (context.bytesOut !== undefined) attributes[A.bytesOut] = context.bytesOut;
  if (context.operation === 'getOrSet') attributes[A.leaseWaited] = context.leaseWaited;
  return attributes;
}

/**
 * `error.type` of a thrown value: its string `code` (every Stowage error has one, `E_CACHE_*`;
 * Node's system errors too), else its class name, else `_OTHER` — low cardinality, as the
 * conventions ask, and never the message.
 */
export function errorTypeOf(error: unknown): string {
  if (typeof error === 'object' && error !== null) {
    const code = (error as { code?: unknown }).code;
    if (typeof code === 'string' && code !== '') return code;
    if (error instanceof Error && error.name !== '') return error.name;
  }
  return '_OTHER';
}
