import type { CacheClient, CacheEventMap, CacheEventName } from '../../src/index.js';

/** Subscribes to `event` and returns the array every payload is pushed to. */
export function collect<E extends CacheEventName>(
  client: CacheClient,
  event: E,
): Array<CacheEventMap[E]> {
  const seen: Array<CacheEventMap[E]> = [];
  client.on(event, (payload) => seen.push(payload));
  return seen;
}
