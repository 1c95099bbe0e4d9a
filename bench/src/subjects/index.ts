import type { Subject } from '../types.js';
import {
  lruCacheJson,
  lruCacheObject,
  stowageMemoryDefault,
  stowageMemoryFrozen,
  stowageMemorySkipIntegrity,
} from './memory.js';
import { stowageMemoryDecorated, stowageMemoryDecoratedWindow } from './decorated.js';
import { peerSubjects } from './peers.js';
import { ioredisAutoPipeline, ioredisRaw, memjsRaw } from './remote-raw.js';
import {
  stowageMemcachedDefault,
  stowageMemcachedSkipIntegrity,
  stowageRedisDefault,
  stowageRedisSkipIntegrity,
} from './stowage-remote.js';

/**
 * Every subject of the benchmark. Add a subject here (and nothing else): the runner measures it in
 * every scenario its operations allow, against the baseline of its backend, and the targets find
 * it by id — `memcached/stowage`, `memcached/stowage-skip-integrity`, `redis/stowage`,
 * `redis/stowage-skip-integrity` and `memory/stowage-decorated` are the ids they look for.
 */
export const SUBJECTS: readonly Subject[] = [
  lruCacheJson,
  lruCacheObject,
  stowageMemoryDefault,
  stowageMemorySkipIntegrity,
  stowageMemoryFrozen,
  stowageMemoryDecorated,
  stowageMemoryDecoratedWindow,
  memjsRaw,
  stowageMemcachedDefault,
  stowageMemcachedSkipIntegrity,
  ioredisRaw,
  ioredisAutoPipeline,
  stowageRedisDefault,
  stowageRedisSkipIntegrity,
  ...peerSubjects,
];
