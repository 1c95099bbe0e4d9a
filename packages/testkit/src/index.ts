export { FaultProxy } from './fault-proxy.js';
export type { FaultMode, FaultScope } from './fault-proxy.js';
export { startRedisCluster } from './redis-cluster.js';
export type { RedisClusterHandle, RedisClusterOptions } from './redis-cluster.js';
export {
  findBinary,
  freePort,
  hasBinary,
  probe,
  serversRequired,
  startMemcached,
  startRedis,
} from './servers.js';
export type { MemcachedOptions, RedisOptions, ServerHandle } from './servers.js';
export { checkLateWrite, lateWriteScenario, lateWriteViolations } from './late-write.js';
export type {
  ClosableScenarioClient,
  LateWriteObservations,
  LateWriteScenarioOptions,
  ScenarioClient,
} from './late-write.js';
