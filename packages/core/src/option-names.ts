import { CacheConfigError } from './errors.js';

/**
 * Names Q2 code passes (or a Node developer guesses) that Stowage spells differently or does not
 * need, with what to use instead, by squashed name (see `squash`: `cachemock_params` and
 * `cachemockParams` are one entry). Consulted after the exact name and a squashed look-up of
 * the known names fail.
 */
const INSTEAD: Readonly<Record<string, string>> = {
  cachemockparams:
    "Stowage has no cache mock: use the in-memory backend (`url: 'memory://'`, `CACHE_URL=memory://`, or `backend: createMemoryBackend()`)",
  timeout:
    'use `defaultTtl` for the default time to live, or `timeoutMs` for the per-call deadline',
  expire: 'use `defaultTtl` (seconds, or a string with a unit such as `5m`)',
  ttl: 'use `defaultTtl` on the client (`ttl` is a per-call option)',
  compressdata: 'use `compress` (`true`, `false`, or a threshold in bytes)',
  storagelevel:
    'scope a client with `client.scoped(level, scope)`; the decorator takes `storageLevel`',
  defaultstoragelevel:
    'scope a client with `client.scoped(level, scope)`; the decorator reads `this.defaultStorageLevel`',
  servers: 'use `url` (`memcached://h1:11211,h2:11211`) or pass a backend created with its servers',
  host: 'use `url` (`memcached://host:11211`, `redis://host:6379`) or pass a backend',
  maxsize: 'use `recentKeys` (how many recent keys are remembered)',
};

const squash = (name: string): string => name.replaceAll('_', '').toLowerCase();

/**
 * Throws `CacheConfigError` for an option nobody reads — silently ignoring it would let a Q2 port
 * or a typo run with a setting it believes it has. The message names the option and what to use.
 */
export function checkOptionNames(
  options: object,
  known: Readonly<Record<string, true>>,
  what: string,
): void {
  for (const name of Object.keys(options)) {
    if (Object.hasOwn(known, name)) continue;
    // An explicit `undefined` is how callers leave an option out when they build the object.
    if ((options as Record<string, unknown>)[name] === undefined) continue;
    throw new CacheConfigError(`${what} has no option \`${name}\`: ${insteadOf(name, known)}`);
  }
}

function insteadOf(name: string, known: Readonly<Record<string, true>>): string {
  const wanted = squash(name);
  // Own keys only: a name like `constructor` must not find Object.prototype's.
  if (Object.hasOwn(INSTEAD, wanted)) return INSTEAD[wanted] as string;
  const match = Object.keys(known).find((candidate) => squash(candidate) === wanted);
  if (match !== undefined) return `did you mean \`${match}\`?`;
  return `the options are ${Object.keys(known)
    .map((candidate) => `\`${candidate}\``)
    .join(', ')}`;
}
