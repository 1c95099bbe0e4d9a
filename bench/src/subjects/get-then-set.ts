import type { JsonValue, SubjectOps } from '../types.js';

/**
 * `getOrSet` as a user of a raw client writes it: read, and on a miss run the factory and write.
 * No single-flight; the baselines do only what a careful hand-written cache-aside does.
 */
export function getThenSet(
  get: (key: string) => Promise<unknown>,
  set: (key: string, value: JsonValue) => Promise<unknown>,
): NonNullable<SubjectOps['getOrSet']> {
  return async (key, factory) => {
    const cached = await get(key);
    if (cached !== undefined) return cached;
    const value = await factory();
    await set(key, value);
    return value;
  };
}
