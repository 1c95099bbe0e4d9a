import type { Flight, SingleFlight } from '../client/single-flight.js';

/** The `getOrSet` flights of this process in progress per tag version key. */
type Registry = Map<string, Set<Flight>>;

// One registry per client engine (the object every scoped client of a root shares), so a bust
// through any of them reaches the flights of all: a scoped client is a new object per `scoped()`.
const registries = new WeakMap<object, Registry>();

function registryOf(engine: object): Registry {
  let registry = registries.get(engine);
  if (registry === undefined) {
    registry = new Map();
    registries.set(engine, registry);
  }
  return registry;
}

/**
 * Tracks a tagged `getOrSet` flight under its tags' version keys until it lands, so that a bust
 * in this process supersedes it: a caller that asks after `invalidateTags` resolved must not join
 * a run whose factory started before it. Returns the function that stops tracking it.
 */
export function trackTagged(
  engine: object,
  versionKeys: readonly string[],
  flight: Flight,
): () => void {
  const registry = registryOf(engine);
  for (const key of versionKeys) {
    let flights = registry.get(key);
    if (flights === undefined) {
      flights = new Set();
      registry.set(key, flights);
    }
    flights.add(flight);
  }
  return () => {
    for (const key of versionKeys) {
      const flights = registry.get(key);
      flights?.delete(flight);
      if (flights?.size === 0) registry.delete(key);
    }
  };
}

/** Supersedes every tracked flight carrying one of `versionKeys` (see {@link trackTagged}). */
export function supersedeTagged(
  engine: object,
  versionKeys: readonly string[],
  flights: SingleFlight,
): void {
  const registry = registries.get(engine);
  if (registry === undefined) return;
  for (const key of versionKeys) {
    for (const flight of registry.get(key) ?? []) {
      // Only the flight itself: a newer one for the same key may carry other tags.
      if (flights.join(flight.key) === flight.promise) flights.supersede(flight.key);
      flight.superseded = true;
    }
  }
}
